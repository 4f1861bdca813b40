"""Every observation and action space the agents accept: observation encodings and env actions.

Observations reach the networks as one array per observation, encoded here and nowhere else:

- ``Box``: 1-D Boxes and images pass through unchanged; other shapes are flattened. An image is SB3's: a 3-D Box,
  (C, H, W) or (H, W, C), of dtype uint8 with bounds 0 and 255 (``agents.common.cnn.is_image_space``); its pixels
  are scaled to [0, 1] by the network's first layer, ``agents.common.cnn.ImageScale``. Any other 3-D Box (floats,
  uint8 of other bounds) is feature data, flattened like the other shapes (a CNN asked for explicitly takes it back
  in its shape, ``agents.common.cnn.Unflatten``).
- ``Discrete``: one-hot; ``MultiDiscrete``: the one-hots of its entries, concatenated; ``MultiBinary``: 0/1.
- ``Dict`` and ``Tuple`` (nested too): each part encoded, concatenated in the space's order (a ``Dict``'s keys
  sorted, as gymnasium keeps them). An image inside (SB3's rule, as above) keeps its pixels, flattened, at a known
  offset (``image_parts``), where the network's first layer (``agents.common.cnn.CombinedInput``) takes them
  back out for a CNN or scales them; a 3-D part that is no image is just flattened, as SB3's ``CombinedExtractor``
  does with it.

Every encoding but the pass-through is gymnasium's ``flatten_space`` / ``flatten`` (subtracting a space's
``start``) in float32. That is what SB3's ``preprocess_obs`` computes for Discrete, MultiDiscrete (one-hots),
MultiBinary and non-image Boxes (floats), and its ``CombinedExtractor`` concatenates a ``Dict``'s parts in the
same key order after a CNN on each image part; SB3 ignores ``start`` and refuses ``Tuple`` observations.

``EncodedObservations`` applies the encoding to a vector env (its observations and the ``final_obs`` of its
infos), so buffers, rollouts and the replay buffer only ever see encoded arrays; ``encode_observations``
encodes what ``predict`` is given: one raw observation, or a batch in gymnasium's and SB3's layout (arrays
(N, ...), a dict or tuple of them, ints (N,) for Discrete).
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from agents.common.cnn import image_layout, is_image_space
from agents.common.vec_env import SubEnvMethods

#: The observation space types the agents accept (nested ``Dict`` and ``Tuple`` of them too).
OBSERVATION_SPACES: tuple[type[gym.Space], ...] = (
    spaces.Box,
    spaces.Discrete,
    spaces.MultiDiscrete,
    spaces.MultiBinary,
    spaces.Dict,
    spaces.Tuple,
)

#: The action space types of the actor-critic agents (PPO, A2C, REINFORCE); DQN takes Discrete only. Box ones
#: must have a floating-point dtype (``agents.common.policies.check_spaces``).
ACTION_SPACES: tuple[type[gym.Space], ...] = (spaces.Discrete, spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)


def space_names(types: Sequence[type[gym.Space]]) -> str:
    """``"Discrete, Box and MultiDiscrete"``: the names of ``types`` for messages."""
    names = [t.__name__ for t in types]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def check_observation_space(algo: str, space: gym.Space) -> None:
    """Raises a ValueError naming the supported types if ``space`` (or a part of it) is not one of them."""
    if isinstance(space, spaces.Dict | spaces.Tuple):
        parts = space.spaces.values() if isinstance(space, spaces.Dict) else space.spaces
        for part in parts:
            if not isinstance(part, OBSERVATION_SPACES):
                raise ValueError(
                    f"{algo} supports {space_names(OBSERVATION_SPACES)} observation spaces (nested too), "
                    f"got {space} with a {type(part).__name__} part"
                )
            check_observation_space(algo, part)
    elif not isinstance(space, OBSERVATION_SPACES):
        raise ValueError(f"{algo} supports {space_names(OBSERVATION_SPACES)} observation spaces, got {space}")


def passes_through(space: gym.Space) -> bool:
    """Whether observations of ``space`` reach the networks unchanged: a 1-D Box, or an image by SB3's rule (a 3-D
    Box of dtype uint8 with bounds 0 and 255, ``agents.common.cnn.is_image_space``). Other 3-D Boxes are flattened."""
    return isinstance(space, spaces.Box) and (len(space.shape) == 1 or is_image_space(space))


def encoded_space(space: gym.Space) -> spaces.Box:
    """The Box of encoded observations: ``space`` itself if it passes through, else gymnasium's
    ``flatten_space`` in float32, shape (D,)."""
    if passes_through(space):
        return space
    flat = spaces.flatten_space(space)
    return spaces.Box(flat.low.astype(np.float32), flat.high.astype(np.float32), dtype=np.float32)


def image_parts(space: gym.Space) -> list[tuple[int, spaces.Box]]:
    """(offset, image Box) of each image part of a ``Dict`` / ``Tuple``, in the encoded layout's order.

    Image parts are SB3's images (``agents.common.cnn.is_image_space``: 3-D Boxes of dtype uint8 with bounds 0 and
    255), the parts SB3's ``CombinedExtractor`` sends through a CNN; other 3-D parts are flattened with the rest.
    An image part's pixels are the columns ``offset : offset + prod(box.shape)`` of the encoding, in the
    C order of ``box.shape``. A plain Box (image or not) has no parts: it is no composite.
    """
    out: list[tuple[int, spaces.Box]] = []

    def walk(s: gym.Space, offset: int) -> int:
        if isinstance(s, spaces.Dict | spaces.Tuple):
            for part in s.spaces.values() if isinstance(s, spaces.Dict) else s.spaces:
                offset = walk(part, offset)
            return offset
        if is_image_space(s):
            out.append((offset, s))
        return offset + int(spaces.flatdim(s))

    if isinstance(space, spaces.Dict | spaces.Tuple):
        walk(space, 0)
    return out


def encode(space: gym.Space, obs: Any) -> np.ndarray:
    """One raw observation encoded: itself (as an array) if ``space`` passes through, else
    ``gymnasium.spaces.flatten`` in float32, (D,)."""
    if passes_through(space):
        return np.asarray(obs)
    return np.asarray(spaces.flatten(space, obs), dtype=np.float32)


def encode_batch(space: gym.Space, obs: Any) -> np.ndarray:
    """A batch of raw observations in gymnasium's batched layout encoded, vectorised over the batch.

    Row i equals ``encode(space, observation i)``, for every part of a composite space too.

    Args:
        space: The single observation space.
        obs: Arrays (N, *part shape) for Box, MultiDiscrete and MultiBinary parts, ints (N,) for Discrete,
            a dict (Dict) or tuple (Tuple) of those.

    Returns:
        (N, *shape) unchanged if ``space`` passes through, else float32 (N, D).

    Raises:
        ValueError: For a Discrete, MultiDiscrete or MultiBinary value outside the space.
    """
    if passes_through(space):
        return np.asarray(obs)
    return _encode_part(space, obs)


def _encode_part(space: gym.Space, obs: Any) -> np.ndarray:
    if isinstance(space, spaces.Dict):
        return np.concatenate([_encode_part(s, obs[key]) for key, s in space.spaces.items()], axis=1)
    if isinstance(space, spaces.Tuple):
        return np.concatenate([_encode_part(s, o) for s, o in zip(space.spaces, obs, strict=True)], axis=1)
    x = np.asarray(obs)
    n = len(x)
    if isinstance(space, spaces.Discrete | spaces.MultiDiscrete):
        sizes = np.array([space.n]) if isinstance(space, spaces.Discrete) else space.nvec.reshape(-1)
        idx = x.reshape(n, -1).astype(np.int64) - np.asarray(space.start).reshape(-1)  # (N, k) in 0..size-1
        if ((idx < 0) | (idx >= sizes)).any():
            raise ValueError(f"observation values outside {space}: {x.reshape(n, -1)[((idx < 0) | (idx >= sizes))]}")
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        out = np.zeros((n, int(sizes.sum())), dtype=np.float32)
        out[np.arange(n)[:, None], offsets + idx] = 1.0
        return out
    if isinstance(space, spaces.MultiBinary) and ((x != 0) & (x != 1)).any():
        raise ValueError(
            f"observation values outside {space}: {x.reshape(n, -1)[((x != 0) & (x != 1)).reshape(n, -1)]}"
        )
    return x.reshape(n, -1).astype(np.float32)  # Box, MultiBinary


def encode_observations(space: gym.Space, obs: Any, what: str) -> tuple[np.ndarray, bool]:
    """What ``predict`` is given, encoded: one raw observation or a batch of N.

    A Box that passes through keeps today's float32 cast. A batch is gymnasium's and SB3's layout:
    arrays (N, *shape), ints (N,) for Discrete, a dict / tuple of those for Dict / Tuple.

    Args:
        space: The agent's (raw) observation space.
        obs: The observation(s).
        what: Who asks, for messages (e.g. ``"PPO.predict"``).

    Returns:
        (encoded batch (N, *encoded shape), whether ``obs`` was a single observation).

    Raises:
        ValueError: Naming the expected and actual shapes (or keys, or lengths) of the offending part.
    """
    if passes_through(space):
        x = _numeric(obs)
        expected = f"{what} expected obs of shape {space.shape} or (N, {', '.join(map(str, space.shape))}), got"
        if x is None:
            raise ValueError(f"{expected} {_described(obs)}")
        if x.ndim in (3, 4) and x.shape[-3:] != space.shape and x.shape[-3:] == _channels_last_shape(space):
            x = np.moveaxis(x, -1, -3)  # channels-last images of a channels-first space, as SB3's predict takes them
        x = x.astype(np.float32, copy=False)
        single = x.shape == space.shape
        batch = x[None] if single else x
        if batch.ndim != 1 + len(space.shape) or batch.shape[1:] != space.shape:
            raise ValueError(f"{expected} {x.shape}")
        return batch, single
    batch, n = _as_batch(space, obs, what, "obs")
    try:
        return encode_batch(space, batch), n is None
    except ValueError as e:  # a value outside the space
        raise ValueError(f"{what}: {e}") from None


def _channels_last_shape(space: gym.Space) -> tuple[int, ...] | None:
    """(H, W, C) of a channels-first (C, H, W) image space, else None."""
    if not is_image_space(space) or image_layout(space)[1]:
        return None
    c, h, w = space.shape
    return (h, w, c)


def _numeric(obs: Any) -> np.ndarray | None:
    """``obs`` as a numeric (bool, int or float) array, or None if it is no such thing (a dict, strings, ragged)."""
    if isinstance(obs, Mapping | str | bytes):
        return None
    try:
        x = np.asarray(obs)
    except (TypeError, ValueError):  # ragged nested sequences
        return None
    return x if x.dtype.kind in "biuf" else None


def _described(obs: Any) -> str:
    """What came instead of an array, for messages: its type, and the keys of a dict; the ``(obs, info)`` pair of a
    Gymnasium ``reset`` is named as such (SB3's ``VecEnv.reset`` returns the observations alone, and code written for
    it passes the pair on)."""
    if isinstance(obs, Mapping):
        return f"a dict with keys {sorted(map(str, obs))}"
    if isinstance(obs, tuple) and len(obs) == 2 and isinstance(obs[1], Mapping):
        return (
            f"a tuple (obs, info) {reprlib.repr(obs)}: Gymnasium's reset() returns (obs, info), pass its obs "
            "(obs, info = env.reset())"
        )
    return f"{type(obs).__name__} {reprlib.repr(obs)}"


def _as_batch(space: gym.Space, obs: Any, what: str, path: str) -> tuple[Any, int | None]:
    """(obs as a batch, N) or (obs with a batch axis of 1 added, None) if it was a single observation."""
    if isinstance(space, spaces.Dict | spaces.Tuple):
        if isinstance(space, spaces.Dict):
            keys = list(space.spaces)
            if not isinstance(obs, Mapping) or set(obs) != set(keys):
                got = sorted(obs) if isinstance(obs, Mapping) else type(obs).__name__
                raise ValueError(f"{what} expected {path} as a dict with keys {keys}, got {got}")
            items = [(f"{path}[{k!r}]", space.spaces[k], obs[k]) for k in keys]
        else:
            if not isinstance(obs, Sequence | np.ndarray) or len(obs) != len(space.spaces):
                got = f"length {len(obs)}" if isinstance(obs, Sequence) else type(obs).__name__
                raise ValueError(f"{what} expected {path} as a tuple of {len(space.spaces)} parts, got {got}")
            items = [(f"{path}[{i}]", s, o) for i, (s, o) in enumerate(zip(space.spaces, obs, strict=True))]
        parts = [_as_batch(s, o, what, p) for p, s, o in items]
        sizes = {n for _, n in parts}
        if len(sizes) > 1:
            shown = ", ".join(
                f"{p}: {'one' if n is None else n}" for (p, _, _), (_, n) in zip(items, parts, strict=True)
            )
            raise ValueError(
                f"{what} expected the parts of {path} to hold the same number of observations, got {shown}"
            )
        batched = [b for b, _ in parts]
        return (
            dict(zip(keys, batched, strict=True)) if isinstance(space, spaces.Dict) else tuple(batched)
        ), sizes.pop()
    shape = tuple(space.nvec.shape) if isinstance(space, spaces.MultiDiscrete) else tuple(space.shape)
    dims = ", ".join(map(str, shape))
    expected = f"{what} expected {path} of shape {shape} or (N{', ' if dims else ''}{dims}), got"
    x = _numeric(obs)
    if x is None:
        raise ValueError(f"{expected} {_described(obs)}")
    if isinstance(space, spaces.Discrete | spaces.MultiDiscrete | spaces.MultiBinary) and x.dtype.kind == "f":
        fractional = ~(np.isfinite(x) & (x == np.round(x)))  # 2.5 is no value of the space (2.0 is 2)
        if fractional.any():
            raise ValueError(f"{what} expected {path} of whole numbers in {space}, got {x[fractional].tolist()}")
    if x.shape == shape:
        return x[None], None
    if x.ndim == len(shape) + 1 and x.shape[1:] == shape:
        return x, len(x)
    raise ValueError(f"{expected} {x.shape}")


class EncodedObservations(SubEnvMethods, gym.vector.VectorWrapper):
    """A vector env whose observations, and the ``final_obs`` of its infos, are encoded (module docstring).

    The episode logic is the wrapped env's (SAME_STEP autoreset stays SAME_STEP); only observations change.
    ``call``, ``get_attr``, ``set_attr``, ``env_method`` (``agents.common.vec_env.SubEnvMethods``) reach the wrapped
    env's sub-environments (their raw observations, spaces and attributes), ``render`` and ``render_mode`` are the
    wrapped env's (``gymnasium.vector.VectorWrapper``).

    Args:
        env: A vector env whose single observation space does not pass through (see ``encode_vec_env``).

    Attributes:
        raw_observation_space: The wrapped env's single observation space.
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        self.raw_observation_space = env.single_observation_space
        self.single_observation_space = encoded_space(self.raw_observation_space)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None) -> tuple[Any, dict]:
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._encoded(obs, "reset"), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        if "final_obs" in infos:
            final = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(infos["_final_obs"]):
                final[i] = self._encoded(infos["final_obs"][i], "step", encode)
            infos = {**infos, "final_obs": final}
        return self._encoded(obs, "step"), rewards, terminated, truncated, infos

    def _encoded(self, obs: Any, method: str, encoder: Callable[[gym.Space, Any], np.ndarray] = encode_batch) -> Any:
        """``encoder`` (``encode_batch``, or ``encode`` for one observation) of the wrapped env's observations; a
        value outside the space names the env."""
        try:
            return encoder(self.raw_observation_space, obs)
        except ValueError as e:
            envs = getattr(self.env.unwrapped, "envs", None)  # a sub-env of this process names it best
            env = envs[0] if envs else self.env
            name = getattr(getattr(env, "spec", None), "id", None) or type(env.unwrapped).__name__
            raise ValueError(f"the env {name}'s {method}() returned {e}") from None


