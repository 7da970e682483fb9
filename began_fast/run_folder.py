"""A run's folder: claiming a new numbered one (or taking over one a run left before its
first checkpoint), and making it agree with a checkpoint.

A run appends to its logs (JSON lines, each row with its `step`) at every log interval
and writes a checkpoint every --ckpt-every steps, so after a kill the logs can run past
the newest checkpoint and end in a torn line. A resume calls `restore` first: the logs
then hold each step once, in order, up to the checkpoint's step, however often the run
was killed, and the steps after it are logged again as the run repeats them.

A new run holds an flock on its folder for as long as it lives (the kernel drops it when
the process dies, kill -9 included). A folder with no checkpoint that nobody holds was left
by a run stopped before its first checkpoint: `take_over` hands it to the next start of the
same data and size (`--resume auto` with nothing to resume), so that a job killed and
restarted early keeps one folder instead of leaving an empty one behind at each restart.
"""
import contextlib
import errno
import json
import os
import re
import warnings

from began_fast import checkpoint
from began_fast.files import atomic_write, is_temporary

try:
    import fcntl
except ImportError:      # no flock (Windows): mkdir's FileExistsError alone keeps runs apart
    fcntl = None

STATS = "stats.jsonl"
METRICS = "metrics.jsonl"
LOGS = (STATS, METRICS)  # every JSON-lines log a run folder holds; each is trimmed on resume
EVENT_FILE = "events.out.tfevents."   # TensorBoard's event files: trimmed by their reader (tensorboard_log.py)
_held = {}               # run folder -> the descriptor whose flock marks it as in use by this process


def grid_path(run_dir: str, name: str, step: int) -> str:
    """RUN_DIR/NAME-STEP.png: a grid (samples, recon...) of one step."""
    return os.path.join(run_dir, f"{name}-{step:08d}.png")


def claim(out: str, name: str) -> str:
    """Create out/NNNNN-name, numbered after the highest run there, hold it, and return its
    path. Two runs started at once on the same `out` get different numbers: the number is
    chosen under a lock on `out`, and a number taken all the same (a file system without
    locks) sends us on to the next."""
    os.makedirs(out, exist_ok=True)
    with _locked(out):
        number = max((int(d[:5]) for d in os.listdir(out) if d[:5].isdigit()), default=-1) + 1
        while True:
            path = os.path.join(out, f"{number:05d}-{name}")
            try:
                os.mkdir(path)
            except FileExistsError:
                number += 1
                continue
            _hold(path)
            return path


def take_over(out: str, name: str) -> str | None:
    """The newest out/NNNNN-name that holds no checkpoint and that no living run holds, now
    held by this process with its logs emptied (its TensorBoard event files deleted); None when there is none (or the file system
    cannot tell: no flock)."""
    if not os.path.isdir(out):
        return None
    pattern = re.compile(rf"\d{{5}}-{re.escape(name)}")
    with _locked(out):
        for folder in sorted((d for d in os.listdir(out) if pattern.fullmatch(d)), reverse=True):
            path = os.path.join(out, folder)
            if os.path.isdir(path) and not checkpoint.in_run(path) and _hold(path):
                restore(path, 0)
                for name in os.listdir(path):     # nothing of the stopped run's is kept
                    if name.startswith(EVENT_FILE):
                        os.remove(os.path.join(path, name))
                return path
    return None


def release_all() -> None:
    """Drop this process's hold on its run folders (at the end of a run)."""
    while _held:
        os.close(_held.popitem()[1])


def _hold(path: str) -> bool:
    """Take a non-blocking flock on the folder `path` for this process; False when another
    process holds it, or the file system offers no flock."""
    if fcntl is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.ENOLCK, errno.EOPNOTSUPP):
            raise
        return False
    _held[os.path.abspath(path)] = fd
    return True


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
