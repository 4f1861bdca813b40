"""What SB3's ``load`` restores besides the parameters: ``verbose`` and ``tensorboard_log`` (not ``log_dir``)."""

from __future__ import annotations

import pytest

from agents import PPO

SMALL = {"n_steps": 16, "batch_size": 16, "n_epochs": 1}


def test_load_restores_verbose_and_tensorboard_log_unless_given(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    tb = tmp_path / "tb"
    agent = PPO("CartPole-v1", seed=0, verbose=1, tensorboard_log=tb, **SMALL).learn(32)
    path = agent.save(tmp_path / "m")
    capsys.readouterr()
    loaded = PPO.load(path, env="CartPole-v1")
    assert (loaded.verbose, loaded.tensorboard_log) == (1, str(tb))
    loaded.learn(32, reset_num_timesteps=False)  # continues SB3's PPO_1, as SB3's loaded model does
    assert "value_loss" in capsys.readouterr().out  # verbose=1 prints its table
    assert sorted(p.name for p in tb.iterdir()) == ["PPO_1"]
    assert len(list((tb / "PPO_1").iterdir())) == 2  # a second event file in the same run
    given = PPO.load(path, verbose=0, tensorboard_log=None)
    assert (given.verbose, given.tensorboard_log) == (0, None)
    assert PPO.load(path).log_dir is None  # nngym's log_dir is not restored: no files written unless asked


def test_an_empty_tb_log_name_is_sb3s_run_name_of_underscore_n(tmp_path):
    pytest.importorskip("tensorboard")
    PPO("CartPole-v1", seed=0, tensorboard_log=tmp_path, **SMALL).learn(16, tb_log_name="")
    assert [p.name for p in tmp_path.iterdir()] == ["_1"]  # SB3's name for it; the algorithm's only when not given


def test_a_negative_verbose_prints_nothing_as_sb3s(capsys):
    PPO("CartPole-v1", seed=0, verbose=-1, **SMALL).learn(32)
    assert capsys.readouterr().out == ""
    PPO("CartPole-v1", seed=0, verbose=2, **SMALL).learn(32)
    assert "value_loss" in capsys.readouterr().out
