"""How every benchmark is timed (one place for the rules).

- Warm-up calls first (allocator, cuDNN heuristics, Triton's first compile), then a
  calibration that picks how many calls make one timed round (at least MIN_ROUND_S,
  so the one synchronisation per round costs little).
- Every timed round ends with a device synchronisation, so a round's time is the time
  the device took, not the time the host took to queue the work.
- pytest-benchmark keeps every round; the suite reports medians.
"""
import math
import time

from began_fast.devices import sync

# A timed round lasts at least this long (many calls when they are short): on CUDA long
# enough that its one synchronisation costs about 1%; on the CPU, where nothing needs
# synchronising, short, so that one descheduling spoils one round, not many calls.
MIN_ROUND_S = {"cuda": 2e-3, "cpu": 2e-4}
MAX_ROUNDS = 2000


def best_seconds_per_call(fn, device, min_time: float) -> float:
    """Seconds per call of `fn` after two warm-up calls: the best of synchronised batches of
    1, 2, 4, ... calls, run for `min_time` in all. The best, so that a burst of noise
    (another process taking the CPU) does not set the result. Sizes the suite's rounds,
    and measures the machine's own peaks (peaks.py)."""
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


def measure(benchmark, fn, device, time_s: float, min_rounds: int, energy=None) -> dict:
    """Time `fn` with pytest-benchmark: warm-up, then rounds of `iterations` calls, each
    round closed by a device synchronisation, for about `time_s` seconds. Returns facts
    for extra_info: rounds, iterations, median seconds per call and, with energy (a
    () -> joules or None callable), joules per call and mean power over the timed rounds."""
    if not benchmark.enabled:          # --benchmark-disable: one plain call, nothing to report
        benchmark.pedantic(fn, rounds=1, iterations=1)
        sync(device)
        return {}
    per_call = best_seconds_per_call(fn, device, min_time=min(0.05, time_s / 4))
    iterations = max(1, math.ceil(MIN_ROUND_S.get(device.type, 2e-3) / per_call))
    rounds = int(time_s / (per_call * iterations))
    rounds = max(min_rounds, min(rounds, MAX_ROUNDS))
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
