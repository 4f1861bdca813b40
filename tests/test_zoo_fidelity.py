"""rl-baselines3-zoo's meanings in train.py, enjoy.py and the hyperparameter files: the ``default`` / ``atari`` entries
for env ids without their own, ``--eval-freq`` in env steps, enjoy's deterministic actions but on Atari and MiniGrid,
``frame_stack`` refused with normalised observations, and VecNormalize's settings in ``normalize``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents import ALGOS, PPO
from agents.common.hyperparams import (
    HYPERPARAMS_DIR,
    HyperparamsError,
    deterministic_by_default,
    is_atari,
    is_minigrid,
    load_hyperparams,
)
from agents.experiments import enjoy, train

ZOO = HYPERPARAMS_DIR / "zoo"
#: a tiny PPO: 4 envs of 8 steps a rollout
TINY = ["n_envs=4", "n_steps=8", "batch_size=32", "n_epochs=1"]


def fields(algo: str) -> list[str]:
    return [f.name for f in dataclasses.fields(ALGOS[algo].Config)]


def _minigrid_cartpole(**kwargs: object) -> gym.Env:
    """CartPole under an entry point whose text holds "minigrid", as MiniGrid's envs' do."""
    return gym.make("CartPole-v1", **kwargs)


@pytest.fixture
def lookalikes() -> Iterator[tuple[str, str]]:
    """An id registered with ale_py's AtariEnv entry point (never made) and a MiniGrid-like CartPole."""
    gym.register("TestAtariLike-v5", entry_point="ale_py.env:AtariEnv")
    gym.register("TestMinigridLike-v0", entry_point=_minigrid_cartpole)
    try:
        yield "TestAtariLike-v5", "TestMinigridLike-v0"
    finally:
        del gym.registry["TestAtariLike-v5"], gym.registry["TestMinigridLike-v0"]


# --- 1. the zoo's fallback entries ----------------------------------------------------------------------------------


def test_an_env_without_an_entry_gets_the_zoo_files_default_entry(capsys):
    hp = load_hyperparams("ppo", "FrozenLake-v1", ZOO / "ppo.yml", fields("ppo"))
    assert hp == {"n_timesteps": 1_000_000, "net": "mlp"}  # the zoo's 'default': MlpPolicy, 1e6 steps
    assert (
        capsys.readouterr().out
        == f"Using 'default' hyperparameters ({ZOO / 'ppo.yml'} has no entry for FrozenLake-v1)\n"
    )
    assert load_hyperparams("dqn", "FrozenLake-v1", ZOO / "dqn.yml", fields("dqn")) == hp
    assert capsys.readouterr().out.startswith(f"Using 'default' hyperparameters ({ZOO / 'dqn.yml'} has no entry")
    # an entry of its own wins, and prints nothing
    assert load_hyperparams("ppo", "CartPole-v1", ZOO / "ppo.yml", fields("ppo"))["n_steps"] == 32
    assert capsys.readouterr().out == ""


def test_nngyms_own_files_have_no_default_entry_and_still_refuse(tmp_path):
    with pytest.raises(HyperparamsError, match=r"no ppo hyperparameters for 'FrozenLake-v1', nor a 'default' entry"):
        load_hyperparams("ppo", "FrozenLake-v1")
    path = tmp_path / "ppo.yml"
    path.write_text("default:\n  gamma: 0.9\n  normalize: true\nCartPole-v1:\n  gamma: 0.95\n")
    assert load_hyperparams("ppo", "FrozenLake-v1", path) == {
        "gamma": 0.9,
        "normalize_obs": True,
        "normalize_reward": True,
    }
    assert load_hyperparams("ppo", "CartPole-v1", path) == {"gamma": 0.95}
    path.write_text("default:\n  gama: 0.9\n")  # an error in the fallback entry names it and the env it serves
    with pytest.raises(HyperparamsError, match=r"ppo.yml: default \(used for 'FrozenLake-v1', which has no entry\): "):
        load_hyperparams("ppo", "FrozenLake-v1", path, fields("ppo"))


