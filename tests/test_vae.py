"""genlearn.vae: the KL closed form, the ELBO and IWAE bounds, shapes, and the trainer's randomness."""

import dataclasses
import math

import pytest
import torch
from torch.distributions import MultivariateNormal
from torch.distributions import kl_divergence as torch_kl

from genlearn.data import load_mnist
from genlearn.pretrained import load_pretrained, pretrained_path
from genlearn.vae import (
    LATENT_2D_PRESETS,
    SWEEP_PRESETS,
    VAE_PRESETS,
    VAE,
    Bernoulli,
    DiagonalGaussian,
    LinearGaussian,
    StandardNormal,
    VAEConfig,
    VAETrainer,
    active_units,
    build_encoder_decoder,
    elbo,
    fixed_test_subset,
    interpolate,
    iwae_bound,
    kl_divergence,
    kl_to_standard_normal,
    latent_grid,
)
from genlearn.vae.linear_gaussian import PosteriorFitConfig, fit_gaussian_posterior


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled MNIST subset (a root without full MNIST), cut down so trainers build fast."""
    root = tmp_path_factory.mktemp("no_full_mnist")
    train, test = load_mnist("train", root=root, verbose=False), load_mnist("test", root=root, verbose=False)
    return dataclasses.replace(train, images=train.images[:1000], labels=train.labels[:1000]), test


def tiny_config(**changes) -> VAEConfig:
    options = {"hidden_dim": 64, "num_steps": 40, "batch_size": 32, **changes}
    return dataclasses.replace(VAE_PRESETS["smoke"], **options)


def test_kl_closed_form_matches_monte_carlo():
    generator = torch.Generator().manual_seed(0)
    mean_q, log_var_q, mean_p, log_var_p = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    q, p = DiagonalGaussian(mean_q, log_var_q), DiagonalGaussian(mean_p, log_var_p)
    z = q.sample((400_000,), generator=generator)
    log_ratio = q.log_prob(z) - p.log_prob(z)
    standard_error = log_ratio.std() / math.sqrt(len(z))
    assert abs(log_ratio.mean() - kl_divergence(q, p)) < 4 * standard_error
    prior = StandardNormal(3, dtype=torch.float64)
    torch.testing.assert_close(kl_to_standard_normal(q), kl_divergence(q, prior))
    torch.testing.assert_close(prior.log_prob(z[:5]), DiagonalGaussian(prior.mean, prior.log_var).log_prob(z[:5]))


def test_diagonal_gaussian_matches_torch():
    mean, log_var = torch.randn(2, 5, 3, dtype=torch.float64)
    ours = DiagonalGaussian(mean, log_var)
    theirs = torch.distributions.Independent(torch.distributions.Normal(mean, (0.5 * log_var).exp()), 1)
    z = torch.randn(7, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(ours.log_prob(z), theirs.log_prob(z))
    torch.testing.assert_close(ours.entropy(), theirs.entropy())


def test_bernoulli_log_prob_is_stable_and_matches_torch():
    logits = 40 * torch.randn(3, 1, 28, 28)
    x = torch.bernoulli(torch.full_like(logits, 0.5))
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(Bernoulli(logits).log_prob(x), expected)
    assert torch.isfinite(Bernoulli(logits).log_prob(x)).all()


def test_elbo_is_below_log_px_with_equality_at_the_true_posterior():
    model = LinearGaussian.random(data_dim=6, latent_dim=3, noise_std=0.6, generator=torch.Generator().manual_seed(1))
    x, _ = model.sample(8, generator=torch.Generator().manual_seed(2))
    log_px = model.log_prob(x)
    posterior = model.posterior(x)
    torch.testing.assert_close(model.elbo(x, posterior), log_px, atol=1e-9, rtol=0)
    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        scale = torch.randn(3, 3, generator=generator, dtype=torch.float64).tril(-1) + torch.diag(
            torch.rand(3, generator=generator, dtype=torch.float64) + 0.1
        )
        q = MultivariateNormal(posterior.mean + torch.randn(8, 3, generator=generator, dtype=torch.float64), scale_tril=scale)
        bound = model.elbo(x, q)
        assert (bound < log_px).all()
        torch.testing.assert_close(log_px - bound, torch_kl(q, posterior), atol=1e-9, rtol=1e-9)


def test_exact_elbo_matches_monte_carlo_with_library_terms():
    """ELBO = E_q[log p(x|z)] - KL(q || p(z)), the KL in closed form from genlearn.vae."""
    model = LinearGaussian.random(data_dim=4, latent_dim=2, noise_std=0.8, generator=torch.Generator().manual_seed(4))
    x, _ = model.sample(3, generator=torch.Generator().manual_seed(5))
    generator = torch.Generator().manual_seed(1)  # its own generator: the global one depends on the tests run before
    q = DiagonalGaussian(
        torch.randn(3, 2, generator=generator, dtype=torch.float64), torch.randn(3, 2, generator=generator, dtype=torch.float64) - 1
    )
    z = q.sample((200_000,), generator=torch.Generator().manual_seed(6))
    monte_carlo = model.log_likelihood(x, z).mean(0) - kl_to_standard_normal(q)
    exact = model.elbo(x, MultivariateNormal(q.mean, covariance_matrix=torch.diag_embed(q.log_var.exp())))
    torch.testing.assert_close(monte_carlo, exact, atol=0.05, rtol=0)


def test_iwae_is_monotone_in_k_in_expectation_and_bounded_by_log_px():
    model = LinearGaussian.random(data_dim=5, latent_dim=2, noise_std=0.5, generator=torch.Generator().manual_seed(7))
    x, _ = model.sample(4, generator=torch.Generator().manual_seed(8))
    posterior = model.posterior(x)
    q = DiagonalGaussian(posterior.mean + 0.3, torch.zeros_like(posterior.mean) - 1.0)  # deliberately off
    generator = torch.Generator().manual_seed(9)
    means = []
    for k in (1, 4, 16, 64):
        z = q.sample((2000, k), generator=generator)  # 2,000 independent estimates of each bound
        log_weights = model.log_joint(x, z) - q.log_prob(z)
        means.append((torch.logsumexp(log_weights, dim=1) - math.log(k)).mean(0))
    log_px = model.log_prob(x)
    for smaller, larger in zip(means, means[1:]):
        assert (larger > smaller).all()
    assert (means[-1] <= log_px + 1e-3).all()


def test_iwae_bound_on_a_vae_rises_with_k_and_k1_is_the_elbo():
    torch.manual_seed(0)
    vae = VAE(*build_encoder_decoder("mlp", latent_dim=4, hidden_dim=32, num_layers=1))
    x = torch.bernoulli(torch.full((32, 1, 28, 28), 0.2), generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    bounds = {k: iwae_bound(vae, x, k, generator=generator).mean() for k in (1, 10, 100)}
    assert bounds[1] < bounds[10] < bounds[100]
    # k = 1 is an unbiased estimate of the ELBO: compare with a many-sample ELBO estimate.
    with torch.no_grad():
        elbo_estimate = torch.stack([vae(x, generator=generator)["elbo"] for _ in range(200)]).mean()
        k1 = torch.stack([iwae_bound(vae, x, 1, generator=generator).mean() for _ in range(200)]).mean()
    assert abs(k1 - elbo_estimate) < 1.0
    chunked = iwae_bound(vae, x, 100, generator=generator, rows_per_chunk=500)  # 15 samples per chunk
    assert chunked.shape == (32,) and abs(chunked.mean() - bounds[100]) < 1.0


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_shapes(architecture):
    encoder, decoder = build_encoder_decoder(architecture, latent_dim=3, hidden_dim=32, num_layers=2)
    x = torch.rand(5, 1, 28, 28)
    posterior = encoder(x)
    assert posterior.mean.shape == posterior.log_var.shape == (5, 3)
    assert encoder.sample(x).shape == (5, 3) and encoder.log_prob(posterior.mean, x).shape == (5,)
    assert decoder(torch.randn(7, 5, 3)).logits.shape == (7, 5, 1, 28, 28)  # IWAE samples keep their leading dims
    assert decoder.log_prob(x, posterior.mean).shape == (5,)
    vae = VAE(encoder, decoder)
    terms = vae(x)
    assert set(terms) == {"loss", "recon", "kl", "elbo"} and all(t.dim() == 0 for t in terms.values())
    torch.testing.assert_close(terms["elbo"], terms["recon"] - terms["kl"])
    samples = vae.sample(6)
    assert samples.shape == (6, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    assert set(vae.sample(6, binary=True).unique().tolist()) <= {0.0, 1.0}


def test_pixel_averaging_reweights_the_kl_term():
    generator = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3), generator=generator)
    likelihood = Bernoulli(torch.randn(4, 1, 28, 28, generator=generator))
    posterior = DiagonalGaussian(torch.randn(4, 5, generator=generator), torch.randn(4, 5, generator=generator))
    summed = elbo(x, likelihood, posterior)
    averaged = elbo(x, likelihood, posterior, pixel_reduction="mean")
    torch.testing.assert_close(summed["loss"], -summed["elbo"])
    torch.testing.assert_close(averaged["loss"] * 784, -(summed["recon"] - 784 * summed["kl"]))
    torch.testing.assert_close(averaged["elbo"], summed["elbo"])  # the reported ELBO stays honest
    with pytest.raises(ValueError):
        elbo(x, likelihood, posterior, pixel_reduction="median")


def test_latent_helpers():
    torch.manual_seed(0)
    encoder, decoder = build_encoder_decoder("mlp", latent_dim=2, hidden_dim=16, num_layers=1)
    assert latent_grid(decoder, num_per_side=5).shape == (25, 1, 28, 28)
    start, end = torch.zeros(2), torch.ones(2)
    path = interpolate(decoder, start, end, num_steps=4)
    assert path.shape == (4, 1, 28, 28)
    torch.testing.assert_close(path[-1], decoder(end.unsqueeze(0)).mean[0])
    means = torch.randn(100, 3) * torch.tensor([1.0, 0.0, 0.5])
    assert active_units(means).tolist() == [True, False, True]
    with pytest.raises(ValueError):
        latent_grid(build_encoder_decoder("mlp", 3, 16, 1)[1])


@pytest.mark.parametrize("presets", [VAE_PRESETS, LATENT_2D_PRESETS, SWEEP_PRESETS], ids=["main", "latent2d", "sweep"])
def test_presets_round_trip_through_asdict(presets):
    for _, config in presets.items():
        assert VAEConfig(**dataclasses.asdict(config)) == config


def test_training_lowers_the_loss(bundled):
    trainer = VAETrainer(tiny_config(num_steps=150), "cpu", data=bundled)
    history = trainer.fit(progress=False)
    assert history.mean("neg_elbo", last=20) < history.mean("neg_elbo", first=20) - 50
    metrics = trainer.evaluate(num_images=50, iwae_k=20)
    assert metrics["iwae_nll"] <= metrics["neg_elbo"] + 1.0 and metrics["num_images"] == 50


def test_evaluate_does_not_touch_the_training_randomness(bundled):
    """Evaluating mid-run must leave the run exactly as if it had not evaluated (see training.py's docstring)."""
    plain = VAETrainer(tiny_config(), "cpu", data=bundled)
    plain.fit(progress=False)
    interrupted = VAETrainer(tiny_config(), "cpu", data=bundled)
    interrupted.fit(20, progress=False)
    generator_state, global_state = interrupted.generator.get_state(), torch.get_rng_state()
    interrupted.evaluate(num_images=50, iwae_k=5)
    assert torch.equal(interrupted.generator.get_state(), generator_state)
    assert torch.equal(torch.get_rng_state(), global_state)
    interrupted.fit(progress=False)
    assert interrupted.history["loss"] == plain.history["loss"]


def test_resume_continues_exactly(bundled):
    plain = VAETrainer(tiny_config(), "cpu", data=bundled)
    plain.fit(progress=False)
    first = VAETrainer(tiny_config(), "cpu", data=bundled)
    first.fit(15, progress=False)
    resumed = VAETrainer(tiny_config(), "cpu", data=bundled)
    resumed.load_state_dict(first.state_dict())
    resumed.fit(progress=False)
    assert resumed.history["loss"] == plain.history["loss"]


def test_fixed_test_subset_is_fixed(bundled):
    _, test = bundled
    indices, images, binary = fixed_test_subset(test, 100, seed=0)
    again = fixed_test_subset(test, 100, seed=0)
    assert torch.equal(indices, again[0]) and torch.equal(binary, again[2])
    assert images.shape == binary.shape == (100, 1, 28, 28) and set(binary.unique().tolist()) <= {0.0, 1.0}
    assert len(fixed_test_subset(test, 10**6)[0]) == len(test)


def test_conv_trainer_runs(bundled):
    trainer = VAETrainer(tiny_config(architecture="conv", num_steps=3), "cpu", data=bundled)
    trainer.fit(progress=False)
    assert trainer.sample(4).shape == (4, 1, 28, 28)


def test_shipped_pretrained_vae_samples():
    if not pretrained_path("vae").is_file():
        pytest.skip("data/pretrained/vae.pt is absent: it is written by benchmarks/vae.py")
    trainer = load_pretrained(VAETrainer, "cpu")
    samples = trainer.sample(8)
    assert samples.shape == (8, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1


def test_fitting_q_closes_the_gap_only_with_a_full_covariance():
    weight = torch.tensor([[1.0, 0.8], [0.9, 1.0], [1.0, 1.1]], dtype=torch.float64)
    model = LinearGaussian(weight, torch.zeros(3, dtype=torch.float64), noise_std=0.8)
    x, _ = model.sample(1, generator=torch.Generator().manual_seed(0))
    config = PosteriorFitConfig(num_steps=300)
    _, full = fit_gaussian_posterior(model, x, config, progress=False)
    _, diagonal = fit_gaussian_posterior(model, x, config, diagonal=True, progress=False)
    precision = torch.linalg.inv(model.posterior(x).covariance_matrix[0])
    floor = 0.5 * (precision.diagonal().log().sum() - torch.logdet(precision)).item()
    assert full["gap"][-1] < 0.02 < floor
    assert floor - 1e-6 < diagonal["gap"][-1] < floor + 0.05
