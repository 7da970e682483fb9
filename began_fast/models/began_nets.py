"""BEGAN's networks (paper section 3.5): an auto-encoder D and a generator G.

All convolutions are 3x3 with padding 1 and ELU, except the last of a decoder.
The bottom feature map is always 8x8, so an image of size S has
R = log2(S) - 2 levels. n is the filter count, h the latent (and z) size.

Vanishing residuals (paper section 3.5.1, --vanishing-residual): every convolution whose
output has its input's shape becomes carry * x + (1 - carry) * conv(x), the carry fading
from 1 to 0 as training starts (models/began.py sets it each step), so that early on the
networks are shallow and gradients reach every layer. The carry is a buffer of G and of D,
saved with their weights.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from began_fast.config import IMAGE_SIZES
from began_fast.models.began_layers import ConvELU, Linear, init_torch_style


def levels(image_size: int) -> int:
    """R, the number of resolution levels: the bottom map is 8x8."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image size must be one of {IMAGE_SIZES}, got {image_size}")
    return int(math.log2(image_size)) - 2


class Encoder(nn.Module):
    """Image [B, C, S, S] -> embedding [B, h]; channels grow n, 2n, ..., R*n."""

    def __init__(self, image_size, n, h, channels):
        super().__init__()
        r = levels(image_size)
        convs = [ConvELU(channels, n)]
        for level in range(1, r + 1):
            width = level * n
            convs += [ConvELU(convs[-1].weight.shape[0], width),
                      ConvELU(width, width)]
            if level < r:
                convs.append(ConvELU(width, (level + 1) * n, stride=2))
        self.convs = nn.ModuleList(convs)
        self.fc = Linear(8 * 8 * r * n, h)

    def forward(self, x, weight_grad_scale=None, carry=None):
        for conv in self.convs:
            x = residual(conv, x, weight_grad_scale, carry)
        return self.fc(x.flatten(1), weight_grad_scale)


class Decoder(nn.Module):
    """Embedding [B, h] -> image [B, C, S, S]. D's decoder and G share this shape, never weights.

    skip: the paper's skip connections: h0 (the first 8x8xn map) is upsampled and
    concatenated to the input of every level that follows an upsample.
    tanh: squash the output to (-1, 1); off in the paper.
    channels_last: lay the first 8x8 map out NHWC, so that every conv after it sees the
    layout it runs fastest in (the Linear's output, viewed as a map, is NCHW).
    """

    def __init__(self, image_size, n, h, channels, skip=False, tanh=False, channels_last=False):
        super().__init__()
        self.n, self.skip, self.tanh, self.channels_last = n, skip, tanh, channels_last
        self.fc = Linear(h, 8 * 8 * n)
        self.levels = nn.ModuleList()
        for level in range(levels(image_size)):
            first_in = 2 * n if (skip and level > 0) else n
            self.levels.append(nn.ModuleList([ConvELU(first_in, n), ConvELU(n, n)]))
        self.out = ConvELU(n, channels, elu=False)

    def forward(self, z, weight_grad_scale=None, carry=None):
        h0 = self.fc(z, weight_grad_scale).view(-1, self.n, 8, 8)
        if self.channels_last:
            h0 = h0.contiguous(memory_format=torch.channels_last)
        x = h0
        for i, (conv_a, conv_b) in enumerate(self.levels):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                if self.skip:
                    x = torch.cat([x, F.interpolate(h0, size=x.shape[-2:], mode="nearest")], dim=1)
            x = residual(conv_a, x, weight_grad_scale, carry)
            x = residual(conv_b, x, weight_grad_scale, carry)
        x = self.out(x, weight_grad_scale)
        return torch.tanh(x) if self.tanh else x


def residual(conv, x, weight_grad_scale, carry):
    """conv(x), or with a carry (vanishing residuals) carry * x + (1 - carry) * conv(x) where
    the shapes allow it."""
    y = conv(x, weight_grad_scale)
    if carry is None or y.shape != x.shape:
        return y
    return torch.lerp(y, x, carry.to(y.dtype))


class Blended(nn.Module):
    """G or D: holds the vanishing residuals' carry (when they are on) for its networks."""

    def __init__(self, vanishing_residual: bool):
        super().__init__()
        if vanishing_residual:
            self.register_buffer("carry", torch.ones(()))
        else:
            self.carry = None


class Generator(Blended):
    """z [B, h] -> images [B, channels, S, S]."""

    def __init__(self, image_size=64, n=128, h=64, channels=3, skip=False, tanh=False, channels_last=False,
                 vanishing_residual=False):
        super().__init__(vanishing_residual)
        self.latent = h
        self.decoder = Decoder(image_size, n, h, channels, skip, tanh, channels_last)

    def forward(self, z):
        return self.decoder(z, carry=self.carry)


class Discriminator(Blended):
    """The auto-encoder: images -> reconstructions of the same shape."""

    def __init__(self, image_size=64, n=128, h=64, channels=3, skip=False, tanh=False, channels_last=False,
                 vanishing_residual=False):
        super().__init__(vanishing_residual)
        self.encoder = Encoder(image_size, n, h, channels)
        self.decoder = Decoder(image_size, n, h, channels, skip, tanh, channels_last)

    def encode(self, x, weight_grad_scale=None):
        return self.encoder(x, weight_grad_scale, self.carry)

    def decode(self, embedding, weight_grad_scale=None):
        return self.decoder(embedding, weight_grad_scale, self.carry)

    def forward(self, x, weight_grad_scale=None):
        return self.decode(self.encode(x, weight_grad_scale), weight_grad_scale)


def build(opts) -> tuple:
    """(G, D) of a run's options, on the CPU; models.build_networks places them."""
    kw = dict(image_size=opts.size, n=opts.filters, h=opts.latent, channels=opts.channels,
              skip=opts.skip, tanh=opts.tanh, channels_last=opts.channels_last,
              vanishing_residual=opts.vanishing_residual > 0)
    G, D = Generator(**kw), Discriminator(**kw)       # Glorot (began_layers.init_glorot)
    if opts.init == "torch":
        init_torch_style(G)
        init_torch_style(D)
    return G, D
