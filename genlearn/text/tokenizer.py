"""What a text corpus asks of its tokenizer, and the two the course has: characters and byte-level BPE.

``CharTokenizer`` (``genlearn.data``) gives each character of its text an id; ``BytePairTokenizer``
(``genlearn.text.bpe``) starts from the 256 bytes and learns merges. A corpus, its checkpoints and its
evaluation only use the ``Tokenizer`` protocol, so a model trains on either without knowing which.
"""

from __future__ import annotations

from typing import Protocol

from genlearn.data import CharTokenizer
from genlearn.text.bpe import BytePairTokenizer


class Tokenizer(Protocol):
    vocab: list  # what each id stands for: a character (str) or a byte string (bytes)

    @property
    def vocab_size(self) -> int:
        """How many ids there are: the size of a language model's embedding table and output layer."""

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``; ValueError names what the tokenizer cannot encode."""

    def decode(self, ids) -> str:
        """The text of a list or 1-D tensor of ids."""

    def state_dict(self) -> dict:
        """Plain lists and strings (a ``weights_only`` checkpoint holds them); ``from_state_dict`` rebuilds it."""


TOKENIZERS: dict[str, type] = {"char": CharTokenizer, "bpe": BytePairTokenizer}  # by the config's ``tokenizer``
TOKEN_UNITS = {"char": "characters", "bpe": "BPE tokens"}  # what a window's length counts


def tokenizer_kind(tokenizer: Tokenizer) -> str:
    """The config's name for ``tokenizer``'s class: "char" or "bpe"."""
    return next(kind for kind, cls in TOKENIZERS.items() if isinstance(tokenizer, cls))


def token_bytes(tokenizer: Tokenizer) -> list[bytes]:
    """The UTF-8 bytes each id stands for, so evaluation can score any tokenizer per byte."""
    return [token.encode("utf-8") if isinstance(token, str) else token for token in tokenizer.vocab]


def unencodable_characters(tokenizer: Tokenizer, text: str) -> list[str]:
    """The distinct characters of ``text`` that ``tokenizer`` cannot encode, in order (never any for BPE)."""
    unseen = []
    for character in sorted(set(text)):
        try:
            tokenizer.encode(character)
        except ValueError:
            unseen.append(character)
    return unseen
