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

from genlearn.budget import Presets, active_preset
from genlearn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genlearn.device import DeviceUnavailableError, configure_threads, describe_device, pick_device
from genlearn.precision import Precision
from genlearn.run import Run, RunError, RunResult
from genlearn.seeding import seed_everything
from genlearn.training import Callback, LossHistory, StopTraining, Trainer, evaluating, train_loop

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
