"""Training the text models: configs with named presets, and one trainer for all three models.

Data: ``data=None`` means the bundled corpus of the config's ``dataset``: ``"names"`` (32,000 first names,
one per line) or ``"text"`` (Shakespeare). Pass your own corpus as a string instead: one name per line for
``"names"``, any text for ``"text"``. ``genlearn.text.corpus`` turns it into a ``NamesCorpus`` or a
``StreamCorpus``, tokenized as the config's ``tokenizer`` says; every model trains with the same loop and is
scored by ``evaluation.evaluate_nll``, per token and per byte.

Checkpoints keep the corpus's vocabulary, so a model loaded from one samples without reading its text;
``evaluate`` reads the text again, and refuses it if it is gone or changed.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from genlearn.budget import Presets
from genlearn.checkpoint import Checkpoint, CheckpointError
from genlearn.data import load_text_file
from genlearn.precision import adamw
from genlearn.text.bigram import BigramCounts, BigramLanguageModel
from genlearn.text.corpus import (
    BPE_VOCAB_SIZE,
    DATASETS,
    Corpus,
    Splits,
    TrainingBatches,
    load_corpus,
    restore_corpus,
)
from genlearn.text.evaluation import count_units, evaluate_nll, nll_metrics
from genlearn.text.generation import generate
from genlearn.text.gpt import GPT, GPTConfig
from genlearn.text.mlp import MLPConfig, MLPLanguageModel
from genlearn.text.tokenizer import TOKENIZERS, tokenizer_kind
from genlearn.loop import Callback
from genlearn.schedules import cosine_decay
from genlearn.training import DataError, Trainer

# Bigram and MLP see at most ``context_length`` tokens per prediction; on a running text they train on
# windows this long, which only scores more positions per row.
TEXT_WINDOW_LENGTH = 64
MAX_BPE_VOCAB_SIZE = 2**16  # beyond, BPE training on a book-sized text runs for minutes
REPORTED_METRICS = ("nll", "perplexity", "bits_per_char", "bits_per_byte")  # per held-out split, by ``evaluate()``


@dataclass
class TextTrainingConfig:
    """What every text model trains with. ``context_length``: the most tokens a prediction may depend on."""

    dataset: str = "names"
    # "char": one token per character of the text; "bpe": byte-level BPE (genlearn.text.bpe), running text only.
    tokenizer: str = "char"
    bpe_vocab_size: int = BPE_VOCAB_SIZE  # with tokenizer="bpe": the 256 bytes plus the merges learned
    context_length: int = 16
    num_steps: int = 1000
    batch_size: int = 32  # names per batch on "names", windows per batch on "text"
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-4  # cosine decay ends here
    warmup_steps: int = 0
    weight_decay: float = 0.0  # AdamW, on matrices and embeddings only
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 0.0  # max global gradient norm; 0 = no clipping
    eval_every: int = 0  # steps between full-val evaluations recorded in ``trainer.val_curve``; 0 = none
    seed: int = 0

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {tuple(TOKENIZERS)}, got {self.tokenizer!r}")
        if self.tokenizer == "bpe" and self.dataset != "text":
            raise ValueError("tokenizer='bpe' is for running text (dataset='text'); names are tokenized by characters")
        if not 256 <= self.bpe_vocab_size <= MAX_BPE_VOCAB_SIZE:
            raise ValueError(
                f"bpe_vocab_size must be between 256 (the bytes) and {MAX_BPE_VOCAB_SIZE}, got {self.bpe_vocab_size}"
            )


@dataclass
class BigramTrainingConfig(TextTrainingConfig):
    context_length: int = 1
    smoothing: float = 1.0  # add-one smoothing of the count model that the network is compared with


@dataclass
class MLPTrainingConfig(TextTrainingConfig):
    context_length: int = 8
    embedding_dim: int = 24
    hidden_dim: int = 256


@dataclass
class GPTTrainingConfig(TextTrainingConfig):
    context_length: int = 64
    num_layers: int = 4
    num_heads: int = 4
    embedding_dim: int = 128
    dropout: float = 0.0
    bias: bool = False
    attention: str = "auto"  # see GPTConfig
    position_encoding: str = "learned"  # see GPTConfig

    def model_config(self, vocab_size: int) -> GPTConfig:
        names = {f.name for f in fields(GPTConfig)}
        return GPTConfig(vocab_size=vocab_size, **{k: v for k, v in vars(self).items() if k in names})


def warmup_cosine(step: int, config: TextTrainingConfig) -> float:
    """Learning rate at ``step``: linear warm-up, then cosine decay from learning_rate to min_learning_rate."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.num_steps - config.warmup_steps)
    return cosine_decay(progress, config.learning_rate, config.min_learning_rate)


