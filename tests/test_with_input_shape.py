"""``Sequential(layers, input_shape=...)``: a network put together from the layers of others (a trunk's, then a
head's) keeps the trunk's ``input_shape``, so an input of another shape is named in the network's terms."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nngym import Sequential
from nngym.builders import cnn, mlp


def test_a_network_of_a_trunks_and_a_heads_layers_names_the_trunks_input_shape():
    rng = np.random.default_rng(0)
    trunk = cnn("conv:4x5,pool:2,dense:16", (1, 28, 28), rng)
    head = mlp([16, 10], rng)
    actor = Sequential([*trunk.layers, *head.layers], input_shape=trunk.input_shape)
    assert actor.input_shape == trunk.input_shape == (1, 28, 28)
    expected = "the network expected input of shape (N, 1, 28, 28), got (2, 1, 20, 20)"
    with pytest.raises(ValueError, match=re.escape(expected)):  # without it: only the Conv2D layer's message
        actor.forward(np.zeros((2, 1, 20, 20), np.float32), train=False)
    x = np.random.default_rng(1).random((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(
        actor.forward(x, train=False), head.forward(trunk.forward(x, train=False), train=False)
    )


def test_the_input_shape_is_kept_as_a_tuple_and_checked():
    net = Sequential(mlp([4, 3], np.random.default_rng(0)).layers, input_shape=[4])
    assert net.input_shape == (4,) and isinstance(net.input_shape, tuple)
    with pytest.raises(ValueError, match=re.escape("the network expected input of shape (N, 4), got (2, 5)")):
        net.forward(np.zeros((2, 5), np.float32), train=False)
    assert Sequential(net.layers).input_shape is None
    for bad in ([], (4, 0), [4.5], "4", (True,)):
        message = f"input_shape must be a list of integers >= 1 (one input's shape), got {bad!r}"
        with pytest.raises(ValueError, match=re.escape(message)):
            Sequential(net.layers, input_shape=bad)


def test_agents_networks_know_the_observation_shape_they_take():
    import envs  # noqa: F401  (registers nngym/DigitClassify-v0)
    from agents import DQN, PPO

    image = PPO("nngym/DigitClassify-v0", net="cnn", n_envs=2, n_steps=4, batch_size=8)
    assert image.policy.actor.input_shape == image.policy.critic.input_shape == (1, 28, 28)
    with pytest.raises(ValueError, match=r"the network expected input of shape \(N, 1, 28, 28\), got \(2, 1, 20, 20\)"):
        image.policy.actor.forward(np.zeros((2, 1, 20, 20), np.float32))
    q = DQN("nngym/DigitClassify-v0", net="cnn", buffer_size=64)
    assert q.q_net.q.input_shape == (1, 28, 28)
    vector = PPO("CartPole-v1", net="dense:16", n_steps=32, batch_size=32)  # dense items on (N, 4), not (N, 4, 1, 1)
    assert vector.policy.trunk.input_shape == vector.policy.actor.input_shape == (4,)
    with pytest.raises(ValueError, match=r"the network expected input of shape \(N, 4\), got \(2, 5\)"):
        vector.policy.actor.forward(np.zeros((2, 5), np.float32))
