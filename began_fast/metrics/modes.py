"""Mode metrics over a classifier's labels: which classes the samples reach (the shapes'
(shape, colour) classes, or an image folder's), how far their class histogram is from the
data's, and how many are of some class at all. A histogram has one bin per class and a
last one for "none"; its length says how many classes there are."""
import torch

from began_fast.metrics.classifier import CLASSES

# A class is reached when it holds at least a quarter of its fair share (1/96 of the
# samples for the 24 shapes classes, 1/40 for 10): a class drawn at its real rate falls
# below that with negligible chance from a few hundred samples on (24 classes, 1,000
# samples: 42 expected, threshold 10, 5 standard deviations), while the classifier's few
# errors (0.2 % held out on the shapes, spread over classes) never reach it.
QUARTER = 0.25
MIN_SHARE = QUARTER / CLASSES      # the shapes' threshold
# Added to every bin of the data's histogram, so that KL stays finite where the data has
# no image in a bin (the 'none' bin, above all): half a count, Jeffreys' prior.
SMOOTHING = 0.5


def histogram(labels: torch.Tensor, classes: int = CLASSES) -> torch.Tensor:
    """Counts [classes + 1] of each class, 'none' (label `classes`) last."""
    return torch.bincount(labels, minlength=classes + 1).double()


def mode_coverage(counts: torch.Tensor) -> float:
    """Share of the classes holding at least a quarter of their fair share of the samples."""
    classes = len(counts) - 1
    shares = counts[:classes] / counts.sum()
    return (shares >= QUARTER / classes).double().mean().item()


def kl_divergence(sample_counts: torch.Tensor, data_counts: torch.Tensor) -> float:
    """KL(samples || data) in nats over the classes and 'none'.

    This direction reads as mode collapse directly: samples spread evenly over k of the
    data's K equally likely classes give log(K / k) (one class of three: log 3), and it
    needs no smoothing of the samples' histogram, whose empty bins add nothing."""
    p = sample_counts / sample_counts.sum()
    q = (data_counts + SMOOTHING) / (data_counts + SMOOTHING).sum()
    seen = p > 0
    return (p[seen] * (p[seen] / q[seen]).log()).sum().item()


def recognised_share(counts: torch.Tensor) -> float:
    """Share of samples labelled as some class (not 'none')."""
    return 1.0 - (counts[-1] / counts.sum()).item()


def mode_metrics(sample_counts: torch.Tensor, data_counts: torch.Tensor) -> dict:
    return {"modes": mode_coverage(sample_counts), "kl": kl_divergence(sample_counts, data_counts),
            "recognised": recognised_share(sample_counts)}
