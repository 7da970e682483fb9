"""The one entry point that the trainer and `python -m began_fast.evaluate` share.

    evaluator = Evaluator(data, "classes", samples=1000, device=device)   # once: caches, ceiling
    result = evaluator(generate)          # generate(n) -> n images in [-1, 1], any model
    result["values"]["modes"], result["ceiling"]["modes"], result["seconds"]

or `evaluate(generate, data, ...)` for both at once. Nothing here changes the caller's
random state, so a training run that evaluates goes on exactly as one that does not.
"""
import hashlib
import time

import numpy as np
import torch

from began_fast.data import ImageSet, builtin_shapes
from began_fast.images import quantize
from began_fast.metrics import cache, inception
from began_fast.metrics.distances import frechet_distance, moments, prdc
from began_fast.metrics.faithfulness import faithfulness
from began_fast.metrics.modes import histogram, mode_metrics
from began_fast.metrics.names import GROUPS, MetricError, family, parse_metrics
from began_fast.metrics.readout import read
from began_fast.text.shape_captions import attributes

SAMPLES = 1000     # samples per evaluation: the classes' shares and PRDC are stable from here
MIN_SAMPLES = 10   # the k-NN metrics need more than k = 5 points in each set


def default_metrics(data: ImageSet) -> tuple:
    """The class metrics where the data's classes are known (the built-in shapes, a labelled
    image folder); FID and KID for another image folder."""
    return GROUPS["classes"] if has_classes(data) else GROUPS["inception"]


def has_classes(data: ImageSet) -> bool:
    return data.builtin or bool(data.classes)


class Evaluator:
    """Scores samples against one data set, with the real data's own scores (held-out real
    images against the data set) as the ceiling beside each metric.

    data: the run's ImageSet (data.load_training_data). metrics: names or groups, a
    comma-separated string or a sequence (default: default_metrics). The constructor does
    the one-time work (classifier, real statistics, ceiling; cached under cache_dir) and
    raises MetricError for a metric that cannot be computed here.
    inception_extractor: a torch-fidelity feature extractor name (tests register a stand-in).
    """

    def __init__(self, data: ImageSet, metrics=None, samples: int = SAMPLES, cache_dir: str | None = None,
                 device="cpu", batch: int = 500, inception_weights: str | None = None,
                 inception_extractor: str = inception.INCEPTION):
        start = time.perf_counter()
        if isinstance(metrics, str):
            metrics = parse_metrics(metrics)
        self.metrics = tuple(metrics) if metrics else default_metrics(data)
        self.class_metrics, self.inception = family(self.metrics, "classes"), family(self.metrics, "inception")
        self.captions = family(self.metrics, "captions")
        if self.captions and not data.builtin:
            raise MetricError(f"{', '.join(self.captions)}: caption faithfulness needs the built-in shapes' "
                              "captions, whose attributes are known; leave it out for an image folder")
        if self.class_metrics and not has_classes(data):
            raise MetricError(f"{', '.join(self.class_metrics)}: the class metrics need the built-in shapes, whose "
                              "classes are known, or a folder of class subfolders (DIR/CLASS/*.png, at least 2); "
                              "for this image folder use --metrics fid,kid")
        if len(data.images) < MIN_SAMPLES:
            raise MetricError(f"the data set holds {len(data.images)} image(s), too few to measure samples against "
                              f"(at least {MIN_SAMPLES}); use more images, or --metrics none")
        if samples < MIN_SAMPLES:
            raise MetricError(f"--samples {samples}: too few; give at least {MIN_SAMPLES} "
                              f"({SAMPLES} or more for stable class shares)")
        if self.inception:
            inception.check_available(inception_weights, inception_extractor)
        self.data, self.samples, self.device, self.batch = data, samples, torch.device(device), batch
        self.cache_dir = cache_dir
        self.inception_weights, self.inception_extractor = inception_weights, inception_extractor
        self.classifier_report, self.class_count = None, None
        self.reference = reference_order(data, samples)
        with _own_random_state(self.device):
            if self.class_metrics or self.captions:
                self.classifier, self.classifier_report = cache.classifier_for(data, cache_dir, self.device)
                self.class_count = self.classifier.class_count
                if self.class_metrics:
                    self.real = cache.real_statistics(data, self.classifier, cache_dir, self.device, batch)
            self.ceiling = self._ceiling()
        self.setup_seconds = time.perf_counter() - start

    def __call__(self, generate, wanted: dict | None = None) -> dict:
        """Draw `samples` images from generate(n) (floats in [-1, 1], [n, C, S, S]) and score
        them: {'samples', 'seconds', 'values', 'ceiling', 'classifier', 'classes'} (classes: how
        many the classifier tells apart, None without one). wanted: as score's."""
        start = time.perf_counter()
        with torch.no_grad(), _own_random_state(self.device):
            chunks = []
            for first in range(0, self.samples, self.batch):
                chunks.append(quantize(generate(min(self.batch, self.samples - first))).cpu())
            values = self.score(torch.cat(chunks), wanted)
        return {"samples": self.samples, "seconds": time.perf_counter() - start, "values": values,
                "ceiling": self.ceiling, "classifier": self.classifier_report, "classes": self.class_count}

    def score(self, images: torch.Tensor, wanted: dict | None = None) -> dict:
        """Every asked metric of uint8 images [N, C, S, S] (generated here, or gathered from
        several processes) against the data set, in the order asked. wanted: for the caption
        metrics, the attributes of each sample's caption (shape_captions.attributes)."""
        expected = self.data.images.shape[1:]
        if tuple(images.shape[1:]) != tuple(expected):
            raise MetricError(f"samples of shape {tuple(images.shape[1:])} cannot be compared with data of "
                              f"shape {tuple(expected)}")
        values = {}
        with _own_random_state(self.device):
            if self.class_metrics:
                values.update(self._class_scores(images))
            if self.captions:
                if wanted is None:
                    raise MetricError("caption faithfulness needs samples generated from captions (--model dfgan)")
                values.update(faithfulness(read(self.classifier, images, self.device, self.batch), wanted))
            if self.inception:
                values.update(self._inception_scores(images, self.inception))
        return {name: values[name] for name in self.metrics}

    def _class_scores(self, images: torch.Tensor) -> dict:
        readout = read(self.classifier, images, self.device, self.batch)
        real = self.real
        scores = mode_metrics(histogram(readout.labels, self.class_count), real["counts"])
        scores["fd"] = frechet_distance(*moments(readout.features), real["mean"], real["cov"])
        # The real set's k-NN radii depend on its size: as many real images as samples
        # (Naeem et al. compare equal sizes).
        reference = real["features"][torch.from_numpy(self.reference[:len(images)])]
        scores.update(prdc(reference.to(self.device), readout.features.to(self.device)))
        return scores

    def _inception_scores(self, images: torch.Tensor, names) -> dict:
        return inception.inception_metrics(
            images, torch.from_numpy(self.data.images), names, self.device, self.batch, cache.metrics_dir(self.cache_dir),
            cache.file_name(self.data.identity), self.inception_weights, self.inception_extractor)

    def _ceiling(self) -> dict:
        """The asked metrics of held-out real images (as many as the samples) against the data."""
        held_out = lambda: torch.from_numpy(held_out_images(self.data, self.samples))
        scores = {}
        if self.class_metrics:
            scores.update(cache.ceiling(self.data, f"{cache.version_tag(self.data)}-n{self.samples}", self.cache_dir,
                                        lambda: self._class_scores(held_out())))
        if self.captions:        # real images against their own captions' attributes
            real = held_out_shapes(self.data, self.samples)
            scores.update(faithfulness(read(self.classifier, torch.from_numpy(real.images), self.device, self.batch),
                                       attributes(real.labels)))
        if self.inception:
            scores.update(cache.ceiling(self.data, f"{self.inception_extractor}-n{self.samples}", self.cache_dir,
                                        lambda: self._inception_scores(held_out(), GROUPS["inception"])))
        return {name: scores[name] for name in self.metrics}


