"""Central-difference gradient checking for any layer, network or cost, in float64.

For a layer f and a fixed random upstream gradient G, the scalar
L(x, θ) = Σ G ⊙ f(x; θ) has ∂L/∂x = backward(G) and ∂L/∂θ = grads[θ];
each is compared with (L(θ + ε) − L(θ − ε)) / 2ε, element by element.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nngym.checks import check_rng, is_real


def relative_error(analytic: np.ndarray, numeric: np.ndarray, scale: float | None = None) -> float:
    """max |a − n| relative to the gradient's scale: max(max |a|, max |n|), or ``scale`` if given.

    Measured against the largest entry of the whole gradient rather than entry by entry, so entries
    that are tiny next to it (where central differences have only rounding left) cannot decide the check.

    Args:
        analytic: Backprop's gradient (any shape).
        numeric: Central differences, the same shape.
        scale: The gradient's scale when ``analytic`` holds only some entries of a larger gradient
            (e.g. ``np.abs(full_grad).max()``).
    """
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    diff = float(np.abs(analytic - numeric).max(initial=0.0))
    if scale is None:
        scale = max(float(np.abs(analytic).max(initial=0.0)), float(np.abs(numeric).max(initial=0.0)))
    return diff / max(scale, 1e-12)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x``, perturbed in place.

    Raises:
        ValueError: If ``eps`` is not a finite number > 0.
    """
    _check_eps(eps)
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):  # a loop is the point here: this is the slow oracle
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(
    layer: Any,
    x: np.ndarray,
    rng: np.random.Generator,
    eps: float = 1e-6,
    forward_kwargs: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Checks ``layer.backward`` (input gradient and every parameter gradient) against central differences.

    The layer (anything with ``forward``/``backward``/``params``/``grads``, e.g. a ``Sequential``
    exposing them through ``named_params``) is cast to float64 first. Every forward runs in training mode
    (``train=True``), the mode whose caches ``backward`` uses, so layers that are random in training mode
    (``Dropout`` with p > 0: a new mask each call) are refused: the differences would compare different
    functions. Check the network without them, or with p = 0.

    Args:
        layer: A Layer or Sequential.
        x: Input batch; cast to float64.
        rng: Generator for the random upstream gradient.
        eps: Finite-difference step, a finite number > 0.
        forward_kwargs: Extra keyword arguments for ``forward`` other than ``train`` (for a recurrent layer,
            e.g. ``{"episode_start": starts}``).

    Returns:
        ``{"x": err, "<param>": err, ...}`` relative errors.

    Raises:
        ValueError: For ``train`` in ``forward_kwargs``, a layer that is random in training mode, an ``eps``
            that is not a finite number > 0, or an ``rng`` that is not a ``np.random.Generator``.
    """
    kwargs = dict(forward_kwargs or {})
    if "train" in kwargs:
        raise ValueError(
            "gradcheck runs forward(train=True), the mode backward needs; drop 'train' from forward_kwargs, got "
            f"{forward_kwargs!r}"
        )
    _check_eps(eps)
    check_rng(rng, "gradcheck rng")
    random_layers = [repr(sub) for sub in _sublayers(layer) if getattr(sub, "stochastic", False)]
    if random_layers:
        raise ValueError(
            f"gradcheck cannot check {', '.join(random_layers)}: random in training mode (a new mask each forward), "
            "so central differences compare different functions; check without it (or with p=0)"
        )
    layer.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    y = layer.forward(x, **kwargs)
    G = rng.standard_normal(y.shape)

    def loss() -> float:
        return float(np.sum(G * layer.forward(x, **kwargs)))

    layer.forward(x, **kwargs)
    dx = layer.backward(G)
    analytic = {"x": np.array(dx)}
    params = _named(layer)
    analytic.update({name: np.array(g) for name, _, g in params})

    errors = {"x": relative_error(analytic["x"], numerical_gradient(loss, x, eps))}
    for name, p, _ in params:
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, p, eps))
    return errors


def gradcheck_cost(cost: Any, output: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> float:
    """Checks ``cost.delta`` against central differences of ``cost.value``; returns the relative error.

    Raises:
        ValueError: If ``eps`` is not a finite number > 0.
    """
    _check_eps(eps)
    output = np.array(output, dtype=np.float64)
    analytic = cost.delta(output, y)
    numeric = numerical_gradient(lambda: cost.value(output, y), output, eps)
    return relative_error(analytic, numeric)


def _named(layer: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if hasattr(layer, "named_params"):
        return layer.named_params()
    return [(k, p, layer.grads[k]) for k, p in layer.params.items()]


def _check_eps(eps: Any) -> None:
    if not is_real(eps) or not 0.0 < eps < math.inf:
        raise ValueError(f"gradcheck eps must be a finite number > 0, got {type(eps).__name__} {eps!r}")


def _sublayers(layer: Any) -> list[Any]:
    """``layer`` and every layer inside it (a Sequential's ``layers``, the networks a layer runs in ``nets``)."""
    found = [layer]
    for net in [layer, *getattr(layer, "nets", [])]:
        for sub in getattr(net, "layers", []):
            found.extend(_sublayers(sub))
    return found
