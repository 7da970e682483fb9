"""Which device a run trains on, how much memory it has, and the process-wide flags that
precision sets."""
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


def configure_precision(precision: str) -> None:
    """fp32 turns TF32 off for matmuls and convolutions (cuDNN allows it by default); tf32
    and bf16 turn it on (bf16 autocast leaves some ops, e.g. the losses, in fp32)."""
    tf32 = precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU, where work is synchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
