"""The one base class every agent shares: seeding, vector-env construction, episode
statistics and logging, callback hooks, and safe save/load (npz + JSON, never pickle)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import gymnasium as gym
import numpy as np
from threadpoolctl import threadpool_limits
from typing_extensions import Self

from agents.common.callbacks import (
    BaseCallback,
    CallbackList,
    MaybeCallback,
    ProgressBarCallback,
    as_callback,
    start_training,
    training_locals,
)
from agents.common.cnn import ImageScale, image_input_mismatch, is_image_space
from agents.common.config import (
    CALLABLE_FIELDS,
    CONFIG_LOG_INTERVAL,
    canonical_config,
    check_config,
    check_seed,
    check_total_timesteps,
    config_outside_call,
    log_interval_for_call,
    restore_schedules,
    schedule_marker,
)
from agents.common.dbn_policy import pretrain_dbn_trunk
from agents.common.logger import Logger, MonitorWriter, log_rows, tensorboard_run_dir, trim_progress
from agents.common.normalize import NormalizedVecEnv, Normalizer, agent_normalizer
from agents.common.policies import ActorCriticPolicy, check_spaces, cnn_defaults_of_older_files, has_own_trunk
from agents.common.sb3_args import check_device, check_save_arguments, sb3_arguments
from agents.common.spaces import (
    ACTION_SPACES,
    TransposedImages,
    channels_first,
    encode_observations,
    encode_vec_env,
    encoded_space,
    image_parts,
    to_env_actions,
)
from agents.common.vec_env import check_vector_infos, make_vec_env, sb3_monitor
from nngym.conv import Conv2D
from nngym.memory import keep_freed_memory
from nngym.network import Sequential
from nngym.optim import gather_params
from nngym.parallel import available_cores, split_batches, splittable
from nngym.schedules import CallableSchedule, Schedule, parse_schedule
from nngym.serialization import ModelFileError, load_npz, save_npz
from nngym.version import __version__


class _AgentMeta(type):
    """Makes every agent class take SB3's constructor form too: ``PPO("MlpPolicy", env, policy_kwargs=...)`` is
    ``PPO(env, net="mlp", ...)`` (``agents.common.sb3_args``)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = sb3_arguments(cls.algo, args, kwargs)
        return super().__call__(*args, **kwargs)


