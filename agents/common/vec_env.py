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
agents encode them to arrays on top (``agents.common.spaces.EncodedObservations``).
Gymnasium's own ``SyncVectorEnv`` / ``AsyncVectorEnv`` are used with ``vectorization=
"gym-sync"`` / ``"async"``, created with ``autoreset_mode=AutoresetMode.SAME_STEP``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

VECTORIZATIONS = ("sync", "gym-sync", "async")


class SyncVectorEnv(gym.vector.VectorEnv):
    """Steps ``num_envs`` environments in turn, autoresetting in the same step (SAME_STEP).

    Args:
        env_fns: Functions that create the sub-environments.
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

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None) -> tuple[Any, dict]:
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed or [None] * self.num_envs
        for i, (env, s) in enumerate(zip(self.envs, seeds, strict=True)):
            self._set_obs(i, env.reset(seed=s, options=options)[0])
        return self._batch(), {}

    def _set_obs(self, i: int, obs: Any) -> None:
        if self._arrays:
            self._obs[i] = obs
        else:
            self._obs_list[i] = obs

    def _batch(self) -> Any:
        """A copy of the current observations, (num_envs, ...) (a dict / tuple of such arrays for Dict / Tuple)."""
        if self._arrays:
            return self._obs.copy()
        space = self.single_observation_space
        return concatenate(space, self._obs_list, create_empty_array(space, self.num_envs))

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        acts = actions if self._discrete_dtype is None else np.asarray(actions, dtype=self._discrete_dtype)
        final: list[int] = []
        final_obs: list[Any] = []
        batch = self._obs if self._arrays else self._obs_list  # rows written in place: no call per env
        rewards, terminated, truncated = self._rewards, self._terminated, self._truncated
        for i, env in enumerate(self.envs):
            obs, rewards[i], term, trunc, _ = env.step(acts[i])
            terminated[i], truncated[i] = term, trunc
            if term or trunc:
                final.append(i)
                final_obs.append(obs)
                obs, _ = env.reset()
            batch[i] = obs
        infos: dict[str, Any] = {}
        if final:
            infos["final_obs"] = np.empty(self.num_envs, dtype=object)
            infos["_final_obs"] = np.zeros(self.num_envs, dtype=np.bool_)
            for i, o in zip(final, final_obs, strict=True):
                infos["final_obs"][i] = o
                infos["_final_obs"][i] = True
        return self._batch(), self._rewards.copy(), self._terminated.copy(), self._truncated.copy(), infos

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def make_vec_env(
    env: str | gym.Env | gym.vector.VectorEnv,
    n_envs: int | None = None,
    vectorization: str = "sync",
    wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (),
    **make_kwargs: Any,
) -> gym.vector.VectorEnv:
    """A vector env with SAME_STEP autoreset from an env id, a single env (n_envs must be 1) or a vector env.

    Args:
        env: Env id, env, or a SAME_STEP vector env (returned as it is).
        n_envs: Sub-environments made from an env id (None: 1). With a vector env, None or its ``num_envs``.
        vectorization: ``VECTORIZATIONS``.
        wrappers: Applied in order to each sub-environment made from an env id (e.g. the zoo's
            ``env_wrapper`` and ``frame_stack``, ``agents.common.hyperparams.env_wrappers``).
        **make_kwargs: ``gym.make`` arguments.

    Raises:
        ValueError: For a vector env with another autoreset mode (saying how to make one that fits) or another
            number of envs than ``n_envs``, an unknown vectorization, or a single env instance with n_envs > 1.
    """
    if isinstance(env, gym.vector.VectorEnv):
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
        return env
    n_envs = 1 if n_envs is None else n_envs
    if vectorization not in VECTORIZATIONS:
        raise ValueError(f"vectorization must be one of {VECTORIZATIONS}, got {vectorization!r}")
    if isinstance(env, gym.Env):
        if n_envs != 1:
            raise ValueError(f"an env instance can only be used with n_envs=1, got n_envs={n_envs}; pass an env id")
        fns = [lambda: env]
    elif isinstance(env, str):
        fns = [lambda: _wrapped(gym.make(env, **make_kwargs), wrappers) for _ in range(n_envs)]
    else:
        raise ValueError(
            f"env must be an env id, a gymnasium.Env or a gymnasium.vector.VectorEnv, got {type(env)}"
            + _sb3_vec_env_hint(env)
        )
    if vectorization == "sync":
        return SyncVectorEnv(fns)
    cls = gym.vector.SyncVectorEnv if vectorization == "gym-sync" else gym.vector.AsyncVectorEnv
    return cls(fns, autoreset_mode=AutoresetMode.SAME_STEP)


#: ``gym.make_vec`` arguments of its own, kept in a vector env's ``spec.kwargs`` next to the env's arguments
_MAKE_VEC_KWARGS = ("num_envs", "vectorization_mode", "vector_kwargs", "wrappers")


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


def _wrapped(env: gym.Env, wrappers: Sequence[Callable[[gym.Env], gym.Env]]) -> gym.Env:
    for wrap in wrappers:
        env = wrap(env)
    return env


def final_observations(infos: dict, idx: np.ndarray) -> np.ndarray:
    """The true final observations of the sub-envs ``idx`` whose episodes ended this step, (len(idx), ...)."""
    return np.stack([infos["final_obs"][i] for i in idx]).astype(np.float32)


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


def _sb3_vec_env_hint(env: Any) -> str:
    """For an SB3 ``VecEnv`` (``make_vec_env``, ``DummyVecEnv``, ``VecNormalize``...), what to pass instead."""
    if not type(env).__module__.startswith("stable_baselines3"):
        return ""
    return (
        "; SB3's VecEnv is not taken (its API is not Gymnasium's): pass the env id with n_envs=N (the agent makes N "
        "envs), or a Gymnasium vector env, and normalize_obs=True / normalize_reward=True for what VecNormalize does"
    )
