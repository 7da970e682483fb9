"""Training images: an image folder or the built-in shapes, as one uint8 array, and that
array on the training device.

An image folder is decoded, cropped and resized once (decode.py, by a pool of processes)
into a cache file (image_cache.py) that this and later runs map rather than read. When
this process's shard fits the training device, it sits there whole (DeviceImages) and
batches are drawn there by index, so the loop never copies images from the host; when it
does not, batches are gathered on the host (streaming.py; placement.py decides).
"""
import contextlib
import errno
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from began_fast import image_cache
from began_fast.decode import CRASHED, UNREADABLE, UPSCALED, PoolError, Settings, decode_all, usable_cores
from began_fast.devices import memory_bytes
from began_fast.files import WriteError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
CACHE_VERSION = 1
MIN_CLASSES = 2    # a folder of class subfolders needs two at least: one class measures nothing


class DataError(ValueError):
    """A problem with the user's data, reported as a one-line message."""


@dataclass
class ImageSet:
    """uint8 images [N, C, S, S], a short identity string, optional labels, and for an
    image folder the source file of each image kept (unreadable ones are skipped) and the
    cache file its images map (None when they are in memory).

    labels: the built-in shapes' generating attributes ('shape', 'colour', ...), or for a
    labelled image folder (folder_classes) 'class', each image's index into `classes`,
    the names of its class subfolders."""
    images: np.ndarray
    identity: str
    labels: dict = field(default_factory=dict)
    paths: list | None = None
    classes: tuple = ()
    file: str | None = None

    @property
    def builtin(self) -> bool:
        """The built-in shapes, whose labels are the attributes they were drawn from."""
        return "shape" in self.labels

    def subset(self, index, identity: str) -> "ImageSet":
        """The images at `index` (ints), with their labels and paths, under a new identity."""
        index = np.asarray(index)
        return ImageSet(self.images[index], identity, {k: np.asarray(v)[index] for k, v in self.labels.items()},
                        None if self.paths is None else [self.paths[i] for i in index], self.classes)


# ---------------------------------------------------------------------------
# Built-in data: coloured shapes on a plain background, generated from a seed.

SHAPES = ("disc", "square", "triangle", "ring")
PALETTE = np.array([[230, 60, 50], [60, 180, 75], [50, 110, 230],
                    [250, 200, 40], [200, 80, 200], [240, 240, 240]], dtype=np.float32)
NO_SHAPE = -1      # the shape (and colour) label of an image with no shape on it
RADIUS_RANGE = (0.12, 0.3)   # a shape's radius, in units of the image side
RENDER_CHUNK = 4096          # images rendered at a time: the float32 work space stays small


def builtin_shapes(count: int, size: int, channels: int = 3, seed: int = 0) -> ImageSet:
    """`count` images of one shape each (disc, square, triangle or ring) in one of six
    colours, at a random position and size on a dark background with a faint
    gradient. The generating attributes are kept as labels for mode-coverage checks."""
    rng = np.random.default_rng(seed)
    shape = rng.integers(len(SHAPES), size=count)
    colour = rng.integers(len(PALETTE), size=count)
    radius = rng.uniform(*RADIUS_RANGE, size=count)
    cx = rng.uniform(radius, 1 - radius)
    cy = rng.uniform(radius, 1 - radius)
    background = rng.uniform(0, 60, size=(count, 3)).astype(np.float32)
    images = np.empty((count, channels, size, size), dtype=np.uint8)
    for start in range(0, count, RENDER_CHUNK):     # each image alone: chunks change nothing
        part = slice(start, start + RENDER_CHUNK)
        images[part] = _render(shape[part], colour[part], radius[part], cx[part], cy[part], background[part],
                               size, channels)
    labels = {"shape": shape, "colour": colour, "radius": radius, "cx": cx, "cy": cy}
    return ImageSet(images, f"builtin-shapes:{count}:{size}:{channels}:{seed}", labels)


def size_bins(radius: np.ndarray) -> np.ndarray:
    """0 small, 1 medium, 2 large: the radius in thirds of RADIUS_RANGE."""
    low, high = RADIUS_RANGE
    return np.clip(((radius - low) / ((high - low) / 3)).astype(int), 0, 2)


