"""equilibrium_update: k_t's update in place, M_global, stats accumulation. (Skeleton.)"""
import torch

from began_fast.began import discriminator_loss, k_update, m_global


def equilibrium_update_reference(k, loss_real, loss_fake, gamma, lambda_k, stats=None):
    m = m_global(loss_real, loss_fake, gamma)
    if stats is not None:
        loss_d = discriminator_loss(loss_real, loss_fake, k)
        stats.add_(torch.stack([torch.ones_like(m), loss_real, loss_fake, loss_d, m]).to(stats.dtype))
    k.copy_(k_update(k, loss_real, loss_fake, gamma, lambda_k))
    return m


def equilibrium_update(k, loss_real, loss_fake, gamma, lambda_k, stats=None, *, impl="triton"):
    if impl == "torch":
        return equilibrium_update_reference(k, loss_real, loss_fake, gamma, lambda_k, stats)
    raise NotImplementedError("the Triton equilibrium_update is not written yet")
