"""Checkpoints: state_dicts, config and step, saved atomically and loaded safely on any device.

Loading uses ``torch.load(weights_only=True)``, so a malicious file cannot run code,
and ``map_location``, so a GPU checkpoint loads on a CPU or on mps. A loaded file is checked before
anything is built from it: its layout (``load_checkpoint``), its config's field types (``config_from_dict``),
the memory its config asks for (``AllocationLimit``) and its weights (``load_module_state``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

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


def _defaults(config: Any) -> dict[str, Any]:
    """A config dataclass's field defaults (none for a plain dict)."""
    if not dataclasses.is_dataclass(config):
        return {}
    return {field.name: field.default for field in dataclasses.fields(config) if field.default is not dataclasses.MISSING}


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
        raise CheckpointError(
            f"{path} is corrupt or not a safe genlearn checkpoint ({_why_unloadable(error)}); "
            "delete it and retrain, or point to another checkpoint."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a genlearn checkpoint; point to a file written by genlearn.")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')!r}; this genlearn reads version "
            f"{FORMAT_VERSION} only. Use the genlearn that wrote it, or retrain."
        )
    problem = _layout_problem(payload)
    if problem:
        raise CheckpointError(f"{path} is damaged: {problem}; delete it and retrain, or point to another checkpoint.")
    if expected_model is not None and payload["model"] != expected_model:
        raise CheckpointError(
            f"{path} holds a '{payload['model']}' model, not '{expected_model}'; "
            f"use a '{expected_model}' checkpoint or choose the '{payload['model']}' model."
        )
    if expected_config is not None:
        expected = config_to_dict(expected_config)
        # A field added after the checkpoint was written counts as its default, so older runs still resume.
        written = {**_defaults(expected_config), **payload["config"]}
        differences = {
            key: (written.get(key), expected.get(key))
            for key in [*expected, *(key for key in written if key not in expected)]
            if written.get(key) != expected.get(key)
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


def _why_unloadable(error: Exception) -> str:
    """What torch.load disliked, without torch's advice to retry with weights_only=False (that would run the file)."""
    text = str(error)
    if "weights_only" in text:
        refused = re.search(r"GLOBAL ([\w.]+)", text)
        return f"it asks to run {refused.group(1)}, which a safe load refuses" if refused else "unreadable pickle data"
    return text.strip().splitlines()[0] if text.strip() else f"{type(error).__name__}: the file ends early"


def _layout_problem(payload: dict) -> str | None:
    """What is missing or of the wrong type in a loaded checkpoint's top level; None when it is whole."""
    expected = {"model": str, "config": dict, "step": int, "state": dict, "extra": dict}
    for key, kind in expected.items():
        if key not in payload and key != "extra":
            return f"it has no {key!r} entry"
        if key in payload and (not isinstance(payload[key], kind) or isinstance(payload[key], bool)):
            return f"its {key!r} entry is {type(payload[key]).__name__}, not {kind.__name__}"
    if payload["step"] < 0:
        return f"its step is {payload['step']}"
    for key in ("config", "state"):
        if not all(isinstance(name, str) for name in payload[key]):
            return f"its {key!r} entry has names that are not strings"
    if not isinstance(payload.get("extra", {}).get("data", ""), str):
        return "the training data it names is not a path"
    return None


def config_from_dict(config_class: type, values: dict[str, Any]):
    """``config_class(**values)`` once every value has its field's type; ``ValueError`` names the first that does not.

    Fields typed ``int``, ``float``, ``str``, ``bool`` and ``X | None`` are checked; a float must be finite.
    Fields missing from ``values`` keep their defaults (a checkpoint from before the field existed).
    """
    hints = typing.get_type_hints(config_class)
    known = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    for name, value in values.items():
        if not _has_type(value, hints[name]):
            raise ValueError(f"field {name!r} is {value!r}, not {_type_name(hints[name])}")
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:  # the config's own checks (__post_init__)
        raise ValueError(str(error)) from None


def _has_type(value: Any, hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    raise TypeError(f"config_from_dict cannot check a field typed {hint!r}; use int, float, str, bool or X | None")


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(hint))
    return {type(None): "None", bool: "a bool", int: "an int", float: "a finite float", str: "a str"}[hint]


class AllocationLimit(TorchDispatchMode):
    """Within ``with``: creating tensors from a size (parameters, buffers) past ``max_bytes`` in all raises
    ``MemoryError`` before allocating. For building a model from an untrusted config: a config asking for a
    320 GB layer is refused, not attempted.
    """

    def __init__(self, max_bytes: int, what: str):
        super().__init__()
        self.max_bytes, self.what, self.requested = max_bytes, what, 0

    def __torch_dispatch__(self, func, tensor_types, args=(), kwargs=None):
        kwargs = kwargs or {}
        arguments = func._schema.arguments
        if args and arguments and arguments[0].name == "size":  # torch.empty, zeros, ones, full, rand, randn
            dtype = kwargs.get("dtype") or torch.get_default_dtype()
            self.requested += math.prod(int(n) for n in args[0]) * dtype.itemsize
            if self.requested > self.max_bytes:
                raise MemoryError(
                    f"{self.what} asks for more than the {self.max_bytes / 2**30:,.1f} GiB of memory this device has"
                )
        return func(*args, **kwargs)


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
    """Load weights (names stripped of compile/DDP prefixes) into an unwrapped ``module``, with a clear error on mismatch.

    Weights that are not tensors, or not finite (a run that diverged), are refused.
    """
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"{source} is damaged: the weights of its {type(module).__name__} are not all tensors.")
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{source} holds weights that are not finite (NaN or inf in {name}): the run diverged. "
                "Use an earlier checkpoint, or retrain with a lower learning rate."
            )
    try:
        module.load_state_dict(strip_wrapper_prefixes(state_dict))
    except RuntimeError as error:
        mismatch = _state_dict_mismatch(module.state_dict(), strip_wrapper_prefixes(state_dict))
        raise CheckpointError(
            f"the weights in {source} do not fit this {type(module).__name__} "
            f"({mismatch or str(error).splitlines()[0]}); it was trained with another config."
        ) from error


def _state_dict_mismatch(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str:
    """The first missing, unexpected or differently shaped entry, in words."""
    for name, tensor in expected.items():
        if name not in given:
            return f"no {name}"
        if given[name].shape != tensor.shape:
            return f"{name} has shape {tuple(given[name].shape)}, not {tuple(tensor.shape)}"
    unexpected = sorted(set(given) - set(expected))
    return f"unexpected {unexpected[0]}" if unexpected else ""
