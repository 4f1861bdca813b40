"""Learning-rate (and clip-range) schedules as functions of the progress remaining,
1.0 at the start of training down to 0.0 at the end (SB3's convention)."""

from __future__ import annotations

from collections.abc import Callable

Schedule = Callable[[float], float]


def constant(value: float) -> Schedule:
    """Always ``value``."""
    return lambda progress_remaining: value


def linear(start: float, end: float = 0.0) -> Schedule:
    """From ``start`` (progress_remaining = 1) to ``end`` (progress_remaining = 0), linearly."""
    return lambda progress_remaining: end + progress_remaining * (start - end)


def parse_schedule(spec: float | str) -> Schedule:
    """Parses ``0.001`` or ``"0.001"`` (constant) or ``"lin_0.001"`` (linear to 0, rl-zoo's notation).

    Raises:
        ValueError: For anything else, with the accepted forms.
    """
    if isinstance(spec, int | float):
        return constant(float(spec))
    s = str(spec).strip()
    try:
        for prefix in ("lin_", "linear_"):
            if s.startswith(prefix):
                return linear(float(s[len(prefix) :]))
        return constant(float(s))
    except ValueError:
        raise ValueError(f"schedule must be a number or 'lin_<number>', got {spec!r}") from None
