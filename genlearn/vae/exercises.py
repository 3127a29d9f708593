"""Exercises for the VAE notebooks (04 and 05), each with a checker and a reference solution."""

from __future__ import annotations

import math

import torch

from genlearn.exercises import Exercise
from genlearn.vae.distributions import Bernoulli, DiagonalGaussian, kl_divergence
from genlearn.vae.latent import active_units
from genlearn.vae.linear_gaussian import LinearGaussian


def _close(actual, expected, hint: str, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    actual = torch.as_tensor(actual)
    assert actual.shape == expected.shape, f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}. {hint}"
    assert torch.allclose(actual.to(expected.dtype), expected, atol=atol, rtol=rtol), hint


# Notebook 04: the ELBO.


def kl_diagonal_gaussians_reference(mean_q, log_var_q, mean_p, log_var_p):
    return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mean_q - mean_p) ** 2) / log_var_p.exp() - 1).sum(-1)


def _check_kl(candidate) -> None:
    generator = torch.Generator().manual_seed(1)
    mean_q, log_var_q, mean_p, log_var_p = torch.randn(4, 6, 3, generator=generator, dtype=torch.float64)
    expected = kl_divergence(DiagonalGaussian(mean_q, log_var_q), DiagonalGaussian(mean_p, log_var_p))
    _close(
        candidate(mean_q, log_var_q, mean_p, log_var_p),
        expected,
        "Sum over the last (latent) dimension: 1/2 [log var_p - log var_q + (var_q + (mean_q - mean_p)^2) / var_p - 1].",
    )
    same = candidate(mean_q, log_var_q, mean_q, log_var_q)
    assert torch.allclose(torch.as_tensor(same), torch.zeros(6, dtype=torch.float64), atol=1e-9), "KL(q || q) must be 0."


KL_DIAGONAL_GAUSSIANS = Exercise(
    "KL between diagonal Gaussians", _check_kl, kl_diagonal_gaussians_reference
)


def reparameterize_reference(mean, log_var, eps):
    return mean + torch.exp(0.5 * log_var) * eps


def _check_reparameterize(candidate) -> None:
    generator = torch.Generator().manual_seed(2)
    mean, log_var, eps = torch.randn(3, 5, 4, generator=generator, dtype=torch.float64)
    mean.requires_grad_(True)
    log_var.requires_grad_(True)
    z = candidate(mean, log_var, eps)
    _close(z.detach(), reparameterize_reference(mean, log_var, eps).detach(),
           "z = mean + std * eps with std = exp(log_var / 2), not exp(log_var).")
    assert z.requires_grad, "z must stay differentiable in mean and log_var: build it from them, don't sample it."
    (grad_log_var,) = torch.autograd.grad(z.sum(), log_var)
    _close(grad_log_var, 0.5 * torch.exp(0.5 * log_var.detach()) * eps, "dz/dlog_var should be std * eps / 2.")


REPARAMETERIZE = Exercise("The reparameterization trick", _check_reparameterize, reparameterize_reference)


def linear_gaussian_posterior_reference(weight, bias, noise_std, x):
    precision = torch.eye(weight.shape[1], dtype=weight.dtype) + weight.T @ weight / noise_std**2
    covariance = torch.linalg.inv(precision)
    return (x - bias) @ weight @ covariance / noise_std**2, covariance


def _check_posterior(candidate) -> None:
    model = LinearGaussian.random(data_dim=4, latent_dim=3, noise_std=0.7, generator=torch.Generator().manual_seed(3))
    x, _ = model.sample(5, generator=torch.Generator().manual_seed(4))
    posterior = model.posterior(x)
    mean, covariance = candidate(model.weight, model.bias, model.noise_std, x)
    _close(covariance, posterior.covariance_matrix[0],
           "The posterior covariance is (I + W^T W / sigma^2)^-1, the same for every x.")
    _close(mean, posterior.mean, "The posterior mean is covariance @ W^T (x - b) / sigma^2, one row per x.")


LINEAR_GAUSSIAN_POSTERIOR = Exercise(
    "The exact posterior of a linear-Gaussian model", _check_posterior, linear_gaussian_posterior_reference
)


# Notebook 05: a VAE on MNIST.


def bernoulli_log_likelihood_reference(logits, x):
    return Bernoulli(logits).log_prob(x)


def _check_bernoulli(candidate) -> None:
    generator = torch.Generator().manual_seed(5)
    logits = 30 * torch.randn(4, 1, 28, 28, generator=generator)
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3), generator=generator)
    result = torch.as_tensor(candidate(logits, x))
    hint = "One number per image: sum log p(x_i | logits_i) over all 784 pixels (not the mean)."
    assert result.shape == (4,), f"expected shape (4,), got {tuple(result.shape)}. {hint}"
    assert torch.isfinite(result).all(), (
        "Got inf or nan: with logits of +-30, sigmoid rounds to 0 or 1 and log(0) = -inf. "
        "Work with logits: log sigmoid(l) = -softplus(-l) (or use F.binary_cross_entropy_with_logits)."
    )
    _close(result, bernoulli_log_likelihood_reference(logits, x), hint, atol=1e-2, rtol=1e-5)


BERNOULLI_LOG_LIKELIHOOD = Exercise(
    "Bernoulli log-likelihood of an image", _check_bernoulli, bernoulli_log_likelihood_reference
)


def iwae_from_log_weights_reference(log_weights):
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])


def _check_iwae(candidate) -> None:
    generator = torch.Generator().manual_seed(6)
    log_weights = torch.randn(50, 3, generator=generator, dtype=torch.float64) - 90.0  # realistic: log p(x) ~ -90
    _close(candidate(log_weights), iwae_from_log_weights_reference(log_weights),
           "log (1/k sum_i w_i) over the first (sample) dimension, i.e. logsumexp - log k.")
    deep = log_weights - 1000.0
    result = torch.as_tensor(candidate(deep))
    assert torch.isfinite(result).all(), (
        "exp(-1000) underflows to 0: compute log-mean-exp with torch.logsumexp, never log(mean(exp(.)))."
    )
    _close(result, iwae_from_log_weights_reference(deep), "logsumexp(log_weights, dim=0) - log k")


IWAE_FROM_LOG_WEIGHTS = Exercise("The IWAE bound from log-weights", _check_iwae, iwae_from_log_weights_reference)


def count_active_units_reference(posterior_means, threshold=0.01):
    return int(active_units(posterior_means, threshold).sum())


def _check_active_units(candidate) -> None:
    generator = torch.Generator().manual_seed(7)
    scales = torch.tensor([1.0, 0.5, 0.001, 0.2, 0.0, 0.05])  # variances 1, .25, 1e-6, .04, 0, .0025
    means = torch.randn(2000, 6, generator=generator) * scales + torch.tensor([3.0, 0, 5, 0, -2, 0])
    count = candidate(means)
    assert int(count) == 3, (
        f"got {count}, expected 3. A unit is active when the variance across images (dim 0) of its posterior "
        "mean exceeds 0.01; a constant offset does not make it active."
    )


COUNT_ACTIVE_UNITS = Exercise("Counting active latent units", _check_active_units, count_active_units_reference)
