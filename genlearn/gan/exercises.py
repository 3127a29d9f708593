"""Exercises for the GAN notebooks: each pairs a checker with a reference solution (see ``genlearn.exercises``)."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from genlearn.exercises import Exercise
from genlearn.gan.losses import generator_loss, jensen_shannon_divergence, optimal_discriminator
from genlearn.gan.networks import MLPDiscriminator, MLPGenerator
from genlearn.gan.sampling import interpolate_latents
from genlearn.gan.training import adversarial_step

# --- Notebook 01: the minimax game ------------------------------------------------------------------


def _reference_optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    return optimal_discriminator(p_data, p_g)


def _check_optimal_discriminator(candidate) -> None:
    generator = torch.Generator().manual_seed(0)
    p_data, p_g = torch.rand(50, generator=generator) + 0.01, torch.rand(50, generator=generator) + 0.01
    result = torch.as_tensor(candidate(p_data, p_g))
    assert result.shape == p_data.shape, f"expected one value per point, shape {tuple(p_data.shape)}"
    assert torch.allclose(result, p_data / (p_data + p_g)), "D*(x) = p_data(x) / (p_data(x) + p_g(x))."
    same = candidate(p_data, p_data)
    assert torch.allclose(torch.as_tensor(same), torch.full_like(p_data, 0.5)), "where p_g = p_data, D* should be 1/2"


OPTIMAL_DISCRIMINATOR = Exercise(
    "Optimal discriminator", _check_optimal_discriminator, _reference_optimal_discriminator
)


def _reference_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits).mean()


def _check_non_saturating(candidate) -> None:
    logits = torch.tensor([-120.0, -5.0, -1.0, 0.0, 2.0, 10.0])  # sigmoid(-120) underflows to 0 in float32
    result = torch.as_tensor(candidate(logits))
    assert result.ndim == 0, "return one number: the mean over the batch"
    assert torch.isfinite(result), "the loss is infinite for a very negative logit: use softplus(-logit), not -log(sigmoid(logit))"
    expected = generator_loss(logits, "non_saturating")["g_loss"]
    assert torch.allclose(result, expected, atol=1e-5), (
        "the non-saturating loss is -log D(G(z)) = -log sigmoid(logit), averaged; did you use the saturating "
        "log(1 - D) or the 'fake' label?"
    )


NON_SATURATING_LOSS = Exercise("Non-saturating generator loss", _check_non_saturating, _reference_non_saturating)


def _reference_jsd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return jensen_shannon_divergence(p, q, dx=1.0)


def _check_jsd(candidate) -> None:
    p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64)
    q = torch.tensor([0.0, 0.0, 0.5, 0.5], dtype=torch.float64)
    assert abs(float(candidate(p, p))) < 1e-9, "JSD(p || p) must be 0"
    assert abs(float(candidate(p, q)) - math.log(2)) < 1e-9, (
        "distributions with disjoint supports have JSD = log 2 (in nats); treat 0 log 0 as 0"
    )
    generator = torch.Generator().manual_seed(1)
    a, b = torch.rand(6, generator=generator, dtype=torch.float64), torch.rand(6, generator=generator, dtype=torch.float64)
    a, b = a / a.sum(), b / b.sum()
    assert abs(float(candidate(a, b)) - float(candidate(b, a))) < 1e-9, "JSD is symmetric"
    assert abs(float(candidate(a, b)) - float(_reference_jsd(a, b))) < 1e-9, (
        "JSD(p || q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2"
    )


JENSEN_SHANNON = Exercise("Jensen-Shannon divergence", _check_jsd, _reference_jsd)

# --- Notebook 02: DCGAN -----------------------------------------------------------------------------


def _reference_conv_transpose_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size - 1) * stride - 2 * padding + kernel


def _check_conv_transpose_size(candidate) -> None:
    for size, kernel, stride, padding in [(7, 4, 2, 1), (14, 4, 2, 1), (1, 7, 1, 0), (5, 3, 2, 1), (4, 5, 3, 2)]:
        layer = nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=padding)
        actual = layer(torch.zeros(1, 1, size, size)).shape[-1]
        got = candidate(size, kernel, stride, padding)
        assert got == actual, (
            f"for size={size}, kernel={kernel}, stride={stride}, padding={padding} PyTorch gives {actual}, "
            f"you gave {got}; the transposed convolution undoes a convolution: (size - 1) * stride - 2 * padding + kernel"
        )


CONV_TRANSPOSE_SIZE = Exercise(
    "Output size of a transposed convolution", _check_conv_transpose_size, _reference_conv_transpose_size
)


def _reference_ema_update(ema_parameters: list[torch.Tensor], parameters: list[torch.Tensor], decay: float) -> None:
    with torch.no_grad():
        for ema, current in zip(ema_parameters, parameters):
            ema.mul_(decay).add_(current, alpha=1 - decay)


def _check_ema_update(candidate) -> None:
    generator = torch.Generator().manual_seed(2)
    ema = [torch.randn(3, 4, generator=generator), torch.randn(5, generator=generator)]
    current = [torch.randn(3, 4, generator=generator), torch.randn(5, generator=generator)]
    expected = [0.9 * e + 0.1 * c for e, c in zip(ema, current)]
    originals = [c.clone() for c in current]
    candidate(ema, current, 0.9)
    for got, want in zip(ema, expected):
        assert torch.allclose(got, want), "update in place: ema = decay * ema + (1 - decay) * current"
    for c, original in zip(current, originals):
        assert torch.equal(c, original), "the EMA must not change the generator's own weights"


EMA_UPDATE = Exercise("Exponential moving average of weights", _check_ema_update, _reference_ema_update)


def _reference_slerp(z_start: torch.Tensor, z_end: torch.Tensor, num_steps: int) -> torch.Tensor:
    return interpolate_latents(z_start, z_end, num_steps, spherical=True)


def _check_slerp(candidate) -> None:
    generator = torch.Generator().manual_seed(3)
    z_start, z_end = torch.randn(64, generator=generator), torch.randn(64, generator=generator)
    path = torch.as_tensor(candidate(z_start, z_end, 9))
    assert path.shape == (9, 64), "return (num_steps, latent_dim)"
    assert torch.allclose(path[0], z_start, atol=1e-5) and torch.allclose(path[-1], z_end, atol=1e-5), (
        "the path must start at z_start and end at z_end"
    )
    assert torch.allclose(path, _reference_slerp(z_start, z_end, 9), atol=1e-4), (
        "spherical interpolation: (sin((1-t)θ) z0 + sin(tθ) z1) / sin θ, with θ the angle between z0 and z1"
    )


SPHERICAL_INTERPOLATION = Exercise("Spherical interpolation of latents", _check_slerp, _reference_slerp)

# --- Notebook 03: debug this GAN --------------------------------------------------------------------


def _reference_training_step(generator, discriminator, generator_optimizer, discriminator_optimizer, real, z) -> dict:
    return adversarial_step(generator, discriminator, generator_optimizer, discriminator_optimizer, real, z)


def _tiny_gan(seed: int):
    torch.manual_seed(seed)
    generator, discriminator = MLPGenerator(2, 16, 2), MLPDiscriminator(16, 2)
    return generator, discriminator


def _check_training_step(candidate) -> None:
    results = []
    for step_fn in (candidate, _reference_training_step):
        generator, discriminator = _tiny_gan(0)
        g_optimizer = torch.optim.Adam(generator.parameters(), lr=1e-2, betas=(0.5, 0.999))
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-2, betas=(0.5, 0.999))
        data = torch.Generator().manual_seed(4)
        for _ in range(3):
            real, z = torch.randn(32, 2, generator=data) + 2, torch.randn(32, 2, generator=data)
            step_fn(generator, discriminator, g_optimizer, d_optimizer, real, z)
        results.append((copy.deepcopy(generator.state_dict()), copy.deepcopy(discriminator.state_dict())))
    (g_got, d_got), (g_want, d_want) = results
    d_right = all(torch.allclose(d_got[k], d_want[k], atol=1e-5) for k in d_want)
    g_right = all(torch.allclose(g_got[k], g_want[k], atol=1e-5) for k in g_want)
    assert d_right, (
        "the discriminator's weights differ from a correct step: does D see detached fakes with label 0 and reals "
        "with label 1, with its own zero_grad and step, and no gradient from the generator's loss?"
    )
    assert g_right, (
        "the generator's weights differ from a correct step: does G use a fresh pass through the *updated* D, "
        "the non-saturating loss (label 1), and its own zero_grad and step?"
    )


TRAINING_STEP = Exercise("A correct GAN training step", _check_training_step, _reference_training_step)


def _reference_latent_for_conv(z: torch.Tensor) -> torch.Tensor:
    return z.view(len(z), -1, 1, 1)


def _check_latent_for_conv(candidate) -> None:
    z = torch.randn(8, 100)
    shaped = candidate(z)
    assert shaped.shape == (8, 100, 1, 1), f"ConvTranspose2d wants (batch, channels, height, width); got {tuple(shaped.shape)}"
    assert torch.equal(shaped.flatten(1), z), "keep each latent in its own batch row: reshape, do not transpose"
    layer = nn.ConvTranspose2d(100, 4, 7)
    assert layer(shaped).shape == (8, 4, 7, 7)


LATENT_FOR_CONV = Exercise("A latent shaped for ConvTranspose2d", _check_latent_for_conv, _reference_latent_for_conv)
