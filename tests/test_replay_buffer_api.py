"""ReplayBuffer's SB3-style sampling: ``sample(batch_size)`` without a generator draws from the buffer's own seeded
one, and the samples are a NamedTuple with SB3's field names in nngym's order (tuple unpacking unchanged)."""

from __future__ import annotations

import numpy as np
import pytest

from agents import DQN
from agents.common.buffers import NStepReplayBufferSamples, ReplayBuffer, ReplayBufferSamples


def filled(n: int = 10, capacity: int = 16, **kwargs) -> ReplayBuffer:
    """A buffer of ``n`` single-env transitions whose every field tells its slot i: obs i, next obs i + 0.5,
    action i, reward 10 i, terminated on every third, episode end on every third."""
    rb = ReplayBuffer(capacity, (2,), **kwargs)
    for i in range(n):
        rb.add(
            np.full((1, 2), i, np.float32),
            np.full((1, 2), i + 0.5, np.float32),
            np.array([i]),
            np.array([10.0 * i], np.float32),
            np.array([float(i % 3 == 2)], np.float32),
        )
    return rb


def test_sample_without_a_generator_draws_from_the_buffers_seeded_one():
    expected = np.random.default_rng(0).integers(0, 10, size=32)  # the default seed, 0
    batch = filled().sample(32)
    assert isinstance(batch, ReplayBufferSamples)
    np.testing.assert_array_equal(batch.actions, expected)
    np.testing.assert_array_equal(filled().sample(32).actions, expected)  # the same in every run
    seeded = filled(seed=7).sample(32)
    np.testing.assert_array_equal(seeded.actions, np.random.default_rng(7).integers(0, 10, size=32))
    rb = filled()
    first, second = rb.sample(32).actions, rb.sample(32).actions  # the buffer's generator moves on
    stream = np.random.default_rng(0)
    np.testing.assert_array_equal(first, stream.integers(0, 10, size=32))
    np.testing.assert_array_equal(second, stream.integers(0, 10, size=32))


def test_a_given_generator_is_used_and_the_buffers_own_is_left_alone():
    rb = filled()
    state = rb.rng.bit_generator.state
    batch = rb.sample(16, np.random.default_rng(123))
    np.testing.assert_array_equal(batch.actions, np.random.default_rng(123).integers(0, 10, size=16))
    assert rb.rng.bit_generator.state == state


def test_fields_have_sb3s_names_in_nngyms_order_and_unpack_as_before():
    batch = filled().sample(8, np.random.default_rng(1))
    assert ReplayBufferSamples._fields == ("observations", "actions", "rewards", "next_observations", "dones")
    obs, actions, rewards, next_obs, terminated = batch  # nngym's order, as DQN unpacks it
    idx = actions
    np.testing.assert_array_equal(obs, np.repeat(idx[:, None], 2, axis=1).astype(np.float32))
    np.testing.assert_array_equal(rewards, 10.0 * idx)
    np.testing.assert_array_equal(next_obs, obs + 0.5)
    np.testing.assert_array_equal(terminated, (idx % 3 == 2).astype(np.float32))
    assert batch.observations is obs and batch.rewards is rewards and batch.next_observations is next_obs
    assert batch.dones is terminated
    assert (obs.shape, actions.shape, rewards.shape, terminated.shape) == ((8, 2), (8,), (8,), (8,))


def test_field_names_are_sb3s():
    sb3 = pytest.importorskip("stable_baselines3.common.type_aliases")
    assert set(ReplayBufferSamples._fields) == set(sb3.ReplayBufferSamples._fields) - {"discounts"}
    assert set(NStepReplayBufferSamples._fields) == set(sb3.ReplayBufferSamples._fields)


def test_sample_n_step_draws_from_the_buffers_own_generator_given_none():
    rb = filled()
    batch = rb.sample_n_step(12, None, 2, 0.5)
    assert isinstance(batch, NStepReplayBufferSamples)
    np.testing.assert_array_equal(batch.actions, np.random.default_rng(0).integers(0, 10, size=12))
    obs, actions, returns, next_obs, terminated, discounts = batch  # nngym's order
    i = actions
    ends_now = i % 3 == 2  # an episode end at the first step: one step taken
    last = np.where(ends_now | (i == 9), i, i + 1)  # slot 9 is the newest: nothing after it
    np.testing.assert_allclose(returns, np.where(last == i, 10.0 * i, 10.0 * i + 0.5 * 10.0 * (i + 1)))
    np.testing.assert_array_equal(next_obs[:, 0], last + 0.5)
    np.testing.assert_array_equal(terminated, (last % 3 == 2).astype(np.float32))
    np.testing.assert_allclose(discounts, np.where(last == i, 0.5, 0.25))
    assert batch.discounts is discounts and batch.rewards is returns


