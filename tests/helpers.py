"""Shared test helpers: a tiny training configuration, running the real CLI, a small
labelled image folder, a full disk."""
import builtins
import errno
import json
import os
import subprocess
import sys

import numpy as np
import torch

from began_fast import checkpoint, files

# Small enough for a CPU step in a few milliseconds, big enough to learn.
TINY = ["--size", "32", "--filters", "4", "--latent", "8", "--batch", "4", "--builtin-count", "64",
        "--device", "cpu", "--metrics", "none",      # the metrics' own tests turn them on,
        "--no-tensorboard"]                          # tests/test_run_outputs.py TensorBoard


def run_cli(module, *args, cwd=None, timeout=300, env=None):
    """Run `python -m module args` as a user would, with `env` added to the environment;
    returns the CompletedProcess."""
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning", **(env or {}))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


def write_labelled_folder(folder, classes=3, per_class=12, size=32, seed=0):
    """FOLDER/c0 ... /c{classes - 1}, `per_class` grey PNGs each: a bright bar on dark noise,
    at a place and angle each class has its own (class k: horizontal for even k, vertical
    for odd, at a third of the side further along every two classes), jittered a little.
    Easy to tell apart, so a classifier learns them in seconds."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for k in range(classes):
        os.makedirs(os.path.join(folder, f"c{k}"), exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 40, (size, size), dtype=np.uint8)
            at = (size // 6 + (k // 2) * size // 3 + rng.integers(-1, 2)) % size
            bar = (slice(at, at + size // 8), slice(2, size - 2))
            image[bar if k % 2 == 0 else bar[::-1]] = 230
            Image.fromarray(image).save(os.path.join(folder, f"c{k}", f"{i:02d}.png"))


def read_stats(run_dir):
    with open(os.path.join(run_dir, "stats.jsonl")) as f:
        return [json.loads(line) for line in f]


def only_run_dir(out):
    (name,) = os.listdir(out)
    return os.path.join(out, name)


def final_state(run_dir):
    payload = checkpoint.load(checkpoint.in_run(run_dir)[-1])
    return payload


def assert_same_final_state(a_run, b_run):
    """Weights (G's average too), both Adam states, the model's buffers (BEGAN's k_t), the
    stats buffer, lr decay and RNG states equal, bit for bit."""
    a, b = final_state(a_run), final_state(b_run)
    assert a["step"] == b["step"] and a["images"] == b["images"] and a["decay"] == b["decay"]
    assert ("G_ema" in a) == ("G_ema" in b)
    for net in ("G", "D", "G_ema") if "G_ema" in a else ("G", "D"):
        assert all(torch.equal(t, b[net][name]) for name, t in a[net].items()), net
    for opt in ("opt_g", "opt_d"):
        for i, state in a[opt]["state"].items():
            assert all(torch.equal(state[key], b[opt]["state"][i][key]) for key in ("exp_avg", "exp_avg_sq")), opt
    assert a["buffers"].keys() == b["buffers"].keys() and torch.equal(a["stats"], b["stats"])
    assert all(torch.equal(t, b["buffers"][name]) for name, t in a["buffers"].items())
    assert torch.equal(a["rng_ranks"][0]["cpu"], b["rng_ranks"][0]["cpu"])
    timing = {"images_per_s", "time"}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]
    assert strip(read_stats(a_run)) == strip(read_stats(b_run))


def fill_disk(monkeypatch, which=lambda path: True, room=0):
    """Make began_fast.files' writes to the files `which(path)` picks fail with ENOSPC
    once `room` bytes are written, as a disk that fills mid-write does: the first bytes
    reach the file, then the write raises."""
    class FillingFile:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written + len(data) > room:
                self.f.write(data[:max(room - self.written, 0)])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.written += len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def filling_open(path, mode="r", *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)
        writes = any(c in mode for c in "wax+")      # reads are not the full disk's business
        return FillingFile(f) if writes and which(str(path)) else f
    monkeypatch.setattr(files, "open", filling_open, raising=False)
