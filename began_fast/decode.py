"""Decoding an image folder's files into the rows of an array: in this process, or by a pool
of worker processes that write their rows straight into the memory-mapped cache file.

Row i holds file i's image, so the result does not depend on which process decoded what
or when: the pool's rows are the serial decode's, byte for byte. Each file's outcome goes
into an array shared with the workers; a worker that dies (a file that crashes the
decoder) breaks the pool, and then the files it was decoding are each tried alone in a
fresh process, those that kill it again counted as skipped, and the pool goes on with
the rest. Imports no torch: the workers need only numpy and Pillow.
"""
import collections
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Each listed file's outcome.
PENDING, STARTED, DECODED, UPSCALED, UNREADABLE, CRASHED = range(6)
# What Pillow raises for corrupt, truncated or odd files, and for images so large they may be
# decompression bombs (above twice Image.MAX_IMAGE_PIXELS); and an image too large to decode
# in the memory there is.
UNREADABLE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError)
FILES_PER_WORKER = 8     # fewer files than this per worker: fewer workers (a pool costs a fork each)
CHUNKS_PER_WORKER = 8    # work handed out in about this many pieces per worker, at most MAX_CHUNK files
MAX_CHUNK = 256


class PoolError(RuntimeError):
    """A pool that cannot decode at all, as a one-line message."""


@dataclass(frozen=True)
class Settings:
    size: int
    channels: int
    crop: str


def usable_cores() -> int:
    """The cores this process may run on (its affinity, e.g. under taskset or a CPU quota's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:       # no sched_getaffinity (macOS)
        return os.cpu_count() or 1


def decode_file(path: str, settings: Settings) -> tuple:
    """One file -> (uint8 [C, size, size], whether it had to be upscaled)."""
    size, crop = settings.size, settings.crop
    with Image.open(path) as im:
        im = im.convert("L" if settings.channels == 1 else "RGB")
        w, h = im.size
        if crop == "celeba" and w >= 153 and h >= 178:        # CelebA's aligned 178x218 faces
            box = (25, 50, 25 + 128, 50 + 128)
        else:
            side = min(w, h)
            box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
        small = box[2] - box[0] < size
        im = im.crop(box).resize((size, size), Image.BICUBIC if small else Image.LANCZOS)
        array = np.asarray(im, dtype=np.uint8)
    array = array[None] if settings.channels == 1 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array), small


def decode_all(paths: list, settings: Settings, rows: np.ndarray, workers: int = 1, progress=None,
               rows_file: tuple | None = None) -> np.ndarray:
    """Decode paths[i] into rows[i] for every i; the outcome of each (DECODED, UPSCALED,
    UNREADABLE or CRASHED). workers > 1 needs rows_file, (path, offset) of the file `rows`
    maps, for the workers to map. progress: optional callable(iterable, total) -> iterable
    (a progress bar), stepped once per file."""
    outcomes = multiprocessing.RawArray("b", len(paths))     # zeros: PENDING
    workers = min(workers, -(-len(paths) // FILES_PER_WORKER))
    if workers > 1 and rows_file is not None:
        ticks = _pool_ticks(paths, settings, rows.shape, rows_file, outcomes, workers)
    else:
        _job.update(rows=rows, outcomes=np.frombuffer(outcomes, dtype=np.int8), settings=settings)
        ticks = (_decode_one(i, path) for i, path in enumerate(paths))
    try:
        collections.deque(progress(ticks, len(paths)) if progress else ticks, maxlen=0)
    finally:
        _job.clear()       # no reference to the rows outlives the decode
    return np.frombuffer(outcomes, dtype=np.int8).copy()


# ---------------------------------------------------------------------------------------------
# The work itself, the same in this process and in a worker: _job holds the rows, the shared
# outcomes and the settings (a worker's are set by _start_worker).

_job = {}


def _start_worker(rows_file: tuple, shape: tuple, outcomes, settings: Settings) -> None:
    path, offset = rows_file
    _job.update(rows=np.memmap(path, dtype=np.uint8, mode="r+", offset=offset, shape=shape),
                outcomes=np.frombuffer(outcomes, dtype=np.int8), settings=settings)


def _decode_one(index: int, path: str) -> None:
    outcomes = _job["outcomes"]
    outcomes[index] = STARTED
    try:
        array, small = decode_file(path, _job["settings"])
    except UNREADABLE_ERRORS:
        outcomes[index] = UNREADABLE
        return
    _job["rows"][index] = array
    outcomes[index] = UPSCALED if small else DECODED


def _decode_chunk(indices: list, paths: list) -> None:
    for index, path in zip(indices, paths):
        _decode_one(index, path)


# ---------------------------------------------------------------------------------------------
# The pool.

def _pool_ticks(paths, settings, shape, rows_file, outcomes, workers):
    """Run the pool over every file, yielding once per file done; after a crash, each file a
    dead worker had started is tried alone, and the pool goes on with those not started."""
    shared = np.frombuffer(outcomes, dtype=np.int8)
    start = (rows_file, shape, outcomes, settings)
    todo = list(range(len(paths)))
    while todo:
        if (yield from _run_pool(todo, paths, start, workers)):
            return
        suspects = np.flatnonzero(shared == STARTED).tolist()
        for index in suspects:
            if not (yield from _run_pool([index], paths, start, 1)):
                shared[index] = CRASHED
                yield
        left = np.flatnonzero(shared == PENDING).tolist()
        if not suspects and len(left) == len(todo):     # it died before it started anything
            raise PoolError("the decoding processes died before decoding anything (out of memory?); "
                            "try --decode-workers 1")
        todo = left


def _run_pool(todo, paths, start, workers):
    """Decode the files `todo` in a pool; True when all were done, False when a worker died
    (the files it was decoding are left STARTED). Yields once per file done."""
    size = max(1, min(MAX_CHUNK, len(todo) // (workers * CHUNKS_PER_WORKER)))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=start)
    counted = 0
    try:
        futures = {pool.submit(_decode_chunk, chunk, [paths[i] for i in chunk]): len(chunk) for chunk in chunks}
        for future in as_completed(futures):
            future.result()
            for _ in range(futures[future]):
                yield
            counted += futures[future]
        return True
    except BrokenProcessPool:
        shared = np.frombuffer(start[2], dtype=np.int8)
        finished = int(np.count_nonzero(shared[todo] >= DECODED)) - counted   # done in chunks cut short
        for _ in range(finished):
            yield
        return False
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
