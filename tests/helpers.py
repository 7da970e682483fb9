"""Shared test helpers: a tiny training configuration and running the real CLI."""
import json
import os
import subprocess
import sys

# Small enough for a CPU step in a few milliseconds, big enough to learn.
TINY = ["--size", "32", "--filters", "4", "--latent", "8", "--batch", "4", "--builtin-count", "64",
        "--device", "cpu"]


def run_cli(module, *args, cwd=None, timeout=300, env=None):
    """Run `python -m module args` as a user would, with `env` added to the environment;
    returns the CompletedProcess."""
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning", **(env or {}))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


def read_stats(run_dir):
    with open(os.path.join(run_dir, "stats.jsonl")) as f:
        return [json.loads(line) for line in f]


def only_run_dir(out):
    (name,) = os.listdir(out)
    return os.path.join(out, name)
