"""DCGAN's networks (Radford, Metz and Chintala, arXiv 1511.06434), the scalar-critic models'
architecture: GAN, DCGAN and WGAN train them as they are, WGAN-GP without batch norm.

G: z -> 4x4 map by a transposed convolution -> stride-2 transposed convolutions, each
doubling the side and halving the channels -> tanh image. Batch norm and ReLU after every
layer but the output.
D: stride-2 convolutions (no pooling), each halving the side and doubling the channels,
down to 4x4; batch norm on every layer but the first (none at all with batch_norm=False);
LeakyReLU(0.2) throughout; then global average pooling and one linear unit: the logit
(no fully connected hidden layers).
Weights start from N(0, 0.02), batch norm scales from N(1, 0.02), as in the paper.
"""
import math

import torch
from torch import nn

from began_fast.config import IMAGE_SIZES


def doublings(image_size: int) -> int:
    """How many stride-2 layers lie between a 4x4 map and the image."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image size must be one of {IMAGE_SIZES}, got {image_size}")
    return int(math.log2(image_size)) - 2


class Generator(nn.Module):
    """z [B, latent] -> images [B, channels, S, S] in (-1, 1); `filters` channels at the last
    hidden layer, twice as many at each layer before it."""

    def __init__(self, image_size=64, filters=64, latent=100, channels=3):
        super().__init__()
        self.latent = latent
        steps = doublings(image_size)
        widths = [filters * 2 ** i for i in reversed(range(steps))]          # e.g. 512, 256, 128, 64
        layers = [nn.ConvTranspose2d(latent, widths[0], 4, 1, 0, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_normal(self)

    def forward(self, z):
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """images -> one logit per image [B]. batch_norm=False: the critic WGAN-GP needs, whose
    per-sample gradient penalty batch statistics would couple across the batch."""

    def __init__(self, image_size=64, filters=64, channels=3, batch_norm=True):
        super().__init__()
        steps = doublings(image_size)
        widths = [filters * 2 ** i for i in range(steps)]                     # e.g. 64, 128, 256, 512
        layers = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=not batch_norm)]
            layers += [nn.BatchNorm2d(cout)] if batch_norm else []
            layers += [nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.logit = nn.Linear(widths[-1], 1)
        init_normal(self)

    def forward(self, x):
        return self.logit(self.features(x).mean(dim=(2, 3))).squeeze(1)


def init_normal(module: nn.Module) -> None:
    """The paper's initialisation: weights N(0, 0.02); batch norm scales N(1, 0.02); biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def build(opts, batch_norm: bool) -> tuple:
    """(G, D) of a run's options (D with or without batch norm), on the CPU."""
    return (Generator(opts.size, opts.filters, opts.latent, opts.channels),
            Discriminator(opts.size, opts.filters, opts.channels, batch_norm))
