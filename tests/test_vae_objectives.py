"""genlearn.vae's training options and units: free bits, KL warm-up, the Gaussian decoder and its squared-error
reading, the IWAE objective, bits per pixel, active units, and the labels of the evaluation subset."""

import dataclasses
import math

import pytest
import torch

from genlearn.checkpoint import config_from_dict
from genlearn.data import ImageData
from genlearn.vae import (
    VAE,
    VAE_PRESETS,
    Bernoulli,
    DiagonalGaussian,
    VAEConfig,
    VAETrainer,
    active_units,
    bits_per_dim,
    build_encoder_decoder,
    elbo,
    encode_dataset,
    iwae_bound,
    iwae_objective,
    kl_warmup_weight,
    squared_error_as_gaussian,
)
from genlearn.vae.networks import MIN_PIXEL_LOG_STD

LN2 = math.log(2)


def synthetic_digits(num_images: int, seed: int) -> ImageData:
    """Images whose every pixel spells their label (intensity 20 * label + 10), with random labels."""
    labels = torch.randint(0, 10, (num_images,), generator=torch.Generator().manual_seed(seed))
    images = (20 * labels + 10).to(torch.uint8).view(-1, 1, 1).expand(-1, 28, 28).contiguous()
    return ImageData(images=images, labels=labels, source="synthetic digits")


def tiny_trainer(**changes) -> VAETrainer:
    options = {"latent_dim": 4, "hidden_dim": 32, "num_layers": 1, "num_steps": 6, "batch_size": 8, **changes}
    config = dataclasses.replace(VAE_PRESETS["smoke"], **options)
    return VAETrainer(config, "cpu", data=(synthetic_digits(64, seed=0), synthetic_digits(60, seed=1)))


def tiny_vae(likelihood: str = "bernoulli") -> VAE:
    torch.manual_seed(0)
    return VAE(*build_encoder_decoder("mlp", latent_dim=3, hidden_dim=16, num_layers=1, likelihood=likelihood))


# --- free bits and the KL warm-up ----------------------------------------------------------------------------


def test_free_bits_clamp_each_dimensions_batch_mean_kl_in_the_loss_only():
    # With log_var = 0 the KL of one dimension is mean^2 / 2: per image [[0.5, 0, 2], [0.5, 0, 0]],
    # so the batch means per dimension are [0.5, 0, 1] and the true KL per image is [2.5, 0.5].
    means = torch.tensor([[1.0, 0.0, 2.0], [1.0, 0.0, 0.0]], requires_grad=True)
    posterior = DiagonalGaussian(means, torch.zeros(2, 3))
    x = torch.ones(2, 1, 2, 2)
    likelihood = Bernoulli(torch.zeros(2, 1, 2, 2))  # log p(x|z) = 4 log(1/2) per image
    recon = -4 * LN2
    plain = elbo(x, likelihood, posterior, beta=2.0)
    clamped = elbo(x, likelihood, posterior, beta=2.0, free_bits=0.75)
    torch.testing.assert_close(plain["loss"], torch.tensor(2.0 * 1.5 - recon))
    torch.testing.assert_close(clamped["loss"], torch.tensor(2.0 * (0.75 + 0.75 + 1.0) - recon))
    for name in ("recon", "kl", "elbo"):  # what is reported stays the true ELBO
        torch.testing.assert_close(clamped[name], plain[name])
    torch.testing.assert_close(clamped["kl"], torch.tensor(1.5))
    # Dimensions under their free bits get no push towards the prior; the one above gets beta * d KL / d mean.
    (gradient,) = torch.autograd.grad(clamped["loss"], means)
    torch.testing.assert_close(gradient, torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]))


