"""Callbacks on a population (``A2C("CartPole-v1", seed=[0, 1])``): ``training_env`` is the members' envs as one,
``logger`` writes into every member's progress.csv, ``StopTrainingOnMaxEpisodes`` counts the episodes of all K·n_envs
envs, ``EvalCallback`` evaluates each member into the files its single run would get (and, used again on another
model, starts afresh), and the callbacks that need one policy or one run's evaluations are refused before training.
``load_population`` warns once for the callable schedules its members' files hold as their last values."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents import A2C, PPO, load_population
from agents.common.callbacks import (
    AccuracyCallback,
    BaseCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from agents.common.config import SavedSchedule
from agents.common.population import Population, PopulationEnvs

HP = {"n_envs": 2, "n_steps": 4, "log_interval": 1}  # a row of progress.csv per rollout of 4 vector steps
SEEDS = [0, 1]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_training_env_is_the_members_envs_and_logger_writes_every_members_progress_csv(tmp_path):
    class SB3Style(BaseCallback):
        def _init_callback(self) -> None:
            self.env = self.training_env

        def _on_rollout_end(self) -> None:
            self.logger.record("custom/calls", self.n_calls)
            self.logger.record("custom/hidden", 1.0, exclude=("csv",))
            self.logger.record_mean("custom/mean", 1.0)
            self.logger.record_mean("custom/mean", 4.0)

        def _on_training_end(self) -> None:
            self.logger.record("custom/end", self.num_timesteps)
            self.logger.dump(self.num_timesteps)  # the population's steps: each member writes at its own

    pop = A2C("CartPole-v1", seed=SEEDS, log_dir=tmp_path, **HP)
    cb = SB3Style()
    pop.learn(16, callback=cb)
    env = cb.env
    assert isinstance(env, PopulationEnvs) and env.num_envs == 4 == pop.n_envs and len(env) == 2
    assert env[1] is pop.members[1].get_env() and list(env) == [m.get_env() for m in pop.members]
    assert env.single_observation_space == pop.observation_space == pop.members[0].observation_space
    for seed in SEEDS:
        rows = _rows(tmp_path / f"s{seed}" / "progress.csv")
        assert [r["time/total_timesteps"] for r in rows] == ["8", "16", "16"]  # 2 rollouts, then the dump at the end
        assert [r["custom/calls"] for r in rows] == ["4", "8", ""]
        assert [r["custom/mean"] for r in rows] == ["2.5", "2.5", ""]
        assert rows[-1]["custom/end"] == "32" and "custom/hidden" not in rows[0]  # the callback's count: both members'


def test_stop_training_on_max_episodes_counts_the_episodes_of_all_the_populations_envs():
    seen: list[int] = []

    class Episodes(BaseCallback):
        def _on_step(self) -> bool:
            seen.append(int(np.sum(self.locals["dones"])))
            return True

    stop = StopTrainingOnMaxEpisodes(max_episodes=2)
    pop = A2C("CartPole-v1", seed=SEEDS, **HP).learn(10_000, callback=[Episodes(), stop])
    assert stop._total_max_episodes == 2 * 4  # 2 per env of the population's 2 x 2 envs
    assert stop.n_episodes == sum(m._episode_num for m in pop.members) == sum(seen) >= 8
    assert sum(seen[:-1]) < 8  # stopped at the step the eighth episode ended
    assert pop.num_timesteps == 4 * len(seen) < 20_000


def test_eval_callback_evaluates_each_member_as_its_single_run_is_evaluated(tmp_path):
    ev = EvalCallback(
        "CartPole-v1",
        eval_freq=4,
        n_eval_episodes=2,
        log_path=tmp_path / "eval",
        best_model_save_path=tmp_path / "best",
    )
    pop = A2C("CartPole-v1", seed=SEEDS, log_dir=tmp_path / "logs", **HP).learn(16, callback=ev)
    assert ev.timesteps == [[8, 8], [16, 16]]  # each member's own env steps
    assert np.shape(ev.results) == (2, 2, 2) and ev.best_mean_reward.shape == (2,)
    for k, seed in enumerate(SEEDS):
        single = EvalCallback("CartPole-v1", eval_freq=4, n_eval_episodes=2, log_path=tmp_path / f"single{seed}")
        A2C("CartPole-v1", seed=seed, **HP).learn(16, callback=single)
        with (
            np.load(tmp_path / "eval" / f"s{seed}" / "evaluations.npz") as got,
            np.load(tmp_path / f"single{seed}" / "evaluations.npz") as want,
        ):
            for key in ("timesteps", "results", "ep_lengths"):
                np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        assert ev.best_mean_reward[k] == single.best_mean_reward and ev.last_mean_reward[k] == single.last_mean_reward
        means = np.mean(single.results, axis=1)
        rows = _rows(tmp_path / "logs" / f"s{seed}" / "progress.csv")  # each evaluation's row, then the member's
        assert [r["time/total_timesteps"] for r in rows] == ["8", "8", "16", "16"]
        assert [float(r["eval/mean_reward"]) for r in rows[::2]] == pytest.approx(means, rel=1e-3)
        assert [r["eval/mean_reward"] for r in rows[1::2]] == ["", ""]
        best = A2C.load(tmp_path / "best" / f"s{seed}" / "best_model.npz")
        assert best.seed == seed and best.num_timesteps == single.timesteps[int(np.argmax(means))]
        assert best.optimizer.t == best._n_updates  # the member's optimiser state, synced from the stacked one
    assert pop.num_timesteps == 32


@pytest.mark.parametrize(
    ("callback", "message"),
    [
        (
            lambda: AccuracyCallback(10),
            "AccuracyCallback cannot run on Population(A2C, seeds=[0, 1]): a population has",
        ),
        (
            lambda: EvalCallback("CartPole-v1", callback_on_new_best=StopTrainingOnRewardThreshold(100)),
            "EvalCallback cannot run on Population(A2C, seeds=[0, 1]): its callback_on_new_best follow one run's",
        ),
        (
            lambda: EvalCallback("CartPole-v1", callback_after_eval=StopTrainingOnNoModelImprovement(2)),
            "its callback_after_eval follow one run's evaluations, but a population has one per member",
        ),
        (lambda: EvalCallback("Pendulum-v1"), "the eval env's spaces Box"),
    ],
    ids=["accuracy", "on_new_best", "after_eval", "other_spaces"],
)
def test_what_cannot_run_on_a_population_is_refused_before_training(callback, message, tmp_path):
    pop = A2C("CartPole-v1", seed=SEEDS, log_dir=tmp_path, **HP)
    with pytest.raises(ValueError, match=re.escape(message)):
        pop.learn(16, callback=callback())
    assert pop.num_timesteps == 0 and not list(tmp_path.iterdir())  # no step, no log file


MAKE = {
    "population": lambda: A2C("CartPole-v1", seed=SEEDS, **HP),
    "single": lambda: A2C("CartPole-v1", seed=SEEDS[0], **HP),
}


def _evaluations(ev: EvalCallback) -> dict[str, object]:
    """What an EvalCallback holds of the evaluations it made."""
    best, last = (np.asarray(v).tolist() for v in (ev.best_mean_reward, ev.last_mean_reward))
    return {"steps": ev.timesteps, "returns": ev.results, "lengths": ev.ep_lengths, "best": best, "last": last}


def _npz_files(log_path: Path, kind: str) -> dict[str, dict[str, list]]:
    """The evaluations.npz files an EvalCallback wrote under ``log_path`` for a model of ``kind``, as lists."""
    files = ["evaluations.npz"] if kind == "single" else [f"s{seed}/evaluations.npz" for seed in SEEDS]
    out = {}
    for name in files:
        with np.load(log_path / name) as data:
            out[name] = {key: data[key].tolist() for key in data.files}
    return out


@pytest.mark.parametrize("order", [("population", "single"), ("single", "population")])
def test_an_eval_callback_used_on_a_population_and_a_single_agent_evaluates_each_as_a_new_one(order, tmp_path):
    """Given another model, a used EvalCallback starts afresh, as a new one would; given the same model, trained on,
    it goes on with its evaluations (SB3's)."""
    kw = {"eval_freq": 4, "n_eval_episodes": 2}
    used = EvalCallback("CartPole-v1", log_path=tmp_path / "used", **kw)
    for kind in order:
        fresh = EvalCallback("CartPole-v1", log_path=tmp_path / kind, **kw)
        MAKE[kind]().learn(16, callback=fresh)
        model = MAKE[kind]().learn(16, callback=used)
        assert _evaluations(used) == _evaluations(fresh) and used.n_calls == fresh.n_calls == 8, kind
        assert _npz_files(tmp_path / "used", kind) == _npz_files(tmp_path / kind, kind)
    model.learn(16, callback=used, reset_num_timesteps=False)
    twice = EvalCallback("CartPole-v1", **kw)
    again = MAKE[order[1]]().learn(16, callback=twice)
    again.learn(16, callback=twice, reset_num_timesteps=False)
    assert len(used.timesteps) == 4 and _evaluations(used) == _evaluations(twice)


# --- load_population: one warning for the callable schedules of all the members -------------------------------------
def lr_fn(progress: float) -> float:
    return 1e-3 * (0.5 + progress)


def clip_fn(progress: float) -> float:
    return 0.1 + 0.1 * progress


def _load(folder: Path, **kwargs: Any) -> tuple[Population, list[str]]:
    """``load_population(PPO, folder, **kwargs)`` and the messages of the schedule warnings it gave (each one's
    location checked: the caller's line)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pop = load_population(PPO, folder, **kwargs)
    caught = [w for w in record if "a model file cannot hold a function" in str(w.message)]
    assert all(w.category is UserWarning and w.filename == __file__ for w in caught)
    return pop, [str(w.message) for w in caught]


def test_load_population_warns_once_for_the_callable_schedules_of_all_its_members(tmp_path):
    hp = {"n_steps": 32, "n_envs": 2, "batch_size": 64, "n_epochs": 1, "learning_rate": lr_fn, "clip_range": clip_fn}
    folder = PPO("CartPole-v1", seed=[0, 1, 2], **hp).learn(128).save(tmp_path / "pop")
    lr, clip = SavedSchedule("lr_fn", lr_fn(0.0), 0.0), SavedSchedule("clip_fn", clip_fn(0.0), 0.0)  # the last values

    pop, (message,) = _load(folder)
    assert message == (
        f"{folder}: a model file cannot hold a function: in the files of all 3 members (seeds [0, 1, 2]), "
        "learning_rate was the callable lr_fn and is now the constant 0.0005 (its value at progress_remaining 0, the "
        "last update); clip_range was the callable clip_fn and is now the constant 0.1 (its value at "
        "progress_remaining 0, the last update). To restore them: "
        "load_population(PPO, path, custom_objects={'learning_rate': <function>, 'clip_range': <function>})"
    )
    assert [(m.config.learning_rate, m.config.clip_range) for m in pop.members] == [(lr, clip)] * 3

    pop, (message,) = _load(folder, custom_objects={"learning_rate": lr_fn})  # one function given back
    assert "clip_range was the callable clip_fn" in message and "learning_rate" not in message
    assert [(m.config.learning_rate, m.config.clip_range) for m in pop.members] == [(lr_fn, clip)] * 3

    pop, messages = _load(folder, custom_objects={"learning_rate": lr_fn}, clip_range=0.2)  # the other as a keyword
    assert messages == [] and [(m.config.learning_rate, m.config.clip_range) for m in pop.members] == [(lr_fn, 0.2)] * 3
