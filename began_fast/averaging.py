"""Generator averaging: G_ema, an exponential moving average of G's weights, the generator
the grids, the metrics, sampling and export use (--g-ema-half-life; docs/training.md,
"Generator averaging").

After every step each averaged weight moves toward G's: ema = beta * ema + (1 - beta) * w,
with beta = 0.5 ** (images per step / half-life), so that a weight's past counts half as
much again for every `half-life` images seen. The ramp-up caps the half-life at a
fraction of the images seen so far, so that early on, while G changes fast, the average
forgets the initial weights quickly instead of dragging them along. G's buffers (batch
norm's running statistics, BEGAN's residual carry) are copied as they are.

beta is computed from the step counter on the device, never from a Python number that
would be baked into a compiled or captured step, so the update runs inside every backend's
step with no host read.
"""
import copy

import torch
from torch import nn


def new_average(G: nn.Module, half_life: float) -> nn.Module | None:
    """A copy of G that follows no gradients, to be averaged into; None when averaging is off."""
    if not half_life:
        return None
    return copy.deepcopy(G).requires_grad_(False)


def decay(step: torch.Tensor, images_per_step: int, half_life: float, rampup: float) -> torch.Tensor:
    """beta after `step` steps (a device tensor, this step included) of `images_per_step`
    images each: 0.5 ** (images_per_step / min(half_life, rampup * images seen)), or with
    rampup 0 the plain half-life."""
    seen = step.float() * images_per_step
    effective = torch.clamp(seen * rampup, max=half_life) if rampup > 0 else torch.full_like(seen, half_life)
    return torch.pow(0.5, images_per_step / effective.clamp(min=1e-8))


@torch.no_grad()
def update(average: nn.Module, G: nn.Module, beta: torch.Tensor) -> None:
    """average's weights <- beta * average + (1 - beta) * G's; its buffers <- G's."""
    mine, theirs = list(average.parameters()), list(G.parameters())
    torch._foreach_mul_(mine, beta)
    torch._foreach_add_(mine, torch._foreach_mul(theirs, 1 - beta))
    for a, b in zip(average.buffers(), G.buffers()):
        a.copy_(b)
