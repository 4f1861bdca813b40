"""``Sequential``: layers composed into a network, trained by backprop, saved safely."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nngym.checks import check_int, float_dtype, is_int, shown
from nngym.flat_params import ParamSlot, layer_slots
from nngym.layer import LAYER_REGISTRY, Layer
from nngym.parallel import BatchSplit
from nngym.serialization import ModelFileError, load_npz, save_npz
from nngym.version import __version__


class Sequential:
    """Layers in a chain: ``forward`` runs them in order, ``backward`` in reverse.

    Recurrent layers (``RNN``, ``LSTM``) fit in like any other: each call runs them over the whole
    sequence from the zero state, and ``Dense`` and the activations after them act on the last axis
    of their (N, T, H) or (T, N, H) outputs. To start from another state or read the final one,
    call the recurrent layer itself (``forward(x, state=..., return_state=True)``).

    Args:
        layers: The layers, input side first.
        input_shape: The shape of one input, without the batch axis (None: unknown). A network put together from
            the layers of others (a trunk's followed by a head's) passes the first one's here.

    Attributes:
        input_shape: The shape of one input, e.g. (C, H, W) for a ``cnn``, if known (builders set it; ``save`` and
            ``load`` keep it, and ``from_architecture`` takes it): an input of another shape that a layer refuses is
            then reported in the network's terms. None: unknown.
        threads: With ``threads > 1``, ``forward`` and ``backward`` split a batch of at least that many
            examples into slices run side by side on threads, and sum the slices' gradients
            (``nngym.parallel.BatchSplit``); 1 (the default) runs it whole.

    Raises:
        TypeError: For an item of ``layers`` that is not an nngym ``Layer``.
        ValueError: For an ``input_shape`` that is not a list or tuple of integers >= 1.

    Warns:
        UserWarning: For layers of different dtypes, naming them: each layer computes in its own dtype, so a
            float32 activation between float64 Dense layers brings the whole network down to float32's precision
            (give every layer the same ``dtype``, or call ``astype``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> net = Sequential([Dense(784, 30, rng), Sigmoid(), Dense(30, 10, rng), Sigmoid()])
        >>> seq = Sequential([LSTM(4, 8, rng, batch_first=True), Dense(8, 2, rng)])  # (N, T, 4) -> (N, T, 2)
        >>> actor = Sequential([*trunk.layers, *head.layers], input_shape=trunk.input_shape)
    """

    input_shape: tuple[int, ...] | None = None

    def __init__(self, layers: Iterable[Layer], input_shape: tuple[int, ...] | list[int] | None = None) -> None:
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is {type(layer).__name__}, expected an nngym Layer")
        if len({layer.dtype for layer in self.layers}) > 1:
            warnings.warn(_mixed_dtypes_message(self.layers), UserWarning, stacklevel=2)
        if input_shape is not None:
            if not _is_shape(input_shape):
                raise ValueError(_input_shape_error(input_shape))
            self.input_shape = tuple(int(d) for d in input_shape)
        self.threads = 1
        self._split: BatchSplit | None = None
        self._split_cache = False  # whether the last forward(train=True) ran split

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """Feeds ``x`` (N, ...) forward; with ``train=True`` each layer caches what backward needs.

        Sequences are (N, T, D) for recurrent layers built with ``batch_first=True``, else (T, N, D).
        """
        if self.threads > 1 and isinstance(x, np.ndarray) and len(x) >= self.threads:
            out = self._batch_split().forward(x, train)
            self._split_cache |= train
            return out
        if train:
            self._split_cache = False
        out = x
        try:
            for layer in self.layers:
                out = layer.forward(out, train)
        except ValueError as e:
            self._explain_input_error(x, e)
            raise
        return out

    def _explain_input_error(self, x: Any, error: ValueError) -> None:
        """A layer refused what reached it: if the network's input had the wrong shape for ``input_shape``, says
        that (a layer deep inside sees only the consequence, e.g. a Dense after a CNN given other image sizes)."""
        expected = self.input_shape
        if expected is not None and isinstance(x, np.ndarray) and tuple(x.shape[1:]) != tuple(expected):
            dims = ", ".join(str(d) for d in expected)
            raise ValueError(
                f"the network expected input of shape (N, {dims}), got {tuple(x.shape)} ({error})"
            ) from error

    __call__ = forward

    @property
    def batch_axis(self) -> int:
        """The axis of the input that indexes examples: 1 if a recurrent layer reads time-major
        (T, N, D) sequences (``batch_first=False``), else 0."""
        return max((getattr(layer, "batch_axis", 0) for layer in self.layers), default=0)

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Inference-mode forward in chunks of ``batch_size`` examples along ``batch_axis`` (no caches kept).

        Chunks split the batch, never the time axis, so each sequence is run whole.

        Raises:
            ValueError: If ``batch_size`` is not an integer >= 1.
        """
        check_int(batch_size, "predict batch_size")
        x = np.asarray(x)
        axis = self.batch_axis
        if x.ndim <= axis:
            raise ValueError(f"predict expected a batch of inputs with axis {axis} indexing examples, got {x.shape}")
        n = x.shape[axis]
        if n <= batch_size:
            return self.forward(x, train=False)
        lead = (slice(None),) * axis
        chunks = [self.forward(x[(*lead, slice(i, i + batch_size))], train=False) for i in range(0, n, batch_size)]
        return np.concatenate(chunks, axis=axis)

    def backward(self, delta: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Propagates ∂C/∂output back through every layer (BP2 at each), filling all grads.

        Args:
            delta: ∂C/∂output, shape of the output.
            input_grad: False when the input is data: backprop stops at the first layer with parameters,
                which fills its grads without computing ∂C/∂(its input) (``Layer.backward_params``).

        Returns:
            ∂C/∂input, shape of the input; None with ``input_grad=False``.
        """
        if self._split_cache and self._split is not None:  # the last training forward ran split
            return self._split.backward(delta, input_grad)
        if input_grad:
            for layer in reversed(self.layers):
                delta = layer.backward(delta)
            return delta
        first = next((i for i, layer in enumerate(self.layers) if layer.params), None)
        if first is None:
            return None
        for layer in reversed(self.layers[first + 1 :]):
            delta = layer.backward(delta)
        self.layers[first].backward_params(delta)
        return None

    def _batch_split(self) -> BatchSplit:
        """The replicas for ``threads`` slices, made again when the count or the parameters changed."""
        split = self._split
        if split is None or split.threads != self.threads or not split.current():
            split = self._split = BatchSplit(self, self.threads)
        return split

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``[("<layer index>.<key>", param, grad), ...]`` for every parameter."""
        return [(f"{i}.{k}", p, layer.grads[k]) for i, layer in enumerate(self.layers) for k, p in layer.params.items()]

    def param_slots(self) -> list[ParamSlot] | None:
        """Where each parameter of ``named_params`` lives (``nngym.flat_params``), None if a layer shares its
        arrays with another network (its parameters cannot be bound to an optimiser's flat vector)."""
        return layer_slots(self.layers)

    def zero_grads(self) -> None:
        for _, _, g in self.named_params():
            g[...] = 0

    @property
    def n_params(self) -> int:
        return sum(p.size for _, p, _ in self.named_params())

    def astype(self, dtype: np.dtype | type) -> Sequential:
        """Casts every layer in place (float64 for gradient checks).

        Raises:
            ValueError: If ``dtype`` is not a floating dtype (nothing is cast then).
        """
        float_dtype(dtype, "Sequential dtype")
        for layer in self.layers:
            layer.astype(dtype)
        return self

    # --- state and files ------------------------------------------------------------
    def architecture(self) -> list[dict[str, Any]]:
        """JSON-able description: ``[{"type": "Dense", "config": {...}}, ...]``."""
        return [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers]

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: p for name, p, _ in self.named_params()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copies arrays into the parameters in place; names and shapes must match exactly.

        Raises:
            ModelFileError: Naming the missing, unexpected or mis-shaped parameters.
        """
        own = {name: p for name, p, _ in self.named_params()}
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or extra:
            raise ModelFileError(f"parameters do not match: missing {missing}, unexpected {extra}")
        for name, p in own.items():
            arr = state[name]
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
                shown = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
                raise ModelFileError(f"parameter {name}: expected an array of real numbers, file has {shown}")
            if arr.shape != p.shape:
                raise ModelFileError(f"parameter {name}: expected shape {p.shape}, file has {arr.shape}")
        for name, p in own.items():
            p[...] = state[name]

    def save(self, path: str | os.PathLike, extra_meta: dict[str, Any] | None = None) -> Path:
        """Saves architecture (JSON), dtype, ``input_shape`` (if known) and parameters (npz) to one file. Returns the
        path written.

        The metadata's ``dtype`` is the layers' dtype (with layers of several dtypes, the dtype of the first layer
        that has parameters), and a network whose layers differ in dtype also keeps each layer's in
        ``layer_dtypes``, so ``load`` rebuilds every layer in the dtype it had.
        """
        dtypes = [str(layer.dtype) for layer in self.layers]
        main = next((str(layer.dtype) for layer in self.layers if layer.params), dtypes[0] if dtypes else "float32")
        meta = {
            "format": "nngym.Sequential",
            "nngym_version": __version__,
            "dtype": main,
            **({"layer_dtypes": dtypes} if len(set(dtypes)) > 1 else {}),
            "architecture": self.architecture(),
            **({} if self.input_shape is None else {"input_shape": [int(d) for d in self.input_shape]}),
            **(extra_meta or {}),
        }
        return save_npz(path, self.state_dict(), meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Sequential:
        """Rebuilds a network saved by ``save`` (architecture from its JSON, then the weights), with its
        ``input_shape`` if the file has one (files written before it was saved load with None) and each layer's
        dtype (``layer_dtypes`` if the file has them, else its ``dtype`` for every layer).

        Raises:
            FileNotFoundError: If there is no such file.
            ModelFileError: Naming the file and what is wrong: not a model file, a metadata entry missing or
                malformed (format, architecture, dtype, layer_dtypes, input_shape), a layer that cannot be built from
                its config, or parameters that are missing, unexpected, mis-shaped or not real numbers.
        """
        arrays, meta = load_npz(path)
        if meta.get("format") != "nngym.Sequential":
            raise ModelFileError(f"{path}: format is {meta.get('format')!r}, expected 'nngym.Sequential'")
        if "architecture" not in meta:
            raise ModelFileError(f"{path}: metadata has no 'architecture' entry (keys: {sorted(meta)})")
        shape = meta.get("input_shape")
        if shape is not None and not isinstance(shape, list):  # JSON: a list (a tuple is for networks in memory)
            raise ModelFileError(f"{path}: {_input_shape_error(shape)}")
        try:
            net = cls.from_architecture(
                meta["architecture"],
                dtype=meta.get("dtype", "float32"),
                input_shape=shape,
                layer_dtypes=meta.get("layer_dtypes"),
            )
            net.load_state_dict(arrays)
        except ModelFileError as e:
            raise ModelFileError(f"{path}: {e}") from e
        return net

    def load_params(self, path: str | os.PathLike) -> None:
        """Loads weights saved by ``save`` into this network, refusing a different architecture.

        Architectures match when the layer types agree in order and every parameter has the same name and shape
        (initialisers do not matter).
        """
        arrays, meta = load_npz(path)
        arch = meta.get("architecture")
        saved_types = [spec.get("type") for spec in arch if isinstance(spec, dict)] if isinstance(arch, list) else []
        own_types = [type(layer).__name__ for layer in self.layers]
        own_shapes = {name: p.shape for name, p in self.state_dict().items()}
        if saved_types != own_types or {k: v.shape for k, v in arrays.items()} != own_shapes:
            raise ModelFileError(
                f"{path}: saved architecture {_describe(meta.get('architecture'))} "
                f"does not match this network {_describe(self.architecture())}"
            )
        self.load_state_dict(arrays)

    @classmethod
    def from_architecture(
        cls,
        architecture: list[dict[str, Any]],
        dtype: str = "float32",
        input_shape: tuple[int, ...] | list[int] | None = None,
        layer_dtypes: list[str] | None = None,
    ) -> Sequential:
        """Builds a network (fresh weights) from what ``architecture()`` returned.

        The architecture holds the layers only; the shape of one input, which names the network's expected input
        in its errors, is given apart (the ``input_shape`` a saved network's file or the copied network has), and
        so are the dtypes.

        Args:
            architecture: ``[{"type": "Dense", "config": {...}}, ...]``, as ``architecture()`` returns it.
            dtype: Parameter dtype of every layer, a floating dtype's name.
            input_shape: The network's ``input_shape``: one input's shape, integers >= 1 (None: unknown).
            layer_dtypes: One floating dtype's name per architecture entry, for a network whose layers differ in
                dtype (``save`` writes them); None: ``dtype`` for every layer.

        Raises:
            ModelFileError: For an architecture that is not such a list, an unknown layer type, a config with
                missing or unexpected keys or values its layer refuses, a dtype that is not floating, a
                ``layer_dtypes`` that is not a list of such dtypes, one per entry, or an ``input_shape`` that is not
                a list or tuple of integers >= 1.
        """
        if input_shape is not None and not _is_shape(input_shape):
            raise ModelFileError(_input_shape_error(input_shape))
        try:
            dtype = str(float_dtype(dtype, "dtype"))
        except ValueError as e:
            raise ModelFileError(str(e)) from e
        if not isinstance(architecture, list):
            raise ModelFileError(
                f"architecture must be a list of {{'type': ..., 'config': {{...}}}} entries, "
                f"got {type(architecture).__name__} {architecture!r}"
            )
        dtypes = [dtype] * len(architecture) if layer_dtypes is None else _layer_dtypes(layer_dtypes, architecture)
        rng = np.random.default_rng(0)  # weights are overwritten by the file; any generator will do
        layers = []
        for i, spec in enumerate(architecture):
            if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
                raise ModelFileError(
                    f"architecture entry {i} must be {{'type': <layer name>, 'config': {{...}}}}, got {spec!r}"
                )
            kind = spec.get("type")
            layer_cls = LAYER_REGISTRY.get(kind) if isinstance(kind, str) else None
            if layer_cls is None:
                raise ModelFileError(
                    f"architecture entry {i}: unknown layer type {kind!r}; known: {sorted(LAYER_REGISTRY)}"
                )
            layers.append(_build(layer_cls, spec.get("config", {}), rng, dtypes[i], i))
        return cls(layers, input_shape=input_shape)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner}\n])"


def _build(
    layer_cls: type[Layer], config: dict[str, Any], rng: np.random.Generator, dtype: str, index: int = 0
) -> Layer:
    """``layer_cls`` from a saved config; every problem with the config is a ModelFileError naming the entry."""
    import inspect

    where = f"architecture entry {index} ({layer_cls.__name__})"
    params = inspect.signature(layer_cls.__init__).parameters
    given = {"rng", "dtype"} & set(params)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [k for k, p in params.items() if k != "self" and k not in given and p.kind is not p.VAR_POSITIONAL]
    unexpected = sorted(set(config) - set(accepted)) if not takes_any else []
    required = [
        k
        for k in accepted
        if params[k].default is inspect.Parameter.empty and params[k].kind is not inspect.Parameter.VAR_KEYWORD
    ]
    missing = [k for k in required if k not in config]
    if unexpected or missing:
        problems = ", ".join(
            f"{what} {keys}" for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys
        )
        raise ModelFileError(f"{where}: config {config!r} does not fit the layer: {problems} (it takes {accepted})")
    kwargs = dict(config)
    if "rng" in given:
        kwargs["rng"] = rng
    if "dtype" in given:
        kwargs["dtype"] = dtype
    for key in ("w_init", "b_init"):
        if kwargs.get(key) == "custom":
            kwargs[key] = "zeros"
    try:
        return layer_cls(**kwargs)
    except (TypeError, ValueError, KeyError) as e:  # a value the layer refuses (or cannot use)
        raise ModelFileError(f"{where}: cannot build the layer from config {config!r}: {e}") from e


def _layer_dtypes(layer_dtypes: Any, architecture: list[Any]) -> list[str]:
    """``layer_dtypes`` checked: one floating dtype's name per architecture entry.

    Raises:
        ModelFileError: Naming what is wrong.
    """
    if not isinstance(layer_dtypes, list) or len(layer_dtypes) != len(architecture):
        raise ModelFileError(
            f"layer_dtypes must be a list of {len(architecture)} dtypes, one per architecture entry, "
            f"got {shown(layer_dtypes)}"
        )
    try:
        return [str(float_dtype(d, f"layer_dtypes entry {i}")) for i, d in enumerate(layer_dtypes)]
    except ValueError as e:
        raise ModelFileError(str(e)) from e


def _mixed_dtypes_message(layers: list[Layer]) -> str:
    """What a network of layers of several dtypes is told: the layers and their dtypes."""
    shown_layers = ", ".join(f"{i} {type(layer).__name__} {layer.dtype}" for i, layer in enumerate(layers))
    lowest = min((layer.dtype for layer in layers), key=lambda d: d.itemsize)
    highest = max((layer.dtype for layer in layers), key=lambda d: d.itemsize)
    return (
        f"Sequential: layers of mixed dtypes ({shown_layers}); each layer casts its input to its own dtype, so "
        f"the network's numbers have {lowest}'s precision: build every layer with the same dtype, or call "
        f"net.astype(np.{highest})"
    )


def _is_shape(shape: Any) -> bool:
    """Whether ``shape`` is a non-empty list or tuple of integers >= 1 (one input's shape)."""
    return isinstance(shape, list | tuple) and len(shape) > 0 and all(is_int(d) and d >= 1 for d in shape)


def _input_shape_error(shape: Any) -> str:
    """What is wrong with a malformed ``input_shape``."""
    return f"input_shape must be a list of integers >= 1 (one input's shape), got {shape!r}"


def _describe(arch: Any) -> str:
    if not isinstance(arch, list):
        return repr(arch)
    parts = []
    for spec in arch:
        if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
            parts.append(repr(spec))
            continue
        cfg = spec.get("config", {})
        inner = ",".join(str(v) for k, v in cfg.items() if k not in ("w_init", "b_init"))
        parts.append(f"{spec.get('type')}({inner})" if inner else str(spec.get("type")))
    return "[" + ", ".join(parts) + "]"
