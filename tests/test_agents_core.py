"""Agents' building blocks: distributions, GAE / n-step returns, hand-written loss gradients,
the SAME_STEP vector env and truncation bootstrapping on a tiny env with known values."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gradients import assert_all_float64, assert_gradient_matches

from agents.a2c import A2C
from agents.common.buffers import ReplayBuffer, RolloutBuffer, gae
from agents.common.distributions import Categorical, DiagGaussian
from agents.common.policies import ActorCriticPolicy, backward_policy_loss
from agents.common.rollout import collect_rollout
from agents.common.vec_env import SyncVectorEnv, make_vec_env
from agents.dqn import DQN
from agents.ppo import PPO, ppo_loss
from nngym import Dense, Sequential
from nngym.gradcheck import numerical_gradient


class CounterEnv(gym.Env):
    """obs = [steps taken in this episode]; reward 1 per step; ends after ``horizon`` steps.

    ``terminate=True`` ends by termination, else by truncation (a time limit).
    """

    def __init__(self, horizon: int = 3, terminate: bool = False) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.horizon, self.terminate = horizon, terminate

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t >= self.horizon
        return np.array([self.t], np.float32), 1.0, end and self.terminate, end and not self.terminate, {}


# --- distributions ---------------------------------------------------------------------------------
def test_categorical_log_prob_entropy_closed_form():
    logits = np.array([[0.0, np.log(3.0)], [1.0, 1.0]])
    d = Categorical(logits)
    np.testing.assert_allclose(d.log_prob(np.array([1, 0])), [np.log(0.75), np.log(0.5)])
    h0 = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    np.testing.assert_allclose(d.entropy(), [h0, np.log(2.0)])
    counts = np.bincount(Categorical(np.tile(logits[:1], (20000, 1))).sample(np.random.default_rng(0)), minlength=2)
    assert abs(counts[1] / 20000 - 0.75) < 0.015


def test_gaussian_log_prob_entropy_closed_form():
    mean, log_std = np.array([[0.5, -1.0]]), np.array([np.log(2.0), 0.0])
    a = np.array([[1.5, -1.0]])
    d = DiagGaussian(mean, log_std)
    expected = -0.5 * (0.5**2) - np.log(2.0) - np.log(2 * np.pi)
    np.testing.assert_allclose(d.log_prob(a), [expected])
    np.testing.assert_allclose(d.entropy(), [np.log(2.0) + 1.0 + np.log(2 * np.pi)])


def test_distributions_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    logits, a = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    td = torch.distributions.Categorical(logits=torch.tensor(logits))
    d = Categorical(logits)
    np.testing.assert_allclose(d.log_prob(a), td.log_prob(torch.tensor(a)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(d.entropy(), td.entropy().numpy(), rtol=1e-10)
    mean, log_std, x = rng.standard_normal((5, 3)), rng.standard_normal(3) * 0.3, rng.standard_normal((5, 3))
    tn = torch.distributions.Normal(torch.tensor(mean), torch.tensor(np.exp(log_std)))
    g = DiagGaussian(mean, log_std)
    np.testing.assert_allclose(g.log_prob(x), tn.log_prob(torch.tensor(x)).sum(1).numpy(), rtol=1e-10)
    np.testing.assert_allclose(g.entropy(), tn.entropy().sum(1).numpy(), rtol=1e-10)


def test_distribution_gradients_numerically():
    rng = np.random.default_rng(2)
    z, a = rng.standard_normal((3, 4)), np.array([0, 3, 1])
    for f, analytic in [
        (lambda: Categorical(z).log_prob(a).sum(), Categorical(z).grad_log_prob(a)),
        (lambda: Categorical(z).entropy().sum(), Categorical(z).grad_entropy()),
    ]:
        assert_gradient_matches(analytic, numerical_gradient(f, z))
    mean, log_std, x = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((3, 2))
    g_mean, g_log_std = DiagGaussian(mean, log_std).grad_log_prob(x)
    f = lambda: DiagGaussian(mean, log_std).log_prob(x).sum()  # noqa: E731
    assert_gradient_matches(g_mean, numerical_gradient(f, mean), "mean")
    assert_gradient_matches(g_log_std.sum(0), numerical_gradient(f, log_std), "log_std")


# --- GAE and n-step returns ----------------------------------------------------------------------------
def test_gae_hand_computed_with_termination_mid_rollout():
    rewards, values = np.array([[1.0], [1.0], [1.0]]), np.full((3, 1), 0.5)
    dones, last = np.array([[0.0], [1.0], [0.0]]), np.array([2.0])
    adv, ret = gae(rewards, values, dones, last, gamma=0.9, gae_lambda=0.8)
    # δ2 = 1 + .9·2 − .5 = 2.3; δ1 = 1 − .5 = .5 (done cuts); δ0 = 1 + .9·.5 − .5 = .95, A0 = .95 + .72·.5
    np.testing.assert_allclose(adv[:, 0], [1.31, 0.5, 2.3])
    np.testing.assert_allclose(ret, adv + values)


def test_n_step_returns_hand_computed():
    rewards = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0]])
    values = np.zeros((3, 2))
    dones = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    _, ret = gae(rewards, values, dones, np.array([10.0, 5.0]), gamma=0.5, gae_lambda=1.0)
    # env 0: R2 = 3 + .5·10 = 8, R1 = 2 + .5·8 = 6, R0 = 1 + .5·6 = 4; env 1: R2 = 1 + 2.5, R1 = 0, R0 = 0
    np.testing.assert_allclose(ret, [[4.0, 0.0], [6.0, 0.0], [8.0, 3.5]])


def test_gae_rejects_bad_shapes():
    with pytest.raises(ValueError, match="last_values"):
        gae(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), np.zeros(3), 0.9, 0.9)


# --- truncation bootstrapping through the real rollout code -------------------------------------------------
def _identity_critic(agent):
    """Replaces the critic by V(s) = s (a single Dense 1→1 with W = 1, b = 0)."""
    critic = Sequential([Dense(1, 1, np.random.default_rng(0))])
    critic.layers[0].params["W"][...] = 1.0
    critic.layers[0].params["b"][...] = 0.0
    agent.policy.critic = critic


@pytest.mark.parametrize("terminate", [False, True])
def test_truncation_bootstraps_from_final_obs_not_reset_obs(terminate):
    gamma = 0.9
    env = SyncVectorEnv([lambda: CounterEnv(3, terminate), lambda: CounterEnv(2, terminate)])
    agent = A2C(env, seed=0, n_steps=4, gamma=gamma)
    _identity_critic(agent)
    agent._setup_learn(8, None, True, False)
    collect_rollout(agent, agent.buffer, gamma, 1.0, None)
    b = agent.buffer
    np.testing.assert_array_equal(b.obs[:, :, 0], [[0, 0], [1, 1], [2, 0], [0, 1]])  # reset obs after each end
    np.testing.assert_array_equal(b.dones, [[0, 0], [0, 1], [1, 0], [0, 1]])
    # V(final_obs) = 3 (env 0) or 2 (env 1); V(reset obs) would be 0. Termination adds nothing.
    boot0, boot1 = (0.0, 0.0) if terminate else (gamma * 3, gamma * 2)
    np.testing.assert_allclose(b.rewards, [[1, 1], [1, 1 + boot1], [1 + boot0, 1], [1, 1 + boot1]], rtol=1e-6)
    # returns never cross the reset boundary: R at the step before a done is its own (bootstrapped) reward
    np.testing.assert_allclose(b.returns[2, 0], 1 + boot0, rtol=1e-6)
    np.testing.assert_allclose(b.returns[1, 0], 1 + gamma * (1 + boot0), rtol=1e-6)
    # the last row bootstraps from V(obs after the rollout) = obs: env 0 is at t=1
    np.testing.assert_allclose(b.returns[3, 0], 1 + gamma * 1.0, rtol=1e-6)


def test_rollout_skips_the_last_value_when_every_episode_just_ended(monkeypatch):
    """One-step episodes (a bandit): V(s_T) is multiplied by 1 − done = 0, so it is not computed."""
    env = SyncVectorEnv([lambda: CounterEnv(1, terminate=True), lambda: CounterEnv(1, terminate=True)])
    agent = A2C(env, seed=0, n_steps=3, gamma=0.9)
    _identity_critic(agent)
    agent._setup_learn(6, None, True, False)
    calls = []
    values = agent.policy.values
    monkeypatch.setattr(agent.policy, "values", lambda obs: calls.append(len(obs)) or values(obs))
    collect_rollout(agent, agent.buffer, 0.9, 1.0, None)
    assert calls == []  # no truncation bootstrap, no V(s_T)
    np.testing.assert_array_equal(agent.buffer.returns, np.ones((3, 2)))  # R = r: every step ends its episode
    np.testing.assert_array_equal(agent.buffer.advantages, np.ones((3, 2)) - agent.buffer.values)
    agent2 = A2C(SyncVectorEnv([lambda: CounterEnv(2, terminate=True)] * 2), seed=0, n_steps=3, gamma=0.9)
    _identity_critic(agent2)
    agent2._setup_learn(6, None, True, False)
    values2 = agent2.policy.values
    monkeypatch.setattr(agent2.policy, "values", lambda obs: calls.append(len(obs)) or values2(obs))
    collect_rollout(agent2, agent2.buffer, 0.9, 1.0, None)
    assert calls == [2]  # the last step (t=3 of 2-step episodes) is mid-episode: V(s_T) is needed
    np.testing.assert_allclose(agent2.buffer.returns[2], 1 + 0.9 * 1.0, rtol=1e-6)


def test_dqn_replay_stores_final_obs_and_terminated_only():
    env = SyncVectorEnv([lambda: CounterEnv(3, terminate=False)])
    agent = DQN(env, seed=0, learning_starts=100, buffer_size=10)
    agent.learn(6)
    rb = agent.replay_buffer
    np.testing.assert_array_equal(rb.obs[:6, 0], [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(rb.next_obs[:6, 0], [1, 2, 3, 1, 2, 3])  # 3 is the final obs, not the reset 0
    np.testing.assert_array_equal(rb.terminated[:6], 0)  # truncation is not termination: it bootstraps


def test_dqn_learning_rate_decay_to_floor(tmp_path):
    env = SyncVectorEnv([lambda: CounterEnv(3, terminate=False)])
    hp = dict(learning_rate=1e-3, learning_rate_final=1e-4, learning_rate_decay_start=0.5, learning_rate_decay_end=0.75)
    agent = DQN(env, seed=0, learning_starts=2, train_freq=1, batch_size=4, buffer_size=50, **hp)
    lr = agent.lr_schedule  # of the progress remaining: 1 at the start, 0 at the end
    np.testing.assert_allclose([lr(1.0), lr(0.5), lr(0.375), lr(0.25), lr(0.0)], [1e-3, 1e-3, 5.5e-4, 1e-4, 1e-4])
    agent.learn(40)
    assert agent.optimizer.lr == pytest.approx(1e-4)  # the floor, not 0 as "lin_1e-3" would give
    agent.save(tmp_path / "m.npz")
    assert DQN.load(tmp_path / "m.npz").lr_schedule(0.375) == pytest.approx(5.5e-4)
    assert DQN(env, seed=0).lr_schedule(0.0) == 1e-4  # off by default: the constant learning_rate
    with pytest.raises(ValueError, match="constant learning_rate"):
        DQN(env, learning_rate="lin_1e-3", learning_rate_final=1e-4)
    with pytest.raises(ValueError, match="learning_rate_decay_start"):
        DQN(env, learning_rate_final=1e-5, learning_rate_decay_start=0.8, learning_rate_decay_end=0.5)


def test_sync_vector_env_matches_gymnasium_same_step():
    ours = make_vec_env("CartPole-v1", 3)
    theirs = make_vec_env("CartPole-v1", 3, vectorization="gym-sync")
    o1, _ = ours.reset(seed=5)
    o2, _ = theirs.reset(seed=5)
    rng = np.random.default_rng(0)
    n_final = 0
    for _ in range(200):
        a = rng.integers(0, 2, 3)
        r1, r2 = ours.step(a), theirs.step(a)
        for x, y in zip(r1[:4], r2[:4], strict=True):
            np.testing.assert_array_equal(x, y)
        if "final_obs" in r2[4]:
            np.testing.assert_array_equal(r1[4]["_final_obs"], r2[4]["_final_obs"])
            for i in np.flatnonzero(r2[4]["_final_obs"]):
                np.testing.assert_array_equal(r1[4]["final_obs"][i], r2[4]["final_obs"][i])
                n_final += 1
    assert n_final > 5


def test_next_step_vector_env_refused():
    env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    with pytest.raises(ValueError, match="SAME_STEP"):
        PPO(env)


@pytest.mark.parametrize("make_kwargs", [{}, {"vectorization_mode": "sync", "max_episode_steps": 50}])
def test_next_step_message_gives_a_make_vec_call_that_works(make_kwargs):
    """CartPole's default vectorization (its own vector_entry_point) refuses vector_kwargs; the advice must not."""
    import re

    with pytest.raises(ValueError, match="SAME_STEP") as err:
        PPO(gym.make_vec("CartPole-v1", num_envs=4, **make_kwargs))
    assert "pass the env id with n_envs=4 instead" in str(err.value)
    call = re.search(r"gym\.make_vec\(.*\)", str(err.value)).group(0)
    assert "vectorization_mode='sync'" in call
    env = eval(call, {"gym": gym})  # the advice, as written in the message
    assert env.num_envs == 4 and env.spec.kwargs.get("max_episode_steps") == make_kwargs.get("max_episode_steps")
    agent = PPO(env, seed=0, n_steps=16, batch_size=32, n_epochs=1).learn(64)
    assert agent.num_timesteps == 64 and agent.config.n_envs == 4


