"""BEGAN's objective (Berthelot, Schumm and Metz, arXiv 1703.10717) on its auto-encoder D.

One step draws z and a real batch on the device, runs G, runs D once on the
concatenated [real; fake] batch, takes every gradient in one backward pass, applies both
Adam updates and the k_t update, and adds the step's losses to the stats buffer:

    L(v) = mean |v - D(v)|;  L_D = L(x) - k_t L(G(z));  L_G = L(G(z))
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
    M_global = L(x) + |gamma L(x) - L(G(z))|    (the lr halves on its plateaus)
"""
import torch

from began_fast.distributed import all_reduce_mean
from began_fast.kernels import STATS_FIELDS, equilibrium_update, l1_per_sample, l1_per_sample_reference
from began_fast.step import apply_gradients, autocast, count_step, draw_real, draw_z, in_training_shapes

OPTIMIZER = ("adam", (0.5, 0.999))
PRIOR = "uniform"
PLATEAU_METRIC = "m_global"      # what the lr schedule watches (train.py)
__all__ = ["STATS_FIELDS"]       # the equilibrium kernel's layout: count, L(x), L(G(z)), L_D, M_global


def new_buffers(device) -> dict:
    """BEGAN's own state: k_t, starting at 0."""
    return {"k": torch.zeros((), device=device)}


def single_pass_losses(state, real, z):
    """L(x) and L(G(z)) from one D forward on [real; fake].

    The -k_t trick, explained here once: D's layers take a per-sample weight-gradient
    scale (began_layers.py; kernels.conv2d_elu's weight_grad_scale), 1 for the real half
    and -k_t for the fake half. The backward of L(x) + L(G(z)) then gives D's parameters
    the gradient of L_D = L(x) - k_t L(G(z)), while the input gradient that flows on
    into G is unscaled, so G's parameters get the gradient of L_G = L(G(z)). One D
    forward and one backward replace the paper's two passes (two_pass_gradients), with
    the same gradients (tested).
    """
    batch, k = real.shape[0], state.buffers["k"]
    with autocast(state):
        fake = state.G(z).float()
        both = torch.cat([real, fake]).contiguous(memory_format=state.memory_format)
        scale = torch.cat([torch.ones_like(k).expand(batch), -k.expand(batch)])
        recon = state.D(both, weight_grad_scale=scale)
    per_sample = l1_per_sample(recon, both)
    return per_sample[:batch].mean(), per_sample[batch:].mean()


def single_pass_gradients(state, real, z):
    """(loss_real, loss_fake, D's gradients, G's gradients) from one forward and one backward."""
    loss_real, loss_fake = single_pass_losses(state, real, z)
    d_params, g_params = list(state.D.parameters()), list(state.G.parameters())
    grads = torch.autograd.grad(loss_real + loss_fake, d_params + g_params)
    return loss_real, loss_fake, grads[:len(d_params)], grads[len(d_params):]


def two_pass_gradients(G, D, real, z, k):
    """The plain reference: D on real and detached fake for L_D, then D again on fake for L_G."""
    fake = G(z)
    loss_real = l1_per_sample_reference(D(real), real).mean()
    detached = fake.detach()
    loss_fake_d = l1_per_sample_reference(D(detached), detached).mean()
    d_grads = torch.autograd.grad(loss_real - k * loss_fake_d, list(D.parameters()))   # L_D
    loss_fake = l1_per_sample_reference(D(fake), fake).mean()
    g_grads = torch.autograd.grad(loss_fake, list(G.parameters()))                     # L_G
    return loss_real, loss_fake, d_grads, g_grads


def train_step(state) -> None:
    """One BEGAN step, all on the device; reads nothing back to the host."""
    real, z = draw_real(state), draw_z(state)
    loss_real, loss_fake, d_grads, g_grads = single_pass_gradients(state, real, z)
    if state.world > 1:
        # k_t follows the global batch: both losses averaged over the ranks (the gradients
        # are, in apply_gradients), so every rank makes the same k_t update.
        loss_real, loss_fake = all_reduce_mean([loss_real.detach(), loss_fake.detach()], state.world)
    apply_gradients(state, "D", d_grads)
    apply_gradients(state, "G", g_grads)
    # The equilibrium kernel adds [1, L(x), L(G(z)), L_D, M_global] to the stats itself.
    k = state.buffers["k"]
    m_global = equilibrium_update(k, loss_real, loss_fake, state.opts.gamma, state.opts.lambda_k, state.stats)
    count_step(state, watch=m_global)


def log_fields(means: dict, state) -> dict:
    """The stats line's fields: the losses, L_G (= L(G(z))), k_t and M_global."""
    return {"loss_real": means["loss_real"], "loss_fake": means["loss_fake"], "loss_d": means["loss_d"],
            "loss_g": means["loss_fake"], "k": float(state.buffers["k"]), "m_global": means["m_global"]}


def progress(record: dict) -> str:
    """The progress bar's model part."""
    return (f"L(x)={record['loss_real']:.4f} L(G(z))={record['loss_fake']:.4f} k={record['k']:.4f} "
            f"M={record['m_global']:.4f}")


def extra_grids(state, real) -> dict:
    """BEGAN's D is an auto-encoder: real images beside their reconstructions."""
    recon = in_training_shapes(state, state.D, real, 2 * state.opts.batch)    # D trains on [real; fake]
    return {"recon": torch.stack([real, recon], dim=1).flatten(0, 1)}
