"""Exercises for the VAE notebooks (04 and 05): each pairs a checker with a reference solution (see ``genlearn.exercises``).

The checkers draw fresh inputs at every check, test properties (limits, symmetries, gradients, bias and
variance) as well as values, and run the student's training step against the library's on a tiny problem.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math

import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal
from torch.distributions import kl_divergence as torch_kl_divergence

from genlearn.budget import Presets
from genlearn.exercises import Exercise
from genlearn.exercises.inputs import as_tensor, integer, trials
from genlearn.vae.distributions import Bernoulli
from genlearn.vae.linear_gaussian import LinearGaussian
from genlearn.vae.model import VAE
from genlearn.vae.networks import MLPDecoder, MLPEncoder


def _close(actual: torch.Tensor, expected: torch.Tensor, hint: str, atol: float = 1e-6, rtol: float = 1e-6) -> None:
    assert actual.shape == expected.shape, f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}. {hint}"
    assert torch.allclose(actual.to(expected.dtype), expected, atol=atol, rtol=rtol), hint


def _uniform(generator: torch.Generator, low: float, high: float, *shape: int) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


# --- Notebook 04: the ELBO ------------------------------------------------------------------------------


def kl_diagonal_to_full(mean_q, log_var_q, mean_p, covariance_p):
    precision_p = torch.linalg.inv(covariance_p)
    difference = (mean_p - mean_q).unsqueeze(-1)
    # tr(P diag(var_q)) needs only P's diagonal; the Mahalanobis term needs all of it.
    trace = (precision_p.diagonal(dim1=-2, dim2=-1) * log_var_q.exp()).sum(-1)
    mahalanobis = (difference.transpose(-2, -1) @ precision_p @ difference)[..., 0, 0]
    log_det_ratio = torch.logdet(covariance_p) - log_var_q.sum(-1)
    return 0.5 * (trace + mahalanobis - mean_q.shape[-1] + log_det_ratio)


def _exact_kl(mean_q, log_var_q, mean_p, covariance_p) -> torch.Tensor:
    q = MultivariateNormal(mean_q, covariance_matrix=torch.diag_embed(log_var_q.exp()))
    return torch_kl_divergence(q, MultivariateNormal(mean_p, covariance_matrix=covariance_p))


def _diagonal_only_kl(mean_q, log_var_q, mean_p, covariance_p) -> torch.Tensor:
    """The KL to p with its correlations dropped: what an answer that ignores them computes."""
    var_p = covariance_p.diagonal(dim1=-2, dim2=-1)
    return 0.5 * (var_p.log() - log_var_q + (log_var_q.exp() + (mean_q - mean_p) ** 2) / var_p - 1).sum(-1)


def _check_kl_diagonal_to_full(candidate) -> None:
    formula = ("KL = 1/2 [tr(S_p^-1 S_q) + (m_p - m_q)^T S_p^-1 (m_p - m_q) - d + log det S_p - log det S_q] "
               "with S_q = diag(exp(log_var_q))")
    for generator in trials():
        batch, dim = integer(generator, 1, 6), integer(generator, 1, 5)
        mean_q, log_var_q, mean_p = torch.randn(3, batch, dim, generator=generator, dtype=torch.float64)
        factor = torch.randn(batch, dim, dim, generator=generator, dtype=torch.float64)
        covariance_p = factor @ factor.transpose(-2, -1) + 0.1 * torch.eye(dim, dtype=torch.float64)
        expected = _exact_kl(mean_q, log_var_q, mean_p, covariance_p)
        kl = as_tensor(candidate(mean_q, log_var_q, mean_p, covariance_p), "the KL")
        assert kl.shape == (batch,), f"return one KL per row, shape (batch,); got {tuple(kl.shape)}"
        assert torch.isfinite(kl).all(), "got inf or nan: invert S_p (torch.linalg.inv) and use torch.logdet"
        assert (kl > -1e-9).all(), "a KL is never negative: check the signs of the log-determinant terms"
        if dim > 1 and torch.allclose(kl.to(expected.dtype), _diagonal_only_kl(mean_q, log_var_q, mean_p, covariance_p)):
            raise AssertionError("your KL ignores p's correlations: the diagonal of S_p^-1 is not 1 / diag(S_p)")
        _close(kl, expected, formula)

        itself = as_tensor(candidate(mean_q, log_var_q, mean_q, torch.diag_embed(log_var_q.exp())), "the KL")
        assert torch.allclose(itself.to(torch.float64), torch.zeros(batch, dtype=torch.float64), atol=1e-9), (
            "KL(q || q) must be 0: with p = q the trace term is d, the Mahalanobis term 0, the log-determinants cancel"
        )
        # With a diagonal p both directions can be asked for: they differ.
        log_var_p = torch.randn(batch, dim, generator=generator, dtype=torch.float64)
        forward = as_tensor(candidate(mean_q, log_var_q, mean_p, torch.diag_embed(log_var_p.exp())), "the KL")
        backward = as_tensor(candidate(mean_p, log_var_p, mean_q, torch.diag_embed(log_var_q.exp())), "the KL")
        hint = "KL is not symmetric: the expectation is under q, the first argument. " + formula
        _close(forward, _exact_kl(mean_q, log_var_q, mean_p, torch.diag_embed(log_var_p.exp())), hint)
        _close(backward, _exact_kl(mean_p, log_var_p, mean_q, torch.diag_embed(log_var_q.exp())), hint)


KL_DIAGONAL_TO_FULL = Exercise(
    "Exercise 1 (the KL from a diagonal Gaussian to a correlated one)",
    _check_kl_diagonal_to_full,
    kl_diagonal_to_full,
    forbidden=("torch.distributions.kl.kl_divergence",),
)


def reparameterize(mean, log_var, eps):
    return mean + torch.exp(0.5 * log_var) * eps


def _check_reparameterize(candidate) -> None:
    for generator in trials():
        batch, dim = integer(generator, 1, 5), integer(generator, 1, 6)
        sample_shape = () if integer(generator, 0, 1) else (integer(generator, 2, 6),)
        mean = torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
        log_var = (3 * torch.randn(batch, dim, generator=generator, dtype=torch.float64)).requires_grad_()
        eps = torch.randn(*sample_shape, batch, dim, generator=generator, dtype=torch.float64)
        std = torch.exp(0.5 * log_var.detach())
        z = candidate(mean, log_var, eps)
        assert isinstance(z, torch.Tensor), f"return z as a tensor (got a {type(z).__name__})"
        assert z.shape == eps.shape, (
            f"z should have eps's shape {tuple(eps.shape)}, got {tuple(z.shape)}: one z per noise draw, "
            "mean and log_var broadcast over eps's leading sample dimensions"
        )
        if torch.allclose(z.detach(), mean.detach() + log_var.detach().exp() * eps):
            raise AssertionError("you scaled eps by the variance: the standard deviation is exp(log_var / 2)")
        _close(z.detach(), mean.detach() + std * eps, "z = mean + std * eps: shift and scale the noise you are given")
        assert z.requires_grad, (
            "z carries no gradient: build it from mean and log_var with tensor operations "
            "(a draw from torch.normal, or under no_grad, cuts the graph)"
        )
        upstream = torch.randn(eps.shape, generator=generator, dtype=torch.float64)
        grad_mean, grad_log_var = torch.autograd.grad((z * upstream).sum(), (mean, log_var), allow_unused=True)
        assert grad_mean is not None, "the gradient does not reach mean"
        _close(grad_mean, upstream.reshape(-1, batch, dim).sum(0), "dz/dmean should be 1: z moves one for one with the mean")
        assert grad_log_var is not None, "the gradient does not reach log_var: use log_var, not a detached copy"
        _close(grad_log_var, (0.5 * std * eps * upstream).reshape(-1, batch, dim).sum(0),
               "dz/dlog_var should be std * eps / 2: compute std from log_var inside the graph")


REPARAMETERIZE = Exercise(
    "Exercise 2 (the reparameterization trick)",
    _check_reparameterize,
    reparameterize,
    forbidden=("genlearn.vae.distributions.DiagonalGaussian.rsample",),
)


def linear_gaussian_posterior(weight, bias, noise_std, x):
    precision = torch.eye(weight.shape[1], dtype=weight.dtype) + weight.T @ weight / noise_std**2
    covariance = torch.linalg.inv(precision)
    return (x - bias) @ weight @ covariance / noise_std**2, covariance


def _posterior_of(candidate, weight, bias, noise_std, x) -> tuple[torch.Tensor, torch.Tensor]:
    result = candidate(weight, bias, noise_std, x)
    assert isinstance(result, tuple) and len(result) == 2, "return a pair: (posterior means, posterior covariance)"
    return as_tensor(result[0], "the posterior means"), as_tensor(result[1], "the posterior covariance")


def _check_linear_gaussian_posterior(candidate) -> None:
    for generator in trials():
        data_dim, latent_dim, num_points = integer(generator, 1, 6), integer(generator, 1, 4), integer(generator, 1, 5)
        noise_std = float(_uniform(generator, 0.3, 2.0))
        model = LinearGaussian.random(data_dim, latent_dim, noise_std, generator=generator)
        x, _ = model.sample(num_points, generator=generator)
        posterior = model.posterior(x)
        mean, covariance = _posterior_of(candidate, model.weight, model.bias, noise_std, x)
        assert covariance.shape == (latent_dim, latent_dim), (
            f"return one covariance shared by every x, shape (latent_dim, latent_dim); got {tuple(covariance.shape)}"
        )
        assert torch.allclose(covariance, covariance.T, atol=1e-9), "a covariance matrix is symmetric"
        assert torch.linalg.eigvalsh(covariance).min() > 0, "a covariance matrix is positive definite"
        _close(covariance, posterior.covariance_matrix[0],
               "the posterior precision is the prior's, I, plus what the data adds, W^T W / sigma^2; invert it")
        _close(mean, posterior.mean, "the posterior mean is covariance W^T (x - b) / sigma^2, one row per x")

        at_bias, _ = _posterior_of(candidate, model.weight, model.bias, noise_std, model.bias.expand(2, -1))
        assert torch.allclose(at_bias, torch.zeros(2, latent_dim, dtype=torch.float64), atol=1e-9), (
            "at x = b the data points nowhere, so the posterior mean is the prior's, 0"
        )
        far_mean, far_covariance = _posterior_of(candidate, model.weight, model.bias, 1e4, x)
        assert torch.allclose(far_covariance, torch.eye(latent_dim, dtype=torch.float64), atol=1e-6), (
            "with huge observation noise the data says nothing: the posterior covariance must tend to the prior's, I"
        )
        assert torch.allclose(far_mean, torch.zeros_like(far_mean), atol=1e-6), (
            "with huge observation noise the posterior mean must tend to the prior's, 0"
        )


LINEAR_GAUSSIAN_POSTERIOR = Exercise(
    "Exercise 3 (the exact posterior of a linear-Gaussian model)",
    _check_linear_gaussian_posterior,
    linear_gaussian_posterior,
    forbidden=("genlearn.vae.linear_gaussian.LinearGaussian.posterior",),
)


def score_function_gradients(f, score):
    squared = score**2
    weighted = f.unsqueeze(1) * squared
    # Draw i's baseline comes from the other draws only: independent of score_i, whose mean is 0, it adds no bias.
    baseline = (weighted.sum(0) - weighted) / (squared.sum(0) - squared)
    return (f.unsqueeze(1) - baseline) * score


@dataclasses.dataclass
class _QuadraticProblem:
    """f(z) = level - curvature / 2 |z - a|^2 under q = N(mu, std^2 I), with offset = mu - a.

    Isotropic, so that one shared baseline does as well as one per coordinate: the check asks for less
    variance, not for a particular form.
    """

    std: float
    curvature: float
    offset: torch.Tensor
    level: float

    @classmethod
    def random(cls, generator: torch.Generator, near_optimum: bool) -> _QuadraticProblem:
        dim = integer(generator, 1, 3)
        std, curvature = float(_uniform(generator, 0.5, 2.0)), float(_uniform(generator, 0.5, 2.0))
        sign = 2.0 * torch.randint(0, 2, (dim,), generator=generator) - 1
        distance = _uniform(generator, 0.0, 0.2, dim) if near_optimum else _uniform(generator, 1.0, 2.0, dim)
        level = float(_uniform(generator, 30, 70)) * (1 if integer(generator, 0, 1) else -1)  # as large as a log p(x, z)
        return cls(std, curvature, sign * distance * std, level)

    @property
    def gradient(self) -> torch.Tensor:
        """The exact gradient of E_q[f] with respect to mu."""
        return -self.curvature * self.offset

    def draws(self, generator: torch.Generator, batches: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """f and the score d log q / d mu = eps / std, for ``batches`` batches of ``size`` draws."""
        eps = torch.randn(batches, size, len(self.offset), generator=generator, dtype=torch.float64)
        f = self.level - 0.5 * self.curvature * ((self.offset + self.std * eps) ** 2).sum(-1)
        return f, eps / self.std


def _estimates(candidate, f: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """The candidate's per-draw estimates for every batch: (batches, size, dim)."""
    batches = []
    for f_batch, score_batch in zip(f, score):
        estimate = as_tensor(candidate(f_batch, score_batch), "the per-draw gradient estimates")
        assert estimate.shape == score_batch.shape, (
            f"return one estimate per draw and coordinate, the shape of score {tuple(score_batch.shape)}; "
            f"got {tuple(estimate.shape)}"
        )
        assert torch.isfinite(estimate).all(), "got inf or nan: with only 2 draws, is a denominator zero?"
        batches.append(estimate.to(torch.float64))
    return torch.stack(batches)


