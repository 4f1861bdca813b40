"""Stacked layers: K independent networks of one architecture as one network on parameters stacked (K, ...).

A population of K networks (K seeds of one agent) computes its K small matrix products as one batched
product, ``(K, B, n_in) @ (K, n_in, n_out)``, with the same number of numpy calls as one network. Member k's
rows never meet member j's: every product, sum and gradient is taken within a member.

``StackedDense.from_layers`` stacks K ``Dense`` layers and, with ``share=True``, makes each layer's
parameters and gradients views of its row of the stacked arrays, so the K ordinary networks and the stacked
one are the same numbers (an ordinary member can ``predict`` or be saved without copying anything back).
Elementwise activations (``Tanh``, ``ReLU``, ``Sigmoid``, ``GELU``) act on any shape and are stacked as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nngym.activations import GELU, ReLU, Sigmoid, Tanh
from nngym.dense import Dense
from nngym.init import Initializer, get_initializer
from nngym.layer import Layer, check_shape
from nngym.network import Sequential

#: Layers a stacked network may hold besides ``StackedDense``: elementwise, parameter-free, any shape.
ELEMENTWISE = (Tanh, ReLU, Sigmoid, GELU)


class StackedDense(Layer):
    """K fully connected layers side by side: ``z_k = W_k a_k + b_k`` for each member k.

    Args:
        n_members: K.
        n_in: Inputs of each member's layer.
        n_out: Outputs of each member's layer.
        rng: Generator for the initial weights (member by member, as K ``Dense`` layers drawing in turn).
        w_init: Weight initialiser of each member (``nngym.init``).
        b_init: Bias initialiser of each member.
        dtype: Parameter dtype.

    Shapes:
        ``W``: (K, n_out, n_in), ``b``: (K, n_out), input (K, B, n_in), output (K, B, n_out).
    """

    flat_bindable = False  # members' layers and row ranges are views of its arrays

    def __init__(
        self,
        n_members: int,
        n_in: int,
        n_out: int,
        rng: np.random.Generator,
        w_init: str | Initializer = "nielsen",
        b_init: str | Initializer = "zeros",
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(dtype)
        if n_members < 1 or n_in < 1 or n_out < 1:
            raise ValueError(
                f"StackedDense needs n_members, n_in, n_out >= 1, got n_members={n_members}, n_in={n_in}, n_out={n_out}"
            )
        self.n_members, self.n_in, self.n_out = int(n_members), int(n_in), int(n_out)
        self.w_init = w_init if isinstance(w_init, str) else "custom"
        self.b_init = b_init if isinstance(b_init, str) else "custom"
        w, b = get_initializer(w_init), get_initializer(b_init)
        members = [
            (w((self.n_out, self.n_in), rng, self.dtype), b((self.n_out,), rng, self.dtype)) for _ in range(n_members)
        ]
        self.params = {"W": np.stack([m[0] for m in members]), "b": np.stack([m[1] for m in members])}
        self._init_grads()
        self._name = f"StackedDense({self.n_members}x {self.n_in}->{self.n_out})"

    @classmethod
    def from_layers(cls, layers: Sequence[Dense], share: bool = False) -> StackedDense:
        """The K ``Dense`` layers ``layers`` (one architecture) stacked, their parameters copied in member order.

        Args:
            layers: K Dense layers with equal ``n_in``, ``n_out`` and dtype.
            share: Afterwards, make each layer's ``params`` and ``grads`` views of its row of the stacked arrays
                (the layers and the stacked layer then hold the same numbers).

        Raises:
            ValueError: If ``layers`` is empty, holds another layer type or layers of different shapes.
        """
        if not layers or not all(type(layer) is Dense for layer in layers):
            raise ValueError(f"StackedDense.from_layers needs Dense layers, got {[type(x).__name__ for x in layers]}")
        shapes = {(layer.n_in, layer.n_out, layer.dtype) for layer in layers}
        if len(shapes) != 1:
            raise ValueError(
                f"StackedDense.from_layers needs layers of one shape and dtype, got {sorted(map(str, shapes))}"
            )
        first = layers[0]
        out = cls.__new__(cls)
        Layer.__init__(out, first.dtype)
        out.n_members, out.n_in, out.n_out = len(layers), first.n_in, first.n_out
        out.w_init, out.b_init = first.w_init, first.b_init
        out.params = {k: np.stack([layer.params[k] for layer in layers]) for k in ("W", "b")}
        out._init_grads()
        out._name = f"StackedDense({out.n_members}x {out.n_in}->{out.n_out})"
        if share:
            out.share_with(layers)
        return out

    def share_with(self, layers: Sequence[Dense]) -> None:
        """Makes ``layers[k].params`` / ``.grads`` views of row k of this layer's arrays (K layers)."""
        if len(layers) != self.n_members:
            raise ValueError(f"{self._name} has {self.n_members} members, got {len(layers)} layers")
        for k, layer in enumerate(layers):
            check_shape(self._name, layer.params["W"], (self.n_out, self.n_in), f"member {k}'s W")
            layer.params = {key: v[k] for key, v in self.params.items()}
            layer.grads = {key: v[k] for key, v in self.grads.items()}

    def rows(self, start: int, stop: int) -> StackedDense:
        """Members ``start`` … ``stop − 1`` as a stacked layer of their own: its ``params`` and ``grads`` are views of
        those rows of this layer's arrays, its cache is its own (so parts of a population can run forward and
        backward side by side, each on its rows).

        Raises:
            ValueError: For an empty or out-of-range row range.
        """
        if not 0 <= start < stop <= self.n_members:
            raise ValueError(f"{self._name}: rows {start}:{stop} are not a non-empty range of {self.n_members} members")
        out = StackedDense.__new__(StackedDense)
        Layer.__init__(out, self.dtype)
        out.n_members, out.n_in, out.n_out = stop - start, self.n_in, self.n_out
        out.w_init, out.b_init = self.w_init, self.b_init
        out.params = {k: v[start:stop] for k, v in self.params.items()}
        out.grads = {k: v[start:stop] for k, v in self.grads.items()}
        out._name = f"StackedDense({out.n_members}x {out.n_in}->{out.n_out})"
        return out

    def member(self, k: int) -> Dense:
        """A new ``Dense`` layer holding a copy of member k's parameters."""
        layer = Dense(self.n_in, self.n_out, np.random.default_rng(0), dtype=self.dtype)
        layer.w_init, layer.b_init = self.w_init, self.b_init
        for key in ("W", "b"):
            layer.params[key][...] = self.params[key][k]
        return layer

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """``Z_k = A_k W_k^T + b_k`` for every member, one batched product.

        Args:
            x: Each member's activations of the previous layer, shape (K, B, n_in).
            train: Whether to keep the input for ``backward``.

        Returns:
            Weighted inputs, shape (K, B, n_out).

        Raises:
            ValueError: If ``x`` is not (K, B, n_in).
        """
        x = self._as_input(x)
        if x.ndim != 3 or x.shape[0] != self.n_members or x.shape[2] != self.n_in:
            raise ValueError(f"{self._name} expected input of shape ({self.n_members}, B, {self.n_in}), got {x.shape}")
        if train:
            self._cache = x
        z = np.matmul(x, self.params["W"].transpose(0, 2, 1))
        z += self.params["b"][:, None, :]
        return z

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Given δ_k = ∂C/∂z_k (K, B, n_out), fills ``grads`` member by member and returns ∂C/∂a^{l-1} (K, B, n_in).

        (BP1) is the cost's and the activations' part, δ arrives here already formed.
        """
        a_prev = self._need_cache()
        delta = np.asarray(dy, dtype=self.dtype)
        check_shape(self._name, delta, (self.n_members, a_prev.shape[1], self.n_out), "upstream gradient")
        delta.sum(axis=1, out=self.grads["b"])  # (BP3) ∂C/∂b_k = Σ_batch δ_k
        np.matmul(delta.transpose(0, 2, 1), a_prev, out=self.grads["W"])  # (BP4) ∂C/∂W_k = δ_k^T a_k^{l-1}
        return np.matmul(delta, self.params["W"])  # (BP2) δ_k carried back through W_k^T

    def config(self) -> dict[str, Any]:
        return {
            "n_members": self.n_members,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "w_init": self.w_init,
            "b_init": self.b_init,
        }


def stack_networks(nets: Sequence[Sequential], share: bool = False) -> Sequential:
    """K networks of one architecture as one stacked network: (K, B, n_in) → (K, B, n_out).

    Each ``Dense`` position becomes a ``StackedDense`` of the K members' layers; elementwise activations are
    taken from member 0 (they have no parameters).

    Args:
        nets: K ``Sequential`` networks of Dense and elementwise activation layers (an MLP), one architecture.
        share: Make the members' parameters and gradients views of the stacked arrays (``StackedDense.share_with``).

    Raises:
        ValueError: For networks of different architectures or with other layers (convolutions, recurrent
            layers, input layers), naming the layer.
    """
    if not nets:
        raise ValueError("stack_networks needs at least one network")
    archs = [[type(layer).__name__ for layer in net.layers] for net in nets]
    if any(a != archs[0] for a in archs):
        raise ValueError(f"stack_networks needs networks of one architecture, got {archs}")
    layers: list[Layer] = []
    for i, layer in enumerate(nets[0].layers):
        if type(layer) is Dense:
            layers.append(StackedDense.from_layers([net.layers[i] for net in nets], share=share))
        elif isinstance(layer, ELEMENTWISE):
            layers.append(type(layer)(dtype=layer.dtype))
        else:
            raise ValueError(
                "stack_networks supports Dense, Tanh, ReLU, Sigmoid and GELU layers (MLPs), got "
                f"{type(layer).__name__} at layer {i}"
            )
    return Sequential(layers)


def network_rows(net: Sequential, start: int, stop: int) -> Sequential:
    """Members ``start`` … ``stop − 1`` of a stacked network as a stacked network of their own, on views of their
    rows (``StackedDense.rows``): what it learns, the whole network holds."""
    return Sequential(
        [
            layer.rows(start, stop) if isinstance(layer, StackedDense) else type(layer)(dtype=layer.dtype)
            for layer in net.layers
        ]
    )


def member_products(*nets: Sequential) -> int:
    """Multiply-adds of one member's products per input row in the stacked networks ``nets``: Σ n_in · n_out over
    their ``StackedDense`` layers."""
    return sum(layer.n_in * layer.n_out for net in nets for layer in net.layers if isinstance(layer, StackedDense))


def unstack_network(net: Sequential, k: int) -> Sequential:
    """Member k of a stacked network as an ordinary ``Sequential`` (its own copy of the parameters)."""
    return Sequential(
        [layer.member(k) if isinstance(layer, StackedDense) else type(layer)(dtype=layer.dtype) for layer in net.layers]
    )


def infer_stacked(net: Sequential, x: np.ndarray) -> np.ndarray:
    """Inference-mode forward of a stacked MLP for the rollout's hot loop, (K, B, n_in) → (K, B, n_out): the
    arithmetic of ``net.forward(x, train=False)`` without shape checks or caches, activations in place (an input of
    another dtype, float64 or integer observations, is cast to the layer's as ``forward`` casts it)."""
    owned = False
    for layer in net.layers:
        kind = type(layer)
        if kind is StackedDense:
            x = np.matmul(np.asarray(x, dtype=layer.dtype), layer.params["W"].transpose(0, 2, 1))
            x += layer.params["b"][:, None, :]
            owned = True
        elif kind is Tanh and owned:
            np.tanh(x, out=x)
        elif kind is ReLU and owned:
            layer.apply(x, out=x)  # against its kept zeros: numpy's maximum with the scalar 0 is ~4x slower
        else:
            x = layer.forward(x, train=False)
            owned = False
    return x
