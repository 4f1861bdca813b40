"""A2C: synchronous advantage actor-critic (Mnih et al. 2016, arXiv:1602.01783), on nngym networks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.common.base import BaseAgent
from agents.common.buffers import RolloutBuffer
from agents.common.callbacks import BaseCallback
from agents.common.policies import backward_policy_loss
from agents.common.rollout import collect_rollout, explained_variance, normalized_advantages
from nngym.optim import Adam, RMSprop
from nngym.schedules import Schedule


@dataclass
class A2CConfig:
    """A2C hyperparameters (SB3's names and defaults)."""

    n_envs: int = 1
    """Number of parallel environments N."""
    vectorization: str = "sync"
    """"sync" (agents.common.vec_env.SyncVectorEnv), "gym-sync" or "async" (gymnasium.vector)."""
    n_steps: int = 5
    """Steps T per env between updates: the n of the n-step returns."""
    learning_rate: float | str | Schedule = 7e-4
    """Step size: a number, "lin_<x>" or a callable of the progress remaining (SB3's)."""
    gamma: float = 0.99
    """Discount γ."""
    gae_lambda: float = 1.0
    """GAE λ; 1 gives the plain n-step returns of the paper."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient norm clip over actor and critic together."""
    use_rms_prop: bool = True
    """RMSprop (α = 0.99, ε = rms_prop_eps) as SB3; False: Adam."""
    rms_prop_eps: float = 1e-5
    """RMSprop ε (SB3's value, not torch's 1e-8)."""
    normalize_advantage: bool = False
    """Normalise advantages over the rollout."""
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
    use_sde: bool = False
    """Box actions: generalized state-dependent exploration (gSDE, Raffin et al. 2021) instead of a
    state-independent σ (``agents.common.distributions.StateDependentNoise``)."""
    sde_sample_freq: int = -1
    """gSDE: draw new noise weights every this many steps; −1 (or 0): only at the start of each rollout."""
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
    log_interval: int = 100
    """Dump logs every this many updates."""


class A2C(BaseAgent):
    """Advantage actor-critic (Mnih et al. 2016): one gradient step per T·N-step rollout of n-step returns.

    Example:
        >>> agent = A2C("CartPole-v1", seed=0, n_envs=8).learn(50_000)
    """

    algo = "A2C"
    Config = A2CConfig

    def _build(self) -> None:
        c = self.config
        self.policy = self._actor_critic_policy()
        self.lr_schedule = self._schedule("learning_rate")
        lr = self.lr_schedule(1.0)
        kw = {"max_grad_norm": c.max_grad_norm}
        if c.use_rms_prop:
            self.optimizer = RMSprop(self.policy, lr, alpha=0.99, eps=c.rms_prop_eps, **kw)
        else:
            self.optimizer = Adam(self.policy, lr, eps=1e-5, **kw)
        self.buffer = RolloutBuffer.for_spaces(
            c.n_steps, self.n_envs, self.observation_space, self.action_space, normalized=c.normalize_obs
        )

    def _learn(self, callback: BaseCallback, reset_num_timesteps: bool) -> None:
        """Alternates rollouts of T·N steps and single gradient steps until ``total_timesteps``."""
        c, cb = self.config, callback
        iteration = 0
        while self.num_timesteps < self._total_timesteps:
            # --- rollout --- (n-step returns: GAE with λ = 1)
            cb.on_rollout_start()
            if not collect_rollout(self, self.buffer, c.gamma, c.gae_lambda, cb):
                break  # a callback stopped training: no rollout end, no update (SB3's order)
            cb.on_rollout_end()
            iteration += 1
            if c.log_interval and iteration % c.log_interval == 0:  # SB3's row: before the update, with the last one's
                self._dump_logs(iteration)  # train/ values
            # --- update ---
            self._update()

    def _update(self) -> None:
        c, buf, policy = self.config, self.buffer, self.policy
        self.optimizer.lr = self.lr_schedule(self.progress_remaining)
        obs, actions, returns = buf.flat("obs"), buf.flat("actions"), buf.flat("returns")
        advantages = buf.flat("advantages")
        n = len(obs)
        if c.normalize_advantage:
            advantages = normalized_advantages(advantages)
        dist, values = policy.forward(obs, train=True)
        log_prob, entropy = dist.log_prob(actions), dist.entropy()  # before the step changes log σ
        # loss = pg_loss + ent_coef * entropy_loss + vf_coef * v_loss, pg_loss = −mean(A log π), v_loss =
        # mean((R − V)²), entropy_loss = −mean(H); its gradient by hand:
        backward_policy_loss(
            policy, dist, actions, -advantages / n, -c.ent_coef / n, c.vf_coef * 2.0 * (values - returns) / n
        )
        self.optimizer.step()
        self._n_updates += 1
        # the loss terms for the logger, computed when logged (an update comes every n_steps vector steps)
        advantages, returns = advantages.copy(), returns.copy()  # the buffer's arrays get the next rollout
        rollout_values = buf.values.ravel().copy()
        self._train_stats = {
            "train/entropy_loss": lambda: float(-entropy.mean()),
            "train/policy_loss": lambda: float(-(advantages * log_prob).mean()),
            "train/value_loss": lambda: float(np.mean((returns - values) ** 2)),
            "train/explained_variance": lambda: explained_variance(rollout_values, returns),
            "train/n_updates": self._n_updates,
            "train/learning_rate": self.optimizer.lr,
        }
        if not policy.discrete:
            log_std = policy.log_std.copy()
            self._train_stats["train/std"] = lambda: float(np.exp(log_std).mean())
