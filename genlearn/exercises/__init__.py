"""Self-checking exercises: the student writes a function, ``check`` says whether it is right.

Under the test suite an exercise the student has not attempted is checked with the
library's reference solution instead, so the checker itself is exercised in CI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from genlearn.budget import under_test


@dataclass(frozen=True)
class Exercise:
    title: str
    checker: Callable[[Callable], None]  # raises AssertionError with a hint when the candidate is wrong
    reference: Callable


def check(exercise: Exercise, candidate: Callable) -> bool:
    """Print whether ``candidate`` solves ``exercise``; under test, failures raise."""
    try:
        exercise.checker(candidate)
    except NotImplementedError:
        if not under_test():
            print(f"{exercise.title}: not attempted yet. Fill in the function above, then run this cell again.")
            return False
        print(f"{exercise.title}: not attempted; checking the reference solution instead.")
        exercise.checker(exercise.reference)
    except AssertionError as error:
        if under_test():
            raise
        print(f"{exercise.title}: not yet right. {error}")
        return False
    print(f"{exercise.title}: correct.")
    return True
