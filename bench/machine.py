"""The machine in the benchmark JSON: what it is (machine_info, compared between runs by
--benchmark-compare) and how it was during the run (run_state: clocks, power, peaks)."""
import contextlib
import functools
import os
import platform

import torch

from bench.peaks import measured_peaks


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
        triton_interpret=os.environ.get("TRITON_INTERPRET", "0") == "1", gpu=None)
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
    state = dict(measured_peaks=measured_peaks())
    if device.type == "cuda":
        gpu = nvml(str(device))
        state["gpu"] = dict(
            sm_clock_mhz=gpu.clock("SM"), mem_clock_mhz=gpu.clock("MEM"),
            power_draw_w=gpu.read("nvmlDeviceGetPowerUsage", scale=1e-3),
            temperature_c=gpu.read("nvmlDeviceGetTemperature", 0),
            max_memory_allocated_gib=torch.cuda.max_memory_allocated(device) / 2 ** 30)
    return state
