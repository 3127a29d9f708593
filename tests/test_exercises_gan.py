"""The exercises of the setup notebook (genlearn.data.exercises) and the GAN notebooks (genlearn.gan.exercises).

Each checker must reject a hard-coded answer and the classic wrong ones, with the hint that fits the mistake.
(That each accepts its reference and refuses a call to it or to the library is tested in test_exercises.py.)
"""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

from genlearn.data import exercises as setup
from genlearn.exercises import passes
from genlearn.exercises.guard import WriteItYourself, forbidding
from genlearn.gan import exercises as ex
from genlearn.gan.losses import jensen_shannon_divergence, kl_divergence
from genlearn.gan.penalties import input_gradient_norms

bce = nn.functional.binary_cross_entropy_with_logits


def rejection(exercise, candidate) -> str:
    """The hint a wrong candidate gets; it must fail on its own mistake, not by calling the answer."""
    assert not passes(exercise, candidate)
    with forbidding(exercise, candidate), pytest.raises(AssertionError) as error:
        exercise.checker(candidate)
    return str(error.value)


# --- 00: class-mean images ------------------------------------------------------------------------------


def class_sums(images, labels, num_classes):
    return torch.zeros(num_classes, *images.shape[1:], dtype=images.dtype).index_add_(0, labels, images)


def class_means(images, labels, num_classes):
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).to(images.dtype)
    return class_sums(images, labels, num_classes) / counts.view(-1, *([1] * (images.dim() - 1)))


def normalises_its_input(images, labels, num_classes):
    images -= images.mean()  # in place: the caller's images change
    return class_means(images, labels, num_classes)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda images, labels, num_classes: torch.zeros(num_classes, *images.shape[1:]), "mean image"),
        (
            lambda images, labels, num_classes: torch.stack([images[labels == c].mean(0) for c in range(num_classes)]),
            "NaN",
        ),
        (class_sums, "divide it by the number of images"),
        (
            lambda images, labels, num_classes: class_sums(images, labels, num_classes) / len(images),
            "that class's count",
        ),
        (lambda images, labels, num_classes: class_means(images, labels, int(labels.max()) + 1), "use num_classes"),
        (normalises_its_input, "changed its inputs"),
    ],
    ids=["constant", "loop-mean-gives-nan", "sums", "divided-by-n", "classes-from-labels", "changes-input"],
)
def test_class_mean_images_rejects(wrong, hint):
    assert hint in rejection(setup.CLASS_MEAN_IMAGES, wrong)


# --- 00: a balanced split --------------------------------------------------------------------------------


def split_by(choose):
    """A split that holds out ``choose(members, per_class, generator)`` of each class (loop over classes)."""

    def split(labels, per_class, generator):
        held_out = []
        for label in labels.unique():
            members = (labels == label).nonzero().flatten()
            if len(members) < per_class:
                raise ValueError(f"class {int(label)} is too small")
            held_out.append(choose(members, per_class, generator))
        held_out = torch.cat(held_out)
        keep = torch.ones(len(labels), dtype=torch.bool)
        keep[held_out] = False
        return keep.nonzero().flatten(), held_out

    return split


def random_members(members, per_class, generator):
    return members[torch.randperm(len(members), generator=generator)[:per_class]]


def takes_what_there_is(labels, per_class, generator):
    smallest = int(torch.bincount(labels)[torch.bincount(labels) > 0].min())
    return split_by(random_members)(labels, min(per_class, smallest), generator)


def train_keeps_everything(labels, per_class, generator):
    return torch.arange(len(labels)), split_by(random_members)(labels, per_class, generator)[1]


def float_indices(labels, per_class, generator):
    return tuple(indices.float() for indices in split_by(random_members)(labels, per_class, generator))


