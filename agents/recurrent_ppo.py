"""Recurrent PPO: PPO (Schulman et al. 2017, arXiv:1707.06347) with LSTM actor and critic, as
sb3-contrib's ``RecurrentPPO``, on nngym networks.

The rollout steps the LSTMs once per env step and stores, for every step, the LSTM states entering
it and whether an episode started there. Training cuts each env's column into sequences of
``seq_len`` steps, starts each from its stored state, resets the state where an episode started
(``nngym.LSTM``'s episode-start masks) and backpropagates through time inside the sequence. Before
the first update, these forward passes give back exactly the rollout's log-probabilities. A minibatch
holds ``batch_size // seq_len`` sequences; by default ``seq_len`` is chosen so that the minibatches
hold sb3-contrib's numbers of transitions (``agents.common.recurrent_buffer.default_seq_len``).

``predict`` takes and returns the actor's LSTM state as sb3-contrib's does: (h, c), each of shape
(n_lstm_layers, n_envs, lstm_hidden_size) = (1, N, H).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from agents.common.callbacks import BaseCallback
from agents.common.distributions import Distribution
from agents.common.recurrent_buffer import (
    RecurrentRolloutBuffer,
    SequenceBatch,
    default_seq_len,
    minibatch_sizes,
    sb3_contrib_minibatch_sizes,
)
from agents.common.recurrent_policy import PolicyState, RecurrentActorCriticPolicy, default_recurrent_cnn_spec
from agents.common.rollout import bootstrap_truncated
from agents.common.spaces import encode_observations, to_env_actions
from agents.common.vec_env import caller_stacklevel
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
    """Length L of the training sequences (the BPTT window); must divide n_steps. None: the L that gives
    sb3-contrib's minibatches (``agents.common.recurrent_buffer.default_seq_len``): n_steps when batch_size >=
    n_steps, else the largest divisor of n_steps that is <= batch_size (n_steps 256, batch_size 128: L = 128).
    An explicit value is kept as given. Settable between learns (``agent.seq_len = 16``, None for the default),
    checked when set and kept in the model file."""
    batch_size: int = 128
    """Transitions per minibatch. A minibatch holds batch_size // seq_len whole sequences (at least one): when
    seq_len divides batch_size, batch_size transitions and ceil(n_steps · n_envs / batch_size) minibatches per
    epoch, as sb3-contrib's RecurrentPPO (which takes batch_size consecutive transitions of the rollout, cut into
    sequences at episode starts and at the slice's ends); otherwise (batch_size // seq_len) · seq_len transitions
    (seq_len when batch_size < seq_len), with a warning naming sb3-contrib's counts unless batch_size >= n_steps ·
    n_envs (one minibatch of the whole rollout for both)."""
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
    normalize_kwargs: dict[str, float] | None = None
    """VecNormalize's other settings for ``normalize_obs`` / ``normalize_reward``: ``clip_obs``, ``clip_reward``
    (SB3: 10), ``epsilon`` (1e-8) and ``gamma`` of the running return (the agent's ``gamma``); the zoo's ``normalize``
    dict string sets them (``agents.common.normalize.agent_normalizer``)."""
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
    #: PPO's settable hyperparameters and ``seq_len`` (the minibatches' sequences, read at every update).
    SETTABLE: ClassVar[frozenset[str]] = PPO.SETTABLE | {"seq_len"}

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

    def _file_rules(self) -> dict[str, Any]:
        """The model file says that its ``seq_len: null`` means ``default_seq_len`` (fitted to ``batch_size``), and
        the agents' rules (``BaseAgent._file_rules``)."""
        return {**super()._file_rules(), "seq_len_default": "fits_batch_size"}

    @classmethod
    def _config_from_file(cls, config: dict[str, Any], meta: dict[str, Any], overrides: dict[str, Any]) -> None:
        """A file without ``seq_len_default`` was written when ``seq_len: null`` meant ``n_steps``: it trains on with
        those sequences (an explicit ``seq_len``), whatever its ``batch_size``, unless ``seq_len`` is given."""
        if config.get("seq_len") is None and "seq_len" not in overrides and "seq_len_default" not in meta:
            config["seq_len"] = config.get("n_steps")

    def _default_net_arch(self, net: Any) -> tuple[int, ...]:
        """sb3-contrib's default heads after the LSTMs: (64, 64), none after a CNN (ActorCriticPolicy's after
        NatureCNN); kept in the model file."""
        return () if net == "cnn" else (64, 64)

    def _build(self) -> None:
        c = self.config
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
        self._check_seq_len(c.seq_len)
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
        self._warn_minibatches()

    # --- the training sequences -----------------------------------------------------------------------
    @property
    def seq_len(self) -> int:
        """L, the length of the training sequences: ``config.seq_len``, or when that is None the default for
        ``n_steps`` and ``batch_size`` (``agents.common.recurrent_buffer.default_seq_len``).

        Setting it (an int dividing ``n_steps``, or None for the default) changes the minibatches from the next
        update on and goes into ``config.seq_len``, so the model file keeps it.

        Raises:
            ValueError: When set to anything but None or an int >= 1 dividing ``n_steps``, naming both.
        """
        c = self.config
        return c.seq_len if c.seq_len is not None else default_seq_len(c.n_steps, c.batch_size)

    @seq_len.setter
    def seq_len(self, value: int | None) -> None:
        self._check_seq_len(value)
        self._set_hyperparameter("seq_len", value)

    def _check_seq_len(self, value: Any) -> None:
        """Raises ValueError for a whole number that is not a divisor of ``n_steps`` (None passes; other types are
        left to the Config's check, which names them)."""
        n_steps = self.config.n_steps
        numbers = int | float | np.integer | np.floating
        whole = isinstance(value, numbers) and not isinstance(value, bool) and float(value).is_integer()
        if whole and (value < 1 or n_steps % int(value)):
            divisors = [d for d in range(1, n_steps + 1) if n_steps % d == 0]
            shown = divisors if len(divisors) <= 16 else [*divisors[:8], "...", *divisors[-4:]]
            raise ValueError(
                f"{self.algo}: seq_len must divide n_steps = {n_steps} (one of {shown}), or be None for the "
                f"default ({default_seq_len(n_steps, self.config.batch_size)} with batch_size = "
                f"{self.config.batch_size}), got {value!r}"
            )

    def _warn_minibatches(self) -> None:
        """Warns when the minibatches of ``seq_len`` and ``batch_size`` hold other numbers of transitions than
        sb3-contrib's (``batch_size`` is then no multiple of ``seq_len``), naming both and how to get its."""
        c, L = self.config, self.seq_len
        ours = minibatch_sizes(c.n_steps, self.n_envs, L, c.batch_size)
        theirs = sb3_contrib_minibatch_sizes(c.n_steps, self.n_envs, c.batch_size)
        if ours == theirs:
            return
        per_batch = max(1, c.batch_size // L)
        given = (
            f"seq_len = {L}"
            if c.seq_len is not None
            else f"seq_len = {L} (the default for n_steps = {c.n_steps} and this batch_size)"
        )
        warnings.warn(
            f"{self.algo}: batch_size = {c.batch_size} is not a multiple of {given}: a minibatch holds "
            f"batch_size // seq_len = {per_batch} whole sequence{'s' * (per_batch > 1)} (at least one), "
            f"{per_batch * L} transitions, {len(ours)} minibatches per epoch of {c.n_steps} x {self.n_envs} "
            f"transitions, where sb3-contrib's RecurrentPPO takes {c.batch_size} transitions, {len(theirs)} "
            f"minibatches; seq_len = {math.gcd(c.n_steps, c.batch_size)} (dividing both n_steps and batch_size) "
            f"or a batch_size that is a multiple of {L} gives sb3-contrib's counts",
            stacklevel=caller_stacklevel(),  # the first line outside the agents package
        )

    def _hyperparameter_changed(self, name: str) -> None:
        super()._hyperparameter_changed(name)
        if name in ("batch_size", "seq_len"):
            self._warn_minibatches()

    # --- acting ---------------------------------------------------------------------------------
    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None = None,
        episode_start: np.ndarray | bool | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Actions and the actor's next LSTM state, for one observation or a batch of N (sb3-contrib's convention).

        As SB3's ``predict``, it samples from the policy unless ``deterministic=True`` (what the evaluators pass).
        The state is sb3-contrib's: (h, c), each of shape (n_lstm_layers, n_envs, lstm_hidden_size) = (1, N, H),
        env i's memory in ``h[:, i]`` and ``c[:, i]``; zeroing both resets it, as ``episode_start[i]`` does.

        Args:
            observation: One raw observation or a batch of N (see ``BaseAgent.predict``).
            state: The actor's (h, c), each (1, N, H), as the previous call returned it (or as sb3-contrib's
                ``predict`` returns it); each (N, H) is taken too. None for
                zeros. It is read, not changed.
            episode_start: (N,) (or a bool for one observation); true resets the state first.
            deterministic: Most likely action instead of a sample.

        Returns:
            (action of shape () / (D,) or (N,) / (N, D), new state (h, c), each (1, N, H), new arrays).

        Raises:
            ValueError: If ``observation``, ``state`` or ``episode_start`` has the wrong shape, naming the expected and
                actual shapes.
        """
        what = f"{self.algo}.predict"
        batch, single = encode_observations(self.observation_space, observation, what)
        n = len(batch)
        if state is not None:
            state = self._state_arrays(state, n, what)
        if episode_start is not None:
            starts = np.asarray(episode_start)
            if starts.dtype.kind not in "biuf" or starts.shape not in ({(n,), ()} if n == 1 else {(n,)}):
                got = (
                    starts.shape if starts.dtype.kind in "biuf" else f"{type(episode_start).__name__} {episode_start!r}"
                )
                raise ValueError(f"{what} expected episode_start of shape {(n,)}{' or a bool' * (n == 1)}, got {got}")
        actions, (h, c) = self._act_step(self._normalize_obs(batch), state, episode_start, deterministic)
        return (actions[0] if single else actions), (h[None], c[None])

    def _state_arrays(self, state: Any, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
        """``predict``'s state (h, c), each (1, n, H) (sb3-contrib's layout) or (n, H) (nngym's earlier one), as the
        (n, H) arrays the policy steps from.

        Raises:
            ValueError: For anything else, naming sb3-contrib's layout and the shapes given.
        """
        H = self.policy.hidden_size
        shapes = [np.shape(s) for s in state] if isinstance(state, tuple | list) else None
        if shapes is not None and len(shapes) == 2 and shapes[0] == shapes[1] and shapes[0] in ((1, n, H), (n, H)):
            return np.reshape(state[0], (n, H)), np.reshape(state[1], (n, H))
        got = f"shapes {shapes}" if shapes is not None else type(state).__name__
        raise ValueError(
            f"{what} expected state as (h, c), each of shape {(1, n, H)}: sb3-contrib's (n_lstm_layers, n_envs, "
            f"lstm_hidden_size), as the previous call returned it ({(n, H)} is taken too), got {got}"
        )

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
        """One epoch: the rollout cut into sequences of ``seq_len`` steps, ``batch_size // seq_len`` at a time (at
        least one), in a random order."""
        L = self.seq_len
        seqs = self.buffer.sequences(L)
        n_seq = self.buffer.n_envs * (self.buffer.n_steps // L)
        per_batch = max(1, self.config.batch_size // L)
        perm = self.rng.permutation(n_seq)
        for start in range(0, n_seq, per_batch):
            yield self.buffer.batch(seqs, perm[start : start + per_batch])

    def _evaluate_actions(self, mb: SequenceBatch) -> tuple[Distribution, np.ndarray]:
        """π and V over the minibatch's sequences from their stored states (episode starts reset them)."""
        dist, values, _ = self.policy.forward(mb.obs, mb.state, mb.episode_starts, train=True)
        return dist, values
