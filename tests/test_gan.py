"""genlearn.gan: losses against hand-computed values, the D*/JSD identity, shapes, the trainer."""

import copy
import dataclasses
import math

import pytest
import torch

from genlearn.checkpoint import load_checkpoint
from genlearn.gan import (
    DCGAN_PRESETS,
    TOY_PRESETS,
    DCGANConfig,
    DCGANDiscriminator,
    DCGANGenerator,
    DCGANTrainer,
    ToyGANConfig,
    ToyGANTrainer,
    MLPDiscriminator,
    MLPGenerator,
    adversarial_step,
    discriminator_loss,
    generator_loss,
    interpolate_latents,
    jensen_shannon_divergence,
    minimax_value,
    minimax_value_from_jsd,
    optimal_discriminator,
    value_at_optimal_discriminator,
)
from genlearn.pretrained import load_pretrained, pretrained_path

LOGITS_REAL = torch.tensor([0.0, 2.0])
LOGITS_FAKE = torch.tensor([-1.0, 0.5])


def sigmoid(a: float) -> float:
    return 1 / (1 + math.exp(-a))


def test_discriminator_loss_matches_hand_computation():
    terms = discriminator_loss(LOGITS_REAL, LOGITS_FAKE)
    expected = -(math.log(sigmoid(0)) + math.log(sigmoid(2))) / 2 - (math.log(1 - sigmoid(-1)) + math.log(1 - sigmoid(0.5))) / 2
    assert terms["d_loss"].item() == pytest.approx(expected, rel=1e-6)
    assert terms["d_real"].item() == pytest.approx((0.5 + sigmoid(2)) / 2, rel=1e-6)
    assert terms["d_fake"].item() == pytest.approx((sigmoid(-1) + sigmoid(0.5)) / 2, rel=1e-6)
    hinge = discriminator_loss(LOGITS_REAL, LOGITS_FAKE, "hinge")["d_loss"].item()
    assert hinge == pytest.approx((1 + 0) / 2 + (0 + 1.5) / 2)


def test_generator_losses_match_hand_computation():
    non_saturating = generator_loss(LOGITS_FAKE, "non_saturating")["g_loss"].item()
    saturating = generator_loss(LOGITS_FAKE, "saturating")["g_loss"].item()
    assert non_saturating == pytest.approx(-(math.log(sigmoid(-1)) + math.log(sigmoid(0.5))) / 2, rel=1e-6)
    assert saturating == pytest.approx((math.log(1 - sigmoid(-1)) + math.log(1 - sigmoid(0.5))) / 2, rel=1e-6)
    assert generator_loss(LOGITS_FAKE, "hinge")["g_loss"].item() == pytest.approx(-(-1 + 0.5) / 2)
    # Stable where D is certain: -log sigmoid(-100) = 100, not inf.
    assert generator_loss(torch.tensor([-100.0]))["g_loss"].item() == pytest.approx(100.0)
    assert generator_loss(LOGITS_FAKE, "wasserstein")["g_loss"].item() == pytest.approx(-(-1 + 0.5) / 2)
    with pytest.raises(ValueError):
        generator_loss(LOGITS_FAKE, "least_squares")


def test_generator_gradients_saturate_only_for_the_saturating_loss():
    logit = torch.tensor([-6.0], requires_grad=True)
    (saturating,) = torch.autograd.grad(generator_loss(logit, "saturating")["g_loss"], logit)
    (non_saturating,) = torch.autograd.grad(generator_loss(logit, "non_saturating")["g_loss"], logit)
    d = sigmoid(-6.0)
    assert saturating.item() == pytest.approx(-d, rel=1e-5)
    assert non_saturating.item() == pytest.approx(-(1 - d), rel=1e-5)


def test_minimax_value_is_minus_the_two_bce_terms():
    value = minimax_value(LOGITS_REAL, LOGITS_FAKE)
    assert value.item() == pytest.approx(-discriminator_loss(LOGITS_REAL, LOGITS_FAKE)["d_loss"].item(), rel=1e-6)


def gaussian(x, mean, std):
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def test_optimal_discriminator_value_equals_minus_log4_plus_twice_jsd():
    dx = 1e-3
    x = torch.arange(-12, 12, dx, dtype=torch.float64)
    p_data, p_g = gaussian(x, 0.0, 1.0), gaussian(x, 1.5, 0.7)
    value = value_at_optimal_discriminator(p_data, p_g, dx)
    assert value.item() == pytest.approx(minimax_value_from_jsd(p_data, p_g, dx).item(), abs=1e-9)
    assert 0 < jensen_shannon_divergence(p_data, p_g, dx).item() < math.log(2)
    assert value_at_optimal_discriminator(p_data, p_data, dx).item() == pytest.approx(-math.log(4), abs=1e-6)
    # D* beats any other discriminator.
    d_star = optimal_discriminator(p_data, p_g)
    other = (d_star * 0.9).clamp(1e-12, 1 - 1e-12)
    other_value = ((torch.special.xlogy(p_data, other) + torch.special.xlogy(p_g, 1 - other)) * dx).sum()
    assert other_value < value


