"""Optimisers that update parameters in place from the gradients backprop left in ``grads``.

All take a *parameter source*: any object with ``named_params()`` returning
``[(name, param, grad), ...]`` (a ``Sequential``, a single ``Layer``, an agent's policy), or a list of
such objects. Gradients are the batch means the costs produce, so plain SGD is the
seed's rule w' = w − η/m Σ_x ∂C_x/∂w.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from nngym.checks import check_rate, is_real, shown
from nngym.flat_params import FlatBinding, source_slots


class ParamSource(Protocol):
    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]: ...


def gather_params(source: ParamSource | Sequence[ParamSource]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Flattens one source or a list of sources into ``(name, param, grad)`` triples (names prefixed by index)."""
    if hasattr(source, "named_params"):
        return list(source.named_params())
    out: list[tuple[str, np.ndarray, np.ndarray]] = []
    for i, s in enumerate(source):
        out.extend((f"{i}/{n}", p, g) for n, p, g in s.named_params())
    return out


def global_grad_norm(grads: Iterable[np.ndarray]) -> float:
    """sqrt(Σ ||g||²) over all gradient arrays."""
    return float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))


def clip_grad_norm(source: ParamSource | Sequence[ParamSource], max_norm: float) -> float:
    """Scales all gradients in place so their global norm is at most ``max_norm``.

    Args:
        source: The parameter source whose gradients are clipped (see module docstring).
        max_norm: The largest global norm allowed, a finite number > 0.

    Returns:
        The global norm before clipping.

    Raises:
        ValueError: If ``max_norm`` is not a finite number > 0 (a negative one would reverse the gradients,
            zero would erase them).
    """
    _check_max_norm(max_norm, "clip_grad_norm max_norm")
    return _clip_grad_norm(source, max_norm)


def _check_max_norm(max_norm: Any, what: str) -> None:
    if not is_real(max_norm) or not 0.0 < max_norm < math.inf:
        raise ValueError(f"{what} must be a finite number > 0, got {type(max_norm).__name__} {max_norm!r}")


def _clip_grad_norm(source: ParamSource | Sequence[ParamSource], max_norm: float) -> float:
    """``clip_grad_norm`` without the check of ``max_norm`` (the optimisers check it once, when built)."""
    grads = [g for _, _, g in gather_params(source)]
    norm = global_grad_norm(grads)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g *= scale
    return norm


def _check_source(source: Any, optimizer: str) -> None:
    """Raises a ValueError unless ``source`` is a parameter source or a non-empty list of them."""
    sources = source if isinstance(source, list | tuple) and source else [source]
    for s in sources:
        if isinstance(s, type) or not hasattr(s, "named_params"):
            raise ValueError(
                f"{optimizer} optimises a parameter source: a Sequential, a Layer, an object with named_params() "
                f"(e.g. a policy), or a list of them; got {shown(source)}"
            )


def _is_decayed(name: str, p: np.ndarray) -> bool:
    return p.ndim >= 2  # weights (matrices, kernels), not biases or gains


