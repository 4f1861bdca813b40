"""MNIST classification as an MDP: a contextual bandit in the style of bsuite's ``mnist`` experiment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.actions import check_action
from envs.checks import is_finite_number, is_whole, option_int
from envs.render import gray_to_rgb
from nngym.datasets import load_mnist

SPLITS = ("train", "test")
DRAW_BLOCK = 256  # image indices drawn per call to np_random (one call per reset would cost more than a step)


class DigitClassifyEnv(gym.Env[np.ndarray, int]):
    """Classify handwritten digits, one answer per image.

    ## Description

    Each step shows one MNIST digit (LeCun, Cortes & Burges) and the agent answers with a label.
    With one image per episode (the default) this is a contextual bandit, the design of bsuite's
    ``mnist`` experiment (Osband et al. 2020); with ``images_per_episode > 1`` an episode is a
    sequence of independent images, which only changes how returns are grouped.

    ## Action Space

    `Discrete(10)`: the action is the predicted digit, 0 to 9.

    ## Observation Space

    The digit as a uint8 image of shape `(1, 28 * scale, 28 * scale)`, channel-first (NCHW without
    the batch axis, what nngym's CNN takes), values 0 (background) to 255 (ink):

    | Num       | Observation              | Min | Max |
    |-----------|--------------------------|-----|-----|
    | [0, i, j] | grey level of pixel i, j | 0   | 255 |

    This is an image space for Stable-Baselines3 (`is_image_space`: uint8, bounds 0 and 255,
    channels-first detected because the channel axis is the smallest); SB3 divides by 255 itself.
    SB3's default `CnnPolicy` (NatureCNN) needs at least 36x36, so pass `scale=2` (nearest-neighbour
    upsampling to 56x56) for it; nngym's CNN and MLP policies use the default `scale=1`.

    ## Rewards

    +1 for the correct label, `wrong_reward` otherwise. The default `wrong_reward=0.0` makes the
    return of an episode the number of correct answers, so the mean reward per step *is* the
    accuracy; bsuite uses -1, which gives a zero-mean signal for a 50 % classifier and may help value
    baselines early (both are allowed; any value below 1 keeps the correct answer optimal).

    | Policy            | Expected reward per image                        | default (`0.0`) | `-1.0` |
    |-------------------|--------------------------------------------------|-----------------|--------|
    | uniform random    | 0.1 * 1 + 0.9 * `wrong_reward`                   | 0.1             | -0.8   |
    | optimal (oracle)  | 1                                                | 1               | 1      |

    A trained classifier's mean reward per step on `split="test"` with `wrong_reward=0` is its test
    accuracy (for an exact sweep over the test set see `options["index"]` below).

    ## Starting State

    `reset` draws `images_per_episode` indices uniformly with replacement from the split, using
    only `self.np_random` (in blocks of 256 draws, which `reset(seed=...)` discards). With
    `options={"index": i}` the episode instead shows images `i, i+1, ..., i+images_per_episode-1`
    (modulo the split size), so an evaluator can visit every test image exactly once.

    ## Episode End

    1. Termination: after `images_per_episode` answers. The final observation repeats the last image.
    2. Truncation: none needed (episodes have a fixed length).

    `info` holds `"label"` (the true label of the image in the observation) and `"index"` (its
    index in the split); `step` adds `"answered_label"` (label of the image just answered) and
    `"correct"` (bool).

    ## Arguments

    | Parameter            | Type      | Default   | Description                                          |
    |----------------------|-----------|-----------|------------------------------------------------------|
    | `split`              | **str**   | `"train"` | `"train"` (60,000 images) or `"test"` (10,000)       |
    | `images_per_episode` | **int**   | `1`       | answers per episode, 1 to the split's size           |
    | `wrong_reward`       | **float** | `0.0`     | reward for a wrong answer, < 1                       |
    | `scale`              | **int**   | `1`       | nearest-neighbour upsampling factor, 1 to 8          |

    ```python
    >>> import gymnasium as gym, envs
    >>> env = gym.make("nngym/DigitClassify-v0", split="test", wrong_reward=-1.0)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype
    ((1, 28, 28), dtype('uint8'))

    ```

    ## Version History
    * v0: Initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        split: str = "train",
        images_per_episode: int = 1,
        wrong_reward: float = 0.0,
        scale: int = 1,
        render_mode: str | None = None,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not is_whole(images_per_episode) or images_per_episode < 1:
            raise ValueError(f"images_per_episode must be an integer >= 1, got {images_per_episode!r}")
        if not is_finite_number(wrong_reward) or wrong_reward >= 1.0:
            raise ValueError(f"wrong_reward must be a finite number below the correct reward 1, got {wrong_reward!r}")
        if not is_whole(scale) or not 1 <= scale <= 8:
            raise ValueError(f"scale must be an integer from 1 to 8, got {scale!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.split = split
        self.images_per_episode = int(images_per_episode)
        self.wrong_reward = float(wrong_reward)
        self.scale = int(scale)
        self.render_mode = render_mode

        images, labels = load_mnist(split)  # cached: one read per process
        self._images = images[:, None]  # (N, 1, 28, 28) read-only view, no copy
        self._labels = labels.tolist()  # Python ints: cheaper to compare and to put in info
        self._n = len(labels)
        if self.images_per_episode > self._n:  # each reset lists the episode's image indices
            raise ValueError(
                f"images_per_episode must be at most the {self._n} images of the {split!r} split (an episode from "
                f"options['index'] then shows each image once at most), got {images_per_episode!r}"
            )

        side = 28 * self.scale
        self.action_space = spaces.Discrete(10)
        self.observation_space = spaces.Box(0, 255, shape=(1, side, side), dtype=np.uint8)

        self._indices: list[int] = []  # the episode's image indices
        self._t = 0  # index into self._indices of the image shown
        self._drawn: list[int] = []  # indices drawn ahead from np_random, used in order
        self._next = 0  # first unused entry of self._drawn

    def _get_obs(self) -> np.ndarray:
        image = self._images[self._indices[self._t]]
        if self.scale == 1:
            return image.copy()
        return image.repeat(self.scale, axis=1).repeat(self.scale, axis=2)

    def _get_info(self) -> dict[str, Any]:
        index = self._indices[self._t]
        return {"label": self._labels[index], "index": index}

    def _draw(self, k: int) -> list[int]:
        """The next k image indices, uniform with replacement, drawn from self.np_random in blocks."""
        if self._next + k > len(self._drawn):
            self._drawn = self.np_random.integers(self._n, size=max(DRAW_BLOCK, k)).tolist()
            self._next = 0
        self._next += k
        return self._drawn[self._next - k : self._next]

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:  # a new generator: forget what the old one drew
            self._drawn, self._next = [], 0
        if options is not None and "index" in options:
            start = option_int(options, "index", 0, self._n - 1)
            self._indices = [(start + k) % self._n for k in range(self.images_per_episode)]
        else:
            self._indices = self._draw(self.images_per_episode)
        self._t = 0
        return self._get_obs(), self._get_info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = check_action(self.action_space, action, "a digit 0-9")
        if not self._indices:
            raise RuntimeError("call reset() before step()")
        answered_label = self._labels[self._indices[self._t]]
        correct = action == answered_label
        reward = 1.0 if correct else self.wrong_reward
        terminated = self._t + 1 >= self.images_per_episode
        if not terminated:
            self._t += 1
        info = self._get_info()
        info["answered_label"] = answered_label
        info["correct"] = correct
        return self._get_obs(), reward, terminated, False, info

    def render(self) -> np.ndarray | None:
        """The digit as an RGB image, (28 * 8, 28 * 8, 3) uint8, black ink on white."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array' to gym.make")
            return None
        if not self._indices:
            raise RuntimeError("call reset() before render()")
        return gray_to_rgb(self._images[self._indices[self._t], 0], cell=8)
