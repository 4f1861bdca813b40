"""normalize_obs / normalize_reward for every agent, with SB3's VecNormalize semantics.

By hand (running statistics, reward scaling by the running return's std), against SB3's own
``VecNormalize`` on the same stream of observations and rewards, and through the agents: the
statistics change while training, are saved in the model file, and are frozen in ``predict``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers nngym/CartPoleNoVel-v1
from agents import A2C, DQN, PPO, REINFORCE, RecurrentPPO
from agents.common.normalize import NormalizedVecEnv, Normalizer, RunningNormalizer
from agents.common.vec_env import SyncVectorEnv


def test_running_normalizer_matches_numpy():
    x = np.random.default_rng(0).normal(3.0, 0.1, (50, 2))
    rms = RunningNormalizer((2,))
    for chunk in np.split(x, [7, 20, 21]):
        rms.update(chunk)
    np.testing.assert_allclose(rms.mean, x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rms.var, x.var(0), rtol=5e-3)  # the pseudo-count 1e-4 (SB3) shifts σ² a little
    np.testing.assert_allclose(rms(x).mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(rms(x).std(0), 1.0, rtol=5e-3)
    assert np.abs(rms(x * 1e6)).max() == 10.0  # clipped to ±10


def test_reward_scaling_by_hand():
    """r / sqrt(Var[R] + ε), R the running discounted return per env, zeroed after a done."""
    norm = Normalizer((1,), n_envs=2, norm_obs=False, norm_reward=True, gamma=0.5)
    rewards = np.array([[1.0, 2.0], [1.0, -1.0], [3.0, 0.5]])
    dones = np.array([[False, True], [False, False], [True, False]])
    seen, R = [], np.zeros(2)
    for r, d in zip(rewards, dones, strict=True):
        R = 0.5 * R + r
        seen.append(R.copy())
        n = 2 * len(seen)  # the statistics: the returns seen so far plus the pseudo-count 1e-4 at mean 0, σ² 1
        data = np.concatenate(seen)
        mean = data.sum() / (n + 1e-4)
        var = (1e-4 * (1.0 + mean**2) + ((data - mean) ** 2).sum()) / (n + 1e-4)
        np.testing.assert_allclose(norm.scale_rewards(r, d), r / np.sqrt(var + 1e-8), rtol=1e-5)
        R = np.where(d, 0.0, R)
    np.testing.assert_allclose(norm.returns, R)  # env 0 ended at the last step, env 1 restarted after the first
    frozen = norm.ret_rms.var.copy()
    norm.training = False
    norm.scale_rewards(rewards[0] * 100, dones[0])
    assert norm.ret_rms.var == frozen  # nothing is updated outside training
    np.testing.assert_array_equal(Normalizer((1,), 2, True, False).scale_rewards(rewards[0], dones[0]), rewards[0])


class Replay(gym.Env):
    """Plays back a fixed stream of observations and rewards (the same for nngym and SB3)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, stream: list[tuple[np.ndarray, float, bool]], first: np.ndarray) -> None:
        self.stream, self.first, self.t = stream, first, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.first.copy(), {}

    def step(self, action):
        obs, r, done = self.stream[self.t]
        self.t += 1
        return obs.copy(), r, done, False, {}


