"""Schedules as SB3 takes them: ``learning_rate`` (every agent), ``clip_range`` and ``clip_range_vf`` (PPO,
RecurrentPPO) as callables of the progress remaining, their values checked when used, saved as their last value
and restored by ``load(..., custom_objects=...)``; the progress clamped to [0, 1] when the last rollout overshoots."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

from agents import A2C, DQN, PPO, REINFORCE, RecurrentPPO, evaluate, load_population
from agents.common.callbacks import BaseCallback
from agents.common.config import SavedSchedule
from nngym.schedules import CallableSchedule, parse_schedule
from nngym.serialization import load_npz

#: small on-policy runs: a rollout is n_steps · n_envs = 64 env steps
ROLLOUT = 64
SMALL = {
    PPO: {"n_steps": 32, "n_envs": 2, "batch_size": 64, "n_epochs": 1},
    A2C: {"n_steps": 32, "n_envs": 2},
    REINFORCE: {"n_steps": 32, "n_envs": 2},
    RecurrentPPO: {"n_steps": 32, "n_envs": 2, "batch_size": 64, "n_epochs": 1, "lstm_hidden_size": 8},
}


def lr_fn(progress: float) -> float:
    """A learning rate that is not 0 at the end, so the last update's value tells which progress it saw."""
    return 1e-3 * (0.5 + progress)


def clip_fn(progress: float) -> float:
    return 0.1 + 0.1 * progress


