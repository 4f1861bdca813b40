"""Parameters and gradients as views of two flat vectors, so an optimiser updates them where they lie.

An optimiser of a small network (the agents' 64-unit actor and critic, a 256 × 256 Q-network) spends much of a
step on bookkeeping when the parameters are separate arrays: gathering every gradient and parameter into flat
vectors, and writing the updated values back. ``FlatBinding`` instead makes each parameter ``W`` a view of a
slice of one flat vector ``P``, and its gradient ``∂C/∂W`` a view of the same slice of ``G``: backprop writes
into ``G`` (layers fill their gradients in place), the update rule reads ``G`` and changes ``P``, and the
network sees the new values without a copy. The numbers are those of the gathering path, bit for bit.

A binding holds while the arrays it made are still the ones in place. ``intact`` checks that cheaply (identity,
no arithmetic); anything that replaces a parameter or gradient array (``astype``, a population sharing the
layers' rows, another optimiser binding the same layers) breaks it, and the optimiser goes back to gathering.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

#: The flat vectors of every binding made, by id: a parameter that is a view of one of them may be bound again
#: (a new optimiser of the same network), a view of any other array may not (it shares memory with something).
_FLAT_VECTORS: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


class ParamSlot:
    """Where one parameter and its gradient live: ``owner.<params>[key]`` and ``owner.<grads>[key]`` (a layer's
    dicts), or the attributes ``owner.<params>`` and ``owner.<grads>`` when ``key`` is None (e.g. a policy's log σ).

    Args:
        owner: The object holding the arrays.
        params: Name of the attribute holding the parameter (or the dict of them).
        grads: Name of the attribute holding the gradient (or the dict of them).
        key: The key in those dicts, or None for plain attributes.
    """

    __slots__ = ("owner", "params", "grads", "key")

    def __init__(self, owner: Any, params: str, grads: str, key: str | None = None) -> None:
        self.owner, self.params, self.grads, self.key = owner, params, grads, key

    def get(self) -> tuple[np.ndarray, np.ndarray]:
        """(parameter, gradient) as they are now."""
        p, g = getattr(self.owner, self.params), getattr(self.owner, self.grads)
        return (p, g) if self.key is None else (p[self.key], g[self.key])

    def set(self, p: np.ndarray, g: np.ndarray) -> None:
        """Puts ``p`` and ``g`` in place of the parameter and its gradient (the dicts are changed, not replaced, so
        whatever shares them sees the new arrays)."""
        if self.key is None:
            setattr(self.owner, self.params, p)
            setattr(self.owner, self.grads, g)
        else:
            getattr(self.owner, self.params)[self.key] = p
            getattr(self.owner, self.grads)[self.key] = g


def layer_slots(layers: Sequence[Any]) -> list[ParamSlot] | None:
    """The slots of ``layers``' parameters, in their order; None if one of the layers may not be bound (its
    ``flat_bindable`` is False: its arrays are shared with other layers)."""
    slots: list[ParamSlot] = []
    for layer in layers:
        if layer.params and not getattr(layer, "flat_bindable", True):
            return None
        slots.extend(ParamSlot(layer, "params", "grads", key) for key in layer.params)
    return slots


def source_slots(source: Any) -> list[ParamSlot] | None:
    """The slots of a parameter source (an object with ``param_slots()``, or a list of them), in the order of its
    ``named_params()``; None if a source cannot tell where its parameters live."""
    sources = [source] if hasattr(source, "named_params") else list(source)
    slots: list[ParamSlot] = []
    for s in sources:
        own = s.param_slots() if hasattr(s, "param_slots") else None
        if own is None:
            return None
        slots.extend(own)
    return slots


class FlatBinding:
    """Binds the parameters at ``slots`` to slices of a flat vector ``P`` and their gradients to ``G``.

    The parameters' current values are copied into ``P`` and the gradients' into ``G``; from then on each layer's
    arrays are views (same shapes, C order) of those slices, in the order of ``slots``.

    Args:
        slots: Where the parameters live (``source_slots``), in the optimiser's order.

    Raises:
        ValueError: If the parameters cannot be bound (``FlatBinding.bindable`` says why not to ask first).
    """

    def __init__(self, slots: Sequence[ParamSlot]) -> None:
        pairs = [slot.get() for slot in slots]
        if not self.bindable(pairs):
            raise ValueError("these parameters cannot be bound to one flat vector (mixed dtypes, shared or aliased)")
        sizes = [p.size for p, _ in pairs]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        dtype = pairs[0][0].dtype if pairs else np.dtype(np.float32)
        self.P = np.empty(offsets[-1], dtype=dtype)
        self.G = np.empty(offsets[-1], dtype=dtype)
        _FLAT_VECTORS[id(self.P)], _FLAT_VECTORS[id(self.G)] = self.P, self.G
        self._bound: list[tuple[ParamSlot, np.ndarray, np.ndarray]] = []
        for slot, (p, g), a, b in zip(slots, pairs, offsets[:-1], offsets[1:], strict=True):
            pv, gv = self.P[a:b].reshape(p.shape), self.G[a:b].reshape(g.shape)
            pv[...], gv[...] = p, g
            slot.set(pv, gv)
            self._bound.append((slot, pv, gv))

    @staticmethod
    def bindable(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> bool:
        """Whether (parameter, gradient) pairs can be bound: one dtype, each array used once, and each either
        owning its memory or a view of an earlier binding's flat vector (never a view of anything else, such as
        a population's stacked rows)."""
        arrays = [a for pair in pairs for a in pair]
        if not arrays or len({id(a) for a in arrays}) != len(arrays) or len({a.dtype for a in arrays}) != 1:
            return False
        return all(a.base is None or _FLAT_VECTORS.get(id(a.base)) is a.base for a in arrays)

    def intact(self) -> bool:
        """Whether every parameter and gradient is still the view this binding made, of this binding's vectors
        (a deep copy of a network and its optimiser copies the views and the vectors apart)."""
        P, G = self.P, self.G
        for slot, pv, gv in self._bound:
            p, g = slot.get()
            if p is not pv or g is not gv or pv.base is not P or gv.base is not G:
                return False
        return True
