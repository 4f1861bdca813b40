"""Small builders for common networks, so scripts and agents need not list every layer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nngym.activations import ACTIVATIONS
from nngym.dense import Dense
from nngym.init import Initializer
from nngym.network import Sequential


def mlp(
    sizes: Sequence[int],
    rng: np.random.Generator,
    activation: str = "sigmoid",
    output_activation: str | None = None,
    w_init: str | Initializer = "nielsen",
    b_init: str | Initializer = "zeros",
    out_w_init: str | Initializer | None = None,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``.

    Args:
        sizes: Neurons per layer, input first, e.g. ``[784, 30, 10]`` (the seed's network).
        rng: Generator for the initial weights.
        activation: Hidden activation: ``"sigmoid"``, ``"tanh"``, ``"relu"``.
        output_activation: Activation after the last Dense (``None``: linear output / logits).
        w_init: Weight initialiser for hidden layers.
        b_init: Bias initialiser.
        out_w_init: Weight initialiser of the output layer (default: ``w_init``).
        dtype: Parameter dtype.

    Raises:
        ValueError: For fewer than two sizes or an unknown activation.
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least input and output sizes, got {list(sizes)}")
    for name in (activation, output_activation):
        if name is not None and name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    layers = []
    last = len(sizes) - 2
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        init = (out_w_init or w_init) if i == last else w_init
        layers.append(Dense(n_in, n_out, rng, w_init=init, b_init=b_init, dtype=dtype))
        act = output_activation if i == last else activation
        if act is not None:
            layers.append(ACTIVATIONS[act](dtype=dtype))
    return Sequential(layers)
