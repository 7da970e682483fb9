"""equilibrium_update against its reference, and the reference's formulas against hand values:
k_t in place, M_global, stats."""
import contextlib

import pytest
import torch

from began_fast import kernels
from began_fast.kernels import (STATS_FIELDS, equilibrium_update, equilibrium_update_reference, k_update,
                                m_global, new_stats)


@pytest.fixture(autouse=True)
def _triton():
    with kernels.use("triton"):
        yield

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# All float32 arithmetic on both sides: agreement to an fp32 rounding or two.
RTOL, ATOL = 1e-6, 1e-7


def random_losses(steps):
    """Batch-mean L1 losses, with runs that push k past 1 and below 0 (both clips)."""
    real = torch.rand(steps, device=DEVICE)
    fake = torch.rand(steps, device=DEVICE)
    fake[: steps // 3] *= 0.01  # fake << gamma * real: k rises
    real[-steps // 3:] *= 0.01  # gamma * real << fake: k falls
    return real, fake


@pytest.mark.parametrize("with_stats", [False, True])
@pytest.mark.parametrize("gamma, lambda_k", [(0.5, 0.001), (0.3, 0.5), (0.7, 2.0)])
def test_matches_reference_over_steps(gamma, lambda_k, with_stats):
    k = torch.tensor(0.5, device=DEVICE)
    k_ref = k.clone()
    stats = new_stats(DEVICE) if with_stats else None
    stats_ref = new_stats(DEVICE) if with_stats else None
    for real, fake in zip(*random_losses(12)):
        m = equilibrium_update(k, real, fake, gamma, lambda_k, stats)
        m_ref = equilibrium_update_reference(k_ref, real, fake, gamma, lambda_k, stats_ref)
        assert m.dtype == torch.float32 and m.shape == ()
        torch.testing.assert_close(m, m_ref, rtol=RTOL, atol=ATOL)
        torch.testing.assert_close(k, k_ref, rtol=RTOL, atol=ATOL)
        if with_stats:
            torch.testing.assert_close(stats, stats_ref, rtol=RTOL, atol=ATOL)
    if lambda_k >= 0.5:  # big steps: both clips were hit along the way
        assert 0.0 <= k.item() <= 1.0


def test_stats_fields_one_step():
    k = torch.tensor(0.25, device=DEVICE)
    stats = new_stats(DEVICE)
    real, fake = torch.tensor(0.2, device=DEVICE), torch.tensor(0.3, device=DEVICE)
    m = equilibrium_update(k, real, fake, 0.5, 0.1, stats)
    got = dict(zip(STATS_FIELDS, stats.tolist()))
    expected = dict(count=1.0, loss_real=0.2, loss_fake=0.3, loss_d=0.2 - 0.25 * 0.3,
                    m_global=0.2 + abs(0.5 * 0.2 - 0.3))
    assert got == pytest.approx(expected, rel=1e-6)
    assert m.item() == pytest.approx(expected["m_global"], rel=1e-6)
    assert k.item() == pytest.approx(0.25 + 0.1 * (0.5 * 0.2 - 0.3), rel=1e-6)


def test_nan_reaches_k_like_torch_clamp():
    k, k_ref = torch.tensor(0.5, device=DEVICE), torch.tensor(0.5, device=DEVICE)
    nan, one = torch.tensor(float("nan"), device=DEVICE), torch.tensor(1.0, device=DEVICE)
    equilibrium_update(k, nan, one, 0.5, 0.001)
    equilibrium_update_reference(k_ref, nan, one, 0.5, 0.001)
    assert k.isnan().item() and k_ref.isnan().item()


def test_losses_with_grad_are_detached():
    k = torch.tensor(0.0, device=DEVICE)
    real = torch.tensor(0.4, device=DEVICE, requires_grad=True)
    m = equilibrium_update(k, real * 1, torch.tensor(0.1, device=DEVICE), 0.5, 0.001)
    assert not m.requires_grad


@contextlib.contextmanager
def no_host_reads():
    """Fail on any Python read of a tensor's value (item, bool, float, int, tolist)."""
    def refuse(*args, **kwargs):
        raise AssertionError("host read of a device value")
    names = ("item", "__bool__", "__float__", "__int__", "tolist")
    saved = {n: getattr(torch.Tensor, n) for n in names}
    for n in names:
        setattr(torch.Tensor, n, refuse)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.Tensor, n, f)


def test_no_host_synchronisation():
    """No value read back to Python; on a GPU, the update also replays inside a CUDA graph."""
    k, stats = torch.tensor(0.5, device=DEVICE), new_stats(DEVICE)
    real, fake = torch.tensor(0.4, device=DEVICE), torch.tensor(0.1, device=DEVICE)
    with no_host_reads():
        equilibrium_update(k, real, fake, 0.5, 0.01, stats)
    if DEVICE == "cuda":
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            equilibrium_update(k, real, fake, 0.5, 0.01, stats)
        for _ in range(3):
            graph.replay()
        assert stats[0].item() == 4.0  # the eager call, the capture does not run, three replays
    assert k.item() == pytest.approx(min(1.0, 0.5 + (4 if DEVICE == "cuda" else 1) * 0.01 * (0.2 - 0.1)), rel=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="0-dim float32"):
        equilibrium_update(torch.zeros(1, device=DEVICE), torch.tensor(0.1), torch.tensor(0.1), 0.5, 0.001)
    with pytest.raises(TypeError, match="Python floats"):
        equilibrium_update(torch.tensor(0.0), torch.tensor(0.1), torch.tensor(0.1), torch.tensor(0.5), 0.001)


def test_opcheck():
    k = torch.tensor(0.5, device=DEVICE)
    real, fake = torch.rand((), device=DEVICE), torch.rand((), device=DEVICE)
    for stats in (None, new_stats(DEVICE)):
        torch.library.opcheck(torch.ops.began_fast.equilibrium_update.default, (k, real, fake, 0.5, 0.001, stats))


@pytest.mark.parametrize("k, real, fake, expected", [
    (0.5, 0.4, 0.1, 0.5 + 0.001 * (0.5 * 0.4 - 0.1)),     # ordinary step up
    (0.5, 0.1, 0.4, 0.5 + 0.001 * (0.5 * 0.1 - 0.4)),     # ordinary step down
    (0.0, 0.1, 0.9, 0.0),                                  # clipped at 0
    (0.9999, 1.0, 0.0, 1.0),                               # clipped at 1
])
def test_k_update_steps_and_clips(k, real, fake, expected):
    out = k_update(torch.tensor(k), torch.tensor(real), torch.tensor(fake), gamma=0.5, lambda_k=0.001)
    assert out.item() == pytest.approx(expected, abs=1e-7)


def test_m_global_adds_the_balance_error_to_the_real_loss():
    # 0.4 + |0.5 * 0.4 - 0.3| = 0.5, and the absolute value matters: 0.4 + |0.2 - 0.1| = 0.5
    assert m_global(torch.tensor(0.4), torch.tensor(0.3), 0.5).item() == pytest.approx(0.5)
    assert m_global(torch.tensor(0.4), torch.tensor(0.1), 0.5).item() == pytest.approx(0.5)
    assert m_global(torch.tensor(0.4), torch.tensor(0.2), 0.5).item() == pytest.approx(0.4)


def test_new_stats_has_one_slot_per_field():
    stats = new_stats("cpu")
    assert stats.shape == (len(STATS_FIELDS),) and stats.sum() == 0
