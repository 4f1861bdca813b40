"""DQN: deep Q-learning with experience replay and a target network (Mnih et al. 2015), on nngym networks."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import gymnasium as gym
import numpy as np

from agents.common.base import BaseAgent
from agents.common.buffers import PIPELINE_CHUNK_ROWS, ReplayBuffer, replay_chunk_steps
from agents.common.callbacks import BaseCallback
from agents.common.policies import QNetwork
from agents.common.polyak import polyak_update
from agents.common.sb3_policy import SB3PolicyMethods
from agents.common.spaces import encoded_space, to_env_actions
from agents.common.vec_env import true_next_observations
from nngym.costs import HuberCost
from nngym.network import Sequential
from nngym.optim import Adam
from nngym.parallel import beside, done
from nngym.schedules import Schedule, linear
from nngym.serialization import ModelFileError, load_npz, save_npz


def lr_decay_schedule(
    learning_rate: float | str | Schedule, learning_rate_final: float | str, start: float, end: float
) -> Callable[[float], float]:
    """DQN's ``learning_rate_final`` schedule (also given to SB3 by ``agents.baselines.sb3``): ``learning_rate`` until
    ``start`` of training, linear down to ``learning_rate_final`` by ``end``, then constant.

    Args:
        learning_rate: Step size at the start (a number; YAML may give "5e-5" as a string).
        learning_rate_final: The floor, > 0.
        start: Fraction of training at which the decay starts.
        end: Fraction of training at which the floor is reached, start < end <= 1.

    Returns:
        The step size as a function of the progress remaining (1 at the start of training, 0 at the end).

    Raises:
        ValueError: If ``learning_rate`` is a schedule ("lin_<x>" or a callable: the decay is a schedule of its own),
            the floor is not > 0 or the window is not 0 <= start < end <= 1.
    """
    if callable(learning_rate) or (isinstance(learning_rate, str) and learning_rate.strip().startswith("lin")):
        what = "a callable" if callable(learning_rate) else repr(learning_rate)
        raise ValueError(
            f"DQN: learning_rate_final needs a constant learning_rate (a number), got {what}; leave "
            "learning_rate_final None to use a 'lin_<x>' or callable learning_rate (a callable can hold the decay)"
        )
    if not 0.0 <= start < end <= 1.0:
        raise ValueError(
            f"DQN: need 0 <= learning_rate_decay_start < learning_rate_decay_end <= 1, got {start} and {end}"
        )
    lr0, lr1 = float(learning_rate), float(learning_rate_final)  # YAML reads 5e-5 (no dot) as a string
    if not lr1 > 0.0:
        raise ValueError(f"DQN: learning_rate_final must be > 0, got {learning_rate_final!r}")

    def schedule(progress_remaining: float) -> float:
        done = min(max((1.0 - progress_remaining - start) / (end - start), 0.0), 1.0)
        return lr0 + done * (lr1 - lr0)

    return schedule


@dataclass
class DQNConfig:
    """DQN hyperparameters (SB3's names and defaults)."""

    n_envs: int = 1
    """Number of parallel environments N."""
    vectorization: str = "sync"
    """"sync" (agents.common.vec_env.SyncVectorEnv), "gym-sync" or "async" (gymnasium.vector)."""
    learning_rate: float | str | Schedule = 1e-4
    """Adam step size: a number, "lin_<x>" or a callable of the progress remaining (SB3's)."""
    learning_rate_final: float | None = None
    """Floor of an optional linear step-size decay (None: off). When set, ``learning_rate`` must be a number (not
    "lin_<x>" or a callable): the step size is ``learning_rate`` until ``learning_rate_decay_start`` of training,
    falls linearly to this value by ``learning_rate_decay_end`` and stays there (a piecewise-linear schedule, like
    ε's)."""
    learning_rate_decay_start: float = 0.0
    """Fraction of training at which the step-size decay starts (with ``learning_rate_final``)."""
    learning_rate_decay_end: float = 1.0
    """Fraction of training at which the step size reaches ``learning_rate_final``."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity."""
    learning_starts: int = 100
    """Env steps of uniformly random actions before learning starts."""
    batch_size: int = 32
    """Minibatch size per gradient step."""
    tau: float = 1.0
    """Target update coefficient: 1 is a hard copy, < 1 Polyak averaging θ' ← τθ + (1 − τ)θ'."""
    gamma: float = 0.99
    """Discount γ."""
    train_freq: int = 4
    """Train every this many vector-env steps."""
    gradient_steps: int = 1
    """Gradient steps each time it trains; -1: as many as env steps since the last training (train_freq · N)."""
    target_update_interval: int = 10_000
    """Update the target network every this many env steps."""
    exploration_fraction: float = 0.1
    """Fraction of training over which ε decays linearly."""
    exploration_initial_eps: float = 1.0
    """ε at the start."""
    exploration_final_eps: float = 0.05
    """ε at the end of the decay."""
    max_grad_norm: float = 10.0
    """Global gradient norm clip."""
    double_q: bool = False
    """Double DQN (van Hasselt et al. 2016): the online net picks the next action, the target net values it."""
    n_steps: int = 1
    """n-step returns (Sutton 1988; Rainbow, Hessel et al. 2018; SB3's ``n_steps``): the TD target of a sampled
    transition t is Σ_{k<m} γ^k r_{t+k} + γ^m (1 − terminated) max_a Q_target(s_{t+m}, a), m the number of steps
    up to n of the same env that stay in the episode (ending at termination or truncation, truncation
    bootstrapping from the true final observation) and are already in the buffer. 1 is plain DQN."""
    net_arch: tuple[int, ...] | None = None
    """Hidden sizes of the Q-network; after a trunk (``net="cnn"``, a spec, a given trunk) the head's. None: SB3's
    default, set when the agent is made (``BaseAgent._default_net_arch``): (64, 64), and none after a trunk (a linear
    head, SB3's ``CnnPolicy``)."""
    activation: str = "relu"
    """Hidden activation."""
    normalize_obs: bool = False
    """Normalise observations by their running mean and variance (SB3's ``VecNormalize(norm_obs=True)``;
    the zoo's ``normalize: true``); the statistics are saved with the model and frozen in ``predict``."""
    normalize_reward: bool = False
    """Scale rewards by the running std of the discounted return, clipped to ±10 (``VecNormalize(norm_reward=True)``);
    episode statistics stay raw."""
    normalize_kwargs: dict[str, float] | None = None
    """VecNormalize's other settings for ``normalize_obs`` / ``normalize_reward``: ``clip_obs``, ``clip_reward``
    (SB3: 10), ``epsilon`` (1e-8) and ``gamma`` of the running return (the agent's ``gamma``); the zoo's ``normalize``
    dict string sets them (``agents.common.normalize.agent_normalizer``)."""
    log_interval: int = 4
    """Dump logs every this many episodes (as SB3 counts for off-policy agents)."""


class DQNPolicy(SB3PolicyMethods):
    """SB3's ``DQNPolicy`` of an nngym ``DQN`` (``agent.policy``): its online and target Q-networks and the
    methods SB3's users call on ``model.policy`` (``BasePolicy``'s).

    ``predict`` is greedy whatever ``deterministic`` says, as SB3's ``DQNPolicy``: ε-greedy exploration is the
    agent's (``DQN.predict``), not the policy's, so ``policy.predict(obs)`` is ``agent.predict(obs,
    deterministic=True)`` (and ``agent.predict(obs)`` while ``agent.exploration_rate`` is 0, as for a fresh agent).

    Args:
        agent: The DQN whose policy it is.

    Attributes:
        observation_space: The agent's, what ``predict`` takes.
        action_space: The agent's (Discrete).
        training: What ``set_training_mode`` was last given.
    """

    def __init__(self, agent: DQN) -> None:
        self._agent = agent
        self.observation_space: gym.Space = agent.observation_space
        self.action_space: gym.spaces.Discrete = agent.action_space

    @property
    def q_net(self) -> QNetwork:
        """SB3's ``policy.q_net``: the online Q-network (``agent.q_net``)."""
        return self._agent.q_net

    @property
    def q_net_target(self) -> QNetwork:
        """SB3's ``policy.q_net_target``: the target Q-network (``agent.q_target``)."""
        return self._agent.q_target

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``policy.predict``: the greedy actions argmax_a Q(s, a), as ``agent.predict(observation, state,
        episode_start, deterministic=True)`` gives them (the same encoding, normalisation with the frozen
        statistics, actions shifted by the space's ``start`` in its dtype); draws nothing from ``agent.rng``.

        Args:
            observation: One raw observation (*obs_shape) or a batch (N, *obs_shape).
            state: Returned unchanged (no memory).
            episode_start: Not used.
            deterministic: Taken for SB3's signature: the Q-network's action is greedy either way.

        Returns:
            (one action, shape (), or N of them, (N,); ``state``).

        Raises:
            ValueError: For observations of the wrong shape, with the agent's ``predict``'s message.
        """
        return self._agent.predict(observation, state, episode_start, deterministic=True)


class DQN(BaseAgent):
    """Deep Q-network (Mnih et al. 2015): ε-greedy acting, replay, Huber TD loss, a periodically copied target.

    As SB3's, ``agent.q_net`` and ``agent.q_net_target`` are the online and target Q-networks, and ``agent.policy``
    (a ``DQNPolicy``) holds them with SB3's policy methods.

    Example:
        >>> agent = DQN("CartPole-v1", seed=0, learning_starts=1000).learn(50_000)
    """

    algo = "DQN"
    normalize_in_env = False  # as SB3's off-policy agents: raw transitions stored, normalised when sampled
    Config = DQNConfig
    action_spaces = (gym.spaces.Discrete,)
    works_beside = True

    def _build(self) -> None:
        c = self.config
        self.q_net = QNetwork(self.observation_space, self.action_space, self.rng, self.net, c.net_arch, c.activation)
        self.q_target = QNetwork(
            self.observation_space, self.action_space, self.rng, self.net, c.net_arch, c.activation
        )
        self.q_target.q.load_state_dict(self.q_net.q.state_dict())
        self.lr_schedule = self._make_lr_schedule()
        self.optimizer = Adam(self.q_net, lr=self.lr_schedule(1.0), max_grad_norm=c.max_grad_norm)
        self.exploration = linear(c.exploration_initial_eps, c.exploration_final_eps)
        obs_space = encoded_space(self.observation_space)  # what the env gives (agents.common.spaces)
        self.replay_buffer = ReplayBuffer(
            c.buffer_size,
            obs_space.shape,
            n_envs=self.n_envs,
            obs_dtype=obs_space.dtype,
            seed=self._replay_seed(),
        )
        self.cost = HuberCost(1.0)
        self.exploration_rate = 0.0  # a fresh agent's predict is greedy, as SB3's; learn starts it on its schedule
        self._n_calls = 0
        self.policy = DQNPolicy(self)  # SB3's model.policy: the Q-networks and BasePolicy's methods

    @property
    def q_net_target(self) -> QNetwork:
        """SB3's name of the target Q-network (``q_target``)."""
        return self.q_target

    def save_replay_buffer(self, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
        """SB3's: writes the replay buffer alone (its transitions, position and fill) as an npz with JSON metadata,
        never pickle (``nngym.serialization``); ``load_replay_buffer`` reads it back. ``save(path,
        include_replay_buffer=True)`` keeps it in the model file instead.

        Returns:
            The path written (``.npz`` appended if missing), or the file object.
        """
        arrays = {f"replay/{k}": v for k, v in self.replay_buffer.state_dict().items()}
        meta = {
            "format": "nngym.replay_buffer",
            "algorithm": self.algo,
            "capacity": self.replay_buffer.capacity,
            "n_envs": self.n_envs,
        }
        return save_npz(path, arrays, meta)

    def load_replay_buffer(self, path: str | os.PathLike | BinaryIO, truncate_last_traj: bool = True) -> None:
        """SB3's: the replay buffer ``save_replay_buffer`` wrote, in place of this agent's.

        Args:
            path: The file.
            truncate_last_traj: SB3's argument (its buffer may hold a half-stored last episode to cut); nngym's
                buffer stores every transition whole with its own ``dones``, so there is nothing to cut: taken for
                compatibility.

        Raises:
            ModelFileError: For a file that is not a replay buffer, or one of other observations (shape, dtype) or
                more transitions than this agent's capacity, or other envs per step, naming both.
        """
        if isinstance(path, str | os.PathLike) and not Path(path).exists() and Path(path).suffix == ".pkl":
            # the name SB3's CheckpointCallback gives its buffers; nngym's keeps them inside the checkpoint
            raise ModelFileError(
                f"{path}: no such file; nngym writes no .pkl replay buffers: CheckpointCallback(save_replay_buffer="
                "True) keeps the buffer inside each checkpoint's model file, which DQN.load restores, and "
                "save_replay_buffer writes npz"
            )
        arrays, meta = load_npz(path)
        if meta.get("format") != "nngym.replay_buffer":
            raise ModelFileError(f"{path}: format is {meta.get('format')!r}, expected 'nngym.replay_buffer'")
        state = {k[len("replay/") :]: v for k, v in arrays.items() if k.startswith("replay/")}
        buf = self.replay_buffer
        expected = (buf.obs.shape[1:], buf.obs.dtype)
        got = (state["obs"].shape[1:], state["obs"].dtype) if "obs" in state else None
        if got != expected or meta.get("n_envs") != self.n_envs or len(state["obs"]) > buf.capacity:
            raise ModelFileError(
                f"{path}: a replay buffer of {len(state.get('obs', ()))} transitions of observations "
                f"{got} from {meta.get('n_envs')} envs; this agent stores observations {expected} from "
                f"{self.n_envs} envs, {buf.capacity} at most"
            )
        buf.load_state_dict(state)

    def _hyperparameter_changed(self, name: str) -> None:
        """DQN's step size is its own schedule (with the decay window) and ε's line is built from its two ends."""
        if name.startswith("learning_rate"):
            self.lr_schedule = self._make_lr_schedule()
        elif name in ("exploration_initial_eps", "exploration_final_eps"):
            self.exploration = linear(self.config.exploration_initial_eps, self.config.exploration_final_eps)
        else:
            super()._hyperparameter_changed(name)

    def _make_lr_schedule(self) -> Callable[[float], float]:
        """The step size as a function of the progress remaining (1 at the start, 0 at the end).

        Raises:
            ValueError: If ``learning_rate_final`` is set with a "lin_<x>" or callable learning rate, is not > 0, or
                the decay window is not 0 <= start < end <= 1.
        """
        c = self.config
        if c.learning_rate_final is None:
            return self._schedule("learning_rate")
        return lr_decay_schedule(
            c.learning_rate, c.learning_rate_final, c.learning_rate_decay_start, c.learning_rate_decay_end
        )

    def _replay_seed(self) -> np.random.SeedSequence:
        """The replay buffer's own seed, for SB3's ``replay_buffer.sample(n)`` without a generator: a child of the
        agent's seed, so the agent's generator (``self.rng``, which draws the training minibatches) is not touched."""
        return np.random.SeedSequence(self.seed).spawn(1)[0]

    def set_random_seed(self, seed: int | None = None) -> None:
        """SB3's, and the replay buffer's own generator from the new seed too."""
        super().set_random_seed(seed)
        self.replay_buffer.rng = np.random.default_rng(self._replay_seed())

    def _nets(self) -> dict[str, Sequential]:
        return {"q": self.q_net.q, "q_target": self.q_target.q}

    def _optimizer(self) -> Adam:
        return self.optimizer

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _load_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        return None

    def _extra_counters(self) -> dict:
        return {"n_calls": self._n_calls}

    def _load_extra_counters(self, counters: dict) -> None:
        self._n_calls = counters["n_calls"]
        # ε where the saved run left it (what predict's default ε-greedy actions use), not the initial ε
        self.exploration_rate = self._epsilon()

    def _on_env_reset(self) -> None:
        """The env was reset (a new ``learn``, ``set_env``, a loaded replay buffer): the last stored transition of
        each env ends its episode, so no n-step return runs on into the new episodes (it still bootstraps from its
        next observation, as a truncation does)."""
        rb = self.replay_buffer
        if len(rb):
            rb.dones[(rb.pos - rb.n_envs + np.arange(rb.n_envs)) % rb.capacity] = 1.0

    def _act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        greedy = self.q_net.forward(obs).argmax(axis=1)
        if deterministic:
            return greedy
        explore = self.rng.random(len(obs)) < self.exploration_rate
        return np.where(explore, self.rng.integers(0, self.action_space.n, len(obs)), greedy)

    def _epsilon(self) -> float:
        """ε: linear from initial to final over ``exploration_fraction`` of training, then constant."""
        c = self.config
        done = (1.0 - self.progress_remaining) / c.exploration_fraction if c.exploration_fraction > 0 else 1.0
        return self.exploration(max(1.0 - done, 0.0))

    def _learn(self, callback: BaseCallback, reset_num_timesteps: bool) -> None:
        """Acts ε-greedily, stores transitions, trains every ``train_freq`` steps.

        The callback's rollouts are SB3's off-policy ones: ``on_rollout_start`` before the steps that lead to a
        training call (``train_freq`` vector steps; the first of a ``learn`` may be shorter, as ``train_freq`` counts
        the agent's steps), ``on_rollout_end`` after them, before training (also while ``learning_starts`` holds
        training back), and after the last steps of ``learn``; not when a callback stopped training.
        """
        c, cb = self.config, callback
        obs, n_act = self._last_obs, self.action_space.n
        if self.normalizer is not None:
            self.normalizer.old_obs = obs  # SB3's get_original_obs: the env's observations before normalisation
        n_target = max(c.target_update_interval // self.n_envs, 1)
        self.exploration_rate = self._epsilon()  # ε at the progress where this run starts (the initial ε when fresh)
        in_rollout = False
        while self.num_timesteps < self._total_timesteps:
            # --- rollout ---
            if not in_rollout:
                cb.on_rollout_start()
                in_rollout = True
            seen = self._observe(obs)
            if self.num_timesteps < c.learning_starts:
                actions = self.rng.integers(0, n_act, self.n_envs)
            else:
                actions = self._act(seen, deterministic=False)
            env_actions = to_env_actions(self.action_space, actions)
            next_obs, rewards, terminated, truncated, infos = self.env.step(env_actions)
            self.num_timesteps += self.n_envs
            self._n_calls += 1
            dones = terminated | truncated
            real_next = true_next_observations(next_obs, dones, infos)
            self.replay_buffer.add(obs, real_next, actions, rewards, terminated, dones)  # raw, as the env gave them
            if self.normalizer is not None:
                self.normalizer.scale_rewards(rewards, dones)  # advances the running returns' statistics
                self.normalizer.old_obs, self.normalizer.old_reward = next_obs, rewards  # SB3's get_original_obs
            episodes_before = self._episode_num
            self._track_episodes(rewards, dones, infos)
            obs = next_obs
            self.exploration_rate = self._epsilon()
            if self._n_calls % n_target == 0:
                self._update_target()
            cb.update_locals(
                {"new_obs": next_obs, "actions": env_actions, "rewards": rewards, "dones": dones, "infos": infos}
            )
            if not cb.on_step():
                self._last_obs = obs
                return  # a callback stopped training: no rollout end (SB3's order)
            # --- update ---
            if self._n_calls % c.train_freq == 0:
                cb.on_rollout_end()
                in_rollout = False
                if self.num_timesteps > c.learning_starts:
                    self._train(c.gradient_steps if c.gradient_steps >= 0 else c.train_freq * self.n_envs)
            if c.log_interval and self._episode_num // c.log_interval > episodes_before // c.log_interval:
                self._dump_logs()  # SB3's: a row when the episode count reaches a multiple of log_interval
        self._last_obs = obs
        if in_rollout:  # total_timesteps came before the next training call
            cb.on_rollout_end()

    def _live_stats(self) -> dict[str, float]:
        """ε at the row's step (SB3's ``rollout/exploration_rate``, which it records at every env step)."""
        return {"rollout/exploration_rate": self.exploration_rate}

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        """The observations the Q-network acts on; under ``normalize_obs`` they first update the statistics."""
        return obs if self.normalizer is None else self.normalizer.normalized_obs(obs, update=True)

    def _update_target(self) -> None:
        polyak_update(self.q_net, self.q_target, self.config.tau)

    def _sample_replay(self, n: int) -> tuple[np.ndarray, ...]:
        """``n`` replay samples as the TD loss uses them: drawn by ``self.rng``, normalised with today's statistics.

        One draw of ``n`` = g·B indices is the same stream of indices as g draws of B (numpy's ``integers``), so
        sampling the minibatches of several gradient steps at once changes nothing but the number of calls.

        Returns:
            (obs (n, ...), actions (n,), rewards or n-step returns (n,), next_obs (n, ...), terminated (n,),
            discount: γ (a float) for 1-step targets, else γ^m per sample (n,)).
        """
        c = self.config
        if c.n_steps == 1:
            obs, actions, rewards, next_obs, terminated = self.replay_buffer.sample(n, self.rng)
            discount = c.gamma
        else:
            obs, actions, rewards, next_obs, terminated, discount = self.replay_buffer.sample_n_step(
                n, self.rng, c.n_steps, c.gamma
            )
        if self.normalizer is not None:  # the stored raw transitions, normalised with today's statistics
            norm = self.normalizer
            obs, next_obs = norm.normalized_obs(obs), norm.normalized_obs(next_obs)
            rewards = self.normalizer.scale_rewards(rewards, terminated, update=False)
        return obs, actions, rewards, next_obs, terminated, discount

    def _train(self, gradient_steps: int) -> None:
        """``gradient_steps`` Huber TD steps on minibatches from the replay buffer.

        The target network does not change during a call (it is updated between env steps), so the minibatches
        of a chunk of gradient steps (``replay_chunk_steps``, at most ``PIPELINE_CHUNK_ROWS`` rows) are sampled
        together and their targets Q'(s', ·) come from one forward pass over the chunk's rows instead of one pass
        per minibatch; the online network still steps after each minibatch. With two or more learning threads
        (``works_beside``) the target pass over the next chunk runs on a second thread while the online network
        trains on this one: the same numbers as on one thread, in less time on two cores.
        """
        c = self.config
        self.optimizer.lr = self.lr_schedule(self.progress_remaining)
        B = c.batch_size
        rows = np.arange(B)
        pairs = []  # (Q(s, a), y) of each step, for the logged loss (computed when logged)
        run = beside if self.learning_threads() > 1 else lambda fn, *args: done(fn(*args))
        chunks = replay_chunk_steps(gradient_steps, B, self.replay_buffer.obs[0], max_rows=PIPELINE_CHUNK_ROWS)
        sample = self._sample_replay(chunks[0] * B) if chunks else None
        targets = run(self.q_target.forward, sample[3]) if chunks else None
        for k, g in enumerate(chunks):
            obs_g, actions_g, rewards_g, next_obs_g, terminated_g, discount_g = sample
            q_next_g = targets.result()  # (g·B, A): the target is fixed during this call
            if k + 1 < len(chunks):  # the next chunk's rows, drawn now (the steps below draw nothing)
                sample = self._sample_replay(chunks[k + 1] * B)
                targets = run(self.q_target.forward, sample[3])
            q_next_max_g = None if c.double_q else q_next_g.max(axis=1)
            for j in range(g):
                batch = slice(j * B, (j + 1) * B)
                if c.double_q:  # the online net, as it is at this step, picks the next action
                    q_next_max = q_next_g[batch][rows, self.q_net.forward(next_obs_g[batch]).argmax(axis=1)]
                else:
                    q_next_max = q_next_max_g[batch]
                discount = discount_g if c.n_steps == 1 else discount_g[batch]
                y = rewards_g[batch] + (1.0 - terminated_g[batch]) * discount * q_next_max  # no gradient through it
                actions = actions_g[batch]
                q = self.q_net.forward(obs_g[batch], train=True)
                q_a = q[rows, actions]
                pairs.append((q_a, y))
                d_q = np.zeros_like(q)
                d_q[rows, actions] = self.cost.delta(q_a, y)  # only the taken action's Q gets a gradient
                self.q_net.q.backward(d_q, input_grad=False)  # the input is data
                self.optimizer.step()
        self._n_updates += gradient_steps
        self._train_stats = {
            "train/loss": lambda: float(np.mean([self.cost.value(q_a, y) for q_a, y in pairs])),
            "train/n_updates": self._n_updates,
            "train/learning_rate": self.optimizer.lr,
        }
