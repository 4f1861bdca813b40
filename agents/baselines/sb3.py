"""Stable-Baselines3 baselines behind nngym's agent interface: same constructor, hyperparameter YAML and log files.

``SB3PPO``, ``SB3A2C``, ``SB3DQN`` (stable-baselines3) and ``SB3RecurrentPPO`` (sb3-contrib) take what
nngym's ``PPO``/``A2C``/``DQN`` take (an env id, ``net``, ``seed``, ``log_dir``, ``verbose`` and the fields
of the agent's Config as read by ``agents.load_hyperparams``) and map them to SB3's arguments with
rl-baselines3-zoo's semantics (``lin_<x>`` schedules, ``net_arch`` in ``policy_kwargs``). Training writes
the same two files as nngym's agents: ``<log_dir>/monitor.csv`` (SB3's ``VecMonitor``, one file for all
envs) and ``<log_dir>/progress.csv`` (SB3's CSV logger). Models are saved as npz + JSON (the policy's
``state_dict`` and the optimiser's), never SB3's pickled zip.

For ``net="cnn"`` (or a CNN spec string such as ``"conv:8x5,pool:2,dense:64"``) SB3 gets ``SpecCNN`` as
its features extractor: the torch twin of the network ``nngym.builders.cnn`` builds from the same spec,
layer for layer (``"cnn"``: ``agents.common.policies.default_cnn_spec``, NatureCNN's layers for images of at least
36 pixels a side, nngym's smaller CNNs for smaller images, which NatureCNN cannot take).

Example:
    >>> agent = SB3PPO("CartPole-v1", seed=0, n_envs=8, n_steps=32).learn(10_000)
    >>> action, _ = agent.predict(obs, deterministic=True)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback as SB3Callback
from stable_baselines3.common.logger import CSVOutputFormat, HumanOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.monitor import ResultsWriter
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor, VecNormalize
from torch import nn
from typing_extensions import Self

from agents.common.callbacks import MaybeCallback, ProgressBarCallback, as_callback, start_training
from agents.common.cnn import image_layout
from agents.common.config import CALLABLE_FIELDS, CONFIG_LOG_INTERVAL, restore_schedules, schedule_marker
from agents.common.logger import last_episode_t, log_rows, tensorboard_run_dir, trim_monitor, trim_progress
from agents.common.normalize import agent_normalizer
from agents.common.policies import cnn_defaults_of_older_files
from agents.common.policies import default_cnn_spec as nngym_default_cnn_spec
from agents.common.recurrent_buffer import default_seq_len
from agents.common.sb3_args import check_save_arguments
from agents.recurrent_ppo import RecurrentPPOConfig
from nngym.builders import cnn
from nngym.serialization import ModelFileError, load_npz, save_npz

#: Config fields of nngym's agents that SB3 has no argument for and that change nothing there.
NNGYM_ONLY = ("vectorization",)
#: Activation names (nngym) -> torch modules.
ACTIVATION_FNS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


def default_cnn_spec(observation_space: gym.spaces.Box) -> str:
    """The CNN spec nngym's agents use for ``net="cnn"`` on these observations (``agents.common.policies.
    default_cnn_spec``: SB3's NatureCNN from 36 pixels a side, ``CNN_SPEC`` for digit-sized images, ``CNN_SPEC_SMALL``
    for small grids)."""
    return nngym_default_cnn_spec(image_layout(observation_space)[0])


def _is_cnn(net: str) -> bool:
    return net == "cnn" or "conv:" in net


class SpecCNN(BaseFeaturesExtractor):
    """SB3 features extractor with the architecture ``nngym.builders.cnn(spec, ...)`` builds.

    The nngym network is built once (weights discarded) and each of its layers becomes the torch
    layer with the same ``config()``: Conv2D -> ``nn.Conv2d``, MaxPool2D -> ``nn.MaxPool2d``,
    L2Pool2D -> ``nn.LPPool2d(2)``, Dense -> ``nn.Linear``, activations, Dropout, Flatten.

    Args:
        observation_space: Image space (C, H, W).
        spec: nngym CNN spec, e.g. ``"conv:20x5,pool:2,conv:40x5,pool:2,dense:100"``.
        activation: After every conv and dense (as in ``nngym.builders.cnn``).
        pool: Kind of ``pool:`` items, ``"max"`` or ``"l2"``.
    """

    def __init__(self, observation_space: gym.spaces.Box, spec: str, activation: str = "relu", pool: str = "max"):

        template = cnn(spec, observation_space.shape, np.random.default_rng(0), activation=activation, pool=pool)
        layers = [_torch_layer(layer) for layer in template.layers]
        with torch.no_grad():
            n_features = nn.Sequential(*layers)(torch.zeros(1, *observation_space.shape)).shape[1]
        super().__init__(observation_space, int(n_features))
        self.cnn = nn.Sequential(*layers)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.cnn(observations)


def _torch_layer(layer: Any) -> nn.Module:
    """The torch module equivalent to one nngym layer (by class name and ``config()``)."""
    name, c = type(layer).__name__, layer.config()
    if name == "Conv2D":
        return nn.Conv2d(c["in_channels"], c["out_channels"], c["kernel_size"], c["stride"], c["padding"])
    if name == "MaxPool2D":
        return nn.MaxPool2d(c["size"], c["stride"])
    if name == "L2Pool2D":
        return nn.LPPool2d(2, c["size"], c["stride"])
    if name == "Dense":
        return nn.Linear(c["n_in"], c["n_out"])
    if name == "Dropout":
        return nn.Dropout(c["p"])
    if name == "Flatten":
        return nn.Flatten()
    if name.lower() in ACTIVATION_FNS:
        return ACTIVATION_FNS[name.lower()]()
    raise ValueError(f"no torch equivalent for nngym layer {name}; expected Conv2D, pools, Dense, Dropout, Flatten")


class _CallbackAdapter(SB3Callback):
    """Calls an nngym callback (``agents.common.callbacks``) from SB3's ``learn``, with the wrapper as its model:
    every hook in SB3's order, and SB3's training-loop variables as its ``locals`` (``infos`` is SB3's list of dicts
    here)."""

    def __init__(self, callback: Any, agent: SB3Agent) -> None:
        super().__init__()
        self.inner, self.wrapper = callback, agent

    def _on_training_start(self) -> None:
        self.inner.init_callback(self.wrapper)
        start_training(self.inner, self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        self.inner.on_rollout_start()

    def _on_step(self) -> bool:
        self.inner.update_locals(self.locals)  # SB3 updated ours just before this step's on_step
        return bool(self.inner.on_step())

    def _on_rollout_end(self) -> None:
        self.inner.on_rollout_end()

    def _on_training_end(self) -> None:
        self.inner.on_training_end()


class SB3Agent:
    """An SB3 algorithm built from nngym's hyperparameters, with nngym's ``learn``/``predict``/``save``/``load``.

    Args:
        env: Env id (``n_envs`` copies in a ``DummyVecEnv``, seeded ``seed + i`` as SB3's
            ``make_vec_env`` does) or a single ``gymnasium.Env`` (n_envs must be 1).
        net: ``"mlp"``, ``"cnn"`` (``agents.common.policies.default_cnn_spec``), a CNN spec string, or ``"lstm"``
            (recurrent PPO only).
        seed: Seeds torch, the envs and the action spaces.
        log_dir: Where ``monitor.csv`` and ``progress.csv`` go (``None``: no files).
        verbose: 1 also prints SB3's table at each log interval.
        tensorboard_log: SB3's ``tensorboard_log``: event files in ``<tensorboard_log>/<ALGO>_<n>`` per ``learn``.
        **config: nngym Config fields (``n_envs``, ``learning_rate``, ``net_arch``, ``activation``, ...).

    Raises:
        ValueError: For a hyperparameter SB3's algorithm does not take, a net it cannot build, or a space it does
            not support (SB3 has no Tuple observations).
    """

    algo: ClassVar[str] = ""
    sb3_class: ClassVar[type[BaseAlgorithm]] = BaseAlgorithm
    policy_names: ClassVar[dict[str, str]] = {"mlp": "MlpPolicy", "cnn": "CnnPolicy"}
    #: SB3's policy for Dict observations (each part encoded, images by its CNN), used where nngym's "mlp" is
    dict_policy: ClassVar[str] = "MultiInputPolicy"
    schedule_keys: ClassVar[tuple[str, ...]] = ("learning_rate",)
    #: torch threads while building and learning, one as nngym's agents (``BaseAgent.num_threads``): one thread
    #: on small matrices; set it on an agent for more.
    torch_threads: int = 1

    def __init__(
        self,
        env: str | gym.Env | None,
        net: str = "mlp",
        seed: int = 0,
        log_dir: str | os.PathLike | None = None,
        verbose: int = 0,
        tensorboard_log: str | os.PathLike | None = None,
        **config: Any,
    ) -> None:
        self.net, self.seed, self.verbose = net, int(seed), verbose
        self.tensorboard_log = None if tensorboard_log is None else str(tensorboard_log)
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
        self.n_envs = int(config.get("n_envs", 1))
        self.env_id = env if isinstance(env, str) else getattr(getattr(env, "spec", None), "id", "") or ""
        self.log_interval = int(config.get("log_interval", 1 if self.algo != "DQN" else 4))
        torch.set_num_threads(self.torch_threads)
        self._normalize_obs = bool(config.get("normalize_obs", False))
        self._normalize_reward = bool(config.get("normalize_reward", False))
        self._gamma = float(config.get("gamma", 0.99))
        settings = SimpleNamespace(
            normalize_obs=self._normalize_obs,
            normalize_reward=self._normalize_reward,
            gamma=self._gamma,
            normalize_kwargs=config.get("normalize_kwargs"),
        )
        agent_normalizer(f"SB3 {self.algo}", settings, (1,), 1)  # VecNormalize's other settings, checked as nngym's
        if settings.normalize_kwargs is not None:  # plain numbers, as the model file's JSON keeps them
            self.config["normalize_kwargs"] = settings.normalize_kwargs
        self._normalize_kwargs = dict(settings.normalize_kwargs or {})
        self._venv = None if env is None else self._make_env(env)
        kwargs = self._sb3_kwargs(dict(config))
        self.model = None
        if self._venv is not None:
            policy = kwargs.pop("policy")
            try:
                self.model = self.sb3_class(
                    policy,
                    self._venv,
                    seed=self.seed,
                    device="cpu",
                    verbose=0,
                    tensorboard_log=self.tensorboard_log,
                    **kwargs,
                )
            except NotImplementedError as e:  # SB3's word for a space it does not support (Tuple observations)
                raise ValueError(f"SB3 {self.algo}: {e}") from e
        self._train_seconds = 0.0
        self._logged_to: Path | None = None  # the log_dir an earlier learn of this agent wrote to
        #: rows of monitor.csv (episodes) and progress.csv that earlier runs left before this run's (nngym's
        #: ``BaseAgent._log_rows_before``): what a run resumed from a checkpoint keeps below its own rows
        self._log_rows_before: dict[str, int] | None = {"monitor": 0, "progress": 0}  # None: not known
        self._episode_base = 0  # _episode_num = this + the VecMonitor's episode_count

    # --- construction ------------------------------------------------------------------------
    def _make_env(self, env: str | gym.Env) -> VecEnv:
        if isinstance(env, str):
            venv = DummyVecEnv([lambda: gym.make(env) for _ in range(self.n_envs)])
        elif self.n_envs == 1:
            venv = DummyVecEnv([lambda: env])
        else:
            raise ValueError(f"{self.algo}: pass an env id for n_envs={self.n_envs}, got one {type(env).__name__}")
        venv.seed(self.seed)
        for i, e in enumerate(venv.envs):
            e.action_space.seed(self.seed + i)
        self._monitor = VecMonitor(venv)  # raw returns, under any normalisation
        if self._normalize_obs or self._normalize_reward:  # as nngym's RunningNormalizer / reward scaling, clip 10
            settings = {"clip_obs": 10.0, "clip_reward": 10.0, "gamma": self._gamma, "epsilon": 1e-8}
            return VecNormalize(
                self._monitor,
                norm_obs=self._normalize_obs,
                norm_reward=self._normalize_reward,
                **{**settings, **self._normalize_kwargs},
            )
        return self._monitor

    def _sb3_kwargs(self, hp: dict[str, Any]) -> dict[str, Any]:
        """nngym Config fields -> SB3 constructor arguments (zoo semantics)."""
        for key in ("n_envs", "log_interval", "normalize_obs", "normalize_reward", "normalize_kwargs", *NNGYM_ONLY):
            hp.pop(key, None)
        for key in self.schedule_keys:
            if isinstance(hp.get(key), str):
                hp[key] = _sb3_schedule(hp[key], f"SB3 {self.algo}: {key}")
        policy_kwargs: dict[str, Any] = {}
        net_arch = hp.pop("net_arch", None)  # a list, or dict(pi=..., vf=...) for actor and critic sizes of their own
        if net_arch is not None:  # None: SB3's default
            is_dict = isinstance(net_arch, dict)
            policy_kwargs["net_arch"] = {k: list(v) for k, v in net_arch.items()} if is_dict else list(net_arch)
        if "activation" in hp:
            name = hp.pop("activation")
            if name not in ACTIVATION_FNS:
                raise ValueError(f"{self.algo}: activation must be one of {sorted(ACTIVATION_FNS)}, got {name!r}")
            policy_kwargs["activation_fn"] = ACTIVATION_FNS[name]
        for key in ("ortho_init", "log_std_init"):
            if key in hp:
                policy_kwargs[key] = hp.pop(key)
        # SB3's MultiInputPolicy ("multi_input"): its own CombinedExtractor, chosen below for Dict observations
        family = "mlp" if self.net == "multi_input" else "cnn" if _is_cnn(self.net) else self.net
        if family not in self.policy_names:
            raise ValueError(
                f"{self.algo}: net must be one of {sorted(self.policy_names)} or a CNN spec, got {self.net!r}"
            )
        if family == "cnn":  # nngym: one trunk shared by the heads (agents.common.policies); SB3 shares it too
            spec = default_cnn_spec(self._venv.observation_space) if self.net == "cnn" else self.net
            policy_kwargs["features_extractor_class"] = SpecCNN
            policy_kwargs["features_extractor_kwargs"] = {"spec": spec}
            policy_kwargs.setdefault("net_arch", [])  # SB3's CnnPolicy default: linear heads; else MLPs of net_arch
        hp["policy"] = self.policy_names[family]
        if family == "mlp" and isinstance(getattr(self._venv, "observation_space", None), gym.spaces.Dict):
            hp["policy"] = self.dict_policy  # SB3 refuses MlpPolicy on Dict observations
        hp["policy_kwargs"] = policy_kwargs
        import inspect

        accepted = set(inspect.signature(self.sb3_class.__init__).parameters)
        unknown = sorted(set(hp) - accepted)
        if unknown:
            raise ValueError(f"SB3 {self.algo}: no argument for hyperparameters {unknown}")
        return hp

    # --- the agent interface -------------------------------------------------------------------
    @property
    def num_timesteps(self) -> int:
        return int(self.model.num_timesteps)

    @property
    def logger(self) -> Logger:
        return self.model.logger

    def get_env(self) -> VecEnv | None:
        """The SB3 model's vector env (SB3's ``get_env``; None when loaded without one)."""
        return None if self.model is None else self.model.get_env()

    @property
    def _episode_num(self) -> int:
        """Episodes this run has finished (since the ``learn`` that reset the counters, across a checkpoint)."""
        monitor = getattr(self, "_monitor", None)
        return self._episode_base + (0 if monitor is None else int(monitor.episode_count))

    @property
    def _total_timesteps(self) -> int:  # read by nngym's ProgressBarCallback
        return int(self.model._total_timesteps)

    def learning_threads(self) -> int:
        """The torch threads ``learn`` uses (``torch_threads``)."""
        return self.torch_threads

    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int | None = CONFIG_LOG_INTERVAL,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Self:
        """Trains for ``total_timesteps`` env steps, writing monitor.csv and progress.csv to ``log_dir``
        (``log_interval``: SB3's, for this call, None writing no rows; the default keeps the agent's).

        The files are kept as nngym's agents keep theirs (``BaseAgent._open_logs``): every ``learn`` of this agent
        after the first appends to them, with ``reset_num_timesteps=True`` too (monitor.csv's header stays the first
        run's and ``t`` goes on from its last row; progress.csv's rows follow the earlier ones, their steps from 0
        again), as SB3's ``Monitor`` keeps writing to its file; the first ``learn`` of an agent starts them anew,
        unless it continues a run (``reset_num_timesteps=False``, e.g. after ``load``): then the rows logged after
        the checkpoint, which the resumed run plays again, are dropped (the episodes after the checkpoint's from
        monitor.csv, the rows after its ``num_timesteps`` from progress.csv).

        Args:
            total_timesteps: Env steps of this call.
            callback: nngym callback(s) (``agents.common.callbacks``), called with this wrapper as their agent.
            progress_bar: SB3's progress bar.
            reset_num_timesteps: False continues the counters (and the schedules) and the TensorBoard run.
        """
        if self.model is None:
            raise ValueError(f"SB3 {self.algo}.learn needs an env: pass env= to the constructor or to load()")
        torch.set_num_threads(self.torch_threads)
        if reset_num_timesteps:  # a new run: its episodes from 0
            self._episode_base = -int(self._monitor.episode_count)
        if self.log_dir is not None:
            again = self._logged_to == self.log_dir  # this agent wrote the files in an earlier learn
            self._tb_name = tb_log_name or self.algo  # SB3's run name of the TensorBoard directory
            self._attach_logs(again, reset_num_timesteps)
            self._logged_to = self.log_dir
        callbacks = list(callback) if isinstance(callback, list | tuple) else [] if callback is None else [callback]
        if progress_bar:  # nngym's tqdm bar (SB3's needs the rich package)
            callbacks.append(ProgressBarCallback())
        inner = as_callback(callbacks, f"SB3 {self.algo}.learn")  # refuses what is not a callback, before any step
        t0 = time.perf_counter()
        self.model.learn(
            total_timesteps,
            callback=_CallbackAdapter(inner, self),
            log_interval=(  # None: SB3's, no rows
                self.log_interval
                if log_interval is CONFIG_LOG_INTERVAL
                else None
                if log_interval is None
                else _log_interval(log_interval, self.algo)
            ),
            reset_num_timesteps=reset_num_timesteps,
        )
        self._train_seconds += time.perf_counter() - t0
        if self._monitor.results_writer is not None:
            self._monitor.results_writer.close()
            self._monitor.results_writer = None
        return self

    def _attach_logs(self, again: bool, reset_num_timesteps: bool) -> None:
        """SB3's VecMonitor writer and CSV logger on ``<log_dir>/monitor.csv`` and ``progress.csv``, and SB3's
        TensorBoard writer in a new run directory, or the latest one when continuing a run (not
        ``reset_num_timesteps``).

        The files are appended to when this agent wrote them in an earlier ``learn`` (``again``) or the run goes on
        (not ``reset_num_timesteps``); a run resumed from a model file (not ``again``) first drops the rows its
        earlier self logged after the checkpoint, as ``BaseAgent._open_logs`` does.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        monitor, progress = self.log_dir / "monitor.csv", self.log_dir / "progress.csv"
        if again and reset_num_timesteps:  # a new run after the rows of the earlier ones
            self._log_rows_before = log_rows(self.log_dir)
        elif not again and reset_num_timesteps:  # a new run in new files
            self._log_rows_before = {"monitor": 0, "progress": 0}
        elif not again and self._log_rows_before is not None:  # resumed from a model file: rows up to its checkpoint
            trim_progress(progress, self._log_rows_before["progress"], self.num_timesteps)
            trim_monitor(monitor, self._log_rows_before["monitor"] + self._episode_num)
        append = again or not reset_num_timesteps
        vm = self._monitor
        keep = append and monitor.exists()
        vm.t_start = time.time()
        if keep:  # t goes on from the last row, as nngym's MonitorWriter continues it (the file keeps its header)
            vm.t_start -= last_episode_t(monitor.read_text().splitlines())
        vm.results_writer = ResultsWriter(
            str(monitor), header={"t_start": vm.t_start, "env_id": self.env_id}, override_existing=not keep
        )
        old = progress.read_text() if append and progress.exists() else ""
        csv_format = CSVOutputFormat(str(progress))
        if old:  # continue the file: SB3's CSV writer opens it with "w+"
            csv_format.file.write(old)
            csv_format.file.flush()
            csv_format.keys = old.splitlines()[0].split(",")
        formats = [csv_format] + ([HumanOutputFormat(sys.stdout)] if self.verbose >= 1 else [])
        if self.model.tensorboard_log is not None:  # tensorboard_log=DIR: SB3's writer, SB3's <DIR>/<ALGO>_<n> runs
            formats.append(
                TensorBoardOutputFormat(
                    str(tensorboard_run_dir(self.model.tensorboard_log, self._tb_name, reset_num_timesteps))
                )
            )
        self.model.set_logger(Logger(str(self.log_dir), formats))

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``predict``: one observation or a batch; ``state``/``episode_start`` for recurrent policies; a sample
        unless ``deterministic=True``, as SB3's default."""
        if episode_start is not None:  # nngym's evaluators pass a bool; SB3 wants (n_envs,)
            episode_start = np.atleast_1d(np.asarray(episode_start, dtype=bool))
        if isinstance(self._venv, VecNormalize) and self._normalize_obs:
            observation = self._venv.normalize_obs(np.asarray(observation, dtype=np.float32))
        return self.policy.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)

    @property
    def policy(self) -> Any:
        return self.model.policy

    # --- files ----------------------------------------------------------------------------------
    def save(
        self, path: str | os.PathLike, exclude: Any = None, include: Any = None, include_replay_buffer: bool = False
    ) -> Path:
        """The policy's and optimiser's tensors in an npz, the hyperparameters and counters as JSON.

        Args:
            path: File to write (``.npz`` appended if missing).
            exclude: SB3's, as nngym's agents take it: None or empty (``check_save_arguments``).
            include: The same.
            include_replay_buffer: True is refused: the adapter's files hold no replay buffer.

        Raises:
            ValueError: For ``include_replay_buffer=True``, or an ``exclude`` / ``include`` that names something.
        """
        check_save_arguments(f"SB3 {self.algo}", exclude, include)
        if include_replay_buffer:
            raise ValueError(f"SB3 {self.algo}.save: the SB3 adapter's model files hold no replay buffer")
        arrays = {f"policy/{k}": v.detach().cpu().numpy() for k, v in self.policy.state_dict().items()}
        opt = self.policy.optimizer.state_dict()
        for idx, slots in opt["state"].items():
            for k, v in slots.items():
                arrays[f"opt/{idx}/{k}"] = v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)
        if isinstance(self._venv, VecNormalize):
            for name in ("obs_rms", "ret_rms"):
                rms = getattr(self._venv, name)
                arrays.update({f"{name}/mean": rms.mean, f"{name}/var": rms.var, f"{name}/count": np.array(rms.count)})
        config = dict(self.config)
        progress = float(getattr(self.model, "_current_progress_remaining", 1.0))
        for name in CALLABLE_FIELDS:  # a callable schedule: its value where SB3 last evaluated it (load restores it)
            if callable(fn := config.get(name)):
                config[name] = schedule_marker(fn, float(fn(progress)), progress)
        meta = {
            "format": "nngym.sb3",
            "algorithm": self.algo,
            "net": self.net,
            "cnn_default": "nature",  # net="cnn": NatureCNN for images it fits (policies.default_cnn_spec)
            "seed": self.seed,
            "env_id": self.env_id,
            "config": config,
            "param_groups": [{k: v for k, v in g.items() if _jsonable(v)} for g in opt["param_groups"]],
            "num_timesteps": self.num_timesteps,
            "n_updates": int(getattr(self.model, "_n_updates", 0)),
            "episode_num": self._episode_num,
            "log_rows_before": self._log_rows_before,
        }
        return save_npz(path, arrays, meta)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        env: str | gym.Env | None = None,
        custom_objects: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Rebuilds an agent saved by ``save`` on ``env`` (default: the saved env id).

        A callable schedule was saved as its last value: without its function in ``custom_objects`` it is that
        value as a constant, with a UserWarning (as nngym's ``BaseAgent.load``).

        Args:
            path: The model file.
            env: Env to continue training / act on.
            custom_objects: Hyperparameters that replace the saved ones, such as the functions of callable schedules
                (``{"learning_rate": fn}``).
            **kwargs: ``log_dir``, ``verbose``.

        Raises:
            ModelFileError: Not an SB3 model file of this algorithm, or tensors of other shapes.
            ValueError: For ``custom_objects`` keys that are not hyperparameters.
        """
        arrays, meta = load_npz(path)
        if meta.get("format") != "nngym.sb3" or meta.get("algorithm") != cls.algo:
            raise ModelFileError(
                f"{path}: holds {meta.get('format')!r} {meta.get('algorithm')!r}, expected 'nngym.sb3' {cls.algo!r}"
            )
        fields = set(meta["config"]) | set(CALLABLE_FIELDS)
        config = restore_schedules(cls.__name__, path, meta["config"], fields, custom_objects, {})
        if "cnn_default" not in meta and _is_cnn(meta["net"]) and "net_arch" in config:
            config["net_arch"] = []  # a file of then: the heads after its CNN were linear whatever net_arch said
        # a file written before net="cnn" took NatureCNN for large images is rebuilt with the CNN it was saved with
        older = contextlib.nullcontext() if "cnn_default" in meta else cnn_defaults_of_older_files()
        with older:
            agent = cls(env or meta["env_id"], net=meta["net"], seed=meta["seed"], **kwargs, **config)
        state = {k[7:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("policy/")}
        try:
            agent.policy.load_state_dict(state)
        except RuntimeError as e:
            raise ModelFileError(f"{path}: tensors do not fit the policy: {e}") from None
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in arrays.items():
            if k.startswith("opt/"):
                idx, key = k[4:].split("/", 1)
                opt_state.setdefault(int(idx), {})[key] = torch.as_tensor(v)
        groups = agent.policy.optimizer.state_dict()["param_groups"]
        for g, saved in zip(groups, meta["param_groups"], strict=False):
            g.update({k: v for k, v in saved.items() if k != "params"})
        agent.policy.optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
        agent.model.num_timesteps = int(meta["num_timesteps"])
        agent.model._n_updates = int(meta["n_updates"])
        # a file written without these counters says nothing of the rows before its checkpoint: they are all kept
        agent._episode_base = int(meta.get("episode_num", 0))
        agent._log_rows_before = meta.get("log_rows_before")
        if isinstance(agent._venv, VecNormalize):
            for name in ("obs_rms", "ret_rms"):
                if f"{name}/mean" in arrays:
                    rms = getattr(agent._venv, name)
                    rms.mean, rms.var = arrays[f"{name}/mean"].copy(), arrays[f"{name}/var"].copy()
                    rms.count = float(arrays[f"{name}/count"])
        return agent


def _log_interval(value: Any, algo: str) -> int:
    """SB3's ``log_interval``, checked: an int >= 1."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"SB3 {algo}.learn: log_interval must be an int >= 1, got {value!r}")
    return int(value)


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except TypeError:
        return False
    return True


def _linear_schedule(start: float):
    """SB3 schedule: ``start`` at progress_remaining 1, down to 0 (zoo's ``lin_<start>``)."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * start

    return schedule


def _sb3_schedule(text: str, name: str) -> Any:
    """A schedule given as a string, as rl-baselines3-zoo's ``_preprocess_schedules`` reads it for SB3: ``lin_<x>`` /
    ``linear_<x>`` -> the linear schedule from ``x`` to 0, ``"<x>"`` -> the number ``x``.

    Raises:
        ValueError: Naming ``name``, the accepted forms and ``text``, for any other string or a number < 0.
    """
    s = text.strip()
    prefix = next((p for p in ("lin_", "linear_") if s.startswith(p)), "")
    try:
        value = float(s[len(prefix) :])
    except ValueError:
        value = math.nan
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{name} must be a number >= 0, 'lin_<x>' or 'linear_<x>' (x >= 0), got {text!r}")
    return _linear_schedule(value) if prefix else value


class SB3PPO(SB3Agent):
    """stable-baselines3's PPO with nngym's PPO hyperparameters (``agents/hyperparams/ppo.yml``)."""

    algo = "PPO"
    sb3_class = PPO
    schedule_keys = ("learning_rate", "clip_range", "clip_range_vf")


class SB3A2C(SB3Agent):
    """stable-baselines3's A2C with nngym's A2C hyperparameters (``agents/hyperparams/a2c.yml``)."""

    algo = "A2C"
    sb3_class = A2C


class SB3DQN(SB3Agent):
    """stable-baselines3's DQN with nngym's DQN hyperparameters (``agents/hyperparams/dqn.yml``).

    ``n_steps`` is SB3's own (SB3 >= 2.6, its NStepReplayBuffer); ``learning_rate_final`` with
    ``learning_rate_decay_start`` / ``_end`` becomes the same piecewise-linear schedule
    (``agents.dqn.lr_decay_schedule``), a callable of the progress remaining as SB3 takes it.
    ``double_q=True`` has no SB3 counterpart and raises ValueError.
    """

    algo = "DQN"
    sb3_class = DQN

    def _sb3_kwargs(self, hp: dict[str, Any]) -> dict[str, Any]:
        if hp.pop("double_q", False):
            raise ValueError("SB3 DQN has no double Q-learning; drop double_q=True for the comparison")
        final = hp.pop("learning_rate_final", None)
        start, end = hp.pop("learning_rate_decay_start", 0.0), hp.pop("learning_rate_decay_end", 1.0)
        if final is not None:
            from agents.dqn import lr_decay_schedule

            hp["learning_rate"] = lr_decay_schedule(hp.get("learning_rate", 1e-4), final, start, end)
        return super()._sb3_kwargs(hp)


class SB3RecurrentPPO(SB3Agent):
    """sb3-contrib's RecurrentPPO with nngym's recurrent PPO hyperparameters (``hyperparams/recurrent_ppo.yml``).

    Both have an LSTM actor and a separate LSTM critic (sb3-contrib's ``enable_critic_lstm``) followed by
    ``net_arch``. ``lstm_hidden_size`` goes to the policy; ``lstm_forget_bias`` (default: nngym's) is applied
    after construction (torch gate order i, f, g, o: ``bias_ih[H:2H] = b_f``, ``bias_hh[H:2H] = 0``).
    sb3-contrib has no ``seq_len`` (its sequences are cut at episode starts and at the ends of its ``batch_size``
    -transition minibatches, which nngym's default ``seq_len`` follows) and no encoder before the LSTM, so a
    ``seq_len`` other than None or that default and a non-empty ``encoder_arch`` raise ValueError.
    """

    algo = "RecurrentPPO"
    sb3_class = RecurrentPPO
    policy_names = {"mlp": "MlpLstmPolicy", "lstm": "MlpLstmPolicy", "cnn": "CnnLstmPolicy"}
    dict_policy = "MultiInputLstmPolicy"
    schedule_keys = ("learning_rate", "clip_range", "clip_range_vf")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._forget_bias: float | None = None
        super().__init__(*args, **kwargs)
        if self.model is not None and self._forget_bias is not None:
            with torch.no_grad():
                for lstm in (self.policy.lstm_actor, self.policy.lstm_critic):
                    if lstm is None:
                        continue
                    h = lstm.hidden_size
                    for layer in range(lstm.num_layers):
                        getattr(lstm, f"bias_ih_l{layer}")[h : 2 * h] = self._forget_bias
                        getattr(lstm, f"bias_hh_l{layer}")[h : 2 * h] = 0.0

    def _make_env(self, env: str | gym.Env) -> VecEnv:
        venv = super()._make_env(env)
        if isinstance(venv.action_space, gym.spaces.MultiBinary):  # checked here, before training fails in torch
            venv.close()
            raise ValueError(
                f"sb3-contrib's RecurrentPPO cannot train on MultiBinary actions, got {venv.action_space}: its "
                "recurrent rollout buffer keeps them as int8, which its Bernoulli log-probability refuses (SB3's "
                "PPO and A2C take them)"
            )
        return venv

    def _sb3_kwargs(self, hp: dict[str, Any]) -> dict[str, Any]:
        if hp.pop("encoder_arch", ()):
            raise ValueError("sb3-contrib's MlpLstmPolicy has no encoder before the LSTM; drop encoder_arch")
        seq_len = hp.pop("seq_len", None)
        n_steps, batch_size = (
            hp.get("n_steps", _nngym_default("n_steps")),
            hp.get("batch_size", _nngym_default("batch_size")),
        )
        if seq_len not in (None, default_seq_len(n_steps, batch_size)):
            raise ValueError(
                "sb3-contrib has no seq_len: it cuts its sequences at episode starts and at the ends of its "
                "batch_size-transition minibatches (nngym's default seq_len follows that); seq_len must be None (or "
                f"that default, {default_seq_len(n_steps, batch_size)}), got {seq_len}"
            )
        self._forget_bias = hp.pop("lstm_forget_bias", _nngym_default("lstm_forget_bias"))
        hidden = hp.pop("lstm_hidden_size", None)
        spec = hp.pop("cnn_spec", None)
        if spec is not None and self.net == "cnn":
            self.net = spec
        kwargs = super()._sb3_kwargs(hp)
        if hidden is not None:
            kwargs["policy_kwargs"]["lstm_hidden_size"] = int(hidden)
        return kwargs


def _nngym_default(name: str) -> Any:
    """Default of a field of nngym's ``RecurrentPPOConfig``."""
    return getattr(RecurrentPPOConfig, name, None)


#: Algorithm names (``agents.baselines.ALGO_NAMES``, ``scripts/train.py --algo``) -> SB3 wrappers.
SB3_ALGOS: dict[str, type[SB3Agent]] = {
    "ppo": SB3PPO,
    "a2c": SB3A2C,
    "dqn": SB3DQN,
    "recurrent_ppo": SB3RecurrentPPO,
}


#: yml options SB3's agents have no counterpart for (DQN's ``double_q``): ``sb3_hyperparams`` drops them.
SB3_LACKS: dict[str, tuple[str, ...]] = {"dqn": ("double_q",)}


def sb3_hyperparams(algo: str, hp: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A yml entry as SB3 can take it: ``hp`` without the ``SB3_LACKS`` options of ``algo``, and their names.

    For running SB3 on nngym's yml entries (bench_agents, ``train.py --impl sb3``); the caller says what was
    dropped. Asking SB3's DQN for ``double_q=True`` directly still raises ValueError.
    """
    lacks = SB3_LACKS.get(algo, ())
    return {k: v for k, v in hp.items() if k not in lacks}, sorted(k for k in hp if k in lacks)


def sb3_agent(algo: str, env: str | gym.Env, seed: int = 0, **config: Any) -> SB3Agent:
    """The SB3 agent for an nngym algorithm name, e.g. ``sb3_agent("ppo", "CartPole-v1", 0, **hp)``.

    Raises:
        ValueError: For an algorithm without an SB3 baseline.
    """
    if algo not in SB3_ALGOS:
        raise ValueError(f"no SB3 baseline for {algo!r}; expected one of {sorted(SB3_ALGOS)}")
    return SB3_ALGOS[algo](env, seed=seed, **config)