def evaluate(generate, data: ImageSet, metrics=None, samples: int = SAMPLES, **options) -> dict:
    """Evaluator(data, metrics, samples, **options)(generate), with 'setup_seconds' added:
    the one-time work (training the classifier, real statistics) the first call pays."""
    evaluator = Evaluator(data, metrics, samples, **options)
    return {**evaluator(generate), "setup_seconds": evaluator.setup_seconds}


def metrics_line(step: int, images: int, result: dict) -> dict:
    """One line of a run's metrics.jsonl, as began_fast.plot reads it: step, images seen,
    each metric, the seconds the evaluation took, the real data's ceiling, and with the
    class metrics how many classes there are (compare judges a collapse by it)."""
    classes = {"classes": result["classes"]} if result.get("classes") else {}
    return {"step": step, "images": images, **result["values"], "seconds": result["seconds"],
            "ceiling": result["ceiling"], **classes}


def held_out_images(data: ImageSet, count: int) -> np.ndarray:
    """uint8 real images the run never trained on, for the ceiling: fresh built-in shapes
    from a seed derived from the data identity; for an image folder, which has no unseen
    images, `count` of its own images at random (so there the ceiling is real against
    real, not held out)."""
    if data.builtin:
        return held_out_shapes(data, count).images
    return data.images[np.sort(folder_order(data)[:count])]


def reference_order(data: ImageSet, samples: int) -> np.ndarray:
    """The order in which the data's features serve as PRDC's real set (its first as many
    as there are samples). The built-in shapes come in random order already. A folder's
    come sorted by file (a labelled one: by class), so they are taken in random order,
    starting past the images the ceiling scores, so that the ceiling's real images are
    not their own neighbours where the folder holds twice the samples or more."""
    if data.builtin:
        return np.arange(len(data.images))
    return np.roll(folder_order(data), -samples)


def folder_order(data: ImageSet) -> np.ndarray:
    return np.random.default_rng(held_out_seed(data)).permutation(len(data.images))


def held_out_shapes(data: ImageSet, count: int) -> ImageSet:
    """Fresh built-in shapes, with labels, of the built-in data set `data`'s size and channels."""
    _, channels, size, _ = data.images.shape
    return builtin_shapes(count, size, channels, held_out_seed(data))


def held_out_seed(data: ImageSet) -> int:
    return int(hashlib.sha256(f"held-out:{data.identity}".encode()).hexdigest()[:12], 16)


def _own_random_state(device: torch.device):
    """Run a block on a copy of the random state: the caller's stream is left as it was."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
