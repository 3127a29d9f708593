"""The VAE: an encoder q(z|x), a decoder p(x|z) and a standard-normal prior p(z)."""

from __future__ import annotations

import torch
from torch import nn

from genlearn.vae.distributions import Bernoulli, StandardNormal
from genlearn.vae.losses import elbo, iwae_objective
from genlearn.vae.networks import Decoder, Encoder

OBJECTIVES = ("elbo", "iwae")


class VAE(nn.Module):
    def __init__(self, encoder: Encoder, decoder: Decoder):
        super().__init__()
        if encoder.latent_dim != decoder.latent_dim:
            raise ValueError(f"encoder latent_dim {encoder.latent_dim} != decoder latent_dim {decoder.latent_dim}")
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = encoder.latent_dim

    @property
    def prior(self) -> StandardNormal:
        return StandardNormal(self.latent_dim, device=next(self.parameters()).device)

    def forward(
        self,
        x: torch.Tensor,
        beta: float = 1.0,
        pixel_reduction: str = "sum",
        generator: torch.Generator | None = None,
        free_bits: float = 0.0,
        objective: str = "elbo",
        iwae_k: int = 5,
    ) -> dict[str, torch.Tensor]:
        """The named loss terms of a batch.

        ``objective="elbo"``: encode, draw one z by reparameterization, decode (see ``losses.elbo``, which
        ``beta``, ``pixel_reduction`` and ``free_bits`` go to). ``objective="iwae"``: the IWAE bound on ``iwae_k``
        samples (see ``losses.iwae_objective``), which has no KL term for those three to change.
        """
        if objective == "iwae":
            return iwae_objective(self, x, iwae_k, generator)
        if objective != "elbo":
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        posterior = self.encoder(x)
        z = posterior.rsample(generator=generator)
        return elbo(x, self.decoder(z), posterior, beta=beta, pixel_reduction=pixel_reduction, free_bits=free_bits)

    @torch.no_grad()
    def sample(self, num_samples: int, generator: torch.Generator | None = None, binary: bool = False) -> torch.Tensor:
        """Images from z ~ p(z): the decoder's means, or, with a Bernoulli decoder, binary draws if ``binary``."""
        likelihood = self.decoder(self.prior.sample(num_samples, generator=generator))
        if binary and not isinstance(likelihood, Bernoulli):
            raise ValueError("binary draws need a Bernoulli decoder; a Gaussian decoder's samples are its means")
        return likelihood.sample(generator=generator) if binary else likelihood.mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of each image: the decoder's mean (pixel probabilities for a Bernoulli decoder)."""
        return self.decoder(self.encoder(x).mean).mean
