"""Observation and return normalisation by running statistics (what SB3's ``VecNormalize`` does).

o ↦ clip((o − μ) / sqrt(σ² + ε), −c, c), with μ and σ² the mean and variance of every value seen in
training so far, merged batch by batch (Chan, Golub & LeVeque's parallel update). The statistics are
gymnasium's own ``RunningMeanStd`` (the one its ``NormalizeObservation`` wrapper keeps, the same
update as SB3's); this class adds the clipped normalisation and saving them in a model file.
"""

from __future__ import annotations

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd


class RunningNormalizer:
    """Running mean μ and variance σ² of observations (or returns), and the normalisation they define.

    Args:
        shape: Shape of one observation (``()`` for scalar returns).
        clip: c, bound of the normalised values (SB3: 10).
        epsilon: ε under the square root (SB3: 1e-8); the statistics start at μ 0, σ² 1 with
            pseudo-count 1e-4, as SB3's and gymnasium's.
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.rms = RunningMeanStd(epsilon=1e-4, shape=shape, dtype=np.float64)
        self.clip, self.epsilon = float(clip), float(epsilon)

    @property
    def mean(self) -> np.ndarray:
        """μ, of the observation's shape."""
        return self.rms.mean

    @property
    def var(self) -> np.ndarray:
        """σ², of the observation's shape."""
        return self.rms.var

    @property
    def count(self) -> float:
        """Number of values merged (plus the pseudo-count)."""
        return float(self.rms.count)

    def update(self, x: np.ndarray) -> None:
        """Merges a batch x (N, *shape) into μ, σ², count."""
        self.rms.update(np.asarray(x, np.float64))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalised x (any leading axes), float32."""
        z = (x - self.rms.mean) / np.sqrt(self.rms.var + self.epsilon)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state(self) -> np.ndarray:
        """[μ, σ², count] stacked along a new first axis, (3, *shape), for saving."""
        return np.stack([self.rms.mean, self.rms.var, np.full_like(self.rms.mean, self.rms.count)])

    def load_state(self, s: np.ndarray) -> None:
        """Restores what ``state`` returned."""
        self.rms.mean, self.rms.var, self.rms.count = s[0].copy(), s[1].copy(), float(s[2].reshape(-1)[0])
