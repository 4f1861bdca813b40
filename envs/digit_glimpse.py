"""Active perception on MNIST after Mnih, Heess, Graves & Kavukcuoglu 2014, "Recurrent Models of Visual Attention"."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.actions import check_action
from envs.checks import is_finite_number, is_whole, option_int, option_pair
from envs.digit_classify import SPLITS
from envs.render import draw_box, gray_to_rgb
from nngym.datasets import load_mnist

SIDE = 28  # MNIST image side
MAX_CANVAS = 1024  # largest canvas side: the zero-padded float32 canvas then stays around 100 MB at most
UP, DOWN, LEFT, RIGHT = 10, 11, 12, 13  # move actions; 0-9 answer
MOVES = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
ACTION_MODES = ("move", "location")
REVEAL_LABEL = ("always", "end")
SCALE_COLORS = ((220, 30, 30), (30, 140, 220), (40, 170, 60), (200, 140, 20))  # render: one colour per scale


def max_scales(glimpse_size: int, canvas_size: int = SIDE) -> int:
    """The most retina scales that each show something new: up to the first whose patch covers the whole canvas
    from every glimpse centre.

    A patch of side s centred at pixel r covers rows r - s // 2 to r - s // 2 + s - 1, so it covers rows 0 to
    S - 1 from every centre 0 <= r <= S - 1 when s >= 2S - 1. The scale after such a patch would average the
    same canvas and more zero padding outside it.

    Args:
        glimpse_size: g, the first patch's side.
        canvas_size: S, the canvas side.

    Returns:
        The smallest k >= 1 with g * 2**(k - 1) >= 2S - 1.
    """
    k = 1
    while glimpse_size * 2 ** (k - 1) < 2 * canvas_size - 1:
        k += 1
    return k


class DigitGlimpseEnv(gym.Env[np.ndarray, Any]):
    """Classify a digit seen only through a small moving window.

    ## Description

    The recurrent attention model's task (Mnih et al. 2014): the agent never sees the whole digit,
    only a "retina" centred at a location it controls, plus that location. The retina has
    `n_scales` patches around the same centre, of sides g, 2g, 4g, ... (g = `glimpse_size`), each
    averaged down to g x g pixels: a sharp centre and a blurred surround. Outside the image it sees
    zeros. Several glimpses must be combined to classify well, so a memoryless policy is at a
    disadvantage against a recurrent one (LSTM). Scales stop at the first patch that covers the whole
    canvas from every glimpse centre (a side of 2S - 1 or more, S the canvas side below), as a larger
    one would only add zero padding: `n_scales` is at most `max_scales(g, S)`, 4 for the default g = 8
    on 28 x 28 (sides 8, 16, 32, 64), 5 for g = 12 on Mnih et al.'s 60 x 60 canvas.

    Two ways to move (`action_mode`):

    * `"move"` (default): discrete moves of `move_step` pixels, and the episode ends with an answer
      whenever the agent chooses to give one.
    * `"location"`: as in Mnih et al., each action names the centre of the next glimpse anywhere in
      the image, continuously in [-1, 1]^2, and carries a label that is read after the last glimpse:
      every episode has exactly `max_glimpses` glimpses and `max_glimpses` steps.

    With `canvas_size` > 28 the digit is pasted at a uniformly random position of a blank
    `canvas_size` x `canvas_size` canvas (Mnih et al.'s "translated MNIST" uses 60), and every
    coordinate below refers to the canvas. S is `canvas_size` below.

    With `max_shift` = m > 0 the digit is also moved by a random (row, column) shift drawn
    uniformly from [-m, m]^2 at every reset, pixels pushed past the canvas's edge being lost: data
    augmentation for training (small translations of the training digits), off by default so that
    the test split shows every digit where MNIST put it.

    ## Action Space

    * `"move"`: `Discrete(14)`: 0-9 answer with that digit; 10 = move up, 11 = down, 12 = left,
      13 = right.
    * `"location"`: `Dict({"label": Discrete(10), "location": Box(-1, 1, (2,), float32)})`. `location`
      is the next glimpse centre (row, column), scaled like the observation's location: pixel
      `round((l + 1) / 2 * (S - 1))`, values outside [-1, 1] clipped. `label` is the answer, read
      only on the step after the last glimpse (on earlier steps it is ignored, on the last one
      `location` is).

    ## Observation Space

    `Box(float32)` of shape `(n_scales * g**2 + 2,)`:

    | Num                          | Observation                                       | Min | Max |
    |------------------------------|---------------------------------------------------|-----|-----|
    | k*g*g .. (k+1)*g*g - 1       | scale k's patch (side g * 2**k, averaged over     | 0   | 1   |
    |                              | 2**k x 2**k blocks), row-major, grey level / 255  |     |     |
    | n_scales*g*g                 | glimpse centre row, 2 * row / (S - 1) - 1         | -1  | 1   |
    | n_scales*g*g + 1             | glimpse centre column, 2 * column / (S - 1) - 1   | -1  | 1   |

    A patch of side s centred at pixel (r, c) covers rows `r - s // 2` to `r - s // 2 + s - 1`
    (and the same for columns). With the defaults the observation is the single 8 x 8 patch plus
    the location, shape (66,).

    ## Rewards

    On answering: +1 for the true label, `wrong_reward` otherwise; 0 for moves. In `"move"` mode,
    moving when `max_glimpses` glimpses have been shown ends the episode with `wrong_reward` (no
    answer).

    | Policy                | Expected return (G = `max_glimpses`, w = `wrong_reward`, q = (4/14)^G)  | default |
    |-----------------------|--------------------------------------------------------------------------|---------|
    | uniform random        | `"move"`: 0.1 (1 - q) + (0.9 (1 - q) + q) w; `"location"`: 0.1 + 0.9 w   | 0.09995 |
    | optimal (oracle)      | 1                                                                        | 1       |

    A classifier's accuracy with the same glimpses bounds what a policy can reach; Mnih et al.
    report 1.12 % test error for a 6-glimpse RAM on 28x28 MNIST (8x8 glimpses, one scale,
    continuous locations) and 1.84 % on 60x60 translated MNIST (12x12 glimpses, 3 scales, 8 glimpses).

    ## Starting State

    An image drawn uniformly from the split with `self.np_random` (or `options={"index": i}`),
    placed at a random offset of the canvas if it is larger than 28 (also `self.np_random`, or
    `options={"offset": (row, column)}`), shifted if `max_shift` > 0 (`self.np_random`, or
    `options={"shift": (rows, columns)}`), glimpse centred at pixel (S // 2, S // 2), one glimpse
    shown. The options are whole numbers in range (offsets in [0, S - 28], shifts in [-max_shift, max_shift]), else
    `reset` raises a ValueError naming the option.

    ## Episode End

    1. Termination: `"move"`: an answer (actions 0-9), or a move with no glimpses left;
       `"location"`: the step after the `max_glimpses`-th glimpse (its label is the answer).
    2. Truncation: none needed (at most `max_glimpses` steps).

    `info` holds `"index"` (in the split), `"location"` (row, column), `"glimpses"` (shown so far) and
    `"label"`; an answering step adds `"correct"`, and a canvas larger than 28 adds `"offset"` (the row and
    column of the digit's top-left pixel), and `max_shift` > 0 adds `"shift"`. With `reveal_label="end"` the
    label is only in the info of the episode's last step: the supervised signal a learner such as the recurrent
    attention model trains its classifier with (cross-entropy on its last answer), given once the answer is in;
    the reward stays the same. The default, `"always"`, has it in every info.

    ## Arguments

    | Parameter      | Type      | Default    | Description                                                 |
    |----------------|-----------|------------|-------------------------------------------------------------|
    | `split`        | **str**   | `"train"`  | `"train"` or `"test"`                                       |
    | `glimpse_size` | **int**   | `8`        | g, patch side in pixels, 1 to S                             |
    | `move_step`    | **int**   | `4`        | pixels per move (`"move"` mode), 1 to S - 1                 |
    | `max_glimpses` | **int**   | `6`        | glimpses per episode (the first is free), >= 1              |
    | `wrong_reward` | **float** | `0.0`      | reward for a wrong or missing answer, < 1                   |
    | `n_scales`     | **int**   | `1`        | patches per glimpse, sides g * 2**k for k < n_scales, 1 to  |
    |                |           |            | `max_scales(g, S)` (see the description)                    |
    | `action_mode`  | **str**   | `"move"`   | `"move"` (discrete moves, answer any time) or `"location"`  |
    | `canvas_size`  | **int**   | `28`       | S, side of the canvas the digit is placed on, 28 to 1024    |
    |                |           |            | (`MAX_CANVAS`: the padded float32 canvas stays near 100 MB) |
    | `reveal_label` | **str**   | `"always"` | `"always"` or `"end"`: which steps' info holds `"label"`    |
    | `max_shift`    | **int**   | `0`        | shift the digit by up to this many pixels, 0 to 27          |

    ```python
    >>> import gymnasium as gym, envs
    >>> env = gym.make("nngym/DigitGlimpse-v0", glimpse_size=10, max_glimpses=4)
    >>> env.observation_space.shape
    (102,)
    >>> ram = gym.make("nngym/DigitGlimpse-v0", action_mode="location", n_scales=3, canvas_size=60)
    >>> ram.observation_space.shape, sorted(ram.action_space.spaces)
    ((194,), ['label', 'location'])

    ```

    ## Version History
    * v0: Initial version; retina scales, continuous locations, the translated canvas and
      `reveal_label` added as options whose defaults keep the original behaviour; later `max_shift`,
      off by default.
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
        n_scales: int = 1,
        action_mode: str = "move",
        canvas_size: int = SIDE,
        reveal_label: str = "always",
        max_shift: int = 0,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not is_whole(canvas_size) or not SIDE <= canvas_size <= MAX_CANVAS:
            raise ValueError(
                f"canvas_size must be an integer from the image side {SIDE} to {MAX_CANVAS} (the env keeps a "
                f"zero-padded float32 canvas up to 5 times as wide), got {canvas_size!r}"
            )
        S = int(canvas_size)
        where = f"the image side {S}" if S == SIDE else f"the canvas side {S}"
        if not is_whole(glimpse_size) or not 1 <= glimpse_size <= S:
            raise ValueError(f"glimpse_size must be an integer from 1 to {where}, got {glimpse_size!r}")
        if not is_whole(move_step) or not 1 <= move_step <= S - 1:
            raise ValueError(f"move_step must be an integer from 1 to {S - 1} pixels, got {move_step!r}")
        if not is_whole(max_glimpses) or max_glimpses < 1:
            raise ValueError(f"max_glimpses must be an integer >= 1, got {max_glimpses!r}")
        if not is_finite_number(wrong_reward) or wrong_reward >= 1.0:
            raise ValueError(f"wrong_reward must be a finite number below the correct reward 1, got {wrong_reward!r}")
        top_scale = max_scales(int(glimpse_size), S)
        if not is_whole(n_scales) or not 1 <= n_scales <= top_scale:
            g, side = int(glimpse_size), int(glimpse_size) * 2 ** (top_scale - 1)
            raise ValueError(
                f"n_scales must be an integer from 1 to {top_scale} for glimpse_size {g} on a {S} x {S} canvas: "
                f"scale {top_scale}'s patch (side {side}) already covers the whole canvas from every glimpse "
                f"centre (a side of 2 * {S} - 1 = {2 * S - 1} does), so a larger scale would only add zero padding; "
                f"got {n_scales!r}"
            )
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {action_mode!r}")
        if reveal_label not in REVEAL_LABEL:
            raise ValueError(f"reveal_label must be one of {REVEAL_LABEL}, got {reveal_label!r}")
        if not is_whole(max_shift) or not 0 <= max_shift < SIDE:
            raise ValueError(f"max_shift must be an integer from 0 to {SIDE - 1} pixels, got {max_shift!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.split = split
        self.glimpse_size, self.move_step, self.max_glimpses = int(glimpse_size), int(move_step), int(max_glimpses)
        self.wrong_reward = float(wrong_reward)
        self.n_scales, self.action_mode, self.canvas_size = int(n_scales), action_mode, S
        self.reveal_label, self.max_shift = reveal_label, int(max_shift)
        self.render_mode = render_mode

        self._images, labels = load_mnist(split)  # cached: one read per process
        self._labels = labels.tolist()
        self._n = len(labels)

        g, k = self.glimpse_size, self.n_scales
        n_pix = k * g * g
        low = np.r_[np.zeros(n_pix), -1.0, -1.0].astype(np.float32)
        high = np.ones(n_pix + 2, dtype=np.float32)
        if action_mode == "move":
            self.action_space = spaces.Discrete(14)
        else:
            self.action_space = spaces.Dict(
                {"label": spaces.Discrete(10), "location": spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)}
            )
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

        self._sides = [g * 2**s for s in range(k)]  # patch side per scale
        pad = self._sides[-1] // 2
        self._pad = pad
        self._canvas = np.zeros((S + self._sides[-1], S + self._sides[-1]), dtype=np.float32)  # zero-padded, / 255
        self._index = -1  # set by reset
        self._offset = (0, 0)  # the digit's top-left pixel on the canvas
        self._shift = (0, 0)  # the random shift added to it (max_shift)
        self._row = self._col = S // 2
        self._glimpses = 0

    def _get_obs(self) -> np.ndarray:
        g, S = self.glimpse_size, self.canvas_size
        n_pix = self.n_scales * g * g
        obs = np.empty(n_pix + 2, dtype=np.float32)
        for k, s in enumerate(self._sides):
            # canvas row r + pad - s // 2 is the patch's first row
            top, left = self._row + self._pad - s // 2, self._col + self._pad - s // 2
            patch = self._canvas[top : top + s, left : left + s]
            if k:  # average 2**k x 2**k blocks down to g x g
                f = s // g
                patch = patch.reshape(g, f, g, f).mean(axis=(1, 3))
            obs[k * g * g : (k + 1) * g * g] = patch.ravel()
        obs[n_pix] = 2.0 * self._row / (S - 1) - 1.0
        obs[n_pix + 1] = 2.0 * self._col / (S - 1) - 1.0
        return obs

    def _get_info(self, last: bool = False) -> dict[str, Any]:
        info: dict[str, Any] = {"index": self._index, "location": (self._row, self._col), "glimpses": self._glimpses}
        if last or self.reveal_label == "always":
            info = {"label": self._labels[self._index], **info}
        if self.canvas_size != SIDE:
            info["offset"] = self._offset
        if self.max_shift:
            info["shift"] = self._shift
        return info

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options is not None and "index" in options:
            index = option_int(options, "index", 0, self._n - 1)
        else:
            index = int(self.np_random.integers(self._n))
        self._index = index
        S, p = self.canvas_size, self._pad
        top = left = 0
        if options is not None and "offset" in options:  # on a canvas of the digit's size only (0, 0)
            top, left = option_pair(options, "offset", 0, S - SIDE, "(row, column)")
        elif S > SIDE:
            top, left = (int(v) for v in self.np_random.integers(S - SIDE + 1, size=2))
        self._offset = (top, left)
        self._shift = d_row, d_col = self._draw_shift(options)
        if S > SIDE or self.max_shift:  # the digit does not cover the whole canvas: clear what it leaves
            self._canvas[...] = 0.0
        r0, c0 = top + d_row, left + d_col  # the image's top-left pixel on the canvas, maybe outside it
        rows = slice(max(0, -r0), min(SIDE, S - r0))  # the image's rows and columns that land on the canvas
        cols = slice(max(0, -c0), min(SIDE, S - c0))
        np.multiply(
            self._images[index][rows, cols],
            np.float32(1 / 255),
            out=self._canvas[p + r0 + rows.start : p + r0 + rows.stop, p + c0 + cols.start : p + c0 + cols.stop],
        )
        self._row = self._col = S // 2
        self._glimpses = 1
        return self._get_obs(), self._get_info()

    def _draw_shift(self, options: dict | None) -> tuple[int, int]:
        """The digit's (rows, columns) shift: ``options["shift"]`` or uniform in [-m, m]^2 (m = max_shift, 0: none)."""
        m = self.max_shift
        if options is not None and "shift" in options:
            if not m:
                raise ValueError(f"options['shift'] needs max_shift > 0 (this env's is 0), got {options['shift']!r}")
            return option_pair(options, "shift", -m, m, "(rows, columns)")
        if not m:
            return 0, 0
        d_row, d_col = (int(v) for v in self.np_random.integers(-m, m + 1, size=2))
        return d_row, d_col

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.action_mode == "location":
            return self._step_location(action)
        action = check_action(self.action_space, action, "0-9 answer, 10 up, 11 down, 12 left, 13 right")
        if self._index < 0:
            raise RuntimeError("call reset() before step()")
        if action < 10:  # answer
            return self._answer(action)
        if self._glimpses >= self.max_glimpses:  # no glimpses left: no answer
            info = self._get_info(last=True)
            info["correct"] = False
            return self._get_obs(), self.wrong_reward, True, False, info
        d_row, d_col = MOVES[action]
        S = self.canvas_size
        self._row = min(max(self._row + d_row * self.move_step, 0), S - 1)
        self._col = min(max(self._col + d_col * self.move_step, 0), S - 1)
        self._glimpses += 1
        return self._get_obs(), 0.0, False, False, self._get_info()

    def _answer(self, label: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        correct = label == self._labels[self._index]
        info = self._get_info(last=True)
        info["correct"] = correct
        return self._get_obs(), 1.0 if correct else self.wrong_reward, True, False, info

    def _step_location(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        try:  # the common case (a dict of an int and 2 floats) by plain Python, which costs a few microseconds
            label, location = action["label"], action["location"]
            row, col = (float(v) for v in location)
        except (TypeError, KeyError, IndexError, ValueError):
            raise ValueError(
                f"action must be a dict {{'label': int in 0-9, 'location': 2 floats in [-1, 1]}}, got {action!r}"
            ) from None
        label = check_action(self.action_space["label"], label, "the answer, read after the last glimpse")
        if len(action) != 2 or not (math.isfinite(row) and math.isfinite(col)):
            raise ValueError(f"action must be a dict of 'label' and 2 finite 'location' floats, got {action!r}")
        if self._index < 0:
            raise RuntimeError("call reset() before step()")
        if self._glimpses >= self.max_glimpses:
            return self._answer(label)
        half = 0.5 * (self.canvas_size - 1)  # pixel = round((l + 1) / 2 * (S - 1)), l clipped to [-1, 1]
        self._row = round((min(max(row, -1.0), 1.0) + 1.0) * half)
        self._col = round((min(max(col, -1.0), 1.0) + 1.0) * half)
        self._glimpses += 1
        return self._get_obs(), 0.0, False, False, self._get_info()

    def render(self) -> np.ndarray | None:
        """The canvas (8 pixels per pixel for 28, fewer for larger canvases; black on white) with each scale's patch
        as a box (red, blue, green, orange); (S * cell, S * cell, 3) uint8, 224 x 224 by default."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array' to gym.make")
            return None
        if self._index < 0:
            raise RuntimeError("call reset() before render()")
        S, p = self.canvas_size, self._pad
        cell = max(1, 224 // S)
        if S == SIDE and not self.max_shift:
            gray = self._images[self._index]
        else:
            gray = np.rint(self._canvas[p : p + S, p : p + S] * 255).astype(np.uint8)
        rgb = gray_to_rgb(gray, cell)
        for k, s in enumerate(self._sides):
            top, left = (self._row - s // 2) * cell, (self._col - s // 2) * cell
            draw_box(rgb, top, left, s * cell, s * cell, SCALE_COLORS[k % len(SCALE_COLORS)], thickness=2)
        return rgb
