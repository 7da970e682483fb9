"""A labelled image folder's own classifier (data.folder_classes: one class per subfolder),
the network of the shapes' classifier (network.ClassifierNet) trained on the folder's
images: it names each image's class, or "none", and its penultimate layer is the feature
space of fd and PRDC on that folder.

A share of each class is held out to report its accuracy. Like the shapes' classifier it
learns "none" from flat images of any colour and uniform noise, what a collapsed or
untrained generator makes, which it would otherwise call the nearest class. Small random
shifts stand in for the data a folder lacks. No flips: many folders (digits, text) are
not mirror-symmetric, and a mirrored sample is not an image of the folder. Deterministic
from SEED on a given machine; cached per data identity (cache.folder_classifier).
"""
import time

import numpy as np
import torch
import torch.nn.functional as F

from began_fast.data import ImageSet, to_signed_unit
from began_fast.metrics.network import ClassifierNet, fit, flat_and_noise, random_shift

VERSION = 1                 # bump when the network, its data or its training change
HELD_OUT = 0.2              # share of each class (of two images or more) held out, one image at least
# Training draws PASSES images, in whole epochs: at least one, and at most MAX_EPOCHS over a
# small folder. On the digits (docs/results.md, "Digits") twice the passes gained one held-out
# image of 359 (98.9 % -> 99.2 %) and took 1.7 times as long.
PASSES, MAX_EPOCHS = 20_000, 30
BATCH, LR = 128, 3e-3
MIN_NONE = 16               # "none" images: one class's share of the training images, at least this many
SHIFT = 16                  # shifts of up to 1/SHIFT of the side (2 px at 32 px) each way
SEED = 2_000_003            # the split and the weights; the "none" images use SEED + 1 (held out: SEED + 2)


def split(data: ImageSet) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices) into the folder's images: HELD_OUT of each
    class held out, so every class is in both where it has two images or more."""
    labels, rng = data.labels["class"], np.random.default_rng(SEED)
    train, held = [], []
    for c in range(len(data.classes)):
        members = rng.permutation(np.flatnonzero(labels == c))
        keep = max(1, round(HELD_OUT * len(members))) if len(members) >= 2 else 0
        held.append(members[:keep])
        train.append(members[keep:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def none_images(count: int, size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Half flat images, half noise."""
    return flat_and_noise(count - count // 2, count // 2, size, channels, rng)


def train_folder_classifier(data: ImageSet, device) -> tuple[ClassifierNet, dict]:
    """A freshly trained classifier of data.classes and its report: `class`, the share of
    held-out images of the folder it names right; `none`, the share of held-out flat and
    noise images it calls "none"; counts; and the seconds training took."""
    start = time.perf_counter()
    classes, (_, channels, size, _) = len(data.classes), data.images.shape
    labels = data.labels["class"]
    train, held = split(data)
    none = none_images(max(MIN_NONE, len(train) // classes), size, channels, np.random.default_rng(SEED + 1))
    images = torch.from_numpy(np.concatenate([data.images[train], none]))
    target = torch.from_numpy(np.concatenate([labels[train], np.full(len(none), classes)])).long()
    epochs = min(MAX_EPOCHS, max(1, -(-PASSES // len(images))))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(SEED)
        model = ClassifierNet(channels, classes)
        fit(model, images, lambda outputs, index: F.cross_entropy(outputs[1], target[index].to(device)),
            epochs, BATCH, LR, device, augment=lambda x: random_shift(x, max(1, size // SHIFT)))
    held_none = none_images(max(MIN_NONE, len(held) // classes), size, channels, np.random.default_rng(SEED + 2))
    report = {"class": share_named(model, data.images[held], labels[held], device),
              "none": share_named(model, held_none, np.full(len(held_none), classes), device),
              "classes": classes, "train_images": len(train), "held_out_images": len(held), "epochs": epochs,
              "train_seconds": time.perf_counter() - start}
    return model, report


@torch.no_grad()
def share_named(model: ClassifierNet, images: np.ndarray, labels: np.ndarray, device) -> float | None:
    """Share of uint8 images [N, C, S, S] whose likeliest class is their label; None for no images."""
    if not len(images):
        return None
    guesses = [model(to_signed_unit(chunk.to(device)))[1].argmax(1).cpu()
               for chunk in torch.from_numpy(images).split(1024)]
    return (torch.cat(guesses) == torch.from_numpy(labels)).float().mean().item()
