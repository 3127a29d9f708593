"""Stabilised GAN objectives: the Wasserstein critic, WGAN-GP, R1, spectral norm, and the EMA's BatchNorm statistics."""

import dataclasses

import pytest
import torch
from torch import nn

from genlearn.gan import DCGAN_PRESETS, TOY_PRESETS, DCGANTrainer, ToyGANTrainer, discriminator_loss
from genlearn.gan.networks import DCGANDiscriminator, MLPDiscriminator
from genlearn.gan.penalties import gradient_penalty, input_gradient_norms, r1_penalty
from genlearn.gan.sampling import generate_in_train_mode, recompute_batchnorm_statistics


class Linear(nn.Module):
    """D(x) = w . x, whose input gradient is w at every point."""

    def __init__(self, weights):
        super().__init__()
        self.weights = nn.Parameter(torch.tensor(weights))

    def forward(self, x):
        return x.flatten(1) @ self.weights


class Square(nn.Module):
    """D(x) = sum x^2, whose input gradient is 2x."""

    def forward(self, x):
        return x.pow(2).flatten(1).sum(1)


def test_wasserstein_critic_loss_by_hand():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 0.5])
    assert discriminator_loss(real, fake, "wasserstein")["d_loss"].item() == pytest.approx((-1 + 0.5) / 2 - 1.0)


def test_gradient_penalty_of_a_linear_critic_is_its_norm_minus_one_squared():
    critic = Linear([3.0, 4.0])  # ||w|| = 5 everywhere, so the penalty is (5 - 1)^2 wherever the points fall
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx(16.0)
    penalty.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(critic.weights.grad, torch.tensor([2 * 4 * 3 / 5, 2 * 4 * 4 / 5]))


def test_gradient_penalty_points_lie_between_real_and_fake():
    seen = []

    class Recorder(Square):
        def forward(self, x):
            seen.append(x.detach())
            return super().forward(x)

    real, fake = torch.zeros(500, 1), torch.ones(500, 1)
    gradient_penalty(Recorder(), real, fake, torch.Generator().manual_seed(1))
    t = 1 - seen[0]  # x_hat = t * 0 + (1 - t) * 1
    assert 0 <= t.min() and t.max() <= 1 and 0.4 < t.mean() < 0.6


def test_r1_penalty_by_hand():
    real = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    # ||2x||^2 = 4 (1 + 4) = 20 and 4 (0 + 9) = 36.
    assert r1_penalty(Square(), real).item() == pytest.approx((20 + 36) / 2)
    torch.testing.assert_close(input_gradient_norms(Square(), real), torch.tensor([20.0, 36.0]).sqrt())


def test_spectral_norm_makes_every_layer_one_lipschitz():
    torch.manual_seed(0)
    critic = MLPDiscriminator(hidden_dim=32, num_layers=2, normalization="spectral")
    for _ in range(30):  # each training forward runs one power iteration
        critic(torch.randn(8, 2))
    for layer in critic.net:
        if isinstance(layer, nn.Linear):
            assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() == pytest.approx(1.0, abs=1e-2)


def test_dcgan_discriminator_normalizations():
    x = torch.randn(4, 1, 28, 28)
    for normalization in ("batch", "spectral", "none"):
        assert DCGANDiscriminator(8, normalization)(x).shape == (4,)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in DCGANDiscriminator(8, "spectral").modules())
    with pytest.raises(ValueError, match="layer"):
        DCGANDiscriminator(8, "layer")


def test_recomputed_batchnorm_statistics_are_the_average_over_batches():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model[1].running_mean.fill_(100.0)
    recompute_batchnorm_statistics(model, latent_dim=3, device="cpu", num_batches=5, batch_size=16, seed=7)
    rng = torch.Generator().manual_seed(7)
    with torch.no_grad():
        means = torch.stack([model[0](torch.randn(16, 3, generator=rng)).mean(0) for _ in range(5)])
    torch.testing.assert_close(model[1].running_mean, means.mean(0))
    assert model[1].momentum == 0.1 and model.training


