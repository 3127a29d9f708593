"""Exercises for the setup notebook: counting and averaging a labelled dataset without Python loops."""

import torch

from genlearn.exercises import Exercise

_LABELS = torch.tensor([3, 1, 3, 7, 0, 3, 1])


def class_counts(labels: torch.Tensor) -> torch.Tensor:
    return torch.bincount(labels, minlength=10)


def class_mean_images(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    sums = torch.zeros(10, *images.shape[1:], dtype=images.dtype).index_add_(0, labels, images)
    counts = class_counts(labels).clamp(min=1).to(images.dtype)
    return sums / counts.view(-1, *([1] * (images.dim() - 1)))


def _check_class_counts(candidate) -> None:
    counts = torch.as_tensor(candidate(_LABELS))
    assert counts.shape == (10,), f"expected 10 counts, got shape {tuple(counts.shape)}: count the digits 0 to 9, even absent ones"
    assert counts.tolist() == [1, 2, 0, 3, 0, 0, 0, 1, 0, 0], f"counts for {_LABELS.tolist()} should be [1, 2, 0, 3, 0, 0, 0, 1, 0, 0]"


def _check_class_mean_images(candidate) -> None:
    images = torch.rand(len(_LABELS), 1, 4, 4, generator=torch.Generator().manual_seed(0))
    means = candidate(images, _LABELS)
    assert tuple(means.shape) == (10, 1, 4, 4), f"expected shape (10, 1, 4, 4), got {tuple(means.shape)}"
    torch.testing.assert_close(means[3], images[_LABELS == 3].mean(0), msg="the mean image of class 3 is off")
    torch.testing.assert_close(means[1], images[_LABELS == 1].mean(0), msg="the mean image of class 1 is off")
    assert torch.all(means[2] == 0), "a class with no images should average to zeros, not NaN"


CLASS_COUNTS = Exercise("Exercise 1 (class counts)", _check_class_counts, class_counts)
CLASS_MEAN_IMAGES = Exercise("Exercise 2 (class mean images)", _check_class_mean_images, class_mean_images)
