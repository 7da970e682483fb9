"""The DAMSM matching loss (AttnGAN, Xu et al. 2018), sentence level: in a batch of
images and their captions, each image should be closer (by cosine) to its own caption's
sentence vector than to the others', and each caption to its own image.
"""
import torch
import torch.nn.functional as F

GAMMA3 = 10.0       # AttnGAN's smoothing factor: scales the cosines before the softmax


def match_scores(image_vectors: torch.Tensor, sentence_vectors: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every image [B, D] with every sentence [B', D] -> [B, B']."""
    return F.normalize(image_vectors, dim=1, eps=1e-8) @ F.normalize(sentence_vectors, dim=1, eps=1e-8).T


def sentence_loss(image_vectors: torch.Tensor, sentence_vectors: torch.Tensor, classes: torch.Tensor | None = None,
                  gamma3: float = GAMMA3) -> torch.Tensor:
    """Softmax cross-entropy over gamma3 * cosines, image -> captions plus caption ->
    images (AttnGAN's s_loss0 + s_loss1), for a batch of B matched pairs.

    classes: int [B], optional; another pair of the same class is not a negative (its
    caption fits this image as well as the image's own), so its score is left out of
    both softmaxes, as AttnGAN does with class ids."""
    scores = gamma3 * match_scores(image_vectors, sentence_vectors)
    if classes is not None:
        same = (classes[:, None] == classes[None, :]).fill_diagonal_(False)
        scores = scores.masked_fill(same, float("-inf"))
    target = torch.arange(len(scores), device=scores.device)
    return F.cross_entropy(scores, target) + F.cross_entropy(scores.T, target)
