"""DigitGlimpse's options for the recurrent attention model: retina scales, continuous locations, the translated
canvas and the label revealed at the end of an episode."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the ids)
from nngym.datasets import load_mnist

RAM_OPTIONS = [
    {"action_mode": "location"},
    {"n_scales": 2},
    {"action_mode": "location", "n_scales": 3, "glimpse_size": 12, "canvas_size": 60, "reveal_label": "end"},
    {"canvas_size": 60, "move_step": 6, "reveal_label": "end"},
    {"action_mode": "location", "max_shift": 3, "reveal_label": "end"},
]


@pytest.mark.parametrize("kwargs", RAM_OPTIONS)
def test_gymnasium_check_env_with_options(kwargs):
    check_env(gym.make("nngym/DigitGlimpse-v0", render_mode="rgb_array", **kwargs).unwrapped, skip_render_check=False)


def test_default_spaces_are_unchanged():
    env = gym.make("nngym/DigitGlimpse-v0")
    assert env.action_space == gym.spaces.Discrete(14) and env.observation_space.shape == (66,)


def test_scales_average_larger_patches_down_to_the_glimpse_size():
    images, _ = load_mnist("train")
    env = gym.make("nngym/DigitGlimpse-v0", glimpse_size=4, n_scales=3, max_glimpses=2)
    obs, _ = env.reset(options={"index": 7})
    assert obs.shape == (3 * 16 + 2,)
    image = images[7] / np.float32(255)
    np.testing.assert_allclose(obs[:16], image[12:16, 12:16].ravel(), rtol=1e-6)  # side 4 around (14, 14)
    by_hand = [[image[10 + 2 * i : 12 + 2 * i, 10 + 2 * j : 12 + 2 * j].mean() for j in range(4)] for i in range(4)]
    np.testing.assert_allclose(obs[16:32], np.ravel(by_hand), rtol=1e-5)  # side 8, 2 x 2 blocks
    by_hand = [[image[6 + 4 * i : 10 + 4 * i, 6 + 4 * j : 10 + 4 * j].mean() for j in range(4)] for i in range(4)]
    np.testing.assert_allclose(obs[32:48], np.ravel(by_hand), rtol=1e-5)  # side 16, 4 x 4 blocks
    obs, *_ = env.step(10)  # up 4 to row 10: the side-16 patch starts at row 2
    by_hand = [[image[2 + 4 * i : 6 + 4 * i, 6 + 4 * j : 10 + 4 * j].mean() for j in range(4)] for i in range(4)]
    np.testing.assert_allclose(obs[32:48], np.ravel(by_hand), rtol=1e-5)


def test_location_mode_moves_anywhere_and_reads_the_label_after_the_last_glimpse():
    images, labels = load_mnist("train")
    env = gym.make("nngym/DigitGlimpse-v0", action_mode="location", glimpse_size=6, max_glimpses=3)
    obs, info = env.reset(options={"index": 42})
    wrong = (labels[42] + 1) % 10
    obs, reward, terminated, _, info = env.step({"label": wrong, "location": np.array([-1.0, 0.5], np.float32)})
    assert (reward, terminated, info["location"], info["glimpses"]) == (0.0, False, (0, 20), 2)  # 0.75 * 27 = 20.25
    assert "correct" not in info  # the label of an early step is ignored
    np.testing.assert_allclose(obs[36:], [-1.0, 2 * 20 / 27 - 1], rtol=1e-6)
    np.testing.assert_allclose(obs[18:36], (images[42, 0:3, 17:23] / np.float32(255)).ravel(), rtol=1e-6)
    obs, reward, terminated, _, info = env.step({"label": wrong, "location": np.array([3.0, -0.2])})  # clipped
    assert (reward, terminated, info["location"]) == (0.0, False, (27, 11))  # 0.4 * 27 = 10.8
    _, reward, terminated, _, info = env.step({"label": labels[42], "location": np.zeros(2)})  # glimpses used up
    assert (reward, terminated, info["correct"], info["location"]) == (1.0, True, True, (27, 11))
    env.reset(options={"index": 42})
    for _ in range(2):
        env.step({"label": 0, "location": np.zeros(2)})
    _, reward, terminated, _, info = env.step({"label": wrong, "location": np.zeros(2)})
    assert (reward, terminated, info["correct"]) == (0.0, True, False)


@pytest.mark.parametrize(
    "action",
    [3, {"label": 3}, {"label": 10, "location": np.zeros(2)}, {"label": 1, "location": [np.nan, 0.0]}],
)
def test_location_mode_rejects_bad_actions(action):
    env = gym.make("nngym/DigitGlimpse-v0", action_mode="location")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.unwrapped.step(action)


def test_translated_canvas_places_the_digit_at_the_offset():
    images, labels = load_mnist("test")
    env = gym.make("nngym/DigitGlimpse-v0", split="test", canvas_size=60, glimpse_size=12, action_mode="location")
    obs, info = env.reset(options={"index": 5, "offset": (20, 3)})
    assert info["offset"] == (20, 3) and info["location"] == (30, 30)
    # the 12 x 12 patch around (30, 30) covers canvas rows 24..35, columns 24..35: digit rows 4..15, columns 21..27
    patch = np.zeros((12, 12), np.float32)
    patch[:, :7] = images[5, 4:16, 21:28] / np.float32(255)
    np.testing.assert_allclose(obs[:144].reshape(12, 12), patch, rtol=1e-6)
    np.testing.assert_allclose(obs[144:], 2 * 30 / 59 - 1, rtol=1e-6)
    offsets = {env.reset(seed=s)[1]["offset"] for s in range(20)}
    assert len(offsets) > 10 and all(0 <= r <= 32 and 0 <= c <= 32 for r, c in offsets)
    with pytest.raises(ValueError, match="offset"):
        env.reset(options={"offset": (33, 0)})
    with pytest.raises(ValueError, match="canvas_size must be an integer from the image side 28 to 1024"):
        gym.make("nngym/DigitGlimpse-v0", canvas_size=20)


def test_max_shift_moves_the_digit_and_crops_it_at_the_edge():
    images, _ = load_mnist("test")
    env = gym.make("nngym/DigitGlimpse-v0", split="test", action_mode="location", max_shift=3)
    obs, info = env.reset(options={"index": 5, "shift": (-3, 2)})
    assert info["shift"] == (-3, 2)
    # the 8 x 8 patch around (14, 14) covers rows 10..17, columns 10..17 of the shifted digit, which shows image
    # rows 13..20 and columns 8..15 there
    np.testing.assert_allclose(obs[:64].reshape(8, 8), images[5, 13:21, 8:16] / np.float32(255), rtol=1e-6)
    # a shift of (-8, 10) pushes image rows 0..7 and columns 18..27 off the canvas: canvas (r, c) = image (r + 8,
    # c - 10); a glimpse at the top-right corner (0, 27) covers canvas rows 0..3 (image rows 8..11) and columns
    # 23..27 (image columns 13..17), the rest of the patch being off the canvas (zeros)
    far = gym.make("nngym/DigitGlimpse-v0", split="test", action_mode="location", max_shift=10).unwrapped
    far.reset(options={"index": 5, "shift": (-8, 10)})
    obs, *_ = far.step({"label": 0, "location": np.array([-1.0, 1.0], np.float32)})
    expected = np.zeros((8, 8), np.float32)
    expected[4:, :5] = images[5, 8:12, 13:18] / np.float32(255)
    assert expected.sum() > 1
    np.testing.assert_allclose(obs[:64].reshape(8, 8), expected, rtol=1e-6)
    p = far._pad
    np.testing.assert_allclose(far._canvas[p : p + 28, p : p + 28].sum(), images[5, 8:, :18].sum() / 255, rtol=1e-5)
    shifts = {env.reset(seed=s)[1]["shift"] for s in range(40)}
    assert len(shifts) > 15 and all(abs(r) <= 3 and abs(c) <= 3 for r, c in shifts)
    assert env.reset(seed=7)[1]["shift"] == env.reset(seed=7)[1]["shift"]
    with pytest.raises(ValueError, match=r"options\['shift'\] must be a \(rows, columns\) of two whole .* \[-3, 3\]"):
        env.reset(options={"shift": (4, 0)})
    with pytest.raises(ValueError, match="max_shift must be an integer from 0 to 27 pixels, got -1"):
        gym.make("nngym/DigitGlimpse-v0", max_shift=-1)
    unshifted = gym.make("nngym/DigitGlimpse-v0", split="test")
    assert "shift" not in unshifted.reset(seed=0)[1]
    with pytest.raises(ValueError, match="options\\['shift'\\] needs max_shift > 0"):
        unshifted.reset(options={"shift": (1, 1)})


def test_reveal_label_end_shows_the_label_only_on_the_last_step():
    _, labels = load_mnist("train")
    env = gym.make("nngym/DigitGlimpse-v0", action_mode="location", reveal_label="end", max_glimpses=3)
    _, info = env.reset(options={"index": 9})
    assert "label" not in info
    for _ in range(2):
        *_, info = env.step({"label": 0, "location": np.zeros(2)})
        assert "label" not in info
    *_, terminated, _, info = env.step({"label": 0, "location": np.zeros(2)})
    assert terminated and info["label"] == labels[9]
    moves = gym.make("nngym/DigitGlimpse-v0", reveal_label="end")
    assert "label" not in moves.reset(seed=0)[1] and "label" not in moves.step(10)[4]
    assert moves.step(3)[4]["label"] in range(10)


def test_render_draws_one_box_per_scale():
    env = gym.make("nngym/DigitGlimpse-v0", render_mode="rgb_array", glimpse_size=4, n_scales=2)
    env.reset(seed=0)
    rgb = env.render()
    for color, (lo, hi) in [((220, 30, 30), (96, 127)), ((30, 140, 220), (80, 143))]:  # pixels 12..15 and 10..17
        rows, cols = np.nonzero(np.all(rgb == color, axis=2))
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (lo, hi, lo, hi)
