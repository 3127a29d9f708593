"""A linear-Gaussian latent-variable model: exact log p(x), exact posterior, exact ELBO.

p(z) = N(0, I_d), p(x|z) = N(W z + b, sigma^2 I_D). Then p(x) = N(b, W W^T + sigma^2 I) and the
posterior is Gaussian with covariance (I + W^T W / sigma^2)^-1 and mean cov W^T (x - b) / sigma^2.
With everything exact, log p(x) - ELBO(q) = KL(q || p(z|x)) can be checked to the last digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import MultivariateNormal

from genlearn.budget import Presets
from genlearn.loop import LossHistory, train_loop

LOG_2PI = math.log(2 * math.pi)


class LinearGaussian:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, noise_std: float):
        self.weight, self.bias, self.noise_std = weight, bias, float(noise_std)
        self.data_dim, self.latent_dim = weight.shape

    @classmethod
    def random(
        cls, data_dim: int = 5, latent_dim: int = 2, noise_std: float = 0.5, generator: torch.Generator | None = None
    ) -> LinearGaussian:
        weight = torch.randn(data_dim, latent_dim, generator=generator, dtype=torch.float64)
        bias = torch.randn(data_dim, generator=generator, dtype=torch.float64)
        return cls(weight, bias, noise_std)

    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, z) pairs from the joint: z ~ p(z), then x ~ p(x|z)."""
        z = torch.randn(num_samples, self.latent_dim, generator=generator, dtype=self.weight.dtype)
        noise = torch.randn(num_samples, self.data_dim, generator=generator, dtype=self.weight.dtype)
        return z @ self.weight.T + self.bias + self.noise_std * noise, z

    def marginal(self) -> MultivariateNormal:
        covariance = self.weight @ self.weight.T + self.noise_std**2 * torch.eye(self.data_dim, dtype=self.weight.dtype)
        return MultivariateNormal(self.bias, covariance_matrix=covariance)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x), per row of x."""
        return self.marginal().log_prob(x)

    def posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """Exact p(z|x), batched over the rows of x."""
        precision = torch.eye(self.latent_dim, dtype=self.weight.dtype) + self.weight.T @ self.weight / self.noise_std**2
        covariance = torch.linalg.inv(precision)
        mean = (x - self.bias) @ self.weight @ covariance / self.noise_std**2
        return MultivariateNormal(mean, covariance_matrix=covariance.expand(len(x), -1, -1))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z); z may carry leading sample dimensions."""
        residual = x - (z @ self.weight.T + self.bias)
        variance = self.noise_std**2
        return -0.5 * (self.data_dim * (LOG_2PI + math.log(variance)) + (residual**2).sum(-1) / variance)

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log p(x|z) + log p(z)."""
        return self.log_likelihood(x, z) - 0.5 * (self.latent_dim * LOG_2PI + (z**2).sum(-1))

    def elbo(self, x: torch.Tensor, q: MultivariateNormal) -> torch.Tensor:
        """The exact ELBO of a Gaussian q(z|x): E_q[log p(x|z)] - KL(q || p(z)), both in closed form."""
        mean, covariance = q.mean, q.covariance_matrix
        variance = self.noise_std**2
        residual = x - (mean @ self.weight.T + self.bias)
        trace_term = torch.einsum("ij,bjk,ik->b", self.weight, covariance, self.weight)  # tr(W S W^T)
        expected_log_likelihood = -0.5 * (
            self.data_dim * (LOG_2PI + math.log(variance)) + ((residual**2).sum(-1) + trace_term) / variance
        )
        kl_to_prior = 0.5 * (
            covariance.diagonal(dim1=-2, dim2=-1).sum(-1) + (mean**2).sum(-1) - self.latent_dim - torch.logdet(covariance)
        )
        return expected_log_likelihood - kl_to_prior


@dataclass
class PosteriorFitConfig:
    """Fitting q(z|x) to one model by stochastic gradient ascent on the ELBO (course notebook 04)."""

    num_steps: int = 2000
    batch_size: int = 64  # reparameterized samples of z per step
    learning_rate: float = 0.03
    seed: int = 0


POSTERIOR_FIT_PRESETS = Presets(
    smoke=PosteriorFitConfig(num_steps=400),
    cpu=PosteriorFitConfig(num_steps=2000),
    gpu=PosteriorFitConfig(num_steps=2000),
)


def fit_gaussian_posterior(
    model: LinearGaussian, x: torch.Tensor, config: PosteriorFitConfig, diagonal: bool = False, progress: bool = True
) -> tuple[MultivariateNormal, LossHistory]:
    """Maximize a Monte Carlo ELBO over a Gaussian q (full or diagonal covariance), one q per row of x.

    The estimate is E_q[log p(x, z)] by reparameterized samples plus q's entropy in closed form. The
    history records the exact ``gap`` log p(x) - ELBO(q) = KL(q || p(z|x)) and the exact ``neg_elbo``, per step.
    """
    generator = torch.Generator().manual_seed(config.seed)
    num_rows, latent_dim = len(x), model.latent_dim
    mean = torch.zeros(num_rows, latent_dim, dtype=x.dtype, requires_grad=True)
    log_diagonal = torch.zeros(num_rows, latent_dim, dtype=x.dtype, requires_grad=True)
    off_diagonal = torch.zeros(num_rows, latent_dim, latent_dim, dtype=x.dtype, requires_grad=not diagonal)
    parameters = [mean, log_diagonal] + ([] if diagonal else [off_diagonal])
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    # Decay the step size 100-fold, so the stochastic gradient's noise floor shrinks toward the optimum.
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.01 ** (1 / config.num_steps))
    log_px = model.log_prob(x)

    def q() -> MultivariateNormal:
        scale_tril = torch.diag_embed(log_diagonal.exp()) + off_diagonal.tril(-1)
        return MultivariateNormal(mean, scale_tril=scale_tril, validate_args=False)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        posterior = q()
        eps = torch.randn(config.batch_size, num_rows, latent_dim, generator=generator, dtype=x.dtype)
        z = mean + (posterior.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
        elbo_estimate = model.log_joint(x, z).mean(0) + posterior.entropy()
        optimizer.zero_grad()
        (-elbo_estimate.sum()).backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            exact = model.elbo(x, q())
        return {"gap": (log_px - exact).mean(), "neg_elbo": -exact.mean()}

    history = train_loop(step_fn, config.num_steps, progress=progress, description="fitting q")
    with torch.no_grad():
        return q(), history