def test_jsd_of_discrete_distributions():
    p = torch.tensor([1.0, 0.0], dtype=torch.float64)
    q = torch.tensor([0.0, 1.0], dtype=torch.float64)
    assert jensen_shannon_divergence(p, q, 1.0).item() == pytest.approx(math.log(2))
    assert jensen_shannon_divergence(p, p, 1.0).item() == pytest.approx(0.0)


def test_model_shapes():
    z = torch.randn(5, 64)
    images = DCGANGenerator(64, 8)(z)
    assert images.shape == (5, 1, 28, 28) and images.abs().max() <= 1
    assert DCGANDiscriminator(8)(images).shape == (5,)
    with pytest.raises(ValueError, match="latents of shape"):
        DCGANGenerator(64, 8)(torch.randn(5, 64, 1, 1))
    assert MLPGenerator(2, 16, 2)(torch.randn(7, 2)).shape == (7, 2)
    assert MLPDiscriminator(16, 2)(torch.randn(7, 2)).shape == (7,)
    assert MLPDiscriminator(16, 2, pack=4)(torch.randn(8, 2)).shape == (2,)


def test_adversarial_step_detaches_fakes_for_d_and_leaves_d_for_g():
    torch.manual_seed(0)
    generator, discriminator = MLPGenerator(2, 8, 1), MLPDiscriminator(8, 1)
    g_before = [p.clone() for p in generator.parameters()]
    d_opt = torch.optim.SGD(discriminator.parameters(), lr=0.1)
    g_opt = torch.optim.SGD(generator.parameters(), lr=0.0)  # G frozen: only D may change
    terms = adversarial_step(generator, discriminator, g_opt, d_opt, torch.randn(16, 2), torch.randn(16, 2))
    assert set(terms) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(torch.equal(a, b) for a, b in zip(g_before, generator.parameters()))
    assert all(p.requires_grad for p in discriminator.parameters())


def test_toy_trainer_learns_and_resumes_exactly(tmp_path):
    config = dataclasses.replace(TOY_PRESETS["smoke"], num_steps=40, hidden_dim=16)
    trainer = ToyGANTrainer(config, "cpu")
    trainer.fit(20, progress=False)
    state = copy.deepcopy(trainer.state_dict())  # state_dict holds live tensors
    trainer.fit(progress=False)
    resumed = ToyGANTrainer(config, "cpu")
    resumed.load_state_dict(state)
    resumed.fit(progress=False)
    assert resumed.history["d_loss"] == trainer.history["d_loss"]
    assert trainer.sample(10, seed=0).shape == (10, 2)
    assert set(trainer.evaluate()) == {"modes_covered", "fraction_high_quality", "data"}


def test_dcgan_trainer_steps_and_samples_in_unit_interval():
    config = dataclasses.replace(DCGAN_PRESETS["smoke"], num_steps=3, channels=4, batch_size=8)
    images = torch.rand(64, 1, 28, 28)
    trainer = DCGANTrainer(config, "cpu", data=images)
    history = trainer.fit(progress=False)
    assert history.names == ["d_loss", "g_loss", "d_real", "d_fake"] and len(history) == 3
    assert "generator_ema" in trainer.modules
    samples = trainer.sample(6, seed=0)
    assert samples.shape == (6, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1
    assert torch.equal(samples, trainer.sample(6, seed=0))


def test_presets_round_trip_through_asdict():
    for config_class, presets in ((ToyGANConfig, TOY_PRESETS), (DCGANConfig, DCGAN_PRESETS)):
        for _, config in presets.items():
            assert config_class(**dataclasses.asdict(config)) == config


def test_interpolation_endpoints_and_norm():
    z0, z1 = torch.randn(64), torch.randn(64)
    path = interpolate_latents(z0, z1, 5)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    assert torch.allclose(interpolate_latents(z0, z1, 3, spherical=False)[1], (z0 + z1) / 2)


def test_shipped_gan_loads_and_samples():
    checkpoint = load_checkpoint(pretrained_path("gan"), expected_model="gan")
    config = DCGANConfig(**checkpoint.config)
    trainer = load_pretrained(DCGANTrainer, "cpu", data=torch.zeros(config.batch_size, 1, 28, 28))
    samples = trainer.sample(8, seed=0)
    assert samples.shape == (8, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    assert samples.std() > 0.1  # digits, not a blank canvas
