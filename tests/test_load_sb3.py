"""load_sb3: SB3 model zips read with numpy alone into nngym agents that act as SB3 does; unsafe pickles refused."""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from toy_envs import SpacesEnv

from agents import A2C, DQN, PPO
from agents.baselines.sb3_zip import SB3ZipError, UnsafePickleError, load_sb3, read_sb3_zip

ROOT = Path(__file__).resolve().parents[1]
N_OBS = 1000


class TinyImageEnv(gym.Env):
    """Random 36x36x1 uint8 frames (channels last, so SB3 transposes them), 3 actions, 8-step episodes."""

    def __init__(self, continuous: bool = False) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (36, 36, 1), dtype=np.uint8)
        self.action_space = gym.spaces.Box(-1, 1, (2,)) if continuous else gym.spaces.Discrete(3)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        return self.observation_space.sample(), float(np.sum(action) > 0), False, self._t >= 8, {}


def observations(space: gym.spaces.Box, n: int = N_OBS, seed: int = 0) -> np.ndarray:
    """n observations (n, *shape): uniform within finite bounds, N(0, 2²) where unbounded, random pixels."""
    rng = np.random.default_rng(seed)
    if space.dtype == np.uint8:
        return rng.integers(0, 256, (n, *space.shape), dtype=np.uint8)
    low, high = np.broadcast_to(space.low, space.shape), np.broadcast_to(space.high, space.shape)
    finite = np.isfinite(low) & np.isfinite(high)
    uniform = rng.uniform(np.where(finite, low, 0), np.where(finite, high, 1), (n, *space.shape))
    return np.where(finite, uniform, rng.normal(0, 2, (n, *space.shape))).astype(np.float32)


def _train(algo: str, env, tmp_path: Path, steps: int = 128, seed: int = 0, **kwargs) -> tuple[object, Path]:
    """A tiny SB3 model trained for ``steps`` and saved as a zip."""
    sb3 = pytest.importorskip("stable_baselines3")
    model = getattr(sb3, algo)(kwargs.pop("policy", "MlpPolicy"), env, seed=seed, device="cpu", **kwargs)
    model.learn(steps)
    path = tmp_path / f"{algo.lower()}.zip"
    model.save(path)
    return model, path


def _assert_same_actions(model, agent, obs: np.ndarray, varied: bool = True) -> None:
    want, _ = model.predict(obs, deterministic=True)
    got, _ = agent.predict(obs, deterministic=True)
    assert got.shape == want.shape
    if np.issubdtype(want.dtype, np.integer):
        assert np.array_equal(got, want), f"{np.sum(got != want)} of {len(obs)} actions differ"
        assert len(np.unique(want)) > 1 or not varied  # a test on one constant action would prove little
    else:
        np.testing.assert_allclose(got, want, atol=1e-5)


