"""The VAE track's exercises (notebooks 04 and 05) reject hard-coded answers, classic mistakes and calls to the answer.

The generic checks (every reference passes, calling it is refused) are in tests/test_exercises.py.
"""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal
from torch.distributions import kl_divergence as exact_kl

from genlearn.exercises import Exercise, passes
from genlearn.vae import Bernoulli, DiagonalGaussian, LinearGaussian, active_units, elbo
from genlearn.vae import exercises

# --- 04: the KL from a diagonal Gaussian to a correlated one ---------------------------------------------


def _kl_by_cholesky(mean_q, log_var_q, mean_p, covariance_p):
    factor = torch.linalg.cholesky(covariance_p)
    trace = torch.cholesky_solve(torch.diag_embed(log_var_q.exp()), factor).diagonal(dim1=-2, dim2=-1).sum(-1)
    difference = (mean_p - mean_q).unsqueeze(-1)
    mahalanobis = (difference * torch.cholesky_solve(difference, factor)).sum((-2, -1))
    log_det_p = 2 * factor.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * (trace + mahalanobis - mean_q.shape[-1] + log_det_p - log_var_q.sum(-1))


def test_kl_diagonal_to_full_accepts_a_cholesky_solve_and_rejects_the_usual_mistakes():
    def ignores_correlations(mean_q, log_var_q, mean_p, covariance_p):
        var_p = covariance_p.diagonal(dim1=-2, dim2=-1)
        return 0.5 * (var_p.log() - log_var_q + (log_var_q.exp() + (mean_q - mean_p) ** 2) / var_p - 1).sum(-1)

    def covariance_instead_of_precision(mean_q, log_var_q, mean_p, covariance_p):
        difference = (mean_p - mean_q).unsqueeze(-1)
        trace = (covariance_p.diagonal(dim1=-2, dim2=-1) * log_var_q.exp()).sum(-1)
        mahalanobis = (difference.transpose(-2, -1) @ covariance_p @ difference)[..., 0, 0]
        return 0.5 * (trace + mahalanobis - mean_q.shape[-1] + torch.logdet(covariance_p) - log_var_q.sum(-1))

    def forgets_the_dimension(mean_q, log_var_q, mean_p, covariance_p):
        return _kl_by_cholesky(mean_q, log_var_q, mean_p, covariance_p) + 0.5 * mean_q.shape[-1]

    def calls_torch(mean_q, log_var_q, mean_p, covariance_p):
        q = MultivariateNormal(mean_q, covariance_matrix=torch.diag_embed(log_var_q.exp()))
        return exact_kl(q, MultivariateNormal(mean_p, covariance_matrix=covariance_p))

    exercise = exercises.KL_DIAGONAL_TO_FULL
    assert passes(exercise, _kl_by_cholesky)
    assert not passes(exercise, lambda mean_q, log_var_q, mean_p, covariance_p: torch.zeros(len(mean_q)))
    for wrong in (ignores_correlations, covariance_instead_of_precision, forgets_the_dimension, calls_torch):
        assert not passes(exercise, wrong), wrong.__name__


# --- 04: the reparameterization trick --------------------------------------------------------------------


def test_reparameterize_rejects_the_variance_a_cut_graph_and_fresh_noise():
    exercise = exercises.REPARAMETERIZE
    assert passes(exercise, lambda mean, log_var, eps: mean + log_var.exp().sqrt() * eps)
    assert not passes(exercise, lambda mean, log_var, eps: torch.zeros_like(eps))
    assert not passes(exercise, lambda mean, log_var, eps: mean + log_var.exp() * eps)
    assert not passes(exercise, lambda mean, log_var, eps: (mean + torch.exp(0.5 * log_var) * eps).detach())
    assert not passes(exercise, lambda mean, log_var, eps: mean + torch.exp(0.5 * log_var.detach()) * eps)
    assert not passes(exercise, lambda mean, log_var, eps: torch.normal(mean, torch.exp(0.5 * log_var)))
    assert not passes(exercise, lambda mean, log_var, eps: DiagonalGaussian(mean, log_var).rsample(eps.shape[:-2]))


