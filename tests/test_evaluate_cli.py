"""`python -m began_fast.evaluate` and `python -m began_fast.plot` through the real command
line, after a few TINY training steps."""
import importlib.util
import json
import os

import pytest
from PIL import Image

from began_fast import checkpoint
from began_fast.chart import COLOURS, PANEL_H, PANEL_W
from began_fast.train import main as train
from began_fast.metrics.names import GROUPS
from tests.helpers import TINY, only_run_dir, run_cli, write_labelled_folder
from tests.test_cli import assert_clean_error


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert train([*TINY, "--steps", "4", "--log-every", "2", "--g-ema-half-life", "10", "--out", str(out)]) == 0
    return only_run_dir(out)


def test_evaluate_prints_a_table_and_appends_a_json_line(run_dir, metrics_cache):
    for _ in range(2):
        result = run_cli("began_fast.evaluate", run_dir, "--samples", "100", "--metrics", "modes,kl,prdc",
                         "--cache-dir", metrics_cache, "--device", "cpu")
        assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "step 4, 100 samples of G_ema against builtin-shapes:64:32:3:0" in lines[0]    # G's average
    header = lines[1].split()
    assert header[:3] == ["metric", "samples", "real"] and "unit" in header
    rows = {line.split()[0]: line for line in lines[2:8]}
    assert set(rows) == {"modes", "kl", "precision", "recall", "density", "coverage"}
    assert "nats" in rows["kl"] and "share of 24" in rows["modes"]
    with open(os.path.join(run_dir, "evaluations.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert len(records) == 2 and records[0]["checkpoint"] == "ckpt-00000004.pt" and records[0]["generator"] == "G_ema"
    assert records[0]["values"] == records[1]["values"]                    # same seed, same z
    assert set(records[0]["values"]) == set(records[0]["ceiling"]) == set(rows)
    assert records[0]["ceiling"]["modes"] > 0.8 and records[0]["samples"] == 100   # 100: a few classes fall short


def test_evaluate_takes_a_checkpoint_file_too_and_raw_scores_g_itself(run_dir, metrics_cache):
    ckpt = checkpoint.in_run(run_dir)[-1]
    result = run_cli("began_fast.evaluate", ckpt, "--samples", "50", "--metrics", "recognised", "--raw",
                     "--cache-dir", metrics_cache, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "recognised" in result.stdout and "appended to" in result.stdout and "samples of G against" in result.stdout
    with open(os.path.join(run_dir, "evaluations.jsonl")) as f:
        assert json.loads(f.readlines()[-1])["generator"] == "G"


@pytest.mark.parametrize("args, fragment", [
    (["/no/such/ckpt.pt"], "no such file"),
    (["{empty}"], "no ckpt-*.pt in this folder"),
    (["{run}", "--metrics", "modes,sharpness"], "unknown metric 'sharpness'"),
    (["{run}", "--samples", "2"], "--samples 2: too few"),
    (["{run}", "--metrics", "fid"],
     "--inception-weights PATH" if importlib.util.find_spec("torch_fidelity") else "pip install"),
])
def test_bad_input_gives_one_line_error(run_dir, tmp_path, args, fragment):
    (tmp_path / "empty").mkdir()
    args = [a.format(run=run_dir, empty=tmp_path / "empty") for a in args]
    env_home = {"TORCH_HOME": str(tmp_path / "torch-home")}          # no cached Inception weights
    result = run_cli("began_fast.evaluate", *args, "--cache-dir", tmp_path / "cache", "--device", "cpu",
                     env=env_home)
    assert_clean_error(result, fragment)


def test_an_image_folder_run_has_no_shapes_metrics(tmp_path):
    from tests.test_data import write_image
    for i in range(3):
        write_image(str(tmp_path / "images" / f"{i}.png"), size=(40, 40), colour=(40 * i, 90, 200))
    out = tmp_path / "runs"
    assert train([*TINY, "--data", str(tmp_path / "images"), "--steps", "1", "--out", str(out),
                  "--cache-dir", str(tmp_path / "cache")]) == 0
    result = run_cli("began_fast.evaluate", only_run_dir(out), "--metrics", "modes", "--device", "cpu")
    assert_clean_error(result, "need the built-in shapes")


def test_a_labelled_folder_run_measures_its_classes_by_default(tmp_path):
    write_labelled_folder(str(tmp_path / "images"), classes=3, per_class=12)
    out, cache = tmp_path / "runs", str(tmp_path / "cache")
    at = TINY.index("--metrics")                                  # left out: the default is under test
    assert train([*TINY[:at], *TINY[at + 2:], "--data", str(tmp_path / "images"), "--channels", "1", "--steps", "2",
                  "--metrics-every", "2", "--log-every", "2", "--metrics-samples", "20", "--out", str(out),
                  "--cache-dir", cache]) == 0
    run = only_run_dir(out)
    with open(os.path.join(run, "metrics.jsonl")) as f:
        (line,) = [json.loads(text) for text in f]
    assert set(GROUPS["classes"]) <= set(line) and set(line["ceiling"]) == set(GROUPS["classes"])
    assert line["classes"] == 3 and line["ceiling"]["modes"] == 1.0
    result = run_cli("began_fast.evaluate", run, "--samples", "20", "--device", "cpu")    # its own --cache-dir
    assert result.returncode == 0, result.stderr
    rows = {row.split()[0]: row for row in result.stdout.splitlines()[2:10]}
    assert set(rows) == set(GROUPS["classes"]) and "share of 3" in rows["modes"]
    assert "the folder's classifier (3 classes): 100.0 % held-out accuracy" in result.stdout
    assert run_cli("began_fast.plot", run).returncode == 0 and os.path.exists(os.path.join(run, "plot.png"))


def test_plot_draws_every_series(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:     # as the trainer will write it
        for step, modes in ((2, 0.25), (4, 0.5)):
            f.write(json.dumps({"step": step, "images": step * 4, "modes": modes, "kl": 1.0 / step,
                                "seconds": 0.1, "ceiling": {"modes": 1.0, "kl": 0.01}}) + "\n")
    result = run_cli("began_fast.plot", run_dir)
    assert result.returncode == 0, result.stderr
    image = Image.open(os.path.join(run_dir, "plot.png")).convert("RGB")
    panels = 6 + 2                                # L(x), L(G(z)), L_D, k_t, M_global, lr; modes, kl
    assert image.size == (3 * PANEL_W, -(-panels // 3) * PANEL_H)
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16)}
    assert all(COLOURS[i] in colours for i in range(panels))       # every series drew its line


@pytest.mark.parametrize("content, fragment", [
    (None, "no stats.jsonl"),
    ("", "is empty"),
    ('{"step": 2, "images": 8}\n{"step": 4, "ima\n{"step": 6, "images": 24}\n', "line 2: not a JSON object"),
])
def test_plot_of_a_bad_run_folder_is_a_one_line_error(tmp_path, content, fragment):
    if content is not None:
        (tmp_path / "stats.jsonl").write_text(content)
    assert_clean_error(run_cli("began_fast.plot", tmp_path), fragment)
    assert not (tmp_path / "plot.png").exists()


def test_plot_leaves_out_a_torn_last_line(tmp_path):
    """What a kill in the middle of a stats line leaves: the plot draws the lines before it."""
    (tmp_path / "stats.jsonl").write_text('{"step": 2, "images": 8, "loss_real": 0.5}\n'
                                          '{"step": 4, "images": 16, "loss_real": 0.4}\n{"step": 6, "ima')
    result = run_cli("began_fast.plot", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "plot.png").exists()
