"""``evaluate``'s arguments against SB3's ``evaluate_policy``'s: the first four are the same (agent, env, the number
of episodes, deterministic), the rest keyword-only, as SB3's fifth is ``render`` where nngym's was ``seed``; a bool
seed and SB3's ``VecEnv`` are refused saying what to pass.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents import evaluate, evaluate_episodes, run_episodes


class Constant:
    """Always pushes right: CartPole episodes of a few steps, the same ones for the same seed."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return 1, state


def fake_sb3_vec_env():
    """An object of a class of SB3's VecEnv module (what the refusal recognises), without importing SB3."""
    cls = type("DummyVecEnv", (), {"__module__": "stable_baselines3.common.vec_env.dummy_vec_env", "num_envs": 1})
    cls.step_async = lambda self, actions: None
    cls.reset = lambda self: np.zeros((1, 4))
    cls.step = lambda self, actions: None
    return cls()


def test_sb3s_positional_render_is_not_taken_as_the_seed_and_an_int_seed_still_is():
    with pytest.raises(ValueError, match=r"SB3's evaluate_policy takes render in that place"):
        evaluate(Constant(), "CartPole-v1", 2, True, False)
    assert evaluate(Constant(), "CartPole-v1", 2, True, 3) == evaluate(Constant(), "CartPole-v1", 2, True, seed=3)


@pytest.mark.parametrize("seed", [False, True])
def test_a_bool_seed_is_refused_naming_sb3s_render(seed):
    with pytest.raises(
        ValueError,
        match=rf"seed must be an int or None, got {seed} \(SB3's evaluate_policy takes "
        r"render in that place",
    ):
        evaluate(Constant(), "CartPole-v1", 2, seed=seed)
    with pytest.raises(ValueError, match=r"seed must be an int or None"):
        run_episodes(Constant(), "CartPole-v1", 2, True, seed)  # run_episodes keeps its positional seed


def test_keyword_arguments_give_the_same_numbers_as_before():
    stats = run_episodes(Constant(), "CartPole-v1", 3, True, 7)
    expected = (float(np.mean(stats.returns)), float(np.std(stats.returns)))
    assert evaluate(Constant(), "CartPole-v1", 3, True, seed=7) == expected
    assert evaluate(Constant(), "CartPole-v1", n_eval_episodes=3, seed=np.int64(7)) == expected
    assert evaluate_episodes(Constant(), "CartPole-v1", 3, True, 7) == stats.returns
    assert len(run_episodes(Constant(), "CartPole-v1", 2, seed=None).returns) == 2
    with pytest.raises(ValueError, match=r"seed must be an int or None, got 1.5$"):
        evaluate(Constant(), "CartPole-v1", 2, seed=1.5)


def test_an_sb3_vec_env_is_refused_saying_what_to_pass():
    with pytest.raises(
        ValueError,
        match=r"evaluation runs episodes on a single env, an env id or a gymnasium.Env, got "
        r".*DummyVecEnv'>; SB3's VecEnv is not taken .* pass the env id or one gymnasium.Env",
    ):
        evaluate(Constant(), fake_sb3_vec_env(), 2)


def test_something_that_is_no_env_is_refused_and_a_duck_typed_env_is_taken():
    with pytest.raises(
        ValueError,
        match=r"evaluation runs episodes on a single env, an env id or a gymnasium.Env, got "
        r"<class 'int'>$",
    ):
        evaluate(Constant(), 3, 2)

    class Duck:  # reset and step, no gymnasium.Env
        def __init__(self):
            self.env = gym.make("CartPole-v1")

        def reset(self, seed=None):
            return self.env.reset(seed=seed)

        def step(self, action):
            return self.env.step(action)

    assert evaluate(Constant(), Duck(), 2, seed=3) == evaluate(Constant(), "CartPole-v1", 2, seed=3)


def test_evaluate_plays_sb3s_ten_episodes_by_default_and_takes_its_warn_flag():
    from agents import PPO
    from agents.common.evaluation import evaluate, evaluate_episodes

    agent = PPO("CartPole-v1", seed=0)
    ten = evaluate_episodes(agent, "CartPole-v1", 10, deterministic=True, seed=0)
    assert evaluate(agent, "CartPole-v1") == evaluate(agent, "CartPole-v1", 10, warn=False)
    assert evaluate(agent, "CartPole-v1")[0] == pytest.approx(float(np.mean(ten)))
    with pytest.raises(ValueError, match="warn must be True or False, got 'no'"):
        evaluate(agent, "CartPole-v1", warn="no")


def test_evaluate_refuses_an_env_class_by_name():
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    from agents import PPO
    from agents.common.evaluation import evaluate

    with pytest.raises(ValueError, match=r"an env id or a gymnasium.Env, got <class 'type'>"):
        evaluate(PPO("CartPole-v1"), CartPoleEnv)
