"""The BEGAN math against values worked out by hand."""
import pytest
import torch

from began_fast import began


def test_l1_per_sample_is_the_mean_absolute_error_of_each_sample():
    recon = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]], [[[0.0, 0.0], [0.0, 4.0]]]])
    target = torch.zeros_like(recon)
    # sample 0: (1 + 2 + 0.5 + 0) / 4; sample 1: 4 / 4
    assert began.l1_per_sample(recon, target).tolist() == [0.875, 1.0]


def test_l1_per_sample_accumulates_in_float32_for_half_inputs():
    recon = torch.full((2, 3, 4, 4), 0.5, dtype=torch.bfloat16)
    out = began.l1_per_sample(recon, torch.zeros_like(recon))
    assert out.dtype == torch.float32 and out.tolist() == [0.5, 0.5]


def test_discriminator_and_generator_losses():
    assert began.discriminator_loss(torch.tensor(0.3), torch.tensor(0.2), torch.tensor(0.5)).item() == pytest.approx(0.2)
    assert began.generator_loss(torch.tensor(0.2)).item() == pytest.approx(0.2)


@pytest.mark.parametrize("k, real, fake, expected", [
    (0.5, 0.4, 0.1, 0.5 + 0.001 * (0.5 * 0.4 - 0.1)),     # ordinary step up
    (0.5, 0.1, 0.4, 0.5 + 0.001 * (0.5 * 0.1 - 0.4)),     # ordinary step down
    (0.0, 0.1, 0.9, 0.0),                                  # clipped at 0
    (0.9999, 1.0, 0.0, 1.0),                               # clipped at 1
])
def test_k_update_steps_and_clips(k, real, fake, expected):
    out = began.k_update(torch.tensor(k), torch.tensor(real), torch.tensor(fake), gamma=0.5, lambda_k=0.001)
    assert out.item() == pytest.approx(expected, abs=1e-7)


def test_m_global_adds_the_balance_error_to_the_real_loss():
    # 0.4 + |0.5 * 0.4 - 0.3| = 0.5, and the absolute value matters: 0.4 + |0.2 - 0.1| = 0.5
    assert began.m_global(torch.tensor(0.4), torch.tensor(0.3), 0.5).item() == pytest.approx(0.5)
    assert began.m_global(torch.tensor(0.4), torch.tensor(0.1), 0.5).item() == pytest.approx(0.5)
    assert began.m_global(torch.tensor(0.4), torch.tensor(0.2), 0.5).item() == pytest.approx(0.4)


def test_new_stats_has_one_slot_per_field():
    stats = began.new_stats("cpu")
    assert stats.shape == (len(began.STATS_FIELDS),) and stats.sum() == 0
