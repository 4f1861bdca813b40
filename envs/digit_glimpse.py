"""Active perception on MNIST after Mnih, Heess, Graves & Kavukcuoglu 2014, "Recurrent Models of Visual Attention"."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.actions import check_action
from envs.digit_classify import SPLITS
from envs.render import draw_box, gray_to_rgb
from nngym.datasets import load_mnist

SIDE = 28  # MNIST image side
UP, DOWN, LEFT, RIGHT = 10, 11, 12, 13  # move actions; 0-9 answer
MOVES = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}


class DigitGlimpseEnv(gym.Env[np.ndarray, int]):
    """Classify a digit seen only through a small moving window.

    ## Description

    A discrete version of the recurrent attention model's task (Mnih et al. 2014): the agent never
    sees the whole digit, only a `glimpse_size` x `glimpse_size` patch centred at a location it
    controls, plus that location. It moves the glimpse `move_step` pixels at a time and, when it has
    seen enough, answers with a label. Several glimpses must be combined to classify well, so a
    memoryless policy is at a disadvantage against a recurrent one (LSTM). The glimpse is a single
    scale (Mnih et al. also use a multi-resolution "retina"); outside the image it sees zeros.

    ## Action Space

    `Discrete(14)`: 0-9 answer with that digit; 10 = move up, 11 = down, 12 = left, 13 = right.

    ## Observation Space

    `Box(float32)` of shape `(glimpse_size**2 + 2,)`:

    | Num                  | Observation                                          | Min | Max |
    |----------------------|------------------------------------------------------|-----|-----|
    | 0 .. g*g-1           | glimpse pixels, row-major, grey level / 255          | 0   | 1   |
    | g*g                  | glimpse centre row, 2 * row / 27 - 1                 | -1  | 1   |
    | g*g + 1              | glimpse centre column, 2 * column / 27 - 1           | -1  | 1   |

    The glimpse centred at pixel (r, c) covers rows `r - g // 2` to `r - g // 2 + g - 1` (and the
    same for columns).

    ## Rewards

    On answering: +1 for the true label, `wrong_reward` otherwise; 0 for moves. Moving when
    `max_glimpses` glimpses have been shown ends the episode with `wrong_reward` (no answer).

    | Policy                | Expected return (G = `max_glimpses`, w = `wrong_reward`, q = (4/14)^G)  | default |
    |-----------------------|--------------------------------------------------------------------------|---------|
    | uniform random        | 0.1 (1 - q) + (0.9 (1 - q) + q) w                                        | 0.09995 |
    | optimal (oracle)      | 1                                                                        | 1       |

    A classifier's accuracy with the same glimpses bounds what a policy can reach; Mnih et al.
    report 1.29 % test error for a 6-glimpse RAM on 28x28 MNIST (8x8 glimpses, continuous moves).

    ## Starting State

    An image drawn uniformly from the split with `self.np_random` (or `options={"index": i}`),
    glimpse centred at pixel (14, 14), one glimpse shown.

    ## Episode End

    1. Termination: an answer (actions 0-9), or a move with no glimpses left.
    2. Truncation: none needed (at most `max_glimpses` steps).

    `info` holds `"label"`, `"index"` (in the split), `"location"` (row, column) and `"glimpses"`
    (shown so far); an answering step adds `"correct"`.

    ## Arguments

    | Parameter      | Type      | Default   | Description                                      |
    |----------------|-----------|-----------|--------------------------------------------------|
    | `split`        | **str**   | `"train"` | `"train"` or `"test"`                            |
    | `glimpse_size` | **int**   | `8`       | patch side in pixels, 1 to 28                    |
    | `move_step`    | **int**   | `4`       | pixels per move, 1 to 27                         |
    | `max_glimpses` | **int**   | `6`       | glimpses per episode (the first is free), >= 1   |
    | `wrong_reward` | **float** | `0.0`     | reward for a wrong or missing answer, < 1        |

    ```python
    >>> import gymnasium as gym, envs
    >>> env = gym.make("nngym/DigitGlimpse-v0", glimpse_size=10, max_glimpses=4)
    >>> env.observation_space.shape
    (102,)

    ```

    ## Version History
    * v0: Initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        split: str = "train",
        glimpse_size: int = 8,
        move_step: int = 4,
        max_glimpses: int = 6,
        wrong_reward: float = 0.0,
        render_mode: str | None = None,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if int(glimpse_size) != glimpse_size or not 1 <= glimpse_size <= SIDE:
            raise ValueError(f"glimpse_size must be an integer from 1 to the image side {SIDE}, got {glimpse_size!r}")
        if int(move_step) != move_step or not 1 <= move_step <= SIDE - 1:
            raise ValueError(f"move_step must be an integer from 1 to {SIDE - 1} pixels, got {move_step!r}")
        if int(max_glimpses) != max_glimpses or max_glimpses < 1:
            raise ValueError(f"max_glimpses must be an integer >= 1, got {max_glimpses!r}")
        if not np.isfinite(wrong_reward) or wrong_reward >= 1.0:
            raise ValueError(f"wrong_reward must be a finite number below the correct reward 1, got {wrong_reward!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.split = split
        self.glimpse_size, self.move_step, self.max_glimpses = int(glimpse_size), int(move_step), int(max_glimpses)
        self.wrong_reward = float(wrong_reward)
        self.render_mode = render_mode

        self._images, labels = load_mnist(split)  # cached: one read per process
        self._labels = labels.tolist()
        self._n = len(labels)

        g = self.glimpse_size
        low = np.r_[np.zeros(g * g), -1.0, -1.0].astype(np.float32)
        high = np.ones(g * g + 2, dtype=np.float32)
        self.action_space = spaces.Discrete(14)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

        pad = g // 2
        self._pad = pad
        self._canvas = np.zeros((SIDE + g, SIDE + g), dtype=np.float32)  # the image / 255, zero-padded
        self._index = -1  # set by reset
        self._row = self._col = SIDE // 2
        self._glimpses = 0

    def _get_obs(self) -> np.ndarray:
        g = self.glimpse_size
        obs = np.empty(g * g + 2, dtype=np.float32)
        # canvas row r + pad - g // 2 = r is the glimpse's first row
        obs[: g * g] = self._canvas[self._row : self._row + g, self._col : self._col + g].ravel()
        obs[g * g] = 2.0 * self._row / (SIDE - 1) - 1.0
        obs[g * g + 1] = 2.0 * self._col / (SIDE - 1) - 1.0
        return obs

    def _get_info(self) -> dict[str, Any]:
        return {
            "label": self._labels[self._index],
            "index": self._index,
            "location": (self._row, self._col),
            "glimpses": self._glimpses,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options is not None and "index" in options:
            index = int(options["index"])
            if not 0 <= index < self._n:
                raise ValueError(f"options['index'] must be in [0, {self._n}), got {options['index']!r}")
        else:
            index = int(self.np_random.integers(self._n))
        self._index = index
        p = self._pad
        np.multiply(self._images[index], np.float32(1 / 255), out=self._canvas[p : p + SIDE, p : p + SIDE])
        self._row = self._col = SIDE // 2
        self._glimpses = 1
        return self._get_obs(), self._get_info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = check_action(self.action_space, action, "0-9 answer, 10 up, 11 down, 12 left, 13 right")
        if self._index < 0:
            raise RuntimeError("call reset() before step()")
        if action < 10:  # answer
            correct = action == self._labels[self._index]
            info = self._get_info()
            info["correct"] = correct
            return self._get_obs(), 1.0 if correct else self.wrong_reward, True, False, info
        if self._glimpses >= self.max_glimpses:  # no glimpses left: no answer
            info = self._get_info()
            info["correct"] = False
            return self._get_obs(), self.wrong_reward, True, False, info
        d_row, d_col = MOVES[action]
        self._row = min(max(self._row + d_row * self.move_step, 0), SIDE - 1)
        self._col = min(max(self._col + d_col * self.move_step, 0), SIDE - 1)
        self._glimpses += 1
        return self._get_obs(), 0.0, False, False, self._get_info()

    def render(self) -> np.ndarray | None:
        """The whole digit (8 pixels per pixel, black on white) with the glimpse as a red box; (224, 224, 3) uint8."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array' to gym.make")
            return None
        if self._index < 0:
            raise RuntimeError("call reset() before render()")
        cell, g = 8, self.glimpse_size
        rgb = gray_to_rgb(self._images[self._index], cell)
        top, left = (self._row - g // 2) * cell, (self._col - g // 2) * cell
        draw_box(rgb, top, left, g * cell, g * cell, (220, 30, 30), thickness=2)
        return rgb
