"""Action distributions with the gradients policy-gradient losses need, written by hand.

A policy network outputs the distribution's parameters (logits, or the Gaussian mean);
the losses need ∂ log π(a|s) and ∂ H[π(·|s)] with respect to those parameters, which
these classes return so the agent can call ``net.backward(...)`` with them.
"""

from __future__ import annotations

import numpy as np

from nngym.activations import log_softmax

LOG_2PI = float(np.log(2.0 * np.pi))


class Categorical:
    """π(a) = softmax(z)_a over K actions, for a batch of logits z (N, K)."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits
        self.log_p = log_softmax(logits)  # (N, K)
        self.p = np.exp(self.log_p)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One action per row, (N,) int64, by inverting the cumulative distribution."""
        u = rng.random((len(self.p), 1))
        a = (u > np.cumsum(self.p, axis=1)).sum(axis=1)
        return np.minimum(a, self.p.shape[1] - 1)  # guards against cumsum rounding below 1

    def mode(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    def log_prob(self, a: np.ndarray) -> np.ndarray:
        """log π(a_i), shape (N,)."""
        return self.log_p[np.arange(len(self.log_p)), a]

    def entropy(self) -> np.ndarray:
        """H = −Σ_k p_k log p_k, shape (N,)."""
        return -(self.p * self.log_p).sum(axis=1)

    def grad_log_prob(self, a: np.ndarray) -> np.ndarray:
        """∂ log π(a_i) / ∂z_i = onehot(a_i) − p_i, shape (N, K)."""
        g = -self.p
        g[np.arange(len(a)), a.astype(np.intp)] += 1.0
        return g

    def grad_entropy(self) -> np.ndarray:
        """∂H_i / ∂z_ij = −p_ij (log p_ij + H_i), shape (N, K)."""
        return -self.p * (self.log_p + self.entropy()[:, None])


class DiagGaussian:
    """π(a) = N(a; μ, diag(σ²)) with a state-independent log σ, for means μ (N, D) and log_std (D,)."""

    def __init__(self, mean: np.ndarray, log_std: np.ndarray) -> None:
        self.mean = mean
        self.log_std = log_std
        self.std = np.exp(log_std)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return (self.mean + self.std * rng.standard_normal(self.mean.shape)).astype(self.mean.dtype)

    def mode(self) -> np.ndarray:
        return self.mean

    def log_prob(self, a: np.ndarray) -> np.ndarray:
        """log π(a_i) = −½ Σ_d ((a − μ)/σ)² − Σ_d log σ − D/2 log 2π, shape (N,)."""
        u = (a - self.mean) / self.std
        return -0.5 * (u * u).sum(axis=1) - self.log_std.sum() - 0.5 * self.mean.shape[1] * LOG_2PI

    def entropy(self) -> np.ndarray:
        """H = Σ_d (½ + ½ log 2π + log σ_d), the same for every row, shape (N,)."""
        h = float((0.5 + 0.5 * LOG_2PI + self.log_std).sum())
        return np.full(len(self.mean), h, dtype=self.mean.dtype)

    def grad_log_prob(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂/∂μ = (a − μ)/σ² (N, D), ∂/∂log σ = ((a − μ)/σ)² − 1 (N, D), per row)."""
        u = (a - self.mean) / self.std
        return u / self.std, u * u - 1.0

    def grad_entropy(self) -> tuple[np.ndarray, np.ndarray]:
        """(∂H/∂μ = 0 (N, D), ∂H/∂log σ = 1 (N, D))."""
        return np.zeros_like(self.mean), np.ones_like(self.mean)
