"""``Sequential.save`` / ``load`` keep ``input_shape``, so a loaded CNN reports an input of another image shape in
the network's terms, and files written without it still load."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nngym import ModelFileError, Sequential
from nngym.builders import cnn, mlp
from nngym.serialization import load_npz, save_npz

EXPECTED = "the network expected input of shape (N, 1, 28, 28), got (2, 1, 20, 20)"


@pytest.fixture
def net() -> Sequential:
    return cnn("conv:4x5,pool:2,dense:16", (1, 28, 28), np.random.default_rng(0), n_out=10)


def test_a_loaded_cnn_keeps_its_input_shape(tmp_path, net):
    loaded = Sequential.load(net.save(tmp_path / "cnn"))
    assert loaded.input_shape == net.input_shape == (1, 28, 28)
    with pytest.raises(ValueError, match=re.escape(EXPECTED)):  # before: only the Conv2D layer's message
        loaded.forward(np.zeros((2, 1, 20, 20), np.float32), train=False)
    x = np.random.default_rng(1).random((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x, train=False), net.forward(x, train=False))


def test_files_without_input_shape_still_load(tmp_path, net):
    path = net.save(tmp_path / "cnn")
    arrays, meta = load_npz(path)
    assert meta["input_shape"] == [1, 28, 28]
    old = {k: v for k, v in meta.items() if k != "input_shape"}  # what files written before it hold
    save_npz(path, arrays, old)
    loaded = Sequential.load(path)
    assert loaded.input_shape is None
    x = np.random.default_rng(2).random((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x, train=False), net.forward(x, train=False))
    plain = Sequential(mlp([4, 3, 2], np.random.default_rng(0)).layers)  # no input_shape: none saved
    assert "input_shape" not in load_npz(plain.save(tmp_path / "mlp"))[1]
    assert Sequential.load(tmp_path / "mlp.npz").input_shape is None


def test_an_mlp_names_its_input_width(tmp_path):
    net = mlp([4, 3, 2], np.random.default_rng(0))
    assert net.input_shape == (4,)
    message = "the network expected input of shape (N, 4), got (2, 5) (Dense(4->3) expected input of shape"
    for model in (net, Sequential.load(net.save(tmp_path / "mlp"))):
        assert model.input_shape == (4,)
        with pytest.raises(ValueError, match=re.escape(message)):
            model.predict(np.zeros((2, 5), np.float32))


@pytest.mark.parametrize("bad", [[1, 28.5, 28], "1x28x28", [], [1, 0, 28], [1, True, 28]])
def test_a_malformed_input_shape_is_a_model_file_error(tmp_path, net, bad):
    path = net.save(tmp_path / "cnn")
    arrays, meta = load_npz(path)
    save_npz(path, arrays, {**meta, "input_shape": bad})
    message = f"{path}: input_shape must be a list of integers >= 1 (one input's shape), got {bad!r}"
    with pytest.raises(ModelFileError, match=re.escape(message)):
        Sequential.load(path)


def test_from_architecture_and_copy_net_keep_the_input_shape(net):
    from agents.common.cnn import copy_net

    rebuilt = Sequential.from_architecture(net.architecture(), input_shape=[1, 28, 28])
    assert rebuilt.input_shape == (1, 28, 28) and Sequential.from_architecture(net.architecture()).input_shape is None
    twin = copy_net(net)
    assert twin.input_shape == (1, 28, 28)
    with pytest.raises(ValueError, match=re.escape(EXPECTED)):
        twin.forward(np.zeros((2, 1, 20, 20), np.float32), train=False)
    message = "input_shape must be a list of integers >= 1 (one input's shape), got (1, 0, 28)"
    with pytest.raises(ModelFileError, match=re.escape(message)):
        Sequential.from_architecture(net.architecture(), input_shape=(1, 0, 28))


def _as_written_before_input_shapes(path) -> None:
    """Rewrites an agent's model file as files written before ``input_shapes`` was saved (digest recomputed)."""
    from agents.common.base import _digest

    arrays, meta = load_npz(path)
    meta.pop("sha256")
    del meta["input_shapes"]
    save_npz(path, arrays, {**meta, "sha256": _digest(arrays, meta)})


@pytest.mark.parametrize(
    ("space", "built_for", "wrong"),  # wrong: two rows fewer, which the convolution takes and the Dense after it not
    [((1, 10, 5), (1, 10, 5), (2, 1, 8, 5)), ((10, 8, 3), (3, 10, 8), (2, 8, 8, 3))],
    ids=["channels_first", "channels_last"],
)
def test_a_loaded_agent_with_a_cnn_trunk_names_the_observations_it_expects(tmp_path, space, built_for, wrong):
    """A given CNN (built for (C, H, W)) becomes the agent's trunk behind its image input layer: the trunk names the
    observation space's shape ((H, W, C) for channels last), also after save / load and from an older file."""
    import gymnasium as gym
    from toy_envs import SpacesEnv

    from agents import DQN, PPO

    env = SpacesEnv(gym.spaces.Box(0, 255, space, np.uint8), gym.spaces.Discrete(3))
    trunk = cnn("conv:4x3p1,dense:16", built_for, np.random.default_rng(0))
    q = cnn("conv:4x3p1,dense:16", built_for, np.random.default_rng(1), n_out=3)
    expected = f"the network expected input of shape (N, {', '.join(map(str, space))}), got {wrong}"
    for cls, net, name in ((PPO, trunk, "trunk"), (DQN, {"q": q}, "q")):
        agent = cls(env, net=net, seed=0)
        path = agent.save(tmp_path / f"{cls.__name__}.npz")
        assert load_npz(path)[1]["input_shapes"][name] == list(space)
        old = agent.save(tmp_path / f"{cls.__name__}_old.npz")
        _as_written_before_input_shapes(old)
        for loaded in (agent, cls.load(path), cls.load(old)):
            own = loaded._nets()[name]
            assert own.input_shape == space
            with pytest.raises(ValueError, match=re.escape(expected)):
                own.forward(np.zeros(wrong, np.uint8), train=False)


def test_an_agents_file_keeps_the_input_shape_of_a_given_network(tmp_path):
    from agents import PPO

    trunk = mlp([4, 16], np.random.default_rng(0))
    trunk.input_shape = (4,)  # not an image: nothing but the file keeps it
    agent = PPO("CartPole-v1", net=trunk, seed=0)
    loaded = PPO.load(agent.save(tmp_path / "ppo"))
    assert agent.policy.trunk.input_shape == loaded.policy.trunk.input_shape == (4,)
    with pytest.raises(ValueError, match=re.escape("the network expected input of shape (N, 4), got (2, 5)")):
        loaded.policy.forward(np.zeros((2, 5), np.float32))
