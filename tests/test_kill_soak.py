"""kill -9 at random moments, `--resume auto` after each: the run ends bit-identical to one
that was never interrupted, and its stats.jsonl holds each step once, in order.

The kill moments come from a seeded generator: some land while a process starts up (import,
resume, trimming the logs), the others a few steps into its training (in a step, a stats
line, a grid or a checkpoint write). Run with -s to see the figures.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

from began_fast import checkpoint
from began_fast.files import is_temporary
from tests.helpers import TINY, assert_same_final_state, only_run_dir, read_stats

STEPS = 20
SOAK = [*TINY, "--filters", "2", "--latent", "4", "--steps", str(STEPS), "--log-every", "1",
        "--ckpt-every", "3", "--sample-every", "4", "--keep-ckpts", "2"]
KILLS = 6
STARTUP_KILLS = 0.25     # the share of kills timed from the process's start rather than by step
STARTUP_S = 1.5          # ... within this many seconds of it (importing torch takes about 1 s)
KILL_WITHIN = 3          # a step kill comes 1 to 3 logged steps past those already logged
DEADLINE_S = 240         # a safety net only: the soak takes far less


def spawn(args, log):
    # One thread: on a busy machine, two threads of a tiny model mostly wait for each other.
    # The reference runs the same way, so the comparison is like for like.
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "began_fast.train", *args], stdout=log,
                            stderr=subprocess.STDOUT, env=env)


def logged_step(out) -> int:
    """The last complete stats row's step in the run under `out` (0 before any)."""
    runs = os.listdir(out) if os.path.isdir(out) else []
    path = os.path.join(out, runs[0], "stats.jsonl") if runs else None
    if not path or not os.path.exists(path):
        return 0
    with open(path) as f:
        complete = f.read().split("\n")[:-1]      # a torn last line has no newline yet
    return json.loads(complete[-1])["step"] if complete else 0


def newest_checkpoint_step(out) -> int:
    paths = checkpoint.newest_first(out)
    return checkpoint.step_of(paths[0]) if paths else 0


def unreadable_checkpoints(out) -> int:
    count = 0
    for path in checkpoint.newest_first(out):
        try:
            checkpoint.load(path)
        except checkpoint.CheckpointError:
            count += 1
    return count


def temporary_files(out) -> set:
    return {name for run in os.listdir(out) for name in os.listdir(os.path.join(out, run)) if is_temporary(name)}


def kill_at_random(proc, out, rng, deadline) -> bool:
    """SIGKILL `proc` at a random moment; False when it had already finished."""
    if rng.random() < STARTUP_KILLS:
        time.sleep(rng.uniform(0.0, STARTUP_S))
    else:     # past the rows left before it (which it rewrites), and past the first checkpoint
        target = min(max(logged_step(out), 3) + rng.randint(1, KILL_WITHIN), STEPS - 1)
        while logged_step(out) < target and proc.poll() is None:
            assert time.monotonic() < deadline, "the soak ran past its deadline"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.02))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    return True


def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    rng = random.Random(16)
    deadline = time.monotonic() + DEADLINE_S
    with open(tmp_path / "reference.log", "w") as reference_log:
        reference = spawn([*SOAK, "--out", str(tmp_path / "whole")], reference_log)    # beside the soak
        out = str(tmp_path / "killed")
        kills, kill_points, unreadable, skipped, half_written = 0, [], 0, 0, set()
        for attempt in range(KILLS + 1):       # the last attempt runs to the end
            log_path = tmp_path / f"attempt-{attempt}.log"
            with open(log_path, "w") as log:
                proc = spawn([*SOAK, *(["--resume", "auto"] if attempt else []), "--out", out], log)
                if attempt < KILLS:
                    kills += kill_at_random(proc, out, rng, deadline)
                code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
            if code == -signal.SIGKILL:
                kill_points.append((newest_checkpoint_step(out), logged_step(out)))
                unreadable += unreadable_checkpoints(out)
                half_written |= temporary_files(out)
            text = log_path.read_text()
            skipped += text.count("skipped")
            assert "Traceback" not in text and code in (0, -signal.SIGKILL), text
            if code == 0:
                break
        assert code == 0 and reference.wait(timeout=max(deadline - time.monotonic(), 1)) == 0

    run, whole = only_run_dir(out), only_run_dir(tmp_path / "whole")
    steps = [row["step"] for row in read_stats(run)]
    duplicated, missing = len(steps) - len(set(steps)), len(set(range(1, STEPS + 1)) - set(steps))
    print(f"\nkill -9 soak: {kills} kills survived; (newest checkpoint, last stats row) after each: {kill_points}; "
          f"{len(half_written)} half-written files left by kills {sorted(half_written)}; {unreadable} unreadable "
          f"checkpoints met, {skipped} skipped on resume; {duplicated} stats rows duplicated, {missing} missing, "
          f"out of order: {steps != sorted(steps)}")
    assert kills >= KILLS // 2 and unreadable == 0 and skipped == 0
    assert steps == list(range(1, STEPS + 1))
    assert not [name for name in os.listdir(run) if is_temporary(name)]
    assert_same_final_state(whole, run)
    print("final state (weights, both Adam states, k_t, stats buffer, lr decay, RNG state, stats rows): "
          "bit-identical to the uninterrupted run")
