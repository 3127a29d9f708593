"""The exercise framework: honest verdicts, the guard against calling the answer, the catalog and the instructor edition.

Each track's own wrong answers are tested in tests/test_exercises_<track>.py.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
import torch.nn.functional as F

from genlearn import budget
from genlearn.exercises import Exercise, WriteItYourself, check, passes
from genlearn.exercises.catalog import all_exercises
from genlearn.exercises.guard import resolve
from genlearn.exercises.solutions import fill_cell, main as solutions_main
from square_exercise import SOFTMAX, SQUARE, square_checker, square_reference

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXERCISES = all_exercises()




def test_check_says_correct_or_gives_the_hint(monkeypatch, capsys):
    monkeypatch.delenv(budget.BUDGET_ENV, raising=False)
    assert check(SQUARE, lambda x: x**2) is None  # no Out[n] under the verdict
    assert capsys.readouterr().out.strip() == "Square: correct."
    check(SQUARE, lambda x: x + x)
    assert "not yet right. square x: multiply it by itself" in capsys.readouterr().out


def test_unattempted_exercise_says_so_even_when_the_reference_is_checked(monkeypatch, capsys):
    def unattempted(x):
        raise NotImplementedError

    monkeypatch.delenv(budget.BUDGET_ENV, raising=False)
    check(SQUARE, unattempted)
    assert "not attempted yet" in capsys.readouterr().out
    monkeypatch.setenv(budget.BUDGET_ENV, "smoke")
    check(SQUARE, unattempted)
    out = capsys.readouterr().out
    assert "not attempted" in out and "reference solution was checked instead" in out and "correct" not in out
    broken = Exercise("Square", square_checker, reference=lambda x: x)
    with pytest.raises(AssertionError):
        check(broken, unattempted)


def test_calling_the_reference_is_refused_but_the_checker_may_use_it(monkeypatch, capsys):
    monkeypatch.delenv(budget.BUDGET_ENV, raising=False)
    check(SQUARE, lambda x: SQUARE.reference(x))
    assert "not accepted" in capsys.readouterr().out
    check(SQUARE, lambda x: square_reference(x))
    assert "not accepted" in capsys.readouterr().out
    assert not hasattr(SQUARE.reference, "__wrapped__")
    check(SQUARE, lambda x: SQUARE.reference.__wrapped__(x) if hasattr(SQUARE.reference, "__wrapped__") else x + 1)
    assert "not yet right" in capsys.readouterr().out
    # Outside a check the reference is a plain function again.
    assert SQUARE.reference(4) == 16 and square_reference(5) == 25
    monkeypatch.setenv(budget.BUDGET_ENV, "smoke")
    with pytest.raises(WriteItYourself, match="reference solution"):
        check(SQUARE, lambda x: SQUARE.reference(x))


def test_forbidden_library_code_refuses_the_student_but_serves_the_library():
    def uses_softmax_directly(x):
        return F.softmax(x, dim=-1)

    assert not passes(SOFTMAX, uses_softmax_directly)
    assert passes(SOFTMAX, lambda x: x.exp() / x.exp().sum(-1, keepdim=True))
    assert not hasattr(F.softmax, "__wrapped_by_genlearn__"), "the guard must be removed after the check"


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_no_checker_accepts_a_call_to_the_reference_or_to_the_library(name):
    exercise = EXERCISES[name]
    assert not passes(exercise, lambda *args, **kwargs: exercise.reference(*args, **kwargs))
    for dotted in exercise.forbidden:
        # Looked up at call time, as a student's code would: the guard is in place by then.
        assert not passes(exercise, lambda *args, **kwargs: resolve(dotted)[2](*args, **kwargs)), dotted


def _notebook_check_calls() -> dict[str, list[tuple[ast.Call, ast.Module]]]:
    """Each notebook's ``check(...)`` calls, with the cell each sits in."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        calls = []
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            try:
                tree = ast.parse("".join(cell["source"]))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and node.args:
                    calls.append((node, tree))
        found[path.name] = calls
    return found


def _notebook_checks() -> dict[str, list[str]]:
    """Exercise names each notebook checks."""
    return {
        notebook: [call.args[0].attr if isinstance(call.args[0], ast.Attribute) else call.args[0].id for call, _ in calls]
        for notebook, calls in _notebook_check_calls().items()
    }


def test_every_checker_accepts_its_reference_in_its_notebook():
    """Each notebook leaves its exercises unattempted, so under the smoke budget ``check`` runs the checker on the
    reference, and nbval fails if it rejects it: with the test below, every checker meets its reference once."""
    for notebook, calls in _notebook_check_calls().items():
        for call, cell in calls:
            answer = call.args[1].id
            definitions = [node for node in cell.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
            body = next((node for node in definitions if node.name == answer), None)
            assert body is not None, f"{notebook}: check(...) of {answer}, which its cell does not define"
            raises = [node.exc for node in ast.walk(body) if isinstance(node, ast.Raise) and node.exc is not None]
            assert any(getattr(exc, "id", None) == "NotImplementedError" for exc in raises), (
                f"{notebook}: {answer} is filled in, so the test suite no longer checks its exercise's reference"
            )


def test_every_exercise_is_checked_in_one_notebook_and_every_lesson_has_one_to_build():
    checks = _notebook_checks()
    used = [name for names in checks.values() for name in names]
    assert sorted(used) == sorted(set(used)), "an exercise is checked twice"
    assert set(used) == set(EXERCISES), f"unused: {set(EXERCISES) - set(used)}; unknown: {set(used) - set(EXERCISES)}"
    for notebook, names in checks.items():
        kinds = [EXERCISES[name].kind for name in names]
        assert "build" in kinds, f"{notebook} has no build-it-yourself exercise"


def test_fill_cell_writes_the_reference_under_the_students_name():
    cell = "import math\n\n\ndef square(x):\n    raise NotImplementedError  # your code here\n\n\ncheck(SQUARE, square)"
    filled, count = fill_cell(cell, {"SQUARE": SQUARE})
    assert count == 1 and "NotImplementedError" not in filled
    namespace = {"check": lambda exercise, candidate: None, "SQUARE": SQUARE}
    exec(compile(filled, "<cell>", "exec"), namespace)
    assert namespace["square"](6) == 36


def test_instructor_edition_fills_every_exercise(tmp_path):
    """Every exercise is solved in the edition; tests/test_site.py runs one notebook of it end to end."""
    assert solutions_main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for path in tmp_path.glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            assert not ("check(" in source and "NotImplementedError" in source), f"{path.name}: unsolved exercise"


def test_solutions_command_refuses_to_overwrite_the_course(capsys):
    assert solutions_main([str(NOTEBOOKS)]) == 2
    assert "must not overwrite" in capsys.readouterr().err
    assert os.path.isdir(NOTEBOOKS)
