"""The smallest model, as docs/architecture.md ("Adding a model") shows it: an objective and
its spec. Here both sit in one file and the spec is registered at import, before
began_fast.config reads the specs; a model of the project's own puts them in
began_fast/models/ and began_fast/specs/ and its file name in specs.BUILT_IN."""
import dataclasses

import torch

from began_fast.specs import PerDevice, Spec, Stat, register
from began_fast.step import apply_gradients, autocast, draw_real, draw_z, finish_step

# --- objective: began_fast/models/lsgan.py
# LSGAN (Mao et al. 2017): least squares in place of GAN's log loss.
STATS_FIELDS = ("count", "loss_d", "loss_g")


def train_step(state) -> None:
    real, z = draw_real(state), draw_z(state)
    with autocast(state):
        with torch.no_grad():
            fake = state.G(z)
        loss_d = ((state.D(real).float() - 1) ** 2).mean() / 2 + (state.D(fake).float() ** 2).mean() / 2
    apply_gradients(state, "D", torch.autograd.grad(loss_d, list(state.D.parameters())))
    with autocast(state):
        loss_g = ((state.D(state.G(z)).float() - 1) ** 2).mean() / 2
    apply_gradients(state, "G", torch.autograd.grad(loss_g, list(state.G.parameters())))
    finish_step(state, [loss_d, loss_g], watch=loss_d + loss_g)


# --- spec: began_fast/specs/lsgan.py
SPEC = Spec(
    name="lsgan", paper="Mao et al. 2017", objective="began_fast.models.lsgan",
    archs=("dcgan-nobn",), why_archs="LSGAN trains a scalar critic",
    defaults=dict(arch="dcgan-nobn", filters=PerDevice(64, 16), latent=100, batch=PerDevice(64, 32), lr=2e-4),
    stats=(Stat("loss_d", "L_D"), Stat("loss_g", "L_G")),
    prior="uniform", optimizer=("adam", (0.5, 0.999)))
# --- end

register(dataclasses.replace(SPEC, objective=__name__))     # here the objective is this file
