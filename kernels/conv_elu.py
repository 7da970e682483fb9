"""conv2d_elu: y = ELU(conv2d(x, weight, bias, stride, padding)), bias and ELU fused.

Read in this order: the public function, its plain-PyTorch reference, then the
Triton forward kernel, its configurations and launcher, and the registration with
autograd. The backward's kernels are in conv_elu_backward.py.

How the forward works: an implicit GEMM. The GEMM is [M = B*Ho*Wo output pixels] x
[K = KH*KW*Cin] x [N = Cout]; the K loop walks the KH*KW taps and, inside each tap,
blocks of input channels, gathering the input tile straight from x (zero padding by
masks), so no im2col buffer is ever written. Accumulation is fp32 (fp64 for fp64
inputs), the bias and ELU are applied in registers, and y is stored once in x's
memory format. Any strides work; channels_last x (input channels contiguous, so the
[BLOCK_M, BLOCK_K] tile loads coalesce) is the layout the kernel is built for.
fp32 inputs use tf32 tensor cores when torch.backends.cudnn.allow_tf32 is set, as
F.conv2d does; exact ("ieee") fp32 otherwise.
"""
from typing import Optional

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from began_fast.kernels.common import INTERPRET, current, dense_memory_format, new_output, uses_triton
from began_fast.kernels.conv_elu_backward import conv_input_weight_grads, elu_grad


def conv2d_elu(x, weight, bias=None, stride=1, padding=1, elu=True, *,
               weight_grad_scale: Optional[torch.Tensor] = None):
    """ELU(conv2d(x, weight, bias, stride, padding)); a plain conv when elu=False.

    x: [B, Cin, H, W]; weight: [Cout, Cin, KH, KW]; bias: [Cout] or None. fp32 (tf32
        tensor cores when torch.backends.cudnn.allow_tf32, as F.conv2d), bf16, fp16, or
        fp64. Under autocast the arguments are cast as autocast casts F.conv2d's.
    stride, padding: ints (square). The output takes x's memory format; channels_last
        is the fast layout.
    weight_grad_scale: optional [B] float tensor; sample b's contribution to the weight
        and bias gradients is multiplied by weight_grad_scale[b] (the input gradient is
        not). One backward pass can then give different parameter gradients to
        different parts of a batch.
    Differentiable in x, weight and bias. Runs the Triton kernels when the kernel switch
    is "triton" (see kernels.common for which tensors launch them), the reference below
    when it is "torch".
    """
    # Custom ops are invisible to autocast, and so is the backward of an autograd.Function
    # (which would meet an fp32 x beside a bf16 gradient): cast here as autocast would for
    # F.conv2d. For the plain reference this is what F.conv2d does anyway.
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        x, weight, bias = (_autocast(t, dtype) for t in (x, weight, bias))
    if current() == "torch":
        if weight_grad_scale is None:
            return conv2d_elu_reference(x, weight, bias, stride, padding, elu)
        return _Conv2dEluScaledTorch.apply(x, weight, bias, weight_grad_scale, stride, padding, elu)
    return _conv2d_elu_op(x, weight, bias, weight_grad_scale, stride, padding, elu)


def conv2d_elu_reference(x, weight, bias=None, stride=1, padding=1, elu=True):
    """The plain PyTorch computation the fused op replaces."""
    y = F.conv2d(x, weight, bias, stride, padding)
    return F.elu(y) if elu else y


