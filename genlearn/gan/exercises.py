"""Exercises for the GAN notebooks (01-03): each pairs a checker with a reference solution (see ``genlearn.exercises``).

The checkers draw fresh inputs at every check, test properties (symmetries, limits, gradients) as well as
values, and compare the student's piece with the library's where the library has one.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
from torch import nn

from genlearn.budget import under_test
from genlearn.device import pick_device
from genlearn.evaluation.metrics import frechet_distance as library_frechet_distance
from genlearn.exercises import Exercise
from genlearn.exercises.inputs import as_tensor, integer, trials
from genlearn.gan.losses import jensen_shannon_divergence, kl_divergence, optimal_discriminator
from genlearn.gan.networks import DCGANDiscriminator, DCGANGenerator
from genlearn.gan.penalties import input_gradient_norms
from genlearn.gan.sampling import interpolate_latents
from genlearn.gan.training import TOY_PRESETS, ToyGANConfig, ToyGANTrainer, adversarial_step


def _probabilities(generator: torch.Generator, size: int, zeros: int = 0) -> torch.Tensor:
    """A random probability vector of ``size`` outcomes, ``zeros`` of them with probability exactly 0."""
    weights = torch.rand(size, generator=generator, dtype=torch.float64) + 0.05
    weights[torch.randperm(size, generator=generator)[:zeros]] = 0
    return weights / weights.sum()


# --- Notebook 01: the minimax game ------------------------------------------------------------------


def optimal_discriminator_logit(log_p_data, log_p_g):
    # logit(D*) = log(D* / (1 - D*)) = log(p_data / p_g): no density is ever exponentiated, so the tails stay finite.
    return log_p_data - log_p_g


def _check_optimal_discriminator_logit(candidate) -> None:
    for generator in trials():
        size = integer(generator, 3, 40)
        log_p_data = torch.randn(size, generator=generator, dtype=torch.float64) * 3 - 2
        log_p_g = torch.randn(size, generator=generator, dtype=torch.float64) * 3 - 2
        logits = as_tensor(candidate(log_p_data, log_p_g), "the logits").double()
        assert logits.shape == (size,), "return one logit per point, the shape of the inputs"
        expected = optimal_discriminator(log_p_data.exp(), log_p_g.exp())
        assert torch.allclose(torch.sigmoid(logits), expected, atol=1e-9), (
            "sigmoid(your logit) is not D* = p_data / (p_data + p_g): the logit of a probability y is log(y / (1 - y))"
        )
        swapped = as_tensor(candidate(log_p_g, log_p_data), "the logits").double()
        assert torch.allclose(swapped, -logits, atol=1e-9), "swapping p_data and p_g must flip the logit's sign"

        # Far in the tails both densities underflow to 0, yet their ratio (and so D*) is perfectly defined.
        depth = -(800 + 2000 * torch.rand(size, generator=generator, dtype=torch.float64))
        in_tails = as_tensor(candidate(log_p_data + depth, log_p_g + depth), "the logits").double()
        assert torch.isfinite(in_tails).all(), (
            "far in the tails p_data and p_g both underflow to 0 and your logit is not finite: "
            "work with the log densities, never exponentiate them"
        )
        assert torch.allclose(in_tails, logits, atol=1e-6), (
            "scaling both densities by the same factor must not change D*: the logit depends only on their ratio"
        )


OPTIMAL_DISCRIMINATOR_LOGIT = Exercise(
    "Exercise 1 (the optimal discriminator's logit)",
    _check_optimal_discriminator_logit,
    optimal_discriminator_logit,
    forbidden=("genlearn.gan.losses.optimal_discriminator",),
)


def jensen_shannon(p, q):
    mixture = (p + q) / 2
    # xlogy(x, y) = x log y with 0 log 0 = 0: an outcome that p (or q) never produces contributes nothing.
    kl_p = (torch.special.xlogy(p, p) - torch.special.xlogy(p, mixture)).sum(-1)
    kl_q = (torch.special.xlogy(q, q) - torch.special.xlogy(q, mixture)).sum(-1)
    return (kl_p + kl_q) / 2


def _distribution_pairs(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, K) pairs of distributions with zeros: row 0 identical, row 1 disjoint, the rest random."""
    num_outcomes, num_rows = integer(generator, 4, 9), integer(generator, 3, 7)
    p = torch.stack([_probabilities(generator, num_outcomes, integer(generator, 0, 2)) for _ in range(num_rows)])
    q = torch.stack([_probabilities(generator, num_outcomes, integer(generator, 0, 2)) for _ in range(num_rows)])
    q[0] = p[0]
    half = num_outcomes // 2
    p[1] = torch.cat([_probabilities(generator, half), torch.zeros(num_outcomes - half, dtype=torch.float64)])
    q[1] = torch.cat([torch.zeros(half, dtype=torch.float64), _probabilities(generator, num_outcomes - half)])
    return p, q


