"""Data that stay on the host: batches gathered there (streaming.HostImages), the choice of
where the data live (placement.py), a shard read from the cache file, and training on
streamed data end to end: the same as on resident data, and resumed bit-exactly."""
import dataclasses
import os

import numpy as np
import pytest
import torch

from began_fast import image_cache, placement
from began_fast.config import OptionError, Options
from began_fast.data import DeviceImages, ImageSet, read_shard
from began_fast.models import build_networks
from began_fast.models.hooks import Model
from began_fast.step import new_state
from began_fast.streaming import HostImages
from began_fast.train import main
from tests.helpers import TINY, assert_same_final_state, only_run_dir, write_labelled_folder

CPU = torch.device("cpu")


def numbered_images(count, size=4):
    """Image n: every pixel n, but the left column 255: which image, and whether it was flipped."""
    images = np.repeat(np.arange(count, dtype=np.uint8), size * size).reshape(count, 1, size, size).copy()
    images[..., 0] = 255
    return images


@pytest.mark.parametrize("flip, rank, world", [(True, 0, 1), (False, 1, 2), (True, 2, 3)])
def test_streamed_batches_are_the_resident_ones_on_the_cpu(flip, rank, world):
    images = np.random.default_rng().integers(0, 256, (31, 3, 8, 8), dtype=np.uint8)
    vectors, counts = torch.randn(31, 3, 5), torch.randint(1, 4, (31,))
    resident = DeviceImages(images, CPU, rank, world, (vectors, counts), flip)
    streamed = HostImages(images, CPU, 6, rank, world, (vectors, counts), flip)
    torch.manual_seed(7)
    expected = [resident.sample(6) for _ in range(3)]
    torch.manual_seed(7)
    for batch in expected:
        streamed.stage()
        assert torch.equal(streamed.sample(6), batch)
    if not flip:            # DF-GAN's draws: an image and one of its captions, never flipped
        torch.manual_seed(8)
        expected = [resident.sample_with_sentences(6) for _ in range(3)]
        torch.manual_seed(8)
        for pair in expected:
            streamed.stage()
            assert all(torch.equal(a, b) for a, b in zip(streamed.sample_with_sentences(6), pair))


def test_several_batches_a_step_are_uniform_flipped_half_and_from_the_shard_only():
    """WGAN draws n_critic batches a step; streamed, they are drawn before the step, so the
    stream differs from the resident path's: the distribution is tested instead."""
    images, draws, batch, steps = numbered_images(40), 3, 8, 300
    streamed = HostImages(images, CPU, batch, rank=1, world=2, draws=draws)
    torch.manual_seed(0)
    seen, flipped = [], 0
    for _ in range(steps):
        streamed.stage()
        batches = [streamed.sample(batch) for _ in range(draws)]
        assert all(torch.equal(b, to_unit(streamed.staged[i])) for i, b in enumerate(batches))   # in turn
        for b in batches:
            pixels = ((b + 1) * 127.5).round().long()
            flipped += int((pixels[:, 0, 0, 0] != 255).sum())
            seen += pixels[:, 0, 0, 1].tolist()
    counts = np.bincount(seen, minlength=40)
    assert counts[0::2].sum() == 0                       # rank 1 of 2: the odd images only
    expected = steps * draws * batch / 20
    assert ((counts[1::2] - expected) ** 2 / expected).sum() < 60    # chi-square, 19 dof: p < 1e-5 to fail
    assert abs(flipped / len(seen) - 0.5) < 0.05


def to_unit(x):
    return x.float() / 127.5 - 1.0


def test_batches_drawn_ahead_are_taken_back_before_a_checkpoint():
    """On CUDA the next step's batches are drawn during this one; rewind() puts the generator
    back, so a run resumed from what a checkpoint saved draws the same batches."""
    images = numbered_images(50)

    def staged_after_steps(steps, resume_at=None):
        torch.manual_seed(3)
        data, out = HostImages(images, CPU, 4, ahead=True), []
        for step in range(steps):
            if step == resume_at:      # a checkpoint: rewind, save the generator; a new process resumes
                data.rewind()
                saved = torch.get_rng_state()
                torch.manual_seed(99)
                data = HostImages(images, CPU, 4, ahead=True)
                torch.set_rng_state(saved)
            data.stage()
            out.append(data.staged.clone())
            data.prefetch()
        return out
    whole = staged_after_steps(6)
    assert all(torch.equal(a, b) for a, b in zip(whole, staged_after_steps(6, resume_at=3)))
    assert not torch.equal(whole[0], whole[1])


@pytest.mark.parametrize("model", ["began", "dcgan", "gan", "wgan", "wgan-gp", "dfgan"])
def test_each_model_draws_as_many_real_batches_as_its_hook_says(model):
    opts = dataclasses.replace(Options.for_device("cpu", model=model), size=32, filters=4, latent=8, batch=2)
    hooks = Model(model)
    calls = []

    class Counting(DeviceImages):
        def sample(self, *args):
            calls.append(1)
            return super().sample(*args)

        def sample_with_sentences(self, *args):
            calls.append(1)
            return super().sample_with_sentences(*args)
    sentences = (torch.randn(8, 2, 256), torch.ones(8, dtype=torch.int64))
    G, D = build_networks(opts, CPU)
    state = new_state(G, D, Counting(np.zeros((8, 3, 32, 32), np.uint8), CPU, sentences=sentences), opts)
    hooks.train_step(state)
    assert len(calls) == hooks.real_batches(opts)


