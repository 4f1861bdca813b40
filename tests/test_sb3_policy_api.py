"""What SB3's users call on ``model.policy`` and ``model.get_vec_normalize_env()``.

``policy.predict`` is the agent's ``predict`` (PPO with Discrete and Box actions, A2C, REINFORCE, DQN's greedy
``DQNPolicy``, RecurrentPPO with its state carried, with and without ``normalize_obs``); ``state_dict`` /
``load_state_dict`` / ``parameters`` use the model file's names and check names and shapes; ``set_training_mode``
records the mode. ``get_vec_normalize_env()`` is None without normalisation, else the agent's ``Normalizer``, whose
numbers are those of SB3's own ``VecNormalize`` fed the same observations and rewards, whose ``training = False``
freezes the statistics as SB3's does, and whose ``save`` file ``Normalizer.load`` reads back.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers nngym/CartPoleNoVel-v1
from agents import A2C, DQN, PPO, REINFORCE, RecurrentPPO
from agents.common.normalize import NormalizedVecEnv, Normalizer
from agents.common.policies import ActorCriticPolicy
from agents.common.spaces import to_env_actions
from agents.common.vec_env import SyncVectorEnv
from nngym.serialization import ModelFileError, save_npz

PPO_KW = {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1}
DQN_KW = {"learning_starts": 32, "batch_size": 16, "train_freq": 4, "buffer_size": 1_000}
REC_KW = {"n_envs": 2, "n_steps": 16, "batch_size": 32, "n_epochs": 1, "lstm_hidden_size": 8}
#: (class, env id, hyperparameters) of an agent of each policy class
AGENTS = [
    (PPO, "Pendulum-v1", PPO_KW),
    (DQN, "CartPole-v1", DQN_KW),
    (RecurrentPPO, "nngym/CartPoleNoVel-v1", REC_KW),
]
IDS = [cls.__name__ for cls, _, _ in AGENTS]


def _obs(space: gym.spaces.Box, n: int, seed: int = 0) -> np.ndarray:
    """n observations of the Box ``space``, (n, *shape), within ±2 of 0 where its bounds allow."""
    low, high = np.maximum(space.low, -2.0), np.minimum(space.high, 2.0)
    return np.random.default_rng(seed).uniform(low, high, (n, *space.shape)).astype(space.dtype)


def _act(model, obs: np.ndarray, deterministic: bool = True, policy: bool = False) -> np.ndarray:
    """The actions of ``model.predict`` (or ``model.policy.predict``) for a batch, every recurrent state starting."""
    starts = np.ones(len(obs)) if isinstance(model, RecurrentPPO) else None
    return (model.policy if policy else model).predict(obs, episode_start=starts, deterministic=deterministic)[0]


# --- policy.predict ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("normalize", [False, True], ids=["raw", "normalize_obs"])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_policy_predict_is_the_agents_predict(env_id, normalize):
    model = PPO(env_id, seed=0, normalize_obs=normalize, **PPO_KW).learn(128)
    policy, obs = model.policy, _obs(model.observation_space, 7)
    for batch in (obs, obs[0]):
        actions, state = policy.predict(batch, deterministic=True)
        expected = model.predict(batch, deterministic=True)[0]
        np.testing.assert_array_equal(actions, expected)
        assert actions.dtype == expected.dtype and actions.shape == expected.shape and state is None
        before = model.rng.bit_generator.state  # sampling: the same draws from the agent's generator
        sampled = policy.predict(batch)[0]
        after = model.rng.bit_generator.state
        model.rng.bit_generator.state = before
        np.testing.assert_array_equal(sampled, model.predict(batch)[0])
        assert model.rng.bit_generator.state == after and after != before
    assert policy.predict(obs[0], deterministic=True)[0].shape == model.action_space.shape
    if env_id == "Pendulum-v1":  # clipped to the bounds in the space's dtype, from the normalised observations
        seen = model.normalizer.normalize_obs(obs) if normalize else obs
        mean = to_env_actions(model.action_space, policy.actor_distribution(seen).mode())
        np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0], mean)
        assert mean.dtype == np.float32 and np.all(np.abs(policy.predict(obs * 50)[0]) <= 2.0)
        if normalize:  # the networks do not see the raw observations
            raw = to_env_actions(model.action_space, policy.actor_distribution(obs).mode())
            assert not np.array_equal(raw, mean)


@pytest.mark.parametrize("cls", [A2C, REINFORCE])
def test_a2c_and_reinforce_policies_predict_as_their_agents(cls):
    model = cls("CartPole-v1", seed=0, n_envs=2, normalize_obs=True)
    obs = _obs(model.observation_space, 9)
    np.testing.assert_array_equal(model.policy.predict(obs, deterministic=True)[0], _act(model, obs))
    assert isinstance(model.policy, ActorCriticPolicy)


@pytest.mark.parametrize("normalize", [False, True], ids=["raw", "normalize_obs"])
def test_dqn_policy_is_greedy_with_the_agents_q_networks(normalize):
    model = DQN("CartPole-v1", seed=0, normalize_obs=normalize, **DQN_KW).learn(200)
    policy = model.policy
    assert policy.q_net is model.q_net and policy.q_net_target is model.q_net_target is model.q_target
    obs = _obs(model.observation_space, 16)
    greedy = model.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(greedy, model.q_net.forward(model._normalize_obs(obs)).argmax(axis=1))
    model.exploration_rate = 1.0  # the agent's predict explores; SB3's DQNPolicy.predict never does
    before = model.rng.bit_generator.state
    for deterministic in (True, False):
        actions, state = policy.predict(obs, deterministic=deterministic)
        np.testing.assert_array_equal(actions, greedy)
        assert actions.dtype == greedy.dtype and state is None
    assert policy.predict(obs[3])[0] == greedy[3] and np.shape(policy.predict(obs[3])[0]) == ()
    assert model.rng.bit_generator.state == before  # no ε draws
    assert not np.array_equal(model.predict(obs)[0], greedy)  # 16 uniform draws are not all greedy (seeded)


@pytest.mark.parametrize("normalize", [False, True], ids=["raw", "normalize_obs"])
def test_recurrent_policy_predict_carries_the_agents_state(normalize):
    model = RecurrentPPO("nngym/CartPoleNoVel-v1", seed=0, normalize_obs=normalize, **REC_KW).learn(64)
    obs = _obs(model.observation_space, 15).reshape(5, 3, 2)
    ours = theirs = None
    starts = np.ones(3)
    for t in range(5):
        deterministic = t % 2 == 0
        before = model.rng.bit_generator.state
        actions, ours = model.policy.predict(obs[t], ours, episode_start=starts, deterministic=deterministic)
        model.rng.bit_generator.state = before
        expected, theirs = model.predict(obs[t], theirs, episode_start=starts, deterministic=deterministic)
        np.testing.assert_array_equal(actions, expected)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
        starts = np.zeros(3)
    assert np.abs(ours[0]).max() > 1e-3  # the state carried is a memory, not zeros
    assert model.policy.observation_space == model.observation_space


@pytest.mark.parametrize("cls,env_id,kw", AGENTS, ids=IDS)
def test_policy_predict_refuses_a_wrong_shape_as_the_agent(cls, env_id, kw):
    model = cls(env_id, seed=0, **kw)
    bad = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match="expected obs of shape") as from_model:
        model.predict(bad)
    with pytest.raises(ValueError, match="expected obs of shape") as from_policy:
        model.policy.predict(bad)
    assert str(from_policy.value) == str(from_model.value)


@pytest.mark.parametrize("cls,env_id,kw", AGENTS, ids=IDS)
def test_set_training_mode_records_the_mode_and_spaces_are_the_agents(cls, env_id, kw):
    model = cls(env_id, seed=0, **kw)
    policy, obs = model.policy, _obs(model.observation_space, 6)
    assert policy.observation_space == model.observation_space and policy.action_space == model.action_space
    before = _act(model, obs, policy=True)
    assert policy.set_training_mode(False) is None and policy.training is False
    np.testing.assert_array_equal(_act(model, obs, policy=True), before)
    assert policy.set_training_mode(True) is None and policy.training is True
    np.testing.assert_array_equal(_act(model, obs, policy=True), before)
    with pytest.raises(ValueError, match="set_training_mode takes a bool, got 'eval'"):
        policy.set_training_mode("eval")


def test_a_policy_made_without_an_agent_says_so():
    policy = ActorCriticPolicy(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2), np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=r"ActorCriticPolicy.predict needs the agent .* agent.policy"):
        policy.predict(np.zeros(3))
    with pytest.raises(RuntimeError, match="state_dict needs the agent"):
        policy.state_dict()
    assert policy.set_training_mode(False) is None and policy.observation_space.shape == (3,)


# --- state_dict, load_state_dict, parameters ------------------------------------------------------------------------
@pytest.mark.parametrize("cls,env_id,kw", AGENTS, ids=IDS)
def test_state_dict_round_trip_gives_a_fresh_agent_the_same_actions(cls, env_id, kw):
    trained, fresh = cls(env_id, seed=0, **kw).learn(128), cls(env_id, seed=1, **kw)
    obs = _obs(trained.observation_space, 32)
    state = trained.policy.state_dict()
    params = trained.get_parameters()  # the same arrays, by the model file's names
    names = [f"{g}/{k}" for g, arrays in params.items() if g.startswith("net/") for k in arrays]
    assert list(state) == names + list(params.get("extra", {}))
    for name, value in state.items():
        group, key = name.rsplit("/", 1) if name.startswith("net/") else ("extra", name)
        np.testing.assert_array_equal(value, params[group][key])
    if cls is DQN:
        assert {n.split("/")[1] for n in state} == {"q", "q_target"}
    expected = _act(trained, obs)
    assert not all(np.array_equal(v, state[k]) for k, v in fresh.policy.state_dict().items())
    assert fresh.policy.load_state_dict(state) is None
    assert all(np.array_equal(v, state[k]) for k, v in fresh.policy.state_dict().items())
    np.testing.assert_array_equal(_act(fresh, obs), expected)
    np.testing.assert_array_equal(_act(fresh, obs, policy=True), expected)
    for value in state.values():  # copies: changing them changes no policy
        value += 1.0
    np.testing.assert_array_equal(_act(trained, obs), expected)
    live = trained.policy.parameters()  # the parameters themselves, in state_dict's order
    assert len(live) == len(state) and all(p.shape == v.shape for p, v in zip(live, state.values(), strict=True))
    assert sum(p.size for p in live) == sum(v.size for v in state.values())
    live[0][...] = 0.0
    assert not trained.policy.state_dict()[names[0]].any()


def test_load_state_dict_refuses_wrong_names_and_shapes_and_writes_nothing_then():
    model = PPO("CartPole-v1", seed=0, **PPO_KW)
    policy, before = model.policy, model.policy.state_dict()
    changed = {name: value + 1.0 for name, value in before.items()}  # all written, or none

    bad_shape = {**changed, "net/vf/4.W": np.zeros((3, 3), np.float32)}
    shapes = r"PPO.policy.load_state_dict: net/vf/4.W has shape \(3, 3\), expected \(1, 64\)"
    with pytest.raises(ValueError, match=shapes):
        policy.load_state_dict(bad_shape)
    renamed = {("net/pi/0.Wx" if k == "net/pi/0.W" else k): v for k, v in changed.items()}
    with pytest.raises(ValueError) as err:
        policy.load_state_dict(renamed)
    message = str(err.value)
    assert "expected the names ['net/pi/0.W', " in message and "got ['net/pi/0.Wx', " in message
    assert "unknown ['net/pi/0.Wx'], missing ['net/pi/0.W']" in message
    with pytest.raises(ValueError, match=r"unknown \[\], missing \['log_std'\]"):
        policy.load_state_dict({k: v for k, v in changed.items() if k != "log_std"})
    with pytest.raises(ValueError, match="net/pi/0.b must be a numeric array, got str"):
        policy.load_state_dict({**changed, "net/pi/0.b": "zeros"})
    with pytest.raises(ValueError, match="takes a dict of name -> array"):
        policy.load_state_dict(list(changed.values()))
    for name, value in policy.state_dict().items():
        np.testing.assert_array_equal(value, before[name])  # nothing written
    policy.load_state_dict({"net/pi/0.b": np.ones(64)}, strict=False)  # a subset, cast to the parameter's dtype
    after = policy.state_dict()
    assert after["net/pi/0.b"].dtype == np.float32 and np.all(after["net/pi/0.b"] == 1.0)
    np.testing.assert_array_equal(after["net/pi/0.W"], before["net/pi/0.W"])

    dqn = DQN("CartPole-v1", seed=0, **DQN_KW)
    wrong = {**dqn.policy.state_dict(), "net/q_target/0.W": np.zeros((64, 5))}
    with pytest.raises(ValueError, match=r"DQN.policy.load_state_dict: net/q_target/0.W has shape \(64, 5\), expected"):
        dqn.policy.load_state_dict(wrong)


# --- get_vec_normalize_env ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,env_id,kw", AGENTS, ids=IDS)
def test_get_vec_normalize_env_is_none_without_normalisation(cls, env_id, kw):
    assert cls(env_id, seed=0, **kw).get_vec_normalize_env() is None
    normed = cls(env_id, seed=0, normalize_reward=True, **kw).get_vec_normalize_env()
    assert isinstance(normed, Normalizer) and normed.norm_reward and not normed.norm_obs and normed.obs_rms is None


class Recorder(gym.Wrapper):
    """Writes every reset's and step's observation and reward to ``log``."""

    def __init__(self, env: gym.Env, log: list) -> None:
        super().__init__(env)
        self.log = log

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.log.append(("reset", obs.copy()))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.log.append(("step", obs.copy(), float(reward), terminated, truncated))
        return obs, reward, terminated, truncated, info


class Replay(gym.Env):
    """Plays back what a ``Recorder`` wrote, in order."""

    def __init__(self, log: list, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.log, self.t = log, 0
        self.observation_space, self.action_space = observation_space, action_space

    def _next(self, kind: str) -> tuple:
        event = self.log[self.t]
        self.t += 1
        assert event[0] == kind
        return event[1:]

    def reset(self, *, seed=None, options=None):
        return self._next("reset")[0].copy(), {}

    def step(self, action):
        obs, reward, terminated, truncated = self._next("step")
        return obs.copy(), reward, terminated, truncated, {}


def test_get_vec_normalize_env_gives_sb3s_vecnormalize_numbers_and_training_false_freezes_them():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    logs: list[list] = [[], []]
    env = SyncVectorEnv([lambda i=i: Recorder(gym.make("CartPole-v1"), logs[i]) for i in range(2)])
    model = PPO(env, seed=0, normalize_obs=True, normalize_reward=True, gamma=0.95, **PPO_KW).learn(256)
    vn = model.get_vec_normalize_env()
    assert vn is model.normalizer
    spaces = (env.single_observation_space, env.single_action_space)
    sb3 = VecNormalize(DummyVecEnv([lambda i=i: Replay(logs[i], *spaces) for i in range(2)]), gamma=0.95)
    assert (vn.norm_obs, vn.norm_reward, vn.training) == (sb3.norm_obs, sb3.norm_reward, sb3.training)
    assert (vn.clip_obs, vn.clip_reward, vn.gamma, vn.epsilon) == (sb3.clip_obs, sb3.clip_reward, 0.95, sb3.epsilon)

    def same_numbers() -> None:
        for ours, theirs in ((vn.obs_rms, sb3.obs_rms), (vn.ret_rms, sb3.ret_rms)):
            np.testing.assert_allclose(ours.mean, theirs.mean, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(ours.var, theirs.var, rtol=1e-5)
            assert ours.count == pytest.approx(theirs.count, rel=1e-12)
        np.testing.assert_allclose(vn.returns, sb3.returns, rtol=1e-5)
        np.testing.assert_array_equal(vn.get_original_obs(), sb3.get_original_obs())
        np.testing.assert_array_equal(vn.get_original_reward(), sb3.get_original_reward())

    sb3.reset()
    for _ in range(model.num_timesteps // 2):
        sb3.step(np.zeros(2, np.int64))
    assert [r.t for r in sb3.venv.envs] == [len(log) for log in logs]  # every reset and step played back
    assert sum(event[0] == "reset" for log in logs for event in log) > 4  # episodes ended: resets compared too
    same_numbers()
    x = _obs(model.observation_space, 5) * 3
    np.testing.assert_allclose(vn.normalize_obs(x), sb3.normalize_obs(x), rtol=1e-5, atol=1e-6)
    assert vn.normalize_obs(x).dtype == sb3.normalize_obs(x).dtype == np.float32
    z = vn.normalize_obs(x)
    np.testing.assert_allclose(vn.unnormalize_obs(z), sb3.unnormalize_obs(z), rtol=1e-6)
    inside = vn.obs_rms.mean + np.sqrt(vn.obs_rms.var) * np.linspace(-3, 3, 20).reshape(5, 4)  # within the clip
    np.testing.assert_allclose(vn.unnormalize_obs(vn.normalize_obs(inside)), inside, rtol=1e-5, atol=1e-5)
    r = np.array([1.0, -3.0, 250.0])
    np.testing.assert_allclose(vn.normalize_reward(r), sb3.normalize_reward(r), rtol=1e-6)
    np.testing.assert_allclose(vn.unnormalize_reward(r), sb3.unnormalize_reward(r), rtol=1e-6)
    assert vn.normalize_reward(r)[2] == vn.clip_reward  # clipped

    # frozen: SB3's venv.training = False on both, the same stream (no reset) continues
    vn.training, sb3.training = False, False
    frozen = [vn.obs_rms.mean.copy(), vn.obs_rms.var.copy(), vn.obs_rms.count, vn.ret_rms.var.copy(), vn.ret_rms.count]
    sizes = [len(log) for log in logs]
    model.learn(128, reset_num_timesteps=False)
    for _ in range(64):
        sb3.step(np.zeros(2, np.int64))
    assert [len(log) for log in logs] != sizes and [r.t for r in sb3.venv.envs] == [len(log) for log in logs]
    now = [vn.obs_rms.mean, vn.obs_rms.var, vn.obs_rms.count, vn.ret_rms.var, vn.ret_rms.count]
    for a, b in zip(frozen, now, strict=True):
        np.testing.assert_array_equal(a, b)
    same_numbers()  # the returns too: not advanced, zeroed where episodes ended, as SB3's
    vn.training = True
    with pytest.raises(ValueError, match="training must be a bool"):
        vn.training = "no"


def test_dqn_normalises_where_it_samples_and_training_false_freezes_it():
    model = DQN("CartPole-v1", seed=0, normalize_obs=True, normalize_reward=True, **DQN_KW).learn(96)
    vn = model.get_vec_normalize_env()
    assert vn is model.normalizer and vn.obs_rms.count > 90 and vn.ret_rms.count > 90
    np.testing.assert_array_equal(vn.get_original_obs(), model._last_obs)  # the env's raw observations
    np.testing.assert_array_equal(vn.get_original_reward(), [1.0])
    sampled = model.replay_buffer.sample(8, np.random.default_rng(1), env=vn)  # SB3's sample(batch_size, env)
    raw = model.replay_buffer.sample(8, np.random.default_rng(1))
    np.testing.assert_array_equal(sampled.observations, vn.normalize_obs(raw.observations))
    np.testing.assert_array_equal(sampled.rewards, vn.normalize_reward(raw.rewards))
    assert not np.allclose(sampled.rewards, raw.rewards)
    vn.training = False
    counts = (vn.obs_rms.count, vn.ret_rms.count, vn.obs_rms.mean.copy())
    model.learn(64, reset_num_timesteps=False)
    assert (vn.obs_rms.count, vn.ret_rms.count) == counts[:2]
    np.testing.assert_array_equal(vn.obs_rms.mean, counts[2])


def test_norm_flags_switch_the_normalisation_as_sb3s():
    model = PPO("CartPole-v1", seed=0, normalize_obs=True, **PPO_KW).learn(128)
    vn, obs = model.get_vec_normalize_env(), _obs(model.observation_space, 8)
    assert model.obs_rms is vn.obs_rms
    vn.norm_obs = False  # predict then acts on the raw observations, as the env would give them
    np.testing.assert_array_equal(vn.normalize_obs(obs), obs)
    np.testing.assert_array_equal(_act(model, obs, policy=True), model.policy.actor_distribution(obs).mode())
    assert model.obs_rms is None
    vn.norm_obs = True
    with pytest.raises(ValueError, match="norm_reward=True needs the returns' statistics"):
        vn.norm_reward = True
    np.testing.assert_array_equal(vn.normalize_reward(np.array([2.5])), np.float32([2.5]))
    with pytest.raises(ValueError, match=r"normalize_obs expected obs of shape \(4,\) or \(N, 4\), got \(8, 3\)"):
        vn.normalize_obs(obs[:, :3])
    with pytest.raises(ValueError, match="clip_obs must be > 0, got -1"):
        vn.clip_obs = -1


def test_saved_statistics_load_back(tmp_path):
    model = PPO("CartPole-v1", seed=0, normalize_obs=True, normalize_reward=True, **PPO_KW).learn(128)
    vn = model.get_vec_normalize_env()
    vn.clip_obs, vn.training, vn.norm_reward = 2.5, False, False
    path = vn.save(tmp_path / "vecnormalize")
    assert path.name == "vecnormalize.npz"
    loaded = Normalizer.load(path, n_envs=3)
    for name in ("norm_obs", "norm_reward", "training", "clip_obs", "clip_reward", "gamma", "epsilon", "obs_shape"):
        assert getattr(loaded, name) == getattr(vn, name), name
    assert (loaded.clip_obs, loaded.training, loaded.norm_reward) == (2.5, False, False)
    for ours, theirs in ((loaded.obs_rms, vn.obs_rms), (loaded.ret_rms, vn.ret_rms)):
        np.testing.assert_array_equal(ours.mean, theirs.mean)
        np.testing.assert_array_equal(ours.var, theirs.var)
        assert ours.count == theirs.count
    x = _obs(model.observation_space, 6) * 40
    np.testing.assert_array_equal(loaded.normalize_obs(x), vn.normalize_obs(x))
    assert np.abs(loaded.normalize_obs(x)).max() == 2.5 and loaded.returns.shape == (3,)
    wrapped = NormalizedVecEnv(SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 3), loaded)  # SB3's load(path, venv)
    obs, _ = wrapped.reset(seed=0)
    np.testing.assert_array_equal(obs, vn.normalize_obs(wrapped.normalizer.get_original_obs()))

    with pytest.raises(ModelFileError, match="expected 'nngym.vecnormalize'"):
        Normalizer.load(model.save(tmp_path / "model"))
    arrays = {**vn.arrays(), "obs_rms": np.zeros((3, 5))}
    meta = {"format": "nngym.vecnormalize", "obs_shape": [4], "norm_obs": True, "norm_reward": True, "training": True}
    save_npz(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(ModelFileError, match=r"obs_rms is a float64 array of shape \(3, 5\), expected floats of shape"):
        Normalizer.load(tmp_path / "bad.npz")