def position_cells(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """The centre's cell in a 3 x 3 grid over the image, row * 3 + column (0 top left,
    4 centre, 8 bottom right)."""
    third = lambda c: np.clip((c * 3).astype(int), 0, 2)
    return third(cy) * 3 + third(cx)


def builtin_backgrounds(count: int, size: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """uint8 [count, C, S, S]: the built-in shapes' backgrounds with no shape on them, the
    "no shape" examples a shapes classifier learns from."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(0, 60, size=(count, 3)).astype(np.float32)
    none, zero = np.full(count, NO_SHAPE), np.zeros(count)
    return _render(none, none, zero, zero, zero, background, size, channels)


def _render(shape, colour, radius, cx, cy, background, size, channels) -> np.ndarray:
    """Attributes -> uint8 [N, C, S, S]; a shape index of NO_SHAPE draws the background alone."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    ys, xs = coords[None, :, None], coords[None, None, :]
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    r = radius[:, None, None]
    dist = np.sqrt(dx ** 2 + dy ** 2)
    masks = {
        "disc": dist <= r,
        "square": np.maximum(abs(dx), abs(dy)) <= r * 0.8,
        "triangle": (dy <= r * 0.7) & (dy >= 2 * abs(dx) - r),
        "ring": (dist <= r) & (dist >= r * 0.55),
    }
    inside = np.zeros((len(shape), size, size), dtype=bool)
    for index, name in enumerate(SHAPES):
        inside |= (shape == index)[:, None, None] & masks[name]

    shade = 0.75 + 0.25 * ys                                    # vertical gradient, [S, 1]
    rgb = np.where(inside[:, None], PALETTE[colour][:, :, None, None],
                   background[:, :, None, None] * shade[None])
    images = np.clip(rgb, 0, 255).astype(np.uint8)
    return _to_grey(images) if channels == 1 else images


def _to_grey(rgb: np.ndarray) -> np.ndarray:
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)[None, :, None, None]
    return np.round((rgb.astype(np.float32) * weights).sum(1, keepdims=True)).astype(np.uint8)


# ---------------------------------------------------------------------------
# Image folders.

def list_images(folder: str) -> list:
    if not os.path.exists(folder):
        raise DataError(f"--data {folder}: no such folder; give a folder of images, or leave --data out for the built-in shapes")
    if not os.path.isdir(folder):
        raise DataError(f"--data {folder}: not a folder; give the folder that holds the images")
    paths = []
    for root, _dirs, files in os.walk(folder):
        paths += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
        raise DataError(f"--data {folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} in all subfolders)")
    return sorted(paths)


def folder_classes(folder: str, paths: list) -> tuple[tuple, np.ndarray] | None:
    """(class names, each path's class index) when `folder` is labelled, else None.

    Labelled, as torchvision's ImageFolder lays a data set out: every image sits directly
    in a direct subfolder (DIR/CLASS/NAME.png), whose name is its class, and there are at
    least MIN_CLASSES of them. One image at the top level or deeper down makes the whole
    folder unlabelled: then the subfolders are not a partition into classes."""
    parts = [os.path.relpath(path, folder).split(os.sep) for path in paths]
    if any(len(p) != 2 for p in parts):
        return None
    names = sorted({p[0] for p in parts})
    if len(names) < MIN_CLASSES:
        return None
    number = {name: i for i, name in enumerate(names)}
    return tuple(names), np.array([number[p[0]] for p in parts], dtype=np.int64)


def _folder_set(images: np.ndarray, identity: str, folder: str, paths: list, file: str | None) -> ImageSet:
    """The ImageSet of a folder's decoded images, with classes when the folder is labelled.
    The labels come from the kept files' paths, which the identity covers, so the image
    cache holds none."""
    found = folder_classes(folder, paths)
    if found is None:
        return ImageSet(images, identity, paths=paths, file=file)
    names, index = found
    return ImageSet(images, identity, {"class": index}, paths, names, file)


def load_image_folder(folder: str, size: int, channels: int = 3, crop: str = "center",
                      cache_dir: str | None = None, progress=None, workers: int | None = None) -> ImageSet:
    """Decode, crop and resize every image under `folder` once; map the cache after.
    A folder of class subfolders comes with its classes (folder_classes).

    progress: optional callable(iterable, total) -> iterable (a progress bar, counting images).
    workers: decoding processes (default: the usable cores).
    """
    paths = list_images(folder)
    key = _cache_key(folder, paths, size, channels, crop)
    cache_dir = cache_dir or default_cache_dir()
    cached = image_cache.load(cache_dir, key, (channels, size, size), len(paths))
    if cached is None:
        settings, cache_file = Settings(size, channels, crop), os.path.join(cache_dir, f"{key}.npy")
        cached = _decode_folder(folder, paths, settings, cache_file, workers or usable_cores(), progress)
        if _cache_key(folder, list_images(folder), size, channels, crop) != key:
            cached = _changed_while_decoded(folder, *cached)
    images, kept, file = cached
    return _folder_set(images, key, folder, [paths[i] for i in kept], file)


def _decode_folder(folder: str, paths: list, settings: Settings, cache_file: str, workers: int, progress) -> tuple:
    """(images, indices of the files kept, the cache file or None): decoded into a new cache
    file, or when it cannot be written, into memory by this process alone."""
    shape = (len(paths), settings.channels, settings.size, settings.size)
    try:
        with image_cache.create(cache_file, shape) as new:
            outcomes = _decode_all(folder, paths, settings, new.rows, workers, progress, new.rows_file)
            kept = _kept(folder, paths, outcomes)
            new.finish(kept, len(paths))
        found = image_cache.read(cache_file, shape[1:], len(paths))
        if found is None:
            raise WriteError(errno.EIO, "what was written reads back wrong", cache_file)
        (images, kept), file = found, cache_file
    except WriteError as e:
        problem = e.strerror or str(e)
        need, room = int(np.prod(shape, dtype=np.int64)), memory_bytes(torch.device("cpu"))
        if room is not None and need > room:
            raise DataError(f"--data {folder}: the decoded images need {need / 2 ** 30:.3g} GiB, which fit neither "
                            f"the image cache in {os.path.dirname(cache_file)} ({problem}) nor the "
                            f"{room / 2 ** 30:.3g} GiB of memory; free some space there or give --cache-dir on "
                            "a disk with room") from None
        warnings.warn(f"could not write the image cache to {os.path.dirname(cache_file)} ({problem}); decoding "
                      "into memory in this process; the next run decodes the images again")
        images = np.empty(shape, dtype=np.uint8)
        outcomes = _decode_all(folder, paths, settings, images, 1, progress)
        kept = _kept(folder, paths, outcomes)
        image_cache.compact(images, kept)
        images, file = images[:len(kept)], None
    skipped = np.flatnonzero(outcomes >= UNREADABLE)
    if len(skipped):
        crashed = np.count_nonzero(outcomes == CRASHED)
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) of {len(paths)}, e.g. {paths[skipped[0]]}"
                      + (f" ({crashed} of them crashed the decoding process)" if crashed else ""))
    upscaled = np.count_nonzero(outcomes == UPSCALED)
    if upscaled:
        warnings.warn(f"{upscaled} image(s) smaller than {settings.size} px were upscaled; expect blurrier samples")
    return images, kept, file


