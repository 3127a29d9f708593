"""A small, fast MNIST CNN whose penultimate features and class probabilities score generated digits."""

from __future__ import annotations

import torch
from torch import nn

from genlearn.checkpoint import CheckpointError, load_checkpoint, load_module_state
from genlearn.data.files import data_dir

MODEL_NAME = "mnist_classifier"
FEATURE_DIM = 128


def classifier_path():
    return data_dir() / "pretrained" / f"{MODEL_NAME}.pt"


class MNISTClassifier(nn.Module):
    """Two conv blocks (28 -> 14 -> 7) and a 128-unit hidden layer; ``features`` is that layer (used by FID)."""

    def __init__(self, width: int = 32, feature_dim: int = FEATURE_DIM, dropout: float = 0.3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) images in [0, 1] to (N, feature_dim) features."""
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (N, 10)."""
        return self.head(self.dropout(self.features(images)))


def load_classifier(device: torch.device | str = "cpu") -> MNISTClassifier:
    """The shipped classifier on ``device``, in eval mode."""
    path = classifier_path()
    if not path.is_file():
        raise CheckpointError(
            f"no MNIST classifier at {path}; restore it with `git checkout -- data/pretrained/{MODEL_NAME}.pt` "
            "or train it with `python -m genlearn.evaluation.train_classifier` (about two minutes on a CPU)."
        )
    checkpoint = load_checkpoint(path, expected_model=MODEL_NAME, map_location=device)
    model = MNISTClassifier(**checkpoint.config["model"])
    load_module_state(model, checkpoint.state["module.classifier"], source=str(checkpoint.path))
    return model.to(device).eval()
