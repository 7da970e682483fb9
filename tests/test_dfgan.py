"""DF-GAN: the DF-Block's conditioning, the hinge loss and MA-GP against hand computations,
the caption-faithfulness metric, training from the command line (built-in captions and a
folder of captioned images), bit-exact resume, sampling from captions, bad caption data."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from began_fast import checkpoint
from began_fast.config import Options
from began_fast.data import DeviceImages, builtin_shapes
from began_fast.metrics.cache import shapes_classifier
from began_fast.metrics.faithfulness import faithfulness
from began_fast.metrics.readout import read
from began_fast.models import build_networks
from began_fast.models.dfgan import discriminator_loss, real_scores
from began_fast.models.dfgan_nets import SENTENCE, DFBlock, Generator
from began_fast.step import new_state
from began_fast.text.shape_captions import attributes
from began_fast.evaluate import main as evaluate_main
from began_fast import load_generator
from began_fast.export import main as export_main
from began_fast.sample import main as sample_main
from began_fast.train import main
from tests.helpers import TINY, assert_same_final_state, only_run_dir, read_stats, run_cli
from tests.test_distributed import torchrun

# DF-GAN on the built-in captions; the text encoder is pre-trained by the first run and cached.
DFGAN = [*TINY, "--model", "dfgan", "--latent", "8", "--builtin-count", "60"]


@pytest.fixture
def cache(metrics_cache):
    """The session's cache folder: the shapes classifier, and the text encoder after the first run."""
    return metrics_cache


def sample(*args) -> int:
    return sample_main([str(a) for a in args])


def tiny_state(batch=4, seed=0):
    torch.manual_seed(seed)
    opts = Options.for_device("cpu", model="dfgan", size=32, filters=4, latent=8, batch=batch)
    G, D = build_networks(opts, torch.device("cpu"))
    images = builtin_shapes(16, 32, seed=seed).images
    sentences = (torch.randn(16, 2, SENTENCE), torch.full((16,), 2))
    return new_state(G, D, DeviceImages(images, torch.device("cpu"), sentences=sentences), opts)


def test_the_df_block_is_conditioned_on_the_sentence():
    torch.manual_seed(0)
    block = DFBlock(6)
    for mlp in (block.first.scale, block.first.shift, block.second.scale, block.second.shift):
        torch.nn.init.normal_(mlp[2].weight)       # away from the identity it starts as
    x, e = torch.randn(3, 6, 4, 4), torch.randn(3, SENTENCE)
    assert torch.equal(block(x, e), block(x, e.clone()))
    changed = block(x, torch.cat([e[:1], torch.randn(2, SENTENCE)]))
    assert torch.equal(changed[0], block(x, e)[0]) and not torch.allclose(changed[1:], block(x, e)[1:])


def test_the_generator_starts_as_identity_affines_and_its_input_is_noise_then_sentence():
    torch.manual_seed(0)
    G = Generator(32, filters=4, latent=8)
    z, e = torch.randn(2, 8), torch.randn(2, SENTENCE)
    a = G(torch.cat([z, e], 1))
    assert a.shape == (2, 3, 32, 32) and a.abs().max() < 1
    assert torch.equal(a, G(torch.cat([z, torch.randn(2, SENTENCE)], 1)))   # identity affines ignore e
    torch.nn.init.normal_(G.blocks[0].fuse1.first.shift[2].weight)
    assert not torch.allclose(G(torch.cat([z, e], 1)), G(torch.cat([z, e.flip(0)], 1)))


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_dfgan_networks_at_every_size(size):
    torch.manual_seed(0)
    G = Generator(size, filters=2, latent=8)
    D = build_networks(Options.for_device("cpu", model="dfgan", size=size, filters=2, latent=8), "cpu")[1]
    images = G(torch.randn(2, 8 + SENTENCE))
    assert images.shape == (2, 3, size, size) and D(images, torch.randn(2, SENTENCE)).shape == (2,)