class _Conv2dEluScaledTorch(torch.autograd.Function):
    """The reference with a weight_grad_scale: torch ops forward; backward in torch too, with
    the weight and bias gradients weighting each sample by `scale` (the input's unscaled)."""

    @staticmethod
    def forward(ctx, x, weight, bias, scale, stride, padding, elu):
        y = conv2d_elu_reference(x, weight, bias, stride, padding, elu)
        _save_for_backward(ctx, x, weight, bias, scale, stride, padding, elu, y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        return _backward(ctx, grad_y, "torch")


def _autocast(t: Optional[torch.Tensor], dtype: torch.dtype):
    # What autocast does to F.conv2d's arguments: floating tensors other than fp64 are cast.
    if t is None or not t.is_floating_point() or t.dtype == torch.float64:
        return t
    return t.to(dtype)


# ----------------------------------------------------------------------------------------------
# The Triton forward kernel, its configurations and launcher.

# The interpreter has no bf16 arithmetic (its tl.dot multiplies the raw uint16 bit patterns,
# triton-lang/triton#11584): there only, bf16 tiles are widened to fp32 before the dot.
_WIDEN_BF16_DOT = tl.constexpr(INTERPRET)


@triton.jit
def _conv2d_elu_fwd_kernel(
    x_ptr,  # input [B, Cin, H, W], any strides
    w_ptr,  # weight [Cout, Cin, KH, KW], any strides (the launcher passes it channels_last)
    b_ptr,  # bias [Cout] (read when HAS_BIAS)
    y_ptr,  # out: [B, Cout, Ho, Wo], x's memory format
    B, Cin, H, W, Cout, Ho, Wo,
    sxb, sxc, sxh, sxw,  # x strides
    swo, swi, swh, sww,  # weight strides
    syb, syc, syh, syw,  # y strides
    STRIDE: tl.constexpr, PAD: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
    HAS_BIAS: tl.constexpr, ELU: tl.constexpr,
    PRECISION: tl.constexpr,  # tl.dot input_precision for fp32: "tf32" or "ieee"
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # Output-channel tiles of one pixel tile run next to each other: the input rows they
    # share stay in L2 (Cout spans at most a few BLOCK_N tiles).
    pid = tl.program_id(0)
    n_tiles_n = tl.cdiv(Cout, BLOCK_N)
    pid_m = pid // n_tiles_n
    pid_n = pid % n_tiles_n

    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # output pixels, (b, oh, ow) flattened
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # output channels
    rk = tl.arange(0, BLOCK_K)                    # input channels within one block
    m_ok = rm < B * Ho * Wo
    n_ok = rn < Cout
    ow = rm % Wo
    oh = (rm // Wo) % Ho
    b = rm // (Wo * Ho)
    ih0 = oh * STRIDE - PAD
    iw0 = ow * STRIDE - PAD
    x_rows = x_ptr + b.to(tl.int64) * sxb  # int64: B*Cin*H*W may pass 2**31
    w_cols = w_ptr + rn * swo

    acc_dtype: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=acc_dtype)
    # One flat loop over (tap, channel block), so that the compiler pipelines the loads
    # across taps as well (nested static loops over taps would each be too short).
    c_blocks = tl.cdiv(Cin, BLOCK_K)
    for kk in range(0, KH * KW * c_blocks):
        tap = kk // c_blocks
        kh = tap // KW
        kw = tap % KW
        c = (kk % c_blocks) * BLOCK_K + rk
        c_ok = c < Cin
        ih = ih0 + kh
        iw = iw0 + kw
        row_ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)  # zero padding
        a = tl.load(x_rows[:, None] + (ih * sxh + iw * sxw)[:, None] + c[None, :] * sxc,
                    mask=row_ok[:, None] & c_ok[None, :], other=0.0)
        wt = tl.load(w_cols[None, :] + c[:, None] * swi + (kh * swh + kw * sww),
                     mask=c_ok[:, None] & n_ok[None, :], other=0.0)
        if _WIDEN_BF16_DOT and a.dtype == tl.bfloat16:
            a, wt = a.to(tl.float32), wt.to(tl.float32)  # exact: same products and sums
        acc = tl.dot(a, wt, acc, input_precision=PRECISION, out_dtype=acc_dtype)

    if HAS_BIAS:
        acc += tl.load(b_ptr + rn, mask=n_ok, other=0.0).to(acc_dtype)[None, :]
    if ELU:
        # exp only of the non-positive part, so large activations cannot overflow to inf.
        acc = tl.where(acc > 0, acc, tl.exp(tl.minimum(acc, 0.0)) - 1.0)
    y_rows = b.to(tl.int64) * syb + oh * syh + ow * syw
    tl.store(y_ptr + y_rows[:, None] + rn[None, :] * syc, acc.to(y_ptr.dtype.element_ty),
             mask=m_ok[:, None] & n_ok[None, :])


def _config(bm, bn, bk, warps, stages):
    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=warps, num_stages=stages)


# Autotuned tiles per dtype family. Shared memory is (BM + BN) * BK * bytes * stages; every
# config fits sm_80's 163 KiB as well as sm_90's 227 KiB and, for channel counts that are
# multiples of 16, compiles without spills (see aot_report.py and the AOT test).
GPU_CONFIGS = {
    "16bit": [  # bf16 / fp16
        _config(128, 128, 64, 8, 3), _config(128, 64, 64, 4, 4), _config(64, 128, 64, 4, 4),
        _config(128, 128, 32, 4, 4), _config(64, 64, 32, 4, 4), _config(64, 64, 16, 4, 3),
    ],
    "tf32": [
        _config(128, 128, 32, 8, 3), _config(128, 64, 32, 4, 4), _config(64, 128, 32, 4, 4),
        _config(64, 64, 32, 4, 3), _config(64, 64, 16, 4, 3),
    ],
    "ieee32": [  # exact fp32: FMA, not tensor cores, so smaller tiles per warp
        _config(128, 64, 32, 8, 3), _config(64, 128, 32, 8, 3), _config(64, 64, 32, 4, 3),
        _config(64, 64, 16, 4, 4),
    ],
    "fp64": [_config(64, 64, 16, 4, 2)],  # for correctness checks (gradcheck), not speed
}
# The interpreter's cost is per program and per op, hardly per element. Small problems (the
# kernel tests) take a small tile, so that their awkward shapes span several tiles and
# channel blocks; larger ones (whole-model tests on the CPU) a large tile, to finish sooner.
INTERPRET_CONFIGS = [_config(32, 16, 16, 4, 1), _config(1024, 32, 16, 4, 1)]


def _interpreter_tile(configs, named_args, **kwargs):
    """Autotune pruning that keeps exactly one config, so the interpreter never benchmarks."""
    small = named_args["B"] * named_args["Ho"] * named_args["Wo"] <= 1024
    return [configs[0] if small else configs[1]]


