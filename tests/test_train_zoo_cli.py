"""train.py takes rl-baselines3-zoo's option names and its KEY:VALUE pairs."""

from __future__ import annotations

import json

import pytest

from agents.experiments.cli import parse_key_values
from agents.experiments.train import main, parse_args


def test_zoo_option_names_mean_nngyms():
    zoo = parse_args(
        "--algo ppo --env CartPole-v1 -n 5000 -f logs/ -tb tb/ -conf my.yml "
        "-params n_steps:64 learning_rate:lin_0.001".split()
    )
    own = parse_args(
        "--algo ppo --env CartPole-v1 --total-timesteps 5000 --log-dir logs/ --tensorboard-log tb/ "
        "--hyperparams-file my.yml -p n_steps:64 learning_rate:lin_0.001".split()
    )
    typed = vars(zoo).pop("_alias_flags")  # the flags as typed, for messages
    assert typed == {"total_timesteps": "-n", "log_dir": "-f", "tensorboard_log": "-tb", "hyperparams_file": "-conf"}
    assert vars(zoo) == vars(own)
    assert (zoo.total_timesteps, zoo.log_dir, zoo.tensorboard_log) == (5000, "logs/", "tb/")
    assert zoo.hyperparams_file == "my.yml"


def test_save_freq_counts_env_steps_as_the_zoos_does(tmp_path):
    """The zoo's --save-freq is in env steps (a checkpoint every save_freq // n_envs vector steps); nngym's
    --checkpoint-freq in vector steps; -1 turns the zoo's off, and -n -1 is the yml's n_timesteps."""
    common = f"--algo ppo --env CartPole-v1 -f {tmp_path} --no-progress --n-eval-episodes 0".split()
    tiny = "-params n_envs:2 n_steps:16 batch_size:32 n_epochs:1".split()
    main([*common, "-n", "128", "--save-freq", "64", *tiny])
    checkpoints = tmp_path / "ppo_CartPole-v1_s0" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["ppo_128_steps.npz", "ppo_64_steps.npz"]
    for p in checkpoints.iterdir():
        p.unlink()
    main([*common, "-n", "128", "--checkpoint-freq", "32", *tiny])  # 32 vector steps of 2 envs
    assert sorted(p.name for p in checkpoints.iterdir()) == ["ppo_128_steps.npz", "ppo_64_steps.npz"]
    (tmp_path / "ppo.yml").write_text("CartPole-v1:\n  n_timesteps: 64\n  n_envs: 2\n  n_steps: 16\n  batch_size: 32\n")
    out = main([*common, "--seed", "1", "-n", "-1", "--save-freq", "-1", "-conf", str(tmp_path / "ppo.yml")])
    assert out["total_timesteps"] == 64
    assert not (tmp_path / "ppo_CartPole-v1_s1" / "checkpoints").exists()
    with pytest.raises(SystemExit, match="give one of them"):
        main([*common, "--save-freq", "64", "--checkpoint-freq", "32"])


def test_repeated_override_options_add_up():
    args = parse_args("-params n_steps:64 -p gamma=0.9 --env-kwargs a=1 --env-kwargs b=2 --eval-env-kwargs c=3".split())
    assert args.hyperparams == ["n_steps:64", "gamma=0.9"]
    assert args.env_kwargs == ["a=1", "b=2"]
    assert args.eval_env_kwargs == ["c=3"]
    again = parse_args("-p n_steps:64 -params gamma:0.9 --eval-env-kwargs c=3 --eval-env-kwargs d=4".split())
    assert again.hyperparams == ["n_steps:64", "gamma:0.9"]
    assert again.eval_env_kwargs == ["c=3", "d=4"]


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


def test_overrides_take_the_agents_own_arguments_besides_the_config():
    from agents.experiments.train import run_hyperparameters

    run = run_hyperparameters(
        "ppo", "nngym/DigitClassify-v0", None, ["net=dbn", "dbn_kwargs={n_obs: 64, sizes: [8]}", "stats_window_size=10"]
    )
    assert run.agent["dbn_kwargs"] == {"n_obs": 64, "sizes": [8]} and run.agent["stats_window_size"] == 10
