"""BEGAN's objective (Berthelot, Schumm and Metz, arXiv 1703.10717) on its auto-encoder D.

One step draws z and a real batch on the device, runs G, runs D once on the
concatenated [real; fake] batch, takes every gradient in one backward pass, applies both
Adam updates and the k_t update, and adds the step's losses to the stats buffer:

    L(v) = mean |v - D(v)|;  L_D = L(x) - k_t L(G(z));  L_G = L(G(z))
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
    M_global = L(x) + |gamma L(x) - L(G(z))|    (the lr halves on its plateaus)

With --latent-constraint w (BEGAN-CS, Chang et al. 2018) both D and G also minimise
w * C, C = mean (z - Enc_D(G(z)))^2: D's encoder must recover z from G's image, so G
cannot map many z to one image without the error growing.

With --pull-away w (EBGAN's pull-away term, Zhao et al. 2017) G also minimises w * PT,
the mean squared cosine similarity between D's encodings of different fakes in the
batch: G is pushed to draw images that D's encoder tells apart, which C does not ask.
"""
from typing import NamedTuple

import torch

from began_fast.distributed import all_reduce_mean
from began_fast.kernels import STATS_FIELDS as KERNEL_STATS, equilibrium_update, l1_per_sample, l1_per_sample_reference
from began_fast.step import apply_gradients, autocast, count_step, draw_real, draw_z, in_training_shapes

# The equilibrium kernel's layout (count, L(x), L(G(z)), L_D, M_global), which it adds to
# itself, then the latent constraint's error C and the pull-away term PT, which the step adds.
STATS_FIELDS = KERNEL_STATS + ("latent_error", "pull_away")


class Losses(NamedTuple):
    loss_real: torch.Tensor       # L(x), batch mean
    loss_fake: torch.Tensor       # L(G(z)), batch mean
    d_grads: tuple = ()
    g_grads: tuple = ()
    latent_error: torch.Tensor | None = None   # C, when --latent-constraint is on
    pull_away: torch.Tensor | None = None      # PT, when --pull-away is on


def new_buffers(device) -> dict:
    """BEGAN's own state: k_t, starting at 0."""
    return {"k": torch.zeros((), device=device)}


def single_pass_losses(state, real, z) -> Losses:
    """L(x) and L(G(z)) from one D forward on [real; fake] (and C, the latent constraint's
    error, and PT, the pull-away term, from more passes of D's encoder on the fakes).

    The -k_t trick, explained here once: D's layers take a per-sample weight-gradient
    scale (began_layers.py; kernels.conv2d_elu's weight_grad_scale), 1 for the real half
    and -k_t for the fake half. The backward of L(x) + L(G(z)) then gives D's parameters
    the gradient of L_D = L(x) - k_t L(G(z)), while the input gradient that flows on
    into G is unscaled, so G's parameters get the gradient of L_G = L(G(z)). One D
    forward and one backward replace the paper's two passes (two_pass_gradients), with
    the same gradients (tested).

    The latent constraint must reach D's encoder unscaled (D minimises it too), so the
    fakes go through the encoder a second time, as a third block of the same batch with
    scale 1; only the first two blocks go on through the decoder. The pull-away term is
    G's alone: its block has scale 0, so D's parameters get nothing from it.
    """
    batch, k = real.shape[0], state.buffers["k"]
    constrained, pulled = state.opts.latent_constraint > 0, state.opts.pull_away > 0
    with autocast(state):
        fake = state.G(z).float()
        extra = [1.0] * constrained + [0.0] * pulled        # the encoder-only blocks' scales
        inputs = torch.cat([real, fake] + [fake] * len(extra)).contiguous(memory_format=state.memory_format)
        one = torch.ones_like(k).expand(batch)
        scale = torch.cat([one, -k.expand(batch)] + [one * s for s in extra])
        embedding = state.D.encode(inputs, scale)
        both, pair_scale = inputs[:2 * batch], scale[:2 * batch]
        recon = state.D.decode(embedding[:2 * batch], pair_scale)
    per_sample = l1_per_sample(recon, both)
    codes = embedding[2 * batch:].float().split(batch)
    latent_error = latent_error_of(codes[0], z) if constrained else None
    pull_away = pull_away_of(codes[-1]) if pulled else None
    return Losses(per_sample[:batch].mean(), per_sample[batch:].mean(), latent_error=latent_error,
                  pull_away=pull_away)


def latent_error_of(recovered, z):
    """C: the mean squared difference between z and what D's encoder recovers from G(z)."""
    return (recovered - z).pow(2).mean()


def pull_away_of(codes):
    """PT: the mean over pairs i != j of the squared cosine similarity of codes i and j."""
    unit = torch.nn.functional.normalize(codes.flatten(1), dim=1)
    similarity = (unit @ unit.t()).pow(2)
    n = unit.shape[0]
    return (similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))


