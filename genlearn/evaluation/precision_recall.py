"""Improved precision and recall (Kynkäänniemi et al. 2019): fidelity and coverage as two separate numbers.

Each feature set approximates its manifold by the union of balls centred on its points, each ball's radius
being the distance to that point's k-th nearest neighbour in the same set (itself excluded).

- precision: the fraction of generated features inside the real manifold (are the samples realistic?);
- recall: the fraction of real features inside the generated manifold (does the model cover the data?).

The inception score never looks at real data, and FID folds fidelity and diversity into one distance, so
poor samples and missing modes can give the same FID. Precision falls when samples stray from the real data,
recall when the samples miss part of it (one digit repeated: high precision, recall near 0).

Caveats: a k-NN radius grows with isolation, so an outlier gets a large ball that covers much of the other set
(a stray generated sample inflates recall, a stray real digit inflates precision); both numbers depend on the
feature extractor (realistic means realistic to it), on k and on the set sizes, so compare models with the same
features, k and counts.
"""

from __future__ import annotations

import torch

DEFAULT_CHUNK_SIZE = 2000


def _check_features(real_features: torch.Tensor, generated_features: torch.Tensor, k: int, chunk_size: int):
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    for name, features in (("real_features", real_features), ("generated_features", generated_features)):
        if features.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (N, d) tensor, got shape {tuple(features.shape)}")
        if len(features) < k + 1:
            raise ValueError(
                f"{name} has {len(features)} points, but the k-th neighbour (k={k}) needs at least {k + 1}; "
                "pass more points or a smaller k"
            )
        if not features.is_floating_point():
            raise ValueError(f"{name} must be floating point, got {features.dtype}; convert with .float()")
        if not torch.isfinite(features).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if real_features.shape[1] != generated_features.shape[1]:
        raise ValueError(
            f"feature widths differ: real_features has {real_features.shape[1]} columns, "
            f"generated_features has {generated_features.shape[1]}; extract both with the same network"
        )


def knn_radii(features: torch.Tensor, k: int = 3, chunk_size: int = DEFAULT_CHUNK_SIZE) -> torch.Tensor:
    """Distance from each of the (N, d) ``features`` to its k-th nearest neighbour among the others."""
    radii = []
    for start in range(0, len(features), chunk_size):
        distances = torch.cdist(features[start : start + chunk_size], features)
        # The k+1 smallest distances include the point's own (zero); the largest of them is the k-th neighbour.
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def precision_recall(
    real_features: torch.Tensor,
    generated_features: torch.Tensor,
    k: int = 3,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> dict[str, float]:
    """``{"precision", "recall"}`` of (N_g, d) generated against (N_r, d) real features, both in [0, 1].

    A point on a ball's surface counts as inside. Distances are Euclidean, taken ``chunk_size`` rows at a time,
    so memory stays at ``chunk_size * max(N_r, N_g)`` distances.
    """
    _check_features(real_features, generated_features, k, chunk_size)
    dtype = torch.promote_types(real_features.dtype, generated_features.dtype)
    real_features, generated_features = real_features.to(dtype), generated_features.to(dtype)
    real_radii = knn_radii(real_features, k, chunk_size)
    generated_radii = knn_radii(generated_features, k, chunk_size)

    # One pass over generated-to-real distances serves both directions.
    generated_inside = []
    real_inside = torch.zeros(len(real_features), dtype=torch.bool, device=real_features.device)
    for start in range(0, len(generated_features), chunk_size):
        distances = torch.cdist(generated_features[start : start + chunk_size], real_features)
        generated_inside.append((distances <= real_radii).any(dim=1))
        real_inside |= (distances <= generated_radii[start : start + chunk_size, None]).any(dim=0)
    return {
        "precision": float(torch.cat(generated_inside).double().mean()),
        "recall": float(real_inside.double().mean()),
    }
