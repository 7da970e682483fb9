"""A stop request (SIGTERM, Ctrl-C) is honoured within a bounded time whatever --log-every
is: one process stops after the step under way; the processes of a torchrun job ask each
other about once a second (began_fast/stop_poll.py). Run with -s to see the figures."""
import os
import signal
import subprocess
import sys
import time

from began_fast import checkpoint
from began_fast.distributed import Context
from began_fast.stop_poll import PERIOD_S, StopPoll
from tests.helpers import TINY, only_run_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# No log line, no grid and no regular checkpoint for as long as the test lasts: the stop
# cannot wait for any of them.
NEVER = ["--steps", "10000000", "--log-every", "1000000", "--sample-every", "1000000"]
BOUND_S = 15      # the stated bound is about 1 s of training plus a checkpoint; this is a loaded CI machine


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def asks(seconds_per_step: list[float], flags=()) -> tuple[list[int], StopPoll]:
    """The steps at which a one-process poll asks, for steps of the given durations."""
    clock, asked = FakeClock(), []
    poll = StopPoll(Context(), clock=clock)
    for step, took in enumerate(seconds_per_step):
        if poll.due(step):
            asked.append(step)
            if poll.ask(step, step in flags):
                break
        clock.now += took
    return asked, poll


def test_the_poll_asks_about_once_a_second_and_follows_the_step_time():
    fast, slow = 1 / 128, 1 / 4      # exact in binary, so the fake clock's sums are too
    asked, _ = asks([fast] * 600)
    assert asked == [1, 129, 257, 385, 513]
    asked, _ = asks([fast] * 300 + [slow] * 200)      # the steps slow down: the asks follow
    gaps = [b - a for a, b in zip(asked, asked[1:])]
    assert asked[:4] == [1, 129, 257, 385] and gaps[4:] == [4] * len(gaps[4:]) and len(gaps) > 20


def test_the_poll_answers_what_the_flag_says():
    asked, _ = asks([1 / 128] * 600, flags={257})
    assert asked == [1, 129, 257]


def test_a_clock_too_coarse_for_the_steps_doubles_the_period():
    asked, _ = asks([0.0] * 100)
    assert asked[:5] == [1, 3, 7, 15, 31]      # periods of 2, 4, 8, 16 steps


def wait_for_checkpoint(out, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it was signalled"
        if any(name.startswith("ckpt-") for d in out.glob("*") if d.is_dir() for name in os.listdir(d)):
            return
        time.sleep(0.05)
    raise AssertionError("no checkpoint was written in time")


def stopped_after(process, out) -> tuple[float, str]:
    signalled = time.monotonic()
    _, err = process.communicate(timeout=60)
    return time.monotonic() - signalled, err


def saved_at(err: str) -> int:
    line = [line for line in err.splitlines() if "SIGTERM at step" in line][-1]
    return checkpoint.load(line.split("checkpoint saved to ")[1].split(";")[0])["step"]


def test_sigterm_to_one_process_saves_within_the_bound_whatever_log_every_is(tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "began_fast.train", *TINY, *NEVER, "--ckpt-every", "20",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    wait_for_checkpoint(out, proc)
    proc.send_signal(signal.SIGTERM)
    took, err = stopped_after(proc, out)
    print(f"\none process, --log-every 1000000: SIGTERM to exit with a checkpoint in {took:.1f} s")
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    assert saved_at(err) >= 20 and took < BOUND_S


def test_sigterm_to_torchrun_stops_every_process_within_the_bound_whatever_log_every_is(tmp_path):
    """What a scheduler does: SIGTERM to the launcher, which passes it to its workers."""
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "began_fast.train", *TINY, *NEVER, "--ckpt-every", "20", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT))
    wait_for_checkpoint(out, proc)
    proc.send_signal(signal.SIGTERM)
    took, err = stopped_after(proc, out)
    print(f"\ntorchrun, 2 processes, --log-every 1000000: SIGTERM to every process stopped with a "
          f"checkpoint in {took:.1f} s")
    assert "Traceback" not in err.split("SIGTERM at step")[0], err[-3000:]
    step = saved_at(err)
    payload = checkpoint.load(checkpoint.path_for(only_run_dir(out), step))
    assert step >= 20 and len(payload["rng_ranks"]) == 2 and took < BOUND_S
