"""2-D toy distributions for a first GAN: Gaussian mixtures with an exact density, two moons, and a mode-coverage score."""

from __future__ import annotations

import math

import torch


class GaussianMixture2D:
    """A mixture of K isotropic 2-D Gaussians sharing one standard deviation.

    ``means`` is (K, 2); ``weights`` defaults to uniform and is normalised to sum to 1.
    """

    def __init__(self, means: torch.Tensor, std: float, weights: torch.Tensor | None = None):
        self.means = torch.as_tensor(means, dtype=torch.float32)
        if self.means.ndim != 2 or self.means.shape[1] != 2:
            raise ValueError(f"means must have shape (K, 2), got {tuple(self.means.shape)}")
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self.std = float(std)
        num_modes = len(self.means)
        weights = torch.ones(num_modes) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if weights.shape != (num_modes,) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"weights must be {num_modes} non-negative numbers with a positive sum")
        self.weights = weights / weights.sum()

    @property
    def num_modes(self) -> int:
        return len(self.means)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 2) CPU samples: pick a mode by weight, then add Gaussian noise. Deterministic given a CPU ``generator``."""
        modes = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        return self.means[modes] + self.std * noise

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log density of each row of ``x`` (n, 2): logsumexp_k [log w_k + log N(x; mu_k, std^2 I)]."""
        squared_distance = _squared_distances(x, self.means.to(x))
        log_normal = -squared_distance / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(self.weights.to(x).log() + log_normal, dim=1)


def _squared_distances(x: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """(n, K) squared distances, computed directly (cdist's matmul shortcut loses precision at small std)."""
    return (x[:, None, :] - means[None, :, :]).pow(2).sum(dim=-1)


def ring_of_gaussians(num_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture2D:
    """``num_modes`` equally weighted Gaussians evenly spaced on a circle."""
    angles = torch.arange(num_modes, dtype=torch.float32) * (2 * math.pi / num_modes)
    return GaussianMixture2D(radius * torch.stack([angles.cos(), angles.sin()], dim=1), std)


def grid_of_gaussians(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
    """``side * side`` equally weighted Gaussians on a square grid centred on the origin."""
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    grid_x, grid_y = torch.meshgrid(coords, coords, indexing="ij")
    return GaussianMixture2D(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1), std)


def two_moons(n: int, noise: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 2) points on two interleaved half circles (as in scikit-learn's make_moons), plus Gaussian noise."""
    num_outer = n // 2
    angles = torch.rand(n, generator=generator) * math.pi
    outer = torch.stack([angles[:num_outer].cos(), angles[:num_outer].sin()], dim=1)
    inner = torch.stack([1 - angles[num_outer:].cos(), 0.5 - angles[num_outer:].sin()], dim=1)
    points = torch.cat([outer, inner]) + noise * torch.randn(n, 2, generator=generator)
    return points[torch.randperm(n, generator=generator)]


def mode_coverage(
    samples: torch.Tensor, mixture: GaussianMixture2D, max_std: float = 3.0, min_fraction: float = 0.01
) -> dict:
    """How well ``samples`` cover the mixture's modes (the usual 2-D mode-collapse check).

    A sample is high quality when it lies within ``max_std`` standard deviations of its nearest mode.
    A mode is covered when at least ``min_fraction`` of all samples (and at least one) are high-quality
    samples of it, so that a few stray points do not count as a mode.
    Returns ``modes_covered``, ``num_modes``, ``fraction_high_quality`` and ``counts_per_mode``
    (high-quality samples per mode, a list of ints).
    """
    if not 0 <= min_fraction <= 1:
        raise ValueError(f"min_fraction is a share of the samples, between 0 and 1; got {min_fraction}")
    samples = samples.detach().float().cpu()
    squared_distance, nearest = _squared_distances(samples, mixture.means).min(dim=1)
    high_quality = squared_distance <= (max_std * mixture.std) ** 2
    counts = torch.bincount(nearest[high_quality], minlength=mixture.num_modes)
    covered = (counts > 0) & (counts >= min_fraction * len(samples))
    return {
        "modes_covered": int(covered.sum()),
        "num_modes": mixture.num_modes,
        "fraction_high_quality": int(high_quality.sum()) / len(samples) if len(samples) else 0.0,
        "counts_per_mode": counts.tolist(),
    }
