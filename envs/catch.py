"""bsuite's Catch (Osband et al. 2020), with pixel observations for a CNN."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.actions import check_action
from envs.checks import is_whole
from envs.render import draw_box

LEFT, STAY, RIGHT = 0, 1, 2
MAX_ROWS = 64  # observations up to 1024 x 2032 pixels at scale 16, renders up to 2048 x 4064


class CatchEnv(gym.Env[np.ndarray, int]):
    """Catch a falling ball with a paddle.

    ## Description

    bsuite's ``catch``: a ball starts in the top row of a `rows` x `columns` grid, in a uniformly
    random column, and falls one row per step. The paddle sits in the bottom row, starting in the
    middle column, and moves one column per step. The agent must be under the ball when it lands.

    ## Action Space

    `Discrete(3)`: 0 = move left, 1 = stay, 2 = move right. Moving into a side wall leaves the
    paddle where it is.

    ## Observation Space

    The grid as a uint8 image of shape `(1, rows * scale, columns * scale)`, channel-first, 255 where
    the ball or the paddle is and 0 elsewhere (bsuite's board times 255):

    | Num       | Observation          | Min | Max |
    |-----------|----------------------|-----|-----|
    | [0, i, j] | cell i, j occupied   | 0   | 255 |

    An image space for Stable-Baselines3 (uint8, bounds 0 and 255, channels-first). SB3's default
    `CnnPolicy` (NatureCNN) needs at least 36x36: use `scale=8` (80x40) for it; nngym's CNN takes
    the default `scale=1` (1, 10, 5).

    ## Rewards

    0 while the ball falls; on landing +1 if caught, -1 if missed.

    | Policy          | Expected return (defaults) | Exact value                                     |
    |-----------------|----------------------------|-------------------------------------------------|
    | uniform random  | -0.6                       | 2 / columns - 1                                 |
    | optimal         | +1                         | +1                                              |

    Random: the ball's column is uniform and independent of the paddle, so whatever the paddle
    does P(catch) = 1 / columns and the return is P - (1 - P). Optimal: the paddle starts at most
    `columns // 2` columns away and has `rows - 1` moves, enough by the constraint on `columns`.

    ## Starting State

    Ball at row 0 in a column drawn uniformly by `self.np_random`; paddle at row `rows - 1`, column
    `columns // 2`.

    ## Episode End

    1. Termination: the ball reaches the bottom row, after exactly `rows - 1` steps.
    2. Truncation: none needed.

    `info` holds `"ball"` (row, column) and `"paddle"` (column).

    ## Arguments

    | Parameter  | Type    | Default | Description                                      |
    |------------|---------|---------|--------------------------------------------------|
    | `rows`     | **int** | `10`    | grid height, 2 to 64 (episode length `rows - 1`) |
    | `columns`  | **int** | `5`     | grid width, >= 1 and <= 2 * (rows - 1) + 1 so catching is always possible |
    | `scale`    | **int** | `1`     | pixels per cell in the observation, 1 to 16      |

    ```python
    >>> import gymnasium as gym, envs
    >>> env = gym.make("nngym/Catch-v0", scale=8)
    >>> env.observation_space.shape
    (1, 80, 40)

    ```

    ## Version History
    * v0: Initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, rows: int = 10, columns: int = 5, scale: int = 1, render_mode: str | None = None):
        if not is_whole(rows) or not 2 <= rows <= MAX_ROWS:
            raise ValueError(
                f"rows must be an integer from 2 to {MAX_ROWS} (every step draws a rows * scale by columns * scale "
                f"image, columns up to 2 * rows - 1), got {rows!r}"
            )
        if not is_whole(columns) or not 1 <= columns <= 2 * (rows - 1) + 1:
            raise ValueError(
                f"columns must be an integer from 1 to 2 * (rows - 1) + 1 = {2 * (rows - 1) + 1} "
                f"(so the ball can always be caught), got {columns!r}"
            )
        if not is_whole(scale) or not 1 <= scale <= 16:
            raise ValueError(f"scale must be an integer from 1 to 16, got {scale!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.rows, self.columns, self.scale = int(rows), int(columns), int(scale)
        self.render_mode = render_mode

        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(
            0, 255, shape=(1, self.rows * self.scale, self.columns * self.scale), dtype=np.uint8
        )

        self._ball_row = self._ball_col = self._paddle = -1  # set by reset

    def _get_obs(self) -> np.ndarray:
        s = self.scale
        obs = np.zeros(self.observation_space.shape, dtype=np.uint8)
        obs[0, self._ball_row * s : (self._ball_row + 1) * s, self._ball_col * s : (self._ball_col + 1) * s] = 255
        obs[0, (self.rows - 1) * s :, self._paddle * s : (self._paddle + 1) * s] = 255
        return obs

    def _get_info(self) -> dict[str, Any]:
        return {"ball": (self._ball_row, self._ball_col), "paddle": self._paddle}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._ball_row = 0
        self._ball_col = int(self.np_random.integers(self.columns))
        self._paddle = self.columns // 2
        return self._get_obs(), self._get_info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = check_action(self.action_space, action, "0 left, 1 stay, 2 right")
        if self._ball_row < 0:
            raise RuntimeError("call reset() before step()")
        self._paddle = min(max(self._paddle + action - 1, 0), self.columns - 1)
        self._ball_row += 1
        terminated = self._ball_row >= self.rows - 1
        reward = (1.0 if self._ball_col == self._paddle else -1.0) if terminated else 0.0
        return self._get_obs(), reward, terminated, False, self._get_info()

    def render(self) -> np.ndarray | None:
        """The grid, 32 pixels per cell: ball red, paddle blue, cell lines grey; (rows*32, columns*32, 3) uint8."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array' to gym.make")
            return None
        if self._ball_row < 0:
            raise RuntimeError("call reset() before render()")
        cell = 32
        rgb = np.full((self.rows * cell, self.columns * cell, 3), 255, dtype=np.uint8)
        rgb[::cell] = rgb[:, ::cell] = 200  # grid lines
        r, c = self._ball_row * cell, self._ball_col * cell
        rgb[r + 6 : r + cell - 6, c + 6 : c + cell - 6] = (220, 40, 40)
        r, c = (self.rows - 1) * cell, self._paddle * cell
        rgb[r + cell // 2 :, c + 2 : c + cell - 2] = (40, 80, 220)
        draw_box(rgb, 0, 0, self.rows * cell, self.columns * cell, (0, 0, 0), thickness=2)
        return rgb
