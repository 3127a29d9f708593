"""Fresh random inputs for checkers: new seeds at every check, so that no hard-coded answer can pass."""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch


def trials(count: int = 4) -> Iterator[torch.Generator]:
    """``count`` torch generators, seeded afresh at every call."""
    for _ in range(count):
        yield torch.Generator().manual_seed(random.SystemRandom().randrange(2**31))


def integer(generator: torch.Generator, low: int, high: int) -> int:
    """A random integer in [low, high], drawn from ``generator``."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def as_tensor(result, what: str) -> torch.Tensor:
    """The candidate's result as a tensor, or a hint when it is something else."""
    try:
        return torch.as_tensor(result)
    except (TypeError, ValueError, RuntimeError) as error:
        raise AssertionError(f"return {what} as a tensor (got a {type(result).__name__})") from error
