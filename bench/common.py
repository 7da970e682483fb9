"""What the benchmarks share: the sizes they run at, the machine, peaks, FLOP counts, timing.

Timing rules, one place for every benchmark (`measure`):
- warm-up calls first (allocator, cuDNN heuristics, Triton's first compile), then
  a calibration that picks how many calls make one timed round (at least
  `MIN_ROUND_S`, so the one synchronisation per round costs little);
- every timed round ends with a device synchronisation, so a round's time is the
  time the device took, not the time the host took to queue the work;
- pytest-benchmark keeps every round; the suite reports medians;
- kernels rotate through a ring of pre-allocated input sets at least twice the
  size of the last-level cache, so no call finds its inputs still in cache.
"""
import contextlib
import dataclasses
import functools
import gc
import math
import os
import platform
import time
from dataclasses import dataclass

import pytest
import torch

from began_fast.config import Options
from began_fast.data import DeviceImages, builtin_shapes
from began_fast.model import build_networks
from began_fast.step import BACKENDS, configure_precision, new_state, train_step

# Benchmarks never time the Triton interpreter: with TRITON_INTERPRET=1 (which
# tests/conftest.py sets on machines without CUDA) every Triton case is skipped.
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"

# A timed round lasts at least this long (many calls when they are short): on CUDA long
# enough that its one synchronisation costs about 1%; on the CPU, where nothing needs
# synchronising, short, so that one descheduling spoils one round, not many calls.
MIN_ROUND_S = {"cuda": 2e-3, "cpu": 2e-4}
MAX_ROUNDS = 2000


# ----------------------------------------------------------------------------------------------
# What runs where.

@dataclass(frozen=True)
class ModelConfig:
    """The networks a step benchmark trains (the rest of the options are Options' defaults)."""
    size: int
    filters: int
    latent: int
    channels: int = 3

    @property
    def name(self) -> str:
        return f"{self.size}px n={self.filters} h={self.latent}"


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
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.kernels}-b{self.batch}-{self.precision}"


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
    impls: tuple               # "reference" (the plain torch computation), "torch", "triton"
    step_model: ModelConfig
    step_cases: tuple

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
                         l1_precisions=("fp32", "bf16"), impls=("reference", "torch", "triton"),
                         step_model=ModelConfig(64, 128, 64), step_cases=tuple(_gpu_step_cases(full)))
        return Suite(device=device, full=full, quick=quick, time_s=time_s or 0.2,
                     min_rounds=min_rounds, kernel_filters=16, conv_batches=(2,),
                     l1_batches=(16,), l1_size=64, kernel_precisions=("fp32",),
                     l1_precisions=("fp32",), impls=("reference", "torch"),
                     step_model=ModelConfig(32, 8, 16), step_cases=tuple(_cpu_step_cases(quick)))


def _gpu_step_cases(full):
    """Eager and CUDA graphs: every batch, precision and kernel choice. The compiled
    backends (about a minute of compilation each) at bf16, batch 16 and 256, unless full."""
    for precision in ("fp32", "tf32", "bf16"):
        for batch in (16, 64, 256, "max"):
            for kernels in ("torch", "triton"):
                for backend in BACKENDS:
                    if backend.startswith("compile") and not full and not (
                            precision == "bf16" and batch in (16, 256)):
                        continue
                    yield StepCase(backend, kernels, batch, precision)


def _cpu_step_cases(quick):
    """Small enough for CI: eager both ways at two batches, compile once, graphs skipped."""
    for batch in (4, 16):
        for kernels in ("torch", "triton"):
            yield StepCase("eager", kernels, batch, "fp32")
    yield StepCase("compile", "torch", 4, "fp32",
                   skip="--bench-quick: torch.compile takes about a minute on the CPU" if quick else None)
    for backend in ("cudagraph", "compile-cudagraph"):
        yield StepCase(backend, "torch", 4, "fp32", skip=f"{backend} needs CUDA")


# ----------------------------------------------------------------------------------------------
# Timing.

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_per_call(fn, device, min_time=0.1, rounds=5) -> float:
    """Best seconds per call of `fn` over `rounds` synchronised rounds: for the suite's own
    peak measurements (the best the machine does), not for pytest-benchmark's."""
    fn()
    fn()
    sync(device)
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync(device)
        took = time.perf_counter() - start
        if took >= min_time / rounds or calls >= 1 << 16:
            break
        calls *= 2
    times = [took / calls]
    for _ in range(rounds - 1):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync(device)
        times.append((time.perf_counter() - start) / calls)
    return min(times)


