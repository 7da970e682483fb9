"""Training images: an image folder or the built-in shapes, as one uint8 array on the device.

An image folder is decoded, cropped and resized once into a cached uint8 array
that later runs on the same folder reuse. During training the whole array sits
on the training device and batches are drawn there by index, so the loop never
copies images from the host.
"""
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from began_fast.files import atomic_write

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
CACHE_VERSION = 1
MIN_CLASSES = 2    # a folder of class subfolders needs two at least: one class measures nothing


class DataError(ValueError):
    """A problem with the user's data, reported as a one-line message."""


@dataclass
class ImageSet:
    """uint8 images [N, C, S, S], a short identity string, optional labels, and for an
    image folder the source file of each image kept (unreadable ones are skipped).

    labels: the built-in shapes' generating attributes ('shape', 'colour', ...), or for a
    labelled image folder (folder_classes) 'class', each image's index into `classes`,
    the names of its class subfolders."""
    images: np.ndarray
    identity: str
    labels: dict = field(default_factory=dict)
    paths: list | None = None
    classes: tuple = ()

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
    images = _render(shape, colour, radius, cx, cy, background, size, channels)
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


def _folder_set(images: np.ndarray, identity: str, folder: str, paths: list) -> ImageSet:
    """The ImageSet of a folder's decoded images, with classes when the folder is labelled.
    The labels come from the kept files' paths, which the identity covers, so the image
    cache holds none (its format is unchanged)."""
    found = folder_classes(folder, paths)
    if found is None:
        return ImageSet(images, identity, paths=paths)
    names, index = found
    return ImageSet(images, identity, {"class": index}, paths, names)


def load_image_folder(folder: str, size: int, channels: int = 3, crop: str = "center",
                      cache_dir: str | None = None, progress=None) -> ImageSet:
    """Decode, crop and resize every image under `folder` once; reuse the cache after.
    A folder of class subfolders comes with its classes (folder_classes).

    progress: optional callable(iterable, total) -> iterable (a progress bar).
    """
    from PIL import Image

    paths = list_images(folder)
    key = _cache_key(folder, paths, size, channels, crop)
    cache_dir = cache_dir or default_cache_dir()
    cache_file = os.path.join(cache_dir, f"{key}.npz")
    cached = _read_cache(cache_file, (channels, size, size), len(paths))
    if cached is not None:
        images, kept = cached
        return _folder_set(images, key, folder, [paths[i] for i in kept])

    images, kept, skipped, upscaled = [], [], [], 0
    iterator = progress(paths, len(paths)) if progress else paths
    for number, path in enumerate(iterator):
        try:
            array, small = _decode(path, size, channels, crop)
        # What Pillow raises for corrupt, truncated or odd files, and for images so large
        # they may be decompression bombs (above twice Image.MAX_IMAGE_PIXELS).
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            skipped.append(path)
            continue
        upscaled += small
        images.append(array)
        kept.append(number)
    if not images:
        raise DataError(f"--data {folder}: none of the {len(paths)} image files could be read; check that they are valid images")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) of {len(paths)}, e.g. {skipped[0]}")
    if upscaled:
        warnings.warn(f"{upscaled} image(s) smaller than {size} px were upscaled; expect blurrier samples")
    stacked = np.stack(images)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_write(cache_file) as f:
            np.savez(f, images=stacked, kept=np.array(kept))
    except OSError as e:     # training needs only the array in memory; the cache saves time later
        warnings.warn(f"could not write the image cache to {cache_dir} ({e.strerror or e}); "
                      "the next run decodes the images again")
    return _folder_set(stacked, key, folder, [paths[i] for i in kept])


def _read_cache(cache_file: str, image_shape: tuple, listed: int) -> tuple | None:
    """(the cached uint8 images, the indices of the `listed` files they came from), or None
    when there is no cache file or it cannot be used (truncated, corrupt, or of another
    shape: then, with a warning, it is rebuilt)."""
    if not os.path.exists(cache_file):
        return None
    try:
        with np.load(cache_file) as cached:     # allow_pickle stays off: arrays only
            images = cached["images"]
            # A cache written before `kept` existed is complete when it has every listed file.
            kept = cached["kept"] if "kept" in cached else np.arange(listed) if len(images) == listed else None
    except Exception as e:  # numpy and zipfile raise many kinds for a damaged file
        problem = type(e).__name__
    else:
        if not (images.dtype == np.uint8 and images.ndim == 4 and images.shape[1:] == image_shape and len(images)):
            problem = f"{images.dtype} array of shape {images.shape}"
        elif kept is None or not (kept.dtype.kind == "i" and len(kept) == len(images) and np.all(np.diff(kept) > 0)
                                  and 0 <= kept[0] and kept[-1] < listed):
            problem = f"no list of which of the {listed} files its images came from"
        else:
            return images, kept
    warnings.warn(f"the image cache {cache_file} is unusable ({problem}); decoding the images again")
    return None


def _decode(path, size, channels, crop):
    """One file -> uint8 [C, size, size], and whether it had to be upscaled."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        if crop == "celeba" and w >= 153 and h >= 178:        # CelebA's aligned 178x218 faces
            box = (25, 50, 25 + 128, 50 + 128)
        else:
            side = min(w, h)
            box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
        small = box[2] - box[0] < size
        im = im.crop(box).resize((size, size), Image.BICUBIC if small else Image.LANCZOS)
        array = np.asarray(im, dtype=np.uint8)
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array), small


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
    return load_image_folder(opts.data, opts.size, opts.channels, opts.crop, opts.cache_dir, progress)


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "began_fast")


# ---------------------------------------------------------------------------
# Batches on the device.

class DeviceImages:
    """The whole uint8 data set on the training device; batches drawn there.

    `sample` uses only device ops and the device's default generator, so it can
    run inside a compiled function or a captured CUDA graph.
    """

    def __init__(self, images: np.ndarray, device, rank: int = 0, world: int = 1, sentences=None,
                 flip: bool = True):
        """flip: random horizontal flips in `sample`. sentences: for a text-conditioned model (DF-GAN), (vectors float32 [N, K, E], counts
        int [N]): image n's K sentence vectors, the first counts[n] of them real; sharded
        with the images."""
        if world > 1:
            # Under torchrun each rank keeps its own shard, images[rank::world] cut to equal
            # sizes (at most world - 1 images left out), so ranks never draw each other's
            # images and every image keeps the same chance of being drawn.
            per_rank = images.shape[0] // world
            if per_rank == 0:
                raise DataError(f"{images.shape[0]} image(s) cannot be shared among {world} processes; "
                                "use more images or fewer processes")
            shard = slice(rank, per_rank * world, world)
            images = np.ascontiguousarray(images[shard])
            sentences = None if sentences is None else tuple(t[shard] for t in sentences)
        self.images = torch.from_numpy(images).to(device)
        self.count = self.images.shape[0]
        self.flip = flip
        self.sentences, self.sentence_counts = (None, None) if sentences is None else \
            (t.to(self.images.device) for t in sentences)

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
        device = self.images.device
        index = torch.randint(self.count, (batch,), device=device)
        which = draw_below(self.sentence_counts[index])
        x = to_signed_unit(self.images.index_select(0, index)).contiguous(memory_format=memory_format)
        return x, self.sentences[index, which]


def draw_below(counts: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniform random integer below each of `counts` (int [B], on its device): which of
    an image's captions to take. Device ops only."""
    return (torch.rand(counts.shape, device=counts.device, generator=generator) * counts).long()


def to_signed_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1], the range the networks train on."""
    return images.float() / 127.5 - 1.0