def _check_score_function_gradients(candidate) -> None:
    # Bias shows with few draws: a baseline that uses draw i correlates with score_i.
    for generator in trials(2):
        problem = _QuadraticProblem.random(generator, near_optimum=False)
        num_batches = 1000
        f, score = problem.draws(generator, num_batches, integer(generator, 2, 4))
        means = _estimates(candidate, f, score).mean(1)
        standard_error = means.std(0) / math.sqrt(num_batches)
        assert ((means.mean(0) - problem.gradient).abs() < 6 * standard_error).all(), (
            "averaged over thousands of batches of 2 to 4 draws your estimate misses the exact gradient: it is biased. "
            "Subtracting b keeps it unbiased only if E[b score_i] = 0, and a b computed from draw i itself is "
            "correlated with score_i (f.mean() too). Which draws may draw i's baseline use?"
        )
    # Variance shows with many draws, near the optimum, where f and score^2 are strongly correlated.
    for generator in trials(2):
        problem = _QuadraticProblem.random(generator, near_optimum=True)
        f, score = problem.draws(generator, 60, integer(generator, 128, 256))
        mean_baseline = (f - f.mean(1, keepdim=True)).unsqueeze(-1) * score
        variance = {
            "yours": _estimates(candidate, f, score).flatten(0, 1).var(0).sum(),
            "f.mean()": mean_baseline.flatten(0, 1).var(0).sum(),
            "optimal": torch.stack([score_function_gradients(*batch) for batch in zip(f, score)]).flatten(0, 1).var(0).sum(),
        }
        assert variance["yours"] < variance["f.mean()"] - 0.5 * (variance["f.mean()"] - variance["optimal"]), (
            "your estimator's variance is not clearly below the one with f.mean() as baseline. For coordinate p, "
            "Var[(f - b) score_p] = E[(f - b)^2 score_p^2] - gradient_p^2: set its derivative in b to zero."
        )


