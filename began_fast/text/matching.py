"""How well the encoders match images to captions they never trained on: an R-precision
like AttnGAN's (R = 1), the share of images whose own caption scores highest among a
set of candidate captions.
"""
import numpy as np
import torch

from began_fast.text.damsm import match_scores

CANDIDATES = 100     # the own caption and 99 others, as in AttnGAN's R-precision


@torch.no_grad()
def matching_accuracy(image_vectors: torch.Tensor, sentence_vectors: torch.Tensor, classes=None,
                      candidates: int = CANDIDATES, seed: int = 0) -> tuple[float, int]:
    """(share of images for which no candidate scores above their own caption, candidates
    used). Image i's own caption is sentence_vectors[i]; the others are drawn without
    replacement from the other images' captions, or with `classes` (int [M]) from images
    of another class only. Fewer candidates are used when there are not enough others."""
    classes = None if classes is None else np.asarray(classes)
    count = len(image_vectors)
    rng = np.random.default_rng(seed)
    pools = [np.flatnonzero(classes != classes[i]) if classes is not None else np.delete(np.arange(count), i)
             for i in range(count)]
    used = min(candidates, 1 + min(len(pool) for pool in pools))
    if used < 2:
        raise ValueError(f"{count} held-out images leave no caption to compare with; hold out more images")
    others = np.stack([rng.choice(pool, used - 1, replace=False) for pool in pools])
    scores = match_scores(image_vectors, sentence_vectors)                  # [M, M]
    own = scores.diagonal()[:, None]
    beaten = (scores.gather(1, torch.from_numpy(others).to(scores.device)) > own).any(1)
    return 1.0 - beaten.float().mean().item(), used