class TextTrainer(Trainer):
    """Trains one text model (subclasses choose which) with AdamW and a warm-up + cosine schedule."""

    unit = "tokens"
    samples_file = "samples.txt"
    fixed_context = False  # True when the model cannot read past context_length (a GPT's position table)

    def build(self, data: str | Corpus | None) -> None:
        """``data``: a user's text, a ``Corpus`` (one restored from a checkpoint, say), or None for the bundled one."""
        config = self.config
        if isinstance(data, Corpus):
            self.corpus: Corpus = data
        else:
            self.corpus = load_corpus(config.dataset, data, config.tokenizer, config.bpe_vocab_size)
        self.corpus.check_fits(config.batch_size, self.window_length_for(config), self.fixed_context)
        self.tokenizer = self.corpus.tokenizer
        model = self.build_model(self.tokenizer.vocab_size).to(self.device)
        self.modules["model"] = model
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = adamw(groups, self.device, lr=config.learning_rate, betas=(config.beta1, config.beta2))
        self.optimizers["model"] = optimizer
        self.schedulers["model"] = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, config) / config.learning_rate
        )
        self.val_curve: dict[str, list] = {"step": [], "nll": []}

    @functools.cached_property
    def batches(self) -> TrainingBatches:
        """Made on first use, from generators of their own: a model loaded to sample never encodes its text."""
        config = self.config
        return self.corpus.batches(config.batch_size, self.window_length(), self.device, config.seed)

    @classmethod
    def load_data(cls, path: Path) -> str:
        return load_text_file(path)

    @classmethod
    def data_in_checkpoint(cls, checkpoint: Checkpoint) -> Corpus | None:
        """The corpus a checkpoint describes: its vocabulary, so sampling never reads the text again.

        None for a checkpoint without one (older ones, the shipped weights): the data gives the vocabulary.
        """
        trainer_state = checkpoint.state.get("trainer")
        state = trainer_state.get("corpus") if isinstance(trainer_state, dict) else None
        if state is None:
            return None
        config = cls.config_from(checkpoint)
        try:
            corpus = restore_corpus(state, lambda corpus: reread_splits(corpus, checkpoint))
            if corpus.kind != config.dataset:
                raise ValueError(f"a {corpus.kind!r} corpus for a model of dataset {config.dataset!r}")
            if tokenizer_kind(corpus.tokenizer) != config.tokenizer:
                kind = tokenizer_kind(corpus.tokenizer)
                raise ValueError(f"a {kind!r} tokenizer for a model of tokenizer {config.tokenizer!r}")
            corpus.check_fits(config.batch_size, cls.window_length_for(config), cls.fixed_context)
        except (KeyError, TypeError, ValueError) as error:
            problem = f"no {error} entry" if isinstance(error, KeyError) else error
            raise CheckpointError(
                f"{checkpoint.path} holds a damaged vocabulary ({problem}); retrain, or point to another checkpoint."
            ) from None
        return corpus

    def build_model(self, vocab_size: int) -> torch.nn.Module:
        raise NotImplementedError

    @property
    def model(self) -> torch.nn.Module:
        return self.unwrapped("model")

    def window_length(self) -> int:
        """Length of the training and evaluation windows on a running text."""
        return self.window_length_for(self.config)

    @classmethod
    def window_length_for(cls, config: TextTrainingConfig) -> int:
        if cls.fixed_context:
            return config.context_length
        return max(config.context_length, TEXT_WINDOW_LENGTH)

    def items_per_step(self) -> float:
        return self.corpus.tokens_per_batch(self.config.batch_size, self.window_length())

    def describe_data(self) -> str:
        return self.corpus.source

    def training_step(self, step: int) -> dict[str, torch.Tensor]:
        inputs, targets = self.shard(*next(self.batches))
        optimizer = self.optimizers["model"]
        with self.precision.autocast():
            _, loss = self.modules["model"](inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        self.precision.backward(loss)
        self.precision.step(optimizer, clip_grad_norm=self.config.grad_clip or None)
        self.schedulers["model"].step()
        return {"loss": loss.detach()}

    def periodic_callbacks(self) -> list[Callback]:
        """With ``eval_every``, the whole val split is scored every that many steps into ``val_curve``."""
        if not self.config.eval_every:
            return []
        return [Callback(self.config.eval_every, lambda step, history: self._record_val(step))]

    @functools.cached_property
    def _val_units(self) -> dict[str, int]:
        """The val split's targets, characters and bytes: with a val-curve NLL, all of ``evaluate()``'s figures."""
        return count_units(self.split("val")[1], self.corpus.token_bytes)

    def _record_val(self, step: int) -> None:
        self.val_curve["step"].append(step)
        self.val_curve["nll"].append(self.evaluate_split("val")["nll"])

    def held_out_splits(self) -> list[str]:
        return [name for name in self.corpus.splits if name != "train"]

    def metrics_recorded_at(self, step: int) -> dict | None:
        # Where val is the only held-out split, a val-curve point is all of ``evaluate()``.
        if self.held_out_splits() != ["val"] or step not in self.val_curve["step"]:
            return None
        nll = self.val_curve["nll"][self.val_curve["step"].index(step)]
        metrics = nll_metrics(nll, self._val_units)
        return {**{f"val_{key}": metrics[key] for key in REPORTED_METRICS}, "data": self.corpus.describe(["val"])}

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) covering every target of split ``name`` exactly once."""
        if name not in self.corpus.splits:
            raise ValueError(f"no split {name!r}; this corpus has {', '.join(self.corpus.splits)}")
        return self.corpus.split(name, self.window_length())

    def evaluate_split(self, name: str, model: torch.nn.Module | None = None) -> dict[str, float]:
        """``evaluate_nll`` over split ``name``: per token, per character and per byte."""
        return evaluate_nll(model or self.model, *self.split(name), token_bytes=self.corpus.token_bytes)

    def evaluate(self) -> dict:
        """NLL (nats/token), perplexity, bits per character and bits per byte over every held-out split."""
        metrics = {}
        for name in self.held_out_splits():
            result = self.evaluate_split(name)
            metrics.update({f"{name}_{key}": float(result[key]) for key in REPORTED_METRICS})
        metrics["data"] = self.corpus.describe(self.held_out_splits())
        return metrics

    @property
    def default_num_samples(self) -> int:
        return self.corpus.default_num_samples

    def sample(
        self,
        num_samples: int = 1,
        *,
        seed: int = 0,
        length: int | None = None,
        prompt: str | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_kv_cache: bool | None = None,
    ) -> list[str]:
        """Sample strings of ``length`` new tokens after ``prompt``; ValueError for a character the model never saw.

        Names: each starts with ``prompt`` and ends at the first "." (dropped); the length defaults to the longest name.
        Text: ``prompt`` (default a newline, or the lowest character of a text without one) followed by ``length``
        (default 500) tokens: characters, or BPE tokens of about two characters each.
        """
        start = self.corpus.sample_prompt(prompt)
        length = length if length is not None else self.corpus.default_sample_length()
        idx = torch.tensor([self.tokenizer.encode(start)] * num_samples, dtype=torch.int64, device=self.device)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        if use_kv_cache is None:
            use_kv_cache = hasattr(self.model, "new_kv_cache")
        out = generate(self.model, idx, length, temperature, top_k, top_p, generator, use_kv_cache)
        return [self.corpus.finish_sample(self.tokenizer.decode(row)) for row in out]

    def save_samples(self, samples: list[str], path: Path) -> str:
        text = self.corpus.sample_separator.join(samples)
        path.write_text(text + "\n", encoding="utf-8")
        return text

    def extra_state(self) -> dict:
        return {
            "val_curve": {k: list(v) for k, v in self.val_curve.items()},
            "batches": self.batches.state_dict(),
            "corpus": self.corpus.state_dict(),
        }

    def load_state_dict(self, state: dict, weights_only: bool = False, source: str = "checkpoint") -> None:
        """As ``Trainer.load_state_dict``, after checking that the state was trained on this trainer's text."""
        trainer_state = state.get("trainer")
        saved = trainer_state.get("corpus") if isinstance(trainer_state, dict) else None
        if isinstance(saved, dict) and saved.get("text_sha256") != self.corpus.text_sha256:
            change = vocabulary_change(saved, self.corpus)
            raise CheckpointError(
                f"{source} was trained on another text than {self.corpus.source}{change}; "
                "use the text it was trained on, or start a new run in another folder."
            )
        if isinstance(saved, dict) and saved.get("tokenizer") != self.corpus.tokenizer.state_dict():
            raise CheckpointError(
                f"{source} was trained with another tokenizer than this run's "
                f"{tokenizer_kind(self.corpus.tokenizer)!r} one, on the same text (another bpe_vocab_size, or another "
                "version of genlearn); resume it with its own config, or start a new run in another folder."
            )
        super().load_state_dict(state, weights_only=weights_only, source=source)

    def load_extra_state(self, state: dict) -> None:
        self.val_curve = {k: list(v) for k, v in state["val_curve"].items()}
        self.batches.load_state_dict(state["batches"])


