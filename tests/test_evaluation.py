"""One evaluation for every agent: the state ``predict`` returns is carried through an episode, and reset at its start.

A hand-built T-maze policy that succeeds only with memory scores the same through ``EvalCallback``,
``evaluate`` and the Tune reporter's ``evaluate_episodes`` as through a loop written out here, and a
memoryless evaluation of the same policy fails.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers nngym/TMaze-v0
from agents import EvalCallback, evaluate, evaluate_episodes, run_episodes
from agents.common.logger import Logger
from envs.tmaze import EAST, NORTH, OBS_CORRIDOR, OBS_CUE_NORTH, OBS_CUE_SOUTH, OBS_JUNCTION, SOUTH


class CueMemoryPolicy:
    """Walks east and, at the junction, turns toward the cue it saw at the start, remembered in its state.

    The state is a (1,) array: +1 north, −1 south, 0 nothing remembered. Without the state it can only
    guess (always south here), which succeeds in half the mazes.
    """

    def __init__(self) -> None:
        self.num_timesteps = 0
        self.logger = Logger(None, verbose=0)
        self.episode_starts_seen = 0

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        if state is None or (episode_start is not None and np.asarray(episode_start).any()):
            state = np.zeros(1)
            self.episode_starts_seen += episode_start is not None and bool(np.asarray(episode_start).any())
        obs = np.asarray(obs).tolist()
        if obs == list(OBS_CUE_NORTH):
            state = np.ones(1)
        elif obs == list(OBS_CUE_SOUTH):
            state = -np.ones(1)
        if obs == list(OBS_JUNCTION):
            return (NORTH if state[0] > 0 else SOUTH), state
        assert obs in (list(OBS_CORRIDOR), list(OBS_CUE_NORTH), list(OBS_CUE_SOUTH))
        return EAST, state


def tmaze() -> gym.Env:
    return gym.make("nngym/TMaze-v0", corridor_length=4)


def memoryless_mean(policy: CueMemoryPolicy, n_episodes: int, seed: int) -> float:
    """What an evaluation that drops the returned state measures."""
    env, total = tmaze(), 0.0
    obs, _ = env.reset(seed=seed)
    for _ in range(n_episodes):
        done = False
        while not done:
            action, _ = policy.predict(obs, deterministic=True)  # the state is thrown away
            obs, r, terminated, truncated, _ = env.step(action)
            total += r
            done = terminated or truncated
        obs, _ = env.reset()
    return total / n_episodes


def test_memory_policy_scores_the_same_through_every_evaluation():
    policy, n, seed = CueMemoryPolicy(), 40, 7
    stats = run_episodes(policy, tmaze(), n, seed=seed)
    assert stats.returns == [4.0] * n and stats.lengths == [5] * n and stats.last_rewards == [4.0] * n
    assert policy.episode_starts_seen == n  # every episode began with episode_start true
    assert evaluate(policy, tmaze(), n, seed=seed) == (4.0, 0.0)
    assert evaluate_episodes(policy, tmaze(), n, seed=seed) == stats.returns
    callback = EvalCallback(tmaze(), eval_freq=1, n_eval_episodes=n, seed=seed)
    callback.init(policy)
    assert callback.on_step()
    assert callback.last_mean_reward == 4.0 and callback.results == [stats.returns]
    # the same policy evaluated without its state fails half the mazes: the check above can fail
    assert memoryless_mean(policy, n, seed) < 3.0


def test_state_does_not_leak_from_one_episode_into_the_next():
    """A policy whose state counts steps: each episode must start from a fresh state."""

    class Counter:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            if state is None or np.asarray(episode_start).any():
                state = 0
            return (EAST if state < 4 else NORTH), state + 1  # north at the junction, wherever the goal is

    lengths = run_episodes(Counter(), tmaze(), 10, seed=0).lengths
    assert lengths == [5] * 10


def test_bad_episode_count():
    with pytest.raises(ValueError, match="n_episodes must be an int >= 1"):
        run_episodes(CueMemoryPolicy(), tmaze(), 0)


class Walker:
    """Always action 0 (CliffWalking's "up": from the start it climbs to the top row and bumps into the wall there
    forever); raises once it has been asked for more actions than ``limit``, so an evaluation that never ends fails
    instead of hanging."""

    def __init__(self, limit: int) -> None:
        self.calls, self.limit = 0, limit

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        self.calls += 1
        if self.calls > self.limit:
            raise RuntimeError(f"evaluation still running after {self.limit} steps")
        return 0, state


def test_episodes_of_an_env_without_a_time_limit_are_cut_with_one_warning():
    """CliffWalking-v1 has no max_episode_steps: a policy that never reaches the goal would be evaluated forever."""
    from agents.common.evaluation import DEFAULT_MAX_EPISODE_STEPS

    assert gym.spec("CliffWalking-v1").max_episode_steps is None
    assert DEFAULT_MAX_EPISODE_STEPS == 10_000
    with pytest.warns(
        UserWarning, match=r"2 of 2 evaluation episodes on CliffWalking-v1 were cut after 10,000"
    ) as seen:
        stats = run_episodes(Walker(20_000), "CliffWalking-v1", 2)
    assert len(seen) == 1  # one warning for the evaluation, not one per episode
    assert stats.lengths == [10_000, 10_000] and stats.returns == [-10_000.0, -10_000.0] and stats.cut == 2
    with pytest.warns(UserWarning, match="3 of 3 evaluation episodes"):
        assert evaluate(Walker(90), "CliffWalking-v1", 3, max_episode_steps=30) == (-30.0, 0.0)
    with pytest.raises(ValueError, match="max_episode_steps must be an int >= 1 or None, got 0"):
        run_episodes(Walker(10), "CliffWalking-v1", 1, max_episode_steps=0)


def test_an_env_with_a_time_limit_keeps_it_and_is_not_reported_as_cut(recwarn):
    stats = run_episodes(Walker(500), tmaze(), 2)  # always "north" in the corridor: the 100-step limit truncates
    assert stats.lengths == [100, 100] and stats.cut == 0
    assert not [w for w in recwarn if "were cut" in str(w.message)]
