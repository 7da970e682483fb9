"""One command line for every start, under torchrun and without it: processes killed at
known moments (before the first checkpoint, between checkpoints, halfway through writing
one), `torchrun --max-restarts` restarting the group with `--resume auto`, and processes
launched one by one (as srun does) stopping with a one-line error when a peer vanishes.
Run with -s to see the figures."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from began_fast.files import is_temporary
from tests.helpers import TINY, assert_same_final_state, final_state, only_run_dir, read_stats
from tests.test_distributed import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 24
JOB = [*TINY, "--steps", str(STEPS), "--log-every", "2", "--ckpt-every", "10", "--sample-every", "100",
       "--resume", "auto"]
# Attempt 0: rank 1 dies after step 5, before the first checkpoint (10). Attempt 1 starts
# afresh in the same folder, writes the checkpoint of step 10, and rank 0 dies halfway
# through writing that of step 20. Attempt 2 resumes from 10 and rank 1 dies after step 14,
# between checkpoints. Attempt 3 resumes from 10 and finishes.
KILLS = "0:1:5:step,1:0:20:ckpt,2:1:14:step"
DEADLINE_S = 150     # a safety net: the test takes about 30 s


def env(**extra):
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore::DeprecationWarning",
                PYTHONPATH=ROOT, **extra)


def torchrun(out, kills=""):
    """The job as a user launches it (but for the test's worker, which kills itself where
    `kills` says), started and left running; its output goes to out.log."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "--max-restarts=3", "-m", "tests.elastic_worker", *JOB, "--out", str(out)]
    log = open(f"{out}.log", "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env(ELASTIC_KILLS=kills), cwd=ROOT)


def finish(process, deadline):
    try:
        return process.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("torchrun did not finish before the deadline")


def test_torchrun_restarts_after_kills_at_any_moment_and_ends_as_the_uninterrupted_job(tmp_path):
    deadline = time.monotonic() + DEADLINE_S
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    reference, job = torchrun(whole), torchrun(killed, KILLS)      # side by side
    assert finish(job, deadline) == 0, open(f"{killed}.log").read()[-3000:]
    assert finish(reference, deadline) == 0, open(f"{whole}.log").read()[-3000:]

    log = open(f"{killed}.log").read()
    restarts = log.count("failed (exitcode: -9)")
    folders = os.listdir(killed)
    run = only_run_dir(killed)
    steps = [row["step"] for row in read_stats(run)]
    duplicated, missing = len(steps) - len(set(steps)), len(set(range(2, STEPS + 1, 2)) - set(steps))
    print(f"\nelastic torchrun: {restarts} restarts survived, {len(folders)} run folder(s), {duplicated} stats rows "
          f"duplicated, {missing} missing, in order: {steps == sorted(steps)}")
    assert restarts == 3 and "Traceback" not in log
    assert log.count("a run stopped before its first checkpoint left it") == 1     # attempt 1 took attempt 0's folder
    assert steps == list(range(2, STEPS + 1, 2))
    assert not [name for name in os.listdir(run) if is_temporary(name)]
    assert_same_final_state(only_run_dir(whole), run)
    a, b = final_state(only_run_dir(whole)), final_state(run)
    assert all(torch.equal(x["cpu"], y["cpu"]) for x, y in zip(a["rng_ranks"], b["rng_ranks"]))
    print("final weights, Adam states, k_t, stats buffer, every rank's RNG state: bit-identical to the "
          "uninterrupted job")


# ---------------------------------------------------------------------------
# Without torchrun: each rank launched on its own, as srun does.

TIMEOUT_S = 4


def launch_ranks(out):
    port = free_port()
    processes = []
    for rank in range(2):
        rank_env = env(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                       WORLD_SIZE="2", LOCAL_WORLD_SIZE="2")
        cmd = [sys.executable, "-m", "began_fast.train", *TINY, "--steps", "100000", "--log-every", "1",
               "--ckpt-every", "100000", "--sample-every", "100000", "--collective-timeout", str(TIMEOUT_S),
               "--out", str(out)]
        processes.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                          env=rank_env))
    return processes


@pytest.mark.parametrize("victim, how, named", [
    (1, signal.SIGKILL, "rank 1 of 2 stopped answering"),
    (1, signal.SIGSTOP, "rank 1 of 2 stopped answering"),        # alive but silent: the timeout
    (0, signal.SIGKILL, "rank 0 of 2 (it held the rendezvous store) stopped answering"),
], ids=["rank-1-killed", "rank-1-stopped", "rank-0-killed"])
def test_a_peer_that_vanishes_outside_torchrun_stops_the_others_with_a_one_line_error(tmp_path, victim, how, named):
    out = tmp_path / "runs"
    processes = launch_ranks(out)
    try:
        start = time.monotonic()
        while not [line for path in out.glob("*/stats.jsonl") for line in open(path)][2:]:     # training
            assert time.monotonic() - start < 120 and all(p.poll() is None for p in processes)
            time.sleep(0.05)
        processes[victim].send_signal(how)
        vanished = time.monotonic()
        survivor = processes[1 - victim]
        _, stderr = survivor.communicate(timeout=60)
        took = time.monotonic() - vanished
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    print(f"\n{how.name} to rank {victim}: rank {1 - victim} stopped after {took:.1f} s: {errors}")
    assert survivor.returncode == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert len(errors) == 1 and named in errors[0], stderr[-3000:]
    assert took < TIMEOUT_S + 15
