"""Observation and return normalisation by running statistics (what SB3's ``VecNormalize`` does).

o ↦ clip((o − μ) / sqrt(σ² + ε), −c, c), with μ and σ² the mean and variance of every value seen in
training so far, merged batch by batch (Chan, Golub & LeVeque's parallel update). The statistics are
gymnasium's own ``RunningMeanStd`` (the one its ``NormalizeObservation`` wrapper keeps, the same
update as SB3's); this class adds the clipped normalisation and saving them in a model file.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

from agents.common.vec_env import SubEnvMethods


class RunningNormalizer:
    """Running mean μ and variance σ² of observations (or returns), and the normalisation they define.

    Args:
        shape: Shape of one observation (``()`` for scalar returns).
        clip: c, bound of the normalised values (SB3: 10).
        epsilon: ε under the square root (SB3: 1e-8); the statistics start at μ 0, σ² 1 with
            pseudo-count 1e-4, as SB3's and gymnasium's.
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.rms = RunningMeanStd(epsilon=1e-4, shape=shape, dtype=np.float64)
        self.clip, self.epsilon = float(clip), float(epsilon)

    @property
    def mean(self) -> np.ndarray:
        """μ, of the observation's shape."""
        return self.rms.mean

    @property
    def var(self) -> np.ndarray:
        """σ², of the observation's shape."""
        return self.rms.var

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

    Args:
        obs_shape: Shape of one (encoded) observation.
        n_envs: N, the number of running returns.
        norm_obs: Normalise observations.
        norm_reward: Scale rewards.
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
    ) -> None:
        self.obs_rms = RunningNormalizer(obs_shape, clip_obs, epsilon) if norm_obs else None
        self.ret_rms = RunningNormalizer((), clip_reward, epsilon) if norm_reward else None
        self.gamma, self.clip_reward, self.epsilon = float(gamma), float(clip_reward), float(epsilon)
        self.returns = np.zeros(n_envs, np.float64)
        self.training = True

    def normalize_obs(self, obs: np.ndarray, update: bool = False) -> np.ndarray:
        """Observations as the networks see them, (N, *obs_shape) float32; ``update`` merges them in first."""
        if self.obs_rms is None:
            return obs
        if update and self.training:
            self.obs_rms.update(obs)
        return self.obs_rms(obs)

    def scale_rewards(self, rewards: np.ndarray, dones: np.ndarray, update: bool = True) -> np.ndarray:
        """Rewards (N,) scaled by the running return's std; ``update`` advances the returns and their statistics."""
        if self.ret_rms is None:
            return rewards
        if update and self.training:
            self.returns = self.returns * self.gamma + rewards
            self.ret_rms.update(self.returns)
        scaled = np.clip(rewards / np.sqrt(self.ret_rms.var + self.epsilon), -self.clip_reward, self.clip_reward)
        if update and self.training:
            self.returns[np.asarray(dones, bool)] = 0.0
        return scaled.astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """The statistics, for the model file (``obs_rms``, ``ret_rms``: ``RunningNormalizer.state``), and the
        settings ``norm_settings`` = [clip_obs, clip_reward, ε, γ] (they may differ from the defaults, e.g. when
        read from SB3's ``VecNormalize``)."""
        clip_obs = self.obs_rms.clip if self.obs_rms is not None else 10.0
        out = {"norm_settings": np.array([clip_obs, self.clip_reward, self.epsilon, self.gamma], np.float64)}
        if self.obs_rms is not None:
            out["obs_rms"] = self.obs_rms.state()
        if self.ret_rms is not None:
            out["ret_rms"] = self.ret_rms.state()
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restores what ``arrays`` returned (files without ``norm_settings`` keep the constructor's settings)."""
        if "norm_settings" in arrays:
            clip_obs, self.clip_reward, self.epsilon, self.gamma = (float(v) for v in arrays["norm_settings"])
            for rms, clip in ((self.obs_rms, clip_obs), (self.ret_rms, self.clip_reward)):
                if rms is not None:
                    rms.clip, rms.epsilon = clip, self.epsilon
        for name, rms in (("obs_rms", self.obs_rms), ("ret_rms", self.ret_rms)):
            if rms is not None:
                if name not in arrays:
                    raise KeyError(f"the model file has no {name!r} statistics for its normalize option")
                rms.load_state(arrays[name])


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
        return self.normalizer.normalize_obs(obs, update=True), infos

    def step(self, actions: np.ndarray):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        self.raw_rewards = rewards
        dones = terminated | truncated
        obs = self.normalizer.normalize_obs(obs, update=True)
        rewards = self.normalizer.scale_rewards(rewards, dones)
        if dones.any() and "final_obs" in infos:
            infos = dict(infos)
            final = infos["final_obs"].copy()
            for i in np.flatnonzero(dones):
                final[i] = self.normalizer.normalize_obs(np.asarray(final[i])[None])[0]
            infos["final_obs"] = final
        return obs, rewards, terminated, truncated, infos

    def render(self) -> tuple | None:
        """The wrapped env's ``render()``: a frame per sub-env (raw, as the envs draw them)."""
        return self.env.render()

    def close(self, **kwargs) -> None:
        self.env.close(**kwargs)

    @property
    def unwrapped(self) -> gym.vector.VectorEnv:
        return self.env.unwrapped