class BaseAgent(metaclass=_AgentMeta):
    """Shared plumbing; subclasses define ``Config``, ``_build`` (networks, optimiser), ``learn``, ``_act``.

    SB3's form is taken too: ``PPO("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64]), device="cpu")``
    (``agents.common.sb3_args``: the policy name sets ``net``, ``policy_kwargs`` its shape).

    Args:
        env: An env id (``n_envs`` envs are made), a ``gymnasium.Env`` (one env, whatever the Config's default
            ``n_envs``; an ``n_envs`` other than 1 given with it is refused) or a SAME_STEP vector env (its size sets
            ``n_envs``); ``None`` only when loading without an env (``predict`` still works).
        net: "mlp", "cnn", "dbn" (pretrained here on the env, ``agents.common.dbn_policy``) or a custom nngym network:
            a spec, a ``Sequential`` trunk or a dict of networks (see ``agents.common.policies``); "multi_input"
            (SB3's ``MultiInputPolicy``) is "cnn" for Dict / Tuple observations with image parts, else "mlp".
        seed: Seeds the agent's generator (weights, sampling, minibatches) and the envs (seed + i). A list of seeds
            makes a population of one agent per seed trained together (``agents.common.population``).
        log_dir: Where ``monitor.csv`` and ``progress.csv`` go (``None``: no files).
        verbose: 1 prints the SB3-style table at each log interval.
        tensorboard_log: Directory for TensorBoard event files (SB3's argument): each ``learn`` call writes the
            keys of progress.csv at the same steps to a run directory ``<tensorboard_log>/<ALGO>_<n>``
            (``agents.common.logger.tensorboard_run_dir``); needs ``pip install -e ".[tensorboard]"``.
        stats_window_size: Episodes ``rollout/ep_rew_mean`` and ``rollout/ep_len_mean`` average over (SB3's
            argument; kept in the model file).
        dbn_kwargs: With ``net="dbn"``: fields of ``agents.common.dbn_policy.DBNPretrainConfig`` (pretraining
            observations, RBM sizes, CD-k, epochs); the DBN is pretrained on the env here, before ``learn``.
        **config: Overrides of the fields of ``Config`` (unknown names raise ValueError).
    """

    algo: ClassVar[str] = ""
    Config: ClassVar[type] = object
    #: The action space types the algorithm supports (``agents.common.spaces.ACTION_SPACES``: all of them).
    action_spaces: ClassVar[tuple[type[gym.Space], ...]] = ACTION_SPACES
    #: Whether the algorithm takes image parts inside Dict / Tuple observations (``agents.common.cnn.CombinedInput``).
    combined_images: ClassVar[bool] = True
    #: Whether ``normalize_obs``/``normalize_reward`` wrap the training env (``NormalizedVecEnv``, what
    #: on-policy agents want); off-policy agents store raw transitions and normalise when they sample.
    normalize_in_env: ClassVar[bool] = True
    #: The attribute holding the schedule built from each schedule field of the Config (``_schedule``).
    schedule_attrs: ClassVar[dict[str, str]] = {
        "learning_rate": "lr_schedule",
        "clip_range": "clip_schedule",
        "clip_range_vf": "clip_vf_schedule",
    }

    #: Hyperparameters an assignment may change between learns, as SB3's ``model.ent_coef = 0.01`` does: the loops
    #: read them from the Config when they use them, and the schedules, the clipping norm and DQN's ε built from them
    #: are built again (``_hyperparameter_changed``). The other Config fields shape the networks, buffers, envs or
    #: normalisation when the agent is made, and assigning them is refused, naming how to set them.
    SETTABLE: ClassVar[frozenset[str]] = frozenset(
        {
            "learning_rate",
            "clip_range",
            "clip_range_vf",
            "max_grad_norm",
            "gamma",
            "gae_lambda",
            "ent_coef",
            "vf_coef",
            "n_epochs",
            "batch_size",
            "target_kl",
            "normalize_advantage",
            "learning_starts",
            "train_freq",
            "gradient_steps",
            "target_update_interval",
            "tau",
            "double_q",
            "exploration_fraction",
            "exploration_initial_eps",
            "exploration_final_eps",
            "learning_rate_final",
            "learning_rate_decay_start",
            "learning_rate_decay_end",
            "log_interval",
        }
    )
    #: Config fields that are also attributes of the agent's own (the envs it has, a recurrent agent's sequence length)
    OWN_ATTRIBUTES: ClassVar[frozenset[str]] = frozenset({"n_envs", "seq_len"})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Gives each agent class SB3's hyperparameter attributes: ``agent.gamma`` reads ``agent.config.gamma``, and
        ``agent.gamma = 0.98`` sets it (``_set_hyperparameter``)."""
        super().__init_subclass__(**kwargs)
        if not dataclasses.is_dataclass(cls.__dict__.get("Config")):
            return
        for field in dataclasses.fields(cls.Config):
            name = field.name
            if name in cls.OWN_ATTRIBUTES or any(name in vars(base) for base in cls.__mro__ if base is not object):
                continue
            setattr(cls, name, _hyperparameter_property(name))

    @property
    def stats_window_size(self) -> int:
        """Episodes ``rollout/ep_rew_mean`` and ``rollout/ep_len_mean`` average over (SB3's ``stats_window_size``);
        setting it keeps the last episodes of the buffers that fit."""
        return self._stats_window_size

    @stats_window_size.setter
    def stats_window_size(self, value: int) -> None:
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{self.algo}: stats_window_size must be an int >= 1, got {value!r}")
        self._stats_window_size = int(value)
        if hasattr(self, "ep_info_buffer"):
            self.ep_info_buffer = deque(self.ep_info_buffer, maxlen=self._stats_window_size)
            self.ep_success_buffer = deque(self.ep_success_buffer, maxlen=self._stats_window_size)

    def _set_hyperparameter(self, name: str, value: Any) -> None:
        """``agent.<name> = value`` for a Config field: checked as the Config checks it, then in effect from the next
        update on.

        Raises:
            ValueError: For a field fixed when the agent is made, or a value the Config refuses, naming both.
        """
        if name not in self.SETTABLE:
            raise ValueError(
                f"{self.algo}.{name} is fixed when the agent is made (it shapes its networks, buffers, envs or "
                f"normalisation): pass it to {self.algo}(..., {name}=...) or {self.algo}.load(path, {name}=...)"
            )
        value = sb3_arguments(self.algo, (), {name: value})[1][name]  # SB3's forms (train_freq=(4, "step"))
        check_config(self.algo, dataclasses.replace(self.config, **{name: value}))
        setattr(self.config, name, value)
        canonical_config(self.config)
        self._hyperparameter_changed(name)

    def _hyperparameter_changed(self, name: str) -> None:
        """Builds again what the agent made from the Config field ``name`` (its schedule, the optimiser's clipping
        norm); subclasses add theirs (DQN's ε and step-size decay)."""
        attr = self.schedule_attrs.get(name)
        if attr is not None and hasattr(self, attr):
            value = getattr(self.config, name)
            setattr(self, attr, None if value is None else self._schedule(name))
        if name == "max_grad_norm" and hasattr(self, "optimizer"):
            self._optimizer().max_grad_norm = self.config.max_grad_norm

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """A list of seeds makes a population (``agents.common.population.Population``): K agents, one per seed,
        trained together in this process on stacked parameters; an int seed makes the agent itself."""
        seed = kwargs.get("seed", args[2] if len(args) > 2 else 0)
        if isinstance(seed, list | tuple | range) or (isinstance(seed, np.ndarray) and seed.ndim > 0):
            from agents.common.population import Population

            return Population(cls, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        env: str | gym.Env | gym.vector.VectorEnv | None,
        net: str = "mlp",
        seed: int | None = 0,
        log_dir: str | os.PathLike | None = None,
        verbose: int = 0,
        tensorboard_log: str | os.PathLike | None = None,
        stats_window_size: int = 100,
        dbn_kwargs: dict[str, Any] | None = None,
        _spaces: tuple[gym.Space, gym.Space] | None = None,
        **config: Any,
    ) -> None:
        fields = {f.name for f in dataclasses.fields(self.Config)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(f"{self.algo}: unknown hyperparameters {unknown}; expected some of {sorted(fields)}")
        self.config = self.Config(**config)
        check_config(self.algo, self.config)
        canonical_config(self.config)  # 8.0 from a yml's !!float: the int it stands for; net_arch as tuples
        self.net, self.seed = net, check_seed(seed)
        self.log_dir, self.verbose = log_dir, verbose
        self.tensorboard_log = tensorboard_log
        self.stats_window_size = stats_window_size
        self.rng = np.random.default_rng(self.seed)
        self.env: gym.vector.VectorEnv | None = None
        self.env_id = env if isinstance(env, str) else getattr(getattr(env, "spec", None), "id", "") or ""
        if env is not None:
            # n_envs given with a ready vector env must be its size, and an env instance is one env (as SB3 wraps
            # it); the Config's default (REINFORCE's 8, RAM's 64) is for env ids, not a request
            given = "n_envs" in config or isinstance(env, str)
            n_envs = getattr(self.config, "n_envs", 1) if given else None
            self.env = make_vec_env(env, n_envs, getattr(self.config, "vectorization", "sync"))
            if hasattr(self.config, "n_envs"):  # the Config (and the model file) say how many envs it trained on
                self.config.n_envs = self.env.num_envs
            self.observation_space = self.env.single_observation_space
            self.action_space = self.env.single_action_space
        elif _spaces is not None:
            self.observation_space, self.action_space = _spaces
        else:
            raise ValueError(f"{self.algo} needs an env (id, Env or vector env)")
        if isinstance(net, str) and net == "multi_input":  # SB3's MultiInputPolicy: a CNN for image parts
            net = "cnn" if image_parts(self.observation_space) else "mlp"
            self.net = net
        check_spaces(
            self.algo, self.observation_space, self.action_space, self.action_spaces, net, self.combined_images
        )
        if getattr(self.config, "net_arch", ()) is None:  # SB3's default for this net, kept in the model file
            self.config.net_arch = self._default_net_arch(net)
        #: the vector env as made, before encoding and normalisation: what ``get_env`` gives users
        self._raw_env: gym.vector.VectorEnv | None = self.env
        if self.env is not None:  # observations are encoded where they enter the agent (agents.common.spaces)
            self.env = encode_vec_env(self.env)
        self.n_envs = self.env.num_envs if self.env is not None else 1
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._n_updates = 0
        self._episode_num = 0
        self._last_obs: np.ndarray | None = None
        self._ep_ret = np.zeros(self.n_envs)
        self._ep_len = np.zeros(self.n_envs, dtype=np.int64)
        #: SB3's: the last ``stats_window_size`` episodes as ``{"r": return, "l": length, "t": seconds}``, and their
        #: ``info["is_success"]`` where the env gives one
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=self.stats_window_size)
        self.ep_success_buffer: deque[bool] = deque(maxlen=self.stats_window_size)
        self.logger = Logger(None, verbose=0)
        self._custom_logger: Any = None  # set_logger's: used by every learn instead of the log_dir's own
        self._envs_seeded = False  # whether the envs had their first reset (with the agent's seed)
        self._monitor: MonitorWriter | None = None
        self._monitored: np.ndarray | None = None  # which envs have an SB3 Monitor inside (set by learn)
        self._logged_to: Path | None = None  # the log_dir an earlier learn of this agent wrote to
        #: rows monitor.csv and progress.csv held when the current run began (earlier runs' rows, kept above it)
        self._log_rows_before = {"monitor": 0, "progress": 0}
        #: the last update's statistics for the logger: numbers, or functions that compute them when logged (an
        #: update every few env steps, as A2C's, should not pay for statistics nobody reads)
        self._train_stats: dict[str, float | Callable[[], float]] = {}
        self._logged_train_stats: dict[str, Any] | None = self._train_stats  # the statistics a log row has recorded
        self.normalizer: Normalizer | None = None  # VecNormalize's statistics (normalize_obs / normalize_reward)
        c = self.config
        box = isinstance(self.observation_space, gym.spaces.Box)  # a flattened Box keeps its shape for users
        self.normalizer = agent_normalizer(
            self.algo,
            c,
            encoded_space(self.observation_space).shape,
            self.n_envs,
            raw_shape=self.observation_space.shape if box else None,
        )
        if self.normalizer is not None and self.env is not None and self.normalize_in_env:
            self.env = NormalizedVecEnv(self.env, self.normalizer)
        self.pretrain_timesteps = 0  # env steps spent before learn(): net="dbn"'s random-policy observations
        self.pretraining = None
        if isinstance(net, str) and net == "dbn":  # pretrain, then build on the converted trunk (dbn_policy)
            trunk, self.pretraining = pretrain_dbn_trunk(
                self.env, encoded_space(self.observation_space), self.rng, **(dbn_kwargs or {})
            )
            self.net, self.pretrain_timesteps = {"trunk": trunk}, self.pretraining.steps
        elif dbn_kwargs:
            raise ValueError(f"{self.algo}: dbn_kwargs needs net='dbn', got net={net!r}")
        self._build()
        self._name_image_inputs()
        self._attach_policy()

    def _name_image_inputs(self) -> None:
        """Sets ``input_shape`` to the observation space's shape ((H, W, C) for channels last) on the networks that
        take the image observations (an ``ImageScale`` first layer), so an observation of another shape that reaches
        one is named as such. A given network built for (C, H, W) (``net=cnn(...)``) has had its input layer put in
        front of it; a loaded agent gets the shape this way also from a file written before ``input_shapes``.

        Images are SB3's (``agents.common.cnn.is_image_space``: 3-D Boxes of dtype uint8 with bounds 0 and 255);
        any other 3-D Box reaches the networks flattened, and a CNN on it starts with ``Unflatten``, whose
        ``input_shape`` (the flat width) ``agents.common.cnn.cnn_trunk`` sets."""
        if not is_image_space(self.observation_space):
            return
        for net in self._nets().values():
            if net.layers and isinstance(net.layers[0], ImageScale):
                net.input_shape = tuple(int(d) for d in self.observation_space.shape)

    # --- subclass interface -------------------------------------------------------------
    def _build(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _learn(self, callback: BaseCallback, reset_num_timesteps: bool) -> None:  # pragma: no cover - abstract
        """The algorithm's training loop, until ``self._total_timesteps`` env steps or a callback stops it."""
        raise NotImplementedError

    def _schedule(self, name: str) -> Schedule:
        """The schedule of the Config field ``name`` (``learning_rate``, ``clip_range``, ``clip_range_vf``): a
        number, ``"lin_<x>"`` or a callable of the progress remaining, whose values are checked when used (a
        ValueError naming ``<algo>: <name>`` and the progress)."""
        return parse_schedule(getattr(self.config, name), f"{self.algo}: {name}")

    def _callable_schedules(self) -> dict[str, Any]:
        """The Config's schedules given as callables, by field name (what ``load``'s ``custom_objects`` restores)."""
        return {name: v for name in CALLABLE_FIELDS if callable(v := getattr(self.config, name, None))}

    def _schedule_marker(self, name: str, fn: Any) -> dict[str, Any]:
        """What the model file holds for the callable schedule ``fn`` of field ``name``: its value at the last update
        (``CallableSchedule.last_value``), or, if the agent has not used it yet, at the progress remaining now
        (1.0 before any training)."""
        schedule = getattr(self, self.schedule_attrs.get(name, ""), None)
        if isinstance(schedule, CallableSchedule) and schedule.fn is fn and schedule.last_value is not None:
            return schedule_marker(fn, schedule.last_value, schedule.last_progress)
        progress = self.progress_remaining
        return schedule_marker(fn, parse_schedule(fn, f"{self.algo}: {name}")(progress), progress)

    # Defaults for the actor-critic agents (PPO, A2C, REINFORCE: ``self.policy`` an ActorCriticPolicy,
    # ``self.optimizer``); DQN and RecurrentPPO override them.
    def _act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        dist = self.policy.actor_distribution(obs)
        return dist.mode() if deterministic else dist.sample(self.rng)

    def _actor_critic_policy(self) -> ActorCriticPolicy:
        """The actor-critic of PPO, A2C and REINFORCE, from ``net`` and the Config's shared policy fields."""
        c = self.config
        return ActorCriticPolicy(
            self.observation_space,
            self.action_space,
            self.rng,
            net=self.net,
            net_arch=c.net_arch,
            activation=c.activation,
            ortho_init=c.ortho_init,
            log_std_init=c.log_std_init,
            use_sde=getattr(c, "use_sde", False),
        )

    def _nets(self) -> dict[str, Sequential]:
        return self.policy.nets()

    def _optimizer(self) -> Any:
        return self.optimizer

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {"log_std": self.policy.log_std}

    def _load_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.policy.log_std[...] = arrays["log_std"]

    # --- acting -----------------------------------------------------------------------------
    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """Actions for one raw observation or a batch of N; ``state`` is passed through.

        As SB3's ``predict``, it samples from the policy unless ``deterministic=True`` (the evaluators pass it:
        ``evaluate``, ``EvalCallback``, ``classification_accuracy``). The samples come from the agent's generator
        (``agent.rng``), so they advance it.

        Args:
            observation: One observation of the observation space, or a batch in gymnasium's / SB3's layout: an array
                (N, *obs_shape), ints (N,) for Discrete, a dict (Dict) or tuple (Tuple) of such batches.
            state: Returned unchanged (recurrent agents carry theirs).
            episode_start: Not used by memoryless agents.
            deterministic: The most likely action (DQN: the greedy one) instead of a sample (DQN: ε-greedy, with
                the current exploration rate).

        Returns:
            (one action of the action space (shape () / (D,)) or N of them ((N,) / (N, D)), state).

        Raises:
            ValueError: If ``observation`` has the wrong shape, naming the expected and actual shapes.
        """
        batch, single = encode_observations(self.observation_space, observation, f"{self.algo}.predict")
        actions = to_env_actions(self.action_space, self._act(self._normalize_obs(batch), deterministic))
        return (actions[0] if single else actions), state

    def _normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """Observations (N, ...) as the networks see them, with the frozen statistics (``predict``, evaluation)."""
        return obs if self.normalizer is None else self.normalizer.normalize_obs(obs)

    @property
    def obs_rms(self) -> Any:
        """The running observation statistics ``predict`` normalises with (``normalize_obs``), or None (also after
        ``get_vec_normalize_env().norm_obs = False``)."""
        norm = self.normalizer
        return None if norm is None or not norm.norm_obs else norm.obs_rms

    @property
    def ret_rms(self) -> Any:
        """The running return statistics of reward scaling (``normalize_reward``), or None (also after
        ``get_vec_normalize_env().norm_reward = False``)."""
        norm = self.normalizer
        return None if norm is None or not norm.norm_reward else norm.ret_rms

    def get_vec_normalize_env(self) -> Normalizer | None:
        """SB3's: the normalisation of the training env, None without ``normalize_obs`` / ``normalize_reward``.

        SB3 returns its ``VecNormalize`` wrapper; nngym keeps the same statistics and arithmetic in the agent's
        ``Normalizer`` (``agents.common.normalize``; on-policy agents' env applies it, DQN applies it when it acts
        and samples), which this returns, with what SB3's users call on ``VecNormalize``: ``obs_rms`` / ``ret_rms``
        (``mean``, ``var``, ``count``), ``normalize_obs``, ``unnormalize_obs``, ``normalize_reward``,
        ``unnormalize_reward``, ``get_original_obs``, ``get_original_reward``, ``training`` (False freezes the
        statistics, as SB3's ``venv.training = False``), ``norm_obs``, ``norm_reward``, ``clip_obs``, ``clip_reward``,
        ``gamma``, ``epsilon`` and ``save(path)`` (npz + JSON; ``Normalizer.load`` reads it). It is no env (no
        ``reset`` / ``step``: ``get_env()`` gives the env), and changes to it act at once on ``predict`` and
        training; the model file keeps the statistics and settings, not the flags set here (``load`` gives the
        Config's normalisation, training)."""
        return self.normalizer

    # --- SB3's BasePolicy methods of ``agent.policy`` (``state_dict``, ``load_state_dict``, ``parameters``) ---------
    def _attach_policy(self) -> None:
        """Tells the agent's ``policy`` (PPO, A2C, REINFORCE: an ``ActorCriticPolicy``; RecurrentPPO: a
        ``RecurrentActorCriticPolicy``; DQN: a ``DQNPolicy``) its agent: the policy's SB3 methods are the agent's
        (``predict``, and ``_policy_state_dict``, ``_load_policy_state_dict``, ``_policy_arrays`` below), and its
        ``observation_space`` the agent's, what ``predict`` takes (the recurrent policy is built on its encoding)."""
        policy = getattr(self, "policy", None)
        if policy is not None:
            policy._agent = self
            policy.observation_space = self.observation_space

    def _policy_arrays(self) -> dict[str, np.ndarray]:
        """The policy's parameters themselves (no copies), by the model file's names.

        Returns:
            ``net/<network>/<parameter>`` for each network of ``_nets`` in order (``get_parameters()["net/<network>"]
            [<parameter>]``: ``net/pi/0.W`` (64, 4), ...; DQN's ``net/q/...`` and ``net/q_target/...``), then the
            policy's other arrays under their own names (``log_std`` (D,), (0,) for discrete actions, (J, D) under
            gSDE: ``get_parameters()["extra"]``).
        """
        arrays = {f"net/{name}/{k}": v for name, net in self._nets().items() for k, v in net.state_dict().items()}
        arrays.update(self._extra_arrays())
        return arrays

    def _policy_state_dict(self) -> dict[str, np.ndarray]:
        """Copies of ``_policy_arrays``: ``agent.policy.state_dict()``."""
        return {name: np.array(value, copy=True) for name, value in self._policy_arrays().items()}

    def _load_policy_state_dict(self, state_dict: dict[str, np.ndarray], strict: bool, what: str) -> None:
        """``agent.policy.load_state_dict``: writes the arrays into the parameters in place (optimisers and
        populations hold views of them), each cast to its parameter's dtype; nothing is written unless all fit.

        Args:
            state_dict: Name -> array, by the names of ``_policy_arrays`` (what ``state_dict()`` returns).
            strict: Every name must be given; False loads the names given and keeps the others.
            what: The caller, for messages (``"PPO.policy.load_state_dict"``).

        Raises:
            ValueError: For something other than a dict, unknown names or (``strict``) missing ones, naming the
                expected and the given names; an array of another shape, naming both shapes; or one that is not
                numeric.
        """
        own = self._policy_arrays()
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"{what} takes a dict of name -> array (state_dict()), got {type(state_dict).__name__}")
        unknown = sorted(set(state_dict) - set(own))
        missing = sorted(set(own) - set(state_dict)) if strict else []
        if unknown or missing:
            raise ValueError(
                f"{what}: expected the names {list(own)}, got {list(state_dict)}: unknown {unknown}, missing {missing}"
            )
        checked = {}
        for name, value in state_dict.items():
            target = own[name]
            try:
                array = np.asarray(value)
                if array.dtype.kind not in "iuf":
                    raise TypeError
                array = array.astype(target.dtype, copy=False)
            except (TypeError, ValueError):
                raise ValueError(f"{what}: {name} must be a numeric array, got {type(value).__name__}") from None
            if array.shape != target.shape:
                raise ValueError(f"{what}: {name} has shape {array.shape}, expected {target.shape}")
            checked[name] = array
        for name, array in checked.items():
            own[name][...] = array

    # --- env and parameters (SB3's get_env, set_env, get_parameters, set_parameters) -----------------
    def get_env(self) -> gym.vector.VectorEnv | None:
        """The vector env the agent trains on, with the env's own observations and rewards (None for an agent loaded
        without an env): what ``predict`` takes, as SB3's ``predict`` takes what its ``get_env()`` gives.

        The agent steps it through its encoding of Discrete / Dict / Tuple... observations and, under
        ``normalize_obs`` / ``normalize_reward``, VecNormalize's arithmetic (``self.env``); ``predict`` applies both
        itself, so observations of this env go to ``predict`` as they come (passing it already normalised ones would
        normalise them twice). ``set_env(agent.get_env())`` gives the agent the same env back."""
        return self._raw_env

    def set_env(self, env: str | gym.Env | gym.vector.VectorEnv, force_reset: bool = True) -> None:
        """Trains on ``env`` from now on (SB3's ``set_env``); ``learn(..., reset_num_timesteps=False)`` continues
        the run on it.

        Args:
            env: An env id (``n_envs`` envs are made), a ``gymnasium.Env`` (agents with one env) or a SAME_STEP
                vector env of ``n_envs`` envs; its spaces must be the agent's.
            force_reset: Reset the env at the next ``learn`` (and a recurrent agent's memory), as SB3 does by default;
                False keeps the last observation, for an env that continues where the old one stopped.

        Raises:
            ValueError: For other spaces or another number of envs than the agent's (naming both), as
                ``load(path, env=...)`` checks them; to train on another number of envs, load the agent with it.
        """
        if isinstance(env, gym.vector.VectorEnv) and env.num_envs != self.n_envs:
            raise ValueError(
                f"{self.algo}.set_env needs a vector env of the agent's {self.n_envs} envs, got {env.num_envs}; to "
                f"train on another number of envs, save the agent and {self.algo}.load(path, env=env)"
            )
        vectorization = getattr(self.config, "vectorization", "sync")
        vec = _env_with_spaces(
            env,
            self.n_envs,
            vectorization,
            self.observation_space,
            self.action_space,
            f"{self.algo}.set_env: the agent's spaces",
        )
        self._raw_env = vec
        vec = encode_vec_env(vec)
        if self.normalizer is not None and self.normalize_in_env:
            vec = NormalizedVecEnv(vec, self.normalizer)
        self.env = vec
        self.env_id = env if isinstance(env, str) else getattr(getattr(env, "spec", None), "id", "") or self.env_id
        if force_reset:
            self._last_obs = None  # the next learn resets the env (and calls _on_env_reset)

    def _parameter_arrays(self) -> dict[str, dict[str, np.ndarray]]:
        """The arrays ``get_parameters`` copies: the networks' own parameters (written in place by
        ``set_parameters``), the optimiser's state as copies (every slot, zeros where it has none yet, as it
        starts them)."""
        nets = {f"net/{name}": net.state_dict() for name, net in self._nets().items()}
        groups = {group: arrays for group, arrays in nets.items() if arrays}  # (a file has no parameterless nets)
        if self._extra_arrays():
            groups["extra"] = self._extra_arrays()
        opt = self._optimizer()
        slots = opt.state_dict()["slots"]
        groups["opt"] = {"t": np.array(opt.t, dtype=np.int64)}
        for name, p, _ in gather_params(opt.source):
            for key in opt.slot_keys:
                groups["opt"][f"{name}/{key}"] = slots.get(name, {}).get(key, np.zeros_like(p))
        return groups

    def get_parameters(self) -> dict[str, dict[str, np.ndarray]]:
        """Copies of the learned arrays, by the names of the model file (SB3's ``get_parameters``).

        Returns:
            ``{"net/<network>": {parameter: array}}`` for each network (``net/pi``, ``net/vf``; DQN's ``net/q``,
            ``net/q_target``; ...), ``"extra"``: the policy's other arrays (log σ, ``log_std``, for the
            actor-critics) and ``"opt"``: the optimiser's step count ``t`` (a 0-d array) and its state, one array
            per ``<parameter>/<slot>`` (Adam's ``m`` and ``v``). In the file, ``net/pi/0.W`` is
            ``params["net/pi"]["0.W"]``. The normalisation statistics are not parameters (SB3 keeps them in its
            ``VecNormalize``); ``save`` / ``load`` carry them.
        """
        return {
            group: {k: np.array(v, copy=True) for k, v in arrays.items()}
            for group, arrays in self._parameter_arrays().items()
        }

    def set_parameters(
        self,
        load_path_or_dict: str | os.PathLike | BinaryIO | dict[str, dict[str, np.ndarray]],
        exact_match: bool = True,
        device: str = "auto",
    ) -> None:
        """Loads parameters into the agent's networks and optimiser (SB3's ``set_parameters``); nothing else changes.

        Args:
            load_path_or_dict: What ``get_parameters`` returns (of an agent of this class and architecture), or a
                model file ``save`` wrote (its networks' architectures must be this agent's).
            exact_match: Every group and array of ``get_parameters`` must be given; False loads those given and
                keeps the others.
            device: SB3's argument: "auto" or "cpu" (nngym computes with numpy on the CPU).

        Raises:
            ValueError: Naming an unknown group or array, a missing one (with ``exact_match``), an array of another
                shape, or a file of another algorithm or architecture (``ModelFileError``); nothing is loaded then.
        """
        check_device(f"{self.algo}.set_parameters", device)
        own = self._parameter_arrays()
        if isinstance(load_path_or_dict, str | os.PathLike) or hasattr(load_path_or_dict, "read"):
            params = self._file_parameters(load_path_or_dict)
        elif isinstance(load_path_or_dict, dict):
            params = load_path_or_dict
        else:
            raise ValueError(
                f"{self.algo}.set_parameters takes a dict of get_parameters() or a model file's path, got "
                f"{type(load_path_or_dict).__name__}"
            )
        unknown = sorted(set(params) - set(own))
        missing = sorted(set(own) - set(params)) if exact_match else []
        if unknown or missing:
            raise ValueError(
                f"{self.algo}.set_parameters: expected the groups {sorted(own)}; unknown {unknown}, missing {missing}"
            )
        checked: dict[str, dict[str, np.ndarray]] = {}
        for group, arrays in params.items():
            if not isinstance(arrays, dict):
                raise ValueError(
                    f"{self.algo}.set_parameters: {group!r} must be a dict of arrays, got {type(arrays).__name__}"
                )
            unknown = sorted(set(arrays) - set(own[group]))
            missing = sorted(set(own[group]) - set(arrays)) if exact_match else []
            if unknown or missing:
                raise ValueError(
                    f"{self.algo}.set_parameters: {group!r} has unknown arrays {unknown}, missing {missing}"
                )
            checked[group] = {}
            for key, value in arrays.items():
                target = own[group][key]
                try:
                    value = np.asarray(value, dtype=target.dtype)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{self.algo}.set_parameters: {group}/{key} must be a numeric array, got {type(value).__name__}"
                    ) from None
                if value.shape != target.shape:
                    raise ValueError(
                        f"{self.algo}.set_parameters: {group}/{key} has shape {value.shape}, expected {target.shape}"
                    )
                checked[group][key] = value
        opt = self._optimizer()
        for group, arrays in checked.items():
            if group == "opt":
                slots: dict[str, dict[str, np.ndarray]] = {}
                for key, value in {**own["opt"], **arrays}.items():
                    if key != "t":
                        name, slot = key.rsplit("/", 1)
                        slots.setdefault(name, {})[slot] = value
                t = int(arrays.get("t", own["opt"]["t"]))
                opt.load_state_dict({"t": t, "lr": opt.lr, "slots": slots})
            else:
                for key, value in arrays.items():
                    own[group][key][...] = value  # in place: optimisers and populations hold views of them

    def _file_parameters(self, path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
        """The parameters in a model file, grouped as ``get_parameters`` groups them.

        Raises:
            ModelFileError: For a file ``load`` refuses, or networks of other architectures than this agent's.
        """
        arrays, meta = self._read_model_file(path)
        params: dict[str, dict[str, np.ndarray]] = {}
        for name, net in self._nets().items():
            if meta["architectures"].get(name) != net.architecture():
                raise ModelFileError(f"{path}: network {name} has another architecture than this {self.algo}'s")
        for key, value in arrays.items():
            if key.startswith("net/"):
                _, name, k = key.split("/", 2)
                params.setdefault(f"net/{name}", {})[k] = value
            elif key.startswith("opt/"):
                params.setdefault("opt", {})[key[4:]] = value
            elif key in self._extra_arrays():
                params.setdefault("extra", {})[key] = value
        opt = self._optimizer()
        params.setdefault("opt", {})["t"] = np.array(meta["optimizer"]["t"], dtype=np.int64)
        for name, p, _ in gather_params(opt.source):  # slots the file's optimiser had not started: zeros, as it would
            for slot in opt.slot_keys:
                params["opt"].setdefault(f"{name}/{slot}", np.zeros_like(p))
        return params

    def _on_env_reset(self) -> None:
        """Hook: ``learn`` has just reset the env, so every episode of the last run ended unfinished (a recurrent
        agent forgets them, DQN cuts its n-step returns there)."""

    # --- learning ---------------------------------------------------------------------------
    #: Threads while learning, or -1: as many as measured to pay (``learning_threads``). One by default: the
    #: MLP agents' matrices (a few hundred rows by 64 or 256 columns) are too small for threads to pay for
    #: their synchronisation, and seeds trained side by side each want a core of their own. With more
    #: (``agent.num_threads = 2``), networks with convolutions split their batches across that many threads
    #: (``nngym.parallel``) with BLAS on one thread each, an agent that ``works_beside`` runs that work on a
    #: second thread, and the others get as many BLAS threads. Runs are reproducible for a given count; another
    #: count rounds differently (not DQN's: its thread does the same arithmetic).
    num_threads: int = 1

    #: Whether the agent, given two or more threads, runs part of its work on a thread beside its main loop
    #: (DQN: the target network's pass over the next chunk of minibatches); BLAS then keeps one thread each.
    works_beside: bool = False

    def _split_nets(self) -> list[Sequential]:
        """The networks with convolutions, whose batches are split across threads while learning."""
        return [net for net in self._nets().values() if _has_conv(net) and splittable(net)]

    def learning_threads(self) -> int:
        """The threads ``learn`` uses: ``num_threads``, or for -1 every core this process may run on if the
        agent has a network with convolutions (the main job's CNN learns 1.2–1.3x faster on two cores, its
        batches split) or works beside its main loop (``works_beside``: DQN), else one (two BLAS threads gave PPO
        on CartPole nothing: RESULTS.md, "The main job").

        Raises:
            ValueError: For a count of 0 or below -1.
        """
        if self.num_threads == -1:
            return available_cores() if self._split_nets() or self.works_beside else 1
        if self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 or -1 (as many as pay), got {self.num_threads}")
        return int(self.num_threads)

    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int | None = CONFIG_LOG_INTERVAL,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Self:
        """Trains for ``total_timesteps`` env steps (SB3's ``learn``); returns self.

        For the duration of the call, the networks with convolutions split their batches across
        ``learning_threads()`` threads with BLAS on one thread, else BLAS runs on that many threads
        (threadpoolctl); the previous settings are restored afterwards, also when training raises.

        Args:
            total_timesteps: Env steps to train for (from now on, if ``reset_num_timesteps`` is False).
            callback: A callback (``agents.common.callbacks``, called in SB3's order), a list of them, a function
                ``fn(locals, globals) -> bool`` called at every step (as SB3 takes it), or None.
            log_interval: SB3's argument: the Config's ``log_interval`` for this call (on-policy agents: iterations
                between two rows of progress.csv; DQN: episodes); None writes no rows of the agent's own (SB3's: a
                callback such as ``LogEveryNTimesteps`` may); the default keeps the Config's.
            tb_log_name: With ``tensorboard_log``: the run name (default: the algorithm, ``"PPO"``...).
            reset_num_timesteps: Start counting (and the schedules) from 0; False continues a run. Either way a
                second ``learn`` appends to the ``log_dir``'s files (``_open_logs``).
            progress_bar: Show a tqdm bar over the env steps.

        The arguments come in SB3's order, so positional calls written for SB3 mean the same here.

        Raises:
            TypeError: For a ``callback`` of another kind, before the env is reset or a log file opened.
            ValueError: From a callback's ``init_callback`` (an ``EvalCallback`` on an env with other spaces), also
                before then.
        """
        check_total_timesteps(total_timesteps)
        threads, split = self.learning_threads(), self._split_nets()
        blas = 1 if (split or self.works_beside) and threads > 1 else threads
        with (
            log_interval_for_call(self.algo, [self.config], log_interval),
            threadpool_limits(limits=blas, user_api="blas"),
            split_batches(split, threads),
        ):
            cb = self._setup_learn(total_timesteps, callback, reset_num_timesteps, progress_bar, tb_log_name)
            self._learn(cb, reset_num_timesteps)
            self._finish_learn(cb)
        return self

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback,
        reset_num_timesteps: bool,
        progress_bar: bool,
        tb_log_name: str | None = None,
    ) -> BaseCallback:
        """Makes the callback and checks it (``init_callback``), then resets the counters and the env, opens the log
        files and calls ``on_training_start``: what comes before the first env step of ``learn``.

        Raises:
            ValueError: Without an env, or from a callback's ``init_callback`` (an ``EvalCallback`` whose env's
                spaces differ from the agent's); nothing has changed then.
            TypeError: For a callback that is none (``as_callback``).
        """
        if self.env is None:
            raise ValueError(f"{self.algo}.learn needs an env: pass env= to the constructor or to load()")
        cb = as_callback(callback, f"{self.algo}.learn")
        if progress_bar:
            cb = CallbackList([cb, ProgressBarCallback()])
        cb.init_callback(self)  # before the env is reset or a log file opened: a bad callback changes nothing
        self._check_no_monitor_in_log_dir()
        monitored = [sb3_monitor(env) is not None for env in getattr(self._raw_env, "envs", ())]
        #: which envs have an SB3 Monitor inside: their episodes are counted as the Monitor counts them (as SB3 does)
        self._monitored = np.array(monitored) if any(monitored) else None
        keep_freed_memory()  # a step's arrays come back from the heap, not from fresh pages (nngym.memory)
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episode_num = 0
            self._total_timesteps = int(total_timesteps)
            self.ep_info_buffer.clear()  # a new run's statistics, as SB3's
            self.ep_success_buffer.clear()
        else:
            self._total_timesteps = int(total_timesteps) + self.num_timesteps
        if reset_num_timesteps or self._last_obs is None:
            # a fresh run resets with the agent's seed; a run resumed from a file (no last observation) with a seed
            # drawn from the agent's restored generator, so the same checkpoint always continues the same way
            # the agent's seed for its envs' very first reset only: a later run (learn again with
            # reset_num_timesteps) starts from other episodes, as SB3's does
            fresh = self.num_timesteps == 0 and not self._envs_seeded
            self._envs_seeded = True
            env_seed = self.seed if fresh else int(self.rng.integers(2**31 - 1))
            self._last_obs, infos = self.env.reset(seed=env_seed)
            check_vector_infos(self.env, infos)  # Gymnasium's dict layout, which the agent and callbacks read
            self._ep_ret[:] = 0
            self._ep_len[:] = 0
            self._on_env_reset()
            if hasattr(self.action_space, "seed"):
                self.env.action_space.seed(env_seed)
        append = self._open_logs(reset_num_timesteps)
        tb_dir = None
        if self.tensorboard_log is not None:
            tb_dir = tensorboard_run_dir(
                self.tensorboard_log, self.algo if tb_log_name is None else tb_log_name, reset_num_timesteps
            )
        if self._custom_logger is not None:
            self.logger = self._custom_logger
        else:
            self.logger = Logger(self.log_dir, self.verbose, append, tensorboard_dir=tb_dir)
        self._start_time = time.perf_counter()
        self._start_steps = self.num_timesteps
        self._logged_train_stats = self._train_stats  # an earlier run's statistics go into none of this run's rows
        training = training_locals(
            self, self._total_timesteps, cb, reset_num_timesteps, progress_bar, tb_log_name or self.algo
        )
        start_training(cb, training, globals())
        return cb

    def _check_no_monitor_in_log_dir(self) -> None:
        """Refuses an env wrapped in SB3's ``Monitor`` that writes its ``monitor.csv`` into ``log_dir``, where the agent
        writes its own: two writers would interleave their rows in one file.

        Raises:
            ValueError: Naming the file and what to do.
        """
        if self.log_dir is None:
            return
        ours = (Path(self.log_dir) / "monitor.csv").resolve()
        for env in getattr(self._raw_env, "envs", ()):
            monitor = sb3_monitor(env)
            handler = getattr(getattr(monitor, "results_writer", None), "file_handler", None)
            if handler is not None and Path(handler.name).resolve() == ours:
                raise ValueError(
                    f"{self.algo}: the env's SB3 Monitor writes {ours}, where the agent writes its own "
                    "monitor.csv (log_dir): two writers would mix their rows; drop the Monitor (the agent "
                    "writes SB3's format) or give it another folder"
                )

    def _open_logs(self, reset_num_timesteps: bool) -> bool:
        """Opens ``monitor.csv`` in ``log_dir`` and prepares ``progress.csv``; returns whether they are appended to.

        As SB3's ``Monitor``, which keeps writing to its file for as long as it wraps the env, every ``learn`` of
        this agent after the first appends to the files it wrote (``reset_num_timesteps=True`` too: its rows follow,
        with ``progress.csv``'s steps from 0 again); the first ``learn`` of an agent starts them anew, unless it
        continues a run (``reset_num_timesteps=False``, an agent loaded from a checkpoint): then the rows logged
        after the checkpoint, which the resumed run plays again, are dropped. ``monitor.csv``'s ``t`` goes on from
        its last row (``MonitorWriter``).
        """
        if self.log_dir is None:
            return False
        folder = Path(self.log_dir)
        again = self._logged_to == folder  # this agent wrote the files in an earlier learn
        if again and reset_num_timesteps:  # a new run after the rows of the earlier ones
            self._log_rows_before = log_rows(folder)
        elif not again and reset_num_timesteps:  # a new run in new files
            self._log_rows_before = {"monitor": 0, "progress": 0}
        elif not again:  # resumed from a model file: the rows up to its checkpoint
            keep = self._log_rows_before["progress"]
            trim_progress(folder / "progress.csv", keep, self.num_timesteps)
        append = again or not reset_num_timesteps
        keep_episodes = None if again else self._log_rows_before["monitor"] + self._episode_num
        self._monitor = MonitorWriter(folder, self.env_id, append=append, keep_episodes=keep_episodes)
        self._logged_to = folder
        return append

    @property
    def progress_remaining(self) -> float:
        """1 at the start of ``learn`` down to 0 at its end (SB3's convention for schedules), clamped to [0, 1].

        Every schedule (``learning_rate``, ``clip_range``, ``clip_range_vf``, DQN's step-size decay and ε) is
        evaluated here. ``1 − num_timesteps / total_timesteps`` goes below 0 when the last rollout of T·N steps runs
        past ``total_timesteps`` (T·N not dividing it); SB3 2.x passes that negative value on, so a ``"lin_<x>"``
        schedule gives a negative learning rate (gradient ascent) on the last update. nngym clamps it to 0: the
        schedule's end value. Runs whose total is a multiple of the rollout end at exactly 0 and are unchanged.
        """
        return min(max(1.0 - self.num_timesteps / max(self._total_timesteps, 1), 0.0), 1.0)

    def _track_episodes(self, rewards: np.ndarray, dones: np.ndarray, infos: dict[str, Any] | None = None) -> None:
        """Accumulates episode returns and lengths (of the raw rewards); at an episode's end, adds SB3's
        ``{"r": return, "l": length, "t": seconds since learn started}`` to ``ep_info_buffer`` and the env's
        ``info["is_success"]`` (if it has one) to ``ep_success_buffer``, and writes the episode to monitor.csv.

        Args:
            rewards: The vector step's rewards, (n_envs,).
            dones: terminated | truncated, (n_envs,).
            infos: The vector env's info dict (Gymnasium's: ``is_success`` with its mask ``_is_success``, under
                ``final_info`` for the episodes the step ended and reset), or None.
        """
        if isinstance(self.env, NormalizedVecEnv):
            rewards = self.env.raw_rewards
        self._ep_ret += rewards
        self._ep_len += 1
        if dones.any():
            idx = np.flatnonzero(dones)
            rets, lens = self._ep_ret[idx].tolist(), self._ep_len[idx].tolist()
            # an episode's last info: "final_info" where the vector env reset it in the same step (SAME_STEP)
            last = infos.get("final_info", infos) if infos else None
            if self._monitored is not None:
                rets, lens = self._monitor_counts(idx, last, rets, lens)
            t = round(time.perf_counter() - self._start_time, 6)
            self.ep_info_buffer.extend({"r": r, "l": n, "t": t} for r, n in zip(rets, lens, strict=True))
            if last and "is_success" in last:
                has = last.get("_is_success", np.ones(len(dones), dtype=bool))
                self.ep_success_buffer.extend(bool(last["is_success"][i]) for i in idx if has[i])
            self._episode_num += len(idx)
            if self._monitor is not None:
                self._monitor.write(rets, lens)
            self._ep_ret[idx] = 0
            self._ep_len[idx] = 0

    def _monitor_counts(
        self, idx: np.ndarray, last: dict[str, Any] | None, rets: list[float], lens: list[int]
    ) -> tuple[list[float], list[int]]:
        """The episodes to record of those that ended in the envs ``idx``, counted as SB3 counts them: in an env
        with an SB3 ``Monitor`` inside, the Monitor's episodes only (``info["episode"]``: the env's own return and
        length, also under reward wrappers outside the Monitor, clipped or scaled rewards, and an end the Monitor
        did not see, a lost life of an ``EpisodicLifeEnv`` outside it, is no episode); in the others, the agent's.

        Args:
            idx: The envs whose episodes ended, (k,).
            last: Those episodes' last infos in Gymnasium's layout (``episode`` dict of arrays, its mask
                ``_episode``), or None.
            rets: The agent's own returns of those episodes, (k,).
            lens: Their lengths, (k,).

        Returns:
            (returns, lengths) of the episodes to record, in the order of ``idx``.
        """
        episode = last.get("episode") if last else None
        has = last.get("_episode", np.ones(self.n_envs, dtype=bool)) if episode is not None else None
        out_r, out_l = [], []
        for j, i in enumerate(idx):
            if not self._monitored[i]:
                out_r.append(rets[j])
                out_l.append(lens[j])
            elif has is not None and has[i]:
                out_r.append(float(episode["r"][i]))
                out_l.append(int(episode["l"][i]))
        return out_r, out_l

    @property
    def train_stats(self) -> dict[str, float]:
        """The last update's statistics, as the logger records them (``train/value_loss``, ...)."""
        return {k: v() if callable(v) else v for k, v in self._train_stats.items()}

    def _dump_logs(self, iteration: int | None = None) -> None:
        elapsed = max(time.perf_counter() - self._start_time, 1e-9)
        lg = self.logger
        if self.ep_info_buffer:
            lg.record("rollout/ep_rew_mean", float(np.mean([e["r"] for e in self.ep_info_buffer])))
            lg.record("rollout/ep_len_mean", float(np.mean([e["l"] for e in self.ep_info_buffer])))
        if self.ep_success_buffer:
            lg.record("rollout/success_rate", float(np.mean(self.ep_success_buffer)))
        for k, v in self._live_stats().items():
            lg.record(k, v)
        if self._train_stats is not self._logged_train_stats:  # an update since the last row: its statistics, once
            for k, v in self.train_stats.items():  # (SB3's logger forgets a row's values when it writes it)
                lg.record(k, v, exclude="tensorboard" if k == "train/n_updates" else None)
            self._logged_train_stats = self._train_stats
        lg.record("time/fps", int((self.num_timesteps - self._start_steps) / elapsed))
        # the counters SB3 keeps out of TensorBoard, whose x axis is the step already
        lg.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        lg.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        if self.pretrain_timesteps:
            lg.record("pretrain/timesteps", self.pretrain_timesteps)
        if iteration is not None:
            lg.record("time/iterations", iteration, exclude="tensorboard")
        else:
            lg.record("time/episodes", self._episode_num, exclude="tensorboard")
        lg.dump(self.num_timesteps)

    def _live_stats(self) -> dict[str, float]:
        """Values a log row records at its own step (SB3 records them at every env step): none for most agents."""
        return {}

    def set_logger(self, logger: Any) -> None:
        """SB3's: every ``learn`` from now on writes its rows through ``logger`` instead of the one it makes for
        ``log_dir`` / ``tensorboard_log`` (monitor.csv is still written to ``log_dir``). Any object with SB3's
        ``record(key, value, exclude=None)`` and ``dump(step)`` works: nngym's ``Logger`` or the one SB3's
        ``stable_baselines3.common.logger.configure(folder, ["stdout", "csv", "tensorboard"])`` returns. ``learn``
        leaves it open (its owner closes it), as SB3's does.

        Raises:
            TypeError: For an object without ``record`` and ``dump``.
        """
        if not (callable(getattr(logger, "record", None)) and callable(getattr(logger, "dump", None))):
            raise TypeError(
                f"{self.algo}.set_logger needs a logger with record(key, value, exclude=None) and dump(step) (nngym's "
                f"Logger or SB3's configure(...)), got {type(logger).__name__}"
            )
        self._custom_logger = self.logger = logger

    def set_random_seed(self, seed: int | None = None) -> None:
        """SB3's: seeds the agent's generator (sampling, minibatch order, exploration) and, at the next ``learn``'s
        reset, its envs and action space, with ``seed`` (None: a fresh random seed)."""
        self.seed = check_seed(seed)  # None: one drawn from the OS's entropy
        self.rng = np.random.default_rng(self.seed)
        self._envs_seeded = False
        self._last_obs = None  # the next learn resets the envs with it

    def dump_logs(self, iteration: int | None = None) -> None:
        """SB3's: writes a log row now (``rollout/``, ``train/`` and ``time/`` values) at the current step."""
        self._dump_logs(iteration)

    def _finish_learn(self, callback: BaseCallback) -> None:
        callback.on_training_end()
        if self.logger is not self._custom_logger:  # a logger of set_logger stays open for its owner
            self.logger.close()
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None

    # --- files --------------------------------------------------------------------------------
    def save(
        self,
        path: str | os.PathLike | BinaryIO,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
        include_replay_buffer: bool = False,
    ) -> Path | BinaryIO:
        """One npz of arrays (network parameters, optimiser state) plus JSON metadata, with a SHA-256 digest.

        The digest, stored in the file, lets ``load`` detect a damaged or accidentally edited file; it is no
        protection against deliberate modification, since anyone can recompute it.

        Args:
            path: File to write (``.npz`` appended if missing), or a binary file object (``io.BytesIO``).
            exclude: SB3's argument (attributes left out of its pickle); nngym's file holds arrays and settings only,
                so only None or an empty list is taken.
            include: SB3's argument, the same: None or empty.
            include_replay_buffer: DQN only: also store the replay buffer, to resume with it.

        Raises:
            ValueError: For an ``exclude`` or ``include`` that names something.
            TypeError: For a bool in ``exclude``'s place (``include_replay_buffer`` is a keyword).
        """
        check_save_arguments(self.algo, exclude, include)
        arrays: dict[str, np.ndarray] = {}
        for name, net in self._nets().items():
            arrays.update({f"net/{name}/{k}": v for k, v in net.state_dict().items()})
        opt = self._optimizer()
        opt_state = opt.state_dict()
        for pname, slots in opt_state["slots"].items():
            arrays.update({f"opt/{pname}/{k}": v for k, v in slots.items()})
        arrays.update(self._extra_arrays())
        if self.normalizer is not None:
            arrays.update(self.normalizer.arrays())
        if include_replay_buffer and hasattr(self, "replay_buffer"):
            arrays.update({f"replay/{k}": v for k, v in self.replay_buffer.state_dict().items()})
        meta = {
            "format": "nngym.agent",
            "algorithm": self.algo,
            "nngym_version": __version__,
            "system_info": _system_info(),
            # a callable schedule as a marker with its last value (the file holds no code): load restores it
            "config": dataclasses.asdict(
                dataclasses.replace(
                    self.config,
                    **{name: self._schedule_marker(name, fn) for name, fn in self._callable_schedules().items()},
                    **config_outside_call(self.config),  # a learn(log_interval=...) call's own value is not kept
                )
            ),
            "net": self.net if isinstance(self.net, str | list) else "custom",  # custom: rebuilt from architectures
            "seed": self.seed,
            "stats_window_size": self.stats_window_size,
            **self._file_rules(),
            # restored by load unless given there, as SB3's load restores them
            "tensorboard_log": None if self.tensorboard_log is None else os.fspath(self.tensorboard_log),
            "verbose": self.verbose,
            "env_id": self.env_id,
            "observation_space": _space_to_json(self.observation_space),
            "action_space": _space_to_json(self.action_space),
            "architectures": {name: net.architecture() for name, net in self._nets().items()},
            # what a network's errors name its input as (Sequential.input_shape), for the networks that know it
            "input_shapes": {
                name: [int(d) for d in net.input_shape]
                for name, net in self._nets().items()
                if net.input_shape is not None
            },
            "counters": {
                "num_timesteps": self.num_timesteps,
                "total_timesteps": self._total_timesteps,
                "n_updates": self._n_updates,
                "episode_num": self._episode_num,
                "pretrain_timesteps": self.pretrain_timesteps,
                "log_rows_before": self._log_rows_before,
                **self._extra_counters(),
            },
            "optimizer": {"t": opt_state["t"], "lr": opt_state["lr"]},
            "rng_state": self.rng.bit_generator.state,
        }
        meta["sha256"] = _digest(arrays, meta)
        return save_npz(path, arrays, meta)

    def _extra_counters(self) -> dict[str, Any]:
        return {}

    def _load_extra_counters(self, counters: dict[str, Any]) -> None:
        return None

    @classmethod
    def _read_model_file(cls, path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, metadata) of a model file ``save`` wrote for this algorithm, its digest checked.

        Raises:
            ModelFileError: As ``load`` names them.
        """
        if isinstance(path, str | os.PathLike):
            given = Path(path)
            # Population.save("x.npz") writes the folder x: a missing x.npz beside it names the folder
            folder = given.with_suffix("") if given.suffix == ".npz" and not given.exists() else given
            index = folder / "population.json"
            if index.is_file():
                try:
                    algo = json.loads(index.read_text()).get("algorithm") or cls.algo
                except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                    algo = cls.algo
                how = (
                    f"load it with agents.load_population({algo}, {os.fspath(folder)!r}), or one member with "
                    f"{algo}.load({os.path.join(folder, 's<seed>.npz')!r})"
                    + ("" if algo == cls.algo else f" (its members are {algo} agents, not {cls.algo})")
                )
                if folder != given:
                    raise FileNotFoundError(
                        f"model file not found: {path}; Population.save({os.fspath(path)!r}) wrote the population's "
                        f"folder {os.fspath(folder)!r} (without .npz): {how}"
                    )
                raise ModelFileError(f"{path} is a population's folder, not a model file: {how}")
            if given.is_dir():
                raise ModelFileError(f"{path} is a folder, not a model file")
        arrays, meta = load_npz(path)
        if meta.get("format") != "nngym.agent":
            raise ModelFileError(f"{path}: format is {meta.get('format')!r}, expected 'nngym.agent'")
        digest = meta.pop("sha256", None)
        if digest != _digest(arrays, meta):
            raise ModelFileError(
                f"{path}: content digest does not match: the file is corrupt or was changed after it was saved"
            )
        if meta.get("algorithm") != cls.algo:
            raise ModelFileError(f"{path} holds a {meta.get('algorithm')} model, cannot load it as {cls.algo}")
        return arrays, meta

    def _default_net_arch(self, net: Any) -> tuple[int, ...]:
        """SB3's default hidden sizes for ``net`` on the agent's observations: (64, 64) for MLPs and for the MLP heads
        after the CNNs of a Dict's or Tuple's image parts (SB3's ``MultiInputPolicy``), none after any other trunk
        (linear heads on its features: SB3's ``CnnPolicy`` after NatureCNN)."""
        return (64, 64) if not has_own_trunk(net, self.observation_space) else ()

    def _file_rules(self) -> dict[str, Any]:
        """Entries of the model file's metadata that say how its Config is read (how a default was resolved when
        it was saved): ``cnn_default``, that ``net="cnn"`` took NatureCNN for images it fits
        (``agents.common.policies.default_cnn_spec``)."""
        return {"cnn_default": "nature"}

    @classmethod
    def _config_from_file(cls, config: dict[str, Any], meta: dict[str, Any], overrides: dict[str, Any]) -> None:
        """Reads ``config`` (the file's Config, ``overrides`` already in) as the code that wrote the file meant it,
        in place, where a default's meaning changed: a file without the ``cnn_default`` rule was written when a trunk
        (``net="cnn"``, a spec, a given trunk) had linear heads whatever ``net_arch`` said, so it keeps them."""
        if "cnn_default" in meta or "net_arch" in overrides or "net_arch" not in config:
            return
        if has_own_trunk(meta.get("net"), _space_from_json(meta["observation_space"])):
            config["net_arch"] = ()

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | BinaryIO,
        env: str | gym.Env | gym.vector.VectorEnv | None = None,
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> Self:
        """Rebuilds an agent saved by ``save``; refuses another algorithm, other spaces or a corrupt file.

        A schedule that was a callable (``learning_rate=lambda p: 3e-4 * p``) is saved as its value at the last
        update, since the file holds no code: loaded without its function, it is that value as a constant, with a
        UserWarning naming the field; ``custom_objects={"learning_rate": fn}`` gives the function back.

        Args:
            path: The model file.
            env: Env to continue training on (its spaces must match the saved ones).
            custom_objects: SB3's argument: hyperparameters that replace the saved ones, chiefly the functions of
                callable schedules (``{"learning_rate": fn, "clip_range": fn2}``); keys must be Config fields.
            print_system_info: SB3's argument: print the nngym, numpy and Python versions that saved the file next to
                the ones running now.
            force_reset: SB3's argument, taken for compatibility: the file holds no last observation, so the first
                ``learn`` resets the env either way (as SB3's does after ``load``).
            **kwargs: ``log_dir``, ``verbose``, ``tensorboard_log``, ``device`` ("auto" / "cpu"), and hyperparameters
                that replace the saved ones (as SB3's ``load`` takes them), e.g. ``learning_rate=1e-5`` or
                ``n_envs=4`` to train on. ``verbose`` and ``tensorboard_log`` default to the saved agent's, as SB3's
                (``log_dir`` does not: a loaded agent writes no monitor.csv / progress.csv unless given one).

        Raises:
            ValueError: For ``custom_objects`` keys that are not Config fields, or also given as keywords.
            ModelFileError: Wrong algorithm, incompatible spaces, or digest mismatch (the file is corrupt or
                was edited after saving; the digest detects accidents, it does not authenticate the file), or a
                folder (a population's: the message says how to load it).
        """
        arrays, meta = cls._read_model_file(path)
        if print_system_info:
            print(system_info_lines(meta))
        obs_space = _space_from_json(meta["observation_space"])
        act_space = _space_from_json(meta["action_space"])
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        overrides = {k: v for k, v in kwargs.items() if k in fields}
        config = restore_schedules(cls.__name__, path, meta["config"], fields, custom_objects, overrides)
        cls._config_from_file(config, meta, overrides)
        if isinstance(env, gym.vector.VectorEnv) and "n_envs" in config and "n_envs" not in overrides:
            config["n_envs"] = env.num_envs  # a ready vector env sets the number of envs, unless n_envs is given
        elif isinstance(env, gym.Env) and "n_envs" in config and "n_envs" not in overrides:
            config["n_envs"] = 1  # an env instance is one env, whatever the saved run trained on
        kwargs = {k: v for k, v in kwargs.items() if k not in fields}
        if env is not None:
            env = _env_with_spaces(
                env,
                config.get("n_envs", 1),
                config.get("vectorization", "sync"),
                obs_space,
                act_space,
                f"{path}: saved spaces",
                ModelFileError,
            )
        net = meta["net"]
        if net == "custom":  # given networks: rebuild them from their saved architectures (weights come next)
            net = _custom_nets(path, meta)
        kwargs.setdefault("stats_window_size", meta.get("stats_window_size", 100))  # files before it kept 100
        kwargs.setdefault("tensorboard_log", meta.get("tensorboard_log"))  # SB3's load restores both
        kwargs.setdefault("verbose", meta.get("verbose", 0))
        if "net" in kwargs and kwargs.pop("net") != meta["net"]:
            raise ModelFileError(
                f"{path}: the file's networks are net={meta['net']!r}; load cannot rebuild them as another"
            )
        seed = kwargs.pop("seed", None)  # SB3's load(seed=...): the agent's seed from now on
        # a file written before net="cnn" took NatureCNN for large images is rebuilt with the CNNs it was saved with
        older = contextlib.nullcontext() if "cnn_default" in meta else cnn_defaults_of_older_files()
        with older:
            agent = cls(env, net=net, seed=meta["seed"], _spaces=(obs_space, act_space), **kwargs, **config)
        if seed is not None:
            agent.seed = check_seed(seed)
        agent.env_id = meta.get("env_id", "")
        for name, net in agent._nets().items():
            prefix = f"net/{name}/"
            saved = meta["architectures"][name]
            if net.architecture() != saved:
                # a file of a 3-D Box taken as an image before SB3's rule (is_image_space), or the other way round
                why = image_input_mismatch(agent.observation_space, saved[0].get("type") if saved else None)
                raise ModelFileError(
                    f"{path}: network {name} architecture differs from the config's" + (f": {why}" if why else "")
                )
            net.load_state_dict({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        slots: dict[str, dict[str, np.ndarray]] = {}
        for k, v in arrays.items():
            if k.startswith("opt/"):
                pname, key = k[4:].rsplit("/", 1)
                slots.setdefault(pname, {})[key] = v
        agent._optimizer().load_state_dict({**meta["optimizer"], "slots": slots})
        c = meta["counters"]
        agent.num_timesteps, agent._total_timesteps = c["num_timesteps"], c["total_timesteps"]
        agent._n_updates, agent._episode_num = c["n_updates"], c["episode_num"]
        agent.pretrain_timesteps = c.get("pretrain_timesteps", 0)
        agent._log_rows_before = {"monitor": 0, "progress": 0, **c.get("log_rows_before", {})}
        agent._load_extra_counters(c)
        agent.rng.bit_generator.state = meta["rng_state"]
        agent._load_extra_arrays(arrays)
        if agent.normalizer is not None:
            try:
                agent.normalizer.load_arrays(arrays)
            except KeyError as e:
                raise ModelFileError(f"{path}: {e.args[0]}") from None
        replay = {k[7:]: v for k, v in arrays.items() if k.startswith("replay/")}
        if replay and hasattr(agent, "replay_buffer"):
            agent.replay_buffer.load_state_dict(replay)
        return agent


def _custom_nets(path: str | os.PathLike, meta: dict[str, Any]) -> dict[str, Sequential]:
    """The given networks of a model file, rebuilt from their saved architectures with the ``input_shape`` each had
    (files written before ``input_shapes`` was saved have none: their networks get None).

    Raises:
        ModelFileError: Naming the file and the network, for an architecture or input shape that cannot be built.
    """
    shapes = meta.get("input_shapes") or {}
    if not isinstance(shapes, dict):
        raise ModelFileError(f"{path}: input_shapes must map network names to shapes, got {shapes!r}")
    nets = {}
    for name, arch in meta["architectures"].items():
        try:
            nets[name] = Sequential.from_architecture(arch, input_shape=shapes.get(name))
        except ModelFileError as e:
            raise ModelFileError(f"{path}: network {name}: {e}") from None
    return nets


def _system_info() -> dict[str, str]:
    """The versions running now, as a model file records them (``system_info``)."""
    return {
        "nngym": __version__,
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "python": sys.version.split()[0],
    }


def system_info_lines(meta: dict[str, Any]) -> str:
    """What ``load(..., print_system_info=True)`` prints: the versions a model file was saved with (its metadata
    ``meta``) and the ones running now."""
    saved = meta.get("system_info", {})
    now = _system_info()
    rows = [f"{name}: saved with {saved.get(name, 'unknown')}, running {version}" for name, version in now.items()]
    return "== nngym model file ==\n" + "\n".join(rows)


def _hyperparameter_property(name: str) -> property:
    """``agent.<name>``: the Config field ``name``, read and set as SB3's agents' hyperparameter attributes."""

    def get(agent: BaseAgent) -> Any:
        return getattr(agent.config, name)

    def set_(agent: BaseAgent, value: Any) -> None:
        agent._set_hyperparameter(name, value)

    return property(get, set_, doc=f"The hyperparameter ``{name}`` (``config.{name}``; SB3's attribute).")


def _digest(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _env_with_spaces(
    env: str | gym.Env | gym.vector.VectorEnv,
    n_envs: int,
    vectorization: str,
    observation_space: gym.Space,
    action_space: gym.Space,
    what: str,
    error: type[ValueError] = ValueError,
) -> gym.vector.VectorEnv:
    """``env`` as a vector env (``make_vec_env``: ``n_envs`` and ``vectorization`` for an env id, a vector env as it
    is, if it autoresets in the same step), after checking that its single spaces are ``observation_space`` and
    ``action_space``; an env of channels-last images for channels-first ``observation_space`` comes in
    ``TransposedImages`` (SB3's ``VecTransposeImage``: a model converted from SB3 plays the env it trained on).

    Raises:
        ValueError: (``error``) ``what`` followed by both pairs of spaces, if they differ; ``make_vec_env``'s.
    """
    vec = make_vec_env(env, None if isinstance(env, gym.vector.VectorEnv) else n_envs, vectorization)
    if vec.single_observation_space != observation_space and channels_first(vec.single_observation_space) == (
        observation_space
    ):
        vec = TransposedImages(vec)  # channels-last images for channels-first networks, as SB3's VecTransposeImage
    if vec.single_observation_space != observation_space or vec.single_action_space != action_space:
        raise error(
            f"{what} {observation_space}, {action_space} do not match the env's "
            f"{vec.single_observation_space}, {vec.single_action_space}"
        )
    return vec


def _space_to_json(space: gym.Space) -> dict[str, Any]:
    """A JSON-able description of ``space`` (Discrete, Box, MultiDiscrete, MultiBinary, Dict, Tuple, nested).

    Raises:
        ValueError: For another space type.
    """
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start), "dtype": str(space.dtype)}
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": space.start.tolist(),
            "dtype": str(space.dtype),
        }
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, gym.spaces.Dict):  # key order kept: it is the order of the encoding
        return {"type": "Dict", "spaces": [[key, _space_to_json(s)] for key, s in space.spaces.items()]}
    if isinstance(space, gym.spaces.Tuple):
        return {"type": "Tuple", "spaces": [_space_to_json(s) for s in space.spaces]}
    raise ValueError(
        f"cannot save space {space}: Discrete, Box, MultiDiscrete, MultiBinary, Dict and Tuple are supported"
    )


def _space_from_json(d: dict[str, Any]) -> gym.Space:
    """The space ``_space_to_json`` described.

    Raises:
        ModelFileError: For an unknown space type.
    """
    kind = d.get("type")
    if kind == "Discrete":
        return gym.spaces.Discrete(d["n"], start=d["start"], dtype=d.get("dtype", "int64"))  # int64 before it was kept
    if kind == "Box":
        low = np.array(d["low"], dtype=d["dtype"]).reshape(d["shape"])
        high = np.array(d["high"], dtype=d["dtype"]).reshape(d["shape"])
        return gym.spaces.Box(low, high, dtype=d["dtype"])
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(np.array(d["nvec"]), dtype=d["dtype"], start=np.array(d["start"]))
    if kind == "MultiBinary":
        return gym.spaces.MultiBinary(d["n"])
    if kind == "Dict":  # a list of pairs keeps the saved key order
        return gym.spaces.Dict([(key, _space_from_json(s)) for key, s in d["spaces"]])
    if kind == "Tuple":
        return gym.spaces.Tuple([_space_from_json(s) for s in d["spaces"]])
    raise ModelFileError(f"unknown space type {kind!r}")


def _has_conv(net: Sequential) -> bool:
    """Whether ``net`` has a convolution (the layers whose batches pay for splitting across threads)."""
    return any(isinstance(layer, Conv2D) for layer in net.layers)
