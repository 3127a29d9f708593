"""Sampling from a trained generator (in eval mode), and walking between latents."""

from __future__ import annotations

import copy

import torch

from genlearn.training import evaluating


def sample_latents(num_samples: int, latent_dim: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
    """z ~ N(0, I), shape (num_samples, latent_dim); a CPU ``generator`` makes it repeatable on any device."""
    return torch.randn(num_samples, latent_dim, generator=generator).to(device)


def generate(model: torch.nn.Module, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """G(z) in eval mode (BatchNorm uses its running statistics, so a sample does not depend on its batch)."""
    with evaluating(model):
        return torch.cat([model(z[start : start + batch_size]) for start in range(0, len(z), batch_size)])


@torch.no_grad()
def generate_in_train_mode(model: torch.nn.Module, z: torch.Tensor, batch_size: int) -> torch.Tensor:
    """G(z) with each batch of ``batch_size`` normalised by its own statistics (BatchNorm in train mode).

    It runs a copy, so no running statistic of ``model`` moves.
    """
    model = copy.deepcopy(model).train()
    return torch.cat([model(batch) for batch in z.split(batch_size)])


@torch.no_grad()
def recompute_batchnorm_statistics(
    model: torch.nn.Module, latent_dim: int, device, num_batches: int = 40, batch_size: int = 256, seed: int = 0
) -> None:
    """Set every BatchNorm's running mean and variance to their average over fresh batches of G(z).

    An EMA generator's weights are an average of many generators, so the statistics measured for the
    live generator's weights do not fit them; this measures the EMA generator's own. The running
    averages are exact (``momentum=None``), and ``seed`` makes them repeatable.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    rng = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.train()
    try:
        for _ in range(num_batches):
            model(sample_latents(batch_size, latent_dim, device, rng))
    finally:
        model.train(was_training)
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum


def to_unit_interval(images: torch.Tensor) -> torch.Tensor:
    """tanh outputs in [-1, 1] to pixel intensities in [0, 1]."""
    return ((images + 1) / 2).clamp(0, 1)


def interpolate_latents(z_start: torch.Tensor, z_end: torch.Tensor, num_steps: int, spherical: bool = True) -> torch.Tensor:
    """``num_steps`` latents from ``z_start`` to ``z_end`` (each (latent_dim,)), as (num_steps, latent_dim).

    Spherical interpolation keeps the norm typical of N(0, I) samples; the straight line's midpoints
    are shorter than any latent the generator saw in training.
    """
    weights = torch.linspace(0, 1, num_steps, device=z_start.device)[:, None]
    if not spherical:
        return (1 - weights) * z_start + weights * z_end
    cosine = torch.dot(z_start, z_end) / (z_start.norm() * z_end.norm())
    angle = torch.arccos(cosine.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - weights) * angle) * z_start + torch.sin(weights * angle) * z_end) / torch.sin(angle)
