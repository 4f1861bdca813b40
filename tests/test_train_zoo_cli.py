"""train.py takes rl-baselines3-zoo's option names and its KEY:VALUE pairs."""

from __future__ import annotations

import json

import pytest

from agents.experiments.cli import parse_key_values
from agents.experiments.train import main, parse_args


def test_zoo_option_names_mean_nngyms():
    zoo = parse_args(
        "--algo ppo --env CartPole-v1 -n 5000 -f logs/ -tb tb/ --save-freq 100 -conf my.yml "
        "-params n_steps:64 learning_rate:lin_0.001".split()
    )
    own = parse_args(
        "--algo ppo --env CartPole-v1 --total-timesteps 5000 --log-dir logs/ --tensorboard-log tb/ "
        "--checkpoint-freq 100 --hyperparams-file my.yml -p n_steps:64 learning_rate:lin_0.001".split()
    )
    assert vars(zoo) == vars(own)
    assert (zoo.total_timesteps, zoo.log_dir, zoo.tensorboard_log) == (5000, "logs/", "tb/")
    assert (zoo.checkpoint_freq, zoo.hyperparams_file) == (100, "my.yml")


def test_key_value_pairs_split_at_the_first_equals_sign_or_colon():
    pairs = [
        "n_steps:64",
        "gamma=0.98",
        "policy_kwargs:dict(net_arch=[64, 64])",
        "policy_kwargs2=dict(net_arch=[32])",
        "normalize:{'norm_obs': True}",
        "env_wrapper=gymnasium.wrappers:TimeLimit",
    ]
    assert parse_key_values(pairs, "-p") == {
        "n_steps": 64,
        "gamma": 0.98,
        "policy_kwargs": "dict(net_arch=[64, 64])",
        "policy_kwargs2": "dict(net_arch=[32])",
        "normalize": {"norm_obs": True},
        "env_wrapper": "gymnasium.wrappers:TimeLimit",
    }
    with pytest.raises(SystemExit, match=r"expected KEY=VALUE \(or the zoo's KEY:VALUE\), got 'n_steps'"):
        parse_key_values(["n_steps"], "-p")
    with pytest.raises(SystemExit, match="got ':64'"):
        parse_key_values([":64"], "-p")


def test_a_zoo_command_line_trains(tmp_path):
    out = main(
        f"--algo ppo --env CartPole-v1 -n 128 -f {tmp_path} --seed 0 --no-progress --n-eval-episodes 1 "
        "-params n_steps:32 batch_size:32".split()
    )
    run = tmp_path / "ppo_CartPole-v1_s0"
    assert json.loads((run / "eval.json").read_text())["n_eval_episodes"] == 1
    assert out is not None
    from agents import PPO

    assert PPO.load(run / "model.npz").config.n_steps == 32


def test_run_folders_of_module_env_ids_hold_no_colon():
    from agents.experiments.cli import env_slug

    assert env_slug("nngym/Catch-v0") == "nngym-Catch-v0"
    assert env_slug("my_envs:MyEnv-v0") == "my_envs-MyEnv-v0"  # ":" is not allowed in Windows names
