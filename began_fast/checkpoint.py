"""Checkpoint files: written atomically, read back exactly.

A checkpoint holds G, D, both optimisers, k_t, lr, the step, the stats buffer,
every random state, the options and the data identity, so a run continues as
if it had never stopped. Only this module touches checkpoint files.
"""
import glob
import os
import re

import torch

from began_fast.files import atomic_write

FORMAT = "began_fast.checkpoint.v1"
NAME = "ckpt-{step:08d}.pt"
PATTERN = re.compile(r"ckpt-(\d{8})\.pt$")


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint, reported as a one-line message."""


def save(path: str, payload: dict) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over."""
    with atomic_write(path, durable=True) as f:
        torch.save({"format": FORMAT, **payload}, f)


def load(path: str) -> dict:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file; give a ckpt-*.pt file written by began_fast.train")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many kinds for a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}); "
                              "give a ckpt-*.pt file written by began_fast.train") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a began_fast checkpoint; "
                              "give a ckpt-*.pt file written by began_fast.train")
    return payload


def path_for(run_dir: str, step: int) -> str:
    return os.path.join(run_dir, NAME.format(step=step))


def in_run(run_dir: str) -> list:
    """The run's checkpoint paths, oldest first."""
    paths = [p for p in glob.glob(os.path.join(run_dir, "ckpt-*.pt")) if PATTERN.search(p)]
    return sorted(paths, key=lambda p: int(PATTERN.search(p).group(1)))


def latest(out: str) -> str | None:
    """The most recently written checkpoint in any run folder under `out`."""
    paths = [p for p in glob.glob(os.path.join(out, "*", "ckpt-*.pt")) if PATTERN.search(p)]
    if not paths:
        return None
    return max(paths, key=lambda p: (os.path.getmtime(p), int(PATTERN.search(p).group(1))))


def prune(run_dir: str, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints of a run."""
    for path in in_run(run_dir)[:-keep]:
        os.remove(path)