def test_a_correct_split_written_here_passes():  # so that each wrong one below fails on its own mistake
    assert passes(setup.BALANCED_SPLIT, split_by(random_members))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (
            lambda labels, per_class, generator: (torch.arange(len(labels)), torch.zeros(0, dtype=torch.long)),
            "exactly per_class",
        ),
        (split_by(lambda members, per_class, generator: members[:per_class]), "different split"),
        (
            split_by(lambda members, per_class, generator: random_members(members, per_class, None)),
            "same generator seed",
        ),
        (
            split_by(lambda members, per_class, generator: random_members(members, per_class + 1, generator)),
            "exactly per_class",
        ),
        (float_indices, "integers"),
        (takes_what_there_is, "ValueError"),
        (train_keeps_everything, "exactly once"),
        # Random, seeded and balanced, but only ever among the first 2 * per_class members of a class.
        (
            split_by(
                lambda members, per_class, generator: random_members(members[: 2 * per_class], per_class, generator)
            ),
            "uniformly",
        ),
    ],
    ids=[
        "constant",
        "first-of-each-class",
        "unseeded",
        "off-by-one",
        "float-indices",
        "no-error-for-small-class",
        "overlap",
        "biased",
    ],
)
def test_balanced_split_rejects(wrong, hint):
    assert hint in rejection(setup.BALANCED_SPLIT, wrong)


# --- 01: the optimal discriminator's logit ---------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda log_p_data, log_p_g: torch.zeros_like(log_p_data), "sigmoid(your logit)"),
        (lambda log_p_data, log_p_g: log_p_g - log_p_data, "sigmoid(your logit)"),
        (lambda log_p_data, log_p_g: torch.sigmoid(log_p_data - log_p_g), "sigmoid(your logit)"),
        (lambda log_p_data, log_p_g: torch.logit(log_p_data.exp() / (log_p_data.exp() + log_p_g.exp())), "not finite"),
        (lambda log_p_data, log_p_g: log_p_data - torch.logaddexp(log_p_data, log_p_g), "sigmoid(your logit)"),
    ],
    ids=["constant", "wrong-sign", "probability-not-logit", "exponentiates", "log-of-d-star"],
)
def test_optimal_discriminator_logit_rejects(wrong, hint):
    assert hint in rejection(ex.OPTIMAL_DISCRIMINATOR_LOGIT, wrong)


# --- 01: Jensen-Shannon divergence -----------------------------------------------------------------------


def kl(p, q):
    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum(-1)


def jsd_with(kl_of, scale=0.5):
    return lambda p, q: scale * (kl_of(p, (p + q) / 2) + kl_of(q, (p + q) / 2))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda p, q: torch.full(p.shape[:-1], math.log(2), dtype=p.dtype), "JSD(p || p) must be 0"),
        (jsd_with(lambda p, m: (p * torch.log(p / m)).sum(-1)), "0 log 0"),
        (jsd_with(kl, scale=1.0), "disjoint supports"),
        (jsd_with(lambda p, m: kl(p, m) / math.log(2)), "disjoint supports"),
        (lambda p, q: jsd_with(kl)(p, q).sum(), "one divergence per pair"),
        (lambda p, q: kl(p, (p + q) / 2), "KL(q || m) / 2"),
        (lambda p, q: jsd_with(kl)(p.reshape(-1, p.shape[-1]), q.reshape(-1, q.shape[-1])), "0-dim"),
    ],
    ids=["constant", "nan-at-zero", "missing-half", "bits", "sums-all-rows", "one-kl-only", "flattens-batch-axes"],
)
def test_jensen_shannon_rejects(wrong, hint):
    assert hint in rejection(ex.JENSEN_SHANNON, wrong)


# --- 01: the non-saturating loss against D* --------------------------------------------------------------


def loss_against(d_star_of, weight=lambda p_data, p_g: p_g, mean=False):
    def loss(p_data, p_g):
        values = -torch.special.xlogy(weight(p_data, p_g), d_star_of(p_data, p_g))
        return values.mean() if mean else values.sum()

    return loss


def frozen(p_data, p_g):
    return (p_data / (p_data + p_g)).detach()


