"""Recurrent PPO's rollout buffer: the feedforward buffer plus episode starts and the LSTM states,
cut into fixed-length sequences for training.

Each env's column of T steps is cut into T / L sequences of L steps. A sequence keeps the LSTM
state (h, c) of actor and critic *as it was during the rollout* at its first step, and the
episode-start flags of its steps, so a training forward pass over the sequence sees exactly the
inputs and states the rollout saw (the flags reset the state where an episode began inside it).
Unlike sb3-contrib, sequences are not split at episode ends and padded: the masks do that job,
so every minibatch is a dense (L, B) block and no padding is wasted.

sb3-contrib's minibatches are instead ``batch_size`` consecutive transitions of the rollout (each env's column
after the other, from a random offset), cut into sequences at episode starts and at the slice's ends:
``sb3_contrib_minibatch_sizes``. ``default_seq_len`` chooses the L that gives the same number of transitions per
minibatch and of minibatches per epoch (``minibatch_sizes``) whenever it can.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from agents.common.buffers import RolloutBuffer


def default_seq_len(n_steps: int, batch_size: int) -> int:
    """The length L of the training sequences when ``seq_len`` is None: ``n_steps`` when ``batch_size >= n_steps``,
    else the largest divisor of ``n_steps`` that is ``<= batch_size``.

    sb3-contrib's minibatches are ``batch_size`` transitions, so its backpropagation through time never spans more
    than ``batch_size`` steps, and an epoch is ceil(T·N / batch_size) gradient steps. nngym's minibatches are whole
    sequences of L steps (L dividing T = ``n_steps``), ``batch_size // L`` of them; this L is the longest such window
    that fits in a minibatch. When L also divides ``batch_size`` (every pair of powers of two, every entry of the
    zoo's ``ppo_lstm.yml``) or ``batch_size >= T·N`` (one minibatch of the whole rollout), the minibatches hold
    sb3-contrib's numbers of transitions, as many per epoch (``minibatch_sizes`` equals
    ``sb3_contrib_minibatch_sizes``). Otherwise ``gcd(n_steps, batch_size)`` would give its counts exactly, with
    shorter windows: the agent warns, naming it.

    Args:
        n_steps: T, steps per env per rollout (>= 1).
        batch_size: Transitions per minibatch (>= 1).
    """
    if batch_size >= n_steps:
        return n_steps
    return next(d for d in range(batch_size, 0, -1) if n_steps % d == 0)


def minibatch_sizes(n_steps: int, n_envs: int, seq_len: int, batch_size: int) -> list[int]:
    """The transitions in each minibatch of one epoch of nngym's recurrent PPO: the N·T/L sequences of L =
    ``seq_len`` steps, ``batch_size // L`` at a time (at least one), the last minibatch holding the rest."""
    n_seq = n_envs * (n_steps // seq_len)
    per_batch = max(1, batch_size // seq_len)
    return [min(per_batch, n_seq - start) * seq_len for start in range(0, n_seq, per_batch)]


def sb3_contrib_minibatch_sizes(n_steps: int, n_envs: int, batch_size: int) -> list[int]:
    """The transitions in each minibatch of one epoch of sb3-contrib's ``RecurrentPPO`` (its
    ``RecurrentRolloutBuffer.get(batch_size)``): ``batch_size`` at a time out of the T·N, the last holding the rest."""
    total = n_steps * n_envs
    return [min(batch_size, total - start) for start in range(0, total, batch_size)]


class SequenceBatch(NamedTuple):
    """B sequences of L steps, time-major; per-step arrays are flattened to L·B rows where the loss needs it."""

    obs: np.ndarray
    """(L, B, *obs_shape)"""
    episode_starts: np.ndarray
    """(L, B) floats, 1 where the state is reset before the step"""
    state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    """(h_π, c_π, h_V, c_V) before the first step, each (B, H)"""
    actions: np.ndarray
    """(L·B,) or (L·B, D)"""
    old_log_prob: np.ndarray
    """(L·B,)"""
    advantages: np.ndarray
    """(L·B,)"""
    returns: np.ndarray
    """(L·B,)"""
    old_values: np.ndarray
    """(L·B,)"""


class RecurrentRolloutBuffer(RolloutBuffer):
    """T steps of N envs with episode starts (T, N) and the four LSTM state arrays (T, N, H) per step.

    ``states[k][t]`` is the state *entering* step t (before step t's episode-start reset).

    Args:
        n_steps: T.
        n_envs: N.
        obs_shape: Shape of one observation.
        action_shape: ``()`` for Discrete.
        action_dtype: int64 or float32.
        hidden_size: H.
        obs_dtype: Storage dtype of observations (uint8 images stay uint8).
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...],
        action_dtype: type,
        hidden_size: int,
        obs_dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(n_steps, n_envs, obs_shape, action_shape, action_dtype, obs_dtype)
        self.episode_starts = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.states = tuple(np.zeros((n_steps, n_envs, hidden_size), dtype=np.float32) for _ in range(4))

    def sequences(self, seq_len: int) -> dict[str, np.ndarray]:
        """Every array cut into K·N sequences of L = ``seq_len`` steps, sequence j = (chunk k, env n), j = k·N + n.

        Returns:
            Per-step arrays as (L, K·N, ...), states as (K·N, H).

        Raises:
            ValueError: If ``seq_len`` does not divide T.
        """
        T, N, L = self.n_steps, self.n_envs, seq_len
        if L < 1 or T % L:
            raise ValueError(f"seq_len must divide n_steps = {T}, got {L}")
        K = T // L

        def cut(a: np.ndarray) -> np.ndarray:  # (T, N, ...) -> (L, K·N, ...)
            a = a.reshape(K, L, N, *a.shape[2:])
            return np.swapaxes(a, 0, 1).reshape(L, K * N, *a.shape[3:])

        out = {
            k: cut(getattr(self, k))
            for k in ("obs", "episode_starts", "actions", "log_probs", "advantages", "returns", "values")
        }
        for i, s in enumerate(self.states):
            out[f"state{i}"] = s.reshape(K, L, N, -1)[:, 0].reshape(K * N, -1)  # state entering each sequence
        return out

    @staticmethod
    def batch(seqs: dict[str, np.ndarray], idx: np.ndarray) -> SequenceBatch:
        """The sequences ``idx`` of ``sequences(...)`` as one minibatch."""
        L, B = len(seqs["obs"]), len(idx)

        def rows(a: np.ndarray) -> np.ndarray:  # (L, B, ...) -> (L·B, ...)
            return a[:, idx].reshape(L * B, *a.shape[2:])

        return SequenceBatch(
            obs=seqs["obs"][:, idx],
            episode_starts=seqs["episode_starts"][:, idx],
            state=tuple(seqs[f"state{i}"][idx] for i in range(4)),  # type: ignore[arg-type]
            actions=rows(seqs["actions"]),
            old_log_prob=rows(seqs["log_probs"]),
            advantages=rows(seqs["advantages"]),
            returns=rows(seqs["returns"]),
            old_values=rows(seqs["values"]),
        )
