"""The target network's soft update (Polyak averaging), as DQN uses it."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class HasParams(Protocol):
    """A network that lists its parameters: ``named_params() -> [(name, array, gradient), ...]``."""

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]: ...


def polyak_update(online: HasParams, target: HasParams, tau: float) -> None:
    """θ' ← τθ + (1 − τ)θ' for every parameter of ``target``, in place (a copy for τ = 1).

    Args:
        online: The network θ (any parameter shapes, e.g. a population's stacked (K, ...) arrays).
        target: The network θ' of the same architecture; its arrays are updated in place.
        tau: The step τ in (0, 1].
    """
    for (_, p, _), (_, pt, _) in zip(online.named_params(), target.named_params(), strict=True):
        if tau == 1.0:
            np.copyto(pt, p)
        else:
            pt *= 1.0 - tau
            pt += tau * p