def _decode_all(folder, paths, settings, rows, workers, progress, rows_file=None) -> np.ndarray:
    try:
        return decode_all(paths, settings, rows, workers, progress, rows_file)
    except PoolError as e:
        raise DataError(f"--data {folder}: {e}") from None


def _kept(folder: str, paths: list, outcomes: np.ndarray) -> np.ndarray:
    """The indices of the files decoded; a DataError when there are none."""
    kept = np.flatnonzero(outcomes < UNREADABLE)
    if not len(kept):
        raise DataError(f"--data {folder}: none of the {len(paths)} image files could be read; check that they "
                        "are valid images")
    return kept


def _changed_while_decoded(folder: str, images: np.ndarray, kept: np.ndarray, file: str | None) -> tuple:
    """A folder whose files changed while they were decoded: its cache would be found by no
    run (its name comes from the files as they were), so it goes; this run keeps the
    images as read (a mapped file stays readable once deleted)."""
    warnings.warn(f"--data {folder} changed while its images were decoded (files added, removed or rewritten): "
                  f"this run trains on the {len(kept)} images as read, and the next run decodes the folder again")
    if file is not None:
        with contextlib.suppress(OSError):
            os.remove(file)
    return images, kept, None


def _cache_key(folder, paths, size, channels, crop) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, os.path.abspath(folder), size, channels, crop]).encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"folder-{digest.hexdigest()[:20]}"


def load_training_data(opts, progress=None) -> ImageSet:
    """A run's data from its options (an Options or anything with the same fields): the
    image folder --data, or the built-in shapes from --data-seed."""
    if opts.data is None:
        return builtin_shapes(opts.builtin_count, opts.size, opts.channels, opts.data_seed)
    return load_image_folder(opts.data, opts.size, opts.channels, opts.crop, opts.cache_dir, progress,
                             opts.decode_workers)


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "began_fast")