def single_pass_gradients(state, real, z) -> Losses:
    """The losses and D's and G's gradients from one forward and one backward."""
    losses = single_pass_losses(state, real, z)
    total = losses.loss_real + losses.loss_fake
    if losses.latent_error is not None:
        total = total + state.opts.latent_constraint * losses.latent_error
    if losses.pull_away is not None:
        total = total + state.opts.pull_away * losses.pull_away
    d_params, g_params = list(state.D.parameters()), list(state.G.parameters())
    grads = torch.autograd.grad(total, d_params + g_params)
    return losses._replace(d_grads=grads[:len(d_params)], g_grads=grads[len(d_params):])


def two_pass_gradients(G, D, real, z, k, latent_constraint=0.0, pull_away=0.0) -> Losses:
    """The plain reference: D on real and detached fake for L_D, then D again on fake for
    L_G; the latent constraint, when on, added to both with D's encoder on G(z), the
    pull-away term to L_G alone."""
    fake = G(z)
    loss_real = l1_per_sample_reference(D(real), real).mean()
    detached = fake.detach()
    loss_fake_d = l1_per_sample_reference(D(detached), detached).mean()
    loss_d = loss_real - k * loss_fake_d                                                # L_D
    if latent_constraint:
        loss_d = loss_d + latent_constraint * latent_error_of(D.encode(detached), z)
    d_grads = torch.autograd.grad(loss_d, list(D.parameters()))
    loss_fake = l1_per_sample_reference(D(fake), fake).mean()
    loss_g, latent_error = loss_fake, None                                              # L_G
    if latent_constraint:
        latent_error = latent_error_of(D.encode(fake), z)
        loss_g = loss_g + latent_constraint * latent_error
    pt = None
    if pull_away:
        pt = pull_away_of(D.encode(fake))
        loss_g = loss_g + pull_away * pt
    g_grads = torch.autograd.grad(loss_g, list(G.parameters()))
    return Losses(loss_real, loss_fake, d_grads, g_grads, latent_error, pt)


def train_step(state) -> None:
    """One BEGAN step, all on the device; reads nothing back to the host."""
    if state.opts.vanishing_residual:
        set_carry(state)
    real, z = draw_real(state), draw_z(state)
    losses = single_pass_gradients(state, real, z)
    # No op on them here: one would be a graph of its own between autograd.grad's graph
    # break and the optimisers' (test_the_compiled_step_is_five_graphs).
    extras = {name: value for name, value in (("latent_error", losses.latent_error),
                                              ("pull_away", losses.pull_away)) if value is not None}
    monitored = [losses.loss_real, losses.loss_fake, *extras.values()]
    if state.world > 1:
        # k_t follows the global batch: both losses averaged over the ranks (the gradients
        # are, in apply_gradients), so every rank makes the same k_t update.
        monitored = all_reduce_mean([m.detach() for m in monitored], state.world)
    apply_gradients(state, "D", losses.d_grads)
    apply_gradients(state, "G", losses.g_grads)
    # The equilibrium kernel adds [1, L(x), L(G(z)), L_D, M_global] to its part of the stats.
    k, kernel_part = state.buffers["k"], state.stats[:len(KERNEL_STATS)]
    m_global = equilibrium_update(k, monitored[0], monitored[1], state.opts.gamma, state.opts.lambda_k, kernel_part)
    for name, value in zip(extras, monitored[2:]):
        index = STATS_FIELDS.index(name)
        state.stats[index:index + 1].add_(value.detach())
    count_step(state, watch=m_global)


def set_carry(state) -> None:
    """The vanishing residuals' carry for this step, 1 - step / --vanishing-residual down to
    0, into G's and D's buffers, on the device."""
    carry = (1 - state.step.float() / state.opts.vanishing_residual).clamp(min=0)
    state.G.carry.copy_(carry)
    state.D.carry.copy_(carry)


def log_fields(means: dict, state) -> dict:
    """The stats line's fields: the losses, L_G (= L(G(z))), k_t, M_global, and the latent
    constraint's error and the pull-away term when they are on."""
    fields = {"loss_real": means["loss_real"], "loss_fake": means["loss_fake"], "loss_d": means["loss_d"],
              "loss_g": means["loss_fake"], "k": float(state.buffers["k"]), "m_global": means["m_global"]}
    if state.opts.latent_constraint > 0:
        fields["latent_error"] = means["latent_error"]
    if state.opts.pull_away > 0:
        fields["pull_away"] = means["pull_away"]
    return fields


def progress(record: dict) -> str:
    """The progress bar's model part."""
    return (f"L(x)={record['loss_real']:.4f} L(G(z))={record['loss_fake']:.4f} k={record['k']:.4f} "
            f"M={record['m_global']:.4f}")


def extra_grids(state, real) -> dict:
    """BEGAN's D is an auto-encoder: real images beside their reconstructions."""
    recon = in_training_shapes(state, state.D, real, 2 * state.opts.batch)    # D trains on [real; fake]
    return {"recon": torch.stack([real, recon], dim=1).flatten(0, 1)}
