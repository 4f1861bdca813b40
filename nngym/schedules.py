"""Learning-rate (and clip-range) schedules as functions of the progress remaining,
1.0 at the start of training down to 0.0 at the end (SB3's convention).

Rates and clip ranges are never negative: the constructors refuse a start or end value that is not a finite
number >= 0 (a negative learning rate would run gradient ascent), and a schedule given as a function
(``CallableSchedule``) has each value checked when it is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nngym.checks import check_rate, is_real, shown

Schedule = Callable[[float], float]
#: The forms ``parse_schedule`` accepts, for messages.
ACCEPTED = "a number, 'lin_<number>' or a callable of progress_remaining"


class ScheduleRateError(ValueError):
    """A schedule's value is a number, but not a finite one >= 0 (``parse_schedule("lin_-1")``)."""


def constant(value: float) -> Schedule:
    """Always ``value``, a finite number >= 0.

    Raises:
        ValueError: For anything else (NaN, a negative number, a bool, a string).
    """
    value = check_rate(value, "constant schedule value")
    return lambda progress_remaining: value


def linear(start: float, end: float = 0.0) -> Schedule:
    """From ``start`` (progress_remaining = 1) to ``end`` (progress_remaining = 0), linearly.

    Raises:
        ValueError: If ``start`` or ``end`` is not a finite number >= 0.
    """
    start = check_rate(start, "linear schedule start")
    end = check_rate(end, "linear schedule end")
    return lambda progress_remaining: end + progress_remaining * (start - end)


class CallableSchedule:
    """A schedule given as a function of the progress remaining (SB3's form, ``lambda p: 3e-4 * p``), whose
    values are checked as they are used: a value that is not a finite number >= 0 raises a ValueError naming
    ``name`` and the progress, before an optimiser or a loss sees it.

    Args:
        fn: progress_remaining -> value.
        name: What the value is, for the messages (``"PPO: learning_rate"``).

    Attributes:
        last_progress: The progress remaining of the last call (None before the first).
        last_value: The value of the last call, as a float (None before the first).
    """

    def __init__(self, fn: Callable[[float], Any], name: str = "schedule") -> None:
        if not callable(fn):
            raise ValueError(f"{name} must be a callable of progress_remaining, got {shown(fn)}")
        self.fn, self.name = fn, name
        self.last_progress: float | None = None
        self.last_value: float | None = None

    def __call__(self, progress_remaining: float) -> float:
        """``fn(progress_remaining)`` as a float.

        Raises:
            ValueError: If it is not a finite real number >= 0 (NaN, a negative number, a string, None, a bool).
        """
        value = self.fn(progress_remaining)
        if not is_real(value) or not 0.0 <= value < math.inf:
            raise ValueError(
                f"{self.name}: the schedule gave {shown(value)} at progress_remaining {progress_remaining:g}; "
                "it must return a finite number >= 0"
            )
        self.last_progress, self.last_value = float(progress_remaining), float(value)
        return self.last_value

    def __repr__(self) -> str:
        return f"CallableSchedule({self.fn!r}, {self.name!r})"


def parse_schedule(spec: float | str | Callable[[float], Any], name: str = "schedule") -> Schedule:
    """Parses ``0.001`` or ``"0.001"`` (constant), ``"lin_0.001"`` (linear to 0, rl-zoo's notation) or a callable
    of the progress remaining (SB3's form), which becomes a ``CallableSchedule`` checking its values when used.

    Args:
        spec: The schedule.
        name: What it schedules, for the messages of a callable's values (``"PPO: learning_rate"``).

    Raises:
        ScheduleRateError: For a number that is not finite and >= 0 (``-0.1``, ``"lin_-1"``, ``"nan"``).
        ValueError: For anything else (bools too), with the accepted forms.
    """
    if isinstance(spec, CallableSchedule):
        return spec
    if callable(spec):
        return CallableSchedule(spec, name)
    if is_real(spec):
        try:
            return constant(spec)
        except ValueError as e:
            raise ScheduleRateError(f"schedule {spec!r}: the rate must be a finite number >= 0 ({e})") from None
    if not isinstance(spec, str):
        raise ValueError(f"schedule must be {ACCEPTED}, got {type(spec).__name__} {spec!r}")
    s = spec.strip()
    number, make = s, constant
    for prefix in ("lin_", "linear_"):
        if s.startswith(prefix):
            number, make = s[len(prefix) :], linear
            break
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"schedule must be {ACCEPTED}, got {spec!r}") from None
    try:
        return make(value)
    except ValueError as e:
        raise ScheduleRateError(f"schedule {spec!r}: the rate must be a finite number >= 0 ({e})") from None