def test_atari_envs_get_the_atari_entry_by_the_zoos_rule(lookalikes, tmp_path, capsys):
    atari, minigrid = lookalikes
    assert (is_atari(atari), is_atari(minigrid), is_atari("CartPole-v1"), is_atari("Unregistered-v0")) == (
        True,
        False,
        False,
        False,
    )
    hp = load_hyperparams("ppo", atari, ZOO / "ppo.yml", fields("ppo"))
    assert hp["net"] == "cnn" and hp["frame_stack"] == 4 and (hp["n_envs"], hp["n_steps"]) == (8, 128)
    assert hp["env_wrapper"] == ["stable_baselines3.common.atari_wrappers.AtariWrapper"]
    assert capsys.readouterr().out == f"Using 'atari' hyperparameters ({ZOO / 'ppo.yml'} has no entry for {atari})\n"
    # what the atari entry holds that nngym cannot honour is named with the entry and the env id
    with pytest.raises(HyperparamsError, match=rf"a2c.yml: atari \(used for '{atari}', which has no entry\): policy"):
        load_hyperparams("a2c", atari, ZOO / "a2c.yml", fields("a2c"))
    path = tmp_path / "ppo.yml"
    path.write_text("default:\n  gamma: 0.9\n")  # the zoo never gives an Atari env the 'default' entry
    with pytest.raises(HyperparamsError, match=rf"for '{atari}', an Atari env, nor an 'atari' entry"):
        load_hyperparams("ppo", atari, path)


def test_train_runs_an_env_without_an_entry_on_the_zoo_files_default(tmp_path, capsys):
    argv = ["--algo", "ppo", "--env", "FrozenLake-v1", "--hyperparams-file", str(ZOO / "ppo.yml")]
    result = train.main([*argv, "--total-timesteps", "32", "--no-progress", "--log-dir", str(tmp_path), "-p", *TINY])
    assert "Using 'default' hyperparameters" in capsys.readouterr().out
    assert result["total_timesteps"] == 32 and result["hyperparams"]["net"] == "mlp"


# --- 2. --eval-freq in env steps ---------------------------------------------------------------------------------


def _evaluated_at(tmp_path: Path, eval_freq: str, total: int) -> list[int]:
    argv = ["--algo", "ppo", "--env", "CartPole-v1", "--total-timesteps", str(total), "--no-progress"]
    argv += ["--log-dir", str(tmp_path), "--n-eval-episodes", "0", "--eval-episodes", "1", "--eval-freq", eval_freq]
    train.main([*argv, "-p", *TINY])
    return [int(t) for t in np.load(tmp_path / "ppo_CartPole-v1_s0" / "evaluations.npz")["timesteps"]]


def test_eval_freq_counts_env_steps_as_the_zoos_does(tmp_path):
    # 4 envs: 100 env steps -> every 25 vector steps; fewer than n_envs -> every vector step (at least 1)
    assert _evaluated_at(tmp_path / "a", "100", 256) == [100, 200]
    assert _evaluated_at(tmp_path / "b", "3", 32) == [4, 8, 12, 16, 20, 24, 28, 32]


def test_periodic_evaluation_samples_actions_on_minigrid_and_atari_envs_only(lookalikes, tmp_path, monkeypatch):
    atari, minigrid = lookalikes
    assert (deterministic_by_default("CartPole-v1"), deterministic_by_default(atari)) == (True, False)
    assert deterministic_by_default(minigrid) is False and is_minigrid(minigrid)
    made = []
    real = train.EvalCallback

    def spy(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "EvalCallback", spy)
    for env in ("CartPole-v1", minigrid):
        argv = ["--algo", "ppo", "--env", env, "--total-timesteps", "32", "--no-progress", "--eval-freq", "32"]
        hp = ["--hyperparams-file", str(ZOO / "ppo.yml")]  # the minigrid lookalike gets its 'default' entry
        train.main([*argv, *hp, "--log-dir", str(tmp_path / env), "--n-eval-episodes", "0", "-p", *TINY])
    assert [(k["deterministic"], k["eval_freq"], k["n_eval_episodes"]) for k in made] == [(True, 8, 5), (False, 8, 5)]


