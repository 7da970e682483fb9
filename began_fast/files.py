"""Writing files so that a crash never leaves half of one: a temporary file, then a rename;
and reading back the JSON-lines logs a run writes."""
import contextlib
import json
import os
import re

# atomic_write's temporary names: `name.tmpPID.ext` beside the file they will replace.
_TEMPORARY = re.compile(r"\.tmp\d+(\.[^.]*)?$")


class WriteError(OSError):
    """A file that could not be written (a full disk, no permission), as a one-line message."""

    def __str__(self):
        return f"could not write {self.filename} ({self.strerror})"


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "wb", durable: bool = False):
    """Open a temporary file beside `path` for the block; rename it over `path` when the
    block ends without an error, delete it otherwise. durable: fsync before the rename,
    so the new file survives a power cut (checkpoints). The temporary name keeps the
    extension, so writers that infer a format from it (PIL, numpy) still work.
    Any OSError (a full disk above all) comes out as a WriteError naming `path`; the
    file that was there before is untouched."""
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{os.getpid()}{ext}"
    try:
        with open(tmp, mode) as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except WriteError:
        raise
    except OSError as e:
        raise WriteError(e.errno, e.strerror or str(e), path) from e
    finally:
        with contextlib.suppress(OSError):    # a full disk still lets us delete
            os.remove(tmp)


def append_line(path: str, line: str) -> None:
    """Append one line. A crash mid-write can leave it torn; readers of such logs drop a
    torn last line (run_folder.trim_logs)."""
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError as e:
        raise WriteError(e.errno, e.strerror or str(e), path) from e


def is_temporary(name: str) -> bool:
    """Whether a file name is one of atomic_write's temporary files (a crash leaves them)."""
    return _TEMPORARY.search(name) is not None


class LogError(ValueError):
    """A JSON-lines log that cannot be read, reported as a one-line message."""


def read_jsonl(path: str) -> list:
    """Every JSON object of a .jsonl file, in order; LogError names the first bad line. A
    torn last line (no newline: a write a crash cut short) is left out."""
    records = []
    with open(path) as f:
        lines = f.readlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if record is None and number == len(lines) and not line.endswith("\n"):
            break
        if not isinstance(record, dict):
            raise LogError(f"{path}, line {number}: not a JSON object; the file is damaged: "
                           "delete that line and try again")
        records.append(record)
    return records
