"""An SB3 ``Monitor`` inside the env's wrappers: the agent counts episodes as the Monitor does, as SB3 does."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TransformReward

from agents import PPO

monitor = pytest.importorskip("stable_baselines3.common.monitor")


def _scaled(inner_monitor: bool) -> gym.Env:
    """CartPole (reward 1 a step) with its rewards scaled by 0.01 outside an SB3 Monitor, or without one."""
    env = gym.make("CartPole-v1")
    return TransformReward(monitor.Monitor(env) if inner_monitor else env, lambda r: 0.01 * r)


def test_returns_are_the_monitors_with_a_reward_wrapper_outside_it(tmp_path):
    agent = PPO(_scaled(True), seed=0, n_steps=256, batch_size=64, n_epochs=1, log_dir=tmp_path).learn(256)
    episodes = list(agent.ep_info_buffer)
    assert len(episodes) >= 5
    assert all(e["r"] == e["l"] for e in episodes)  # CartPole's own return: 1 a step, not 0.01
    with open(tmp_path / "monitor.csv") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert [float(row["r"]) for row in rows] == [float(e["r"]) for e in episodes]
    plain = PPO(_scaled(False), seed=0, n_steps=256, batch_size=64, n_epochs=1).learn(256)
    assert all(np.isclose(e["r"], 0.01 * e["l"]) for e in plain.ep_info_buffer)  # the rewards the agent gets


def test_only_the_envs_with_a_monitor_are_counted_by_it():
    same_step = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    vec = gym.vector.SyncVectorEnv([lambda: _scaled(True), lambda: _scaled(False)], **same_step)
    agent = PPO(vec, seed=1, n_steps=128, batch_size=64, n_epochs=1)
    seen: dict[int, list[tuple[float, int]]] = {0: [], 1: []}
    track = agent._track_episodes

    def spy(rewards, dones, infos=None):  # which env each new ep_info_buffer entry came from
        before = len(agent.ep_info_buffer)
        track(rewards, dones, infos)
        new = list(agent.ep_info_buffer)[before:] if len(agent.ep_info_buffer) > before else []
        for i, e in zip(np.flatnonzero(dones), new, strict=True):
            seen[int(i)].append((e["r"], e["l"]))

    agent._track_episodes = spy
    agent.learn(256)
    assert seen[0] and seen[1]
    assert all(r == n for r, n in seen[0])
    assert all(np.isclose(r, 0.01 * n) for r, n in seen[1])


def test_evaluation_reads_the_monitor_as_sb3s_evaluate_policy_does():
    from stable_baselines3.common.evaluation import evaluate_policy

    from agents import evaluate, run_episodes

    agent = PPO("CartPole-v1", seed=0, n_steps=64, batch_size=64, n_epochs=1)
    stats = run_episodes(agent, _scaled(True), 3, seed=5)
    assert stats.returns == [float(n) for n in stats.lengths]  # the Monitor's: 1 a step
    plain = run_episodes(agent, _scaled(False), 3, seed=5)
    assert plain.lengths == stats.lengths and np.allclose(plain.returns, [0.01 * n for n in plain.lengths])
    rewards, lengths = evaluate_policy(agent, _scaled(True), n_eval_episodes=3, return_episode_rewards=True)
    assert rewards == [float(n) for n in lengths]  # SB3 counts them the same way
    assert evaluate(agent, _scaled(True), 3, seed=5)[0] == pytest.approx(np.mean(stats.lengths))


class _Lives(gym.Env):
    """A game of 3 lives of 5 steps each, reward 1 a step, with Atari's ``ale.lives()`` for ``EpisodicLifeEnv``."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.ale = self

    def lives(self) -> int:
        return self._lives

    def get_action_meanings(self) -> list[str]:
        return ["NOOP", "FIRE"]

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self._lives, self._t = 3, 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self._t += 1
        self._lives -= self._t % 5 == 0
        return np.zeros(2, np.float32), 1.0, self._lives == 0, False, {}


def test_a_lost_life_outside_the_monitor_is_no_episode_as_in_sb3():
    from stable_baselines3.common.atari_wrappers import EpisodicLifeEnv
    from stable_baselines3.common.evaluation import evaluate_policy

    from agents import run_episodes

    agent = PPO(EpisodicLifeEnv(monitor.Monitor(_Lives())), seed=0, n_steps=30, batch_size=30, n_epochs=1).learn(30)
    assert [(e["r"], e["l"]) for e in agent.ep_info_buffer] == [(15.0, 15), (15.0, 15)]  # whole games, not lives
    stats = run_episodes(agent, EpisodicLifeEnv(monitor.Monitor(_Lives())), 3)
    assert (stats.returns, stats.lengths) == ([15.0] * 3, [15] * 3)
    theirs = evaluate_policy(agent, EpisodicLifeEnv(monitor.Monitor(_Lives())), 3, return_episode_rewards=True)
    assert theirs == ([15.0] * 3, [15] * 3)