# --- 3. enjoy: deterministic by default, but on Atari and MiniGrid ------------------------------------------------


def test_enjoy_is_deterministic_by_default_and_samples_on_minigrid(lookalikes, tmp_path, monkeypatch, capsys):
    _, minigrid = lookalikes
    PPO("CartPole-v1", seed=0, n_steps=16, batch_size=16).save(tmp_path / "model.npz")
    used = []
    real = enjoy.play

    def spy(agent, env, n_episodes, deterministic, *args):
        used.append(deterministic)
        return real(agent, env, n_episodes, deterministic, *args)

    monkeypatch.setattr(enjoy, "play", spy)
    base = ["--model", str(tmp_path / "model.npz"), "--n-episodes", "1"]
    for env, flags in [
        ("CartPole-v1", []),
        ("CartPole-v1", ["--stochastic"]),
        ("CartPole-v1", ["--deterministic"]),
        (minigrid, []),
        (minigrid, ["--deterministic"]),
        (minigrid, ["--stochastic"]),
    ]:
        enjoy.main(["--env", env, *base, *flags])
    assert used == [True, False, True, False, True, False]
    modes = [line.rsplit("(", 1)[1] for line in capsys.readouterr().out.splitlines() if line.startswith("mean")]
    assert modes == ["deterministic actions)", "stochastic actions)", "deterministic actions)"] + [
        "stochastic actions)",
        "deterministic actions)",
        "stochastic actions)",
    ]


def test_enjoy_refuses_stochastic_with_deterministic(capsys):
    with pytest.raises(SystemExit) as info:
        enjoy.parse_args(["--env", "CartPole-v1", "--model", "m.npz", "--stochastic", "--deterministic"])
    assert info.value.code == 2
    assert "argument --deterministic: not allowed with argument --stochastic" in capsys.readouterr().err
    assert enjoy.deterministic_actions(enjoy.parse_args(["--env", "CartPole-v1", "--model", "m.npz"])) is True


# --- 4. frame_stack with normalised observations --------------------------------------------------------------------


def test_frame_stack_with_normalised_observations_is_refused(tmp_path):
    path = tmp_path / "ppo.yml"
    path.write_text(
        "CartPole-v1:\n  frame_stack: 2\n  normalize: true\n"
        "Acrobot-v1:\n  frame_stack: 2\n  normalize_obs: true\n"
        "Pendulum-v1:\n  frame_stack: 3\n  normalize: \"{'norm_obs': False, 'norm_reward': True}\"\n"
        "MountainCar-v0:\n  normalize: true\n"
    )
    why = r"rl-baselines3-zoo normalises each frame \(VecNormalize, statistics of one frame\) and then stacks"
    with pytest.raises(
        HyperparamsError, match=rf"ppo.yml: CartPole-v1: frame_stack=2 with normalize=True is not .*{why}"
    ):
        load_hyperparams("ppo", "CartPole-v1", path, fields("ppo"))
    with pytest.raises(HyperparamsError, match=r"ppo.yml: Acrobot-v1: frame_stack=2 with normalize_obs=True is not"):
        load_hyperparams("ppo", "Acrobot-v1", path, fields("ppo"))
    # rewards alone are normalised alike (the zoo's CarRacing-v3 entry)
    assert load_hyperparams("ppo", "Pendulum-v1", path) == {
        "frame_stack": 3,
        "normalize_obs": False,
        "normalize_reward": True,
    }
    assert load_hyperparams("ppo", "CarRacing-v3", ZOO / "ppo.yml", fields("ppo"))["frame_stack"] == 2
    # an override that brings the two together is refused the same way, before anything is trained
    with pytest.raises(
        HyperparamsError, match=r"MountainCar-v0 with the overrides \{'frame_stack': 4\}: frame_stack=4"
    ):
        load_hyperparams("ppo", "MountainCar-v0", path, fields("ppo"), {"frame_stack": 4})
    argv = ["--algo", "ppo", "--env", "CartPole-v1", "--hyperparams-file", str(path), "--log-dir", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"error: .*CartPole-v1: frame_stack=2 with normalize=True"):
        train.main(argv)
    assert not (tmp_path / "ppo_CartPole-v1_s0").exists()


