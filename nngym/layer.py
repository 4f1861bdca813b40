"""The layer protocol every nngym building block follows.

A layer maps a batch ``x`` to ``y`` in ``forward`` and, in ``backward``, takes the
upstream gradient ``dy = ∂C/∂y``, fills ``grads`` with ``∂C/∂param`` (BP3/BP4 for a
Dense layer) and returns ``dx = ∂C/∂x`` (BP2). ``params`` and ``grads`` are dicts
with the same keys; ``config()`` returns the JSON-able constructor arguments used
to rebuild the layer from a saved file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nngym.checks import float_dtype

#: Every concrete layer class by its class name, which model files store, so saved networks can be rebuilt. A name
#: belongs to one class: defining another ``Layer`` class of a registered name raises a TypeError (see
#: ``Layer.__init_subclass__``).
LAYER_REGISTRY: dict[str, type[Layer]] = {}
#: The packages whose layer classes no class of another module may replace in ``LAYER_REGISTRY``.
_OWN_MODULES = ("nngym.", "agents.")


class Layer:
    """Base class: parameter/gradient dicts, dtype handling and the backward-before-forward guard."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    #: Whether an optimiser may make this layer's parameters views of its flat vector
    #: (``nngym.flat_params``); False for layers whose arrays are another layer's or network's.
    flat_bindable: bool = True
    #: Whether ``forward(train=True)`` draws random numbers (``Dropout``), so two calls on the same input differ.
    stochastic: bool = False

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        """Registers ``cls`` in ``LAYER_REGISTRY`` under its class name, the name model files store.

        A user's class of a name already registered by a user's class (a notebook cell run twice, a script also
        imported as a module, two tests with a local class of one name) replaces the earlier one, the latest
        definition being what later loads build. A class of the name of one of nngym's own layers (its ``nngym``
        and ``agents`` packages) is refused, so a user's ``ReLU`` cannot take the place of nngym's in
        ``Sequential.load``.

        Args:
            register: False for a base class that is never built from a file (``class Base(Layer,
                register=False)``); its subclasses are registered.

        Raises:
            TypeError: If one of nngym's own layer classes is registered under the same name.
        """
        super().__init_subclass__(**kwargs)
        if not register:
            return
        name = cls.__name__
        known = LAYER_REGISTRY.get(name)
        if known is not None and _where(known) != _where(cls) and known.__module__.startswith(_OWN_MODULES):
            raise TypeError(
                f"Layer class {_where(cls)} has the name {name!r} of {_where(known)} (nngym's own layer): model files "
                "name layers by class name, so Sequential.load could not tell the two apart; give the class another "
                "name"
            )
        LAYER_REGISTRY[name] = cls  # a user's class of a user's name: the latest definition, as a rerun cell

    def __init__(self, dtype: np.dtype | type = np.float32) -> None:
        """Sets the dtype (which must be floating: float16, float32, float64) and empty ``params``/``grads``.

        Raises:
            ValueError: If ``dtype`` is not a floating dtype (integer parameters would round every update).
        """
        self.dtype = float_dtype(dtype, f"{type(self).__name__} dtype")
        self.params = {}
        self.grads = {}
        self._cache: Any = None

    # --- protocol -----------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward_params(self, dy: np.ndarray) -> None:
        """``backward`` without ∂C/∂x: fills ``grads`` only (for the first layer of a network, whose input is
        data). Layers whose BP2 costs much (``Dense``, ``Conv2D``) skip it; others run ``backward``."""
        self.backward(dy)

    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments (without the random generator)."""
        return {}

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``[(key, param, grad), ...]``, so a single layer is a parameter source for the optimisers."""
        return [(k, p, self.grads[k]) for k, p in self.params.items()]

    # --- helpers shared by all layers ---------------------------------------------
    def _init_grads(self) -> None:
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def _need_cache(self) -> Any:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward(train=True)")
        return self._cache

    def _as_input(self, x: np.ndarray) -> np.ndarray:
        """Returns ``x`` as an array of this layer's dtype (no copy when it already is)."""
        return np.asarray(x, dtype=self.dtype)

    def astype(self, dtype: np.dtype | type) -> Layer:
        """Casts parameters and gradients in place to ``dtype`` (e.g. float64 for gradient checks).

        Raises:
            ValueError: If ``dtype`` is not a floating dtype.
        """
        self.dtype = float_dtype(dtype, f"{type(self).__name__} dtype")
        self.params = {k: v.astype(self.dtype) for k, v in self.params.items()}
        self._init_grads()
        self._cache = None
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _where(cls: type) -> str:
    """``module.QualifiedName`` of a class, which tells a class defined again from another of the same name."""
    return f"{cls.__module__}.{cls.__qualname__}"


def check_shape(layer: str, x: np.ndarray, expected: tuple[int | None, ...], what: str = "input") -> None:
    """Raises a ValueError naming expected and actual shapes; ``None`` matches any size.

    Args:
        layer: Name used in the message, e.g. ``"Dense(784->30)"``.
        x: The array to check.
        expected: Expected shape, ``None`` for a free dimension (usually the batch).
        what: What the array is, for the message.
    """
    if x.shape == expected:  # the usual case, without the loop below
        return
    if x.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, x.shape, strict=True)):
        dims = ", ".join("N" if e is None else str(e) for e in expected)
        shown = f"({dims},)" if len(expected) == 1 else f"({dims})"
        raise ValueError(f"{layer} expected {what} of shape {shown}, got {tuple(x.shape)}")
