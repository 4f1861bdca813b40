"""Dropout (the seed, ch. 3): randomly silence neurons while training so none can rely on another."""

from __future__ import annotations

from typing import Any

import numpy as np

from nngym.checks import check_rng, is_real, shown
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
        """Drops activations of ``x`` (N, ...) with ``train=True``; the identity with ``train=False``.

        An inference forward keeps the mask of the last training forward, so ``backward`` still applies it (a
        ``predict`` between a training step's forward and backward does not disturb the step).
        """
        x = self._as_input(x)
        if not train:
            return x
        if self.p == 0.0:
            self._cache = np.ones((), dtype=self.dtype)
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
    """``net`` (a ``Sequential``) with Dropout on its input and after each hidden activation.

    Srivastava et al. 2014's "DBN + dropout fine-tuning"; at test time dropout is the identity, so the
    architecture stays the network's. The output layer, ``net``'s last, gets no Dropout after it: a network ending
    in an activation (a Sigmoid output) keeps its outputs as they are. To drop out a trunk's last features before a
    head, put the head on first: ``with_dropout(Sequential([*trunk.layers, head]), ...)``.

    The result is made of ``net``'s own layer objects (no copies), with the Dropout layers between them: training
    it trains ``net`` too. Pass ``copy.deepcopy(net)`` to keep ``net`` as it is. With both probabilities 0,
    ``net`` itself is returned.

    Args:
        net: A Sequential of Dense layers and activations (e.g. ``DBN.to_network()``).
        p_input: Dropout probability of the inputs, in [0, 1).
        p_hidden: Dropout probability after each activation (every layer that is not a Dense) but the last
            layer, in [0, 1).
        rng: Generator of the masks.

    Returns:
        A Sequential with ``net``'s ``input_shape``: (N, n_in) → (N, n_out), as ``net``.

    Raises:
        ValueError: For probabilities outside [0, 1) or an ``rng`` that is not a ``np.random.Generator``.
    """
    for name, p in (("p_input", p_input), ("p_hidden", p_hidden)):
        if not is_real(p) or not 0.0 <= p < 1.0:
            raise ValueError(f"with_dropout {name} must be a number 0 <= p < 1, got {shown(p)}")
    if p_input == 0.0 and p_hidden == 0.0:
        return net
    layers: list[Layer] = [Dropout(p_input, rng, dtype=_first_dtype(net))] if p_input > 0.0 else []
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        layers.append(layer)
        if p_hidden > 0.0 and i < last and not isinstance(layer, Dense):  # after each hidden activation
            layers.append(Dropout(p_hidden, rng, dtype=layer.dtype))
    return Sequential(layers, input_shape=net.input_shape)


def _first_dtype(net: Sequential) -> np.dtype:
    """The dtype of ``net``'s first layer (float32 for a network of no layers)."""
    return net.layers[0].dtype if net.layers else np.dtype(np.float32)
