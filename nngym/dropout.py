"""Dropout (the seed, ch. 3): randomly silence neurons while training so none can rely on another."""

from __future__ import annotations

from typing import Any

import numpy as np

from nngym.layer import Layer


class Dropout(Layer):
    """Inverted dropout: in training each activation is kept with probability ``1 − p`` and scaled by
    ``1 / (1 − p)``, so at test time (``train=False``) the layer is the identity and no rescaling of the
    weights is needed (the seed halves the outgoing weights instead).

    Args:
        p: Probability of dropping each activation, in [0, 1).
        rng: Generator drawing the masks (kept by the layer; one mask per ``forward(train=True)``).
        dtype: Dtype of the output.

    Shapes:
        any (N, ...) in, the same out.
    """

    def __init__(self, p: float, rng: np.random.Generator, dtype: np.dtype | type = np.float32) -> None:
        super().__init__(dtype)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout needs 0 <= p < 1, got p={p}")
        self.p = float(p)
        self.rng = rng
        self._init_grads()

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = self._as_input(x)
        if not train or self.p == 0.0:
            self._cache = np.ones((), dtype=self.dtype) if train else None
            return x
        keep = 1.0 - self.p
        mask = (self.rng.random(x.shape, dtype=np.float32) < keep) * np.asarray(1.0 / keep, dtype=self.dtype)
        self._cache = mask
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """∂C/∂x = ∂C/∂y ⊙ mask / (1 − p): dropped neurons pass no gradient."""
        mask = self._need_cache()
        return np.asarray(dy, dtype=self.dtype) * mask

    def config(self) -> dict[str, Any]:
        return {"p": self.p}
