"""genlearn: the library behind the generative-models course.

The course's structure is the package's structure:
- ``genlearn.data``: bundled datasets, tokenizers, in-memory batching;
- the training core: ``device``, ``seeding``, ``budget``, ``precision``, ``checkpoint``, ``loop`` (the loop
  and its callbacks), ``run`` (a training run: checkpoints, resume, logs, stopping) and ``training`` (the
  ``Trainer`` protocol every model family follows); ``models`` is the registry of every trainable model;
- one subpackage per model family: ``gan``, ``vae``, ``text``;
- ``evaluation``: the MNIST classifier metrics shared by the image models;
- ``plotting`` and ``widgets`` for the notebooks, and ``cli`` for instructors.
"""

import importlib

# Imported on first use, so that `python -m genlearn` can hold a Ctrl-C while torch imports.
_EXPORTS = {
    "Presets": "genlearn.budget",
    "active_preset": "genlearn.budget",
    "CheckpointError": "genlearn.checkpoint",
    "load_checkpoint": "genlearn.checkpoint",
    "save_checkpoint": "genlearn.checkpoint",
    "DeviceUnavailableError": "genlearn.device",
    "configure_threads": "genlearn.device",
    "describe_device": "genlearn.device",
    "pick_device": "genlearn.device",
    "Precision": "genlearn.precision",
    "Run": "genlearn.run",
    "RunError": "genlearn.run",
    "RunResult": "genlearn.run",
    "seed_everything": "genlearn.seeding",
    "Callback": "genlearn.training",
    "LossHistory": "genlearn.training",
    "StopTraining": "genlearn.training",
    "Trainer": "genlearn.training",
    "evaluating": "genlearn.training",
    "train_loop": "genlearn.training",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'genlearn' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__version__ = "0.1.0"

__all__ = [
    "Callback",
    "CheckpointError",
    "DeviceUnavailableError",
    "LossHistory",
    "Precision",
    "Presets",
    "Run",
    "RunError",
    "RunResult",
    "StopTraining",
    "Trainer",
    "active_preset",
    "configure_threads",
    "describe_device",
    "evaluating",
    "load_checkpoint",
    "pick_device",
    "save_checkpoint",
    "seed_everything",
    "train_loop",
]
