"""equilibrium_update: BEGAN's k_t controller step, M_global and the stats sums in one launch.

With r = loss_real = L(x), f = loss_fake = L(G(z)) (0-dim batch means) and k = k_t:
    k       <- clip(k + lambda_k * (gamma * r - f), 0, 1)      (in place)
    returns    M_global = r + |gamma * r - f|                  (0-dim float32)
    stats   += [1, r, f, r - k_old * f, M_global]              (if given; STATS_FIELDS order)
Everything stays on the device: no host synchronisation, so it can run inside a
captured CUDA graph.
"""
from typing import Optional

import torch
import triton
import triton.language as tl

from began_fast.began import STATS_FIELDS, discriminator_loss, k_update, m_global
from began_fast.kernels.common import new_output, uses_triton


@triton.jit
def _equilibrium_kernel(
    k_ptr,       # 0-dim float32 k_t, updated in place
    real_ptr,    # 0-dim loss_real = L(x)
    fake_ptr,    # 0-dim loss_fake = L(G(z))
    m_ptr,       # out: 0-dim float32 M_global
    stats_ptr,   # float32 [len(STATS_FIELDS)] running sums (read and written when HAS_STATS)
    gamma, lambda_k,
    HAS_STATS: tl.constexpr,
    N_STATS: tl.constexpr, BLOCK_STATS: tl.constexpr,  # BLOCK_STATS: N_STATS rounded up to a power of 2
    I_COUNT: tl.constexpr, I_REAL: tl.constexpr, I_FAKE: tl.constexpr,  # slots in STATS_FIELDS
    I_LOSS_D: tl.constexpr, I_M: tl.constexpr,
):
    k = tl.load(k_ptr)
    real = tl.load(real_ptr).to(tl.float32)
    fake = tl.load(fake_ptr).to(tl.float32)
    balance = gamma * real - fake
    m = real + tl.abs(balance)
    # NaN propagates into k, as torch.clamp lets it, so a diverged run shows in k_t too.
    k_new = tl.minimum(tl.maximum(k + lambda_k * balance, 0.0, propagate_nan=tl.PropagateNan.ALL),
                       1.0, propagate_nan=tl.PropagateNan.ALL)
    tl.store(k_ptr, k_new)
    tl.store(m_ptr, m)
    if HAS_STATS:
        i = tl.arange(0, BLOCK_STATS)
        add = tl.where(i == I_COUNT, 1.0, 0.0)
        add = tl.where(i == I_REAL, real, add)
        add = tl.where(i == I_FAKE, fake, add)
        add = tl.where(i == I_LOSS_D, real - k * fake, add)  # k before the update
        add = tl.where(i == I_M, m, add)
        s = tl.load(stats_ptr + i, mask=i < N_STATS, other=0.0)
        tl.store(stats_ptr + i, s + add, mask=i < N_STATS)


_SLOTS = {f"I_{name}": STATS_FIELDS.index(field) for name, field in
          (("COUNT", "count"), ("REAL", "loss_real"), ("FAKE", "loss_fake"), ("LOSS_D", "loss_d"), ("M", "m_global"))}
STATS_CONSTEXPRS = dict(N_STATS=len(STATS_FIELDS), BLOCK_STATS=triton.next_power_of_2(len(STATS_FIELDS)), **_SLOTS)


def _check(k, stats):
    if k.dtype != torch.float32 or k.dim() != 0:
        raise ValueError(f"equilibrium_update: k must be a 0-dim float32 tensor, got {k.dtype} {tuple(k.shape)}")
    if stats is not None and (stats.dtype != torch.float32 or stats.shape != (len(STATS_FIELDS),)):
        raise ValueError(f"equilibrium_update: stats must be float32 [{len(STATS_FIELDS)}] "
                         f"(began_fast.began.new_stats), got {stats.dtype} {tuple(stats.shape)}")


def _equilibrium_triton(k, loss_real, loss_fake, gamma, lambda_k, stats) -> torch.Tensor:
    m = new_output((), torch.float32, k.device)
    _equilibrium_kernel[(1,)](k, loss_real, loss_fake, m, m if stats is None else stats,
                              gamma, lambda_k, HAS_STATS=stats is not None, **STATS_CONSTEXPRS, num_warps=1)
    return m


@torch.library.custom_op("began_fast::equilibrium_update", mutates_args=("k", "stats"))
def _equilibrium_op(k: torch.Tensor, loss_real: torch.Tensor, loss_fake: torch.Tensor,
                    gamma: float, lambda_k: float, stats: Optional[torch.Tensor]) -> torch.Tensor:
    _check(k, stats)
    if uses_triton(k):
        return _equilibrium_triton(k, loss_real, loss_fake, gamma, lambda_k, stats)
    return equilibrium_update_reference(k, loss_real, loss_fake, gamma, lambda_k, stats)


@_equilibrium_op.register_fake
def _(k, loss_real, loss_fake, gamma, lambda_k, stats):
    return new_output((), torch.float32, k.device)


def equilibrium_update_reference(k, loss_real, loss_fake, gamma, lambda_k, stats=None):
    m = m_global(loss_real, loss_fake, gamma)
    if stats is not None:
        loss_d = discriminator_loss(loss_real, loss_fake, k)
        stats.add_(torch.stack([torch.ones_like(m), loss_real, loss_fake, loss_d, m]).to(stats.dtype))
    k.copy_(k_update(k, loss_real, loss_fake, gamma, lambda_k))
    return m


def equilibrium_update(k, loss_real, loss_fake, gamma, lambda_k, stats=None, *, impl="triton"):
    """One BEGAN controller step, in place, without host synchronisation.

    k: 0-dim float32 tensor k_t, updated in place:
        k <- clip(k + lambda_k * (gamma * loss_real - loss_fake), 0, 1)
    Returns M_global = loss_real + |gamma * loss_real - loss_fake| (0-dim float32).
    stats: optional float32 buffer laid out as began_fast.began.STATS_FIELDS; adds
        [1, loss_real, loss_fake, loss_real - k_old * loss_fake, M_global].
    loss_real, loss_fake: 0-dim tensors (batch means of L), detached here.
    gamma, lambda_k: Python floats for impl="triton" ("torch" also takes 0-dim tensors).
    """
    loss_real, loss_fake = loss_real.detach(), loss_fake.detach()
    if impl == "torch":
        return equilibrium_update_reference(k, loss_real, loss_fake, gamma, lambda_k, stats)
    if impl != "triton":
        raise ValueError(f"equilibrium_update: impl must be 'torch' or 'triton', got {impl!r}")
    if isinstance(gamma, torch.Tensor) or isinstance(lambda_k, torch.Tensor):
        raise TypeError("equilibrium_update(impl='triton'): gamma and lambda_k must be Python floats")
    return _equilibrium_op(k, loss_real, loss_fake, float(gamma), float(lambda_k), stats)