# --- 04: the exact posterior of a linear-Gaussian model ------------------------------------------------


def test_linear_gaussian_posterior_accepts_a_solve_and_rejects_a_missing_prior():
    def by_solve(weight, bias, noise_std, x):
        precision = torch.eye(weight.shape[1], dtype=weight.dtype) + weight.T @ weight / noise_std**2
        mean = torch.linalg.solve(precision, weight.T @ (x - bias).T / noise_std**2).T
        return mean, torch.linalg.inv(precision)

    def without_the_prior(weight, bias, noise_std, x):
        covariance = torch.linalg.pinv(weight.T @ weight / noise_std**2)
        return (x - bias) @ weight @ covariance / noise_std**2, covariance

    def noise_std_not_squared(weight, bias, noise_std, x):
        covariance = torch.linalg.inv(torch.eye(weight.shape[1], dtype=weight.dtype) + weight.T @ weight / noise_std)
        return (x - bias) @ weight @ covariance / noise_std, covariance

    exercise = exercises.LINEAR_GAUSSIAN_POSTERIOR
    assert passes(exercise, by_solve)
    assert not passes(exercise, lambda w, b, s, x: (torch.zeros(len(x), w.shape[1]), torch.eye(w.shape[1])))
    for wrong in (without_the_prior, noise_std_not_squared):
        assert not passes(exercise, wrong), wrong.__name__
    assert not passes(exercise, lambda w, b, s, x: (LinearGaussian(w, b, s).posterior(x).mean,
                                                    LinearGaussian(w, b, s).posterior(x).covariance_matrix[0]))


# --- 04: build it, the variance-optimal score-function baseline ------------------------------------------


def _per_draw(f, score, baseline):
    return (f.unsqueeze(1) - baseline) * score


def test_score_function_baseline_must_be_unbiased_and_beat_the_mean():
    def with_a_mask(f, score):
        others = 1 - torch.eye(len(f), dtype=f.dtype)  # row i selects every draw but i
        baseline = others @ (f.unsqueeze(1) * score**2) / (others @ score**2)
        return (f.unsqueeze(1) - baseline) * score

    def notebooks_mean(f, score):  # uses draw i in its own baseline: biased with few draws
        return _per_draw(f, score, f.mean())

    def optimal_from_every_draw(f, score):  # the right baseline, but biased the same way
        return _per_draw(f, score, (f.unsqueeze(1) * score**2).sum(0) / (score**2).sum(0))

    def mean_of_the_others(f, score):  # unbiased, but no better than f.mean()
        return _per_draw(f, score, ((f.sum() - f) / (len(f) - 1)).unsqueeze(1))

    def flipped_sign(f, score):
        return -with_a_mask(f, score)

    exercise = exercises.SCORE_FUNCTION_GRADIENTS
    assert passes(exercise, with_a_mask)
    assert not passes(exercise, lambda f, score: torch.zeros_like(score))
    assert not passes(exercise, lambda f, score: f.unsqueeze(1) * score)  # no baseline at all
    for wrong in (notebooks_mean, optimal_from_every_draw, mean_of_the_others, flipped_sign):
        assert not passes(exercise, wrong), wrong.__name__


# --- 04: open, a model whose posterior a diagonal q fits exactly ------------------------------------------


def test_exact_diagonal_q_needs_orthogonal_columns_with_no_small_entry():
    exercise = exercises.WEIGHT_FOR_AN_EXACT_DIAGONAL_Q
    columns = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, -4.0]])
    assert passes(exercise, lambda: columns)
    assert not passes(exercise, lambda: torch.ones(5, 2))  # parallel columns: strongly correlated latents
    assert not passes(exercise, lambda: torch.randn(5, 2, generator=torch.Generator().manual_seed(0)))
    assert not passes(exercise, lambda: torch.eye(5, 2))  # orthogonal, but through zeros
    assert not passes(exercise, lambda: columns.T)