def _check_jensen_shannon(candidate) -> None:
    for generator in trials():
        p, q = _distribution_pairs(generator)
        result = as_tensor(candidate(p, q), "the divergences").double()
        assert result.shape == (len(p),), (
            "return one divergence per pair of rows: sum over the last axis (the outcomes) only"
        )
        assert torch.isfinite(result).all(), (
            "an outcome with probability 0 must contribute 0 (0 log 0 = 0): torch.special.xlogy does that"
        )
        assert abs(float(result[0])) < 1e-9, "JSD(p || p) must be 0"
        assert abs(float(result[1]) - math.log(2)) < 1e-9, (
            "distributions with disjoint supports have JSD = log 2: use the natural log, and the mixture "
            "m = (p + q) / 2 in both KL terms"
        )
        expected = torch.stack([jensen_shannon_divergence(a, b, dx=1.0) for a, b in zip(p, q)])
        assert torch.allclose(result, expected, atol=1e-9), (
            "JSD(p || q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2"
        )
        swapped = as_tensor(candidate(q, p), "the divergences").double()
        assert torch.allclose(swapped, result, atol=1e-12), "the JSD is symmetric: JSD(p || q) = JSD(q || p)"
        single = as_tensor(candidate(p[2], q[2]), "the divergence").double()
        assert single.ndim == 0 and abs(float(single) - float(expected[2])) < 1e-9, (
            "two 1-D distributions must give one number (a 0-dim tensor)"
        )
        batched = as_tensor(candidate(torch.stack([p, q]), torch.stack([q, p])), "the divergences").double()
        assert batched.shape == (2, len(p)) and torch.allclose(batched, torch.stack([expected, expected]), atol=1e-9), (
            "any leading axes are batch axes: (2, rows, K) inputs give (2, rows) divergences"
        )


JENSEN_SHANNON = Exercise(
    "Exercise 2 (Jensen-Shannon divergence)",
    _check_jensen_shannon,
    jensen_shannon,
    forbidden=(
        "genlearn.gan.losses.jensen_shannon_divergence",
        "genlearn.gan.losses.kl_divergence",
        "genlearn.gan.losses.value_at_optimal_discriminator",
        "genlearn.gan.losses.minimax_value_from_jsd",
        "torch.nn.functional.kl_div",
        "torch.kl_div",
        "torch.distributions.kl.kl_divergence",
    ),
)


def generator_loss_at_optimum(p_data, p_g):
    # In G's step D is a fixed network: D* = p_data / (p_data + p_g) is held constant (detached).
    total = (p_data + p_g).detach()
    # -log D* = log(p_data + p_g) - log p_data, weighted by p_g; xlogy makes outcomes outside both supports count 0.
    return (torch.special.xlogy(p_g, total) - torch.special.xlogy(p_g, p_data)).sum()


