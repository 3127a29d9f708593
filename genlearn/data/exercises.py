"""Exercises for the setup notebook: per-class statistics and a class-balanced split of a labelled dataset.

Each pairs a checker with a reference solution (see ``genlearn.exercises``). The checkers draw fresh labels
and images at every check; the split is also run on the bundled MNIST subset's own labels.
"""

from __future__ import annotations

import torch

from genlearn.data.mnist import load_mnist_subset
from genlearn.exercises import Exercise
from genlearn.exercises.inputs import as_tensor, integer, trials

# --- Exercise 1: class-mean images --------------------------------------------------------------------


def class_mean_images(images, labels, num_classes):
    sums = torch.zeros(num_classes, *images.shape[1:], dtype=images.dtype).index_add_(0, labels, images)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).to(images.dtype)  # an empty class: 0 / 1
    return sums / counts.view(-1, *([1] * (images.dim() - 1)))


def _random_labelled_images(
    generator: torch.Generator, last_absent: bool
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Images of a random shape, labels with one class absent (the last one if asked) and one of a single image."""
    num_classes = integer(generator, 3, 12)
    num_images = integer(generator, 2 * num_classes, 6 * num_classes)
    classes = torch.randperm(num_classes, generator=generator).tolist()
    if last_absent:  # bincount without minlength, or the largest label + 1, misses an empty last class
        classes.remove(num_classes - 1)
        classes.insert(0, num_classes - 1)
    absent, single, *others = classes
    labels = torch.tensor(others)[torch.randint(0, len(others), (num_images,), generator=generator)]
    labels[integer(generator, 0, num_images - 1)] = single
    shape = (integer(generator, 1, 3), integer(generator, 2, 6), integer(generator, 2, 6))
    return torch.rand(num_images, *shape, generator=generator, dtype=torch.float64), labels, num_classes, absent


def _check_class_mean_images(candidate) -> None:
    for trial, generator in enumerate(trials()):
        images, labels, num_classes, absent = _random_labelled_images(generator, last_absent=trial == 0)
        originals = images.clone(), labels.clone()
        means = as_tensor(candidate(images, labels, num_classes), "the class means").to(images.dtype)
        assert torch.equal(images, originals[0]) and torch.equal(labels, originals[1]), (
            "your function changed its inputs: sum into a new tensor"
        )
        assert means.shape == (num_classes, *images.shape[1:]), (
            "return one mean image per class, shape (num_classes, *image_shape): use num_classes (not 10, and not "
            "the largest label + 1: the last class may have no images)"
        )
        assert torch.isfinite(means).all(), (
            "a class with no images must average to zeros, not NaN: divide by max(count, 1)"
        )
        assert torch.all(means[absent] == 0), "a class with no images must average to zeros"
        for label in labels.unique().tolist():
            members = images[labels == label]
            if torch.allclose(means[label], members.sum(0)) and len(members) > 1:
                raise AssertionError("that is each class's sum: divide it by the number of images in the class")
            assert torch.allclose(means[label], members.mean(0), atol=1e-6), (
                "a class's mean image is off: sum each class's images and divide by that class's count"
            )
        shuffle = torch.randperm(len(labels), generator=generator)
        shuffled = as_tensor(candidate(images[shuffle], labels[shuffle], num_classes), "the class means").to(
            images.dtype
        )
        assert torch.allclose(shuffled, means, atol=1e-6), "the means must not depend on the order of the images"


CLASS_MEAN_IMAGES = Exercise("Exercise 1 (class-mean images)", _check_class_mean_images, class_mean_images)

# --- Exercise 2 (build): a class-balanced validation split ------------------------------------------------


def balanced_split(labels, per_class, generator):
    validation = []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        if len(members) < per_class:
            raise ValueError(f"class {int(label)} has {len(members)} examples, fewer than per_class={per_class}")
        validation.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    validation = torch.cat(validation)
    in_validation = torch.zeros(len(labels), dtype=torch.bool)
    in_validation[validation] = True
    return (~in_validation).nonzero().flatten(), validation


def _split(candidate, labels: torch.Tensor, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    result = candidate(labels.clone(), per_class, torch.Generator().manual_seed(seed))
    assert isinstance(result, tuple) and len(result) == 2, "return two tensors: (train_indices, val_indices)"
    train, validation = (as_tensor(part, "indices") for part in result)
    assert train.ndim == 1 and validation.ndim == 1, "return 1-D tensors of indices"
    assert not train.is_floating_point() and not validation.is_floating_point(), (
        "indices must be integers (torch.long), so that images[indices] works"
    )
    return train, validation


def _check_partition(labels: torch.Tensor, per_class: int, train: torch.Tensor, validation: torch.Tensor) -> None:
    every_index = torch.cat([train, validation]).sort().values
    assert torch.equal(every_index, torch.arange(len(labels))), (
        "every index must appear exactly once, in train or in validation (none twice, none missing)"
    )
    counts = torch.bincount(labels[validation], minlength=int(labels.max()) + 1)
    present = torch.bincount(labels) > 0
    assert torch.all(counts[present] == per_class), "validation must hold exactly per_class examples of every class"


def _check_balanced_split(candidate) -> None:
    subset_labels = load_mnist_subset("train").labels  # the bundled digits: a real split of the library's data
    for generator in trials(3):
        per_class = integer(generator, 1, 60)
        seed = integer(generator, 0, 2**30)
        train, validation = _split(candidate, subset_labels, per_class, seed)
        _check_partition(subset_labels, per_class, train, validation)
        again = _split(candidate, subset_labels, per_class, seed)[1]
        assert torch.equal(again.sort().values, validation.sort().values), (
            "the same generator seed must give the same split: draw every random number from `generator`"
        )
        other = _split(candidate, subset_labels, per_class, seed + 1)[1]
        assert not torch.equal(other.sort().values, validation.sort().values), (
            "a different generator seed should give a different split: choose the examples at random"
        )

        # Unbalanced synthetic labels, with a class that has exactly per_class examples (all go to validation).
        num_classes = integer(generator, 2, 6)
        sizes = [per_class + integer(generator, 0, 3 * per_class) for _ in range(num_classes)]
        sizes[integer(generator, 0, num_classes - 1)] = per_class
        labels = torch.repeat_interleave(torch.arange(num_classes), torch.tensor(sizes))
        labels = labels[torch.randperm(len(labels), generator=generator)]
        _check_partition(labels, per_class, *_split(candidate, labels, per_class, seed))
        try:
            candidate(labels, max(sizes) + 1, torch.Generator().manual_seed(seed))
        except ValueError:
            pass
        else:
            raise AssertionError("when a class has fewer than per_class examples, raise a ValueError that says so")

    # Every example of a class must be equally likely to be held out: count how often each one is.
    labels = torch.tensor([0, 1, 0, 0, 1, 0, 2, 1, 0, 2])
    held_out = torch.zeros(len(labels))
    num_splits = 300
    for generator in trials(num_splits):
        held_out[_split(candidate, labels, 2, integer(generator, 0, 2**30))[1]] += 1
    expected = 2 / torch.bincount(labels)[labels]
    assert torch.all((held_out / num_splits - expected).abs() < 0.15), (
        "some examples are held out more often than others of their class: pick each class's examples uniformly "
        "at random (a random permutation of the class), not the first or last ones"
    )


BALANCED_SPLIT = Exercise(
    "Exercise 2 (build: a class-balanced validation split)", _check_balanced_split, balanced_split, kind="build"
)
