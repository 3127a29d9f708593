"""The VAE: an encoder q(z|x), a decoder p(x|z) and a standard-normal prior p(z)."""

from __future__ import annotations

import torch
from torch import nn

from genlearn.vae.distributions import StandardNormal
from genlearn.vae.losses import elbo
from genlearn.vae.networks import Decoder, Encoder


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
    ) -> dict[str, torch.Tensor]:
        """Encode, draw one z by reparameterization, decode: the named ELBO terms (see ``losses.elbo``)."""
        posterior = self.encoder(x)
        z = posterior.rsample(generator=generator)
        return elbo(x, self.decoder(z), posterior, beta=beta, pixel_reduction=pixel_reduction)

    @torch.no_grad()
    def sample(self, num_samples: int, generator: torch.Generator | None = None, binary: bool = False) -> torch.Tensor:
        """Images from z ~ p(z): pixel probabilities (the decoder's mean), or binary draws if ``binary``."""
        likelihood = self.decoder(self.prior.sample(num_samples, generator=generator))
        return likelihood.sample(generator=generator) if binary else likelihood.mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of each image: pixel probabilities."""
        return self.decoder(self.encoder(x).mean).mean
