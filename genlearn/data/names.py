"""32,000 US first names for makemore-style character models, with one "." token that starts and ends a name."""

from __future__ import annotations

import re

import torch

from genlearn.data.files import DataFileError, bundled_file, how_to_fix
from genlearn.data.text import CharTokenizer

NAMES_FILE = "names.txt"
BOUNDARY = "."


def load_names() -> list[str]:
    """The bundled names: lower-case a-z, one per line, already shuffled (data/README.md has the rule)."""
    path = bundled_file(NAMES_FILE)
    try:
        names = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError(f"{path} is unreadable ({error}). {how_to_fix(NAMES_FILE)}") from None
    bad = next((name for name in names if not re.fullmatch(r"[a-z]+", name)), None)
    if bad is not None:
        raise DataFileError(f"{path} has a line that is not a lower-case a-z name: {bad!r}. {how_to_fix(NAMES_FILE)}")
    return names


def split_names(
    names: list[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> tuple[list[str], list[str], list[str]]:
    """Train / val / test slices in order (names.txt is already shuffled, so this is deterministic)."""
    num_train, num_val, _ = split_sizes(len(names), fractions)
    return names[:num_train], names[num_train : num_train + num_val], names[num_train + num_val :]


def split_sizes(num_names: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> tuple[int, int, int]:
    """How many of ``num_names`` names ``split_names`` puts in train, val and test."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    num_train, num_val = int(num_names * fractions[0]), int(num_names * fractions[1])
    return num_train, num_val, num_names - num_train - num_val


def names_tokenizer(names: list[str]) -> CharTokenizer:
    """Characters of ``names`` with BOUNDARY (".") as id 0: the single start and end token."""
    if any(BOUNDARY in name for name in names):
        raise ValueError(f"names may not contain the boundary token {BOUNDARY!r}")
    return CharTokenizer.from_text("".join(names), specials=(BOUNDARY,))


def encode_names(
    names: list[str], tokenizer: CharTokenizer, max_length: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode names as next-character pairs (x, y), both int64 (N, L + 1), L = max_length or the longest name.

    For "emma": x = [., e, m, m, a, <pad>...] and y = [e, m, m, a, ., -1...]. Each position of x predicts
    the same position of y, so the end token "." is a target exactly once per name. Inputs are padded
    with "." (id 0) and targets with -1, which ``F.cross_entropy(..., ignore_index=-1)`` skips.
    """
    boundary = tokenizer.stoi[BOUNDARY]
    length = max_length if max_length is not None else max((len(name) for name in names), default=0)
    too_long = [name for name in names if len(name) > length]
    if too_long:
        raise ValueError(f"{len(too_long)} names are longer than max_length={length}, e.g. {too_long[0]!r}")
    x = torch.full((len(names), length + 1), boundary, dtype=torch.int64)
    y = torch.full((len(names), length + 1), -1, dtype=torch.int64)
    # All names at once (a row at a time takes seconds for 32,000 names): each character's row and column.
    ids = torch.tensor(tokenizer.encode("".join(names)), dtype=torch.int64)
    lengths = torch.tensor([len(name) for name in names], dtype=torch.int64)
    rows = torch.repeat_interleave(torch.arange(len(names)), lengths)
    columns = torch.arange(len(ids)) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
    x[rows, columns + 1] = ids
    y[rows, columns] = ids
    y[torch.arange(len(names)), lengths] = boundary
    return x, y
