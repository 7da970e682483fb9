"""The decoded image cache: one uncompressed file per folder, size, channels and crop, which
processes map instead of reading.

    KEY.npy   a plain .npy of uint8 [N, C, S, S] (np.load(path, mmap_mode="r") opens it),
              then a footer: the JSON of its metadata, the JSON's length (8 bytes,
              little-endian) and FOOTER_MAGIC.

The metadata say how many files the folder listed and which of them were skipped
(unreadable): the rows are the other files' images, in the listed order. The footer is
written last, so a file cut short anywhere has none; the file is written under a temporary
name and renamed whole (files.atomic_write). Caches of the earlier form, KEY.npz (a zip of
the array and the kept indices, read whole), are read once and rewritten in this form.
"""
import contextlib
import errno
import io
import json
import os
import struct
import warnings
from dataclasses import dataclass

import numpy as np

from began_fast.files import WriteError, atomic_write

FOOTER_MAGIC = b"BFCACHE2"
_LENGTH = struct.Struct("<Q")
MOVE_BYTES = 64 * 2 ** 20    # rows moved or read per block, so the host holds at most this much at once


def load(cache_dir: str, key: str, image_shape: tuple, listed: int) -> tuple | None:
    """(the cached images, mapped; the indices of the `listed` files they came from; the
    cache file, or None when the images are in memory), or None when there is no usable
    cache (a damaged one is reported with a warning, to be rebuilt)."""
    path, legacy = os.path.join(cache_dir, f"{key}.npy"), os.path.join(cache_dir, f"{key}.npz")
    found = read(path, image_shape, listed)
    if found is not None:
        return (*found, path)
    old = read_legacy(legacy, image_shape, listed)
    if old is None:
        return None
    try:
        save(path, *old, listed)
    except WriteError as e:
        warnings.warn(f"could not rewrite the image cache {legacy} in the mapped form ({e.strerror}); "
                      "this run reads it whole, as the next one will")
        return (*old, None)
    os.remove(legacy)
    found = read(path, image_shape, listed)
    return (*old, None) if found is None else (*found, path)


def read(path: str, image_shape: tuple, listed: int) -> tuple | None:
    """(the cached images as a copy-on-write map of the file, the indices of the `listed`
    files they came from), or None when there is no file or it cannot be used (cut short,
    corrupt, or of another shape: then with a warning)."""
    if not os.path.exists(path):
        return None
    try:
        meta = _footer(path)
        images = np.load(path, mmap_mode="c")    # copy-on-write: writable for torch, never written back
        skipped = np.asarray(meta.get("skipped"), dtype=np.int64)
    except _Unusable as e:
        problem = str(e)
    except Exception as e:    # numpy and json raise many kinds for a damaged file
        problem = type(e).__name__
    else:
        problem = _shape_problem(images, image_shape)
        if problem is None and not (meta["shape"] == list(images.shape) and meta.get("listed") == listed
                                    and skipped.ndim == 1 and len(skipped) + len(images) == listed
                                    and np.all(np.diff(skipped) > 0) and np.all((0 <= skipped) & (skipped < listed))):
            problem = f"its list of skipped files does not fit its {len(images)} images of {listed} files"
        if problem is None:
            return images, np.setdiff1d(np.arange(listed), skipped)
    _unusable(path, problem)
    return None


def read_legacy(path: str, image_shape: tuple, listed: int) -> tuple | None:
    """An .npz cache of the earlier form: (images in memory, kept indices), or None (with a
    warning when it is there but damaged)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as cached:     # allow_pickle stays off: arrays only
            images = cached["images"]
            # A cache written before `kept` existed is complete when it has every listed file.
            kept = cached["kept"] if "kept" in cached else np.arange(listed) if len(images) == listed else None
    except Exception as e:  # numpy and zipfile raise many kinds for a damaged file
        problem = type(e).__name__
    else:
        problem = _shape_problem(images, image_shape)
        if problem is None and (kept is None or not (
                kept.dtype.kind == "i" and len(kept) == len(images) and np.all(np.diff(kept) > 0)
                and 0 <= kept[0] and kept[-1] < listed)):
            problem = f"no list of which of the {listed} files its images came from"
        if problem is None:
            return images, kept
    _unusable(path, problem)
    return None


def _shape_problem(images: np.ndarray, image_shape: tuple) -> str | None:
    """What is wrong with a cached array that is not uint8 [N >= 1, *image_shape], or None."""
    if images.dtype == np.uint8 and images.ndim == 4 and images.shape[1:] == image_shape and len(images):
        return None
    return f"{images.dtype} array of shape {images.shape}"


def _unusable(path: str, problem: str) -> None:
    warnings.warn(f"the image cache {path} is unusable ({problem}); decoding the images again")


class _Unusable(ValueError):
    """A cache file whose footer is missing or damaged."""


def _footer(path: str) -> dict:
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        tail = len(FOOTER_MAGIC) + _LENGTH.size
        if size < tail:
            raise _Unusable("no footer")
        f.seek(size - tail)
        end = f.read(tail)
        (length,) = _LENGTH.unpack(end[:_LENGTH.size])
        if end[_LENGTH.size:] != FOOTER_MAGIC or length > size - tail:
            raise _Unusable("no footer")
        f.seek(size - tail - length)
        meta = json.loads(f.read(length))
        header = _header_length(f)
    if not isinstance(meta, dict) or not isinstance(meta.get("shape"), list):
        raise _Unusable("a footer without a shape")
    rows = np.prod(meta["shape"], dtype=np.int64)
    if header + rows + length + tail != size:      # the footer follows the rows at once
        raise _Unusable("the footer and the rows disagree on the size")
    return meta


def _header_length(f) -> int:
    """The length of a .npy file's header (version 1.0, the one written here)."""
    f.seek(0)
    if np.lib.format.read_magic(f) != (1, 0):
        raise _Unusable("not a version 1.0 .npy file")
    np.lib.format.read_array_header_1_0(f)
    return f.tell()


