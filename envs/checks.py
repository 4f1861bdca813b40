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
