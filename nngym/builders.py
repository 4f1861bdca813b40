"""Small builders for common networks, so scripts and agents need not list every layer."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from nngym.activations import ACTIVATIONS
from nngym.checks import check_rng, float_dtype, is_int
from nngym.conv import Conv2D
from nngym.dense import Dense
from nngym.dropout import Dropout
from nngym.init import Initializer
from nngym.layer import Layer
from nngym.network import Sequential
from nngym.pooling import L2Pool2D, MaxPool2D
from nngym.reshape import Flatten


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

    Returns:
        The ``Sequential`` network; inputs (N, sizes[0]) (its ``input_shape`` is ``(sizes[0],)``), outputs
        (N, sizes[-1]).

    Raises:
        ValueError: For fewer than two sizes, a size that is not an integer >= 1, an unknown activation, an
            ``rng`` that is not a ``np.random.Generator``, or a dtype that is not floating.
    """
    if isinstance(sizes, np.ndarray):
        sizes = sizes.tolist()
    if isinstance(sizes, str) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"mlp needs a list of at least input and output sizes, got {sizes!r}")
    if not all(is_int(n) and n >= 1 for n in sizes):
        raise ValueError(f"mlp sizes must be integers >= 1, got {list(sizes)}")
    check_rng(rng, "mlp rng")
    dtype = float_dtype(dtype, "mlp dtype")
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
    return Sequential(layers, input_shape=(int(sizes[0]),))  # so an input of another width is reported as such


#: Pooling layers by the name ``cnn``'s ``pool`` argument and spec items use.
POOLS: dict[str, type[Layer]] = {"max": MaxPool2D, "l2": L2Pool2D}

_SPEC_ITEM = {
    "conv": re.compile(r"(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?"),
    "pool": re.compile(r"(\d+)(?:s(\d+))?"),
    "dense": re.compile(r"(\d+)"),
    "dropout": re.compile(r"(0?\.\d+|0)"),
}

CNN_SPEC_HELP = (
    "comma-separated items: conv:<maps>x<k>[s<stride>][p<pad>], pool:<k>[s<stride>] (or maxpool:, l2pool:), "
    "dense:<n>, dropout:<p>; e.g. 'conv:20x5,pool:2,conv:40x5,pool:2,dense:100'"
)


