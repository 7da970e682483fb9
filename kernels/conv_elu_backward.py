"""conv2d_elu's backward: one fused Triton pass over dL/dy, then ATen's convolution backward.

The fused pass reads dL/dy (and the saved output y) once and writes what the two
convolution gradients need:
    g   = dL/dpre = dL/dy * ELU'(pre), with ELU'(pre) read from the OUTPUT: 1 where
          y > 0, y + 1 elsewhere (so the pre-activation is never kept);
    gs  = scale[b] * g, when a per-sample weight-gradient scale is given;
    dL/dbias = sum over (b, h, w) of gs (or g), as per-program partial sums finished
          by a second, deterministic reduction (no atomics, reproducible run to run).

dL/dx (from g) and dL/dweight (from gs, or g) then come from
aten.convolution_backward, i.e. cuDNN on CUDA. Why not Triton there: for 3x3 convs
cuDNN's dgrad/wgrad kernels are tuned per shape (implicit GEMM, Winograd, split-K
for the long reduction of wgrad over B*H*W), and no GPU has been at hand to show a
Triton dgrad/wgrad beating them. Once one is, a stride-1 dgrad can reuse the forward
kernel (a conv of g with the flipped, transposed weight); wgrad would need a split-K
kernel of its own.

Read in this order: the two functions conv_elu.py calls, the torch reference of the
fused pass, then its Triton kernel, launcher and registration.
"""
from typing import List, Optional

import torch
import triton
import triton.language as tl

from began_fast.kernels.common import (INTERPRET, new_output, new_output_like, num_programs_target,
                                       sum_partials, uses_triton)


def elu_grad(grad_y, y, scale, elu: bool, bias_grad: bool, kernels: str):
    """(dL/dpre, its scaled copy or None when unscaled, dL/dbias or None), by the Triton op
    (kernels="triton") or in torch."""
    if not (elu or scale is not None or bias_grad):
        return grad_y, None, None
    fn = _elu_grad_op if kernels == "triton" else _elu_grad_torch
    outs = list(fn(grad_y, y, scale, elu, bias_grad))
    g = outs.pop(0) if elu else grad_y
    gs = outs.pop(0) if scale is not None else None
    return g, gs, outs.pop(0) if bias_grad else None


def conv_input_weight_grads(g, gs, x, weight, stride: int, padding: int, need_x: bool, need_w: bool):
    """(dL/dx, dL/dweight) by aten.convolution_backward: dL/dx from g, dL/dweight from gs (g if None)."""
    def backward(grad, mask):
        return torch.ops.aten.convolution_backward(
            grad, x, weight, None, [stride, stride], [padding, padding], [1, 1], False, [0, 0], 1, mask)

    if gs is None:
        if not (need_x or need_w):
            return None, None
        grad_x, grad_w, _ = backward(g, [need_x, need_w, False])
        return grad_x, grad_w
    grad_x = backward(g, [True, False, False])[0] if need_x else None
    grad_w = backward(gs, [False, True, False])[1] if need_w else None
    return grad_x, grad_w


def _elu_grad_torch(grad_y, y, scale, elu: bool, bias_grad: bool) -> List[torch.Tensor]:
    """The same outputs in plain torch (the reference; also what the "torch" switch's backward runs)."""
    g = torch.where(y > 0, grad_y, grad_y * (y + 1)) if elu else grad_y
    gs = g * scale.view(-1, 1, 1, 1).to(g.dtype) if scale is not None else g
    outs = ([g] if elu else []) + ([gs] if scale is not None else [])
    if bias_grad:
        outs.append(gs.sum(dim=(0, 2, 3)))
    return outs


# ----------------------------------------------------------------------------------------------
# The fused pass in Triton: kernel, launcher, registration.

