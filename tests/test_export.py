"""Exported generators: python -m began_fast.export, began_fast.load_generator, and sample
reading an export; the same images as the checkpoint's generator, and one-line errors for
tampered or missing files."""
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import began_fast
from began_fast.export import main as export_main
from began_fast.models import generator_from_checkpoint, sample_z
from began_fast.sample import main as sample_main
from began_fast.train import main as train_main
from tests.helpers import TINY, final_state, only_run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """model -> a 4-step run with generator averaging on, exported to its export/ folder."""
    folders = {}
    for model in ("began", "dcgan"):
        out = tmp_path_factory.mktemp(model)
        assert train_main([*TINY, "--model", model, "--steps", "4", "--g-ema-half-life", "10", "--out", str(out)]) == 0
        folders[model] = only_run_dir(out)
        assert export_main([folders[model]]) == 0
    return folders


@pytest.fixture
def run(runs):
    return runs["dcgan"]


@pytest.mark.parametrize("model", ["began", "dcgan"])
def test_an_export_draws_the_images_the_checkpoints_average_draws(runs, model):
    """Bit for bit on the CPU, for the same seed's z: the export, the checkpoint and the
    run folder through load_generator, and the checkpoint's G_ema run by hand."""
    run = runs[model]
    payload = final_state(run)
    exported = began_fast.load_generator(os.path.join(run, "export"))
    assert exported.averaged and exported.step == 4 and not exported.generator.training
    images = exported.sample(6, seed=3)
    assert images.shape == (6, 3, 32, 32)
    for other in (run, os.path.join(run, "ckpt-00000004.pt"), os.path.join(run, "export", "generator.json")):
        assert torch.equal(began_fast.load_generator(other).sample(6, seed=3), images), other
    G, prior = generator_from_checkpoint(payload, "cpu")
    z = sample_z(6, exported.latent, generator=torch.Generator().manual_seed(3), prior=prior)
    with torch.no_grad():
        assert torch.equal(G(z), images)
    raw = began_fast.load_generator(run, raw=True)
    assert not raw.averaged and not torch.equal(raw.sample(6, seed=3), images)


def test_a_raw_export_holds_g_itself(run, tmp_path):
    assert export_main([run, "--raw", "--out", str(tmp_path)]) == 0
    weights = load_file(str(tmp_path / "generator.safetensors"))
    description = json.load(open(tmp_path / "generator.json"))
    assert description["averaged"] is False and description["prior"] == "uniform"
    G = final_state(run)["G"]
    assert weights.keys() == G.keys() and all(torch.equal(weights[k], G[k]) for k in G)


def tampered(run, tmp_path, **changes):
    """A copy of the run's export with `changes` made to its JSON."""
    copy = tmp_path / "copy"
    shutil.copytree(os.path.join(run, "export"), copy)
    description = json.load(open(copy / "generator.json"))
    json.dump({**description, **changes}, open(copy / "generator.json", "w"))
    return copy


@pytest.mark.parametrize("changes, fragment", [
    (dict(model="stylegan"), "unknown model 'stylegan'"),
    (dict(size=33), "size 33: must be a power of two"),
    (dict(size="32"), "'size' must be a JSON int"),
    (dict(filters=8), "does not fit the networks"),            # the weights then have the wrong shapes
])
def test_a_tampered_export_is_a_one_line_error(run, tmp_path, changes, fragment, capsys):
    copy = tampered(run, tmp_path, **changes)
    with pytest.raises(began_fast.GeneratorFileError, match=fragment) as error:
        began_fast.load_generator(copy)
    assert "\n" not in str(error.value)
    assert sample_main([str(copy), "--out", str(tmp_path / "grids")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err


def test_weights_of_the_wrong_shapes_are_a_one_line_error(run, tmp_path):
    copy = tampered(run, tmp_path)
    weights = load_file(str(copy / "generator.safetensors"))
    name = next(iter(weights))
    save_file({**weights, name: torch.zeros(2, 2)}, str(copy / "generator.safetensors"))
    with pytest.raises(began_fast.GeneratorFileError, match=f"{name} is \\[2, 2\\]"):
        began_fast.load_generator(copy / "generator.safetensors")
    (copy / "generator.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(began_fast.GeneratorFileError, match="not a readable safetensors file"):
        began_fast.load_generator(copy)


def test_a_missing_path_or_an_unwritable_out_is_a_one_line_error(run, tmp_path, capsys):
    with pytest.raises(began_fast.GeneratorFileError, match="no such file"):
        began_fast.load_generator(tmp_path / "nothing.safetensors")
    assert export_main([str(tmp_path / "nothing.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    (tmp_path / "file").write_text("")
    assert export_main([run, "--out", str(tmp_path / "file" / "export")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --out")
    with pytest.raises(began_fast.GeneratorFileError, match="neither an export"):
        began_fast.load_generator(tmp_path)
