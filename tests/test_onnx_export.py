"""ONNX export: onnxruntime gives predict's actions and the critic's values on 1,000 observations (to 1e-5)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from toy_envs import SpacesEnv

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import A2C, DQN, PPO, REINFORCE, RecurrentPPO
from agents.common.onnx_export import export_onnx
from agents.common.policies import infer
from agents.experiments.export import sample_observations

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-5


class ColourGrid(gym.Env):
    """(12, 12, 3) uint8 frames, channels last (the export transposes them), 4 actions."""

    observation_space = gym.spaces.Box(0, 255, (12, 12, 3), dtype=np.uint8)
    action_space = gym.spaces.Discrete(4)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


class Drift(gym.Env):
    """A 3-D observation, a 2-D action with narrow bounds (so that some means are clipped), 16-step episodes."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), dtype=np.float32)
    action_space = gym.spaces.Box(np.array([-0.05, -1.0], np.float32), np.array([0.05, 1.0], np.float32))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self.np_random.normal(size=3).astype(np.float32) * 5 + 3, {}

    def step(self, action):
        self._t += 1
        obs = self.np_random.normal(size=3).astype(np.float32) * 5 + 3
        return obs, -float(np.sum(np.square(action))), False, self._t >= 16, {}


def _run(path: Path, obs: np.ndarray) -> dict[str, np.ndarray]:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"obs": obs}), strict=True))


def _check(agent, tmp_path: Path, n: int = 1000) -> dict[str, np.ndarray]:
    pytest.importorskip("onnx")
    path = export_onnx(agent, tmp_path / "policy.onnx")
    obs = sample_observations(agent.observation_space, n, seed=1)
    got = _run(path, obs)
    action, _ = agent.predict(obs, deterministic=True)
    normed = agent._normalize_obs(obs)
    if isinstance(agent.action_space, gym.spaces.Discrete):
        assert got["action"].dtype == np.int64 and got["action"].shape == (n,)
        out = agent.q_net.forward(normed) if isinstance(agent, DQN) else infer(agent.policy.actor, normed)
        np.testing.assert_allclose(got["q_values" if isinstance(agent, DQN) else "logits"], out, rtol=TOL, atol=TOL)
        assert np.mean(got["action"] == action) >= 0.999  # equal but for near-ties of float rounding
        assert len(np.unique(action)) > 1
    else:
        np.testing.assert_allclose(got["action"], action, rtol=TOL, atol=TOL)
        assert np.any(got["mean"] != got["action"])  # some means lay outside the bounds and were clipped
    if not isinstance(agent, DQN):
        np.testing.assert_allclose(got["value"], agent.policy.values(normed), rtol=TOL, atol=TOL)
    return got


def test_ppo_mlp_discrete(tmp_path):
    agent = PPO("CartPole-v1", seed=0, n_steps=64, batch_size=64, n_epochs=2, net_arch=(32, 16)).learn(128)
    _check(agent, tmp_path)


def test_ppo_box_actions_with_observation_normalisation(tmp_path):
    agent = PPO(Drift(), seed=0, n_steps=64, batch_size=64, n_epochs=1, normalize_obs=True, ortho_init=False)
    agent.learn(128)
    assert agent.obs_rms is not None and np.any(agent.obs_rms.mean != 0)
    _check(agent, tmp_path)


def test_a2c_sigmoid_and_reinforce_relu_and_ppo_gelu(tmp_path):
    _check(A2C("Acrobot-v1", seed=1, activation="sigmoid", ortho_init=False, net_arch=(8,)), tmp_path)
    _check(REINFORCE("CartPole-v1", seed=2, activation="relu", ortho_init=False), tmp_path)
    _check(PPO(Drift(), seed=3, activation="gelu", ortho_init=False, net_arch=(8, 8)), tmp_path)


