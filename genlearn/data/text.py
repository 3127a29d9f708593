"""Text corpora, a character tokenizer, and random training windows for autoregressive text models."""

from __future__ import annotations

from pathlib import Path

import torch

from genlearn.data.files import DataFileError, bundled_file, how_to_fix

SHAKESPEARE_FILE = "shakespeare.txt"


def load_shakespeare() -> str:
    """About 1 MB of Shakespeare's plays (data/README.md lists which), checked against the manifest."""
    path = bundled_file(SHAKESPEARE_FILE)
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError(f"{path} is unreadable ({error}). {how_to_fix(SHAKESPEARE_FILE)}") from None


def load_text_file(path: str | Path) -> str:
    """Read a user-supplied UTF-8 corpus; DataFileError if it is missing, unreadable, empty or not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"Text file {path} does not exist (or is not a file). Check the path.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataFileError(
            f"Text file {path} is not valid UTF-8 (byte {error.start}: {error.object[error.start:error.start + 1]!r}). "
            "Re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`."
        ) from None
    except OSError as error:
        raise DataFileError(f"Text file {path} is unreadable ({error}).") from None
    if not text:
        raise DataFileError(f"Text file {path} is empty: a language model needs some text to learn from.")
    return text


class CharTokenizer:
    """Maps each character to an integer id: specials first, then the corpus's characters in sorted order.

    Specials are single characters (e.g. "." as the start/end token for names).
    """

    def __init__(self, vocab: list[str], specials: tuple[str, ...] = ()):
        if len(set(vocab)) != len(vocab) or any(len(token) != 1 for token in vocab):
            raise ValueError("vocab must be distinct single characters")
        if list(vocab[: len(specials)]) != list(specials):
            raise ValueError("specials must come first in vocab")
        self.vocab = list(vocab)
        self.specials = tuple(specials)
        self.stoi = {token: index for index, token in enumerate(self.vocab)}

    @classmethod
    def from_text(cls, text: str, specials: tuple[str, ...] = ()) -> CharTokenizer:
        specials = tuple(specials)
        return cls(list(specials) + sorted(set(text) - set(specials)), specials)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[char] for char in text]
        except KeyError:
            unseen = sorted(set(text) - set(self.stoi))
            raise ValueError(
                f"characters not in the vocabulary: {', '.join(map(repr, unseen))}. "
                "A prompt may only use characters that appear in the training corpus."
            ) from None

    def decode(self, ids) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return "".join(self.vocab[index] for index in ids)

    def state_dict(self) -> dict:
        """Plain lists of strings, so the tokenizer can live in a ``weights_only`` checkpoint."""
        return {"vocab": list(self.vocab), "specials": list(self.specials)}

    @classmethod
    def from_state_dict(cls, state: dict) -> CharTokenizer:
        return cls(list(state["vocab"]), tuple(state["specials"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and (self.vocab, self.specials) == (other.vocab, other.specials)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, specials={self.specials})"


def train_val_split(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous split: the first ``1 - val_fraction`` of the text trains, the rest validates."""
    num_train = num_train_tokens(len(ids), val_fraction)
    return ids[:num_train], ids[num_train:]


def num_train_tokens(num_tokens: int, val_fraction: float = 0.1) -> int:
    """How many of ``num_tokens`` go to the train split of ``train_val_split``."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    return int(num_tokens * (1 - val_fraction))


def random_windows(
    ids: torch.Tensor,
    batch_size: int,
    context_length: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random windows: x is (B, T) int64 and y is x shifted left by one (the next characters).

    Offsets are drawn with ``generator`` on the generator's device (``ids``'s device if None). Keep
    ``ids`` on the training device to avoid a copy per batch; ``device`` moves the result if needed.
    """
    if len(ids) < context_length + 1:
        raise ValueError(
            f"the text has {len(ids)} tokens; a window of context_length={context_length} needs at least {context_length + 1}"
        )
    offset_device = generator.device if generator is not None else ids.device
    offsets = torch.randint(len(ids) - context_length, (batch_size,), generator=generator, device=offset_device)
    positions = offsets.to(ids.device)[:, None] + torch.arange(context_length + 1, device=ids.device)
    windows = ids[positions].to(device=device or ids.device, dtype=torch.int64)
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()
