"""Argument and input checks of export (ONNX), compare and convert_sb3: refused up front with a message naming
what was given and what is supported, nothing written or trained first."""

from __future__ import annotations

import importlib.util
import re

import gymnasium as gym
import numpy as np
import pytest
from toy_envs import SpacesEnv

from agents import PPO
from agents.experiments import compare

BOX3 = gym.spaces.Box(-1, 1, (3,), dtype=np.float32)
DISCRETE2 = gym.spaces.Discrete(2)


def _ppo(observation_space: gym.Space, action_space: gym.Space) -> PPO:
    return PPO(SpacesEnv(observation_space, action_space), n_envs=1, n_steps=16, batch_size=16)


@pytest.mark.parametrize(
    ("observation_space", "action_space", "match"),
    [
        (gym.spaces.Discrete(5), DISCRETE2, "Box observations only.*Discrete"),
        (gym.spaces.Dict({"a": BOX3, "b": gym.spaces.Discrete(3)}), DISCRETE2, "Box observations only.*Dict"),
    ],
)
def test_export_refuses_unsupported_spaces_before_writing(tmp_path, observation_space, action_space, match):
    pytest.importorskip("onnx")
    from agents.common.onnx_export import export_onnx

    agent = _ppo(observation_space, action_space)
    with pytest.raises(ValueError, match=match):
        export_onnx(agent, tmp_path / "out" / "policy.onnx")
    assert not (tmp_path / "out").exists()


def test_export_command_refuses_discrete_observations_without_writing(tmp_path):
    pytest.importorskip("onnx")
    from agents.experiments import export

    _ppo(gym.spaces.Discrete(5), DISCRETE2).save(tmp_path / "model.npz")
    with pytest.raises(SystemExit, match="Box observations only"):
        export.main([str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "out.onnx")])
    assert not (tmp_path / "out.onnx").exists()


