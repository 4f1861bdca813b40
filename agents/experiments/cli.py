"""What the command-line programs share: ``KEY=VALUE`` options, and user errors reported as one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import gymnasium as gym
import yaml


@contextmanager
def reported_as_errors() -> Iterator[None]:
    """Ends the script with ``error: <reason>`` for what the user gave wrong: a ValueError (bad hyperparameters,
    spaces, model files: their messages name what was expected and what came), a missing file, an unknown env id
    (gymnasium's errors), and the TypeError ``gym.make`` raises for arguments the env does not take.

    Raises:
        SystemExit: With the reason, instead of a traceback.
    """
    try:
        yield
    except (ValueError, FileNotFoundError, gym.error.Error) as e:
        raise SystemExit(f"error: {e}") from None
    except TypeError as e:
        if "environment creator" not in str(e):  # not gym.make's: a defect, with its traceback
            raise
        raise SystemExit(f"error: {e}") from None


def check_threads(num_threads: int, minus_one: str) -> int:
    """``--num-threads``: a count >= 1, or -1, which means ``minus_one`` (e.g. "as many as pay": a single agent's
    ``BaseAgent.learning_threads``; "every core": a population's).

    Raises:
        SystemExit: For 0 or a count below -1.
    """
    if num_threads == 0 or num_threads < -1:
        raise SystemExit(f"--num-threads: expected a count >= 1 or -1 ({minus_one}), got {num_threads}")
    return num_threads


def parse_key_values(pairs: list[str], option: str) -> dict:
    """``["gamma=0.98", "net_arch=[64, 64]"]`` -> ``{"gamma": 0.98, "net_arch": [64, 64]}`` (values read as YAML).

    Raises:
        SystemExit: A pair without ``=`` or with an empty key, naming the option and the pair.
    """
    out = {}
    for kv in pairs:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            raise SystemExit(f"{option}: expected KEY=VALUE, got {kv!r}")
        out[key] = yaml.safe_load(value)
    return out
