"""The two kinds of text the language models learn from, each a type chosen once, when the data loads.

- ``NamesCorpus``: one name per line. Each name is its own sequence, wrapped in the boundary token "."
  (it starts and ends every name); batches are whole names, padded; splits are 80/10/10 train/val/test.
- ``StreamCorpus``: a running text (Shakespeare). Batches are random windows of the token stream;
  splits are 90/10 train/val.

A trainer asks its corpus how to batch, score, prompt and print; it never asks which kind it has.
A running text is tokenized by characters or by byte-level BPE (``genlearn.text.tokenizer``), whose merges
are learned on the train split only; names always by characters. A checkpoint keeps ``Corpus.state_dict()``
(the tokenizer, not the text), so a model loaded with ``restore_corpus`` samples without reading its text;
the splits are encoded, by that tokenizer, when first needed.
"""

from __future__ import annotations

import abc
import functools
import hashlib
from collections.abc import Callable
from typing import ClassVar

import torch

from genlearn.data import (
    BOUNDARY,
    CharTokenizer,
    InMemoryBatches,
    encode_names,
    load_names,
    load_shakespeare,
    names_tokenizer,
    random_windows,
    split_names,
)
from genlearn.data.names import split_sizes
from genlearn.data.text import num_train_tokens
from genlearn.text.bpe import BytePairTokenizer
from genlearn.text.evaluation import sequential_windows
from genlearn.text.tokenizer import (
    TOKEN_UNITS,
    TOKENIZERS,
    Tokenizer,
    token_bytes,
    tokenizer_kind,
    unencodable_characters,
)

DATASETS = ("names", "text")
BPE_VOCAB_SIZE = 512  # the 256 bytes and 256 merges
BPE_TRAININGS_KEPT = 2  # trained BPE tokenizers kept per process: a notebook builds many trainers on one text
MIN_NAMES = 10
# A longer line is not a name; every name is padded to the longest, so one long line would cost memory per name.
MAX_NAME_LENGTH = 64
VAL_FRACTION = 0.1  # of a running text
MAX_VOCAB_SHOWN = 100  # characters listed when a prompt uses others

Splits = dict[str, "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"]


def fingerprint(text: str) -> str:
    """The sha256 of the text a corpus was built from, so a checkpoint can tell whether its text changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Corpus(abc.ABC):
    """A tokenized corpus: its tokenizer, its splits, and how a language model reads and writes it."""

    kind: ClassVar[str]  # the config's ``dataset``
    default_num_samples: ClassVar[int]
    sample_separator: ClassVar[str]  # between samples in a file
    size_fields: ClassVar[tuple[str, ...]]  # the sizes a trainer checks the corpus by, without its text

    def __init__(self, tokenizer: Tokenizer, source: str, text_sha256: str, splits: Splits | Callable[[], Splits]):
        """``splits``: the encoded splits ("train" first), or a function that makes them when first needed."""
        self.tokenizer = tokenizer
        self.source = source  # where the text came from, for ``evaluate()``'s "data"
        self.text_sha256 = text_sha256
        self._splits = splits

    @property
    def splits(self) -> Splits:
        if callable(self._splits):
            self._splits = self._splits()
        return self._splits

    def state_dict(self) -> dict:
        """Strings, lists and ints (a ``weights_only`` checkpoint holds them): what sampling needs, without the text."""
        sizes = {name: getattr(self, name) for name in self.size_fields}
        return {
            "kind": self.kind, "tokenizer_kind": tokenizer_kind(self.tokenizer), "tokenizer": self.tokenizer.state_dict(),
            "source": self.source, "text_sha256": self.text_sha256, **sizes,
        }

    @functools.cached_property
    def token_bytes(self) -> list[bytes]:
        """The UTF-8 bytes each token id stands for: what evaluation counts bits per byte with."""
        return token_bytes(self.tokenizer)

    @abc.abstractmethod
    def batches(self, batch_size: int, window_length: int, device: torch.device, seed: int) -> TrainingBatches:
        """Training batches, (inputs, targets) on ``device``, drawn from generators seeded with ``seed``."""

    @abc.abstractmethod
    def split(self, name: str, window_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) covering every target of split ``name`` exactly once."""

    @abc.abstractmethod
    def check_fits(self, batch_size: int, window_length: int, fixed_context: bool) -> None:
        """ValueError, saying the minimum, if batches of ``batch_size`` windows of ``window_length`` cannot be drawn.

        ``fixed_context``: the model cannot read past ``window_length`` (a GPT's position table).
        """

    @abc.abstractmethod
    def tokens_per_batch(self, batch_size: int, window_length: int) -> float:
        """Targets predicted per training batch, padding excluded."""

    @abc.abstractmethod
    def default_prompt(self) -> str:
        """The text generation starts from when the caller gives no prompt."""

    def sample_prompt(self, prompt: str | None) -> str:
        """The text generation starts from; ValueError names any character the model never saw."""
        prompt = prompt or self.default_prompt()
        unseen = unencodable_characters(self.tokenizer, prompt)
        if not unseen:
            return prompt
        listed = f"{', '.join(map(repr, unseen[:10]))}{', ...' if len(unseen) > 10 else ''}"
        if tokenizer_kind(self.tokenizer) == "bpe":  # bytes encode every character but a lone surrogate
            raise ValueError(f"the prompt has characters without UTF-8 bytes (lone surrogates): {listed}; use UTF-8.")
        vocab = "".join(self.tokenizer.vocab)
        shown = repr(vocab[:MAX_VOCAB_SHOWN]) + ("..." if len(vocab) > MAX_VOCAB_SHOWN else "")
        raise ValueError(
            f"the prompt has characters not in the vocabulary (the model never saw them in training): {listed}; "
            f"use only the {len(vocab)} characters of its vocabulary: {shown}."
        )

    @abc.abstractmethod
    def default_sample_length(self) -> int:
        """Tokens to generate per sample when not told."""

    @abc.abstractmethod
    def finish_sample(self, text: str) -> str:
        """A generated string, as the student should read it."""

    def describe(self, splits: list[str]) -> str:
        return f"the {' and '.join(splits)} split{'s' if len(splits) > 1 else ''} of {self.source}"


