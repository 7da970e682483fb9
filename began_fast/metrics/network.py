"""The small CNN behind the in-domain metrics, and how it is trained: the built-in shapes'
classifier (classifier.py) and an image folder's (folder_classifier.py) are both this
network, so their penultimate layers (FEATURES wide) are alike feature spaces for the
Fréchet distance and precision/recall/density/coverage.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from began_fast.data import to_signed_unit

INPUT = 32                           # the side the network sees
FEATURES = 128


class ClassifierNet(nn.Module):
    """uint8-range images in [-1, 1], [B, C, S, S] -> (features [B, 128], class logits
    [B, class_count + 1]); the last class, index class_count, is "none" (no class).
    Images larger than INPUT are area-averaged to INPUT first, so training costs the same
    at every size."""

    def __init__(self, channels: int, class_count: int):
        super().__init__()
        self.class_count = class_count
        widths = (channels, 16, 32, 64)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        self.fc = nn.Linear(64 * 4 * 4, FEATURES)         # 32 px halved three times: 4 x 4
        self.classes = nn.Linear(FEATURES, class_count + 1)

    def trunk(self, x):
        """The penultimate features [B, FEATURES]."""
        if x.shape[-1] != INPUT:
            x = F.adaptive_avg_pool2d(x, INPUT)
        for conv, norm in zip(self.convs, self.norms):
            x = F.max_pool2d(F.relu(norm(conv(x))), 2)
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x):
        features = self.trunk(x)
        return features, self.classes(features)


def fit(model: nn.Module, images: torch.Tensor, loss, epochs: int, batch: int, lr: float, device,
        augment=None) -> None:
    """Train `model` on uint8 images [N, C, S, S] (on the CPU) with Adam and a one-cycle
    schedule; loss(outputs, index) -> the batch's loss, index: the batch's rows of
    `images`. augment: optional, float images in [-1, 1] -> the same, changed at random.
    Draws from torch's global random state, which the caller seeds. Leaves the model in
    eval mode without gradients."""
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(images) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    model.train()
    for _ in range(epochs):
        for index in torch.randperm(len(images)).split(batch):
            x = to_signed_unit(images[index].to(device))
            if augment is not None:
                x = augment(x)
            value = loss(model(x), index)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            schedule.step()
    model.eval().requires_grad_(False)


def random_shift(x: torch.Tensor, most: int) -> torch.Tensor:
    """Each image of x [B, C, S, S] moved by a random whole number of pixels, at most
    `most` each way on each axis, its edge pixels repeated into the uncovered border."""
    b, _, s, _ = x.shape
    padded = F.pad(x, (most,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * most + 1, (2, b, 1), device=x.device)
    rows, cols = dy + torch.arange(s, device=x.device), dx + torch.arange(s, device=x.device)   # [B, S]
    picked = padded[torch.arange(b, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2)        # advanced indices first: [B, S, S, C] -> [B, C, S, S]


def flat_and_noise(flat: int, noise: int, size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [flat + noise, C, S, S]: flat images of any colour, then uniform noise; what a
    collapsed or untrained generator makes, which the classifiers learn to call "none"."""
    colours = np.broadcast_to(rng.integers(0, 256, (flat, channels, 1, 1)), (flat, channels, size, size))
    return np.concatenate([colours, rng.integers(0, 256, (noise, channels, size, size))]).astype(np.uint8)