def test_shared_cnn_trunk_with_conv_max_and_l2_pools(tmp_path):
    agent = PPO("nngym/DigitClassify-v0", seed=0, net="conv:4x3,pool:2,conv:6x3p1,l2pool:2,dense:16", n_steps=8)
    assert agent.policy.trunk is not None
    _check(agent, tmp_path)


def test_dqn_mlp_and_cnn_on_channels_last_pixels(tmp_path):
    _check(DQN("CartPole-v1", seed=0, net_arch=(16, 16), activation="tanh"), tmp_path)
    agent = DQN(ColourGrid(), seed=0, net="conv:4x3s2,dense:8", buffer_size=10)
    assert agent.q_net.q.layers[0].channels_last
    _check(agent, tmp_path / "cnn")


def test_export_command_and_refusals(tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from agents.experiments import export

    PPO("CartPole-v1", seed=0, n_steps=32).save(tmp_path / "model.npz")
    out = export.main([str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "out.onnx")])
    assert out.stat().st_size > 1000
    assert "checked on 1000 observations with onnxruntime" in capsys.readouterr().out
    with pytest.raises(ValueError, match="feed-forward policies"):
        export_onnx(RecurrentPPO("CartPole-v1", n_steps=8, lstm_hidden_size=4), tmp_path / "r.onnx")


