"""Preallocated storage for experience: the on-policy rollout buffer with GAE, and DQN's replay buffer.

Arrays are time-major, (T, N, ...) for T steps of N environments, written in place
so collecting a rollout allocates nothing per step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from agents.common.spaces import action_storage, encoded_space


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
    not_done = 1.0 - dones
    next_values = np.concatenate([values[1:], last_values[None]], axis=0)
    deltas = rewards + gamma * next_values * not_done - values
    discounts = gamma * gae_lambda * not_done  # γλ (1 − done_t), for every t at once
    advantages = np.empty_like(deltas)
    advantages[T - 1] = deltas[T - 1]  # A_T = 0 beyond the rollout (V(s_T) is in δ_{T−1})
    for t in range(T - 2, -1, -1):  # the recursion runs backwards in time; vectorised over envs, in place
        a = advantages[t]
        np.multiply(discounts[t], advantages[t + 1], out=a)
        a += deltas[t]
    return advantages, advantages + values


class RolloutBuffer:
    """T steps of N envs for PPO / A2C: observations, actions, rewards, dones, values, log-probabilities.

    Args:
        n_steps: T.
        n_envs: N.
        obs_shape: Shape of one observation.
        action_shape: Shape of one action (``()`` for Discrete).
        action_dtype: int64 for Discrete, float32 for Box.
        obs_dtype: Storage dtype of observations: the observation space's (uint8 pixels stay uint8 until
            the network's first layer scales them).
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...],
        action_dtype: type,
        obs_dtype: np.dtype | type = np.float32,
    ) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs
        self.obs = np.zeros((n_steps, n_envs, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((n_steps, n_envs, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.dones = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.values = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.log_probs = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.advantages = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.returns = np.zeros((n_steps, n_envs), dtype=np.float32)

    @classmethod
    def for_spaces(
        cls,
        n_steps: int,
        n_envs: int,
        observation_space: gym.Space,
        action_space: gym.Space,
        normalized: bool = False,
        **kwargs: object,
    ) -> RolloutBuffer:
        """A buffer for an agent's raw spaces: observations as ``agents.common.spaces`` encodes them (float32 when
        ``normalized``, since normalised observations are no longer pixels), actions as ``action_storage`` stores them.

        Args:
            n_steps, n_envs: T and N.
            observation_space, action_space: The env's (raw) spaces.
            normalized: Observations come normalised (``normalize_obs``).
            **kwargs: The subclass's own arguments (``hidden_size``).
        """
        obs_space = encoded_space(observation_space)
        action_shape, action_dtype = action_storage(action_space)
        obs_dtype = np.float32 if normalized else obs_space.dtype
        return cls(n_steps, n_envs, obs_space.shape, action_shape, action_dtype, obs_dtype=obs_dtype, **kwargs)

    def compute_returns_and_advantages(self, last_values: np.ndarray, gamma: float, gae_lambda: float) -> None:
        self.advantages[...], self.returns[...] = gae(
            self.rewards, self.values, self.dones, last_values.astype(np.float32), gamma, gae_lambda
        )

    def flat(self, name: str) -> np.ndarray:
        """The array ``name`` with time and env axes merged, (T·N, ...)."""
        a = getattr(self, name)
        return a.reshape(self.n_steps * self.n_envs, *a.shape[2:])


class ReplayBufferSamples(NamedTuple):
    """A minibatch of 1-step transitions (``ReplayBuffer.sample``), with SB3's field names in nngym's order.

    SB3's ``ReplayBufferSamples`` orders them observations, actions, next_observations, dones, rewards; here they come
    in the order nngym's tuple always had, so ``obs, actions, rewards, next_obs, terminated = buffer.sample(...)``
    unpacks in that order, and by name ``batch.rewards`` is the rewards in either library. Unlike SB3's (torch tensors,
    rewards and dones (B, 1)), these are numpy arrays of the shapes below.
    """

    observations: np.ndarray
    """s, shape (B, ...), the stored dtype."""
    actions: np.ndarray
    """a, shape (B,), int64."""
    rewards: np.ndarray
    """r, shape (B,), float32."""
    next_observations: np.ndarray
    """The true s' (the final observation of an episode that ended), shape (B, ...)."""
    dones: np.ndarray
    """1 where s' is terminal (terminated, not truncated: SB3's dones with timeouts handled), shape (B,), float32."""


class NStepReplayBufferSamples(NamedTuple):
    """A minibatch of n-step transitions (``ReplayBuffer.sample_n_step``): ``ReplayBufferSamples``'s fields, in its
    order, and the discounts, SB3's ``discounts`` of its n-step buffer.
    """

    observations: np.ndarray
    """s_t, shape (B, ...)."""
    actions: np.ndarray
    """a_t, shape (B,), int64."""
    rewards: np.ndarray
    """The n-step returns R = Σ_{k<m} γ^k r_{t+k}, shape (B,), float32."""
    next_observations: np.ndarray
    """s' of the last step taken, shape (B, ...)."""
    dones: np.ndarray
    """1 where the last step's s' is terminal, shape (B,), float32."""
    discounts: np.ndarray
    """γ^m, shape (B,), float32."""


class ReplayBuffer:
    """A ring buffer of transitions (s, a, r, s', terminated, done) for DQN, with optional n-step returns.

    ``next_obs`` holds the true next observation: the final observation when the
    episode ended, so a truncated transition bootstraps from it; ``terminated``
    (not truncated) is what stops the bootstrap; ``dones`` (terminated or truncated)
    marks the end of an episode, which an n-step return never crosses.

    Each ``add`` writes one transition per env at consecutive slots (mod capacity), env
    order, so the next transition of the env stored at slot i is at slot (i + n_envs) % capacity.

    Args:
        capacity: Maximum number of transitions kept (oldest overwritten).
        obs_shape: Shape of one observation.
        n_envs: Number of envs N whose transitions each ``add`` writes (n-step returns follow one env's
            transitions N slots apart).
        obs_dtype: Storage dtype of observations and next observations: the observation space's (uint8
            pixels take a quarter of float32's bytes).
        seed: What seeds the buffer's own generator, ``rng`` (anything ``np.random.default_rng`` takes: an int, a
            ``SeedSequence``, a ``Generator`` to share, or None for fresh entropy), which ``sample`` and
            ``sample_n_step`` draw from when they are given no generator (SB3's ``sample(batch_size)``). The
            default, 0, makes those draws the same in every run.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        n_envs: int = 1,
        obs_dtype: np.dtype | type = np.float32,
        seed: int | np.random.SeedSequence | np.random.Generator | None = 0,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.capacity = int(capacity)
        self.n_envs = int(n_envs)
        self.obs = np.zeros((self.capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((self.capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.dones = np.zeros(self.capacity, dtype=np.float32)
        self.pos = 0
        self.full = False

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def size(self) -> int:
        """Transitions stored (SB3's ``size()``; ``len(buffer)``)."""
        return len(self)

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        dones: np.ndarray | None = None,
    ) -> None:
        """Adds one transition per env.

        Args:
            obs: s, shape (N, ...).
            next_obs: The true s' (the final observation of an episode that ended), shape (N, ...).
            actions: a, shape (N,).
            rewards: r, shape (N,).
            terminated: 1 where s' is terminal (no bootstrap), shape (N,).
            dones: 1 where the episode ended, terminated or truncated, shape (N,); None: ``terminated``.
        """
        n = len(obs)
        if n != self.n_envs:
            raise ValueError(f"ReplayBuffer was built for {self.n_envs} envs, add got {n} transitions")
        idx = (
            (self.pos + np.arange(n)) % self.capacity if self.pos + n > self.capacity else slice(self.pos, self.pos + n)
        )
        self.obs[idx] = obs
        self.next_obs[idx] = next_obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.terminated[idx] = terminated
        self.dones[idx] = terminated if dones is None else dones
        if self.pos + n >= self.capacity:
            self.full = True
        self.pos = (self.pos + n) % self.capacity

    def _indices(self, batch_size: int, rng: np.random.Generator | None, method: str) -> np.ndarray:
        """``batch_size`` uniform slots in [0, len(self)), drawn by ``rng`` (the buffer's own ``self.rng`` if None).

        Raises:
            ValueError: For an empty buffer, naming ``method``.
            TypeError: For an ``rng`` that is not a numpy Generator (SB3's second argument is ``env``, a
                VecNormalize: give it as ``env=``).
        """
        if rng is None:
            rng = self.rng
        elif not hasattr(rng, "integers"):
            raise TypeError(
                f"ReplayBuffer.{method}: rng: expected a numpy Generator or None (the buffer's own), got "
                f"{type(rng).__name__}; SB3's second argument, a VecNormalize, is given as env="
            )
        if not len(self):
            raise ValueError(f"ReplayBuffer.{method}: the buffer is empty; add transitions before sampling")
        return rng.integers(0, len(self), size=batch_size)

    def sample(self, batch_size: int, rng: np.random.Generator | None = None, env: Any = None) -> ReplayBufferSamples:
        """``batch_size`` transitions at uniform indices, drawn with replacement (SB3's ``sample(batch_size, env)``).

        Args:
            batch_size: B.
            rng: The generator of the indices; None draws from the buffer's own (``self.rng``, seeded at
                construction), so SB3's ``model.replay_buffer.sample(batch_size)`` works and is reproducible.
                The agent passes its own generator.
            env: SB3's: a VecNormalize-like object whose ``normalize_obs`` and ``normalize_reward`` are applied to
                the sampled observations, next observations and rewards (the buffer holds them raw); None: raw.

        Returns:
            ``ReplayBufferSamples(observations (B, ...), actions (B,), rewards (B,), next_observations (B, ...),
            dones (B,))``: nngym's tuple (obs, actions, rewards, next_obs, terminated) with SB3's field names;
            ``dones`` is 1 where s' is terminal.

        Raises:
            ValueError: For an empty buffer.
            TypeError: For an ``rng`` that is not a numpy Generator.
        """
        if env is not None and not all(callable(getattr(env, m, None)) for m in ("normalize_obs", "normalize_reward")):
            raise TypeError(
                "ReplayBuffer.sample: env: expected None or an object with normalize_obs and normalize_reward (SB3's "
                f"VecNormalize), got {type(env).__name__}"
            )
        idx = self._indices(batch_size, rng, "sample")
        obs, rewards, next_obs = self.obs[idx], self.rewards[idx], self.next_obs[idx]
        if env is not None:  # as SB3's _normalize_obs / _normalize_reward
            obs, next_obs = env.normalize_obs(obs), env.normalize_obs(next_obs)
            rewards = np.asarray(env.normalize_reward(rewards), dtype=np.float32)
        return ReplayBufferSamples(obs, self.actions[idx], rewards, next_obs, self.terminated[idx])

    def sample_n_step(
        self, batch_size: int, rng: np.random.Generator | None, n_steps: int, gamma: float
    ) -> NStepReplayBufferSamples:
        """n-step transitions (Sutton 1988; Hessel et al. 2018) for ``batch_size`` uniform start indices.

        For a start transition t of one env, m <= n steps are taken: the steps t, t+1, ... of that env up to
        ``n_steps``, stopping after the first that ends the episode (terminated or truncated) and before the
        first not yet written (the buffer's write position). The target is then
        R + γ^m (1 − terminated_{t+m−1}) max_a Q(s'_{t+m−1}, a) with R = Σ_{k<m} γ^k r_{t+k}, where s' is the
        stored true next observation (the final observation on truncation, as in 1-step). The same random
        draws as ``sample``: with ``n_steps=1``, R, s' and terminated are ``sample``'s.

        Args:
            batch_size: B.
            rng: Generator for the start indices; None draws from the buffer's own (``self.rng``).
            n_steps: n >= 1.
            gamma: Discount γ.

        Returns:
            ``NStepReplayBufferSamples(observations (B, ...), actions (B,), rewards: the returns R (B,),
            next_observations (B, ...) of the last step, dones: terminated (B,) of the last step, discounts γ^m
            (B,))``, nngym's tuple with SB3's field names; float32 except actions and observations.

        Raises:
            ValueError: For an empty buffer.
            TypeError: For an ``rng`` that is not a numpy Generator.
        """
        idx = self._indices(batch_size, rng, "sample_n_step")
        k = np.arange(n_steps)
        steps = (idx[:, None] + k * self.n_envs) % self.capacity  # (B, n): slots of steps t .. t+n-1 of t's env
        in_buffer = k * self.n_envs < self._written_since(idx)[:, None]  # (B, n), a prefix of each row; k = 0 always
        dones = self.dones[steps] * in_buffer
        ended_before = np.cumsum(dones, axis=1) - dones > 0  # an episode end at an earlier step of the row
        take = in_buffer & ~ended_before  # (B, n), a prefix, at least k = 0
        m = take.sum(axis=1)
        last = steps[np.arange(batch_size), m - 1]
        powers = np.float32(gamma) ** k.astype(np.float32)
        returns = (self.rewards[steps] * powers * take).sum(axis=1, dtype=np.float32)
        discounts = np.float32(gamma) ** m.astype(np.float32)
        return NStepReplayBufferSamples(
            self.obs[idx], self.actions[idx], returns, self.next_obs[last], self.terminated[last], discounts
        )

    def _written_since(self, idx: np.ndarray) -> np.ndarray:
        """Slots written from slot idx on, idx included: (pos − idx) mod capacity in 1..capacity (capacity when
        the buffer is full and idx = pos), shape of idx."""
        return (self.pos - idx - 1) % self.capacity + 1

    def state_dict(self) -> dict[str, np.ndarray]:
        n = len(self)
        return {
            "obs": self.obs[:n],
            "next_obs": self.next_obs[:n],
            "actions": self.actions[:n],
            "rewards": self.rewards[:n],
            "terminated": self.terminated[:n],
            "dones": self.dones[:n],
            "pos_full": np.array([self.pos, int(self.full)]),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restores a ``state_dict``; one saved before ``dones`` existed gets them reconstructed.

        Reconstruction: a transition ended its episode if it terminated or if its stored next observation is
        not the observation of the env's next transition (a truncation, after which the env was reset).
        """
        n = len(state["actions"])
        if n > self.capacity:
            raise ValueError(f"saved replay buffer holds {n} transitions, capacity is {self.capacity}")
        for k in ("obs", "next_obs", "actions", "rewards", "terminated"):
            getattr(self, k)[:n] = state[k]
        self.pos, self.full = int(state["pos_full"][0]), bool(state["pos_full"][1])
        if "dones" in state:
            self.dones[:n] = state["dones"]
            return
        i = np.arange(n)
        succ = (i + self.n_envs) % self.capacity
        has_succ = self.n_envs < self._written_since(i)  # the env's next transition is written
        moved = (self.next_obs[:n] != self.obs[succ]).reshape(n, -1).any(axis=1)
        self.dones[:n] = np.maximum(self.terminated[:n], has_succ & moved)


REPLAY_CHUNK_BYTES = 32 * 2**20
"""Most bytes of sampled observations (s and s', as float32) held at once by one chunk of gradient steps."""

ACTIVATION_CHUNK_BYTES = 8 * 2**20
"""Most bytes of one layer's activations in the target network's pass over a chunk, for a population's stacked
Q-networks: 8 members of 256 units with minibatches of 64 take 16 steps a chunk, which on a 2-core AMD EPYC ran
1.3x faster than 128 (64 MB a layer, out of every cache). A single 256-unit agent's 128 minibatches of 64 are this
size."""


PIPELINE_CHUNK_ROWS = 1024
"""Rows of one chunk of a single DQN's training call: small enough that the call has several chunks, so the
target network's pass over the next one can run on a second thread beside the gradient steps of this one
(``DQN.works_beside``), large enough that BLAS runs it as one big product (on OpenBLAS 0.3.31 a pass of 1,024 rows
or more gives each row the same numbers as one pass over all 8,192 rows of the zoo's CartPole call)."""


def replay_chunk_steps(
    gradient_steps: int, batch_size: int, observation: np.ndarray, width: int = 0, max_rows: int = 0
) -> list[int]:
    """How many gradient steps each chunk of a DQN training call samples at once.

    Args:
        gradient_steps: G, the gradient steps of the call.
        batch_size: B, rows per minibatch.
        observation: One stored observation (its size sets the chunk).
        width: Units of the Q-network's widest layer: the target network's pass over a chunk holds g·B rows of
            them (0: not counted).
        max_rows: Most rows g·B of a chunk (0: no such limit), e.g. ``PIPELINE_CHUNK_ROWS``.

    Returns:
        Chunk lengths g >= 1 summing to G, each with 2·g·B·|s|·4 <= ``REPLAY_CHUNK_BYTES``,
        g·B·width·4 <= ``ACTIVATION_CHUNK_BYTES`` and g·B <= ``max_rows`` where it can.
    """
    row_bytes = 2 * 4 * max(observation.size, 1)
    g = REPLAY_CHUNK_BYTES // (row_bytes * batch_size)
    if width:
        g = min(g, ACTIVATION_CHUNK_BYTES // (4 * width * batch_size))
    if max_rows:
        g = min(g, max_rows // batch_size)
    g = int(np.clip(g, 1, max(gradient_steps, 1)))
    chunks = [g] * (gradient_steps // g)
    if gradient_steps % g:
        chunks.append(gradient_steps % g)
    return chunks
