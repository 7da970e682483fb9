"""DF-GAN's networks (Tao et al., arXiv 2008.05865): text to image in one generator.

G: [noise | sentence] -> Linear -> 8n x 4 x 4 -> up-sampling blocks, each doubling the side:
nearest up-sampling, then twice (DF-Block -> 3x3 conv), the DF-Block being two
(sentence-conditioned affine -> LeakyReLU 0.2) in a row, added to a 1x1 shortcut -> LeakyReLU
-> 3x3 conv -> tanh. The affine's per-channel scale and shift come from two small MLPs of the
sentence vector and start as the identity (scale 1, shift 0).
D: 3x3 conv -> residual down-sampling blocks (4x4 stride-2 conv, 3x3 conv, LeakyReLU; a 1x1
shortcut with average pooling; the residual scaled by a learned gain that starts at 0) to
8n x 4 x 4 features -> the sentence vector replicated over the 4 x 4 cells and concatenated ->
3x3 conv -> LeakyReLU -> 4x4 conv to one logit.
Widths n, 2n, 4n, 8n, 8n, ... from the image side inwards (n = --filters), as the authors'
code; G's input is one tensor, [noise | sentence], so the engine's one-input generator
contract (grids, evaluation, sampling) holds.
"""
import torch
import torch.nn.functional as F
from torch import nn

from began_fast.models.dcgan import doublings

SENTENCE = 256       # the text encoder's sentence vector (text.encoders.SENTENCE)


def widths(image_size: int, filters: int) -> list:
    """Channels from the 4 x 4 features out to the image side: e.g. 64 px, n: 8n 8n 4n 2n n."""
    return [filters * min(2 ** i, 8) for i in reversed(range(doublings(image_size) + 1))]


class Affine(nn.Module):
    """x * scale(e) + shift(e), per channel; scale and shift are MLPs of the sentence e."""

    def __init__(self, channels: int, sentence: int = SENTENCE):
        super().__init__()
        self.scale = nn.Sequential(nn.Linear(sentence, channels), nn.ReLU(), nn.Linear(channels, channels))
        self.shift = nn.Sequential(nn.Linear(sentence, channels), nn.ReLU(), nn.Linear(channels, channels))
        for mlp, bias in ((self.scale, 1.0), (self.shift, 0.0)):     # the identity at the start
            nn.init.zeros_(mlp[2].weight)
            nn.init.constant_(mlp[2].bias, bias)

    def forward(self, x, e):
        return x * self.scale(e)[:, :, None, None] + self.shift(e)[:, :, None, None]


class DFBlock(nn.Module):
    """The deep fusion block: (affine of e -> LeakyReLU 0.2), twice."""

    def __init__(self, channels: int, sentence: int = SENTENCE):
        super().__init__()
        self.first, self.second = Affine(channels, sentence), Affine(channels, sentence)

    def forward(self, x, e):
        x = F.leaky_relu(self.first(x, e), 0.2)
        return F.leaky_relu(self.second(x, e), 0.2)


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, sentence: int = SENTENCE):
        super().__init__()
        self.fuse1, self.conv1 = DFBlock(cin, sentence), nn.Conv2d(cin, cout, 3, 1, 1)
        self.fuse2, self.conv2 = DFBlock(cout, sentence), nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(self.fuse2(self.conv1(self.fuse1(x, e)), e))
        return self.shortcut(x) + h


class Generator(nn.Module):
    """[B, latent + 256] (noise, then the sentence vector) -> images [B, C, S, S] in (-1, 1)."""

    def __init__(self, image_size=64, filters=32, latent=100, channels=3, sentence=SENTENCE):
        super().__init__()
        self.latent, self.sentence = latent, sentence
        chans = widths(image_size, filters)
        self.fc = nn.Linear(latent, chans[0] * 16)
        self.blocks = nn.ModuleList(UpBlock(a, b, sentence) for a, b in zip(chans, chans[1:]))
        self.to_image = nn.Conv2d(chans[-1], channels, 3, 1, 1)

    def forward(self, inputs):
        z, e = inputs.split([self.latent, self.sentence], dim=1)
        x = self.fc(z).view(z.shape[0], -1, 4, 4)
        for block in self.blocks:
            x = block(x, e)
        return torch.tanh(self.to_image(F.leaky_relu(x, 0.2)))


class DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.residual = nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                                      nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.LeakyReLU(0.2))
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.gain = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return F.avg_pool2d(self.shortcut(x), 2) + self.gain * self.residual(x)


class Discriminator(nn.Module):
    """D(x, e) -> logits [B]: the target-aware discriminator. features(x) and judge(f, e)
    apart, so that one pass over a real batch serves its matched and mismatched sentences."""

    def __init__(self, image_size=64, filters=32, channels=3, sentence=SENTENCE):
        super().__init__()
        chans = widths(image_size, filters)[::-1]
        self.from_image = nn.Conv2d(channels, chans[0], 3, 1, 1)
        self.blocks = nn.Sequential(*(DownBlock(a, b) for a, b in zip(chans, chans[1:])))
        self.joint = nn.Sequential(nn.Conv2d(chans[-1] + sentence, filters * 2, 3, 1, 1, bias=False),
                                   nn.LeakyReLU(0.2), nn.Conv2d(filters * 2, 1, 4, 1, 0, bias=False))

    def features(self, x):
        return self.blocks(self.from_image(x))

    def judge(self, features, e):
        e = e.to(features.dtype)[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.joint(torch.cat([features, e], dim=1)).flatten()

    def forward(self, x, e):
        return self.judge(self.features(x), e)


def build(opts) -> tuple:
    """(G, D) of a run's options, on the CPU."""
    return (Generator(opts.size, opts.filters, opts.latent, opts.channels),
            Discriminator(opts.size, opts.filters, opts.channels))
