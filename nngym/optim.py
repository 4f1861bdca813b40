"""Optimisers that update parameters in place from the gradients backprop left in ``grads``.

All take a *parameter source*: any object with ``named_params()`` returning
``[(name, param, grad), ...]`` (a ``Sequential``, an agent's policy), or a list of
such objects. Gradients are the batch means the costs produce, so plain SGD is the
seed's rule w' = w − η/m Σ_x ∂C_x/∂w.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np


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

    Returns:
        The global norm before clipping.
    """
    grads = [g for _, _, g in gather_params(source)]
    norm = global_grad_norm(grads)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g *= scale
    return norm


class Optimizer:
    """Base class: holds the parameter source, learning rate, weight decay and clipping.

    Args:
        source: What to optimise (see module docstring).
        lr: Learning rate η (may be changed between steps, e.g. by a schedule).
        weight_decay: L2 coefficient λ' added as ``λ' w`` to the gradient of weights
            (parameters listed in a layer's ``decay_keys``, not biases). The seed's
            regularised rule w → (1 − ηλ/n) w − η ∂C_0/∂w is ``weight_decay = λ/n``.
        max_grad_norm: If set, gradients are clipped to this global norm before the step.
    """

    def __init__(
        self,
        source: ParamSource | Sequence[ParamSource],
        lr: float,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = None,
    ) -> None:
        if lr < 0 or weight_decay < 0 or (max_grad_norm is not None and max_grad_norm <= 0):
            raise ValueError(
                f"need lr >= 0, weight_decay >= 0, max_grad_norm > 0; got {lr}, {weight_decay}, {max_grad_norm}"
            )
        self.source = source
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.max_grad_norm = max_grad_norm
        self.t = 0  # number of steps taken
        self._params = gather_params(source)
        self._decay = [_is_decayed(name, p) for name, p, _ in self._params]
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def _pairs(self) -> list[tuple[str, np.ndarray, np.ndarray, bool]]:
        params = gather_params(self.source)  # re-read: layers may have been cast or reloaded
        if len(params) != len(self._params) or any(
            p is not q for (_, p, _), (_, q, _) in zip(params, self._params, strict=True)
        ):
            self._params = params
            self._decay = [_is_decayed(name, p) for name, p, _ in params]
        return [(n, p, g, d) for (n, p, g), d in zip(self._params, self._decay, strict=True)]

    def step(self) -> float | None:
        """Applies one update to every parameter. Returns the pre-clip gradient norm if clipping is on."""
        norm = clip_grad_norm(self.source, self.max_grad_norm) if self.max_grad_norm is not None else None
        self.t += 1
        for name, p, g, decay in self._pairs():
            if decay and self.weight_decay:
                g = g + self.weight_decay * p
            self._update(name, p, g)
        return norm

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _slot(self, name: str, key: str, like: np.ndarray) -> np.ndarray:
        slots = self.state.setdefault(name, {})
        if key not in slots:
            slots[key] = np.zeros_like(like)
        return slots[key]

    # --- checkpointing ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Arrays and scalars needed to resume: ``{"t", "lr", "slots": {name: {key: array}}}``."""
        return {"t": self.t, "lr": self.lr, "slots": {n: dict(s) for n, s in self.state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what ``state_dict`` returned; slot shapes must match the parameters."""
        shapes = {n: p.shape for n, p, _ in gather_params(self.source)}
        for name, slots in state["slots"].items():
            for key, arr in slots.items():
                if shapes.get(name) != arr.shape:
                    raise ValueError(
                        f"optimizer state {name}/{key} has shape {arr.shape}, parameter has {shapes.get(name)}"
                    )
        self.t = int(state["t"])
        self.lr = float(state["lr"])
        self.state = {n: {k: np.array(v) for k, v in s.items()} for n, s in state["slots"].items()}


def _is_decayed(name: str, p: np.ndarray) -> bool:
    return p.ndim >= 2  # weights (matrices, kernels), not biases or gains


class SGD(Optimizer):
    """Mini-batch stochastic gradient descent, the seed's rule: w' = w − η ∂C/∂w."""

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        p -= self.lr * g


class Momentum(Optimizer):
    """Momentum-based gradient descent (the seed, ch. 3): v' = μ v − η ∇C, w' = w + v'.

    Args:
        mu: Momentum coefficient μ ("friction" is 1 − μ).
    """

    def __init__(self, source: Any, lr: float, mu: float = 0.9, **kw: Any) -> None:
        super().__init__(source, lr, **kw)
        self.mu = mu

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        v = self._slot(name, "v", p)
        v *= self.mu
        v -= self.lr * g
        p += v


class RMSprop(Optimizer):
    """RMSprop: s' = α s + (1 − α) g², w' = w − η g / (sqrt(s') + ε) (torch's defaults: α=0.99, ε=1e-8).

    SB3's A2C uses α=0.99, ε=1e-5.
    """

    def __init__(self, source: Any, lr: float, alpha: float = 0.99, eps: float = 1e-8, **kw: Any) -> None:
        super().__init__(source, lr, **kw)
        self.alpha, self.eps = alpha, eps

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        s = self._slot(name, "s", p)
        s *= self.alpha
        s += (1.0 - self.alpha) * g * g
        p -= self.lr * g / (np.sqrt(s) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, as torch.optim.Adam.

    m' = β1 m + (1 − β1) g, v' = β2 v + (1 − β2) g², w' = w − η m̂ / (sqrt(v̂) + ε).
    """

    def __init__(
        self, source: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, **kw: Any
    ) -> None:
        super().__init__(source, lr, **kw)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def step(self) -> float | None:
        # bias corrections depend only on t: compute them once per step, not per parameter
        self._c1 = 1.0 - self.beta1 ** (self.t + 1)
        self._c2 = 1.0 - self.beta2 ** (self.t + 1)
        return super().step()

    def _update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        m = self._slot(name, "m", p)
        v = self._slot(name, "v", p)
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        step = self.lr / self._c1
        p -= step * m / (np.sqrt(v / self._c2) + self.eps)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam}