class TrainingBatches(abc.ABC):
    @abc.abstractmethod
    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]: ...

    @abc.abstractmethod
    def state_dict(self) -> dict: ...

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None: ...


class NamesCorpus(Corpus):
    kind = "names"
    default_num_samples = 10
    sample_separator = "\n"
    size_fields = ("num_names", "sequence_length")

    def __init__(
        self, tokenizer: CharTokenizer, source: str, text_sha256: str, splits, *, num_names: int, sequence_length: int
    ):
        if not isinstance(tokenizer, CharTokenizer) or tokenizer.specials != (BOUNDARY,):
            raise ValueError(f"a names vocabulary is of characters, with one special token, the boundary {BOUNDARY!r}")
        if not 1 < sequence_length <= MAX_NAME_LENGTH + 1:
            raise ValueError(f"a name takes 2 to {MAX_NAME_LENGTH + 1} tokens, not {sequence_length}")
        super().__init__(tokenizer, source, text_sha256, splits)
        self.num_names = num_names
        self.sequence_length = sequence_length  # tokens per encoded name: the longest name plus its boundary token

    @classmethod
    def from_names(cls, names: list[str], source: str, tokenizer: CharTokenizer | None = None) -> NamesCorpus:
        """``tokenizer``: the names' own characters and the boundary when None, else one made for these names."""
        if len(names) < MIN_NAMES:
            raise ValueError(f"a names corpus needs at least {MIN_NAMES} non-empty lines (one name each), got {len(names)}")
        longest = max(names, key=len)
        if len(longest) > MAX_NAME_LENGTH:
            raise ValueError(
                f"line {names.index(longest) + 1:,} of the names has {len(longest):,} characters; a names corpus holds "
                f"one name per line, of at most {MAX_NAME_LENGTH} characters (for running text, train the gpt model)"
            )
        tokenizer = names_tokenizer(names) if tokenizer is None else tokenizer
        splits = {
            name: encode_names(part, tokenizer, len(longest))
            for name, part in zip(("train", "val", "test"), split_names(names))
        }
        text_sha256 = fingerprint("\n".join(names))
        return cls(tokenizer, source, text_sha256, splits, num_names=len(names), sequence_length=len(longest) + 1)

    def batches(self, batch_size: int, window_length: int, device: torch.device, seed: int) -> NameBatches:
        return NameBatches(InMemoryBatches(self.splits["train"], batch_size, device, seed=seed))

    def split(self, name: str, window_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.splits[name]

    def check_fits(self, batch_size: int, window_length: int, fixed_context: bool) -> None:
        if split_sizes(self.num_names)[0] < batch_size:
            minimum = self.num_names
            while split_sizes(minimum)[0] < batch_size:
                minimum += 1
            raise ValueError(
                f"{self.source} is too small for batches of {batch_size} names: it needs at least {minimum:,} names "
                f"(80% of them train)"
            )
        if fixed_context and self.sequence_length > window_length:
            raise ValueError(
                f"{self.source} has a name of {self.sequence_length - 1} characters, but this model reads at most "
                f"{window_length - 1} (context_length {window_length}, one token is the boundary '{BOUNDARY}'); "
                "shorten the longer names, or train a model with a longer context"
            )

    def tokens_per_batch(self, batch_size: int, window_length: int) -> float:
        targets = self.splits["train"][1]
        return batch_size * (targets != -1).sum().item() / len(targets)

    def default_prompt(self) -> str:
        return ""

    def sample_prompt(self, prompt: str | None) -> str:
        if prompt and BOUNDARY in prompt:
            raise ValueError(f"a prompt is the start of a name, so it may not hold the boundary token {BOUNDARY!r}.")
        return BOUNDARY + super().sample_prompt(prompt)

    def default_sample_length(self) -> int:
        return self.sequence_length

    def finish_sample(self, text: str) -> str:
        return text[1:].split(BOUNDARY)[0]  # from after the start token to the first end token


class NameBatches(TrainingBatches):
    """Whole names per batch; on a CPU the all-padding columns are dropped (same loss, less compute)."""

    def __init__(self, batches: InMemoryBatches):
        self.batches = batches

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = next(self.batches)
        if inputs.device.type == "cpu":  # a GPU would sync to read the length
            length = int((targets >= 0).sum(dim=1).max())
            inputs, targets = inputs[:, :length], targets[:, :length]
        return inputs, targets

    def state_dict(self) -> dict:
        return self.batches.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state)


