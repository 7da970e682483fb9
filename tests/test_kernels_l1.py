"""l1_per_sample against a float64 reference: forward, both gradients, layouts, dtypes, registration.

Under the interpreter the forward kernel takes 64-element blocks and 256-element chunks,
so the shapes below cover one partial block, several chunks (the two-stage path) and
a one-element sample.
"""
import pytest
import torch

from began_fast import kernels
from began_fast.kernels import l1_per_sample, l1_per_sample_reference


@pytest.fixture(autouse=True)
def _triton():
    with kernels.use("triton"):
        yield

# The forward always accumulates in fp32 (output float32), so its tolerance is fp32's
# whatever the input dtype; the gradients are rounded once to the input's dtype: relative
# tolerance one unit in the last place (bf16 2^-7, fp16 2^-10; fp32 arithmetic for the rest).
DTYPES = [
    (torch.float32, 1e-6),
    (torch.float64, 1e-6),
    (torch.bfloat16, 2 ** -7),
    (torch.float16, 2 ** -10),
]
SHAPES = [(1, 3, 7, 9), (3, 5, 13, 11), (3, 1, 1, 1), (2, 700)]
# The kernels' own device: CUDA when present, else the CPU under the Triton interpreter.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
LAYOUTS = ["contiguous", "channels_last", "mixed"]


def make_pair(shape, dtype, layout, target_grad):
    recon = torch.randn(shape, device=DEVICE).to(dtype)
    target = torch.randn(shape, device=DEVICE).to(dtype)
    target.view(-1)[::7] = recon.view(-1)[::7]  # ties: sign(0) = 0
    if len(shape) == 4 and layout != "contiguous":
        recon = recon.to(memory_format=torch.channels_last)
        if layout == "channels_last":
            target = target.to(memory_format=torch.channels_last)
    return recon.requires_grad_(), target.requires_grad_(target_grad)


def l1_float64(recon, target):
    return (recon.double() - target.double()).abs().flatten(1).mean(dim=1)


@pytest.mark.parametrize("switch", kernels.KERNELS)
@pytest.mark.parametrize("target_grad", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype, grad_tol", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_backward_match_float64(shape, dtype, grad_tol, layout, target_grad, switch):
    recon, target = make_pair(shape, dtype, layout, target_grad)
    with kernels.use(switch):
        out = l1_per_sample(recon, target)
    assert out.dtype == torch.float32 and out.shape == (shape[0],)

    r64 = recon.detach().double().requires_grad_()
    t64 = target.detach().double().requires_grad_(target_grad)
    ref = l1_float64(r64, t64)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-6)

    grad = torch.randn(shape[0], device=DEVICE)
    inputs = (recon, target) if target_grad else (recon,)
    with kernels.use(switch):
        grads = torch.autograd.grad(out, inputs, grad)
    grads_ref = torch.autograd.grad(ref, (r64, t64) if target_grad else (r64,), grad.double())
    for g, g_ref, t in zip(grads, grads_ref, inputs):
        assert g.dtype == t.dtype
        torch.testing.assert_close(g.double(), g_ref, rtol=grad_tol, atol=1e-7)
    if target_grad:
        assert torch.equal(grads[1].double(), -grads[0].double())


def test_matches_began_reference_exactly_in_fp32():
    recon, target = make_pair((3, 5, 13, 11), torch.float32, "contiguous", False)
    torch.testing.assert_close(l1_per_sample(recon, target), l1_per_sample_reference(recon, target),
                               rtol=1e-6, atol=0)


def test_grad_of_expanded_mean():
    """The gradient of .mean() arrives expanded (stride 0); the kernel reads it by stride."""
    recon, target = make_pair((3, 5, 13, 11), torch.float32, "contiguous", True)
    g_r, g_t = torch.autograd.grad(l1_per_sample(recon, target).mean(), (recon, target))
    ref = torch.autograd.grad(l1_float64(recon, target).mean(), (recon, target))
    torch.testing.assert_close(g_r.double(), ref[0].double())
    torch.testing.assert_close(g_t.double(), ref[1].double())


def test_gradcheck():
    """fp64 inputs (the loss itself is float32): no tie within eps, so finite differences are exact."""
    target = torch.randn(3, 2, 5, 4, dtype=torch.float64, device=DEVICE)
    offset = (0.1 + torch.rand_like(target)) * torch.where(torch.rand_like(target) > 0.5, 1.0, -1.0)
    recon = (target + offset).requires_grad_()
    target.requires_grad_()
    assert torch.autograd.gradcheck(l1_per_sample, (recon, target), eps=1e-2, atol=1e-4, rtol=1e-3)


def test_opcheck():
    recon, target = make_pair((3, 5, 13, 11), torch.float32, "mixed", True)
    torch.library.opcheck(torch.ops.began_fast.l1_per_sample.default, (recon, target))
    grad = torch.rand(3, device=DEVICE)
    for target_grad in (False, True):
        torch.library.opcheck(torch.ops.began_fast.l1_per_sample_backward.default,
                              (grad, recon.detach(), target.detach(), target_grad))


def test_reference_is_the_mean_absolute_error_of_each_sample():
    recon = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]], [[[0.0, 0.0], [0.0, 4.0]]]])
    target = torch.zeros_like(recon)
    # sample 0: (1 + 2 + 0.5 + 0) / 4; sample 1: 4 / 4
    assert l1_per_sample_reference(recon, target).tolist() == [0.875, 1.0]


def test_reference_accumulates_in_float32_for_half_inputs():
    recon = torch.full((2, 3, 4, 4), 0.5, dtype=torch.bfloat16)
    out = l1_per_sample_reference(recon, torch.zeros_like(recon))
    assert out.dtype == torch.float32 and out.tolist() == [0.5, 0.5]
