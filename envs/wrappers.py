"""Env wrappers that rl-baselines3-zoo's hyperparameter files name, built from those files' own spelling.

``zoo_wrappers(env_wrapper, frame_stack)`` turns an entry's ``env_wrapper`` (a dotted class name, or a
list of names and ``{name: kwargs}`` mappings) and ``frame_stack`` into functions that wrap one env:

- any class of ``gymnasium.wrappers`` (e.g. ``gymnasium.wrappers.transform_observation.GrayscaleObservation``),
  looked up inside that package only — no other module is imported;
- the zoo's own ``rl_zoo3.wrappers.FrameSkip`` (``FrameSkip`` here) and
  ``rl_zoo3.wrappers.YAMLCompatResizeObservation`` (gymnasium's ``ResizeObservation``, the shape as a tuple);
- ``frame_stack: k``: the last k observations concatenated along the channel axis (``FrameStack``), as
  SB3's ``VecFrameStack`` does for the zoo. The zoo stacks outside ``VecNormalize`` (frames normalised one by one,
  padding frames 0 after normalisation), while an nngym agent normalises the stacked observation it is given, so
  hyperparameter files may not combine ``frame_stack`` with normalised observations
  (``agents.common.hyperparams.check_frame_stack``); reward normalisation alone is the same in both.

Anything else (``AtariWrapper``, minigrid's wrappers) raises a ValueError that names it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import FrameStackObservation, ResizeObservation

from envs.checks import is_whole

Wrap = Callable[[gym.Env], gym.Env]


class FrameSkip(gym.Wrapper):
    """Repeats each action ``skip`` times and sums the rewards (rl_zoo3's ``FrameSkip``).

    Args:
        env: The env.
        skip: Steps per action, >= 1.
    """

    def __init__(self, env: gym.Env, skip: int = 4) -> None:
        if not is_whole(skip) or skip < 1:
            raise ValueError(f"FrameSkip needs an integer skip >= 1, got {skip!r}")
        super().__init__(env)
        self.skip = int(skip)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for _ in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class FrameStack(gym.ObservationWrapper):
    """The last ``k`` observations concatenated along the channel axis (SB3's ``VecFrameStack``).

    1-D observations (D,) become (k·D,), channels-first images (C, H, W) become (k·C, H, W),
    channels-last images (H, W, C) become (H, W, k·C) (the channel axis is the smallest, SB3's rule);
    the oldest observation comes first and the stack starts filled with zeros (raw zeros: an agent that normalises
    observations sees them normalised, unlike the zoo's VecFrameStack over VecNormalize).

    Args:
        env: An env with a Box observation space of 1 or 3 dimensions.
        k: Observations stacked, >= 1.
    """

    def __init__(self, env: gym.Env, k: int) -> None:
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) not in (1, 3):
            raise ValueError(f"frame_stack needs a Box observation space of 1 or 3 dimensions, got {space}")
        if not is_whole(k) or k < 1:
            raise ValueError(f"frame_stack must be an integer >= 1, got {k!r}")
        stacked = FrameStackObservation(env, int(k), padding_type="zero")
        super().__init__(stacked)
        self.k = int(k)
        shape = space.shape
        self.channels_last = len(shape) == 3 and shape[2] < min(shape[0], shape[1])
        low, high = self._concat(stacked.observation_space.low), self._concat(stacked.observation_space.high)
        self.observation_space = gym.spaces.Box(low, high, dtype=space.dtype)

    def _concat(self, frames: np.ndarray) -> np.ndarray:
        """(k, *shape) -> the channel-concatenated observation."""
        if self.channels_last:  # (k, H, W, C) -> (H, W, k·C)
            return np.concatenate(list(frames), axis=-1)
        return np.concatenate(list(frames), axis=0)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return self._concat(np.asarray(observation))


def _resize(env: gym.Env, shape: Any) -> gym.Env:
    return ResizeObservation(env, tuple(int(s) for s in shape))


#: the zoo's own wrapper classes -> what builds their equivalent here
ZOO_WRAPPERS: dict[str, Callable[..., gym.Env]] = {
    "rl_zoo3.wrappers.FrameSkip": FrameSkip,
    "rl_zoo3.wrappers.YAMLCompatResizeObservation": _resize,
}


def wrapper_class(name: str) -> Callable[..., gym.Env]:
    """The class (or builder) for a dotted wrapper name of a zoo file.

    Raises:
        ValueError: For a name outside ``gymnasium.wrappers`` and ``ZOO_WRAPPERS``.
    """
    if name in ZOO_WRAPPERS:
        return ZOO_WRAPPERS[name]
    module, _, cls_name = name.rpartition(".")
    if module == "gymnasium.wrappers" or module.startswith("gymnasium.wrappers."):
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError):
            cls = None
        if isinstance(cls, type) and issubclass(cls, gym.Wrapper):
            return cls
    raise ValueError(
        f"env_wrapper {name!r} is not supported: nngym applies the classes of gymnasium.wrappers and "
        f"{sorted(ZOO_WRAPPERS)}"
    )


def zoo_wrappers(env_wrapper: Any = None, frame_stack: Any = None) -> list[Wrap]:
    """Functions wrapping one env, in order, for a zoo entry's ``env_wrapper`` and ``frame_stack``.

    Args:
        env_wrapper: ``None``, a dotted name, or a list of names and ``{name: kwargs}`` mappings.
        frame_stack: k for ``FrameStack`` (a whole number >= 1), or None for no stacking.

    Raises:
        ValueError: For a wrapper that is not supported, an entry of the wrong form or a ``frame_stack`` that is not
            a whole number >= 1, naming it; the functions raise it too for arguments a wrapper does not take.
    """
    items = [] if env_wrapper is None else env_wrapper if isinstance(env_wrapper, list) else [env_wrapper]
    out: list[Wrap] = []
    for item in items:
        if isinstance(item, str):
            name, kwargs = item, {}
        elif isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item)), str):
            name, kwargs = next(iter(item.items()))
            if kwargs is not None and not isinstance(kwargs, dict):
                raise ValueError(f"env_wrapper {name!r}: its arguments are a mapping, got {kwargs!r}")
            kwargs = dict(kwargs or {})
        else:
            raise ValueError(f"env_wrapper items are dotted names or {{name: kwargs}}, got {item!r}")
        cls = wrapper_class(name)
        try:
            inspect.signature(cls).bind(None, **kwargs)  # the env, then the entry's arguments
        except TypeError as e:
            raise ValueError(f"env_wrapper {name!r} does not take the arguments {kwargs}: {e}") from None
        except ValueError:  # no signature to check: the call below says what it does not take
            pass
        out.append(_wrapping(name, cls, kwargs))
    if frame_stack is not None:
        if not is_whole(frame_stack) or frame_stack < 1:
            raise ValueError(f"frame_stack must be a whole number >= 1 (observations stacked), got {frame_stack!r}")
        out.append(lambda env, k=int(frame_stack): FrameStack(env, k))
    return out


def _wrapping(name: str, cls: Callable[..., gym.Env], kwargs: dict[str, Any]) -> Wrap:
    """``env -> cls(env, **kwargs)``; the TypeError or AssertionError of a value ``cls`` refuses (gymnasium's wrappers
    check their arguments with asserts) as a ValueError naming the wrapper and its arguments."""

    def wrap(env: gym.Env) -> gym.Env:
        try:
            return cls(env, **kwargs)
        except (TypeError, AssertionError) as e:
            raise ValueError(f"env_wrapper {name!r} with the arguments {kwargs}: {e or type(e).__name__}") from None

    return wrap
