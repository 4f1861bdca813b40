"""Tests for the nngym/* Gymnasium environments."""

from __future__ import annotations

import contextlib
import io
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import digit_classify
from envs.tmaze import random_policy_return
from nngym.datasets import load_mnist

IMAGE_ENVS = {"nngym/DigitClassify-v0": {"scale": 2}, "nngym/Catch-v0": {"scale": 8}}
#: constructor arguments that make episodes short, so a 60-step rollout spans several of them
SHORT = {"nngym/TMaze-v0": {"corridor_length": 1}}


def rollout(env: gym.Env, seed: int, actions: np.ndarray) -> list:
    """Obs, rewards and flags of one seeded run through `actions`, resetting (unseeded) after each episode end."""
    obs, _ = env.reset(seed=seed)
    trace = [obs.copy()]
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(int(a))
        trace += [obs.copy(), reward, terminated, truncated]
        if terminated or truncated:
            obs, _ = env.reset()
            trace.append(obs.copy())
    return trace


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def random_returns(env_id: str, episodes: int, seed: int = 0, **kwargs) -> np.ndarray:
    """Undiscounted returns of the uniform random policy (actions from a seeded Generator)."""
    env = gym.make(env_id, **kwargs)
    rng = np.random.default_rng(seed)
    n = env.action_space.n
    env.reset(seed=seed)
    returns = np.zeros(episodes)
    for e in range(episodes):
        env.reset()
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(n)))
            returns[e] += reward
            done = terminated or truncated
    return returns


# --- registration ---


def test_import_registers_every_id_and_pprint_lists_them():
    for env_id in envs.ENV_IDS:
        assert env_id in gym.registry
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gym.pprint_registry()
    assert all(env_id in out.getvalue() for env_id in envs.ENV_IDS)


def test_module_prefixed_id_makes_the_env():
    env = gym.make("envs:nngym/DigitClassify-v0")
    assert isinstance(env.unwrapped, digit_classify.DigitClassifyEnv)


