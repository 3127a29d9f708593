"""Every trainable model of the course by name: the table the command line, the benchmarks and the tests read.

An entry names its trainer and presets by import path, so that ``genlearn --help`` does not import the
model code; ``ModelEntry.trainer_class()`` and ``.presets()`` import on first use. A new model family adds
one ``register(ModelEntry(...))`` line here (or in its own code, for a family outside the package).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# What --data takes, per kind of training data.
MNIST_ROOT = "an MNIST root folder (holding MNIST/raw/, as torchvision writes it)"
TEXT_FILE = "a UTF-8 text file"
NAMES_FILE = "a UTF-8 text file with one name per line"


@dataclass(frozen=True)
class ModelEntry:
    name: str  # the command line's name, and the shipped weights' file name
    trainer: str  # "package.module:TrainerClass", a subclass of genlearn.training.Trainer
    presets: str  # "package.module:PRESETS", a genlearn.budget.Presets of the trainer's config
    data: str  # what --data takes
    summary: str
    shipped_dtype: str = "float32"  # the shipped weights' storage precision: "float16" halves the file

    def trainer_class(self) -> type:
        return _import(self.trainer)

    def load_presets(self):
        return _import(self.presets)


def _import(path: str):
    module_name, attribute = path.split(":")
    return getattr(importlib.import_module(module_name), attribute)


MODELS: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    if entry.name in MODELS:
        raise ValueError(f"a model named {entry.name!r} is already registered")
    MODELS[entry.name] = entry
    return entry


def get_model(name: str) -> ModelEntry:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    return MODELS[name]


register(ModelEntry(
    name="gan", trainer="genlearn.gan.training:DCGANTrainer", presets="genlearn.gan.training:DCGAN_PRESETS",
    data=MNIST_ROOT, summary="DCGAN on 28x28 MNIST",
))
register(ModelEntry(
    name="vae", trainer="genlearn.vae.training:VAETrainer", presets="genlearn.vae.training:VAE_PRESETS",
    data=MNIST_ROOT, summary="VAE with a Bernoulli decoder on binarized MNIST",
))
register(ModelEntry(
    name="vae_2d", trainer="genlearn.vae.training:VAETrainer", presets="genlearn.vae.training:LATENT_2D_PRESETS",
    data=MNIST_ROOT, summary="the VAE with a 2-D latent, whose whole latent space can be drawn", shipped_dtype="float16",
))
register(ModelEntry(
    name="bigram", trainer="genlearn.text.training:BigramTrainer", presets="genlearn.text.training:BIGRAM_PRESETS",
    data=NAMES_FILE, summary="neural bigram language model on names",
))
register(ModelEntry(
    name="mlp", trainer="genlearn.text.training:MLPTrainer", presets="genlearn.text.training:MLP_PRESETS",
    data=NAMES_FILE, summary="MLP language model (Bengio 2003) on names",
))
register(ModelEntry(
    name="gpt_names", trainer="genlearn.text.training:GPTTrainer", presets="genlearn.text.training:GPT_NAMES_PRESETS",
    data=NAMES_FILE, summary="GPT on names (makemore's transformer)",
))
register(ModelEntry(
    name="gpt", trainer="genlearn.text.training:GPTTrainer", presets="genlearn.text.training:GPT_PRESETS",
    data=TEXT_FILE, summary="character-level GPT on Shakespeare",
))
register(ModelEntry(
    name="gpt_bpe", trainer="genlearn.text.training:GPTTrainer", presets="genlearn.text.training:GPT_BPE_PRESETS",
    data=TEXT_FILE, summary="the Shakespeare GPT on byte-level BPE tokens (its vocabulary built from the data)",
))
