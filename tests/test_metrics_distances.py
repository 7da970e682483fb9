"""Fréchet distance, precision/recall/density/coverage and the mode metrics, on inputs
whose answers are known in closed form or by brute force."""
import math

import numpy as np
import pytest
import torch

from began_fast.metrics.classifier import CLASSES, NONE
from began_fast.metrics.distances import frechet_distance, moments, prdc
from began_fast.metrics.modes import MIN_SHARE, histogram, mode_metrics
from began_fast.metrics.names import GROUPS, METRICS, MetricError, parse_metrics, unit


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    # Diagonal covariances: sum (mu_a - mu_b)^2 + sum (s_a + s_b - 2 sqrt(s_a s_b)).
    mean_a, mean_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([4.0, 1.0, 0.25])
    expected = (mean_a - mean_b).square().sum() + (var_a + var_b - 2 * (var_a * var_b).sqrt()).sum()
    got = frechet_distance(mean_a, torch.diag(var_a), mean_b, torch.diag(var_b))
    assert got == pytest.approx(float(expected), rel=1e-9)


def test_frechet_distance_handles_full_covariances_and_is_zero_for_equal_sets():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    assert frechet_distance(*moments(a), *moments(a)) == pytest.approx(0.0, abs=1e-8)
    shifted = frechet_distance(*moments(a), *moments(a + 0.5))
    assert shifted == pytest.approx(6 * 0.25, rel=1e-6)     # only the means differ


def brute_force_prdc(real, fake, k):
    """The definitions of Naeem et al. (2020), written out with full distance matrices."""
    d = lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    real_radius, fake_radius = np.sort(d(real, real), 1)[:, k], np.sort(d(fake, fake), 1)[:, k]
    rf = d(real, fake)
    inside = rf <= real_radius[:, None]
    return {"precision": inside.any(0).mean(), "recall": (rf <= fake_radius[None]).any(1).mean(),
            "density": inside.sum(0).mean() / k, "coverage": inside.any(1).mean()}


@pytest.mark.parametrize("chunk", [4096, 64])     # one block, and rows in several blocks
def test_prdc_matches_the_definitions(monkeypatch, chunk):
    monkeypatch.setattr("began_fast.metrics.distances.CHUNK", chunk)
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 8)).astype(np.float32)
    fake = (rng.normal(size=(250, 8)) * 1.3 + 0.3).astype(np.float32)
    got = prdc(torch.from_numpy(real), torch.from_numpy(fake), k=5)
    for name, value in brute_force_prdc(real, fake, 5).items():
        assert got[name] == pytest.approx(value, abs=1e-6), name


def test_prdc_separates_a_collapsed_set_from_a_faithful_one():
    g = torch.Generator().manual_seed(2)
    real, same = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g)
    faithful = prdc(real, same)
    collapsed = prdc(real, same[:1].expand(500, -1))
    assert faithful["recall"] > 0.9 and faithful["coverage"] > 0.9
    assert collapsed["recall"] < 0.05 and collapsed["coverage"] < 0.05


def counts_of(classes, per_class):
    return histogram(torch.tensor([c for c in classes for _ in range(per_class)]))


def test_kl_of_one_mode_out_of_three_equally_likely_is_log_3():
    data, samples = counts_of([0, 1, 2], 10000), counts_of([1], 500)
    assert mode_metrics(samples, data)["kl"] == pytest.approx(math.log(3), abs=1e-3)


def test_mode_coverage_counts_a_class_only_above_its_minimum_share():
    data = counts_of(range(CLASSES), 100)
    samples = counts_of(range(12), 100)                       # half the classes, evenly
    stray = histogram(torch.tensor([20]))                     # one sample of a 13th class
    scores = mode_metrics(samples + stray, data)
    assert scores["modes"] == pytest.approx(12 / CLASSES)
    assert scores["kl"] == pytest.approx(math.log(2), abs=0.01)
    assert MIN_SHARE * CLASSES == pytest.approx(0.25)


def test_recognised_share_counts_the_no_shape_label():
    counts = histogram(torch.tensor([3, 3, NONE, NONE]))
    assert mode_metrics(counts, counts_of(range(CLASSES), 10))["recognised"] == 0.5


def test_metric_names_expand_groups_and_reject_unknown_ones():
    assert parse_metrics("modes,prdc,modes") == ("modes", "precision", "recall", "density", "coverage")
    assert parse_metrics("inception") == ("fid", "kid")
    assert set(parse_metrics("all")) == set(METRICS) and set(GROUPS["shapes"]) < set(METRICS)
    with pytest.raises(MetricError, match="unknown metric 'fidd'; known: modes, kl"):
        parse_metrics("modes,fidd")


def test_modes_kl_and_recognised_follow_the_histograms_class_count():
    data = histogram(torch.arange(10).repeat(100), classes=10)
    assert len(data) == 11                                   # ten classes and "none"
    even = torch.arange(5).repeat(40)                         # half of the ten classes, evenly
    stray = torch.tensor([7] * 4 + [10] * 10)                 # 4 of 214 in a sixth: below 1/40 of the samples
    scores = mode_metrics(histogram(torch.cat([even, stray]), classes=10), data)
    assert scores["modes"] == pytest.approx(5 / 10)
    assert scores["recognised"] == pytest.approx(204 / 214)
    assert mode_metrics(histogram(even, classes=10), data)["kl"] == pytest.approx(math.log(2), abs=0.01)
    eleven = torch.cat([even, torch.tensor([7] * 6)])          # 6 of 206: above 1/40, a sixth class
    assert mode_metrics(histogram(eleven, classes=10), data)["modes"] == pytest.approx(6 / 10)


def test_classes_is_the_shapes_group_under_its_general_name_and_units_say_how_many():
    assert GROUPS["classes"] == GROUPS["shapes"] == parse_metrics("shapes") == parse_metrics("classes")
    assert GROUPS["classes"][:4] == ("modes", "kl", "recognised", "fd")
    assert unit("modes", 24) == "share of 24" and unit("modes", 10) == "share of 10"
    assert unit("modes") == "share of the classes" and unit("kl", 10) == "nats"
