"""Writing files so that a crash never leaves half of one: a temporary file, then a rename."""
import contextlib
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
