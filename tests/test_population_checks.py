"""What a population takes and gives back: members at one point of training and of one number of envs, copies of a
member on envs made as its own, a DQN member's normaliser as its single run's, a callback's ``training_env`` and
``logger`` over the members, progress.csv's columns in the single run's order, seed-labelled log tables, and the
clear errors for a file object where a population's folder goes."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from agents import A2C, DQN, PPO, load_population
from agents.common.callbacks import BaseCallback
from agents.common.population import Population, PopulationEnvs
from nngym.serialization import ModelFileError

PPO_HP = {"n_envs": 1, "n_steps": 16, "batch_size": 16, "n_epochs": 1}
DQN_HP = {"n_envs": 1, "learning_starts": 16, "train_freq": 4, "batch_size": 8, "target_update_interval": 8}


def flat_params(agent) -> np.ndarray:
    source = agent.q_net if hasattr(agent, "q_net") else agent.policy
    return np.concatenate([p.ravel() for _, p, _ in source.named_params()]).astype(np.float64)


def same_step_vec(n: int) -> gym.vector.VectorEnv:
    return gym.make_vec(
        "CartPole-v1",
        num_envs=n,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )


# --- members at one point of training -----------------------------------------------------------------------------
def test_members_at_different_env_steps_are_refused_naming_each_members_counters():
    ahead = PPO("CartPole-v1", seed=0, **PPO_HP).learn(32)  # 2 rollouts, 2 optimiser steps
    fresh = PPO("CartPole-v1", seed=1, **PPO_HP)
    message = (
        r"their counters differ: seed 0: num_timesteps=32, optimizer\.t=2, n_updates=2; "
        r"seed 1: num_timesteps=0, optimizer\.t=0, n_updates=0"
    )
    with pytest.raises(ValueError, match=message):
        Population.from_members([ahead, fresh])
    level = PPO("CartPole-v1", seed=1, **PPO_HP).learn(32)  # at the same step: taken, and trained as the single runs
    pop = Population.from_members([ahead, level])
    pop.learn(32, reset_num_timesteps=False)
    single = PPO("CartPole-v1", seed=1, **PPO_HP).learn(32).learn(32, reset_num_timesteps=False)
    np.testing.assert_allclose(flat_params(pop.members[1]), flat_params(single), rtol=1e-5, atol=1e-7)


def test_dqn_members_whose_calls_and_updates_differ_at_one_env_step_are_refused():
    """Two runs of 64 steps, one of them after an earlier run: equal ``num_timesteps``, but its target updates and
    training calls (``n_calls``) and Adam's step count are ahead."""
    again = DQN("CartPole-v1", seed=0, **DQN_HP).learn(64)
    again.learn(64)  # reset_num_timesteps: 64 env steps again, 128 calls
    once = DQN("CartPole-v1", seed=1, **DQN_HP).learn(64)
    assert again.num_timesteps == once.num_timesteps == 64
    with pytest.raises(
        ValueError, match=r"seed 0: num_timesteps=64, .*n_calls=128; seed 1: num_timesteps=64, .*n_calls=64"
    ):
        Population.from_members([again, once])


