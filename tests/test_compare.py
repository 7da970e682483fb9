"""`python -m began_fast.compare`: the same budget for several models, one table."""
import json
import os

from began_fast.compare import collapse
from tests.helpers import run_cli, write_labelled_folder

SHARED = ["--size", "32", "--filters", "4", "--latent", "8", "--batch", "4", "--builtin-count", "64",
          "--device", "cpu", "--metrics-samples", "20", "--log-every", "2"]


def rows(*points):
    return [{"step": step, "modes": modes, "recognised": shapes} for step, modes, shapes in points]


def test_collapse_needs_shapes_of_few_classes_and_says_when():
    assert collapse(rows((10, 0.5, 0.9), (20, 0.6, 0.9))) == "no"
    assert collapse(rows((10, 0.0, 0.0), (20, 0.0, 0.1))) == "no"            # no shapes yet: not a collapse
    assert collapse(rows((10, 0.5, 0.9), (20, 1 / 24, 0.9), (30, 1 / 24, 0.95))) == "from step 20"
    assert collapse(rows((10, 1 / 24, 0.9), (20, 0.25, 0.8))) == "at step 10, recovered by 20"


def test_collapse_is_judged_by_the_data_s_own_class_count():
    ten = lambda *points: [{**r, "classes": 10} for r in rows(*points)]
    assert collapse(ten((10, 0.2, 0.9), (20, 0.2, 0.9))) == "from step 10"     # 2 of 10 digits
    assert collapse(ten((10, 0.3, 0.9))) == "no"
    assert collapse(rows((10, 0.2, 0.9))) == "no"          # a line without a count: the shapes' 24 (2/24 = 0.083)


def test_compare_on_a_labelled_folder_tabulates_its_class_metrics(tmp_path):
    write_labelled_folder(str(tmp_path / "images"), classes=3, per_class=12)
    out = tmp_path / "cmp"
    result = run_cli("began_fast.compare", "--images", "16", "--models", "began", "--out", out,
                     "--data", tmp_path / "images", "--", *SHARED, "--channels", "1", "--cache-dir", tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = json.loads((out / "comparison.json").read_text())
    assert row["classes"] == 3 and set(row["metrics"]) == set(row["ceiling"]) and len(row["metrics"]) == 8
    assert row["ceiling"]["modes"] == 1.0 and "images-32px" in row["run"]
    table = (out / "comparison.md").read_text()
    assert "| real data (ceiling) |" in table and "of 2 of the 3 classes or fewer" in table


def test_compare_refuses_a_folder_without_classes_before_training(tmp_path):
    write_labelled_folder(str(tmp_path / "flat"), classes=3, per_class=2)
    (tmp_path / "flat" / "c0" / "00.png").rename(tmp_path / "flat" / "stray.png")     # an image beside the classes
    for args, fragment in ((["--data", tmp_path / "flat"], "need a folder of class subfolders"),
                           (["--", "--data", tmp_path / "flat"], "need a folder of class subfolders"),
                           (["--data", tmp_path / "nowhere"], "no such folder"),
                           (["--data", tmp_path / "flat", "--", "--data", tmp_path / "flat"], "given twice")):
        result = run_cli("began_fast.compare", "--images", "8", "--models", "began", "--out", tmp_path / "cmp", *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr, result.stderr
    assert not (tmp_path / "cmp").exists()


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
