"""Looking into the latent space: decode a grid, interpolate, encode a dataset, count active units."""

from __future__ import annotations

import torch

from genlearn.training import evaluating
from genlearn.vae.networks import Decoder, Encoder


def latent_grid(decoder: Decoder, num_per_side: int = 20, quantile: float = 0.05) -> torch.Tensor:
    """Decode a square grid over a 2-D latent: (num_per_side**2, 1, 28, 28) pixel probabilities, rows top to bottom.

    The grid is evenly spaced in probability under the N(0, 1) prior (from ``quantile`` to ``1 - quantile``
    on each axis), as in Kingma and Welling's figure, so equal areas hold equal prior mass.
    """
    if decoder.latent_dim != 2:
        raise ValueError(f"latent_grid needs a 2-D latent, this decoder has {decoder.latent_dim}")
    device = next(decoder.parameters()).device
    probabilities = torch.linspace(quantile, 1 - quantile, num_per_side, device=device)
    values = torch.distributions.Normal(0.0, 1.0).icdf(probabilities)
    z2, z1 = torch.meshgrid(values.flip(0), values, indexing="ij")  # z2 grows upwards, z1 to the right
    with evaluating(decoder):
        return decoder(torch.stack([z1, z2], dim=-1).reshape(-1, 2)).mean


def interpolate(decoder: Decoder, z_start: torch.Tensor, z_end: torch.Tensor, num_steps: int = 10) -> torch.Tensor:
    """Decode ``num_steps`` evenly spaced points on the straight line from ``z_start`` to ``z_end``."""
    weights = torch.linspace(0, 1, num_steps, device=z_start.device).unsqueeze(1)
    with evaluating(decoder):
        return decoder((1 - weights) * z_start + weights * z_end).mean


@torch.no_grad()
def encode_dataset(encoder: Encoder, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations of q(z|x) for every image, each (N, latent_dim), on ``images``' device."""
    device = next(encoder.parameters()).device
    means, stds = [], []
    with evaluating(encoder):
        for batch in images.split(batch_size):
            posterior = encoder(batch.to(device))
            means.append(posterior.mean.to(images.device))
            stds.append(posterior.std.to(images.device))
    return torch.cat(means), torch.cat(stds)


def active_units(posterior_means: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Which latent dimensions the data uses: Var over x of E_q[z|x] above ``threshold`` (Burda et al., 2016).

    A collapsed dimension has q(z_j|x) = p(z_j) for every x, so its posterior mean never moves.
    """
    return posterior_means.var(dim=0) > threshold