def test_load_population_refuses_member_files_saved_at_different_steps(tmp_path):
    folder = tmp_path / "pop"
    folder.mkdir()
    PPO("CartPole-v1", seed=0, **PPO_HP).learn(32).save(folder / "s0.npz")
    PPO("CartPole-v1", seed=1, **PPO_HP).save(folder / "s1.npz")
    index = {"format": "nngym.population", "algorithm": "PPO", "seeds": [0, 1], "files": ["s0.npz", "s1.npz"]}
    (folder / "population.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="seed 0: num_timesteps=32.*seed 1: num_timesteps=0"):
        load_population(PPO, folder, env="CartPole-v1")


def test_members_with_vector_envs_of_different_sizes_are_refused_naming_each_size():
    with pytest.raises(ValueError, match=r"the same number of envs .*got num_envs seed 0: 2, seed 1: 3"):
        PPO([same_step_vec(2), same_step_vec(3)], seed=[0, 1], n_steps=16, batch_size=16)


# --- a member's copy and its envs ---------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date:DeprecationWarning")
def test_a_members_copy_gets_envs_made_as_that_members_own():
    envs = [gym.make("CartPole-v1", max_episode_steps=20), gym.make("CartPole-v0")]
    pop = PPO(envs, seed=[0, 1], **PPO_HP).learn(32)
    specs = [pop.member(k).get_env().get_attr("spec")[0] for k in range(2)]
    assert (specs[0].id, specs[0].max_episode_steps) == ("CartPole-v1", 20)
    assert (specs[1].id, specs[1].max_episode_steps) == ("CartPole-v0", 200)
    copy = pop.member(0)
    copy.learn(400, reset_num_timesteps=False)
    assert max(e["l"] for e in copy.ep_info_buffer) == 20  # the member's time limit, not CartPole-v1's 500
    pop = PPO("CartPole-v1", seed=[0, 1], n_envs=3, n_steps=16, batch_size=16, n_epochs=1)
    assert pop.member(1).get_env().num_envs == 3


def test_a_members_copy_without_a_spec_to_make_its_env_from_has_no_env_and_a_warning():
    pop = PPO([CartPoleEnv(), CartPoleEnv()], seed=[0, 1], **PPO_HP)
    with pytest.warns(
        UserWarning, match=r"population.member\(1\) \(seed 1\) has no env: its env 0 has no spec.*set_env"
    ):
        copy = pop.member(1)
    assert copy.get_env() is None
    np.testing.assert_array_equal(flat_params(copy), flat_params(pop.members[1]))
    copy.set_env(CartPoleEnv())
    copy.learn(16)
    assert copy.num_timesteps == 16


# --- a DQN member's normaliser ------------------------------------------------------------------------------------
def test_dqn_members_original_observations_and_rewards_are_their_single_runs():
    hp = {**DQN_HP, "n_envs": 2, "normalize_obs": True, "normalize_reward": True}
    pop = DQN("CartPole-v1", seed=[0, 1], **hp).learn(100)
    for k, seed in enumerate((0, 1)):
        single = DQN("CartPole-v1", seed=seed, **hp).learn(100)
        member, alone = pop.members[k].get_vec_normalize_env(), single.get_vec_normalize_env()
        np.testing.assert_array_equal(member.get_original_obs(), alone.get_original_obs())
        np.testing.assert_array_equal(member.get_original_reward(), alone.get_original_reward())
        assert member.get_original_reward().shape == (2,)


# --- a callback's training_env and logger -------------------------------------------------------------------------
def test_training_env_reaches_the_envs_of_all_members_in_member_order():
    pop = PPO("CartPole-v1", seed=[0, 1], n_envs=2, n_steps=8, batch_size=8, n_epochs=1)
    seen: dict[str, object] = {}

    class Probe(BaseCallback):
        def _on_training_start(self) -> None:
            seen["specs"] = self.training_env.get_attr("spec")

        def _on_step(self) -> bool:
            return True

    pop.learn(8, callback=Probe())
    assert [s.id for s in seen["specs"]] == ["CartPole-v1"] * 4
    env = pop.get_env()
    assert isinstance(env, PopulationEnvs)
    assert env.observation_space.shape == (4, 4) and env.action_space.shape == (4,)
    assert env.observation_space == gym.vector.utils.batch_space(pop.observation_space, 4)
    env.set_attr("tag", ["a", "b", "c", "d"])  # env i is env i % 2 of member i // 2
    assert env[1].get_attr("tag") == ("c", "d") and env.get_attr("tag", indices=[3, 0]) == ("d", "a")
    env.set_attr("tag", ["x", "y"], indices=[1, 2])
    assert env.get_attr("tag") == ("a", "x", "y", "d")
    env.set_attr("tag", "z", indices=-1)
    assert env.call("tag") == ("a", "x", "y", "z")
    assert env.env_method("get_wrapper_attr", "tag", indices=[2, 1]) == ["y", "x"]
    with pytest.raises(ValueError, match=r"PopulationEnvs.get_attr: indices must be .*in \[0, 4\)"):
        env.get_attr("tag", indices=4)
    with pytest.raises(ValueError, match=r"one value per env \(2\), got 3 values"):
        env.set_attr("tag", [1, 2, 3], indices=[0, 1])
    for name in ("reset", "step", "close"):
        with pytest.raises(AttributeError, match=rf"has no '{name}'.*training_env\[k\]\.{name}"):
            getattr(env, name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        env.no_such_thing  # noqa: B018


def test_training_env_renders_every_members_frames():
    envs = [gym.make("CartPole-v1", render_mode="rgb_array") for _ in range(3)]
    pop = PPO(envs, seed=[0, 1, 2], **PPO_HP)
    env = pop.get_env()
    for e in env:
        e.reset(seed=0)
    frames = env.render()
    assert len(frames) == 3 and all(f.shape == (400, 600, 3) for f in frames)
    assert env.render("rgb_array").shape == (800, 1200, 3)  # 3 frames in a 2 x 2 grid, SB3's tiling
    with pytest.raises(ValueError, match="mode must be None .* or 'rgb_array'"):
        env.render("human")


def test_a_populations_logger_names_the_members_loggers_for_what_is_each_members_own(tmp_path):
    pop = A2C("CartPole-v1", seed=[0, 1], n_envs=1, n_steps=5, log_dir=tmp_path)
    pop.learn(10)
    for name in ("get_dir", "name_to_value"):
        with pytest.raises(AttributeError, match=rf"has no '{name}'.*model\.members\[k\]\.logger\.{name}"):
            getattr(pop.logger, name)
    assert pop.members[1].logger.get_dir() == str(tmp_path / "s1")
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        pop.logger.no_such_thing  # noqa: B018


# --- progress.csv and the stdout tables ---------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "hp"), [(PPO, PPO_HP), (A2C, {"n_envs": 1, "n_steps": 5, "log_interval": 2})])
def test_a_members_progress_csv_has_its_single_runs_columns_in_their_order(cls, hp, tmp_path):
    cls("CartPole-v1", seed=[0, 1], log_dir=tmp_path / "pop", **hp).learn(64)
    cls("CartPole-v1", seed=1, log_dir=tmp_path / "single", **hp).learn(64)
    headers = [(tmp_path / d / "progress.csv").read_text().splitlines()[0] for d in ("pop/s1", "single")]
    assert headers[0] == headers[1]
    assert "train/n_updates" in headers[0].split(",")
    with open(tmp_path / "pop" / "s1" / "progress.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) > 1


@pytest.mark.parametrize(("cls", "hp"), [(PPO, PPO_HP), (DQN, {**DQN_HP, "log_interval": 1})])
def test_verbose_members_tables_are_labelled_with_their_seeds(cls, hp, capsys):
    pop = cls("CartPole-v1", seed=[3, 5], verbose=1, **hp)
    pop.learn(64)
    out = capsys.readouterr().out
    tables = out.count("time/")
    assert tables > 2 and out.count("seed 3:\n") + out.count("seed 5:\n") == tables
    labels = re.findall(r"^seed (\d+):\n-+\n", out, flags=re.MULTILINE)  # each label right before its table
    assert len(labels) == tables and set(labels) == {"3", "5"}
    pop.dump_logs()
    assert capsys.readouterr().out.startswith("seed 3:\n---")


# --- files --------------------------------------------------------------------------------------------------------
def test_a_file_object_is_refused_where_a_populations_folder_goes():
    pop = PPO("CartPole-v1", seed=[0, 1], **PPO_HP)
    with pytest.raises(TypeError, match=r"PPO population.save: a population is a folder .*got BytesIO.*PPO\.load"):
        pop.save(io.BytesIO())
    with pytest.raises(TypeError, match="load_population: a population is a folder .*got BytesIO"):
        load_population(PPO, io.BytesIO())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        member = io.BytesIO()
        pop.members[1].save(member)  # one member to a file object, as the message says
        member.seek(0)
        np.testing.assert_array_equal(flat_params(PPO.load(member)), flat_params(pop.members[1]))


def test_plain_path_types_are_taken(tmp_path):
    pop = PPO("CartPole-v1", seed=[0, 1], **PPO_HP)
    assert pop.save(str(tmp_path / "a")) == Path(tmp_path / "a")
    assert load_population(PPO, tmp_path / "a").seeds == [0, 1]


def test_loading_a_population_as_one_model_names_its_algorithm_and_folder(tmp_path):
    DQN("CartPole-v1", seed=[0, 1], **DQN_HP).save(tmp_path / "dqn")
    with pytest.raises(ModelFileError, match=r"load_population\(DQN, .*its members are DQN agents, not PPO"):
        PPO.load(tmp_path / "dqn")
    PPO("CartPole-v1", seed=[0, 1], **PPO_HP).save(tmp_path / "ppo.npz")
    with pytest.raises(FileNotFoundError, match=r"wrote the population's folder .*ppo'.*load_population\(PPO"):
        PPO.load(tmp_path / "ppo.npz")
