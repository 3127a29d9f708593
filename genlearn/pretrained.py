"""Pretrained weights shipped in ``data/pretrained/``, so a student sees good samples without training.

Each file is a weights-only genlearn checkpoint written by ``export_pretrained`` at the end of a
full-length run (``benchmarks/``); it carries the config it was trained with, and loads through
``Trainer.from_checkpoint`` like any other checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlearn.checkpoint import CheckpointError, save_checkpoint
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


def load_pretrained(trainer_class, device: torch.device | str, name: str | None = None, **options):
    """The shipped ``name`` (default: the trainer's model name) as a ``trainer_class``, on ``device``.

    ``options`` go to ``Trainer.from_checkpoint`` (``data=``, ``precision=``).
    """
    name = name or trainer_class.model_name
    path = pretrained_path(name)
    if not path.is_file():
        raise CheckpointError(
            f"no pretrained weights at {path}; restore them with `git checkout -- data/pretrained/{path.name}` "
            f"or retrain them with `python benchmarks/pretrain.py --models {name}`."
        )
    return trainer_class.from_checkpoint(path, device, **options)
