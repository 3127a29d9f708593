"""Keep only the notebook outputs that nbval should compare.

A cell tagged ``keep_output`` keeps its outputs and its execution_count (strict nbval
compares only cells that have one); every other cell is cleared. Usage:

    python tests/notebook_outputs.py strip notebooks/*.ipynb
    python tests/notebook_outputs.py check notebooks/*.ipynb
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

KEEP_TAG = "keep_output"
VOLATILE_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
# The kernelspec exactly as JupyterLab writes it when the kernel starts: any difference marks a notebook
# modified on open, so closing it untouched would ask to save.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def is_kept(cell) -> bool:
    return KEEP_TAG in cell.get("metadata", {}).get("tags", [])


def strip(notebook) -> None:
    notebook.metadata.pop("widgets", None)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in notebook.cells:
        for key in VOLATILE_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code" or is_kept(cell):
            continue
        cell.outputs = []
        cell.execution_count = None


def problems(notebook) -> list[str]:
    """What a committed notebook must not carry: stale outputs, or kept cells with nothing to compare."""
    found = []
    if notebook.metadata.get("kernelspec") != KERNELSPEC:
        found.append(f"its kernelspec is not {KERNELSPEC}, so JupyterLab marks it modified on open")
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if is_kept(cell):
            if not cell.outputs or cell.execution_count is None:
                found.append(f"cell {index} is tagged {KEEP_TAG} but has no saved output or execution_count")
            elif any(output.get("output_type") == "error" for output in cell.outputs):
                found.append(f"cell {index} is tagged {KEEP_TAG} but saved an error")
        elif cell.outputs or cell.execution_count is not None:
            found.append(f"cell {index} carries outputs or an execution_count but is not tagged {KEEP_TAG}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("strip", "check"):
        print(__doc__)
        return 2
    status = 0
    for path in map(Path, argv[1:]):
        notebook = nbformat.read(path, as_version=4)
        if argv[0] == "strip":
            strip(notebook)
            nbformat.write(notebook, path)
        for problem in problems(notebook):
            print(f"{path}: {problem}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
