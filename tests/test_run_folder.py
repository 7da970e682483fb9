"""Run folders: numbered atomically, and trimmed back to the checkpoint a run resumes from."""
import json
import os
import threading

import pytest

from began_fast import run_folder


def write_log(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def row(step, **extra):
    return json.dumps({"step": step, **extra})


def test_trim_drops_rows_past_the_step_and_a_torn_last_line(tmp_path):
    log = tmp_path / "stats.jsonl"
    write_log(log, [row(2), row(4), row(6), row(8), '{"step": 10, "loss_re'])
    run_folder.trim_log(str(log), 6)
    assert log.read_text().splitlines() == [row(2), row(4), row(6)]


def test_trim_keeps_each_step_once_in_order_the_last_copy_winning(tmp_path):
    """What an earlier version left after kills: steps logged again after a resume."""
    log = tmp_path / "stats.jsonl"
    write_log(log, [row(2, k=0.1), row(4, k=0.2), row(6, k=0.3), row(4, k=0.25), row(6, k=0.35), row(8)])
    run_folder.trim_log(str(log), 100)
    assert log.read_text().splitlines() == [row(2, k=0.1), row(4, k=0.25), row(6, k=0.35), row(8)]


def test_trim_warns_about_unreadable_lines_before_the_end(tmp_path):
    log = tmp_path / "stats.jsonl"
    write_log(log, [row(2), "\x00\x00garbage", "[1, 2]", row(4)])
    with pytest.warns(UserWarning, match="dropped 2 unreadable line"):
        run_folder.trim_log(str(log), 4)
    assert log.read_text().splitlines() == [row(2), row(4)]


def test_trim_leaves_a_consistent_log_untouched(tmp_path):
    log = tmp_path / "stats.jsonl"
    write_log(log, [row(2), row(4)])
    before = os.stat(log).st_mtime_ns, os.stat(log).st_ino
    run_folder.trim_log(str(log), 4)
    assert (os.stat(log).st_mtime_ns, os.stat(log).st_ino) == before


def test_restore_trims_every_log_and_deletes_temporary_files(tmp_path, monkeypatch):
    monkeypatch.setattr(run_folder, "LOGS", ("stats.jsonl", "metrics.jsonl"))
    write_log(tmp_path / "stats.jsonl", [row(1), row(2), row(3)])
    write_log(tmp_path / "metrics.jsonl", [row(2), row(3)])
    (tmp_path / "ckpt-00000003.tmp4242.pt").write_bytes(b"half a checkpoint")
    (tmp_path / "ckpt-00000002.pt").write_bytes(b"kept")
    run_folder.restore(str(tmp_path), 2)
    assert sorted(os.listdir(tmp_path)) == ["ckpt-00000002.pt", "metrics.jsonl", "stats.jsonl"]
    assert (tmp_path / "stats.jsonl").read_text().splitlines() == [row(1), row(2)]
    assert (tmp_path / "metrics.jsonl").read_text().splitlines() == [row(2)]


def test_claim_numbers_after_the_highest_run(tmp_path):
    (tmp_path / "00007-celeba-64px").mkdir()
    (tmp_path / "notes").mkdir()
    assert os.path.basename(run_folder.claim(str(tmp_path), "shapes-32px")) == "00008-shapes-32px"


def test_claim_takes_the_next_number_when_another_run_took_it_first(tmp_path, monkeypatch):
    """The race: another process makes 00000-... between our listing and our mkdir."""
    (tmp_path / "00000-shapes-32px").mkdir()
    (tmp_path / "00001-shapes-32px").mkdir()
    monkeypatch.setattr(run_folder.os, "listdir", lambda path: [])     # a listing from before they existed
    assert os.path.basename(run_folder.claim(str(tmp_path), "shapes-32px")) == "00002-shapes-32px"


@pytest.mark.parametrize("names", [["shapes-32px"] * 8, [f"data{i}-32px" for i in range(8)]])
def test_runs_started_at_once_get_their_own_numbers(tmp_path, names):
    start = threading.Barrier(len(names))
    claimed = []

    def start_run(name):
        start.wait()
        claimed.append(run_folder.claim(str(tmp_path), name))
    threads = [threading.Thread(target=start_run, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = sorted(os.path.basename(p)[:5] for p in claimed)
    assert numbers == [f"{i:05d}" for i in range(len(names))]