def vocabulary_change(saved: dict, corpus: Corpus) -> str:
    """How ``corpus``'s characters differ from those of a saved corpus description, as a parenthesis ("" if alike,
    or if either is not a character vocabulary)."""
    if tokenizer_kind(corpus.tokenizer) != "char" or saved.get("tokenizer_kind", "char") != "char":
        return ""
    try:
        before = set(saved["tokenizer"]["vocab"])
    except (KeyError, TypeError):
        return ""
    now = set(corpus.tokenizer.vocab)
    changes = []
    for label, chars in (("new characters", now - before), ("characters gone", before - now)):
        if chars:
            changes.append(f"{label}: {', '.join(map(repr, sorted(chars)[:10]))}")
    return f" ({'; '.join(changes)})" if changes else ""


def reread_splits(corpus: Corpus, checkpoint: Checkpoint) -> Splits:
    """The splits of the text ``checkpoint`` trained on, read again to evaluate; DataError if it is gone or changed."""
    trained_on = str(checkpoint.extra.get("data", "bundled"))
    if trained_on == "bundled":
        current = load_corpus(corpus.kind, tokenizer=corpus.tokenizer)
        if current.text_sha256 != corpus.text_sha256:
            raise DataError(
                f"{checkpoint.path} was trained on another version of {current.source}; "
                "its val loss cannot be measured on this one: retrain it on this version."
            )
        return current.splits
    path = Path(trained_on)
    if not path.is_file():
        raise DataError(
            f"{checkpoint.path} was trained on {path}, which no longer exists; its val loss is measured on that text, "
            f"so put the file back at {path}."
        )
    try:
        current = load_corpus(corpus.kind, load_text_file(path), tokenizer=corpus.tokenizer)
    except ValueError:  # the file no longer reads as that kind of corpus
        current = None
    if current is None or current.text_sha256 != corpus.text_sha256:
        raise DataError(
            f"{path} has changed since {checkpoint.path} was trained on it; its val loss is measured on the text "
            f"it was trained on, so put that text back at {path}."
        )
    return current.splits


