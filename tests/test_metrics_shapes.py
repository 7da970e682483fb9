"""The built-in shapes' classifier and the evaluator: real data scores near its ceiling,
a collapsed or shifted generator does not, and caches are built once."""
import numpy as np
import pytest
import torch

from began_fast.data import ImageSet, builtin_backgrounds, builtin_shapes, to_signed_unit
from began_fast.metrics import cache
from began_fast.metrics.classifier import NONE
from began_fast.metrics.evaluate import Evaluator, evaluate, held_out_images
from began_fast.metrics.names import MetricError
from began_fast.metrics.readout import read

SAMPLES = 500


@pytest.fixture(scope="module")
def data():
    return builtin_shapes(2000, 32, 3, seed=0)


@pytest.fixture(scope="module")
def evaluator(data, metrics_cache):
    return Evaluator(data, "shapes", samples=SAMPLES, cache_dir=metrics_cache)


def real_images(count, seed):
    return torch.from_numpy(builtin_shapes(count, 32, 3, seed).images)


def test_the_classifier_reaches_its_stated_held_out_accuracy(metrics_cache):
    _, report = cache.shapes_classifier(32, 3, metrics_cache, torch.device("cpu"))
    # docs/results.md: 99.8 % of held-out shapes and shapeless images, every shapeless one.
    assert report["class"] >= 0.99 and report["none"] >= 0.99
    assert report["size"] >= 0.85 and report["position"] >= 0.9


def test_the_classifier_says_no_shape_for_backgrounds_and_flat_images(metrics_cache):
    classifier, _ = cache.shapes_classifier(32, 3, metrics_cache, torch.device("cpu"))
    backgrounds = torch.from_numpy(builtin_backgrounds(50, 32, seed=9))
    flat = torch.full((50, 3, 32, 32), 128, dtype=torch.uint8)
    labels = read(classifier, torch.cat([backgrounds, flat]), torch.device("cpu"), 64).labels
    assert (labels == NONE).float().mean() >= 0.95


def test_held_out_real_images_score_near_the_ceiling(evaluator):
    real = evaluator.score(real_images(SAMPLES, seed=123))
    ceiling = evaluator.ceiling
    assert real["modes"] == 1.0 and ceiling["modes"] == 1.0
    assert real["kl"] < 0.1 and ceiling["kl"] < 0.1
    assert real["recognised"] > 0.97
    assert real["fd"] < 2 * ceiling["fd"]
    for name in ("precision", "recall", "coverage"):
        assert real[name] > 0.9 and abs(real[name] - ceiling[name]) < 0.05, name
    assert 0.8 < real["density"] < 1.2


def test_a_generator_of_one_image_covers_one_class_with_a_large_kl(evaluator):
    one = real_images(1, seed=5)
    result = evaluator(lambda n: to_signed_unit(one).expand(n, -1, -1, -1))
    values = result["values"]
    assert values["modes"] == pytest.approx(1 / 24)
    assert values["kl"] > 3.0                        # about log 24 = 3.18
    assert values["recall"] < 0.05 and values["coverage"] < 0.05
    assert result["samples"] == SAMPLES and result["seconds"] > 0


def test_swapped_colours_raise_the_frechet_distance_and_lower_precision(evaluator):
    real = real_images(SAMPLES, seed=77)
    swapped = real[:, [2, 1, 0]]                     # red <-> blue: yellow becomes a cyan
    a, b = evaluator.score(real), evaluator.score(swapped)
    assert b["fd"] > 2.5 * a["fd"]              # measured: about 4 times
    assert b["precision"] < a["precision"] - 0.03
    assert b["modes"] < a["modes"]


def test_a_flat_generator_is_recognised_as_no_shape(evaluator):
    values = evaluator(lambda n: torch.full((n, 3, 32, 32), -0.8))["values"]
    assert values["recognised"] == 0.0 and values["modes"] == 0.0 and values["kl"] > 3.0


def test_evaluation_leaves_the_callers_random_stream_alone(evaluator):
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    evaluator(lambda n: torch.rand(n, 3, 32, 32) * 2 - 1)    # draws from the global stream
    assert torch.equal(torch.rand(4), expected)


def test_caches_are_reused_not_rebuilt(data, metrics_cache, monkeypatch):
    Evaluator(data, "modes", samples=SAMPLES, cache_dir=metrics_cache)   # statistics and ceiling exist now
    fail = lambda *a, **k: pytest.fail("rebuilt a cached file")
    monkeypatch.setattr("began_fast.metrics.cache.train_classifier", fail)
    monkeypatch.setattr("began_fast.metrics.cache.read", fail)
    again = Evaluator(data, "modes", samples=SAMPLES, cache_dir=metrics_cache)
    assert again.ceiling["modes"] == 1.0


def test_evaluate_reports_set_up_and_scores(data, metrics_cache):
    one = to_signed_unit(real_images(1, seed=5))
    result = evaluate(lambda n: one.expand(n, -1, -1, -1), data, "kl,fd", samples=100, cache_dir=metrics_cache)
    assert list(result["values"]) == ["kl", "fd"] and list(result["ceiling"]) == ["kl", "fd"]
    assert result["setup_seconds"] >= 0 and result["classifier"]["class"] >= 0.99


def test_held_out_images_are_new_images_of_the_same_kind(data):
    held = held_out_images(data, 100)
    assert held.shape == (100, 3, 32, 32) and held.dtype == np.uint8
    assert not any((held[0] == image).all() for image in data.images)
    assert np.array_equal(held, held_out_images(data, 100))


def test_an_image_folder_has_no_shapes_metrics():
    folder = ImageSet(np.zeros((20, 3, 32, 32), dtype=np.uint8), "folder-abc")
    with pytest.raises(MetricError, match="need the built-in shapes.*--metrics fid,kid"):
        Evaluator(folder, "modes")


def test_too_few_samples_is_an_error(data, metrics_cache):
    with pytest.raises(MetricError, match="--samples 3"):
        Evaluator(data, "modes", samples=3, cache_dir=metrics_cache)


@pytest.mark.parametrize("size", [64, 128])
def test_larger_images_are_averaged_down_to_the_classifiers_input(size):
    from began_fast.metrics.classifier import ShapesClassifier
    model = ShapesClassifier(3).eval()
    small = torch.rand(2, 3, 32, 32) * 2 - 1
    large = small.repeat_interleave(size // 32, 2).repeat_interleave(size // 32, 3)   # each pixel a block
    for a, b in zip(model(small), model(large)):
        assert torch.allclose(a, b, atol=1e-5)
