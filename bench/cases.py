"""What the suite runs on this machine: the model and layer shapes, the step cases, the sizes.

On CUDA, the paper's 64 px, n = 128 model at GPU batch sizes; on the CPU, small sizes
that exercise every benchmark path in a minute or two (CI runs them so they cannot rot).
"""
import os
from dataclasses import dataclass

import torch

from began_fast.config import BACKENDS, DEVICE_DEFAULTS, KERNELS, MODELS, Options

# Benchmarks never time the Triton interpreter: with TRITON_INTERPRET=1 (which
# tests/conftest.py sets on machines without CUDA) every Triton case is skipped.
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"


@dataclass(frozen=True)
class ModelConfig:
    """The networks a step benchmark trains (the rest of the options are the device's defaults
    for the model)."""
    size: int
    filters: int
    latent: int
    channels: int = 3
    model: str = "began"

    @property
    def name(self) -> str:
        prefix = "" if self.model == "began" else f"{self.model} "
        return f"{prefix}{self.size}px n={self.filters} h={self.latent}"


@dataclass(frozen=True)
class ConvShape:
    """One 3x3 conv+ELU layer: in and out channels, stride, input side in pixels."""
    cin: int
    cout: int
    stride: int
    size: int

    @property
    def out_size(self) -> int:
        return (self.size + 2 - 3) // self.stride + 1

    @property
    def name(self) -> str:
        return f"{self.cin}to{self.cout}-s{self.stride}-{self.size}px"


def conv_shapes(n: int) -> list:
    """The benchmarked layers of the 64 px model with n filters (for n = 128: 3->128 and
    128->128 at 64x64, 128->256 stride 2, 256->256 at 32x32, 384 at 16x16, 512 at 8x8)."""
    return [ConvShape(3, n, 1, 64), ConvShape(n, n, 1, 64), ConvShape(n, 2 * n, 2, 64),
            ConvShape(2 * n, 2 * n, 1, 32), ConvShape(3 * n, 3 * n, 1, 16),
            ConvShape(4 * n, 4 * n, 1, 8)]


@dataclass(frozen=True)
class StepCase:
    backend: str
    kernels: str
    batch: object          # an int, or "max": the largest power of two an eager step fits
    precision: str
    channels_last: bool
    skip: str | None = None

    @property
    def id(self) -> str:
        layout = "cl" if self.channels_last else "nchw"
        return f"{self.backend}-{self.kernels}-b{self.batch}-{self.precision}-{layout}"


@dataclass(frozen=True)
class Suite:
    """Every size and case the suite runs on this machine; built once per session."""
    device: torch.device
    full: bool                 # --bench-full: every step case on a GPU, fp32 kernels too
    quick: bool                # --bench-quick: skip torch.compile on the CPU
    time_s: float              # seconds of timed rounds per benchmark (about)
    min_rounds: int            # pytest-benchmark's --benchmark-min-rounds
    kernel_filters: int        # conv shapes are those of the 64 px model with this n
    conv_batches: tuple
    l1_batches: tuple
    l1_size: int
    kernel_precisions: tuple   # conv2d_elu's; l1 runs fp32 and (on a GPU) bf16
    l1_precisions: tuple
    kernels: tuple             # the kernel switch's settings timed: "torch", and "triton" on CUDA
    channels_last: bool        # the layout the trainer uses on this device (conv inputs, steps)
    step_model: ModelConfig
    step_cases: tuple
    model_cases: tuple         # every model's step: (ModelConfig, backend, batch, skip reason or None)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @staticmethod
    def create(full=False, quick=False, time_s=None, min_rounds=5, device=None) -> "Suite":
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        cuda = device.type == "cuda"
        if cuda:
            return Suite(device=device, full=full, quick=quick, time_s=time_s or 1.0,
                         min_rounds=min_rounds, kernel_filters=128, conv_batches=(16, 256),
                         l1_batches=(16, 256), l1_size=64,
                         kernel_precisions=("fp32", "tf32", "bf16") if full else ("tf32", "bf16"),
                         l1_precisions=("fp32", "bf16"), kernels=KERNELS,
                         channels_last=DEVICE_DEFAULTS["channels_last"].cuda,
                         step_model=ModelConfig(64, 128, 64), step_cases=tuple(_gpu_step_cases(full)),
                         model_cases=tuple(_model_cases("cuda", 64, None, 64, "compile-cudagraph", None)))
        return Suite(device=device, full=full, quick=quick, time_s=time_s or 0.2,
                     min_rounds=min_rounds, kernel_filters=16, conv_batches=(2,),
                     l1_batches=(16,), l1_size=64, kernel_precisions=("fp32",),
                     l1_precisions=("fp32",), kernels=("torch",),
                     channels_last=DEVICE_DEFAULTS["channels_last"].cpu,
                     step_model=ModelConfig(32, 8, 16), step_cases=tuple(_cpu_step_cases(quick)),
                     model_cases=tuple(_model_cases("cpu", 32, 8, 16, "compile", "--bench-quick: torch.compile takes "
                                                    "about a minute on the CPU" if quick else None)))


def _gpu_step_cases(full):
    """Eager and CUDA graphs: every batch, precision and kernel choice, in the trainer's CUDA
    layout (channels_last). The compiled backends (about a minute of compilation each) at
    bf16, batch 16 and 256, unless full. NCHW against it: eager, bf16, batch 256."""
    cl = DEVICE_DEFAULTS["channels_last"].cuda
    for precision in ("fp32", "tf32", "bf16"):
        for batch in (16, 64, 256, "max"):
            for kernels in KERNELS:
                for backend in BACKENDS:
                    if backend.startswith("compile") and not full and not (
                            precision == "bf16" and batch in (16, 256)):
                        continue
                    yield StepCase(backend, kernels, batch, precision, cl)
    for kernels in KERNELS:
        yield StepCase("eager", kernels, 256, "bf16", not cl)


def _cpu_step_cases(quick):
    """Small enough for CI: eager both ways at two batches in the CPU's layout (NCHW) and once
    channels_last, compile once, graphs skipped."""
    cl = DEVICE_DEFAULTS["channels_last"].cpu
    for batch in (4, 16):
        for kernels in KERNELS:
            yield StepCase("eager", kernels, batch, "fp32", cl)
    yield StepCase("eager", "torch", 16, "fp32", not cl)
    yield StepCase("compile", "torch", 4, "fp32", cl,
                   skip="--bench-quick: torch.compile takes about a minute on the CPU" if quick else None)
    for backend in ("cudagraph", "compile-cudagraph"):
        yield StepCase(backend, "torch", 4, "fp32", cl, skip=f"{backend} needs CUDA")


def _model_cases(device_type, size, filters, batch, fastest, fastest_skip):
    """Every model's whole step, eagerly and by the device's fastest backend, at its own
    latent size and (filters None) its own width."""
    for model in MODELS:
        opts = Options.for_device(device_type, model=model)
        cfg = ModelConfig(size, filters or opts.filters, opts.latent, model=model)
        yield cfg, "eager", batch, None
        yield cfg, fastest, batch, fastest_skip
