"""enjoy.py, export.py and convert_sb3.py on an SB3 zip trained behind VecNormalize: ``--vecnormalize`` applies its
statistics (SB3's actions on raw observations), and without it a statistics file kept with the zip is named in a
one-line warning."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from agents.experiments import convert_sb3, enjoy

ENV = "Pendulum-v1"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[object, object, Path]:
    """(SB3 PPO trained 128 steps behind VecNormalize, its VecNormalize, the folder of model.zip and
    vecnormalize.pkl)."""
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    folder = tmp_path_factory.mktemp("sb3_vecnormalize")
    venv = VecNormalize(make_vec_env(ENV, 2, seed=0), clip_obs=3.0)
    model = sb3.PPO("MlpPolicy", venv, seed=0, device="cpu", n_steps=64, batch_size=64, n_epochs=1).learn(128)
    model.save(folder / "model.zip")
    venv.save(folder / "vecnormalize.pkl")
    return model, venv, folder


def _raw_observations(n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(0)
    angle = rng.uniform(-np.pi, np.pi, n)
    return np.stack([np.cos(angle), np.sin(angle), rng.uniform(-8, 8, n)], axis=1).astype(np.float32)


def _sb3_actions(model, venv, raw: np.ndarray, normalized: bool = True) -> np.ndarray:
    return model.predict(venv.normalize_obs(raw) if normalized else raw, deterministic=True)[0]


def _played_agent(monkeypatch, argv: list[str]) -> object:
    """The agent enjoy.main plays with (one episode)."""
    seen = {}
    real = enjoy.play

    def spy(agent, *args, **kwargs):
        seen["agent"] = agent
        return real(agent, *args, **kwargs)

    monkeypatch.setattr(enjoy, "play", spy)
    enjoy.main(["--env", ENV, "--n-episodes", "1", "--deterministic", *argv])
    return seen["agent"]


def test_enjoy_applies_the_statistics_given_and_warns_of_a_file_it_did_not_apply(trained, monkeypatch, capsys):
    model, venv, folder = trained
    raw = _raw_observations()
    assert not np.allclose(_sb3_actions(model, venv, raw), _sb3_actions(model, venv, raw, normalized=False))

    pkl = folder / "vecnormalize.pkl"
    agent = _played_agent(monkeypatch, ["--model", str(folder / "model.zip"), "--vecnormalize", str(pkl)])
    np.testing.assert_allclose(agent.predict(raw, deterministic=True)[0], _sb3_actions(model, venv, raw), atol=1e-5)
    np.testing.assert_array_equal(agent.obs_rms.mean, venv.obs_rms.mean)
    assert "warning" not in capsys.readouterr().err

    agent = _played_agent(monkeypatch, ["--model", str(folder / "model.zip")])
    assert agent.normalizer is None  # raw observations, as asked: but said so
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"warning: {folder / 'model.zip'}: VecNormalize statistics not applied, so a model trained behind "
        f"VecNormalize acts on raw observations; {pkl} lies with it: give --vecnormalize {pkl} to apply them"
    ]


def test_export_puts_the_statistics_into_the_graph_and_warns_without_them(trained, tmp_path, capsys):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from agents.experiments import export

    model, venv, folder = trained
    pkl = folder / "vecnormalize.pkl"
    out = export.main([str(folder / "model.zip"), "--onnx", str(tmp_path / "vn.onnx"), "--vecnormalize", str(pkl)])
    assert "warning" not in capsys.readouterr().err
    raw = _raw_observations()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    action = session.run(["action"], {"obs": raw})[0]
    np.testing.assert_allclose(action, _sb3_actions(model, venv, raw), atol=1e-5)  # raw in, SB3's actions out

    export.main([str(folder / "model.zip"), "--onnx", str(tmp_path / "raw.onnx")])
    assert f"give --vecnormalize {pkl} to apply them" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("zip_name", "stats_name"),
    [
        ("Pendulum-v1.zip", "Pendulum-v1/vecnormalize.pkl"),  # the zoo's run folder
        ("best_model.zip", "Pendulum-v1/vecnormalize.pkl"),  # the zoo's best model, in the same run folder
        ("ppo-Pendulum-v1.zip", "vec_normalize.pkl"),  # the Hugging Face hub's names
    ],
)
def test_statistics_in_the_zoo_and_hub_layouts_are_named_by_convert_too(trained, tmp_path, zip_name, stats_name):
    _, _, folder = trained
    (tmp_path / stats_name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / "model.zip", tmp_path / zip_name)
    shutil.copy(folder / "vecnormalize.pkl", tmp_path / stats_name)
    assert convert_sb3.nearby_vecnormalize(tmp_path / zip_name) == tmp_path / stats_name
    (tmp_path / "alone").mkdir()
    shutil.copy(folder / "model.zip", tmp_path / "alone" / "model.zip")
    assert convert_sb3.nearby_vecnormalize(tmp_path / "alone" / "model.zip") is None


def test_convert_warns_without_the_option(trained, tmp_path, capsys):
    _, _, folder = trained
    convert_sb3.main([str(folder / "model.zip"), str(tmp_path / "raw.npz")])
    assert f"give --vecnormalize {folder / 'vecnormalize.pkl'} to apply them" in capsys.readouterr().err


def test_the_option_with_an_nngym_file_or_sb3_itself_is_one_error_line(trained, tmp_path):
    pytest.importorskip("onnx")
    from agents import PPO
    from agents.experiments import export

    _, _, folder = trained
    pkl = str(folder / "vecnormalize.pkl")
    PPO(ENV, n_steps=64).save(tmp_path / "nngym.npz")
    with pytest.raises(SystemExit, match=r"^error: --vecnormalize applies to SB3 zips; .*nngym\.npz is not one"):
        export.main([str(tmp_path / "nngym.npz"), "--onnx", str(tmp_path / "x.onnx"), "--vecnormalize", pkl])
    with pytest.raises(SystemExit, match=r"^error: --vecnormalize applies to SB3 zips"):
        enjoy.main(["--env", ENV, "--model", str(tmp_path / "nngym.npz"), "--vecnormalize", pkl])
    with pytest.raises(SystemExit, match=r"^error: --vecnormalize: with --impl sb3 the zip is played by SB3 itself"):
        enjoy.main(["--env", ENV, "--model", str(folder / "model.zip"), "--impl", "sb3", "--vecnormalize", pkl])
    assert not (tmp_path / "x.onnx").exists()
