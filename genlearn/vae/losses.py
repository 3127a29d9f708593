"""The ELBO and the importance-weighted (IWAE) bound on log p(x), in nats per image, and their units.

Log-likelihoods are summed over pixels and averaged over the batch: that is the ELBO of one image.
Averaging over pixels instead divides the reconstruction term by 784 and so multiplies the KL term's
weight by 784 (``pixel_reduction="mean"``, kept only to show that bug in the course).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from genlearn.vae.distributions import Bernoulli, DiagonalGaussian, kl_divergence, kl_to_standard_normal
from genlearn.vae.networks import NUM_PIXELS

PIXEL_REDUCTIONS = ("sum", "mean")
# Rows decoded at once by ``iwae_bound``: about 100 MB of logits, so k = 5000 fits anywhere.
IWAE_ROWS_PER_CHUNK = 32768


def elbo(
    x: torch.Tensor,
    likelihood: Bernoulli | DiagonalGaussian,
    posterior: DiagonalGaussian,
    prior: DiagonalGaussian | None = None,
    beta: float = 1.0,
    pixel_reduction: str = "sum",
    free_bits: float = 0.0,
) -> dict[str, torch.Tensor]:
    """ELBO = recon - kl with recon = E_q[log p(x|z)] (one sample of z, behind ``likelihood``) and the KL in closed form.

    Returns batch means, in nats per image: ``recon``, ``kl`` (the rate), ``elbo`` and ``loss``, the
    objective to minimize: -(recon - beta * kl), with recon averaged over pixels if ``pixel_reduction="mean"``.
    ``free_bits`` (nats per latent dimension; Kingma et al., 2016): in the loss only, each dimension's KL,
    averaged over the batch, counts as at least ``free_bits``, so a dimension under it is not pushed to the prior.
    ``recon``, ``kl`` and ``elbo`` are always the true values. ``prior=None`` is N(0, I).
    """
    if pixel_reduction not in PIXEL_REDUCTIONS:
        raise ValueError(f"pixel_reduction must be one of {PIXEL_REDUCTIONS}, got {pixel_reduction!r}")
    recon = likelihood.log_prob(x)
    per_dimension = DiagonalGaussian(posterior.mean, posterior.log_var, event_dims=0)
    kl_per_dimension = kl_to_standard_normal(per_dimension) if prior is None else kl_divergence(per_dimension, prior)
    kl = kl_per_dimension.sum(-1)
    recon_in_loss = recon / x[0].numel() if pixel_reduction == "mean" else recon
    kl_in_loss = kl_per_dimension.mean(0).clamp(min=free_bits).sum() if free_bits else kl.mean()
    return {
        "loss": beta * kl_in_loss - recon_in_loss.mean(),
        "recon": recon.mean(),
        "kl": kl.mean(),
        "elbo": (recon - kl).mean(),
    }


def iwae_log_weights(model, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """log p(x, z_i) - log q(z_i|x) for k reparameterized samples z_i ~ q(z|x): shape (k, batch), differentiable."""
    posterior = model.encoder(x)
    z = posterior.rsample((k,), generator=generator)
    return model.decoder(z).log_prob(x) + model.prior.log_prob(z) - posterior.log_prob(z)


def iwae_objective(model, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The IWAE bound as a training loss (Burda et al., 2016), gradients through the k reparameterized samples.

    Returns batch means: ``loss`` = -log (1/k sum_i p(x, z_i) / q(z_i|x)), and ``elbo``, the mean of the same k
    log-weights (an estimate of the ELBO with a sampled KL). At k = 1 the two are the same number.
    """
    log_weights = iwae_log_weights(model, x, k, generator)
    return {
        "loss": -(torch.logsumexp(log_weights, dim=0) - math.log(k)).mean(),
        "elbo": log_weights.mean(),
    }


@torch.no_grad()
def iwae_bound(
    model, x: torch.Tensor, k: int, generator: torch.Generator | None = None, rows_per_chunk: int = IWAE_ROWS_PER_CHUNK
) -> torch.Tensor:
    """log (1/k sum_i p(x, z_i) / q(z_i|x)) per image, shape (batch,): a lower bound on log p(x) that rises with k.

    The k samples are drawn in chunks of at most ``rows_per_chunk`` decoded images and combined with
    logsumexp, so memory stays flat as k grows (k = 5000 on a CPU is fine).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    samples_per_chunk = max(1, rows_per_chunk // len(x))
    chunks = []
    for start in range(0, k, samples_per_chunk):
        log_weights = iwae_log_weights(model, x, min(samples_per_chunk, k - start), generator)
        chunks.append(torch.logsumexp(log_weights, dim=0))
    return torch.logsumexp(torch.stack(chunks), dim=0) - math.log(k)


def bits_per_dim(nats_per_image: float, num_dims: int = NUM_PIXELS) -> float:
    """A negative log-likelihood in nats per image as bits per pixel: nats / (num_dims * ln 2)."""
    return nats_per_image / (num_dims * math.log(2))


class SquaredErrorAsGaussian(NamedTuple):
    """How ||x - mu||^2 + beta * KL relates to a Gaussian decoder's loss: see ``squared_error_as_gaussian``."""

    beta: float  # the KL weight of the Gaussian-decoder loss that the squared-error loss trains
    scale: float  # 2 sigma^2
    offset: float  # -sigma^2 * D * log(2 pi sigma^2), which no parameter changes


def squared_error_as_gaussian(beta: float, std: float, num_dims: int = NUM_PIXELS) -> SquaredErrorAsGaussian:
    """A squared-error VAE loss is a fixed-sigma Gaussian VAE's loss with another beta, rescaled and shifted.

    With -log N(x; mu, sigma^2 I) = ||x - mu||^2 / (2 sigma^2) + (D / 2) log(2 pi sigma^2) over D pixels,

        ||x - mu||^2 + beta * KL = 2 sigma^2 * (-log N(x; mu, sigma^2 I) + beta / (2 sigma^2) * KL)
                                   - sigma^2 * D * log(2 pi sigma^2),

    so minimizing the left side (squared error summed over pixels, as ``mse * D``) trains a Gaussian decoder
    with sigma = ``std`` and KL weight beta / (2 sigma^2): plain squared error + KL (beta = 1) is the ELBO of
    sigma = 1 / sqrt(2). A loss that averages the squared error over pixels multiplies that weight by D.
    """
    variance = std**2
    return SquaredErrorAsGaussian(
        beta=beta / (2 * variance), scale=2 * variance, offset=-variance * num_dims * math.log(2 * math.pi * variance)
    )
