"""Env arguments that set the size of what an env allocates are bounded, with the bound and its reason in the
message, instead of numpy's "array is too big" or gigabytes allocated without a word."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from envs.digit_glimpse import max_scales


@pytest.mark.parametrize(
    ("glimpse_size", "canvas_size", "expected"),
    [(8, 28, 4), (12, 60, 5), (28, 28, 2), (1, 28, 7), (4, 28, 5), (1, 1024, 12), (1024, 1024, 2)],
)
def test_max_scales_ends_at_the_first_patch_covering_the_canvas_from_every_centre(glimpse_size, canvas_size, expected):
    assert max_scales(glimpse_size, canvas_size) == expected
    assert glimpse_size * 2 ** (expected - 1) >= 2 * canvas_size - 1  # the top patch covers the canvas ...
    assert expected == 1 or glimpse_size * 2 ** (expected - 2) < 2 * canvas_size - 1  # ... the one below does not


@pytest.mark.parametrize(("n_scales", "shown"), [(40, "40"), (13, "13"), (5, "5"), (5.0, "5.0")])
def test_digit_glimpse_refuses_scales_past_the_whole_canvas(n_scales, shown):
    message = (
        "n_scales must be an integer from 1 to 4 for glimpse_size 8 on a 28 x 28 canvas: scale 4's patch (side 64) "
        "already covers the whole canvas from every glimpse centre (a side of 2 * 28 - 1 = 55 does), so a larger "
        f"scale would only add zero padding; got {shown}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):  # numpy's "array is too big" (40), or 4 GB (13)
        gym.make("nngym/DigitGlimpse-v0", n_scales=n_scales)
    mnih = "n_scales must be an integer from 1 to 5 for glimpse_size 12 on a 60 x 60 canvas"
    with pytest.raises(ValueError, match=re.escape(mnih)):
        gym.make("nngym/DigitGlimpse-v0", glimpse_size=12, canvas_size=60, n_scales=6)


def test_the_top_scale_sees_the_whole_digit_from_every_corner_and_the_one_below_does_not():
    env = gym.make("nngym/DigitGlimpse-v0", n_scales=4, action_mode="location", max_glimpses=3)
    obs, _ = env.reset(seed=0, options={"index": 3})
    digit = env.unwrapped._canvas.sum()  # the zero padding adds nothing
    for corner in ([-1.0, -1.0], [1.0, 1.0]):  # pixels (0, 0) and (27, 27)
        obs, *_ = env.step({"label": 0, "location": np.array(corner, np.float32)})
        scales = obs[:-2].reshape(4, 64)
        # scale k averages 2**k x 2**k blocks: its pixels times 4**k sum the canvas under its patch
        assert scales[3].sum() * 4**3 == pytest.approx(digit, rel=1e-5)
        assert scales[2].sum() * 4**2 < 0.9 * digit  # side 32 from a corner misses part of the digit


def test_digit_glimpse_canvas_size_is_bounded():
    message = (
        "canvas_size must be an integer from the image side 28 to 1024 (the env keeps a zero-padded float32 canvas up "
        "to 5 times as wide), got 100000"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        gym.make("nngym/DigitGlimpse-v0", canvas_size=100_000)
    env = gym.make("nngym/DigitGlimpse-v0", canvas_size=1024, glimpse_size=1023, n_scales=3)
    assert env.unwrapped._canvas.shape == (1024 + 4092, 1024 + 4092)  # the largest allowed: 105 MB
    env.close()


def test_catch_rows_are_bounded():
    message = (
        "rows must be an integer from 2 to 64 (every step draws a rows * scale by columns * scale image, columns up "
        "to 2 * rows - 1), got 100000"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        gym.make("nngym/Catch-v0", rows=100_000, columns=5)  # a 500 kB image a step, 20 GB with columns=199999
    env = gym.make("nngym/Catch-v0", rows=64, columns=127, scale=2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (1, 128, 254) and obs[0, 126:, 126:128].min() == 255  # the paddle at column 63


def test_digit_classify_episodes_are_at_most_the_split():
    message = (
        "images_per_episode must be at most the 10000 images of the 'test' split (an episode from options['index'] "
        "then shows each image once at most), got 10001"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        gym.make("nngym/DigitClassify-v0", split="test", images_per_episode=10_001)
    env = gym.make("nngym/DigitClassify-v0", split="test", images_per_episode=10_000)
    _, info = env.reset(options={"index": 9_999})
    assert info["index"] == 9_999 and env.unwrapped._indices[1] == 0 and len(set(env.unwrapped._indices)) == 10_000
