"""The ELBO and the importance-weighted (IWAE) bound on log p(x), in nats per image.

Log-likelihoods are summed over pixels and averaged over the batch: that is the ELBO of one image.
Averaging over pixels instead divides the reconstruction term by 784 and so multiplies the KL term's
weight by 784 (``pixel_reduction="mean"``, kept only to show that bug in the course).
"""

from __future__ import annotations

import math

import torch

from genlearn.vae.distributions import Bernoulli, DiagonalGaussian, kl_divergence, kl_to_standard_normal

PIXEL_REDUCTIONS = ("sum", "mean")
# Rows decoded at once by ``iwae_bound``: about 100 MB of logits, so k = 5000 fits anywhere.
IWAE_ROWS_PER_CHUNK = 32768


def elbo(
    x: torch.Tensor,
    likelihood: Bernoulli,
    posterior: DiagonalGaussian,
    prior: DiagonalGaussian | None = None,
    beta: float = 1.0,
    pixel_reduction: str = "sum",
) -> dict[str, torch.Tensor]:
    """ELBO = recon - kl with recon = E_q[log p(x|z)] (one sample of z, behind ``likelihood``) and the KL in closed form.

    Returns batch means, in nats per image: ``recon``, ``kl`` (the rate), ``elbo`` and ``loss``, the
    objective to minimize: -(recon - beta * kl), with recon averaged over pixels if ``pixel_reduction="mean"``.
    ``prior=None`` is N(0, I).
    """
    if pixel_reduction not in PIXEL_REDUCTIONS:
        raise ValueError(f"pixel_reduction must be one of {PIXEL_REDUCTIONS}, got {pixel_reduction!r}")
    recon = likelihood.log_prob(x)
    kl = kl_to_standard_normal(posterior) if prior is None else kl_divergence(posterior, prior)
    recon_in_loss = recon / x[0].numel() if pixel_reduction == "mean" else recon
    return {
        "loss": -(recon_in_loss - beta * kl).mean(),
        "recon": recon.mean(),
        "kl": kl.mean(),
        "elbo": (recon - kl).mean(),
    }


@torch.no_grad()
def iwae_log_weights(model, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """log p(x, z_i) - log q(z_i|x) for k samples z_i ~ q(z|x): shape (k, batch)."""
    posterior = model.encoder(x)
    z = posterior.sample((k,), generator=generator)
    return model.decoder(z).log_prob(x) + model.prior.log_prob(z) - posterior.log_prob(z)


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