def test_export_refuses_an_sb3_adapter_model(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO
    from agents.common.onnx_export import export_onnx

    agent = SB3PPO("CartPole-v1", n_steps=16, batch_size=16)
    with pytest.raises(ValueError, match=r"nngym's PPO, A2C, REINFORCE and DQN.*SB3PPO \(an SB3 adapter model"):
        export_onnx(agent, tmp_path / "sb3.onnx")
    assert not (tmp_path / "sb3.onnx").exists()


def test_export_flattens_a_two_dimensional_box(tmp_path, capsys):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from agents.experiments import export

    agent = _ppo(gym.spaces.Box(-1, 1, (2, 3), dtype=np.float32), DISCRETE2)
    agent.save(tmp_path / "model.npz")
    out = export.main([str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "box23.onnx"), "--check", "200"])
    assert "checked on 200 observations with onnxruntime" in capsys.readouterr().out
    obs = export.sample_observations(agent.observation_space, 200, seed=3)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"obs": obs}), strict=True))
    action, _ = agent.predict(obs, deterministic=True)
    assert np.mean(got["action"] == action) >= 0.99
    np.testing.assert_allclose(got["value"], agent.policy.values(obs.reshape(200, 6)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("option", ["--seeds", "--sb3-seeds"])
def test_compare_refuses_duplicate_seeds(option, capsys):
    with pytest.raises(SystemExit):
        compare.parse_args([option, "0", "1", "0"])
    assert f"{option}: duplicate seeds [0]" in capsys.readouterr().err


def test_compare_refuses_no_bootstrap_resamples(capsys):
    with pytest.raises(SystemExit):
        compare.parse_args(["--bootstrap-reps", "0"])
    assert "--bootstrap-reps: expected at least 1" in capsys.readouterr().err


def test_compare_checks_every_envs_hyperparameters_before_training(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(compare.train, "main", lambda argv: trained.append(argv))
    monkeypatch.setattr(compare, "train_population", lambda *a, **k: trained.append(a))
    hp = tmp_path / "ppo.yml"
    hp.write_text("CartPole-v1:\n  n_timesteps: 64\n")
    argv = ["--env", "CartPole-v1", "Acrobot-v1", "--algo", "ppo", "--hyperparams-file", str(hp)]
    argv += ["--log-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match="no ppo hyperparameters for 'Acrobot-v1'"):
        compare.main(argv)
    assert trained == []


def test_convert_names_the_zips_algorithm(tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    from agents.experiments import convert_sb3

    path = tmp_path / "ppo.zip"
    sb3.PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu").save(path)
    with pytest.raises(SystemExit, match=r"error: .*holds a PPO/A2C model's parameters \(policy action_net.*not DQN's"):
        convert_sb3.main([str(path), str(tmp_path / "out.npz"), "--algo", "dqn"])
    assert not (tmp_path / "out.npz").exists()
    dqn = tmp_path / "dqn.zip"
    sb3.DQN("MlpPolicy", "CartPole-v1", buffer_size=100, device="cpu").save(dqn)
    with pytest.raises(SystemExit, match=r"error: .*holds a DQN model's parameters \(policy q_net.*not PPO's"):
        convert_sb3.main([str(dqn), str(tmp_path / "out.npz"), "--algo", "ppo"])
    assert convert_sb3.main([str(path), str(tmp_path / "a2c.npz"), "--algo", "a2c"]).exists()


def test_export_and_convert_refuse_a_file_that_is_not_a_model_in_one_line(tmp_path):
    from agents.experiments import convert_sb3, export

    junk = tmp_path / "junk.npz"
    junk.write_text("not a model")
    with pytest.raises(SystemExit, match="error: .*junk.npz is not a valid nngym model file: expected an npz"):
        export.main([str(junk), "--onnx", str(tmp_path / "p.onnx")])
    with pytest.raises(SystemExit, match="error: .*junk.npz: not a zip file"):
        convert_sb3.main([str(junk), str(tmp_path / "out.npz")])
    assert not (tmp_path / "p.onnx").exists() and not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("kind", ["recurrent_ppo", "dqn_tuple"])
def test_export_refusals_are_one_error_line(tmp_path, kind):
    """A model export cannot write ends as the other scripts' refusals do: ``error: <model>: <why>``, exit code 1."""
    pytest.importorskip("onnx")
    from agents import DQN, RecurrentPPO
    from agents.experiments import export

    if kind == "recurrent_ppo":
        agent = RecurrentPPO("CartPole-v1", n_envs=1, n_steps=16, batch_size=16)
        why = "recurrent"
    else:
        agent = DQN(SpacesEnv(gym.spaces.Tuple((BOX3, gym.spaces.Discrete(3))), DISCRETE2), learning_starts=0)
        why = "Box observations only.*Tuple"
    model = tmp_path / "model.npz"
    agent.save(model)
    with pytest.raises(SystemExit) as info:
        export.main([str(model), "--onnx", str(tmp_path / "out.onnx")])
    message = str(info.value)
    assert message.startswith(f"error: {model}: ") and "\n" not in message
    assert re.search(why, message, re.IGNORECASE)
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize(
    ("option", "value"), [("--window", "0"), ("--n-eval-episodes", "0"), ("--total-timesteps", "0"), ("--window", "x")]
)
def test_compare_refuses_bad_counts_when_parsing(option, value, capsys):
    with pytest.raises(SystemExit) as info:
        compare.parse_args([option, value])
    assert info.value.code == 2
    got = repr(value) if value == "x" else value  # what came: the text, or the number
    expected = f"error: argument {option}: expected an integer >= 1, got {got}"
    assert capsys.readouterr().err.strip().endswith(expected)


def test_export_and_convert_name_an_output_path_they_cannot_write(tmp_path):
    """A path in a folder that cannot hold files (/proc), or a folder itself: one line naming the path given."""
    sb3 = pytest.importorskip("stable_baselines3")
    from agents.experiments import convert_sb3, export

    zip_path = tmp_path / "ppo.zip"
    sb3.PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu").save(zip_path)
    model = tmp_path / "model.npz"
    _ppo(BOX3, DISCRETE2).save(model)
    runs = [(convert_sb3.main, [str(zip_path)], "/proc/x.npz")]
    if importlib.util.find_spec("onnx") is not None:
        runs += [(export.main, [str(model), "--onnx"], "/proc/x.onnx"), (export.main, [str(model), "--onnx"], "DIR")]
    for main, argv, out in runs:
        out = str(tmp_path) if out == "DIR" else out
        with pytest.raises(SystemExit) as info:
            main([*argv, out])
        message = str(info.value)
        assert message.startswith(f"error: cannot write {out}: ") and "\n" not in message, message
    assert str(info.value) == f"error: cannot write {tmp_path}: Is a directory"


def test_export_of_a_population_folder_says_to_give_a_member_file(tmp_path):
    from agents.experiments import export

    folder = PPO("CartPole-v1", seed=[3, 4], n_envs=1, n_steps=16, batch_size=16).save(tmp_path / "pop")
    with pytest.raises(SystemExit) as info:
        export.main([str(folder), "--onnx", str(tmp_path / "out.onnx")])
    message = str(info.value)
    assert message.startswith(f"error: {folder} is a population's folder") and "\n" not in message
    assert f"give one member's file, {folder / 's<seed>.npz'} (s3.npz, s4.npz)" in message
    assert "Errno" not in message and not (tmp_path / "out.onnx").exists()