@triton.jit
def _elu_grad_kernel(
    gy_ptr,     # dL/dy [B, C, H, W], any strides
    y_ptr,      # the saved forward output y [B, C, H, W] (read when ELU)
    scale_ptr,  # [B] contiguous per-sample weight-gradient scale (read when HAS_SCALE)
    g_ptr,      # out: dL/dpre with y's strides (written when ELU; otherwise dL/dpre is dL/dy)
    gs_ptr,     # out: scale[b] * dL/dpre with y's strides (written when HAS_SCALE)
    part_ptr,   # out: [n_chunks, C] this program's sums of the (scaled) dL/dpre (written when BIAS_GRAD)
    P, C, H, W,  # P = B * H * W pixels
    CHUNK,      # pixels per program along grid axis 0, a multiple of BLOCK_P
    sgb, sgc, sgh, sgw,  # dL/dy strides
    syb, syc, syh, syw,  # y strides, shared by both outputs
    ELU: tl.constexpr, HAS_SCALE: tl.constexpr, BIAS_GRAD: tl.constexpr,
    BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    pid_p = tl.program_id(0)
    pid_c = tl.program_id(1)
    # float64 stays float64 (so gradcheck can run); every other dtype computes in float32.
    ct: tl.constexpr = tl.float64 if y_ptr.dtype.element_ty == tl.float64 else tl.float32
    rc = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = rc < C
    col_sum = tl.zeros([BLOCK_C], dtype=ct)
    for p0 in range(0, CHUNK, BLOCK_P):
        rp = pid_p * CHUNK + p0 + tl.arange(0, BLOCK_P)
        p_ok = rp < P
        w = rp % W
        h = (rp // W) % H
        b = rp // (W * H)
        mask = p_ok[:, None] & c_ok[None, :]
        gy_off = (b.to(tl.int64) * sgb + h * sgh + w * sgw)[:, None] + rc[None, :] * sgc
        y_off = (b.to(tl.int64) * syb + h * syh + w * syw)[:, None] + rc[None, :] * syc
        g = tl.load(gy_ptr + gy_off, mask=mask, other=0.0).to(ct)
        if ELU:
            y = tl.load(y_ptr + y_off, mask=mask, other=0.0).to(ct)
            g = tl.where(y > 0, g, g * (y + 1))
            tl.store(g_ptr + y_off, g.to(g_ptr.dtype.element_ty), mask=mask)
        if HAS_SCALE:
            g = g * tl.load(scale_ptr + b, mask=p_ok, other=0.0).to(ct)[:, None]
            tl.store(gs_ptr + y_off, g.to(gs_ptr.dtype.element_ty), mask=mask)
        if BIAS_GRAD:
            col_sum += tl.sum(g, axis=0)  # masked elements loaded as 0 add nothing
    if BIAS_GRAD:
        tl.store(part_ptr + pid_p * C + rc, col_sum, mask=c_ok)


NUM_WARPS = 8


def elu_grad_blocks(C: int, P: int):
    """(BLOCK_P, BLOCK_C) for C channels and P pixels: a tile of 4096 elements, up to 64
    channels wide. Under the interpreter, whose cost is per op rather than per element,
    small problems (the kernel tests) take 128-element tiles so that they span several
    tiles, chunks and channel blocks."""
    tile, max_block_c = (128, 8) if INTERPRET and P * C <= 8192 else (4096, 64)
    block_c = min(max_block_c, triton.next_power_of_2(C))
    return tile // block_c, block_c


def _elu_grad_triton(grad_y, y, scale, elu: bool, bias_grad: bool) -> List[torch.Tensor]:
    B, C, H, W = y.shape
    P = B * H * W
    block_p, block_c = elu_grad_blocks(C, P)
    n_cblocks = triton.cdiv(C, block_c)
    n_pblocks = triton.cdiv(P, block_p)
    # Enough programs to fill the GPU; each loops over a chunk of pixels, which keeps the
    # bias partials [n_chunks, C] small.
    n_chunks = min(n_pblocks, max(1, num_programs_target(y.device) // n_cblocks))
    chunk = triton.cdiv(n_pblocks, n_chunks) * block_p
    n_chunks = triton.cdiv(P, chunk)
    part_dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
    has_scale = scale is not None
    g = new_output_like(y) if elu else y
    gs = new_output_like(y) if has_scale else y
    part = new_output((n_chunks, C), part_dtype, y.device) if bias_grad else y
    _elu_grad_kernel[(n_chunks, n_cblocks)](
        grad_y, y, scale.contiguous() if has_scale else y, g, gs, part,
        P, C, H, W, chunk, *grad_y.stride(), *y.stride(),
        ELU=elu, HAS_SCALE=has_scale, BIAS_GRAD=bias_grad,
        BLOCK_P=block_p, BLOCK_C=block_c, num_warps=NUM_WARPS,
    )
    outs = ([g] if elu else []) + ([gs] if has_scale else [])
    if bias_grad:
        outs.append(sum_partials(part, C, n_chunks, 1, C, y.dtype))
    return outs


@torch.library.custom_op("began_fast::conv2d_elu_grad_pre", mutates_args=())
def _elu_grad_op(grad_y: torch.Tensor, y: torch.Tensor, scale: Optional[torch.Tensor],
                 elu: bool, bias_grad: bool) -> List[torch.Tensor]:
    """[dL/dpre if elu] + [scale * dL/dpre if scale given] + [dL/dbias if bias_grad]."""
    if uses_triton(y):
        return _elu_grad_triton(grad_y, y, scale, elu, bias_grad)
    outs = _elu_grad_torch(grad_y, y, scale, elu, bias_grad)
    # Same strides as the fake (and the kernel): y's for the image-shaped outputs.
    return [new_output_like(y).copy_(t) if t.dim() == 4 else t for t in outs]


@_elu_grad_op.register_fake
def _(grad_y, y, scale, elu, bias_grad):
    outs = [new_output_like(y) for _ in range(int(elu) + int(scale is not None))]
    return outs + ([new_output((y.shape[1],), y.dtype, y.device)] if bias_grad else [])