def test_hinge_loss_and_matching_aware_penalty_equal_a_hand_computation():
    """Per sample, with autograd on one sample at a time: D's scores of matched and
    mismatched (sentences rolled by one) pairs, and k (||grad_x|| + ||grad_e||)^p, k 2, p 6."""
    state = tiny_state()
    real, e = state.data.sample_with_sentences(4)
    matched, mismatched, penalty = real_scores(state, real, e)
    terms = []
    for i in range(4):
        x_i, e_i = real[i:i + 1].clone().requires_grad_(True), e[i:i + 1].clone().requires_grad_(True)
        score = state.D(x_i, e_i)
        assert score.item() == pytest.approx(matched[i].item(), rel=1e-5, abs=1e-6)
        assert state.D(real[i:i + 1], e[i - 1:i] if i else e[-1:]).item() == pytest.approx(mismatched[i].item(),
                                                                                          rel=1e-5, abs=1e-6)
        gx, ge = torch.autograd.grad(score.sum(), (x_i, e_i))
        terms.append(2.0 * (gx.norm().item() + ge.norm().item()) ** 6)
    assert penalty.item() == pytest.approx(sum(terms) / 4, rel=1e-4)
    fake = torch.tensor([0.5, -2.0, 1.5, -0.5])
    m, mm = torch.tensor([2.0, 0.5, -1.0, 0.0]), torch.tensor([-3.0, 0.2, 0.0, -0.5])
    hand = np.mean([max(0, 1 - v) for v in m.tolist()]) + (np.mean([max(0, 1 + v) for v in fake.tolist()])
                                                           + np.mean([max(0, 1 + v) for v in mm.tolist()])) / 2
    assert discriminator_loss(m, fake, mm, torch.tensor(0.25)).item() == pytest.approx(hand + 0.25)
    (grad,) = torch.autograd.grad(penalty, next(state.D.parameters()))        # the penalty keeps its graph
    assert grad.abs().sum() > 0


def test_the_step_draws_images_with_their_own_captions_and_no_flips():
    images = builtin_shapes(8, 32, seed=1).images
    sentences = (torch.arange(8.0)[:, None, None].expand(8, 3, 4).clone() + torch.arange(3.0)[None, :, None] / 10,
                 torch.tensor([1, 2, 3, 1, 2, 3, 1, 2]))
    data = DeviceImages(images, torch.device("cpu"), sentences=sentences)
    torch.manual_seed(0)
    x, e = data.sample_with_sentences(200)
    image = e[:, 0].floor().long()                       # which image's sentences were drawn
    caption = ((e[:, 0] - image) * 10).round().long()     # and which of its captions
    assert (caption < sentences[1][image]).all() and set(caption.tolist()) == {0, 1, 2}
    real = torch.from_numpy(images).float() / 127.5 - 1
    assert torch.equal(x, real[image])                   # its own image, never flipped


def test_faithfulness_of_real_images_is_high_and_of_shuffled_captions_low(metrics_cache):
    classifier, _ = shapes_classifier(32, 3, metrics_cache, torch.device("cpu"))
    data = builtin_shapes(400, 32, seed=5)
    wanted = attributes(data.labels)
    scores = faithfulness(read(classifier, torch.from_numpy(data.images), "cpu", 200), wanted)
    assert scores["faithful_colour"] > 0.95 and scores["faithful_shape"] > 0.9 and scores["faithful"] > 0.6
    assert scores["chance"] < 0.05 and scores["chance_colour"] < 0.4
    order = np.random.default_rng(0).permutation(400)                 # images that ignore their captions
    ignoring = faithfulness(read(classifier, torch.from_numpy(data.images[order]), "cpu", 200), wanted)
    assert ignoring["faithful"] < 0.05 and ignoring["faithful_colour"] < 0.4


