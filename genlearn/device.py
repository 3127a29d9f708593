"""Choosing the device: cuda, then mps, then cpu, unless the caller or GENLEARN_DEVICE says otherwise."""

from __future__ import annotations

import os

import torch

DEVICE_ENV = "GENLEARN_DEVICE"


class DeviceUnavailableError(RuntimeError):
    """A device was requested that this machine does not have."""


def _is_available(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index is None or device.index < torch.cuda.device_count())
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return False


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """Return ``requested`` (or ``$GENLEARN_DEVICE``) if given and present, else the best device here."""
    requested = requested or os.environ.get(DEVICE_ENV) or None
    if requested is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as error:
        raise DeviceUnavailableError(
            f"'{requested}' is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from error
    if not _is_available(device):
        raise DeviceUnavailableError(
            f"device '{device}' was requested but is not present on this machine; "
            f"drop the request to pick automatically (here: '{pick_device()}')."
        )
    return device


def describe_device(device: torch.device) -> str:
    """One line naming the hardware behind ``device``."""
    if device.type == "cuda":
        return f"{device}: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple silicon GPU"
    return f"cpu: {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads"


def configure_threads(num_threads: int | None = None) -> int:
    """Set torch's CPU thread count explicitly (default: every logical core) and return it."""
    num_threads = num_threads or os.cpu_count() or 1
    torch.set_num_threads(num_threads)
    return num_threads
