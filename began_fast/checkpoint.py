"""Checkpoint files: written atomically, read back exactly and safely.

A checkpoint holds G, D, G's moving average when the run keeps one (G_ema), both
optimisers, the model's own state (BEGAN: k_t), the lr schedule, the step, the stats buffer, every random state, the options and the data
identity, so a run continues as if it had never stopped. It holds nothing but tensors and
plain Python values, so it is read with torch's weights-only unpickler: a file crafted to
run code when unpickled is refused, never run. Only this module touches checkpoint files,
and only it knows what they hold: build() makes a run's payload, restore() and
restore_random() put one back.
"""
import glob
import os
import pickle
import re
import warnings

import torch

from began_fast.devices import set_rng_state
from began_fast.distributed import rank_seed
from began_fast.files import atomic_write
from began_fast.step import load_optimizer_state

FORMAT = "began_fast.checkpoint.v2"
# v1: BEGAN only, its k_t at the top level; v2: any model, its state under "buffers".
READABLE = ("began_fast.checkpoint.v1", FORMAT)
NAME = "ckpt-{step:08d}.pt"
PATTERN = re.compile(r"ckpt-(\d{8})\.pt$")
HINT = "give a ckpt-*.pt file written by began_fast.train"
# How the weights-only unpickler names a global (a function or class) it refused to import.
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, reported as a one-line message."""


class UnreadableCheckpoint(CheckpointError):
    """A file that is not a checkpoint this trainer can read: `problem` says why."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}; {HINT}")
        self.path, self.problem = path, problem


def save(path: str, payload: dict) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over."""
    with atomic_write(path, durable=True) as f:
        torch.save({"format": FORMAT, **payload}, f)


def load(path: str) -> dict:
    if not os.path.isfile(path):
        raise UnreadableCheckpoint(path, "no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged or foreign file
        refused = _REFUSED_GLOBAL.search(str(e)) if isinstance(e, pickle.UnpicklingError) else None
        if refused:
            raise UnreadableCheckpoint(path, f"refused: unpickling it would call {refused.group(1)}, which no "
                                       "checkpoint holds (a file made to run code?); nothing was run") from None
        raise UnreadableCheckpoint(path, f"not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") not in READABLE:
        raise UnreadableCheckpoint(path, "not a began_fast checkpoint")
    return payload


def build(state, decay, *, step: int, elapsed: float, images: int, world: int, data_identity: str,
          conditioning: dict | None = None) -> dict:
    """A run's checkpoint contents from its step state and lr schedule, but the random
    streams: save's caller adds every rank's ("rng_ranks"). `conditioning`: what a
    conditioned model embeds (DF-GAN: its text encoder), kept under "text"."""
    return {
        "step": step, "elapsed": elapsed, "options": state.opts.to_dict(), "data_identity": data_identity,
        "G": state.G.state_dict(), "D": state.D.state_dict(),
        **({"G_ema": state.g_ema.state_dict()} if state.g_ema is not None else {}),
        "opt_g": state.opt_g.state_dict(), "opt_d": state.opt_d.state_dict(),
        "buffers": {name: t.cpu() for name, t in state.buffers.items()},
        "stats": state.stats.cpu(), "decay": decay.state_dict(), "world": world, "images": images,
        **({"text": conditioning} if conditioning is not None else {}),
    }


def restore(state, decay, payload: dict) -> None:
    """Put a payload of either format into a fresh run: weights, optimiser states (with this
    run's implementation flags and lr tensors), the model's own state, the stats buffer,
    the lr schedule and the device's step count. The caller sets the lr tensors from the
    schedule. G's average, when the run keeps one, starts from G when the checkpoint has
    none (written before averaging, or with it off)."""
    state.G.load_state_dict(payload["G"])
    state.D.load_state_dict(payload["D"])
    if state.g_ema is not None:
        if "G_ema" not in payload:
            warnings.warn("the checkpoint has no averaged generator (G_ema): the average starts from its G")
        state.g_ema.load_state_dict(payload.get("G_ema", payload["G"]))
    for opt, saved, lr in ((state.opt_g, payload["opt_g"], state.lr_g), (state.opt_d, payload["opt_d"], state.lr_d)):
        load_optimizer_state(opt, saved, lr)
    decay.load_state_dict(payload["decay"])
    for name, saved in buffers(payload).items():
        state.buffers[name].copy_(saved)
    state.stats[:len(payload["stats"])].copy_(payload["stats"])   # a model's later fields come after its earlier ones
    state.step.fill_(payload["step"])


def restore_random(payload: dict, rank: int, world: int, device, seed: int) -> None:
    """This rank's random streams: exactly where the checkpoint left them when as many
    processes resume as wrote it; otherwise afresh, from seed, rank and step, with a warning."""
    if payload["world"] == world:
        set_rng_state(payload["rng_ranks"][rank], device)
        return
    warnings.warn(f"the checkpoint was written by {payload['world']} process(es) and this run has {world}: "
                  "weights, optimisers, k_t and lr carry over; the data shards and random streams "
                  "start afresh (from seed, rank and step)")
    torch.manual_seed(rank_seed(seed, rank, payload["step"]))


def buffers(payload: dict) -> dict:
    """The model's own state tensors of a payload of either format."""
    return payload["buffers"] if "buffers" in payload else {"k": payload["k"]}


def path_for(run_dir: str, step: int) -> str:
    return os.path.join(run_dir, NAME.format(step=step))


def step_of(path: str) -> int:
    return int(PATTERN.search(path).group(1))


def in_run(run_dir: str) -> list:
    """The run's checkpoint paths, oldest first."""
    paths = [p for p in glob.glob(os.path.join(run_dir, "ckpt-*.pt")) if PATTERN.search(p)]
    return sorted(paths, key=step_of)


def newest_first(out: str) -> list:
    """The checkpoints in every run folder under `out`, the most recently written first."""
    paths = [p for p in glob.glob(os.path.join(out, "*", "ckpt-*.pt")) if PATTERN.search(p)]
    return sorted(paths, key=lambda p: (os.path.getmtime(p), step_of(p)), reverse=True)


def prune(run_dir: str, keep: int, step: int) -> None:
    """Delete all but the newest `keep` checkpoints of a run up to `step`. Later ones, left
    behind by a resume from an earlier checkpoint (or unreadable), are not counted: the
    run replaces each when it reaches its step, so they never crowd out the new ones."""
    for path in [p for p in in_run(run_dir) if step_of(p) <= step][:-keep]:
        os.remove(path)
