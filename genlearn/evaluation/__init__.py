"""Scoring generated MNIST digits with a small MNIST classifier, shared by the GAN and VAE lessons and the CLI.

- ``classifier_metrics(images)``: FID (MNIST classifier), precision and recall, classifier inception score
  and class histogram;
- ``precision_recall(real_features, generated_features)``: improved precision and recall of any two feature sets;
- ``real_data_metrics(split)``: the same scores for real digits, the ceiling a model aims at;
- ``load_classifier(device)``: the shipped classifier (``data/pretrained/mnist_classifier.pt``),
  trained by ``python -m genlearn.evaluation.train_classifier``.
"""

from genlearn.evaluation.classifier import MNISTClassifier, load_classifier
from genlearn.evaluation.metrics import (
    class_histogram,
    classifier_metrics,
    classifier_outputs,
    describe_reference,
    frechet_distance,
    inception_score,
    real_data_metrics,
    reference_statistics,
)
from genlearn.evaluation.precision_recall import precision_recall

__all__ = [
    "MNISTClassifier",
    "class_histogram",
    "classifier_metrics",
    "classifier_outputs",
    "describe_reference",
    "frechet_distance",
    "inception_score",
    "load_classifier",
    "precision_recall",
    "real_data_metrics",
    "reference_statistics",
]