# --- checkers ---


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_gymnasium_check_env(env_id):
    check_env(gym.make(env_id, render_mode="rgb_array").unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_sb3_check_env(env_id):
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_env_checker.check_env(gym.make(env_id), warn=True)
    messages = [str(w.message) for w in caught]
    if env_id in IMAGE_ENVS:  # only the default CnnPolicy's minimum size, addressed by `scale`
        assert len(messages) == 1 and "36x36" in messages[0], messages
    else:
        assert messages == []


@pytest.mark.parametrize("env_id", sorted(IMAGE_ENVS))
def test_image_obs_are_sb3_channel_first_images_and_scale_fits_cnn_policy(env_id):
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_preprocessing = pytest.importorskip("stable_baselines3.common.preprocessing")
    env = gym.make(env_id)
    space = env.observation_space
    assert space.dtype == np.uint8 and space.shape[0] == 1
    assert sb3_preprocessing.is_image_space(space, check_channels=True)
    assert sb3_preprocessing.is_image_space_channels_first(space)
    big = gym.make(env_id, **IMAGE_ENVS[env_id])
    assert min(big.observation_space.shape[1:]) >= 36
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_env_checker.check_env(big, warn=True)
    assert [str(w.message) for w in caught] == []
    # the scaled observation is the small one upsampled by whole cells
    obs_small, _ = env.reset(seed=3)
    obs_big, _ = big.reset(seed=3)
    s = big.unwrapped.scale
    np.testing.assert_array_equal(obs_big, obs_small.repeat(s, axis=1).repeat(s, axis=2))


@pytest.mark.parametrize("env_id", sorted(IMAGE_ENVS))
def test_sb3_cnn_policy_trains_on_the_scaled_images(env_id):
    pytest.importorskip("torch")
    from stable_baselines3 import PPO
    from stable_baselines3.common.torch_layers import NatureCNN

    model = PPO("CnnPolicy", gym.make(env_id, **IMAGE_ENVS[env_id]), n_steps=16, batch_size=16, n_epochs=1, seed=0)
    model.learn(16)
    assert isinstance(model.policy.features_extractor, NatureCNN)
    obs, _ = gym.make(env_id, **IMAGE_ENVS[env_id]).reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert model.action_space.contains(int(action))


# --- determinism ---


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_same_seed_same_trajectory_different_seed_differs(env_id):
    kwargs = SHORT.get(env_id, {})
    actions = np.random.default_rng(7).integers(gym.make(env_id).action_space.n, size=60)
    a = rollout(gym.make(env_id, **kwargs), 123, actions)
    b = rollout(gym.make(env_id, **kwargs), 123, actions)
    c = rollout(gym.make(env_id, **kwargs), 124, actions)
    assert same(a, b)
    assert not same(a, c)


# --- vector envs ---


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_sync_vector_matches_single_envs(env_id):
    n_envs, seed = 3, 5
    vec = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="sync")
    actions = np.random.default_rng(0).integers(vec.single_action_space.n, size=(25, n_envs))
    obs, _ = vec.reset(seed=seed)
    assert obs.shape == (n_envs, *vec.single_observation_space.shape)
    assert obs.dtype == vec.single_observation_space.dtype
    singles = [gym.make(env_id) for _ in range(n_envs)]
    for i, env in enumerate(singles):  # make_vec seeds copy i with seed + i
        np.testing.assert_array_equal(env.reset(seed=seed + i)[0], obs[i])
    ended = [False] * n_envs
    for a in actions:
        obs, reward, terminated, truncated, _ = vec.step(a)
        for i, env in enumerate(singles):
            if ended[i]:  # Gymnasium's default next-step autoreset: this step resets, reward 0
                o, r, term, trunc = *env.reset()[:1], 0.0, False, False
            else:
                o, r, term, trunc, _ = env.step(int(a[i]))
            np.testing.assert_array_equal(o, obs[i])
            assert (r, term, trunc) == (reward[i], terminated[i], truncated[i])
            ended[i] = term or trunc
    vec.close()


@pytest.mark.parametrize("env_id", ["nngym/DigitClassify-v0", "nngym/Catch-v0"])
def test_async_vector_matches_sync(env_id):
    actions = np.random.default_rng(1).integers(gym.make(env_id).action_space.n, size=(15, 2))
    traces = []
    for mode in ("sync", "async"):
        vec = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode)
        obs, _ = vec.reset(seed=11)
        trace = [obs]
        for a in actions:
            obs, reward, terminated, truncated, _ = vec.step(a)
            trace += [obs, reward, terminated, truncated]
        vec.close()
        traces.append(trace)
    assert same(*traces)


# --- bad arguments and actions ---


