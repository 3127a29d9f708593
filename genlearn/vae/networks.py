"""Encoders q(z|x) and decoders p(x|z) for 28x28 images, each as an MLP and as a convolutional net.

An encoder maps images (N, 1, 28, 28) to a ``DiagonalGaussian`` over z; a decoder maps latents
(..., latent_dim) to a distribution over pixels: ``Bernoulli`` (binary pixels) or a ``DiagonalGaussian`` with a
learned sigma per pixel (intensities in [0, 1]). Both also expose ``sample`` and ``log_prob``, so the ELBO reads
as the math does: log p(x|z) + log p(z) - log q(z|x).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genlearn.vae.distributions import Bernoulli, DiagonalGaussian

IMAGE_SHAPE = (1, 28, 28)
NUM_PIXELS = 28 * 28
DECODER_LIKELIHOODS = ("bernoulli", "gaussian")
# A Gaussian decoder's sigma stays at least one 8-bit intensity level: on pixels that are 0 in every image
# (MNIST's border) it would otherwise shrink for ever, and the density grow without bound.
MIN_PIXEL_LOG_STD = math.log(1 / 255)


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """q(z|x): ``forward`` returns the distribution; subclasses supply ``self.net`` giving 2 * latent_dim numbers."""

    latent_dim: int
    net: nn.Module

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        mean, log_var = self.net(x).float().chunk(2, dim=-1)  # float32 even under bf16 autocast: the KL needs it
        return DiagonalGaussian(mean, log_var)

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self(x).rsample(generator=generator)

    def log_prob(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self(x).log_prob(z)


class Decoder(nn.Module):
    """p(x|z) from ``self.net``'s one number per pixel; latents may carry extra leading dims (IWAE samples).

    ``likelihood="bernoulli"``: the numbers are the logits of independent Bernoulli pixels.
    ``likelihood="gaussian"``: they give the mean, sigmoid(number), of independent Gaussian pixels whose
    log sigma is a free parameter per pixel (``log_std``, the same for every z, from sigma = 1), kept at least
    ``MIN_PIXEL_LOG_STD``.
    """

    latent_dim: int
    net: nn.Module

    def __init__(self, likelihood: str = "bernoulli"):
        super().__init__()
        if likelihood not in DECODER_LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {DECODER_LIKELIHOODS}, got {likelihood!r}")
        self.log_std = nn.Parameter(torch.zeros(IMAGE_SHAPE)) if likelihood == "gaussian" else None

    def forward(self, z: torch.Tensor) -> Bernoulli | DiagonalGaussian:
        leading = z.shape[:-1]
        outputs = self.net(z.reshape(-1, self.latent_dim)).float().reshape(*leading, *IMAGE_SHAPE)
        if self.log_std is None:
            return Bernoulli(outputs)
        log_std = self.log_std.float().clamp(min=MIN_PIXEL_LOG_STD).expand_as(outputs)
        return DiagonalGaussian(torch.sigmoid(outputs), 2 * log_std, event_dims=len(IMAGE_SHAPE))

    def sample(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self(z).sample(generator=generator)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self(z).log_prob(x)


class MLPEncoder(Encoder):
    def __init__(self, latent_dim: int, hidden_dim: int = 512, num_layers: int = 2):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Flatten(), mlp([NUM_PIXELS] + [hidden_dim] * num_layers + [2 * latent_dim]))


class MLPDecoder(Decoder):
    def __init__(self, latent_dim: int, hidden_dim: int = 512, num_layers: int = 2, likelihood: str = "bernoulli"):
        super().__init__(likelihood)
        self.latent_dim = latent_dim
        self.net = mlp([latent_dim] + [hidden_dim] * num_layers + [NUM_PIXELS])


class ConvEncoder(Encoder):
    """Two stride-2 convolutions (28 -> 14 -> 7), then a hidden layer."""

    def __init__(self, latent_dim: int, hidden_dim: int = 512, channels: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * channels * 7 * 7, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 2 * latent_dim),
        )


class ConvDecoder(Decoder):
    """The mirror image of ``ConvEncoder``: a hidden layer, then two stride-2 transposed convolutions."""

    def __init__(self, latent_dim: int, hidden_dim: int = 512, channels: int = 32, likelihood: str = "bernoulli"):
        super().__init__(likelihood)
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 2 * channels * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (2 * channels, 7, 7)),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1),
        )


def build_encoder_decoder(
    architecture: str, latent_dim: int, hidden_dim: int, num_layers: int, likelihood: str = "bernoulli"
) -> tuple[Encoder, Decoder]:
    """``architecture`` is "mlp" or "conv" (the conv nets ignore ``num_layers``); ``likelihood`` as in ``Decoder``."""
    if architecture == "mlp":
        return MLPEncoder(latent_dim, hidden_dim, num_layers), MLPDecoder(latent_dim, hidden_dim, num_layers, likelihood)
    if architecture == "conv":
        return ConvEncoder(latent_dim, hidden_dim), ConvDecoder(latent_dim, hidden_dim, likelihood=likelihood)
    raise ValueError(f"unknown architecture {architecture!r}; choose 'mlp' or 'conv'.")
