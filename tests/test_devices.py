"""Device choice, the random state saved per training device, and where the loop's clock reads."""
import pytest
import torch

from began_fast import devices, train
from began_fast.config import OptionError
from tests.helpers import TINY, only_run_dir, read_stats


def test_auto_picks_the_cpu_here_and_cuda_without_one_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.pick_device("auto") == torch.device("cpu")
    with pytest.raises(OptionError, match="--device cuda: no CUDA device is visible"):
        devices.pick_device("cuda")


class FakeCudaRng:
    """Stands in for torch.cuda's RNG functions: one state per device index."""

    def __init__(self, count):
        self.states = {i: torch.tensor([i], dtype=torch.uint8) for i in range(count)}

    def get_rng_state(self, device):
        return self.states[device.index].clone()

    def set_rng_state(self, state, device):
        if device.index not in self.states:
            raise RuntimeError(f"invalid device ordinal {device.index}")
        self.states[device.index] = state.clone()


def test_only_the_training_devices_cuda_state_is_saved_and_restored(monkeypatch):
    saving_machine = FakeCudaRng(count=4)
    monkeypatch.setattr(torch.cuda, "get_rng_state", saving_machine.get_rng_state)
    saved = devices.rng_state(torch.device("cuda", 2))
    assert torch.equal(saved["cuda"], torch.tensor([2], dtype=torch.uint8))

    resuming_machine = FakeCudaRng(count=1)          # the resume sees one GPU
    monkeypatch.setattr(torch.cuda, "set_rng_state", resuming_machine.set_rng_state)
    devices.set_rng_state(saved, torch.device("cuda", 0))
    assert torch.equal(resuming_machine.states[0], saved["cuda"])
    # An earlier version saved every visible GPU's state in a list: the device's entry is used.
    devices.set_rng_state({"cpu": saved["cpu"], "cuda": [torch.tensor([7], dtype=torch.uint8)] * 4},
                          torch.device("cuda", 0))
    assert resuming_machine.states[0].item() == 7


def test_the_interval_clock_waits_for_the_device(tmp_path, monkeypatch):
    """On CUDA the step only queues work; the interval's time must include the device
    finishing it. A sync that takes 0.3 s (a device draining its queue) must show up in
    each interval's time and images/s."""
    monkeypatch.setattr(train, "sync", lambda device: __import__("time").sleep(0.3))
    assert train.main([*TINY, "--steps", "4", "--log-every", "2", "--out", str(tmp_path)]) == 0
    rows = read_stats(only_run_dir(tmp_path))
    times = [rows[0]["time"]] + [b["time"] - a["time"] for a, b in zip(rows, rows[1:])]
    assert all(t >= 0.3 for t in times), times
    assert all(r["images_per_s"] <= 2 * 4 / 0.3 for r in rows)
