"""The three distributions of a VAE, each with ``log_prob`` and ``sample``: q(z|x), p(x|z) and p(z).

Log-probabilities are summed over the event dimensions (the latent dimensions, or the pixels),
so ``log_prob`` returns one number per example: the quantities in the ELBO, in nats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def _sum_event(values: torch.Tensor, event_dims: int) -> torch.Tensor:
    return values.flatten(start_dim=values.dim() - event_dims).sum(-1) if event_dims else values


class DiagonalGaussian:
    """N(mean, diag(exp(log_var))) over the last ``event_dims`` dimensions (1 for a latent vector)."""

    def __init__(self, mean: torch.Tensor, log_var: torch.Tensor, event_dims: int = 1):
        self.mean, self.log_var, self.event_dims = mean, log_var, event_dims

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.log_var)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        log_density = -0.5 * (LOG_2PI + self.log_var + (value - self.mean) ** 2 / self.log_var.exp())
        return _sum_event(log_density, self.event_dims)

    def rsample(self, sample_shape: torch.Size | tuple = (), generator: torch.Generator | None = None) -> torch.Tensor:
        """The reparameterization trick: z = mean + std * eps, differentiable in mean and log_var."""
        shape = torch.Size(sample_shape) + self.mean.shape
        eps = torch.randn(shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def sample(self, sample_shape: torch.Size | tuple = (), generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape, generator)

    def entropy(self) -> torch.Tensor:
        return _sum_event(0.5 * (LOG_2PI + 1 + self.log_var), self.event_dims)


class StandardNormal(DiagonalGaussian):
    """The prior p(z) = N(0, I) over ``latent_dim`` dimensions."""

    def __init__(self, latent_dim: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        zeros = torch.zeros(latent_dim, device=device, dtype=dtype)
        super().__init__(zeros, zeros)
        self.latent_dim = latent_dim

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return -0.5 * (LOG_2PI * self.latent_dim + (value**2).sum(-1))

    def sample(self, num_samples: int | tuple = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        shape = (num_samples,) if isinstance(num_samples, int) else tuple(num_samples)
        return super().sample(shape, generator)


class Bernoulli:
    """Independent Bernoulli pixels, parameterized by logits; ``event_dims=3`` sums over (C, H, W).

    ``log_prob`` also accepts intensities in [0, 1]: it is then minus the binary cross-entropy,
    the loss pytorch/examples' VAE uses on continuous MNIST.
    """

    def __init__(self, logits: torch.Tensor, event_dims: int = 3):
        self.logits, self.event_dims = logits, event_dims

    @property
    def probs(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @property
    def mean(self) -> torch.Tensor:
        return self.probs

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        log_p = -F.binary_cross_entropy_with_logits(self.logits, value.expand_as(self.logits), reduction="none")
        return _sum_event(log_p, self.event_dims)

    def sample(self, sample_shape: torch.Size | tuple = (), generator: torch.Generator | None = None) -> torch.Tensor:
        probs = self.probs.detach().expand(torch.Size(sample_shape) + self.logits.shape)
        return torch.bernoulli(probs, generator=generator)


def kl_divergence(q: DiagonalGaussian, p: DiagonalGaussian) -> torch.Tensor:
    """Closed-form KL(q || p) between diagonal Gaussians, summed over the event dimensions."""
    kl = 0.5 * (p.log_var - q.log_var + (q.log_var.exp() + (q.mean - p.mean) ** 2) / p.log_var.exp() - 1)
    return _sum_event(kl, q.event_dims)


def kl_to_standard_normal(q: DiagonalGaussian) -> torch.Tensor:
    """KL(q || N(0, I)) = 1/2 sum(mean^2 + var - log var - 1): the rate term of the ELBO."""
    return _sum_event(0.5 * (q.mean**2 + q.log_var.exp() - q.log_var - 1), q.event_dims)
