"""The SB3 adapter resumed from a checkpoint in the run's log directory keeps its files as nngym's agents keep theirs
(``BaseAgent._open_logs``): the rows its earlier self logged after the checkpoint, which the resumed run plays again,
are dropped, so progress.csv has each step once and monitor.csv each episode once."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from agents.common.callbacks import CheckpointCallback

pytest.importorskip("stable_baselines3")

from agents.baselines.sb3 import SB3PPO  # noqa: E402

#: a rollout is 2 envs x 32 steps: one progress.csv row per 64 env steps
KW = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}


def _steps(path: Path) -> list[int]:
    with open(path, newline="") as f:
        return [int(r["time/total_timesteps"]) for r in csv.DictReader(f)]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_a_run_resumed_from_a_checkpoint_logs_each_step_and_episode_once(tmp_path):
    ckpt = CheckpointCallback(save_freq=64, save_path=tmp_path / "ckpt", name_prefix="ppo")
    killed = SB3PPO("CartPole-v1", seed=0, log_dir=tmp_path / "run", **KW).learn(512, callback=ckpt)
    monitor = _lines(tmp_path / "run" / "monitor.csv")
    assert len(monitor) == 2 + killed._episode_num  # JSON header, column names, one row per episode
    # the run goes on from its checkpoint at 128 steps, as if it had been killed after 512
    resumed = SB3PPO.load(tmp_path / "ckpt" / "ppo_128_steps.npz", env="CartPole-v1", log_dir=tmp_path / "run")
    kept = resumed._episode_num
    assert resumed.num_timesteps == 128 and 0 < kept < killed._episode_num
    resumed.learn(384, reset_num_timesteps=False)
    assert _steps(tmp_path / "run" / "progress.csv") == list(range(64, 513, 64))  # none twice, none rewound
    after = _lines(tmp_path / "run" / "monitor.csv")
    assert after[: 2 + kept] == monitor[: 2 + kept] and len(after) == 2 + resumed._episode_num
    ts = [float(line.split(",")[2]) for line in after[2:]]
    assert ts == sorted(ts)  # t goes on from the last episode kept


def test_a_checkpoint_of_a_second_run_resumes_below_the_first_runs_rows(tmp_path):
    agent = SB3PPO("CartPole-v1", seed=0, log_dir=tmp_path / "run", **KW).learn(256)
    first = _lines(tmp_path / "run" / "monitor.csv")
    ckpt = CheckpointCallback(save_freq=64, save_path=tmp_path / "ckpt", name_prefix="ppo")
    agent.learn(512, callback=ckpt)  # a second run in the same files; checkpoint at 128 of its steps
    whole = _lines(tmp_path / "run" / "monitor.csv")
    resumed = SB3PPO.load(tmp_path / "ckpt" / "ppo_128_steps.npz", env="CartPole-v1", log_dir=tmp_path / "run")
    kept = len(first) + resumed._episode_num
    resumed.learn(384, reset_num_timesteps=False)
    after = _lines(tmp_path / "run" / "monitor.csv")
    assert after[:kept] == whole[:kept] and after[: len(first)] == first
    assert len(after) == len(first) + resumed._episode_num
    assert _steps(tmp_path / "run" / "progress.csv") == [64, 128, 192, 256, 64, 128, 192, 256, 320, 384, 448, 512]


def test_learn_again_and_continuing_the_same_agent_keep_every_row(tmp_path):
    """Only a run resumed from a file drops rows: the same agent continuing its run appends to them."""
    agent = SB3PPO("CartPole-v1", seed=0, log_dir=tmp_path, **KW).learn(128)
    agent.learn(128, reset_num_timesteps=False)
    agent.learn(64)
    assert _steps(tmp_path / "progress.csv") == [64, 128, 192, 256, 64]
    assert len(_lines(tmp_path / "monitor.csv")) == 2 + agent._episode_num + agent._log_rows_before["monitor"]
