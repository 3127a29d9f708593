"""Seeding, and random state that a trainer owns, so that a resumed run continues exactly."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device), so that a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _device_generators(device: torch.device):
    """torch's module holding ``device``'s global generator, or None for the CPU (covered by torch itself)."""
    if device.type == "cuda":
        return torch.cuda
    if device.type == "mps":
        return torch.mps
    return None


def rng_state(device: torch.device | str = "cpu") -> dict:
    """torch's global generators for the CPU and ``device``, in a form a ``weights_only`` checkpoint can hold."""
    device = torch.device(device)
    state = {"torch": torch.get_rng_state()}
    module = _device_generators(device)
    if module is torch.cuda:
        state["device"] = torch.cuda.get_rng_state(device)
    elif module is torch.mps:
        state["device"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict, device: torch.device | str = "cpu") -> None:
    device = torch.device(device)
    torch.set_rng_state(state["torch"].cpu())
    module = _device_generators(device)
    if "device" in state and module is torch.cuda:
        torch.cuda.set_rng_state(state["device"].cpu(), device)
    elif "device" in state and module is torch.mps:
        torch.mps.set_rng_state(state["device"].cpu())


def fresh_rng_state(seed: int, device: torch.device | str = "cpu") -> dict:
    """The global generators' state right after ``torch.manual_seed(seed)``; the caller's state is left as it was."""
    with isolated_rng(device):
        torch.manual_seed(seed)
        return rng_state(device)


@contextlib.contextmanager
def isolated_rng(device: torch.device | str = "cpu") -> Iterator[None]:
    """Within ``with``, draws from torch's global generators do not change the caller's random state."""
    saved = rng_state(device)
    try:
        yield
    finally:
        set_rng_state(saved, device)
