"""Which device a run trains on, how much memory it has, the process-wide math flags, and
the random state per device."""
import os

import torch

from began_fast.config import OptionError


def pick_device(name: str) -> torch.device:
    """'auto' (CUDA when present), 'cpu' or 'cuda'; a one-line OptionError when CUDA is asked
    for and none is visible."""
    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("--device cuda: no CUDA device is visible; use --device cpu or check the driver")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def memory_bytes(device: torch.device) -> int | None:
    """The device's total memory: the GPU's, or the machine's RAM for the CPU (None where
    the system does not say)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):     # no sysconf (Windows) or no such name
        return None


def configure_math(precision: str) -> None:
    """Process-wide flags for the run's precision and speed. fp32 turns TF32 off for matmuls
    and convolutions (cuDNN allows it by default); tf32 and bf16 turn it on (bf16 autocast
    leaves some ops, e.g. the losses, in fp32). cuDNN autotunes its convolution algorithms,
    which pays off because a run's shapes never change (the grids use the same shapes too)."""
    tf32 = precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU, where work is synchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rng_state(device: torch.device) -> dict:
    """The random state a step on `device` draws from: the CPU generator's, and on CUDA the
    training device's own (not every visible GPU's, so a resume that sees fewer GPUs works)."""
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore rng_state's result. Checkpoints of earlier versions hold a list with every
    visible GPU's state: the training device's entry is taken."""
    torch.set_rng_state(state["cpu"])
    cuda = state.get("cuda")
    if device.type != "cuda" or cuda is None:
        return
    if isinstance(cuda, (list, tuple)):
        cuda = cuda[min(device.index or 0, len(cuda) - 1)]
    torch.cuda.set_rng_state(cuda, device)
