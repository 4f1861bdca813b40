"""The recurrent attention model's networks (Mnih et al. 2014), its hybrid loss and the backward pass through it.

Each step t reads a glimpse observation ``[ρ_t; l_t]``, the retina's pixels ρ_t (P,) and the glimpse location
l_t (L,), and computes::

    h_ρ = ReLU(W_ρ ρ_t + b_ρ),   h_l = ReLU(W_l l_t + b_l)        retina and location features
    g_t = ReLU(W_g [h_ρ; h_l] + b_g)                               the glimpse network, ReLU(Linear(h_ρ) + Linear(h_l))
    h_t, c_t = LSTM(g_t, (h_{t−1}, c_{t−1}))                        the core
    μ_t = tanh(W_μ h_t + b_μ)                                      the next location's mean: l_{t+1} ~ N(μ_t, σ² I)
    b_t = W_b h_t + b_b                                            the baseline, the expected reward
    y_t = W_y h_t + b_y                                            class logits; the answer is argmax y_{T−1}

For a batch of N episodes of T glimpses with rewards R_n, labels k_n and sampled next locations a_{t,n}
(the locations of glimpses 2..T, so t < T − 1), the loss is::

    L = 1/N Σ_n [ −log softmax(y_{T−1,n})[k_n]                              cross-entropy on the last answer
                  − λ_R Σ_{t<T−1} Â_{t,n} log N(a_{t,n}; μ_{t,n}, σ² I)      REINFORCE, Â = R − b held constant
                  + λ_b Σ_{t<T−1} (b_{t,n} − R_n)² ]                        the baseline's regression

so the classifier learns from the label, the location policy from the reward with the learned baseline
reducing its variance, as in Mnih et al. With ``detach_heads`` (the default) the location and baseline heads
read h_t as a constant: their losses train only their own weights, and the glimpse network and core learn
from the classification loss alone. Without it all three losses reach every parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nngym.activations import log_softmax
from nngym.builders import mlp
from nngym.lstm import LSTM
from nngym.network import Sequential


@dataclass
class AttentionLoss:
    """The loss terms of one batch (batch means, as in the module docstring) and the training accuracy."""

    cross_entropy: float
    reinforce: float
    """−λ_R/N Σ Â log π (its value depends on log π's constant; its gradient is what matters)."""
    baseline: float
    """λ_b/N Σ (b − R)²."""
    total: float
    accuracy: float
    """Fraction of the N episodes whose last answer argmax y_{T−1} is the label."""


class RecurrentAttentionModel:
    """Glimpse network → LSTM core → location, class and baseline heads (see the module docstring).

    Args:
        n_pixels: P, retina values per glimpse observation (the observation's first P entries).
        n_location: L, location coordinates (the observation's last L entries; also the location action's size).
        n_classes: K, class logits.
        rng: Generator for the initial weights.
        glimpse_hidden: Units of h_ρ and of h_l (Mnih et al.: 128).
        glimpse_features: Units of g_t (Mnih et al.: 256).
        hidden_size: H, LSTM units (Mnih et al.: 256).
        location_std: σ of the location policy, fixed.
        detach_heads: The location and baseline losses train only their heads (module docstring).
    """

    def __init__(
        self,
        n_pixels: int,
        n_location: int,
        n_classes: int,
        rng: np.random.Generator,
        glimpse_hidden: int = 128,
        glimpse_features: int = 256,
        hidden_size: int = 256,
        location_std: float = 0.1,
        detach_heads: bool = True,
    ) -> None:
        if min(n_pixels, n_location, glimpse_hidden, glimpse_features, hidden_size) < 1 or n_classes < 2:
            raise ValueError(
                "RecurrentAttentionModel needs n_pixels, n_location, glimpse_hidden, glimpse_features, hidden_size "
                f">= 1 and n_classes >= 2, got {n_pixels}, {n_location}, {glimpse_hidden}, {glimpse_features}, "
                f"{hidden_size}, {n_classes}"
            )
        if not (np.isfinite(location_std) and location_std > 0):
            raise ValueError(f"location_std must be a positive number, got {location_std!r}")
        self.n_pixels, self.n_location, self.n_classes = int(n_pixels), int(n_location), int(n_classes)
        self.glimpse_hidden, self.hidden_size = int(glimpse_hidden), int(hidden_size)
        self.location_std, self.detach_heads = float(location_std), bool(detach_heads)
        G = int(glimpse_features)
        self.retina = mlp([self.n_pixels, self.glimpse_hidden], rng, "relu", "relu", w_init="he_normal")
        self.where = mlp([self.n_location, self.glimpse_hidden], rng, "relu", "relu", w_init="he_normal")
        self.glimpse = mlp([2 * self.glimpse_hidden, G], rng, "relu", "relu", w_init="he_normal")
        self.core = LSTM(G, self.hidden_size, rng)
        self.location = mlp([self.hidden_size, self.n_location], rng, "relu", "tanh")
        self.classifier = mlp([self.hidden_size, self.n_classes], rng, "relu", None)
        self.baseline = mlp([self.hidden_size, 1], rng, "relu", None)
        self._T = 0

    # --- parameters --------------------------------------------------------------------------
    def nets(self) -> dict[str, Sequential]:
        """The networks by name, the core as a one-layer ``Sequential`` (what ``BaseAgent.save`` stores)."""
        return {
            "retina": self.retina,
            "where": self.where,
            "glimpse": self.glimpse,
            "core": Sequential([self.core]),
            "location": self.location,
            "classifier": self.classifier,
            "baseline": self.baseline,
        }

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Every parameter as ``(name, param, grad)``, so one optimiser covers the model."""
        return [(f"{k}.{n}", p, g) for k, net in self.nets().items() for n, p, g in net.named_params()]

    @property
    def dtype(self) -> np.dtype:
        return self.core.dtype

    def astype(self, dtype: np.dtype | type) -> RecurrentAttentionModel:
        """Casts every network in place (float64 for gradient checks); returns self."""
        for net in self.nets().values():
            net.astype(dtype)
        return self

    def initial_state(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The core's zero state (h, c) for n episodes, each (n, H)."""
        return self.core.initial_state(n)

    # --- forward -----------------------------------------------------------------------------
    def _features(self, obs: np.ndarray, train: bool) -> np.ndarray:
        """g_t for observations (M, P + L): (M, G)."""
        obs = np.asarray(obs, dtype=self.dtype)
        h_rho = self.retina.forward(obs[:, : self.n_pixels], train)
        h_l = self.where.forward(obs[:, self.n_pixels :], train)
        return self.glimpse.forward(np.concatenate([h_rho, h_l], axis=1), train)

    def step(
        self, obs: np.ndarray, state: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """One glimpse of N episodes while acting (nothing cached).

        Args:
            obs: (N, P + L) glimpse observations.
            state: The core's (h, c), each (N, H).

        Returns:
            (μ (N, L), logits (N, K), baseline (N,), new (h, c)).
        """
        h, new_state = self.core.step(self._features(obs, False), state)
        mu = self.location.forward(h, False)
        return mu, self.classifier.forward(h, False), self.baseline.forward(h, False)[:, 0], new_state

    def forward(self, obs: np.ndarray, train: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Whole episodes from the zero state.

        Args:
            obs: (T, N, P + L), the T glimpse observations of N episodes, time first.
            train: Keep what ``backward`` needs.

        Returns:
            (μ (T, N, L), baseline (T, N), logits (T, N, K)).
        """
        T, N, D = obs.shape
        if D != self.n_pixels + self.n_location:
            raise ValueError(
                f"RecurrentAttentionModel expected observations (T, N, {self.n_pixels + self.n_location}), got "
                f"{obs.shape}"
            )
        g = self._features(obs.reshape(T * N, D), train)
        hs = self.core.forward(g.reshape(T, N, -1), train).reshape(T * N, -1)
        mu = self.location.forward(hs, train).reshape(T, N, -1)
        b = self.baseline.forward(hs, train).reshape(T, N)
        logits = self.classifier.forward(hs, train).reshape(T, N, -1)
        self._T = T
        return mu, b, logits

    def backward(self, d_mu: np.ndarray, d_b: np.ndarray, d_logits: np.ndarray) -> None:
        """Backprops ∂L/∂μ (T, N, L), ∂L/∂b (T, N) and ∂L/∂y (T, N, K) through heads, core (BPTT) and the glimpse
        network, filling every grad (the heads' inputs are constants for their losses with ``detach_heads``)."""
        T = self._T
        N = d_b.shape[1]
        d_h = self.classifier.backward(d_logits.reshape(T * N, -1))
        d_h_mu = self.location.backward(d_mu.reshape(T * N, -1))
        d_h_b = self.baseline.backward(d_b.reshape(T * N, 1))
        if not self.detach_heads:
            d_h = d_h + d_h_mu + d_h_b
        d_g = self.core.backward(d_h.reshape(T, N, -1))
        d_cat = self.glimpse.backward(d_g.reshape(T * N, -1))
        self.retina.backward(d_cat[:, : self.glimpse_hidden])
        self.where.backward(d_cat[:, self.glimpse_hidden :])

    # --- the loss ----------------------------------------------------------------------------
    def loss(
        self,
        mu: np.ndarray,
        b: np.ndarray,
        logits: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        labels: np.ndarray,
        advantages: np.ndarray,
        reinforce_coef: float = 1.0,
        baseline_coef: float = 1.0,
    ) -> tuple[AttentionLoss, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The loss of the module docstring and its gradients with respect to the outputs of ``forward``.

        Args:
            mu, b, logits: ``forward``'s outputs, (T, N, L), (T, N), (T, N, K).
            actions: (T, N, L) the sampled next locations a_t (row T − 1, the answer step's, is not used).
            rewards: (N,) the episodes' rewards R.
            labels: (N,) int class labels k.
            advantages: (T, N) Â = R − b, held constant (rows t < T − 1 used).
            reinforce_coef: λ_R.
            baseline_coef: λ_b.

        Returns:
            (the loss terms, (∂L/∂μ, ∂L/∂b, ∂L/∂y) shaped like mu, b, logits).
        """
        T, N, L = mu.shape
        dtype = mu.dtype
        var = self.location_std**2
        rewards = np.asarray(rewards, dtype)
        # cross-entropy on the last answer: ∂/∂y = (softmax(y) − onehot(k)) / N
        log_p = log_softmax(logits[T - 1])
        rows = np.arange(N)
        ce = -float(log_p[rows, labels].mean())
        d_logits = np.zeros_like(logits)
        d_logits[T - 1] = np.exp(log_p)
        d_logits[T - 1, rows, labels] -= 1.0
        d_logits[T - 1] /= N
        # REINFORCE: log N(a; μ, σ²I) = −|a − μ|² / (2σ²) − L log σ − L/2 log 2π;  ∂ log π/∂μ = (a − μ) / σ²
        diff = np.asarray(actions, dtype)[: T - 1] - mu[: T - 1]
        adv = np.asarray(advantages, dtype)[: T - 1]
        log_pi = -(diff * diff).sum(axis=2) / (2 * var) - L * np.log(self.location_std) - 0.5 * L * np.log(2 * np.pi)
        reinforce = -reinforce_coef * float((adv * log_pi).sum()) / N
        d_mu = np.zeros_like(mu)
        d_mu[: T - 1] = -reinforce_coef / N * adv[:, :, None] * diff / var
        # baseline regression onto the reward
        err = b[: T - 1] - rewards
        baseline = baseline_coef * float((err * err).sum()) / N
        d_b = np.zeros_like(b)
        d_b[: T - 1] = 2.0 * baseline_coef / N * err
        accuracy = float(np.mean(np.argmax(logits[T - 1], axis=1) == labels))
        terms = AttentionLoss(ce, reinforce, baseline, ce + reinforce + baseline, accuracy)
        return terms, (d_mu, d_b, d_logits)

    def loss_and_grads(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        labels: np.ndarray,
        reinforce_coef: float = 1.0,
        baseline_coef: float = 1.0,
    ) -> tuple[AttentionLoss, np.ndarray]:
        """Forward, loss and backward over a batch of episodes; fills every grad.

        Args:
            obs: (T, N, P + L) the glimpse observations.
            actions: (T, N, L) the sampled next locations.
            rewards: (N,) rewards.
            labels: (N,) labels.
            reinforce_coef: λ_R.
            baseline_coef: λ_b.

        Returns:
            (the loss terms, the advantages Â = R − b (T, N) used as constants).
        """
        mu, b, logits = self.forward(obs, train=True)
        advantages = np.asarray(rewards, b.dtype)[None, :] - b
        terms, grads = self.loss(mu, b, logits, actions, rewards, labels, advantages, reinforce_coef, baseline_coef)
        self.backward(*grads)
        return terms, advantages
