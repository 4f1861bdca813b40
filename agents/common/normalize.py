"""Observation and return normalisation by running statistics (what SB3's ``VecNormalize`` does).

o ↦ clip((o − μ) / sqrt(σ² + ε), −c, c), with μ and σ² the mean and variance of every value seen in
training so far, merged batch by batch (Chan, Golub & LeVeque's parallel update). The statistics are
gymnasium's own ``RunningMeanStd`` (the one its ``NormalizeObservation`` wrapper keeps, the same
update as SB3's); this class adds the clipped normalisation and saving them in a model file.

``Normalizer`` is the arithmetic of SB3's ``VecNormalize`` for one agent (and what ``agent.get_vec_normalize_env()``
returns, with ``VecNormalize``'s attributes and ``save``); ``NormalizedVecEnv`` is the vector env that applies it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import gymnasium as gym
import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

from agents.common.vec_env import SubEnvMethods
from nngym.serialization import ModelFileError, load_npz, save_npz
from nngym.version import __version__

#: VecNormalize's settings besides its flags that an agent's ``normalize_kwargs`` may set (``Normalizer``'s arguments)
VECNORMALIZE_SETTINGS = ("clip_obs", "clip_reward", "epsilon", "gamma")


def agent_normalizer(
    algo: str,
    config: Any,
    obs_shape: tuple[int, ...],
    n_envs: int,
    raw_shape: tuple[int, ...] | None = None,
) -> Normalizer | None:
    """The ``Normalizer`` of an agent's Config: None without ``normalize_obs`` / ``normalize_reward``, else one with
    their flags, the agent's ``gamma`` and the ``normalize_kwargs`` settings.

    Args:
        algo: The agent's name, for messages.
        config: Its Config (``normalize_obs``, ``normalize_reward``, ``normalize_kwargs``, ``gamma``).
        obs_shape: Shape of one encoded observation.
        n_envs: N, the number of running returns.
        raw_shape: The env's own shape of a Box the agent flattens (``Normalizer``'s ``raw_shape``).

    Raises:
        ValueError: Naming the agent, for ``normalize_kwargs`` that are no dict, hold another key or a value out of
            range, or come without ``normalize_obs`` / ``normalize_reward`` (they would set nothing).
    """
    norm_obs, norm_reward = getattr(config, "normalize_obs", False), getattr(config, "normalize_reward", False)
    kwargs = getattr(config, "normalize_kwargs", None)
    if kwargs is not None:
        if not isinstance(kwargs, dict):
            raise ValueError(
                f"{algo}: normalize_kwargs must be a dict of {list(VECNORMALIZE_SETTINGS)}, got {kwargs!r}"
            )
        unknown = sorted(str(k) for k in kwargs if k not in VECNORMALIZE_SETTINGS)
        if unknown:
            raise ValueError(f"{algo}: normalize_kwargs {unknown} unknown; it takes {list(VECNORMALIZE_SETTINGS)}")
        if kwargs and not (norm_obs or norm_reward):
            raise ValueError(
                f"{algo}: normalize_kwargs={kwargs!r} without normalize_obs or normalize_reward: they set nothing"
            )
        for key, value in kwargs.items():  # real numbers, as the zoo's files give them; the ranges come below
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise ValueError(f"{algo}: normalize_kwargs {key} must be a number, got {value!r}")
        gamma = kwargs.get("gamma")
        if gamma is not None and not 0 <= gamma <= 1:
            raise ValueError(f"{algo}: normalize_kwargs gamma must be a number in [0, 1], got {gamma!r}")
        kwargs = config.normalize_kwargs = {key: float(value) for key, value in kwargs.items()}  # JSON's numbers
    if not (norm_obs or norm_reward):
        return None
    settings = {"gamma": getattr(config, "gamma", 0.99), **(kwargs or {})}
    try:
        return Normalizer(
            obs_shape, n_envs, norm_obs=norm_obs, norm_reward=norm_reward, raw_shape=raw_shape, **settings
        )
    except ValueError as e:  # a setting out of range, as the Normalizer's setters name it
        raise ValueError(f"{algo}: normalize_kwargs: {e}") from None


#: The ``format`` of the file ``Normalizer.save`` writes (``agent.get_vec_normalize_env().save(path)``).
VECNORMALIZE_FORMAT = "nngym.vecnormalize"


class RunningNormalizer:
    """Running mean μ and variance σ² of observations (or returns), and the normalisation they define.

    Args:
        shape: Shape of one observation (``()`` for scalar returns).
        clip: c, bound of the normalised values (SB3: 10).
        epsilon: ε under the square root (SB3: 1e-8); the statistics start at μ 0, σ² 1 with
            pseudo-count 1e-4, as SB3's and gymnasium's.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        clip: float = 10.0,
        epsilon: float = 1e-8,
        shown_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.rms = RunningMeanStd(epsilon=1e-4, shape=shape, dtype=np.float64)
        self.clip, self.epsilon = float(clip), float(epsilon)
        #: the shape ``mean`` and ``var`` are shown in: the env's own Box shape when the agent flattens it
        self.shown_shape = tuple(shape) if shown_shape is None else tuple(shown_shape)

    @property
    def mean(self) -> np.ndarray:
        """μ, of the observation's shape (the env's own Box shape, as SB3's ``obs_rms.mean``; a view)."""
        return self.rms.mean.reshape(self.shown_shape)

    @property
    def var(self) -> np.ndarray:
        """σ², of the observation's shape (the env's own Box shape, as SB3's ``obs_rms.var``; a view)."""
        return self.rms.var.reshape(self.shown_shape)

    def __getitem__(self, key: Any) -> Any:
        raise TypeError(
            f"obs_rms[{key!r}]: these are the statistics of the whole observation as the agent encodes it "
            f"({self.rms.mean.shape}: Dict and Tuple parts flattened and concatenated in the space's order, "
            "agents.common.spaces.encode_batch), not one per key as SB3's VecNormalize keeps them for Dict observations"
        )

    @property
    def count(self) -> float:
        """Number of values merged (plus the pseudo-count)."""
        return float(self.rms.count)

    def update(self, x: np.ndarray) -> None:
        """Merges a batch x (N, *shape) into μ, σ², count."""
        self.rms.update(np.asarray(x, np.float64))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalised x (any leading axes), float32."""
        z = (x - self.rms.mean) / np.sqrt(self.rms.var + self.epsilon)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state(self) -> np.ndarray:
        """[μ, σ², count] stacked along a new first axis, (3, *shape), for saving."""
        return np.stack([self.rms.mean, self.rms.var, np.full_like(self.rms.mean, self.rms.count)])

    def load_state(self, s: np.ndarray) -> None:
        """Restores what ``state`` returned."""
        self.rms.mean, self.rms.var, self.rms.count = s[0].copy(), s[1].copy(), float(s[2].reshape(-1)[0])


class Normalizer:
    """SB3's ``VecNormalize`` arithmetic for one agent: observation statistics and reward scaling.

    Observations: o ↦ clip((o − μ) / sqrt(σ² + ε), ±clip_obs), μ and σ² updated while training.
    Rewards: r ↦ clip(r / sqrt(Var[R] + ε), ±clip_reward), R_t = γ R_{t−1} + r_t the running discounted
    return of each env, reset after a done; the statistics take R_t before the division. At ``predict``
    and evaluation time nothing is updated (``training=False``, the statistics frozen).

    It is also what ``agent.get_vec_normalize_env()`` returns, with the attributes and methods SB3's users call on
    their ``VecNormalize``: ``obs_rms`` and ``ret_rms`` (``mean``, ``var``, ``count``), ``normalize_obs``,
    ``unnormalize_obs``, ``normalize_reward``, ``unnormalize_reward``, ``get_original_obs``,
    ``get_original_reward``, ``training``, ``norm_obs``, ``norm_reward``, ``clip_obs``, ``clip_reward``, ``gamma``,
    ``epsilon``, ``returns`` and ``save`` (an npz with JSON metadata, never pickle; ``Normalizer.load`` reads it).

    Args:
        obs_shape: Shape of one (encoded) observation.
        n_envs: N, the number of running returns.
        raw_shape: The env's own shape of a Box observation the agent flattens to ``obs_shape`` (a (3, 4) Box: (12,)),
            which ``obs_rms``, ``normalize_obs``, ``unnormalize_obs`` and ``get_original_obs`` then take and show, as
            SB3's ``VecNormalize``; None: ``obs_shape``.
        norm_obs: Normalise observations (keep their statistics).
        norm_reward: Scale rewards (keep the statistics of the returns).
        gamma: γ of the running return (the agent's discount).
        clip_obs, clip_reward: Bounds (SB3: 10).
        epsilon: ε (SB3: 1e-8).
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_envs: int,
        norm_obs: bool = True,
        norm_reward: bool = True,
        gamma: float = 0.99,
        clip_obs: float = 10.0,
        clip_reward: float = 10.0,
        epsilon: float = 1e-8,
        raw_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.raw_shape = self.obs_shape if raw_shape is None else tuple(int(d) for d in raw_shape)
        if int(np.prod(self.raw_shape)) != int(np.prod(self.obs_shape)):
            raise ValueError(f"Normalizer: raw_shape {self.raw_shape} does not flatten to obs_shape {self.obs_shape}")
        self.obs_rms = RunningNormalizer(self.obs_shape, clip_obs, epsilon, self.raw_shape) if norm_obs else None
        self.ret_rms = RunningNormalizer((), clip_reward, epsilon) if norm_reward else None
        self._norm_obs, self._norm_reward = bool(norm_obs), bool(norm_reward)
        self._clip_obs, self._clip_reward, self._epsilon = 10.0, 10.0, 1e-8
        self.clip_obs, self.clip_reward, self.epsilon = clip_obs, clip_reward, epsilon  # checked
        self.gamma = float(gamma)
        self.returns = np.zeros(n_envs, np.float64)
        self._training = True
        #: The last observations (N, *obs_shape) and rewards (N,) of the training env, before normalisation
        #: (``get_original_obs``, ``get_original_reward``).
        self.old_obs: np.ndarray | None = None
        self.old_reward: np.ndarray = np.array([])

    # --- SB3's VecNormalize settings ------------------------------------------------------------
    @property
    def training(self) -> bool:
        """Whether the statistics (and the running returns) are updated by the training env's steps; False
        freezes them, as SB3's ``venv.training = False`` (the normalisation itself goes on).

        Raises:
            ValueError: On setting something other than a bool.
        """
        return self._training

    @training.setter
    def training(self, value: bool) -> None:
        self._training = _checked_bool("training", value)

    @property
    def norm_obs(self) -> bool:
        """Whether observations are normalised; False passes them through (and stops updating their statistics),
        as SB3's ``venv.norm_obs = False``.

        Raises:
            ValueError: On setting it True on statistics made without observation statistics (an agent made with
                ``normalize_obs=False``), or setting something other than a bool.
        """
        return self._norm_obs

    @norm_obs.setter
    def norm_obs(self, value: bool) -> None:
        value = _checked_bool("norm_obs", value)
        if value and self.obs_rms is None:
            raise ValueError(
                "norm_obs=True needs observation statistics, and these were made without them (normalize_obs=False): "
                "make the agent with normalize_obs=True"
            )
        self._norm_obs = value

    @property
    def norm_reward(self) -> bool:
        """Whether rewards are scaled; False passes them through (the returns' statistics are still updated while
        training, as SB3's), as SB3's ``venv.norm_reward = False`` (e.g. to evaluate on raw rewards).

        Raises:
            ValueError: On setting it True on statistics made without the returns' statistics (an agent made with
                ``normalize_reward=False``), or setting something other than a bool.
        """
        return self._norm_reward

    @norm_reward.setter
    def norm_reward(self, value: bool) -> None:
        value = _checked_bool("norm_reward", value)
        if value and self.ret_rms is None:
            raise ValueError(
                "norm_reward=True needs the returns' statistics, and these were made without them "
                "(normalize_reward=False): make the agent with normalize_reward=True"
            )
        self._norm_reward = value

    @property
    def clip_obs(self) -> float:
        """c of the normalised observations' bound ±c (SB3: 10).

        Raises:
            ValueError: On setting a value that is not > 0.
        """
        return self._clip_obs

    @clip_obs.setter
    def clip_obs(self, value: float) -> None:
        self._clip_obs = _checked_positive("clip_obs", value)
        if self.obs_rms is not None:
            self.obs_rms.clip = self._clip_obs

    @property
    def clip_reward(self) -> float:
        """c of the scaled rewards' bound ±c (SB3: 10).

        Raises:
            ValueError: On setting a value that is not > 0.
        """
        return self._clip_reward

    @clip_reward.setter
    def clip_reward(self, value: float) -> None:
        self._clip_reward = _checked_positive("clip_reward", value)
        if self.ret_rms is not None:
            self.ret_rms.clip = self._clip_reward

    @property
    def epsilon(self) -> float:
        """ε under the square roots (SB3: 1e-8).

        Raises:
            ValueError: On setting a negative value (or NaN).
        """
        return self._epsilon

    @epsilon.setter
    def epsilon(self, value: float) -> None:
        value = float(value)
        if not value >= 0.0:
            raise ValueError(f"epsilon must be >= 0, got {value!r}")
        self._epsilon = value
        for rms in (self.obs_rms, self.ret_rms):
            if rms is not None:
                rms.epsilon = value

    # --- the arithmetic -----------------------------------------------------------------------------
    def _as_encoded(self, obs: Any, what: str) -> tuple[np.ndarray, tuple[int, ...]]:
        """``obs``, one observation or a batch, in the encoded shape, and the shape to give results back in.

        Raises:
            ValueError: Naming ``what``, the expected and the given shapes, unless ``obs`` is one observation or a batch
                of them, in the encoded or the env's own (``raw_shape``) shape.
        """
        if isinstance(obs, dict | tuple):
            raise ValueError(
                f"{what} takes observations as the agent encodes them, arrays of shape {self.obs_shape} or (N, "
                f"{', '.join(map(str, self.obs_shape))}) (agents.common.spaces.encode_batch(space, obs) encodes "
                f"Dict / Tuple ones), got a {type(obs).__name__}"
            )
        x, got = np.asarray(obs), np.shape(obs)
        for shape in dict.fromkeys([self.raw_shape, self.obs_shape]):
            if got == shape:
                return x.reshape(self.obs_shape), got
            if got[1:] == shape:
                return x.reshape(len(x), *self.obs_shape), got
        shape = self.raw_shape
        raise ValueError(f"{what} expected obs of shape {shape} or (N, {', '.join(map(str, shape))}), got {got}")

    def normalize_obs(self, obs: np.ndarray, update: bool = False) -> np.ndarray:
        """Observations as the networks see them (SB3's ``normalize_obs``).

        Args:
            obs: One observation (*obs_shape) or a batch (N, *obs_shape), encoded (Box observations as they come, in
                the env's own shape ``raw_shape`` or flattened).
            update: Merge them into the statistics first (while ``training``): what the training env's steps do;
                SB3's ``normalize_obs`` never updates (the default).

        Returns:
            float32 of ``obs``' shape; ``obs`` itself without observation normalisation (``norm_obs`` False).

        Raises:
            ValueError: For observations of another shape, naming the expected and the given shapes.
        """
        if self.obs_rms is None or not self._norm_obs:
            return obs
        x, shape = self._as_encoded(obs, "normalize_obs")
        return self.normalized_obs(x, update).reshape(shape)

    def normalized_obs(self, obs: np.ndarray, update: bool = False) -> np.ndarray:
        """``normalize_obs`` without its shape check: for the agents' own observations, which their vector env or
        replay buffer already gives in the space's shape (a check per env step would be work done twice).

        Args:
            obs: A batch (N, *obs_shape) or one observation, as ``normalize_obs`` takes them.
            update: Merge them into the statistics first (while ``training``).

        Returns:
            float32 of ``obs``' shape; ``obs`` itself without observation normalisation.
        """
        if self.obs_rms is None or not self._norm_obs:
            return obs
        if update and self._training:
            self.obs_rms.update(obs)
        return self.obs_rms(obs)

    def unnormalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """SB3's ``unnormalize_obs``: o · sqrt(σ² + ε) + μ (the clipping is not undone), float64.

        Args:
            obs: One normalised observation (*obs_shape or *raw_shape) or a batch (N, ...).

        Returns:
            The observations of the same shape; ``obs`` itself without observation normalisation.

        Raises:
            ValueError: For observations of another shape, naming the expected and the given shapes.
        """
        if self.obs_rms is None or not self._norm_obs:
            return obs
        x, shape = self._as_encoded(obs, "unnormalize_obs")
        rms = self.obs_rms.rms
        return (x * np.sqrt(rms.var + self._epsilon) + rms.mean).reshape(shape)

    def normalize_reward(self, reward: np.ndarray | float) -> np.ndarray:
        """SB3's ``normalize_reward``: clip(r / sqrt(Var[R] + ε), ±clip_reward) as float32, without updating
        anything (the rewards as float32 without reward scaling).

        Args:
            reward: Rewards of any shape, (N,) for a vector step.
        """
        r = np.asarray(reward)
        if self.ret_rms is not None and self._norm_reward:
            r = np.clip(r / np.sqrt(self.ret_rms.var + self._epsilon), -self._clip_reward, self._clip_reward)
        return r.astype(np.float32)

    def unnormalize_reward(self, reward: np.ndarray | float) -> np.ndarray:
        """SB3's ``unnormalize_reward``: r · sqrt(Var[R] + ε) (the rewards unchanged without reward scaling).

        Args:
            reward: Scaled rewards of any shape.
        """
        if self.ret_rms is not None and self._norm_reward:
            return np.asarray(reward) * np.sqrt(self.ret_rms.var + self._epsilon)
        return reward

    def scale_rewards(self, rewards: np.ndarray, dones: np.ndarray, update: bool = True) -> np.ndarray:
        """Rewards (N,) scaled by the running return's std; ``update`` is the training env's step: the returns and
        their statistics advance (while ``training``) and the returns of the episodes that ended (``dones``) start
        again, as SB3's ``VecNormalize.step_wait``."""
        if self.ret_rms is None:
            return rewards
        if update and self._training:
            self.returns = self.returns * self.gamma + rewards
            self.ret_rms.update(self.returns)
        scaled = self.normalize_reward(rewards) if self._norm_reward else rewards
        if update:
            self.returns[np.asarray(dones, bool)] = 0.0
        return scaled

    def get_original_obs(self) -> np.ndarray:
        """SB3's: a copy of the training env's last observations before normalisation, (N, *raw_shape) (encoded
        for Dict / Tuple / Discrete observations, Box observations as they come).

        Raises:
            RuntimeError: Before the training env was reset (``learn`` resets it).
        """
        if self.old_obs is None:
            raise RuntimeError("get_original_obs: no observation yet: the training env has not been reset (learn does)")
        return np.array(self.old_obs, copy=True).reshape(len(self.old_obs), *self.raw_shape)

    def get_original_reward(self) -> np.ndarray:
        """SB3's: a copy of the training env's last rewards before scaling, (N,) (empty before its first step)."""
        return np.array(self.old_reward, copy=True)

    # --- files --------------------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The statistics, for the model file (``obs_rms``, ``ret_rms``: ``RunningNormalizer.state``), and the
        settings ``norm_settings`` = [clip_obs, clip_reward, ε, γ] (they may differ from the defaults, e.g. when
        read from SB3's ``VecNormalize``)."""
        settings = [self._clip_obs, self._clip_reward, self._epsilon, self.gamma]
        out = {"norm_settings": np.array(settings, np.float64)}
        if self.obs_rms is not None:
            out["obs_rms"] = self.obs_rms.state()
        if self.ret_rms is not None:
            out["ret_rms"] = self.ret_rms.state()
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restores what ``arrays`` returned (files without ``norm_settings`` keep the constructor's settings)."""
        if "norm_settings" in arrays:
            clip_obs, clip_reward, epsilon, gamma = (float(v) for v in arrays["norm_settings"])
            self.clip_obs, self.clip_reward, self.epsilon, self.gamma = clip_obs, clip_reward, epsilon, gamma
        for name, rms in (("obs_rms", self.obs_rms), ("ret_rms", self.ret_rms)):
            if rms is not None:
                if name not in arrays:
                    raise KeyError(f"the model file has no {name!r} statistics for its normalize option")
                rms.load_state(arrays[name])

    def save(self, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
        """SB3's ``VecNormalize.save``: the statistics and settings in an npz with JSON metadata, never pickle
        (``nngym.serialization``); ``Normalizer.load`` reads them back. The arrays are the model file's
        (``arrays``); the metadata adds ``obs_shape``, ``raw_shape``, ``norm_obs``, ``norm_reward`` and
        ``training``. The running returns are not kept (SB3's file has none either).

        Args:
            path: File to write (``.npz`` appended if missing), or a binary file object.

        Returns:
            The path written, or the file object.
        """
        meta = {
            "format": VECNORMALIZE_FORMAT,
            "nngym_version": __version__,
            "obs_shape": list(self.obs_shape),
            "raw_shape": list(self.raw_shape),
            "norm_obs": self._norm_obs,
            "norm_reward": self._norm_reward,
            "training": self._training,
        }
        return save_npz(path, self.arrays(), meta)

    @classmethod
    def load(cls, path: str | os.PathLike | BinaryIO, n_envs: int = 1) -> Normalizer:
        """The statistics ``save`` wrote (SB3's ``VecNormalize.load``, without the env: ``NormalizedVecEnv(venv,
        Normalizer.load(path, venv.num_envs))`` wraps one).

        Args:
            path: The file.
            n_envs: N, the number of running returns (which start at 0).

        Raises:
            ModelFileError: For a file that is not such statistics (an agent's model file: its statistics come back
                with ``load``), or whose arrays do not fit its metadata, naming the file and what is wrong.
            ValueError: For ``n_envs`` < 1.
        """
        if not isinstance(n_envs, int | np.integer) or isinstance(n_envs, bool) or n_envs < 1:
            hint = (
                ": for SB3's VecNormalize.load(path, venv), wrap it: NormalizedVecEnv(venv, Normalizer.load(path, "
                "venv.num_envs))"
                if hasattr(n_envs, "num_envs")
                else ""
            )
            raise ValueError(f"Normalizer.load: n_envs must be an int >= 1, got {n_envs!r}{hint}")
        arrays, meta = load_npz(path)
        if meta.get("format") != VECNORMALIZE_FORMAT:
            raise ModelFileError(
                f"{path}: format is {meta.get('format')!r}, expected {VECNORMALIZE_FORMAT!r} (what "
                "agent.get_vec_normalize_env().save writes; an agent's model file keeps its statistics for load)"
            )
        try:
            shape = tuple(int(d) for d in meta["obs_shape"])
            raw_shape = tuple(int(d) for d in meta.get("raw_shape", shape))  # files without it: the encoded shape
            flags = [meta[k] for k in ("norm_obs", "norm_reward", "training")]
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(
                f"{path}: metadata needs obs_shape (a list of ints) and norm_obs, norm_reward, training: {e!r}"
            ) from None
        expected = {"norm_settings": (4,), "obs_rms": (3, *shape), "ret_rms": (3,)}
        unknown = sorted(set(arrays) - set(expected))
        if unknown or "norm_settings" not in arrays:
            raise ModelFileError(
                f"{path}: expected the arrays norm_settings, and obs_rms and/or ret_rms, got {sorted(arrays)}"
            )
        for name, array in arrays.items():
            if array.shape != expected[name] or array.dtype.kind != "f":
                raise ModelFileError(
                    f"{path}: {name} is a {array.dtype} array of shape {array.shape}, expected floats of shape "
                    f"{expected[name]}"
                )
        try:
            norm = cls(
                shape, int(n_envs), norm_obs="obs_rms" in arrays, norm_reward="ret_rms" in arrays, raw_shape=raw_shape
            )
        except ValueError as e:
            raise ModelFileError(f"{path}: {e}") from None
        try:
            norm.load_arrays(arrays)
            norm.norm_obs, norm.norm_reward, norm.training = flags
        except ValueError as e:
            raise ModelFileError(f"{path}: {e}") from None
        return norm


def _checked_bool(name: str, value: Any) -> bool:
    """``value`` as a bool, for a setting that takes one.

    Raises:
        ValueError: For anything but a bool (numpy's too).
    """
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _checked_positive(name: str, value: Any) -> float:
    """``value`` as a float > 0 (inf allowed: no bound).

    Raises:
        ValueError: For a value that is not > 0 (NaN included) or not a number.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if not number > 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


class NormalizedVecEnv(SubEnvMethods, gym.vector.VectorEnv):
    """A vector env whose observations and rewards go through a ``Normalizer`` (SB3's ``VecNormalize``).

    ``reset`` and ``step`` return normalised observations (the statistics updated while training) and
    scaled rewards; the final observations of finished episodes in ``infos`` are normalised too (not
    merged into the statistics), so a truncated episode bootstraps from what the critic sees. The raw
    rewards of the last step stay in ``raw_rewards`` for the episode statistics.

    ``call``, ``get_attr``, ``set_attr``, ``env_method`` (``agents.common.vec_env.SubEnvMethods``) reach the wrapped
    env's sub-environments, and ``render`` and ``render_mode`` are the wrapped env's.

    Args:
        env: A SAME_STEP vector env (``agents.common.vec_env``).
        normalizer: The statistics and their arithmetic.
    """

    def __init__(self, env: gym.vector.VectorEnv, normalizer: Normalizer) -> None:
        self.env, self.normalizer = env, normalizer
        self.num_envs = env.num_envs
        self.single_observation_space, self.single_action_space = env.single_observation_space, env.single_action_space
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self.metadata = getattr(env, "metadata", {})
        self.spec = getattr(env, "spec", None)
        self.render_mode = getattr(env, "render_mode", None)
        self.raw_rewards = np.zeros(self.num_envs)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        self.normalizer.returns[:] = 0.0
        self.normalizer.old_obs = obs  # get_original_obs
        return self.normalizer.normalized_obs(obs, update=True), infos

    def step(self, actions: np.ndarray):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        self.raw_rewards = rewards
        self.normalizer.old_obs, self.normalizer.old_reward = obs, rewards  # get_original_obs, get_original_reward
        dones = terminated | truncated
        obs = self.normalizer.normalized_obs(obs, update=True)
        rewards = self.normalizer.scale_rewards(rewards, dones)
        if dones.any() and "final_obs" in infos:
            infos = dict(infos)
            final = infos["final_obs"].copy()
            for i in np.flatnonzero(dones):
                final[i] = self.normalizer.normalized_obs(np.asarray(final[i])[None])[0]
            infos["final_obs"] = final
        return obs, rewards, terminated, truncated, infos

    def close(self, **kwargs) -> None:
        self.env.close(**kwargs)

    @property
    def unwrapped(self) -> gym.vector.VectorEnv:
        return self.env.unwrapped
