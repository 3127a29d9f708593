"""Every trainable model of the course by name, for the command line and the benchmarks.

Entries name their trainer and presets as import paths, so that ``genlearn --help`` does not
import the model code; ``ModelSpec.trainer_class()`` and ``.presets()`` import on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# What --data means for each kind of model.
DATA_KINDS = {
    "mnist": "an MNIST root folder (holding MNIST/raw/, as torchvision writes it)",
    "text": "a UTF-8 text file",
    "names": "a UTF-8 text file with one name per line",
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    trainer: str  # "package.module:TrainerClass"
    presets_path: str  # "package.module:PRESETS"
    presets_key: str | None  # the entry of a dict of presets, for modules that keep several
    data: str  # a key of DATA_KINDS
    unit: str  # what throughput counts: "images" or "tokens"
    summary: str
    mnist_splits: tuple[str, ...] = ("train",)  # MNIST models: the splits the trainer's ``data`` holds, in order

    def trainer_class(self) -> type:
        return _import(self.trainer)

    def presets(self):
        presets = _import(self.presets_path)
        return presets if self.presets_key is None else presets[self.presets_key]


def _import(path: str):
    module_name, attribute = path.split(":")
    return getattr(importlib.import_module(module_name), attribute)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "gan",
            "genlearn.gan.training:GANTrainer",
            "genlearn.gan.training:DCGAN_PRESETS",
            None,
            "mnist",
            "images",
            "DCGAN on 28x28 MNIST",
        ),
        ModelSpec(
            "vae",
            "genlearn.vae.training:VAETrainer",
            "genlearn.vae.training:PRESETS",
            None,
            "mnist",
            "images",
            "VAE with a Bernoulli decoder on binarized MNIST",
            ("train", "test"),
        ),
        ModelSpec(
            "bigram",
            "genlearn.text.training:BigramTrainer",
            "genlearn.text.training:PRESETS",
            "bigram",
            "names",
            "tokens",
            "neural bigram language model on names",
        ),
        ModelSpec(
            "mlp",
            "genlearn.text.training:MLPTrainer",
            "genlearn.text.training:PRESETS",
            "mlp",
            "names",
            "tokens",
            "MLP language model (Bengio 2003) on names",
        ),
        ModelSpec(
            "gpt",
            "genlearn.text.training:GPTTrainer",
            "genlearn.text.training:PRESETS",
            "gpt",
            "text",
            "tokens",
            "character-level GPT on Shakespeare",
        ),
    )
}


def get_model(name: str) -> ModelSpec:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    return MODELS[name]
