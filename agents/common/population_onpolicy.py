"""The training loops of PPO and A2C populations: K members' rollouts and updates on stacked networks.

Each loop follows the single agent's (``agents.ppo.PPO._learn``, ``agents.a2c.A2C._learn``) step for step, for
all members at once: one stacked forward pass per vector step, each member's envs stepped with its actions,
each member's episode statistics and log files written by the member itself; GAE over the K·N env columns;
minibatches drawn by each member's generator; losses, advantage normalisation and gradient clipping per
member (``agents.common.ppo_loss.ppo_loss`` on (K, n) minibatches, a row a member).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from agents.common.buffers import RolloutBuffer
from agents.common.callbacks import STEP_LOCALS, BaseCallback
from agents.common.member_generators import MemberGenerators
from agents.common.policies import gaussian_grads, logits_grad
from agents.common.population_parts import MemberParts, Part, dump_member_logs
from agents.common.population_policies import StackedActorCritic
from agents.common.ppo_loss import ppo_loss
from agents.common.rollout import bootstrap_truncated, explained_variance
from agents.common.spaces import to_env_actions
from nngym.stacked import member_products
from nngym.stacked_optim import StackedOptimizer


def check_population_config(config: Any) -> None:
    """Refuses what a PPO / A2C population cannot train: PPO's ``target_kl``.

    Raises:
        ValueError: Naming it and what to do.
    """
    if getattr(config, "target_kl", None) is not None:
        raise ValueError(
            "a PPO population does not support target_kl (members would stop their epochs at different steps); "
            "train those seeds one by one"
        )


class OnPolicyPopulationEngine:
    """What PPO and A2C populations share: stacked policy and optimiser, the rollout, member bookkeeping.

    Args:
        members: The population's agents (one class and configuration).
    """

    def __init__(self, members: list[Any]) -> None:
        self.members = members
        m0 = members[0]
        c = m0.config
        check_population_config(c)
        self.K, self.N, self.T = len(members), m0.n_envs, c.n_steps
        self.policy = StackedActorCritic([m.policy for m in members])
        rule = copy.copy(m0.optimizer)  # the members' update rule and hyperparameters, on the stacked parameters
        rule.source, rule.state = self.policy, {}
        self.optimizer = StackedOptimizer(rule, self.K)
        for k, m in enumerate(members):
            self.optimizer.load_member_state_dict(k, m.optimizer.state_dict())
        self.rngs = MemberGenerators([m.rng for m in members])
        self.buffer = RolloutBuffer.for_spaces(
            self.T, self.K * self.N, m0.observation_space, m0.action_space, normalized=c.normalize_obs
        )
        self.set_parts(1)

    def set_parts(self, n: int) -> None:
        """Updates in ``n`` parts of the members, side by side on ``n`` threads (``population_parts``); 1: whole."""
        self.parts = MemberParts(self.members, self.optimizer, {"policy": self.policy}, n)

    def config_changed(self) -> None:
        """Takes a hyperparameter set on the members (``Population._set_hyperparameter``) into what the engine built
        from it: the stacked optimiser's gradient-norm clip (the loops read the rest from the Config, and member 0's
        schedules, when they use them)."""
        self.parts.set_rule("max_grad_norm", self.members[0].optimizer.max_grad_norm)

    def macs_per_member(self) -> int:
        """A member's multiply-adds per gradient step: minibatch rows x its products' sizes, forward and backward
        (``population_parts.part_count``)."""
        c = self.members[0].config
        rows = getattr(c, "batch_size", None) or self.T * self.N
        return 3 * rows * member_products(self.policy.actor, self.policy.critic)

    def sync_members(self) -> None:
        """Each member's optimiser state from the stacked optimiser (the parameters are shared views already)."""
        for k in range(self.K):
            self.sync_member(k)

    def sync_member(self, k: int) -> None:
        """Member k's optimiser state from the stacked optimiser."""
        self.members[k].optimizer.load_state_dict(self.optimizer.member_state_dict(k))

    def _cols(self, k: int) -> slice:
        return slice(k * self.N, (k + 1) * self.N)

    def collect_rollout(self, callback: BaseCallback) -> bool:
        """T vector steps of every member into the buffer (env columns k·N … (k+1)·N − 1 are member k's), then GAE.

        Returns:
            False if a callback asked to stop.
        """
        c, buf, K, N = self.members[0].config, self.buffer, self.K, self.N
        obs = np.stack([m._last_obs for m in self.members])  # (K, N, ...)
        action_shape = buf.actions.shape[2:]
        step: dict[str, list[Any]] = {key: [None] * K for key in STEP_LOCALS}  # the callbacks' locals, per member
        for t in range(self.T):
            dist, values = self.policy.forward(obs)
            actions = dist.sample(self.rngs)  # member k's generator draws its rows, as in its single run
            buf.obs[t] = obs.reshape(K * N, *obs.shape[2:])
            buf.actions[t] = actions
            buf.values[t] = values.reshape(-1)
            buf.log_probs[t] = dist.log_prob(actions)
            per_member = actions.reshape(K, N, *action_shape)
            obs = obs.copy()
            for k, m in enumerate(self.members):
                env_actions = to_env_actions(m.action_space, per_member[k])
                o, rewards, terminated, truncated, infos = m.env.step(env_actions)
                m.num_timesteps += N
                dones = terminated | truncated
                m._track_episodes(rewards, dones, infos)
                cols = self._cols(k)
                buf.rewards[t, cols] = rewards
                buf.dones[t, cols] = dones
                critic = m.policy.values  # member k's own critic (views of its stacked rows)
                bootstrap_truncated(
                    buf.rewards[t, cols], terminated, truncated, infos, c.gamma, lambda x, _, v=critic: v(x)
                )
                obs[k] = o
                for key, value in zip(STEP_LOCALS, (o, env_actions, rewards, dones, infos), strict=True):
                    step[key][k] = value
            callback.update_locals({key: list(values) for key, values in step.items()})
            if not callback.on_step():
                self._keep_obs(obs)
                return False
        self._keep_obs(obs)
        buf.compute_returns_and_advantages(self.policy.values(obs).reshape(-1), c.gamma, c.gae_lambda)
        return True

    def _keep_obs(self, obs: np.ndarray) -> None:
        for k, m in enumerate(self.members):
            m._last_obs = obs[k].copy()

    def _member_major(self, name: str) -> np.ndarray:
        """Buffer array ``name`` as (K, T·N, ...): member k's transitions in its single run's ``flat`` order."""
        a = getattr(self.buffer, name)
        a = a.reshape(self.T, self.K, self.N, *a.shape[2:]).swapaxes(0, 1)
        return a.reshape(self.K, self.T * self.N, *a.shape[3:])

    def _set_lr(self) -> float:
        m0 = self.members[0]
        lr = m0.lr_schedule(m0.progress_remaining)  # every member's progress is the same
        self.optimizer.lr = lr
        for m in self.members:
            m.optimizer.lr = lr
        return lr

    #: The keys of a member's ``train_stats`` in the order its single agent's update sets them, the order of its
    #: progress.csv columns.
    STAT_KEYS: tuple[str, ...] = ()

    def _member_stats(self, stats: dict[str, np.ndarray | float]) -> None:
        """Sets each member's ``_train_stats`` from per-member arrays (K,) (or values of all members) and its own
        explained variance and update count, in the single agent's order (``STAT_KEYS``).

        Raises:
            ValueError: For a key that ``STAT_KEYS`` does not list (the engine's update and its order disagree).
        """
        buf = self.buffer
        if not self.policy.discrete:  # as the single agents log it
            stats = {**stats, "train/std": np.exp(self.policy.log_std).mean(axis=1)}
        for k, m in enumerate(self.members):
            cols = self._cols(k)
            own = {key: (v[k].item() if isinstance(v, np.ndarray) else v) for key, v in stats.items()}
            own["train/explained_variance"] = explained_variance(
                buf.values[:, cols].ravel(), buf.returns[:, cols].ravel()
            )
            own["train/n_updates"] = m._n_updates
            unknown = sorted(set(own) - set(self.STAT_KEYS))
            if unknown:
                raise ValueError(f"{type(self).__name__}.STAT_KEYS does not list {unknown}")
            m._train_stats = {key: own[key] for key in self.STAT_KEYS if key in own}

    @staticmethod
    def _backward(
        policy: StackedActorCritic, dist: Any, actions: np.ndarray, d_log_prob: np.ndarray, d_entropy: float, d_values
    ) -> None:
        """``agents.common.policies.backward_policy_loss`` for the members of ``policy``: chain rule through the
        distribution."""
        K, n = d_log_prob.shape
        dtype = policy.actor.layers[0].dtype
        flat = d_log_prob.reshape(-1)
        if policy.discrete:
            d_out, d_log_std = logits_grad(dist, actions, flat, d_entropy), None
        else:  # Gaussian: the mean through the actor, log σ per member (its n rows)
            d_out, d_log_std = gaussian_grads(dist, actions, flat, d_entropy, groups=K)
            d_log_std = d_log_std.astype(dtype)
        policy.backward(d_out.reshape(K, n, -1).astype(dtype), d_values.astype(dtype), d_log_std)

    def learn(self, callback: BaseCallback) -> None:
        """Alternates rollouts and updates until the members' ``total_timesteps`` (the single agent's ``_learn``)."""
        m0, c = self.members[0], self.members[0].config
        iteration = 0
        while m0.num_timesteps < m0._total_timesteps:
            callback.on_rollout_start()
            if not self.collect_rollout(callback):
                break  # a callback stopped training: no rollout end, no update (SB3's order)
            callback.on_rollout_end()
            iteration += 1
            if c.log_interval and iteration % c.log_interval == 0:  # before the update, as the single agents' rows
                for m in self.members:
                    dump_member_logs(m, iteration)
            self.update()

    def update(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class PPOPopulationEngine(OnPolicyPopulationEngine):
    """PPO's update (``agents.ppo.PPO._update``) for every member at once."""

    STAT_KEYS = (
        "train/entropy_loss",
        "train/policy_gradient_loss",
        "train/value_loss",
        "train/approx_kl",
        "train/clip_fraction",
        "train/loss",
        "train/explained_variance",
        "train/n_updates",
        "train/clip_range",
        "train/learning_rate",
        "train/clip_range_vf",
        "train/std",
    )

    def update(self) -> None:
        c, m0 = self.members[0].config, self.members[0]
        progress = m0.progress_remaining
        lr = self._set_lr()
        clip = m0.clip_schedule(progress)
        clip_vf = m0._clip_range_vf(progress)
        names = ("obs", "actions", "log_probs", "advantages", "returns", "values")
        data = {name: self._member_major(name) for name in names}
        parts = self.parts.map(
            lambda part: self._update_part(part, {k: v[part.rows] for k, v in data.items()}, clip, clip_vf)
        )
        h = {key: np.concatenate([p[key] for p in parts], axis=1) for key in parts[0]}  # (steps, K)
        last = h["pg_loss"][-1] + c.ent_coef * h["entropy_loss"][-1] + c.vf_coef * h["v_loss"][-1]
        self._member_stats(
            {
                "train/entropy_loss": h["entropy_loss"].mean(axis=0),
                "train/policy_gradient_loss": h["pg_loss"].mean(axis=0),
                "train/value_loss": h["v_loss"].mean(axis=0),
                "train/approx_kl": h["approx_kl"][-len(h["approx_kl"]) // c.n_epochs :].mean(axis=0),  # last epoch
                "train/clip_fraction": h["clip_frac"].mean(axis=0),
                "train/loss": last,
                "train/clip_range": clip,
                "train/learning_rate": lr,
                **({"train/clip_range_vf": clip_vf} if clip_vf is not None else {}),
            }
        )

    def _update_part(
        self, part: Part, data: dict[str, np.ndarray], clip: float, clip_vf: float | None
    ) -> dict[str, np.ndarray]:
        """The epochs of minibatch steps of one part's members on their rows ``data`` (each (k, T·N, ...)), with
        clip ranges ε = ``clip`` and ε_vf = ``clip_vf``; returns each loss term per step, (steps, k)."""
        c, K, policy, optimizer = self.members[0].config, len(part.members), part.nets["policy"], part.optimizer
        obs, actions, old_log_prob = data["obs"], data["actions"], data["log_probs"]
        advantages, returns, old_values = data["advantages"], data["returns"], data["values"]
        n_total = obs.shape[1]
        rows = np.arange(K)[:, None]
        history: dict[str, list[np.ndarray]] = {
            k: [] for k in ("pg_loss", "v_loss", "entropy_loss", "clip_frac", "approx_kl")
        }
        for _epoch in range(c.n_epochs):
            perm = np.stack([m.rng.permutation(n_total) for m in part.members])  # each member's own order
            for start in range(0, n_total, c.batch_size):
                i = perm[:, start : start + c.batch_size]
                b = i.shape[1]
                mb_actions = actions[rows, i].reshape(K * b, *actions.shape[2:])
                dist, values = policy.forward(obs[rows, i], train=True)
                log_prob = dist.log_prob(mb_actions).reshape(K, b)
                entropy = dist.entropy().reshape(K, b)
                adv = advantages[rows, i]
                if c.normalize_advantage and b > 1:  # per member, over its own minibatch
                    adv = (adv - adv.mean(axis=1, keepdims=True)) / (adv.std(axis=1, keepdims=True) + 1e-8)
                terms, d_log_prob, d_entropy, d_values = ppo_loss(
                    log_prob,
                    entropy,
                    values,
                    old_log_prob[rows, i],
                    adv,
                    returns[rows, i],
                    old_values[rows, i],
                    clip=clip,
                    clip_range_vf=clip_vf,
                    ent_coef=c.ent_coef,
                    vf_coef=c.vf_coef,
                )
                for key, values_list in history.items():
                    values_list.append(terms[key])
                self._backward(policy, dist, mb_actions, d_log_prob, d_entropy, d_values)
                optimizer.step()
            for m in part.members:  # SB3's count: one per epoch
                m._n_updates += 1
        return {k: np.stack(v) for k, v in history.items()}


class A2CPopulationEngine(OnPolicyPopulationEngine):
    """A2C's update (``agents.a2c.A2C._update``) for every member at once: one gradient step per rollout."""

    STAT_KEYS = (
        "train/entropy_loss",
        "train/policy_loss",
        "train/value_loss",
        "train/explained_variance",
        "train/n_updates",
        "train/learning_rate",
        "train/std",
    )

    def update(self) -> None:
        lr = self._set_lr()
        data = {name: self._member_major(name) for name in ("obs", "actions", "returns", "advantages")}
        parts = self.parts.map(lambda part: self._update_part(part, {k: v[part.rows] for k, v in data.items()}))
        terms = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        self._member_stats({**terms, "train/learning_rate": lr})

    def _update_part(self, part: Part, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One gradient step of one part's members on their rows ``data`` (each (k, T·N, ...)); returns the loss
        terms, (k,) each."""
        c, K, policy = self.members[0].config, len(part.members), part.nets["policy"]
        obs, actions, returns, advantages = data["obs"], data["actions"], data["returns"], data["advantages"]
        n = obs.shape[1]
        if c.normalize_advantage:  # per member, over its own rollout
            advantages = (advantages - advantages.mean(axis=1, keepdims=True)) / (
                advantages.std(axis=1, keepdims=True) + 1e-8
            )
        flat_actions = actions.reshape(K * n, *actions.shape[2:])
        dist, values = policy.forward(obs, train=True)
        log_prob = dist.log_prob(flat_actions).reshape(K, n)
        entropy = dist.entropy().reshape(K, n)
        pg_loss = -(advantages * log_prob).mean(axis=1)
        v_loss = np.mean((returns - values) ** 2, axis=1)
        entropy_loss = -entropy.mean(axis=1)
        # loss = pg_loss + ent_coef * entropy_loss + vf_coef * v_loss, per member; its gradient by hand:
        d_values = c.vf_coef * 2.0 * (values - returns) / n
        self._backward(policy, dist, flat_actions, -advantages / n, -c.ent_coef / n, d_values)
        part.optimizer.step()
        for m in part.members:
            m._n_updates += 1
        return {"train/entropy_loss": entropy_loss, "train/policy_loss": pg_loss, "train/value_loss": v_loss}