SCORE_FUNCTION_GRADIENTS = Exercise(
    "Exercise 4 (build it: the variance-optimal score-function baseline)",
    _check_score_function_gradients,
    score_function_gradients,
    kind="build",
)


def weight_for_an_exact_diagonal_q():
    # Orthogonal columns make W^T W, and so the posterior precision I + W^T W / sigma^2, diagonal.
    return torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, -1.5], [1.0, -1.5]], dtype=torch.float64)


def _check_weight_for_an_exact_diagonal_q(candidate) -> None:
    weight = as_tensor(candidate(), "W").to(torch.float64)
    assert weight.shape == (5, 2), f"return W of shape (5, 2), like the model of section 1; got {tuple(weight.shape)}"
    assert torch.isfinite(weight).all(), "W must be finite"
    assert ((weight.abs() >= 0.5) & (weight.abs() <= 10)).all(), (
        "every entry of W must lie between 0.5 and 10 in magnitude: both latents must move every observed coordinate"
    )
    model = LinearGaussian(weight, torch.zeros(5, dtype=torch.float64), noise_std=0.8)
    precision = torch.linalg.inv(model.posterior(torch.zeros(1, 5, dtype=torch.float64)).covariance_matrix[0])
    best_diagonal_gap = 0.5 * (precision.diagonal().log().sum() - torch.logdet(precision))
    assert best_diagonal_gap < 1e-9, (
        "the best diagonal q still leaves a gap, so the posterior's latents are correlated. "
        "The gap is 0 exactly when the precision I + W^T W / sigma^2 is diagonal: what does that ask of W's columns?"
    )


