"""Choosing the device: cuda, then mps, then cpu, unless the caller or GENLEARN_DEVICE says otherwise."""

from __future__ import annotations

import os

import torch

from genlearn.denormals import flush_denormals
from genlearn.threads import default_thread_count

flush_denormals()  # before torch starts its worker threads, which inherit it: see genlearn.denormals

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


def best_device() -> torch.device:
    """cuda, then mps, then cpu: the best device present, whatever ``$GENLEARN_DEVICE`` says."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """Return ``requested`` (or ``$GENLEARN_DEVICE``) if given and present, else the best device here."""
    named = f"device '{requested}'" if requested else f"{DEVICE_ENV}={os.environ.get(DEVICE_ENV)!r}"
    requested = requested or os.environ.get(DEVICE_ENV) or None
    if requested is None:
        return best_device()
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceUnavailableError(f"{named} is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'mps'.") from None
    if not _is_available(device):
        raise DeviceUnavailableError(
            f"{named} was requested but is not present on this machine; "
            f"drop the request to pick automatically (here: '{best_device()}')."
        )
    return device


def device_memory(device: torch.device) -> int:
    """Bytes of memory behind ``device``: the GPU's for CUDA, else the machine's RAM (mps shares it)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def describe_device(device: torch.device) -> str:
    """One line naming the hardware behind ``device``."""
    if device.type == "cuda":
        return f"{device}: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple silicon GPU"
    return f"cpu: {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads"


def configure_threads(num_threads: int | None = None) -> int:
    """Set torch's CPU thread count explicitly and return it.

    The default is ``genlearn.threads.default_thread_count()``: ``$OMP_NUM_THREADS`` if set, else the
    cores this process may use that are free right now, so that a shared machine does not collapse.
    """
    num_threads = num_threads or default_thread_count()
    torch.set_num_threads(num_threads)
    return num_threads