saturating_term = loss_against(lambda p_data, p_g: 1 - frozen(p_data, p_g))  # the game's log(1 - D*), not -log D*


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda p_data, p_g: torch.tensor(math.log(2), dtype=p_g.dtype), "value is off"),
        (loss_against(lambda p_data, p_g: p_data / (p_data + p_g)), "hold D* constant"),
        (saturating_term, "value is off"),
        (loss_against(frozen, mean=True), "value is off"),
        (loss_against(frozen, weight=lambda p_data, p_g: p_data), "value is off"),  # expectation under the data
        (lambda p_data, p_g: -(p_g * torch.log(frozen(p_data, p_g))).sum(), "0 log 0"),
        (lambda p_data, p_g: loss_against(frozen)(p_data, p_g).detach(), "differentiable"),
    ],
    ids=["constant", "d-star-not-detached", "saturating", "mean", "under-p-data", "nan-outside-supports", "detached"],
)
def test_generator_loss_at_optimum_rejects(wrong, hint):
    assert hint in rejection(ex.GENERATOR_LOSS_AT_OPTIMUM, wrong)


def test_the_value_is_not_kl_minus_twice_jsd_plus_a_constant():
    # E_pg[-log D*] - (KL(p_g || p_data) - 2 JSD) = log 2 + KL(p_data || m), which changes with p_g:
    # only the gradients (with D* held fixed) agree, which is what the checker asks.
    generator = torch.Generator().manual_seed(0)
    p_data = torch.rand(6, generator=generator, dtype=torch.float64).softmax(0)
    gaps = []
    for _ in range(2):
        p_g = torch.randn(6, generator=generator, dtype=torch.float64).softmax(0)
        loss = ex.generator_loss_at_optimum(p_data, p_g)
        torch.testing.assert_close(loss, ex._closed_form_value(p_data, p_g))
        gaps.append(float(loss - kl_divergence(p_g, p_data, 1.0) + 2 * jensen_shannon_divergence(p_data, p_g, 1.0)))
    assert abs(gaps[0] - gaps[1]) > 1e-3


# --- 01: a sharper ring (open) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda config: {"ema_decay": 0.99}, "return a ToyGANConfig"),
        (lambda config: dataclasses.replace(config, num_steps=2 * config.num_steps), "keep num_steps"),
        (lambda config: dataclasses.replace(config, seed=config.seed + 1), "keep seed"),
        (lambda config: dataclasses.replace(config, ring_std=0.1), "keep ring_std"),
    ],
    ids=["not-a-config", "trains-longer", "other-seed", "easier-data"],
)
def test_sharper_ring_rejects(wrong, hint):
    assert hint in rejection(ex.SHARPER_RING, wrong)


def test_sharper_ring_checks_the_target_at_a_real_budget(monkeypatch):
    scores = {"modes_covered": 8.0, "fraction_high_quality": 0.5}
    monkeypatch.setattr(ex, "under_test", lambda: False)
    monkeypatch.setattr(ex.ToyGANTrainer, "fit", lambda self, **options: None)
    monkeypatch.setattr(ex.ToyGANTrainer, "evaluate", lambda self: scores)
    assert "covered 8 of 8 modes with 50%" in rejection(ex.SHARPER_RING, lambda config: config)
    scores["fraction_high_quality"] = 0.9
    assert passes(ex.SHARPER_RING, lambda config: dataclasses.replace(config, ema_decay=0.99))
    scores["modes_covered"] = 7.0
    assert not passes(ex.SHARPER_RING, lambda config: dataclasses.replace(config, ema_decay=0.99))


# --- 02: a transposed convolution by design ------------------------------------------------------------------


def settings_with(kernel_of):
    def settings(size_in, size_out):
        stride = size_out // size_in
        return kernel_of(size_in, size_out, stride), stride, 0

    return settings


right_kernel = settings_with(lambda size_in, size_out, stride: size_out - (size_in - 1) * stride)


