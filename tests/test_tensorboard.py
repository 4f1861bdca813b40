"""TensorBoard logging: the event files hold progress.csv's keys and values at its steps, in SB3's run directories."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

from agents import DQN, PPO
from agents.common.logger import tensorboard_run_dir

ROOT = Path(__file__).resolve().parents[1]


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Tag -> [(step, value)] of every scalar in the event files of ``run_dir``, read by TensorBoard itself."""
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


#: progress.csv's counters SB3 records with ``exclude="tensorboard"`` (TensorBoard's x axis is the step already)
SB3_NOT_IN_TENSORBOARD = {
    "time/iterations",
    "time/episodes",
    "time/time_elapsed",
    "time/total_timesteps",
    "train/n_updates",
}


def _progress(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _assert_same_as_progress_csv(tb_dir: Path, progress: Path, first_row: int = 0) -> None:
    """The event files of ``tb_dir`` hold the rows of ``progress.csv`` from ``first_row`` on (earlier ``learn`` calls
    of the agent wrote the rows before it)."""
    rows = _progress(progress)[first_row:]
    scalars = _scalars(tb_dir)
    assert rows and set(scalars) == set(rows[0]) - SB3_NOT_IN_TENSORBOARD  # the columns SB3 writes there
    for key, events in scalars.items():
        expected = [(int(r["time/total_timesteps"]), float(r[key])) for r in rows if r[key] != ""]
        assert [s for s, _ in events] == [s for s, _ in expected], key  # the same steps
        for (_, got), (_, want) in zip(events, expected, strict=True):  # progress.csv keeps 4 significant digits
            assert math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-6), (key, got, want)


def test_ppo_event_file_matches_progress_csv_and_runs_are_numbered_like_sb3(tmp_path):
    pytest.importorskip("tensorboard")
    tb = tmp_path / "tb"
    agent = PPO(
        "CartPole-v1",
        seed=0,
        n_envs=2,
        n_steps=64,
        batch_size=64,
        n_epochs=1,
        log_dir=tmp_path / "run",
        tensorboard_log=tb,
    )
    agent.learn(512)
    assert sorted(p.name for p in tb.iterdir()) == ["PPO_1"]
    _assert_same_as_progress_csv(tb / "PPO_1", tmp_path / "run" / "progress.csv")
    assert {"rollout/ep_rew_mean", "train/value_loss", "time/fps", "train/approx_kl"} <= set(_scalars(tb / "PPO_1"))
    # one point per row after an update, as SB3's: the rows at 256, 384, 512 steps hold the updates before them
    assert [step for step, _ in _scalars(tb / "PPO_1")["train/value_loss"]] == [256, 384, 512]

    agent.learn(256)  # a new learn call: a new run directory, steps from 0 again
    assert sorted(p.name for p in tb.iterdir()) == ["PPO_1", "PPO_2"]
    # progress.csv keeps the first run's 4 rows and goes on with the new run's (as SB3's logger, kept by the agent)
    _assert_same_as_progress_csv(tb / "PPO_2", tmp_path / "run" / "progress.csv", first_row=4)
    agent.learn(256, reset_num_timesteps=False, tb_log_name="PPO")  # continuing: the same run, later steps
    assert sorted(p.name for p in tb.iterdir()) == ["PPO_1", "PPO_2"]
    assert [s for s, _ in _scalars(tb / "PPO_2")["time/fps"]] == [128, 256, 384, 512]
    agent.learn(128, tb_log_name="cartpole")
    assert (tb / "cartpole_1").is_dir()


def test_dqn_event_file_matches_progress_csv(tmp_path):
    pytest.importorskip("tensorboard")
    agent = DQN(
        "CartPole-v1",
        seed=1,
        learning_starts=50,
        log_interval=2,
        log_dir=tmp_path / "run",
        tensorboard_log=tmp_path / "tb",
    )
    agent.learn(600)
    scalars = _scalars(tmp_path / "tb" / "DQN_1")
    assert {"rollout/exploration_rate", "train/loss", "time/fps"} <= set(scalars)
    assert not SB3_NOT_IN_TENSORBOARD & set(scalars)
    _assert_same_as_progress_csv(tmp_path / "tb" / "DQN_1", tmp_path / "run" / "progress.csv")


def test_train_runner_tensorboard_log(tmp_path):
    pytest.importorskip("tensorboard")
    from agents.experiments import train

    args = [
        "--algo",
        "a2c",
        "--env",
        "CartPole-v1",
        "--total-timesteps",
        "400",
        "--no-progress",
        "--log-dir",
        str(tmp_path / "runs"),
        "--tensorboard-log",
        str(tmp_path / "tb"),
        "--n-eval-episodes",
        "1",
        "-p",
        "n_envs=2",
        "log_interval=10",
    ]
    train.main(args)
    _assert_same_as_progress_csv(tmp_path / "tb" / "A2C_1", tmp_path / "runs" / "a2c_CartPole-v1_s0" / "progress.csv")


def test_tensorboard_run_dir_numbering(tmp_path):
    assert tensorboard_run_dir(tmp_path, "PPO") == tmp_path / "PPO_1"
    assert tensorboard_run_dir(tmp_path, "PPO", reset_num_timesteps=False) == tmp_path / "PPO_0"  # as SB3
    for name in ("PPO_1", "PPO_3", "PPO_x", "PPO_2_old", "DQN_7"):
        (tmp_path / name).mkdir()
    assert tensorboard_run_dir(tmp_path, "PPO") == tmp_path / "PPO_4"
    assert tensorboard_run_dir(tmp_path, "PPO", reset_num_timesteps=False) == tmp_path / "PPO_3"
    assert tensorboard_run_dir(tmp_path, "DQN") == tmp_path / "DQN_8"
    assert tensorboard_run_dir(tmp_path / "missing", "A2C") == tmp_path / "missing" / "A2C_1"


def test_missing_tensorboard_names_the_extra(tmp_path):
    code = f"""
import sys
for name in ("tensorboard", "tensorboard.compat", "tensorboard.compat.proto", "tensorboard.compat.proto.event_pb2",
             "tensorboard.compat.proto.summary_pb2", "tensorboard.summary", "tensorboard.summary.writer",
             "tensorboard.summary.writer.event_file_writer"):
    sys.modules[name] = None  # tensorboard made unimportable
from agents import PPO
agent = PPO("CartPole-v1", n_steps=32, tensorboard_log={str(tmp_path)!r})
try:
    agent.learn(64)
except ImportError as e:
    print(e)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'pip install -e ".[tensorboard]"' in out.stdout


def test_sb3_adapter_writes_tensorboard_next_to_its_progress_csv(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO

    agent = SB3PPO(
        "CartPole-v1",
        seed=0,
        n_envs=2,
        n_steps=64,
        batch_size=64,
        n_epochs=1,
        log_dir=tmp_path / "run",
        tensorboard_log=tmp_path / "tb",
    )
    agent.learn(256)
    scalars = _scalars(tmp_path / "tb" / "PPO_1")  # SB3's own writer and run naming
    rows = _progress(tmp_path / "run" / "progress.csv")
    logged = [int(r["time/total_timesteps"]) for r in rows if r["train/value_loss"]]  # SB3 logs a train step later
    assert [s for s, _ in scalars["train/value_loss"]] == logged == [256]
