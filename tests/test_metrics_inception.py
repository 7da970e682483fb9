"""FID/KID plumbing through torch-fidelity, with a small stand-in feature extractor
registered with torch-fidelity (nothing is downloaded: conftest sets BEGAN_FAST_OFFLINE).
The tests that need torch-fidelity are skipped where it is not installed; CI runs them in a
second environment that has it (.ci/run)."""
import importlib.util
import os
import sys
import urllib.error

import numpy as np
import pytest
import torch

from began_fast.data import ImageSet, builtin_shapes, to_signed_unit
from began_fast.images import quantize
from began_fast.metrics import inception
from began_fast.metrics.evaluate import Evaluator
from began_fast.metrics.names import MetricError

needs_fidelity = pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is None,
                                    reason="torch-fidelity is not installed (pip install began-fast[metrics])")
STAND_IN = "began-fast-stand-in"


class Seen:
    weights, batches = [], []


def register_stand_in():
    """A feature extractor as torch-fidelity expects one: uint8 [B, 3, H, W] in, a tuple of
    feature tensors out. Its features: each channel's mean over a 4 x 4 grid of cells."""
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    class StandIn(torch_fidelity.FeatureExtractorBase):
        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name, features_list)
            Seen.weights.append(feature_extractor_weights_path)

        @staticmethod
        def get_provided_features_list():
            return ("cells",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "cells"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return None

        def forward(self, x):
            Seen.batches.append((x.dtype, tuple(x.shape)))
            return (torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 4).flatten(1),)

    if STAND_IN not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(STAND_IN, StandIn)


@pytest.fixture
def stand_in(tmp_path):
    register_stand_in()
    Seen.weights.clear()
    Seen.batches.clear()
    weights = tmp_path / "stand-in-weights.pth"
    weights.write_bytes(b"read by the extractor, not by began_fast")
    return str(weights)


@needs_fidelity
@pytest.mark.parametrize("channels", [3, 1])
def test_fid_and_kid_reach_torch_fidelity_and_rank_a_shift_worse(tmp_path, stand_in, channels):
    data = builtin_shapes(400, 32, channels, seed=0)
    evaluator = Evaluator(data, "fid,kid", samples=200, cache_dir=str(tmp_path), batch=64,
                          inception_weights=stand_in, inception_extractor=STAND_IN)
    real = torch.from_numpy(builtin_shapes(200, 32, channels, seed=1).images)
    faithful, shifted = evaluator.score(real), evaluator.score(255 - real)
    assert set(faithful) == {"fid", "kid"} and set(evaluator.ceiling) == {"fid", "kid"}
    assert shifted["fid"] > 10 * faithful["fid"] and shifted["kid"] > 10 * max(faithful["kid"], 1e-6)
    assert evaluator.ceiling["fid"] < 3 * faithful["fid"] + 1e-3
    assert Seen.weights and set(Seen.weights) == {stand_in}            # the option reached the extractor
    assert all(dtype == torch.uint8 and shape[1:] == (3, 32, 32) for dtype, shape in Seen.batches)
    assert any(STAND_IN in name for name in os.listdir(tmp_path / "metrics" / "torch-fidelity"))


@needs_fidelity
def test_an_image_folder_gets_fid_from_its_own_images(tmp_path, stand_in):
    folder = ImageSet(builtin_shapes(300, 32, 3, seed=4).images, "folder-test")
    evaluator = Evaluator(folder, None, samples=100, cache_dir=str(tmp_path), batch=64,
                          inception_weights=stand_in, inception_extractor=STAND_IN)
    assert evaluator.metrics == ("fid", "kid")
    values = evaluator(lambda n: torch.zeros(n, 3, 32, 32))["values"]
    assert values["fid"] > 10 * evaluator.ceiling["fid"]


@needs_fidelity
def test_no_weights_offline_is_a_one_line_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))      # nothing cached
    with pytest.raises(MetricError, match="Inception weights.*--inception-weights PATH") as e:
        Evaluator(builtin_shapes(50, 32, 3), "fid", samples=20, cache_dir=str(tmp_path))
    assert "\n" not in str(e.value)
    with pytest.raises(MetricError, match="--inception-weights /no/such.pth: no such file"):
        Evaluator(builtin_shapes(50, 32, 3), "kid", samples=20, cache_dir=str(tmp_path),
                  inception_weights="/no/such.pth")


@needs_fidelity
def test_a_failed_download_is_a_one_line_error(tmp_path, monkeypatch):
    import torch_fidelity

    def offline(**kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch_fidelity, "calculate_metrics", offline)
    images = torch.zeros(20, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(MetricError, match="cannot be downloaded here"):
        inception.inception_metrics(images, images, ("fid",), "cpu", 8, str(tmp_path), "x")


def test_without_torch_fidelity_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)      # import fails as if absent
    with pytest.raises(MetricError, match=r'pip install .*"began-fast\[metrics\]"'):
        Evaluator(ImageSet(np.zeros((20, 3, 32, 32), dtype=np.uint8), "folder-x"), "fid", samples=10)


def test_a_generator_is_scored_in_uint8_like_the_data():
    """What torch-fidelity is handed: the evaluator's uint8 samples, grey expanded to RGB."""
    grey = torch.arange(2 * 4 * 4, dtype=torch.uint8).view(2, 1, 4, 4)
    rgb = inception._RGBImages(grey)
    assert len(rgb) == 2 and rgb[1].shape == (3, 4, 4) and torch.equal(rgb[1][2], grey[1, 0])
    assert torch.equal(quantize(to_signed_unit(grey)), grey)      # generated images round-trip exactly
