"""equilibrium_update: BEGAN's k_t controller step, M_global and the stats sums in one launch.

Read in this order: the public function, its plain-PyTorch reference (and the two
formulas it is made of), then the Triton kernel, its launcher and the registration.
"""
from typing import Optional

import torch
import triton
import triton.language as tl

from began_fast.kernels.common import current, new_output, uses_triton

# Layout of the stats buffer that `equilibrium_update` accumulates into, one float32 slot
# each, so that a training loop can read interval means every few hundred steps with a
# single device-to-host copy.
STATS_FIELDS = ("count", "loss_real", "loss_fake", "loss_d", "m_global")


def equilibrium_update(k, loss_real, loss_fake, gamma, lambda_k, stats=None):
    """One BEGAN controller step, in place, without host synchronisation.

    With r = loss_real = L(x), f = loss_fake = L(G(z)) and k = k_t:
        k      <- clip(k + lambda_k * (gamma * r - f), 0, 1)         (in place)
        returns   M_global = r + |gamma * r - f|                     (0-dim float32)
        stats  += [1, r, f, r - k_old * f, M_global]                 (if given; STATS_FIELDS order)

    k: 0-dim float32 tensor. loss_real, loss_fake: 0-dim tensors of any float dtype
        (batch means of L), detached here. stats: None or a float32 [len(STATS_FIELDS)]
        buffer (new_stats). gamma, lambda_k: Python floats (the "torch" switch also
        takes 0-dim tensors).
    Nothing is read back to the host, so it can run inside a captured CUDA graph. Runs
    the Triton kernel when the kernel switch is "triton" (on CUDA tensors, or any under
    TRITON_INTERPRET=1), the reference below when it is "torch".
    """
    loss_real, loss_fake = loss_real.detach(), loss_fake.detach()
    if current() == "torch":
        return equilibrium_update_reference(k, loss_real, loss_fake, gamma, lambda_k, stats)
    if isinstance(gamma, torch.Tensor) or isinstance(lambda_k, torch.Tensor):
        raise TypeError("equilibrium_update with the triton kernels: gamma and lambda_k must be Python floats")
    return _equilibrium_op(k, loss_real, loss_fake, float(gamma), float(lambda_k), stats)


def equilibrium_update_reference(k, loss_real, loss_fake, gamma, lambda_k, stats=None):
    """The plain PyTorch computation of equilibrium_update (same arguments, same effects)."""
    m = m_global(loss_real, loss_fake, gamma)
    if stats is not None:
        loss_d = loss_real - k * loss_fake          # L_D = L(x) - k_t L(G(z)), with k before the update
        stats.add_(torch.stack([torch.ones_like(m), loss_real, loss_fake, loss_d, m]).to(stats.dtype))
    k.copy_(k_update(k, loss_real, loss_fake, gamma, lambda_k))
    return m


def k_update(k, loss_real, loss_fake, gamma, lambda_k):
    """k_{t+1} = clip(k_t + lambda_k * (gamma * L(x) - L(G(z))), 0, 1)."""
    return torch.clamp(k + lambda_k * (gamma * loss_real - loss_fake), 0.0, 1.0)


def m_global(loss_real, loss_fake, gamma):
    """M_global = L(x) + |gamma * L(x) - L(G(z))|, the convergence measure."""
    return loss_real + torch.abs(gamma * loss_real - loss_fake)


def new_stats(device) -> torch.Tensor:
    """An empty stats buffer (zeros, float32) with one slot per STATS_FIELDS entry."""
    return torch.zeros(len(STATS_FIELDS), dtype=torch.float32, device=device)


# ----------------------------------------------------------------------------------------------
# The Triton kernel and its launcher.

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


def _equilibrium_triton(k, loss_real, loss_fake, gamma, lambda_k, stats) -> torch.Tensor:
    m = new_output((), torch.float32, k.device)
    _equilibrium_kernel[(1,)](k, loss_real, loss_fake, m, m if stats is None else stats,
                              gamma, lambda_k, HAS_STATS=stats is not None, **STATS_CONSTEXPRS, num_warps=1)
    return m


# ----------------------------------------------------------------------------------------------
# Registration: a custom op that mutates k and stats, so torch.compile traces it.

def _check(k, stats):
    if k.dtype != torch.float32 or k.dim() != 0:
        raise ValueError(f"equilibrium_update: k must be a 0-dim float32 tensor, got {k.dtype} {tuple(k.shape)}")
    if stats is not None and (stats.dtype != torch.float32 or stats.shape != (len(STATS_FIELDS),)):
        raise ValueError(f"equilibrium_update: stats must be float32 [{len(STATS_FIELDS)}] "
                         f"(new_stats), got {stats.dtype} {tuple(stats.shape)}")


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