WEIGHT_FOR_AN_EXACT_DIAGONAL_Q = Exercise(
    "Exercise 5 (open: a model whose posterior a diagonal q fits exactly)",
    _check_weight_for_an_exact_diagonal_q,
    weight_for_an_exact_diagonal_q,
    kind="open",
)


# --- Notebook 05: a VAE on MNIST ------------------------------------------------------------------------


def bernoulli_log_likelihood(logits, x):
    # log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l): finite for any logit.
    log_p = -(x * torch.nn.functional.softplus(-logits) + (1 - x) * torch.nn.functional.softplus(logits))
    return log_p.flatten(1).sum(1)


def _check_bernoulli_log_likelihood(candidate) -> None:
    for generator in trials():
        shape = (integer(generator, 1, 6), integer(generator, 1, 3), integer(generator, 2, 28), integer(generator, 2, 28))
        logits = 3 * torch.randn(shape, generator=generator, dtype=torch.float64)
        saturated = torch.rand(shape, generator=generator) < 0.2
        logits[saturated] = 100 * torch.sign(logits[saturated])
        x = torch.bernoulli(torch.full(shape, 0.4, dtype=torch.float64), generator=generator)
        logits.requires_grad_(True)
        result = as_tensor(candidate(logits, x), "the log-likelihoods")
        assert result.shape == shape[:1], (
            f"return one log-likelihood per image, shape ({shape[0]},): sum over every dimension but the first; "
            f"got {tuple(result.shape)}"
        )
        assert torch.isfinite(result).all(), (
            "got inf or nan: at logits of +-100, sigmoid rounds to exactly 0 or 1 and its log is -inf. "
            "Stay in log space: log sigmoid(l) = -softplus(-l)"
        )
        assert (result <= 1e-9).all(), "a log-probability of binary pixels is never positive: check the sign"
        expected = Bernoulli(logits.detach(), event_dims=3).log_prob(x)
        _close(result.detach(), expected, "sum over pixels of x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))",
               atol=1e-6, rtol=1e-9)
        assert result.requires_grad, "the log-likelihood must stay differentiable in the logits: the decoder learns through it"
        (gradient,) = torch.autograd.grad(result.sum(), logits)
        _close(gradient, x - torch.sigmoid(logits.detach()),
               "the gradient in a logit is x - sigmoid(l), even at +-100: clamping the probability zeroes it")
        flipped = as_tensor(candidate(-logits.detach(), 1 - x), "the log-likelihoods")
        _close(flipped, result.detach(), "flipping every pixel and every logit's sign describes the same coins")


BERNOULLI_LOG_LIKELIHOOD = Exercise(
    "Exercise 1 (the Bernoulli log-likelihood of an image, in log space)",
    _check_bernoulli_log_likelihood,
    bernoulli_log_likelihood,
    forbidden=(
        "torch.nn.functional.binary_cross_entropy_with_logits",
        "torch.nn.functional.binary_cross_entropy",
        "torch.binary_cross_entropy_with_logits",
        "torch.distributions.bernoulli.Bernoulli.log_prob",
        "genlearn.vae.distributions.Bernoulli.log_prob",
    ),
)


def iwae_from_log_weights(log_weights):
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])


def _check_iwae_from_log_weights(candidate) -> None:
    formula = "L_k = log (1/k sum_i w_i), computed from the log-weights over the first (sample) dimension"
    for generator in trials():
        k, batch = integer(generator, 1, 64), integer(generator, 1, 8)
        centre = _uniform(generator, -150, -50, batch)
        log_weights = centre + _uniform(generator, 0.5, 5.0) * torch.randn(k, batch, generator=generator, dtype=torch.float64)
        bound = as_tensor(candidate(log_weights), "the bound")
        assert bound.shape == (batch,), f"return one bound per image, shape ({batch},); got {tuple(bound.shape)}"
        assert torch.isfinite(bound).all(), (
            "got inf or nan: exp(-100) is fine, exp(-1000) is 0 in floating point. Compute log-mean-exp with torch.logsumexp"
        )
        _close(bound, iwae_from_log_weights(log_weights), formula, atol=1e-8)
        _close(as_tensor(candidate(log_weights[:1]), "the bound"), log_weights[0],
               "with k = 1 the IWAE bound is the ELBO estimate itself, the single log-weight")
        level = centre.expand(k, batch)
        _close(as_tensor(candidate(level), "the bound"), centre,
               "when all k log-weights are equal to c, the average weight is e^c and the bound is c: divide by k")
        for shift in (-1000.0, 1000.0):
            shifted = as_tensor(candidate(log_weights + shift), "the bound")
            assert torch.isfinite(shifted).all(), (
                "with log-weights near -1000 or +1000 exp underflows or overflows: use torch.logsumexp"
            )
            _close(shifted, bound + shift, "adding c to every log-weight must add c to the bound", atol=1e-6)
    # In expectation the bound rises with k: L_1 <= L_2 <= L_4 ... (Burda et al., 2015).
    generator = next(trials(1))
    log_weights = 2 * torch.randn(16, 4000, generator=generator, dtype=torch.float64)
    bounds = [as_tensor(candidate(log_weights[:k]), "the bound").mean() for k in (1, 2, 4, 8, 16)]
    assert all(low < high for low, high in zip(bounds, bounds[1:])), (
        "averaged over many images your bound does not rise with k: more importance samples must tighten it"
    )