class BigramTrainer(TextTrainer):
    """The one-layer neural bigram; ``count_model()`` gives the counting model it should match."""

    model_name = "bigram"
    config_class = BigramTrainingConfig

    def build_model(self, vocab_size: int) -> torch.nn.Module:
        return BigramLanguageModel(vocab_size)

    def count_model(self, smoothing: float | None = None) -> BigramCounts:
        """The bigram counted on the train split, with add-``smoothing`` (default: the config's)."""
        smoothing = self.config.smoothing if smoothing is None else smoothing
        inputs, targets = self.split("train")
        return BigramCounts.fit(inputs, targets, self.tokenizer.vocab_size, smoothing).to(self.device)


class MLPTrainer(TextTrainer):
    model_name = "mlp"
    config_class = MLPTrainingConfig

    def build_model(self, vocab_size: int) -> torch.nn.Module:
        c = self.config
        return MLPLanguageModel(MLPConfig(vocab_size, c.context_length, c.embedding_dim, c.hidden_dim))


class GPTTrainer(TextTrainer):
    model_name = "gpt"
    config_class = GPTTrainingConfig
    fixed_context = True

    def build_model(self, vocab_size: int) -> torch.nn.Module:
        return GPT(self.config.model_config(vocab_size))


# Named presets per lesson; the exported pretrained weights carry the registry's names (genlearn.models).
BIGRAM_PRESETS = Presets(
    smoke=BigramTrainingConfig(num_steps=150, batch_size=512, learning_rate=0.5, min_learning_rate=0.01),
    cpu=BigramTrainingConfig(num_steps=1000, batch_size=1024, learning_rate=0.5, min_learning_rate=0.01),
    gpu=BigramTrainingConfig(num_steps=1000, batch_size=1024, learning_rate=0.5, min_learning_rate=0.01),
)
MLP_PRESETS = Presets(
    smoke=MLPTrainingConfig(embedding_dim=10, hidden_dim=64, num_steps=150, batch_size=32, learning_rate=1e-2,
                            min_learning_rate=1e-3),
    cpu=MLPTrainingConfig(num_steps=6000, batch_size=64, learning_rate=1e-2, min_learning_rate=1e-4),
    gpu=MLPTrainingConfig(num_steps=6000, batch_size=64, learning_rate=1e-2, min_learning_rate=1e-4),
)
GPT_NAMES_PRESETS = Presets(
    smoke=GPTTrainingConfig(context_length=16, num_layers=1, num_heads=2, embedding_dim=32, num_steps=100, batch_size=32),
    # makemore's default transformer (4 layers x 64, context 16) at a high learning rate. 25,600 training
    # names are few for 200k parameters: without dropout it overfit by 6k steps (val 1.944). With dropout
    # 0.1 for 20k steps, benchmarks/text.py measures val 1.892; a tuning run with dropout 0.15 gave 1.896.
    cpu=GPTTrainingConfig(context_length=16, num_layers=4, num_heads=4, embedding_dim=64, dropout=0.1, num_steps=20000,
                          batch_size=64, learning_rate=3e-3, warmup_steps=100, weight_decay=0.1),
    gpu=GPTTrainingConfig(context_length=16, num_layers=4, num_heads=4, embedding_dim=64, dropout=0.1, num_steps=20000,
                          batch_size=64, learning_rate=3e-3, warmup_steps=100, weight_decay=0.1),
)
GPT_PRESETS = Presets(
    smoke=GPTTrainingConfig(dataset="text", context_length=32, num_layers=1, num_heads=2, embedding_dim=32, num_steps=60,
                            batch_size=16, learning_rate=3e-3, eval_every=30),
    # nanoGPT's CPU recipe with one layer instead of four at 5x the learning rate, for 1200 steps instead of 2000;
    # the whole val split is scored halfway and at the end. On this budget the smaller model wins: one layer's steps
    # cost about half of two layers', and reach a lower loss (benchmarks/results/text_tuning.json). Raced against the
    # recipe, whole processes: benchmarks/text.py.
    cpu=GPTTrainingConfig(dataset="text", context_length=64, num_layers=1, num_heads=4, embedding_dim=128, num_steps=1200,
                          batch_size=12, learning_rate=5e-3, warmup_steps=100, weight_decay=0.1, grad_clip=1.0,
                          eval_every=600),
    gpu=GPTTrainingConfig(dataset="text", context_length=256, num_layers=6, num_heads=6, embedding_dim=384, dropout=0.2,
                          num_steps=5000, batch_size=64, learning_rate=1e-3, min_learning_rate=1e-4,
                          warmup_steps=100, weight_decay=0.1, grad_clip=1.0, eval_every=250),
)
# The GPT presets on byte-level BPE tokens (512: the 256 bytes and 256 merges, about 1.9 bytes per token on
# Shakespeare): the same network, so a window of 64 tokens reads about twice the text. Untuned; compare it
# with the character GPT in bits per byte (``evaluate()``), not in loss per token.
GPT_BPE_PRESETS = Presets(**{
    name: dataclasses.replace(config, tokenizer="bpe", bpe_vocab_size=BPE_VOCAB_SIZE)
    for name, config in GPT_PRESETS.items()
})
