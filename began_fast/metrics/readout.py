"""What the shapes classifier reads in a set of images: its penultimate features and one
label per image, a (shape, colour) class or NONE."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from began_fast.data import to_signed_unit
from began_fast.metrics.classifier import NONE, ShapesClassifier

# A class counts when the classifier gives it at least half the probability, i.e. prefers
# it to all other outputs together. Measured (README, "Evaluation"): over 99 % of held-out
# real images pass; averages of two shape images, uniform noise and flat images do not.
CONFIDENT = 0.5


@dataclass
class Readout:
    features: torch.Tensor    # [N, 128] float32
    labels: torch.Tensor      # [N] int64: a class index, or NONE (no shape, or none confident)
    size: torch.Tensor        # [N] int64: the likeliest size bin (data.size_bins)
    position: torch.Tensor    # [N] int64: the likeliest position cell (data.position_cells)


@torch.no_grad()
def read(classifier: ShapesClassifier, images: torch.Tensor, device, batch: int) -> Readout:
    """uint8 images [N, C, S, S], anywhere -> their Readout, on the CPU."""
    features, labels, size, position = [], [], [], []
    for chunk in images.split(batch):
        feats, logits, size_logits, position_logits = classifier(to_signed_unit(chunk.to(device)))
        best, label = F.softmax(logits.float(), dim=1).max(dim=1)
        features.append(feats.float().cpu())
        labels.append(torch.where(best >= CONFIDENT, label, NONE).cpu())
        size.append(size_logits.argmax(dim=1).cpu())
        position.append(position_logits.argmax(dim=1).cpu())
    return Readout(*(torch.cat(parts) for parts in (features, labels, size, position)))