def test_normalized_vec_env_matches_sb3_vecnormalize():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    rng = np.random.default_rng(0)
    n_envs, T = 2, 60

    def stream() -> list[tuple[np.ndarray, float, bool]]:
        return [
            (rng.normal([1.0, -5.0, 100.0], [1.0, 0.1, 30.0]), float(rng.normal(2.0, 3.0)), bool(rng.random() < 0.1))
            for _ in range(T)
        ]

    per_env, firsts = [stream() for _ in range(n_envs)], [rng.normal(size=3) for _ in range(n_envs)]
    make = [lambda i=i: Replay(per_env[i], firsts[i]) for i in range(n_envs)]
    sb3 = VecNormalize(DummyVecEnv(make), gamma=0.9, clip_obs=10.0, clip_reward=10.0, epsilon=1e-8)
    normalizer = Normalizer((3,), n_envs, norm_obs=True, norm_reward=True, gamma=0.9)
    ours = NormalizedVecEnv(SyncVectorEnv(make), normalizer)
    np.testing.assert_allclose(ours.reset()[0], sb3.reset(), rtol=1e-5, atol=1e-6)
    for _ in range(T):
        actions = np.zeros(n_envs, np.int64)
        obs, rewards, terminated, truncated, infos = ours.step(actions)
        sb3_obs, sb3_rewards, sb3_dones, sb3_infos = sb3.step(actions)
        done = terminated | truncated
        np.testing.assert_array_equal(done, sb3_dones)
        np.testing.assert_allclose(rewards, sb3_rewards, rtol=1e-5, atol=1e-6)
        for i in np.flatnonzero(done):  # SB3 keeps the normalised final observation in terminal_observation
            np.testing.assert_allclose(infos["final_obs"][i], sb3_infos[i]["terminal_observation"], rtol=1e-5)
        np.testing.assert_allclose(obs, sb3_obs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(normalizer.obs_rms.mean, sb3.obs_rms.mean, rtol=1e-10)
    np.testing.assert_allclose(normalizer.ret_rms.var, sb3.ret_rms.var, rtol=1e-6)  # SB3 sums float32 rewards
    assert sum(done for s in per_env for *_, done in s) >= 5  # episodes end in the stream: resets are compared


AGENTS = [
    (PPO, "CartPole-v1", {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1}),
    (A2C, "CartPole-v1", {"n_envs": 2, "n_steps": 8}),
    (REINFORCE, "CartPole-v1", {"n_envs": 2, "n_steps": 64}),
    (DQN, "CartPole-v1", {"learning_starts": 32, "batch_size": 16, "train_freq": 4, "gradient_steps": -1}),
    (RecurrentPPO, "nngym/CartPoleNoVel-v1", {"n_envs": 2, "n_steps": 16, "lstm_hidden_size": 8}),
]


@pytest.mark.parametrize("cls,env_id,kw", AGENTS, ids=[c.__name__ for c, _, _ in AGENTS])
def test_every_agent_normalizes_saves_and_freezes_statistics(cls, env_id, kw, tmp_path):
    agent = cls(env_id, seed=1, normalize_obs=True, normalize_reward=True, **kw).learn(256)
    assert agent.obs_rms.count > 256 and agent.ret_rms.count > 200  # updated in training
    assert np.abs(agent.obs_rms.mean).max() > 1e-3
    assert all(e["r"] > 0 for e in agent.ep_info_buffer)  # episode statistics stay raw: CartPole pays +1 per step
    path = agent.save(tmp_path / "agent.npz")
    loaded = cls.load(path)
    np.testing.assert_array_equal(loaded.obs_rms.mean, agent.obs_rms.mean)
    np.testing.assert_array_equal(loaded.ret_rms.var, agent.ret_rms.var)
    obs = np.random.default_rng(2).normal(0.0, 0.5, (20, *agent.observation_space.shape)).astype(np.float32)
    a1, _ = agent.predict(obs, episode_start=np.ones(20), deterministic=True)
    a2, _ = loaded.predict(obs, episode_start=np.ones(20), deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    count = agent.obs_rms.count
    agent.predict(obs, episode_start=np.ones(20), deterministic=True)
    assert agent.obs_rms.count == count  # frozen in predict
    # the networks see normalised observations: predict on raw obs equals acting on what the normaliser makes
    np.testing.assert_array_equal(a1, agent._act(agent._normalize_obs(obs), True) if cls is not RecurrentPPO else a1)


def test_a_file_without_the_statistics_is_refused(tmp_path):
    from nngym.serialization import ModelFileError, load_npz, save_npz

    agent = PPO("CartPole-v1", n_envs=1, n_steps=32, batch_size=32, normalize_obs=True)
    arrays, meta = load_npz(agent.save(tmp_path / "a.npz"))
    arrays.pop("obs_rms")
    meta.pop("sha256")
    from agents.common.base import _digest

    meta["sha256"] = _digest(arrays, meta)
    save_npz(tmp_path / "b.npz", arrays, meta)
    with pytest.raises(ModelFileError, match="no 'obs_rms' statistics"):
        PPO.load(tmp_path / "b.npz")


def test_normalized_pixels_are_stored_as_floats():
    """uint8 images stay uint8 in the buffers, but normalised observations are no longer pixels."""
    plain = PPO("nngym/Catch-v0", net="cnn", n_envs=2, n_steps=16, batch_size=16, n_epochs=1)
    normed = PPO("nngym/Catch-v0", net="cnn", n_envs=2, n_steps=16, batch_size=16, n_epochs=1, normalize_obs=True)
    assert plain.buffer.obs.dtype == np.uint8 and normed.buffer.obs.dtype == np.float32
    normed.learn(32)
    assert np.abs(normed.buffer.obs).max() > 0 and not np.allclose(normed.buffer.obs, np.round(normed.buffer.obs))


def test_a_flattened_box_keeps_its_shape_in_vecnormalizes_api(tmp_path):
    """An agent flattens a (3, 4) Box for its MLP, and its normaliser keeps the flat statistics; what SB3's
    VecNormalize users read and pass (obs_rms, normalize_obs, unnormalize_obs, get_original_obs, a saved file) has the
    env's shape, with SB3's values on the same stream. A Dict observation's statistics are refused by key."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from toy_envs import SpacesEnv

    def make_env() -> SpacesEnv:  # a space each: the env seeds its own
        return SpacesEnv(gym.spaces.Box(-1.0, 1.0, (3, 4), np.float32), gym.spaces.Discrete(2))

    make = [make_env, make_env]
    sb3 = VecNormalize(DummyVecEnv(make), gamma=0.9)
    sb3.seed(5)
    agent = PPO(SyncVectorEnv(make), normalize_obs=True, normalize_reward=True, gamma=0.9)
    ours = agent.env
    np.testing.assert_allclose(ours.reset(seed=5)[0], sb3.reset().reshape(2, 12), rtol=1e-5, atol=1e-6)
    for _ in range(20):
        ours.step(np.zeros(2, np.int64))
        sb3.step(np.zeros(2, np.int64))
    norm = agent.get_vec_normalize_env()
    assert norm.obs_rms.mean.shape == norm.obs_rms.var.shape == (3, 4)
    np.testing.assert_allclose(norm.obs_rms.mean, sb3.obs_rms.mean, rtol=1e-6)  # SB3 averages float32 batches
    np.testing.assert_array_equal(norm.get_original_obs(), sb3.get_original_obs())
    obs = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(norm.normalize_obs(obs), sb3.normalize_obs(obs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(norm.normalize_obs(obs[None]), sb3.normalize_obs(obs[None]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(norm.normalize_obs(obs.reshape(12)), norm.normalize_obs(obs).reshape(12))
    np.testing.assert_allclose(norm.unnormalize_obs(norm.normalize_obs(obs)), obs, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"normalize_obs expected obs of shape \(3, 4\) or \(N, 3, 4\), got \(4, 3\)"):
        norm.normalize_obs(obs.T)
    back = Normalizer.load(norm.save(tmp_path / "vecnormalize"))
    assert back.obs_rms.mean.shape == (3, 4)
    np.testing.assert_array_equal(back.normalize_obs(obs), norm.normalize_obs(obs))
    np.testing.assert_allclose(
        PPO.load(agent.save(tmp_path / "m")).predict(obs, deterministic=True)[0],
        agent.predict(obs, deterministic=True)[0],
    )
    dict_space = gym.spaces.Dict({"a": gym.spaces.Box(-1.0, 1.0, (2,), np.float32), "b": gym.spaces.Discrete(3)})
    dict_norm = PPO(SpacesEnv(dict_space, gym.spaces.Discrete(2)), normalize_obs=True).get_vec_normalize_env()
    with pytest.raises(TypeError, match=r"obs_rms\['a'\]: these are the statistics of the whole observation as the"):
        dict_norm.obs_rms["a"]
    with pytest.raises(
        ValueError, match=r"normalize_obs takes observations as the agent encodes them, .*\(5,\) .*dict"
    ):
        dict_norm.normalize_obs({"a": np.zeros(2), "b": 1})


def test_normalize_kwargs_are_vecnormalizes_settings_checked_by_every_agent_and_the_sb3_adapter(tmp_path):
    agent = PPO("CartPole-v1", normalize_obs=True, normalize_kwargs={"clip_obs": 5.0, "epsilon": 1e-6, "gamma": 0.9})
    norm = agent.get_vec_normalize_env()
    assert (norm.clip_obs, norm.epsilon, norm.gamma, norm.clip_reward, agent.gamma) == (5.0, 1e-6, 0.9, 10.0, 0.99)
    back = PPO.load(agent.save(tmp_path / "m")).get_vec_normalize_env()
    assert (back.clip_obs, back.epsilon, back.gamma) == (5.0, 1e-6, 0.9)
    bad = [
        ({"normalize_kwargs": {"clip_obs": True}}, "normalize_kwargs clip_obs must be a number, got True"),
        ({"normalize_kwargs": {"clip_obs": "5"}}, "normalize_kwargs clip_obs must be a number, got '5'"),
        ({"normalize_kwargs": {"clip_obs": -1.0}}, "normalize_kwargs: clip_obs must be > 0, got -1.0"),
        ({"normalize_kwargs": {"gamma": 1.5}}, r"normalize_kwargs gamma must be a number in \[0, 1\], got 1.5"),
        ({"normalize_kwargs": {"clp": 5.0}}, r"normalize_kwargs \['clp'\] unknown; it takes \['clip_obs'"),
        ({"normalize_kwargs": 5.0}, "normalize_kwargs must be a dict of"),
    ]
    for kwargs, match in bad:
        with pytest.raises(ValueError, match=match):
            PPO("CartPole-v1", normalize_obs=True, **kwargs)
    with pytest.raises(ValueError, match=r"normalize_kwargs=\{'clip_obs': 5.0\} without normalize_obs or normalize"):
        DQN("CartPole-v1", normalize_kwargs={"clip_obs": 5.0})
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import SB3PPO

    venv = SB3PPO("CartPole-v1", normalize_reward=True, normalize_kwargs={"clip_reward": 2.0})._venv
    assert (venv.clip_reward, venv.clip_obs, venv.norm_obs) == (2.0, 10.0, False)
    with pytest.raises(ValueError, match=r"SB3 PPO: normalize_kwargs \['clp'\] unknown"):
        SB3PPO("CartPole-v1", normalize_obs=True, normalize_kwargs={"clp": 5.0})
