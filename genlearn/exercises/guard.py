"""While a check runs, the answer's library code refuses calls from the student's code.

``forbidding(exercise)`` replaces, for the duration of the check, every binding of each forbidden
name (in genlearn's modules, in the defining module, in the notebook's namespace, and on classes for
methods) and the exercise's reference with a guard. The guard looks at the call stack: if any frame
between the check and the call comes from outside the library and the installed packages (that is,
from the student's notebook), it raises ``WriteItYourself``. The checker's own file counts as library.
Library code that the checker runs, or that the library runs for the student, still works.
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_LIBRARY_ROOTS = tuple(
    {str(Path(__file__).resolve().parents[1])}
    | {str(Path(p).resolve()) for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                                         sysconfig.get_paths()["platlib"])}
)
_checks: list[tuple[Any, str]] = []  # (frame, checker's file) of the checks now running, innermost last


class WriteItYourself(Exception):
    """The student's answer called the code that the exercise asks them to write."""


def _is_student_code(filename: str, checker_file: str) -> bool:
    if filename.startswith("<"):  # <frozen ...>, <string> from dataclasses; old IPython cells are <ipython-input-...>
        return filename.startswith("<ipython-input")
    resolved = str(Path(filename).resolve())
    return resolved != checker_file and not resolved.startswith(_LIBRARY_ROOTS)


def student_code_is_running() -> bool:
    """True when a frame of the student's code lies between the innermost check and here."""
    if not _checks:
        return False
    boundary, checker_file = _checks[-1]
    frame = sys._getframe(1)
    while frame is not None and frame is not boundary:
        if _is_student_code(frame.f_code.co_filename, checker_file):
            return True
        frame = frame.f_back
    return False


def _guarded(function: Callable, name: str) -> Callable:
    def guard(*args, **kwargs):
        if student_code_is_running():
            raise WriteItYourself(
                f"your code calls {name}, which is the answer itself. Write it yourself from tensor operations."
            )
        return function(*args, **kwargs)

    # Not functools.wraps: its __wrapped__ would hand the student the unguarded function.
    guard.__name__, guard.__doc__ = getattr(function, "__name__", name), getattr(function, "__doc__", None)
    guard.__wrapped_by_genlearn__ = True
    return guard


def resolve(dotted: str) -> tuple[Any, str, Any]:
    """``'pkg.module.Class.method'`` -> (owner, attribute name, object)."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:-1]:
            owner = getattr(owner, attribute)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"cannot resolve {dotted!r}")


def _bindings(targets: dict[int, tuple[Any, str]], namespaces: list[dict]) -> Iterator[tuple[dict, str, tuple[Any, str]]]:
    """Each (namespace, key, target entry) where a namespace binds a function of ``targets`` (keyed by ``id``)."""
    seen: set[int] = set()
    for namespace in namespaces:
        if id(namespace) in seen:
            continue
        seen.add(id(namespace))
        for key, value in list(namespace.items()):
            entry = targets.get(id(value))
            if entry is not None and entry[0] is value:
                yield namespace, key, entry


def _home_namespace(candidate: Any) -> dict:
    """The globals the candidate's code sees: where the notebook may have imported the answer."""
    if hasattr(candidate, "__globals__"):
        return candidate.__globals__
    return vars(sys.modules.get(getattr(candidate, "__module__", "") or "", sys))


@contextmanager
def forbidding(exercise: Any, candidate: Any = None) -> Iterator[None]:
    """Guard ``exercise.forbidden`` and ``exercise.reference`` for the duration of one check of ``candidate``."""
    patches: list[tuple[Any, str, Any]] = []  # (owner, name, original); owner is a dict or an object
    targets: dict[int, tuple[Any, str]] = {}  # id -> (function to guard, the name its guard gives)
    owners: list[dict] = []  # the modules named in the dotted names, which may not be the functions' homes

    try:
        for dotted in exercise.forbidden:
            owner, attribute, target = resolve(dotted)
            if isinstance(owner, type):  # a method: patch it on its class, where every lookup finds it
                patches.append((owner, attribute, owner.__dict__[attribute]))
                setattr(owner, attribute, _guarded(target, dotted))
            else:
                owners.append(vars(owner))
                targets.setdefault(id(target), (target, dotted))
        targets.setdefault(id(exercise.reference), (exercise.reference, "this exercise's reference solution"))
        # Every loaded module: torch re-exports one function under several names (torch.distributions.kl_divergence).
        namespaces = [vars(module) for module in list(sys.modules.values()) if hasattr(module, "__dict__")]
        homes = [vars(sys.modules.get(getattr(target, "__module__", "") or "", sys)) for target, _ in targets.values()]
        namespaces += owners + homes + [_home_namespace(candidate)]
        # One pass for all the functions: with torch loaded, each pass over every module costs tens of milliseconds.
        for namespace, key, (target, name) in list(_bindings(targets, namespaces)):
            patches.append((namespace, key, target))
            namespace[key] = _guarded(target, name)
        # The notebook may hold the reference through the Exercise object: guard the attribute too.
        patches.append((exercise, "reference", exercise.reference))
        object.__setattr__(exercise, "reference", _guarded(exercise.reference, "this exercise's reference solution"))
        checker_file = str(Path(exercise.checker.__code__.co_filename).resolve())
        _checks.append((sys._getframe(2), checker_file))  # the frame of the function that entered the ``with``
        try:
            yield
        finally:
            _checks.pop()
    finally:
        for owner, name, original in reversed(patches):
            if isinstance(owner, dict):
                owner[name] = original
            elif owner is exercise:
                object.__setattr__(owner, name, original)
            else:
                setattr(owner, name, original)
