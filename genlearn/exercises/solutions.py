"""The instructor edition: every notebook with each exercise's reference solution written in.

    python -m genlearn.exercises.solutions OUT_DIR [NOTEBOOK ...]

For each cell that calls ``check(SOME.EXERCISE, name)``, the student's ``def name`` (or ``class name``)
in that cell is replaced by the source of the exercise's reference, renamed to ``name``. The edition is
built from the same exercises that the checks use, so it cannot drift from them; because the solution
then lives in the notebook, the check treats it as the student's code, and it must pass without the
library's answer.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
import textwrap
from pathlib import Path

import nbformat

from genlearn.exercises.catalog import all_exercises

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _checked_names(tree: ast.AST) -> list[tuple[str, str]]:
    """(exercise constant, candidate name) for each ``check(X.NAME, candidate)`` in a cell."""
    pairs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and len(node.args) == 2:
            exercise, candidate = node.args
            name = exercise.attr if isinstance(exercise, ast.Attribute) else getattr(exercise, "id", None)
            if name and isinstance(candidate, ast.Name):
                pairs.append((name, candidate.id))
    return pairs


def _solution_source(reference, name: str) -> str:
    source = textwrap.dedent(inspect.getsource(reference))
    tree = ast.parse(source)
    definition = tree.body[0]
    start = definition.lineno - 1  # after any decorators: the line holding "def" or "class"
    lines = source.splitlines()
    lines[start] = lines[start].replace(f" {definition.name}", f" {name}", 1)
    return "\n".join(lines[definition.decorator_list[0].lineno - 1 if definition.decorator_list else 0:])


def fill_cell(source: str, exercises: dict) -> tuple[str, int]:
    """The cell with its exercises solved, and how many were filled."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics; exercise cells are plain Python
        return source, 0
    lines, filled = source.splitlines(), 0
    definitions = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for exercise_name, candidate in reversed(_checked_names(tree)):
        if exercise_name not in exercises or candidate not in definitions:
            continue
        node = definitions[candidate]
        first = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
        solution = _solution_source(exercises[exercise_name].reference, candidate).splitlines()
        lines[first:node.end_lineno] = solution
        filled += 1
    return "\n".join(lines), filled


def write_edition(out_dir: Path, notebooks: list[Path]) -> int:
    exercises, total = all_exercises(), 0
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.source, filled = fill_cell(cell.source, exercises)
                total += filled
        nbformat.write(notebook, out_dir / path.name)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the instructor edition: notebooks with the solutions filled in.")
    parser.add_argument("out_dir", type=Path, help="folder to write the notebooks into (for example solutions/)")
    parser.add_argument("notebooks", type=Path, nargs="*", help="notebooks to convert (default: all of notebooks/)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [str(path) for path in notebooks if not path.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.out_dir.resolve() == NOTEBOOKS:
        print("error: the instructor edition must not overwrite the student notebooks; choose another folder",
              file=sys.stderr)
        return 2
    filled = write_edition(args.out_dir, notebooks)
    print(f"wrote {len(notebooks)} notebooks with {filled} solutions into {args.out_dir}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
