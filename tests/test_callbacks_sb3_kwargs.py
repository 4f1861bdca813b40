"""nngym's callbacks take SB3's keyword arguments (``EvalCallback``'s ``render`` and ``warn``,
``CheckpointCallback``'s ``save_vecnormalize``), and SB3's own callback objects given to ``learn`` are refused with a
message naming the callback of ``agents.common.callbacks`` to import instead."""

from __future__ import annotations

import inspect
import re

import gymnasium as gym
import numpy as np
import pytest

from agents import PPO
from agents.common import callbacks as nngym_callbacks
from agents.common.callbacks import CheckpointCallback, EvalCallback, EveryNTimesteps

SMALL = {"n_envs": 2, "n_steps": 4, "batch_size": 8, "n_epochs": 1}


def test_every_keyword_of_sb3s_callbacks_is_taken_by_nngyms_namesake():
    sb3_callbacks = pytest.importorskip("stable_baselines3.common.callbacks")
    missing = {}
    for name, sb3_cls in vars(sb3_callbacks).items():
        ours = getattr(nngym_callbacks, name, None)
        if not (isinstance(sb3_cls, type) and issubclass(sb3_cls, sb3_callbacks.BaseCallback) and ours is not None):
            continue
        theirs = set(inspect.signature(sb3_cls.__init__).parameters) - {"self"}
        lacking = theirs - set(inspect.signature(ours.__init__).parameters)
        if lacking:
            missing[name] = sorted(lacking)
    assert missing == {}


def test_checkpoint_callback_takes_sb3s_arguments_in_sb3s_order(tmp_path):
    sb3_callbacks = pytest.importorskip("stable_baselines3.common.callbacks")
    theirs = list(inspect.signature(sb3_callbacks.CheckpointCallback.__init__).parameters)
    assert list(inspect.signature(CheckpointCallback.__init__).parameters) == theirs
    ckpt = CheckpointCallback(10, tmp_path, "ppo", False, True, 2)  # SB3's positional arguments
    assert (ckpt.save_replay_buffer, ckpt.save_vecnormalize, ckpt.verbose) == (False, True, 2)


def test_eval_callback_takes_render_false_and_warn_and_evaluates_as_without_them(tmp_path):
    runs = {}
    for kwargs in ({}, {"render": False, "warn": True}, {"render": False, "warn": False}):
        ev = EvalCallback("CartPole-v1", eval_freq=2, n_eval_episodes=2, seed=3, **kwargs)
        PPO("CartPole-v1", seed=0, **SMALL).learn(16, callback=ev)
        runs[tuple(kwargs.items())] = (ev.timesteps, ev.results, ev.render, ev.warn)
    plain = runs[()]
    assert plain[0] == [4, 8, 12, 16] and plain[2:] == (False, True)
    assert runs[(("render", False), ("warn", True))] == plain
    assert runs[(("render", False), ("warn", False))] == (*plain[:2], False, False)