def channels_first(space: gym.Space) -> spaces.Box | None:
    """The channels-first (C, H, W) image space of a channels-last (H, W, C) image ``space`` (``is_image_space``,
    ``agents.common.cnn.image_layout``), what SB3's ``VecTransposeImage`` makes of it; None for anything else."""
    if not is_image_space(space) or not image_layout(space)[1]:
        return None
    return spaces.Box(
        space.low.transpose(2, 0, 1),
        space.high.transpose(2, 0, 1),
        dtype=space.dtype,  # type: ignore[union-attr]
    )


class TransposedImages(SubEnvMethods, gym.vector.VectorWrapper):
    """A vector env of channels-last (H, W, C) images seen channels first (C, H, W), the observations and the
    ``final_obs`` of its infos: SB3's ``VecTransposeImage``. An agent whose observation space is the channels-first
    image (a model converted from SB3, which trained behind ``VecTransposeImage``) is given the env this way.

    Args:
        env: A SAME_STEP vector env whose single observation space is a channels-last image.

    Raises:
        ValueError: For another observation space.
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        single = channels_first(env.single_observation_space)
        if single is None:
            raise ValueError(
                f"TransposedImages needs channels-last images (H, W, C) of uint8 in 0..255, got "
                f"{env.single_observation_space}"
            )
        self.single_observation_space = single
        self.observation_space = batch_space(single, self.num_envs)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None) -> tuple[Any, dict]:
        obs, infos = self.env.reset(seed=seed, options=options)
        return np.ascontiguousarray(obs.transpose(0, 3, 1, 2)), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        if "final_obs" in infos:
            final = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(infos["_final_obs"]):
                final[i] = np.ascontiguousarray(np.asarray(infos["final_obs"][i]).transpose(2, 0, 1))
            infos = {**infos, "final_obs": final}
        return np.ascontiguousarray(obs.transpose(0, 3, 1, 2)), rewards, terminated, truncated, infos


def encode_vec_env(env: gym.vector.VectorEnv) -> gym.vector.VectorEnv:
    """``env`` itself if its observations pass through, else ``EncodedObservations(env)``."""
    return env if passes_through(env.single_observation_space) else EncodedObservations(env)


def action_storage(space: gym.Space) -> tuple[tuple[int, ...], type]:
    """(shape, dtype) of one action as the agents store it: ((), int64) for Discrete, ((D,), int64) for
    MultiDiscrete and MultiBinary (0-based indices), ((D,), float32) for Box."""
    return tuple(space.shape), np.float32 if isinstance(space, spaces.Box) else np.int64


def to_env_actions(space: gym.Space, actions: np.ndarray) -> np.ndarray:
    """The agents' actions (N, ...) as the env takes them: Box clipped to its bounds in the space's dtype, Discrete
    and MultiDiscrete indices shifted by the space's ``start`` in its dtype (Gymnasium's ``contains`` checks it),
    MultiBinary in the space's dtype; unchanged otherwise.

    Box: SB3 clips to the bounds too, which gives float32 and float64 spaces their own dtype (float32 actions
    clipped to float64 bounds are float64); a float16 space also gets its dtype here, as its ``contains`` wants.
    The agents refuse an integer Box action space when they are made (``agents.common.policies.check_spaces``):
    a Gaussian's real numbers are no actions of it (SB3 sends them all the same, and the space's ``contains``
    refuses them), and MultiDiscrete is the space of integer actions. An integer Box given here anyway gets its
    real numbers clipped, not rounded."""
    if isinstance(space, spaces.Box):
        clipped = np.clip(actions, space.low, space.high)
        if clipped.dtype == space.dtype or space.dtype.kind != "f":
            return clipped
        return clipped.astype(space.dtype)
    if isinstance(space, spaces.Discrete):  # a scalar start: a plain comparison (np.any costs µs a step)
        out = actions + space.start if space.start != 0 else actions
        return out if out.dtype == space.dtype else out.astype(space.dtype)  # contains() wants the space's dtype
    if isinstance(space, spaces.MultiDiscrete):
        out = actions + space.start if np.any(space.start) else actions
        return out if out.dtype == space.dtype else out.astype(space.dtype)
    if isinstance(space, spaces.MultiBinary):
        return actions.astype(space.dtype)
    return actions