def test_correct_settings_written_here_pass():
    assert passes(ex.TRANSPOSED_CONV_SETTINGS, right_kernel)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda size_in, size_out: (4, 2, 1), "stride"),
        (settings_with(lambda size_in, size_out, stride: size_out - (size_in - 1) * stride + 1), "maps"),
        (lambda size_in, size_out: (size_out - size_in + 1, 1, 0), "stride"),  # stride 1 and a huge kernel
        (lambda size_in, size_out: (size_out // size_in, size_out // size_in, 0), "maps"),  # forgets the remainder
        (lambda size_in, size_out: (size_out // size_in, size_out // size_in, (size_out % size_in) // -2), "negative"),
        (lambda size_in, size_out: tuple(float(value) for value in right_kernel(size_in, size_out)), "ints"),
        (
            lambda size_in, size_out: (
                (size_out // size_in - 1, size_out // size_in, 0)
                if size_out >= 2 * size_in
                else right_kernel(size_in, size_out)
            ),
            "kernel >= stride",
        ),
    ],
    ids=["constant", "off-by-one", "stride-one", "no-remainder", "negative-padding", "floats", "holes"],
)
def test_transposed_conv_settings_rejects(wrong, hint):
    assert hint in rejection(ex.TRANSPOSED_CONV_SETTINGS, wrong)


# --- 02: the generator's moving average ------------------------------------------------------------------


def averaged(weight_of_ema, copy_buffers=True):
    def update(ema_model, model, decay):
        with torch.no_grad():
            for average, current in zip(ema_model.parameters(), model.parameters()):
                average.copy_(weight_of_ema(decay) * average + (1 - weight_of_ema(decay)) * current)
            if copy_buffers:
                for average, current in zip(ema_model.buffers(), model.buffers()):
                    average.copy_(current)

    return update


def averages_float_buffers(ema_model, model, decay):
    averaged(lambda decay: decay, copy_buffers=False)(ema_model, model, decay)
    with torch.no_grad():
        for average, current in zip(ema_model.buffers(), model.buffers()):
            average.copy_(decay * average + (1 - decay) * current if average.is_floating_point() else current)


def returns_a_new_model(ema_model, model, decay):
    fresh = copy.deepcopy(ema_model)
    averaged(lambda decay: decay)(fresh, model, decay)
    return fresh


def test_a_correct_ema_written_here_passes():
    assert passes(ex.EMA_UPDATE, averaged(lambda decay: decay))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda ema_model, model, decay: None, "did not change"),
        (averaged(lambda decay: 1 - decay), "which side decay weights"),
        (averaged(lambda decay: decay, copy_buffers=False), "copy buffers"),
        (averages_float_buffers, "copy buffers"),
        (returns_a_new_model, "did not change"),
    ],
    ids=["does-nothing", "swapped-decay", "no-buffers", "averages-buffers", "not-in-place"],
)
def test_ema_update_rejects(wrong, hint):
    assert hint in rejection(ex.EMA_UPDATE, wrong)


# --- 02: spherical interpolation -------------------------------------------------------------------------


def weights(num_steps, like):
    return torch.linspace(0, 1, num_steps, dtype=like.dtype)[:, None]


def linear(z_start, z_end, num_steps):
    t = weights(num_steps, z_start)
    return (1 - t) * z_start + t * z_end


def rescaled_linear(z_start, z_end, num_steps):
    path = linear(z_start, z_end, num_steps)
    t = weights(num_steps, z_start)
    return path / path.norm(dim=1, keepdim=True) * ((1 - t) * z_start.norm() + t * z_end.norm())


def unguarded_slerp(z_start, z_end, num_steps):
    t = weights(num_steps, z_start)
    angle = torch.arccos((z_start @ z_end / (z_start.norm() * z_end.norm())).clamp(-1, 1))
    return (torch.sin((1 - t) * angle) * z_start + torch.sin(t * angle) * z_end) / torch.sin(angle)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda z_start, z_end, num_steps: torch.zeros(num_steps, len(z_start)), "start at z_start"),
        (linear, "keeps that norm"),
        (rescaled_linear, "equal angles"),
        (unguarded_slerp, "sin 0 = 0"),
        (lambda z_start, z_end, num_steps: unguarded_slerp(z_start, z_end, num_steps).T, "num_steps, latent_dim"),
    ],
    ids=["constant", "straight-line", "rescaled-line", "nan-for-twins", "transposed"],
)
def test_slerp_rejects(wrong, hint):
    assert hint in rejection(ex.SPHERICAL_INTERPOLATION, wrong)


# --- 02: the Fréchet distance --------------------------------------------------------------------------


def symmetric_root(matrix):
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T


