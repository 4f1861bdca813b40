"""The actor and critic evaluated together in rollouts (``agents.common.joint_mlp``): the numbers of each network's
own inference bit for bit, refreshed when the parameters change, and the same training runs with and without it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents import A2C, PPO
from agents.common.buffers import gae
from agents.common.joint_mlp import JointMLP
from agents.common.policies import ActorCriticPolicy, infer

CARTPOLE_OBS = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)


def _policy(net_arch=(64, 64), activation="tanh", action_space=None, **kw) -> ActorCriticPolicy:
    action_space = action_space or gym.spaces.Discrete(3)
    return ActorCriticPolicy(CARTPOLE_OBS, action_space, np.random.default_rng(0), "mlp", net_arch, activation, **kw)


@pytest.mark.parametrize("net_arch", [(64, 64), (32,), (16, 16, 16)])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("n", [1, 8, 37])
def test_joint_outputs_are_each_networks_inference_bit_for_bit(net_arch, activation, n):
    policy = _policy(net_arch, activation)
    x = np.random.default_rng(1).standard_normal((n, 4)).astype(np.float32)
    out, values = policy.joint()(x)
    assert out.shape == (n, 3) and values.shape == (n,) and out.dtype == values.dtype == np.float32
    assert np.array_equal(out, infer(policy.actor, x))
    assert np.array_equal(values, infer(policy.critic, x)[:, 0])


def test_joint_follows_the_parameters_after_refresh_and_a_cast():
    policy = _policy()
    x = np.random.default_rng(2).standard_normal((8, 4)).astype(np.float32)
    joint = policy.joint()
    policy.actor.layers[0].params["W"] += 0.5  # an update in place
    policy.critic.layers[2].params["b"] -= 0.25
    assert not np.array_equal(joint(x)[0], infer(policy.actor, x))  # a copy: stale until refreshed
    out, values = policy.joint()(x)  # joint() refreshes
    assert np.array_equal(out, infer(policy.actor, x)) and np.array_equal(values, infer(policy.critic, x)[:, 0])
    policy.astype(np.float64)  # new arrays in the layers: a new joint of the new dtype
    x64 = x.astype(np.float64)
    out, values = policy.joint()(x64)
    assert out.dtype == np.float64 and policy.joint() is not joint
    assert np.array_equal(out, infer(policy.actor, x64)) and np.array_equal(values, infer(policy.critic, x64)[:, 0])


def test_joint_is_none_where_the_networks_cannot_run_together():
    assert _policy(use_sde=True, action_space=gym.spaces.Box(-1, 1, (2,), np.float32)).joint() is None
    image = gym.spaces.Box(0, 255, (1, 28, 28), np.uint8)
    assert ActorCriticPolicy(image, gym.spaces.Discrete(2), np.random.default_rng(0), "cnn").joint() is None
    policy = _policy()
    policy.critic.layers[2] = type(policy.critic.layers[2])(64, 32, np.random.default_rng(0))  # 64-32 hidden
    policy.critic.layers[4] = type(policy.critic.layers[4])(32, 1, np.random.default_rng(0))
    assert not JointMLP.supports(policy.actor, policy.critic) and policy.joint() is None
    with pytest.raises(ValueError, match="same Dense / Tanh / ReLU layers and hidden sizes"):
        JointMLP(policy.actor, policy.critic)


@pytest.mark.parametrize("cls", [A2C, PPO])
def test_training_with_the_joint_rollout_is_bit_for_bit_training_without_it(cls, monkeypatch):
    kw = {"n_envs": 4, "n_steps": 16} | ({"batch_size": 32, "n_epochs": 2} if cls is PPO else {})
    joint = cls("CartPole-v1", seed=3, verbose=0, **kw).learn(1024)
    monkeypatch.setattr(ActorCriticPolicy, "joint", lambda self: None)
    alone = cls("CartPole-v1", seed=3, verbose=0, **kw).learn(1024)
    for (name, p, _), (_, q, _) in zip(joint.policy.named_params(), alone.policy.named_params(), strict=True):
        assert np.array_equal(p, q), name


def test_gae_is_the_backward_recursion_bit_for_bit():
    """The in-place recursion gives the numbers of A_t = δ_t + γλ (1 − done_t) A_{t+1} formed term by term."""
    rng = np.random.default_rng(4)
    rewards, values = rng.standard_normal((2, 7, 5)).astype(np.float32)
    dones = (rng.random((7, 5)) < 0.3).astype(np.float32)
    last = rng.standard_normal(5).astype(np.float32)
    adv, ret = gae(rewards, values, dones, last, 0.99, 0.95)
    not_done = 1.0 - dones
    next_values = np.concatenate([values[1:], last[None]])
    deltas = rewards + 0.99 * next_values * not_done - values
    a, expected = np.zeros(5, np.float32), np.zeros_like(rewards)
    for t in range(6, -1, -1):
        a = deltas[t] + 0.99 * 0.95 * not_done[t] * a
        expected[t] = a
    assert adv.dtype == np.float32 and np.array_equal(adv, expected) and np.array_equal(ret, expected + values)
