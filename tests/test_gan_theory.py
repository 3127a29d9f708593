"""The divergences notebook 01 teaches: total variation, the value without logs, W1, and mode coverage's threshold."""

import math

import pytest
import torch

from genlearn.data import mode_coverage, ring_of_gaussians
from genlearn.gan import losses


def _random_distribution(generator: torch.Generator, size: int) -> torch.Tensor:
    weights = torch.rand(size, generator=generator, dtype=torch.float64) + 0.05
    return weights / weights.sum()


def test_total_variation_by_hand():
    p, q = torch.tensor([0.6, 0.4]), torch.tensor([0.2, 0.8])
    assert math.isclose(losses.total_variation(p, q, dx=1.0).item(), 0.4, rel_tol=1e-6)  # (0.4 + 0.4) / 2
    assert math.isclose(losses.total_variation(q, p, dx=1.0).item(), 0.4, rel_tol=1e-6)
    assert losses.total_variation(p, p, dx=1.0).item() == 0
    disjoint = torch.tensor([0.0, 0.0, 1.0])
    assert math.isclose(losses.total_variation(torch.tensor([0.5, 0.5, 0.0]), disjoint, dx=1.0).item(), 1.0)
    # Densities on a grid: uniform on [0, 1) against uniform on [0.5, 1.5) share half their mass.
    dx = 0.01
    x = torch.arange(0, 2, dx, dtype=torch.float64) + dx / 2
    uniform, shifted = ((x >= 0) & (x < 1)).double(), ((x >= 0.5) & (x < 1.5)).double()
    assert math.isclose(losses.total_variation(uniform, shifted, dx).item(), 0.5, rel_tol=1e-9)


def test_value_without_logs_is_maximised_by_a_step_at_one_plus_tv():
    p_data, p_g = torch.tensor([0.6, 0.4]), torch.tensor([0.2, 0.8])
    step = losses.optimal_discriminator_without_logs(p_data, p_g)
    assert step.tolist() == [1.0, 0.0]
    # By hand: 0.6 * 1 + 0.2 * 0 + 0.4 * 0 + 0.8 * 1 = 1.4 = 1 + TV.
    assert math.isclose(losses.value_without_logs(p_data, p_g, step, dx=1.0).item(), 1.4, rel_tol=1e-6)
    assert math.isclose(losses.value_without_logs(p_data, p_g, torch.full((2,), 0.5), dx=1.0).item(), 1.0, rel_tol=1e-6)

    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        p_data, p_g = _random_distribution(generator, 7), _random_distribution(generator, 7)
        step = losses.optimal_discriminator_without_logs(p_data, p_g)
        best = losses.value_without_logs(p_data, p_g, step, dx=1.0)
        torch.testing.assert_close(best, 1 + losses.total_variation(p_data, p_g, dx=1.0))
        assert set(step.tolist()) <= {0.0, 1.0}
        for _ in range(10):
            other = torch.rand(7, generator=generator, dtype=torch.float64)
            assert losses.value_without_logs(p_data, p_g, other, dx=1.0) <= best + 1e-12
        # The calibrated D* of the game with logs is not the maximiser here unless the densities are equal.
        calibrated = losses.optimal_discriminator(p_data, p_g)
        assert losses.value_without_logs(p_data, p_g, calibrated, dx=1.0) < best


def test_wasserstein_1d_by_hand_and_under_translation():
    point_at_0, point_at_3 = torch.tensor([1.0, 0, 0, 0, 0]), torch.tensor([0, 0, 0, 1.0, 0])
    assert math.isclose(losses.wasserstein_1d(point_at_0, point_at_3, dx=1.0).item(), 3.0)
    assert math.isclose(losses.wasserstein_1d(point_at_3, point_at_0, dx=1.0).item(), 3.0)
    # On a grid of spacing 0.5 a unit point mass is a density of height 2, and the points are 1.5 apart.
    assert math.isclose(losses.wasserstein_1d(point_at_0 / 0.5, point_at_3 / 0.5, dx=0.5).item(), 1.5)
    # A density and its translate by k grid steps: W1 = k dx, whatever the shape.
    dx = 0.01
    x = torch.arange(-3, 8, dx, dtype=torch.float64)
    density = torch.exp(-0.5 * (x / 0.3) ** 2) * (x > -0.5)
    density = density / (density.sum() * dx)
    for steps in (1, 37, 400):
        translated = torch.roll(density, steps)
        assert math.isclose(losses.wasserstein_1d(density, translated, dx).item(), steps * dx, rel_tol=1e-9)
    with pytest.raises(ValueError, match="same 1-D grid"):
        losses.wasserstein_1d(density[None], density[None], dx)


def test_disjoint_supports_saturate_the_jsd_but_not_w1():
    dx = 1e-3
    x = torch.arange(-1, 10, dx, dtype=torch.float64)

    def narrow(mean):
        return torch.exp(-0.5 * ((x - mean) / 0.1) ** 2) / (0.1 * math.sqrt(2 * math.pi))

    jsds = [losses.jensen_shannon_divergence(narrow(0), narrow(shift), dx).item() for shift in (2, 4, 8)]
    w1s = [losses.wasserstein_1d(narrow(0), narrow(shift), dx).item() for shift in (2, 4, 8)]
    assert all(math.isclose(jsd, math.log(2), abs_tol=1e-9) for jsd in jsds)
    assert all(math.isclose(w1, shift, rel_tol=1e-6) for w1, shift in zip(w1s, (2, 4, 8)))
    overlapping = losses.jensen_shannon_divergence(narrow(0), narrow(0.1), dx).item()
    assert 0 < overlapping < math.log(2) - 0.1


def test_non_saturating_loss_at_the_optimum_identity():
    """E_pg[-log D*] = KL(p_g || p_data) - 2 JSD + log 2 + KL(p_data || m): the result notebook 01 states."""
    generator = torch.Generator().manual_seed(1)
    for _ in range(10):
        p_data, p_g = _random_distribution(generator, 9), _random_distribution(generator, 9)
        loss = -(p_g * torch.log(losses.optimal_discriminator(p_data, p_g))).sum()
        mixture = (p_data + p_g) / 2
        closed_form = (
            losses.kl_divergence(p_g, p_data, dx=1.0)
            - 2 * losses.jensen_shannon_divergence(p_data, p_g, dx=1.0)
            + math.log(2)
            + losses.kl_divergence(p_data, mixture, dx=1.0)
        )
        torch.testing.assert_close(loss, closed_form)
        at_data = -(p_data * torch.log(losses.optimal_discriminator(p_data, p_data))).sum()
        assert math.isclose(at_data.item(), math.log(2), rel_tol=1e-12)


def test_mode_coverage_ignores_stray_points():
    ring = ring_of_gaussians(num_modes=8, radius=2.0, std=0.02)
    on_mode_0 = ring.means[0].expand(995, 2)
    strays_on_mode_1 = ring.means[1].expand(5, 2)  # 0.5% of the samples
    samples = torch.cat([on_mode_0, strays_on_mode_1])
    assert mode_coverage(samples, ring)["modes_covered"] == 1
    assert mode_coverage(samples, ring, min_fraction=0.0)["modes_covered"] == 2
    assert mode_coverage(samples, ring)["counts_per_mode"][:2] == [995, 5]
    exactly_one_percent = torch.cat([ring.means[0].expand(990, 2), ring.means[1].expand(10, 2)])
    assert mode_coverage(exactly_one_percent, ring)["modes_covered"] == 2
    with pytest.raises(ValueError, match="min_fraction"):
        mode_coverage(samples, ring, min_fraction=2.0)
