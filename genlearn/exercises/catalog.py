"""Every exercise of the course, by the name a notebook uses for it (names are unique across tracks)."""

from __future__ import annotations

import importlib

from genlearn.exercises import Exercise

TRACK_MODULES = ("genlearn.data.exercises", "genlearn.gan.exercises", "genlearn.vae.exercises", "genlearn.text.exercises")


def all_exercises() -> dict[str, Exercise]:
    found: dict[str, Exercise] = {}
    for module_name in TRACK_MODULES:
        for name, value in vars(importlib.import_module(module_name)).items():
            if isinstance(value, Exercise):
                if name in found:
                    raise ValueError(f"two exercises are named {name}: names must be unique across tracks")
                found[name] = value
    return found
