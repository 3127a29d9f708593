"""The MNIST evaluation classifier and its metrics: accurate enough to mean something, and sane on known inputs."""

import math

import pytest
import torch

from genlearn.data import load_mnist_subset
from genlearn.evaluation import (
    class_histogram,
    classifier_metrics,
    frechet_distance,
    inception_score,
    load_classifier,
    real_data_metrics,
)
from genlearn.evaluation.classifier import classifier_path
from genlearn.evaluation.train_classifier import random_shift

needs_classifier = pytest.mark.skipif(not classifier_path().is_file(), reason="data/pretrained/mnist_classifier.pt absent")


@pytest.fixture(scope="module")
def subset_test():
    return load_mnist_subset("test")


@needs_classifier
def test_shipped_classifier_is_accurate_on_held_out_subset(subset_test):
    # The bundled subset was held out of the classifier's training (it comes from MNIST's train split).
    model = load_classifier("cpu")
    assert not model.training
    with torch.no_grad():
        predictions = model(subset_test.to_float()).argmax(1)
    accuracy = (predictions == subset_test.labels).float().mean().item()
    assert accuracy >= 0.985, f"classifier accuracy {accuracy:.4f} is too low for the metrics to mean anything"


@needs_classifier
def test_real_digits_score_near_the_ceiling():
    metrics = real_data_metrics("subset-test", device="cpu")
    assert metrics["inception_score"] > 9.5
    assert metrics["classes_present"] == 10 and metrics["max_min_ratio"] < 1.2
    assert sum(metrics["class_histogram"]) == 1000
    assert 0 < metrics["fid"] < 30  # two disjoint sets of real digits (1,000 vs 4,000)


@needs_classifier
def test_a_single_repeated_class_scores_inception_one_and_infinite_ratio(subset_test):
    ones = subset_test.to_float()[subset_test.labels == 1]
    metrics = classifier_metrics(ones, device="cpu", reference="subset-test")
    assert metrics["inception_score"] < 1.1
    assert metrics["max_min_ratio"] == math.inf and metrics["classes_present"] < 10
    assert metrics["fid"] > 10 * real_data_metrics("subset-test", device="cpu")["fid"]


@needs_classifier
def test_metrics_reject_images_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        classifier_metrics(torch.full((4, 1, 28, 28), -1.0), device="cpu", reference="subset-test")
    with pytest.raises(ValueError, match="shape"):
        classifier_metrics(torch.zeros(4, 28, 28), device="cpu", reference="subset-test")


def test_inception_score_extremes():
    confident_uniform = torch.eye(10).repeat(5, 1)
    assert inception_score(confident_uniform) == pytest.approx(10.0)
    assert inception_score(torch.full((20, 10), 0.1)) == pytest.approx(1.0)
    one_class = torch.zeros(20, 10)
    one_class[:, 3] = 1
    assert inception_score(one_class) == pytest.approx(1.0)
    assert class_histogram(one_class) == [0, 0, 0, 20, 0, 0, 0, 0, 0, 0]


def test_frechet_distance_matches_closed_form():
    # Diagonal covariances: d = |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    mean_a, mean_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0.0
    assert frechet_distance(mean_a, torch.diag(var_a), mean_b, torch.diag(var_b)) == pytest.approx(expected)
    cov = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    assert frechet_distance(torch.zeros(2), cov, torch.zeros(2), cov) == pytest.approx(0.0, abs=1e-9)


def test_random_shift_keeps_shape_and_can_be_identity():
    images = torch.rand(8, 1, 28, 28)
    assert torch.equal(random_shift(images, 0, torch.Generator()), images)
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    assert (shifted.sum((1, 2, 3)) <= images.sum((1, 2, 3)) + 1e-4).all()  # pixels only move out, never in
