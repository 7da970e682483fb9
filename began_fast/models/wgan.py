"""WGAN (Arjovsky, Chintala and Bottou, arXiv 1701.07875): a critic without sigmoid whose
weights are clipped to [-c, c], so that it stays (a multiple of) a 1-Lipschitz function and
E[D(x)] - E[D(G(z))] estimates the Wasserstein-1 distance between data and samples.

Critic update (n_critic times per G update, each on a fresh real batch and z):
    L_D = D(G(z)) - D(x)     (batch means), then every critic weight clipped to [-c, c]
Generator update:  L_G = -D(G(z)).
RMSprop, as the paper advises against momentum for this loss. The paper's schedule of 100
critic steps early on and every 500th G step is left out: n_critic is constant.
Stats: L_D, L_G and the Wasserstein estimate E[D(x)] - E[D(G(z))] of the last critic step.
"""
import torch

from began_fast.step import apply_gradients, autocast, draw_real, draw_z, finish_step

STATS_FIELDS = ("count", "loss_d", "loss_g", "wasserstein")


def critic_update(state, penalty=None):
    """One critic update on a fresh batch: (L_D, Wasserstein estimate, penalty or None).
    penalty(state, real, fake) -> a 0-dim tensor added to L_D (WGAN-GP's); None for WGAN."""
    real, z = draw_real(state), draw_z(state)
    with autocast(state):
        fake = state.G(z).detach()
        estimate = state.D(real).float().mean() - state.D(fake).float().mean()
        loss_d = -estimate
    extra = penalty(state, real, fake) if penalty is not None else None
    if extra is not None:
        loss_d = loss_d + state.opts.gp_weight * extra
    apply_gradients(state, "D", torch.autograd.grad(loss_d, list(state.D.parameters())))
    return loss_d, estimate, extra


def generator_update(state):
    z = draw_z(state)
    with autocast(state):
        loss_g = -state.D(state.G(z)).float().mean()
    apply_gradients(state, "G", torch.autograd.grad(loss_g, list(state.G.parameters())))
    return loss_g


@torch.no_grad()
def clip_weights(net, clip: float) -> None:
    params = list(net.parameters())
    torch._foreach_clamp_min_(params, -clip)
    torch._foreach_clamp_max_(params, clip)


def real_batches(opts) -> int:
    """A fresh real batch for each critic update (a hook: models/hooks.py)."""
    return opts.n_critic


def train_step(state) -> None:
    """n_critic clipped critic updates, then one G update; nothing read back to the host."""
    for _ in range(state.opts.n_critic):
        loss_d, estimate, _ = critic_update(state)
        clip_weights(state.D, state.opts.clip)
    loss_g = generator_update(state)
    finish_step(state, [loss_d, loss_g, estimate], watch=loss_d + loss_g)
