"""conv2d_elu against a float64 PyTorch reference: forward, gradients, layouts, dtypes, registration.

Without a GPU the Triton kernels run in the interpreter (tests/conftest.py), so the
shapes are small and awkward: batch 1 and 3, channel counts 3, 5, 13, 19, 20 (not
multiples of the 16-wide blocks; 19 and 20 span two), pixel counts that are not
multiples of the 32-pixel tile, stride 2, 1x1 kernels, no bias, elu=False; and one
shape past the size where the interpreter takes its large tiles.
"""
import pytest
import torch
import torch.nn.functional as F

from began_fast import kernels
from began_fast.kernels import conv2d_elu, conv2d_elu_reference
from began_fast.kernels.conv_elu import GPU_CONFIGS, config_family, for_shape

# The kernels' own device: CUDA when present (the Triton kernels launch there), else the CPU
# under the Triton interpreter (tests/conftest.py). Plain CPU tensors on a GPU machine would
# run the torch reference inside the op and test nothing.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(autouse=True)
def _triton():
    with kernels.use("triton"):
        yield

# Tolerances against the float64 reference: outputs need |a - r| <= atol * max(1, max|r|)
# + rtol * |r|; the scale makes atol hold for gradients summed over many pixels too.
# bf16 and fp16: the output and every gradient are rounded to the dtype once or twice
# (dL/dpre, then the convolution backward), hence a few of their epsilons (2^-8, 2^-11).
DTYPES = [
    (torch.float32, 1e-5, 1e-5),
    (torch.float64, 1e-10, 1e-10),
    (torch.bfloat16, 2e-2, 2e-2),
    (torch.float16, 4e-3, 4e-3),
]
CL, NCHW = torch.channels_last, torch.contiguous_format
# (B, Cin, H, W, Cout, kernel, stride, bias, elu, memory format, per-sample weight-grad scale)
CASES = [
    (1, 3, 7, 9, 5, 3, 1, True, True, NCHW, False),
    (3, 5, 5, 5, 13, 3, 2, True, True, CL, True),
    (3, 13, 7, 9, 5, 3, 1, False, True, CL, True),
    (2, 20, 6, 7, 19, 3, 1, True, False, NCHW, True),
    (3, 5, 9, 7, 13, 3, 2, False, False, CL, False),
    (3, 5, 7, 9, 13, 1, 1, True, True, CL, True),
    # Above 1024 pixels the interpreter switches to its large tiles (what whole-model tests use).
    (2, 5, 24, 25, 13, 3, 1, True, True, CL, True),
]


@pytest.fixture(autouse=True)
def exact_fp32():
    """fp32 compared at fp32 tolerance: no tf32, in the Triton kernel and in cuDNN alike."""
    with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
        yield


def assert_close(actual, expected, atol, rtol):
    torch.testing.assert_close(actual.double(), expected, rtol=rtol,
                               atol=atol * max(1.0, expected.abs().max().item()))