# --- 5. VecNormalize's settings in normalize ------------------------------------------------------------------------


def test_normalize_takes_vecnormalizes_settings(tmp_path):
    path = tmp_path / "ppo.yml"
    path.write_text(
        "CartPole-v1:\n  normalize: \"{'norm_obs': True, 'clip_obs': 5.0}\"\n"
        "Acrobot-v1:\n  normalize: 'dict(norm_obs=False, norm_reward=True, clip_reward=2, epsilon=1e-6, gamma=0.9)'\n"
        "Pendulum-v1:\n  gamma: 0.95\n  normalize: \"{'gamma': 0.9, 'clip_obs': 10.0, 'epsilon': 1e-8}\"\n"
        "MountainCar-v0:\n  normalize: \"{'norm_obs_keys': None, 'training': True, 'gamma': 0.99}\"\n"
    )
    load = lambda env: load_hyperparams("ppo", env, path, fields("ppo"))  # noqa: E731
    assert load("CartPole-v1") == {
        "normalize_obs": True,
        "normalize_reward": True,
        "normalize_kwargs": {"clip_obs": 5.0},
    }
    assert load("Acrobot-v1") == {
        "normalize_obs": False,
        "normalize_reward": True,
        "normalize_kwargs": {"clip_reward": 2.0, "epsilon": 1e-6, "gamma": 0.9},
    }
    # the entry's gamma replaces normalize's (as in the zoo); values nngym uses anyway are not repeated
    assert load("Pendulum-v1") == {"gamma": 0.95, "normalize_obs": True, "normalize_reward": True}
    assert load("MountainCar-v0") == {"normalize_obs": True, "normalize_reward": True}


@pytest.mark.parametrize(
    ("normalize", "message"),
    [
        ("{'norm_obs_keys': ['a']}", r"normalize norm_obs_keys=\['a'\] is not supported by nngym \(nngym's Normalizer"),
        ("{'training': False}", r"normalize training=False is not supported by nngym \(the statistics are updated"),
        ("{'clip_obs': 5, 'foo': 1}", r"normalize \['foo'\] not supported; nngym takes VecNormalize's \['norm_obs'"),
        ("{'clip_obs': -1}", r"normalize clip_obs must be a number > 0, got -1"),
        ("{'clip_reward': '5'}", r"normalize clip_reward must be a number > 0, got '5'"),
        ("{'epsilon': -1e-8}", r"normalize epsilon must be a number >= 0, got -1e-08"),
        ("{'gamma': 1.5}", r"normalize gamma must be a number in \[0, 1\], got 1.5"),
        ("{'norm_obs': 'yes'}", r"normalize norm_obs must be true or false, got 'yes'"),
        ("dict(norm_obs=VecNormalize)", r"normalize='dict\(norm_obs=VecNormalize\)' is neither a bool nor a dict"),
    ],
)
def test_normalize_refuses_what_nngym_cannot_honour(tmp_path, normalize, message):
    path = tmp_path / "ppo.yml"
    path.write_text(f'CartPole-v1:\n  normalize: "{normalize}"\n')
    with pytest.raises(HyperparamsError, match=rf"ppo.yml: CartPole-v1: {message}"):
        load_hyperparams("ppo", "CartPole-v1", path, fields("ppo"))


