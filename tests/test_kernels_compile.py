"""torch.compile(fullgraph=True) traces all three ops, forward and backward, with no graph break.

One small compile with the default (inductor) backend: about 20 s on a 2-core CPU, most of
it inductor's own compilation. fullgraph=True turns any graph break (a host read such as
.item(), an op torch.compile cannot trace) into an error.
"""
import torch

from began_fast import kernels
from began_fast.kernels import conv2d_elu, equilibrium_update, l1_per_sample, new_stats


def began_like_step(x, weight, bias, scale, k, stats):
    """A miniature of the trainer's step: conv+ELU, per-sample L1, the k_t update."""
    recon = conv2d_elu(x, weight, bias, 1, 1, True, weight_grad_scale=scale)
    loss = l1_per_sample(recon, x)
    real, fake = loss[:2].mean(), loss[2:].mean()
    m = equilibrium_update(k, real, fake, 0.5, 0.001, stats)
    return m, (real - k * fake)


def test_compile_fullgraph_matches_eager():
    kernels.use("triton")        # for this test; the conftest's fixture restores the switch after
    torch.manual_seed(0)
    x = torch.randn(4, 3, 6, 5).to(memory_format=torch.channels_last)
    weight = (torch.randn(3, 3, 3, 3) / 5).requires_grad_()
    bias = torch.randn(3, requires_grad=True)
    scale = torch.tensor([1.0, 1.0, -0.5, -0.5])
    results = []
    for step in (began_like_step, torch.compile(began_like_step, fullgraph=True)):
        k, stats = torch.tensor(0.5), new_stats("cpu")
        m, loss_d = step(x, weight, bias, scale, k, stats)
        grads = torch.autograd.grad(loss_d, (weight, bias))  # runs the compiled backward
        results.append([m, k, stats, *grads])
    for eager, compiled in zip(*results):
        torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)
