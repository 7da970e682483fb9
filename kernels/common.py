"""What the kernel files share: the kernel switch, where a kernel runs, output allocation,
a partial-sum reduction.

The switch, one setting for every op (`use`, `current`): "triton" (the default) calls
each op's registered Triton op, "torch" its plain PyTorch reference. Set it once per
run, like a global flag; `with use(...)` sets it for a block.

Dispatch inside a registered op, one rule for every op: it runs its Triton kernel for
CUDA tensors, and for CPU tensors only when TRITON_INTERPRET=1 (the interpreter runs
the kernel in NumPy); otherwise it runs the plain PyTorch reference.
"""
import functools
import os

import torch
import triton
import triton.language as tl

# Triton reads TRITON_INTERPRET when a kernel is decorated, so this must agree with it.
INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"

# Fill every kernel output with NaN before the launch, so an element a kernel forgets to
# write fails the tests. On by default under the interpreter (speed is no concern there);
# BEGAN_FAST_POISON=1 turns it on for GPU test runs too.
POISON = os.environ.get("BEGAN_FAST_POISON", "1" if INTERPRET else "0") == "1"


KERNELS = ("torch", "triton")
_selected = "triton"


def current() -> str:
    """The kernel switch: "triton" or "torch"."""
    return _selected


class use:
    """Set the kernel switch to "triton" or "torch": `use("torch")` for the rest of the run,
    or `with use("torch"): ...` for a block (the previous setting comes back after it).
    torch.compile guards on the setting: changing it between calls recompiles."""

    def __init__(self, kernels: str):
        if kernels not in KERNELS:
            raise ValueError(f"kernels must be one of {KERNELS}, got {kernels!r}")
        global _selected
        self.previous, _selected = _selected, kernels

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _selected
        _selected = self.previous


def uses_triton(t: torch.Tensor) -> bool:
    """True when an op given `t` should launch its Triton kernel (see the module docstring)."""
    return t.is_cuda or INTERPRET


def new_output(shape, dtype, device, memory_format=torch.contiguous_format) -> torch.Tensor:
    """An uninitialised output buffer (NaN-filled when POISON). Used by launchers and fakes alike."""
    out = torch.empty(shape, dtype=dtype, device=device, memory_format=memory_format)
    return out.fill_(float("nan")) if POISON else out


def new_output_like(t: torch.Tensor) -> torch.Tensor:
    """Like new_output, with `t`'s shape, dtype and strides (t must be dense)."""
    out = torch.empty_like(t)
    return out.fill_(float("nan")) if POISON else out


def dense_memory_format(t: torch.Tensor) -> torch.memory_format:
    """channels_last when a 4-D `t` is laid out that way (and not also plain contiguous)."""
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


@functools.lru_cache(maxsize=None)
def num_programs_target(device: torch.device) -> int:
    """How many programs fill the GPU a few times over; a small number under the interpreter."""
    if INTERPRET or device.type != "cuda":
        return 4
    index = torch.cuda.current_device() if device.index is None else device.index
    return 4 * torch.cuda.get_device_properties(index).multi_processor_count


# ----------------------------------------------------------------------------------------------
# Second stage of the deterministic two-stage reductions (l1 forward, conv bias gradient).

@triton.jit
def _sum_partials_kernel(
    part_ptr,  # partial sums; output i adds part[i * stride_i + j * stride_j] over j < n_part
    out_ptr,   # [n_out] results, written in out_ptr's dtype
    n_part, stride_i, stride_j,
    BLOCK: tl.constexpr,
):
    i = tl.program_id(0)
    # Accumulate in the partials' own dtype: float32, or float64 for float64 inputs.
    acc = tl.zeros([BLOCK], dtype=part_ptr.dtype.element_ty)
    for j0 in range(0, n_part, BLOCK):
        j = j0 + tl.arange(0, BLOCK)
        acc += tl.load(part_ptr + i * stride_i + j * stride_j, mask=j < n_part, other=0.0)
    tl.store(out_ptr + i, tl.sum(acc, axis=0).to(out_ptr.dtype.element_ty))


SUM_PARTIALS_MAX_BLOCK = 64 if INTERPRET else 1024


def sum_partials(part: torch.Tensor, n_out: int, n_part: int, stride_i: int, stride_j: int,
                 dtype: torch.dtype) -> torch.Tensor:
    """out[i] = sum_j part[i*stride_i + j*stride_j], j < n_part; one program per output."""
    out = new_output((n_out,), dtype, part.device)
    block = min(SUM_PARTIALS_MAX_BLOCK, triton.next_power_of_2(n_part))
    _sum_partials_kernel[(n_out,)](part, out, n_part, stride_i, stride_j, BLOCK=block)
    return out