class RolloutEnds(BaseCallback):
    """Records, at each rollout's end (before its update), the progress remaining and the optimiser's step size
    (that of the update before)."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: list[float] = []
        self.lrs: list[float] = []

    def on_rollout_end(self) -> None:
        self.progress.append(self.agent.progress_remaining)
        self.lrs.append(self.agent.optimizer.lr)


def model_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if "a model file cannot hold a function" in str(w.message)]


# --- the optimiser's step size and PPO's clip ranges are the callables' values -------------------------------
@pytest.mark.parametrize("cls", [PPO, A2C, REINFORCE, RecurrentPPO])
@pytest.mark.parametrize("spec", [lr_fn, "lin_1e-3"], ids=["callable", "lin"])
def test_the_step_size_of_each_update_is_the_schedule_at_its_progress(cls, spec):
    expected = lr_fn if callable(spec) else (lambda p: 1e-3 * p)
    cb = RolloutEnds()
    agent = cls("CartPole-v1", seed=0, learning_rate=spec, **SMALL[cls]).learn(4 * ROLLOUT, callback=cb)
    # by hand: the update after rollout i sees 1 − (i + 1) · 64 / 256
    assert cb.progress == [0.75, 0.5, 0.25, 0.0]
    assert cb.lrs == [expected(1.0), expected(0.75), expected(0.5), expected(0.25)]
    assert agent.optimizer.lr == agent.train_stats["train/learning_rate"] == expected(0.0)
    if callable(spec):
        assert isinstance(agent.lr_schedule, CallableSchedule) and agent.lr_schedule.fn is lr_fn


def test_dqn_takes_a_callable_learning_rate():
    seen = []  # (env steps when it trained, step size seen at the next step)

    class Steps(BaseCallback):
        def _on_step(self) -> bool:
            seen.append((self.agent.num_timesteps, self.agent.optimizer.lr))
            return True

    agent = DQN("CartPole-v1", seed=0, learning_starts=10, train_freq=1, batch_size=8, learning_rate=lr_fn)
    agent.learn(40, callback=Steps())
    # a step at n env steps trains (n > learning_starts) with the progress 1 − n / 40; the next step sees it
    for (n, _), (_, lr) in zip(seen, seen[1:], strict=False):
        assert lr == (lr_fn(1 - n / 40) if n > 10 else lr_fn(1.0))
    assert agent.optimizer.lr == lr_fn(0.0)


def test_ram_takes_a_callable_learning_rate():
    import envs  # noqa: F401 - registers nngym/DigitGlimpse-v0
    from agents import RAM
    from agents.common.vec_env import make_vec_env

    env = make_vec_env(
        "nngym/DigitGlimpse-v0", 8, "gym-sync", action_mode="location", reveal_label="end", max_glimpses=3
    )
    sizes = {"glimpse_hidden": 8, "glimpse_features": 8, "lstm_hidden_size": 8}
    cb = RolloutEnds()  # a batch of 8 episodes of 3 glimpses: 24 env steps an update
    agent = RAM(env, seed=0, n_envs=8, learning_rate=lr_fn, **sizes).learn(3 * 24, callback=cb)
    progress = [1 - 24 / 72, 1 - 48 / 72, 0.0]
    assert cb.progress == progress and cb.lrs == [lr_fn(1.0), *map(lr_fn, progress[:2])]
    assert agent.optimizer.lr == lr_fn(0.0)


@pytest.mark.parametrize("cls", [PPO, RecurrentPPO])
def test_callable_clip_ranges_are_the_ones_in_the_ppo_loss(cls, monkeypatch):
    import agents.ppo

    used = []
    ppo_loss = agents.ppo.ppo_loss

    def recording_loss(*args, **kwargs):
        used.append((kwargs["clip"], kwargs["clip_range_vf"]))
        return ppo_loss(*args, **kwargs)

    monkeypatch.setattr(agents.ppo, "ppo_loss", recording_loss)
    vf_fn = lambda p: 0.5 * p + 0.25  # noqa: E731
    agent = cls("CartPole-v1", seed=0, clip_range=clip_fn, clip_range_vf=vf_fn, **SMALL[cls]).learn(4 * ROLLOUT)
    # one minibatch per update (batch_size 64 = the rollout), at progress 0.75, 0.5, 0.25, 0
    assert used == [(clip_fn(p), vf_fn(p)) for p in (0.75, 0.5, 0.25, 0.0)]
    assert agent.train_stats["train/clip_range"] == clip_fn(0.0)


# --- progress below zero ---------------------------------------------------------------------------------------
def test_progress_is_clamped_to_zero_when_the_last_rollout_overshoots():
    seen = []
    lr = lambda p: seen.append(p) or 1e-3 * p  # noqa: E731
    # 200 steps in rollouts of 128: the last one ends at 256, 1 − 256/200 = −0.28 unclamped (gradient ascent)
    for spec in ("lin_3e-4", lr):
        agent = PPO("CartPole-v1", seed=0, n_steps=64, n_envs=2, n_epochs=1, learning_rate=spec).learn(200)
        assert agent.optimizer.lr == agent.train_stats["train/learning_rate"] == 0.0  # not −0.28 · 3e-4
        assert agent.num_timesteps == 256 and agent.progress_remaining == 0.0
    assert min(seen) == seen[-1] == 0.0
    # DQN: 3 envs overshoot 100 steps at the last step (102); its step size and ε stay at their end values
    dqn = DQN("CartPole-v1", seed=0, n_envs=3, learning_starts=10, train_freq=1, learning_rate="lin_1e-3")
    dqn.learn(100)
    assert dqn.num_timesteps == 102 and dqn.optimizer.lr == 0.0 and dqn.exploration_rate == 0.05


def test_a_total_that_is_a_multiple_of_the_rollout_ends_at_progress_zero():
    cb = RolloutEnds()
    agent = PPO("CartPole-v1", seed=0, n_steps=64, n_envs=2, n_epochs=1, learning_rate="lin_3e-4")
    agent.learn(512, callback=cb)
    assert cb.progress == [0.75, 0.5, 0.25, 0.0] and agent.optimizer.lr == 0.0
    assert parse_schedule("lin_3e-4")(0.5) == 1.5e-4 and parse_schedule("3e-4")(0.5) == 3e-4  # as before


# --- save and load -----------------------------------------------------------------------------------------------
def test_save_holds_each_callables_last_value(tmp_path):
    fresh = PPO("CartPole-v1", seed=0, learning_rate=lr_fn, clip_range=clip_fn, **SMALL[PPO])
    config = load_npz(fresh.save(tmp_path / "fresh.npz"))[1]["config"]
    # before any training: the values at progress 1.0 (the step size was set at construction, the clip never used)
    assert config["learning_rate"] == {"callable": "lr_fn", "last_value": lr_fn(1.0), "progress_remaining": 1.0}
    assert config["clip_range"] == {"callable": "clip_fn", "last_value": clip_fn(1.0), "progress_remaining": 1.0}
    assert config["clip_range_vf"] is None and config["n_steps"] == 32
    fresh.learn(3 * ROLLOUT)  # updates at 2/3, 1/3, 0
    config = load_npz(fresh.save(tmp_path / "trained.npz"))[1]["config"]
    assert config["learning_rate"]["last_value"] == lr_fn(0.0) and config["learning_rate"]["progress_remaining"] == 0


def test_load_without_the_functions_warns_once_and_uses_their_last_values(tmp_path):
    agent = PPO("CartPole-v1", seed=0, learning_rate=lr_fn, clip_range=clip_fn, **SMALL[PPO]).learn(2 * ROLLOUT)
    path = agent.save(tmp_path / "m.npz")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = PPO.load(path, env="CartPole-v1")
    (message,) = model_warnings(record)
    assert "learning_rate was the callable lr_fn and is now the constant 0.0005" in message
    assert "clip_range was the callable clip_fn and is now the constant 0.1" in message
    assert "custom_objects={'learning_rate': <function>, 'clip_range': <function>}" in message
    assert loaded.config.learning_rate == SavedSchedule("lr_fn", lr_fn(0.0), 0.0)
    obs = np.zeros((3, 4), np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    assert evaluate(loaded, "CartPole-v1", n_episodes=1)[0] > 0
    loaded.learn(ROLLOUT, reset_num_timesteps=False)  # further learning: the last values as constants
    assert loaded.optimizer.lr == lr_fn(0.0) and loaded.train_stats["train/clip_range"] == clip_fn(0.0)
    with warnings.catch_warnings(record=True) as record:  # saved again: still a marker, and load says so again
        warnings.simplefilter("always")
        PPO.load(loaded.save(tmp_path / "again.npz"))
    assert len(model_warnings(record)) == 1


def test_load_with_custom_objects_restores_the_functions(tmp_path):
    agent = PPO("CartPole-v1", seed=0, learning_rate=lr_fn, clip_range=clip_fn, **SMALL[PPO]).learn(2 * ROLLOUT)
    path = agent.save(tmp_path / "m.npz")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = PPO.load(path, env="CartPole-v1", custom_objects={"learning_rate": lr_fn, "clip_range": clip_fn})
    assert model_warnings(record) == []
    assert loaded.config.learning_rate is lr_fn and loaded.lr_schedule.fn is lr_fn
    cb = RolloutEnds()
    loaded.learn(2 * ROLLOUT, reset_num_timesteps=False, callback=cb)  # total 256: updates at 0.25 and 0
    assert cb.progress == [0.25, 0.0]
    assert cb.lrs[1] == lr_fn(0.25) and loaded.optimizer.lr == lr_fn(0.0)
    assert loaded.train_stats["train/clip_range"] == clip_fn(0.0)
    with warnings.catch_warnings(record=True) as record:  # one function given: the warning names the other
        warnings.simplefilter("always")
        PPO.load(path, custom_objects={"learning_rate": lr_fn})
    (message,) = model_warnings(record)
    assert "clip_range was the callable" in message and "learning_rate" not in message


def test_model_files_without_callables_load_as_before(tmp_path):
    agent = PPO("CartPole-v1", seed=0, learning_rate="lin_1e-3", clip_range=0.3, **SMALL[PPO]).learn(ROLLOUT)
    path = agent.save(tmp_path / "m.npz")
    assert load_npz(path)[1]["config"]["learning_rate"] == "lin_1e-3"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = PPO.load(path, learning_rate=1e-4)  # a keyword replaces a saved value, as before
    assert model_warnings(record) == [] and loaded.config.learning_rate == 1e-4 and loaded.config.clip_range == 0.3


@pytest.mark.parametrize(
    ("custom_objects", "kwargs", "message"),
    [
        ({"learning_rate": lr_fn}, {"learning_rate": 1e-3}, "['learning_rate'] given both in custom_objects and as"),
        ([("learning_rate", lr_fn)], {}, "PPO.load: custom_objects must be a dict or None, got list"),
    ],
)
def test_load_refuses_bad_custom_objects(tmp_path, custom_objects, kwargs, message):
    path = PPO("CartPole-v1", learning_rate=lr_fn, **SMALL[PPO]).save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=re.escape(message)):
        PPO.load(path, custom_objects=custom_objects, **kwargs)


def test_load_ignores_custom_objects_that_are_not_hyperparameters_as_sb3(tmp_path):
    path = PPO("CartPole-v1", learning_rate=lr_fn, **SMALL[PPO]).save(tmp_path / "m.npz")
    with pytest.warns(UserWarning, match=re.escape("custom_objects keys ['lr_schedule', 'policy_kwargs'] are not")):
        loaded = PPO.load(path, custom_objects={"learning_rate": lr_fn, "lr_schedule": lr_fn, "policy_kwargs": {}})
    assert loaded.config.learning_rate is lr_fn


# --- what is refused ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "config", "message"),
    [
        (PPO, {"learning_rate": lambda p: math.nan}, "PPO: learning_rate: the schedule gave float nan at "),
        (A2C, {"learning_rate": lambda p: None}, "A2C: learning_rate: the schedule gave NoneType None at "),
        (REINFORCE, {"learning_rate": lambda p: -1e-3}, "REINFORCE: learning_rate: the schedule gave float -0.001 at "),
        (DQN, {"learning_rate": lambda p: math.inf}, "DQN: learning_rate: the schedule gave float inf at "),
        (PPO, {"clip_range": lambda p: "0.2"}, "PPO: clip_range: the schedule gave str '0.2' at "),
        (RecurrentPPO, {"clip_range_vf": lambda p: -0.1}, "RecurrentPPO: clip_range_vf: the schedule gave float -0.1"),
        (PPO, {"clip_range": lambda p: True}, "PPO: clip_range: the schedule gave bool True at "),
        (PPO, {"learning_rate": lambda: 1e-3}, "PPO: learning_rate is a callable, so it must be a function of "),
        (DQN, {"learning_rate": lr_fn, "learning_rate_final": 1e-5}, "DQN: learning_rate_final needs a constant "),
        (PPO, {"clip_range": "fast"}, "PPO: clip_range must be a number > 0, 'lin_<x>' or a callable of progress"),
        (PPO, {"ent_coef": lambda p: 0.01}, "PPO: ent_coef must be a number >= 0, got function"),
    ],
)
def test_bad_schedules_are_refused_at_construction_naming_the_field(cls, config, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cls("CartPole-v1", **{**SMALL.get(cls, {}), **config})


@pytest.mark.parametrize(
    ("field", "fn", "message"),
    [
        ("learning_rate", lambda p: 1e-3 if p > 0.6 else -1e-3, "PPO: learning_rate: the schedule gave float -0.001"),
        ("learning_rate", lambda p: 1e-3 if p > 0.6 else math.nan, "PPO: learning_rate: the schedule gave float nan"),
        ("clip_range", lambda p: 0.2 if p > 0.6 else "0.1", "PPO: clip_range: the schedule gave str '0.1'"),
        ("clip_range_vf", lambda p: 0.2 if p > 0.6 else -0.2, "PPO: clip_range_vf: the schedule gave float -0.2"),
    ],
)
def test_a_bad_value_during_training_names_the_field_and_the_progress(field, fn, message):
    agent = PPO("CartPole-v1", seed=0, **{**SMALL[PPO], field: fn})
    with pytest.raises(ValueError, match=re.escape(message + " at progress_remaining 0.5; it must return a finite")):
        agent.learn(4 * ROLLOUT)  # updates at 0.75 (fine), then 0.5
    assert agent._n_updates == 1  # the bad value reached no update


# --- populations and the SB3 adapter -----------------------------------------------------------------------------
def test_a_population_uses_and_keeps_the_callables(tmp_path):
    hp = {**SMALL[PPO], "learning_rate": lr_fn, "clip_range": clip_fn, "clip_range_vf": clip_fn}
    pop = PPO("CartPole-v1", seed=[0, 1], **hp).learn(2 * ROLLOUT)
    single = PPO("CartPole-v1", seed=1, **hp).learn(2 * ROLLOUT)
    member = pop.member(1)  # a copy through a model file: the functions come back
    assert member.config.learning_rate is lr_fn and member.config.clip_range_vf is clip_fn
    params = lambda a: np.concatenate([p.ravel() for _, p, _ in a.policy.named_params()])  # noqa: E731
    np.testing.assert_allclose(params(member), params(single), rtol=1e-5, atol=1e-7)
    folder = pop.save(tmp_path / "pop")
    for k in range(2):  # each member's file holds the value of the last update
        assert load_npz(folder / f"s{k}.npz")[1]["config"]["learning_rate"]["last_value"] == lr_fn(0.0)
    back = load_population(
        PPO,
        folder,
        env="CartPole-v1",
        custom_objects={"learning_rate": lr_fn, "clip_range": clip_fn, "clip_range_vf": clip_fn},
    )
    assert all(m.config.clip_range is clip_fn for m in back.members)


def test_the_sb3_adapter_passes_callables_to_sb3_unchanged(tmp_path):
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO

    vf_fn = lambda p: 0.3  # noqa: E731
    hp = {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "learning_rate": lr_fn, "clip_range": clip_fn}
    agent = SB3PPO("CartPole-v1", seed=0, clip_range_vf=vf_fn, **hp)
    model = agent.model
    assert model.learning_rate is lr_fn and model.clip_range.value_schedule is clip_fn
    assert model.clip_range_vf.value_schedule is vf_fn
    agent.learn(128)  # updates at 0.5, 0
    assert model.policy.optimizer.param_groups[0]["lr"] == lr_fn(0.0)
    path = agent.save(tmp_path / "sb3.npz")
    assert load_npz(path)[1]["config"]["learning_rate"] == {
        "callable": "lr_fn",
        "last_value": lr_fn(0.0),
        "progress_remaining": 0.0,
    }
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = SB3PPO.load(path)
    (message,) = model_warnings(record)
    assert "SB3PPO.load(path, custom_objects=" in message
    assert loaded.model.lr_schedule(0.9) == lr_fn(0.0)
    restored = SB3PPO.load(path, custom_objects={"learning_rate": lr_fn, "clip_range": clip_fn, "clip_range_vf": vf_fn})
    assert restored.model.learning_rate is lr_fn
