"""Improved precision and recall: hand-computed k-NN manifolds, the textbook extremes, and the classifier wiring."""

import math

import pytest
import torch

from genlearn.data import load_mnist_subset
from genlearn.evaluation import classifier_metrics, metrics, real_data_metrics
from genlearn.evaluation.classifier import classifier_path
from genlearn.evaluation.precision_recall import knn_radii, precision_recall

needs_classifier = pytest.mark.skipif(not classifier_path().is_file(), reason="data/pretrained/mnist_classifier.pt absent")


def column(*values: float) -> torch.Tensor:
    """1-D points as an (N, 1) feature matrix."""
    return torch.tensor(values, dtype=torch.float64)[:, None]


def ring_of_clusters(num_per_cluster: int, clusters: range, seed: int) -> torch.Tensor:
    """Tight 2-D Gaussian clusters, 36 degrees apart on a circle of radius 10."""
    generator = torch.Generator().manual_seed(seed)
    angles = torch.tensor([2 * math.pi * c / 10 for c in clusters]).repeat_interleave(num_per_cluster)
    centres = 10 * torch.stack([angles.cos(), angles.sin()], dim=1)
    return centres + 0.3 * torch.randn(len(centres), 2, generator=generator)


def test_radius_is_the_distance_to_the_kth_other_point():
    points = column(0, 1, 2, 10, 12)
    # k=1: nearest other point. k=2: 0 -> {1, 2}; 1 -> {0, 2}; 2 -> {1, 0}; 10 -> {12, 2}; 12 -> {10, 2}.
    torch.testing.assert_close(knn_radii(points, k=1), column(1, 1, 1, 2, 2)[:, 0])
    torch.testing.assert_close(knn_radii(points, k=2), column(2, 1, 2, 8, 10)[:, 0])


def test_hand_computed_precision_and_recall_in_one_dimension():
    real, generated = column(0, 1, 2, 10, 12), column(0.5, 1.5, 30, 31)
    # k=1. Real manifold: [-1, 3] and [8, 14], holding 0.5 and 1.5 of the four samples.
    # Generated radii are all 1: [-0.5, 2.5] and [29, 32], holding 0, 1 and 2 of the five real points.
    assert precision_recall(real, generated, k=1) == {"precision": 0.5, "recall": 0.6}
    # k=2. Each generated pair's 2nd neighbour sits in the other pair (radii 28.5 to 29.5): every real point is
    # covered. The real manifold grows to [-2, 22], still short of 30.
    assert precision_recall(real, generated, k=2) == {"precision": 0.5, "recall": 1.0}


def test_a_point_on_a_ball_surface_counts_as_inside():
    real = column(0, 1, 2, 10, 12)  # k=1 manifold: [-1, 3] and [8, 14]
    assert precision_recall(real, column(3, 3.5, 8, 7.5), k=1)["precision"] == 0.5


def test_hand_computed_precision_in_two_dimensions():
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    generated = torch.tensor([[0.5, 0.5], [2.1, 0.0], [0.0, 1.5], [-3.0, -3.0]])
    # k=1: radius 1 at every corner; (2.1, 0) is 1.1 from (1, 0), (-3, -3) is 3 sqrt 2 from (0, 0).
    assert precision_recall(corners, generated, k=1)["precision"] == 0.5
    # k=3: radius sqrt 2 (the opposite corner); (2.1, 0) is now inside.
    assert precision_recall(corners, generated, k=3)["precision"] == 0.75


def test_one_outlier_sample_inflates_recall():
    real = column(0, 1, 2, 3, 10, 11, 12, 13)
    on_first_cluster = column(0.5, 1.5, 2.5, 3.5)
    assert precision_recall(real, on_first_cluster, k=1) == {"precision": 1.0, "recall": 0.5}
    # The stray sample's nearest neighbour is 36.5 away: its ball swallows the second cluster.
    with_outlier = torch.cat([on_first_cluster, column(40)])
    assert precision_recall(real, with_outlier, k=1) == {"precision": 0.8, "recall": 1.0}