def frechet_with(trace_term, mean_term=lambda a, b: (a - b).pow(2).sum()):
    def distance(mean_a, cov_a, mean_b, cov_b):
        return mean_term(mean_a, mean_b) + cov_a.trace() + cov_b.trace() - 2 * trace_term(cov_a, cov_b)

    return distance


def right_trace(cov_a, cov_b, clamp=True):
    root_a = symmetric_root(cov_a)
    middle = root_a @ cov_b @ root_a
    values = torch.linalg.eigvalsh((middle + middle.T) / 2)
    return (values.clamp(min=0) if clamp else values).sqrt().sum()


def test_a_correct_frechet_distance_written_here_passes():
    assert passes(ex.FRECHET_DISTANCE, frechet_with(right_trace))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda mean_a, cov_a, mean_b, cov_b: torch.tensor(0.0), "one dimension"),
        (frechet_with(right_trace, mean_term=lambda a, b: (a - b).norm()), "one dimension"),
        (frechet_with(lambda a, b: (symmetric_root(a) @ symmetric_root(b)).trace()), "do not"),
        (frechet_with(lambda a, b: (a.sqrt() * b.sqrt()).nan_to_num().sum()), "not elementwise ones"),
        (frechet_with(lambda a, b: right_trace(a, b, clamp=False)), "singular"),
        (frechet_with(lambda a, b: torch.linalg.eigvalsh((a @ b + (a @ b).T) / 2).clamp(min=0).sqrt().sum()), "do not"),
    ],
    ids=["constant", "mean-not-squared", "commuting-only", "elementwise-roots", "no-clamp", "symmetrised-product"],
)
def test_frechet_distance_rejects(wrong, hint):
    assert hint in rejection(ex.FRECHET_DISTANCE, wrong)


# --- 02: WGAN-GP's gradient penalty ----------------------------------------------------------------------


def penalty_with(norm=lambda gradient: gradient.flatten(1).norm(dim=1), square=True, create_graph=True,
                 total=torch.sum, swapped=False, by_backward=False, detach_gradient=False, mean=True):
    """A gradient penalty with the chosen mistakes (none: the right one)."""

    def penalty(critic, real, fake, epsilon):
        weights = epsilon.view(-1, *[1] * (real.ndim - 1))
        weights = 1 - weights if swapped else weights
        between = (weights * real + (1 - weights) * fake).detach().requires_grad_(True)
        if by_backward:
            total(critic(between)).backward(create_graph=True)
            gradient = between.grad
        else:
            (gradient,) = torch.autograd.grad(total(critic(between)), between, create_graph=create_graph)
        if detach_gradient:
            gradient = gradient.detach().requires_grad_(True)
        gap = norm(gradient) - 1
        values = gap.pow(2) if square else gap.abs()
        return values.mean() if mean else values

    return penalty


def test_a_correct_gradient_penalty_written_here_passes():
    assert passes(ex.GRADIENT_PENALTY, penalty_with())


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda critic, real, fake, epsilon: torch.tensor(0.0, dtype=real.dtype), "(||w|| - 1)^2"),
        (penalty_with(square=False), "(||w|| - 1)^2"),
        (penalty_with(total=torch.mean), "not .mean()"),
        (penalty_with(norm=lambda gradient: gradient.norm()), "each sample's own gradient"),
        (penalty_with(norm=lambda gradient: gradient.norm(dim=1)), "not over one axis"),
        (penalty_with(mean=False), "one number"),
        (penalty_with(swapped=True), "epsilon[i] * real[i]"),
        (lambda critic, real, fake, epsilon: penalty_with()(critic, real, fake, torch.rand_like(epsilon)), "epsilon given"),
        # The warning is the mistake itself: backward(create_graph=True) ties the weights to their gradients.
        pytest.param(penalty_with(by_backward=True), "torch.autograd.grad",
                     marks=pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")),
        (penalty_with(create_graph=False), "create_graph=True"),
        (penalty_with(detach_gradient=True), "wrong gradient"),
    ],
    ids=["constant", "no-square", "mean-of-logits", "batch-norm", "one-axis", "per-sample", "swapped-epsilon",
         "own-epsilon", "backward", "no-create-graph", "detached-gradient"],
)
def test_gradient_penalty_rejects(wrong, hint):
    assert hint in rejection(ex.GRADIENT_PENALTY, wrong)


