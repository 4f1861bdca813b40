"""SB3's image rule for 3-D Box observations: only a uint8 Box with bounds 0 and 255 is an image.

Images keep their shape, are scaled to [0, 1] (``ImageScale``) and get a CNN where the agents pick one by default
(``MultiInputPolicy``'s image parts). Any other 3-D Box is feature data: flattened by the encoding for MLPs, stacked
by populations, taken by RecurrentPPO inside a Dict; an explicit CNN still convolves it, unscaled, from the flat
encoding (``Unflatten``).
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import DQN, PPO, RecurrentPPO
from agents.common.cnn import (
    CombinedInput,
    ImageScale,
    Unflatten,
    image_input_mismatch,
    image_layout,
    is_cnn_space,
    is_image_space,
)
from agents.common.policies import check_spaces
from agents.common.spaces import encode_batch, encoded_space, image_parts, passes_through
from nngym.builders import cnn
from nngym.conv import Conv2D
from nngym.dense import Dense
from nngym.network import Sequential
from nngym.reshape import Flatten

FLOAT3D = spaces.Box(-1, 1, (2, 3, 4), np.float32)
PIXELS = spaces.Box(0, 255, (1, 10, 5), np.uint8)


class BoxEnv(gym.Env):
    """Random observations of ``observation_space`` (its own copy, seeded by ``reset(seed=...)``), reward 1 for
    action 1, 8-step episodes."""

    def __init__(self, observation_space: gym.Space = FLOAT3D, n_actions: int = 2) -> None:
        self.observation_space, self.action_space = copy.deepcopy(observation_space), spaces.Discrete(n_actions)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(int(self.np_random.integers(2**31)))
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        return self.observation_space.sample(), float(action == 1), False, self._t >= 8, {}


def layer_names(net: Sequential) -> list[str]:
    return [type(layer).__name__ for layer in net.layers]


def all_layers(agent) -> list:
    """Every layer of the agent's networks, the networks inside a CombinedInput's too."""
    out = []
    for net in agent._nets().values():
        for layer in net.layers:
            out.append(layer)
            if isinstance(layer, CombinedInput):
                out += [inner for part in layer.nets for inner in part.layers]
    return out


def flat_params(agent) -> np.ndarray:
    source = agent.q_net if hasattr(agent, "q_net") else agent.policy
    return np.concatenate([p.ravel() for _, p, _ in source.named_params()]).astype(np.float64)


# --- the rule ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "image"),
    [
        (spaces.Box(0, 255, (1, 28, 28), np.uint8), True),
        (spaces.Box(0, 255, (84, 84, 3), np.uint8), True),  # channels last
        (spaces.Box(0, 255, (2, 3, 4), np.uint8), True),  # any size: SB3 checks dtype and bounds
        (spaces.Box(-1, 1, (2, 3, 4), np.float32), False),
        (spaces.Box(0, 255, (1, 28, 28), np.float32), False),  # floats of pixel bounds: still no uint8
        (spaces.Box(0, 1, (7, 9, 3), np.uint8), False),  # a 0/1 mask
        (spaces.Box(0, 100, (7, 9, 3), np.uint8), False),
        (spaces.Box(np.zeros((1, 2, 2)), np.array([[[255, 255], [255, 254]]]), dtype=np.uint8), False),  # one bound
        (spaces.Box(0, 255, (28, 28), np.uint8), False),  # 2-D
    ],
)
def test_an_image_is_a_uint8_3d_box_of_bounds_0_and_255(space, image):
    """SB3's ``is_image_space`` with its defaults; every 3-D Box is one a CNN can take."""
    assert is_image_space(space) is image
    assert is_cnn_space(space) is (len(space.shape) == 3)
    assert passes_through(space) is image
    if not image:
        assert encoded_space(space) == spaces.Box(
            space.low.ravel().astype(np.float32), space.high.ravel().astype(np.float32), dtype=np.float32
        )
    if is_cnn_space(space):  # the scale an explicit CNN takes it with
        assert image_layout(space)[2] == (1 / 255 if image else 1.0)


