"""Distances between two sets of feature vectors: the Fréchet distance between the Gaussians
they define, and precision/recall/density/coverage from k nearest neighbours (Naeem et
al. 2020, "Reliable fidelity and diversity metrics for generative models").

Both in plain torch: the k-NN radii are a few lines, where the `prdc` package would bring
scikit-learn and scipy into the core install, and torch runs them on the evaluation's
device. The matrix square root's trace comes from the eigenvalues of S1 @ S2, so no scipy.
"""
import torch

NEIGHBOURS = 5        # Naeem et al.'s k: stable recall and coverage at a few thousand samples
CHUNK = 2048          # rows of the distance matrix held at once: memory stays O(CHUNK x N)


def moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, covariance) in float64 of features [N, F]."""
    x = features.double()
    return x.mean(0), torch.cov(x.T)


def frechet_distance(mean_a, cov_a, mean_b, cov_b) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), in squared feature units.

    S_a S_b is similar to the symmetric positive semi-definite S_a^(1/2) S_b S_a^(1/2),
    so its eigenvalues are real and non-negative, and the trace of its square root is the
    sum of their square roots; tiny negative or imaginary parts are rounding, dropped."""
    product = cov_a.double() @ cov_b.double()
    if not torch.isfinite(product).all():     # e.g. the covariance of one sample; LAPACK may crash on it
        return float("nan")
    eigenvalues = torch.linalg.eigvals(product).real.clamp(min=0)
    trace_sqrt = eigenvalues.sqrt().sum()
    value = (mean_a - mean_b).double().square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return float(value.clamp(min=0))


def kth_neighbour_distance(x: torch.Tensor, k: int = NEIGHBOURS) -> torch.Tensor:
    """[N]: each row's distance to its k-th nearest other row of x."""
    return torch.cat([torch.cdist(rows, x).kthvalue(k + 1, dim=1).values for rows in x.split(CHUNK)])


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = NEIGHBOURS) -> dict:
    """Precision, recall, density and coverage of fake features [M, F] against real [N, F].

    precision: share of fakes inside at least one real ball (a real point's ball reaches its
    k-th real neighbour); recall: share of reals inside a fake ball; density: real balls per
    fake, over k (about 1 when fake and real are alike); coverage: share of real balls that
    hold at least one fake. Needs more than k points in each set."""
    real, fake = real.float(), fake.float()
    real_radius, fake_radius = kth_neighbour_distance(real, k), kth_neighbour_distance(fake, k)
    balls_per_fake = torch.zeros(len(fake), device=fake.device)
    covered = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    recalled = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    for start, rows in zip(range(0, len(real), CHUNK), real.split(CHUNK)):
        d = torch.cdist(rows, fake)                                 # [chunk, M]
        inside_real = d <= real_radius[start:start + len(rows), None]
        balls_per_fake += inside_real.sum(0)
        covered[start:start + len(rows)] = inside_real.any(1)
        recalled[start:start + len(rows)] = (d <= fake_radius[None]).any(1)
    return {
        "precision": (balls_per_fake > 0).float().mean().item(),
        "recall": recalled.float().mean().item(),
        "density": (balls_per_fake.sum() / (k * len(fake))).item(),
        "coverage": covered.float().mean().item(),
    }
