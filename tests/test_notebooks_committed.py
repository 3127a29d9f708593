"""Committed notebooks carry no stale output: only cells tagged keep_output, which nbval compares."""

from pathlib import Path

import nbformat
import pytest

from notebook_outputs import KEEP_TAG, KERNELSPEC, problems, strip

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_course_has_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_kept_outputs_are_committed(path):
    notebook = nbformat.read(path, as_version=4)
    assert problems(notebook) == [], f"run `make notebooks` to re-execute and strip {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_compares_some_output(path):
    """Each notebook keeps at least one deterministic teaching fact for nbval to compare."""
    notebook = nbformat.read(path, as_version=4)
    assert any(KEEP_TAG in cell.metadata.get("tags", []) for cell in notebook.cells)


def test_strip_keeps_only_tagged_cells():
    notebook = nbformat.v4.new_notebook()
    kept = nbformat.v4.new_code_cell("print(1)", metadata={"tags": [KEEP_TAG]})
    kept.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    kept.execution_count = 1
    cleared = nbformat.v4.new_code_cell("print(2)")
    cleared.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    cleared.execution_count = 2
    notebook.cells = [kept, cleared]
    # nbformat's default has no kernelspec; JupyterLab's own differs from the classic "Python 3": both mark it modified.
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    assert len(problems(notebook)) == 2
    strip(notebook)
    assert problems(notebook) == []
    assert notebook.metadata["kernelspec"] == KERNELSPEC
    assert kept.execution_count == 1 and kept.outputs
    assert cleared.execution_count is None and not cleared.outputs
