"""Elementwise activations σ and the softmax. Their ``backward`` multiplies by σ'(z),
the factor that turns ∇_a C into δ in (BP1) and (W^{l+1})^T δ^{l+1} into δ^l in (BP2)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nngym.layer import Layer


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^{-z}), computed as (1 + tanh(z/2)) / 2, which cannot overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the max for stability."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax along ``axis`` (log-sum-exp with the max shifted out)."""
    # the ufuncs' reduce directly: what z.max / .sum call, without their Python wrappers (a policy's hot loop)
    shifted = z - np.maximum.reduce(z, axis=axis, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


class Sigmoid(Layer):
    """a = σ(z), σ'(z) = σ(z)(1 − σ(z)). Any shape."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        a = sigmoid(self._as_input(x))
        if train:
            self._cache = a
        return a

    def backward(self, dy: np.ndarray) -> np.ndarray:
        a = self._need_cache()
        return dy * a * (1.0 - a)  # ⊙ σ'(z)


class Tanh(Layer):
    """a = tanh(z), tanh'(z) = 1 − tanh²(z). Any shape."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        a = np.tanh(self._as_input(x))
        if train:
            self._cache = a
        return a

    def backward(self, dy: np.ndarray) -> np.ndarray:
        a = self._need_cache()
        if not isinstance(dy, np.ndarray) or dy.dtype != a.dtype or dy.shape != a.shape:
            return dy * (1.0 - a * a)  # ⊙ σ'(z)
        # the same numbers formed in one new array: a population's (K, B, n) temporaries are large enough
        # that each fresh one costs more than the arithmetic (allocation, page faults)
        delta = np.multiply(a, a)
        np.subtract(1.0, delta, out=delta)  # σ'(z) = 1 − a²
        delta *= dy  # ⊙ σ'(z)
        return delta


class ReLU(Layer):
    """a = max(0, z), derivative 1 where z > 0 else 0. Any shape."""

    _zeros: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] | None = None

    def apply(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """max(0, z) elementwise (into ``out`` if given; ``out=z`` works in place), no cache kept.

        The zeros are arrays of z's shape kept between calls, one per shape met (a DQN's training minibatch and its
        target network's chunk of minibatches alternate): numpy's maximum against an array is several times faster
        than against the scalar 0, with the same result.
        """
        if self._zeros is None:
            self._zeros = {}
        key = (z.shape, z.dtype)
        zero = self._zeros.get(key)
        if zero is None:
            if len(self._zeros) >= 4:  # shapes that come and go (evaluation batches) are not kept for ever
                self._zeros.clear()
            zero = self._zeros[key] = np.zeros_like(z)
        return np.maximum(z, zero, out=out)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        z = self._as_input(x)
        if train:
            self._cache = z > 0
        return self.apply(z)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        positive = self._need_cache()
        return dy * positive  # ⊙ σ'(z)


class Softmax(Layer):
    """a_j = e^{z_j} / Σ_k e^{z_k} over the last axis.

    For training, prefer a linear output with ``SoftmaxCrossEntropy`` (fused, δ^L = a − y);
    this layer's backward applies the full Jacobian: dz = a ⊙ (da − Σ_k da_k a_k).
    """

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        a = softmax(self._as_input(x))
        if train:
            self._cache = a
        return a

    def backward(self, dy: np.ndarray) -> np.ndarray:
        a = self._need_cache()
        return a * (dy - (dy * a).sum(axis=-1, keepdims=True))


INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)  # a Python float: keeps float32 arrays float32


def _normal_cdf() -> Any:
    """scipy.special.ndtr, Φ(z) = ½ (1 + erf(z / √2)): numpy has no erf, and a hand-written approximation would not
    give the numbers torch's exact GELU gives."""
    try:
        from scipy.special import ndtr
    except ImportError as e:  # pragma: no cover - scipy comes with the zoo and dev extras
        raise ImportError("the GELU activation needs scipy (pip install scipy, or the zoo extra)") from e
    return ndtr


class GELU(Layer):
    """a = z Φ(z), Φ the standard normal CDF (Hendrycks & Gimpel 2016; torch's exact ``nn.GELU``);
    σ'(z) = Φ(z) + z φ(z), φ(z) = e^{−z²/2} / √(2π). Any shape."""

    def __init__(self, dtype: Any = np.float32) -> None:
        super().__init__(dtype)
        self._ndtr = _normal_cdf()  # fails when the layer is built, not in the middle of training

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        z = self._as_input(x)
        a = z * self._ndtr(z)
        if train:
            self._cache = z
        return a

    def backward(self, dy: np.ndarray) -> np.ndarray:
        z = self._need_cache()
        phi = np.exp(-0.5 * z * z) * INV_SQRT_2PI  # φ(z)
        return dy * (self._ndtr(z) + z * phi)  # ⊙ σ'(z)


ACTIVATIONS: dict[str, type[Layer]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "gelu": GELU,
    "softmax": Softmax,
}
