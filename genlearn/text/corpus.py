"""The two kinds of text the language models learn from, each a type chosen once, when the data loads.

- ``NamesCorpus``: one name per line. Each name is its own sequence, wrapped in the boundary token "."
  (it starts and ends every name); batches are whole names, padded; splits are 80/10/10 train/val/test.
- ``StreamCorpus``: a running text (Shakespeare). Batches are random windows of the token stream;
  splits are 90/10 train/val.

A trainer asks its corpus how to batch, score, prompt and print; it never asks which kind it has.
"""

from __future__ import annotations

import abc
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
    train_val_split,
)
from genlearn.text.evaluation import sequential_windows

DATASETS = ("names", "text")
MIN_NAMES = 10


class Corpus(abc.ABC):
    """A tokenized corpus: its tokenizer, its splits, and how a language model reads and writes it."""

    kind: ClassVar[str]  # the config's ``dataset``
    default_num_samples: ClassVar[int]
    sample_separator: ClassVar[str]  # between samples in a file

    def __init__(self, tokenizer: CharTokenizer, source: str):
        self.tokenizer = tokenizer
        self.source = source  # where the text came from, for ``evaluate()``'s "data"
        self.splits: dict[str, torch.Tensor | tuple[torch.Tensor, torch.Tensor]] = {}  # "train" first

    @abc.abstractmethod
    def batches(self, batch_size: int, window_length: int, device: torch.device, seed: int) -> TrainingBatches:
        """Training batches, (inputs, targets) on ``device``, drawn from generators seeded with ``seed``."""

    @abc.abstractmethod
    def split(self, name: str, window_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) covering every target of split ``name`` exactly once."""

    @abc.abstractmethod
    def min_context_length(self) -> int:
        """The shortest context that lets a model see every sequence whole."""

    @abc.abstractmethod
    def tokens_per_batch(self, batch_size: int, window_length: int) -> float:
        """Targets predicted per training batch, padding excluded."""

    @abc.abstractmethod
    def sample_prompt(self, prompt: str) -> str:
        """The text generation starts from."""

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

    def __init__(self, names: list[str], source: str):
        if len(names) < MIN_NAMES:
            raise ValueError(f"a names corpus needs at least {MIN_NAMES} non-empty lines (one name each), got {len(names)}")
        super().__init__(names_tokenizer(names), source)
        length = max(len(name) for name in names)
        self.splits = {
            name: encode_names(part, self.tokenizer, length)
            for name, part in zip(("train", "val", "test"), split_names(names))
        }

    @property
    def sequence_length(self) -> int:
        """Tokens per encoded name: the longest name plus its boundary token."""
        return self.splits["train"][0].size(1)

    def batches(self, batch_size: int, window_length: int, device: torch.device, seed: int) -> NameBatches:
        return NameBatches(InMemoryBatches(self.splits["train"], batch_size, device, seed=seed))

    def split(self, name: str, window_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.splits[name]

    def min_context_length(self) -> int:
        return self.sequence_length

    def tokens_per_batch(self, batch_size: int, window_length: int) -> float:
        targets = self.splits["train"][1]
        return batch_size * (targets != -1).sum().item() / len(targets)

    def sample_prompt(self, prompt: str) -> str:
        return BOUNDARY + prompt

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

    def __init__(self, text: str, source: str):
        super().__init__(CharTokenizer.from_text(text), source)
        ids = torch.tensor(self.tokenizer.encode(text), dtype=torch.int64)
        train, val = train_val_split(ids, val_fraction=0.1)
        self.splits = {"train": train, "val": val}

    def batches(self, batch_size: int, window_length: int, device: torch.device, seed: int) -> WindowBatches:
        return WindowBatches(self.splits["train"].to(device), batch_size, window_length, seed)

    def split(self, name: str, window_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return sequential_windows(self.splits[name], window_length)

    def min_context_length(self) -> int:
        return 1  # windows of any length cut the stream

    def tokens_per_batch(self, batch_size: int, window_length: int) -> float:
        return float(batch_size * window_length)

    def sample_prompt(self, prompt: str) -> str:
        return prompt or "\n"

    def default_sample_length(self) -> int:
        return 500

    def finish_sample(self, text: str) -> str:
        return text


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


def load_corpus(dataset: str, text: str | None = None) -> Corpus:
    """The bundled corpus of ``dataset`` (``text=None``), or the user's ``text`` read as that kind of corpus."""
    if dataset == "names":
        names = load_names() if text is None else [line.strip() for line in text.splitlines() if line.strip()]
        origin = "the bundled names.txt" if text is None else "a user's names file"
        return NamesCorpus(names, f"{origin} ({len(names):,} names)")
    if dataset == "text":
        origin = "the bundled shakespeare.txt" if text is None else "a user's text file"
        text = load_shakespeare() if text is None else text
        return StreamCorpus(text, f"{origin} ({len(text):,} characters)")
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