class Optimizer:
    """Base class: holds the parameter source, learning rate, weight decay and clipping.

    Small networks (at most ``FLAT_LIMIT`` parameters in all, the agents' usual case) are updated as one
    flat vector: the gradients are gathered with one concatenate, the update is a handful of vector
    operations, and the new values are written back. This removes most per-parameter call overhead.
    Where the source says where its parameters live (``param_slots()``: ``Sequential``, the agents' policies),
    the parameters and gradients are made views of the two flat vectors once (``nngym.flat_params``), and a step
    gathers and writes back nothing. Larger networks are updated parameter by parameter, in place. All three
    give identical results.

    Args:
        source: What to optimise (see module docstring); it must have parameters.
        lr: Learning rate η, a finite number >= 0 (may be changed between steps, e.g. by a schedule; that
            assignment is not checked, as agents make it every step).
        weight_decay: L2 coefficient λ' added as ``λ' w`` to the gradient of weights
            (arrays with two or more dimensions, not biases). The seed's regularised
            rule w → (1 − ηλ/n) w − η ∂C_0/∂w is ``weight_decay = λ/n``.
        max_grad_norm: If set, gradients are clipped to this global norm (a finite number > 0) before the step.

    Parameters cast after the optimiser was made (``net.astype(np.float64)``) take its state along: at the next
    step the slots (Adam's moments, ...) are cast to the parameters' new dtype, so they keep its precision.

    Raises:
        ValueError: For a source that is not a parameter source or has no parameters, an ``lr``,
            ``weight_decay`` or ``max_grad_norm`` that is not a finite number in its range (not a bool or string),
            or parameters of a dtype the optimiser refuses (``float16_ok``).
    """

    FLAT_LIMIT = 200_000
    #: Whether the update rule works in float16 whatever its ε (False where it divides by sqrt(v) + ε: Adam,
    #: RMSprop, which need an ε that float16 can hold).
    float16_ok: bool = True

    def _check_dtype(self, dtype: np.dtype) -> None:
        """Raises a ValueError for float16 parameters of an optimiser that divides by sqrt(v) + ε (not
        ``float16_ok``) when its ε is 0 in float16: where the squared gradients underflow to 0 (|g| < 2.4e-4), the
        step would be 0/0 = NaN."""
        eps = getattr(self, "eps", 0.0)
        if dtype == np.float16 and not self.float16_ok and np.float16(eps) == 0:
            tiny = float(np.finfo(np.float16).smallest_subnormal)
            raise ValueError(
                f"{type(self).__name__} cannot update float16 parameters with eps={eps:g}: float16 holds no positive "
                f"number below {tiny:.0e}, so its ε is 0 there, and where the squared gradients of its second moment "
                "underflow to 0 (|g| < 2.4e-4) its step, divided by sqrt(v) + ε, becomes 0/0 = NaN; give an eps "
                "float16 can hold (1e-4, say), cast the network to float32 first (net.astype(np.float32)), or use SGD "
                "or Momentum"
            )

    def __init__(
        self,
        source: ParamSource | Sequence[ParamSource],
        lr: float,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = None,
    ) -> None:
        kind = type(self).__name__
        check_rate(lr, f"{kind} lr")
        check_rate(weight_decay, f"{kind} weight_decay")
        if max_grad_norm is not None:
            _check_max_norm(max_grad_norm, f"{kind} max_grad_norm (None for no clipping)")
        _check_source(source, kind)
        self.source = source
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.max_grad_norm = max_grad_norm
        self.t = 0  # number of steps taken
        self.last_grad_norm: float | None = None
        params = gather_params(source)
        if not params:
            raise ValueError(f"{kind}: the {type(source).__name__} given has no parameters to optimise")
        for dtype in {p.dtype for _, p, _ in params}:
            self._check_dtype(dtype)
        self._layout = [(name, p.shape) for name, p, _ in params]
        sizes = [p.size for _, p, _ in params]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self._flat = sum(sizes) <= self.FLAT_LIMIT
        self._decay_mask = np.concatenate(
            [np.full(p.size, _is_decayed(name, p), dtype=p.dtype) for name, p, _ in params] or [np.zeros(0)]
        )
        #: optimiser state: slot key -> flat vector (flat mode) or slot key -> {name: array}
        self.state: dict[str, Any] = {}
        self._scratch: dict[tuple[tuple[int, ...], np.dtype, int], np.ndarray] = {}
        self._binding: FlatBinding | None = None
        if self._flat:  # the gathered gradients and parameters, written in place every step
            flat_dtype = self._decay_mask.dtype
            self._G = np.empty(self._offsets[-1], dtype=flat_dtype)
            self._P = np.empty(self._offsets[-1], dtype=flat_dtype)
            slots = source_slots(source)
            if slots is not None and FlatBinding.bindable([slot.get() for slot in slots]):
                self._binding = FlatBinding(slots)  # the parameters become views of self._P, their grads of self._G
                self._P, self._G = self._binding.P, self._binding.G

    @property
    def bound(self) -> bool:
        """Whether the parameters are views of this optimiser's flat vector (``nngym.flat_params``), so a step
        gathers and writes back nothing."""
        return self._binding is not None

    def step(self) -> float | None:
        """Applies one update to every parameter. Returns the pre-clip gradient norm if clipping is on."""
        if self._binding is not None:
            if self._binding.intact():
                return self._bound_step()
            self._unbind()
        params = gather_params(self.source)
        if [(n, p.shape) for n, p, _ in params] != self._layout:
            raise ValueError("the parameters changed names or shapes since this optimizer was created; make a new one")
        self.t += 1
        self._begin_step()
        norm = None
        if self._flat:
            G = self._gather_flat([g for _, _, g in params], self._G)
            if self.max_grad_norm is not None:
                norm = float(np.sqrt(G @ G))
                if norm > self.max_grad_norm:
                    G *= self.max_grad_norm / (norm + 1e-6)
            P = self._gather_flat([p for _, p, _ in params], self._P)
            if P.dtype != self._decay_mask.dtype:  # the parameters were cast (astype) since the last step
                self._retype(P.dtype)
            if self.weight_decay:
                G += self.weight_decay * self._decay_mask * P
            self._update(P, G, self._flat_slots(P))
            for (_, p, _), a, b in zip(params, self._offsets[:-1], self._offsets[1:], strict=True):
                p[...] = P[a:b].reshape(p.shape)  # (p.reshape(-1) would be a copy for a non-contiguous p)
        else:
            if self.max_grad_norm is not None:
                norm = _clip_grad_norm(self.source, self.max_grad_norm)
            for name, p, g in params:
                if self.weight_decay and _is_decayed(name, p):
                    g = g + self.weight_decay * p
                self._update(p, g, {key: self._named_slot(key, name, p) for key in self.slot_keys})
        self.last_grad_norm = norm
        return norm

    def _bound_step(self) -> float | None:
        """``step`` on the bound flat vectors: backprop left the gradients in ``G``, the update changes ``P``."""
        self.t += 1
        self._begin_step()
        P, G = self._P, self._G
        norm = None
        if self.max_grad_norm is not None:
            norm = float(np.sqrt(G @ G))
            if norm > self.max_grad_norm:
                G *= self.max_grad_norm / (norm + 1e-6)  # the layers' gradients are clipped, as clip_grad_norm does
        if self.weight_decay:  # into scratch: the layers' gradients stay ∂C/∂w
            decayed = self._tmp(G, 2)
            np.multiply(self._decay_mask, P, out=decayed)
            decayed *= self.weight_decay
            decayed += G
            G = decayed
        self._update(P, G, self._flat_slots(P))
        self.last_grad_norm = norm
        return norm

    def _retype(self, dtype: np.dtype) -> None:
        """Flat mode, parameters cast to ``dtype``: the state, the decay mask and the flat vectors follow them.

        Raises:
            ValueError: For a ``dtype`` this optimiser refuses (``_check_dtype``).
        """
        self._check_dtype(dtype)
        self._decay_mask = self._decay_mask.astype(dtype)
        self._G, self._P = np.empty_like(self._G, dtype=dtype), np.empty_like(self._P, dtype=dtype)
        self.state = {key: np.asarray(v, dtype=dtype) for key, v in self.state.items()}
        self._scratch = {}

    def _unbind(self) -> None:
        """Something replaced a bound array (``astype``, another optimiser, a population's views): gather from now
        on, into vectors of this optimiser's own (the old ones may still be some parameters' memory)."""
        self._binding = None
        self._G, self._P = np.empty_like(self._G), np.empty_like(self._P)

    #: names of the per-parameter state vectors this optimiser keeps (e.g. Adam: "m", "v")
    slot_keys: tuple[str, ...] = ()

    def _gather_flat(self, arrays: list[np.ndarray], out: np.ndarray) -> np.ndarray:
        """Concatenates the raveled ``arrays`` into ``out`` (flat mode; the dtype of the flat vector)."""
        if out.dtype != arrays[0].dtype:  # the parameters were cast (astype) since: a fresh vector of their dtype
            return np.concatenate([a.ravel() for a in arrays])
        return np.concatenate([a.ravel() for a in arrays], out=out)

    def _tmp(self, like: np.ndarray, i: int = 0) -> np.ndarray:
        """Scratch array ``i`` of ``like``'s shape and dtype, kept between steps (no allocation per update)."""
        key = (like.shape, like.dtype, i)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = np.empty_like(like)
        return buf

    def _begin_step(self) -> None:
        """Hook for per-step scalars (e.g. Adam's bias corrections)."""

    def _update(self, p: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _flat_slots(self, like: np.ndarray) -> dict[str, np.ndarray]:
        for key in self.slot_keys:
            if key not in self.state:
                self.state[key] = np.zeros_like(like)
        return self.state

    def _named_slot(self, key: str, name: str, like: np.ndarray) -> np.ndarray:
        slots = self.state.setdefault(key, {})
        slot = slots.get(name)
        if slot is None:
            self._check_dtype(like.dtype)
            slot = slots[name] = np.zeros_like(like)
        elif slot.dtype != like.dtype:  # the parameter was cast (astype) since: the state follows it
            self._check_dtype(like.dtype)
            slot = slots[name] = slot.astype(like.dtype)
        return slot

    # --- checkpointing ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Arrays and scalars needed to resume: ``{"t", "lr", "slots": {name: {key: array}}}``."""
        slots: dict[str, dict[str, np.ndarray]] = {}
        for key in self.slot_keys:
            if key not in self.state:
                continue
            for (name, shape), a, b in zip(self._layout, self._offsets[:-1], self._offsets[1:], strict=True):
                arr = self.state[key][a:b].reshape(shape) if self._flat else self.state[key].get(name)
                if arr is not None:
                    slots.setdefault(name, {})[key] = arr.copy()
        return {"t": self.t, "lr": self.lr, "slots": slots}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what ``state_dict`` returned: ``{"t", "lr", "slots": {name: {key: array}}}``.

        Every slot must belong to one of this optimiser's parameters, be one of its ``slot_keys`` and have the
        parameter's shape; parameters without slots in ``state`` start theirs at zero.

        Raises:
            ValueError: For a ``state`` that is not such a dict (a key missing: named), a step count ``t`` that is
                not an integer >= 0, an ``lr`` that is not a finite number >= 0, slots of parameters this optimiser
                does not have (named, with the parameters it has), slot keys of another optimiser (named, with this
                one's), or a slot of another shape than its parameter's.
        """
        t, lr = check_state_dict(state, type(self).__name__, self._layout, self.slot_keys)
        self.t, self.lr = t, lr
        self.state = {}
        dtype = self._decay_mask.dtype
        for key in self.slot_keys:
            if not any(key in s for s in state["slots"].values()):
                continue
            if self._flat:
                self.state[key] = np.concatenate(
                    [
                        np.asarray(state["slots"].get(name, {}).get(key, np.zeros(shape)), dtype).ravel()
                        for name, shape in self._layout
                    ]
                )
            else:
                self.state[key] = {n: np.array(s[key], dtype) for n, s in state["slots"].items() if key in s}


def check_state_dict(
    state: Any, optimizer: str, layout: list[tuple[str, tuple[int, ...]]], slot_keys: tuple[str, ...]
) -> tuple[int, float]:
    """Checks an optimiser's ``state_dict`` against the parameters it is loaded for; returns its ``(t, lr)``.

    Args:
        state: ``{"t": int, "lr": float, "slots": {parameter name: {slot key: array}}}``.
        optimizer: The optimiser's class name, for messages.
        layout: ``[(parameter name, shape), ...]`` of the optimiser's parameters.
        slot_keys: The optimiser's slot keys (Adam: ``("m", "v")``).

    Raises:
        ValueError: Naming what does not fit (see ``Optimizer.load_state_dict``).
    """
    where = f"{optimizer}.load_state_dict"
    if not isinstance(state, dict):
        raise ValueError(f"{where} takes a dict {{'t', 'lr', 'slots'}} (state_dict()), got {shown(state)}")
    missing = [key for key in ("t", "lr", "slots") if key not in state]
    if missing:
        raise ValueError(
            f"{where}: the state lacks {'the entries' if len(missing) > 1 else 'the entry'} "
            f"{', '.join(repr(k) for k in missing)} (a state_dict() has 't', 'lr' and 'slots'; got keys "
            f"{sorted(map(str, state))})"
        )
    t, lr, slots = state["t"], state["lr"], state["slots"]
    try:
        t_int = int(t)
    except (TypeError, ValueError):
        t_int = -1
    if isinstance(t, bool | np.bool_) or np.ndim(t) != 0 or t_int != t or t_int < 0:
        raise ValueError(f"{where}: the step count 't' must be an integer >= 0, got {shown(t)}")
    try:
        lr_float = float(lr)
    except (TypeError, ValueError):
        lr_float = math.nan
    if isinstance(lr, bool | np.bool_ | str) or not 0.0 <= lr_float < math.inf:
        raise ValueError(f"{where}: 'lr' must be a finite number >= 0, got {shown(lr)}")
    if not isinstance(slots, dict) or not all(isinstance(v, dict) for v in slots.values()):
        raise ValueError(f"{where}: 'slots' must map parameter names to {{slot key: array}} dicts, got {shown(slots)}")
    shapes = dict(layout)
    unknown = [name for name in slots if name not in shapes]
    if unknown:
        known = list(shapes)
        listed = known if len(known) <= 12 else [*known[:12], "..."]
        raise ValueError(
            f"{where}: the state has slots of parameters this optimizer does not have: {unknown} "
            f"(its parameters: {listed})"
        )
    keys = sorted({str(key) for s in slots.values() for key in s})
    foreign = [key for key in keys if key not in slot_keys]
    if foreign:
        raise ValueError(
            f"{where}: the state has slots {keys}, but {optimizer} keeps {list(slot_keys)} (not {foreign}): it is "
            "the state of another optimizer"
        )
    for name, s in slots.items():
        for key, arr in s.items():
            if np.shape(arr) != tuple(shapes[name]):
                raise ValueError(
                    f"{where}: slot {name}/{key} has shape {np.shape(arr)}, but parameter {name} has "
                    f"{tuple(shapes[name])}"
                )
    return t_int, lr_float


class SGD(Optimizer):
    """Mini-batch stochastic gradient descent, the seed's rule: w' = w − η ∂C/∂w."""

    def _update(self, p: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray]) -> None:
        p -= self.lr * g


class Momentum(Optimizer):
    """Momentum-based gradient descent (the seed, ch. 3): v' = μ v − η ∇C, w' = w + v'.

    Args:
        mu: Momentum coefficient μ in [0, 1] ("friction" is 1 − μ; μ > 1 makes the velocity grow without bound).

    Raises:
        ValueError: For μ outside [0, 1], besides the base class's checks.
    """

    def __init__(self, source: Any, lr: float, mu: float = 0.9, **kw: Any) -> None:
        if not is_real(mu) or not 0.0 <= mu <= 1.0:
            raise ValueError(f"Momentum: invalid momentum value mu={mu!r} (need 0 <= mu <= 1)")
        super().__init__(source, lr, **kw)
        self.mu = float(mu)

    slot_keys = ("v",)

    def _update(self, p: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray]) -> None:
        v = slots["v"]
        v *= self.mu
        v -= self.lr * g
        p += v


class RMSprop(Optimizer):
    """RMSprop: s' = α s + (1 − α) g², w' = w − η g / (sqrt(s') + ε) (torch's defaults: α=0.99, ε=1e-8).

    SB3's A2C uses α=0.99, ε=1e-5.

    Raises:
        ValueError: For α outside [0, 1] (torch checks only α >= 0, but α > 1 makes s negative and the step NaN)
            or ε that is not a finite number >= 0, besides the base class's checks.
    """

    def __init__(self, source: Any, lr: float, alpha: float = 0.99, eps: float = 1e-8, **kw: Any) -> None:
        if not is_real(alpha) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSprop: invalid alpha value {alpha!r} (need 0 <= alpha <= 1)")
        check_rate(eps, "RMSprop eps")
        self.eps = float(eps)  # before the base class's checks, whose float16 message names it
        super().__init__(source, lr, **kw)
        self.alpha = float(alpha)

    slot_keys = ("s",)
    float16_ok = False  # ε and g² underflow in float16: sqrt(s') + ε is 0 and the step NaN

    def _update(self, p: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray]) -> None:
        s, tmp, step = slots["s"], self._tmp(p), self._tmp(p, 1)
        s *= self.alpha
        np.multiply(g, 1.0 - self.alpha, out=tmp)
        tmp *= g
        s += tmp  # s' = α s + (1 − α) g²
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.multiply(g, self.lr, out=step)
        step /= tmp
        p -= step  # w' = w − η g / (sqrt(s') + ε)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, as torch.optim.Adam.

    m' = β1 m + (1 − β1) g, v' = β2 v + (1 − β2) g², w' = w − η m̂ / (sqrt(v̂) + ε).

    Raises:
        ValueError: Unless ``betas`` is a pair with 0 <= β < 1 each and ε is a finite number >= 0 (torch's checks),
            besides the base class's checks.
    """

    def __init__(
        self, source: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, **kw: Any
    ) -> None:
        if isinstance(betas, str) or not isinstance(betas, Sequence | np.ndarray) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not is_real(beta) or not 0.0 <= beta < 1.0:
                raise ValueError(f"Adam: invalid beta parameter at index {i}: {beta!r} (need 0 <= beta < 1)")
        check_rate(eps, "Adam eps")
        self.eps = float(eps)  # before the base class's checks, whose float16 message names it
        super().__init__(source, lr, **kw)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])

    slot_keys = ("m", "v")
    float16_ok = False  # ε and g² underflow in float16: sqrt(v̂) + ε is 0 and the step NaN

    def _begin_step(self) -> None:
        # bias corrections depend only on t: compute them once per step, not per parameter
        self._c1 = 1.0 - self.beta1**self.t
        self._c2 = 1.0 - self.beta2**self.t

    def _update(self, p: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray]) -> None:
        m, v, tmp, step = slots["m"], slots["v"], self._tmp(p), self._tmp(p, 1)
        m *= self.beta1
        np.multiply(g, 1.0 - self.beta1, out=tmp)
        m += tmp  # m' = β1 m + (1 − β1) g
        v *= self.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.beta2
        v += tmp  # v' = β2 v + (1 − β2) g²
        np.multiply(v, 1.0 / self._c2, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += self.eps  # sqrt(v̂) + ε
        np.multiply(m, self.lr / self._c1, out=step)
        step /= tmp
        p -= step  # w' = w − η m̂ / (sqrt(v̂) + ε)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam}
