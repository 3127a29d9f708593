"""Figures measured by the scripts in ``benchmarks/``, for notebooks to quote instead of typing them.

    from genlearn.measured import measured
    gan = measured("gan")            # benchmarks/results/gan.json as a dict
    measured("gan", "train_seconds") # one figure, by a dotted path

A figure typed into prose goes stale when the benchmark is rerun; one read from here cannot.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def measured(name: str, path: str | None = None):
    """``benchmarks/results/<name>.json``, or the value at the dotted ``path`` inside it."""
    file = RESULTS_DIR / f"{name}.json"
    if not file.is_file():
        raise FileNotFoundError(f"no measured results at {file}; run the script in benchmarks/ that writes {name}.json")
    value = json.loads(file.read_text())
    if path is None:
        return value
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(f"{file.name} has no {path!r} (missing {key!r}); rerun its benchmark")
        value = value[key]
    return value
