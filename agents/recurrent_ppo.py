"""Recurrent PPO: PPO (Schulman et al. 2017, arXiv:1707.06347) with LSTM actor and critic, as
sb3-contrib's ``RecurrentPPO``, on nngym networks.

The rollout steps the LSTMs once per env step and stores, for every step, the LSTM states entering
it and whether an episode started there. Training cuts each env's column into sequences of
``seq_len`` steps, starts each from its stored state, resets the state where an episode started
(``nngym.LSTM``'s episode-start masks) and backpropagates through time inside the sequence. Before
the first update, these forward passes give back exactly the rollout's log-probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from agents.common.base import BaseAgent
from agents.common.callbacks import BaseCallback
from agents.common.normalize import RunningNormalizer
from agents.common.policies import backward_policy_loss
from agents.common.recurrent_buffer import RecurrentRolloutBuffer
from agents.common.recurrent_policy import DEFAULT_CNN_SPEC, PolicyState, RecurrentActorCriticPolicy
from agents.common.rollout import explained_variance
from agents.common.vec_env import final_observations
from agents.ppo import ppo_loss
from nngym.network import Sequential
from nngym.optim import Adam
from nngym.schedules import parse_schedule


@dataclass
class RecurrentPPOConfig:
    """Recurrent PPO hyperparameters (sb3-contrib's names and defaults where they exist)."""

    n_envs: int = 1
    """Number of parallel environments N."""
    vectorization: str = "sync"
    """"sync" (agents.common.vec_env.SyncVectorEnv), "gym-sync" or "async" (gymnasium.vector)."""
    n_steps: int = 128
    """Steps T per env per rollout; a rollout is T·N transitions."""
    seq_len: int | None = None
    """Length L of the training sequences (BPTT window); must divide n_steps; None: L = n_steps."""
    batch_size: int = 128
    """Transitions per minibatch: batch_size // seq_len sequences (at least one)."""
    n_epochs: int = 10
    """Passes over the rollout per update."""
    learning_rate: float | str = 3e-4
    """Adam step size: a number or "lin_<x>" (linear decay to 0)."""
    gamma: float = 0.99
    """Discount γ."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_range: float | str = 0.2
    """Clip ε of the probability ratio: a number or "lin_<x>"."""
    clip_range_vf: float | None = None
    """If set, clip the value prediction to old value ± this."""
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
    lstm_hidden_size: int = 256
    """H, units of each LSTM (sb3-contrib: 256)."""
    lstm_forget_bias: float = 1.0
    """Initial forget-gate bias of the LSTMs (long memories, e.g. a 100-cell T-maze, like larger values)."""
    encoder_arch: tuple[int, ...] = ()
    """Hidden sizes of the MLP before each LSTM; () feeds observations straight in (sb3-contrib's MlpLstmPolicy)."""
    net_arch: tuple[int, ...] = (64,)
    """Hidden sizes of the MLP after each LSTM."""
    activation: str = "tanh"
    """Hidden activation."""
    ortho_init: bool = True
    """SB3's orthogonal initialisation of the Dense layers."""
    cnn_spec: str = DEFAULT_CNN_SPEC
    """Encoder for image observations (``nngym.builders.cnn`` spec)."""
    log_std_init: float = 0.0
    """Initial log σ for Box actions."""
    normalize_obs: bool = False
    """Normalise observations by running mean and variance (SB3's ``VecNormalize(norm_obs=True)``)."""
    normalize_reward: bool = False
    """Scale rewards by the running std of the discounted return, clipped to ±10 (``VecNormalize(norm_reward=True)``;
    the zoo's ``normalize: true`` turns on both); episode statistics stay raw."""
    log_interval: int = 1
    """Dump logs every this many rollouts."""


class RecurrentPPO(BaseAgent):
    """PPO with an LSTM policy and an LSTM critic; ``predict`` carries the LSTM state like SB3's.

    Example:
        >>> agent = RecurrentPPO("nngym/CartPoleNoVel-v1", seed=0, n_envs=8, n_steps=32).learn(10_000)
        >>> obs, state, start = env.reset()[0], None, True
        >>> action, state = agent.predict(obs, state, episode_start=start)
    """

    algo = "RecurrentPPO"
    Config = RecurrentPPOConfig

    def _build(self) -> None:
        c = self.config
        self.policy = RecurrentActorCriticPolicy(
            self.observation_space, self.action_space, self.rng, c.lstm_hidden_size, c.encoder_arch, c.net_arch,
            c.activation, c.ortho_init, c.lstm_forget_bias, c.cnn_spec, c.log_std_init,
        )  # fmt: skip
        self.seq_len = c.seq_len or c.n_steps
        if self.seq_len < 1 or c.n_steps % self.seq_len:
            raise ValueError(f"seq_len must divide n_steps = {c.n_steps}, got {c.seq_len}")
        self.lr_schedule = parse_schedule(c.learning_rate)
        self.clip_schedule = parse_schedule(c.clip_range)
        self.optimizer = Adam(self.policy, lr=self.lr_schedule(1.0), eps=1e-5, max_grad_norm=c.max_grad_norm)
        discrete = self.policy.discrete
        obs_dtype = np.uint8 if self.observation_space.dtype == np.uint8 else np.float32
        self.buffer = RecurrentRolloutBuffer(
            c.n_steps, self.n_envs, self.observation_space.shape,
            () if discrete else self.action_space.shape, np.int64 if discrete else np.float32,
            c.lstm_hidden_size, obs_dtype,
        )  # fmt: skip
        self.obs_rms = RunningNormalizer(self.observation_space.shape) if c.normalize_obs else None
        self.ret_rms = RunningNormalizer(()) if c.normalize_reward else None
        self._returns = np.zeros(self.n_envs, np.float64)  # running discounted return per env, for ret_rms
        self._state: PolicyState | None = None  # LSTM states of the training envs between rollouts
        self._episode_starts = np.ones(self.n_envs, dtype=np.float32)

    def _nets(self) -> dict[str, Sequential]:
        return self.policy.nets()

    def _optimizer(self) -> Adam:
        return self.optimizer

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        extra = {"log_std": self.policy.log_std}
        if self.obs_rms is not None:
            extra["obs_rms"] = self.obs_rms.state()
        if self.ret_rms is not None:
            extra["ret_rms"] = self.ret_rms.state()
        return extra

    def _load_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.policy.log_std[...] = arrays["log_std"]
        if self.obs_rms is not None:
            self.obs_rms.load_state(arrays["obs_rms"])
        if self.ret_rms is not None:
            self.ret_rms.load_state(arrays["ret_rms"])

    def _normalize(self, obs: np.ndarray, update: bool = False) -> np.ndarray:
        """Observations as the networks see them (normalised if ``normalize_obs``; stats updated in rollouts)."""
        if self.obs_rms is None:
            return obs
        if update:
            self.obs_rms.update(obs)
        return self.obs_rms(obs)

    def _scale_rewards(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """r / sqrt(Var[R] + ε) clipped to ±10, R_t = γ R_{t−1} + r_t the running return (reset after a done).

        As SB3's VecNormalize: the statistics take R_t before the division, R is zeroed after it.
        Without ``normalize_reward`` the rewards come back unchanged.
        """
        if self.ret_rms is None:
            return rewards
        self._returns = self._returns * self.config.gamma + rewards
        self.ret_rms.update(self._returns)
        scaled = np.clip(rewards / np.sqrt(self.ret_rms.var + self.ret_rms.epsilon), -10.0, 10.0)
        self._returns[dones] = 0.0
        return scaled.astype(np.float32)

    # --- acting ---------------------------------------------------------------------------------
    def predict(
        self,
        obs: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None = None,
        episode_start: np.ndarray | bool | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Actions and the actor's next LSTM state, for one observation or a batch of N (SB3's convention).

        Args:
            obs: One observation (obs_shape) or a batch (N, *obs_shape).
            state: The actor's (h, c), each (N, H), returned by the previous call; None for zeros.
            episode_start: (N,) (or a bool for one observation); true resets the state first.
            deterministic: Most likely action instead of a sample.

        Returns:
            (action of shape () / (D,) or (N,) / (N, D), new state (h, c)).
        """
        obs = np.asarray(obs)
        shape = self.observation_space.shape
        single = obs.shape == shape
        batch = obs[None] if single else obs
        if batch.shape[1:] != shape:
            raise ValueError(f"{self.algo}.predict expected obs of shape {shape} or (N, *{shape}), got {obs.shape}")
        n = len(batch)
        H = self.policy.hidden_size
        if state is None:
            state = (np.zeros((n, H), np.float32), np.zeros((n, H), np.float32))
        starts = np.zeros(n, np.float32) if episode_start is None else np.asarray(episode_start, np.float32).reshape(n)
        dist, new_state = self.policy.act_step(self._normalize(batch), tuple(state), starts)
        actions = dist.mode() if deterministic else dist.sample(self.rng)
        if isinstance(self.action_space, gym.spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return (actions[0] if single else actions), new_state

    def _act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return self.predict(obs, None, None, deterministic)[0]

    # --- learning ---------------------------------------------------------------------------------
    def learn(self, total_timesteps: int, callback=None, progress_bar: bool = False, reset_num_timesteps: bool = True):
        """Alternates rollouts of T·N steps and updates until ``total_timesteps`` env steps. Returns self."""
        c = self.config
        if reset_num_timesteps or self._last_obs is None or self._state is None:
            self._state = self.policy.initial_state(self.n_envs)
            self._episode_starts = np.ones(self.n_envs, dtype=np.float32)
        cb = self._setup_learn(total_timesteps, callback, reset_num_timesteps, progress_bar)
        iteration = 0
        while self.num_timesteps < self._total_timesteps:
            # --- rollout ---
            if not self._collect_rollout(cb):
                break
            cb.on_rollout_end()
            iteration += 1
            # --- update ---
            self._update()
            if c.log_interval and iteration % c.log_interval == 0:
                self._dump_logs(iteration)
        self._finish_learn(cb)
        return self

    def _collect_rollout(self, callback: BaseCallback | None) -> bool:
        """T vector steps into the buffer, with the LSTM states entering each step; then GAE (arXiv:1506.02438).

        A truncated step's reward becomes r + γ V(final_obs), V from the critic's state after that step.
        """
        c, buf, policy, env = self.config, self.buffer, self.policy, self.env
        box = isinstance(self.action_space, gym.spaces.Box)
        obs, state, starts = self._last_obs, self._state, self._episode_starts
        for t in range(buf.n_steps):
            obs = self._normalize(obs, update=True)
            buf.obs[t] = obs
            buf.episode_starts[t] = starts
            for k in range(4):
                buf.states[k][t] = state[k]
            dist, values, state = policy.step(obs, state, starts)
            actions = dist.sample(self.rng)
            buf.actions[t] = actions
            buf.values[t] = values
            buf.log_probs[t] = dist.log_prob(actions)
            env_actions = np.clip(actions, self.action_space.low, self.action_space.high) if box else actions
            obs, rewards, terminated, truncated, infos = env.step(env_actions)
            self.num_timesteps += self.n_envs
            dones = terminated | truncated
            self._track_episodes(rewards, dones)
            buf.rewards[t] = self._scale_rewards(rewards, dones)
            buf.dones[t] = dones
            bootstrap = truncated & ~terminated
            if bootstrap.any():
                idx = np.flatnonzero(bootstrap)
                vf_state = (state[2][idx], state[3][idx])
                final = self._normalize(final_observations(infos, idx))
                buf.rewards[t, idx] += c.gamma * policy.values_step(final, vf_state, np.zeros(len(idx), np.float32))
            starts = dones.astype(np.float32)
            if callback is not None and not callback.on_step():
                self._last_obs, self._state, self._episode_starts = obs, state, starts
                return False
        self._last_obs, self._state, self._episode_starts = obs, state, starts
        last_values = policy.values_step(self._normalize(obs), state[2:], starts)
        buf.compute_returns_and_advantages(last_values, c.gamma, c.gae_lambda)
        return True

    def _update(self) -> None:
        c, buf, policy = self.config, self.buffer, self.policy
        progress = self.progress_remaining
        self.optimizer.lr = self.lr_schedule(progress)
        clip = self.clip_schedule(progress)
        seqs = buf.sequences(self.seq_len)
        n_seq = buf.n_envs * (buf.n_steps // self.seq_len)
        per_batch = max(1, c.batch_size // self.seq_len)
        pg_losses, v_losses, ent_losses, clip_fracs, kls = [], [], [], [], []
        continue_training = True
        for _epoch in range(c.n_epochs):
            perm = self.rng.permutation(n_seq)
            for start in range(0, n_seq, per_batch):
                mb = buf.batch(seqs, perm[start : start + per_batch])
                dist, values, _ = policy.forward(mb.obs, mb.state, mb.episode_starts, train=True)
                log_prob, entropy = dist.log_prob(mb.actions), dist.entropy()
                adv = mb.advantages
                if c.normalize_advantage and len(adv) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                terms, d_log_prob, d_entropy, d_values = ppo_loss(
                    log_prob, entropy, values, mb.old_log_prob, adv, mb.returns, mb.old_values,
                    clip, c.clip_range_vf, c.ent_coef, c.vf_coef,
                )  # fmt: skip
                pg_losses.append(terms["pg_loss"])
                v_losses.append(terms["v_loss"])
                ent_losses.append(terms["entropy_loss"])
                clip_fracs.append(terms["clip_frac"])
                kls.append(terms["approx_kl"])
                if c.target_kl is not None and terms["approx_kl"] > 1.5 * c.target_kl:
                    continue_training = False
                    break
                backward_policy_loss(policy, dist, mb.actions, d_log_prob, d_entropy, d_values)  # BPTT in each LSTM
                self.optimizer.step()
                self._n_updates += 1
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
        if not policy.discrete:
            self._train_stats["train/std"] = float(np.exp(policy.log_std).mean())
