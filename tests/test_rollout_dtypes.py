"""Rollouts on observations of other dtypes than float32 (float64, integers): the networks compute in their own
dtype, as ``predict`` and ``Sequential.forward`` do, and Box actions reach the env in the action space's dtype."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents import A2C, PPO, REINFORCE
from agents.common.policies import ActorCriticPolicy, infer
from agents.common.population import Population
from agents.common.rollout import collect_rollout
from agents.common.spaces import to_env_actions
from nngym.stacked import infer_stacked

OBS_SPACES = {
    "float64": gym.spaces.Box(-1, 1, (3,), np.float64),
    "int64": gym.spaces.Box(0, 5, (3,), np.int64),
}


class StrictEnv(gym.Env):
    """Random observations of ``observation_space``; refuses actions outside ``action_space`` (its dtype too) and
    records the actions it was sent."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self.actions: list[np.ndarray] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} of dtype {action.dtype} is not in {self.action_space}")
        self.actions.append(action)
        self.t += 1
        return self.observation_space.sample(), -float(np.abs(action).sum()), False, self.t >= 5, {}


@pytest.mark.parametrize("obs", sorted(OBS_SPACES))
@pytest.mark.parametrize("joint", [True, False])
def test_infer_and_joint_compute_in_the_networks_dtype(obs, joint):
    """float64 or integer observations give the float32 numbers of ``forward`` on them, bit for bit."""
    space = OBS_SPACES[obs]
    policy = ActorCriticPolicy(space, gym.spaces.Box(-1, 1, (2,), np.float32), np.random.default_rng(0))
    x = np.stack([space.sample() for _ in range(8)])
    x32 = x.astype(np.float32)
    if joint:
        out, values = policy.joint()(x)
    else:
        out, values = infer(policy.actor, x), infer(policy.critic, x)[:, 0]
    assert out.dtype == values.dtype == np.float32
    assert np.array_equal(out, policy.actor.forward(x, train=False))
    assert np.array_equal(out, infer(policy.actor, x32))
    assert np.array_equal(values, policy.critic.forward(x32, train=False)[:, 0])


@pytest.mark.parametrize("obs", sorted(OBS_SPACES))
@pytest.mark.parametrize("algo", [PPO, A2C])
def test_rollout_on_other_obs_dtypes_gives_float32_actions_values_and_log_probs(obs, algo):
    env = StrictEnv(OBS_SPACES[obs], gym.spaces.Box(-1, 1, (2,), np.float32))
    agent = algo(env, seed=0, n_steps=16)
    agent._setup_learn(16, None, True, False)
    collect_rollout(agent, agent.buffer, 0.99, 0.95, None)  # raised before: float64 actions are not in the space
    b, policy = agent.buffer, agent.policy
    assert {a.dtype for a in env.actions} == {np.dtype(np.float32)} and len(env.actions) == 16
    np.testing.assert_array_equal(np.stack(env.actions), np.clip(b.actions[:, 0], -1, 1))
    for t in range(16):  # one env: a batch of one observation a step, as here (BLAS rounds other sizes otherwise)
        x32 = b.obs[t].astype(np.float32)  # what predict gives the networks
        np.testing.assert_array_equal(b.values[t], policy.values(x32))
        np.testing.assert_array_equal(b.log_probs[t], policy.actor_distribution(x32).log_prob(b.actions[t]))


@pytest.mark.parametrize("obs", sorted(OBS_SPACES))
def test_reinforce_sends_actions_of_the_action_space_dtype(obs):
    env = StrictEnv(OBS_SPACES[obs], gym.spaces.Box(-1, 1, (2,), np.float32))
    REINFORCE(env, seed=0, n_envs=1, n_steps=8).learn(16)
    assert len(env.actions) >= 16 and {a.dtype for a in env.actions} == {np.dtype(np.float32)}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_box_actions_reach_the_env_clipped_in_the_space_dtype(dtype):
    space = gym.spaces.Box(np.array([0.0, -2.0], dtype), np.array([1.0, 5.0], dtype), dtype=dtype)
    actions = np.array([[-0.5, 3.0], [1.5, -7.0]], np.float32)
    env_actions = to_env_actions(space, actions)
    assert env_actions.dtype == dtype
    np.testing.assert_array_equal(env_actions, np.array([[0.0, 3.0], [1.0, -2.0]], dtype))
    assert all(space.contains(a) for a in env_actions)


def test_a_population_sends_actions_of_the_action_space_dtype():
    """Populations run their members' networks stacked (``nngym.stacked.infer_stacked``); their Box actions reach
    the envs in the space's dtype too (``to_env_actions``)."""
    envs = [StrictEnv(OBS_SPACES["float64"], gym.spaces.Box(-1, 1, (2,), np.float32)) for _ in range(2)]
    Population(PPO, envs, seed=(0, 1), n_steps=16, batch_size=16).learn(32)
    assert [len(env.actions) for env in envs] == [32, 32]
    assert {a.dtype for env in envs for a in env.actions} == {np.dtype(np.float32)}


def test_infer_stacked_computes_in_the_networks_dtype():
    """A population's stacked inference casts float64 or integer observations to the layers' float32, as
    ``forward`` does: the same numbers as on the float32 copy, bit for bit."""
    population = Population(PPO, "CartPole-v1", seed=(0, 1), n_steps=16, batch_size=16)
    actor = population.engine.policy.actor  # (K, ...) stacked layers
    x = np.random.default_rng(0).normal(size=(2, 5, 4))
    out = infer_stacked(actor, x)
    assert out.dtype == np.float32
    assert np.array_equal(out, infer_stacked(actor, x.astype(np.float32)))
