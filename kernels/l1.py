"""l1_per_sample: BEGAN's per-sample L1 reconstruction error, L(v)[b] = mean |recon - target|.

Read in this order: the public function, its plain-PyTorch reference, then the
Triton kernels, their launchers, and the torch.library registration.

How the kernels work. Forward, one pass over the data: program (b, chunk) sums
|recon - target| over CHUNK elements of sample b in fp32 (whatever the input dtype),
times 1/N; a second tiny kernel adds a sample's chunk sums (skipped when a sample
fits in one chunk). Two stages rather than atomics, so the result is the same run to
run. Backward, one pass: d/drecon = grad[b] / N * sign(recon - target) (sign(0) = 0,
as torch's abs backward gives) and, when target needs a gradient, d/dtarget =
-d/drecon, both written from the same loads.
"""
from typing import List

import torch
import triton
import triton.language as tl

from began_fast.kernels.common import (INTERPRET, current, new_output, new_output_like, sum_partials,
                                       uses_triton)


def l1_per_sample(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean |recon - target| over all non-batch elements: float32 [B].

    recon, target: the same shape [B, ...], any float dtypes (they may differ, e.g. a
        bf16 reconstruction against an fp32 image); any strides (both channels_last is
        read as is, anything else is made contiguous first).
    Accumulates in fp32 whatever the input dtype. Differentiable in recon and target:
        dL/drecon = grad[b] / N * sign(recon - target) (sign(0) = 0), dL/dtarget = -dL/drecon.
    Runs the Triton kernels when the kernel switch is "triton" (see kernels.common for
    which tensors launch them), the reference below when it is "torch".
    """
    if current() == "torch":
        return l1_per_sample_reference(recon, target)
    return _l1_op(recon, target)


def l1_per_sample_reference(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The plain PyTorch computation: mean over all non-batch elements of |recon - target|, float32."""
    return (recon.float() - target.float()).abs().flatten(1).mean(dim=1)


# ----------------------------------------------------------------------------------------------
# Triton kernels and launchers.

@triton.jit
def _l1_partial_kernel(
    r_ptr,     # recon, [B, N] dense (sample b's elements at b*N .. b*N + N - 1)
    t_ptr,     # target, same layout as recon
    part_ptr,  # out: [B, n_chunks] fp32, sum of |recon - target| over one chunk, times inv_n
    N, n_chunks, inv_n,
    BLOCK: tl.constexpr, CHUNK: tl.constexpr,  # CHUNK: elements per program, a multiple of BLOCK
):
    b = tl.program_id(0)
    chunk = tl.program_id(1)
    base = b.to(tl.int64) * N
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(0, CHUNK, BLOCK):
        off = chunk * CHUNK + i + tl.arange(0, BLOCK)
        mask = off < N
        r = tl.load(r_ptr + base + off, mask=mask, other=0.0).to(tl.float32)
        t = tl.load(t_ptr + base + off, mask=mask, other=0.0).to(tl.float32)
        acc += tl.abs(r - t)
    tl.store(part_ptr + b * n_chunks + chunk, tl.sum(acc, axis=0) * inv_n)


@triton.jit
def _l1_backward_kernel(
    grad_ptr,   # [B] dL/dl1 (any stride: the grad of a .mean() arrives expanded, stride 0)
    r_ptr,      # recon, [B, N] dense
    t_ptr,      # target, same layout as recon
    gr_ptr,     # out: dL/drecon, recon's layout and dtype
    gt_ptr,     # out: dL/dtarget = -dL/drecon, target's dtype (written when TARGET_GRAD)
    N, stride_grad, inv_n,
    TARGET_GRAD: tl.constexpr, BLOCK: tl.constexpr,
):
    blk = tl.program_id(0)
    b = tl.program_id(1)
    off = blk * BLOCK + tl.arange(0, BLOCK)
    mask = off < N
    base = b.to(tl.int64) * N
    r = tl.load(r_ptr + base + off, mask=mask, other=0.0).to(tl.float32)
    t = tl.load(t_ptr + base + off, mask=mask, other=0.0).to(tl.float32)
    d = r - t
    g = tl.load(grad_ptr + b * stride_grad).to(tl.float32) * inv_n
    gr = tl.where(d > 0, g, tl.where(d < 0, -g, 0.0))
    tl.store(gr_ptr + base + off, gr.to(gr_ptr.dtype.element_ty), mask=mask)
    if TARGET_GRAD:
        tl.store(gt_ptr + base + off, (-gr).to(gt_ptr.dtype.element_ty), mask=mask)


# Forward: BLOCK elements per step, CHUNK per program; backward: BLOCK per program.
# Small under the interpreter so that test shapes span several blocks and chunks.
BLOCK, CHUNK, NUM_WARPS = (64, 256, 4) if INTERPRET else (1024, 8192, 4)


def _paired(recon, target):
    """recon and target with one dense layout that puts each sample's elements together."""
    if recon.shape != target.shape:
        raise ValueError(f"l1_per_sample: shapes differ, {tuple(recon.shape)} vs {tuple(target.shape)}")
    cl = recon.dim() == 4 and all(t.is_contiguous(memory_format=torch.channels_last) for t in (recon, target))
    if cl and recon.stride() == target.stride():
        return recon, target
    return recon.contiguous(), target.contiguous()


def _l1_forward_triton(recon, target) -> torch.Tensor:
    recon, target = _paired(recon, target)
    B, N = recon.shape[0], recon[0].numel()
    n_chunks = triton.cdiv(N, CHUNK)
    # One chunk per sample: the partial sums are the result and the second stage is skipped.
    part = new_output((B, n_chunks), torch.float32, recon.device)
    _l1_partial_kernel[(B, n_chunks)](recon, target, part, N, n_chunks, 1.0 / N,
                                      BLOCK=BLOCK, CHUNK=CHUNK, num_warps=NUM_WARPS)
    if n_chunks == 1:
        return part.view(B)
    return sum_partials(part, B, n_chunks, n_chunks, 1, torch.float32)


def _l1_backward_triton(grad, recon, target, target_grad: bool) -> List[torch.Tensor]:
    recon, target = _paired(recon, target)
    B, N = recon.shape[0], recon[0].numel()
    grad_r = new_output_like(recon)
    grad_t = new_output_like(target) if target_grad else grad_r
    _l1_backward_kernel[(triton.cdiv(N, BLOCK), B)](grad, recon, target, grad_r, grad_t,
                                                    N, grad.stride(0), 1.0 / N,
                                                    TARGET_GRAD=target_grad, BLOCK=BLOCK, num_warps=NUM_WARPS)
    return [grad_r, grad_t] if target_grad else [grad_r]


def _l1_backward_torch(grad, recon, target, target_grad: bool) -> List[torch.Tensor]:
    # Autograd does not record inside a custom op's body, so the derivative is written out:
    # d/drecon of mean |recon - target| is sign(recon - target) / N (sign(0) = 0, as torch's abs).
    scale = grad.view(-1, *[1] * (recon.dim() - 1)) / recon[0].numel()
    grad_r = (recon.float() - target.float()).sign() * scale
    grads = [grad_r.to(recon.dtype)]
    return grads + [(-grad_r).to(target.dtype)] if target_grad else grads


# ----------------------------------------------------------------------------------------------
# Registration: custom ops with autograd, so torch.compile and opcheck accept them.

@torch.library.custom_op("began_fast::l1_per_sample", mutates_args=())
def _l1_op(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if uses_triton(recon):
        return _l1_forward_triton(recon, target)
    return l1_per_sample_reference(recon, target)


@_l1_op.register_fake
def _(recon, target):
    return new_output((recon.shape[0],), torch.float32, recon.device)


@torch.library.custom_op("began_fast::l1_per_sample_backward", mutates_args=())
def _l1_backward_op(grad: torch.Tensor, recon: torch.Tensor, target: torch.Tensor,
                    target_grad: bool) -> List[torch.Tensor]:
    """[dL/drecon] + [dL/dtarget if target_grad], laid out like _paired's recon and target."""
    if uses_triton(recon):
        return _l1_backward_triton(grad, recon, target, target_grad)
    grads = _l1_backward_torch(grad, recon, target, target_grad)
    return [new_output_like(p).copy_(g) for p, g in zip(_paired(recon, target), grads)]


@_l1_backward_op.register_fake
def _(grad, recon, target, target_grad):
    recon, target = _paired(recon, target)
    return [new_output_like(t) for t in ((recon, target) if target_grad else (recon,))]


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad):
    recon, target = ctx.saved_tensors
    need_r, need_t = ctx.needs_input_grad
    if not (need_r or need_t):
        return None, None
    grads = _l1_backward_op(grad, recon, target, need_t)
    return grads[0] if need_r else None, grads[1] if need_t else None


_l1_op.register_autograd(_backward, setup_context=_setup_context)