def make_inputs(case, dtype):
    B, Cin, H, W, Cout, k, stride, bias, elu, fmt, scaled = case
    x = torch.randn(B, Cin, H, W, device=DEVICE).to(dtype=dtype, memory_format=fmt).requires_grad_()
    w = (torch.randn(Cout, Cin, k, k, device=DEVICE) / (Cin * k * k) ** 0.5).to(dtype).requires_grad_()
    b = torch.randn(Cout, device=DEVICE).to(dtype).requires_grad_() if bias else None
    s = torch.rand(B, device=DEVICE) * 2 - 0.5 if scaled else None  # negative scales too: D's -k_t
    return x, w, b, s, dict(stride=stride, padding=k // 2, elu=elu)


def reference_grads(x, w, b, s, conf, grad_y):
    """float64 gradients, with the per-sample scale applied to the weight and bias terms only."""
    x64, w64 = x.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    b64 = None if b is None else b.detach().double().requires_grad_()
    y64 = conv2d_elu_reference(x64, w64, b64, **conf)
    g64 = grad_y.double()
    (gx,) = torch.autograd.grad((y64 * g64).sum(), x64, retain_graph=True)
    s64 = torch.ones(x.shape[0], dtype=torch.float64, device=x.device) if s is None else s.double()
    params = [w64] + ([b64] if b is not None else [])
    gparams = torch.autograd.grad((y64 * g64 * s64.view(-1, 1, 1, 1)).sum(), params)
    return y64.detach(), [gx, *gparams]


@pytest.mark.parametrize("switch", kernels.KERNELS)
@pytest.mark.parametrize("dtype, atol, rtol", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_forward_and_backward_match_float64(case, dtype, atol, rtol, switch):
    x, w, b, s, conf = make_inputs(case, dtype)
    with kernels.use(switch):
        y = conv2d_elu(x, w, b, **conf, weight_grad_scale=s)
        grad_y = torch.randn(y.shape, device=DEVICE).to(dtype)
        inputs = [x, w] + ([b] if b is not None else [])
        grads = torch.autograd.grad(y, inputs, grad_y)
    y_ref, grads_ref = reference_grads(x, w, b, s, conf, grad_y)

    assert y.dtype == dtype and y.shape == y_ref.shape
    assert y.is_contiguous(memory_format=case[9])  # the input's memory format
    assert_close(y, y_ref, atol, rtol)
    for g, g_ref, t in zip(grads, grads_ref, inputs):
        assert g.dtype == t.dtype
        assert_close(g, g_ref, atol, rtol)


def test_gradcheck_float64():
    """The Triton path (forward kernel, fused ELU-gradient kernel, ATen conv backward) in fp64."""
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, device=DEVICE, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, device=DEVICE, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, device=DEVICE, requires_grad=True)
    for stride in (1, 2):
        assert torch.autograd.gradcheck(lambda x, w, b: conv2d_elu(x, w, b, stride, 1), (x, w, b), fast_mode=True)


def test_tf32_follows_torch_flag():
    x, w, b, _, conf = make_inputs(CASES[1], torch.float32)
    with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=True):
        assert config_family(torch.float32) == "tf32"
        y = conv2d_elu(x, w, b, **conf)
    assert config_family(torch.float32) == "ieee32"  # the fixture turned tf32 off
    # tf32 keeps 10 mantissa bits: the fp32 result to about 1e-3.
    assert_close(y, conv2d_elu_reference(x.double(), w.double(), b.double(), **conf), 2e-3, 2e-3)


def test_autocast_casts_like_f_conv2d():
    """Under bf16 autocast the op computes and returns bf16, as F.conv2d would; fp32 leaves get fp32 grads."""
    device = DEVICE
    x = torch.randn(3, 5, 7, 9, device=device)
    w = (torch.randn(13, 5, 3, 3, device=device) / 6).requires_grad_()
    b = torch.randn(13, device=device, requires_grad=True)
    with torch.autocast(device, dtype=torch.bfloat16):
        y = conv2d_elu(x, w, b)
        y_ref = F.elu(F.conv2d(x, w, b, 1, 1))
    assert y.dtype == y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), y_ref.float(), atol=2e-2, rtol=2e-2)
    gw, gb = torch.autograd.grad(y.float().sum(), (w, b))
    gw_ref, gb_ref = torch.autograd.grad(y_ref.float().sum(), (w, b))
    assert gw.dtype == gb.dtype == torch.float32
    torch.testing.assert_close(gw, gw_ref, atol=0.1, rtol=2e-2)
    torch.testing.assert_close(gb, gb_ref, atol=0.1, rtol=2e-2)


