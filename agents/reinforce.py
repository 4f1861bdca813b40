"""REINFORCE with a learned baseline (Williams 1992), on nngym networks.

Monte-Carlo policy gradient: after each batch of *complete* episodes, ascend
Σ_t (G_t − b(s_t)) ∇ log π(a_t|s_t), where G_t is the discounted return to the end of
the episode and b(s) a learned state-value baseline. Steps of episodes still running
when a batch is collected are kept and used once their episode ends. An episode cut by
a time limit (truncation) is completed with γ b(final_obs), the baseline's estimate of
the rest of the return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.common.base import BaseAgent
from agents.common.callbacks import BaseCallback
from agents.common.policies import backward_policy_loss
from agents.common.rollout import bootstrap_truncated, normalized_advantages
from agents.common.spaces import action_storage, encoded_space, to_env_actions
from nngym.optim import Adam
from nngym.schedules import Schedule


@dataclass
class REINFORCEConfig:
    """REINFORCE hyperparameters."""

    n_envs: int = 8
    """Number of parallel environments N."""
    vectorization: str = "sync"
    """"sync" (agents.common.vec_env.SyncVectorEnv), "gym-sync" or "async" (gymnasium.vector)."""
    n_steps: int = 128
    """Vector steps collected between updates (finished episodes only are learned from)."""
    learning_rate: float | str | Schedule = 1e-3
    """Adam step size: a number, "lin_<x>" or a callable of the progress remaining (SB3's)."""
    gamma: float = 0.99
    """Discount γ."""
    normalize_advantage: bool = True
    """Normalise G_t − b(s_t) over the batch."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Baseline (value) loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient norm clip."""
    net_arch: tuple[int, ...] | dict[str, tuple[int, ...]] | None = None
    """Hidden sizes of the actor and of the critic, or SB3's ``dict(pi=[...], vf=[...])`` for different ones; after a
    trunk (``net="cnn"``, a spec, a given trunk) the heads' hidden sizes. None: SB3's default, set when the agent is
    made (``BaseAgent._default_net_arch``): (64, 64), and none after a trunk (linear heads, SB3's ``CnnPolicy``)."""
    activation: str = "tanh"
    """Hidden activation."""
    ortho_init: bool = True
    """SB3's orthogonal initialisation."""
    log_std_init: float = 0.0
    """Initial log σ for Box actions."""
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
    log_interval: int = 10
    """Dump logs every this many updates."""


class REINFORCE(BaseAgent):
    """REINFORCE (Williams 1992) with a learned state-value baseline.

    Example:
        >>> agent = REINFORCE("CartPole-v1", seed=0).learn(100_000)
    """

    algo = "REINFORCE"
    Config = REINFORCEConfig

    def _build(self) -> None:
        c = self.config
        self.policy = self._actor_critic_policy()
        self.lr_schedule = self._schedule("learning_rate")
        self.optimizer = Adam(self.policy, lr=self.lr_schedule(1.0), max_grad_norm=c.max_grad_norm)
        self._alloc(2 * c.n_steps)
        self._pos = 0

    def _alloc(self, capacity: int) -> None:
        """(Re)allocates the episode store (capacity, N, ...), keeping what it holds."""
        n, old = self.n_envs, getattr(self, "_store", None)
        act_shape, act_dtype = action_storage(self.action_space)
        obs_space = encoded_space(self.observation_space)  # what the env gives (agents.common.spaces)
        self._store = {
            "obs": np.zeros((capacity, n, *obs_space.shape), obs_space.dtype),
            "actions": np.zeros((capacity, n, *act_shape), act_dtype),
            "rewards": np.zeros((capacity, n), np.float32),
            "dones": np.zeros((capacity, n), np.float32),
            "used": np.zeros((capacity, n), np.bool_),
        }
        if old is not None:
            for k, v in old.items():
                self._store[k][: len(v)] = v

    def _learn(self, callback: BaseCallback, reset_num_timesteps: bool) -> None:
        """Collects ``n_steps`` vector steps, then learns from every episode that has finished."""
        c, s, cb = self.config, self._store, callback
        values = lambda final_obs, _: self.policy.values(final_obs)  # noqa: E731 - V(s) of truncated episodes
        if reset_num_timesteps:
            self._pos = 0
        obs, iteration = self._last_obs, 0
        while self.num_timesteps < self._total_timesteps:
            # --- rollout ---
            cb.on_rollout_start()
            for _ in range(c.n_steps):
                if self._pos == len(s["obs"]):  # an episode longer than the store: grow it
                    self._alloc(2 * self._pos)
                    s = self._store
                actions = self._act(obs, deterministic=False)
                t = self._pos
                s["obs"][t], s["actions"][t], s["used"][t] = obs, actions, False
                env_actions = to_env_actions(self.action_space, actions)
                obs, rewards, terminated, truncated, infos = self.env.step(env_actions)
                self.num_timesteps += self.n_envs
                dones = terminated | truncated
                self._track_episodes(rewards, dones, infos)
                s["rewards"][t], s["dones"][t] = rewards, dones
                bootstrap_truncated(s["rewards"][t], terminated, truncated, infos, c.gamma, values)
                self._pos += 1
                cb.update_locals(
                    {"new_obs": obs, "actions": env_actions, "rewards": rewards, "dones": dones, "infos": infos}
                )
                if not cb.on_step():
                    self._last_obs = obs
                    return  # a callback stopped training: no rollout end, no update (SB3's order)
            self._last_obs = obs
            cb.on_rollout_end()
            # --- update ---
            if self._update():
                iteration += 1
                if c.log_interval and iteration % c.log_interval == 0:
                    self._dump_logs(iteration)

    def _update(self) -> bool:
        """One gradient step on the finished episodes' steps; returns False if none has finished."""
        c, s, T = self.config, self._store, self._pos
        dones = s["dones"][:T]
        ended = dones.any(axis=0)
        last_end = np.where(ended, T - 1 - np.argmax(dones[::-1], axis=0), -1)  # (N,) last done row per env
        valid = (np.arange(T)[:, None] <= last_end[None, :]) & ~s["used"][:T]
        if not valid.any():
            return False
        # --- returns G_t = r_t + γ (1 − done_t) G_{t+1}, backwards over time, vectorised over envs ---
        returns = np.zeros((T, self.n_envs), np.float32)
        g = np.zeros(self.n_envs, np.float32)
        for t in range(T - 1, -1, -1):
            g = s["rewards"][t] + c.gamma * (1.0 - dones[t]) * g
            returns[t] = g
        obs, actions, g_t = s["obs"][:T][valid], s["actions"][:T][valid], returns[valid]
        self.optimizer.lr = self.lr_schedule(self.progress_remaining)
        dist, values = self.policy.forward(obs, train=True)
        advantages = g_t - values
        if c.normalize_advantage and len(advantages) > 1:
            advantages = normalized_advantages(advantages)
        log_prob = dist.log_prob(actions)
        n = len(obs)
        pg_loss = -(advantages * log_prob).mean()
        v_loss = np.mean((g_t - values) ** 2)
        backward_policy_loss(
            self.policy, dist, actions, -advantages / n, -c.ent_coef / n, c.vf_coef * 2.0 * (values - g_t) / n
        )
        self.optimizer.step()
        self._n_updates += 1
        # keep the steps of unfinished episodes: shift rows after the earliest last-end to the front
        keep_from = int(last_end.min()) + 1
        s["used"][:T] |= valid
        for v in s.values():
            v[: T - keep_from] = v[keep_from:T]
        self._pos = T - keep_from
        self._train_stats = {
            "train/policy_loss": float(pg_loss),
            "train/value_loss": float(v_loss),
            "train/entropy_loss": float(-dist.entropy().mean()),
            "train/n_updates": self._n_updates,
            "train/learning_rate": self.optimizer.lr,
        }
        return True
