"""Two tiny exercises for the framework's tests; their checkers live here, apart from the cheating candidates."""

import torch
import torch.nn.functional as F

from genlearn.exercises import Exercise


def square_checker(candidate):
    for x in (3, -2, 7):
        assert candidate(x) == x * x, "square x: multiply it by itself"


def square_reference(x):
    return x * x


SQUARE = Exercise("Square", square_checker, square_reference)


def softmax_checker(candidate):
    x = torch.randn(3, 4)
    expected = F.softmax(x, dim=-1)  # the checker itself may call the forbidden function
    torch.testing.assert_close(candidate(x), expected)


SOFTMAX = Exercise("Softmax", softmax_checker, lambda x: x.softmax(-1), forbidden=("torch.nn.functional.softmax",))
