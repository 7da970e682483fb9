"""`python -m began_fast.train` end to end: learning, run folders, resume, signals, NaN."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from began_fast import checkpoint
from began_fast.images import grid_scale
from began_fast.schedule import PlateauDecay
from began_fast.train import main
from tests.helpers import TINY, assert_same_final_state, fill_disk, final_state, only_run_dir, read_stats, run_cli

STAT_KEYS = {"step", "images", "loss_real", "loss_fake", "loss_d", "loss_g", "k", "m_global", "lr",
             "images_per_s", "time"}


def test_a_short_run_learns_and_writes_its_run_folder(tmp_path, metrics_cache):
    out = tmp_path / "runs"
    args = ["--size", "32", "--filters", "8", "--latent", "8", "--batch", "16", "--builtin-count", "256",
            "--device", "cpu", "--steps", "60", "--log-every", "10", "--sample-every", "30",
            "--ckpt-every", "30", "--out", out, "--metrics", "modes,kl,fd", "--metrics-every", "30",
            "--metrics-samples", "100", "--cache-dir", metrics_cache]
    assert main([str(a) for a in args]) == 0
    run = only_run_dir(out)
    stats = read_stats(run)
    assert [s["step"] for s in stats] == [10, 20, 30, 40, 50, 60]
    assert all(set(s) >= STAT_KEYS for s in stats)
    assert stats[-1]["loss_real"] < 0.75 * stats[0]["loss_real"]      # D learns to reconstruct
    assert all(0 <= s["k"] <= 1 for s in stats)
    assert stats[-1]["images"] == 60 * 16
    files = set(os.listdir(run))
    assert {"options.json", "stats.jsonl", "metrics.jsonl", "plot.png", "samples-00000030.png",
            "recon-00000030.png", "samples-00000060.png", "ckpt-00000030.pt", "ckpt-00000060.pt"} <= files
    assert json.load(open(os.path.join(run, "options.json")))["filters"] == 8
    metrics = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    assert [(m["step"], m["images"]) for m in metrics] == [(30, 30 * 16), (60, 60 * 16)]
    for m in metrics:
        assert set(m["ceiling"]) == {"modes", "kl", "fd"} and m["seconds"] > 0
        assert 0 <= m["modes"] <= 1 and m["kl"] >= 0 and m["fd"] > m["ceiling"]["fd"]


def test_evaluating_during_training_does_not_change_the_training(tmp_path, metrics_cache):
    """The evaluation draws from its own fixed z and the evaluator's own random state: a run
    that evaluates trains bit for bit like one that does not."""
    finals = []
    for name, metrics in (("with", ["--metrics", "modes", "--metrics-every", "2", "--metrics-samples", "20"]),
                          ("without", [])):
        assert main([*TINY, *metrics, "--steps", "4", "--log-every", "2", "--cache-dir", metrics_cache,
                     "--out", str(tmp_path / name)]) == 0
        finals.append(final_state(only_run_dir(tmp_path / name)))
    assert os.path.exists(os.path.join(only_run_dir(tmp_path / "with"), "metrics.jsonl"))
    for net in ("G", "D"):
        assert all(torch.equal(t, finals[1][net][k]) for k, t in finals[0][net].items())


def test_a_second_run_gets_a_new_folder(tmp_path):
    for _ in range(2):
        assert main([*TINY, "--steps", "2", "--out", str(tmp_path)]) == 0
    assert sorted(d[:5] for d in os.listdir(tmp_path)) == ["00000", "00001"]


@pytest.mark.parametrize("split", [6, 5])    # at a log boundary, and in the middle of an interval
def test_resume_is_bit_exact(tmp_path, split):
    """With generator averaging on (its ramp-up still binding): G's average resumes too."""
    common = [*TINY, "--log-every", "4", "--ckpt-every", "100", "--sample-every", "100", "--g-ema-half-life", "20"]
    assert main([*common, "--steps", "12", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--steps", str(split), "--out", str(tmp_path / "parts")]) == 0
    assert main(["--resume", "auto", "--steps", "12", "--out", str(tmp_path / "parts")]) == 0
    whole, parts = only_run_dir(tmp_path / "whole"), only_run_dir(tmp_path / "parts")
    a, b = final_state(whole), final_state(parts)
    assert a["step"] == b["step"] == 12
    assert not torch.equal(a["G_ema"]["decoder.fc.weight"], a["G"]["decoder.fc.weight"])
    for net in ("G", "D", "G_ema"):
        for name, tensor in a[net].items():
            assert torch.equal(tensor, b[net][name]), name
    assert torch.equal(a["buffers"]["k"], b["buffers"]["k"]) and a["decay"] == b["decay"]
    for key in ("exp_avg", "exp_avg_sq"):
        assert all(torch.equal(a["opt_d"]["state"][i][key], b["opt_d"]["state"][i][key]) for i in a["opt_d"]["state"])
    timing = {"images_per_s", "time"}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]
    assert strip(read_stats(whole)) == strip(read_stats(parts))


def test_resume_keeps_the_checkpoint_options_and_lr(tmp_path):
    assert main([*TINY, "--steps", "3", "--lr", "3e-4", "--lr-floor", "1e-5", "--out", str(tmp_path)]) == 0
    with pytest.warns(UserWarning, match="--filters"):
        assert main(["--resume", "auto", "--filters", "16", "--steps", "4", "--out", str(tmp_path)]) == 0
    payload = final_state(only_run_dir(tmp_path))
    assert payload["step"] == 4 and payload["options"]["filters"] == 4 and payload["decay"]["lr"] == 3e-4


def test_a_finished_run_says_so(tmp_path, capsys):
    assert main([*TINY, "--steps", "2", "--out", str(tmp_path)]) == 0
    assert main(["--resume", "auto", "--out", str(tmp_path)]) == 0
    assert "already at step 2" in capsys.readouterr().out


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    result = run_cli("began_fast.train", *TINY, "--lr", "1e8", "--lr-floor", "1e-5", "--steps", "200",
                     "--log-every", "1", "--ckpt-every", "1", "--out", tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "non-finite at step" in result.stderr
    run = only_run_dir(tmp_path)
    for path in checkpoint.in_run(run):     # every checkpoint left holds finite weights
        weights = checkpoint.load(path)["G"]
        assert all(torch.isfinite(t).all() for t in weights.values())


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "ckpt-00000001.pt")
    checkpoint.save(path, {"step": 1})

    def broken_save(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        checkpoint.save(path, {"step": 2})
    assert checkpoint.load(path)["step"] == 1 and os.listdir(tmp_path) == ["ckpt-00000001.pt"]


def test_plateau_decay_halves_after_patience_and_stops_at_the_floor():
    decay = PlateauDecay(lr=1e-4, patience=100, floor=3e-5)
    assert decay.update(100, 1.0) == 1e-4
    assert decay.update(150, 0.9) == 1e-4              # improving
    assert decay.update(200, 0.95) == 1e-4             # 50 steps without improvement
    assert decay.update(250, 0.95) == 5e-5             # 100 steps: halve
    assert decay.update(300, 0.95) == 5e-5             # a fresh window for the new lr
    assert decay.update(350, 0.95) == 3e-5             # halved again, held at the floor
    assert decay.update(1000, 0.95) == 3e-5


def test_sample_command_writes_grids(tmp_path):
    assert main([*TINY, "--steps", "2", "--out", str(tmp_path)]) == 0
    ckpt = checkpoint.in_run(only_run_dir(tmp_path))[-1]
    result = run_cli("began_fast.sample", ckpt, "--out", tmp_path / "grids", "--count", "9",
                     "--pairs", "2", "--frames", "5", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    from PIL import Image
    samples = Image.open(tmp_path / "grids" / "samples.png")
    walk = Image.open(tmp_path / "grids" / "interpolation.png")
    square, strip = grid_scale(3, 32), grid_scale(5, 32)      # enlarged to at least 512 px wide
    assert samples.size == (square * (3 * 34 + 2), square * (3 * 34 + 2))
    assert walk.size == (strip * (5 * 34 + 2), strip * (2 * 34 + 2))
    bad = run_cli("began_fast.sample", tmp_path / "nope.pt")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "no such file" in bad.stderr


def test_sample_to_an_out_that_cannot_be_made_is_a_one_line_error(tmp_path, capsys):
    from began_fast import sample
    assert main([*TINY, "--steps", "1", "--out", str(tmp_path / "runs")]) == 0
    ckpt = checkpoint.in_run(only_run_dir(tmp_path / "runs"))[-1]
    (tmp_path / "a-file").write_text("")
    capsys.readouterr()
    assert sample.main([ckpt, "--out", str(tmp_path / "a-file" / "grids"), "--device", "cpu"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --out {tmp_path / 'a-file' / 'grids'}: cannot write the grids there")


def test_slerp_keeps_ends_and_norm():
    from began_fast.sample import slerp
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    walk = slerp(a, b, torch.linspace(0, 1, 5))[0]
    assert torch.allclose(walk[0], a[0], atol=1e-6) and torch.allclose(walk[-1], b[0], atol=1e-6)
    assert torch.allclose(walk.norm(dim=1), torch.ones(5), atol=1e-5)


def test_a_checkpoint_from_an_earlier_version_resumes(tmp_path):
    """tests/data/ckpt-v1-tiny.pt was written by the trainer of commit c9e393b (32 px, n = 2,
    h = 4, batch 2, 4 steps); later versions must go on reading it."""
    import shutil
    run = tmp_path / "00000-shapes-32px"
    run.mkdir()
    shutil.copy(os.path.join(os.path.dirname(__file__), "data", "ckpt-v1-tiny.pt"), run / "ckpt-00000004.pt")
    assert main(["--resume", "auto", "--steps", "6", "--log-every", "2", "--out", str(tmp_path)]) == 0
    payload = final_state(str(run))
    assert payload["step"] == 6 and payload["options"]["filters"] == 2
    assert [s["step"] for s in read_stats(str(run))] == [6]


def test_resume_sets_adam_flags_for_the_run_at_hand(tmp_path):
    """A checkpoint whose Adam flags say CUDA (capturable, foreach: as a GPU run under a
    CUDA-graph backend writes them) resumes on the CPU with the CPU's flags, and continues
    exactly as the CPU run that never stopped."""
    common = [*TINY, "--log-every", "2", "--ckpt-every", "100", "--sample-every", "100"]
    assert main([*common, "--steps", "6", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--steps", "3", "--out", str(tmp_path / "parts")]) == 0
    path = checkpoint.in_run(only_run_dir(tmp_path / "parts"))[-1]
    payload = checkpoint.load(path)
    for name in ("opt_g", "opt_d"):
        for group in payload[name]["param_groups"]:
            group.update(capturable=True, foreach=True)
    checkpoint.save(path, {k: v for k, v in payload.items() if k != "format"})
    assert main(["--resume", path, "--steps", "6"]) == 0
    a, b = final_state(only_run_dir(tmp_path / "whole")), final_state(only_run_dir(tmp_path / "parts"))
    for name in ("opt_g", "opt_d"):
        assert all(not g["capturable"] and not g["foreach"] for g in b[name]["param_groups"])
        for i, state in a[name]["state"].items():
            assert all(torch.equal(state[key], b[name]["state"][i][key]) for key in state), (name, i)


def test_a_cuda_graph_runs_checkpoint_resumes_on_the_cpu_with_the_cpus_backend(tmp_path):
    """The backend follows the resuming device unless given: a run begun under a CUDA-graph
    backend (the CUDA default) goes on eagerly on the CPU."""
    assert main([*TINY, "--steps", "2", "--out", str(tmp_path)]) == 0
    path = checkpoint.in_run(only_run_dir(tmp_path))[-1]
    payload = checkpoint.load(path)
    payload["options"]["backend"] = "compile-cudagraph"
    checkpoint.save(path, {k: v for k, v in payload.items() if k != "format"})
    assert main(["--resume", path, "--steps", "3"]) == 0
    assert final_state(only_run_dir(tmp_path))["options"]["backend"] == "eager"


def test_the_data_seed_is_apart_from_the_seed(tmp_path):
    identity = {}
    for name, seeds in (("a", ["--seed", "1"]), ("b", ["--seed", "2"]), ("c", ["--seed", "1", "--data-seed", "5"])):
        assert main([*TINY, *seeds, "--steps", "1", "--out", str(tmp_path / name)]) == 0
        identity[name] = final_state(only_run_dir(tmp_path / name))["data_identity"]
    assert identity["a"] == identity["b"] == "builtin-shapes:64:32:3:0"      # same data, other weights
    assert identity["c"] == "builtin-shapes:64:32:3:5"


def test_options_of_an_earlier_version_take_their_data_seed_from_the_seed():
    from began_fast.config import Options
    payload = torch.load(os.path.join(os.path.dirname(__file__), "data", "ckpt-v1-tiny.pt"), weights_only=False)
    saved = dict(payload["options"], seed=7)
    assert "data_seed" not in saved and Options.from_dict(saved).data_seed == 7
    assert Options.from_dict({**saved, "data_seed": 3}).data_seed == 3


def test_options_from_before_flip_keep_what_each_model_did():
    from began_fast.config import Options
    payload = torch.load(os.path.join(os.path.dirname(__file__), "data", "ckpt-v1-tiny.pt"), weights_only=False)
    saved = dict(payload["options"])
    assert "flip" not in saved and Options.from_dict(saved).flip          # BEGAN flipped
    assert not Options.from_dict({**saved, "model": "dfgan"}).flip          # DF-GAN never did
    assert not Options.from_dict({**saved, "flip": False}).flip


def test_no_flip_is_kept_in_the_options_and_on_resume(tmp_path):
    assert main([*TINY, "--no-flip", "--steps", "2", "--ckpt-every", "1", "--out", str(tmp_path)]) == 0
    run = only_run_dir(tmp_path)
    assert json.load(open(os.path.join(run, "options.json")))["flip"] is False
    assert main(["--resume", "auto", "--out", str(tmp_path), "--steps", "3"]) == 0
    assert final_state(run)["options"]["flip"] is False


CKPT_EVERY_2 = [*TINY, "--log-every", "1", "--ckpt-every", "2", "--sample-every", "100"]


def truncate(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])


def test_resume_auto_falls_back_past_an_unreadable_checkpoint(tmp_path):
    assert main([*CKPT_EVERY_2, "--steps", "8", "--out", str(tmp_path / "whole")]) == 0
    assert main([*CKPT_EVERY_2, "--steps", "4", "--out", str(tmp_path / "parts")]) == 0
    run = only_run_dir(tmp_path / "parts")
    truncate(os.path.join(run, "ckpt-00000004.pt"))        # a full disk or a copy cut short
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable checkpoint\(s\): .*ckpt-00000004\.pt"):
        assert main(["--resume", "auto", "--steps", "8", "--out", str(tmp_path / "parts")]) == 0
    assert [s["step"] for s in read_stats(run)] == list(range(1, 9))
    assert_same_final_state(only_run_dir(tmp_path / "whole"), run)
    assert checkpoint.load(os.path.join(run, "ckpt-00000004.pt"))["step"] == 4    # written again, whole


def test_a_named_unreadable_checkpoint_is_still_an_error(tmp_path, capsys):
    assert main([*CKPT_EVERY_2, "--steps", "4", "--out", str(tmp_path)]) == 0
    newest = os.path.join(only_run_dir(tmp_path), "ckpt-00000004.pt")
    truncate(newest)
    capsys.readouterr()
    assert main(["--resume", newest, "--out", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --resume {newest}: not a readable checkpoint (")


def test_resume_auto_with_no_readable_checkpoint_names_what_it_skipped(tmp_path, capsys):
    assert main([*CKPT_EVERY_2, "--steps", "2", "--out", str(tmp_path)]) == 0
    truncate(os.path.join(only_run_dir(tmp_path), "ckpt-00000002.pt"))
    capsys.readouterr()
    assert main(["--resume", "auto", "--out", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --resume auto: no readable checkpoint") and "ckpt-00000002.pt" in line


def test_resume_drops_log_rows_written_after_the_checkpoint(tmp_path):
    """A kill after step 5 leaves rows past the step-4 checkpoint and a torn line."""
    assert main([*CKPT_EVERY_2, "--steps", "8", "--out", str(tmp_path / "whole")]) == 0
    assert main([*CKPT_EVERY_2, "--steps", "5", "--out", str(tmp_path / "parts")]) == 0
    run = only_run_dir(tmp_path / "parts")
    os.remove(os.path.join(run, "ckpt-00000005.pt"))      # the kill came before the final checkpoint
    with open(os.path.join(run, "stats.jsonl"), "a") as f:
        f.write('{"step": 6, "ima')
    assert main(["--resume", "auto", "--steps", "8", "--out", str(tmp_path / "parts")]) == 0
    assert [s["step"] for s in read_stats(run)] == list(range(1, 9))
    assert_same_final_state(only_run_dir(tmp_path / "whole"), run)


@pytest.mark.parametrize("fails", ["ckpt-00000004", "samples-00000004", "stats"])
def test_a_full_disk_mid_run_is_a_one_line_error_and_loses_nothing(tmp_path, capsys, fails):
    args = [*TINY, "--log-every", "1", "--ckpt-every", "2", "--sample-every", "2", "--steps", "6"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    full = pytest.MonkeyPatch()
    writes = {"n": 0}

    def fourth_stats_line_or(path):     # stats.jsonl fills on its 4th line; the others on first write
        if fails == "stats" and path.endswith("stats.jsonl"):
            writes["n"] += 1
            return writes["n"] == 4
        return fails in path
    fill_disk(full, fourth_stats_line_or, room=10)
    capsys.readouterr()
    code = main([*args, "--out", str(tmp_path / "parts")])
    full.undo()
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and "Traceback" not in err and len(errors) == 1, err
    assert "No space left on device" in errors[0] and "ckpt-00000002.pt, is untouched" in errors[0]
    run = only_run_dir(tmp_path / "parts")
    assert not [name for name in os.listdir(run) if ".tmp" in name]
    assert checkpoint.load(os.path.join(run, "ckpt-00000002.pt"))["step"] == 2
    with open(os.path.join(run, "stats.jsonl")) as f:
        lines = f.read().splitlines()
    assert [json.loads(line)["step"] for line in lines[:3]] == [1, 2, 3]
    assert len(lines) <= 4               # and a torn 4th line, which the resume trims
    assert main(["--resume", "auto", "--out", str(tmp_path / "parts")]) == 0
    assert_same_final_state(only_run_dir(tmp_path / "whole"), run)


def test_a_full_disk_before_training_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    fill_disk(monkeypatch, lambda path: "options" in path)
    assert main([*TINY, "--steps", "2", "--out", str(tmp_path)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: could not write") and "options.json (No space left on device)" in line


def test_an_out_that_cannot_be_made_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    assert main([*TINY, "--steps", "2", "--out", str(tmp_path / "a-file" / "runs")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --out {tmp_path / 'a-file' / 'runs'}: cannot make a run folder there")
    assert (tmp_path / "a-file").read_text() == "not a folder"