class StreamCorpus(Corpus):
    kind = "text"
    default_num_samples = 2
    sample_separator = "\n" + "-" * 40 + "\n"  # passages hold newlines themselves
    size_fields = ("num_tokens", "num_train_tokens")

    def __init__(
        self, tokenizer: Tokenizer, source: str, text_sha256: str, splits, *, num_tokens: int,
        num_train_tokens: int | None = None,
    ):
        """``num_train_tokens`` defaults to the split of a character vocabulary: checkpoints from before BPE lack it."""
        if num_tokens < 1:
            raise ValueError(f"a text needs at least one token, got {num_tokens}")
        num_train_tokens = num_train_tokens if num_train_tokens is not None else train_part_length(num_tokens)
        if not 0 <= num_train_tokens <= num_tokens:
            raise ValueError(f"a train split of {num_train_tokens} tokens out of {num_tokens}")
        super().__init__(tokenizer, source, text_sha256, splits)
        self.num_tokens = num_tokens
        self.num_train_tokens = num_train_tokens

    @classmethod
    def from_text(cls, text: str, source: str, tokenizer: Tokenizer) -> StreamCorpus:
        """The text split by characters (the first 90% trains), each part encoded by ``tokenizer``: every
        tokenizer scores the same val text, so their bits per byte compare."""
        train_text, val_text = split_text(text)
        train, val = (torch.tensor(tokenizer.encode(part), dtype=torch.int64) for part in (train_text, val_text))
        return cls(tokenizer, source, fingerprint(text), {"train": train, "val": val}, num_tokens=len(train) + len(val),
                   num_train_tokens=len(train))

    def batches(self, batch_size: int, window_length: int, device: torch.device, seed: int) -> WindowBatches:
        return WindowBatches(self.splits["train"].to(device), batch_size, window_length, seed)

    def split(self, name: str, window_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return sequential_windows(self.splits[name], window_length)

    def check_fits(self, batch_size: int, window_length: int, fixed_context: bool) -> None:
        num_val_tokens = self.num_tokens - self.num_train_tokens
        if self.num_train_tokens < window_length + 1 or num_val_tokens < 2:
            unit = TOKEN_UNITS[tokenizer_kind(self.tokenizer)]
            raise ValueError(
                f"{self.source} is too short: windows of {window_length} {unit} need a text of at least "
                f"{min_text_length(window_length):,} {unit} (the first {1 - VAL_FRACTION:.0%} trains, the rest scores "
                f"the val loss); it has {self.num_train_tokens:,} in its train split and {num_val_tokens:,} in val"
            )

    def tokens_per_batch(self, batch_size: int, window_length: int) -> float:
        return float(batch_size * window_length)

    def default_prompt(self) -> str:
        """A newline; for a character vocabulary without one, its lowest character (usually the space)."""
        return "\n" if not unencodable_characters(self.tokenizer, "\n") else self.tokenizer.vocab[0]

    def default_sample_length(self) -> int:
        return 500

    def finish_sample(self, text: str) -> str:
        return text


def split_text(text: str) -> tuple[str, str]:
    """The train and val parts of a running text: its first 90% of characters, and the rest."""
    num_train = train_part_length(len(text))
    return text[:num_train], text[num_train:]


def train_part_length(length: int) -> int:
    """How many of a text's ``length`` characters (or a character vocabulary's tokens) train."""
    return num_train_tokens(length, VAL_FRACTION)


def min_text_length(window_length: int) -> int:
    """The shortest text whose train split holds one window plus its next token, and whose val split one target."""
    length = window_length + 1
    while True:
        num_train = train_part_length(length)
        if num_train >= window_length + 1 and length - num_train >= 2:
            return length
        length += 1


class WindowBatches(TrainingBatches):
    """Random windows of the training stream, from a generator on the stream's device."""

    def __init__(self, ids: torch.Tensor, batch_size: int, window_length: int, seed: int):
        self.ids, self.batch_size, self.window_length = ids, batch_size, window_length
        self.generator = torch.Generator(device=ids.device).manual_seed(seed)

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return random_windows(self.ids, self.batch_size, self.window_length, generator=self.generator)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


CORPUS_KINDS: dict[str, type[Corpus]] = {NamesCorpus.kind: NamesCorpus, StreamCorpus.kind: StreamCorpus}


def load_corpus(
    dataset: str, text: str | None = None, tokenizer: str | Tokenizer = "char", bpe_vocab_size: int = BPE_VOCAB_SIZE
) -> Corpus:
    """The bundled corpus of ``dataset`` (``text=None``), or the user's ``text`` read as that kind of corpus.

    ``tokenizer``: "char", a vocabulary of the text's characters; "bpe", byte-level BPE learned on the train part
    (running text only) up to ``bpe_vocab_size`` tokens; or a tokenizer already made for this text (a checkpoint's).
    """
    if isinstance(tokenizer, str) and tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {tuple(TOKENIZERS)}, got {tokenizer!r}")
    if dataset == "names":
        if tokenizer == "bpe":
            raise ValueError("names are tokenized by characters (each name is a few letters); use tokenizer='char'")
        names = load_names() if text is None else [line.strip() for line in text.splitlines() if line.strip()]
        origin = "the bundled names.txt" if text is None else "a user's names file"
        given = None if isinstance(tokenizer, str) else tokenizer
        return NamesCorpus.from_names(names, f"{origin} ({len(names):,} names)", given)
    if dataset == "text":
        origin = "the bundled shakespeare.txt" if text is None else "a user's text file"
        text = load_shakespeare() if text is None else text
        if tokenizer == "char":
            tokenizer = CharTokenizer.from_text(text)
        elif tokenizer == "bpe":
            tokenizer = train_bpe(split_text(text)[0], bpe_vocab_size)  # on the train part: val stays unseen
        return StreamCorpus.from_text(text, f"{origin} ({len(text):,} characters)", tokenizer)
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


@functools.lru_cache(maxsize=BPE_TRAININGS_KEPT)
def train_bpe(text: str, vocab_size: int) -> BytePairTokenizer:
    """``BytePairTokenizer.train``, once per text and size in a process (it takes seconds on the bundled text)."""
    return BytePairTokenizer.train(text, vocab_size)


def restore_corpus(state: dict, read_splits: Callable[[Corpus], Splits]) -> Corpus:
    """The corpus ``Corpus.state_dict()`` describes: it samples at once; ``read_splits(corpus)`` encodes its text when
    first needed. ValueError or TypeError if ``state`` is not such a description."""
    if not isinstance(state, dict) or state.get("kind") not in CORPUS_KINDS:
        raise ValueError("no corpus description")
    kind = CORPUS_KINDS[state["kind"]]
    tokenizer_class = TOKENIZERS.get(state.get("tokenizer_kind", "char"))  # checkpoints from before BPE: characters
    if tokenizer_class is None:
        raise ValueError(f"tokenizer_kind {state['tokenizer_kind']!r}, not one of {tuple(TOKENIZERS)}")
    tokenizer = tokenizer_class.from_state_dict(state["tokenizer"])
    source, text_sha256 = state["source"], state["text_sha256"]
    sizes = {name: state[name] for name in kind.size_fields if name in state}  # the constructor names a missing one
    if not (isinstance(source, str) and isinstance(text_sha256, str) and all(type(n) is int for n in sizes.values())):
        raise ValueError("a corpus description with a field of the wrong type")
    corpus = kind(tokenizer, source, text_sha256, lambda: read_splits(corpus), **sizes)
    return corpus