# --- 05: the Bernoulli log-likelihood --------------------------------------------------------------------


def test_bernoulli_log_likelihood_must_stay_in_log_space_and_keep_its_gradient():
    def by_logsigmoid(logits, x):
        return (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum((1, 2, 3))

    def naive(logits, x):
        p = torch.sigmoid(logits)
        return (x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))

    def clamped(logits, x):
        p = torch.sigmoid(logits).clamp(1e-7, 1 - 1e-7)
        return (x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))

    def mean_over_pixels(logits, x):
        return by_logsigmoid(logits, x) / x[0].numel()

    exercise = exercises.BERNOULLI_LOG_LIKELIHOOD
    assert passes(exercise, by_logsigmoid)
    assert passes(exercise, lambda logits, x: (x * logits - F.softplus(logits)).flatten(1).sum(1))
    assert not passes(exercise, lambda logits, x: torch.zeros(len(x)))
    for wrong in (naive, clamped, mean_over_pixels):
        assert not passes(exercise, wrong), wrong.__name__
    assert not passes(exercise, lambda logits, x: -F.binary_cross_entropy_with_logits(
        logits, x, reduction="none").sum((1, 2, 3)))
    assert not passes(exercise, lambda logits, x: Bernoulli(logits).log_prob(x))
    assert not passes(exercise, lambda logits, x: torch.distributions.Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3)))


# --- 05: the IWAE bound from log-weights -----------------------------------------------------------------


def test_iwae_bound_needs_a_stable_log_mean_exp_over_the_samples():
    def shifted_by_the_max(log_weights):
        top = log_weights.max(0).values
        return top + (log_weights - top).exp().mean(0).log()

    exercise = exercises.IWAE_FROM_LOG_WEIGHTS
    assert passes(exercise, shifted_by_the_max)
    assert not passes(exercise, lambda log_weights: torch.zeros(log_weights.shape[1]))
    assert not passes(exercise, lambda log_weights: log_weights.exp().mean(0).log())  # underflows
    assert not passes(exercise, lambda log_weights: log_weights.mean(0))  # the ELBO, whatever k
    assert not passes(exercise, lambda log_weights: torch.logsumexp(log_weights, dim=0))  # forgets 1/k
    assert not passes(exercise, lambda log_weights: torch.logsumexp(log_weights, dim=1) - math.log(len(log_weights)))


# --- 05: active units ------------------------------------------------------------------------------------


def test_active_units_rejects_a_constant_and_the_usual_mistakes():
    def population_variance(posterior_means, threshold=0.01):
        centred = posterior_means - posterior_means.mean(0)
        return int(((centred**2).mean(0) > threshold).sum())

    exercise = exercises.COUNT_ACTIVE_UNITS
    assert passes(exercise, population_variance)
    assert not passes(exercise, lambda posterior_means, threshold=0.01: 3)
    assert not passes(exercise, lambda means, threshold=0.01: int((means.mean(0).abs() > threshold).sum()))
    assert not passes(exercise, lambda means, threshold=0.01: int((means.std(0) > threshold).sum()))
    assert not passes(exercise, lambda means, threshold=0.01: int((means.var(0) > 0.01).sum()))  # ignores threshold
    assert not passes(exercise, lambda means, threshold=0.01: int(active_units(means, threshold).sum()))


# --- 05: build it, the VAE training step -----------------------------------------------------------------


