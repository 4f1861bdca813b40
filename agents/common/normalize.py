"""Observation normalisation by running statistics (what SB3's ``VecNormalize(norm_obs=True)`` does).

o ↦ clip((o − μ) / sqrt(σ² + ε), −c, c), with μ and σ² the mean and variance of every observation
seen in training so far, merged batch by batch (Chan, Golub & LeVeque 1979's parallel update).
"""

from __future__ import annotations

import numpy as np


class RunningNormalizer:
    """Running mean μ and variance σ² of observations, and the normalisation they define.

    Args:
        shape: Shape of one observation.
        clip: c, bound of the normalised values (SB3: 10).
        epsilon: ε under the square root, and the initial pseudo-count (SB3's 1e-8 and 1e-4).
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4
        self.clip, self.epsilon = float(clip), float(epsilon)

    def update(self, x: np.ndarray) -> None:
        """Merges a batch x (N, *shape) into μ, σ², count."""
        n = len(x)
        batch_mean, batch_var = x.mean(axis=0), x.var(axis=0)
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var, self.count = m2 / total, total

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalised x (any leading axes), float32."""
        z = (x - self.mean) / np.sqrt(self.var + self.epsilon)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state(self) -> np.ndarray:
        """[μ, σ², count] stacked along a new first axis, (3, *shape), for saving."""
        return np.stack([self.mean, self.var, np.full_like(self.mean, self.count)])

    def load_state(self, s: np.ndarray) -> None:
        self.mean, self.var, self.count = s[0].copy(), s[1].copy(), float(s[2].reshape(-1)[0])