def test_a_shard_is_read_from_the_cache_file_a_block_at_a_time(tmp_path, monkeypatch):
    images = np.random.default_rng().integers(0, 256, (23, 3, 4, 4), dtype=np.uint8)
    path = str(tmp_path / "cache.npy")
    image_cache.save(path, images, np.arange(23), 23)
    mapped, _ = image_cache.read(path, (3, 4, 4), 23)
    monkeypatch.setattr(image_cache, "MOVE_BYTES", 3 * images[0].nbytes)    # blocks of a few rows
    for rank, world in ((0, 1), (1, 2), (2, 3)):
        shard = images[rank::world][:23 // world]
        assert torch.equal(read_shard(mapped, path, rank, world, CPU), torch.from_numpy(shard))
        assert torch.equal(read_shard(images, None, rank, world, CPU), torch.from_numpy(shard))


def test_auto_streams_what_does_not_fit_and_yes_refuses_it(monkeypatch):
    dataset = ImageSet(np.zeros((64, 3, 32, 32), np.uint8), "zeros")
    opts = dataclasses.replace(Options.for_device("cpu"), size=32, filters=4, latent=8, batch=4)
    assert isinstance(placement.place_data(dataset, opts, CPU), DeviceImages)
    notes = []
    monkeypatch.setattr(placement, "memory_bytes", lambda device: 100_000)     # the run's own need alone, about
    assert isinstance(placement.place_data(dataset, opts, CPU, note=notes.append), HostImages)
    assert "do not fit beside the run" in notes[0] and "host memory" in notes[0]
    assert isinstance(placement.place_data(dataset, dataclasses.replace(opts, data_on_device="no"), CPU), HostImages)
    with pytest.raises(OptionError, match="--data-on-device yes: .* use --data-on-device auto"):
        placement.place_data(dataset, dataclasses.replace(opts, data_on_device="yes"), CPU)


# ---------------------------------------------------------------------------
# End to end, on a small image folder mapped from its cache: streamed against resident, and
# a streamed run stopped and resumed.

STEPS = 8


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("streaming")
    write_labelled_folder(str(root / "img"), classes=2, per_class=10)
    common = [*TINY, "--data", str(root / "img"), "--cache-dir", str(root / "cache"), "--log-every", "2",
              "--ckpt-every", "100", "--sample-every", "100"]
    for name, place, steps in (("resident", "yes", STEPS), ("streamed", "no", STEPS), ("parts", "no", 5)):
        assert main([*common, "--data-on-device", place, "--steps", str(steps), "--out", str(root / name)]) == 0
    assert main(["--resume", "auto", "--steps", str(STEPS), "--out", str(root / "parts")]) == 0
    return {name: only_run_dir(root / name) for name in ("resident", "streamed", "parts")}


def test_training_on_streamed_data_is_training_on_resident_data(runs):
    assert_same_final_state(runs["resident"], runs["streamed"])


def test_a_streamed_run_resumes_bit_exactly(runs):
    assert_same_final_state(runs["streamed"], runs["parts"])
    assert os.path.exists(os.path.join(runs["parts"], "ckpt-00000005.pt"))


def test_the_compiled_step_reads_each_streamed_batch(monkeypatch):
    """Compile traces the step once, yet its batches must change every step: the host fills
    a buffer the compiled graph reads. A compiled run on streamed data (gathered ahead, as
    on CUDA) follows the eager one, within the compiled step's usual float differences."""
    from began_fast.data import builtin_shapes
    from began_fast.kernels import common as kernel_common
    from tests.test_step import params, run_steps, tiny_state

    def streamed():
        state = tiny_state(seed=3)
        state.data = HostImages(builtin_shapes(32, 32, seed=3).images, "cpu", batch=5, ahead=True)
        return state

    monkeypatch.setattr(kernel_common, "INTERPRET", False)
    torch._dynamo.reset()
    start = [p.detach().clone() for p in params(streamed())]
    eager = run_steps(streamed(), "eager", 6)
    with torch._inductor.config.patch(fallback_random=True):     # torch's RNG, as eager draws
        compiled = run_steps(streamed(), "compile", 6)
    moved = max((a - b).abs().max() for a, b in zip(params(eager), start))
    assert all((a - b).abs().max() <= 0.02 * moved for a, b in zip(params(eager), params(compiled)))
    assert torch.allclose(eager.stats, compiled.stats, rtol=1e-3)
    # The same graph fed one batch throughout would have trained on other images:
    frozen = streamed()
    frozen.data.stage()
    frozen.data.stage = lambda: None
    frozen.data.prefetch = lambda: None
    frozen = run_steps(frozen, "eager", 6)
    assert not torch.allclose(frozen.stats, eager.stats, rtol=1e-3)
