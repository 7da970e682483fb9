"""The training step as the step benchmarks build it: state, FLOP count, the largest batch."""
import contextlib
import functools
import gc

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from bench.cases import ModelConfig
from began_fast import kernels
from began_fast.config import Options
from began_fast.data import DeviceImages, builtin_shapes
from began_fast.devices import configure_math, sync
from began_fast.models import build_networks, objective
from began_fast.models.dfgan_nets import SENTENCE
from began_fast.specs import SPECS
from began_fast.step import new_state


@functools.lru_cache(maxsize=None)
def _images(size: int, channels: int):
    return builtin_shapes(1024, size, channels, seed=0).images


def new_step_state(cfg: ModelConfig, batch: int, precision: str, device: torch.device,
                   channels_last=None, backend="eager", seed=0):
    """Fresh networks, optimisers and built-in data for one step configuration, made the way
    the trainer makes them (the device's defaults for everything else, the layout
    included unless given). The kernel switch is the caller's to set."""
    configure_math(precision)
    torch.manual_seed(seed)
    layout = {} if channels_last is None else dict(channels_last=channels_last)
    opts = Options.for_device(device.type, model=cfg.model, size=cfg.size, filters=cfg.filters,
                              latent=cfg.latent, channels=cfg.channels, precision=precision, batch=batch,
                              backend=backend, **layout)
    G, D = build_networks(opts, device)
    images = _images(cfg.size, cfg.channels)
    # A text-conditioned model (DF-GAN) draws sentence vectors with its images; their values
    # do not change the step's cost, so random ones stand in for a text encoder's.
    sentences = (torch.randn(len(images), 1, SENTENCE), torch.ones(len(images), dtype=torch.long)) \
        if SPECS[cfg.model].conditioned else None
    return new_state(G, D, DeviceImages(images, device, sentences=sentences), opts)


FLOP_COUNTS = {}   # (cfg, batch) -> FLOPs of one step


class FlopCount(TorchDispatchMode):
    """Adds up the FLOPs of every op torch.utils.flop_counter has a formula for: the same
    count as its FlopCounterMode, without the module hooks that FlopCounterMode installs
    and that refuse a gradient of a gradient (WGAN-GP's penalty)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def step_flops(cfg: ModelConfig, batch: int, precision: str, device: torch.device) -> int:
    """FLOPs of one training step, counted once per (model, batch) over an eager step with the
    torch kernels (the count cannot see inside Triton ops); every backend, kernel choice
    and precision of the same model and batch reuses the count."""
    key = (cfg, batch)
    if key not in FLOP_COUNTS:
        with kernels.use("torch"):
            state = new_step_state(cfg, batch, precision, device)
            with FlopCount() as counter:
                objective(cfg.model).train_step(state)
        sync(device)
        FLOP_COUNTS[key] = counter.total
        del state
        free_memory(device)
    return FLOP_COUNTS[key]


LARGEST_BATCH = {}  # (cfg, precision) -> int


def largest_batch(cfg: ModelConfig, precision: str, device: torch.device, above=256,
                  cap=16384) -> int:
    """The largest power of two above `above` at which an eager step (torch kernels) runs
    without running out of device memory; `above` when none does."""
    key = (cfg, precision)
    if key not in LARGEST_BATCH:
        best, batch = above, above * 2
        while batch <= cap:
            try:
                with kernels.use("torch"):
                    state = new_step_state(cfg, batch, precision, device)
                    objective(cfg.model).train_step(state)
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
def skip_if_out_of_memory(what: str):
    """Skip, not fail, a case whose batch does not fit in device memory (torch.compile may
    wrap the error, so the chain of causes is searched)."""
    try:
        yield
    except Exception as exc:
        cause = exc
        while cause is not None and not isinstance(cause, torch.cuda.OutOfMemoryError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            pytest.skip(f"{what}: out of device memory")
        raise
