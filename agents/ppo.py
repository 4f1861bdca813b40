"""PPO: Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347), on nngym networks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from agents.common.base import BaseAgent
from agents.common.buffers import RolloutBuffer
from agents.common.callbacks import BaseCallback
from agents.common.distributions import Distribution
from agents.common.policies import backward_policy_loss
from agents.common.ppo_loss import ppo_loss
from agents.common.rollout import collect_rollout, explained_variance, normalized_advantages
from nngym.optim import Adam
from nngym.schedules import Schedule


@dataclass
class PPOConfig:
    """PPO hyperparameters (SB3's names and defaults)."""

    n_envs: int = 1
    """Number of parallel environments N."""
    vectorization: str = "sync"
    """"sync" (agents.common.vec_env.SyncVectorEnv), "gym-sync" or "async" (gymnasium.vector)."""
    n_steps: int = 2048
    """Steps T per env per rollout; a rollout is T·N transitions."""
    batch_size: int = 64
    """Minibatch size."""
    n_epochs: int = 10
    """Passes over the rollout per update."""
    learning_rate: float | str | Schedule = 3e-4
    """Adam step size: a number, "lin_<x>" (linear decay to 0) or a callable of the progress remaining (SB3's)."""
    gamma: float = 0.99
    """Discount γ."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_range: float | str | Schedule = 0.2
    """Clip ε of the probability ratio: a number, "lin_<x>" or a callable of the progress remaining."""
    clip_range_vf: float | Schedule | None = None
    """If set, clip the value prediction to old value ± this (SB3's value clipping): a number or a callable of the
    progress remaining."""
    normalize_advantage: bool = True
    """Normalise advantages per minibatch."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient norm clip over actor and critic together."""
    target_kl: float | None = None
    """Stop the epochs early when the approximate KL exceeds 1.5 × this."""
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
    log_interval: int = 1
    """Dump logs every this many rollouts."""


class Minibatch(NamedTuple):
    """n transitions of a rollout, what one PPO gradient step reads."""

    obs: np.ndarray
    """(n, *obs_shape)"""
    actions: np.ndarray
    """(n,) or (n, D)"""
    old_log_prob: np.ndarray
    """log π_old(a|s), (n,)"""
    advantages: np.ndarray
    """Â, (n,)"""
    returns: np.ndarray
    """Â + V_old, (n,)"""
    old_values: np.ndarray
    """V_old(s), (n,)"""


class PPO(BaseAgent):
    """Proximal Policy Optimization (Schulman et al. 2017) with a clipped surrogate and GAE.

    ``learn`` alternates rollouts of T·N steps and updates until ``total_timesteps`` env steps.
    The update (``_update``) is shared with ``RecurrentPPO``, which only draws its minibatches
    (``_minibatches``) and evaluates them (``_evaluate_actions``) differently.

    Example:
        >>> agent = PPO("CartPole-v1", seed=0, n_envs=8, n_steps=32).learn(10_000)
    """

    algo = "PPO"
    Config = PPOConfig

    def _build(self) -> None:
        c = self.config
        self.policy = self._actor_critic_policy()
        self._build_schedules()
        self.optimizer = Adam(self.policy, lr=self.lr_schedule(1.0), eps=1e-5, max_grad_norm=c.max_grad_norm)
        self.buffer = RolloutBuffer.for_spaces(
            c.n_steps, self.n_envs, self.observation_space, self.action_space, normalized=c.normalize_obs
        )

    def _learn(self, callback: BaseCallback, reset_num_timesteps: bool) -> None:
        c = self.config
        iteration = 0
        while self.num_timesteps < self._total_timesteps:
            # --- rollout --- (and GAE, arXiv:1506.02438)
            callback.on_rollout_start()
            if not self._collect_rollout(callback):
                break  # a callback stopped training: no rollout end, no update (SB3's order)
            callback.on_rollout_end()
            iteration += 1
            if c.log_interval and iteration % c.log_interval == 0:  # SB3's row: before the update, with the last one's
                self._dump_logs(iteration)  # train/ values
            # --- update ---
            self._update()

    def _collect_rollout(self, callback: BaseCallback | None) -> bool:
        """T vector steps into the buffer, then GAE; False if a callback asked to stop."""
        return collect_rollout(self, self.buffer, self.config.gamma, self.config.gae_lambda, callback)

    def _minibatches(self) -> Iterator[Minibatch]:
        """One epoch: the rollout's T·N transitions in a random order, ``batch_size`` at a time."""
        buf, batch_size = self.buffer, self.config.batch_size
        obs, actions, old_log_prob = buf.flat("obs"), buf.flat("actions"), buf.flat("log_probs")
        advantages, returns, old_values = buf.flat("advantages"), buf.flat("returns"), buf.flat("values")
        perm = self.rng.permutation(len(obs))
        for start in range(0, len(obs), batch_size):
            i = perm[start : start + batch_size]
            yield Minibatch(obs[i], actions[i], old_log_prob[i], advantages[i], returns[i], old_values[i])

    def _evaluate_actions(self, mb: Any) -> tuple[Distribution, np.ndarray]:
        """π(·|s) and V(s) of a minibatch, keeping the caches for the backward pass."""
        return self.policy.forward(mb.obs, train=True)

    def _build_schedules(self) -> None:
        """The step size's, the clip range's and the value clip range's schedules (None without value clipping)."""
        self.lr_schedule = self._schedule("learning_rate")
        self.clip_schedule = self._schedule("clip_range")
        self.clip_vf_schedule = None if self.config.clip_range_vf is None else self._schedule("clip_range_vf")

    def _clip_range_vf(self, progress: float) -> float | None:
        """ε_vf at ``progress``, None without value clipping."""
        return None if self.clip_vf_schedule is None else self.clip_vf_schedule(progress)

    def _update(self) -> None:
        """``n_epochs`` passes of clipped-surrogate gradient steps over the rollout (early stop on ``target_kl``)."""
        c, buf, policy = self.config, self.buffer, self.policy
        progress = self.progress_remaining
        self.optimizer.lr = self.lr_schedule(progress)
        clip = self.clip_schedule(progress)
        clip_vf = self._clip_range_vf(progress)
        pg_losses, v_losses, ent_losses, clip_fracs, kls = [], [], [], [], []
        continue_training = True
        for _epoch in range(c.n_epochs):
            kls = []  # SB3 logs the last epoch's approx KL (the other terms: every epoch's)
            for mb in self._minibatches():
                dist, values = self._evaluate_actions(mb)
                log_prob, entropy = dist.log_prob(mb.actions), dist.entropy()
                adv = mb.advantages
                if c.normalize_advantage and len(adv) > 1:
                    adv = normalized_advantages(adv)
                terms, d_log_prob, d_entropy, d_values = ppo_loss(
                    log_prob,
                    entropy,
                    values,
                    mb.old_log_prob,
                    adv,
                    mb.returns,
                    mb.old_values,
                    clip=clip,
                    clip_range_vf=clip_vf,
                    ent_coef=c.ent_coef,
                    vf_coef=c.vf_coef,
                )
                pg_losses.append(terms["pg_loss"])
                v_losses.append(terms["v_loss"])
                ent_losses.append(terms["entropy_loss"])
                clip_fracs.append(terms["clip_frac"])
                kls.append(terms["approx_kl"])
                if c.target_kl is not None and terms["approx_kl"] > 1.5 * c.target_kl:
                    continue_training = False
                    break
                backward_policy_loss(policy, dist, mb.actions, d_log_prob, d_entropy, d_values)  # (BPTT if recurrent)
                self.optimizer.step()
            self._n_updates += 1  # SB3's count: one per epoch (also the epoch target_kl stopped)
            if not continue_training:
                break
        self._train_stats = {
            "train/entropy_loss": float(np.mean(ent_losses)),
            "train/policy_gradient_loss": float(np.mean(pg_losses)),
            "train/value_loss": float(np.mean(v_losses)),
            "train/approx_kl": float(np.mean(kls)),
            "train/clip_fraction": float(np.mean(clip_fracs)),
            "train/loss": float(pg_losses[-1] + c.ent_coef * ent_losses[-1] + c.vf_coef * v_losses[-1]),
            "train/explained_variance": explained_variance(buf.values.ravel(), buf.returns.ravel()),
            "train/n_updates": self._n_updates,
            "train/clip_range": clip,
            "train/learning_rate": self.optimizer.lr,
        }
        if clip_vf is not None:
            self._train_stats["train/clip_range_vf"] = clip_vf
        if not policy.discrete:
            self._train_stats["train/std"] = float(np.exp(policy.log_std).mean())