@pytest.mark.parametrize("switch", kernels.KERNELS)
def test_autocast_with_a_weight_grad_scale(switch):
    """D's layers in the training step under --precision bf16 (the option fuzzer found the
    "torch" switch's backward meeting an fp32 input beside a bf16 gradient): each sample's
    weight and bias gradients are scaled, as a scaled sum of per-sample losses gives them."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.randn(3, 5, 7, 9, device=device)
    w = (torch.randn(13, 5, 3, 3, device=device) / 6).requires_grad_()
    b = torch.randn(13, device=device, requires_grad=True)
    scale = torch.tensor([1.0, -0.5, 0.25], device=device)
    with kernels.use(switch), torch.autocast(device, dtype=torch.bfloat16):
        y = conv2d_elu(x, w, b, weight_grad_scale=scale)
        y_ref = F.elu(F.conv2d(x, w, b, 1, 1))
    assert y.dtype == y_ref.dtype == torch.bfloat16
    gw, gb = torch.autograd.grad(y.float().sum(), (w, b))
    gw_ref, gb_ref = torch.autograd.grad((y_ref.float().sum(dim=(1, 2, 3)) * scale).sum(), (w, b))
    assert gw.dtype == gb.dtype == torch.float32
    torch.testing.assert_close(gw, gw_ref, atol=0.1, rtol=2e-2)
    torch.testing.assert_close(gb, gb_ref, atol=0.1, rtol=2e-2)


def test_only_needed_gradients():
    x, w, b, s, conf = make_inputs(CASES[1], torch.float32)
    y = conv2d_elu(x.detach(), w, b, **conf, weight_grad_scale=s)
    gw, gb = torch.autograd.grad(y.sum(), (w, b))
    assert gw.shape == w.shape and gb.shape == b.shape


@pytest.mark.parametrize("switch", kernels.KERNELS)
def test_expanded_scale(switch):
    """A scale built by expanding a 0-dim k_t (stride 0) gives the same gradients as a dense one."""
    x, w, b, _, conf = make_inputs(CASES[1], torch.float32)
    k = torch.tensor(-0.3, device=DEVICE)
    with kernels.use(switch):
        grads = [torch.autograd.grad(conv2d_elu(x, w, b, **conf, weight_grad_scale=s).sum(), (x, w, b))
                 for s in (k.expand(3), k.expand(3).contiguous())]
    for g, g_dense in zip(*grads):
        torch.testing.assert_close(g, g_dense)


@pytest.mark.parametrize("fmt", [NCHW, CL])
def test_opcheck(fmt):
    x = torch.randn(3, 5, 7, 9, device=DEVICE).to(memory_format=fmt).requires_grad_()
    w = torch.randn(13, 5, 3, 3, device=DEVICE, requires_grad=True)
    b = torch.randn(13, device=DEVICE, requires_grad=True)
    s = torch.rand(3, device=DEVICE)
    torch.library.opcheck(torch.ops.began_fast.conv2d_elu.default, (x, w, b, s, 1, 1, True))
    torch.library.opcheck(torch.ops.began_fast.conv2d_elu.default, (x, w, None, None, 2, 1, False))
    y, grad_y = torch.randn(3, 13, 7, 9, device=DEVICE).to(memory_format=fmt), torch.randn(3, 13, 7, 9, device=DEVICE)
    torch.library.opcheck(torch.ops.began_fast.conv2d_elu_grad_pre.default, (grad_y, y, s, True, True))
    torch.library.opcheck(torch.ops.began_fast.conv2d_elu_grad_pre.default, (grad_y, y, None, False, True))


def test_configs_are_pruned_to_the_layer_shape():
    """The 3-channel layers get tiles that fit them; wide layers no narrow ones; never none."""
    for family, configs in GPU_CONFIGS.items():
        blocks = lambda cs, key: {c.kwargs[key] for c in cs}
        first, last, wide = for_shape(configs, 3, 128), for_shape(configs, 128, 3), for_shape(configs, 128, 128)
        assert blocks(first, "BLOCK_K") == {16}, family            # D's first conv: Cin = 3
        assert blocks(last, "BLOCK_N") == {16}, family             # the decoders' last conv: Cout = 3
        assert min(blocks(wide, "BLOCK_N")) >= 64 and len(wide) >= 1, family
        assert for_shape(configs, 16, 16), family                  # a small layer still gets a config
