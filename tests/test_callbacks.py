"""Callbacks and ``predict`` as an SB3 user expects them.

Callbacks have SB3's attributes (``model``, ``num_timesteps``, ``n_calls``, ``training_env``, ``logger``, ``locals``,
``parent``) and hooks, called by every agent's ``learn`` in SB3's order; a function is taken as SB3 takes it, anything
else is refused before the env is touched. ``EvalCallback`` checks its env when training starts and writes SB3's
``evaluations.npz``; frequencies are whole numbers >= 1. A second ``learn`` appends to the logs, as SB3's Monitor
does. ``predict`` samples unless ``deterministic=True``, as SB3's; the evaluators pass it.
"""

from __future__ import annotations

import csv
import inspect
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers nngym/DigitGlimpse-v0
from agents import A2C, DQN, PPO, RAM, REINFORCE, RecurrentPPO, evaluate
from agents.common.callbacks import (
    AccuracyCallback,
    BaseCallback,
    CheckpointCallback,
    EvalCallback,
    EveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from agents.common.evaluation import run_episodes
from agents.common.vec_env import make_vec_env

SMALL: dict[type, dict[str, Any]] = {  # two envs, rollouts of 4 vector steps
    PPO: {"n_envs": 2, "n_steps": 4, "batch_size": 8, "n_epochs": 1},
    A2C: {"n_envs": 2, "n_steps": 4},
    REINFORCE: {"n_envs": 2, "n_steps": 4},
    RecurrentPPO: {"n_envs": 2, "n_steps": 4, "batch_size": 8, "n_epochs": 1, "lstm_hidden_size": 8},
    DQN: {"n_envs": 2, "train_freq": 4, "learning_starts": 0, "batch_size": 8, "buffer_size": 100},
}


class Recorder(BaseCallback):
    """Records each hook with the agent's step count and updates, and what SB3's attributes hold."""

    def __init__(self, stop_at_call: int | None = None) -> None:
        super().__init__()
        self.events: list[tuple[str, int, int]] = []
        self.stop_at_call = stop_at_call
        self.seen: dict[str, Any] = {}

    def _event(self, name: str) -> None:
        self.events.append((name, self.model.num_timesteps, self.model._n_updates))

    def _init_callback(self) -> None:
        self._event("init")
        self.seen["at_init"] = (self.model, self.agent, self.training_env, self.locals)

    def _on_training_start(self) -> None:
        self._event("training_start")
        self.seen["start_locals"] = dict(self.locals)
        self.seen["start_num_timesteps"] = self.num_timesteps

    def _on_rollout_start(self) -> None:
        self._event("rollout_start")

    def _on_step(self) -> bool:
        self._event("step")
        assert self.num_timesteps == self.model.num_timesteps
        self.seen.setdefault("dones", []).append(np.array(self.locals["dones"]))
        self.seen["step_locals"] = dict(self.locals)
        return self.stop_at_call is None or self.n_calls < self.stop_at_call

    def _on_rollout_end(self) -> None:
        self._event("rollout_end")

    def _on_training_end(self) -> None:
        self._event("training_end")

    def names(self) -> list[str]:
        return [e[0] for e in self.events]


def rollout(n: int) -> list[str]:
    return ["rollout_start"] + ["step"] * n + ["rollout_end"]


# --- 1. attributes and hooks in SB3's order -----------------------------------------------------------------------
@pytest.mark.parametrize("cls", [PPO, A2C, REINFORCE, RecurrentPPO])
def test_on_policy_agents_call_the_hooks_in_sb3_order_with_sb3_attributes(cls):
    agent = cls("CartPole-v1", seed=0, **SMALL[cls])
    rec = Recorder()
    agent.learn(16, callback=rec)  # 2 rollouts of 4 vector steps of 2 envs
    assert rec.names() == ["init", "training_start", *rollout(4), *rollout(4), "training_end"]
    ends = [e for e in rec.events if e[0] == "rollout_end"]
    assert [e[1] for e in ends] == [8, 16]  # after each rollout ...
    starts = [e for e in rec.events if e[0] == "rollout_start"]
    assert starts[1][1] == 8 and starts[1][2] >= ends[0][2]  # ... and before the next one
    assert rec.n_calls == 8 and rec.num_timesteps == 16
    model, alias, env, _ = rec.seen["at_init"]
    assert model is agent and alias is agent and env is agent.get_env() and rec.training_env is agent.get_env()
    assert rec.logger is agent.logger and rec.parent is None
    start = rec.seen["start_locals"]
    assert start["self"] is agent and start["total_timesteps"] == 16 and start["reset_num_timesteps"] is True
    assert rec.seen["start_num_timesteps"] == 0
    step = rec.seen["step_locals"]
    assert {"new_obs", "actions", "rewards", "dones", "infos", "total_timesteps"} <= set(step)
    assert step["new_obs"].shape == (2, 4) and step["rewards"].shape == (2,) and step["actions"].shape == (2,)
    assert all(d.shape == (2,) and d.dtype == bool for d in rec.seen["dones"])
    assert isinstance(step["infos"], dict)  # gymnasium's vector-env infos


def test_an_on_policy_rollout_end_comes_before_its_update():
    rec = Recorder()
    PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(16, callback=rec)
    ends = [e for e in rec.events if e[0] == "rollout_end"]
    assert [e[2] for e in ends] == [0, 1]  # n_updates when each rollout ended: its update comes after


def test_dqn_rollouts_are_the_steps_between_training_calls():
    agent = DQN("CartPole-v1", seed=0, **SMALL[DQN])
    rec = Recorder()
    agent.learn(20, callback=rec)  # 10 vector steps: trains after steps 4 and 8, then 2 steps to the end
    assert rec.names() == ["init", "training_start", *rollout(4), *rollout(4), *rollout(2), "training_end"]
    ends = [e for e in rec.events if e[0] == "rollout_end"]
    starts = [e for e in rec.events if e[0] == "rollout_start"]
    assert [e[1] for e in ends] == [8, 16, 20]
    assert [e[2] for e in ends] == [0, 1, 2] and [e[2] for e in starts] == [0, 1, 2]  # each training call after an end
    assert agent._n_updates == 2


def test_ram_calls_rollout_start_before_each_batch_of_episodes():
    agent = RAM(
        make_vec_env(
            "nngym/DigitGlimpse-v0", 4, "gym-sync", action_mode="location", reveal_label="end", max_glimpses=3
        ),
        seed=0,
        n_envs=4,
        glimpse_hidden=8,
        glimpse_features=16,
        lstm_hidden_size=16,
    )
    rec = Recorder()
    agent.learn(4 * 3 * 2, callback=rec)
    assert rec.names() == ["init", "training_start", *rollout(3), *rollout(3), "training_end"]


@pytest.mark.parametrize("cls", [PPO, A2C, REINFORCE, RecurrentPPO, DQN])
def test_a_step_returning_false_stops_at_once_without_rollout_end_or_update(cls):
    agent = cls("CartPole-v1", seed=0, **SMALL[cls])
    rec = Recorder(stop_at_call=3)
    agent.learn(1000, callback=rec)
    assert rec.names() == ["init", "training_start", "rollout_start", "step", "step", "step", "training_end"]
    assert agent.num_timesteps == 6 and agent._n_updates == 0


def test_callback_list_passes_locals_and_parent_on_and_stops_if_any_child_does():
    a, b = Recorder(), Recorder(stop_at_call=2)
    agent = PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(16, callback=[a, b])
    assert agent.num_timesteps == 4 and a.n_calls == b.n_calls == 2  # both called at the step that stopped
    assert a.seen["step_locals"]["dones"] is b.seen["step_locals"]["dones"]
    assert a.locals["total_timesteps"] == 16


def test_a_function_is_called_with_locals_and_globals_as_sb3_calls_it():
    calls: list[int] = []

    def fn(locals_: dict[str, Any], globals_: dict[str, Any]) -> bool:
        calls.append(int(np.sum(locals_["dones"])))
        assert locals_["self"].algo == "PPO" and "np" in globals_
        return len(calls) < 3

    agent = PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(100, callback=fn)
    assert len(calls) == 3 and agent.num_timesteps == 6


@pytest.mark.parametrize(
    ("callback", "message"),
    [
        (42, r"PPO.learn: callback must be a BaseCallback, a list of them, a function .* got int 42"),
        ("eval", r"got str 'eval'"),
        (Recorder, r"must be a callback instance, got the class Recorder; pass an instance: Recorder\(\)"),
        ([Recorder(), 3.5], r"PPO.learn: callback\[1\] must be a BaseCallback.* got float 3.5"),
    ],
)
def test_what_is_no_callback_is_refused_before_the_env_is_touched(callback, message, tmp_path):
    agent = PPO("CartPole-v1", seed=0, log_dir=tmp_path / "run", **SMALL[PPO])
    with pytest.raises(TypeError, match=message):
        agent.learn(100, callback=callback)
    assert agent.num_timesteps == 0 and agent._last_obs is None
    assert not (tmp_path / "run" / "monitor.csv").exists()


def test_a_callback_written_for_the_earlier_hooks_still_runs():
    class Old(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def on_training_start(self) -> None:  # nngym's earlier public hook, without SB3's arguments
            self.calls.append(f"start {self.agent.num_timesteps}")

        def on_rollout_end(self) -> None:
            self.calls.append("rollout_end")

        def on_training_end(self) -> None:
            self.calls.append("end")

    old = Old()
    old.init(None)  # the earlier name of init_callback
    PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(16, callback=[old])
    assert old.calls == ["start 0", "rollout_end", "rollout_end", "end"] and old.n_calls == 8


def test_the_logger_records_into_progress_csv(tmp_path):
    class Logs(BaseCallback):
        def _on_rollout_end(self) -> None:
            self.logger.record("custom/calls", self.n_calls)

    PPO("CartPole-v1", seed=0, log_dir=tmp_path, **SMALL[PPO]).learn(16, callback=Logs())
    with open(tmp_path / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["custom/calls"] for r in rows] == ["4", "8"]


def test_stop_training_on_max_episodes_reads_the_dones_of_locals():
    agent = PPO("CartPole-v1", seed=0, n_envs=1, n_steps=64, batch_size=64, n_epochs=1)
    agent.learn(10_000, callback=StopTrainingOnMaxEpisodes(max_episodes=3))
    assert agent._episode_num == 3  # stopped at the step the third episode ended


def test_stop_training_on_reward_threshold_is_called_by_eval_callback_as_its_parent():
    stop = StopTrainingOnRewardThreshold(reward_threshold=0.0)  # any return reaches it
    ev = EvalCallback("CartPole-v1", eval_freq=3, n_eval_episodes=1, callback_on_new_best=stop)
    agent = PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(1000, callback=ev)
    assert agent.num_timesteps == 6 and stop.parent is ev and stop.n_calls == 1
    after = StopTrainingOnNoModelImprovement(max_no_improvement_evals=1)
    ev = EvalCallback("CartPole-v1", eval_freq=1, n_eval_episodes=1, callback_after_eval=after, seed=0)
    agent = PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(1000, callback=ev)
    assert after.parent is ev and agent.num_timesteps == 2 * 3  # deterministic evaluations of one seed: no gain
    with pytest.raises(ValueError, match="StopTrainingOnRewardThreshold reads the evaluations of an EvalCallback"):
        PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(100, callback=StopTrainingOnRewardThreshold(1.0))


def test_stopping_after_no_improvement_counts_afresh_for_another_model():
    """A used EvalCallback and its StopTrainingOnNoModelImprovement, given a new agent, stop it where new ones would
    (not at its first evaluation, measured against the first agent's best)."""
    after = StopTrainingOnNoModelImprovement(max_no_improvement_evals=1)
    ev = EvalCallback("CartPole-v1", eval_freq=1, n_eval_episodes=1, callback_after_eval=after, seed=0)
    for _ in range(2):
        agent = PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(1000, callback=ev)
        assert agent.num_timesteps == 2 * 3 and ev.timesteps == [2, 4, 6]  # the best first, then 2 evaluations
        assert (after.n_calls, after.no_improvement_evals) == (3, 2) and ev.best_mean_reward == ev.last_mean_reward


def test_every_n_timesteps_triggers_its_callback():
    inner = Recorder()
    PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(16, callback=EveryNTimesteps(6, inner))
    assert inner.n_calls == 2 and inner.parent is not None  # at 6 and 12 env steps


class Hooks(BaseCallback):
    """The hooks called, by name; the last step's locals."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def _on_training_start(self) -> None:
        self.names.append("training_start")

    def _on_rollout_start(self) -> None:
        self.names.append("rollout_start")

    def _on_step(self) -> bool:
        self.names.append("step")
        self.last = dict(self.locals)
        return True

    def _on_rollout_end(self) -> None:
        self.names.append("rollout_end")

    def _on_training_end(self) -> None:
        self.names.append("training_end")


@pytest.mark.parametrize("cls", [A2C, DQN])
def test_population_callbacks_get_rollout_hooks_and_locals_per_member(cls):
    hooks = Hooks()
    pop = cls("CartPole-v1", seed=[0, 1], **SMALL[cls])
    pop.learn(16, callback=hooks)  # 8 population steps
    assert hooks.names == ["training_start", *rollout(4), *rollout(4), "training_end"]
    assert hooks.model is pop and hooks.last["self"] is pop and hooks.num_timesteps == 32  # both members' steps
    dones = hooks.last["dones"]
    assert isinstance(dones, list) and len(dones) == 2 and dones[0].shape == (2,)
    with pytest.raises(TypeError, match="population.learn: callback must be"):
        pop.learn(8, callback=1)


# --- 2. EvalCallback: its env checked before training, SB3's evaluations.npz --------------------------------------
def test_eval_callback_refuses_a_vector_env_when_made():
    with pytest.raises(ValueError, match=r"EvalCallback evaluates on one env.* vector env of 2 envs"):
        EvalCallback(gym.make_vec("CartPole-v1", num_envs=2), eval_freq=10)
    with pytest.raises(ValueError, match=r"eval_env must be an env id or a gymnasium.Env, got int 3"):
        EvalCallback(3)


def test_eval_callback_with_other_spaces_fails_before_training():
    agent = PPO("CartPole-v1", seed=0, **SMALL[PPO])
    ev = EvalCallback("Acrobot-v1", eval_freq=1000)
    with pytest.raises(ValueError, match=r"eval env's spaces Box\(.*\(6,\).*Discrete\(3\) differ from the agent's"):
        agent.learn(10_000, callback=ev)
    assert agent.num_timesteps == 0 and ev.n_calls == 0


def test_evaluations_npz_has_sb3s_keys_and_shapes(tmp_path):
    ev = EvalCallback("CartPole-v1", eval_freq=4, n_eval_episodes=3, log_path=tmp_path, best_model_save_path=tmp_path)
    agent = PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(24, callback=ev)
    data = np.load(tmp_path / "evaluations.npz")
    assert sorted(data.files) == ["ep_lengths", "results", "timesteps"]
    assert data["timesteps"].tolist() == [8, 16, 24]
    assert data["results"].shape == data["ep_lengths"].shape == (3, 3)
    assert data["ep_lengths"].dtype == np.int64 and data["ep_lengths"].min() >= 1
    np.testing.assert_array_equal(data["results"], data["ep_lengths"])  # CartPole: +1 per step
    assert ev.evaluations_length == data["ep_lengths"].tolist() and ev.evaluations_timesteps == [8, 16, 24]
    # the best evaluation's model, saved then, gives the same episodes through run_episodes
    best = int(np.argmax(data["results"].mean(axis=1)))
    lengths = run_episodes(PPO.load(tmp_path / "best_model.npz"), "CartPole-v1", 3, True, ev.seed).lengths
    assert lengths == data["ep_lengths"][best].tolist() and agent.num_timesteps == 24


# --- 3. frequencies are whole numbers >= 1 ------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "100", None])
@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda v, p: CheckpointCallback(v, p), "CheckpointCallback: save_freq"),
        (lambda v, p: EvalCallback("CartPole-v1", eval_freq=v), "EvalCallback: eval_freq"),
        (lambda v, p: EvalCallback("CartPole-v1", n_eval_episodes=v), "EvalCallback: n_eval_episodes"),
        (lambda v, p: AccuracyCallback(v), "AccuracyCallback: eval_freq"),
        (lambda v, p: StopTrainingOnMaxEpisodes(v), "StopTrainingOnMaxEpisodes: max_episodes"),
        (lambda v, p: EveryNTimesteps(v, Recorder()), "EveryNTimesteps: n_steps"),
    ],
)
def test_frequencies_must_be_whole_numbers_of_at_least_one(make, name, bad, tmp_path):
    with pytest.raises(ValueError, match=rf"^{name} must be a whole number >= 1, got {type(bad).__name__} "):
        make(bad, tmp_path)


def test_a_whole_float_frequency_is_taken_as_an_int(tmp_path):
    ckpt = CheckpointCallback(1e4, tmp_path)
    ev = EvalCallback("CartPole-v1", eval_freq=2e3, n_eval_episodes=5.0)
    assert (ckpt.save_freq, ev.eval_freq, ev.n_eval_episodes) == (10_000, 2_000, 5)
    assert all(type(v) is int for v in (ckpt.save_freq, ev.eval_freq, ev.n_eval_episodes))


# --- 4. a second learn appends to monitor.csv and progress.csv, as SB3's Monitor --------------------------------------
def _monitor(path: Path) -> tuple[str, list[list[float]]]:
    lines = path.read_text().splitlines()
    assert lines[1] == "r,l,t" and "r,l,t" not in lines[2:]  # one header
    return lines[0], [[float(x) for x in line.split(",")] for line in lines[2:]]


def _steps(path: Path) -> list[int]:
    with open(path, newline="") as f:
        return [int(r["time/total_timesteps"]) for r in csv.DictReader(f)]


def test_a_second_learn_appends_to_the_logs(tmp_path):
    kw = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
    agent = PPO("CartPole-v1", seed=0, log_dir=tmp_path, **kw).learn(256)
    header, first = _monitor(tmp_path / "monitor.csv")
    assert len(first) == agent._episode_num > 0 and _steps(tmp_path / "progress.csv") == [64, 128, 192, 256]
    agent.learn(128)  # reset_num_timesteps=True: a new run, its rows after the first run's
    again, rows = _monitor(tmp_path / "monitor.csv")
    assert again == header and rows[: len(first)] == first and len(rows) == len(first) + agent._episode_num
    ts = [r[2] for r in rows]
    assert ts == sorted(ts)  # t goes on
    assert _steps(tmp_path / "progress.csv") == [64, 128, 192, 256, 64, 128]  # steps from 0 again, as SB3's
    PPO("CartPole-v1", seed=0, log_dir=tmp_path, **kw).learn(128)  # another agent: new files (a new Monitor)
    assert len(_monitor(tmp_path / "monitor.csv")[1]) < len(rows) and _steps(tmp_path / "progress.csv") == [64, 128]


def _log_files(folder: Path) -> dict[str, Any]:
    """What two ``learn`` calls leave in a log folder, in terms both implementations share."""
    lines = (folder / "monitor.csv").read_text().splitlines()
    ts = [float(line.split(",")[2]) for line in lines[2:]]
    progress = (folder / "progress.csv").read_text().splitlines()
    return {
        "monitor_headers": [line[:1] == "#" for line in lines].count(True),
        "monitor_column_lines": lines.count("r,l,t"),
        "t_goes_on": ts == sorted(ts),
        "progress_headers": sum(line.startswith(progress[0]) for line in progress),
        "steps": _steps(folder / "progress.csv"),
    }


def test_the_sb3_adapter_keeps_its_logs_across_learns_as_nngyms_agents_do(tmp_path):
    """A second ``learn`` (``reset_num_timesteps=True``) of the SB3 adapter appends to monitor.csv and progress.csv as
    nngym's agents do: one header, ``t`` going on, the first run's rows kept, progress.csv's steps from 0 again."""
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO

    kw = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
    files = {}
    for name, cls in (("nngym", PPO), ("sb3", SB3PPO)):
        agent = cls("CartPole-v1", seed=0, log_dir=tmp_path / name, **kw).learn(256)
        first = _monitor(tmp_path / name / "monitor.csv")[1]
        agent.learn(128)
        rows = _monitor(tmp_path / name / "monitor.csv")[1]
        assert rows[: len(first)] == first and len(rows) > len(first), name  # the first run's episodes, then more
        assert rows[len(first)][2] >= first[-1][2], name  # t goes on from the first run's last row
        files[name] = _log_files(tmp_path / name)
    assert (
        files["sb3"]
        == files["nngym"]
        == {
            "monitor_headers": 1,
            "monitor_column_lines": 1,
            "t_goes_on": True,
            "progress_headers": 1,
            "steps": [64, 128, 192, 256, 64, 128],
        }
    )
    SB3PPO("CartPole-v1", seed=0, log_dir=tmp_path / "sb3", **kw).learn(128)  # another agent: new files, as nngym's
    assert _steps(tmp_path / "sb3" / "progress.csv") == [64, 128]


def test_a_checkpoint_of_a_second_run_resumes_below_the_first_runs_rows(tmp_path):
    kw = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
    agent = PPO("CartPole-v1", seed=0, log_dir=tmp_path / "run", **kw).learn(256)
    first = _monitor(tmp_path / "run" / "monitor.csv")[1]
    ckpt = CheckpointCallback(save_freq=64, save_path=tmp_path / "ckpt", name_prefix="ppo")
    agent.learn(512, callback=ckpt)  # a second run in the same files; checkpoint at 128 of its steps
    whole = _monitor(tmp_path / "run" / "monitor.csv")[1]
    resumed = PPO.load(tmp_path / "ckpt" / "ppo_128_steps.npz", env="CartPole-v1", log_dir=tmp_path / "run")
    kept = len(first) + resumed._episode_num
    resumed.learn(384, reset_num_timesteps=False)
    after = _monitor(tmp_path / "run" / "monitor.csv")[1]
    assert after[:kept] == whole[:kept] and after[: len(first)] == first
    assert len(after) == len(first) + resumed._episode_num
    assert _steps(tmp_path / "run" / "progress.csv") == [64, 128, 192, 256, 64, 128, 192, 256, 320, 384, 448, 512]


# --- 5. predict samples unless deterministic=True; evaluation is deterministic ------------------------------------
@pytest.mark.parametrize("cls", [PPO, A2C, DQN, REINFORCE, RecurrentPPO, RAM])
def test_predict_samples_by_default_as_sb3(cls):
    assert inspect.signature(cls.predict).parameters["deterministic"].default is False


@pytest.mark.parametrize("cls", [PPO, A2C, REINFORCE, RecurrentPPO, DQN])
def test_default_predict_differs_between_generator_states_and_deterministic_does_not(cls):
    agent = cls("CartPole-v1", seed=0, **SMALL[cls])  # untrained: near-uniform actions
    if cls is DQN:
        agent.exploration_rate = 1.0  # a fresh DQN acts greedily (ε = 0, as SB3's); with ε = 1 it samples
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    first, second = agent.predict(obs)[0], agent.predict(obs)[0]
    assert not np.array_equal(first, second)  # samples from two states of agent.rng
    state = agent.rng.bit_generator.state
    greedy = agent.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(greedy, agent.predict(obs, deterministic=True)[0])
    assert agent.rng.bit_generator.state == state  # deterministic actions draw nothing


def test_evaluate_stays_deterministic():
    agent = PPO("CartPole-v1", seed=0, **SMALL[PPO]).learn(64)
    state = agent.rng.bit_generator.state
    first = evaluate(agent, "CartPole-v1", 3, seed=5)
    assert evaluate(agent, "CartPole-v1", 3, seed=5) == first
    assert agent.rng.bit_generator.state == state  # no sample was drawn
    stochastic = run_episodes(agent, "CartPole-v1", 3, deterministic=False, seed=5)
    assert agent.rng.bit_generator.state != state and len(stochastic.returns) == 3


def test_the_sb3_adapter_predict_samples_by_default():
    sb3 = pytest.importorskip("agents.baselines.sb3")
    assert inspect.signature(sb3.SB3Agent.predict).parameters["deterministic"].default is False


# --- 6. an env instance is one env, whatever the Config's default n_envs ---------------------------------------------
def test_an_env_instance_is_one_env_without_n_envs(tmp_path):
    agent = REINFORCE(gym.make("CartPole-v1"), seed=0)  # REINFORCE's default n_envs is 8
    assert agent.n_envs == 1 and agent.config.n_envs == 1
    agent.learn(64)
    saved = REINFORCE("CartPole-v1", seed=0).save(tmp_path / "eight")  # trained on 8 envs
    assert REINFORCE.load(saved, env=gym.make("CartPole-v1")).n_envs == 1
    with pytest.raises(ValueError, match="an env instance can only be used with n_envs=1, got n_envs=4"):
        REINFORCE(gym.make("CartPole-v1"), seed=0, n_envs=4)


def test_a_loaded_dqn_explores_with_the_epsilon_its_run_reached(tmp_path):
    agent = DQN("CartPole-v1", seed=0, exploration_fraction=0.5, exploration_final_eps=0.02, **SMALL[DQN]).learn(64)
    assert agent.exploration_rate == pytest.approx(0.02)
    loaded = DQN.load(agent.save(tmp_path / "dqn"))
    assert loaded.exploration_rate == pytest.approx(0.02)  # not the initial 1.0: predict's default is ε-greedy
    obs = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    greedy = loaded.predict(obs, deterministic=True)[0]
    assert np.mean(loaded.predict(obs)[0] != greedy) < 0.05


def test_a_fresh_dqn_predicts_greedily_and_learn_starts_on_its_schedule():
    """SB3's DQN starts with ε = 0, so a fresh agent's ``predict`` is greedy; ``learn`` acts on the schedule from its
    first step (ε = exploration_initial_eps at progress 1), and a second ``learn`` goes on from where ε was."""
    agent = DQN("CartPole-v1", seed=0, learning_starts=0, exploration_initial_eps=0.9, exploration_fraction=0.5)
    assert agent.exploration_rate == 0.0
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    np.testing.assert_array_equal(agent.predict(obs)[0], agent.predict(obs, deterministic=True)[0])
    rates, act = [], agent._act
    agent._act = lambda o, deterministic: rates.append(agent.exploration_rate) or act(o, deterministic)
    agent.learn(10)
    assert rates[0] == pytest.approx(0.9) and len(rates) == 10
    rates.clear()
    agent.learn(10, reset_num_timesteps=False)  # progress 1 - 10/20 = 0.5 at its first step: ε at the end of decay
    assert rates[0] == pytest.approx(agent.config.exploration_final_eps)


def test_the_sb3_adapter_calls_nngym_callbacks_as_nngym_agents_do():
    """``train.py --impl sb3`` runs nngym's callbacks inside SB3's learn: every hook, SB3's step variables as
    ``locals``, functions wrapped, other objects refused before any step; StopTrainingOnMaxEpisodes stops it."""
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import sb3_agent
    from agents.common.callbacks import StopTrainingOnMaxEpisodes

    class Recorder(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[Any] = []

        def _on_rollout_start(self) -> None:
            self.events.append("rollout_start")

        def _on_step(self) -> bool:
            self.events.append(sorted(set(self.locals) & {"actions", "dones", "infos", "new_obs", "rewards"}))
            return True

        def _on_rollout_end(self) -> None:
            self.events.append("rollout_end")

    agent, recorder = sb3_agent("ppo", "CartPole-v1", 0, n_steps=32, batch_size=32), Recorder()
    agent.learn(64, callback=[recorder, lambda locals_, globals_: True])
    keys = ["actions", "dones", "infos", "new_obs", "rewards"]
    assert recorder.events == (["rollout_start"] + [keys] * 32 + ["rollout_end"]) * 2
    stop = StopTrainingOnMaxEpisodes(2)
    agent.learn(10_000, callback=stop)
    assert agent.num_timesteps < 1000 and stop.n_episodes >= 2
    with pytest.raises(TypeError, match="SB3 PPO.learn: callback.* must be a BaseCallback"):
        agent.learn(64, callback=3)
