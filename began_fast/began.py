"""The BEGAN math in plain PyTorch (Berthelot et al., arXiv 1703.10717).

These small functions are the reference every fused kernel is checked against.
All losses are computed and returned in float32, whatever the input dtype.
"""
import torch

# Layout of the stats buffer that `equilibrium_update` accumulates into, one
# float32 slot each, so that logging can read averages every few hundred steps
# with a single device-to-host copy.
STATS_FIELDS = ("count", "loss_real", "loss_fake", "loss_d", "m_global")


def new_stats(device) -> torch.Tensor:
    """An empty stats buffer (zeros, float32) with one slot per STATS_FIELDS entry."""
    return torch.zeros(len(STATS_FIELDS), dtype=torch.float32, device=device)


def l1_per_sample(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L(v) per sample: mean over all non-batch elements of |recon - target|, shape [B], float32."""
    return (recon.float() - target.float()).abs().flatten(1).mean(dim=1)


def discriminator_loss(loss_real, loss_fake, k):
    """L_D = L(x) - k_t * L(G(z))."""
    return loss_real - k * loss_fake


def generator_loss(loss_fake):
    """L_G = L(G(z))."""
    return loss_fake


def k_update(k, loss_real, loss_fake, gamma: float, lambda_k: float):
    """k_{t+1} = clip(k_t + lambda_k * (gamma * L(x) - L(G(z))), 0, 1)."""
    return torch.clamp(k + lambda_k * (gamma * loss_real - loss_fake), 0.0, 1.0)


def m_global(loss_real, loss_fake, gamma: float):
    """M_global = L(x) + |gamma * L(x) - L(G(z))|, the convergence measure."""
    return loss_real + torch.abs(gamma * loss_real - loss_fake)
