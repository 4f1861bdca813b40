"""Weight initialisers. Each takes ``(shape, rng, dtype)`` and returns a new array.

``fan_in`` is the product of all dimensions but the first, so the same functions
serve Dense weights ``(n_out, n_in)`` and convolution kernels ``(out, in, kh, kw)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from nngym.checks import shown

Initializer = Callable[[tuple[int, ...], np.random.Generator, np.dtype], np.ndarray]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    fan_in = shape[1] * receptive if len(shape) > 1 else shape[0]
    fan_out = shape[0] * receptive
    return fan_in, fan_out


def zeros(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float32) -> np.ndarray:
    """All zeros (the usual bias initialiser)."""
    return np.zeros(shape, dtype=dtype)


def standard_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float32) -> np.ndarray:
    """N(0, 1): the seed's first network (network.py) for weights and biases."""
    return rng.standard_normal(shape).astype(dtype)


def nielsen(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float32) -> np.ndarray:
    """N(0, 1/n_in): the seed's improved initialisation (network2.py), keeps neurons out of saturation."""
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)


def glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float32) -> np.ndarray:
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def he_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float32) -> np.ndarray:
    """N(0, 2/fan_in) (He et al. 2015), for ReLU layers."""
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def orthogonal(
    shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype = np.float32, gain: float = 1.0
) -> np.ndarray:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014), as SB3/CleanRL initialise policies."""
    rows = shape[0]
    cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # make the decomposition unique
    if rows < cols:
        q = q.T
    return np.ascontiguousarray((gain * q[:rows, :cols]).reshape(shape), dtype=dtype)  # q.T is F-ordered


INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros,
    "standard_normal": standard_normal,
    "nielsen": nielsen,
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
    "orthogonal": orthogonal,
}


def get_initializer(name: str | Initializer, what: str = "initializer") -> Initializer:
    """Looks an initialiser up by name (a callable is returned unchanged).

    Args:
        name: One of ``INITIALIZERS``' names, ``"orthogonal:<gain>"`` (a finite gain, e.g. ``"orthogonal:0.01"``
            for a policy head), or a callable ``(shape, rng, dtype) -> array``.
        what: The argument, for messages (e.g. ``"Dense w_init"``).

    Raises:
        ValueError: For anything else (an unknown name, a gain that is not a finite number, a number or None
            where a name belongs), listing the accepted initialisers.
    """
    if callable(name):
        return name
    accepted = f"expected one of {sorted(INITIALIZERS)}, 'orthogonal:<gain>' or a callable (shape, rng, dtype)"
    if not isinstance(name, str):
        raise ValueError(f"{what} must be an initializer's name or a callable, got {shown(name)}; {accepted}")
    if name.startswith("orthogonal:"):  # "orthogonal:<gain>", e.g. "orthogonal:0.01" for a policy head
        try:
            gain = float(name.split(":", 1)[1])
        except ValueError:
            gain = math.nan
        if not math.isfinite(gain):
            raise ValueError(f"{what} {name!r}: the gain after 'orthogonal:' must be a finite number")
        return lambda shape, rng, dtype=np.float32: orthogonal(shape, rng, dtype, gain=gain)
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown initializer {name!r}; {accepted}") from None
