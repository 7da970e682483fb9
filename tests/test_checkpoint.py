"""Checkpoint files: read with torch's weights-only unpickler, so a crafted file never runs."""
import os
import pickle

import pytest
import torch

from began_fast import checkpoint


class MakesAFile:
    """Unpickling this calls open(path, "w"): a harmless stand-in for code a crafted file runs."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def crafted(tmp_path, write):
    """A checkpoint-looking file whose unpickling would create `marker`."""
    marker = tmp_path / "marker"
    path = tmp_path / "ckpt-00000001.pt"
    write({"format": checkpoint.FORMAT, "step": 1, "G": MakesAFile(str(marker))}, path)
    return str(path), marker


def torch_save(obj, path):
    torch.save(obj, path)


def pickle_dump(protocol):
    """A bare pickle, which torch.load's weights-only path also unpickles."""
    def write(obj, path):
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=protocol)
    return write


def unsafe_torch_load(path):
    torch.load(path, weights_only=False)


def unsafe_pickle_load(path):
    with open(path, "rb") as f:
        pickle.load(f)


@pytest.mark.parametrize("write, unsafe_load, problem", [
    (torch_save, unsafe_torch_load, "refused: unpickling it would call io.open"),
    (pickle_dump(2), unsafe_pickle_load, "refused: unpickling it would call io.open"),
    (pickle_dump(4), unsafe_pickle_load, "not a readable checkpoint"),   # an opcode the safe unpickler lacks
])
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_checkpoint_crafted_to_run_code_is_refused(tmp_path, write, unsafe_load, problem):
    path, marker = crafted(tmp_path, write)
    with pytest.raises(checkpoint.UnreadableCheckpoint) as caught:
        checkpoint.load(path)
    assert problem in str(caught.value) and "\n" not in str(caught.value)
    assert not marker.exists()                   # nothing ran
    unsafe_load(path)                            # the file is a real threat: an unsafe load runs it
    assert marker.exists()


def test_a_trainers_checkpoint_loads_without_allow_listing(tmp_path):
    """Every value the trainer saves is a type the weights-only unpickler accepts."""
    model = torch.nn.Linear(2, 2)
    adam = torch.optim.Adam(model.parameters(), lr=torch.tensor(1e-4), betas=(0.5, 0.999))
    model(torch.ones(1, 2)).sum().backward()
    adam.step()
    payload = {"step": 3, "elapsed": 1.5, "options": {"data": None, "lr": 1e-4, "skip": False, "out": "runs"},
               "G": model.state_dict(), "opt_g": adam.state_dict(), "k": torch.tensor(0.5),
               "decay": {"lr": 1e-4, "best": float("inf"), "best_step": 0},
               "rng_ranks": [{"cpu": torch.get_rng_state(), "cuda": None}]}
    path = str(tmp_path / "ckpt-00000003.pt")
    checkpoint.save(path, payload)
    loaded = checkpoint.load(path)
    assert loaded["options"] == payload["options"] and loaded["decay"] == payload["decay"]
    assert torch.equal(loaded["rng_ranks"][0]["cpu"], payload["rng_ranks"][0]["cpu"])
    assert loaded["opt_g"]["param_groups"][0]["betas"] == (0.5, 0.999)


@pytest.mark.parametrize("damage, problem", [
    (lambda data: data[:len(data) // 2], "not a readable checkpoint"),      # a copy cut short
    (lambda data: b"", "not a readable checkpoint"),
    (lambda data: bytes(len(data)), "not a readable checkpoint"),           # zeroed by a bad disk
])
def test_a_damaged_checkpoint_is_a_one_line_error(tmp_path, damage, problem):
    path = str(tmp_path / "ckpt-00000001.pt")
    checkpoint.save(path, {"step": 1})
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(damage(data))
    with pytest.raises(checkpoint.UnreadableCheckpoint, match=problem) as caught:
        checkpoint.load(path)
    assert "\n" not in str(caught.value) and caught.value.path == path


def test_newest_first_orders_by_write_time_then_step(tmp_path):
    paths = []
    for run, step, mtime in [("00000-a", 8, 100), ("00001-b", 2, 300), ("00000-a", 9, 200)]:
        os.makedirs(tmp_path / run, exist_ok=True)
        path = str(tmp_path / run / f"ckpt-{step:08d}.pt")
        open(path, "wb").close()
        os.utime(path, (mtime, mtime))
        paths.append(path)
    (tmp_path / "00000-a" / "ckpt-00000010.tmp77.pt").write_bytes(b"")    # a kill's leftover
    assert checkpoint.newest_first(str(tmp_path)) == [paths[1], paths[2], paths[0]]


def test_prune_ignores_checkpoints_past_the_current_step(tmp_path):
    """After a resume from step 4, ckpt-8 (unreadable, or from the abandoned run) must not
    count among the kept ones, or it would crowd out the new checkpoints."""
    for step in (2, 4, 6, 8):
        open(checkpoint.path_for(str(tmp_path), step), "wb").close()
    checkpoint.prune(str(tmp_path), keep=1, step=6)
    assert [checkpoint.step_of(p) for p in checkpoint.in_run(str(tmp_path))] == [6, 8]