@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [
        ("nngym/DigitClassify-v0", {"split": "validation"}, "split must be one of"),
        ("nngym/DigitClassify-v0", {"images_per_episode": 0}, "images_per_episode must be an integer >= 1"),
        ("nngym/DigitClassify-v0", {"wrong_reward": 1.0}, "wrong_reward must be a finite number below"),
        ("nngym/DigitClassify-v0", {"scale": 0}, "scale must be an integer from 1 to 8"),
        ("nngym/DigitClassify-v0", {"render_mode": "ansi"}, "render_mode must be None or one of"),
        ("nngym/DigitGlimpse-v0", {"glimpse_size": 29}, "glimpse_size must be an integer from 1 to the image side 28"),
        ("nngym/DigitGlimpse-v0", {"move_step": 0}, "move_step must be an integer from 1 to 27"),
        ("nngym/DigitGlimpse-v0", {"max_glimpses": 0}, "max_glimpses must be an integer >= 1"),
        ("nngym/DigitGlimpse-v0", {"split": "val"}, "split must be one of"),
        ("nngym/TMaze-v0", {"corridor_length": -3}, "corridor_length must be an integer >= 1"),
        ("nngym/TMaze-v0", {"corridor_length": 2.5}, "corridor_length must be an integer >= 1"),
        ("nngym/Catch-v0", {"rows": 1}, "rows must be an integer from 2 to 64"),
        ("nngym/Catch-v0", {"columns": 20}, r"columns must be an integer from 1 to 2 \* \(rows - 1\) \+ 1 = 19"),
        ("nngym/Catch-v0", {"scale": 17}, "scale must be an integer from 1 to 16"),
        ("nngym/CartPoleNoVel-v1", {"render_mode": "ansi"}, "render_mode must be None or one of"),
        ("nngym/CartPoleNoVel-v1", {"sutton_barto_reward": "yes"}, "sutton_barto_reward must be a bool .*'yes'"),
        ("nngym/CartPoleNoVel-v1", {"sutton_barto_reward": 1}, "sutton_barto_reward must be a bool .*got 1"),
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # gym.make's own note on the unsupported render_mode
def test_bad_constructor_arguments_raise_value_error(env_id, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_invalid_actions_are_rejected_not_mapped(env_id):
    env = gym.make(env_id, disable_env_checker=True)
    env.reset(seed=0)
    n = env.action_space.n
    for action in (n, -1, np.int64(n), np.int64(-1), 1.5, "0", np.array([0]), None):
        with pytest.raises(ValueError, match=re.escape(f"action {action!r} is not in the action space Discrete({n})")):
            env.step(action)
    for action in (np.int64(0), np.int32(0), np.array(0)):  # numpy integers and 0-d arrays are valid
        env.step(action)
        env.reset()


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_every_env_refuses_a_step_before_reset_alike(env_id):
    """The env itself (without gym.make's order check) raises the same RuntimeError."""
    env = gym.make(env_id, disable_env_checker=True).unwrapped
    with pytest.raises(RuntimeError, match=re.escape("call reset() before step()")):
        env.step(0)


# --- random-policy and optimal returns (the docstrings' tables) ---


@pytest.mark.parametrize(
    ("env_id", "kwargs", "episodes", "expected", "tol"),
    [
        # DigitClassify: 0.1 * 1 + 0.9 * wrong_reward; sd 0.3 (0/1) and 0.6 (+-1), 4 standard errors
        ("nngym/DigitClassify-v0", {}, 20_000, 0.1, 4 * 0.3 / np.sqrt(20_000)),
        ("nngym/DigitClassify-v0", {"wrong_reward": -1.0, "split": "test"}, 20_000, -0.8, 4 * 0.6 / np.sqrt(20_000)),
        # DigitGlimpse: 0.1 (1 - q) + (0.9 (1 - q) + q) w with q = (4/14)^G
        ("nngym/DigitGlimpse-v0", {}, 10_000, 0.1 * (1 - (4 / 14) ** 6), 4 * 0.3 / np.sqrt(10_000)),
        (
            "nngym/DigitGlimpse-v0",
            {"max_glimpses": 1, "wrong_reward": -1.0},
            10_000,
            0.1 * 10 / 14 - (0.9 * 10 / 14 + 4 / 14),
            4 * 0.6 / np.sqrt(10_000),
        ),
        # TMaze: exact expectation by the walk's distribution; sd ~2.1 (length 10) and ~2.7 (length 3)
        ("nngym/TMaze-v0", {}, 600, random_policy_return(10, 100), 4 * 2.1 / np.sqrt(600)),
        ("nngym/TMaze-v0", {"corridor_length": 3}, 600, random_policy_return(3, 100), 4 * 2.7 / np.sqrt(600)),
        # Catch: 2 / columns - 1; sd 0.8
        ("nngym/Catch-v0", {}, 3000, -0.6, 4 * 0.8 / np.sqrt(3000)),
        ("nngym/Catch-v0", {"columns": 3}, 3000, 2 / 3 - 1, 4 * 0.95 / np.sqrt(3000)),
        # CartPoleNoVel: empirical 22.18, sd 11.9 (10,000 episodes); same dynamics as CartPole-v1
        ("nngym/CartPoleNoVel-v1", {}, 400, 22.18, 4 * 11.9 / np.sqrt(400)),
    ],
)
def test_random_policy_return_matches_docstring(env_id, kwargs, episodes, expected, tol):
    mean = random_returns(env_id, episodes, **kwargs).mean()
    assert abs(mean - expected) < tol, (mean, expected, tol)


def test_tmaze_random_return_by_hand():
    # L = 1, one step: 3 of 4 actions bump (-0.1) at the start
    assert random_policy_return(1, 1) == pytest.approx(-0.075)
    # two steps: 3/4 still at the start (-0.075 again), 1/4 at the junction ((4 - 0.1 - 0.1) / 4)
    assert random_policy_return(1, 2) == pytest.approx(-0.075 + 0.75 * -0.075 + 0.25 * 0.95)
    # with an endless horizon the walk surely reaches the junction: return is finite and stable
    assert random_policy_return(2, 2000) == pytest.approx(random_policy_return(2, 2500), abs=1e-9)


def test_oracles_reach_the_optimal_returns():
    # DigitClassify and DigitGlimpse: answer with the true label from info
    for env_id in ("nngym/DigitClassify-v0", "nngym/DigitGlimpse-v0"):
        env = gym.make(env_id, wrong_reward=-1.0)
        for seed in range(50):
            _, info = env.reset(seed=seed)
            _, reward, terminated, _, step_info = env.step(info["label"])
            assert reward == 1.0 and terminated and step_info["correct"]
    # Catch: move toward the ball's column
    env = gym.make("nngym/Catch-v0")
    for seed in range(30):
        _, info = env.reset(seed=seed)
        done, ret = False, 0.0
        while not done:
            action = 1 + int(np.sign(info["ball"][1] - info["paddle"]))
            _, reward, done, _, info = env.step(action)
            ret += reward
        assert ret == 1.0
    # TMaze: remember the cue, walk east, turn toward it
    env = gym.make("nngym/TMaze-v0", corridor_length=7)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        goal_north = obs.tolist() == [0.0, 1.0, 1.0]
        ret, steps = 0.0, 0
        for _ in range(7):
            obs, reward, *_ = env.step(1)
            ret, steps = ret + reward, steps + 1
        assert obs.tolist() == [0.0, 1.0, 0.0]  # the junction
        _, reward, terminated, _, _ = env.step(0 if goal_north else 2)
        assert terminated and ret + reward == 4.0 and steps + 1 == 8


# --- environment specifics ---


def test_digit_classify_obs_labels_and_index_sweep():
    images, labels = load_mnist("test")
    env = gym.make("nngym/DigitClassify-v0", split="test", images_per_episode=3)
    obs, info = env.reset(options={"index": 9_999})
    np.testing.assert_array_equal(obs[0], images[9_999])
    assert info == {"label": int(labels[9_999]), "index": 9_999}
    obs, reward, terminated, _, info = env.step(int(labels[9_999]))
    assert reward == 1.0 and not terminated and info["index"] == 0  # wraps around the split
    np.testing.assert_array_equal(obs[0], images[0])
    env.step((int(labels[0]) + 1) % 10)
    obs, reward, terminated, _, info = env.step(int(labels[1]))
    assert terminated and reward == 1.0 and info["answered_label"] == labels[1]
    np.testing.assert_array_equal(obs[0], images[1])  # the final observation repeats the last image
    obs[:] = 0  # the observation is the caller's copy, not the dataset
    assert images[1].any()


def test_mnist_loaded_once_per_process(monkeypatch):
    calls = []

    def counting_load(split):
        calls.append(split)
        return load_mnist(split)

    monkeypatch.setattr(digit_classify, "load_mnist", counting_load)
    a = gym.make("nngym/DigitClassify-v0")
    b = gym.make("nngym/DigitClassify-v0")
    for seed in range(5):
        a.reset(seed=seed)
    assert calls == ["train", "train"]  # once per env made, never per reset
    assert np.shares_memory(a.unwrapped._images, b.unwrapped._images)  # and the same arrays


def test_digit_glimpse_patch_location_and_budget():
    images, labels = load_mnist("train")
    env = gym.make("nngym/DigitGlimpse-v0", glimpse_size=6, move_step=8, max_glimpses=3)
    obs, info = env.reset(options={"index": 42})
    patch = images[42, 11:17, 11:17] / np.float32(255)  # centre (14, 14), rows 14 - 3 .. 14 + 2
    np.testing.assert_allclose(obs[:36], patch.ravel(), rtol=1e-6)
    np.testing.assert_allclose(obs[36:], 2 * 14 / 27 - 1)
    obs, reward, terminated, _, info = env.step(10)  # up 8
    assert (reward, terminated, info["location"], info["glimpses"]) == (0.0, False, (6, 14), 2)
    np.testing.assert_allclose(obs[:36], (images[42, 3:9, 11:17] / np.float32(255)).ravel(), rtol=1e-6)
    np.testing.assert_allclose(obs[36:], [2 * 6 / 27 - 1, 2 * 14 / 27 - 1], rtol=1e-6)
    obs, *_, info = env.step(10)  # up 8 more, clipped at row 0: the patch's top 3 rows are padding
    assert info["location"] == (0, 14)
    np.testing.assert_array_equal(obs[:18], 0.0)
    np.testing.assert_allclose(obs[18:36], (images[42, 0:3, 11:17] / np.float32(255)).ravel(), rtol=1e-6)
    np.testing.assert_allclose(obs[36], -1.0)
    _, reward, terminated, _, info = env.step(13)  # a fourth glimpse is over the budget
    assert terminated and reward == 0.0 and not info["correct"]


def test_tmaze_observations_and_walls():
    env = gym.make("nngym/TMaze-v0", corridor_length=2)
    obs, info = env.reset(seed=0)
    cue = obs.tolist()
    assert cue == ([0.0, 1.0, 1.0] if info["goal"] == "north" else [1.0, 1.0, 0.0])
    assert env.step(3)[1:3] == (-0.1, False)  # west wall at the start
    obs, reward, *_ = env.step(1)
    assert obs.tolist() == [1.0, 0.0, 1.0] and reward == 0.0  # corridor
    assert env.step(0)[1] == -0.1  # north wall in the corridor
    obs, *_ = env.step(1)
    assert obs.tolist() == [0.0, 1.0, 0.0]
    assert env.step(1)[1:3] == (-0.1, False)  # east wall at the junction
    wrong = 2 if info["goal"] == "north" else 0
    assert env.step(wrong)[1:3] == (-0.1, True)


def test_catch_dynamics_and_pixels():
    env = gym.make("nngym/Catch-v0")
    obs, info = env.reset(seed=4)
    assert obs.shape == (1, 10, 5) and set(np.unique(obs)) == {0, 255}
    assert obs[0, 0, info["ball"][1]] == 255 and obs[0, 9, 2] == 255 and obs.sum() == 2 * 255
    for _ in range(5):  # left into the wall stays at column 0
        obs, reward, terminated, _, info = env.step(0)
    assert info["paddle"] == 0 and info["ball"][0] == 5 and obs[0, 9, 0] == 255 and not terminated


def test_cartpole_novel_is_cartpole_without_velocities():
    ours, theirs = gym.make("nngym/CartPoleNoVel-v1"), gym.make("CartPole-v1")
    assert ours.spec.max_episode_steps == 500 and ours.observation_space.shape == (2,)
    o, _ = ours.reset(seed=9)
    t, _ = theirs.reset(seed=9)
    np.testing.assert_array_equal(o, t[[0, 2]])
    for a in [0, 1, 1, 0, 1, 1, 1]:
        o, r, term, *_ = ours.step(a)
        t, r2, term2, *_ = theirs.step(a)
        np.testing.assert_array_equal(o, t[[0, 2]])
        assert (r, term) == (r2, term2)


def test_renders_show_the_state():
    env = gym.make("nngym/DigitClassify-v0", render_mode="rgb_array")
    _, info = env.reset(options={"index": 0})
    rgb = env.render()
    image = load_mnist("train")[0][0]
    assert rgb.shape == (224, 224, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[::8, ::8, 0], 255 - image)  # ink drawn dark

    env = gym.make("nngym/DigitGlimpse-v0", render_mode="rgb_array", glimpse_size=8)
    env.reset(seed=0)
    rgb = env.render()
    red = np.all(rgb == (220, 30, 30), axis=2)
    rows, cols = np.nonzero(red)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (80, 143, 80, 143)  # pixels 10..17 times 8

    env = gym.make("nngym/Catch-v0", render_mode="rgb_array")
    _, info = env.reset(seed=2)
    rgb = env.render()
    ball_r, ball_c = info["ball"]
    assert tuple(rgb[ball_r * 32 + 16, ball_c * 32 + 16]) == (220, 40, 40)
    assert tuple(rgb[9 * 32 + 24, 2 * 32 + 16]) == (40, 80, 220)

    env = gym.make("nngym/TMaze-v0", render_mode="rgb_array", corridor_length=4)
    env.reset(seed=0)
    env.step(1)
    rgb = env.render()
    assert rgb.shape == (72, 120, 3) and tuple(rgb[36, 24 + 12]) == (220, 40, 40)

    env = gym.make("nngym/CartPoleNoVel-v1", render_mode="rgb_array")
    env.reset(seed=0)
    rgb = env.render()
    pole = np.all(rgb == (202, 152, 101), axis=2)
    assert rgb.shape == (400, 600, 3) and 1000 < pole.sum() < 2000  # about 150 x 10 pixels
    assert np.nonzero(pole)[0].max() < 300  # above the cart (row 300)


def test_reset_options_are_whole_numbers_in_range_named_when_not():
    classify = gym.make("nngym/DigitClassify-v0").unwrapped
    assert classify.reset(options={"index": np.int64(7)})[1]["index"] == 7
    assert classify.reset(options={"index": 7.0})[1]["index"] == 7  # an integral float is the int it holds
    for bad in (1.7, "abc", None, [1], -1, 60_000, True):
        with pytest.raises(
            ValueError, match=re.escape(f"options['index'] must be a whole number in [0, 59999], got {bad!r}")
        ):
            classify.reset(options={"index": bad})
    glimpse = gym.make("nngym/DigitGlimpse-v0", canvas_size=40, max_shift=3).unwrapped
    info = glimpse.reset(options={"index": 5, "offset": (0, 12), "shift": np.array([3, -3])})[1]
    assert (info["offset"], info["shift"]) == ((0, 12), (3, -3))
    for key, bad, message in (
        ("offset", (13, 0), "options['offset'] must be a (row, column) of two whole numbers in [0, 12], got (13, 0)"),
        ("offset", (1,), "options['offset'] must be a (row, column) of two whole numbers in [0, 12], got (1,)"),
        ("offset", 3, "options['offset'] must be a (row, column) of two whole numbers in [0, 12], got 3"),
        ("shift", (4, 0), "options['shift'] must be a (rows, columns) of two whole numbers in [-3, 3], got (4, 0)"),
        ("shift", (1.5, 0), "options['shift'] must be a (rows, columns) of two whole numbers in [-3, 3], got (1.5, 0)"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            glimpse.reset(options={key: bad})
    small = gym.make("nngym/DigitGlimpse-v0").unwrapped  # the digit fills the 28-pixel canvas: only (0, 0)
    assert small.reset(options={"offset": (0, 0)})[1]["label"] in range(10)
    with pytest.raises(ValueError, match=re.escape("in [0, 0], got (5, 5)")):  # was silently ignored
        small.reset(options={"offset": (5, 5)})