def test_dfgan_trains_resumes_bit_exact_samples_from_captions_and_is_evaluated(tmp_path, cache, capsys):
    """With generator averaging on; its export carries the text encoder and draws as the checkpoint."""
    common = [*DFGAN, "--cache-dir", cache, "--log-every", "2", "--ckpt-every", "100", "--sample-every", "3",
              "--g-ema-half-life", "10"]
    assert main([*common, "--steps", "6", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--steps", "3", "--out", str(tmp_path / "parts")]) == 0
    assert main(["--resume", "auto", "--steps", "6", "--out", str(tmp_path / "parts")]) == 0
    whole, parts = only_run_dir(tmp_path / "whole"), only_run_dir(tmp_path / "parts")
    assert_same_final_state(whole, parts)
    assert {"loss_d", "loss_g", "d_real", "d_fake", "d_mismatch", "penalty"} <= set(read_stats(whole)[0])
    ckpt = checkpoint.in_run(whole)[-1]
    assert checkpoint.load(ckpt)["text"]["vocabulary"]          # the checkpoint carries its text encoder
    grid = Image.open(os.path.join(whole, "samples-00000006.png"))
    assert grid.width > grid.height                             # the captions written beside the rows
    out = str(tmp_path / "drawn")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="unknown word.*zebra"):
        assert sample(ckpt, "--caption", "a large blue disc in the centre", "--caption", "a small red zebra at the top",
                      "--count", "4", "--out", out) == 0
    assert sorted(os.listdir(out)) == ["caption-01.png", "caption-02.png", "captions.png"]
    assert sample(ckpt, "--caption", "a zebra", "--strict", "--out", out) == 2
    assert "zebra" in capsys.readouterr().err
    assert sample(ckpt, "--out", out) == 2 and "--caption" in capsys.readouterr().err
    assert evaluate_main([whole, "--samples", "20", "--metrics", "captions", "--cache-dir", cache]) == 0
    assert "faithful_position" in capsys.readouterr().out
    assert export_main([ckpt, "--out", str(tmp_path / "export")]) == 0
    caption = "a large blue disc in the centre"
    exported = load_generator(tmp_path / "export").sample(3, seed=1, captions=caption)
    assert torch.equal(exported, load_generator(ckpt).sample(3, seed=1, captions=caption))
    assert not torch.equal(exported, load_generator(ckpt).sample(3, seed=1, captions="a small red ring at the top"))


def test_dfgan_scores_caption_faithfulness_during_training(tmp_path, cache):
    args = [*DFGAN, "--cache-dir", cache, "--steps", "2", "--log-every", "2", "--metrics", "captions,modes",
            "--metrics-every", "2", "--metrics-samples", "40", "--out", str(tmp_path)]
    assert main(args) == 0
    with open(os.path.join(only_run_dir(tmp_path), "metrics.jsonl")) as f:
        line = json.loads(f.readline())
    assert {"faithful", "faithful_colour", "chance", "chance_position", "modes"} <= set(line)
    assert line["ceiling"]["faithful_colour"] > 0.9 and 0 <= line["faithful"] <= 1


def captioned_folder(root, count=24, caption=True):
    rng = np.random.default_rng(0)
    os.makedirs(root, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(os.path.join(root, f"{i}.png"))
        if caption:
            with open(os.path.join(root, f"{i}.txt"), "w") as f:
                f.write(f"a photo of thing {i % 3}\nthing {i % 3} in a picture\n")
    return root


def test_dfgan_trains_on_a_folder_of_captioned_images(tmp_path, cache):
    folder = captioned_folder(str(tmp_path / "images"))
    result = run_cli("began_fast.train", *TINY, "--model", "dfgan", "--data", folder, "--cache-dir", cache,
                     "--steps", "2", "--log-every", "1", "--out", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    assert [s["step"] for s in read_stats(only_run_dir(tmp_path / "runs"))] == [1, 2]


def test_a_folder_without_captions_is_a_one_line_error(tmp_path, cache):
    folder = captioned_folder(str(tmp_path / "images"), caption=False)
    result = run_cli("began_fast.train", *TINY, "--model", "dfgan", "--data", folder, "--cache-dir", cache,
                     "--steps", "2", "--out", tmp_path / "runs")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and ".txt" in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--model", "dfgan", "--arch", "dcgan"], "DF-GAN needs its sentence-conditioned networks"),
    (["--model", "began", "--arch", "dfgan"], "BEGAN's objective needs an auto-encoder D"),
    (["--model", "dfgan", "--vocabulary", "v.json"], "--vocabulary goes with --text-encoder"),
    (["--model", "began", "--text-encoder", "t.pt"], "--text-encoder applies to --model dfgan only"),
    (["--model", "dfgan", "--text-encoder", "missing.pt"], "missing.pt: no such file"),
])
def test_impossible_dfgan_options_are_refused(tmp_path, args, fragment, capsys):
    assert main([*TINY, "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and fragment in err, err


def test_dfgan_under_torchrun_pretrains_once_and_counts_the_global_batch(tmp_path, cache):
    result = torchrun("--model", "dfgan", *TINY, "--cache-dir", cache, "--steps", "4", "--log-every", "2",
                      "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path)
    assert [s["images"] for s in read_stats(run)] == [2 * 4 * 2, 4 * 4 * 2]      # steps x batch x processes
    assert "text" in checkpoint.load(checkpoint.in_run(run)[-1])