def _closed_form_value(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """KL(p_g || p_data) - 2 JSD(p_data || p_g) + log 2 + KL(p_data || m), with m = (p_data + p_g) / 2."""
    mixture = (p_data + p_g) / 2
    return (
        kl_divergence(p_g, p_data, dx=1.0)
        - 2 * jensen_shannon_divergence(p_data, p_g, dx=1.0)
        + math.log(2)
        + kl_divergence(p_data, mixture, dx=1.0)
    )


def _check_generator_loss_at_optimum(candidate) -> None:
    for generator in trials():
        size = integer(generator, 3, 12)
        p_data = _probabilities(generator, size)
        logits = torch.randn(size, generator=generator, dtype=torch.float64, requires_grad=True)
        p_g = logits.softmax(0)
        loss = as_tensor(candidate(p_data, p_g), "the loss")
        assert loss.ndim == 0, "return one number: the expectation over x ~ p_g"
        expected = _closed_form_value(p_data, p_g.detach())
        assert torch.allclose(loss.detach().double(), expected, atol=1e-9), (
            "the value is off: the non-saturating loss is E_{x ~ p_g}[-log D*(x)], a sum weighted by p_g "
            "(not a mean over outcomes, not the saturating log(1 - D*))"
        )
        assert loss.requires_grad, "the loss must stay differentiable in p_g: the generator learns from its gradient"
        (gradient,) = torch.autograd.grad(loss, logits)
        p_g = logits.softmax(0)  # a fresh graph: the candidate's backward freed the first one
        divergence = kl_divergence(p_g, p_data, dx=1.0) - 2 * jensen_shannon_divergence(p_data, p_g, dx=1.0)
        (expected_gradient,) = torch.autograd.grad(divergence, logits)
        assert torch.allclose(gradient, expected_gradient, atol=1e-9), (
            "the value is right but the gradient is not: in G's step D is a fixed network, so hold D* constant "
            "(detach it); only the weights p_g of the expectation carry the gradient"
        )
        at_data = as_tensor(candidate(p_data, p_data.clone()), "the loss")
        assert abs(float(at_data) - math.log(2)) < 1e-9, "when p_g = p_data, D* = 1/2 everywhere and the loss is log 2"

        # Outcomes that neither distribution produces count for nothing; fakes where there is no data cost +inf.
        p_data, p_g = _probabilities(generator, size + 2), _probabilities(generator, size + 2)
        p_data[:2], p_g[:2] = 0, 0
        p_data, p_g = p_data / p_data.sum(), p_g / p_g.sum()
        outside = as_tensor(candidate(p_data, p_g), "the loss")
        assert torch.isfinite(outside), (
            "an outcome with p_data = p_g = 0 must contribute 0 (0 log 0 = 0), not NaN: write -log D* as "
            "log(p_data + p_g) - log p_data and use torch.special.xlogy"
        )
        assert abs(float(outside) - float(_closed_form_value(p_data, p_g))) < 1e-9, (
            "the value is off where p_g has zeros"
        )
        p_data[2] = 0
        assert float(candidate(p_data / p_data.sum(), p_g)) == math.inf, (
            "where p_g > 0 but p_data = 0, D* = 0: the generator's loss must be +inf there"
        )


GENERATOR_LOSS_AT_OPTIMUM = Exercise(
    "Exercise 3 (build: the non-saturating loss against D*)",
    _check_generator_loss_at_optimum,
    generator_loss_at_optimum,
    kind="build",
    forbidden=(
        "genlearn.gan.losses.optimal_discriminator",
        "genlearn.gan.losses.kl_divergence",
        "genlearn.gan.losses.jensen_shannon_divergence",
        "torch.nn.functional.kl_div",
        "torch.kl_div",
        "torch.distributions.kl.kl_divergence",
    ),
)


def sharper_config(config):
    # The generator's weights circle around the modes as it chases D; their running average sits on them.
    return dataclasses.replace(config, ema_decay=0.99)


# What the run must keep: the same steps, on the same data, scored the same way.
_KEPT_FIELDS = ("num_steps", "seed", "num_data", "ring_modes", "ring_radius", "ring_std", "eval_samples")
SHARP_FRACTION = 0.75  # the presets' own configs reach 0.2-0.5 at the cpu budget; an EMA of G's weights about 0.9


def _check_sharper_config(candidate) -> None:
    device = pick_device()
    preset = TOY_PRESETS.for_device(device)
    config = candidate(copy.deepcopy(preset))
    assert isinstance(config, ToyGANConfig), "return a ToyGANConfig, for example dataclasses.replace(config, ...)"
    for field in _KEPT_FIELDS:
        assert getattr(config, field) == getattr(preset, field), (
            f"keep {field} as the preset has it: the task is a sharper ring in the same steps, on the same data"
        )
    trainer = ToyGANTrainer(config, device)
    trainer.fit(progress=False)
    scores = trainer.evaluate()
    if under_test():
        return  # the smoke budget's few steps show that the config trains, and say nothing about sharpness
    covered, sharp = int(scores["modes_covered"]), scores["fraction_high_quality"]
    assert covered == preset.ring_modes and sharp >= SHARP_FRACTION, (
        f"your GAN covered {covered} of {preset.ring_modes} modes with {sharp:.0%} of its samples within 3 standard "
        f"deviations of a mode; the target is all {preset.ring_modes} modes and at least {SHARP_FRACTION:.0%}"
    )


SHARPER_RING = Exercise("Exercise 4 (open: a sharper ring)", _check_sharper_config, sharper_config, kind="open")


# --- Notebook 02: DCGAN -----------------------------------------------------------------------------


def transposed_conv_settings(size_in, size_out):
    stride = size_out // size_in
    padding = 0
    # The output side is (size_in - 1) * stride - 2 * padding + kernel; solve it for the kernel.
    kernel = size_out - (size_in - 1) * stride + 2 * padding
    return kernel, stride, padding


def _check_transposed_conv_settings(candidate) -> None:
    for generator in trials(8):
        size_in = integer(generator, 1, 16)
        size_out = size_in * integer(generator, 1, 4) + integer(generator, 0, size_in - 1)  # exact multiples too
        settings = candidate(size_in, size_out)
        assert isinstance(settings, tuple) and len(settings) == 3, "return a tuple (kernel, stride, padding)"
        kernel, stride, padding = settings
        assert all(isinstance(value, int) for value in settings), "kernel, stride and padding must be Python ints"
        assert stride == size_out // size_in, (
            f"for {size_in} -> {size_out} your stride is {stride}: the stride does the upsampling, size_out // size_in"
        )
        assert padding >= 0, "padding cannot be negative"
        assert kernel >= stride, (
            "with a kernel smaller than the stride some output pixels receive no input at all (holes): kernel >= stride"
        )
        layer = nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=padding)
        side = layer(torch.zeros(1, 1, size_in, size_in)).shape[-1]
        assert side == size_out, (
            f"ConvTranspose2d({kernel=}, {stride=}, {padding=}) maps {size_in} to {side}, not {size_out}: "
            "the output side is (size_in - 1) * stride - 2 * padding + kernel"
        )