def test_chunked_result_matches_a_brute_force_double_loop():
    generator = torch.Generator().manual_seed(0)
    real, generated = torch.randn(57, 3, generator=generator), 0.7 * torch.randn(43, 3, generator=generator) + 1.5
    k = 3

    def radii(points):
        return [sorted(float((p - q).norm()) for q in points)[k] for p in points]

    def coverage(centres, centre_radii, points):
        inside = [any(float((p - c).norm()) <= r for c, r in zip(centres, centre_radii)) for p in points]
        return sum(inside) / len(points)

    expected = {
        "precision": coverage(real, radii(real), generated),
        "recall": coverage(generated, radii(generated), real),
    }
    assert 0 < expected["precision"] < 1 and 0 < expected["recall"] < 1
    for chunk_size in (1, 7, 1000):
        assert precision_recall(real, generated, k=k, chunk_size=chunk_size) == pytest.approx(expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_identical_sets_score_one_and_distant_sets_zero(dtype):
    features = torch.randn(500, 16, generator=torch.Generator().manual_seed(1), dtype=dtype)
    assert precision_recall(features, features.clone()) == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(features, features + 100) == {"precision": 0.0, "recall": 0.0}


def test_dropping_half_the_modes_halves_recall_and_keeps_precision():
    real = ring_of_clusters(200, range(10), seed=0)
    half_the_modes = ring_of_clusters(400, range(5), seed=1)  # fresh samples of clusters 0-4 only
    scores = precision_recall(real, half_the_modes)
    assert scores["precision"] > 0.95
    assert 0.45 < scores["recall"] <= 0.5
    all_modes = precision_recall(real, ring_of_clusters(200, range(10), seed=2))
    assert all_modes["precision"] > 0.95 and all_modes["recall"] > 0.95


def test_bad_inputs_raise_clear_errors():
    points = torch.randn(10, 4)
    with pytest.raises(ValueError, match="widths differ: real_features has 4 columns, generated_features has 3"):
        precision_recall(points, torch.randn(10, 3))
    with pytest.raises(ValueError, match="generated_features has 3 points.*at least 4"):
        precision_recall(points, torch.randn(3, 4), k=3)
    with pytest.raises(ValueError, match="real_features has 2 points.*at least 3"):
        precision_recall(points[:2], points, k=2)
    with pytest.raises(ValueError, match=r"2-D \(N, d\)"):
        precision_recall(points[:, 0], points)
    with pytest.raises(ValueError, match="k must be at least 1"):
        precision_recall(points, points, k=0)
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        precision_recall(points, points, chunk_size=0)
    with pytest.raises(ValueError, match="floating point"):
        precision_recall(points.long(), points)
    with pytest.raises(ValueError, match="NaN"):
        precision_recall(points, torch.full((10, 4), math.nan))


@needs_classifier
def test_classifier_metrics_report_collapse_as_low_recall_and_noise_as_low_precision():
    digits = load_mnist_subset("test")
    real = real_data_metrics("subset-test", device="cpu")
    assert 0.7 < real["precision"] < 1 and 0.7 < real["recall"] < 1
    only_ones = classifier_metrics(digits.to_float()[digits.labels == 1], device="cpu", reference="subset-train")
    assert only_ones["precision"] > 0.7 and only_ones["recall"] < 0.3
    noise = torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert classifier_metrics(noise, device="cpu", reference="subset-train")["precision"] < 0.1


@needs_classifier
def test_both_sides_are_cut_to_the_same_fixed_subset(monkeypatch):
    seen = []

    def spy(real_features, generated_features):
        seen.append((real_features.clone(), generated_features.clone()))
        return precision_recall(real_features, generated_features)

    monkeypatch.setattr(metrics, "precision_recall", spy)
    monkeypatch.setattr(metrics, "MAX_PRECISION_RECALL_POINTS", 300)
    images = load_mnist_subset("test").to_float()
    first = classifier_metrics(images, device="cpu", reference="subset-train")  # 1,000 samples, 4,000 real
    second = classifier_metrics(images, device="cpu", reference="subset-train")
    assert [tuple(t.shape) for t in seen[0]] == [(300, 128), (300, 128)]
    assert all(torch.equal(a, b) for a, b in zip(seen[0], seen[1]))
    assert first["precision"] == second["precision"] and first["recall"] == second["recall"]
    classifier_metrics(images[:200], device="cpu", reference="subset-train")
    assert [len(t) for t in seen[2]] == [200, 200]  # the real side matches the smaller generated set
