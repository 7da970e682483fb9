"""Mode metrics over the classifier's labels: which (shape, colour) classes the samples
reach, how far their class histogram is from the data's, and how many are shapes at all."""
import torch

from began_fast.metrics.classifier import CLASSES, NONE

# A class is reached when it holds at least a quarter of its fair share (1/96 of the
# samples): a class drawn at its real rate falls below that with negligible chance from a
# few hundred samples on (1,000 samples: 42 expected, threshold 10, 5 standard
# deviations), while the classifier's few errors (0.2 % held out, spread over classes)
# never reach it.
MIN_SHARE = 0.25 / CLASSES
# Added to every bin of the data's histogram, so that KL stays finite where the data has
# no image in a bin (the 'no shape' bin, above all): half a count, Jeffreys' prior.
SMOOTHING = 0.5


def histogram(labels: torch.Tensor) -> torch.Tensor:
    """Counts [CLASSES + 1] of each class, 'no shape' last."""
    return torch.bincount(labels, minlength=CLASSES + 1).double()


def mode_coverage(counts: torch.Tensor) -> float:
    """Share of the (shape, colour) classes holding at least MIN_SHARE of the samples."""
    shares = counts[:CLASSES] / counts.sum()
    return (shares >= MIN_SHARE).double().mean().item()


def kl_divergence(sample_counts: torch.Tensor, data_counts: torch.Tensor) -> float:
    """KL(samples || data) in nats over the classes and 'no shape'.

    This direction reads as mode collapse directly: samples spread evenly over k of the
    data's equally likely classes give log(24 / k) (one class of three: log 3), and it
    needs no smoothing of the samples' histogram, whose empty bins add nothing."""
    p = sample_counts / sample_counts.sum()
    q = (data_counts + SMOOTHING) / (data_counts + SMOOTHING).sum()
    seen = p > 0
    return (p[seen] * (p[seen] / q[seen]).log()).sum().item()


def recognised_share(counts: torch.Tensor) -> float:
    """Share of samples labelled as some (shape, colour) class."""
    return 1.0 - (counts[NONE] / counts.sum()).item()


def mode_metrics(sample_counts: torch.Tensor, data_counts: torch.Tensor) -> dict:
    return {"modes": mode_coverage(sample_counts), "kl": kl_divergence(sample_counts, data_counts),
            "recognised": recognised_share(sample_counts)}