def test_eval_callback_render_true_makes_the_env_id_render_to_the_screen():
    ev = EvalCallback("CartPole-v1", render=True)
    assert ev.render is True and ev.eval_env.render_mode == "human"
    assert EvalCallback("CartPole-v1", render=False).eval_env.render_mode is None


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_eval_callback_render_true_refuses_an_env_that_does_not_render_to_the_screen(render_mode):
    env = gym.make("CartPole-v1", render_mode=render_mode)
    message = (
        "EvalCallback: render=True shows the evaluation episodes, which an env does by itself when made with "
        "render_mode='human' (gymnasium renders it at every step; nngym's evaluation calls no render), got an env "
        f"with render_mode={render_mode!r}; pass the env id, or gymnasium.make(..., render_mode='human')"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        EvalCallback(env, render=True)


@pytest.mark.parametrize(("name", "value"), [("render", "yes"), ("warn", None), ("render", 1)])
def test_eval_callback_render_and_warn_must_be_bools(name, value):
    with pytest.raises(ValueError, match=re.escape(f"EvalCallback: {name} must be a bool, got {type(value).__name__}")):
        EvalCallback("CartPole-v1", **{name: value})


def test_checkpoint_callback_save_vecnormalize_keeps_the_statistics_in_the_model_file(tmp_path):
    agent = PPO("CartPole-v1", seed=0, normalize_obs=True, **SMALL)
    ckpt = CheckpointCallback(save_freq=8, save_path=tmp_path, name_prefix="ppo", save_vecnormalize=True)
    agent.learn(16, callback=ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ppo_16_steps.npz"]  # no separate statistics file
    loaded = PPO.load(tmp_path / "ppo_16_steps.npz")
    assert loaded.obs_rms is not None and agent.obs_rms.rms.count > 16
    assert np.array_equal(loaded.obs_rms.mean, agent.obs_rms.mean)
    assert np.array_equal(loaded.obs_rms.var, agent.obs_rms.var)


# --- SB3's own callbacks given to learn ------------------------------------------------------------------------------
def _sb3_cases() -> list:
    """(where the message says it came, what is passed, the case, what the message says to do) for SB3's callbacks."""
    sb3 = pytest.importorskip("stable_baselines3.common.callbacks")

    class Custom(sb3.BaseCallback):
        def _on_step(self) -> bool:
            return True

    env = gym.make("CartPole-v1")
    return [
        (
            "PPO.learn: callback",
            sb3.EvalCallback(env),
            "the instance",
            "import EvalCallback from agents.common.callbacks",
        ),
        ("PPO.learn: callback", sb3.EvalCallback, "the class", "import EvalCallback from agents.common.callbacks"),
        (
            "PPO.learn: callback[1]",
            [EveryNTimesteps(4, nngym_callbacks.BaseCallback()), sb3.StopTrainingOnMaxEpisodes(2)],
            "in a list",
            "import StopTrainingOnMaxEpisodes from agents.common.callbacks",
        ),
        (
            "PPO.learn: callback",
            Custom(),
            "a subclass",
            "Custom subclasses Stable-Baselines3's stable_baselines3.common.callbacks.BaseCallback, which nngym's "
            "agents cannot call: subclass agents.common.callbacks.BaseCallback instead",
        ),
    ]


def test_sb3s_own_callbacks_given_to_learn_name_the_nngym_callback_to_import():
    for where, callback, case, hint in _sb3_cases():
        agent = PPO("CartPole-v1", seed=0, **SMALL)
        with pytest.raises(TypeError) as err:
            agent.learn(8, callback=callback)
        message = str(err.value)
        assert message.startswith(where) and hint in message, case
        assert agent.num_timesteps == 0, case  # refused before the env was touched


def test_sb3s_own_callbacks_given_to_nngyms_callbacks_name_the_nngym_callback_to_import():
    sb3 = pytest.importorskip("stable_baselines3.common.callbacks")
    stop = sb3.StopTrainingOnRewardThreshold(100)
    expected = (
        "stable_baselines3.common.callbacks.StopTrainingOnRewardThreshold is Stable-Baselines3's own callback, which "
        "nngym's agents cannot call; import StopTrainingOnRewardThreshold from agents.common.callbacks (nngym's "
        "versions of SB3's callbacks, taking SB3's keyword arguments)"
    )
    with pytest.raises(TypeError, match=re.escape(expected)) as err:
        EvalCallback("CartPole-v1", callback_on_new_best=stop)
    assert str(err.value).startswith("EvalCallback: callback_on_new_best must be a BaseCallback or None, got ")
    with pytest.raises(TypeError, match=re.escape(expected)) as err:
        EvalCallback("CartPole-v1", callback_after_eval=stop)
    assert str(err.value).startswith("EvalCallback: callback must be a BaseCallback or None, got ")
    with pytest.raises(TypeError, match=re.escape("nngym has no version of it: write it as a subclass of")):
        PPO("CartPole-v1", seed=0, **SMALL).learn(8, callback=_Sb3Only())


class _Sb3Only:
    """Stands for a callback of SB3's that nngym has no version of (all SB3 2.9's callbacks have one)."""


_Sb3Only.__module__ = "stable_baselines3.common.callbacks"