def test_ema_sampler_measures_its_own_statistics_once_per_step():
    config = dataclasses.replace(DCGAN_PRESETS["smoke"], num_steps=3, ema_decay=0.5)
    images = torch.rand(64, 1, 28, 28)
    trainer = DCGANTrainer(config, "cpu", data=images)
    trainer.fit(progress=False)
    live = trainer.unwrapped("generator").project[2].running_mean
    ema = trainer.sampler.project[2].running_mean
    assert not torch.allclose(live, ema)
    assert trainer.ema_statistics_step == trainer.step
    before = ema.clone()
    trainer.sample(4)
    torch.testing.assert_close(trainer.sampler.project[2].running_mean, before)


@pytest.mark.parametrize(
    "changes",
    [
        {"loss": "wasserstein", "gradient_penalty": 10.0},
        {"loss": "hinge", "discriminator_normalization": "spectral", "r1_penalty": 1.0},
        {"loss": "non_saturating", "pack": 2, "discriminator_normalization": "spectral"},
    ],
)
def test_stabilised_toy_gans_train(changes):
    config = dataclasses.replace(TOY_PRESETS["smoke"], num_steps=20, **changes)
    trainer = ToyGANTrainer(config, "cpu")
    history = trainer.fit(progress=False)
    assert all(torch.isfinite(torch.tensor(history[key])).all() for key in ("d_loss", "g_loss"))
    if "gradient_penalty" in changes or "r1_penalty" in changes:
        assert len(history["penalty"]) == 20


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"gradient_penalty": 10.0}, "BatchNorm"),
        ({"loss": "wasserstein"}, "Lipschitz"),
        ({"r1_penalty": -1.0, "discriminator_normalization": "none"}, "positive"),
        ({"discriminator_normalization": "group"}, "normalization"),
        ({"discriminator_channels": -8}, "discriminator_channels"),
    ],
)
def test_objectives_that_cannot_train_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        DCGANTrainer(dataclasses.replace(DCGAN_PRESETS["smoke"], **changes), "cpu", data=torch.rand(64, 1, 28, 28))


def test_learning_rates_fall_linearly_to_their_final_scale():
    config = dataclasses.replace(DCGAN_PRESETS["smoke"], num_steps=4, final_learning_rate_scale=0.0, ema_decay=0.0)
    trainer = DCGANTrainer(config, "cpu", data=torch.rand(64, 1, 28, 28))
    rates = []
    for step in range(1, 5):
        trainer.fit(step, progress=False)
        rates.append(trainer.optimizers["generator"].param_groups[0]["lr"] / config.generator_learning_rate)
    assert rates == pytest.approx([0.75, 0.5, 0.25, 0.0])
    assert trainer.optimizers["discriminator"].param_groups[0]["lr"] == 0.0


def test_train_mode_sampling_normalises_each_batch_and_leaves_the_model_alone():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    out = generate_in_train_mode(model, z, batch_size=4)
    for batch in out.split(4):  # BatchNorm with its own batch's statistics: each batch has mean 0 per channel
        torch.testing.assert_close(batch.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    assert not model.training and torch.equal(model[1].running_mean, torch.zeros(4))


def test_discriminator_width_is_its_own():
    config = dataclasses.replace(DCGAN_PRESETS["smoke"], channels=8, discriminator_channels=4)
    trainer = DCGANTrainer(config, "cpu", data=torch.rand(64, 1, 28, 28))
    first_convolution = trainer.unwrapped("discriminator").net[0]
    assert first_convolution.out_channels == 4
    assert trainer.unwrapped("generator").upsample[3].in_channels == 8
    same = DCGANTrainer(dataclasses.replace(config, discriminator_channels=0), "cpu", data=torch.rand(64, 1, 28, 28))
    assert same.unwrapped("discriminator").net[0].out_channels == 8
