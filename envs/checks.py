"""Argument checks the envs share, so a bad constructor argument fails with its name, never inside ``int()``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_whole(value: Any) -> bool:
    """Whether ``value`` is a whole number: an int, or a finite integral float (``3.0``); not a bool or str."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return False
    return math.isfinite(value) and float(value).is_integer()


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (not a bool or str)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return False
    return math.isfinite(value)


def option_int(options: dict, key: str, low: int, high: int) -> int:
    """``options[key]`` as an int in [low, high]: a whole number (an int, a numpy integer, or an integral float such as
    ``3.0``), so ``1.7`` is not read as 1 and ``"abc"`` not handed to ``int()``.

    Raises:
        ValueError: Naming ``options[key]``, the range and what came.
    """
    value = options[key]
    if not is_whole(value) or not low <= int(value) <= high:
        raise ValueError(f"options[{key!r}] must be a whole number in [{low}, {high}], got {value!r}")
    return int(value)


def option_pair(options: dict, key: str, low: int, high: int, what: str) -> tuple[int, int]:
    """``options[key]`` as two ints, each in [low, high]: a sequence of two whole numbers (``what`` names them, as
    "(row, column)").

    Raises:
        ValueError: Naming ``options[key]``, what it holds, the range and what came.
    """
    value = options[key]
    try:
        pair = list(np.asarray(value, dtype=object).reshape(-1)) if np.ndim(value) == 1 else None
    except (TypeError, ValueError):
        pair = None
    if pair is None or len(pair) != 2 or not all(is_whole(v) and low <= int(v) <= high for v in pair):
        raise ValueError(f"options[{key!r}] must be a {what} of two whole numbers in [{low}, {high}], got {value!r}")
    return int(pair[0]), int(pair[1])
