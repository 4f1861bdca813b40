"""The fully connected layer, z = W a + b, with the four backprop equations."""

from __future__ import annotations

from typing import Any

import numpy as np

from nngym.checks import check_rng, is_int
from nngym.init import Initializer, get_initializer
from nngym.layer import Layer, check_shape


class Dense(Layer):
    """Fully connected layer ``z = W a + b`` (rows of a batch: ``Z = A @ W.T + b``).

    Like torch's ``nn.Linear``, the layer acts on the last axis and keeps any leading axes:
    (N, n_in) → (N, n_out), (N, T, n_in) → (N, T, n_out) (e.g. after a recurrent layer), and so on.

    Args:
        n_in: Number of inputs (neurons in layer l-1).
        n_out: Number of outputs (neurons in layer l).
        rng: Generator for the initial weights.
        w_init: Weight initialiser name or callable (default ``"nielsen"``: N(0, 1/n_in)).
        b_init: Bias initialiser name or callable (default ``"zeros"``; the seed's network.py used
            ``"standard_normal"``).
        dtype: Parameter dtype (floating).

    Raises:
        ValueError: For sizes that are not integers >= 1, an ``rng`` that is not a Generator, a ``w_init`` or
            ``b_init`` that is neither an initialiser's name nor a callable (``nngym.init.get_initializer``), or a
            dtype that is not floating.

    Shapes:
        ``W``: (n_out, n_in), ``b``: (n_out,), input (N, ..., n_in), output (N, ..., n_out).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        rng: np.random.Generator,
        w_init: str | Initializer = "nielsen",
        b_init: str | Initializer = "zeros",
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(dtype)
        if not (is_int(n_in) and is_int(n_out)) or n_in < 1 or n_out < 1:
            raise ValueError(f"Dense needs integers n_in >= 1 and n_out >= 1, got n_in={n_in!r}, n_out={n_out!r}")
        check_rng(rng, "Dense rng")
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.w_init = w_init if isinstance(w_init, str) else "custom"
        self.b_init = b_init if isinstance(b_init, str) else "custom"
        self.params = {
            "W": get_initializer(w_init, "Dense w_init")((self.n_out, self.n_in), rng, self.dtype),
            "b": get_initializer(b_init, "Dense b_init")((self.n_out,), rng, self.dtype),
        }
        self._init_grads()
        self._name = f"Dense({self.n_in}->{self.n_out})"

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """Computes ``Z = X W^T + b`` over the last axis.

        Args:
            x: Activations of the previous layer, shape (N, ..., n_in).
            train: Whether to keep the input for ``backward``.

        Returns:
            Weighted inputs ``z``, shape (N, ..., n_out).

        Raises:
            ValueError: If ``x`` has fewer than 2 axes or its last axis is not ``n_in``.
        """
        x = self._as_input(x)
        if x.ndim < 2 or x.shape[-1] != self.n_in:
            raise ValueError(f"{self._name} expected input of shape (N, ..., {self.n_in}), got {tuple(x.shape)}")
        if train:
            self._cache = x
        if x.ndim == 2:  # (N, n_in), the usual case: no reshapes
            z = x @ self.params["W"].T
            z += self.params["b"]
            return z
        z = x.reshape(-1, self.n_in) @ self.params["W"].T  # leading axes flattened
        z += self.params["b"]
        return z.reshape(*x.shape[:-1], self.n_out)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Given δ = ∂C/∂z (N, ..., n_out), fills ``grads`` and returns ∂C/∂a^{l-1} (N, ..., n_in).

        With leading axes beyond the batch (e.g. time steps), BP3 and BP4 sum over all of them.
        """
        a_prev = self._need_cache()
        delta2 = self._param_grads(dy, a_prev)
        d_prev = delta2 @ self.params["W"]  # (BP2) carried back through W^T
        return d_prev if a_prev.ndim == 2 else d_prev.reshape(a_prev.shape)

    def backward_params(self, dy: np.ndarray) -> None:
        """BP3 and BP4 only (``grads``), no ∂C/∂a^{l-1}."""
        self._param_grads(dy, self._need_cache())

    def _param_grads(self, dy: np.ndarray, a_prev: np.ndarray) -> np.ndarray:
        """Fills ``grads`` (BP3, BP4); returns δ as (rows, n_out)."""
        delta = np.asarray(dy, dtype=self.dtype)
        check_shape(self._name, delta, (*a_prev.shape[:-1], self.n_out), "upstream gradient")
        if a_prev.ndim == 2:
            delta2, a2 = delta, a_prev
        else:
            delta2, a2 = delta.reshape(-1, self.n_out), a_prev.reshape(-1, self.n_in)
        delta2.sum(axis=0, out=self.grads["b"])  # (BP3) ∂C/∂b = δ
        np.matmul(delta2.T, a2, out=self.grads["W"])  # (BP4) ∂C/∂W = δ (a^{l-1})^T
        return delta2

    def config(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_out": self.n_out, "w_init": self.w_init, "b_init": self.b_init}