_AUTOTUNE_KEY = ["B", "Cin", "H", "W", "Cout", "sxc", "STRIDE", "KH", "KW"]
if INTERPRET:
    _FWD = {family: triton.autotune(INTERPRET_CONFIGS, key=_AUTOTUNE_KEY,
                                    prune_configs_by={"early_config_prune": _interpreter_tile})(
        _conv2d_elu_fwd_kernel) for family in GPU_CONFIGS}
else:
    _FWD = {family: triton.autotune(configs, key=_AUTOTUNE_KEY)(_conv2d_elu_fwd_kernel)
            for family, configs in GPU_CONFIGS.items()}


def config_family(dtype: torch.dtype) -> str:
    """Which GPU_CONFIGS list serves `dtype`. fp32 runs on tf32 tensor cores when torch allows
    tf32 for convolutions (torch.backends.cudnn.allow_tf32), as F.conv2d does."""
    if dtype in (torch.float16, torch.bfloat16):
        return "16bit"
    if dtype == torch.float32:
        return "tf32" if torch.backends.cudnn.allow_tf32 else "ieee32"
    if dtype == torch.float64:
        return "fp64"
    raise TypeError(f"conv2d_elu: unsupported dtype {dtype}")


def _output_shape(x, weight, stride: int, padding: int):
    (B, _, H, W), (Cout, _, KH, KW) = x.shape, weight.shape
    return B, Cout, (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1


def _new_y(x, weight, stride, padding):
    return new_output(_output_shape(x, weight, stride, padding), x.dtype, x.device,
                      memory_format=dense_memory_format(x))


def _conv2d_elu_triton(x, weight, bias, stride: int, padding: int, elu: bool) -> torch.Tensor:
    if not (x.dtype == weight.dtype and (bias is None or bias.dtype == x.dtype)):
        raise TypeError(f"conv2d_elu: x, weight and bias must share a dtype, got "
                        f"{x.dtype}, {weight.dtype}, {None if bias is None else bias.dtype}")
    family = config_family(x.dtype)
    y = _new_y(x, weight, stride, padding)
    B, Cout, Ho, Wo = y.shape
    _, Cin, H, W = x.shape
    # Input channels contiguous in the weight too, so its [BLOCK_K, BLOCK_N] tile loads
    # coalesce; a no-op for a model kept in channels_last.
    w = weight.contiguous(memory_format=torch.channels_last)

    def grid(meta):
        return (triton.cdiv(B * Ho * Wo, meta["BLOCK_M"]) * triton.cdiv(Cout, meta["BLOCK_N"]),)

    _FWD[family][grid](
        x, w, y if bias is None else bias, y,
        B, Cin, H, W, Cout, Ho, Wo, *x.stride(), *w.stride(), *y.stride(),
        STRIDE=stride, PAD=padding, KH=w.shape[2], KW=w.shape[3],
        HAS_BIAS=bias is not None, ELU=elu, PRECISION="tf32" if family == "tf32" else "ieee",
    )
    return y


# ----------------------------------------------------------------------------------------------
# Registration: a custom op with autograd, so torch.compile and opcheck accept it.

@torch.library.custom_op("began_fast::conv2d_elu", mutates_args=())
def _conv2d_elu_op(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                   weight_grad_scale: Optional[torch.Tensor], stride: int, padding: int,
                   elu: bool) -> torch.Tensor:
    """weight_grad_scale is unused here; it rides along so that the backward can read it."""
    if uses_triton(x):
        return _conv2d_elu_triton(x, weight, bias, stride, padding, elu)
    y = conv2d_elu_reference(x, weight, bias, stride, padding, elu)
    return _new_y(x, weight, stride, padding).copy_(y)  # the fake's strides, always


@_conv2d_elu_op.register_fake
def _(x, weight, bias, weight_grad_scale, stride, padding, elu):
    return _new_y(x, weight, stride, padding)


def _save_for_backward(ctx, x, weight, bias, scale, stride, padding, elu, y):
    ctx.save_for_backward(x, weight, y, scale)  # y, not the pre-activation: ELU' comes from y
    ctx.conf = (stride, padding, elu, bias is not None)


def _backward(ctx, grad_y, kernels: str):
    """The backward of the op ("triton") and of the reference ("torch"): the ELU-derivative
    pass by the Triton op or in torch, then ATen's convolution backward."""
    x, weight, y, scale = ctx.saved_tensors
    stride, padding, elu, has_bias = ctx.conf
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    g, gs, grad_b = elu_grad(grad_y, y, scale, elu, has_bias and need_b, kernels)
    grad_x, grad_w = conv_input_weight_grads(g, gs, x, weight, stride, padding, need_x, need_w)
    return grad_x, grad_w, grad_b, None, None, None, None


def _op_setup_context(ctx, inputs, output):
    _save_for_backward(ctx, *inputs, output)


def _op_backward(ctx, grad_y):
    return _backward(ctx, grad_y, "triton")


_conv2d_elu_op.register_autograd(_op_backward, setup_context=_op_setup_context)
