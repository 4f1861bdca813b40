"""Recurrent PPO: PPO (Schulman et al. 2017, arXiv:1707.06347) with LSTM actor and critic, as
sb3-contrib's ``RecurrentPPO``, on nngym networks.

The rollout steps the LSTMs once per env step and stores, for every step, the LSTM states entering
it and whether an episode started there. Training cuts each env's column into sequences of
``seq_len`` steps, starts each from its stored state, resets the state where an episode started
(``nngym.LSTM``'s episode-start masks) and backpropagates through time inside the sequence. Before
the first update, these forward passes give back exactly the rollout's log-probabilities.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from agents.common.callbacks import BaseCallback
from agents.common.distributions import Distribution
from agents.common.recurrent_buffer import RecurrentRolloutBuffer, SequenceBatch
from agents.common.recurrent_policy import PolicyState, RecurrentActorCriticPolicy, default_recurrent_cnn_spec
from agents.common.rollout import bootstrap_truncated
from agents.common.spaces import encode_observations, to_env_actions
from agents.ppo import PPO
from nngym.optim import Adam
from nngym.schedules import Schedule


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
    learning_rate: float | str | Schedule = 3e-4
    """Adam step size: a number, "lin_<x>" (linear decay to 0) or a callable of the progress remaining (SB3's)."""
    gamma: float = 0.99
    """Discount γ."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_range: float | str | Schedule = 0.2
    """Clip ε of the probability ratio: a number, "lin_<x>" or a callable of the progress remaining."""
    clip_range_vf: float | Schedule | None = None
    """If set, clip the value prediction to old value ± this: a number or a callable of the progress remaining."""
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
    net_arch: tuple[int, ...] | dict[str, tuple[int, ...]] | None = None
    """Hidden sizes of the MLP after each LSTM, the same for actor and critic, or SB3's ``dict(pi=[...], vf=[...])``
    for different ones; None: sb3-contrib's default, (64, 64) after the observations or an MLP encoder
    (``MlpLstmPolicy``, ``MultiInputLstmPolicy``), () after a CNN encoder (``CnnLstmPolicy``: the heads on the LSTM)."""
    activation: str = "tanh"
    """Hidden activation."""
    ortho_init: bool = True
    """SB3's orthogonal initialisation of the Dense layers."""
    cnn_spec: str | None = None
    """Encoder for image observations (``nngym.builders.cnn`` spec); None: ``default_recurrent_cnn_spec`` of the
    images' size."""
    log_std_init: float = 0.0
    """Initial log σ for Box actions."""
    normalize_obs: bool = False
    """Normalise observations by running mean and variance (SB3's ``VecNormalize(norm_obs=True)``)."""
    normalize_reward: bool = False
    """Scale rewards by the running std of the discounted return, clipped to ±10 (``VecNormalize(norm_reward=True)``;
    the zoo's ``normalize: true`` turns on both); episode statistics stay raw."""
    log_interval: int = 1
    """Dump logs every this many rollouts."""


class RecurrentPPO(PPO):
    """PPO with an LSTM policy and an LSTM critic; ``predict`` carries the LSTM state like SB3's.

    PPO's loop and update (``agents.ppo``) with a recurrent rollout (``_collect_rollout``) and
    minibatches of whole sequences (``_minibatches``, ``_evaluate_actions``).

    Example:
        >>> agent = RecurrentPPO("nngym/CartPoleNoVel-v1", seed=0, n_envs=8, n_steps=32).learn(10_000)
        >>> obs, state, start = env.reset()[0], None, True
        >>> action, state = agent.predict(obs, state, episode_start=start, deterministic=True)
    """

    algo = "RecurrentPPO"
    Config = RecurrentPPOConfig
    #: Its encoder before each LSTM is an MLP or a CNN, not a CNN per image part of a Dict / Tuple.
    combined_images = False
    #: The ``net`` values accepted, chosen as for the other agents (and sb3-contrib's ``MlpLstmPolicy`` /
    #: ``CnnLstmPolicy``): "mlp" flattens the observations (uint8 images scaled to [0, 1]) for an MLP encoder of
    #: ``encoder_arch`` (or straight into the LSTMs); "cnn" puts a CNN of ``cnn_spec`` before each LSTM, for images.
    nets: ClassVar[tuple[str, ...]] = ("mlp", "cnn", "multi_input")  # multi_input: SB3's MultiInputLstmPolicy

    def __init__(
        self, env: str | gym.Env | gym.vector.VectorEnv | None, net: str = "mlp", *args: Any, **kwargs: Any
    ) -> None:
        """See ``BaseAgent``; ``net`` must be one of ``nets`` (checked before anything is built or pretrained).

        Raises:
            ValueError: Naming the ``net`` given and the ones accepted.
        """
        if not (isinstance(net, str) and net in self.nets):
            got = repr(net) if isinstance(net, str | list) else f"a {type(net).__name__}"
            raise ValueError(
                f"{self.algo}: net must be one of {list(self.nets)}, got {got}; the encoder, LSTM and heads are "
                "set by encoder_arch, lstm_hidden_size, net_arch and cnn_spec"
            )
        super().__init__(env, net, *args, **kwargs)

    def _build(self) -> None:
        c = self.config
        if c.net_arch is None:  # sb3-contrib's default (ActorCriticPolicy's: none after NatureCNN), kept in the file
            c.net_arch = () if self.net == "cnn" else (64, 64)
        self.policy = RecurrentActorCriticPolicy(
            self.observation_space,  # the policy takes its encoding (agents.common.spaces)
            self.action_space,
            self.rng,
            lstm_hidden_size=c.lstm_hidden_size,
            encoder_arch=c.encoder_arch,
            net_arch=c.net_arch,
            activation=c.activation,
            ortho_init=c.ortho_init,
            lstm_forget_bias=c.lstm_forget_bias,
            cnn_spec=c.cnn_spec or default_recurrent_cnn_spec(self.observation_space),
            log_std_init=c.log_std_init,
            net=self.net,
        )
        self.seq_len = c.seq_len or c.n_steps
        if self.seq_len < 1 or c.n_steps % self.seq_len:
            raise ValueError(f"seq_len must divide n_steps = {c.n_steps}, got {c.seq_len}")
        self._build_schedules()
        self.optimizer = Adam(self.policy, lr=self.lr_schedule(1.0), eps=1e-5, max_grad_norm=c.max_grad_norm)
        self.buffer = RecurrentRolloutBuffer.for_spaces(
            c.n_steps,
            self.n_envs,
            self.observation_space,
            self.action_space,
            normalized=c.normalize_obs,
            hidden_size=c.lstm_hidden_size,
        )
        self._state: PolicyState | None = None  # LSTM states of the training envs between rollouts
        self._episode_starts = np.ones(self.n_envs, dtype=np.float32)

    # --- acting ---------------------------------------------------------------------------------
    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None = None,
        episode_start: np.ndarray | bool | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Actions and the actor's next LSTM state, for one observation or a batch of N (SB3's convention).

        As SB3's ``predict``, it samples from the policy unless ``deterministic=True`` (what the evaluators pass).

        Args:
            observation: One raw observation or a batch of N (see ``BaseAgent.predict``).
            state: The actor's (h, c), each (N, H), returned by the previous call; None for zeros.
            episode_start: (N,) (or a bool for one observation); true resets the state first.
            deterministic: Most likely action instead of a sample.

        Returns:
            (action of shape () / (D,) or (N,) / (N, D), new state (h, c)).

        Raises:
            ValueError: If ``observation``, ``state`` or ``episode_start`` has the wrong shape, naming the expected and
                actual shapes.
        """
        what = f"{self.algo}.predict"
        batch, single = encode_observations(self.observation_space, observation, what)
        n, H = len(batch), self.policy.hidden_size
        if state is not None:
            shapes = [np.shape(s) for s in state] if isinstance(state, tuple | list) else None
            if shapes is None or len(shapes) != 2 or any(shape != (n, H) for shape in shapes):
                got = f"shapes {shapes}" if shapes is not None else type(state).__name__
                raise ValueError(f"{what} expected state as (h, c), each of shape {(n, H)}, got {got}")
        if episode_start is not None:
            starts = np.asarray(episode_start)
            if starts.dtype.kind not in "biuf" or starts.shape not in ({(n,), ()} if n == 1 else {(n,)}):
                got = (
                    starts.shape if starts.dtype.kind in "biuf" else f"{type(episode_start).__name__} {episode_start!r}"
                )
                raise ValueError(f"{what} expected episode_start of shape {(n,)}{' or a bool' * (n == 1)}, got {got}")
        actions, new_state = self._act_step(self._normalize_obs(batch), state, episode_start, deterministic)
        return (actions[0] if single else actions), new_state

    def _act_step(
        self,
        obs: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None,
        episode_start: np.ndarray | bool | None,
        deterministic: bool,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """(env actions (N, ...), new state) for observations (N, *encoded shape) as the networks see them."""
        n = len(obs)
        H = self.policy.hidden_size
        if state is None:
            state = (np.zeros((n, H), np.float32), np.zeros((n, H), np.float32))
        starts = np.zeros(n, np.float32) if episode_start is None else np.asarray(episode_start, np.float32).reshape(n)
        dist, new_state = self.policy.act_step(obs, tuple(state), starts)
        actions = dist.mode() if deterministic else dist.sample(self.rng)
        return to_env_actions(self.action_space, actions), new_state

    def _act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return self._act_step(obs, None, None, deterministic)[0]

    def _on_env_reset(self) -> None:
        """The LSTM states belong to the episodes before the env's reset: ``_learn`` starts from zeros."""
        self._state = None

    # --- learning ---------------------------------------------------------------------------------
    def _learn(self, callback: BaseCallback, reset_num_timesteps: bool) -> None:
        if reset_num_timesteps or self._state is None:  # a fresh start: zero LSTM states, every env starting
            self._state = self.policy.initial_state(self.n_envs)
            self._episode_starts = np.ones(self.n_envs, dtype=np.float32)
        super()._learn(callback, reset_num_timesteps)

    def _collect_rollout(self, callback: BaseCallback | None) -> bool:
        """T vector steps into the buffer, with the LSTM states entering each step; then GAE (arXiv:1506.02438).

        A truncated step's reward becomes r + γ V(final_obs), V from the critic's state after that step.
        """
        c, buf, policy, env = self.config, self.buffer, self.policy, self.env
        obs, state, starts = self._last_obs, self._state, self._episode_starts

        def final_values(final_obs: np.ndarray, idx: np.ndarray) -> np.ndarray:
            vf_state = (state[2][idx], state[3][idx])
            return policy.values_step(final_obs, vf_state, np.zeros(len(idx), np.float32))

        for t in range(buf.n_steps):
            buf.obs[t] = obs
            buf.episode_starts[t] = starts
            for k in range(4):
                buf.states[k][t] = state[k]
            dist, values, state = policy.step(obs, state, starts)
            actions = dist.sample(self.rng)
            buf.actions[t] = actions
            buf.values[t] = values
            buf.log_probs[t] = dist.log_prob(actions)
            env_actions = to_env_actions(self.action_space, actions)
            obs, rewards, terminated, truncated, infos = env.step(env_actions)
            self.num_timesteps += self.n_envs
            dones = terminated | truncated
            self._track_episodes(rewards, dones, infos)
            buf.rewards[t] = rewards  # scaled by the env's NormalizedVecEnv under normalize_reward
            buf.dones[t] = dones
            bootstrap_truncated(buf.rewards[t], terminated, truncated, infos, c.gamma, final_values)
            starts = dones.astype(np.float32)
            if callback is not None:
                callback.update_locals(
                    {"new_obs": obs, "actions": env_actions, "rewards": rewards, "dones": dones, "infos": infos}
                )
                if not callback.on_step():
                    self._last_obs, self._state, self._episode_starts = obs, state, starts
                    return False
        self._last_obs, self._state, self._episode_starts = obs, state, starts
        last_values = policy.values_step(obs, state[2:], starts)
        buf.compute_returns_and_advantages(last_values, c.gamma, c.gae_lambda)
        return True

    def _minibatches(self) -> Iterator[SequenceBatch]:
        """One epoch: the rollout cut into sequences of ``seq_len`` steps, ``batch_size // seq_len`` at a time."""
        seqs = self.buffer.sequences(self.seq_len)
        n_seq = self.buffer.n_envs * (self.buffer.n_steps // self.seq_len)
        per_batch = max(1, self.config.batch_size // self.seq_len)
        perm = self.rng.permutation(n_seq)
        for start in range(0, n_seq, per_batch):
            yield self.buffer.batch(seqs, perm[start : start + per_batch])

    def _evaluate_actions(self, mb: SequenceBatch) -> tuple[Distribution, np.ndarray]:
        """π and V over the minibatch's sequences from their stored states (episode starts reset them)."""
        dist, values, _ = self.policy.forward(mb.obs, mb.state, mb.episode_starts, train=True)
        return dist, values
