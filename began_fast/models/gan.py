"""The GAN objective (Goodfellow et al., arXiv 1406.2661) on DCGAN's networks: models gan and dcgan.

D maximises log D(x) + log(1 - D(G(z))), i.e. minimises
    L_D = softplus(-D(x)) + softplus(D(G(z)))               (D's output is a logit)
and G, after D's update, either
    non-saturating (the paper's advice in practice):  L_G = softplus(-D(G(z)))     = -log D(G(z))
    saturating (the minimax game itself):             L_G = -softplus(D(G(z)))     =  log(1 - D(G(z)))
One step: one D update on a real batch and G(z), then one G update through the updated D
on G(z) of the same z. Batch norm sees the real and the fake batch apart, as in DCGAN.
Stats: L_D, L_G and the mean probabilities D(x) and D(G(z)) at D's update.
"""
import torch
import torch.nn.functional as F

from began_fast.step import apply_gradients, autocast, draw_real, draw_z, finish_step

STATS_FIELDS = ("count", "loss_d", "loss_g", "d_real", "d_fake")


def generator_loss(logits_fake: torch.Tensor, saturating: bool) -> torch.Tensor:
    return -F.softplus(logits_fake).mean() if saturating else F.softplus(-logits_fake).mean()


def train_step(state) -> None:
    """One D update and one G update, all on the device; reads nothing back to the host.
    G(z) runs twice: without a graph for D's update, with one for G's, so that each
    update backpropagates through a graph of its own (under torch.compile one shared
    G(z) would have its compiled backward run twice)."""
    real, z = draw_real(state), draw_z(state)
    with autocast(state):
        with torch.no_grad():
            fake = state.G(z)
        logits_real, logits_fake = state.D(real).float(), state.D(fake).float()
        loss_d = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
    apply_gradients(state, "D", torch.autograd.grad(loss_d, list(state.D.parameters())))
    with autocast(state):
        loss_g = generator_loss(state.D(state.G(z)).float(), state.opts.g_loss == "saturating")
    apply_gradients(state, "G", torch.autograd.grad(loss_g, list(state.G.parameters())))
    finish_step(state, [loss_d, loss_g, torch.sigmoid(logits_real).mean(), torch.sigmoid(logits_fake).mean()],
                watch=loss_d + loss_g)