def test_gradient_penalty_refuses_the_librarys_input_gradients():
    def with_library_norms(critic, real, fake, epsilon):
        weights = epsilon.view(-1, *[1] * (real.ndim - 1))
        return (input_gradient_norms(critic, weights * real + (1 - weights) * fake) - 1).pow(2).mean()

    assert not passes(ex.GRADIENT_PENALTY, with_library_norms)
    with pytest.raises(WriteItYourself, match="input_gradient_norms"), forbidding(ex.GRADIENT_PENALTY, with_library_norms):
        ex.GRADIENT_PENALTY.checker(with_library_norms)


# --- 03: the optimal discriminator under label smoothing ----------------------------------------------


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda p_data, p_g, real_label, fake_label: torch.full_like(p_data, 0.5), "ordinary D*"),
        (lambda p_data, p_g, real_label, fake_label: p_data / (p_data + p_g), "fake_label"),
        (lambda p_data, p_g, real_label, fake_label: real_label * p_data / (p_data + p_g), "fake_label"),
        (
            lambda p_data, p_g, real_label, fake_label: (real_label * p_data + (1 - fake_label) * p_g) / (p_data + p_g),
            "ordinary D*",
        ),
        (
            lambda p_data, p_g, real_label, fake_label: (
                (real_label * p_data + fake_label * p_g)
                / (real_label * p_data + fake_label * p_g + (1 - real_label) * p_data + p_g)
            ),
            "fake_label",
        ),
    ],
    ids=["constant", "labels-ignored", "fake-label-ignored", "fake-label-flipped", "wrong-normaliser"],
)
def test_smoothed_optimal_discriminator_rejects(wrong, hint):
    assert hint in rejection(ex.SMOOTHED_OPTIMAL_DISCRIMINATOR, wrong)


# --- 03: repair a second broken step -----------------------------------------------------------------------


def step(*, fake_under_no_grad=False, concatenated=False, smooth_real=True, smooth_fake=False, smooth_generator=False):
    """A smoothed GAN step with the chosen mistakes (none: the right step)."""

    def smoothed_step(generator, discriminator, generator_optimizer, discriminator_optimizer, real, z, smoothing):
        with torch.set_grad_enabled(not fake_under_no_grad):
            fake = generator(z)
        real_target = 1 - smoothing if smooth_real else 1.0
        fake_target = smoothing if smooth_fake else 0.0
        if concatenated:
            logits = discriminator(torch.cat([real, fake.detach()]))
            real_logits, fake_logits = logits[: len(real)], logits[len(real) :]
        else:
            real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
        d_loss = bce(real_logits, torch.full_like(real_logits, real_target)) + bce(
            fake_logits, torch.full_like(fake_logits, fake_target)
        )
        discriminator_optimizer.zero_grad()
        d_loss.backward()
        discriminator_optimizer.step()
        fake_logits = discriminator(fake)
        g_target = 1 - smoothing if smooth_generator else 1.0
        g_loss = bce(fake_logits, torch.full_like(fake_logits, g_target))
        generator_optimizer.zero_grad()
        g_loss.backward()
        generator_optimizer.step()

    return smoothed_step


def test_a_correct_step_written_here_passes():
    assert passes(ex.REPAIRED_STEP, step())


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda *networks_batch_and_smoothing: None, "never move"),
        (step(fake_under_no_grad=True), "never move"),
        (step(concatenated=True), "two separate passes"),
        (step(smooth_real=False, smooth_fake=True), "one-sided label smoothing"),
        (step(smooth_real=False), "one-sided label smoothing"),
        (step(smooth_generator=True), "the generator still aims at the label 1"),
    ],
    ids=["does-nothing", "no-grad-fakes", "concatenated-batch", "wrong-side", "no-smoothing", "smooths-g-too"],
)
def test_repaired_step_rejects(wrong, hint):
    assert hint in rejection(ex.REPAIRED_STEP, wrong)
