"""Small envs the tests share."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class SpacesEnv(gym.Env):
    """A do-nothing env of the given observation and action spaces: random observations of ``observation_space``,
    any action of ``action_space``, reward 0, 8-step episodes; ``reset(seed=...)`` seeds the observations too, so
    a seeded run sees the same ones every time."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(int(self.np_random.integers(2**31)))
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        self._t += 1
        return self.observation_space.sample(), 0.0, False, self._t >= 8, {}