class _Scales:
    """SB3's VecNormalize methods that ``sample(env=...)`` applies: observations doubled, rewards minus one."""

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        return obs * 2.0

    def normalize_reward(self, reward: np.ndarray) -> np.ndarray:
        return reward - 1.0


def test_env_normalises_the_samples_as_sb3s_does():
    rb = filled()
    raw = rb.sample(8, np.random.default_rng(2))
    scaled = rb.sample(8, np.random.default_rng(2), env=_Scales())
    np.testing.assert_array_equal(scaled.observations, 2.0 * raw.observations)
    np.testing.assert_array_equal(scaled.next_observations, 2.0 * raw.next_observations)
    np.testing.assert_array_equal(scaled.rewards, raw.rewards - 1.0)
    assert scaled.rewards.dtype == np.float32
    np.testing.assert_array_equal(scaled.actions, raw.actions)
    np.testing.assert_array_equal(rb.obs[:10, 0], np.arange(10))  # the stored transitions stay raw


def test_bad_arguments_and_an_empty_buffer_are_refused():
    with pytest.raises(ValueError, match=r"ReplayBuffer\.sample: the buffer is empty"):
        ReplayBuffer(4, (2,)).sample(2)
    with pytest.raises(ValueError, match=r"ReplayBuffer\.sample_n_step: the buffer is empty"):
        ReplayBuffer(4, (2,)).sample_n_step(2, None, 3, 0.9)
    with pytest.raises(TypeError, match=r"rng: expected a numpy Generator or None .*got _Scales; .*env="):
        filled().sample(2, _Scales())  # SB3's positional env
    with pytest.raises(TypeError, match=r"env: expected None or an object with normalize_obs and normalize_reward"):
        filled().sample(2, env=object())


def test_sampling_a_dqns_buffer_leaves_its_training_draws_unchanged():
    def trained(sample_between: bool) -> DQN:
        agent = DQN("CartPole-v1", seed=0, learning_starts=32, batch_size=8, train_freq=4, net_arch=(8,))
        agent.num_threads = 1
        agent.learn(64)
        if sample_between:
            batch = agent.replay_buffer.sample(8)  # SB3's call: the buffer's generator, not the agent's
            assert batch.observations.shape == (8, 4) and batch.actions.shape == (8,)
        agent.learn(64, reset_num_timesteps=False)
        return agent

    a, b = trained(False), trained(True)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    theirs = b.q_net.q.state_dict()
    assert sorted(theirs) == sorted(a.q_net.q.state_dict())
    for name, x in a.q_net.q.state_dict().items():
        np.testing.assert_array_equal(x, theirs[name], err_msg=name)


def test_a_dqns_buffer_draws_from_a_child_of_the_agents_seed():
    def filled(seed: int) -> DQN:
        return DQN("CartPole-v1", seed=seed, learning_starts=10, buffer_size=500).learn(100)

    a, b, c = filled(3), filled(3), filled(4)
    idx = np.random.default_rng(np.random.SeedSequence(3).spawn(1)[0]).integers(0, len(a.replay_buffer), size=5)
    drawn = a.replay_buffer.sample(5)
    np.testing.assert_array_equal(drawn.observations, a.replay_buffer.obs[idx])  # the seed's child stream
    np.testing.assert_array_equal(b.replay_buffer.sample(5).observations, drawn.observations)
    assert not np.array_equal(c.replay_buffer.sample(5).observations, c.replay_buffer.obs[idx])
    a.set_random_seed(3)  # starts the buffer's stream again too
    np.testing.assert_array_equal(a.replay_buffer.sample(5).observations, drawn.observations)


def test_an_sb3_replay_buffer_name_says_where_nngyms_checkpoints_keep_it(tmp_path):
    from nngym.serialization import ModelFileError

    agent = DQN("CartPole-v1", seed=0, learning_starts=10, buffer_size=100)
    sb3_name = tmp_path / "rl_model_replay_buffer_64_steps.pkl"  # what SB3's CheckpointCallback writes beside it
    with pytest.raises(ModelFileError, match=r"no \.pkl replay buffers: CheckpointCallback\(save_replay_buffer=True\)"):
        agent.load_replay_buffer(sb3_name)
