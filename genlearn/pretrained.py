"""Pretrained weights shipped in ``data/pretrained/``, so a student sees good samples without training.

Each file is a weights-only genlearn checkpoint written by ``export_pretrained`` at the end of a
full-length run (``benchmarks/``); it carries the config it was trained with, and loads through
``Trainer.from_checkpoint`` like any other checkpoint. ``data/pretrained/manifest.json`` holds each
file's sha256: ``export_pretrained`` records it, and ``load_pretrained`` refuses a file that differs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlearn.checkpoint import CheckpointError, save_checkpoint
from genlearn.data.files import checked_file, data_dir, record_in_manifest


def pretrained_file(name: str) -> str:
    """The weights' file name relative to the data folder (how the manifest and `git` name it)."""
    return f"pretrained/{name}.pt"


def pretrained_path(name: str) -> Path:
    return data_dir() / pretrained_file(name)


def how_to_restore(name: str) -> str:
    """A group's weights (``vae_sweep/beta_4``) retrain with their group (``--models vae_sweep``)."""
    return (
        f"Restore it with `git checkout -- data/{pretrained_file(name)}`, "
        f"or retrain it with `python benchmarks/pretrain.py --models {name.split('/')[0]}`."
    )


def export_pretrained(trainer, name: str | None = None, dtype: torch.dtype | None = None) -> Path:
    """Save ``trainer``'s module weights (no optimizer state) with its config, for shipping, and record its sha256.

    ``dtype`` (for example ``torch.float16``) stores floating-point tensors at that precision, to halve a file;
    loading casts them back to the model's own dtype.
    """
    state = {f"module.{n}": _stored(trainer.unwrapped(n).state_dict(), dtype) for n in trainer.modules}
    name = name or trainer.model_name
    path = save_checkpoint(
        pretrained_path(name),
        model=trainer.model_name,
        config=trainer.config,
        state=state,
        step=trainer.step,
    )
    record_in_manifest(pretrained_file(name))
    return path


def _stored(state: dict, dtype: torch.dtype | None) -> dict:
    if dtype is None:
        return state
    return {key: value.to(dtype) if value.is_floating_point() else value for key, value in state.items()}


def load_pretrained(trainer_class, device: torch.device | str, name: str | None = None, **options):
    """The shipped ``name`` (default: the trainer's model name) as a ``trainer_class``, on ``device``.

    The file must match its sha256 in ``data/pretrained/manifest.json`` (``DataFileError`` otherwise).
    ``options`` go to ``Trainer.from_checkpoint`` (``data=``, ``precision=``).
    """
    name = name or trainer_class.model_name
    path = pretrained_path(name)
    if not path.is_file():
        raise CheckpointError(f"no pretrained weights at {path}; {how_to_restore(name)}")
    checked_file(pretrained_file(name), how_to_restore(name))
    return trainer_class.from_checkpoint(path, device, **options)