def _step(vae, optimizer, x, *, std_of=lambda log_var: torch.exp(0.5 * log_var), cut_graph=False,
          pixel_mean=False, kl_weight=1.0, zero_grad=True):
    posterior = vae.encoder(x)
    z = posterior.mean + std_of(posterior.log_var) * torch.randn_like(posterior.mean)
    logits = vae.decoder(z.detach() if cut_graph else z).logits
    log_likelihood = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
    recon = log_likelihood.mean(1) if pixel_mean else log_likelihood.sum(1)
    kl = 0.5 * (posterior.mean**2 + posterior.log_var.exp() - posterior.log_var - 1).sum(1)
    loss = (kl_weight * kl - recon).mean()
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_vae_training_step_accepts_a_monte_carlo_kl():
    def monte_carlo_kl(vae, optimizer, x):
        posterior = vae.encoder(x)
        std = torch.exp(0.5 * posterior.log_var)
        z = posterior.mean + std * torch.randn(posterior.mean.shape)
        recon = -F.binary_cross_entropy_with_logits(vae.decoder(z).logits, x, reduction="none").sum((1, 2, 3))
        log_q = (-0.5 * ((z - posterior.mean) / std) ** 2 - std.log()).sum(1)
        log_p = (-0.5 * z**2).sum(1)
        loss = (log_q - log_p - recon).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    assert passes(exercises.VAE_TRAINING_STEP, monte_carlo_kl)


def test_vae_training_step_rejects_a_constant_and_the_usual_mistakes():
    exercise = exercises.VAE_TRAINING_STEP
    assert not passes(exercise, lambda vae, optimizer, x: 100.0)
    assert not passes(exercise, lambda vae, optimizer, x: _step(vae, optimizer, x, pixel_mean=True))
    assert not passes(exercise, lambda vae, optimizer, x: _step(vae, optimizer, x, kl_weight=0.0))
    assert not passes(exercise, lambda vae, optimizer, x: _step(vae, optimizer, x, std_of=torch.exp))
    assert not passes(exercise, lambda vae, optimizer, x: _step(vae, optimizer, x, cut_graph=True))
    assert not passes(exercise, lambda vae, optimizer, x: _step(vae, optimizer, x, zero_grad=False))


