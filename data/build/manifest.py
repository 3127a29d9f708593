"""Recompute data/manifest.json: the sha256 and size of every shipped data file.

Run from the repository root after rebuilding any data file:

    python data/build/manifest.py

genlearn.data.bundled_file refuses a file whose hash differs from this manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1]
SHIPPED = ["mnist_subset.npz", "names.txt", "shakespeare.txt"]


def main() -> None:
    files = {}
    for name in SHIPPED:
        content = (DATA_DIR / name).read_bytes()
        files[name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
        print(f"{name}: {files[name]['sha256']} ({len(content):,} bytes)")
    (DATA_DIR / "manifest.json").write_text(json.dumps({"files": files}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
