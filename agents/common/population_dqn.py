"""The training loop of a DQN population: K members acting, storing and learning on stacked Q-networks.

It follows ``agents.dqn.DQN._learn`` step for step for all members at once: one stacked forward pass picks every
member's greedy actions, each member's generator draws its ε-greedy choices and replay samples, each member's
replay buffer, normaliser, ε and episode statistics are its own; the gradient steps run on the stacked
Q-network with each member's Huber TD loss and gradient norm.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from agents.common.buffers import replay_chunk_steps
from agents.common.callbacks import STEP_LOCALS, BaseCallback
from agents.common.member_generators import MemberGenerators
from agents.common.polyak import polyak_update
from agents.common.population_parts import MemberParts, Part, dump_member_logs
from agents.common.population_policies import StackedQNetwork
from agents.common.spaces import to_env_actions
from agents.common.vec_env import true_next_observations
from nngym.stacked import StackedDense, member_products
from nngym.stacked_optim import StackedOptimizer


class DQNPopulationEngine:
    """Stacked online and target Q-networks, the stacked optimiser and the loop of K DQN members.

    Args:
        members: The population's DQN agents (one configuration).
    """

    def __init__(self, members: list[Any]) -> None:
        self.members = members
        m0 = members[0]
        self.K, self.N = len(members), m0.n_envs
        self.q_net = StackedQNetwork([m.q_net for m in members])
        self.q_target = StackedQNetwork([m.q_target for m in members])
        rule = copy.copy(m0.optimizer)
        rule.source, rule.state = self.q_net, {}
        self.optimizer = StackedOptimizer(rule, self.K)
        for k, m in enumerate(members):
            self.optimizer.load_member_state_dict(k, m.optimizer.state_dict())
        self.rngs = MemberGenerators([m.rng for m in members])
        self.set_parts(1)

    def set_parts(self, n: int) -> None:
        """Gradient steps in ``n`` parts of the members, side by side on ``n`` threads (``population_parts``)."""
        self.parts = MemberParts(self.members, self.optimizer, {"q_net": self.q_net, "q_target": self.q_target}, n)

    def config_changed(self) -> None:
        """Takes a hyperparameter set on the members (``Population._set_hyperparameter``) into what the engine built
        from it: the stacked optimiser's gradient-norm clip (the loop reads the rest from the Config, member 0's step
        size schedule and each member's ε when it uses them)."""
        self.parts.set_rule("max_grad_norm", self.members[0].optimizer.max_grad_norm)

    def macs_per_member(self) -> int:
        """A member's multiply-adds per gradient step: minibatch rows x its products' sizes, forward, backward and the
        passes on s' (target, and online for Double DQN) (``population_parts.part_count``)."""
        c = self.members[0].config
        return (5 if c.double_q else 4) * c.batch_size * member_products(self.q_net.q)

    def _width(self) -> int:
        return max(layer.n_out for layer in self.q_net.q.layers if isinstance(layer, StackedDense))

    def sync_members(self) -> None:
        """Each member's optimiser state from the stacked optimiser (the parameters are shared views already)."""
        for k in range(self.K):
            self.sync_member(k)

    def sync_member(self, k: int) -> None:
        """Member k's optimiser state from the stacked optimiser."""
        self.members[k].optimizer.load_state_dict(self.optimizer.member_state_dict(k))

    def _update_target(self) -> None:
        """θ' ← τθ + (1 − τ)θ' for every member (a copy for τ = 1), on the stacked arrays."""
        polyak_update(self.q_net, self.q_target, self.members[0].config.tau)

    def learn(self, callback: BaseCallback) -> None:
        """Acts ε-greedily, stores transitions, trains every ``train_freq`` steps, for all members."""
        members, K, N = self.members, self.K, self.N
        m0, c = members[0], members[0].config
        n_act = m0.action_space.n
        n_target = max(c.target_update_interval // N, 1)
        for m in members:  # ε at the progress where this run starts, as DQN._learn sets it
            m.exploration_rate = m._epsilon()
            if m.normalizer is not None:
                m.normalizer.old_obs = m._last_obs  # SB3's get_original_obs: the observations before normalisation
        obs = np.stack([m._last_obs for m in members])  # (K, N, ...)
        step: dict[str, list[Any]] = {key: [None] * K for key in STEP_LOCALS}  # the callbacks' locals, per member
        in_rollout, stopped = False, False
        while m0.num_timesteps < m0._total_timesteps:
            # --- rollout --- (a callback's: the steps up to a training call, as DQN._learn)
            if not in_rollout:
                callback.on_rollout_start()
                in_rollout = True
            seen = np.stack([m._observe(obs[k]) for k, m in enumerate(members)])
            if m0.num_timesteps < c.learning_starts:
                actions = self.rngs.integers(0, n_act, K * N).reshape(K, N)
            else:  # DQN._act for every member: greedy from the stacked net, ε-greedy draws from each generator
                greedy = self.q_net.forward(seen).argmax(axis=2)
                explore = self.rngs.random(K * N).reshape(K, N) < m0.exploration_rate
                actions = np.where(explore, self.rngs.integers(0, n_act, K * N).reshape(K, N), greedy)
            next_all = obs.copy()
            episodes_before = [m._episode_num for m in members]
            for k, m in enumerate(members):
                env_actions = to_env_actions(m.action_space, actions[k])
                next_obs, rewards, terminated, truncated, infos = m.env.step(env_actions)
                m.num_timesteps += N
                m._n_calls += 1
                dones = terminated | truncated
                real_next = true_next_observations(next_obs, dones, infos)
                m.replay_buffer.add(obs[k], real_next, actions[k], rewards, terminated, dones)
                if m.normalizer is not None:
                    m.normalizer.scale_rewards(rewards, dones)  # advances the running returns' statistics
                    m.normalizer.old_obs, m.normalizer.old_reward = next_obs, rewards  # SB3's get_original_obs
                episodes_before[k] = m._episode_num
                m._track_episodes(rewards, dones, infos)
                next_all[k] = next_obs
                m.exploration_rate = m._epsilon()
                for key, value in zip(STEP_LOCALS, (next_obs, env_actions, rewards, dones, infos), strict=True):
                    step[key][k] = value
            obs = next_all
            if m0._n_calls % n_target == 0:
                self._update_target()
            callback.update_locals({key: list(values) for key, values in step.items()})
            if not callback.on_step():
                stopped = True
                break
            # --- update ---
            if m0._n_calls % c.train_freq == 0:
                callback.on_rollout_end()
                in_rollout = False
                if m0.num_timesteps > c.learning_starts:
                    self.train(c.gradient_steps if c.gradient_steps >= 0 else c.train_freq * N)
            if c.log_interval:  # DQN._learn's rows: when a member's episode count reaches a multiple of log_interval
                for k, m in enumerate(members):
                    if m._episode_num // c.log_interval > episodes_before[k] // c.log_interval:
                        dump_member_logs(m)
        for k, m in enumerate(members):
            m._last_obs = obs[k].copy()
        if in_rollout and not stopped:  # total_timesteps came before the next training call
            callback.on_rollout_end()

    def _sample(self, members: list[Any], n: int) -> tuple[np.ndarray, ...]:
        """``n`` replay samples per member from its own buffer and generator (``DQN._sample_replay``), stacked
        (k, n, ...); the discount is γ (a float) for 1-step targets, else γ^m per sample (k, n)."""
        parts = [m._sample_replay(n) for m in members]
        obs, actions, rewards, next_obs, terminated, discount = (np.stack(x) for x in zip(*parts, strict=True))
        if members[0].config.n_steps == 1:
            discount = members[0].config.gamma  # a Python float, as the single agent's 1-step target
        return obs, actions, rewards, next_obs, terminated, discount

    def train(self, gradient_steps: int) -> None:
        """``gradient_steps`` Huber TD steps of every member (``agents.dqn.DQN._train``), in parts side by side."""
        members, m0 = self.members, self.members[0]
        lr = m0.lr_schedule(m0.progress_remaining)
        self.optimizer.lr = lr
        for m in members:
            m.optimizer.lr = lr
        loss = np.concatenate(self.parts.map(lambda part: self._train_part(part, gradient_steps)))
        for k, m in enumerate(members):
            m._n_updates += gradient_steps
            m._train_stats = {
                "train/loss": float(loss[k]),
                "train/n_updates": m._n_updates,
                "train/learning_rate": lr,
            }

    def _train_part(self, part: Part, gradient_steps: int) -> np.ndarray:
        """One part's gradient steps (the minibatches of a chunk of steps sampled together, their targets from one
        stacked forward pass of the fixed target network); returns each member's mean loss, (k,)."""
        members, m0 = part.members, part.members[0]
        q_net, q_target, optimizer = part.nets["q_net"], part.nets["q_target"], part.optimizer
        c = m0.config
        kappa, B = m0.cost.kappa, c.batch_size
        losses = []
        # a chunk holds K·g·B samples: the budget of one agent's g·B is shared by the K members
        for g in replay_chunk_steps(gradient_steps, self.K * B, m0.replay_buffer.obs[0], self._width()):
            obs_g, actions_g, rewards_g, next_obs_g, terminated_g, discount_g = self._sample(members, g * B)
            q_next_g = q_target.forward(next_obs_g)  # (k, g·B, A)
            q_next_max_g = None if c.double_q else q_next_g.max(axis=2)
            for j in range(g):
                batch = slice(j * B, (j + 1) * B)
                if c.double_q:
                    pick = q_net.forward(next_obs_g[:, batch]).argmax(axis=2)[..., None]
                    q_next_max = np.take_along_axis(q_next_g[:, batch], pick, axis=2)[..., 0]
                else:
                    q_next_max = q_next_max_g[:, batch]
                discount = discount_g if c.n_steps == 1 else discount_g[:, batch]
                y = rewards_g[:, batch] + (1.0 - terminated_g[:, batch]) * discount * q_next_max  # TD target
                actions = actions_g[:, batch]
                q = q_net.forward(obs_g[:, batch], train=True)
                q_a = np.take_along_axis(q, actions[..., None], axis=2)[..., 0]  # (k, B)
                r = np.abs(q_a - y)
                losses.append(np.where(r <= kappa, 0.5 * r * r, kappa * (r - 0.5 * kappa)).mean(axis=1))
                d_q = np.zeros_like(q)
                # HuberCost.delta per member: clip(Q(s, a) − y, ±κ) / B, only the taken action's Q gets a gradient
                np.put_along_axis(d_q, actions[..., None], (np.clip(q_a - y, -kappa, kappa) / B)[..., None], axis=2)
                q_net.q.backward(d_q)
                optimizer.step()
        return np.mean(losses, axis=0)
