"""Action distributions with the gradients policy-gradient losses need, written by hand.

A policy network outputs the distribution's parameters (logits, or the Gaussian mean);
the losses need ∂ log π(a|s) and ∂ H[π(·|s)] with respect to those parameters, which
these classes return so the agent can call ``net.backward(...)`` with them.

One per action space: ``Categorical`` (Discrete), ``MultiCategorical`` (MultiDiscrete: independent
categoricals, one per entry), ``Bernoulli`` (MultiBinary: independent 0/1 entries) and ``DiagGaussian``
(Box), as SB3's ``make_proba_distribution`` chooses them; ``StateDependentNoise`` (Box, gSDE) when an
agent explores with state-dependent noise (``use_sde``).
"""

from __future__ import annotations

import numpy as np

from nngym.activations import log_softmax, sigmoid

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
        a = np.add.reduce(u > np.add.accumulate(self.p, axis=1), axis=1)  # Σ_k [u > P(a ≤ k)] (cumsum, sum)
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
    """π(a) = N(a; μ, diag(σ²)) with a state-independent log σ, for means μ (N, D) and log_std (D,).

    A log_std of (N, D) gives each row its own σ (a population's rows, each member's log σ repeated).
    """

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
        return -0.5 * (u * u).sum(axis=1) - self.log_std.sum(axis=-1) - 0.5 * self.mean.shape[1] * LOG_2PI

    def entropy(self) -> np.ndarray:
        """H = Σ_d (½ + ½ log 2π + log σ_d), the same for every row of one σ, shape (N,)."""
        if self.log_std.ndim == 2:
            return (0.5 + 0.5 * LOG_2PI + self.log_std).sum(axis=1).astype(self.mean.dtype)
        h = float((0.5 + 0.5 * LOG_2PI + self.log_std).sum())
        return np.full(len(self.mean), h, dtype=self.mean.dtype)

    def grad_log_prob(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂/∂μ = (a − μ)/σ² (N, D), ∂/∂log σ = ((a − μ)/σ)² − 1 (N, D), per row)."""
        u = (a - self.mean) / self.std
        return u / self.std, u * u - 1.0

    def grad_entropy(self) -> tuple[np.ndarray, np.ndarray]:
        """(∂H/∂μ = 0 (N, D), ∂H/∂log σ = 1 (N, D))."""
        return np.zeros_like(self.mean), np.ones_like(self.mean)


class StateDependentNoise:
    """Generalized state-dependent exploration (gSDE, Raffin et al. 2021, arXiv:2005.05719) for Box actions.

    The action is a = μ(s) + ε(s) with ε(s) = z(s) θ_ε: z(s) (N, J) the actor's last latent features, taken
    as constants (no gradient flows into them through the noise), and θ_ε (J, K) ~ N(0, σ²) entrywise,
    σ = exp(log σ) a learned (J, K) matrix, resampled by the agent every few steps. Given z, each action
    entry is Gaussian: a_k ~ N(μ_k, v_k) with v_k = Σ_j z_j² σ_jk² + ε_v (ε_v = 1e-6 keeps v_k > 0, as SB3).

    Args:
        mean: μ, (N, K).
        log_std: log σ, (J, K).
        latent: z, (N, J).
        noise_weights: θ_ε, (J, K) for every row, or (N, J, K): one per row (one per env in a rollout).
            Only ``sample`` needs it.
    """

    EPSILON = 1e-6

    def __init__(
        self, mean: np.ndarray, log_std: np.ndarray, latent: np.ndarray, noise_weights: np.ndarray | None = None
    ) -> None:
        if latent.shape != (len(mean), log_std.shape[0]) or log_std.shape[1:] != mean.shape[1:]:
            raise ValueError(
                f"gSDE: expected latent (N, J) = ({len(mean)}, {log_std.shape[0]}) and log_std (J, K) with "
                f"K = {mean.shape[1]}, got latent {latent.shape} and log_std {log_std.shape}"
            )
        self.mean, self.log_std, self.latent = mean, log_std, latent
        self.noise_weights = noise_weights
        self.std = np.exp(log_std)  # σ (J, K)
        self._z2 = latent * latent  # z² (N, J)
        self.variance = self._z2 @ (self.std * self.std) + self.EPSILON  # v (N, K)

    def noise(self) -> np.ndarray:
        """ε = z θ_ε, (N, K): one θ_ε for all rows, or row i's own θ_ε when there is one per row."""
        theta = self.noise_weights
        if theta is None:
            raise ValueError("gSDE: sampling needs the noise weights θ_ε; the policy's reset_noise draws them")
        if theta.ndim == 3 and len(theta) == len(self.latent):
            return np.einsum("nj,njk->nk", self.latent, theta)
        return self.latent @ (theta if theta.ndim == 2 else theta[0])

    def sample(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """μ + z θ_ε, (N, K): the randomness is in θ_ε (``rng`` is not used, for the common interface)."""
        return (self.mean + self.noise()).astype(self.mean.dtype)

    def mode(self) -> np.ndarray:
        return self.mean

    def log_prob(self, a: np.ndarray) -> np.ndarray:
        """log π(a_i) = Σ_k (−(a_k − μ_k)² / (2 v_k) − ½ log v_k − ½ log 2π), shape (N,)."""
        d = a - self.mean
        return -0.5 * (d * d / self.variance + np.log(self.variance) + LOG_2PI).sum(axis=1)

    def entropy(self) -> np.ndarray:
        """H = Σ_k (½ + ½ log 2π + ½ log v_k), shape (N,)."""
        return (0.5 + 0.5 * LOG_2PI + 0.5 * np.log(self.variance)).sum(axis=1)

    def grad_log_prob(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂ log π_i/∂μ = (a − μ)/v (N, K), ∂ log π_i/∂v = ((a − μ)²/v − 1)/(2v) (N, K))."""
        d = a - self.mean
        g_mean = d / self.variance
        return g_mean, 0.5 * (g_mean * g_mean - 1.0 / self.variance)

    def grad_entropy(self) -> tuple[np.ndarray, np.ndarray]:
        """(∂H_i/∂μ = 0 (N, K), ∂H_i/∂v = 1/(2v) (N, K))."""
        return np.zeros_like(self.mean), 0.5 / self.variance

    def log_std_grad(self, d_variance: np.ndarray) -> np.ndarray:
        """∂L/∂log σ (J, K) from ∂L/∂v (N, K): v_ik depends on log σ_jk through ∂v_ik/∂log σ_jk = 2 z_ij² σ_jk²,
        so ∂L/∂log σ_jk = 2 σ_jk² Σ_i z_ij² ∂L/∂v_ik."""
        return 2.0 * self.std * self.std * (self._z2.T @ d_variance)


class MultiCategorical:
    """π(a) = Π_d softmax(z_d)_{a_d}: one categorical per entry d of a MultiDiscrete action, independent.

    Args:
        logits: (N, Σ_d K_d), the entries' logits side by side.
        nvec: K_d, the number of choices of each entry, (D,).
    """

    def __init__(self, logits: np.ndarray, nvec: np.ndarray) -> None:
        self.logits = logits
        self.nvec = np.asarray(nvec, dtype=np.int64).reshape(-1)
        bounds = np.cumsum(self.nvec)[:-1]
        self.parts = [Categorical(z) for z in np.split(logits, bounds, axis=1)]

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One index per entry and row, (N, D) int64."""
        return np.stack([c.sample(rng) for c in self.parts], axis=1)

    def mode(self) -> np.ndarray:
        """The most likely index of each entry, (N, D)."""
        return np.stack([c.mode() for c in self.parts], axis=1)

    def log_prob(self, a: np.ndarray) -> np.ndarray:
        """log π(a_i) = Σ_d log softmax(z_id)_{a_id}, shape (N,); ``a`` is (N, D)."""
        return sum(c.log_prob(a[:, d]) for d, c in enumerate(self.parts))

    def entropy(self) -> np.ndarray:
        """H = Σ_d H_d (independent entries), shape (N,)."""
        return sum(c.entropy() for c in self.parts)

    def grad_log_prob(self, a: np.ndarray) -> np.ndarray:
        """∂ log π(a_i) / ∂z_id = onehot(a_id) − p_id for each entry d, side by side, (N, Σ_d K_d)."""
        return np.concatenate([c.grad_log_prob(a[:, d]) for d, c in enumerate(self.parts)], axis=1)

    def grad_entropy(self) -> np.ndarray:
        """∂H_i / ∂z_idk = −p_idk (log p_idk + H_id) for each entry d, side by side, (N, Σ_d K_d)."""
        return np.concatenate([c.grad_entropy() for c in self.parts], axis=1)


class Bernoulli:
    """π(a) = Π_d p_d^{a_d} (1 − p_d)^{1 − a_d}, p = σ(z): independent 0/1 entries of a MultiBinary action.

    Args:
        logits: z, (N, D).
    """

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits
        self.p = sigmoid(logits)
        self._softplus = np.logaddexp(0.0, logits).astype(logits.dtype, copy=False)  # log(1 + e^z) = −log(1 − p)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """(N, D) int64 of 0/1, entry d is 1 with probability p_d."""
        return (rng.random(self.p.shape) < self.p).astype(np.int64)

    def mode(self) -> np.ndarray:
        """1 where p > ½ (z > 0), (N, D) int64."""
        return (self.logits > 0).astype(np.int64)

    def log_prob(self, a: np.ndarray) -> np.ndarray:
        """log π(a_i) = Σ_d (a_id z_id − log(1 + e^{z_id})), shape (N,)."""
        return (a.astype(self.logits.dtype) * self.logits - self._softplus).sum(axis=1)

    def entropy(self) -> np.ndarray:
        """H = Σ_d (log(1 + e^{z_d}) − p_d z_d), shape (N,)."""
        return (self._softplus - self.p * self.logits).sum(axis=1)

    def grad_log_prob(self, a: np.ndarray) -> np.ndarray:
        """∂ log π(a_i) / ∂z_id = a_id − p_id, (N, D)."""
        return a.astype(self.p.dtype) - self.p

    def grad_entropy(self) -> np.ndarray:
        """∂H_i / ∂z_id = −z_id p_id (1 − p_id), (N, D)."""
        return -self.logits * self.p * (1.0 - self.p)


#: Any of the action distributions.
Distribution = Categorical | MultiCategorical | Bernoulli | DiagGaussian | StateDependentNoise