IWAE_FROM_LOG_WEIGHTS = Exercise(
    "Exercise 2 (the IWAE bound from log-weights)",
    _check_iwae_from_log_weights,
    iwae_from_log_weights,
)


def count_active_units(posterior_means, threshold=0.01):
    return int((posterior_means.var(dim=0) > threshold).sum())


def _check_count_active_units(candidate) -> None:
    definition = ("a unit is active when the variance over images (dim 0) of its posterior mean exceeds threshold; "
                  "a constant offset does not make it active")
    for generator in trials(6):
        num_images, latent_dim = integer(generator, 50, 400), integer(generator, 1, 12)
        # Thresholds well away from the default 0.01, on either side of it.
        threshold = float(10 ** (_uniform(generator, 0.5, 1.5) * (1 if integer(generator, 0, 1) else -1) - 2))
        active = torch.rand(latent_dim, generator=generator) < 0.5
        # Variances far from the threshold on either side, so that N or N - 1 in the variance does not matter.
        above, below = 10 ** _uniform(generator, 0.5, 2, latent_dim), 10 ** _uniform(generator, -3, -0.5, latent_dim)
        variance = threshold * torch.where(active, above, below)
        variance[torch.rand(latent_dim, generator=generator) < 0.1] = 0.0  # a unit that never moves at all
        noise = torch.randn(num_images, latent_dim, generator=generator, dtype=torch.float64)
        noise = (noise - noise.mean(0)) / noise.std(0)
        offsets = _uniform(generator, -10, 10, latent_dim)
        means = offsets + noise * variance.sqrt()
        result = candidate(means, threshold)
        try:
            count = int(result)
        except (TypeError, ValueError, RuntimeError) as error:
            raise AssertionError(f"return the count as one integer (got {type(result).__name__})") from error
        expected = int((variance > threshold).sum())
        assert count <= expected, f"you count too many units: {definition}. Use the threshold you are given"
        assert count >= expected, f"you count too few units: {definition}"


COUNT_ACTIVE_UNITS = Exercise(
    "Exercise 3 (counting active latent units)",
    _check_count_active_units,
    count_active_units,
    forbidden=("genlearn.vae.latent.active_units",),
)


def vae_training_step(vae, optimizer, x):
    posterior = vae.encoder(x)
    z = posterior.mean + torch.exp(0.5 * posterior.log_var) * torch.randn_like(posterior.mean)
    logits = vae.decoder(z).logits
    recon = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (posterior.mean**2 + posterior.log_var.exp() - posterior.log_var - 1).sum(1)
    loss = (kl - recon).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@dataclasses.dataclass(frozen=True)
class TinyVAEConfig:
    """A small VAE on synthetic digits, for the checks that train: seconds on a CPU, yet it learns to use its latent."""

    num_steps: int
    batch_size: int = 32
    learning_rate: float = 5e-3
    latent_dim: int = 4
    hidden_dim: int = 64
    seed: int = 0


# The checks train on the CPU whatever the notebook's device, so the gpu budget is the cpu one.
TINY_VAE_PRESETS = Presets(
    smoke=TinyVAEConfig(num_steps=200), cpu=TinyVAEConfig(num_steps=300), gpu=TinyVAEConfig(num_steps=300)
)
TRAINING_STEP_TOLERANCE = 15.0  # nats per image above the library's held-out -ELBO; the noise's seed alone moves it ~3
WARMUP_BETA = 4.0
WARMUP_LATENT_DIM = 8  # with 8 latents a constant beta = 4 gets stuck near collapse, and a warm-up does not
WARMUP_MIN_GAIN = 20.0  # nats per image of the beta-loss by which a KL warm-up must beat a constant weight


@dataclasses.dataclass
class _TinyProblem:
    prototypes: torch.Tensor  # pixel probabilities of 10 synthetic digit classes
    held_out: torch.Tensor  # binary images that no run trains on
    initial: VAE  # the start of every run; copied, never trained itself


def _tiny_problem(config: TinyVAEConfig) -> _TinyProblem:
    coarse = torch.randn(10, 1, 7, 7, generator=torch.Generator().manual_seed(config.seed))
    prototypes = torch.sigmoid(4 * F.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False))
    held_out = _binary_images(prototypes, torch.Generator().manual_seed(config.seed + 3), 256)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        initial = VAE(MLPEncoder(config.latent_dim, config.hidden_dim, num_layers=1),
                      MLPDecoder(config.latent_dim, config.hidden_dim, num_layers=1))
    return _TinyProblem(prototypes, held_out, initial)


def _binary_images(prototypes: torch.Tensor, generator: torch.Generator, num_images: int) -> torch.Tensor:
    classes = torch.randint(len(prototypes), (num_images,), generator=generator)
    return torch.bernoulli(prototypes[classes], generator=generator)


def _library_step(vae: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, beta: float = 1.0) -> float:
    loss = vae(x, beta=beta)["loss"]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _loss_value(result) -> float:
    try:
        return float(result.detach() if isinstance(result, torch.Tensor) else result)
    except (TypeError, ValueError, RuntimeError) as error:
        raise AssertionError(f"return the step's loss as a number, loss.item() (got {type(result).__name__})") from error