def test_n_envs_must_match_a_ready_vector_env(tmp_path):
    env = make_vec_env("CartPole-v1", 2)
    with pytest.raises(ValueError, match="n_envs=4 differs from the vector env's num_envs=2"):
        PPO(env, n_envs=4)
    agent = PPO(env, n_envs=2, n_steps=8, batch_size=16)
    assert agent.n_envs == agent.config.n_envs == 2
    agent = DQN(make_vec_env("CartPole-v1", 3))  # the Config's default (1) is no request: the env's 3 envs
    assert agent.n_envs == agent.config.n_envs == 3
    path = agent.save(tmp_path / "dqn")
    assert DQN.load(path, env=make_vec_env("CartPole-v1", 5)).n_envs == 5  # a saved n_envs is no request either
    assert DQN.load(path, env="CartPole-v1").n_envs == 3
    with pytest.raises(ValueError, match="n_envs=2 differs from the vector env's num_envs=5"):
        DQN.load(path, env=make_vec_env("CartPole-v1", 5), n_envs=2)


# --- loss gradients on a tiny network, numerically ---------------------------------------------------------
@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize("clip_vf", [None, 0.05])
def test_ppo_loss_gradient_numerically(discrete, clip_vf):
    rng = np.random.default_rng(3)
    obs_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    act_space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-1, 1, (2,), np.float32)
    policy = ActorCriticPolicy(obs_space, act_space, rng, net_arch=(4,), ortho_init=False)
    policy.astype(np.float64)
    policy.log_std += 0.1
    n = 6
    obs = rng.standard_normal((n, 3))
    actions = rng.integers(0, 3, n) if discrete else rng.standard_normal((n, 2))
    dist0, v0 = policy.forward(obs)
    old_log_prob = dist0.log_prob(actions) + rng.normal(0, 0.3, n)  # ratios both inside and outside the clip
    adv, returns, old_values = rng.standard_normal(n), rng.standard_normal(n), v0 + rng.normal(0, 0.1, n)
    coefs = {"clip": 0.2, "clip_range_vf": clip_vf, "ent_coef": 0.01, "vf_coef": 0.5}

    def loss() -> float:
        dist, values = policy.forward(obs)
        terms, *_ = ppo_loss(
            dist.log_prob(actions), dist.entropy(), values, old_log_prob, adv, returns, old_values, **coefs
        )
        return terms["loss"]

    dist, values = policy.forward(obs, train=True)
    _, d_lp, d_h, d_v = ppo_loss(
        dist.log_prob(actions), dist.entropy(), values, old_log_prob, adv, returns, old_values, **coefs
    )
    for _, _, g in policy.named_params():
        g[...] = 0
    backward_policy_loss(policy, dist, actions, d_lp, d_h, d_v)
    assert_all_float64(policy.named_params())
    for name, p, g in policy.named_params():
        assert_gradient_matches(g, numerical_gradient(loss, p), name)


