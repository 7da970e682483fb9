"""Peaks to set achieved rates against: the datasheet's, and the machine's own, measured
once per session."""
import contextlib

import torch

from bench.timing import best_seconds_per_call
from began_fast.devices import configure_math

# Dense peaks in FLOP/s and HBM bytes/s, from NVIDIA's datasheets (H100 SXM; H200: same
# compute, faster memory). Other GPUs and CPUs: measured only.
SPEC_PEAKS = (
    (("H100 80GB HBM3", "H100 SXM"), dict(bf16=989e12, tf32=495e12, fp32=67e12, bandwidth=3.35e12)),
    (("H200",), dict(bf16=989e12, tf32=495e12, fp32=67e12, bandwidth=4.8e12)),
)


def spec_peaks(device: torch.device) -> dict:
    if device.type != "cuda":
        return {}
    name = torch.cuda.get_device_name(device)
    for patterns, peaks in SPEC_PEAKS:
        if any(p in name for p in patterns) and "NVL" not in name:
            return peaks
    return {}


@contextlib.contextmanager
def precision_flags(precision: str):
    """configure_math(precision) for the block; the previous TF32 flags after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    configure_math(precision)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def compute_dtype(precision: str) -> torch.dtype:
    return torch.bfloat16 if precision == "bf16" else torch.float32


MEASURED = {}      # ("matmul", precision) -> FLOP/s; ("bandwidth",) -> bytes/s; filled on demand


def measured_matmul_peak(precision: str, device: torch.device) -> float:
    """FLOP/s of a large square matmul in the precision's dtype and TF32 setting."""
    key = ("matmul", precision)
    if key not in MEASURED:
        n = 8192 if device.type == "cuda" else 1024
        dtype = compute_dtype(precision)
        with precision_flags(precision):
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            c = torch.empty(n, n, device=device, dtype=dtype)
            seconds = best_seconds_per_call(lambda: torch.mm(a, b, out=c), device, min_time=0.3)
        MEASURED[key] = 2 * n ** 3 / seconds
    return MEASURED[key]


def measured_bandwidth(device: torch.device) -> float:
    """Bytes/s of a large device-to-device copy (bytes read plus bytes written)."""
    key = ("bandwidth",)
    if key not in MEASURED:
        nbytes = (1 << 30) if device.type == "cuda" else (128 << 20)
        src = torch.ones(nbytes // 4, device=device)
        dst = torch.empty_like(src)
        seconds = best_seconds_per_call(lambda: dst.copy_(src), device, min_time=0.3)
        MEASURED[key] = 2 * nbytes / seconds
    return MEASURED[key]


def measured_peaks() -> dict:
    """The peaks measured so far this session, named with their units (for the JSON)."""
    return {("matmul_tflops_" + key[1] if key[0] == "matmul" else "bandwidth_gbps"):
            value / (1e12 if key[0] == "matmul" else 1e9) for key, value in MEASURED.items()}


def rate_facts(seconds: float, device: torch.device, *, flops=None, bytes_moved=None,
               precision="fp32") -> dict:
    """Achieved TFLOP/s or GB/s and the fractions of the spec'd and measured peaks.
    Compute-bound work is set against the matmul peak, memory-bound against bandwidth."""
    spec = spec_peaks(device)
    if flops is not None:
        achieved = flops / seconds
        measured, datasheet = measured_matmul_peak(precision, device), spec.get(precision)
        facts = dict(flops=flops, tflops=achieved / 1e12, peak_tflops_measured=measured / 1e12,
                     peak_tflops_spec=datasheet / 1e12 if datasheet else None)
    else:
        achieved = bytes_moved / seconds
        measured, datasheet = measured_bandwidth(device), spec.get("bandwidth")
        facts = dict(bytes=bytes_moved, gbps=achieved / 1e9, peak_gbps_measured=measured / 1e9,
                     peak_gbps_spec=datasheet / 1e9 if datasheet else None)
    facts["frac_peak_measured"] = achieved / measured
    facts["frac_peak_spec"] = achieved / datasheet if datasheet else None
    return facts
