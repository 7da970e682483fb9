"""WGAN-GP (Gulrajani et al., arXiv 1704.00028): WGAN's critic loss with a gradient penalty
instead of weight clipping, on a critic without batch norm (the penalty is per sample, and
batch norm would couple the samples of a batch).

    x_hat = e x + (1 - e) G(z),  e ~ U[0, 1] per sample
    L_D = D(G(z)) - D(x) + lambda * (||grad_x_hat D(x_hat)||_2 - 1)^2     (batch means)
    L_G = -D(G(z))
n_critic critic updates per G update; Adam 1e-4, betas (0, 0.9), as the paper.
The penalty is a gradient of a gradient (double backward): see docs/models.md for the backends.
Stats: L_D, L_G, the Wasserstein estimate and the penalty of the last critic step.
"""
import torch

from began_fast.models.wgan import critic_update, generator_update, real_batches  # noqa: F401 (a hook: WGAN's draws)
from began_fast.step import autocast, finish_step

STATS_FIELDS = ("count", "loss_d", "loss_g", "wasserstein", "penalty")


@torch.compiler.disable
def gradient_penalty(state, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """(||grad D(x_hat)|| - 1)^2 averaged over the batch, on random interpolates x_hat; keeps
    the graph so that L_D's gradient includes the penalty's. Always eager: torch.compile's
    AOTAutograd cannot differentiate a compiled gradient again (double backward), so
    under --backend compile the rest of the step is compiled around it."""
    e = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    x_hat = (e * real + (1 - e) * fake).requires_grad_(True)
    with autocast(state):
        scores = state.D(x_hat).float()
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.float().flatten(1).norm(dim=1) - 1) ** 2).mean()


def train_step(state) -> None:
    """n_critic penalised critic updates, then one G update; nothing read back to the host."""
    for _ in range(state.opts.n_critic):
        loss_d, estimate, penalty = critic_update(state, gradient_penalty)
    loss_g = generator_update(state)
    finish_step(state, [loss_d, loss_g, estimate, penalty], watch=loss_d + loss_g)