def _calibrate(fn, device, min_time) -> float:
    """Seconds per call after two warm-up calls: the best of batches of 1, 2, 4, ... calls
    (each synchronised) run for min_time in all. The best, so that a burst of noise
    (another process taking the CPU) does not set the size of every round."""
    fn()
    fn()
    sync(device)
    calls, total, best = 1, 0.0, math.inf
    while total < min_time:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync(device)
        took = time.perf_counter() - start
        best, total, calls = min(best, took / calls), total + took, calls * 2
    return best


def measure(benchmark, fn, suite: Suite, energy=None) -> dict:
    """Time `fn` with pytest-benchmark: warm-up, then rounds of `iterations` calls, each
    round closed by a device synchronisation. Returns facts for extra_info: rounds,
    iterations, median seconds per call and, with energy (a () -> joules or None
    callable), joules per call and mean power over the timed rounds."""
    device = suite.device
    if not benchmark.enabled:          # --benchmark-disable: one plain call, nothing to report
        benchmark.pedantic(fn, rounds=1, iterations=1)
        sync(device)
        return {}
    per_call = _calibrate(fn, device, min_time=min(0.05, suite.time_s / 4))
    iterations = max(1, math.ceil(MIN_ROUND_S.get(device.type, 2e-3) / per_call))
    rounds = int(suite.time_s / (per_call * iterations))
    rounds = max(suite.min_rounds, min(rounds, MAX_ROUNDS))
    calls = 0

    def timed():
        nonlocal calls
        fn()
        calls += 1
        if calls % iterations == 0:
            sync(device)

    joules_before = energy() if energy else None
    start = time.perf_counter()
    benchmark.pedantic(timed, rounds=rounds, iterations=iterations)
    sync(device)
    wall = time.perf_counter() - start
    joules_after = energy() if energy else None
    facts = dict(rounds=rounds, iterations=iterations, median_s=benchmark.stats.stats.median)
    if joules_before is not None and joules_after is not None and calls:
        facts["energy_j_per_call"] = (joules_after - joules_before) / calls
        facts["mean_power_w"] = (joules_after - joules_before) / wall
    return facts


# ----------------------------------------------------------------------------------------------
# Input rings: fresh inputs for every call, so caches never flatter a kernel.

def cache_bytes(device: torch.device) -> int:
    """The last-level cache: the GPU's L2, or the CPU's largest cache."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return int(getattr(props, "L2_cache_size", 0) or 50 << 20)
    sizes = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    with contextlib.suppress(OSError):
        for entry in os.listdir(base):
            with contextlib.suppress(OSError, ValueError):
                with open(os.path.join(base, entry, "size")) as f:
                    text = f.read().strip()
                scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
                sizes.append(int(text.rstrip("KMG")) * scale)
    return max(sizes, default=32 << 20)


class Ring:
    """A few input sets made by `make()` (a tuple of tensors), handed out in turn."""

    def __init__(self, make, device, max_sets=32):
        first = make()
        set_bytes = sum(t.numel() * t.element_size() for t in first if isinstance(t, torch.Tensor))
        count = min(max_sets, max(2, math.ceil(2 * cache_bytes(device) / max(set_bytes, 1))))
        self.sets = [first] + [make() for _ in range(count - 1)]
        self.index = -1

    def next(self):
        self.index = (self.index + 1) % len(self.sets)
        return self.sets[self.index]


# ----------------------------------------------------------------------------------------------
# Peaks: the datasheet's, and the machine's own, measured once per session.

# Dense peaks in FLOP/s and HBM bytes/s. H100 SXM from shared/KERNELS.md; H200 from
# NVIDIA's datasheet (same compute, faster memory). Other GPUs and CPUs: measured only.
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
    """configure_precision(precision) for the block; the previous TF32 flags after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    configure_precision(precision)
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
            seconds = time_per_call(lambda: torch.mm(a, b, out=c), device, min_time=0.3)
        MEASURED[key] = 2 * n ** 3 / seconds
    return MEASURED[key]


