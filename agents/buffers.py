"""Preallocated storage for experience: the on-policy rollout buffer with GAE, and DQN's replay buffer.

Arrays are time-major, (T, N, ...) for T steps of N environments, written in place
so collecting a rollout allocates nothing per step.
"""

from __future__ import annotations

import numpy as np


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation (Schulman et al. 2016, arXiv:1506.02438).

    δ_t = r_t + γ V(s_{t+1}) (1 − done_t) − V(s_t),  A_t = δ_t + γλ (1 − done_t) A_{t+1}.
    With λ = 1 the returns A_t + V(s_t) are the n-step returns A2C uses.

    Truncation is not a done of the value: the caller has already added γ V(final_obs)
    to the reward of a truncated step and sets ``done`` there, which gives
    r + γ V(s_final) without leaking into the reset episode.

    Args:
        rewards: r_t, shape (T, N).
        values: V(s_t), shape (T, N).
        dones: 1 where the episode ended after step t (terminated or truncated), shape (T, N).
        last_values: V(s_T) of the observation after the rollout, shape (N,).
        gamma: Discount γ.
        gae_lambda: λ.

    Returns:
        (advantages, returns), each (T, N), returns = advantages + values.
    """
    T = len(rewards)
    if values.shape != rewards.shape or dones.shape != rewards.shape or last_values.shape != rewards.shape[1:]:
        raise ValueError(
            f"gae expects rewards, values, dones of one shape (T, N) and last_values (N,); got "
            f"{rewards.shape}, {values.shape}, {dones.shape}, {last_values.shape}"
        )
    advantages = np.zeros_like(rewards)
    not_done = 1.0 - dones
    next_values = np.concatenate([values[1:], last_values[None]], axis=0)
    deltas = rewards + gamma * next_values * not_done - values
    a = np.zeros_like(last_values)
    for t in range(T - 1, -1, -1):  # the recursion runs backwards in time; vectorised over envs
        a = deltas[t] + gamma * gae_lambda * not_done[t] * a
        advantages[t] = a
    return advantages, advantages + values


class RolloutBuffer:
    """T steps of N envs for PPO / A2C: observations, actions, rewards, dones, values, log-probabilities.

    Args:
        n_steps: T.
        n_envs: N.
        obs_shape: Shape of one observation.
        action_shape: Shape of one action (``()`` for Discrete).
        action_dtype: int64 for Discrete, float32 for Box.
    """

    def __init__(
        self, n_steps: int, n_envs: int, obs_shape: tuple[int, ...], action_shape: tuple[int, ...], action_dtype: type
    ) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs
        self.obs = np.zeros((n_steps, n_envs, *obs_shape), dtype=np.float32)
        self.actions = np.zeros((n_steps, n_envs, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.dones = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.values = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.log_probs = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.advantages = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.returns = np.zeros((n_steps, n_envs), dtype=np.float32)

    def compute_returns_and_advantages(self, last_values: np.ndarray, gamma: float, gae_lambda: float) -> None:
        self.advantages[...], self.returns[...] = gae(
            self.rewards, self.values, self.dones, last_values.astype(np.float32), gamma, gae_lambda
        )

    def flat(self, name: str) -> np.ndarray:
        """The array ``name`` with time and env axes merged, (T·N, ...)."""
        a = getattr(self, name)
        return a.reshape(self.n_steps * self.n_envs, *a.shape[2:])


class ReplayBuffer:
    """A ring buffer of transitions (s, a, r, s', terminated) for DQN.

    ``next_obs`` holds the true next observation: the final observation when the
    episode ended, so a truncated transition bootstraps from it; ``terminated``
    (not truncated) is what stops the bootstrap.

    Args:
        capacity: Maximum number of transitions kept (oldest overwritten).
        obs_shape: Shape of one observation.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...]) -> None:
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, *obs_shape), dtype=np.float32)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.pos = 0
        self.full = False

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(
        self, obs: np.ndarray, next_obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray
    ) -> None:
        """Adds one transition per env: obs, next_obs (N, ...), actions, rewards, terminated (N,)."""
        n = len(obs)
        idx = (
            (self.pos + np.arange(n)) % self.capacity if self.pos + n > self.capacity else slice(self.pos, self.pos + n)
        )
        self.obs[idx] = obs
        self.next_obs[idx] = next_obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminated[idx] = terminated
        if self.pos + n >= self.capacity:
            self.full = True
        self.pos = (self.pos + n) % self.capacity

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """(obs, actions, rewards, next_obs, terminated) for ``batch_size`` uniform indices."""
        idx = rng.integers(0, len(self), size=batch_size)
        return self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx]

    def state_dict(self) -> dict[str, np.ndarray]:
        n = len(self)
        return {
            "obs": self.obs[:n],
            "next_obs": self.next_obs[:n],
            "actions": self.actions[:n],
            "rewards": self.rewards[:n],
            "terminated": self.terminated[:n],
            "pos_full": np.array([self.pos, int(self.full)]),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        n = len(state["actions"])
        if n > self.capacity:
            raise ValueError(f"saved replay buffer holds {n} transitions, capacity is {self.capacity}")
        for k in ("obs", "next_obs", "actions", "rewards", "terminated"):
            getattr(self, k)[:n] = state[k]
        self.pos, self.full = int(state["pos_full"][0]), bool(state["pos_full"][1])