def test_vae_training_step_refuses_the_library_loss():
    def library_loss(vae, optimizer, x):
        loss = vae(x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    def library_elbo(vae, optimizer, x):
        posterior = vae.encoder(x)
        loss = elbo(x, vae.decoder(posterior.rsample()), posterior)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    assert not passes(exercises.VAE_TRAINING_STEP, library_loss)
    assert not passes(exercises.VAE_TRAINING_STEP, library_elbo)


# --- 05: the floor under a grey-pixel reconstruction loss -----------------------------------------------


def test_grey_floor_needs_both_entropy_terms_and_zero_log_zero():
    def naive(images):
        return -(images * images.log() + (1 - images) * (1 - images).log()).flatten(1).sum(1)

    def one_term(images):
        return -torch.xlogy(images, images).flatten(1).sum(1)

    exercise = exercises.GREY_RECONSTRUCTION_FLOOR
    assert passes(exercise, lambda images: (torch.special.entr(images) + torch.special.entr(1 - images)).sum((1, 2, 3)))
    assert not passes(exercise, lambda images: torch.zeros(len(images)))
    for wrong in (naive, one_term):
        assert not passes(exercise, wrong), wrong.__name__
    assert not passes(exercise, lambda images: F.binary_cross_entropy(images, images, reduction="none").sum((1, 2, 3)))
    assert not passes(exercise, lambda images: torch.distributions.Bernoulli(probs=images).entropy().sum((1, 2, 3)))


# --- 05: open, a KL warm-up against posterior collapse --------------------------------------------------


def test_kl_warmup_must_start_low_and_end_at_beta():
    def cosine_ramp(step, num_steps, beta):
        ramp = min(1.0, step / (0.6 * num_steps))
        return beta * (1 - math.cos(math.pi * ramp)) / 2

    exercise = exercises.KL_WARMUP
    assert passes(exercise, cosine_ramp)
    assert not passes(exercise, lambda step, num_steps, beta: beta)  # no warm-up: collapses like the constant run
    assert not passes(exercise, lambda step, num_steps, beta: 4.0 * min(1.0, 2 * step / num_steps))  # hard-codes beta
    assert not passes(exercise, lambda step, num_steps, beta: beta * step / num_steps)  # never trains at beta itself
    assert not passes(exercise, lambda step, num_steps, beta: beta * max(0.0, 1 - 2 * step / num_steps))  # backwards


# --- The instructor edition ------------------------------------------------------------------------------

VAE_EXERCISES = sorted(name for name, value in vars(exercises).items() if isinstance(value, Exercise))


@pytest.mark.parametrize("name", VAE_EXERCISES)
def test_each_reference_passes_when_written_in_a_notebook(name, tmp_path):
    """The instructor edition pastes each reference into its notebook, where the guard treats it as the student's code."""
    exercise = getattr(exercises, name)
    cell = tmp_path / "cell.py"
    cell.write_text(inspect.getsource(exercise.reference))
    namespace = {"torch": torch, "math": math}
    exec(compile(cell.read_text(), str(cell), "exec"), namespace)
    assert passes(exercise, namespace[exercise.reference.__name__])


# --- 06: the beta hidden in a squared-error loss --------------------------------------------------------


def test_hidden_beta_fits_sigma_around_the_decoder_and_counts_the_pixels():
    def by_sums(residuals, kl_weight, pixel_reduction):
        squared_error_weight = 1 / residuals[0].numel() if pixel_reduction == "mean" else 1
        return kl_weight * residuals.numel() / (2 * squared_error_weight * (residuals**2).sum())

    def weight(residuals, pixel_reduction):
        return residuals[0].numel() if pixel_reduction == "mean" else 1

    exercise = exercises.HIDDEN_BETA
    assert passes(exercise, by_sums)
    assert not passes(exercise, lambda residuals, kl_weight, pixel_reduction: 1.0)
    assert not passes(exercise, lambda r, w, reduction: w * weight(r, reduction) / (2 * r.var()))  # centres r
    assert not passes(exercise, lambda r, w, reduction: w / (2 * (r**2).mean()))  # ignores the reduction
    assert not passes(exercise, lambda r, w, reduction: w * weight(r, reduction) / (2 * (r**2).mean().sqrt()))
    assert not passes(exercise, lambda r, w, reduction: w * weight(r, reduction) / (2 * (r**2).flatten(1).mean(1)))
    assert not passes(exercise, lambda r, w, reduction: w * weight(r, reduction) / (2 * (r**2).sum()))


# --- 06: build it, repair a second broken VAE step ------------------------------------------------------


def _repair_attempt(*, decode_mean=False, sigmoid_first=False, sum_over_batch=False, cut_graph=False,
                    in_log_space=False):
    def step(vae, optimizer, x, eps):
        posterior = vae.encoder(x)
        z = posterior.mean if decode_mean else posterior.mean + torch.exp(0.5 * posterior.log_var) * eps
        logits = vae.decoder(z.detach() if cut_graph else z).logits
        if in_log_space:
            recon_loss = -(x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum((1, 2, 3))
        else:
            logits = torch.sigmoid(logits) if sigmoid_first else logits
            recon_loss = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
        kl = 0.5 * (posterior.mean**2 + posterior.log_var.exp() - posterior.log_var - 1).sum(-1)
        loss = recon_loss.sum() + kl.mean() if sum_over_batch else (recon_loss + kl).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def test_repaired_vae_step_accepts_a_log_sigmoid_likelihood_and_rejects_each_bug():
    exercise = exercises.REPAIRED_VAE_STEP
    assert passes(exercise, _repair_attempt(in_log_space=True))
    assert not passes(exercise, lambda vae, optimizer, x, eps: 500.0)
    assert not passes(exercise, _repair_attempt(decode_mean=True, sigmoid_first=True, sum_over_batch=True))  # as given
    for bug in ("decode_mean", "sigmoid_first", "sum_over_batch", "cut_graph"):
        assert not passes(exercise, _repair_attempt(**{bug: True})), bug


def test_repaired_vae_step_refuses_the_library_loss():
    def library_loss(vae, optimizer, x, eps):
        loss = vae(x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    assert not passes(exercises.REPAIRED_VAE_STEP, library_loss)
