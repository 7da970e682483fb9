"""What the metrics keep between runs, under the data cache (--cache-dir, default
~/.cache/began_fast) in metrics/: the shapes classifier, once per image size and channel
count; a labelled image folder's classifier, once per data identity; each data set's
statistics and its real-against-real scores, once per data identity. Every name carries
its classifier's VERSION, so a changed classifier never meets statistics computed with an
older one.
"""
import json
import os
import re

import torch

from began_fast.data import ImageSet, default_cache_dir
from began_fast.files import atomic_write
from began_fast.metrics import folder_classifier as folder
from began_fast.metrics.classifier import VERSION, ShapesClassifier, train_classifier
from began_fast.metrics.distances import moments
from began_fast.metrics.modes import histogram
from began_fast.metrics.network import ClassifierNet
from began_fast.metrics.readout import read


def metrics_dir(cache_dir: str | None) -> str:
    path = os.path.join(cache_dir or default_cache_dir(), "metrics")
    os.makedirs(path, exist_ok=True)
    return path


def file_name(identity: str) -> str:
    """A data identity ('builtin-shapes:8000:32:3:0') as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", identity)


def load_or_build(path: str, build):
    """The tensors-and-numbers dict saved at `path`, or build() saved there atomically; a
    file that cannot be read (another version's, damaged) is built again."""
    if os.path.exists(path):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:   # torch raises many kinds for a foreign or damaged file
            pass
    value = build()
    with atomic_write(path) as f:
        torch.save(value, f)
    return value


def shapes_classifier(size: int, channels: int, cache_dir, device) -> tuple[ShapesClassifier, dict]:
    """(the classifier on `device`, in eval mode, its training report), trained on first use."""
    def build():
        model, report = train_classifier(size, channels, device)
        return {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "report": report}

    path = os.path.join(metrics_dir(cache_dir), f"shapes-classifier-{size}px-{channels}ch-v{VERSION}.pt")
    saved = load_or_build(path, build)
    model = ShapesClassifier(channels)
    model.load_state_dict(saved["state"])
    return model.to(device).eval().requires_grad_(False), saved["report"]


def folder_classifier(data: ImageSet, cache_dir, device) -> tuple[ClassifierNet, dict]:
    """A labelled folder's own classifier (on `device`, in eval mode) and its training
    report, trained on first use."""
    def build():
        model, report = folder.train_folder_classifier(data, device)
        return {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "report": report}

    path = os.path.join(metrics_dir(cache_dir), f"classes-classifier-{file_name(data.identity)}-v{folder.VERSION}.pt")
    saved = load_or_build(path, build)
    model = ClassifierNet(data.images.shape[1], len(data.classes))
    model.load_state_dict(saved["state"])
    return model.to(device).eval().requires_grad_(False), saved["report"]


def classifier_for(data: ImageSet, cache_dir, device) -> tuple[ClassifierNet, dict]:
    """The classifier that reads this data set's classes: the shapes' for the built-in data,
    the folder's own for a labelled folder."""
    if data.builtin:
        return shapes_classifier(data.images.shape[-1], data.images.shape[1], cache_dir, device)
    return folder_classifier(data, cache_dir, device)


def version_tag(data: ImageSet) -> str:
    """Which classifier, at which version, a data set's statistics and ceiling come from."""
    return f"shapes-v{VERSION}" if data.builtin else f"classes-v{folder.VERSION}"


def real_statistics(data: ImageSet, classifier: ClassifierNet, cache_dir, device, batch: int) -> dict:
    """The data set as the classifier sees it: features [N, 128], class counts, and the
    features' mean and covariance (float64)."""
    def build():
        readout = read(classifier, torch.from_numpy(data.images), device, batch)
        mean, cov = moments(readout.features)
        return {"features": readout.features, "counts": histogram(readout.labels, classifier.class_count),
                "mean": mean, "cov": cov}

    name = f"real-{file_name(data.identity)}-{version_tag(data)}.pt"
    return load_or_build(os.path.join(metrics_dir(cache_dir), name), build)


def ceiling(data: ImageSet, key: str, cache_dir, compute) -> dict:
    """The real-against-real scores stored under `key` for this data set, or compute()'s,
    added to the data set's ceiling file."""
    path = os.path.join(metrics_dir(cache_dir), f"ceiling-{file_name(data.identity)}.json")
    stored = {}
    if os.path.exists(path):
        try:
            with open(path) as f:
                stored = json.load(f)
        except (OSError, ValueError):
            stored = {}
    if key not in stored:
        stored[key] = compute()
        with atomic_write(path, "w") as f:
            json.dump(stored, f, indent=1)
    return stored[key]