def _train(step, problem: _TinyProblem, config: TinyVAEConfig) -> VAE:
    """``config.num_steps`` calls of ``step(vae, optimizer, x)`` from the problem's start, on the same batches every time."""
    vae = copy.deepcopy(problem.initial)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.learning_rate)
    batches = torch.Generator().manual_seed(config.seed + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 2)  # the reparameterization noise, drawn from the global generator
        for _ in range(config.num_steps):
            _loss_value(step(vae, optimizer, _binary_images(problem.prototypes, batches, config.batch_size)))
    return vae


@functools.lru_cache(maxsize=2)
def _library_run(config: TinyVAEConfig, beta: float) -> VAE:
    """The library's own step at a constant beta: the same at every check, so it is trained once."""
    return _train(functools.partial(_library_step, beta=beta), _tiny_problem(config), config)


@torch.no_grad()
def _held_out_loss(vae: VAE, images: torch.Tensor, beta: float = 1.0, num_draws: int = 8) -> float:
    """-(recon - beta * KL) in nats per image, averaged over draws of z: the -ELBO at beta = 1."""
    generator = torch.Generator().manual_seed(0)
    return sum(vae(images, beta=beta, generator=generator)["loss"].item() for _ in range(num_draws)) / num_draws


def _check_loss_value(candidate, trained: VAE, x: torch.Tensor, num_draws: int = 16) -> None:
    """With a learning rate of 0 the step's returned losses must average to the library's -ELBO per image."""
    vae = copy.deepcopy(trained)
    frozen = torch.optim.SGD(vae.parameters(), lr=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yours = torch.tensor([_loss_value(candidate(vae, frozen, x)) for _ in range(num_draws)], dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        library = torch.tensor([vae(x, generator=generator)["loss"].item() for _ in range(num_draws)], dtype=torch.float64)
    noise = 4 * math.sqrt((yours.var() + library.var()) / num_draws) + 0.5
    if abs(yours.mean() - library.mean()) > noise:
        ratio = yours.mean() / library.mean()
        if abs(ratio * 784 - 1) < 0.1:
            raise AssertionError("your loss is per pixel: sum log p(x|z) over the 784 pixels, average over the batch")
        if abs(ratio - len(x)) < 0.1 * len(x):
            raise AssertionError("your loss is summed over the batch: report nats per image, the batch mean")
        raise AssertionError(
            "the loss your step returns is not the -ELBO in nats per image: -(sum over pixels of log p(x|z)) "
            "+ KL(q(z|x) || N(0, I)) summed over latent dimensions, averaged over the batch, with "
            "z = mean + exp(log_var / 2) * eps"
        )


def _check_vae_training_step(candidate) -> None:
    config = TINY_VAE_PRESETS.for_device("cpu")
    problem = _tiny_problem(config)
    scratch = copy.deepcopy(problem.initial)  # one step first: a stub fails before the library's training runs
    _loss_value(candidate(scratch, torch.optim.SGD(scratch.parameters(), lr=0.0), problem.held_out[:8]))
    library = _library_run(config, 1.0)
    _check_loss_value(candidate, library, problem.held_out[:64])
    yours = _train(candidate, problem, config)
    assert _held_out_loss(yours, problem.held_out) < _held_out_loss(library, problem.held_out) + TRAINING_STEP_TOLERANCE, (
        f"after {config.num_steps} steps from the same start on the same batches, your VAE's -ELBO on held-out "
        f"images is more than {TRAINING_STEP_TOLERANCE:g} nats worse than the library step's. Does your step zero "
        "the gradients, keep z differentiable in the encoder's outputs, and step the optimizer?"
    )


# The library's pieces of a VAE step, which a student writing one must not call.
LIBRARY_VAE_STEP = (
    "genlearn.vae.model.VAE.forward",
    "genlearn.vae.losses.elbo",
    "genlearn.vae.losses.iwae_objective",
    "genlearn.vae.distributions.kl_to_standard_normal",
    "genlearn.vae.distributions.kl_divergence",
    "genlearn.vae.distributions.Bernoulli.log_prob",
    "genlearn.vae.distributions.DiagonalGaussian.rsample",
)


VAE_TRAINING_STEP = Exercise(
    "Exercise 4 (build it: the VAE training step)",
    _check_vae_training_step,
    vae_training_step,
    kind="build",
    forbidden=LIBRARY_VAE_STEP,
)


def grey_reconstruction_floor(images):
    # A decoder that outputs p_i = x_i pays the binary entropy of each pixel; xlogy takes 0 log 0 = 0.
    entropy = -(torch.xlogy(images, images) + torch.xlogy(1 - images, 1 - images))
    return entropy.flatten(1).sum(1)


def _check_grey_reconstruction_floor(candidate) -> None:
    for generator in trials():
        shape = (integer(generator, 1, 6), integer(generator, 1, 3), integer(generator, 2, 28), integer(generator, 2, 28))
        images = torch.rand(shape, generator=generator, dtype=torch.float64)
        ends = torch.rand(shape, generator=generator) < 0.3  # MNIST is mostly exact 0s, with some exact 1s
        images[ends] = (images[ends] > 0.7).double()
        floor = as_tensor(candidate(images), "the floor")
        assert floor.shape == shape[:1], (
            f"return one number per image, shape ({shape[0]},): sum over every dimension but the first; "
            f"got {tuple(floor.shape)}"
        )
        assert torch.isfinite(floor).all(), "got inf or nan on pixels that are exactly 0 or 1: 0 log 0 counts as 0"
        assert (floor >= 0).all(), "a reconstruction loss of Bernoulli pixels is never negative"
        binary = as_tensor(candidate(images.round()), "the floor")
        assert torch.allclose(binary.to(torch.float64), torch.zeros_like(binary, dtype=torch.float64), atol=1e-9), (
            "on binary images a perfect decoder pays nothing: the floor must be 0"
        )
        entropy = torch.special.entr(images) + torch.special.entr(1 - images)
        _close(floor, entropy.flatten(1).sum(1),
               "minimize pixel by pixel: for which p is -[x log p + (1 - x) log(1 - p)] smallest, and what is it there?")


GREY_RECONSTRUCTION_FLOOR = Exercise(
    "Exercise 5 (the floor under a grey-pixel reconstruction loss)",
    _check_grey_reconstruction_floor,
    grey_reconstruction_floor,
    forbidden=(
        "torch.nn.functional.binary_cross_entropy",
        "torch.nn.functional.binary_cross_entropy_with_logits",
        "torch.binary_cross_entropy_with_logits",
        "torch.distributions.bernoulli.Bernoulli.entropy",
        "torch.distributions.bernoulli.Bernoulli.log_prob",
        "genlearn.vae.distributions.Bernoulli.log_prob",
    ),
)


def kl_weight(step, num_steps, beta):
    # Let the codes carry information before it is taxed: the weight climbs from 0 to beta over the first half.
    return beta * min(1.0, step / (0.5 * num_steps))


def _kl_weights(candidate, num_steps: int, beta: float) -> list[float]:
    weights = []
    for step in range(num_steps):
        weight = candidate(step, num_steps, beta)
        try:
            weights.append(float(weight))
        except (TypeError, ValueError, RuntimeError) as error:
            raise AssertionError(f"return the KL weight as a number (got {type(weight).__name__})") from error
    assert all(0 <= weight <= beta for weight in weights), "keep the KL weight between 0 and beta"
    assert all(math.isclose(weight, beta) for weight in weights[-(num_steps // 4):]), (
        "the last quarter of training must run at beta itself: that is the objective both runs are scored on"
    )
    return weights


def _check_kl_weight(candidate) -> None:
    _kl_weights(candidate, 40, 2.0)  # any length and any beta, not only the check's
    config = dataclasses.replace(TINY_VAE_PRESETS.for_device("cpu"), latent_dim=WARMUP_LATENT_DIM)
    weights = iter(_kl_weights(candidate, config.num_steps, WARMUP_BETA))
    problem = _tiny_problem(config)
    yours = _train(lambda vae, optimizer, x: _library_step(vae, optimizer, x, next(weights)), problem, config)
    constant = _library_run(config, WARMUP_BETA)
    gain = _held_out_loss(constant, problem.held_out, WARMUP_BETA) - _held_out_loss(yours, problem.held_out, WARMUP_BETA)
    assert gain > WARMUP_MIN_GAIN, (
        f"at beta = {WARMUP_BETA:g} your schedule's model does not beat the constant weight's by {WARMUP_MIN_GAIN:g} "
        "nats per image on the loss D + beta R both are trained for. Does the weight start low enough, for long "
        "enough, that the codes carry information before they are taxed?"
    )


KL_WARMUP = Exercise(
    "Exercise 6 (open: a KL warm-up against posterior collapse)",
    _check_kl_weight,
    kl_weight,
    kind="open",
    forbidden=("genlearn.vae.training.kl_warmup_weight",),
)


# --- Notebook 06: debug this VAE ------------------------------------------------------------------------


def hidden_beta(residuals, kl_weight, pixel_reduction):
    # The sigma that fits the residuals best: d/d(sigma^2) of |r|^2 / (2 sigma^2) + (D / 2) log sigma^2 is 0 there.
    noise_variance = float((residuals**2).mean())
    squared_error_weight = 1 / residuals[0].numel() if pixel_reduction == "mean" else 1.0
    # squared_error_weight * |r|^2 + w KL is a multiple of |r|^2 / (2 sigma^2) + beta KL with this beta:
    return kl_weight / (2 * squared_error_weight * noise_variance)


def _check_hidden_beta(candidate) -> None:
    for generator in trials(6):
        shape = (integer(generator, 1, 6), integer(generator, 1, 3), integer(generator, 2, 28), integer(generator, 2, 28))
        # Residuals with an offset: sigma measures them around the decoder's mean, not around their own mean.
        residuals = _uniform(generator, 0.05, 0.5) * torch.randn(shape, generator=generator, dtype=torch.float64)
        residuals = residuals + _uniform(generator, 0.1, 0.3)
        kl_weight = float(10 ** _uniform(generator, -3, 1))
        pixel_reduction = ("sum", "mean")[integer(generator, 0, 1)]
        result = as_tensor(candidate(residuals, kl_weight, pixel_reduction), "beta").double()
        assert result.numel() == 1, (
            f"return one number: one sigma for every pixel of every image, so one beta; got shape {tuple(result.shape)}"
        )
        beta = float(result.reshape(()))
        expected = hidden_beta(residuals, kl_weight, pixel_reduction)

        def matches(value: float) -> bool:
            return math.isclose(beta, value, rel_tol=1e-6)

        centred = hidden_beta(residuals - residuals.mean(), kl_weight, pixel_reduction)
        if matches(centred) or matches(centred * (residuals.numel() - 1) / residuals.numel()):
            raise AssertionError("sigma is the spread of x around the decoder's mean x_hat: the residuals x - x_hat "
                                 "are already deviations, so do not subtract their own mean (var() does)")
        if pixel_reduction == "mean" and matches(hidden_beta(residuals, kl_weight, "sum")):
            raise AssertionError("right for squared errors summed over the pixels; averaging them instead also divides "
                                 "their weight by the number of pixels")
        if matches(expected * float((residuals**2).mean()) ** 0.5):
            raise AssertionError("beta = w / (2 sigma^2) needs the variance: square your sigma")
        assert matches(expected), (
            "find the sigma that maximises the likelihood of the residuals (set the derivative of |r|^2 / (2 sigma^2) "
            "+ (D / 2) log sigma^2 in sigma^2 to zero), then write the loss as a positive multiple of "
            "|r|^2 / (2 sigma^2) + beta KL: beta is the KL's weight there"
        )


HIDDEN_BETA = Exercise(
    "Exercise 1 (the beta hidden in a squared-error loss)",
    _check_hidden_beta,
    hidden_beta,
    forbidden=("genlearn.vae.losses.squared_error_as_gaussian",),
)


def repaired_vae_step(vae, optimizer, x, eps):
    posterior = vae.encoder(x)
    z = posterior.mean + torch.exp(0.5 * posterior.log_var) * eps  # a sample, reparameterized: not the mean
    logits = vae.decoder(z).logits  # logits go to the *_with_logits loss as they are, with no sigmoid first
    recon = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (posterior.mean**2 + posterior.log_var.exp() - posterior.log_var - 1).sum(1)
    loss = (kl - recon).mean()  # both terms per image, then one mean over the batch
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


REPAIR_NUM_STEPS = 3  # steps compared with the repaired reference, from the same start on the same batches


def _repair_problem(seed: int, batch_size: int, num_steps: int) -> tuple[VAE, list[tuple[torch.Tensor, torch.Tensor]]]:
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = VAE(MLPEncoder(3, 16, num_layers=1), MLPDecoder(3, 16, num_layers=1))
    batches = [(torch.bernoulli(torch.full((batch_size, 1, 28, 28), 0.3), generator=generator),
                torch.randn(batch_size, 3, generator=generator)) for _ in range(num_steps)]
    return vae, batches


def _after_steps(step, vae: VAE, batches) -> tuple[list[float], dict[str, torch.Tensor]]:
    """The losses ``step`` returns on ``batches`` and the weights after them, from a copy of ``vae`` with plain SGD."""
    vae = copy.deepcopy(vae)
    optimizer = torch.optim.SGD(vae.parameters(), lr=0.01)  # plain SGD: Adam's first step would magnify rounding
    losses = [_loss_value(step(vae, optimizer, x, eps)) for x, eps in batches]
    return losses, {name: value.detach().clone() for name, value in vae.named_parameters()}


def _single_mistakes(vae: VAE, x: torch.Tensor, eps: torch.Tensor) -> dict[str, float]:
    """The loss of the repaired step with one of the broken step's mistakes left in, keyed by its hint."""
    with torch.no_grad():
        posterior = vae.encoder(x)
        kl = 0.5 * (posterior.mean**2 + posterior.log_var.exp() - posterior.log_var - 1).sum(1)
        sample = posterior.mean + torch.exp(0.5 * posterior.log_var) * eps

        def recon_loss(z, squash=False):
            logits = vae.decoder(z).logits
            logits = torch.sigmoid(logits) if squash else logits
            return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)

        return {
            "you decode the posterior's mean: decode a sample, z = mean + exp(log_var / 2) * eps":
                float((recon_loss(posterior.mean) + kl).mean()),
            "binary_cross_entropy_with_logits applies the sigmoid itself: give it the decoder's logits as they are":
                float((recon_loss(sample, squash=True) + kl).mean()),
            "your reconstruction term is summed over the batch and your KL averaged over it: a beta of 1 / batch "
            "size. Take both per image, then one mean over the batch": float(recon_loss(sample).sum() + kl.mean()),
        }


def _check_repaired_vae_step(candidate) -> None:
    for generator in trials(2):
        seed, batch_size = integer(generator, 0, 2**30), integer(generator, 4, 12)
        vae, batches = _repair_problem(seed, batch_size, REPAIR_NUM_STEPS)
        (loss,), _ = _after_steps(candidate, vae, batches[:1])
        (expected,), _ = _after_steps(repaired_vae_step, vae, batches[:1])
        if not math.isclose(loss, expected, rel_tol=1e-4, abs_tol=1e-3):
            for hint, mistaken in _single_mistakes(vae, *batches[0]).items():
                if math.isclose(loss, mistaken, rel_tol=1e-4, abs_tol=1e-3):
                    raise AssertionError(hint)
            raise AssertionError(
                "the loss your step returns is not the -ELBO in nats per image: sum log p(x|z) over the pixels and "
                "the KL over the latent dimensions for each image, then one mean over the batch, with "
                "z = mean + exp(log_var / 2) * eps and the decoder's logits given to binary_cross_entropy_with_logits"
            )
        _, got = _after_steps(candidate, vae, batches)
        _, want = _after_steps(repaired_vae_step, vae, batches)
        assert all(torch.allclose(got[name], want[name], rtol=1e-4, atol=1e-6) for name in want), (
            f"the right loss, but after {REPAIR_NUM_STEPS} steps of SGD from the same start on the same batches your "
            "weights differ from the repaired step's: does the gradient reach the encoder through "
            "z = mean + exp(log_var / 2) * eps, and does each step zero the gradients, backpropagate and step once?"
        )


REPAIRED_VAE_STEP = Exercise(
    "Exercise 2 (build: repair a second broken VAE step)",
    _check_repaired_vae_step,
    repaired_vae_step,
    kind="build",
    forbidden=LIBRARY_VAE_STEP,
)