def measured_bandwidth(device: torch.device) -> float:
    """Bytes/s of a large device-to-device copy (bytes read plus bytes written)."""
    key = ("bandwidth",)
    if key not in MEASURED:
        nbytes = (1 << 30) if device.type == "cuda" else (128 << 20)
        src = torch.ones(nbytes // 4, device=device)
        dst = torch.empty_like(src)
        seconds = time_per_call(lambda: dst.copy_(src), device, min_time=0.3)
        MEASURED[key] = 2 * nbytes / seconds
    return MEASURED[key]


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


# ----------------------------------------------------------------------------------------------
# The training step: state, FLOP count, the largest batch.

@functools.lru_cache(maxsize=None)
def _images(size: int, channels: int):
    return builtin_shapes(1024, size, channels, seed=0).images


def new_step_state(cfg: ModelConfig, batch: int, kernels: str, precision: str,
                   device: torch.device, seed=0):
    """Fresh networks, optimisers and built-in data for one step configuration,
    made the way the trainer makes them (Options' defaults for everything else)."""
    configure_precision(precision)
    torch.manual_seed(seed)
    opts = dataclasses.replace(Options(), size=cfg.size, filters=cfg.filters, latent=cfg.latent,
                               channels=cfg.channels, kernels=kernels, precision=precision,
                               batch=batch)
    G, D = build_networks(opts, device)
    data = DeviceImages(_images(cfg.size, cfg.channels), device)
    return new_state(G, D, data, batch=batch, lr=opts.lr, gamma=opts.gamma, lambda_k=opts.lambda_k,
                     kernels=kernels, precision=precision)


FLOP_COUNTS = {}   # (cfg, batch) -> FLOPs of one step


def step_flops(cfg: ModelConfig, batch: int, precision: str, device: torch.device) -> int:
    """FLOPs of one training step, counted once per (model, batch) by FlopCounterMode over an
    eager step with kernels="torch" (it cannot see inside Triton ops); every backend, kernel
    choice and precision of the same model and batch reuses the count."""
    from torch.utils.flop_counter import FlopCounterMode
    key = (cfg, batch)
    if key not in FLOP_COUNTS:
        state = new_step_state(cfg, batch, "torch", precision, device)
        with FlopCounterMode(display=False) as counter:
            train_step(state)
        sync(device)
        FLOP_COUNTS[key] = counter.get_total_flops()
        del state
        free_memory(device)
    return FLOP_COUNTS[key]


LARGEST_BATCH = {}  # (cfg, precision) -> int


def largest_batch(cfg: ModelConfig, precision: str, device: torch.device, above=256,
                  cap=16384) -> int:
    """The largest power of two above `above` at which an eager step (kernels="torch")
    runs without running out of device memory; `above` when none does."""
    key = (cfg, precision)
    if key not in LARGEST_BATCH:
        best, batch = above, above * 2
        while batch <= cap:
            try:
                state = new_step_state(cfg, batch, "torch", precision, device)
                train_step(state)
                sync(device)
            except torch.cuda.OutOfMemoryError:
                break
            finally:
                state = None
                free_memory(device)
            best, batch = batch, batch * 2
        LARGEST_BATCH[key] = best
    return LARGEST_BATCH[key]


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


@contextlib.contextmanager
def skip_unavailable(what: str):
    """Skip, not fail, a case this machine or this state of the code cannot run: a fused
    op that is still a stub (NotImplementedError anywhere in the chain of causes, which
    torch.compile wraps) or a batch that does not fit in device memory."""
    try:
        yield
    except Exception as exc:
        if in_chain(exc, NotImplementedError):
            pytest.skip(f"{what}: not implemented yet ({in_chain(exc, NotImplementedError)})")
        if in_chain(exc, torch.cuda.OutOfMemoryError):
            pytest.skip(f"{what}: out of device memory")
        raise


def in_chain(exc: BaseException, kind) -> BaseException | None:
    """The first exception of type `kind` in exc's chain of causes, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# ----------------------------------------------------------------------------------------------
# The machine: what it is (machine_info, compared between runs) and how it was during the run.

def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Model"):
                    return value.strip()
    return platform.processor() or platform.machine()


class Nvml:
    """nvidia-ml-py, guarded: every reading is None where the library, the driver or
    the GPU cannot give it."""

    def __init__(self, device: torch.device):
        self.pynvml = self.handle = None
        if device.type != "cuda":
            return
        try:
            import pynvml
            pynvml.nvmlInit()
            self.pynvml = pynvml
            self.handle = self._find_handle(pynvml, device)
        except Exception:              # no library, no driver, no permission: no readings
            self.pynvml = self.handle = None

    @staticmethod
    def _find_handle(pynvml, device):
        props = torch.cuda.get_device_properties(device)
        uuid = getattr(props, "uuid", None)
        if uuid is not None:
            with contextlib.suppress(Exception):
                text = str(uuid)
                return pynvml.nvmlDeviceGetHandleByUUID(text if text.startswith("GPU-") else f"GPU-{text}")
        if "CUDA_VISIBLE_DEVICES" not in os.environ:
            return pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        return None

    def read(self, name, *args, scale=1.0):
        if self.handle is None:
            return None
        try:
            value = getattr(self.pynvml, name)(self.handle, *args)
        except Exception:
            return None
        return value * scale if isinstance(value, (int, float)) else value

    def system(self, name):
        if self.pynvml is None:
            return None
        with contextlib.suppress(Exception):
            value = getattr(self.pynvml, name)()
            return value.decode() if isinstance(value, bytes) else value
        return None

    def energy_j(self):
        """The GPU's energy counter in joules (millijoules since the driver loaded)."""
        return self.read("nvmlDeviceGetTotalEnergyConsumption", scale=1e-3)

    def clock(self, which, maximum=False):
        if self.pynvml is None:
            return None
        kind = getattr(self.pynvml, f"NVML_CLOCK_{which}")
        return self.read("nvmlDeviceGetMaxClockInfo" if maximum else "nvmlDeviceGetClockInfo", kind)


@functools.lru_cache(maxsize=None)
def nvml(device_str: str) -> Nvml:
    return Nvml(torch.device(device_str))


def _version(module_name):
    with contextlib.suppress(Exception):
        module = __import__(module_name)
        return module.__version__
    return None


def machine_info(device: torch.device) -> dict:
    """What stays the same from run to run on one machine: hardware, driver, versions."""
    info = dict(
        bench_device=str(device), cpu_model=cpu_model(), cpu_count=os.cpu_count(),
        cpu_affinity=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        torch_threads=torch.get_num_threads(), torch=torch.__version__, triton=_version("triton"),
        numpy=_version("numpy"), cuda_runtime=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        triton_interpret=INTERPRETED, gpu=None)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gpu = nvml(str(device))
        driver_cuda = gpu.system("nvmlSystemGetCudaDriverVersion_v2")
        info["gpu"] = dict(
            name=props.name, memory_gib=props.total_memory / 2 ** 30,
            sm_count=props.multi_processor_count, capability=f"{props.major}.{props.minor}",
            l2_mib=getattr(props, "L2_cache_size", 0) / 2 ** 20,
            driver=gpu.system("nvmlSystemGetDriverVersion"),
            driver_cuda=f"{driver_cuda // 1000}.{driver_cuda % 1000 // 10}" if driver_cuda else None,
            max_sm_clock_mhz=gpu.clock("SM", maximum=True),
            max_mem_clock_mhz=gpu.clock("MEM", maximum=True),
            power_limit_w=gpu.read("nvmlDeviceGetEnforcedPowerLimit", scale=1e-3))
    return info


def run_state(device: torch.device) -> dict:
    """How the machine was at the end of the run: clocks, power, temperature, measured peaks.
    Kept out of machine_info so that --benchmark-compare does not warn on every run."""
    state = dict(measured_peaks={
        ("matmul_tflops_" + key[1] if key[0] == "matmul" else "bandwidth_gbps"):
            value / (1e12 if key[0] == "matmul" else 1e9)
        for key, value in MEASURED.items()})
    if device.type == "cuda":
        gpu = nvml(str(device))
        state["gpu"] = dict(
            sm_clock_mhz=gpu.clock("SM"), mem_clock_mhz=gpu.clock("MEM"),
            power_draw_w=gpu.read("nvmlDeviceGetPowerUsage", scale=1e-3),
            temperature_c=gpu.read("nvmlDeviceGetTemperature", 0),
            max_memory_allocated_gib=torch.cuda.max_memory_allocated(device) / 2 ** 30)
    return state