# ---------------------------------------------------------------------------
# Batches on the device.

def shard_size(total: int, world: int) -> int:
    """Images per process under torchrun. Each rank keeps its own shard, images[rank::world]
    cut to equal sizes (at most world - 1 images left out), so ranks never draw each other's
    images and every image keeps the same chance of being drawn."""
    per_rank = total // world
    if per_rank == 0:
        raise DataError(f"{total} image(s) cannot be shared among {world} processes; use more images or fewer processes")
    return per_rank


def read_shard(images: np.ndarray, file: str | None, rank: int, world: int, device) -> torch.Tensor:
    """This rank's shard, images[rank::world][:shard_size], as a uint8 tensor on `device`,
    copied a block at a time (image_cache.strided_blocks): beside the result the host holds
    one block, never the data set. In-memory images of one process are used as they are."""
    count = shard_size(len(images), world)
    if world == 1 and file is None and not isinstance(images, np.memmap):
        return torch.from_numpy(images).to(device)
    out = torch.empty((count, *images.shape[1:]), dtype=torch.uint8, device=device)
    for first, block in image_cache.strided_blocks(images, file, rank, world, count):
        out[first:first + len(block)].copy_(torch.from_numpy(block))
    return out


def shard_sentences(sentences, rank: int, world: int, count: int, device):
    """A text-conditioned model's (sentence vectors, counts) of this rank's images, on `device`."""
    if sentences is None:
        return None, None
    return tuple(t[rank:count * world:world].to(device) for t in sentences)


class DeviceImages:
    """This process's shard of the uint8 data set, whole on the training device; batches
    drawn there.

    `sample` uses only device ops and the device's default generator, so it can
    run inside a compiled function or a captured CUDA graph.
    """

    def __init__(self, images: np.ndarray, device, rank: int = 0, world: int = 1, sentences=None,
                 flip: bool = True, file: str | None = None):
        """flip: random horizontal flips in `sample`. sentences: for a text-conditioned model
        (DF-GAN), (vectors float32 [N, K, E], counts int [N]): image n's K sentence vectors,
        the first counts[n] of them real; sharded with the images. file: the cache file
        `images` maps, read from directly (read_shard)."""
        self.images = read_shard(images, file, rank, world, torch.device(device))
        self.device = self.images.device
        self.count = self.images.shape[0]
        self.flip = flip
        self.sentences, self.sentence_counts = shard_sentences(sentences, rank, world, self.count, self.device)

    def stage(self) -> None:
        """Before each step: nothing to do, the data are on the device (streaming.HostImages
        copies its batches here)."""

    def prefetch(self) -> None:
        """After each step: nothing to do (HostImages gathers the next batches here)."""

    def rewind(self) -> None:
        """Before a checkpoint: nothing drawn ahead to take back (see HostImages)."""

    def sample(self, batch: int, memory_format=torch.contiguous_format) -> torch.Tensor:
        """A random batch, float32 in [-1, 1], each image flipped left-right with probability
        1/2 when self.flip."""
        device = self.images.device
        index = torch.randint(self.count, (batch,), device=device)
        x = self.images.index_select(0, index)
        if self.flip:
            flip = torch.rand(batch, 1, 1, 1, device=device) < 0.5
            x = torch.where(flip, x.flip(3), x)
        return to_signed_unit(x).contiguous(memory_format=memory_format)

    def sample_with_sentences(self, batch: int, memory_format=torch.contiguous_format) -> tuple:
        """(images float32 [B, C, S, S] in [-1, 1], sentence vectors [B, E]): random images,
        each with one of its own captions at random. No flips: captions may say left or
        right. Device ops only, like sample."""
        index = torch.randint(self.count, (batch,), device=self.images.device)
        return with_sentences(self, self.images.index_select(0, index), index, memory_format)


def with_sentences(data, x: torch.Tensor, index: torch.Tensor, memory_format) -> tuple:
    """(images x scaled to [-1, 1], for each one of its own sentence vectors at random, from
    data.sentences and data.sentence_counts; `index`: the images' places in the shard)."""
    which = draw_below(data.sentence_counts[index])
    return to_signed_unit(x).contiguous(memory_format=memory_format), data.sentences[index, which]


def draw_below(counts: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniform random integer below each of `counts` (int [B], on its device): which of
    an image's captions to take. Device ops only."""
    return (torch.rand(counts.shape, device=counts.device, generator=generator) * counts).long()


def to_signed_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1], the range the networks train on."""
    return images.float() / 127.5 - 1.0
