"""`python -m began_fast.compare`: the same budget for several models, one table."""
import json
import os

from began_fast.compare import collapse
from tests.helpers import run_cli

SHARED = ["--size", "32", "--filters", "4", "--latent", "8", "--batch", "4", "--builtin-count", "64",
          "--device", "cpu", "--metrics-samples", "20", "--log-every", "2"]


def rows(*points):
    return [{"step": step, "modes": modes, "recognised": shapes} for step, modes, shapes in points]


def test_collapse_needs_shapes_of_few_classes_and_says_when():
    assert collapse(rows((10, 0.5, 0.9), (20, 0.6, 0.9))) == "no"
    assert collapse(rows((10, 0.0, 0.0), (20, 0.0, 0.1))) == "no"            # no shapes yet: not a collapse
    assert collapse(rows((10, 0.5, 0.9), (20, 1 / 24, 0.9), (30, 1 / 24, 0.95))) == "from step 20"
    assert collapse(rows((10, 1 / 24, 0.9), (20, 0.25, 0.8))) == "at step 10, recovered by 20"


def test_compare_trains_each_model_and_writes_one_table(tmp_path, metrics_cache):
    out = tmp_path / "cmp"
    args = ["--images", "32", "--models", "began,gan", "--out", out, "--", *SHARED, "--cache-dir", metrics_cache]
    first = run_cli("began_fast.compare", *args)
    assert first.returncode == 0, first.stderr[-2000:]
    table = (out / "comparison.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:5]] == ["began", "gan", "real data (ceiling)"]
    results = json.loads((out / "comparison.json").read_text())
    assert [(r["model"], r["images"], r["steps"]) for r in results] == [("began", 32, 8), ("gan", 32, 8)]
    assert all(set(r["metrics"]) == set(r["ceiling"]) and len(r["metrics"]) == 8 for r in results)
    assert {"samples-began.png", "samples-gan.png"} <= set(os.listdir(out))
    again = run_cli("began_fast.compare", *args)           # finished runs are taken as they are
    assert again.returncode == 0 and json.loads((out / "comparison.json").read_text()) == results


def test_unknown_models_and_missing_budgets_are_one_line_errors(tmp_path):
    for args, fragment in ((["--images", "8", "--models", "began,stylegan"], "unknown stylegan"),
                           (["--models", "began"], "one of the arguments --images --seconds is required")):
        result = run_cli("began_fast.compare", *args, "--out", tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr
