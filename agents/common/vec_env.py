"""Vector environments for the agents, with Gymnasium 1.x's SAME_STEP autoreset.

The agents use the SAME_STEP convention: when a sub-environment's episode ends at a
step, that step returns the *reset* observation and puts the true final observation in
``info["final_obs"][i]`` (mask ``info["_final_obs"]``). A truncated step then bootstraps
from V(final_obs), and no transition ever crosses the reset boundary (with NEXT_STEP, the
step after a done would return reward 0 and a reset obs, and would have to be skipped).

``SyncVectorEnv`` is a ``gymnasium.vector.VectorEnv`` with exactly those semantics and
less per-step overhead than Gymnasium's (preallocated observation arrays, no per-step
info merging; sub-environment infos other than the final observation are dropped). Dict and
Tuple observations are batched as Gymnasium batches them (a dict / tuple of arrays); the
agents encode them to arrays on top (``agents.common.spaces.EncodedObservations``). What the sub-environments return
is checked at ``reset()`` and on the first step after it: Gymnasium's API (``(observation, info)``, ``(observation,
reward, terminated, truncated, info)``, a scalar reward, dict infos) and observations that fit the observation space,
part by part for Dict and Tuple (``observation_misfit``); a later step that returns something else fails with a
ValueError naming the env from an except path, so a step that works pays for no check.
Gymnasium's own ``SyncVectorEnv`` / ``AsyncVectorEnv`` are used with ``vectorization=
"gym-sync"`` / ``"async"``, created with ``autoreset_mode=AutoresetMode.SAME_STEP``.

``SubEnvMethods`` gives ``SyncVectorEnv`` and the agents' wrappers of a vector env (``agents.common.normalize.
NormalizedVecEnv``, ``agents.common.spaces.EncodedObservations``) the sub-environment methods of Gymnasium's vector
envs (``call``, ``get_attr``, ``set_attr``, ``render()``) and of SB3's ``VecEnv`` (``env_method``, ``indices=``,
``render(mode="rgb_array")``), so code written for either runs on an agent's envs (``get_env()``, and ``agent.env``,
the env it steps); the wrappers reach the sub-environments of the env they wrap, whichever its vectorization.
Gymnasium's vector envs, made by ``make_vec_env`` or given ready, are kept in ``SubEnvMethodsWrapper``.
"""

from __future__ import annotations

import reprlib
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

VECTORIZATIONS = ("sync", "gym-sync", "async")


def sub_env_indices(indices: int | Iterable[int] | None, num_envs: int, what: str) -> list[int]:
    """SB3's ``indices`` argument as a list of sub-environment indices in [0, num_envs).

    Args:
        indices: None (every sub-env), one index or an iterable of them; negative ones count from the end, as
            SB3's list indexing does.
        num_envs: N, the number of sub-environments.
        what: The method asking, for messages (e.g. ``"get_attr"``).

    Raises:
        ValueError: For an index that is no int, or outside [-N, N).
    """
    if indices is None:
        return list(range(num_envs))
    given = [indices] if isinstance(indices, int | np.integer) else list(indices)
    for i in given:
        if not isinstance(i, int | np.integer) or isinstance(i, bool) or not -num_envs <= i < num_envs:
            raise ValueError(
                f"{what}: indices must be None, an int or ints in [0, {num_envs}) (the env's num_envs is {num_envs}), "
                f"got {indices!r}"
            )
    return [int(i) % num_envs for i in given]


def _call_sub_env(env: gym.Env, name: str, args: tuple, kwargs: dict) -> Any:
    """What Gymnasium's ``SyncVectorEnv.call`` does for one sub-env: the attribute ``name`` (looked up through its
    wrappers), called with ``args`` and ``kwargs`` if it is callable."""
    attr = env.get_wrapper_attr(name)
    return attr(*args, **kwargs) if callable(attr) else attr


class SubEnvMethods:
    """Gymnasium's ``call`` / ``get_attr`` / ``set_attr`` and SB3's ``env_method`` / ``get_attr(indices=)`` /
    ``set_attr(indices=)`` on the sub-environments of a vector env.

    For the sub-environments of ``unwrapped``: those of this process (nngym's and Gymnasium's ``SyncVectorEnv``)
    directly, so ``indices`` picks any of them; those of another vector env (Gymnasium's ``AsyncVectorEnv``) through
    its own ``call`` / ``get_attr`` / ``set_attr``, which reach all of them at once (``get_attr`` picks ``indices``
    from the values of all; ``call``, ``env_method`` and ``set_attr`` on some of them only raise a ValueError).

    Semantics as Gymnasium's ``SyncVectorEnv``: an attribute is looked up through each sub-env's wrappers
    (``get_wrapper_attr``); ``call`` and ``get_attr`` call it if it is callable; ``set_attr`` spreads a list or
    tuple of values over the envs (one each) and sets any other value on every env (SB3's sets the same value, list
    or not, on every env: to set a list on each, pass a list of lists). Results are tuples (Gymnasium's type),
    ``env_method``'s a list (SB3's).
    """

    num_envs: int
    unwrapped: gym.vector.VectorEnv  # the vector env classes' own
    #: ``make_vec_env(..., seed=s)``: the seed of the next ``reset()`` given none (env i gets s + i), used once
    pending_seed: int | None = None

    def _reset_seed(self, seed: int | list[int | None] | None) -> int | list[int | None] | None:
        """The seed a ``reset(seed=seed)`` uses: ``seed``, or for ``seed=None`` the ``pending_seed``; either way the
        pending seed is used up (a seeded reset, such as an agent's with its own seed, replaces it, as in SB3)."""
        if seed is None:
            seed = self.pending_seed
        self.pending_seed = None
        return seed

    def _local_sub_envs(self) -> list[gym.Env] | None:
        """The sub-environments stepped in this process, or None (another vector env steps them)."""
        base = self.unwrapped
        return base.envs if isinstance(base, SyncVectorEnv | gym.vector.SyncVectorEnv) else None

    def _call(self, name: str, args: tuple, kwargs: dict, indices: int | Iterable[int] | None, what: str) -> tuple:
        idx = sub_env_indices(indices, self.num_envs, what)
        envs = self._local_sub_envs()
        if envs is not None:
            return tuple(_call_sub_env(envs[i], name, args, kwargs) for i in idx)
        self._check_all(idx, what)
        return tuple(self.unwrapped.call(name, *args, **kwargs))

    def _check_all(self, idx: list[int], what: str) -> None:
        """Raises a ValueError if ``idx`` are not all the sub-envs, which a vector env of another process can't pick."""
        if sorted(idx) != list(range(self.num_envs)):
            raise ValueError(
                f"{what} with indices={idx} needs the sub-environments in this process (vectorization 'sync' or "
                f"'gym-sync'), got {type(self.unwrapped).__name__}, which reaches all {self.num_envs} of them at "
                "once; leave indices out"
            )

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Each sub-env's attribute ``name``, called with ``args`` and ``kwargs`` if callable (Gymnasium's ``call``).

        Returns:
            One result per sub-env, in order (``num_envs``,).
        """
        return self._call(name, args, kwargs, None, "call")

    def env_method(
        self, method_name: str, *method_args: Any, indices: int | Iterable[int] | None = None, **method_kwargs: Any
    ) -> list[Any]:
        """SB3's ``env_method``: each sub-env's method ``method_name`` called with the arguments.

        Args:
            method_name: The method, looked up through each sub-env's wrappers.
            *method_args: Its positional arguments.
            indices: The sub-envs (None: all; an int or ints).
            **method_kwargs: Its keyword arguments.

        Returns:
            One result per sub-env of ``indices``, in their order.
        """
        return list(self._call(method_name, method_args, method_kwargs, indices, "env_method"))

    def has_attr(self, name: str) -> bool:
        """SB3's ``has_attr``: whether every sub-environment has the attribute ``name`` (through its wrappers,
        ``has_wrapper_attr``), looked up without calling it."""
        envs = self._local_sub_envs()
        if envs is not None:
            return all(env.has_wrapper_attr(name) for env in envs)
        return all(self.unwrapped.call("has_wrapper_attr", name))

    def get_attr(self, name: str, indices: int | Iterable[int] | None = None) -> tuple[Any, ...]:
        """Each sub-env's attribute ``name`` (Gymnasium's ``get_attr``, and SB3's with ``indices``).

        Args:
            name: The attribute, looked up through each sub-env's wrappers (a callable one is called, as Gymnasium's
                ``get_attr`` does).
            indices: The sub-envs (None: all; an int or ints).

        Returns:
            One value per sub-env of ``indices``, in their order.
        """
        idx = sub_env_indices(indices, self.num_envs, "get_attr")
        if self._local_sub_envs() is not None:
            return self._call(name, (), {}, idx, "get_attr")
        values = tuple(self.unwrapped.get_attr(name))
        return values if indices is None else tuple(values[i] for i in idx)

    def set_attr(self, name: str, values: Any, indices: int | Iterable[int] | None = None) -> None:
        """Sets each sub-env's attribute ``name`` (Gymnasium's ``set_attr``, and SB3's with ``indices``).

        Args:
            name: The attribute, set where each sub-env's wrappers hold it (``set_wrapper_attr``).
            values: A list or tuple of one value per sub-env of ``indices``, or one value for them all.
            indices: The sub-envs (None: all; an int or ints).

        Raises:
            ValueError: For a list or tuple of another length than the sub-envs of ``indices``.
        """
        idx = sub_env_indices(indices, self.num_envs, "set_attr")
        if not isinstance(values, list | tuple):
            values = [values] * len(idx)
        if len(values) != len(idx):
            raise ValueError(
                f"set_attr: values must be one value or a list or tuple of one value per env ({len(idx)}), got "
                f"{len(values)} values"
            )
        envs = self._local_sub_envs()
        if envs is None:
            self._check_all(idx, "set_attr")
            order = sorted(range(len(idx)), key=idx.__getitem__)
            self.unwrapped.set_attr(name, [values[k] for k in order])
            return
        for i, value in zip(idx, values, strict=True):
            envs[i].set_wrapper_attr(name, value)

    def render(self, mode: str | None = None) -> Any:
        """Each sub-env's frame (Gymnasium's ``render()``), or, with SB3's ``mode="rgb_array"``, the frames tiled
        into one image as SB3's ``VecEnv.render`` gives it.

        Args:
            mode: None: a tuple of each sub-env's ``render()`` (a frame (H, W, 3) uint8 each for envs made with
                ``render_mode="rgb_array"``). ``"rgb_array"``: one image (rows · H, cols · W, 3), the frames in a grid
                of ⌈√N⌉ rows, row by row, the cells past the last frame black (``tile_frames``).

        Raises:
            ValueError: For another mode (an env's render mode is chosen when it is made), or ``"rgb_array"`` on envs
                that give no frames.
        """
        envs = self._local_sub_envs()
        frames = tuple(env.render() for env in envs) if envs is not None else self.unwrapped.render()
        if mode is None:
            return frames
        if mode != "rgb_array":
            raise ValueError(
                f"render: mode must be None (each sub-env's frame) or 'rgb_array' (the frames tiled into one image, "
                f"SB3's), got {mode!r}; an env's render mode is chosen when it is made (render_mode=...)"
            )
        if any(frame is None for frame in frames):
            raise ValueError(
                f"render(mode='rgb_array'): the envs give no frames (render_mode={self.render_mode!r}); make them with "
                "render_mode='rgb_array', e.g. make_vec_env(env_id, n_envs, render_mode='rgb_array') or "
                "gym.make(env_id, render_mode='rgb_array')"
            )
        return tile_frames(frames, f"render(mode='rgb_array') of envs with render_mode={self.render_mode!r}")


def tile_frames(frames: Sequence[Any], what: str = "tile_frames") -> np.ndarray:
    """N frames (H, W, C) as one image in a grid of ⌈√N⌉ rows and ⌈N / rows⌉ columns, filled row by row, the cells
    past the last frame black: the layout of SB3's ``tile_images`` (written here, as SB3 brings torch with it).

    Args:
        frames: N arrays (H, W, C) of one shape and dtype.
        what: Who asks, for messages.

    Returns:
        The image (rows · H, columns · W, C).

    Raises:
        ValueError: Naming what came, for anything but N >= 1 frames (H, W, C) of one shape.
    """
    got = [None if f is None else np.shape(f) for f in frames]
    if not got or any(g is None or len(g) != 3 for g in got) or len(set(got)) != 1:
        raise ValueError(f"{what}: expected frames (H, W, C) of one shape, got {got}")
    images = np.stack([np.asarray(f) for f in frames])
    n, h, w, c = images.shape
    rows = int(np.ceil(np.sqrt(n)))
    cols = int(np.ceil(n / rows))
    grid = np.zeros((rows * cols, h, w, c), dtype=images.dtype)
    grid[:n] = images
    return grid.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


class SubEnvMethodsWrapper(SubEnvMethods, gym.vector.VectorWrapper):
    """A vector env of Gymnasium's (``gym.make_vec``, ``SyncVectorEnv``, ``AsyncVectorEnv``, or a user's) as the
    agents keep it, with SB3's ``env_method``, ``get_attr`` / ``set_attr`` with ``indices`` and
    ``render(mode="rgb_array")`` next to Gymnasium's methods (``SubEnvMethods``); stepping and resetting pass
    through unchanged, and any other attribute is the wrapped env's (``get_env().envs``). ``make_vec_env`` wraps a
    ready vector env in it, so ``get_env()`` has SB3's methods whatever the user passed; ``.env`` is the env given."""

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None) -> tuple[Any, dict]:
        return self.env.reset(seed=self._reset_seed(seed), options=options)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "env":  # not set yet, or private: no forwarding
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return getattr(self.env, name)


def merge_infos(env_infos: list[tuple[int, dict[str, Any]]], num_envs: int) -> dict[str, Any]:
    """The infos ``(i, info)`` of some of ``num_envs`` envs as one vector-env info dict, in the layout of Gymnasium's
    ``VectorEnv._add_info``: for each key, an array (num_envs, ...) holding env i's value at row i (numbers in an
    array of the first value's type, arrays stacked, anything else in an object array), the mask ``_key`` of the
    envs that had it, and a dict value merged the same way, recursively.

    Written by key rather than env by env as Gymnasium's is: an env such as DigitClassify gives a few keys at every
    step of every env, and one array per key costs a fraction of an ``_add_info`` call per env and key (64 envs
    of DigitClassify: 0.11 against 0.35 ms a vector step)."""
    if not env_infos:
        return {}
    first = env_infos[0][1].keys()
    uniform = all(info.keys() == first for _, info in env_infos)  # the usual case: every env gives the same keys
    keys = list(first) if uniform else list(dict.fromkeys(k for _, info in env_infos for k in info))
    every = [i for i, _ in env_infos]
    out: dict[str, Any] = {}
    for key in keys:
        if uniform:
            rows, values = every, [info[key] for _, info in env_infos]
        else:
            rows = [i for i, info in env_infos if key in info]
            values = [info[key] for _, info in env_infos if key in info]
        v0 = values[0]
        if isinstance(v0, dict):
            value: Any = merge_infos(
                [(i, v) for i, v in zip(rows, values, strict=True) if isinstance(v, dict)], num_envs
            )
        elif type(v0) in (int, float, bool) or isinstance(v0, np.number):
            value = np.zeros(num_envs, dtype=type(v0))
            value[rows] = values
        else:  # arrays (of v0's shape and dtype, stacked) or any object
            value = np.zeros((num_envs, *v0.shape), v0.dtype) if isinstance(v0, np.ndarray) else np.full(num_envs, None)
            for i, v in zip(rows, values, strict=True):
                value[i] = v
        mask = np.zeros(num_envs, dtype=np.bool_)
        mask[rows] = True
        out[key], out[f"_{key}"] = value, mask
    return out


def _described(value: Any) -> str:
    """What came, for messages: an array's shape and dtype, a tuple's or list's length, else its type; with a short
    repr."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype} ({reprlib.repr(value)})"
    if isinstance(value, tuple | list):
        n = len(value)
        return f"a {type(value).__name__} of {n} value{'' if n == 1 else 's'} ({reprlib.repr(value)})"
    return f"{reprlib.repr(value)} ({type(value).__name__})"


def _is_real_scalar(value: Any) -> bool:
    """Whether ``value`` is one real number: a bool, int or float, Python's or numpy's (a 0-d array of one too)."""
    if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf"


def observation_misfit(space: gym.Space, obs: Any, path: str = "") -> str | None:
    """What of ``obs`` does not fit ``space``, as the end of the sentence "env i (X) returned an observation ...",
    or None if it fits.

    Box, Discrete, MultiDiscrete and MultiBinary (parts): the shape must be the space's and the dtype must cast to
    the space's within its kind (``np.can_cast(..., "same_kind")``: float64 to float32, not floats to an integer
    space); the values are not compared with the bounds. Dict: a mapping with exactly the space's keys (the missing
    and extra ones are named); Tuple: a tuple, list or array of as many parts; both checked part by part, the part named
    by its keys and indices (``['pos']``, ``[0]['x']``). Other spaces (Text, Graph, Sequence...) are not checked.

    Args:
        space: The observation space (or a part of it).
        obs: The observation (or that part of it).
        path: Where the part is in the observation, "" for the whole.
    """
    of = f"whose part {path} has" if path else "of"
    with_ = f"whose part {path} has" if path else "with"
    that = f"whose part {path} is" if path else "that is"
    own = f"its observation space's part {path}, {space}," if path else f"its observation space {space}"
    if isinstance(space, gym.spaces.Dict):
        keys = list(space.spaces)
        if not isinstance(obs, Mapping):
            return f"{that} {_described(obs)}, but {own} wants a dict with keys {keys}"
        missing = [k for k in keys if k not in obs]
        extra = [k for k in obs if k not in space.spaces]
        if missing or extra:
            which = ", ".join(f"{w} {ks}" for w, ks in (("missing", missing), ("extra", extra)) if ks)
            return f"{with_} keys {list(obs)}, but {own} has keys {keys} ({which})"
        for key, part in space.spaces.items():
            misfit = observation_misfit(part, obs[key], f"{path}[{key!r}]")
            if misfit is not None:
                return misfit
        return None
    if isinstance(space, gym.spaces.Tuple):
        n = len(space.spaces)
        if not isinstance(obs, tuple | list | np.ndarray) or getattr(obs, "ndim", 1) == 0:  # arrays, as contains()
            return f"{that} {_described(obs)}, but {own} wants a tuple of {n} parts"
        if len(obs) != n:
            return f"{with_} {len(obs)} parts, but {own} has {n}"
        for k, (part, o) in enumerate(zip(space.spaces, obs, strict=True)):
            misfit = observation_misfit(part, o, f"{path}[{k}]")
            if misfit is not None:
                return misfit
        return None
    if not isinstance(space, gym.spaces.Box | gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.MultiBinary):
        return None
    try:
        a = np.asarray(obs)
    except (TypeError, ValueError):  # ragged nested lists
        a = None
    if a is None or a.dtype.kind not in "biuf":
        return f"{that} {_described(obs)}, which does not fit {own}"
    if a.shape != space.shape:
        return f"{of} shape {a.shape}, but {own} has shape {space.shape}"
    if not np.can_cast(a.dtype, space.dtype, casting="same_kind"):
        return f"{of} dtype {a.dtype}, which does not fit {own} of dtype {space.dtype}"
    return None


class SyncVectorEnv(SubEnvMethods, gym.vector.VectorEnv):
    """Steps ``num_envs`` environments in turn, autoresetting in the same step (SAME_STEP).

    Args:
        env_fns: Functions that create the sub-environments.

    Attributes:
        envs: The sub-environments.
        render_mode: The first sub-environment's.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]) -> None:
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        env0 = self.envs[0]
        self.single_observation_space = env0.observation_space
        self.single_action_space = env0.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**env0.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.spec = env0.spec
        self.render_mode = env0.render_mode
        space = self.single_observation_space
        self._arrays = isinstance(space, gym.spaces.Box | gym.spaces.Discrete | gym.spaces.MultiDiscrete)
        self._arrays |= isinstance(space, gym.spaces.MultiBinary)
        if self._arrays:  # one preallocated array, written row by row
            self._obs = np.zeros((self.num_envs, *space.shape), dtype=space.dtype)
        else:  # Dict, Tuple, ...: the single observations, batched by gymnasium's concatenate
            self._obs_list: list[Any] = [None] * self.num_envs
        self._rewards = np.zeros(self.num_envs, dtype=np.float64)
        self._terminated = np.zeros(self.num_envs, dtype=np.bool_)
        self._truncated = np.zeros(self.num_envs, dtype=np.bool_)
        # Discrete actions go to the envs as numpy scalars of the space's dtype, as Gymnasium's own vector envs
        # pass them: Discrete.contains checks such a scalar in half the time it takes for a Python int.
        self._discrete_dtype = (
            self.single_action_space.dtype if isinstance(self.single_action_space, gym.spaces.Discrete) else None
        )
        self._steps_checked = False  # whether the observations of a step since the last reset were checked

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None) -> tuple[Any, dict]:
        seed = self._reset_seed(seed)
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed or [None] * self.num_envs
        env_infos: list[tuple[int, dict[str, Any]]] = []
        batch = self._obs if self._arrays else self._obs_list
        for i, (env, s) in enumerate(zip(self.envs, seeds, strict=True)):
            obs, info = self._checked_reset(i, env.reset(seed=s, options=options))
            batch[i] = obs
            if info:
                env_infos.append((i, info))
        self._steps_checked = False  # the first step's observations are checked too
        return self._batch(), merge_infos(env_infos, self.num_envs)

    def _env_name(self, i: int) -> str:
        """Env ``i`` for messages: its class, after its id if it was made from one (``"CartPole-v1, CartPoleEnv"``)."""
        env = self.envs[i]
        cls = type(env.unwrapped).__name__
        env_id = getattr(getattr(env, "spec", None), "id", None)
        return f"{env_id}, {cls}" if env_id else cls

    def _checked_reset(self, i: int, out: Any) -> tuple[Any, dict]:
        """``out``, what env ``i``'s ``reset()`` returned, after checking it is Gymnasium's ``(observation, info)``
        with a dict info and an observation that fits the observation space (``_check_obs``). Gym's older API
        returned the observation alone, which unpacking into (observation, info) would split. Called at ``reset()``
        and for the autoresets of the first step after it, as ``_check_obs``.

        Raises:
            ValueError: Naming the env and what it returned.
        """
        if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[1], dict):
            raise ValueError(
                f"env {i} ({self._env_name(i)}): reset() must return (observation, info) (Gymnasium's API), info a "
                f"dict; it returned {_described(out)}"
            )
        self._check_obs(i, out[0])
        return out

    def _checked_step(self, i: int, env: gym.Env, action: Any) -> tuple[Any, Any, Any, Any, dict]:
        """``env.step(action)`` for env ``i``, after checking it is Gymnasium's ``(observation, reward, terminated,
        truncated, info)``: a scalar reward and flags, a dict info, an observation that fits the observation space.
        Called on the first step after a reset, as ``_check_obs``; a later step that returns something else fails in
        ``step``'s except paths, which name the env too.

        Raises:
            ValueError: Naming the env and what it returned.
        """
        out = env.step(action)
        name = self._env_name(i)
        if not isinstance(out, tuple) or len(out) != 5:
            old = isinstance(out, tuple) and len(out) == 4
            raise ValueError(
                f"env {i} ({name}): step() must return (observation, reward, terminated, truncated, info) "
                f"(Gymnasium's API); it returned {_described(out)}"
                + (": gym's older (observation, reward, done, info)" if old else "")
            )
        obs, reward, terminated, truncated, info = out
        if not _is_real_scalar(reward):
            raise ValueError(
                f"env {i} ({name}): the reward must be a scalar (a Python or numpy number), got {_described(reward)}"
            )
        for flag, value in (("terminated", terminated), ("truncated", truncated)):
            if not _is_real_scalar(value):
                raise ValueError(f"env {i} ({name}): {flag} must be a bool, got {_described(value)}")
        if not isinstance(info, dict):
            raise ValueError(
                f"env {i} ({name}): step()'s info must be a dict (Gymnasium's API), got {_described(info)}"
            )
        self._check_obs(i, obs)
        return out

    def _check_obs(self, i: int, obs: Any) -> None:
        """Refuses an observation that does not fit the observation space (``observation_misfit``: another shape, a
        dtype that does not cast to the space's within its kind, floats for an integer space; a Dict's keys or a
        Tuple's length, part by part): written into the batch's row, numpy would broadcast or truncate it without a
        word, and a Dict or Tuple part would fail deep in Gymnasium's batching. Checked at ``reset()`` and on the
        first step after it (its autoresets too), not on every step: the agents' hot loop (an env that resets at
        every step, a bandit, would pay at each).

        Raises:
            ValueError: Naming the env, the part, the space and what came.
        """
        misfit = observation_misfit(self.single_observation_space, obs)
        if misfit is not None:
            raise ValueError(f"env {i} ({self._env_name(i)}) returned an observation {misfit}")

    def _batch(self) -> Any:
        """A copy of the current observations, (num_envs, ...) (a dict / tuple of such arrays for Dict / Tuple).

        Raises:
            ValueError: Naming the env whose observation Gymnasium's ``concatenate`` could not batch, and the space.
        """
        if self._arrays:
            return self._obs.copy()
        space = self.single_observation_space
        try:
            return concatenate(space, self._obs_list, create_empty_array(space, self.num_envs))
        except Exception as e:  # an observation that no longer fits (checked at reset and on the first step only)
            raise self._batch_error(e) from e

    def _batch_error(self, error: Exception) -> ValueError:
        """The ValueError for ``error``, raised by batching the observations: naming the first env whose observation
        does not fit the space (``observation_misfit``) or cannot be batched alone."""
        space = self.single_observation_space
        for i, obs in enumerate(self._obs_list):
            misfit = observation_misfit(space, obs)
            if misfit is not None:
                return ValueError(f"env {i} ({self._env_name(i)}) returned an observation {misfit}")
        for i, obs in enumerate(self._obs_list):
            try:
                concatenate(space, [obs], create_empty_array(space, 1))
            except Exception:
                return ValueError(
                    f"env {i} ({self._env_name(i)}) returned an observation that Gymnasium cannot batch as its "
                    f"observation space {space}: {type(error).__name__}: {error}"
                )
        return ValueError(
            f"the observations of the {self.num_envs} envs cannot be batched as their observation space {space}: "
            f"{type(error).__name__}: {error}"
        )

    def _raise_step_error(self, i: int, error: Exception) -> None:
        """For ``error``, raised where ``step`` unpacks env ``i``'s ``step()`` into (observation, reward, terminated,
        truncated, info) and stores the reward (not inside the env), a ValueError naming the env and what it must
        return; returns for an error of the env's own, which ``step`` re-raises as it came."""
        tb = error.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is None or tb.tb_frame.f_code is not SyncVectorEnv.step.__code__:
            return
        name, message = self._env_name(i), f"{type(error).__name__}: {error}"
        if "unpack" in str(error):
            raise ValueError(
                f"env {i} ({name}): step() must return (observation, reward, terminated, truncated, info) "
                f"(Gymnasium's API); it returned something else ({message})"
            ) from error
        raise ValueError(
            f"env {i} ({name}): the reward must be a scalar (a Python or numpy number), got a value numpy cannot "
            f"store as one number ({message})"
        ) from error

    def _raise_info_error(self, env_infos: list[tuple[int, Any]], error: Exception) -> None:
        """For ``error``, raised merging the envs' infos, a ValueError naming the first env whose info is no dict;
        returns if they all are, and ``step`` re-raises ``error``."""
        for i, info in env_infos:
            if not isinstance(info, dict):
                raise ValueError(
                    f"env {i} ({self._env_name(i)}): step()'s info must be a dict (Gymnasium's API), got "
                    f"{_described(info)}"
                ) from error

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        acts = actions if self._discrete_dtype is None else np.asarray(actions, dtype=self._discrete_dtype)
        final: list[int] = []
        final_obs: list[Any] = []
        batch = self._obs if self._arrays else self._obs_list  # rows written in place: no call per env
        rewards, terminated, truncated = self._rewards, self._terminated, self._truncated
        env_infos: list[tuple[int, dict[str, Any]]] = []  # (i, info) of the envs whose info is not empty
        final_infos: list[tuple[int, dict[str, Any]]] = []  # (i, info) of the steps that ended an episode
        check = not self._steps_checked  # the first step after a reset: what the envs return is checked too
        for i, env in enumerate(self.envs):
            # the except paths cost nothing on a step that works, and name the env that returned something wrong
            try:
                obs, rewards[i], term, trunc, info = self._checked_step(i, env, acts[i]) if check else env.step(acts[i])
            except (ValueError, TypeError) as e:
                self._raise_step_error(i, e)
                raise
            terminated[i], truncated[i] = term, trunc
            if term or trunc:
                final.append(i)
                final_obs.append(obs)
                final_infos.append((i, info))  # Gymnasium's SAME_STEP layout: the ended step's info under final_info
                obs, info = self._checked_reset(i, env.reset()) if check else env.reset()
            if info:
                env_infos.append((i, info))
            try:
                batch[i] = obs
            except (ValueError, TypeError):
                self._check_obs(i, obs)
                raise
        if check:
            self._steps_checked = True
        infos: dict[str, Any] = {}
        if final:
            infos["final_obs"] = np.empty(self.num_envs, dtype=object)
            infos["_final_obs"] = np.zeros(self.num_envs, dtype=np.bool_)
            for i, o in zip(final, final_obs, strict=True):
                infos["final_obs"][i] = o
                infos["_final_obs"][i] = True
        try:
            if final_infos:
                infos["final_info"] = merge_infos(final_infos, self.num_envs)
                infos["_final_info"] = np.zeros(self.num_envs, dtype=np.bool_)
                infos["_final_info"][[i for i, _ in final_infos]] = True
            if env_infos:  # the envs' own keys, merged as Gymnasium's vector envs merge them
                infos.update(merge_infos(env_infos, self.num_envs))
        except (AttributeError, TypeError) as e:
            self._raise_info_error(final_infos + env_infos, e)
            raise
        return self._batch(), self._rewards.copy(), self._terminated.copy(), self._truncated.copy(), infos

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def make_vec_env(
    env: str | Callable[..., gym.Env] | gym.Env | gym.vector.VectorEnv,
    n_envs: int | None = None,
    vectorization: str = "sync",
    wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (),
    *,
    seed: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    wrapper_class: Callable[..., gym.Env] | None = None,
    wrapper_kwargs: Mapping[str, Any] | None = None,
    **make_kwargs: Any,
) -> gym.vector.VectorEnv:
    """A vector env with SAME_STEP autoreset from an env id, a single env (n_envs must be 1) or a vector env.

    SB3's ``make_vec_env(env_id, n_envs, seed, wrapper_class=..., env_kwargs=..., wrapper_kwargs=...)`` arguments
    mean what they mean there; SB3's others have no counterpart here and are refused naming nngym's
    (``monitor_dir``: the agent's ``log_dir`` writes monitor.csv; ``vec_env_cls``: ``vectorization``).

    Args:
        env: Env id, env class or function returning an env (SB3's; called with the env arguments, once per env),
            env, or a SAME_STEP vector env (returned as it is if it has SB3's methods, ``SubEnvMethods``, else in a
            ``SubEnvMethodsWrapper`` that adds them).
        n_envs: Sub-environments made from an env id (None: 1). With a vector env, None or its ``num_envs``.
        vectorization: ``VECTORIZATIONS``.
        wrappers: Applied in order to each sub-environment made from an env id (e.g. the zoo's
            ``env_wrapper`` and ``frame_stack``, ``agents.common.hyperparams.env_wrappers``).
        seed: SB3's: the first ``reset()`` without a seed seeds env i with ``seed + i`` (an agent's own ``seed``,
            which it resets with, comes first, as in SB3).
        env_kwargs: SB3's: ``gym.make`` arguments (or the env class's), as ``**make_kwargs``.
        wrapper_class: SB3's: applied to each sub-environment made from an env id, after ``wrappers``, with
            ``wrapper_kwargs``.
        wrapper_kwargs: Its arguments.
        **make_kwargs: ``gym.make`` arguments.

    Raises:
        ValueError: For a vector env with another autoreset mode (saying how to make one that fits), with Gymnasium's
            ``DictInfoToList`` wrapper (its infos are a list, the agents read Gymnasium's dict) or another number of
            envs than ``n_envs``, an unknown vectorization, or a single env instance with n_envs > 1.

    Warns:
        UserWarning: For an env instance with vectorization "async": the worker process steps a copy of it.
    """
    make_kwargs = _sb3_make_vec_env_kwargs(make_kwargs, env_kwargs)
    factory = callable(env) and not isinstance(env, gym.Env | gym.vector.VectorEnv | str)  # SB3's class or callable
    if not isinstance(env, str) and not factory and (make_kwargs or wrapper_class is not None):
        given = sorted(make_kwargs) + (["wrapper_class"] if wrapper_class is not None else [])
        raise ValueError(
            f"make_vec_env: {given} apply to the envs made from an env id, got a {type(env).__name__}; pass the env "
            "id, or the env already made and wrapped"
        )
    if wrapper_class is not None:
        wrappers = [*wrappers, lambda e: wrapper_class(e, **(wrapper_kwargs or {}))]
    elif wrapper_kwargs:
        raise ValueError("make_vec_env: wrapper_kwargs were given without a wrapper_class")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ValueError(f"make_vec_env: seed must be an int or None, got {seed!r}")
    vec = _make_vec_env(env, n_envs, vectorization, wrappers, make_kwargs)
    if seed is not None:
        vec.pending_seed = int(seed)
    return vec


