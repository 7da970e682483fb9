"""Writing files so that a crash never leaves half of one: a temporary file, then a rename;
and reading back the JSON-lines logs a run writes."""
import contextlib
import json
import os


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb", durable: bool = False):
    """Open a temporary file beside `path` for the block; rename it over `path` when the
    block ends without an error, delete it otherwise. durable: fsync before the rename,
    so the new file survives a power cut (checkpoints). The temporary name keeps the
    extension, so writers that infer a format from it (PIL, numpy) still work."""
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{os.getpid()}{ext}"
    try:
        with open(tmp, mode) as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def append_line(path: str, line: str) -> None:
    """Add one line to a text file atomically: the old lines and the new one are written to
    a temporary file that replaces `path`, so a crash leaves the old file whole."""
    old = open(path, "rb").read() if os.path.exists(path) else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    with atomic_write(path) as f:
        f.write(old + line.rstrip("\n").encode() + b"\n")


class LogError(ValueError):
    """A JSON-lines log that cannot be read, reported as a one-line message."""


def read_jsonl(path: str) -> list:
    """Every JSON object of a .jsonl file, in order; LogError names the first bad line."""
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                raise LogError(f"{path}, line {number}: not a JSON object; the file is damaged "
                               "(a line cut short?): delete that line and try again")
            records.append(record)
    return records
