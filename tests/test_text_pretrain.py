"""DAMSM pre-training on the built-in shapes: matched pairs end up above mismatched ones;
the caller's random state is untouched; prepare_text caches the result and reuses it."""
import warnings

import pytest
import torch

from began_fast.data import builtin_shapes, to_signed_unit
from began_fast.text import prepare, store
from began_fast.text.damsm import match_scores
from began_fast.text.pretrain import Settings, split
from began_fast.text.prepare import prepare_text

SMALL = Settings(epochs=10, batch=32, embedding=32, sentence=64, width=8, lr=3e-3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("text-cache"))
    data = builtin_shapes(400, 32, seed=3)
    before = torch.get_rng_state()
    text = prepare_text(data, cache, settings=SMALL)
    after = torch.get_rng_state()
    return data, text, cache, torch.equal(before, after)


def test_matched_pairs_score_above_mismatched_ones(trained):
    data, text, _, _ = trained
    _, held = split(len(data.images), SMALL)
    with torch.no_grad():
        images = text.image_encoder(to_signed_unit(torch.from_numpy(data.images[held])))[1]
    sentences = text.encoder.encode([text.captions.texts[i][0] for i in held])
    scores = match_scores(images, sentences)
    classes = torch.from_numpy(prepare.captioned(data).classes[held])
    other = classes[:, None] != classes[None, :]
    assert scores.diagonal().mean() > scores[other].mean() + 0.2
    assert (scores.diagonal()[:, None] > scores).where(other, True).float().mean() > 0.8
    report = text.report
    assert report["held_out_images"] == 40 and report["candidates"] == 40
    assert report["accuracy_other_classes"] > 0.2            # chance: 1 in 40
    assert report["losses"][-1] < report["losses"][0] / 2


def test_pretraining_leaves_the_random_state_alone(trained):
    assert trained[3]


def test_the_cached_encoder_is_reused(trained, monkeypatch):
    data, text, cache, _ = trained
    monkeypatch.setattr(prepare, "pretrain", lambda *a, **k: pytest.fail("pre-trained again"))
    again = prepare_text(data, cache, settings=SMALL)
    assert again.path == text.path and again.report == text.report
    caption = ["a small red ring near the top left"]
    assert torch.equal(again.encoder.encode(caption), text.encoder.encode(caption))


def test_a_damaged_cache_is_trained_again_with_a_warning(tmp_path):
    data = builtin_shapes(40, 32, seed=4)
    tiny = Settings(epochs=1, batch=8, embedding=8, sentence=8, width=4)
    first = prepare_text(data, str(tmp_path), settings=tiny)
    with open(first.path, "r+b") as f:
        f.truncate(100)
    with pytest.warns(UserWarning, match="cached text encoder is unusable.*pre-training again"):
        again = prepare_text(data, str(tmp_path), settings=tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.load(again.path)


def test_pretraining_is_deterministic_from_the_seed(tmp_path):
    data = builtin_shapes(40, 32, seed=4)
    tiny = Settings(epochs=2, batch=8, embedding=8, sentence=8, width=4)
    runs = [prepare_text(data, str(tmp_path / name), settings=tiny) for name in ("a", "b")]
    caption = ["a big blue disc"]
    assert torch.equal(runs[0].encoder.encode(caption), runs[1].encoder.encode(caption))
    assert runs[0].report["losses"] == runs[1].report["losses"]


def test_a_step_draws_each_images_own_caption_vectors(trained):
    _, text, _, _ = trained
    table = text.encoder.table(text.captions)
    assert table.shape == (400, 5, 64)
    i = torch.tensor([0, 7, 7, 399])
    e = table[i, text.captions.pick(i)]
    for row, image in zip(e, i.tolist()):
        own = text.encoder.encode(text.captions.texts[image])
        assert torch.isclose(own, row, atol=1e-5).all(1).any()


def test_an_encoder_file_given_is_used_as_it_is(trained, tmp_path, monkeypatch):
    data, text, _, _ = trained
    monkeypatch.setattr(prepare, "pretrain", lambda *a, **k: pytest.fail("pre-trained"))
    given = prepare_text(data, str(tmp_path), encoder_file=text.path)
    assert given.path == text.path and given.report == text.report and given.image_encoder is not None
    state = {n.replace("embedding.", "encoder."): v for n, v in text.encoder.model.state_dict().items()}
    torch.save(state, tmp_path / "text_encoder.pth")
    text.encoder.vocabulary.save(str(tmp_path / "vocabulary.json"))
    attngan = prepare_text(data, str(tmp_path), encoder_file=str(tmp_path / "text_encoder.pth"),
                           vocabulary_file=str(tmp_path / "vocabulary.json"))
    assert attngan.image_encoder is None and attngan.report == {}
    caption = ["a big blue disc"]
    assert torch.equal(attngan.encoder.encode(caption), text.encoder.encode(caption))
    assert not (tmp_path / "text").exists()                 # nothing trained, nothing cached
