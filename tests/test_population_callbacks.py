"""Callbacks on a population (``A2C("CartPole-v1", seed=[0, 1])``): ``training_env`` is the members' envs as one,
``logger`` writes into every member's progress.csv, ``StopTrainingOnMaxEpisodes`` counts the episodes of all K·n_envs
envs, ``EvalCallback`` evaluates each member into the files its single run would get, and the callbacks that need
one policy or one run's evaluations are refused before training."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from agents import A2C
from agents.common.callbacks import (
    AccuracyCallback,
    BaseCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from agents.common.population import PopulationEnvs

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
        rows = _rows(tmp_path / "logs" / f"s{seed}" / "progress.csv")
        assert [float(r["eval/mean_reward"]) for r in rows] == pytest.approx(means, rel=1e-3)
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
