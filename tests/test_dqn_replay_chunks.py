"""DQN's training call samples the minibatches of several gradient steps at once (``replay_chunk_steps``).

The target network is fixed during a call, so one forward pass of g·B rows gives the targets of g minibatches;
the online network still steps after each. Sampling g·B indices in one draw is the same index stream as g draws
of B, so against one minibatch at a time only the matrix products' rounding may differ.
"""

from __future__ import annotations

import numpy as np
import pytest

import agents.dqn as dqn_module
from agents.common.buffers import PIPELINE_CHUNK_ROWS, REPLAY_CHUNK_BYTES, replay_chunk_steps
from agents.dqn import DQN
from nngym.parallel import beside


def test_chunks_cover_the_steps_within_the_byte_budget() -> None:
    assert replay_chunk_steps(128, 64, np.zeros(4, np.float32)) == [128]
    per_step = 2 * 4 * 784 * 128  # s and s' of 128 MNIST images as float32
    g = REPLAY_CHUNK_BYTES // per_step
    assert replay_chunk_steps(100, 128, np.zeros((1, 28, 28), np.uint8)) == [g] * (100 // g) + [100 % g]
    assert replay_chunk_steps(3, 10**6, np.zeros(10**4)) == [1, 1, 1]  # a minibatch over budget: one step a chunk
    assert replay_chunk_steps(0, 64, np.zeros(4)) == []
    # a population's stacked target pass: 8 members x 64 rows x 256 units, 16 steps keep a layer at 8 MB
    assert replay_chunk_steps(128, 8 * 64, np.zeros(4, np.float32), width=256) == [16] * 8
    assert replay_chunk_steps(128, 64, np.zeros(4, np.float32), width=256) == [128]
    # a single agent's chunks: at most PIPELINE_CHUNK_ROWS rows, so the next chunk's target pass can run beside
    assert replay_chunk_steps(128, 64, np.zeros(4, np.float32), max_rows=PIPELINE_CHUNK_ROWS) == [16] * 8
    assert replay_chunk_steps(20, 64, np.zeros(4, np.float32), max_rows=1024) == [16, 4]
    assert replay_chunk_steps(4, 2048, np.zeros(4, np.float32), max_rows=1024) == [1, 1, 1, 1]  # at least one step


def test_the_target_pass_beside_gives_the_numbers_of_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """With two learning threads the target passes run on a second thread (the next chunk's during this chunk's
    gradient steps): the same arithmetic, so the same parameters to the bit."""
    started = []
    monkeypatch.setattr(dqn_module, "beside", lambda fn, *args: started.append(len(args[0])) or beside(fn, *args))
    hp = dict(seed=3, net_arch=[32, 32], batch_size=16, learning_starts=200, train_freq=100, gradient_steps=150)
    runs = []
    for threads in (1, 2):
        agent = DQN("CartPole-v1", **hp)
        agent.num_threads = threads
        runs.append(agent.learn(400))
        assert started == ([] if threads == 1 else [64 * 16, 64 * 16, 22 * 16] * 2)  # 2 calls of chunks 64, 64, 22
    one, two = runs
    assert one._n_updates == two._n_updates == 2 * 150  # calls at steps 300 and 400, 150 steps each: 3 chunks
    assert len(replay_chunk_steps(150, 16, np.zeros(4, np.float32), max_rows=PIPELINE_CHUNK_ROWS)) == 3
    start = DQN("CartPole-v1", **hp)
    for (name, p, _), (_, q, _), (_, p0, _) in zip(
        one.q_net.named_params(), two.q_net.named_params(), start.q_net.named_params(), strict=True
    ):
        assert not np.allclose(p, p0), name  # it trained
        np.testing.assert_array_equal(p, q, err_msg=name)


@pytest.mark.parametrize("kwargs", [{}, {"double_q": True, "n_steps": 3}])
def test_chunked_training_equals_one_minibatch_at_a_time(monkeypatch: pytest.MonkeyPatch, kwargs: dict) -> None:
    hp = dict(
        seed=4,
        net_arch=[32, 32],
        batch_size=16,
        learning_starts=300,
        train_freq=300,
        gradient_steps=25,
        target_update_interval=10**6,
        learning_rate=1e-3,
        **kwargs,
    )  # one training call, at the last env step
    chunked = DQN("CartPole-v1", **hp).learn(600)
    monkeypatch.setattr(dqn_module, "replay_chunk_steps", lambda G, B, obs, **_: [1] * G)
    one_at_a_time = DQN("CartPole-v1", **hp).learn(600)
    assert chunked._n_updates == one_at_a_time._n_updates == 25
    start = DQN("CartPole-v1", **hp)
    for (name, p, _), (_, q, _), (_, p0, _) in zip(
        chunked.q_net.named_params(), one_at_a_time.q_net.named_params(), start.q_net.named_params(), strict=True
    ):
        assert not np.allclose(p, p0), name  # it trained
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6, err_msg=name)
