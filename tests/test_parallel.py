"""Batches split across threads (nngym.parallel): same outputs and gradients as the whole batch, reproducible,
parameters shared with the replicas, clear errors for networks that cannot be split; agents use it for CNNs."""

from __future__ import annotations

import numpy as np
import pytest

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import DQN, PPO
from nngym import Dense, Dropout, ReLU, Sequential
from nngym.builders import cnn
from nngym.layer import Layer
from nngym.parallel import BatchSplit, available_cores, split_batches

SPEC = "conv:4x3,pool:2,conv:6x3,pool:2,dense:16"


def _net(dtype=np.float64) -> Sequential:
    return cnn(SPEC, (2, 14, 14), np.random.default_rng(0), n_out=5, dtype=dtype)


def _batch(n: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 2, 14, 14)).astype(dtype), rng.standard_normal((n, 5)).astype(dtype)


def _grads(net: Sequential) -> dict[str, np.ndarray]:
    return {name: g.copy() for name, _, g in net.named_params()}


@pytest.mark.parametrize(("n", "threads"), [(8, 2), (7, 3), (5, 5)])
def test_split_batch_gives_the_whole_batch_outputs_and_gradients(n, threads):
    x, delta = _batch(n)
    whole = _net()
    y = whole.forward(x, train=True)
    dx = whole.backward(delta)
    split = _net()
    split.threads = threads
    y_split = split.forward(x, train=True)
    np.testing.assert_allclose(y_split, y, rtol=1e-12, atol=1e-12)
    dx_split = split.backward(delta)
    assert dx_split.shape == x.shape
    np.testing.assert_allclose(dx_split, dx, rtol=1e-10, atol=1e-12)
    for name, g in _grads(whole).items():  # the slices' gradients summed into the network's own
        np.testing.assert_allclose(_grads(split)[name], g, rtol=1e-10, atol=1e-12, err_msg=name)
    # backprop that stops at the first layer (its input is data) fills the same gradients
    split.zero_grads()
    split.forward(x, train=True)
    assert split.backward(delta, input_grad=False) is None
    for name, g in _grads(whole).items():
        np.testing.assert_allclose(_grads(split)[name], g, rtol=1e-10, atol=1e-12, err_msg=name)


def test_split_runs_are_reproducible_and_share_the_parameters():
    x, delta = _batch(16, np.float32)
    net = _net(np.float32)
    net.threads = 2
    runs = []
    for _ in range(2):
        net.forward(x, train=True)
        net.backward(delta, input_grad=False)
        runs.append(_grads(net))
    for name in runs[0]:  # bitwise the same whichever thread finishes first
        np.testing.assert_array_equal(runs[0][name], runs[1][name])
    w = net.layers[0].params["W"]
    w *= 0.5  # an optimiser's in-place step is seen by every replica
    whole = _net(np.float32)
    whole.layers[0].params["W"][...] = w
    np.testing.assert_allclose(net.forward(x, train=False), whole.forward(x, train=False), rtol=1e-5, atol=1e-6)
    net.astype(np.float64)  # new parameter arrays: the replicas are made again
    assert net.forward(x, train=False).dtype == np.float64


def test_an_inference_pass_between_forward_and_backward_keeps_the_caches():
    x, delta = _batch(8)
    other, _ = _batch(6)
    net, ref = _net(), _net()
    net.threads = 2
    ref.forward(x, train=True)
    ref.backward(delta, input_grad=False)
    net.forward(x, train=True)
    net.forward(other[::-1].copy(), train=False)  # as DQN's target pass on s'
    net.backward(delta, input_grad=False)
    for name, g in _grads(ref).items():
        np.testing.assert_allclose(_grads(net)[name], g, rtol=1e-10, atol=1e-12, err_msg=name)
    # a batch smaller than the thread count runs whole, and its backward uses the whole-batch caches
    net.forward(x[:1], train=True)
    ref.forward(x[:1], train=True)
    np.testing.assert_allclose(net.backward(delta[:1]), ref.backward(delta[:1]), rtol=1e-12)


def test_networks_that_cannot_be_split_raise_clearly():
    rng = np.random.default_rng(0)
    dropout = Sequential([Dense(4, 8, rng), ReLU(), Dropout(0.5, rng), Dense(8, 2, rng)])
    dropout.threads = 2
    with pytest.raises(ValueError, match=r"layer 2 \(Dropout\) draws random numbers: its batch cannot be split"):
        dropout.forward(np.zeros((4, 4), np.float32))
    nested = Sequential([_CombinedLike(_net())])
    nested.threads = 2
    with pytest.raises(ValueError, match=r"layer 0 \(_CombinedLike\) holds networks of its own"):
        nested.forward(np.zeros((4, 2, 14, 14)))
    with pytest.raises(ValueError, match="at least 2 threads, got 1"):
        BatchSplit(_net(), 1)


class _CombinedLike(Layer):
    """A layer that runs a network of its own (as agents.common.cnn.CombinedInput does)."""

    def __init__(self, net: Sequential) -> None:
        super().__init__(np.float64)
        self.nets = [net]

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        return self.nets[0].forward(x, train)


def test_split_batches_restores_the_setting_also_on_error():
    a, b = _net(), _net()
    b.threads = 3
    with pytest.raises(RuntimeError), split_batches([a, b], 2):
        assert (a.threads, b.threads) == (2, 2)
        raise RuntimeError
    assert (a.threads, b.threads) == (1, 3)


def test_a_cnn_agent_splits_its_batches_only_while_learning(monkeypatch):
    seen = []
    agent = PPO("nngym/DigitClassify-v0", seed=0, net="cnn", n_envs=4, n_steps=4, batch_size=8, n_epochs=1)
    real = BatchSplit.forward
    monkeypatch.setattr(BatchSplit, "forward", lambda self, x, train: seen.append(len(x)) or real(self, x, train))
    agent.num_threads = 2
    agent.learn(32)
    assert seen and set(seen) <= {4, 8}  # rollout steps of 4 envs and minibatches of 8, split in two
    assert agent.policy.trunk.threads == 1  # restored after learn
    same = PPO("nngym/DigitClassify-v0", seed=0, net="cnn", n_envs=4, n_steps=4, batch_size=8, n_epochs=1)
    same.num_threads = 2
    same.learn(32)
    for (name, p, _), (_, q, _) in zip(agent.policy.named_params(), same.policy.named_params(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=name)  # same seed, same thread count: same parameters


def test_learning_threads_for_minus_one_are_every_core_for_a_cnn_and_a_dqn_and_one_for_an_mlp():
    cnn_agent = PPO("nngym/DigitClassify-v0", seed=0, net="cnn", n_envs=2, n_steps=2, batch_size=4)
    mlp_agent = PPO("CartPole-v1", seed=0, n_envs=2, n_steps=2, batch_size=4)
    dqn_agent = DQN("CartPole-v1", seed=0)
    assert cnn_agent.learning_threads() == mlp_agent.learning_threads() == dqn_agent.learning_threads() == 1
    cnn_agent.num_threads = mlp_agent.num_threads = dqn_agent.num_threads = -1
    assert (cnn_agent.learning_threads(), mlp_agent.learning_threads()) == (available_cores(), 1)
    assert dqn_agent.learning_threads() == available_cores()  # its target pass runs beside (DQN.works_beside)
    mlp_agent.num_threads = 0
    with pytest.raises(ValueError, match=r"num_threads must be >= 1 or -1 \(as many as pay\), got 0"):
        mlp_agent.learn(4)
