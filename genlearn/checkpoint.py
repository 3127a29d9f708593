"""Checkpoints: state_dicts, config and step, saved atomically and loaded safely on any device.

Loading uses ``torch.load(weights_only=True)``, so a malicious file cannot run code,
and ``map_location``, so a GPU checkpoint loads on a CPU or on mps.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

FORMAT = "genlearn-checkpoint"
FORMAT_VERSION = 1
# Prefixes that wrappers add to parameter names: torch.compile and DistributedDataParallel.
WRAPPER_PREFIXES = ("_orig_mod.", "module.")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, unsafe, or belongs to another model or config."""


@dataclass
class Checkpoint:
    model: str
    config: dict[str, Any]
    step: int
    state: dict[str, Any]
    extra: dict[str, Any]
    path: Path


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def save_checkpoint(
    path: str | Path,
    *,
    model: str,
    config: Any,
    state: dict[str, Any],
    step: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically: a crash mid-save leaves any previous file at ``path`` intact.

    ``state`` maps names to state_dicts (modules, optimizers, data iterators, RNG state).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model,
        "config": config_to_dict(config),
        "step": int(step),
        "state": {name: strip_wrapper_prefixes(s) if _is_module_state(s) else s for name, s in state.items()},
        "extra": extra or {},
    }
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_checkpoint(
    path: str | Path,
    *,
    expected_model: str | None = None,
    expected_config: Any = None,
    map_location: torch.device | str = "cpu",
) -> Checkpoint:
    """Load safely; raise ``CheckpointError`` with the fix if it is not a checkpoint of the expected model/config."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; check the path, or train first to create one.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch.load raises many types on damaged or hostile files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} is corrupt or not a safe genlearn checkpoint ({first_line}); "
            "delete it and retrain, or point to another checkpoint."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a genlearn checkpoint; point to a file written by genlearn.")
    if expected_model is not None and payload["model"] != expected_model:
        raise CheckpointError(
            f"{path} holds a '{payload['model']}' model, not '{expected_model}'; "
            f"use a '{expected_model}' checkpoint or choose the '{payload['model']}' model."
        )
    if expected_config is not None:
        expected = config_to_dict(expected_config)
        differences = {
            key: (payload["config"].get(key), value)
            for key, value in expected.items()
            if payload["config"].get(key) != value
        }
        if differences:
            listed = ", ".join(f"{k}: checkpoint {old!r} vs requested {new!r}" for k, (old, new) in differences.items())
            raise CheckpointError(
                f"{path} was written with another config ({listed}); "
                "use the config it was trained with, or start a new run in another folder."
            )
    return Checkpoint(
        model=payload["model"],
        config=payload["config"],
        step=payload["step"],
        state=payload["state"],
        extra=payload.get("extra", {}),
        path=path,
    )


def _is_module_state(state: Any) -> bool:
    return isinstance(state, dict) and bool(state) and all(isinstance(v, torch.Tensor) for v in state.values())


def strip_wrapper_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``_orig_mod.`` (torch.compile) and ``module.`` (DDP) prefixes from parameter names."""
    cleaned = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        cleaned[key] = value
    return cleaned


def load_module_state(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load weights (names stripped of compile/DDP prefixes) into an unwrapped ``module``, with a clear error on mismatch."""
    try:
        module.load_state_dict(strip_wrapper_prefixes(state_dict))
    except RuntimeError as error:
        raise CheckpointError(
            f"the weights in {source} do not fit this {type(module).__name__} "
            f"({str(error).splitlines()[0]}); it was trained with another config."
        ) from error
