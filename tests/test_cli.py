"""Bad input through the real command line: a one-line error, exit code 2, no traceback."""
import argparse

import pytest
import torch.distributed.run

from began_fast.config import build_parser
from tests.helpers import TINY, run_cli


def assert_clean_error(result, fragment):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert fragment in lines[0]


def make_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def make_unreadable(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png")
    (folder / "b.jpg").write_bytes(b"")
    return folder


def under_a_file(tmp_path):
    (tmp_path / "a-file").write_text("")
    return tmp_path / "a-file" / "runs"


@pytest.mark.parametrize("args, fragment", [
    (["--data", "/no/such/folder"], "no such folder"),
    (["--data", make_empty], "no images found"),
    (["--data", make_unreadable], "could be read"),
    (["--size", "48"], "--size 48"),
    (["--size", "16"], "--size 16"),
    (["--batch", "0"], "--batch 0"),
    (["--gamma", "1.5"], "--gamma 1.5"),
    (["--gamma", "-0.1"], "--gamma -0.1"),
    (["--lr", "0"], "--lr 0"),
    (["--backend", "cudagraph"], "needs a CUDA device"),
    (["--resume", "/no/such/ckpt.pt"], "no such file"),
    (["--seed", "-1"], "--seed -1"),
    (["--lr", "inf"], "--lr inf: must be positive and finite"),
    (["--filters", "2000000"], "--filters 2000000: must be from 1 to"),
    (["--builtin-count", "1000000000000"], "the built-in images need"),      # petabytes of shapes
    (["--out", under_a_file, "--steps", "1"], "cannot make a run folder"),
    (["--data", "/no/such\nfolder"], "--data /no/such\\nfolder: no such folder"),    # still one line
    (["--model", "dfgan", "--flip"], "captions say left and right"),
])
def test_bad_input_gives_one_line_error(tmp_path, args, fragment):
    args = [a(tmp_path) if callable(a) else a for a in args]
    result = run_cli("began_fast.train", *TINY, "--out", tmp_path / "runs", *args)
    assert_clean_error(result, fragment)


def test_resume_from_a_file_that_is_not_a_checkpoint(tmp_path):
    fake = tmp_path / "ckpt.pt"
    fake.write_text("hello")
    assert_clean_error(run_cli("began_fast.train", "--resume", fake, "--out", tmp_path), "not a readable checkpoint")


def test_argparse_errors_are_one_line_too(tmp_path):
    result = run_cli("began_fast.train", "--batch", "many")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "invalid int value" in result.stderr


def test_help_gives_units_and_defaults():
    text = build_parser().format_help()
    for flag in ("--data", "--out", "--size", "--filters", "--latent", "--channels", "--batch", "--steps",
                 "--lr", "--gamma", "--lambda-k", "--seed", "--data-seed", "--device", "--log-every", "--sample-every",
                 "--ckpt-every", "--resume", "--lr-patience", "--lr-floor", "--backend", "--kernels",
                 "--precision"):
        assert flag in text
    assert "pixels" in text and "default" in text


def test_no_flag_is_a_prefix_of_a_torchrun_option():
    ours = [s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")]
    theirs = [s for a in torch.distributed.run.get_args_parser()._actions
              for s in a.option_strings if s.startswith("--")]
    clashes = [(o, t) for o in ours for t in theirs if t.startswith(o)]
    assert clashes == [("--help", "--help")]


def test_argparse_errors_are_exactly_one_line(tmp_path):
    assert_clean_error(run_cli("began_fast.train", "--steps", "1e3"), "argument --steps: invalid int value")
    assert_clean_error(run_cli("began_fast.sample", "--count", "x"), "argument --count: invalid int value")


def test_resume_from_a_checkpoint_crafted_to_run_code_is_refused(tmp_path):
    from tests.test_checkpoint import crafted, torch_save
    path, marker = crafted(tmp_path, torch_save)
    assert_clean_error(run_cli("began_fast.train", "--resume", path, "--out", tmp_path), "refused")
    assert_clean_error(run_cli("began_fast.sample", path), "refused")
    assert not marker.exists()