def test_kl_warmup_weight_climbs_linearly_to_beta():
    assert [kl_warmup_weight(step, 2.0, 4) for step in range(6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert kl_warmup_weight(0, 3.0, 0) == 3.0


def test_trainer_weights_the_kl_by_the_warmup_in_each_step():
    trainer = tiny_trainer(kl_warmup_steps=4, beta=2.0)
    history = trainer.fit(progress=False)
    for step, (loss, recon_loss, kl) in enumerate(zip(history["loss"], history["recon_loss"], history["kl"])):
        assert loss == pytest.approx(recon_loss + kl_warmup_weight(step, 2.0, 4) * kl, rel=1e-5)
    assert history["loss"][0] == pytest.approx(history["recon_loss"][0], rel=1e-6)  # beta = 0 at step 0
    assert history["neg_elbo"][0] == pytest.approx(history["recon_loss"][0] + history["kl"][0], rel=1e-5)


@pytest.mark.parametrize("decay", ["exponential", "cosine"])
def test_learning_rate_decays_from_the_rate_to_the_floor_over_the_run(decay):
    trainer = tiny_trainer(learning_rate=1e-2, min_learning_rate=1e-4, learning_rate_decay=decay)
    rates = []
    for step in range(trainer.config.num_steps):
        rates.append(trainer.optimizers["vae"].param_groups[0]["lr"])
        trainer.training_step(step)  # which steps the scheduler
    rates.append(trainer.optimizers["vae"].param_groups[0]["lr"])
    assert rates[0] == pytest.approx(1e-2) and rates[-1] == pytest.approx(1e-4)
    assert all(later < earlier for earlier, later in zip(rates, rates[1:]))
    halfway = rates[len(rates) // 2]
    # Exponential: the geometric mean of the two ends halfway; cosine: their arithmetic mean, a rate 5x higher.
    assert halfway == pytest.approx(1e-3 if decay == "exponential" else (1e-2 + 1e-4) / 2, rel=0.02)


# --- the Gaussian decoder --------------------------------------------------------------------------------------


def test_gaussian_decoder_log_prob_is_the_exact_density_summed_over_pixels():
    vae = tiny_vae("gaussian")
    decoder = vae.decoder
    with torch.no_grad():
        decoder.log_std.copy_(torch.linspace(-2.0, 0.5, 784).view(1, 28, 28))
        decoder.log_std[0, 0, 0] = -10.0  # under the floor: sigma is one intensity level there
    z = torch.randn(5, 3)
    x = torch.rand(5, 1, 28, 28)
    likelihood = decoder(z)
    mean = torch.sigmoid(decoder.net(z)).view(5, 1, 28, 28)
    std = decoder.log_std.detach().clamp(min=MIN_PIXEL_LOG_STD).exp()
    assert std[0, 0, 0] == pytest.approx(1 / 255)
    expected = torch.distributions.Normal(mean, std).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(likelihood.log_prob(x), expected)
    torch.testing.assert_close(likelihood.mean, mean)
    # By hand: mean 1/2 and sigma 1 everywhere, at x = 1/2, is 784 * -log(2 pi) / 2.
    flat = DiagonalGaussian(torch.full((1, 1, 28, 28), 0.5), torch.zeros(1, 1, 28, 28), event_dims=3)
    assert flat.log_prob(torch.full((1, 1, 28, 28), 0.5)).item() == pytest.approx(-392 * math.log(2 * math.pi))
    with pytest.raises(ValueError, match="binary draws need a Bernoulli decoder"):
        vae.sample(2, binary=True)


def test_gaussian_decoder_trains_its_sigma_and_bernoulli_weights_keep_their_names():
    trainer = tiny_trainer(decoder="gaussian", binarize=False)
    start = trainer.vae.decoder.log_std.detach().clone()
    trainer.fit(progress=False)
    assert not torch.equal(trainer.vae.decoder.log_std, start)
    assert "decoder.log_std" in trainer.vae.state_dict()
    metrics = trainer.evaluate(num_images=20, iwae_k=3)
    assert math.isfinite(metrics["iwae_nll"])
    # A Bernoulli decoder has exactly the weights it had before the Gaussian one existed: old checkpoints load.
    assert all(name.startswith(("encoder.net.", "decoder.net.")) for name in tiny_trainer().vae.state_dict())


def test_squared_error_loss_is_a_rescaled_gaussian_elbo_with_beta_over_two_sigma_squared():
    generator = torch.Generator().manual_seed(0)
    x, mean = torch.rand(2, 6, 1, 28, 28, generator=generator, dtype=torch.float64)
    kl = 3 * torch.rand(6, generator=generator, dtype=torch.float64)
    for beta, std in ((1.0, 0.3), (4.0, 0.05), (0.5, 1.7)):
        squared_error_loss = ((x - mean) ** 2).sum((1, 2, 3)) + beta * kl
        equivalent = squared_error_as_gaussian(beta, std)
        gaussian = DiagonalGaussian(mean, torch.full_like(mean, 2 * math.log(std)), event_dims=3)
        gaussian_loss = -gaussian.log_prob(x) + equivalent.beta * kl
        torch.testing.assert_close(squared_error_loss, equivalent.scale * gaussian_loss + equivalent.offset)
        assert equivalent.beta == pytest.approx(beta / (2 * std**2))
    assert squared_error_as_gaussian(1.0, 1 / math.sqrt(2)).beta == pytest.approx(1.0)


# --- the IWAE objective ----------------------------------------------------------------------------------------


def test_iwae_objective_at_k1_is_the_elbo_with_a_sampled_kl_and_in_expectation_the_elbos_loss():
    vae = tiny_vae()
    x = torch.bernoulli(torch.full((16, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(1))
    iwae = iwae_objective(vae, x, 1, generator=torch.Generator().manual_seed(2))
    assert torch.equal(iwae["loss"], -iwae["elbo"])
    # The same noise drives both: the one difference is the KL, sampled here and in closed form in the ELBO.
    terms = vae(x, generator=torch.Generator().manual_seed(2))
    posterior = vae.encoder(x)
    z = posterior.rsample(generator=torch.Generator().manual_seed(2))
    sampled_kl = (posterior.log_prob(z) - vae.prior.log_prob(z)).mean()
    torch.testing.assert_close(iwae["loss"], terms["loss"] - terms["kl"] + sampled_kl)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        iwae_losses = torch.stack([iwae_objective(vae, x, 1, generator)["loss"] for _ in range(400)])
        elbo_losses = torch.stack([vae(x, generator=generator)["loss"] for _ in range(400)])
    difference = iwae_losses.mean() - elbo_losses.mean()
    assert abs(difference) < 4 * math.sqrt((iwae_losses.var() + elbo_losses.var()) / 400)


def test_iwae_objective_is_iwae_bound_with_gradients():
    vae = tiny_vae()
    x = torch.bernoulli(torch.full((8, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(1))
    iwae = iwae_objective(vae, x, 7, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(iwae["loss"], -iwae_bound(vae, x, 7, generator=torch.Generator().manual_seed(2)).mean())
    assert iwae["loss"] <= -iwae["elbo"]  # log of a mean of weights >= the mean of their logs
    iwae["loss"].backward()
    assert all(parameter.grad.abs().sum() > 0 for parameter in vae.parameters())  # through z to the encoder too


def test_trainer_with_the_iwae_objective_lowers_its_loss():
    trainer = tiny_trainer(objective="iwae", iwae_train_k=3, num_steps=30)
    history = trainer.fit(progress=False)
    assert set(history.names) == {"loss", "neg_elbo"}
    assert history.mean("loss", last=5) < history.mean("loss", first=5)
    assert all(loss <= neg_elbo + 1e-3 for loss, neg_elbo in zip(history["loss"], history["neg_elbo"]))


# --- config checks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"decoder": "laplace"}, r"decoder must be one of \('bernoulli', 'gaussian'\)"),
        ({"decoder": "gaussian"}, "decoder='gaussian' models \\[0, 1\\] intensities: set binarize=False"),
        ({"objective": "vi"}, r"objective must be one of \('elbo', 'iwae'\)"),
        ({"learning_rate_decay": "linear"}, r"learning_rate_decay must be one of \('exponential', 'cosine'\)"),
        ({"kl_warmup_steps": -1}, "kl_warmup_steps must be 0"),
        ({"num_steps": 100, "kl_warmup_steps": 101}, r"longer than the run \(num_steps=100\): the KL weight would never"),
        ({"free_bits": -0.5}, "free_bits must be 0"),
        ({"objective": "iwae", "iwae_train_k": 0}, "iwae_train_k must be at least 1"),
        ({"objective": "iwae", "beta": 4.0, "free_bits": 1.0}, "no KL term for beta, free_bits to change: keep beta=1.0"),
        ({"objective": "iwae", "kl_warmup_steps": 10}, "keep kl_warmup_steps=0"),
    ],
)
def test_bad_configs_name_the_field_and_what_it_takes(changes, message):
    with pytest.raises(ValueError, match=message):
        VAEConfig(**changes)
    with pytest.raises(ValueError, match=message):  # as a checkpoint's config is read back
        config_from_dict(VAEConfig, {**dataclasses.asdict(VAEConfig()), **changes})


# --- units, active units and the evaluation subset --------------------------------------------------------------


def test_bits_per_dim():
    assert bits_per_dim(784 * LN2) == pytest.approx(1.0)
    assert bits_per_dim(100.0, num_dims=10) == pytest.approx(100 / (10 * LN2))


def test_evaluate_reports_bits_per_dim_and_active_units():
    trainer = tiny_trainer()
    trainer.fit(progress=False)
    metrics = trainer.evaluate(num_images=20, iwae_k=3)
    assert metrics["neg_elbo_bits_per_dim"] == pytest.approx(metrics["neg_elbo"] / (784 * LN2))
    assert metrics["iwae_bits_per_dim"] == pytest.approx(metrics["iwae_nll"] / (784 * LN2))
    means, _ = encode_dataset(trainer.vae.encoder, trainer.evaluation_images(20))
    assert metrics["active_units"] == int((means.var(dim=0) > 0.01).sum()) == int(active_units(means).sum())


def test_evaluation_labels_are_the_labels_of_the_evaluation_images():
    trainer = tiny_trainer(binarize=False)
    images, labels = trainer.evaluation_images(20), trainer.evaluation_labels(20)
    assert len(trainer.test_data) > 20 and not torch.equal(labels, trainer.test_data.labels[:20])  # a real subset
    spelled = ((images.flatten(1).mean(1) * 255 - 10) / 20).round().long()
    assert torch.equal(labels, spelled)