def _npy_header(shape: tuple) -> bytes:
    """The .npy header of uint8 `shape`. Numpy pads it so that the first dimension can grow
    to 21 digits without changing its length: a header for fewer rows fits in its place."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)})
    return out.getvalue()


@dataclass
class NewCache:
    """A cache file being written: `rows` (a writable map of its rows), and where worker
    processes map the same rows (`rows_file`: path and offset)."""
    rows: np.ndarray
    rows_file: tuple
    _file: object

    def finish(self, kept: np.ndarray, listed: int) -> None:
        """Write the footer: the rows are the images of the `kept` files (indices, ascending)
        of `listed`. When there are more rows than kept files (a row for every listed file),
        the kept ones are first moved to the front, in order, and the rest cut off."""
        if len(self.rows) != len(kept):
            compact(self.rows, kept)
        shape = (len(kept), *self.rows.shape[1:])
        self.rows.flush()
        del self.rows
        f, header = self._file, _npy_header(shape)
        if len(header) != self.rows_file[1]:     # numpy's padding promises this never happens
            raise WriteError(errno.EIO, "the array header changed length", f.name)
        f.truncate(len(header) + int(np.prod(shape, dtype=np.int64)))
        f.seek(0)
        f.write(header)
        f.seek(0, os.SEEK_END)
        skipped = np.setdiff1d(np.arange(listed), kept).tolist()
        meta = json.dumps({"shape": list(shape), "listed": listed, "skipped": skipped}).encode()
        f.write(meta + _LENGTH.pack(len(meta)) + FOOTER_MAGIC)


@contextlib.contextmanager
def create(path: str, shape: tuple):
    """A NewCache of uint8 `shape` for the block, its space reserved on disk first (a full
    disk is a WriteError here, not a crash when a mapped page finds no room); renamed over
    `path` when the block ends without an error, deleted otherwise."""
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    except OSError as e:
        raise WriteError(e.errno, e.strerror or str(e), path) from e
    with atomic_write(path, "w+b") as f:
        header = _npy_header(shape)
        f.write(header)
        f.flush()
        _reserve(f.fileno(), len(header) + int(np.prod(shape, dtype=np.int64)), path)
        rows = np.memmap(f.name, dtype=np.uint8, mode="r+", offset=len(header), shape=shape)
        yield NewCache(rows, (f.name, len(header)), f)


def _reserve(fd: int, size: int, path: str) -> None:
    """Allocate `size` bytes of disk for the file now (which sets its length too)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except AttributeError:    # no posix_fallocate (macOS): the length alone
        pass
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):    # EINVAL, EOPNOTSUPP: a file system that cannot
            raise WriteError(e.errno, e.strerror or str(e), path) from e
    os.ftruncate(fd, size)


def save(path: str, images: np.ndarray, kept: np.ndarray, listed: int) -> None:
    """Write in-memory images, those of the `kept` files of `listed`, as a cache file."""
    with create(path, images.shape) as new:
        new.rows[:] = images
        new.finish(kept, listed)


def compact(rows: np.ndarray, kept: np.ndarray) -> None:
    """Move the rows at `kept` (ascending) to the front, in order, a block at a time (each
    row moves down or stays, so no row is overwritten before it has moved)."""
    row_bytes = max(rows[0].nbytes, 1) if len(rows) else 1
    block = max(1, MOVE_BYTES // row_bytes)
    kept = np.asarray(kept)
    moved = np.flatnonzero(kept != np.arange(len(kept)))
    if not len(moved):
        return
    # Runs of consecutive kept rows move as one slice.
    first = moved[0]
    starts = np.concatenate([[first], first + 1 + np.flatnonzero(np.diff(kept[first:]) != 1)])
    ends = np.concatenate([starts[1:], [len(kept)]])
    for start, end in zip(starts, ends):
        for at in range(start, end, block):
            stop = min(at + block, end)
            source = kept[at]
            rows[at:stop] = rows[source:source + stop - at]


def strided_blocks(images: np.ndarray, file: str | None, start: int, step: int, count: int):
    """images[start::step][:count], about MOVE_BYTES at a time, as (index of the block's first
    row among those, uint8 rows). From `file`, the cache file `images` maps, with plain reads:
    pages read through the map would stay counted in this process's memory; from the array
    itself when there is no file."""
    row_bytes = images[0].nbytes
    per_block = max(1, MOVE_BYTES // (row_bytes * step))
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open(file, "rb")) if file else None
        offset = _header_length(handle) if handle else 0
        for first in range(0, count, per_block):
            low = start + first * step
            high = low + (min(per_block, count - first) - 1) * step + 1
            if handle is None:
                yield first, images[low:high:step]
                continue
            span = np.empty((high - low, *images.shape[1:]), dtype=np.uint8)
            handle.seek(offset + low * row_bytes)
            if handle.readinto(span) != span.nbytes:
                raise OSError(errno.EIO, f"{file} ends early: it was cut short while in use")
            yield first, span[::step]
