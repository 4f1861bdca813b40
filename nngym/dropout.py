"""Dropout (the seed, ch. 3): randomly silence neurons while training so none can rely on another."""

from __future__ import annotations

from typing import Any

import numpy as np

from nngym.checks import check_rng, is_real
from nngym.dense import Dense
from nngym.layer import Layer
from nngym.network import Sequential


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
        if not is_real(p) or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout needs a number 0 <= p < 1, got p={p!r}")
        self.p = float(p)
        self.rng = check_rng(rng, "Dropout rng")
        self._init_grads()

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        """Whether ``forward(train=True)`` draws a random mask (p > 0)."""
        return self.p > 0.0

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


def with_dropout(net: Sequential, p_input: float, p_hidden: float, rng: np.random.Generator) -> Sequential:
    """``net`` (a ``Sequential``) with Dropout on its input and after each activation.

    Srivastava et al. 2014's "DBN + dropout fine-tuning"; at test time dropout is the identity, so the
    architecture stays the network's. Returns ``net`` itself when both probabilities are 0.

    Args:
        net: A Sequential of Dense layers and activations (e.g. ``DBN.to_network()``).
        p_input: Dropout probability of the inputs.
        p_hidden: Dropout probability after each activation (every layer that is not a Dense).
        rng: Generator of the masks.
    """
    if p_input == 0.0 and p_hidden == 0.0:
        return net
    layers: list[Layer] = [Dropout(p_input, rng)] if p_input > 0.0 else []
    for layer in net.layers:
        layers.append(layer)
        if p_hidden > 0.0 and not isinstance(layer, Dense):  # after each activation
            layers.append(Dropout(p_hidden, rng))
    return Sequential(layers)
