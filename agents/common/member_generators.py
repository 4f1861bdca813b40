"""K random generators that act as one for batches stacked by member (member 0's rows first, then member 1's...).

A population draws its members' random numbers through this object in one call where a single agent calls its
own ``np.random.Generator``: a draw of K·n values gives member k the n values its own generator would have
given a single agent making that call, in the same order. Code written for one agent (an action
distribution's ``sample(rng)``) thus draws exactly each member's stream.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MemberGenerators:
    """The members' generators behind the ``np.random.Generator`` calls the agents make.

    Args:
        rngs: Member k's generator at position k.
    """

    def __init__(self, rngs: Sequence[np.random.Generator]) -> None:
        self.rngs = list(rngs)

    def __len__(self) -> int:
        return len(self.rngs)

    def _member_size(self, size: int | tuple[int, ...]) -> tuple[int, ...]:
        shape = (size,) if isinstance(size, int | np.integer) else tuple(size)
        k = len(self.rngs)
        if not shape or shape[0] % k:
            raise ValueError(f"MemberGenerators: a draw of shape {shape} does not split into {k} members on axis 0")
        return (shape[0] // k, *shape[1:])

    def random(self, size: int | tuple[int, ...]) -> np.ndarray:
        """Uniform [0, 1) floats, member k's ``random(size / K)`` in rows k·n … (k+1)·n − 1."""
        part = self._member_size(size)
        return np.concatenate([rng.random(part) for rng in self.rngs])

    def standard_normal(self, size: int | tuple[int, ...]) -> np.ndarray:
        """N(0, 1) floats, split by member as ``random``."""
        part = self._member_size(size)
        return np.concatenate([rng.standard_normal(part) for rng in self.rngs])

    def integers(self, low: int, high: int, size: int | tuple[int, ...]) -> np.ndarray:
        """Integers in [low, high), split by member as ``random``."""
        part = self._member_size(size)
        return np.concatenate([rng.integers(low, high, part) for rng in self.rngs])