TRANSPOSED_CONV_SETTINGS = Exercise(
    "Exercise 1 (design a transposed convolution)", _check_transposed_conv_settings, transposed_conv_settings
)


def ema_update(ema_model, model, decay):
    with torch.no_grad():  # the average is bookkeeping, not part of any loss
        for average, current in zip(ema_model.parameters(), model.parameters()):
            average.mul_(decay).add_(current, alpha=1 - decay)
        # Buffers (BatchNorm's running statistics, its integer batch counter) describe the current network: copy them.
        for average, current in zip(ema_model.buffers(), model.buffers()):
            average.copy_(current)


def _small_network(generator: torch.Generator) -> nn.Module:
    widths = [integer(generator, 2, 8) for _ in range(3)]
    model = nn.Sequential(
        nn.Linear(widths[0], widths[1]), nn.BatchNorm1d(widths[1]), nn.ReLU(), nn.Linear(widths[1], widths[2])
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    model(torch.randn(8, widths[0], generator=generator))  # a train-mode pass moves BatchNorm's running statistics
    return model


def _check_ema_update(candidate) -> None:
    for generator in trials():
        model = _small_network(generator)
        ema_model = copy.deepcopy(model)
        with torch.no_grad():
            for parameter in ema_model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=generator))
        model(torch.randn(8, model[0].in_features, generator=generator))  # the model's statistics move on
        decay = float(torch.rand((), generator=generator)) * 0.9 + 0.05
        ema_tensors = list(ema_model.parameters())
        before = [tensor.detach().clone() for tensor in ema_tensors]
        model_state = copy.deepcopy(model.state_dict())
        candidate(ema_model, model, decay)
        for key, value in model.state_dict().items():
            assert torch.equal(value, model_state[key]), "the EMA must not change the model it follows"
        for tensor, old, current in zip(ema_tensors, before, model.parameters()):
            assert tensor is not None and tensor.grad_fn is None, "update under torch.no_grad(): no autograd history"
            if torch.allclose(tensor, old) and not torch.allclose(old, current):
                raise AssertionError(
                    "the EMA's parameters did not change: update them in place (the trainer keeps the same tensors)"
                )
            assert torch.allclose(tensor, decay * old + (1 - decay) * current.detach(), atol=1e-6), (
                "each EMA parameter becomes decay * ema + (1 - decay) * current: check which side decay weights"
            )
        for (name, average), current in zip(ema_model.named_buffers(), model.buffers()):
            assert torch.equal(average, current), (
                f"the buffer {name} differs from the model's: copy buffers (BatchNorm's running statistics and "
                "its batch counter) from the model; they are not parameters"
            )


EMA_UPDATE = Exercise(
    "Exercise 2 (an average of a network's weights)",
    _check_ema_update,
    ema_update,
    forbidden=("genlearn.gan.training.GANTrainer._update_ema",),
)


def slerp(z_start, z_end, num_steps):
    weights = torch.linspace(0, 1, num_steps, dtype=z_start.dtype, device=z_start.device)[:, None]
    cosine = torch.dot(z_start, z_end) / (z_start.norm() * z_end.norm())
    # Parallel latents give an angle of 0 and sin 0 = 0: keep the angle tiny instead, and the formula finite.
    angle = torch.arccos(cosine.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - weights) * angle) * z_start + torch.sin(weights * angle) * z_end) / torch.sin(angle)


def _angles_between_neighbours(path: torch.Tensor) -> torch.Tensor:
    unit = path / path.norm(dim=1, keepdim=True)
    return torch.arccos((unit[1:] * unit[:-1]).sum(1).clamp(-1, 1))


def _check_slerp(candidate) -> None:
    for generator in trials():
        latent_dim, num_steps = integer(generator, 2, 128), integer(generator, 4, 12)  # 4+: three points of a rescaled chord are equally spaced
        z_start = torch.randn(latent_dim, generator=generator, dtype=torch.float64)
        z_end = torch.randn(latent_dim, generator=generator, dtype=torch.float64) * (
            0.5 + torch.rand((), generator=generator, dtype=torch.float64)
        )
        path = as_tensor(candidate(z_start, z_end, num_steps), "the path").double()
        assert path.shape == (num_steps, latent_dim), "return (num_steps, latent_dim): one latent per row"
        assert torch.allclose(path[0], z_start, atol=1e-6) and torch.allclose(path[-1], z_end, atol=1e-6), (
            "the path must start at z_start and end at z_end"
        )
        same_norm = z_end / z_end.norm() * z_start.norm()
        circle = as_tensor(candidate(z_start, same_norm, num_steps), "the path").double()
        assert torch.allclose(circle.norm(dim=1), z_start.norm().expand(num_steps), rtol=1e-6), (
            "between latents of equal norm, every point of a great-circle path keeps that norm; "
            "a straight line (or its rescaling) does not"
        )
        if num_steps > 2:
            angles = _angles_between_neighbours(circle)
            assert torch.allclose(angles, angles.mean().expand_as(angles), rtol=1e-4), (
                "the path must turn through equal angles between neighbouring points (constant angular speed)"
            )
        assert torch.allclose(path, interpolate_latents(z_start, z_end, num_steps, spherical=True), atol=1e-6), (
            "spherical interpolation: (sin((1 - t) θ) z_start + sin(t θ) z_end) / sin θ, θ the angle between them"
        )
        on_an_axis = torch.zeros(latent_dim, dtype=torch.float64)
        on_an_axis[integer(generator, 0, latent_dim - 1)] = 1.5  # its cosine with itself is exactly 1
        for twin in (z_start, on_an_axis):
            path = as_tensor(candidate(twin, twin.clone(), num_steps), "the path").double()
            assert torch.isfinite(path).all() and torch.allclose(path, twin.expand_as(path), atol=1e-5), (
                "from a latent to itself the angle is 0 and sin 0 = 0: your path is not finite; keep the cosine "
                "just inside [-1, 1] (or fall back to the straight line) so the path stays at that latent"
            )