def _sb3_values(model, obs: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model.policy.predict_values(model.policy.obs_to_tensor(obs)[0]).numpy()[:, 0]


def _nn(name: str):
    import torch

    return getattr(torch.nn, name)


CASES = {  # id: (algo, env id, SB3 kwargs), different net_arch and activations, Discrete and Box actions
    "ppo-discrete-pi32-vf16x8-relu": ("PPO", "CartPole-v1", {"net_arch": {"pi": [32], "vf": [16, 8]}, "act": "ReLU"}),
    "ppo-box-64x64-tanh": ("PPO", "Pendulum-v1", {}),
    "a2c-discrete-16-sigmoid": ("A2C", "Acrobot-v1", {"net_arch": [16], "act": "Sigmoid", "ortho_init": False}),
    "a2c-box-32x32-relu": ("A2C", "MountainCarContinuous-v0", {"net_arch": [32, 32], "act": "ReLU"}),
    "ppo-box-32-gelu": ("PPO", "Pendulum-v1", {"net_arch": [32], "act": "GELU", "ortho_init": False}),
    "dqn-64x64-relu": ("DQN", "CartPole-v1", {}),
    "dqn-24-tanh": ("DQN", "Acrobot-v1", {"net_arch": [24], "act": "Tanh"}),
    "dqn-no-hidden": ("DQN", "CartPole-v1", {"net_arch": []}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_mlp_policies_act_as_sb3_on_1000_observations(case, tmp_path):
    algo, env_id, spec = CASES[case]
    pytest.importorskip("stable_baselines3")
    policy_kwargs = {}
    if "net_arch" in spec:
        policy_kwargs["net_arch"] = spec["net_arch"]
    if "act" in spec:
        policy_kwargs["activation_fn"] = _nn(spec["act"])
    if "ortho_init" in spec:  # larger initial weights: a tiny sigmoid policy otherwise picks one action everywhere
        policy_kwargs["ortho_init"] = spec["ortho_init"]
    # (seed 3: a DQN whose greedy actions vary with the observation)
    extra = {"learning_starts": 50, "buffer_size": 1000, "seed": 3} if algo == "DQN" else {}
    extra.update({"n_steps": 64, "n_epochs": 2} if algo == "PPO" else {})
    model, path = _train(algo, env_id, tmp_path, policy_kwargs=policy_kwargs, **extra)
    agent = load_sb3(path)
    assert type(agent) is {"PPO": PPO, "A2C": A2C, "DQN": DQN}[algo]
    assert agent.observation_space == model.observation_space and agent.action_space == model.action_space
    obs = observations(model.observation_space)
    _assert_same_actions(model, agent, obs)
    if algo != "DQN":
        np.testing.assert_allclose(agent.policy.values(obs), _sb3_values(model, obs), rtol=1e-5, atol=1e-5)
        if isinstance(model.action_space, gym.spaces.Box):
            np.testing.assert_allclose(agent.policy.log_std, model.policy.log_std.detach().numpy())
    else:  # the target network too, and the Q-values themselves
        import torch

        with torch.no_grad():
            q = model.q_net(torch.as_tensor(obs)).numpy()
            q_target = model.q_net_target(torch.as_tensor(obs)).numpy()
        np.testing.assert_allclose(agent.q_net.forward(obs), q, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(agent.q_target.forward(obs), q_target, rtol=1e-5, atol=1e-5)
    assert agent.config.gamma == model.gamma and agent.num_timesteps == model.num_timesteps
    if algo == "PPO":
        assert (agent.config.n_steps, agent.config.clip_range) == (64, 0.2)
    hidden = spec.get("net_arch", [64, 64])
    assert list(agent.config.net_arch) == (hidden["pi"] if isinstance(hidden, dict) else hidden)
    # same-sized actor and critic become nngym's own "mlp" networks; others are kept as given networks
    assert agent.net == ("mlp" if not isinstance(hidden, dict) else agent.net) and (
        isinstance(agent.net, dict) == isinstance(hidden, dict)
    )


@pytest.mark.parametrize("algo", ["PPO", "DQN"])
def test_nature_cnn_policies_act_as_sb3(algo, tmp_path):
    pytest.importorskip("stable_baselines3")
    import torch

    ppo = {"n_steps": 32, "batch_size": 32, "n_epochs": 2}
    extra = {"learning_starts": 16, "buffer_size": 200} if algo == "DQN" else ppo
    model, path = _train(
        algo,
        TinyImageEnv(),
        tmp_path,
        steps=64,
        policy="CnnPolicy",
        policy_kwargs={"features_extractor_kwargs": {"features_dim": 32}},
        **extra,
    )
    agent = load_sb3(path)
    assert model.observation_space.shape == agent.observation_space.shape == (1, 36, 36)  # SB3 saves it transposed
    obs = observations(model.observation_space, 300)
    _assert_same_actions(model, agent, obs, varied=False)  # random frames look alike: the outputs are compared too
    tensor = model.policy.obs_to_tensor(obs)[0]
    with torch.no_grad():
        if algo == "DQN":
            np.testing.assert_allclose(agent.q_net.forward(obs), model.q_net(tensor).numpy(), rtol=1e-5, atol=1e-5)
        else:
            logits = model.policy.get_distribution(tensor).distribution.logits.numpy()
            from agents.common.policies import infer

            mine = infer(agent.policy.actor, obs)
            np.testing.assert_allclose(
                mine - mine.max(1, keepdims=True), logits - logits.max(1, keepdims=True), rtol=1e-5, atol=1e-5
            )
            np.testing.assert_allclose(agent.policy.values(obs), _sb3_values(model, obs), rtol=1e-5, atol=1e-5)


def test_a_model_of_channels_last_images_plays_and_trains_on_its_env(tmp_path):
    """SB3 trains on an env of (H, W, C) frames behind VecTransposeImage and saves the (C, H, W) space; converted,
    the model takes the env's own frames as SB3's does: predict (one or a batch), evaluate, and load with the env
    (which comes in TransposedImages, SB3's VecTransposeImage) to train on."""
    from stable_baselines3.common.evaluation import evaluate_policy

    from agents.common.evaluation import evaluate
    from agents.common.spaces import TransposedImages

    model, path = _train(
        "PPO",
        TinyImageEnv(),
        tmp_path,
        steps=64,
        policy="CnnPolicy",
        policy_kwargs={"features_extractor_kwargs": {"features_dim": 16}},
        n_steps=32,
        batch_size=32,
        n_epochs=1,
    )
    agent = load_sb3(path)
    frames = observations(TinyImageEnv().observation_space, 50)  # (50, 36, 36, 1): the env's own layout
    np.testing.assert_array_equal(
        agent.predict(frames, deterministic=True)[0], model.predict(frames, deterministic=True)[0]
    )
    np.testing.assert_array_equal(
        agent.predict(frames, deterministic=True)[0], agent.predict(frames.transpose(0, 3, 1, 2), deterministic=True)[0]
    )
    assert agent.predict(frames[0], deterministic=True)[0] == model.predict(frames[0], deterministic=True)[0]
    env = TinyImageEnv()
    env.reset(seed=3)
    ours = evaluate(agent, env, 3)
    env.reset(seed=3)
    assert ours == pytest.approx(evaluate_policy(model, env, 3))
    agent.save(tmp_path / "converted")
    back = PPO.load(tmp_path / "converted.npz", env=TinyImageEnv())
    assert isinstance(back.get_env(), TransposedImages)
    inner = back.get_env().env
    inner.envs[0].observation_space.seed(1)
    raw = inner.reset()[0]
    inner.envs[0].observation_space.seed(1)
    np.testing.assert_array_equal(back.get_env().reset()[0], raw.transpose(0, 3, 1, 2))
    back.learn(64)
    assert back.num_timesteps == 64
    from agents.experiments import enjoy

    if "TinyImage-v0" not in gym.registry:
        gym.register("TinyImage-v0", entry_point=TinyImageEnv, max_episode_steps=8)
    for impl in ("nngym", "sb3"):  # enjoy.py takes the zip on the env of (H, W, C) frames it trained on
        enjoy.main(
            ["--env", "TinyImage-v0", "--model", str(path), "--algo", "ppo", "--impl", impl, "--n-episodes", "1"]
        )


def test_nature_cnn_with_separate_extractors_and_box_actions(tmp_path):
    pytest.importorskip("stable_baselines3")
    pk = {"share_features_extractor": False, "features_extractor_kwargs": {"features_dim": 16}, "net_arch": [8]}
    model, path = _train(
        "PPO",
        TinyImageEnv(continuous=True),
        tmp_path,
        steps=64,
        policy="CnnPolicy",
        policy_kwargs=pk,
        n_steps=32,
        batch_size=32,
        n_epochs=2,
    )
    agent = load_sb3(path)
    obs = observations(model.observation_space, 300)
    _assert_same_actions(model, agent, obs)
    np.testing.assert_allclose(agent.policy.values(obs), _sb3_values(model, obs), rtol=1e-5, atol=1e-5)


def test_loader_imports_neither_torch_nor_sb3(tmp_path):
    model, path = _train("PPO", "CartPole-v1", tmp_path, n_steps=64, n_epochs=2)
    obs = observations(model.observation_space)
    np.save(tmp_path / "obs.npy", obs)
    code = f"""
import sys
for name in ("torch", "stable_baselines3", "sb3_contrib"):
    sys.modules[name] = None  # any import of them now raises ImportError
import numpy as np
from agents.baselines import load_sb3  # the package and its loader, with torch unimportable
agent = load_sb3({str(path)!r})
np.save({str(tmp_path / "actions.npy")!r}, agent.predict(np.load({str(tmp_path / "obs.npy")!r}), deterministic=True)[0])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "stable_baselines3") and sys.modules[m])
print("loaded:", loaded)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "loaded: []"
    assert np.array_equal(np.load(tmp_path / "actions.npy"), model.predict(obs, deterministic=True)[0])


class _Payload:
    """Unpickling it would run a shell command that writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _zip_with(tmp_path: Path, data: dict, data_pkl: bytes) -> Path:
    """An SB3-shaped zip whose policy.pth holds ``data_pkl`` as its torch pickle."""
    pth = io.BytesIO()
    with zipfile.ZipFile(pth, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
    path = tmp_path / "crafted.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", json.dumps(data))
        z.writestr("policy.pth", pth.getvalue())
    return path


def test_a_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    payload = pickle.dumps({"action_net.weight": _Payload(marker)}, protocol=2)
    pickle.loads(pickle.dumps(_Payload(tmp_path / "proof"), protocol=2))  # the payload works when unpickled
    assert (tmp_path / "proof").exists()
    data = {"observation_space": {}, "action_space": {}}
    with pytest.raises(UnsafePickleError, match=r"global (posix|os)\.system.*refusing to load it"):
        load_sb3(_zip_with(tmp_path, data, payload))
    assert not marker.exists()
    # in a space's cloudpickled description too
    model, path = _train("PPO", "CartPole-v1", tmp_path, n_steps=64, n_epochs=2)
    with zipfile.ZipFile(path) as z:
        data, pth = json.loads(z.read("data")), z.read("policy.pth")
    data["observation_space"][":serialized:"] = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", json.dumps(data))
        z.writestr("policy.pth", pth)
    with pytest.raises(UnsafePickleError, match=r"observation_space refers to the global (posix|os)\.system"):
        load_sb3(path)
    assert not marker.exists()


def test_malformed_files_fail_clearly(tmp_path):
    (tmp_path / "not.zip").write_bytes(b"hello")
    with pytest.raises(SB3ZipError, match="not a zip file"):
        read_sb3_zip(tmp_path / "not.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as z:
        z.writestr("other", "x")
    with pytest.raises(SB3ZipError, match="not a Stable-Baselines3 model zip"):
        read_sb3_zip(tmp_path / "empty.zip")
    # a tensor whose strides reach past its storage: refused, not read out of bounds
    model, path = _train("A2C", "CartPole-v1", tmp_path, steps=10)
    with zipfile.ZipFile(path) as z:
        data, pth = json.loads(z.read("data")), z.read("policy.pth")
    with zipfile.ZipFile(io.BytesIO(pth)) as inner:
        name = next(n for n in inner.namelist() if n.endswith("data.pkl"))
        prefix = name[: -len("data.pkl")]
        records = {n: inner.read(n) for n in inner.namelist()}
    short = {n: (v[:8] if n == f"{prefix}data/0" else v) for n, v in records.items()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, v in short.items():
            z.writestr(n, v)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", json.dumps(data))
        z.writestr("policy.pth", buf.getvalue())
    with pytest.raises(SB3ZipError, match="storage '0' holds 8 bytes"):
        load_sb3(path)


def test_unsupported_activation_is_named(tmp_path):
    pytest.importorskip("stable_baselines3")
    _, path = _train("PPO", "CartPole-v1", tmp_path, steps=64, n_steps=64, policy_kwargs={"activation_fn": _nn("ELU")})
    with pytest.raises(SB3ZipError, match="activation ELU has no nngym layer"):
        load_sb3(path)


def test_convert_command_writes_a_model_ppo_load_reads(tmp_path):
    from agents.experiments import convert_sb3

    model, path = _train("PPO", "CartPole-v1", tmp_path, n_steps=64, policy_kwargs={"net_arch": [32]})
    out = convert_sb3.main([str(path), str(tmp_path / "converted.npz")])
    agent = PPO.load(out, env="CartPole-v1")  # loads with an env of the same spaces, ready to train on
    _assert_same_actions(model, agent, observations(model.observation_space))
    agent.learn(64)


@pytest.mark.parametrize(("algo", "env_id"), [("PPO", "Pendulum-v1"), ("A2C", "Acrobot-v1"), ("DQN", "CartPole-v1")])
def test_vecnormalize_statistics_give_sb3s_actions_on_raw_observations(algo, env_id, tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    venv = VecNormalize(make_vec_env(env_id, 2, seed=0), gamma=0.95, clip_obs=3.0, clip_reward=7.0)
    kw = {"learning_starts": 50} if algo == "DQN" else {"n_steps": 64}
    model = getattr(sb3, algo)("MlpPolicy", venv, seed=0, device="cpu", **kw).learn(256)
    model.save(tmp_path / "model.zip")
    venv.save(tmp_path / "vecnormalize.pkl")
    agent = load_sb3(tmp_path / "model.zip", vecnormalize=tmp_path / "vecnormalize.pkl")
    norm = agent.normalizer
    np.testing.assert_array_equal(norm.obs_rms.mean, venv.obs_rms.mean)
    np.testing.assert_array_equal(norm.obs_rms.var, venv.obs_rms.var)
    assert norm.obs_rms.count == venv.obs_rms.count and norm.ret_rms.var == venv.ret_rms.var
    assert (norm.obs_rms.clip, norm.clip_reward, norm.gamma) == (3.0, 7.0, 0.95)
    raw = observations(model.observation_space) * 3.0  # beyond the clip for some: the clip must match too
    normalized = venv.normalize_obs(raw)
    np.testing.assert_allclose(norm.normalize_obs(raw), normalized, rtol=1e-6, atol=1e-6)
    want, _ = model.predict(normalized, deterministic=True)
    got, _ = agent.predict(raw, deterministic=True)
    if algo == "DQN":  # a barely trained Q-network may prefer one action everywhere: compare Q itself as well
        import torch

        with torch.no_grad():
            q = model.q_net(torch.as_tensor(normalized)).numpy()
        np.testing.assert_allclose(agent.q_net.forward(norm.normalize_obs(raw)), q, rtol=1e-5, atol=1e-5)
    if np.issubdtype(want.dtype, np.integer):
        assert np.array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, atol=1e-5)
    rewards = np.array([1.0, -2.0])
    np.testing.assert_allclose(norm.scale_rewards(rewards, np.zeros(2), update=False), venv.normalize_reward(rewards))
    again = type(agent).load(agent.save(tmp_path / "nngym.npz"))  # nngym's own file keeps the statistics
    np.testing.assert_array_equal(again.predict(raw, deterministic=True)[0], got)
    from agents.experiments import convert_sb3

    out = convert_sb3.main(
        [str(tmp_path / "model.zip"), str(tmp_path / "c.npz"), "--vecnormalize", str(tmp_path / "vecnormalize.pkl")]
    )
    np.testing.assert_array_equal(type(agent).load(out).predict(raw, deterministic=True)[0], got)


def test_bad_vecnormalize_files_are_refused(tmp_path):
    _, path = _train("PPO", "CartPole-v1", tmp_path, steps=64, n_steps=64)
    marker = tmp_path / "marker"
    (tmp_path / "payload.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(UnsafePickleError, match=r"global (posix|os)\.system"):
        load_sb3(path, vecnormalize=tmp_path / "payload.pkl")
    assert not marker.exists()
    (tmp_path / "text.pkl").write_bytes(b"not a pickle")
    with pytest.raises(SB3ZipError, match="not a readable VecNormalize pickle"):
        load_sb3(path, vecnormalize=tmp_path / "text.pkl")
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"obs_rms": 1}))
    with pytest.raises(SB3ZipError, match=r"not a VecNormalize pickle \(VecNormalize.save's file\)"):
        load_sb3(path, vecnormalize=tmp_path / "dict.pkl")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    VecNormalize(make_vec_env("Pendulum-v1", 1)).save(tmp_path / "pendulum.pkl")  # 3 values, CartPole has 4
    with pytest.raises(SB3ZipError, match=r"observation statistics of shape \(3,\), the model's observations \(4,\)"):
        load_sb3(path, vecnormalize=tmp_path / "pendulum.pkl")


_MD, _MB = gym.spaces.MultiDiscrete, gym.spaces.MultiBinary
SPACE_CASES = {  # id: (algo, observation space, action space)
    "ppo-multidiscrete-obs-and-actions": ("PPO", _MD([3, 4, 2]), _MD([2, 3])),
    "a2c-multibinary-obs-and-actions": ("A2C", _MB(5), _MB(3)),
    "ppo-2d-multibinary-obs": ("PPO", _MB([3, 4]), gym.spaces.Discrete(4)),
    "dqn-multidiscrete-obs": ("DQN", _MD([3, 4]), gym.spaces.Discrete(3)),
    "ppo-int64-box-obs": ("PPO", gym.spaces.Box(0, 5, (3,), np.int64), gym.spaces.Box(-1, 1, (2,))),
}


def _space_observations(space: gym.Space, n: int = N_OBS) -> np.ndarray:
    space.seed(0)
    return np.stack([space.sample() for _ in range(n)])


@pytest.mark.parametrize("case", list(SPACE_CASES))
def test_multidiscrete_multibinary_and_int_box_spaces_act_as_sb3(case, tmp_path):
    algo, obs_space, act_space = SPACE_CASES[case]
    pytest.importorskip("stable_baselines3")
    extra = {"learning_starts": 16, "buffer_size": 100, "seed": 1} if algo == "DQN" else {"n_steps": 32}
    extra.update({"batch_size": 32, "n_epochs": 1} if algo == "PPO" else {})
    kw = {} if algo == "DQN" else {"policy_kwargs": {"ortho_init": False}}  # varied actions from the start
    model, path = _train(algo, SpacesEnv(obs_space, act_space), tmp_path, steps=32, **extra, **kw)
    agent = load_sb3(path)
    assert agent.observation_space == obs_space and agent.action_space == act_space
    obs = _space_observations(obs_space)
    want, _ = model.predict(obs, deterministic=True)
    got, _ = agent.predict(obs, deterministic=True)
    assert got.shape == want.shape == (N_OBS, *act_space.shape)
    if isinstance(act_space, gym.spaces.Box):
        np.testing.assert_allclose(got, want, atol=1e-5)
    else:  # SB3 gives MultiBinary actions as float32 0. / 1., nngym in the space's dtype: equal values
        assert np.array_equal(got, want), f"{np.sum(np.any(got != want, axis=tuple(range(1, got.ndim))))} differ"
        assert len(np.unique(want.reshape(N_OBS, -1), axis=0)) > 1
    if algo != "DQN":
        np.testing.assert_allclose(
            agent.policy.values(agent._normalize_obs(_encoded(agent, obs))),
            _sb3_values(model, obs),
            rtol=1e-5,
            atol=1e-5,
        )


def _encoded(agent, obs: np.ndarray) -> np.ndarray:
    from agents.common.spaces import encode_observations

    return encode_observations(agent.observation_space, obs, "test")[0]


def test_spaces_sb3_cannot_act_in_are_refused_by_name(tmp_path):
    pytest.importorskip("stable_baselines3")
    box = gym.spaces.Box(-1, 1, (3,), np.float32)
    # SB3 ignores a start: its actions are indices from 0, which nngym would shift by the start
    _, path = _train("PPO", SpacesEnv(box, gym.spaces.Discrete(3, start=1)), tmp_path, steps=32, n_steps=32)
    with pytest.raises(SB3ZipError, match=r"action_space: Discrete\(3, start=1\) has a non-zero start.*SB3 ignores"):
        load_sb3(path)
    _, path = _train("PPO", SpacesEnv(box, _MD([3, 2], start=[0, 2])), tmp_path, steps=32, n_steps=32)
    with pytest.raises(SB3ZipError, match=r"action_space: MultiDiscrete\(\[3 2\], start=\[0 2\]\) has a non-zero"):
        load_sb3(path)
    dict_env = SpacesEnv(gym.spaces.Dict({"a": box}), gym.spaces.Discrete(2))
    _, path = _train("PPO", dict_env, tmp_path, steps=32, n_steps=32, policy="MultiInputPolicy")
    supported = "supported: Box, Discrete, MultiDiscrete and MultiBinary"
    with pytest.raises(SB3ZipError, match=rf"observation_space: a Dict space is not supported \({supported}\)"):
        load_sb3(path)


def test_commands_on_multidiscrete_zips_convert_play_and_export(tmp_path):
    pytest.importorskip("stable_baselines3")
    from agents.experiments import convert_sb3

    env = SpacesEnv(gym.spaces.Box(-1, 1, (3,), np.float32), _MD([3, 2]))
    model, path = _train("PPO", env, tmp_path, steps=32, n_steps=32, policy_kwargs={"ortho_init": False})
    out = convert_sb3.main([str(path), str(tmp_path / "md.npz")])
    obs = observations(model.observation_space)
    assert np.array_equal(PPO.load(out).predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    from agents.experiments import enjoy

    gym.register("TestMultiDiscreteActions-v0", entry_point=lambda: SpacesEnv(env.observation_space, env.action_space))
    try:
        played = enjoy.main(["--env", "TestMultiDiscreteActions-v0", "--model", str(path), "--n-episodes", "2"])
    finally:
        del gym.registry["TestMultiDiscreteActions-v0"]
    assert played["lengths"] == [8, 8]
    pytest.importorskip("onnx")
    from agents.experiments import export

    ort = pytest.importorskip("onnxruntime")
    out = export.main([str(path), "--onnx", str(tmp_path / "md.onnx")])  # checked against predict on 1,000
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(["action"], {"obs": obs.astype(np.float32)})[0]
    assert got.dtype == np.int64 and np.array_equal(got, model.predict(obs, deterministic=True)[0])  # SB3's


def test_a_3d_float_box_is_flattened_as_sb3s_flatten_extractor_does(tmp_path):
    # no image by SB3's rule (uint8 0..255 only): nngym's networks get it flattened, as SB3's MlpPolicy does
    box = gym.spaces.Box(-1.0, 1.0, (2, 3, 4), np.float32)
    model, path = _train("PPO", SpacesEnv(box, gym.spaces.Discrete(3)), tmp_path)
    agent = load_sb3(path)
    layers = [type(layer).__name__ for net in agent._nets().values() for layer in net.layers]
    assert "Dense" in layers and not {"ImageScale", "Unflatten", "Flatten"} & set(layers)
    obs = np.random.default_rng(0).uniform(-1, 1, (200, 2, 3, 4)).astype(np.float32)
    _assert_same_actions(model, agent, obs)
