"""``clip_range_vf`` in rl-baselines3-zoo's schedule strings (``lin_<x>``, ``linear_<x>``), as the zoo's
``_preprocess_schedules`` reads it with ``learning_rate`` and ``clip_range``: a linear schedule from x to 0, for
nngym's PPO and RecurrentPPO and for the SB3 adapter (``train.py --impl sb3``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agents import PPO, RecurrentPPO, load_hyperparams
from nngym.schedules import parse_schedule

#: one rollout of 2 envs x 64 steps; learn(256) updates at progress 0.5 and 0
SMALL = {"n_envs": 2, "n_steps": 64, "batch_size": 128, "n_epochs": 1}


def _yml(tmp_path: Path, clip_range_vf: str) -> Path:
    path = tmp_path / "ppo.yml"
    entry = "".join(f"  {k}: {v}\n" for k, v in SMALL.items())
    path.write_text(f"CartPole-v1:\n{entry}  clip_range_vf: {clip_range_vf}\n  clip_range: lin_0.2\n")
    return path


@pytest.mark.parametrize("spec", ["lin_0.2", "linear_0.2"])
def test_a_zoo_clip_range_vf_string_is_a_linear_schedule_the_ppo_loss_uses(tmp_path, monkeypatch, spec):
    import agents.ppo

    hp = load_hyperparams("ppo", "CartPole-v1", path=_yml(tmp_path, spec))
    assert hp["clip_range_vf"] == spec  # kept as written, as learning_rate's and clip_range's strings
    schedule = parse_schedule(hp["clip_range_vf"])
    assert schedule(1.0) == pytest.approx(0.2) and schedule(0.5) == pytest.approx(0.1)
    used = []
    ppo_loss = agents.ppo.ppo_loss

    def recording_loss(*args, **kwargs):
        used.append(kwargs["clip_range_vf"])
        return ppo_loss(*args, **kwargs)

    monkeypatch.setattr(agents.ppo, "ppo_loss", recording_loss)
    agent = PPO("CartPole-v1", seed=0, **hp)
    assert agent.clip_vf_schedule(1.0) == pytest.approx(0.2) and agent.clip_vf_schedule(0.5) == pytest.approx(0.1)
    agent.learn(256)
    assert agent.num_timesteps == 256
    assert used == pytest.approx([0.1, 0.0])  # one minibatch per update, at progress 0.5 and 0


def test_a_saved_clip_range_vf_string_loads_back_as_the_same_schedule(tmp_path):
    agent = PPO("CartPole-v1", seed=0, clip_range_vf="lin_0.2", **SMALL)
    loaded = PPO.load(agent.save(tmp_path / "m.npz"))
    assert loaded.config.clip_range_vf == "lin_0.2"
    assert loaded.clip_vf_schedule(0.5) == pytest.approx(0.1)


def test_recurrent_ppo_takes_a_clip_range_vf_string():
    agent = RecurrentPPO("CartPole-v1", seed=0, clip_range_vf="lin_0.2", lstm_hidden_size=8, **SMALL)
    assert agent.clip_vf_schedule(1.0) == pytest.approx(0.2) and agent.clip_vf_schedule(0.5) == pytest.approx(0.1)


def test_a_bad_clip_range_vf_names_the_field_and_what_it_takes():
    bad = {
        "lin_x": "PPO: clip_range_vf must be a number > 0, 'lin_<x>' or a callable of progress_remaining, got 'lin_x'",
        "lin_0": "PPO: clip_range_vf must be > 0, got 'lin_0'",
        "lin_-0.2": "PPO: clip_range_vf must be > 0, got 'lin_-0.2'",
        -0.2: "PPO: clip_range_vf must be > 0, got -0.2",  # a number: its range, as before strings were taken
    }
    for spec, message in bad.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            PPO("CartPole-v1", seed=0, clip_range_vf=spec, **SMALL)


@pytest.mark.parametrize("spec", ["lin_0.2", "linear_0.2"])
def test_the_sb3_adapter_turns_zoo_schedule_strings_into_schedules(tmp_path, spec):
    """What ``train.py --impl sb3`` builds from the same yml entry (``sb3_agent``)."""
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import sb3_agent

    hp = load_hyperparams("ppo", "CartPole-v1", path=_yml(tmp_path, spec))
    hp.pop("n_timesteps", None)
    agent = sb3_agent("ppo", "CartPole-v1", 0, **hp)
    model = agent.model
    assert model.clip_range_vf(1.0) == pytest.approx(0.2) and model.clip_range_vf(0.5) == pytest.approx(0.1)
    assert model.clip_range(0.5) == pytest.approx(0.1)
    agent.learn(256)
    assert agent.num_timesteps == 256


def test_the_sb3_adapter_takes_linear_learning_rates_and_numbers_as_strings():
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO

    agent = SB3PPO("CartPole-v1", seed=0, learning_rate="linear_0.001", clip_range_vf="0.3", **SMALL)
    assert agent.model.learning_rate(0.5) == pytest.approx(0.0005)
    assert agent.model.clip_range_vf(0.5) == pytest.approx(0.3)
    message = "SB3 PPO: clip_range_vf must be a number >= 0, 'lin_<x>' or 'linear_<x>' (x >= 0), got 'lin_x'"
    with pytest.raises(ValueError, match=re.escape(message)):
        SB3PPO("CartPole-v1", seed=0, clip_range_vf="lin_x", **SMALL)


def test_the_sb3_adapter_gives_recurrent_ppo_a_clip_range_vf_schedule():
    pytest.importorskip("sb3_contrib")
    from agents.baselines.sb3 import SB3RecurrentPPO

    agent = SB3RecurrentPPO("CartPole-v1", seed=0, clip_range_vf="lin_0.2", lstm_hidden_size=8, **SMALL)
    assert agent.model.clip_range_vf(0.5) == pytest.approx(0.1)