def test_a_3d_box_that_is_no_image_is_encoded_as_gymnasiums_flatten():
    hwc = spaces.Box(-1, 1, (6, 5, 2), np.float32)  # channels last by nngym's layout rule: still C order, unmoved
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 6, 5, 2)).astype(np.float32)
    got = encode_batch(hwc, obs)
    assert got.shape == (3, 60) and got.dtype == np.float32
    np.testing.assert_array_equal(got[1], spaces.flatten(hwc, obs[1]))
    mask = spaces.Box(0, 1, (2, 2, 2), np.uint8)
    np.testing.assert_array_equal(encode_batch(mask, np.ones((1, 2, 2, 2), np.uint8)), np.ones((1, 8), np.float32))
    assert encode_batch(PIXELS, np.zeros((2, 1, 10, 5), np.uint8)).shape == (2, 1, 10, 5)  # images pass through


# --- feature data: flattened for MLPs ---------------------------------------------------------------------------------


def test_mlp_on_a_float_3d_box_is_a_plain_mlp_on_the_24_values():
    agent = PPO("MlpPolicy", BoxEnv(), seed=0, n_steps=16, batch_size=16, net_arch=(8,))
    assert layer_names(agent.policy.actor) == ["Dense", "Tanh", "Dense"]
    assert agent.policy.actor.layers[0].params["W"].shape == (8, 24)
    obs = np.random.default_rng(1).uniform(-1, 1, (5, 2, 3, 4)).astype(np.float32)
    first, last = agent.policy.actor.layers[0].params, agent.policy.actor.layers[2].params
    logits = np.tanh(obs.reshape(5, 24) @ first["W"].T + first["b"]) @ last["W"].T + last["b"]  # C order, unscaled
    np.testing.assert_allclose(agent.policy.actor.forward(encode_batch(FLOAT3D, obs)), logits, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(agent.predict(obs, deterministic=True)[0], logits.argmax(axis=1))


def test_dict_with_a_float_3d_part_is_flattened_not_convolved():
    space = spaces.Dict({"a": FLOAT3D, "b": spaces.Discrete(3)})
    assert image_parts(space) == []
    agent = PPO("MultiInputPolicy", BoxEnv(space), seed=0, n_steps=16, batch_size=16, net_arch=(8,))
    assert agent.net == "mlp"
    assert not any(isinstance(layer, CombinedInput | Conv2D | ImageScale) for layer in all_layers(agent))
    assert agent.policy.actor.layers[0].params["W"].shape == (8, 27)  # 24 values + one-hot of 3
    agent.learn(32)
    obs = {"a": np.zeros((2, 2, 3, 4), np.float32), "b": np.array([0, 2])}
    assert agent.predict(obs, deterministic=True)[0].shape == (2,)


def test_dict_with_an_image_and_a_float_3d_part_convolves_the_image_only():
    space = spaces.Dict({"a": FLOAT3D, "img": PIXELS})  # encoded: a's 24 values, then the 50 pixels
    assert [(offset, box.shape) for offset, box in image_parts(space)] == [(24, (1, 10, 5))]
    agent = PPO("MultiInputPolicy", BoxEnv(space), seed=0, n_steps=16, batch_size=16, net_arch=(8,))
    assert agent.net == "cnn"
    combined = agent.policy.trunk.layers[0]
    assert isinstance(combined, CombinedInput) and combined.images == [{"offset": 24, "shape": [1, 10, 5]}]
    np.testing.assert_array_equal(combined._rest, np.arange(24))  # the float part passes by, flattened
    assert combined.nets[0].layers[0].scale == pytest.approx(1 / 255)
    assert agent.policy.pi.layers[0].params["W"].shape[1] == 128 + 24  # CNN_SPEC_SMALL's features + the 24 values


def test_cnn_on_a_dict_whose_3d_parts_are_no_images_names_them():
    space = spaces.Dict({"a": FLOAT3D, "b": spaces.Discrete(3)})
    with pytest.raises(
        ValueError, match=r"net='cnn' needs an image Box .* or a Dict / Tuple one with image parts"
    ) as e:
        PPO(BoxEnv(space), net="cnn")
    assert "obs['a'] Box(-1.0, 1.0, (2, 3, 4), float32) are no images" in str(e.value)
    assert "dtype uint8 with bounds 0 and 255, SB3's image rule" in str(e.value)
    with pytest.raises(ValueError, match=r"conv and pool items need image observations .* obs\['a'\]"):
        PPO(BoxEnv(space), net="conv:4x2,dense:8")


# --- populations and RecurrentPPO -------------------------------------------------------------------------------------


def test_population_of_two_on_a_float_3d_box_follows_the_single_runs():
    hp = {"n_steps": 16, "batch_size": 16, "n_epochs": 1, "net_arch": (8,)}
    pop = PPO("MlpPolicy", [BoxEnv(), BoxEnv()], seed=[0, 1], **hp)
    single = PPO("MlpPolicy", BoxEnv(), seed=0, **hp)
    np.testing.assert_array_equal(flat_params(pop.member(0)), flat_params(single))
    assert not np.array_equal(flat_params(pop.member(1)), flat_params(single))
    pop.learn(64)
    single.learn(64)
    assert pop.members[0].num_timesteps == 64
    moved, got = flat_params(single), flat_params(pop.members[0])
    assert np.linalg.norm(got - moved) <= 1e-5 * np.linalg.norm(moved)


def test_population_dqn_on_a_float_3d_box():
    pop = DQN("MlpPolicy", [BoxEnv(), BoxEnv()], seed=[0, 1], learning_starts=16, net_arch=(8,))
    single = DQN("MlpPolicy", BoxEnv(), seed=1, learning_starts=16, net_arch=(8,))
    np.testing.assert_array_equal(flat_params(pop.member(1)), flat_params(single))
    pop.learn(32)
    assert [m.num_timesteps for m in pop.members] == [32, 32]


def test_recurrent_ppo_takes_a_dict_with_a_float_3d_part_and_a_plain_float_3d_box():
    space = spaces.Dict({"a": FLOAT3D, "b": spaces.Discrete(3)})
    hp = {"n_steps": 16, "batch_size": 16, "n_epochs": 1, "lstm_hidden_size": 4, "net_arch": (4,)}
    agent = RecurrentPPO("MultiInputLstmPolicy", BoxEnv(space), seed=0, **hp)
    assert agent.policy.actor.encoder.layers == []  # the 27 encoded values straight into the LSTM
    assert agent.policy.actor.lstm.params["W_ih"].shape == (16, 27)
    assert agent.learn(32).num_timesteps == 32
    flat = RecurrentPPO(BoxEnv(), seed=0, encoder_arch=(6,), **hp)
    assert layer_names(flat.policy.actor.encoder) == ["Dense", "Tanh"]
    assert flat.policy.actor.encoder.layers[0].params["W"].shape == (6, 24)
    assert flat.learn(32).num_timesteps == 32


# --- an explicit CNN still takes it -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [PPO, DQN])
def test_explicit_cnn_on_a_float_3d_box_convolves_it_unscaled(cls):
    hwc = spaces.Box(-1, 1, (6, 5, 2), np.float32)  # channels last: (C, H, W) = (2, 6, 5)
    kw = {"n_steps": 16, "batch_size": 16} if cls is PPO else {"learning_starts": 16}
    agent = cls(BoxEnv(hwc), net="conv:3x3,dense:8", seed=0, **kw)
    net = agent.policy.trunk if cls is PPO else agent.q_net.q
    assert layer_names(net)[:3] == ["Unflatten", "ImageScale", "Conv2D"]
    unflatten, scale, conv = net.layers[:3]
    assert unflatten.shape == (6, 5, 2) and scale.scale == 1.0 and scale.channels_last
    assert conv.params["W"].shape == (3, 2, 3, 3) and net.input_shape == (60,)
    obs = np.random.default_rng(0).uniform(-1, 1, (4, 6, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(  # the convolution sees the observations as (N, C, H, W), values as they are
        Sequential(net.layers[:3]).forward(encode_batch(hwc, obs), train=False),
        conv.forward(obs.transpose(0, 3, 1, 2), train=False),
        rtol=1e-6,
    )
    assert agent.learn(32).num_timesteps == 32


def test_recurrent_policy_cnn_on_a_float_3d_box_takes_the_flat_encoding():
    """``RecurrentActorCriticPolicy`` built from the agent's own 3-D space: its CNN encoder takes the flat encoding."""
    from agents.common.recurrent_policy import RecurrentActorCriticPolicy

    rng = np.random.default_rng(0)
    policy = RecurrentActorCriticPolicy(FLOAT3D, spaces.Discrete(2), rng, 4, cnn_spec="conv:4x2,dense:8", net="cnn")
    assert layer_names(policy.actor.encoder)[:3] == ["Unflatten", "ImageScale", "Conv2D"]
    assert policy.actor.lstm.params["W_ih"].shape == (16, 8)
    obs = np.random.default_rng(1).uniform(-1, 1, (3, 2, 2, 3, 4)).astype(np.float32)  # (T, B, *shape)
    _, values, _ = policy.forward(
        encode_batch(FLOAT3D, obs.reshape(6, 2, 3, 4)).reshape(3, 2, 24),
        policy.initial_state(2),
        np.zeros((3, 2), np.float32),
    )
    assert values.shape == (6,)
    with pytest.raises(ValueError, match="the flat encoding of a 3-D Box that is no image"):
        RecurrentActorCriticPolicy(encoded_space(FLOAT3D), spaces.Discrete(2), rng, 4, net="cnn")


def test_cnn_policy_and_net_cnn_on_a_float_3d_box():
    box = spaces.Box(-1, 1, (3, 12, 12), np.float32)
    agent = PPO("CnnPolicy", BoxEnv(box), seed=0, n_steps=16, batch_size=16)
    assert agent.net == "cnn" and layer_names(agent.policy.trunk)[:3] == ["Unflatten", "ImageScale", "Conv2D"]
    assert agent.policy.trunk.layers[1].scale == 1.0 and not agent.policy.trunk.layers[1].channels_last
    check_spaces("PPO", box, spaces.Discrete(2), net="cnn")  # accepted, as SB3's CnnPolicy with normalize_images=False


def test_a_given_cnn_on_a_float_3d_box_gets_its_input_layers():
    trunk = cnn("conv:4x2,dense:8", (2, 3, 4), np.random.default_rng(0))
    agent = PPO(BoxEnv(), net=trunk, seed=0, n_steps=16, batch_size=16)
    assert layer_names(agent.policy.trunk)[:3] == ["Unflatten", "ImageScale", "Conv2D"]
    given_mlp = PPO(
        BoxEnv(),
        net={
            "pi": Sequential([Dense(24, 2, np.random.default_rng(0))]),
            "vf": Sequential([Flatten(), Dense(24, 1, np.random.default_rng(1))]),
        },
        seed=0,
    )
    assert layer_names(given_mlp.policy.actor) == ["Dense"]  # takes the flat observations as they are
    assert layer_names(given_mlp.policy.critic) == ["Flatten", "Dense"]


def test_a_network_starting_with_image_scale_on_a_float_3d_box_says_why_it_cannot_take_it():
    """What nngym built before it followed SB3's rule (and model files with such custom networks)."""
    old = Sequential([ImageScale(1.0), Flatten(), Dense(24, 2, np.random.default_rng(0))])
    with pytest.raises(ValueError, match=r"no image by SB3's rule .* flattened, \(N, 24\)"):
        PPO(BoxEnv(), net={"pi": old, "vf": old})
    assert "took every 3-D Box for an image" in image_input_mismatch(FLOAT3D, "ImageScale")
    assert image_input_mismatch(PIXELS, "ImageScale") is None
    assert image_input_mismatch(FLOAT3D, "Dense") is None
    assert image_input_mismatch(FLOAT3D, Unflatten((2, 3, 4))) is None
    assert "is an image by SB3's rule" in image_input_mismatch(PIXELS, Unflatten((1, 10, 5)))


# --- save / load, ONNX, DBN -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("net", ["mlp", "conv:4x2,dense:8", "custom"])
def test_save_load_gives_the_same_actions_on_a_float_3d_box(net, tmp_path):
    given = cnn("conv:4x2,dense:8", (2, 3, 4), np.random.default_rng(0)) if net == "custom" else net
    agent = PPO(BoxEnv(), net=given, seed=0, n_steps=16, batch_size=16).learn(32)
    loaded = PPO.load(agent.save(tmp_path / "agent"))
    obs = np.random.default_rng(2).uniform(-1, 1, (32, 2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    _, v_agent = agent.policy.forward(encode_batch(FLOAT3D, obs))
    _, v_loaded = loaded.policy.forward(encode_batch(FLOAT3D, obs))
    np.testing.assert_array_equal(v_loaded, v_agent)


@pytest.mark.parametrize(
    ("net", "shape"), [("mlp", (2, 3, 4)), ("conv:4x2,dense:8", (2, 3, 4)), ("conv:3x2,dense:8", (6, 5, 2))]
)
def test_onnx_export_of_a_float_3d_box_agent_equals_predict(net, shape, tmp_path):
    """The graph flattens the observations as ``predict`` encodes them; a CNN reshapes (and, channels last,
    transposes) them back."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from agents.common.onnx_export import export_onnx

    box = spaces.Box(-1, 1, shape, np.float32)
    agent = PPO(BoxEnv(box), net=net, seed=0, n_steps=16, batch_size=16)
    path = export_onnx(agent, tmp_path / "policy.onnx")
    obs = np.random.default_rng(3).uniform(-1, 1, (50, *shape)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"obs": obs}), strict=True))
    logits = Sequential(agent.policy.actor.layers).forward(encode_batch(box, obs), train=False)
    np.testing.assert_allclose(got["logits"], logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["action"], agent.predict(obs, deterministic=True)[0])


def test_dbn_on_a_float_3d_box_takes_the_flat_encoding():
    agent = PPO(BoxEnv(), net="dbn", seed=0, n_steps=16, dbn_kwargs={"n_obs": 64, "sizes": [6], "epochs": 1})
    assert layer_names(agent.policy.trunk) == ["Dense", "Sigmoid"]
    assert agent.pretraining.mean.shape == (24,)  # Gaussian visible units on the standardised 24 values


# --- images (uint8 0..255): unchanged ---------------------------------------------------------------------------------


def test_pixels_keep_their_image_networks():
    catch = "nngym/Catch-v0"
    cnn_agent = PPO(catch, net="cnn", seed=0)
    first = cnn_agent.policy.trunk.layers[0]
    assert isinstance(first, ImageScale) and first.scale == pytest.approx(1 / 255) and not first.channels_last
    assert cnn_agent.policy.trunk.input_shape == (1, 10, 5)
    mlp_agent = PPO(catch, seed=0, net_arch=(8,))
    assert layer_names(mlp_agent.policy.actor)[:3] == ["ImageScale", "Flatten", "Dense"]
    assert mlp_agent.policy.actor.layers[2].params["W"].shape == (8, 50)
    space = spaces.Dict({"img": PIXELS, "v": spaces.Box(-1, 1, (3,), np.float32)})
    multi = PPO("MultiInputPolicy", BoxEnv(space), seed=0, n_steps=16, batch_size=16)
    assert multi.net == "cnn" and multi.policy.trunk.layers[0].images == [{"offset": 0, "shape": [1, 10, 5]}]
    with pytest.raises(ValueError, match="RecurrentPPO does not support image parts inside Dict or Tuple"):
        RecurrentPPO(BoxEnv(space))
    with pytest.raises(ValueError, match="a population stacks MLPs on flat observations.*SB3's image rule"):
        PPO("MlpPolicy", [BoxEnv(PIXELS), BoxEnv(PIXELS)], seed=[0, 1])