def test_replay_buffer_wraps_and_samples():
    rb = ReplayBuffer(5, (1,))
    for i in range(7):
        rb.add(np.array([[i]]), np.array([[i + 1]]), np.array([i % 2]), np.array([float(i)]), np.array([0.0]))
    assert len(rb) == 5 and rb.pos == 2
    np.testing.assert_array_equal(np.sort(rb.rewards), [2, 3, 4, 5, 6])
    obs, _, rewards, next_obs, _ = rb.sample(50, np.random.default_rng(0))
    np.testing.assert_array_equal(obs[:, 0], rewards)
    np.testing.assert_array_equal(next_obs[:, 0], rewards + 1)


def test_rollout_buffer_flat_is_time_major():
    b = RolloutBuffer(2, 3, (1,), (), np.int64)
    b.obs[:, :, 0] = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(b.flat("obs")[:, 0], np.arange(6))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_a2c_statistics_are_those_of_its_update_when_logged_later(env_id):
    """A2C computes its loss terms when they are logged: they must be the update's, by hand, even after the
    next rollout has overwritten the buffer and the step has changed the parameters (log σ for Box actions)."""
    import copy

    agent = A2C(env_id, seed=0, n_envs=2, n_steps=5, ent_coef=0.01)
    agent._setup_learn(100, None, reset_num_timesteps=True, progress_bar=False)
    c, buf = agent.config, agent.buffer
    assert collect_rollout(agent, buf, c.gamma, c.gae_lambda, None)
    before = copy.deepcopy(agent.policy)
    obs, actions, returns = buf.flat("obs").copy(), buf.flat("actions").copy(), buf.flat("returns").copy()
    adv = buf.flat("advantages").copy()
    adv = (adv - adv.mean()) / (adv.std() + 1e-8) if c.normalize_advantage else adv
    dist, values = before.forward(obs)
    expected = {
        "train/policy_loss": -(adv * dist.log_prob(actions)).mean(),
        "train/value_loss": np.mean((returns - values) ** 2),
        "train/entropy_loss": -dist.entropy().mean(),
        "train/explained_variance": 1 - np.var(returns - buf.values.ravel()) / np.var(returns),
    }
    agent._update()
    std_after = float(np.exp(agent.policy.log_std).mean()) if env_id == "Pendulum-v1" else None  # SB3 logs σ after
    assert collect_rollout(agent, buf, c.gamma, c.gae_lambda, None)  # the buffer now holds the next rollout
    stats = agent.train_stats
    for key, value in expected.items():
        assert stats[key] == pytest.approx(float(value), rel=1e-5), key
    assert stats["train/n_updates"] == 1
    if env_id == "Pendulum-v1":
        assert stats["train/std"] == pytest.approx(std_after, rel=1e-6)
        assert std_after != pytest.approx(float(np.exp(before.log_std).mean()), rel=1e-9)  # the step changed σ


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2, 40, 256, 1001])
def test_normalized_advantages_are_the_mean_std_formula_bit_for_bit(n, dtype):
    from agents.common.rollout import normalized_advantages

    rng = np.random.default_rng(n)
    adv = (rng.standard_normal(n) * 30.0 + 7.0).astype(dtype)
    got = normalized_advantages(adv)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, (adv - adv.mean()) / (adv.std() + 1e-8))
    assert abs(got.mean()) < 1e-5 and got.std() == pytest.approx(1.0, rel=1e-4)


def test_dqn_logged_loss_is_the_mean_huber_of_the_last_calls_steps():
    """DQN computes its logged loss when it is logged: it must be the mean Huber loss of the last training call's
    minibatches as they were at their steps (recorded here eagerly, when each step takes its gradient)."""
    from nngym.costs import HuberCost

    class Recording(HuberCost):
        def delta(self, output, y):
            recorded.append(self.value(output, y))
            return super().delta(output, y)

    recorded: list[float] = []
    agent = DQN("CartPole-v1", seed=0, learning_starts=64, train_freq=32, gradient_steps=3, batch_size=16)
    agent.cost = Recording(1.0)
    agent.learn(160)
    assert len(recorded) > 3
    assert agent.train_stats["train/loss"] == pytest.approx(float(np.mean(recorded[-3:])), rel=1e-6)
