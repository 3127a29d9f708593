"""Datasets for the course: MNIST, 2-D toys, Shakespeare and names, plus tokenizers and in-memory batching.

Every bundled file is checked against data/manifest.json before use; a missing or damaged file is a
DataFileError that says how to restore it, never a silent fallback.
"""

from genlearn.data.files import DataFileError, bundled_file
from genlearn.data.in_memory import InMemoryBatches
from genlearn.data.mnist import ImageData, dynamic_binarize, load_mnist, load_mnist_subset
from genlearn.data.names import BOUNDARY, encode_names, load_names, names_tokenizer, split_names
from genlearn.data.text import CharTokenizer, load_shakespeare, load_text_file, random_windows, train_val_split
from genlearn.data.toy2d import GaussianMixture2D, grid_of_gaussians, mode_coverage, ring_of_gaussians, two_moons

__all__ = [
    "BOUNDARY",
    "CharTokenizer",
    "DataFileError",
    "GaussianMixture2D",
    "ImageData",
    "InMemoryBatches",
    "bundled_file",
    "dynamic_binarize",
    "encode_names",
    "grid_of_gaussians",
    "load_mnist",
    "load_mnist_subset",
    "load_names",
    "load_shakespeare",
    "load_text_file",
    "mode_coverage",
    "names_tokenizer",
    "random_windows",
    "ring_of_gaussians",
    "split_names",
    "train_val_split",
    "two_moons",
]
