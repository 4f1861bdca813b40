"""Log values that mean what SB3's mean: PPO's approx KL of the last epoch, ``train/clip_range_vf``, DQN's ε at the
row's step, ``train/*`` only in rows after an update (none carried into a new run's rows) and DQN's rows at the
multiples of ``log_interval`` episodes, also after a resumed ``learn``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import agents.ppo
from agents import DQN, PPO


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_ppo_logs_the_last_epochs_approx_kl_and_the_value_clip_range(monkeypatch, tmp_path):
    kls: list[float] = []
    real = agents.ppo.ppo_loss

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        kls.append(float(out[0]["approx_kl"]))
        return out

    monkeypatch.setattr(agents.ppo, "ppo_loss", spy)
    agent = PPO("CartPole-v1", seed=0, n_envs=1, n_steps=64, batch_size=16, n_epochs=5, clip_range_vf=0.3)
    agent.learn(64)
    per_epoch = np.array(kls).reshape(5, 4)  # 5 epochs of 4 minibatches
    assert agent.train_stats["train/approx_kl"] == pytest.approx(per_epoch[-1].mean())  # SB3's: the last epoch's
    assert agent.train_stats["train/approx_kl"] != pytest.approx(per_epoch.mean())
    assert agent.train_stats["train/clip_range_vf"] == 0.3
    assert "train/clip_range_vf" not in PPO("CartPole-v1", n_steps=64, batch_size=16).learn(64).train_stats


def test_dqn_rows_hold_the_rows_epsilon_and_train_values_only_after_training(tmp_path):
    hp = {"learning_starts": 300, "train_freq": 200, "exploration_fraction": 0.5, "log_interval": 10, "seed": 0}
    agent = DQN("CartPole-v1", log_dir=tmp_path, **hp)
    agent.learn(1000)
    rows = _rows(tmp_path / "progress.csv")
    assert len(rows) >= 3
    for row in rows:  # ε of the schedule at the row's own step (1 → 0.05 over the first 500 steps)
        steps = int(row["time/total_timesteps"])
        assert float(row["rollout/exploration_rate"]) == pytest.approx(max(1 - 0.95 * steps / 500, 0.05))
    trained = [int(r["train/n_updates"]) for r in rows if r["train/n_updates"]]
    assert trained == sorted(set(trained))  # a value of an update is written once, never repeated
    assert any(not r["train/loss"] for r in rows)  # rows before learning_starts, or without an update since the last
    agent.learn(250)  # a new run: nothing of the last one's updates in its rows before it trains
    new = _rows(tmp_path / "progress.csv")[len(rows) :]
    assert new and all(not r["train/loss"] for r in new if int(r["time/total_timesteps"]) <= 200)


def test_dqn_writes_a_row_at_every_multiple_of_log_interval_episodes_after_a_resume(tmp_path):
    agent = DQN("CartPole-v1", seed=0, log_dir=tmp_path, learning_starts=1000, log_interval=4)
    agent.learn(130)
    agent.learn(400, reset_num_timesteps=False)
    episodes = [int(r["time/episodes"]) for r in _rows(tmp_path / "progress.csv")]
    assert episodes and all(e % 4 == 0 for e in episodes)  # SB3's rows: episode counts 4, 8, 12, ...
    assert episodes == sorted(set(episodes)) and episodes[:2] == [4, 8]


def test_on_policy_rows_come_before_their_update_as_sb3s(tmp_path):
    """SB3 writes an on-policy row before the iteration's update: the first row has no train/ values and each
    later one the update before it (PPO's n_updates counting epochs)."""
    PPO("CartPole-v1", seed=0, n_envs=1, n_steps=128, batch_size=64, n_epochs=2, log_dir=tmp_path).learn(512)
    rows = _rows(tmp_path / "progress.csv")
    assert [r["time/iterations"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["train/n_updates"] for r in rows] == ["", "2", "4", "6"]


def test_log_interval_none_writes_no_rows_of_the_agents_own(tmp_path):
    from agents.common.callbacks import LogEveryNTimesteps

    hp = {"seed": 0, "n_envs": 1, "n_steps": 128, "batch_size": 64}
    PPO("CartPole-v1", log_dir=tmp_path / "a", **hp).learn(512, log_interval=None)
    assert not (tmp_path / "a" / "progress.csv").exists() or not _rows(tmp_path / "a" / "progress.csv")
    agent = PPO("CartPole-v1", log_dir=tmp_path / "b", **hp)
    agent.learn(512, callback=LogEveryNTimesteps(256), log_interval=None)  # SB3's way to log by steps
    rows = _rows(tmp_path / "b" / "progress.csv")
    assert [r["time/total_timesteps"] for r in rows] == ["256", "512"] and rows[1]["train/n_updates"]
    assert agent.config.log_interval == 1  # the Config's, for the next call
    dqn = DQN("CartPole-v1", seed=0, learning_starts=100, log_dir=tmp_path / "c").learn(300, log_interval=None)
    assert not (tmp_path / "c" / "progress.csv").exists() or not _rows(tmp_path / "c" / "progress.csv")
    assert dqn.config.log_interval == 4


def test_normalize_kwargs_of_numpy_numbers_are_saved_as_numbers(tmp_path):
    agent = PPO(
        "CartPole-v1", normalize_obs=True, normalize_kwargs={"clip_obs": np.float32(5), "gamma": np.float64(0.9)}
    )
    assert agent.config.normalize_kwargs == {"clip_obs": 5.0, "gamma": 0.9}
    assert PPO.load(agent.save(tmp_path / "m")).get_vec_normalize_env().clip_obs == 5.0


def test_a_model_saved_during_a_learn_call_keeps_the_agents_own_log_interval(tmp_path):
    import copy
    import pickle

    from agents import CheckpointCallback
    from agents.common.config import CONFIG_LOG_INTERVAL

    assert copy.deepcopy(CONFIG_LOG_INTERVAL) is CONFIG_LOG_INTERVAL
    assert pickle.loads(pickle.dumps(CONFIG_LOG_INTERVAL)) is CONFIG_LOG_INTERVAL
    for given in (None, 7):
        agent = PPO("CartPole-v1", n_steps=64, batch_size=64, log_interval=3)
        agent.learn(128, callback=CheckpointCallback(1, tmp_path / str(given)), log_interval=given)
        saved = sorted((tmp_path / str(given)).glob("*.npz"))
        assert saved and all(PPO.load(path).config.log_interval == 3 for path in saved)
        assert agent.config.log_interval == 3


def test_dqn_evaluation_rows_hold_epsilon_and_a_policy_saves_its_agent(tmp_path):
    from agents import EvalCallback

    agent = DQN("CartPole-v1", seed=0, learning_starts=50, log_dir=tmp_path, exploration_fraction=0.5)
    agent.learn(400, callback=EvalCallback("CartPole-v1", eval_freq=200, n_eval_episodes=1, verbose=0))
    evaluated = [r for r in _rows(tmp_path / "progress.csv") if r["eval/mean_reward"]]
    assert len(evaluated) == 2
    for row in evaluated:  # SB3's evaluation rows hold ε, which it records at every env step
        steps = int(row["time/total_timesteps"])
        assert float(row["rollout/exploration_rate"]) == pytest.approx(max(1 - 0.95 * steps / 200, 0.05))
    path = agent.policy.save(tmp_path / "policy")  # SB3's policy.save: the agent's file
    obs = np.zeros((3, 4), np.float32)
    back = DQN.load(path).policy
    np.testing.assert_array_equal(back.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
