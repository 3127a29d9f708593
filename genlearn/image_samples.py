"""What the families that draw 28x28 MNIST digits share: reading a user's MNIST, and writing an image grid.

A mixin for ``Trainer`` subclasses (list it first, so its methods fill the protocol's abstract ones).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import torch

from genlearn.data import load_mnist
from genlearn.data.mnist import RAW_FILES, has_full_mnist


def save_image_grid(images: torch.Tensor, path: Path) -> None:
    """(N, 1, H, W) images in [0, 1] as one square-ish PNG grid."""
    from torchvision.utils import save_image  # here, not at the top: torchvision costs every import 2 s of torch._dynamo

    save_image(images.detach().float().cpu(), path, nrow=math.ceil(math.sqrt(len(images))), padding=2, pad_value=0.5)


class MNISTImages:
    unit: ClassVar[str] = "images"
    mnist_splits: ClassVar[tuple[str, ...]] = ("train",)  # the splits ``data`` holds, in order
    default_num_samples = 64
    samples_file = "samples.png"

    @classmethod
    def load_data(cls, path: Path):
        """The splits in ``mnist_splits`` from the MNIST under ``path``: one ``ImageData``, or a tuple of them."""
        if not has_full_mnist(path):
            raise ValueError(f"{path} holds no MNIST: expected {Path(path) / 'MNIST' / 'raw'} with {', '.join(RAW_FILES)}.")
        splits = tuple(load_mnist(split, root=path, verbose=False) for split in cls.mnist_splits)
        return splits[0] if len(splits) == 1 else splits

    def items_per_step(self) -> float:
        return float(self.config.batch_size)

    def save_samples(self, samples: torch.Tensor, path: Path) -> None:
        save_image_grid(samples, path)