def test_missing_onnx_names_the_extra(tmp_path):
    code = f"""
import sys
sys.modules["onnx"] = None
from agents import PPO
from agents.common.onnx_export import export_onnx
try:
    export_onnx(PPO("CartPole-v1", n_steps=8), {str(tmp_path / "x.onnx")!r})
except ImportError as e:
    print(e)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'pip install -e ".[onnx]"' in out.stdout


class Shifted(gym.Env):
    """A 3-D observation and Discrete actions numbered from ``start`` (e.g. 1, 2, 3), 8-step episodes."""

    observation_space = gym.spaces.Box(-1, 1, (3,), dtype=np.float32)

    def __init__(self, start: int = 1) -> None:
        self.action_space = gym.spaces.Discrete(3, start=start)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        assert self.action_space.contains(action)
        self._t += 1
        return self.observation_space.sample(), 0.0, False, self._t >= 8, {}


@pytest.mark.parametrize("algo", [PPO, DQN])
@pytest.mark.parametrize("start", [1, -2])
def test_discrete_actions_with_a_start_are_predicts_actions(algo, start, tmp_path):
    agent = algo(Shifted(start), seed=0, net_arch=(16,), ortho_init=False) if algo is PPO else algo(Shifted(start))
    got = _check(agent, tmp_path)  # equal to predict's actions, which are start, start + 1, start + 2
    assert set(np.unique(got["action"])) == {start, start + 1, start + 2}
    scores = got["logits" if algo is PPO else "q_values"]
    np.testing.assert_array_equal(got["action"], np.argmax(scores, axis=1) + start)


def _export_main(tmp_path: Path, agent, *extra: str) -> Path:
    from agents.experiments import export

    agent.save(tmp_path / "model.npz")
    return export.main([str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "policy.onnx"), *extra])


def test_export_command_check_passes_on_actions_with_a_start(tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    _export_main(tmp_path, DQN(Shifted(1), seed=0))
    out = capsys.readouterr().out
    assert "checked on 1000 observations with onnxruntime: actions equal predict's on 1000" in out


def _exporting(monkeypatch, other) -> None:
    """Makes the export command write ``other``'s graph instead of the model's, so the check sees a mismatch."""
    from agents.experiments import export

    real = export.export_onnx
    monkeypatch.setattr(export, "export_onnx", lambda agent, path: real(other, path))


def test_export_command_fails_when_the_onnx_actions_differ_from_predicts(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    agent = PPO("CartPole-v1", seed=0, n_steps=32, ortho_init=False)
    _exporting(monkeypatch, PPO("CartPole-v1", seed=1, n_steps=32, ortho_init=False))  # other weights
    with pytest.raises(SystemExit) as info:
        _export_main(tmp_path, agent)
    message = str(info.value.code)
    assert message.startswith(f"error: {tmp_path / 'policy.onnx'} was written but disagrees with predict")
    assert re.search(r"actions differ on [1-9]\d* of 1000 observations", message) and "\n" not in message
    assert (tmp_path / "policy.onnx").stat().st_size > 1000  # the file stays, for inspection


def test_export_command_fails_when_values_differ_beyond_the_tolerance(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    agent = PPO("CartPole-v1", seed=0, n_steps=32)
    other = PPO("CartPole-v1", seed=0, n_steps=32)
    other.policy.critic.layers[-1].params["b"] += 1e-2  # the same actions, values off by 10 x the tolerance
    _exporting(monkeypatch, other)
    with pytest.raises(SystemExit, match=r"^error: .*disagrees with predict.*: value off by 0\.01 .*tolerance 0\.001"):
        _export_main(tmp_path, agent)
    other.policy.critic.layers[-1].params["b"] -= 9.5e-3  # off by 5e-4: within the tolerance (1e-3)
    assert _export_main(tmp_path, agent).exists()


def test_export_command_fails_on_actions_without_the_spaces_start(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    agent = DQN(Shifted(1), seed=0)
    unshifted = DQN(Shifted(0), seed=0)  # the same Q-network, actions numbered 0, 1, 2: ONNX's arg-max alone
    unshifted.q_net.q.load_state_dict(agent.q_net.q.state_dict())
    _exporting(monkeypatch, unshifted)
    with pytest.raises(SystemExit, match=r"^error: .*disagrees with predict.*: actions differ on 1000 of 1000 obs"):
        _export_main(tmp_path, agent)


#: MultiDiscrete actions numbered from non-zero starts, and MultiBinary ones.
MULTI_ACTIONS = {
    "multidiscrete-start": gym.spaces.MultiDiscrete([3, 2, 4], start=[1, -2, 0]),
    "multibinary": gym.spaces.MultiBinary(3),
}
#: A few hundred steps of training in well under a second.
FAST = {PPO: {"n_steps": 32, "batch_size": 32, "n_epochs": 2}, A2C: {"n_steps": 8}, REINFORCE: {"n_steps": 32}}


def _multi_agent(algo, space: gym.Space, seed: int = 0):
    env = SpacesEnv(gym.spaces.Box(-1, 1, (4,), np.float32), space)
    agent = algo(env, seed=seed, net_arch=(16,), ortho_init=False, **FAST[algo])
    agent.learn(256)
    assert agent.num_timesteps >= 256
    return agent


@pytest.mark.parametrize("name", list(MULTI_ACTIONS))
@pytest.mark.parametrize("algo", [PPO, A2C, REINFORCE], ids=lambda c: c.__name__)
def test_multidiscrete_and_multibinary_actions_are_predicts_actions(algo, name, tmp_path):
    pytest.importorskip("onnx")
    space = MULTI_ACTIONS[name]
    agent = _multi_agent(algo, space)
    path = export_onnx(agent, tmp_path / "policy.onnx")
    obs = sample_observations(agent.observation_space, 1000, seed=1)
    got = _run(path, obs)
    action, _ = agent.predict(obs, deterministic=True)
    assert got["action"].shape == action.shape == (1000, 3)
    assert got["action"].dtype == action.dtype == (np.int64 if name == "multidiscrete-start" else np.int8)
    np.testing.assert_array_equal(got["action"], action)
    logits = infer(agent.policy.actor, obs)
    np.testing.assert_allclose(got["logits"], logits, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(got["value"], agent.policy.values(obs), rtol=TOL, atol=TOL)
    assert all(space.contains(a) for a in got["action"])
    if isinstance(space, gym.spaces.MultiDiscrete):  # each part: its own slice of the logits, plus its start
        parts = np.split(got["logits"], np.cumsum(space.nvec)[:-1], axis=1)
        np.testing.assert_array_equal(got["action"], np.stack([p.argmax(1) for p in parts], 1) + space.start)
    else:
        np.testing.assert_array_equal(got["action"], got["logits"] > 0)
    for d in range(3):  # every part (entry) takes more than one value
        assert len(np.unique(action[:, d])) > 1


@pytest.mark.parametrize("name", list(MULTI_ACTIONS))
def test_export_command_check_covers_multidiscrete_and_multibinary_actions(name, tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    _export_main(tmp_path, _multi_agent(PPO, MULTI_ACTIONS[name]))
    out = capsys.readouterr().out
    assert "checked on 1000 observations with onnxruntime: actions equal predict's on 1000 of 1000;" in out


def test_export_command_fails_on_multidiscrete_actions_without_the_starts(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    agent = _multi_agent(PPO, MULTI_ACTIONS["multidiscrete-start"])
    unshifted = _multi_agent(PPO, gym.spaces.MultiDiscrete([3, 2, 4]))  # the same networks, parts from 0
    for net in ("actor", "critic"):
        getattr(unshifted.policy, net).load_state_dict(getattr(agent.policy, net).state_dict())
    _exporting(monkeypatch, unshifted)
    with pytest.raises(SystemExit, match=r"^error: .*disagrees with predict.*: actions differ on 1000 of 1000 obs"):
        _export_main(tmp_path, agent)


def test_export_command_fails_when_multibinary_actions_differ(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    agent = _multi_agent(PPO, MULTI_ACTIONS["multibinary"])
    _exporting(monkeypatch, _multi_agent(PPO, MULTI_ACTIONS["multibinary"], seed=1))  # other weights
    with pytest.raises(SystemExit, match=r"^error: .*disagrees with predict.*: actions differ on [1-9]\d* of 1000 obs"):
        _export_main(tmp_path, agent)


def test_check_counts_multibinary_and_multidiscrete_near_ties_apart():
    """A choice that differs where nngym's two scores are within their ONNX errors is a near-tie; otherwise the
    observation's action differs (one differing part is enough)."""
    from agents.experiments.export import _compare_choices

    mb = gym.spaces.MultiBinary(2)
    scores = np.array([[1e-7, 2.0], [0.5, -1.0], [-3.0, 1.0]], np.float32)  # predict: logit > 0
    onnx = np.array([[-1e-7, 2.0], [-0.5, -1.0], [-3.0, 1.0]], np.float32)  # row 0: a near-tie; row 1: off
    action, onnx_action = (scores > 0).astype(np.int8), (onnx > 0).astype(np.int8)
    assert _compare_choices(mb, action, onnx_action, scores, onnx, 1e-3) == (1, 1)
    assert _compare_choices(mb, action, action, scores, scores, 1e-3) == (0, 0)
    assert _compare_choices(mb, action, action[:, :1], scores, scores, 1e-3) == (3, 0)  # another shape
    md = gym.spaces.MultiDiscrete([2, 3], start=[1, -1])
    scores = np.array([[0.3, 0.3 + 1e-7, 0, 1, 0], [1, 0, 0, 0, 2], [0, 1, 0, 1, 0]], np.float32)
    onnx = np.array([[0.3 + 2e-7, 0.3, 0, 1, 0], [1, 0, 2, 0, 0], [0, 1, 0, 1, 0]], np.float32)
    action = np.array([[2, 0], [1, 1], [2, 0]])  # each part's arg-max plus its start
    onnx_action = np.array([[1, 0], [1, -1], [2, 0]])  # row 0: part 0 at a near-tie; row 1: part 1 off by 2
    assert _compare_choices(md, action, onnx_action, scores, onnx, 1e-3) == (1, 1)
    onnx_action[2] = [2, 2]  # outside part 1's values (-1, 0, 1): differs, no tie
    assert _compare_choices(md, action, onnx_action, scores, onnx, 1e-3) == (2, 1)
