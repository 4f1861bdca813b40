"""``EvalCallback`` writes a row of progress.csv at each evaluation, as SB3's does: ``eval/mean_reward``,
``eval/mean_ep_length``, ``eval/success_rate`` (when the eval env's infos have ``is_success``) and
``time/total_timesteps`` at the evaluation's step, between the agent's own rows; a population's members each write
theirs at their own steps."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from agents import A2C, PPO
from agents.common.callbacks import BaseCallback, EvalCallback

#: rollouts of 8 vector steps of 2 envs: the agent writes a row every 16 env steps
SMALL = {"n_envs": 2, "n_steps": 8, "batch_size": 16, "n_epochs": 1}
#: 2 episodes per evaluation: CartPole's mean returns are halves, which progress.csv's 4 digits hold exactly
N_EPISODES = 2


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _eval_rows(rows: list[dict[str, str]]) -> list[tuple[int, float, float]]:
    """(step, eval/mean_reward, eval/mean_ep_length) of the rows holding an evaluation."""
    return [
        (int(r["time/total_timesteps"]), float(r["eval/mean_reward"]), float(r["eval/mean_ep_length"]))
        for r in rows
        if r["eval/mean_reward"]
    ]


class LastMean(BaseCallback):
    """The ``callback_after_eval`` that notes, after each evaluation, its step and the parent's ``last_mean_reward``."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        self.seen.append((self.parent.num_timesteps, self.parent.last_mean_reward))
        return True


class SuccessOnEvenLength(gym.Wrapper):
    """Says ``is_success`` at each episode's end: whether the episode lasted an even number of steps."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.steps = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        if terminated or truncated:
            info = {**info, "is_success": self.steps % 2 == 0}
        return obs, reward, terminated, truncated, info


def test_each_evaluation_writes_its_row_of_progress_csv_at_its_step(tmp_path):
    after = LastMean()
    ev = EvalCallback("CartPole-v1", eval_freq=3, n_eval_episodes=N_EPISODES, callback_after_eval=after)
    PPO("CartPole-v1", seed=0, log_dir=tmp_path, **SMALL).learn(32, callback=ev)
    rows = _rows(tmp_path / "progress.csv")
    # evaluations every 3 calls (6 env steps), between the agent's rows at the end of each rollout (16, 32)
    assert [int(r["time/total_timesteps"]) for r in rows] == [6, 12, 16, 18, 24, 30, 32]
    assert after.seen == [(s, m) for s, m, _ in _eval_rows(rows)]  # each row: the last_mean_reward of then
    means = [float(np.mean(r)) for r in ev.results]
    assert [(s, m) for s, m, _ in _eval_rows(rows)] == list(zip(ev.timesteps, means, strict=True))
    assert [n for _, _, n in _eval_rows(rows)] == [float(np.mean(n)) for n in ev.ep_lengths]
    assert rows[-1]["eval/mean_reward"] == "" and rows[-1]["rollout/ep_rew_mean"] != ""  # the agent's own row
    assert "eval/success_rate" not in rows[0]  # CartPole's infos have no is_success
    # pandas reads it as SB3's logger read its own (read_csv before SB3 2.4): the cells a row lacks are NaN
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(tmp_path / "progress.csv", index_col=None, comment="#")
    evaluated = frame[frame["eval/mean_reward"].notna()]
    assert evaluated["time/total_timesteps"].tolist() == ev.timesteps
    assert evaluated["eval/mean_reward"].tolist() == [m for _, m in after.seen]
    assert frame["time/fps"].notna().tolist() == [False, False, True, False, False, False, True]


def test_each_member_of_a_population_writes_its_evaluation_rows_at_its_own_steps(tmp_path):
    hp = {"n_envs": 2, "n_steps": 4, "log_interval": 1}  # rows at 8 and 16 of each member's steps
    ev = EvalCallback("CartPole-v1", eval_freq=3, n_eval_episodes=N_EPISODES)
    A2C("CartPole-v1", seed=[0, 1], log_dir=tmp_path, **hp).learn(16, callback=ev)
    assert ev.timesteps == [[6, 6], [12, 12]]  # each member's own env steps
    for k, seed in enumerate([0, 1]):
        rows = _rows(tmp_path / f"s{seed}" / "progress.csv")
        assert [int(r["time/total_timesteps"]) for r in rows] == [6, 8, 12, 16]
        means = [float(np.mean(r[k])) for r in ev.results]
        lengths = [float(np.mean(n[k])) for n in ev.ep_lengths]
        assert _eval_rows(rows) == list(zip([6, 12], means, lengths, strict=True))
        assert means[1] == ev.last_mean_reward[k]  # the last evaluation's row: the callback's last_mean_reward


def test_success_rate_is_logged_and_saved_when_the_infos_have_is_success(tmp_path):
    n = 4  # success rates are quarters: exact in progress.csv
    ev = EvalCallback(SuccessOnEvenLength(gym.make("CartPole-v1")), eval_freq=4, n_eval_episodes=n, log_path=tmp_path)
    PPO("CartPole-v1", seed=0, log_dir=tmp_path, **SMALL).learn(32, callback=ev)
    even = [[length % 2 == 0 for length in lengths] for lengths in ev.ep_lengths]
    assert ev.evaluations_successes == even and ev.timesteps == [8, 16, 24, 32]
    rates = [float(r["eval/success_rate"]) for r in _rows(tmp_path / "progress.csv") if r["eval/success_rate"]]
    assert rates == [float(np.mean(flags)) for flags in even]
    with np.load(tmp_path / "evaluations.npz") as data:
        np.testing.assert_array_equal(data["successes"], even)
        np.testing.assert_array_equal(data["ep_lengths"], ev.ep_lengths)


def test_the_evaluation_rows_go_to_tensorboard_with_their_steps(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    ev = EvalCallback("CartPole-v1", eval_freq=3, n_eval_episodes=N_EPISODES)
    PPO("CartPole-v1", seed=0, log_dir=tmp_path, tensorboard_log=tmp_path / "tb", **SMALL).learn(32, callback=ev)
    acc = event_accumulator.EventAccumulator(str(tmp_path / "tb" / "PPO_1"), size_guidance={"scalars": 0})
    acc.Reload()
    events = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    means = [float(np.mean(r)) for r in ev.results]
    assert events["eval/mean_reward"] == list(zip(ev.timesteps, means, strict=True))
    lengths = [float(np.mean(n)) for n in ev.ep_lengths]
    assert events["eval/mean_ep_length"] == list(zip(ev.timesteps, lengths, strict=True))
    assert "time/total_timesteps" not in events  # as SB3's: the step is TensorBoard's x axis
