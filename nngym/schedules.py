"""Learning-rate (and clip-range) schedules as functions of the progress remaining,
1.0 at the start of training down to 0.0 at the end (SB3's convention).

Rates and clip ranges are never negative: the constructors refuse a start or end value that is not a finite
number >= 0 (a negative learning rate would run gradient ascent).
"""

from __future__ import annotations

from collections.abc import Callable

from nngym.checks import check_rate, is_real

Schedule = Callable[[float], float]


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


def parse_schedule(spec: float | str) -> Schedule:
    """Parses ``0.001`` or ``"0.001"`` (constant) or ``"lin_0.001"`` (linear to 0, rl-zoo's notation).

    Raises:
        ScheduleRateError: For a number that is not finite and >= 0 (``-0.1``, ``"lin_-1"``, ``"nan"``).
        ValueError: For anything else (bools too), with the accepted forms.
    """
    if is_real(spec):
        try:
            return constant(spec)
        except ValueError as e:
            raise ScheduleRateError(f"schedule {spec!r}: the rate must be a finite number >= 0 ({e})") from None
    if not isinstance(spec, str):
        raise ValueError(f"schedule must be a number or 'lin_<number>', got {type(spec).__name__} {spec!r}")
    s = spec.strip()
    number, make = s, constant
    for prefix in ("lin_", "linear_"):
        if s.startswith(prefix):
            number, make = s[len(prefix) :], linear
            break
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"schedule must be a number or 'lin_<number>', got {spec!r}") from None
    try:
        return make(value)
    except ValueError as e:
        raise ScheduleRateError(f"schedule {spec!r}: the rate must be a finite number >= 0 ({e})") from None
