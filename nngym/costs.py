"""Cost functions C(a, y), averaged over the batch, and their gradients ∂C/∂a.

``delta`` returns the gradient with respect to the network's output, already divided
by the batch size n, so that a gradient step ``w -= η ∂C/∂w`` is the seed's
``w' = w − η/m Σ_x ∂C_x/∂w``. The fused costs take *logits* z^L and return (BP1)
directly: δ^L = a − y, without the σ'(z) factor that slows learning. A network trained with them has no output
activation (``nngym.train.fit`` refuses a final Sigmoid with ``CrossEntropyCost`` and a final Softmax with
``SoftmaxCrossEntropy``).

Shapes: outputs are (N, K), or (N, T, K) for sequences (a ``batch_first`` recurrent network), with
targets of the same shape (``SoftmaxCrossEntropy`` also takes integer labels (N,) or (N, T)). The
axis-0 size n is the number of examples; ``QuadraticCost``, ``CrossEntropyCost`` and
``SoftmaxCrossEntropy`` sum over every other axis, so a sequence's cost is the sum of its steps'
costs, and the batch cost their mean over the n sequences. ``HuberCost`` averages over all elements.
"""

from __future__ import annotations

import math

import numpy as np

from nngym.activations import log_softmax, sigmoid, softmax
from nngym.checks import is_real, shown


def _check_pair(name: str, output: np.ndarray, y: np.ndarray) -> None:
    if output.shape != y.shape:
        raise ValueError(f"{name}: targets must have the output's shape {tuple(output.shape)}, got {tuple(y.shape)}")


def check_finite(loss: float, where: str = "loss") -> float:
    """Raises FloatingPointError if ``loss`` is NaN or infinite (training on garbage otherwise)."""
    if not np.isfinite(loss):
        raise FloatingPointError(
            f"{where} is {loss}: training diverged (lower the learning rate, clip gradients, or check the inputs)"
        )
    return loss


class Cost:
    """A cost: ``value(output, y) -> float`` and ``delta(output, y) -> ∂C/∂output``."""

    def value(self, output: np.ndarray, y: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def delta(self, output: np.ndarray, y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class QuadraticCost(Cost):
    """The seed's cost C = 1/2n Σ_x ||y(x) − a^L(x)||², on activations a^L (N, K) or (N, T, K)."""

    def value(self, output: np.ndarray, y: np.ndarray) -> float:
        _check_pair("QuadraticCost", output, y)
        return float(0.5 * np.sum((output - y) ** 2) / output.shape[0])

    def delta(self, output: np.ndarray, y: np.ndarray) -> np.ndarray:
        _check_pair("QuadraticCost", output, y)
        return (output - y) / output.shape[0]  # ∇_a C; the output layer's σ' completes (BP1)


class CrossEntropyCost(Cost):
    """The seed's cross-entropy C = −1/n Σ_x Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)], a = σ(z).

    Takes logits z^L (N, K) or (N, T, K), not activations: the sigmoid is fused, so (BP1) is δ^L = a^L − y.
    The network ends in its last Dense layer, with no Sigmoid after it (``mlp(..., output_activation=None)``);
    the book's ``network2.CrossEntropyCost`` takes a = σ(z) instead. ``nngym.train.fit`` refuses a network
    ending in a Sigmoid with this cost (σ would be applied twice).
    """

    def value(self, output: np.ndarray, y: np.ndarray) -> float:
        _check_pair("CrossEntropyCost", output, y)
        z = output
        # −[y ln σ(z) + (1−y) ln(1−σ(z))] = softplus(z) − y z, with softplus(z) = max(z,0) + ln(1 + e^{−|z|})
        per = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z
        return float(per.sum() / z.shape[0])

    def delta(self, output: np.ndarray, y: np.ndarray) -> np.ndarray:
        _check_pair("CrossEntropyCost", output, y)
        return (sigmoid(output) - y) / output.shape[0]  # (BP1) δ^L = a^L − y


class SoftmaxCrossEntropy(Cost):
    """Log-likelihood of a softmax output, C = −1/n Σ_x ln a_{y(x)}; takes logits z^L (N, K) or (N, T, K).

    The softmax is fused: it runs over the last axis here, so the network ends in its last Dense layer, with no
    Softmax after it (``nngym.train.fit`` refuses a network ending in a Softmax with this cost). Targets are
    one-hot (the output's shape) or integer class labels (the output's shape without its last axis: (N,) or
    (N, T)). (BP1) is δ^L = a^L − y.
    """

    @staticmethod
    def _one_hot(output: np.ndarray, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y)
        if output.ndim >= 2 and y.shape == output.shape[:-1] and np.issubdtype(y.dtype, np.integer):
            k = output.shape[-1]
            if y.size and (y.min() < 0 or y.max() >= k):
                raise ValueError(f"SoftmaxCrossEntropy: labels must be in [0, {k}), got {y.min()}..{y.max()}")
            onehot = np.zeros_like(output)
            np.put_along_axis(onehot, y[..., None], 1, axis=-1)
            return onehot
        if output.shape != y.shape:  # neither form: say what both would be
            raise ValueError(
                f"SoftmaxCrossEntropy: targets must have the output's shape {tuple(output.shape)} (one-hot) or be "
                f"integer class labels of shape {tuple(output.shape[:-1])}; got {y.dtype} targets of shape "
                f"{tuple(y.shape)}"
                + (
                    " (labels must have an integer dtype: convert with .astype(int))"
                    if y.shape == output.shape[:-1]
                    else ""
                )
            )
        return y

    def value(self, output: np.ndarray, y: np.ndarray) -> float:
        y = self._one_hot(output, y)
        return float(-(y * log_softmax(output)).sum() / output.shape[0])

    def delta(self, output: np.ndarray, y: np.ndarray) -> np.ndarray:
        y = self._one_hot(output, y)
        return (softmax(output) - y) / output.shape[0]  # (BP1) δ^L = a^L − y


class HuberCost(Cost):
    """Huber loss (smooth L1), mean over all elements as in SB3's DQN / torch's ``smooth_l1_loss``.

    ρ(r) = r²/2 for |r| ≤ κ, κ(|r| − κ/2) otherwise, with r = a − y.

    Args:
        kappa: κ, where the quadratic part turns linear; a finite number > 0.

    Raises:
        ValueError: For a ``kappa`` that is not a finite number > 0 (a string, a bool, NaN or infinity included).
    """

    def __init__(self, kappa: float = 1.0) -> None:
        if not is_real(kappa) or not 0.0 < kappa < math.inf:
            raise ValueError(f"HuberCost kappa must be a finite number > 0, got {shown(kappa)}")
        self.kappa = kappa

    def value(self, output: np.ndarray, y: np.ndarray) -> float:
        _check_pair("HuberCost", output, y)
        r = np.abs(output - y)
        k = self.kappa
        return float(np.where(r <= k, 0.5 * r * r, k * (r - 0.5 * k)).mean())

    def delta(self, output: np.ndarray, y: np.ndarray) -> np.ndarray:
        _check_pair("HuberCost", output, y)
        r = output - y
        return np.minimum(np.maximum(r, -self.kappa), self.kappa) / output.size  # clip(r, ±κ) without np.clip's wrapper


COSTS: dict[str, type[Cost]] = {
    "quadratic": QuadraticCost,
    "cross-entropy": CrossEntropyCost,
    "softmax-cross-entropy": SoftmaxCrossEntropy,
    "huber": HuberCost,
}
