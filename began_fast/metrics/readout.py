"""What a metrics classifier (network.ClassifierNet: the shapes' or an image folder's) reads
in a set of images: its penultimate features and one label per image, a class or "none";
for the shapes' classifier, each image's size bin and position cell too."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from began_fast.data import to_signed_unit
from began_fast.metrics.network import ClassifierNet

# A class counts when the classifier gives it at least half the probability, i.e. prefers
# it to all other outputs together. Measured (docs/results.md, "The shapes classifier"): over 99 % of held-out
# real images pass; averages of two shape images, uniform noise and flat images do not.
CONFIDENT = 0.5


@dataclass
class Readout:
    features: torch.Tensor    # [N, 128] float32
    labels: torch.Tensor      # [N] int64: a class index, or the classifier's class_count: "none"
                              # (no shape, no class, or none confident)
    size: torch.Tensor | None = None       # [N] int64: the likeliest size bin (data.size_bins); shapes only
    position: torch.Tensor | None = None   # [N] int64: the likeliest position cell (data.position_cells); shapes only


@torch.no_grad()
def read(classifier: ClassifierNet, images: torch.Tensor, device, batch: int) -> Readout:
    """uint8 images [N, C, S, S], anywhere -> their Readout, on the CPU."""
    parts = []
    for chunk in images.split(batch):
        feats, logits, *bins = classifier(to_signed_unit(chunk.to(device)))
        best, label = F.softmax(logits.float(), dim=1).max(dim=1)
        parts.append([feats.float().cpu(), torch.where(best >= CONFIDENT, label, classifier.class_count).cpu(),
                      *(b.argmax(dim=1).cpu() for b in bins)])
    return Readout(*(torch.cat(column) for column in zip(*parts)))
