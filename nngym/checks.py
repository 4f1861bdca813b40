"""Argument checks shared by constructors, builders and training loops (never by per-step code).

Each raises a ValueError naming what was expected and what came, so a wrong argument fails where it is
passed rather than deep inside numpy.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np


def shown(value: Any) -> str:
    """``value`` for an error message: its type and repr (cut to 80 characters)."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 80 else text[:77] + '...'}"


def float_dtype(dtype: Any, what: str = "dtype") -> np.dtype:
    """``dtype`` as a numpy dtype, which must be floating (float16, float32, float64).

    Parameters and activations of integer dtypes would round every update and output to whole numbers.

    Raises:
        ValueError: For anything numpy cannot read as a dtype, or a dtype that is not floating.
    """
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be a floating dtype (float16, float32, float64), got {dtype!r}") from e
    if not np.issubdtype(dt, np.floating):
        raise ValueError(f"{what} must be a floating dtype (float16, float32, float64), got {dt}")
    return dt


def check_rng(rng: Any, what: str = "rng") -> np.random.Generator:
    """Returns ``rng`` if it is a ``np.random.Generator`` (all randomness goes through a passed-in generator).

    Raises:
        ValueError: For anything else (a seed, None, the legacy ``np.random`` module), naming what came.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{what} must be a np.random.Generator (e.g. np.random.default_rng(0)), got {shown(rng)}")
    return rng


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or numpy), bools excluded."""
    return isinstance(value, Integral) and not isinstance(value, bool | np.bool_)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (Python or numpy), bools excluded."""
    return isinstance(value, Real) and not isinstance(value, bool | np.bool_)


def check_int(value: Any, what: str, minimum: int = 1) -> int:
    """``value`` as an int, which must be an integer (not a bool or a float) ``>= minimum``.

    Raises:
        ValueError: Naming ``what``, the bound and the value that came.
    """
    if not is_int(value) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {shown(value)}")
    return int(value)


def check_rate(value: Any, what: str = "learning rate") -> float:
    """``value`` as a float, which must be a finite real number >= 0 (not a bool, a string or None).

    Raises:
        ValueError: Naming ``what`` and the value that came.
    """
    if not is_real(value) or not 0.0 <= value < math.inf:
        raise ValueError(f"{what} must be a finite number >= 0, got {shown(value)}")
    return float(value)
