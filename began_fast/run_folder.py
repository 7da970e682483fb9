"""A run's folder: claiming a new numbered one, and making it agree with a checkpoint.

A run appends to its logs (JSON lines, each row with its `step`) at every log interval
and writes a checkpoint every --ckpt-every steps, so after a kill the logs can run past
the newest checkpoint and end in a torn line. A resume calls `restore` first: the logs
then hold each step once, in order, up to the checkpoint's step, however often the run
was killed, and the steps after it are logged again as the run repeats them.
"""
import contextlib
import json
import os
import warnings

from began_fast.files import atomic_write, is_temporary

try:
    import fcntl
except ImportError:      # no flock (Windows): mkdir's FileExistsError alone keeps runs apart
    fcntl = None

STATS = "stats.jsonl"
METRICS = "metrics.jsonl"
LOGS = (STATS, METRICS)  # every JSON-lines log a run folder holds; each is trimmed on resume


def claim(out: str, name: str) -> str:
    """Create out/NNNNN-name, numbered after the highest run there, and return its path.
    Two runs started at once on the same `out` get different numbers: the number is
    chosen under a lock on `out`, and a number taken all the same (a file system without
    locks) sends us on to the next."""
    os.makedirs(out, exist_ok=True)
    with _locked(out):
        number = max((int(d[:5]) for d in os.listdir(out) if d[:5].isdigit()), default=-1) + 1
        while True:
            path = os.path.join(out, f"{number:05d}-{name}")
            try:
                os.mkdir(path)
                return path
            except FileExistsError:
                number += 1


@contextlib.contextmanager
def _locked(folder: str):
    """Hold an exclusive flock on `folder` for the block, where the file system offers one."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):     # e.g. NFS, where flock on a folder fails
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                           # closing releases the lock


def restore(run_dir: str, step: int) -> None:
    """Make the run folder agree with the checkpoint of `step` a run resumes from: trim every
    log to it and delete the temporary files a kill left (grids and the rest after `step`
    are simply written again)."""
    for name in os.listdir(run_dir):
        if is_temporary(name):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(run_dir, name))
    for name in LOGS:
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            trim_log(path, step)


def trim_log(path: str, step: int) -> None:
    """Keep the rows up to `step`, each step once (its last copy: a step logged again after
    a resume replaces the earlier one) and in step order; drop a torn last line. The file
    is rewritten atomically, and only when something changes."""
    with open(path, errors="replace") as f:
        lines = f.read().splitlines()
    rows, unreadable = {}, 0
    for number, line in enumerate(lines, 1):
        row_step = _step_of(line)
        if row_step is None:
            unreadable += number < len(lines)      # a torn last line is what a kill leaves
        else:
            rows[row_step] = line
    if unreadable:
        warnings.warn(f"{path}: dropped {unreadable} unreadable line(s) before its end")
    kept = [rows[s] for s in sorted(rows) if s <= step]
    if kept != lines:
        with atomic_write(path, "w") as f:
            f.write("".join(line + "\n" for line in kept))


def _step_of(line: str) -> int | None:
    """The row's step, or None for a line that is not a complete row."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    step = row.get("step") if isinstance(row, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None
