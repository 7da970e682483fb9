"""WGAN-GP (Gulrajani et al. 2017): a gradient penalty instead of WGAN's clipping."""
from dataclasses import replace

from began_fast.specs import PerDevice, Stat
from began_fast.specs.wgan import SPEC as WGAN

SPEC = replace(
    WGAN, name="wgan-gp", paper="Gulrajani et al. 2017", objective="began_fast.models.wgan_gp",
    defaults=dict(arch="dcgan-nobn", filters=PerDevice(64, 16), latent=128, batch=PerDevice(64, 32), lr=1e-4,
                  n_critic=5, gp_weight=10.0),
    options=("n_critic", "gp_weight"),
    stats=WGAN.stats + (Stat("penalty", "gradient penalty"),),
    optimizer=("adam", (0.0, 0.9)),
    refuse=(("arch", "dcgan", "--model wgan-gp with --arch dcgan: the gradient penalty is taken per sample and "
                              "batch norm couples the samples of a batch; use --arch dcgan-nobn"),))
