"""`--resume auto` is one command line for a job's first start and every restart: it resumes
when there is a checkpoint under --out, and otherwise starts a new run, in the folder a run
stopped before its first checkpoint left (its logs emptied) when there is one."""
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

from began_fast import run_folder
from began_fast.train import main
from tests.helpers import TINY, assert_same_final_state, only_run_dir, read_stats

RUN = [*TINY, "--steps", "4", "--log-every", "1", "--ckpt-every", "100", "--sample-every", "100"]


def test_with_nothing_to_resume_a_new_run_starts_and_says_so_in_one_line(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main([*RUN, "--resume", "auto", "--out", str(out)]) == 0
    (said,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("--resume auto")]
    assert said == f"--resume auto: no checkpoint under {out}, so a new run"
    assert [row["step"] for row in read_stats(only_run_dir(out))] == [1, 2, 3, 4]
    assert main([*RUN, "--resume", "auto", "--out", str(out)]) == 0      # now it resumes: nothing to do
    assert len(os.listdir(out)) == 1


def left_before_its_first_checkpoint(out, name="00000-shapes-32px", steps=3):
    """What a run killed at step `steps` before its first checkpoint leaves."""
    folder = out / name
    folder.mkdir(parents=True)
    (folder / "stats.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in range(1, steps + 1)))
    (folder / "options.json").write_text("{}")
    (folder / "stats.tmp4242.jsonl").write_text("half")
    return folder


def test_a_folder_left_before_the_first_checkpoint_is_taken_over(tmp_path, capsys):
    out = tmp_path / "runs"
    left = left_before_its_first_checkpoint(out, steps=7)
    other = left_before_its_first_checkpoint(out, "00001-celeba-64px")      # another data set's: left alone
    assert main([*RUN, "--resume", "auto", "--out", str(out)]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("--resume auto")]
    assert said == [f"--resume auto: no checkpoint under {out}, so a new run, in {left}: a run stopped before "
                    "its first checkpoint left it (its logs emptied)"]
    assert sorted(os.listdir(out)) == ["00000-shapes-32px", "00001-celeba-64px"]
    assert [row["step"] for row in read_stats(left)] == [1, 2, 3, 4]
    assert not any("tmp" in name for name in os.listdir(left)) and os.listdir(other)


def test_a_living_runs_folder_is_never_taken_over(tmp_path):
    out = tmp_path / "runs"
    left = left_before_its_first_checkpoint(out)
    (left / f"{run_folder.EVENT_FILE}1700000000.host.1.0").write_bytes(b"stale")     # TensorBoard's, if on
    fd = os.open(left, os.O_RDONLY)          # as the run that made it holds it while it lives
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert run_folder.take_over(str(out), "shapes-32px") is None
    finally:
        os.close(fd)
    assert run_folder.take_over(str(out), "shapes-32px") == str(left)
    assert (left / "stats.jsonl").read_text() == ""
    assert not any(name.startswith(run_folder.EVENT_FILE) for name in os.listdir(left))
    run_folder.release_all()


def test_a_new_run_holds_its_folder_until_it_ends(tmp_path):
    path = run_folder.claim(str(tmp_path), "shapes-32px")
    assert run_folder.take_over(str(tmp_path), "shapes-32px") is None
    run_folder.release_all()
    assert run_folder.take_over(str(tmp_path), "shapes-32px") == path
    run_folder.release_all()


def test_killed_before_its_first_checkpoint_then_resume_auto_ends_as_one_uninterrupted_run(tmp_path):
    """kill -9 after the third stats row of a run whose first checkpoint is at step 30."""
    args = [*TINY, "--steps", "32", "--log-every", "1", "--ckpt-every", "30", "--sample-every", "100"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore::DeprecationWarning")
    cmd = [sys.executable, "-m", "began_fast.train", *args, "--resume", "auto", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    rows = lambda: sum(path.read_text().count("\n") for path in out.glob("*/stats.jsonl"))    # whole rows
    while rows() < 3:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = only_run_dir(out)
    assert rows() >= 3 and not [p for p in os.listdir(run) if p.startswith("ckpt-")]
    assert main([*args, "--resume", "auto", "--out", str(out)]) == 0
    assert only_run_dir(out) == run
    assert [row["step"] for row in read_stats(run)] == list(range(1, 33))
    assert_same_final_state(only_run_dir(tmp_path / "whole"), run)
