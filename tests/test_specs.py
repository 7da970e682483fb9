"""The model specs: the docs' model tables agree with them, every model's hooks and stats
line match its spec, and a new model trains from its files and one spec alone."""
import json
import os
import re
import sys
import types

import pytest
import torch

from began_fast import plot
from began_fast.config import MODEL_OPTIONS, MODELS, build_parser
from began_fast.models.hooks import Model
from began_fast.specs import SPECS
from tests.helpers import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRIORS = {"U[-1, 1]": "uniform", "N(0, 1)": "normal"}


def table_rows(page: str, header: str) -> list:
    """The cells of each row of the table under the header line that starts with `header`."""
    lines = open(os.path.join(ROOT, page), encoding="utf-8").read().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def model_of(cell: str) -> str:
    return re.match(r"`([^`]+)`", cell).group(1)


def test_the_readme_table_lists_every_model_with_a_command_that_names_it():
    rows = table_rows("README.md", "| model | paper | command |")
    assert [model_of(r[0]) for r in rows] == list(MODELS)
    for row in rows:
        model = model_of(row[0])
        assert row[2].startswith("`python -m began_fast.train")
        assert f"--model {model}" in row[2] or model == "began"
        assert SPECS[model].paper.split(",")[0].split(" et al.")[0] in row[1]


def test_the_models_doc_table_agrees_with_the_specs():
    rows = table_rows("docs/models.md", "| `--model` |")
    assert [model_of(r[0]) for r in rows] == list(MODELS)
    for row in rows:
        spec = SPECS[model_of(row[0])]
        assert f"`{spec.defaults['arch']}`" in row[2] or row[2] == f"`{spec.defaults['arch']}`"
        prior = next((p for text, p in PRIORS.items() if row[4].startswith(text)), None)
        assert prior in (None, spec.prior), row
        for option in (o for o, readers in MODEL_OPTIONS.items() if spec.name not in readers):
            assert f"--{option.replace('_', '-')}`" not in row[1], (spec.name, option)


def test_every_option_a_spec_names_is_a_real_option_and_every_default_too():
    flags = {a.dest for a in build_parser()._actions}
    for spec in SPECS.values():
        assert set(spec.options) <= flags and set(spec.defaults) <= flags, spec.name
        assert spec.defaults["arch"] in spec.archs


@pytest.mark.parametrize("model", MODELS)
def test_the_stats_line_holds_the_specs_statistics(model):
    """The stats line the hooks write has exactly the spec's statistics (BEGAN's latent
    error and pull-away term only with their options on), so the plot and the docs show
    what is logged."""
    m = Model(model)
    means = {name: 1.0 for name in m.stats_fields[1:]}
    state = types.SimpleNamespace(buffers={"k": torch.zeros(())},
                                  opts=types.SimpleNamespace(latent_constraint=1.0, pull_away=1.0))
    fields = m.log_fields(means, state)
    assert list(fields) == [s.key for s in m.spec.stats]
    assert isinstance(m.progress(fields), str)
    assert {s.key for s in m.spec.stats} <= {s.key for s in plot.STATS}


def test_a_new_model_trains_from_its_files_and_one_spec(tmp_path):
    """tests/toy_model.py, the example of docs/architecture.md: registered, it is a --model
    like any other: validated, trained, logged, checkpointed and plotted."""
    code = ("import sys, runpy; import tests.toy_model; "
            "sys.argv[0] = 'began_fast.train'; runpy.run_module('began_fast.train', run_name='__main__')")
    out = tmp_path / "runs"
    args = ["--model", "lsgan", *TINY, "--steps", "6", "--log-every", "3", "--sample-every", "6",
            "--ckpt-every", "6", "--out", str(out)]
    import subprocess
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    (run,) = [out / d for d in os.listdir(out)]
    stats = [json.loads(line) for line in open(run / "stats.jsonl")]
    assert [s["step"] for s in stats] == [3, 6]
    assert {"loss_d", "loss_g", "lr"} <= set(stats[-1])
    assert {"plot.png", "samples-00000006.png", "ckpt-00000006.pt"} <= set(os.listdir(run))


def test_the_architecture_doc_shows_the_tested_example():
    """The example in docs/architecture.md is tests/toy_model.py's, line for line."""
    doc = open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8").read()
    source = open(os.path.join(ROOT, "tests", "toy_model.py"), encoding="utf-8").read()
    for part in re.findall(r"# --- (?:objective|spec): [^\n]*\n(.*?)(?=\n# --- )", source, re.S):
        indented = "\n".join("    " + line if line else "" for line in part.strip("\n").split("\n"))
        assert indented in doc
