"""Self-checking exercises: the student writes a piece of the lesson, ``check`` says whether it is right.

An exercise is one of three kinds:

- ``closed``: a small function with one right answer;
- ``build``: a core piece of the lesson, built by the student and run against the library;
- ``open``: a question the student answers with an experiment, checked by a number it must reach.

While a check runs, the library code that implements the answer (``Exercise.forbidden``) and the
exercise's own reference raise ``WriteItYourself`` when the student's code calls them
(see ``genlearn.exercises.guard``). Checkers draw fresh random inputs over several seeds
(``genlearn.exercises.inputs``), so a hard-coded answer cannot pass, and their failure messages give
a hint, never the expected value.

Under the test suite an exercise the student has not attempted is checked with its reference
instead, so the checker itself is exercised in CI; the message says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from genlearn.budget import under_test
from genlearn.exercises.guard import WriteItYourself, forbidding

KINDS = ("closed", "build", "open")


@dataclass(frozen=True)
class Exercise:
    title: str
    checker: Callable[[Callable], None]  # raises AssertionError with a hint when the candidate is wrong
    reference: Callable
    kind: str = "closed"
    # Dotted names of the library code that implements the answer: calling them is not solving it.
    forbidden: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"exercise kind {self.kind!r} is not one of {', '.join(KINDS)}")


def check(exercise: Exercise, candidate: Callable) -> None:
    """Print whether ``candidate`` solves ``exercise``; under test, a wrong answer raises.

    Returns nothing, so that a notebook cell shows the verdict and no ``Out[n]``.
    """
    try:
        with forbidding(exercise, candidate):
            exercise.checker(candidate)
    except NotImplementedError:
        if not under_test():
            print(f"{exercise.title}: not attempted yet. Fill in the code above, then run this cell again.")
            return
        with forbidding(exercise):
            exercise.checker(exercise.reference)
        print(
            f"{exercise.title}: not attempted. (Under the test suite the reference solution was checked instead, "
            "and it passed; the exercise is still yours to do.)"
        )
        return
    except WriteItYourself as error:
        if under_test():
            raise
        print(f"{exercise.title}: not accepted. {error}")
        return
    except AssertionError as error:
        if under_test():
            raise
        print(f"{exercise.title}: not yet right. {error}")
        return
    print(f"{exercise.title}: correct.")


def passes(exercise: Exercise, candidate: Callable) -> bool:
    """True when ``candidate`` passes ``exercise``'s check, silently: for tests of the checkers."""
    try:
        with forbidding(exercise, candidate):
            exercise.checker(candidate)
    except (AssertionError, WriteItYourself):
        return False
    return True


__all__ = ["KINDS", "Exercise", "WriteItYourself", "check", "passes"]
