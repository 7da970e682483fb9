"""The built-in shapes' classifier: a small CNN that names the (shape, colour) class of an
image, or "no shape", and bins its size and position. Its penultimate layer is the
feature space of the in-domain Fréchet distance and precision/recall/density/coverage.

It is trained once per image size and channel count, on built-in shapes and on bare
backgrounds (so that a flat image is called "no shape", not the nearest shape), from
fixed seeds, and cached beside the data cache. Images larger than 32 px are
area-averaged to 32 px first: the shapes are at least 7 px across there, so the
classes stay readable, and training costs the same at every size.
"""
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from began_fast.data import (NO_SHAPE, PALETTE, SHAPES, builtin_backgrounds, builtin_shapes, position_cells,
                             size_bins, to_signed_unit)
from began_fast.metrics.network import FEATURES, ClassifierNet, fit, flat_and_noise

VERSION = 1                          # bump when the network, its data or its training change
CLASSES = len(SHAPES) * len(PALETTE)   # (shape, colour) classes; index CLASSES is "no shape"
NONE = CLASSES
SIZE_BINS = 3                        # data.size_bins: radius in thirds of its range
POSITION_BINS = 9                    # data.position_cells: the centre's cell in a 3 x 3 grid
IGNORED = -100                       # cross_entropy's ignore_index: no target

# Training set: TRAIN_SHAPES shapes and TRAIN_NONE shapeless images (about two classes'
# share); held out: TEST_SHAPES and TEST_NONE from other seeds. Sizes and epochs chosen so that
# training takes well under a minute on two CPU cores (docs/results.md, "The shapes classifier").
TRAIN_SHAPES, TRAIN_NONE, TEST_SHAPES, TEST_NONE = 10000, 800, 4000, 800
EPOCHS, BATCH, LR = 3, 128, 3e-3
SEED = 1_000_003                     # the classifier's data and weights; held-out data uses SEED + 1


class ShapesClassifier(ClassifierNet):
    """uint8-range images in [-1, 1], [B, C, S, S] -> (features [B, 128], class logits
    [B, CLASSES + 1], size-bin logits [B, 3], position-bin logits [B, 9])."""

    def __init__(self, channels: int):
        super().__init__(channels, CLASSES)
        self.size_bins = nn.Linear(FEATURES, SIZE_BINS)
        self.position_bins = nn.Linear(FEATURES, POSITION_BINS)

    def forward(self, x):
        features, classes = super().forward(x)
        return features, classes, self.size_bins(features), self.position_bins(features)


def targets(labels: dict) -> dict:
    """The built-in shapes' labels -> the classifier's targets (class, size bin, position bin);
    NO_SHAPE images get class NONE and bins IGNORED (they have no size or position)."""
    none = labels["shape"] == NO_SHAPE
    cls = np.where(none, NONE, labels["shape"] * len(PALETTE) + labels["colour"])
    size = size_bins(labels["radius"])
    position = position_cells(labels["cx"], labels["cy"])
    return {"class": torch.from_numpy(cls).long(),
            "size": torch.from_numpy(np.where(none, IGNORED, size)).long(),
            "position": torch.from_numpy(np.where(none, IGNORED, position)).long()}


def labelled_set(shapes: int, shapeless: int, size: int, channels: int, seed: int):
    """(uint8 images, targets): built-in shapes, then `shapeless` images with no shape."""
    data = builtin_shapes(shapes, size, channels, seed)
    none = np.full(shapeless, NO_SHAPE)
    labels = {"shape": np.concatenate([data.labels["shape"], none]),
              "colour": np.concatenate([data.labels["colour"], none]),
              **{k: np.concatenate([data.labels[k], np.zeros(shapeless)]) for k in ("radius", "cx", "cy")}}
    images = np.concatenate([data.images, shapeless_images(shapeless, size, channels, seed)])
    return torch.from_numpy(images), targets(labels)


def shapeless_images(count: int, size: int, channels: int, seed: int) -> np.ndarray:
    """Half the data's bare backgrounds, a quarter flat images of any colour, a quarter
    uniform noise: without the last two a flat grey or a noisy sample (what a collapsed or
    untrained generator makes) is called a shape with near certainty (measured)."""
    bare = builtin_backgrounds(count - 2 * (count // 4), size, channels, seed)
    rest = flat_and_noise(count // 4, count // 4, size, channels, np.random.default_rng(seed))
    return np.concatenate([bare, rest])


def train_classifier(size: int, channels: int, device) -> tuple[ShapesClassifier, dict]:
    """A freshly trained classifier and its report: held-out accuracy of each head (share
    of images), and the seconds training took. Deterministic from SEED on a given machine."""
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(SEED)
        images, target = labelled_set(TRAIN_SHAPES, TRAIN_NONE, size, channels, SEED)
        model = ShapesClassifier(channels)

        def loss(outputs, index):
            _, cls, size_bins, position_bins = outputs
            return (F.cross_entropy(cls, target["class"][index].to(device))
                    + F.cross_entropy(size_bins, target["size"][index].to(device))
                    + F.cross_entropy(position_bins, target["position"][index].to(device)))
        fit(model, images, loss, EPOCHS, BATCH, LR, device)
    report = held_out_accuracy(model, size, channels, device)
    report["train_seconds"] = time.perf_counter() - start
    return model, report


@torch.no_grad()
def held_out_accuracy(model: ShapesClassifier, size: int, channels: int, device) -> dict:
    """Share of held-out images each head gets right: `class` over shapes and shapeless
    images together, `none` over the shapeless images alone, bins over the shapes."""
    images, target = labelled_set(TEST_SHAPES, TEST_NONE, size, channels, SEED + 1)
    outputs = [model(to_signed_unit(batch.to(device)))[1:] for batch in images.split(1024)]
    cls, size_bins, position_bins = (torch.cat(o).argmax(1).cpu() for o in zip(*outputs))
    shapes = target["size"] >= 0
    return {
        "class": (cls == target["class"]).float().mean().item(),
        "none": (cls[~shapes] == NONE).float().mean().item(),
        "size": (size_bins[shapes] == target["size"][shapes]).float().mean().item(),
        "position": (position_bins[shapes] == target["position"][shapes]).float().mean().item(),
    }
