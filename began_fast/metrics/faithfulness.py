"""Caption faithfulness on the built-in shapes: does a sample show what its caption says?

The shapes classifier reads each sample's shape, colour, size bin and position cell; each is
compared with the attributes of the caption the sample was generated from (the captions of
the built-in data name exactly these four: text/shape_captions.py). A sample the classifier
does not recognise as any shape matches no shape or colour. `chance` scores the same
samples against the captions shifted by one sample, which no generator can follow: the
chance level of these samples, beside which `faithful` is read (the same per attribute).
"""
import numpy as np
import torch

from began_fast.data import PALETTE
from began_fast.metrics.classifier import NONE
from began_fast.metrics.readout import Readout

ATTRIBUTES = ("shape", "colour", "size", "position")


def read_attributes(readout: Readout) -> dict:
    """The classifier's reading as int tensors [N] per attribute; shape and colour -1 where no
    shape is recognised."""
    none = readout.labels == NONE
    return {"shape": torch.where(none, -1, readout.labels // len(PALETTE)),
            "colour": torch.where(none, -1, readout.labels % len(PALETTE)),
            "size": readout.size, "position": readout.position}


def faithfulness(readout: Readout, wanted: dict) -> dict:
    """{'faithful', 'faithful_shape', ..., 'chance', 'chance_shape', ...}: shares of samples
    whose attributes match `wanted` (int arrays [N] per attribute: each sample's caption's),
    and of the same samples against the captions shifted by one sample (chance)."""
    seen = read_attributes(readout)
    wanted = {k: torch.as_tensor(np.asarray(wanted[k]), dtype=torch.long) for k in ATTRIBUTES}
    scores = {}
    for name, shift in (("faithful", 0), ("chance", 1)):
        match = {k: seen[k] == wanted[k].roll(shift) for k in ATTRIBUTES}
        scores[name] = torch.stack(list(match.values())).all(0).float().mean().item()
        scores.update({f"{name}_{k}": match[k].float().mean().item() for k in ATTRIBUTES})
    return scores