def test_normalize_kwargs_is_the_agents_hyperparameter_given_once(tmp_path):
    path = tmp_path / "ppo.yml"
    path.write_text(
        "CartPole-v1:\n  normalize: true\n  normalize_kwargs: {clip_obs: 5.0}\n"
        "Acrobot-v1:\n  normalize: \"{'clip_obs': 5.0}\"\n  normalize_kwargs: {clip_obs: 4.0}\n"
    )
    hp = load_hyperparams("ppo", "CartPole-v1", path, fields("ppo"))
    assert hp["normalize_kwargs"] == {"clip_obs": 5.0}
    assert PPO("CartPole-v1", **hp).get_vec_normalize_env().clip_obs == 5.0
    with pytest.raises(HyperparamsError, match=r"Acrobot-v1: VecNormalize's settings given twice, in normalize and as"):
        load_hyperparams("ppo", "Acrobot-v1", path, fields("ppo"))


def test_train_sets_the_settings_on_the_agents_normalisation_and_its_model_keeps_them(tmp_path):
    path = tmp_path / "ppo.yml"
    path.write_text("CartPole-v1:\n  normalize: \"{'norm_obs': True, 'clip_obs': 0.5, 'gamma': 0.9}\"\n")
    argv = ["--algo", "ppo", "--env", "CartPole-v1", "--hyperparams-file", str(path), "--total-timesteps", "32"]
    argv += ["--no-progress", "--n-eval-episodes", "1"]
    result = train.main([*argv, "--log-dir", str(tmp_path / "a"), "-p", *TINY])
    assert result["hyperparams"]["normalize_kwargs"] == {"clip_obs": 0.5, "gamma": 0.9}
    model = tmp_path / "a" / "ppo_CartPole-v1_s0" / "model.npz"
    agent = PPO.load(model)
    norm = agent.get_vec_normalize_env()
    assert (norm.clip_obs, norm.gamma, norm.clip_reward, agent.config.gamma) == (0.5, 0.9, 10.0, 0.99)
    assert np.abs(norm.normalize_obs(np.full(4, 100.0))).max() == pytest.approx(0.5)
    # a model trained further keeps its settings; other ones are refused, as other values of any setting the agent
    # fixes when it is made
    result = train.main([*argv, "--log-dir", str(tmp_path / "b"), "-i", str(model), "-p", *TINY])
    further = PPO.load(tmp_path / "b" / "ppo_CartPole-v1_s0" / "model.npz").get_vec_normalize_env()
    assert (further.clip_obs, result["hyperparams"]["normalize_kwargs"]) == (0.5, {"clip_obs": 0.5, "gamma": 0.9})
    path.write_text("CartPole-v1:\n  normalize: \"{'norm_obs': True, 'clip_obs': 0.25}\"\n")
    with pytest.raises(SystemExit, match=r"normalize_kwargs cannot change .* has normalize_kwargs=\{'clip_obs': 0.5"):
        train.main([*argv, "--log-dir", str(tmp_path / "c"), "-i", str(model), "-p", *TINY])


def test_the_sb3_adapter_gives_the_settings_to_vecnormalize(tmp_path):
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3_ALGOS

    path = tmp_path / "ppo.yml"
    path.write_text("CartPole-v1:\n  normalize: \"{'clip_obs': 5.0, 'epsilon': 1e-6}\"\n")
    hp = train.run_hyperparameters("ppo", "CartPole-v1", str(path), impl="sb3").agent
    venv = SB3_ALGOS["ppo"]("CartPole-v1", seed=0, **hp)._venv
    assert (venv.clip_obs, venv.epsilon, venv.clip_reward, venv.gamma) == (5.0, 1e-6, 10.0, 0.99)
