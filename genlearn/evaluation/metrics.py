"""Scores for generated MNIST digits, from the evaluation classifier's features and class probabilities.

- FID (MNIST classifier): the Fréchet distance between Gaussians fitted to the classifier's
  penultimate features of real and generated digits (the FID recipe with an MNIST net in place of Inception);
- classifier inception score: exp E_x KL(p(y|x) || p(y)), 1 (one class, or no confident class) to 10;
- class histogram of the predicted labels, whose max/min ratio exposes mode collapse;
- improved precision and recall on the same features (see ``precision_recall``): fidelity and coverage apart.
"""

from __future__ import annotations

import math

import torch

from genlearn.data import ImageData, load_mnist, load_mnist_subset
from genlearn.device import pick_device
from genlearn.evaluation.classifier import MNISTClassifier, load_classifier
from genlearn.evaluation.precision_recall import precision_recall

NUM_CLASSES = 10
# "train"/"test": load_mnist's split (full MNIST when on disk, else the bundled subset);
# "subset-train"/"subset-test": always the bundled subset.
REFERENCES = ("train", "test", "subset-train", "subset-test")
# Precision and recall cost O(N^2) distances: 10,000 a side takes seconds on a CPU, 60,000 would take minutes.
MAX_PRECISION_RECALL_POINTS = 10_000

_classifiers: dict[str, MNISTClassifier] = {}
_real_outputs: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


def _device(device) -> torch.device:
    if device is None:
        return pick_device()
    return torch.device(device)


def _classifier(device: torch.device) -> MNISTClassifier:
    if str(device) not in _classifiers:
        _classifiers[str(device)] = load_classifier(device)
    return _classifiers[str(device)]


@torch.no_grad()
def classifier_outputs(
    images: torch.Tensor, classifier: MNISTClassifier, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities) of (N, 1, 28, 28) images in [0, 1], as float64 CPU tensors."""
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"expected images of shape (N, 1, 28, 28), got {tuple(images.shape)}")
    if images.min() < -1e-3 or images.max() > 1 + 1e-3:
        raise ValueError("expected pixel values in [0, 1]; map tanh outputs with (x + 1) / 2 first")
    device = next(classifier.parameters()).device
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device, torch.float32)
        hidden = classifier.features(batch)
        features.append(hidden.double().cpu())
        probabilities.append(classifier.head(hidden).double().softmax(dim=1).cpu())
    return torch.cat(features), torch.cat(probabilities)


def inception_score(probabilities: torch.Tensor) -> float:
    """exp of the mean KL divergence between p(y|x) and the marginal p(y) = mean_x p(y|x)."""
    marginal = probabilities.mean(dim=0, keepdim=True)
    kl = (probabilities * (probabilities.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(dim=1)
    return float(kl.mean().exp())


def class_histogram(probabilities: torch.Tensor) -> list[int]:
    """How many images the classifier assigns to each digit."""
    return torch.bincount(probabilities.argmax(dim=1), minlength=NUM_CLASSES).tolist()


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of (N, d) features."""
    features = features.double()
    return features.mean(dim=0), torch.cov(features.T)


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor, cov_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2), the Fréchet distance of two Gaussians."""
    root_a = _sqrtm_psd(cov_a.double())
    middle = root_a @ cov_b.double() @ root_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    mean_term = (mean_a.double() - mean_b.double()).pow(2).sum()
    return float(mean_term + cov_a.double().trace() + cov_b.double().trace() - 2 * trace_sqrt)


def _real_images(reference: str) -> ImageData:
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if reference.startswith("subset-"):
        return load_mnist_subset(reference.removeprefix("subset-"))
    return load_mnist(reference, verbose=False)


def describe_reference(reference: str = "test") -> str:
    """Which real digits ``reference`` means on this machine: the FID changes meaning with them."""
    data = _real_images(reference)
    return f"{len(data):,} MNIST {reference.removeprefix('subset-')} digits from the {data.source}"


def _real_outputs_for(reference: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Classifier features and probabilities of a real split, computed once per process."""
    data = _real_images(reference)
    key = (reference, data.source)
    if key not in _real_outputs:
        _real_outputs[key] = classifier_outputs(data.to_float(), _classifier(device))
    return _real_outputs[key]


def reference_statistics(reference: str = "test", device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature mean and covariance of the real split ``reference`` (cached per process)."""
    features, _ = _real_outputs_for(reference, _device(device))
    return gaussian_statistics(features)


def _subsample(features: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` rows of ``features``, the same rows on every call."""
    if count == len(features):
        return features
    return features[torch.randperm(len(features), generator=torch.Generator().manual_seed(0))[:count]]


def _precision_recall(features: torch.Tensor, reference: str, device: torch.device) -> dict[str, float]:
    real_features, _ = _real_outputs_for(reference, device)
    # Both numbers shift with the set sizes (fewer points, larger balls), so both sides get the same count.
    count = min(len(features), len(real_features), MAX_PRECISION_RECALL_POINTS)
    # float32: faster than float64 on a CPU, same scores on MNIST (test against train), and MPS has no float64.
    real_features, features = (_subsample(f, count).to(device, torch.float32) for f in (real_features, features))
    return precision_recall(real_features, features)


def _scores(features: torch.Tensor, probabilities: torch.Tensor, reference: str, device: torch.device) -> dict:
    histogram = class_histogram(probabilities)
    smallest = min(histogram)
    return {
        "fid": frechet_distance(*gaussian_statistics(features), *reference_statistics(reference, device)),
        **_precision_recall(features, reference, device),
        "inception_score": inception_score(probabilities),
        "class_histogram": histogram,
        "max_min_ratio": max(histogram) / smallest if smallest > 0 else math.inf,
        "classes_present": sum(count > 0 for count in histogram),
    }


def classifier_metrics(images: torch.Tensor, device=None, reference: str = "test") -> dict:
    """FID (MNIST classifier), precision and recall against the real split ``reference``; IS and class histogram.

    ``images``: (N, 1, 28, 28) floats in [0, 1]; use several thousand for a stable FID (it is biased
    upwards at small N). Returns ``fid``, ``precision``, ``recall``, ``inception_score``, ``class_histogram``
    (10 counts), ``max_min_ratio`` (inf when a class is missing) and ``classes_present``.

    Precision (the share of samples that land among real digits: fidelity) and recall (the share of real
    digits the samples reach: coverage) use k = 3 neighbours on the classifier's features. They are computed
    on equal counts: min(N, size of ``reference``, 10,000) points a side, a fixed random subset of the larger
    side (full MNIST train has 60,000), so compare models at equal N. See ``genlearn.evaluation.precision_recall``.
    """
    device = _device(device)
    features, probabilities = classifier_outputs(images, _classifier(device))
    return _scores(features, probabilities, reference, device)


def real_data_metrics(split: str = "test", device=None, reference: str | None = None) -> dict:
    """The same scores for real digits of ``split``: the ceiling for a generator.

    The FID is taken against the other split (``reference``, by default train for test and vice versa),
    so it measures the distance between two disjoint sets of real digits, not zero by construction;
    precision and recall, likewise, compare one real set with another and fall short of 1.
    """
    device = _device(device)
    if reference is None:
        other = {"train": "test", "test": "train", "subset-train": "subset-test", "subset-test": "subset-train"}
        reference = other[split]
    features, probabilities = _real_outputs_for(split, device)
    return _scores(features, probabilities, reference, device)