#: SB3's ``make_vec_env`` arguments without a counterpart here, and what to use instead
_SB3_ONLY_ARGS = {
    "start_index": "env i is seeded with seed + i",
    "monitor_dir": "the agent's log_dir writes monitor.csv (PPO(env, log_dir=...))",
    "monitor_kwargs": "the agent's log_dir writes monitor.csv (PPO(env, log_dir=...))",
    "vec_env_cls": "vectorization='sync' (DummyVecEnv) or 'async' (SubprocVecEnv)",
    "vec_env_kwargs": "vectorization='sync' or 'async'",
}


def _sb3_make_vec_env_kwargs(make_kwargs: dict[str, Any], env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """``make_kwargs`` with SB3's ``env_kwargs`` merged in.

    Raises:
        ValueError: For an SB3 argument without a counterpart (``_SB3_ONLY_ARGS``), an ``env_kwargs`` that is no
            dict, or a key given both ways.
    """
    for name, instead in _SB3_ONLY_ARGS.items():
        if name in make_kwargs:
            raise ValueError(f"make_vec_env: SB3's {name} has no counterpart here: {instead}")
    if env_kwargs is None:
        return make_kwargs
    if not isinstance(env_kwargs, Mapping):
        raise ValueError(f"make_vec_env: env_kwargs must be a dict of gym.make arguments, got {env_kwargs!r}")
    both = sorted(set(env_kwargs) & set(make_kwargs))
    if both:
        raise ValueError(f"make_vec_env: {both} given both in env_kwargs and as keywords")
    return {**make_kwargs, **env_kwargs}


def _make_vec_env(
    env: str | gym.Env | gym.vector.VectorEnv,
    n_envs: int | None,
    vectorization: str,
    wrappers: Sequence[Callable[[gym.Env], gym.Env]],
    make_kwargs: dict[str, Any],
) -> gym.vector.VectorEnv:
    """``make_vec_env`` after SB3's arguments were taken in."""
    if isinstance(env, gym.vector.VectorEnv):
        _refuse_list_infos(env)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"agents need a vector env with autoreset_mode=AutoresetMode.SAME_STEP, got {mode}; pass the env id "
                f"with n_envs={env.num_envs} instead (the agent makes its own vector env), or create it with "
                f"{same_step_make_vec(env)}"
            )
        if n_envs is not None and n_envs != env.num_envs:
            raise ValueError(
                f"n_envs={n_envs} differs from the vector env's num_envs={env.num_envs}; leave n_envs out (the vector "
                "env sets it) or pass a vector env of that many envs"
            )
        return env if isinstance(env, SubEnvMethods) else SubEnvMethodsWrapper(env)
    n_envs = 1 if n_envs is None else n_envs
    if vectorization not in VECTORIZATIONS:
        raise ValueError(f"vectorization must be one of {VECTORIZATIONS}, got {vectorization!r}")
    if isinstance(env, gym.Env):
        if n_envs != 1:
            raise ValueError(f"an env instance can only be used with n_envs=1, got n_envs={n_envs}; pass an env id")
        if vectorization == "async":
            warnings.warn(
                f"vectorization='async' steps a copy of the env instance ({type(env.unwrapped).__name__}) in a worker "
                "process: the instance given is pickled into it and its own state does not change (the statistics "
                "of its wrappers, such as RecordEpisodeStatistics's queues, stay empty; get_env().get_attr and call "
                "reach the copy). Pass the env id instead (the worker makes the env itself), or use "
                "vectorization='sync' to step this instance",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        fns = [lambda: env]
    elif isinstance(env, str):
        fns = [lambda: _wrapped(_made_from_id(env, make_kwargs), wrappers) for _ in range(n_envs)]
    elif callable(env):  # SB3's env class or function returning an env, called with the env arguments
        fns = [lambda: _wrapped(_made_by(env, make_kwargs), wrappers) for _ in range(n_envs)]
    else:
        raise ValueError(
            "env must be an env id, an env class or a function returning an env, a gymnasium.Env or a "
            f"gymnasium.vector.VectorEnv, got {type(env)}" + _sb3_vec_env_hint(env)
        )
    if vectorization == "sync":
        return SyncVectorEnv(fns)
    cls = gym.vector.SyncVectorEnv if vectorization == "gym-sync" else gym.vector.AsyncVectorEnv
    return SubEnvMethodsWrapper(cls(fns, autoreset_mode=AutoresetMode.SAME_STEP))


def _made_from_id(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    """``gym.make(env_id, **kwargs)``, with ``render_mode="rgb_array"`` unless ``kwargs`` give a render mode, as SB3
    makes its envs from an id (so ``render(mode="rgb_array")`` and recorded videos work): for envs whose class says
    it draws ``rgb_array`` frames (its ``metadata["render_modes"]``), which draw them only when asked."""
    if "render_mode" not in kwargs:
        try:
            creator = gym.envs.registration.load_env_creator(gym.spec(env_id).entry_point)
        except Exception:  # noqa: BLE001 - an id gym.make reports better (unknown, a module to import): no default
            creator = None
        if "rgb_array" in getattr(creator, "metadata", {}).get("render_modes", ()):
            kwargs = {"render_mode": "rgb_array", **kwargs}
    return gym.make(env_id, **kwargs)


def _made_by(factory: Callable[..., Any], kwargs: dict[str, Any]) -> gym.Env:
    """``factory(**kwargs)``, an env class or a function returning an env (SB3's ``make_vec_env`` takes them).

    Raises:
        ValueError: If it returns anything but a ``gymnasium.Env``, naming the factory and what came.
    """
    env = factory(**kwargs)
    if not isinstance(env, gym.Env):
        name = getattr(factory, "__qualname__", repr(factory))
        raise ValueError(f"make_vec_env: {name}(...) must return a gymnasium.Env, got {type(env).__name__}")
    return env


#: ``gym.make_vec`` arguments of its own, kept in a vector env's ``spec.kwargs`` next to the env's arguments
_MAKE_VEC_KWARGS = ("num_envs", "vectorization_mode", "vector_kwargs", "wrappers")


def sb3_monitor(env: gym.Env) -> gym.Env | None:
    """The SB3 ``Monitor`` in ``env``'s chain of wrappers, or None (recognised by its class, so SB3 need not be
    installed)."""
    while env is not None:
        if type(env).__name__ == "Monitor" and type(env).__module__.startswith("stable_baselines3"):
            return env
        env = getattr(env, "env", None)
    return None


def same_step_make_vec(env: gym.vector.VectorEnv) -> str:
    """How to make ``env`` again with SAME_STEP autoreset, as code for messages: the ``gym.make_vec`` call with
    the env's id and arguments (from ``env.spec``), or for a vector env without a spec its class's constructor.

    ``vectorization_mode`` is "sync" (or "async", if ``env`` was made so): the default, an env's own
    ``vector_entry_point`` (CartPole's), refuses ``vector_kwargs``.
    """
    spec = getattr(env, "spec", None)
    same_step = "gym.vector.AutoresetMode.SAME_STEP"
    if spec is None:
        cls = "AsyncVectorEnv" if isinstance(env, gym.vector.AsyncVectorEnv) else "SyncVectorEnv"
        return f"gym.vector.{cls}(env_fns, autoreset_mode={same_step})"
    mode = "async" if spec.kwargs.get("vectorization_mode") == "async" else "sync"
    kwargs = {k: v for k, v in spec.kwargs.items() if k not in _MAKE_VEC_KWARGS}
    if "max_episode_steps" in kwargs and kwargs["max_episode_steps"] == spec.max_episode_steps:
        del kwargs["max_episode_steps"]  # the registered limit, which gym.make applies anyway
    args = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return (
        f"gym.make_vec({spec.id!r}, num_envs={env.num_envs}, vectorization_mode={mode!r}, "
        f"vector_kwargs={{'autoreset_mode': {same_step}}}{args})"
    )


#: What the agents need of a vector env's infos, for the messages that refuse others.
NEEDS_DICT_INFOS = (
    "agents need Gymnasium's vector-env infos, a dict of arrays over the envs with _<key> masks (a list of one dict "
    "per env, as gymnasium.wrappers.vector.DictInfoToList gives, is not taken)"
)


def caller_stacklevel() -> int:
    """The ``stacklevel`` of a warning issued by this module's caller that points at the first frame outside the
    ``agents`` package: the user's line that made the agent or the env."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "agents":
        frame, level = frame.f_back, level + 1
    return level


def _refuse_list_infos(env: gym.vector.VectorEnv) -> None:
    """Raises a ValueError if ``env`` or a vector env it wraps is Gymnasium's ``DictInfoToList``, whose infos are a
    list of one dict per env: the agents read Gymnasium's dict of arrays (``final_obs``, ``final_info``...)."""
    from gymnasium.wrappers.vector import DictInfoToList

    inner: Any = env
    while isinstance(inner, gym.vector.VectorWrapper):
        if isinstance(inner, DictInfoToList):
            raise ValueError(
                "agents need a vector env whose infos are Gymnasium's dict (arrays over the envs with _<key> masks, "
                "final_obs and final_info for the episodes a step ended), got one wrapped in "
                "gymnasium.wrappers.vector.DictInfoToList, whose infos are a list of one dict per env; pass the vector "
                "env without DictInfoToList: callbacks see Gymnasium's dict infos (self.locals['infos'])"
            )
        inner = inner.env


def given_env(env: gym.vector.VectorEnv) -> gym.vector.VectorEnv:
    """The vector env as the user gave it: the env inside a ``SubEnvMethodsWrapper``, else ``env``."""
    return env.env if isinstance(env, SubEnvMethodsWrapper) else env


def check_vector_infos(env: gym.vector.VectorEnv, infos: Any, method: str = "reset") -> None:
    """Raises a ValueError unless ``infos``, what ``env.<method>()`` returned as its infos, is a dict (Gymnasium's
    layout of a vector env's infos, which the agents read). For the first ``reset()`` of a vector env given to an
    agent: a vector env whose infos are a list (one dict per env) gives it at every call.

    Args:
        env: The vector env.
        infos: Its infos.
        method: The method that returned them, for the message.
    """
    if not isinstance(infos, dict):
        raise ValueError(
            f"{type(given_env(env)).__name__}.{method}() returned infos of type {type(infos).__name__}; "
            f"{NEEDS_DICT_INFOS}"
        )


def _wrapped(env: gym.Env, wrappers: Sequence[Callable[[gym.Env], gym.Env]]) -> gym.Env:
    for wrap in wrappers:
        env = wrap(env)
    return env


def final_observations(infos: dict, idx: np.ndarray) -> np.ndarray:
    """The true final observations of the sub-envs ``idx`` whose episodes ended this step, (len(idx), ...).

    Raises:
        ValueError: For infos that are no dict, or hold no ``final_obs`` of those envs (a vector env that does not
            autoreset in the same step, or gives its infos in another layout).
    """
    try:
        return np.stack([infos["final_obs"][i] for i in idx]).astype(np.float32)
    except (TypeError, KeyError, IndexError) as e:
        if not isinstance(infos, dict):
            raise ValueError(f"the vector env's infos are of type {type(infos).__name__}; {NEEDS_DICT_INFOS}") from e
        if "final_obs" not in infos:
            raise ValueError(
                f"the vector env's infos hold no final_obs for the envs {[int(i) for i in idx]} whose episodes "
                f"ended this step (keys: {sorted(infos)}); agents need a vector env with "
                "autoreset_mode=AutoresetMode.SAME_STEP, which puts an ended episode's last observation in "
                "infos['final_obs']"
            ) from e
        raise


def true_next_observations(next_obs: np.ndarray, dones: np.ndarray, infos: dict) -> np.ndarray:
    """s' of every sub-env for a replay buffer: under SAME_STEP autoreset a finished episode's ``next_obs`` is
    already the next episode's first observation, so its final observation replaces it (a copy; ``next_obs``
    itself is returned when no episode ended).

    Args:
        next_obs: What ``step`` returned, (n_envs, ...).
        dones: terminated | truncated, (n_envs,).
        infos: ``step``'s infos, holding ``"final_obs"`` for the finished sub-envs.
    """
    if not dones.any():
        return next_obs
    idx = np.flatnonzero(dones)
    real_next = next_obs.copy()
    real_next[idx] = final_observations(infos, idx)
    return real_next


def _sb3_vec_env_hint(env: Any, single: bool = False) -> str:
    """For an SB3 ``VecEnv`` (``make_vec_env``, ``DummyVecEnv``, ``VecNormalize``...), what to pass instead; "" for
    anything else.

    Args:
        env: What was given.
        single: Whether one env is wanted (evaluation) rather than an agent's envs.
    """
    if type(env).__name__ == "Normalizer" and type(env).__module__ == "agents.common.normalize":
        return (
            "; a Normalizer holds statistics, not envs: pass the env id (or env), and the agent normalises with its "
            "own statistics (a model file keeps them, load restores them)"
        )
    if not type(env).__module__.startswith("stable_baselines3") or not hasattr(env, "step_async"):
        return ""
    if single:
        return (
            "; SB3's VecEnv is not taken (its API is not Gymnasium's): pass the env id or one gymnasium.Env, on which "
            "the episodes run one after another (an agent's predict normalises observations itself under "
            "normalize_obs: no VecNormalize is needed)"
        )
    n = getattr(env, "num_envs", None)
    return (
        "; SB3's VecEnv is not taken (its API is not Gymnasium's): pass the env id with n_envs=N (the agent makes N "
        f"envs{f'; this VecEnv has {n}' if isinstance(n, int) else ''}), or a Gymnasium vector env, and "
        "normalize_obs=True / normalize_reward=True for what VecNormalize does. To keep the env's arguments (SB3's "
        "env_kwargs; the agents take none), pass make_vec_env(env_id, n_envs=N, **env_kwargs) from "
        "agents.common.vec_env (nngym's vector env), or Gymnasium's gym.make_vec(env_id, num_envs=N, "
        'vectorization_mode="sync", vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}, '
        "**env_kwargs)"
    )