SPHERICAL_INTERPOLATION = Exercise(
    "Exercise 3 (spherical interpolation)",
    _check_slerp,
    slerp,
    forbidden=("genlearn.gan.sampling.interpolate_latents",),
)


def frechet_distance(mean_a, cov_a, mean_b, cov_b):
    # tr((C_a C_b)^1/2) = tr((C_a^1/2 C_b C_a^1/2)^1/2): the square root of a symmetric matrix, from its eigenvalues.
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T  # tiny negative eigenvalues are rounding
    middle = root_a @ cov_b @ root_a
    trace_of_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return (mean_a - mean_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * trace_of_root


def _random_covariance(generator: torch.Generator, dim: int, rank: int) -> torch.Tensor:
    factor = torch.randn(dim, rank, generator=generator, dtype=torch.float64)
    return factor @ factor.T / rank


def _frechet(candidate, mean_a, cov_a, mean_b, cov_b) -> float:
    return float(as_tensor(candidate(mean_a, cov_a.clone(), mean_b, cov_b.clone()), "the distance"))


def _check_frechet_distance(candidate) -> None:
    for generator in trials():
        dim = integer(generator, 3, 10)
        mean_a, mean_b = (torch.randn(dim, generator=generator, dtype=torch.float64) for _ in range(2))
        mean_term = float((mean_a - mean_b).pow(2).sum())

        # One dimension: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2.
        std_a, std_b = (0.2 + torch.rand((), generator=generator, dtype=torch.float64) for _ in range(2))
        one_d = _frechet(candidate, mean_a[:1], std_a.pow(2).view(1, 1), mean_b[:1], std_b.pow(2).view(1, 1))
        assert math.isclose(
            one_d, float((mean_a[0] - mean_b[0]) ** 2 + (std_a - std_b) ** 2), rel_tol=1e-6, abs_tol=1e-9
        ), (
            "in one dimension the distance is (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2: is the mean term squared, "
            "and does the covariance term take square roots?"
        )

        # Covariances with the same eigenvectors (commuting): |mu_a - mu_b|^2 + sum (sqrt(l_a) - sqrt(l_b))^2.
        rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
        values_a, values_b = (0.1 + torch.rand(dim, generator=generator, dtype=torch.float64) * 3 for _ in range(2))
        cov_a, cov_b = rotation @ torch.diag(values_a) @ rotation.T, rotation @ torch.diag(values_b) @ rotation.T
        closed_form = mean_term + float((values_a.sqrt() - values_b.sqrt()).pow(2).sum())
        assert math.isclose(
            _frechet(candidate, mean_a, cov_a, mean_b, cov_b), closed_form, rel_tol=1e-6, abs_tol=1e-8
        ), (
            "wrong for covariances that share their eigenvectors, where the distance is |mu_a - mu_b|^2 + "
            "sum_i (sqrt(l_a,i) - sqrt(l_b,i))^2: take matrix square roots, not elementwise ones"
        )
        assert abs(_frechet(candidate, mean_a, cov_a, mean_a.clone(), cov_a)) < 1e-8, (
            "a Gaussian is at distance 0 from itself"
        )

        # General covariances do not commute, and covariances of few features are singular.
        for rank_a, rank_b in [(dim + 3, dim + 5), (max(1, dim // 3), max(1, dim // 2))]:
            cov_a, cov_b = _random_covariance(generator, dim, rank_a), _random_covariance(generator, dim, rank_b)
            distance = _frechet(candidate, mean_a, cov_a, mean_b, cov_b)
            assert math.isfinite(distance), (
                "the distance is not finite for a singular covariance (fewer samples than features): rounding makes "
                "some eigenvalues slightly negative; clamp them at 0 before the square root"
            )
            assert math.isclose(
                distance, _frechet(candidate, mean_b, cov_b, mean_a, cov_a), rel_tol=1e-6, abs_tol=1e-8
            ), "the distance must be symmetric in the two Gaussians"
            assert math.isclose(
                distance, library_frechet_distance(mean_a, cov_a, mean_b, cov_b), rel_tol=1e-6, abs_tol=1e-8
            ), (
                "right when the covariances commute, wrong when they do not: the trace term is "
                "tr((C_a^1/2 C_b C_a^1/2)^1/2), which is not tr(C_a^1/2 C_b^1/2) in general"
            )


FRECHET_DISTANCE = Exercise(
    "Exercise 4 (build: the Fréchet distance)",
    _check_frechet_distance,
    frechet_distance,
    kind="build",
    forbidden=("genlearn.evaluation.metrics.frechet_distance", "genlearn.evaluation.metrics._sqrtm_psd"),
)


def gradient_penalty(critic, real, fake, epsilon):
    # epsilon holds one weight per sample: singleton axes make it broadcast over the rest of each sample.
    weights = epsilon.view(-1, *[1] * (real.ndim - 1))
    between = (weights * real + (1 - weights) * fake).detach().requires_grad_(True)
    # Each logit depends on its own sample only, so the gradient of their sum holds every sample's own gradient;
    # create_graph keeps that gradient in the graph, so that the penalty trains the critic's weights.
    (gradient,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
    return (gradient.flatten(1).norm(dim=1) - 1).pow(2).mean()


def _sample_shape(generator: torch.Generator) -> tuple[int, ...]:
    """Points (d,) or images (C, H, W): the norm must span every feature of a sample, whatever its shape."""
    if integer(generator, 0, 1):
        return (integer(generator, 2, 9),)
    return integer(generator, 1, 3), integer(generator, 2, 5), integer(generator, 2, 5)


def _linear_critic(generator: torch.Generator, sample_shape: tuple[int, ...], weight_norm: float) -> nn.Module:
    """D(x) = w . x + b, whose input gradient is w at every x: its penalty is exactly (||w|| - 1)^2."""
    layer = nn.Linear(math.prod(sample_shape), 1).double()
    with torch.no_grad():
        direction = torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64)
        layer.weight.copy_(direction / direction.norm() * weight_norm)
        layer.bias.copy_(torch.randn(1, generator=generator, dtype=torch.float64))
    return nn.Sequential(nn.Flatten(), layer, nn.Flatten(0))


def _mlp_critic(generator: torch.Generator, sample_shape: tuple[int, ...]) -> nn.Module:
    """A random smooth critic: its input gradient changes from point to point, and with its weights."""
    features, hidden = math.prod(sample_shape), integer(generator, 3, 12)
    critic = nn.Sequential(
        nn.Flatten(), nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, 1), nn.Flatten(0)
    ).double()
    with torch.no_grad():
        for parameter in critic.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return critic


def _penalty_inputs(generator: torch.Generator, sample_shape: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    batch = integer(generator, 3, 9)
    real = torch.randn(batch, *sample_shape, generator=generator, dtype=torch.float64)
    fake = torch.randn(batch, *sample_shape, generator=generator, dtype=torch.float64) * 0.5 + 1
    return real, fake, torch.rand(batch, generator=generator, dtype=torch.float64)


def _penalty(candidate, critic: nn.Module, real, fake, epsilon) -> torch.Tensor:
    penalty = as_tensor(candidate(critic, real.clone(), fake.clone(), epsilon.clone()), "the penalty")
    assert penalty.ndim == 0, "return one number: the mean over the batch of each sample's (||gradient|| - 1)^2"
    return penalty


def _check_gradient_penalty(candidate) -> None:
    for generator in trials():
        # A linear critic, on points and then on images: the penalty is known exactly.
        # ||w|| - 1 in [0.3, 0.8]: far from 0 and 1, where a^2 and |a| agree (a forgotten square would pass).
        weight_norm = 1.3 + 0.5 * float(torch.rand((), generator=generator))
        for sample_shape in [(integer(generator, 2, 9),), (integer(generator, 1, 3), 4, 5)]:
            critic = _linear_critic(generator, sample_shape, weight_norm)
            penalty = _penalty(candidate, critic, *_penalty_inputs(generator, sample_shape))
            if len(sample_shape) == 1:
                assert math.isclose(float(penalty.detach()), (weight_norm - 1) ** 2, rel_tol=1e-9), (
                    "for a linear critic D(x) = w . x + b the input gradient is w at every point, so the penalty is "
                    "(||w|| - 1)^2: take each sample's own gradient (of critic(x_hat).sum(), not .mean(), which "
                    "divides it by N), its L2 norm, subtract 1, square, then average over the batch"
                )
            else:
                assert math.isclose(float(penalty.detach()), (weight_norm - 1) ** 2, rel_tol=1e-9), (
                    "right on points (N, d), wrong on images (N, C, H, W): the norm runs over all of a sample's "
                    "features, gradient.flatten(1).norm(dim=1), not over one axis"
                )

        # A nonlinear critic: the interpolation points matter, and so does the gradient in the critic's weights.
        sample_shape = _sample_shape(generator)
        critic = _mlp_critic(generator, sample_shape)
        real, fake, epsilon = _penalty_inputs(generator, sample_shape)
        students_critic, checkers_critic = copy.deepcopy(critic), copy.deepcopy(critic)
        penalty = _penalty(candidate, students_critic, real, fake, epsilon)
        weights = epsilon.view(-1, *[1] * len(sample_shape))
        expected = (input_gradient_norms(checkers_critic, weights * real + (1 - weights) * fake) - 1).pow(2).mean()
        assert torch.allclose(penalty.detach(), expected.detach(), rtol=1e-9, atol=1e-12), (
            "right for a linear critic, wrong for a nonlinear one: evaluate the gradient at x_hat = epsilon[i] * "
            "real[i] + (1 - epsilon[i]) * fake[i], with the epsilon given (shape (N,): reshape it to (N, 1, ...) "
            "so that it broadcasts over each sample)"
        )
        assert all(parameter.grad is None for parameter in students_critic.parameters()), (
            "computing the penalty filled the critic's .grad: take the input gradient with torch.autograd.grad, "
            "not backward(), which also adds the gradient of D's logits to its weights"
        )
        assert penalty.requires_grad, (
            "the penalty has no gradient in the critic's weights, so it cannot train the critic: call "
            "torch.autograd.grad(..., create_graph=True), and do not detach the gradient"
        )
        penalty.backward()
        expected.backward()
        for got, want in zip(students_critic.parameters(), checkers_critic.parameters()):
            if want.grad is None:  # the last bias shifts every logit alike: no input gradient depends on it
                continue
            assert got.grad is not None and torch.allclose(got.grad, want.grad, rtol=1e-7, atol=1e-10), (
                "the value is right, but backward() gives the critic's weights the wrong gradient: keep the input "
                "gradient in the graph (create_graph=True) and compute the norm from it without detaching"
            )


GRADIENT_PENALTY = Exercise(
    "Exercise 6 (build: WGAN-GP's gradient penalty)",
    _check_gradient_penalty,
    gradient_penalty,
    kind="build",
    forbidden=("genlearn.gan.penalties.gradient_penalty", "genlearn.gan.penalties.input_gradient_norms"),
)


# --- Notebook 03: debug this GAN --------------------------------------------------------------------


def smoothed_optimal_discriminator(p_data, p_g, real_label, fake_label):
    # Maximise (a log y + b log(1 - y)) at each x, with a = real_label p_data + fake_label p_g the mass labelled 1.
    return (real_label * p_data + fake_label * p_g) / (p_data + p_g)


def _check_smoothed_optimal_discriminator(candidate) -> None:
    for generator in trials():
        size = integer(generator, 4, 30)
        p_data, p_g = _probabilities(generator, size), _probabilities(generator, size)
        p_data[0], p_g[1] = 0, 0  # a fake where there is no data, and data the generator never makes
        real_label = 0.7 + 0.3 * float(torch.rand((), generator=generator))
        fake_label = 0.3 * float(torch.rand((), generator=generator))
        result = as_tensor(candidate(p_data, p_g, real_label, fake_label), "D*").double()
        assert result.shape == p_data.shape, "return D*(x) at every point: the shape of p_data"
        plain = as_tensor(candidate(p_data, p_g, 1.0, 0.0), "D*").double()
        assert torch.allclose(plain, optimal_discriminator(p_data, p_g), atol=1e-12), (
            "with labels 1 and 0 this must be the ordinary D* = p_data / (p_data + p_g)"
        )
        assert abs(float(result[0]) - fake_label) < 1e-12, (
            "where p_data = 0 every sample is fake, labelled fake_label: the best prediction there is that label"
        )
        assert abs(float(result[1]) - real_label) < 1e-12, (
            "where p_g = 0 every sample is real, labelled real_label: the best prediction there is that label"
        )
        expected = (real_label * p_data + fake_label * p_g) / (p_data + p_g)
        assert torch.allclose(result, expected, atol=1e-12), (
            "D* maximises E_data[r log D + (1 - r) log(1 - D)] + E_g[f log D + (1 - f) log(1 - D)] at each x: "
            "set the derivative in D to zero"
        )


SMOOTHED_OPTIMAL_DISCRIMINATOR = Exercise(
    "Exercise 1 (the optimal discriminator under label smoothing)",
    _check_smoothed_optimal_discriminator,
    smoothed_optimal_discriminator,
    forbidden=("genlearn.gan.losses.optimal_discriminator",),
)


def repaired_step(generator, discriminator, generator_optimizer, discriminator_optimizer, real, z, smoothing):
    bce = nn.functional.binary_cross_entropy_with_logits
    fake = generator(z)  # with its graph: G's step below needs the gradient through these fakes

    # Separate passes for reals and fakes: D's BatchNorm must normalise each batch with its own statistics.
    real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
    # One-sided label smoothing: only the real label is softened; fakes keep the label 0.
    d_loss = bce(real_logits, torch.full_like(real_logits, 1 - smoothing)) + bce(
        fake_logits, torch.zeros_like(fake_logits)
    )
    discriminator_optimizer.zero_grad()
    d_loss.backward()
    discriminator_optimizer.step()

    fake_logits = discriminator(fake)
    g_loss = bce(fake_logits, torch.ones_like(fake_logits))
    generator_optimizer.zero_grad()
    g_loss.backward()
    generator_optimizer.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def _weights_after_steps(step, seed: int, batch_size: int, num_steps: int = 3) -> tuple[dict, dict]:
    """The parameters of (G, D) after ``num_steps`` calls of ``step(G, D, G's optimizer, D's optimizer, real, z)``."""
    torch.manual_seed(seed)
    # float64: three chaotic steps through small-batch BatchNorm magnify float32 rounding past any fair tolerance.
    generator = DCGANGenerator(latent_dim=8, channels=4).double()
    discriminator = DCGANDiscriminator(channels=4).double()
    # Plain SGD: Adam's first step, ±lr per weight, would magnify rounding in near-zero gradients.
    generator_optimizer = torch.optim.SGD(generator.parameters(), lr=0.1)
    discriminator_optimizer = torch.optim.SGD(discriminator.parameters(), lr=0.1)
    data = torch.Generator().manual_seed(seed)
    for _ in range(num_steps):
        real = torch.rand(batch_size, 1, 28, 28, generator=data, dtype=torch.float64) * 2 - 1
        z = torch.randn(batch_size, 8, generator=data, dtype=torch.float64)
        step(generator, discriminator, generator_optimizer, discriminator_optimizer, real, z)
    return tuple({k: v.detach().clone() for k, v in net.named_parameters()} for net in (generator, discriminator))


def _same(got: dict, want: dict) -> bool:
    return all(torch.allclose(got[k], want[k], rtol=1e-4, atol=1e-6) for k in want)


def _compare_steps(
    candidate_step, right_step, seed: int, batch_size: int, discriminator_hint: str, generator_hint: str
) -> None:
    for num_steps in (1, 3):  # one step isolates D's update, made before G's; three catch what carries over
        generator_got, discriminator_got = _weights_after_steps(candidate_step, seed, batch_size, num_steps)
        generator_want, discriminator_want = _weights_after_steps(right_step, seed, batch_size, num_steps)
        if num_steps == 1:
            assert _same(discriminator_got, discriminator_want), discriminator_hint
            assert _same(generator_got, generator_want), generator_hint
        else:
            assert _same(discriminator_got, discriminator_want) and _same(generator_got, generator_want), (
                "right for one step, wrong after three: does each network zero its own gradients at every step?"
            )


def _check_repaired_step(candidate) -> None:
    for generator in trials(2):
        seed, batch_size = integer(generator, 0, 2**30), integer(generator, 4, 12)
        unsmoothed = lambda *networks_and_batch: candidate(*networks_and_batch, 0.0)  # noqa: E731
        initial_generator, _ = _weights_after_steps(unsmoothed, seed, batch_size, num_steps=0)
        generator_got, _ = _weights_after_steps(unsmoothed, seed, batch_size, num_steps=1)
        assert not _same(generator_got, initial_generator), (
            "the generator's weights never move: its loss must reach G through fakes that carry a gradient "
            "(no torch.no_grad around G(z) for G's step)"
        )
        _compare_steps(
            unsmoothed,
            adversarial_step,
            seed,
            batch_size,
            "with smoothing = 0 the discriminator's weights differ from genlearn.gan.adversarial_step's: does D see "
            "the reals and the detached fakes in two separate passes (BatchNorm!), with the sum of the two mean BCEs?",
            "with smoothing = 0 the generator's weights differ from genlearn.gan.adversarial_step's: a fresh pass "
            "of the fakes through the updated D, with the real label 1",
        )
        smoothing = 0.05 + 0.25 * float(torch.rand((), generator=generator))
        _compare_steps(
            lambda *networks_and_batch: candidate(*networks_and_batch, smoothing),
            lambda *networks_and_batch: repaired_step(*networks_and_batch, smoothing),
            seed,
            batch_size,
            "right without smoothing, wrong with it: one-sided label smoothing softens the real label to "
            "1 - smoothing and keeps the fake label at 0",
            "the label smoothing belongs to D's loss only: the generator still aims at the label 1",
        )


REPAIRED_STEP = Exercise(
    "Exercise 2 (build: repair a second broken step)",
    _check_repaired_step,
    repaired_step,
    kind="build",
    forbidden=("genlearn.gan.training.adversarial_step",),
)
