"""The whole training step, by every backend, kernels on and off, at several batches and precisions.

Each case builds the state the way the trainer does, runs the runner's first
`setup_calls` calls apart (compilation, CUDA-graph capture: `setup_s`), then times
steady-state steps. Images/s count real images (the batch) per step. TFLOP/s come
from one FlopCounterMode count per model and batch (steps.step_flops); the
fraction of peak is against a large matmul in the step's precision measured in the
same session. Speed-ups over eager (kernels="torch", same batch and precision) are
added to the JSON at the end of the session.
"""
import time

import pytest
import torch

from bench.cases import INTERPRETED
from bench.machine import nvml
from bench.peaks import rate_facts
from bench.steps import free_memory, largest_batch, new_step_state, skip_if_out_of_memory, step_flops
from bench.timing import measure
from began_fast import kernels
from began_fast.devices import sync
from began_fast.backends import StepRunner


def pytest_generate_tests(metafunc):
    suite = metafunc.config.bench_suite
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", [
            pytest.param(c, id=c.id, marks=[pytest.mark.skip(reason=c.skip)] if c.skip else [])
            for c in suite.step_cases])
    if "model_case" in metafunc.fixturenames:
        metafunc.parametrize("model_case", [
            pytest.param((cfg, backend, batch), id=f"{cfg.model}-{backend}-b{batch}",
                         marks=[pytest.mark.skip(reason=skip)] if skip else [])
            for cfg, backend, batch, skip in suite.model_cases])


def test_step(benchmark, bench_suite, case):
    suite, device, cfg = bench_suite, bench_suite.device, bench_suite.step_model
    if case.kernels == "triton" and INTERPRETED:
        pytest.skip("TRITON_INTERPRET=1 is set: benchmarks never time the Triton interpreter")
    batch = case.batch
    if batch == "max":
        batch = largest_batch(cfg, case.precision, device)
        if batch in (16, 64, 256):
            pytest.skip(f"the largest batch that fits is {batch}, already benchmarked")
    benchmark.group = f"step {cfg.name} b{case.batch} {case.precision}"
    time_step(benchmark, suite, cfg, batch, case.precision, case.backend, case.kernels, case.channels_last)


def test_model_step(benchmark, bench_suite, model_case):
    """Each model's whole step (a generator update with its critic updates), eagerly and by
    the fastest backend, in the device's default precision and layout."""
    cfg, backend, batch = model_case
    precision = "fp32" if bench_suite.device.type == "cpu" else "tf32"
    benchmark.group = f"models b{batch} {precision}"
    time_step(benchmark, bench_suite, cfg, batch, precision, backend, "torch", None)


def time_step(benchmark, suite, cfg, batch, precision, backend, kernels_choice, channels_last):
    """Build the state as the trainer does, run the setup calls apart, time steady steps, and
    put what the report needs in extra_info."""
    device = suite.device
    compiled = backend.startswith("compile")
    state = runner = None
    try:
        with skip_if_out_of_memory(f"{cfg.name} {backend} (batch {batch})"), kernels.use(kernels_choice):
            flops = step_flops(cfg, batch, precision, device)
            if compiled:
                torch._dynamo.reset()      # a cold compile per case, never a recompile limit hit
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            state = new_step_state(cfg, batch, precision, device, channels_last, backend)
            channels_last = state.opts.channels_last
            runner = StepRunner(backend, state)
            sync(device)
            start = time.perf_counter()
            for _ in range(runner.setup_calls):
                runner()
            sync(device)
            setup_s = time.perf_counter() - start if runner.setup_calls else None
            timing = measure(benchmark, runner, device, suite.time_s, suite.min_rounds,
                             energy=nvml(str(device)).energy_j)
    finally:
        state = runner = None
        if compiled:
            torch._dynamo.reset()
        free_memory(device)

    info = benchmark.extra_info
    info.update(kind="step", model=cfg.name, size=cfg.size, filters=cfg.filters, latent=cfg.latent,
                backend=backend, kernels=kernels_choice, batch=batch, precision=precision,
                channels_last=channels_last,
                setup_s=setup_s, flops_per_step=flops, gflop_per_image=flops / batch / 1e9)
    if device.type == "cuda":
        info["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
    if timing:
        seconds = timing.pop("median_s")
        info.update(timing, median_s=seconds, images_per_s=batch / seconds)
        info.update(rate_facts(seconds, device, flops=flops, precision=precision))
        if "energy_j_per_call" in timing:
            info["energy_j_per_step"] = info.pop("energy_j_per_call")
