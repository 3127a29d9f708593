"""Pretrained weights shipped in ``data/pretrained/``, so a student sees good samples without training.

Each file is a weights-only genlearn checkpoint written by ``export_pretrained`` at the end of a
full-length run (``benchmarks/``); it carries the config it was trained with.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlearn.checkpoint import CheckpointError, load_checkpoint, load_module_state, save_checkpoint
from genlearn.data.files import data_dir


def pretrained_path(name: str) -> Path:
    return data_dir() / "pretrained" / f"{name}.pt"


def export_pretrained(trainer, name: str | None = None) -> Path:
    """Save ``trainer``'s module weights (no optimizer state) with its config, for shipping."""
    state = {f"module.{n}": trainer.unwrapped(n).state_dict() for n in trainer.modules}
    return save_checkpoint(
        pretrained_path(name or trainer.model_name),
        model=trainer.model_name,
        config=trainer.config,
        state=state,
        step=trainer.step,
    )


def load_pretrained(trainer_class, device: torch.device | str, name: str | None = None, **trainer_options):
    """Build a ``trainer_class`` with the shipped checkpoint's config and load its weights."""
    name = name or trainer_class.model_name
    path = pretrained_path(name)
    if not path.is_file():
        raise CheckpointError(
            f"no pretrained weights at {path}; restore them with `git checkout -- data/pretrained/{path.name}` "
            f"or retrain them with `python benchmarks/pretrain.py --models {name}`."
        )
    checkpoint = load_checkpoint(path, expected_model=trainer_class.model_name, map_location=device)
    trainer = trainer_class(trainer_class.config_class(**checkpoint.config), device, **trainer_options)
    for module_name in trainer.modules:
        load_module_state(trainer.unwrapped(module_name), checkpoint.state[f"module.{module_name}"], source=str(path))
    trainer.step = checkpoint.step
    return trainer
