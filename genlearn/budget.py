"""How long training runs: one mechanism for notebooks, the command line and the test suite.

Every trainable lesson keeps its configs as named presets in the library:
``smoke`` (seconds, used by the test suite), ``cpu`` (a laptop) and ``gpu`` (an instructor's GPU).
Notebooks never choose step counts: they call ``PRESETS.for_device(device)``.
The test command sets ``GENLEARN_BUDGET=smoke``, which shrinks every run at once.
"""

from __future__ import annotations

import os
from typing import Generic, TypeVar

import torch

BUDGET_ENV = "GENLEARN_BUDGET"
PRESET_NAMES = ("smoke", "cpu", "gpu")

Config = TypeVar("Config")


def active_preset(device: torch.device | str) -> str:
    """``$GENLEARN_BUDGET`` if set, else ``gpu`` on CUDA and ``cpu`` elsewhere (mps included)."""
    forced = os.environ.get(BUDGET_ENV, "").strip()
    if forced:
        if forced not in PRESET_NAMES:
            raise ValueError(
                f"{BUDGET_ENV}={forced!r} is not a budget; use one of {', '.join(PRESET_NAMES)} or unset it."
            )
        return forced
    return "gpu" if torch.device(device).type == "cuda" else "cpu"


def under_test() -> bool:
    """True when the test suite asked for the smoke budget."""
    return os.environ.get(BUDGET_ENV, "").strip() == "smoke"


class Presets(Generic[Config]):
    """A config per preset name; ``for_device`` picks the one this run should use."""

    def __init__(self, *, smoke: Config, cpu: Config, gpu: Config):
        self._configs = {"smoke": smoke, "cpu": cpu, "gpu": gpu}

    def __getitem__(self, name: str) -> Config:
        if name not in self._configs:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}.")
        return self._configs[name]

    def for_device(self, device: torch.device | str) -> Config:
        return self[active_preset(device)]

    def items(self):
        return self._configs.items()

    def __repr__(self) -> str:
        return f"Presets({', '.join(self._configs)})"