def cnn(
    spec: str,
    input_shape: tuple[int, int, int],
    rng: np.random.Generator,
    n_out: int | None = None,
    activation: str = "relu",
    pool: str = "max",
    output_activation: str | None = None,
    w_init: str | Initializer = "he_normal",
    out_w_init: str | Initializer | None = None,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """A convolutional network from a short spec, for images or pixel observations of any (C, H, W).

    Each ``conv`` is followed by the activation, each ``dense`` too; a ``Flatten`` goes in before
    the first ``dense`` and at the end, so the output is always (N, features). A max-pool right after
    a conv's ReLU is put before the ReLU (conv → pool → ReLU): the two commute exactly, outputs and
    gradients, and the ReLU then runs on the pooled maps. With ``n_out`` a
    final Dense layer (logits, or ``output_activation``) is appended.

    Args:
        spec: Layers, input side first: ``conv:<maps>x<k>[s<stride>][p<pad>]`` (k×k fields),
            ``pool:<k>[s<stride>]`` (kind from ``pool``), ``maxpool:<k>``/``l2pool:<k>`` (explicit kind),
            ``dense:<n>``, ``dropout:<p>``. E.g. the seed's ``"conv:20x5,pool:2,conv:40x5,pool:2,dense:100"``
            or an Atari-style ``"conv:32x8s4,conv:64x4s2,conv:64x3,dense:512"``.
        input_shape: (C, H, W) of one input, e.g. ``(1, 28, 28)``.
        rng: Generator for initial weights and dropout masks.
        n_out: Size of a final linear layer (e.g. 10 classes); ``None`` ends with the spec's last item.
        activation: After every conv and hidden dense: ``"relu"``, ``"tanh"``, ``"sigmoid"``.
        pool: Kind of ``pool:`` items: ``"max"`` or ``"l2"``.
        output_activation: Activation after the final layer (``None``: linear output / logits).
        w_init: Weight initialiser of conv and hidden dense layers.
        out_w_init: Weight initialiser of the final layer (default ``w_init``).
        dtype: Parameter dtype.

    Returns:
        The ``Sequential`` network; inputs (N, C, H, W) (its ``input_shape`` is (C, H, W)), outputs
        (N, n_out or features).

    Raises:
        ValueError: For a malformed spec item, an unknown activation or pool kind, or a layer that does
            not fit its input (naming the shapes).
    """
    for name in (activation, output_activation):
        if name is not None and name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    if not isinstance(spec, str):
        raise ValueError(f"cnn spec must be a string of {CNN_SPEC_HELP}; got {type(spec).__name__} {spec!r}")
    check_rng(rng, "cnn rng")
    dtype = float_dtype(dtype, "cnn dtype")
    if n_out is not None and not (is_int(n_out) and n_out >= 1):
        raise ValueError(f"cnn n_out must be an integer >= 1 or None, got {n_out!r}")
    if pool not in POOLS:
        raise ValueError(f"unknown pool kind {pool!r}; expected one of {sorted(POOLS)}")
    if isinstance(input_shape, np.ndarray):
        input_shape = tuple(input_shape.tolist())
    if (
        not isinstance(input_shape, Sequence)
        or len(input_shape) != 3
        or not all(is_int(d) and d >= 1 for d in input_shape)
    ):
        raise ValueError(f"input_shape must be (C, H, W), three integers >= 1, got {input_shape!r}")
    shape: tuple[int, ...] = tuple(int(d) for d in input_shape)
    layers: list[Layer] = []

    def flatten() -> None:
        nonlocal shape
        if len(shape) > 1:
            layers.append(Flatten(dtype=dtype))
            shape = (int(np.prod(shape)),)

    for item in (s.strip() for s in spec.split(",") if s.strip()):
        kind, _, arg = item.partition(":")
        pool_kind = {"maxpool": "max", "l2pool": "l2"}.get(kind, pool)
        key = "pool" if kind in ("maxpool", "l2pool") else kind
        match = _SPEC_ITEM[key].fullmatch(arg) if key in _SPEC_ITEM else None
        if match is None:
            raise ValueError(f"bad CNN spec item {item!r}; {CNN_SPEC_HELP}")
        if key == "conv":
            if len(shape) != 3:
                raise ValueError(f"spec item {item!r} needs feature maps (C, H, W), got flat features {shape}")
            maps, k, stride, pad = (int(g) if g else d for g, d in zip(match.groups(), (0, 0, 1, 0), strict=True))
            conv = Conv2D(shape[0], maps, k, rng, stride=stride, padding=pad, w_init=w_init, dtype=dtype)
            shape = conv.output_shape(shape)
            layers += [conv, ACTIVATIONS[activation](dtype=dtype)]
        elif key == "pool":
            if len(shape) != 3:
                raise ValueError(f"spec item {item!r} needs feature maps (C, H, W), got flat features {shape}")
            size, stride = int(match[1]), int(match[2]) if match[2] else None
            layer = POOLS[pool_kind](size, stride, dtype=dtype)
            shape = layer.output_shape(shape)
            if pool_kind == "max" and activation == "relu" and len(layers) >= 2 and isinstance(layers[-2], Conv2D):
                # max(relu(z)) = relu(max(z)) and both send the gradient to the same pixel (ties only where
                # relu(z) = 0, whose gradient is 0 either way), so pool first: the ReLU then works on k·k
                # times fewer numbers, forward and backward, with the same outputs and gradients.
                layers.insert(len(layers) - 1, layer)
            else:
                layers.append(layer)
        elif key == "dense":
            flatten()
            layers += [
                Dense(shape[0], int(match[1]), rng, w_init=w_init, dtype=dtype),
                ACTIVATIONS[activation](dtype=dtype),
            ]
            shape = (int(match[1]),)
        else:
            layers.append(Dropout(float(match[1]), rng, dtype=dtype))
    flatten()
    if n_out is not None:
        layers.append(Dense(shape[0], n_out, rng, w_init=out_w_init or w_init, dtype=dtype))
        if output_activation is not None:
            layers.append(ACTIVATIONS[output_activation](dtype=dtype))
    net = Sequential(layers)
    net.input_shape = tuple(int(d) for d in input_shape)  # so inputs of other image sizes are reported as such
    return net
