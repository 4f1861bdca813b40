"""Every space the agents accept: observation encodings (one-hots, flattening, Dict / Tuple, images inside a
Dict through the CNN), MultiDiscrete and MultiBinary action distributions, each agent trained on each space it
takes, save → load → same actions, the messages for what an agent does not take, and a learning check that the
one-hot encoding is right (PPO solves FrozenLake)."""

from __future__ import annotations

import copy
import json
import re

import gymnasium as gym
import numpy as np
import pytest
from gradients import assert_gradcheck_passes, assert_gradient_matches
from gymnasium import spaces
from gymnasium.vector.utils import concatenate, create_empty_array

from agents import A2C, DQN, PPO, REINFORCE, RecurrentPPO
from agents.common.base import _space_from_json, _space_to_json
from agents.common.cnn import CombinedInput
from agents.common.distributions import Bernoulli, MultiCategorical
from agents.common.evaluation import evaluate, run_episodes
from agents.common.policies import ActorCriticPolicy, check_spaces, combined_input
from agents.common.spaces import (
    EncodedObservations,
    encode,
    encode_batch,
    encode_vec_env,
    encoded_space,
    image_parts,
    to_env_actions,
)
from agents.common.vec_env import SyncVectorEnv, make_vec_env
from nngym.gradcheck import gradcheck, numerical_gradient
from nngym.serialization import ModelFileError

IMAGE = spaces.Box(0, 255, (1, 6, 6), np.uint8)
OBS_SPACES = {
    "multidiscrete": spaces.MultiDiscrete([3, 4]),
    "multibinary": spaces.MultiBinary(4),
    "dict": spaces.Dict({"vel": spaces.Box(-1, 1, (2,)), "pos": spaces.Discrete(4)}),
    "box23": spaces.Box(-1, 1, (2, 3)),
}


class SpaceEnv(gym.Env):
    """Random observations of any space, a random reward, truncated after ``length`` steps.

    ``step`` refuses an action outside the action space, so the agents' env actions are checked too. Each env
    samples from its own copy of the observation space (its own generator).
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, length: int = 7) -> None:
        self.observation_space, self.action_space = copy.deepcopy(observation_space), action_space
        self.length = length
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(int(self.np_random.integers(2**31)))
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action: object) -> tuple:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is outside {self.action_space}")
        self.t += 1
        return self.observation_space.sample(), float(self.np_random.random()), False, self.t >= self.length, {}


def vec(observation_space: gym.Space, action_space: gym.Space, n: int = 2) -> SyncVectorEnv:
    return SyncVectorEnv([lambda: SpaceEnv(observation_space, action_space) for _ in range(n)])


def batch_of(space: gym.Space, n: int, seed: int = 0) -> object:
    """n samples of ``space`` in gymnasium's (and SB3's) batched layout: arrays (n, ...), a dict / tuple of them."""
    space.seed(seed)
    return concatenate(space, [space.sample() for _ in range(n)], create_empty_array(space, n))


#: Small settings so each agent trains a few hundred steps in well under a second.
FAST = {
    PPO: {"n_steps": 32, "batch_size": 32, "n_epochs": 2, "net_arch": (16,)},
    A2C: {"n_steps": 8, "net_arch": (16,)},
    REINFORCE: {"n_steps": 32, "net_arch": (16,)},
    DQN: {"learning_starts": 64, "buffer_size": 1000, "net_arch": (16,)},
    RecurrentPPO: {"n_steps": 32, "batch_size": 32, "n_epochs": 2, "lstm_hidden_size": 8, "net_arch": (16,)},
}


def train_save_load(cls: type, env: object, tmp_path, n_envs: int, net: str = "mlp", steps: int = 256):
    """Trains ``steps`` env steps, saves, loads; returns (agent, loaded agent)."""
    agent = cls(env, net=net, seed=0, n_envs=n_envs, **FAST[cls]).learn(steps)
    assert agent.num_timesteps >= steps
    loaded = cls.load(agent.save(tmp_path / "agent"))
    assert loaded.observation_space == agent.observation_space and loaded.action_space == agent.action_space
    return agent, loaded


def assert_same_actions(agent: object, loaded: object, space: gym.Space, n: int = 6) -> None:
    """The loaded agent acts as the trained one on a batch; each row is what ``predict`` gives for it alone."""
    obs = batch_of(space, n, seed=1)
    actions, _ = agent.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, loaded.predict(obs, deterministic=True)[0])
    assert len(actions) == n
    space.seed(1)
    for i in range(n):
        single = space.sample()
        a, _ = agent.predict(single, deterministic=True)
        np.testing.assert_array_equal(a, actions[i])
        assert agent.action_space.contains(np.asarray(a, agent.action_space.dtype) if np.ndim(a) else int(a))


# --- the encodings ------------------------------------------------------------------------------------


def test_encodings_are_the_hand_written_one_hots():
    assert encode(spaces.Discrete(4, start=2), 3).tolist() == [0, 1, 0, 0]
    np.testing.assert_array_equal(
        encode_batch(spaces.Discrete(4, start=2), np.array([5, 2])), [[0, 0, 0, 1], [1, 0, 0, 0]]
    )
    assert encode(spaces.MultiDiscrete([3, 2]), np.array([2, 0])).tolist() == [0, 0, 1, 1, 0]
    md = spaces.MultiDiscrete([3, 2], start=[1, -1])
    np.testing.assert_array_equal(encode_batch(md, np.array([[1, 0], [3, -1]])), [[1, 0, 0, 0, 1], [0, 0, 1, 1, 0]])
    assert encode(spaces.MultiBinary(3), np.array([1, 0, 1], np.int8)).tolist() == [1.0, 0.0, 1.0]
    box = spaces.Box(-1, 1, (2, 3))
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    np.testing.assert_array_equal(encode(box, x), x.ravel())
    # a Dict's parts in its (sorted) key order: "pos" before "vel"
    d = spaces.Dict({"vel": spaces.Box(-1, 1, (2,)), "pos": spaces.Discrete(3)})
    np.testing.assert_allclose(encode(d, {"vel": np.array([0.5, -0.5]), "pos": 2}), [0, 0, 1, 0.5, -0.5])
    # Blackjack's (player sum, dealer card, usable ace): one-hots of 32, 11 and 2 side by side
    blackjack = gym.make("Blackjack-v1").observation_space
    e = encode(blackjack, (14, 5, 1))
    assert e.shape == (45,) and e.dtype == np.float32 and np.flatnonzero(e).tolist() == [14, 32 + 5, 43 + 1]
    for space, obs in [(spaces.Discrete(4), 1), (d, {"vel": np.zeros(2), "pos": 0}), (blackjack, (3, 1, 0))]:
        assert encode(space, obs).dtype == np.float32 and encoded_space(space).shape == encode(space, obs).shape


def test_one_d_and_image_boxes_pass_through_unchanged():
    for space in (spaces.Box(-1, 1, (4,)), IMAGE, spaces.Box(0, 255, (6, 6, 3), np.uint8)):
        assert encoded_space(space) is space
        x = batch_of(space, 3)
        assert encode_batch(space, x) is x or np.shares_memory(encode_batch(space, x), x)
        env = vec(space, spaces.Discrete(2))
        assert encode_vec_env(env) is env  # no wrapper
    assert image_parts(IMAGE) == []  # a plain image is no composite: today's CNN path


NESTED = spaces.Tuple(
    (
        spaces.Dict({"b": spaces.MultiBinary((2, 2)), "a": spaces.Discrete(3, start=-1)}),
        spaces.MultiDiscrete(np.array([[2, 3], [4, 2]])),
        spaces.Box(-2, 2, (3, 1)),
        IMAGE,
    )
)


@pytest.mark.parametrize(
    "space", [*OBS_SPACES.values(), spaces.Discrete(5, start=3), NESTED], ids=[*OBS_SPACES, "discrete", "nested"]
)
def test_batch_encoding_is_gymnasiums_flatten(space):
    """Vectorised over the batch, row i is gymnasium's flatten of observation i; the space is flatten_space."""
    obs = batch_of(space, 7)
    space.seed(0)
    expected = np.stack([spaces.flatten(space, space.sample()) for _ in range(7)]).astype(np.float32)
    np.testing.assert_array_equal(encode_batch(space, obs), expected)
    enc, flat = encoded_space(space), spaces.flatten_space(space)
    assert enc.shape == flat.shape and enc.dtype == np.float32
    np.testing.assert_array_equal(enc.low, flat.low.astype(np.float32))


def test_encoding_matches_sb3_preprocess_obs():
    """SB3's preprocess_obs (one-hots, floats) and its extractors' flattening, Dict parts concatenated in key order
    as CombinedExtractor does, give the same arrays."""
    torch = pytest.importorskip("torch")
    preprocessing = pytest.importorskip("stable_baselines3.common.preprocessing")
    dict_space = spaces.Dict({"c": spaces.MultiBinary(2), "a": spaces.Discrete(3), "b": spaces.Box(-1, 1, (2,))})
    for space in [spaces.Discrete(5), spaces.MultiDiscrete([3, 4]), spaces.MultiBinary(4), spaces.Box(-1, 1, (2, 3))]:
        obs = batch_of(space, 6)
        sb3 = preprocessing.preprocess_obs(torch.as_tensor(obs), space).flatten(1).numpy()
        np.testing.assert_array_equal(encode_batch(space, obs), sb3)
    obs = batch_of(dict_space, 6)
    sb3 = preprocessing.preprocess_obs({k: torch.as_tensor(v) for k, v in obs.items()}, dict_space)
    sb3_flat = torch.cat([sb3[k].flatten(1) for k in dict_space.spaces], dim=1).numpy()
    np.testing.assert_array_equal(encode_batch(dict_space, obs), sb3_flat)


def test_out_of_range_discrete_values_are_refused():
    with pytest.raises(ValueError, match="outside Discrete"):
        encode_batch(spaces.Discrete(3), np.array([0, 3]))
    with pytest.raises(ValueError, match="outside MultiDiscrete"):
        encode_batch(spaces.MultiDiscrete([2, 2], start=[1, 1]), np.array([[1, 0]]))
    with pytest.raises(ValueError, match=r"outside MultiBinary\(3\): \[2\]"):
        encode_batch(spaces.MultiBinary(3), np.array([[0, 1, 1], [0, 2, 1]], np.int8))
    np.testing.assert_array_equal(encode_batch(spaces.MultiBinary(2), np.array([[0, 1]], np.int8)), [[0.0, 1.0]])


class _OneBadStep(gym.Env):
    """Observations of its space but at the third step, which returns ``bad``."""

    def __init__(self, space: gym.Space, bad: object) -> None:
        self.observation_space, self.action_space, self.bad, self.t = space, spaces.Discrete(2), bad, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return (self.bad if self.t == 3 else self.observation_space.sample()), 0.0, False, False, {}


MULTIBINARY_BAD = (spaces.MultiBinary(3), np.array([0, 2, 1], np.int8), r"MultiBinary\(3\): \[2\]")


@pytest.mark.parametrize(("space", "bad", "shown"), [MULTIBINARY_BAD, (spaces.Discrete(4), 7, r"Discrete\(4\): \[7\]")])
def test_a_value_outside_the_space_names_the_env_and_the_call(space, bad, shown):
    """A value outside a Discrete / MultiBinary observation space, at any step (not only the checked first), is
    refused naming the env; in ``predict``, naming the call."""
    env = _OneBadStep(space, bad)
    with pytest.raises(
        ValueError, match=rf"the env _OneBadStep's step\(\) returned observation values outside {shown}"
    ):
        PPO(env, n_steps=8, batch_size=8).learn(16)
    with pytest.raises(ValueError, match=rf"PPO.predict: observation values outside {shown}"):
        PPO(_OneBadStep(space, bad)).predict(bad)


def test_vector_env_encodes_observations_and_final_observations():
    """Encoded, the vector env's observations and infos' final observations are the raw ones encoded."""
    space = spaces.Dict({"img": IMAGE, "pos": spaces.Discrete(3)})
    raw, encoded = vec(space, spaces.Discrete(2), 3), encode_vec_env(vec(space, spaces.Discrete(2), 3))
    assert isinstance(encoded, EncodedObservations) and encoded.single_observation_space == encoded_space(space)
    o_raw, _ = raw.reset(seed=0)
    o_enc, _ = encoded.reset(seed=0)
    np.testing.assert_array_equal(o_enc, encode_batch(space, o_raw))
    finals = 0
    for _ in range(8):
        o_raw, *_, i_raw = raw.step(np.zeros(3, np.int64))
        o_enc, _, _, truncated, i_enc = encoded.step(np.zeros(3, np.int64))
        np.testing.assert_array_equal(o_enc, encode_batch(space, o_raw))
        for i in np.flatnonzero(truncated):
            np.testing.assert_array_equal(i_enc["final_obs"][i], encode(space, i_raw["final_obs"][i]))
            finals += 1
    assert finals == 3  # each env truncated once, after 7 steps


# --- predict's inputs ----------------------------------------------------------------------------------


def test_predict_takes_raw_observations_and_sb3_batches_and_names_wrong_shapes():
    space = spaces.Dict({"vel": spaces.Box(-1, 1, (2,)), "pos": spaces.Discrete(4)})
    agent = PPO(SpaceEnv(space, spaces.Discrete(3)), **FAST[PPO])
    batch = {"vel": np.zeros((5, 2), np.float32), "pos": np.array([0, 1, 2, 3, 0])}
    assert agent.predict(batch)[0].shape == (5,)
    assert np.ndim(agent.predict({"vel": np.zeros(2), "pos": 1})[0]) == 0
    with pytest.raises(ValueError, match=r"expected obs\['vel'\] of shape \(2,\) or \(N, 2\), got \(5, 3\)"):
        agent.predict({"vel": np.zeros((5, 3)), "pos": np.zeros(5, np.int64)})
    with pytest.raises(ValueError, match=r"keys \['pos', 'vel'\]"):
        agent.predict({"vel": np.zeros(2)})
    with pytest.raises(ValueError, match="same number of observations"):
        agent.predict({"vel": np.zeros((5, 2)), "pos": 1})
    discrete = PPO("FrozenLake-v1", **FAST[PPO])
    assert discrete.predict(np.array([0, 5, 15]))[0].shape == (3,) and np.ndim(discrete.predict(3)[0]) == 0
    with pytest.raises(ValueError, match=r"expected obs of shape \(\) or \(N\), got \(3, 1\)"):
        discrete.predict(np.zeros((3, 1), np.int64))
    blackjack = PPO("Blackjack-v1", **FAST[PPO])
    assert blackjack.predict((np.array([14, 20]), np.array([5, 10]), np.array([0, 1])))[0].shape == (2,)
    with pytest.raises(ValueError, match="a tuple of 3 parts, got length 2"):
        blackjack.predict((14, 5))
    box = PPO(SpaceEnv(spaces.Box(-1, 1, (2, 3)), spaces.Discrete(2)), **FAST[PPO])
    with pytest.raises(ValueError, match=r"expected obs of shape \(2, 3\) or \(N, 2, 3\), got \(3, 2\)"):
        box.predict(np.zeros((3, 2)))


def test_predict_refuses_fractional_discrete_values_and_what_is_no_array():
    discrete = PPO("FrozenLake-v1", **FAST[PPO])
    with pytest.raises(ValueError, match=r"PPO.predict expected obs of whole numbers in Discrete\(16\), got \[2.5\]"):
        discrete.predict(2.5)  # was read as 2
    with pytest.raises(ValueError, match=r"of whole numbers in Discrete\(16\), got \[0.5, nan\]"):
        discrete.predict(np.array([1.0, 0.5, np.nan]))
    np.testing.assert_array_equal(
        discrete.predict(np.array([2.0, 5.0]), deterministic=True)[0],
        discrete.predict(np.array([2, 5]), deterministic=True)[0],
    )
    with pytest.raises(ValueError, match=r"expected obs of shape \(\) or \(N\), got str 'a'"):
        discrete.predict("a")
    space = spaces.Dict({"vel": spaces.Box(-1, 1, (2,)), "pos": spaces.MultiDiscrete([3, 4])})
    agent = PPO(SpaceEnv(space, spaces.Discrete(3)), **FAST[PPO])
    with pytest.raises(
        ValueError, match=r"expected obs\['pos'\] of whole numbers in MultiDiscrete\(\[3 4\]\), got \[1.5\]"
    ):
        agent.predict({"vel": np.zeros(2), "pos": np.array([1.5, 2.0])})
    with pytest.raises(
        ValueError, match=r"expected obs\['vel'\] of shape \(2,\) or \(N, 2\), got a dict with keys \['x'\]"
    ):
        agent.predict({"vel": {"x": 1}, "pos": np.array([1, 2])})
    box = PPO("CartPole-v1", **FAST[PPO])
    for obs, got in [
        ({"a": np.zeros(4)}, r"a dict with keys \['a'\]"),
        ("abc", "str 'abc'"),
        ([[1.0, 2.0], [3.0]], r"list \[\[1.0, 2.0\], \[3.0\]\]"),
        (None, "NoneType None"),
    ]:
        with pytest.raises(ValueError, match=rf"PPO.predict expected obs of shape \(4,\) or \(N, 4\), got {got}"):
            box.predict(obs)
    box23 = PPO(SpaceEnv(spaces.Box(-1, 1, (2, 3)), spaces.Discrete(2)), **FAST[PPO])
    with pytest.raises(ValueError, match=r"expected obs of shape \(2, 3\) or \(N, 2, 3\), got a dict"):
        box23.predict({"a": np.zeros((2, 3))})


# --- action distributions ----------------------------------------------------------------------------


def test_multicategorical_and_bernoulli_gradients_match_central_differences():
    rng = np.random.default_rng(0)
    nvec = np.array([3, 2, 4])
    z = rng.standard_normal((5, nvec.sum()))
    a = np.stack([rng.integers(0, k, 5) for k in nvec], axis=1)
    w = rng.standard_normal(5)
    zb, ab = rng.standard_normal((5, 3)) * 2, rng.integers(0, 2, (5, 3))
    for make, logits, actions in [(lambda x: MultiCategorical(x, nvec), z, a), (Bernoulli, zb, ab)]:
        dist = make(logits)
        assert dist.log_prob(actions).dtype == np.float64 and dist.grad_log_prob(actions).dtype == np.float64
        num = numerical_gradient(lambda m=make, x=logits, act=actions: float(w @ m(x).log_prob(act)), logits)
        assert_gradient_matches(w[:, None] * dist.grad_log_prob(actions), num, f"{type(dist).__name__} log_prob")
        num = numerical_gradient(lambda m=make, x=logits: float(w @ m(x).entropy()), logits)
        assert_gradient_matches(w[:, None] * dist.grad_entropy(), num, f"{type(dist).__name__} entropy")


def test_multicategorical_and_bernoulli_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    nvec = [3, 2, 4]
    z, a = rng.standard_normal((6, 9)), np.stack([rng.integers(0, k, 6) for k in nvec], axis=1)
    parts = [torch.distributions.Categorical(logits=t) for t in torch.split(torch.tensor(z), nvec, dim=1)]
    d = MultiCategorical(z, np.array(nvec))
    expected = sum(p.log_prob(torch.tensor(a[:, i])) for i, p in enumerate(parts)).numpy()
    np.testing.assert_allclose(d.log_prob(a), expected, rtol=1e-10)
    np.testing.assert_allclose(d.entropy(), sum(p.entropy() for p in parts).numpy(), rtol=1e-10)
    np.testing.assert_array_equal(d.mode(), np.stack([p.probs.argmax(1).numpy() for p in parts], axis=1))
    zb, ab = rng.standard_normal((6, 3)) * 3, rng.integers(0, 2, (6, 3))
    tb, b = torch.distributions.Bernoulli(logits=torch.tensor(zb)), Bernoulli(zb)
    np.testing.assert_allclose(b.log_prob(ab), tb.log_prob(torch.tensor(ab, dtype=torch.float64)).sum(1), rtol=1e-10)
    np.testing.assert_allclose(b.entropy(), tb.entropy().sum(1).numpy(), rtol=1e-10)
    np.testing.assert_array_equal(b.mode(), (tb.probs > 0.5).numpy())


def test_samples_follow_the_probabilities():
    rng = np.random.default_rng(2)
    z = np.array([[0.0, np.log(3.0), -20.0, 0.0, 20.0]])  # entry 0: p = (1/4, 3/4, 0); entry 1: p = (0, 1)
    s = MultiCategorical(np.repeat(z, 4000, axis=0), np.array([3, 2])).sample(rng)
    assert s.shape == (4000, 2) and s.dtype == np.int64
    assert abs(s[:, 0].mean() - 0.75) < 0.03 and (s[:, 0] < 2).all() and (s[:, 1] == 1).all()
    b = Bernoulli(np.repeat([[np.log(3.0), -20.0, 20.0]], 4000, axis=0)).sample(rng)  # p = 3/4, 0, 1
    assert abs(b[:, 0].mean() - 0.75) < 0.03 and (b[:, 1] == 0).all() and (b[:, 2] == 1).all()


def test_env_actions_follow_the_spaces():
    np.testing.assert_array_equal(to_env_actions(spaces.Discrete(3, start=-1), np.array([0, 2])), [-1, 1])
    md = spaces.MultiDiscrete([3, 2], start=[1, 5])
    np.testing.assert_array_equal(to_env_actions(md, np.array([[0, 1]])), [[1, 6]])
    assert to_env_actions(spaces.MultiBinary(2), np.array([[1, 0]])).dtype == np.int8
    np.testing.assert_array_equal(to_env_actions(spaces.Box(-1, 1, (2,)), np.array([[3.0, -0.5]])), [[1.0, -0.5]])


# --- images inside a Dict ------------------------------------------------------------------------------


def test_combined_input_runs_the_cnn_on_each_image_part():
    """A Dict of an image, a channels-last image and flat parts: each image's columns go through its CNN
    (pixels / 255 first), and the other parts' encodings follow the features."""
    rgb = spaces.Box(0, 255, (5, 4, 3), np.uint8)
    space = spaces.Dict({"img": IMAGE, "pos": spaces.Discrete(3), "rgb": rgb, "vel": spaces.Box(-1, 1, (2,))})
    assert [(o, s.shape) for o, s in image_parts(space)] == [(0, (1, 6, 6)), (36 + 3, (5, 4, 3))]
    layer = combined_input(space, np.random.default_rng(0), cnn_spec="conv:2x3p1,dense:4")
    obs = batch_of(space, 3)
    y = layer.forward(encode_batch(space, obs), train=False)
    img_net, rgb_net = layer.nets
    expected = np.concatenate(
        [
            img_net.forward(obs["img"], train=False),
            rgb_net.forward(obs["rgb"], train=False),
            encode_batch(spaces.Discrete(3), obs["pos"]),
            obs["vel"],
        ],
        axis=1,
    )
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert img_net.layers[0].scale == 1 / 255 and rgb_net.layers[0].channels_last


def test_combined_input_gradient_matches_central_differences():
    """Backward through the image parts' CNNs and the passed-through columns, every parameter and the input,
    in float64."""
    space = spaces.Dict(
        {
            "img": IMAGE,
            "pos": spaces.Discrete(3),
            "rgb": spaces.Box(0, 255, (4, 4, 2), np.uint8),
            "v": spaces.Box(-1, 1),
        }
    )
    rng = np.random.default_rng(3)
    layer = combined_input(space, rng, cnn_spec="conv:2x3p1,dense:3")
    x = rng.standard_normal((3, encoded_space(space).shape[0])) * 50
    errors = gradcheck(layer, x, rng)
    assert set(errors) == {"x", *layer.params}
    assert_gradcheck_passes(errors)


def test_combined_input_rebuilds_from_its_architecture():
    layer = combined_input(spaces.Tuple((spaces.Discrete(2), IMAGE)), np.random.default_rng(0), cnn_spec="cnn")
    twin = CombinedInput(**json.loads(json.dumps(layer.config())))
    for k, p in twin.params.items():
        p[...] = layer.params[k]
    x = encode_batch(spaces.Tuple((spaces.Discrete(2), IMAGE)), batch_of(spaces.Tuple((spaces.Discrete(2), IMAGE)), 2))
    np.testing.assert_array_equal(twin.forward(x, train=False), layer.forward(x, train=False))


def test_dict_with_image_policy_is_cnn_features_then_mlp_heads():
    space = spaces.Dict({"img": IMAGE, "vel": spaces.Box(-1, 1, (3,))})
    policy = ActorCriticPolicy(space, spaces.Discrete(3), np.random.default_rng(0), net="cnn", net_arch=(16,))
    (layer,) = policy.trunk.layers
    assert isinstance(layer, CombinedInput) and layer.nets[0].layers[1].__class__.__name__ == "Conv2D"
    assert [type(x).__name__ for x in policy.pi.layers] == ["Dense", "Tanh", "Dense"]
    assert policy.pi.layers[0].n_in == 128 + 3  # CNN_SPEC_SMALL's features, then the Box's 3 columns
    mlp_policy = ActorCriticPolicy(space, spaces.Discrete(3), np.random.default_rng(0), net="mlp")
    assert isinstance(mlp_policy.actor.layers[0], CombinedInput) and mlp_policy.actor.layers[1].n_in == 36 + 3


# --- agents on every space they take -----------------------------------------------------------------

ON_OBS = [PPO, A2C, REINFORCE, DQN, RecurrentPPO]


@pytest.mark.parametrize("cls", ON_OBS, ids=lambda c: c.__name__)
def test_discrete_observations_frozenlake(cls, tmp_path):
    agent, loaded = train_save_load(cls, "FrozenLake-v1", tmp_path, n_envs=2)
    assert agent.observation_space == spaces.Discrete(16)
    buffer = agent.replay_buffer if cls is DQN else getattr(agent, "buffer", None)
    if buffer is not None:  # what the agent stores is the one-hot
        assert buffer.obs.shape[-1] == 16 and buffer.obs.dtype == np.float32
    assert_same_actions(agent, loaded, agent.observation_space)


@pytest.mark.parametrize("cls", ON_OBS, ids=lambda c: c.__name__)
def test_tuple_observations_blackjack(cls, tmp_path):
    agent, loaded = train_save_load(cls, "Blackjack-v1", tmp_path, n_envs=2)
    assert_same_actions(agent, loaded, agent.observation_space)
    assert len(run_episodes(loaded, "Blackjack-v1", 3).returns) == 3


@pytest.mark.parametrize("cls", ON_OBS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", list(OBS_SPACES))
def test_observation_spaces(cls, name, tmp_path):
    space = OBS_SPACES[name]
    agent, loaded = train_save_load(cls, vec(space, spaces.Discrete(3)), tmp_path, n_envs=2)
    assert_same_actions(agent, loaded, space)
    mean, _ = evaluate(loaded, SpaceEnv(space, spaces.Discrete(3)), n_episodes=2)
    assert 0.0 <= mean <= 7.0


@pytest.mark.parametrize("cls", [PPO, A2C, REINFORCE, DQN], ids=lambda c: c.__name__)
def test_dict_with_image_through_the_cnn(cls, tmp_path):
    space = spaces.Dict({"img": IMAGE, "vel": spaces.Box(-1, 1, (3,))})
    agent, loaded = train_save_load(cls, vec(space, spaces.Discrete(3)), tmp_path, n_envs=2, net="cnn")
    assert isinstance(agent._nets()["trunk" if cls is not DQN else "q"].layers[0], CombinedInput)
    assert_same_actions(agent, loaded, space)


@pytest.mark.parametrize("cls", [PPO, A2C, REINFORCE, RecurrentPPO], ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "action_space",
    [spaces.MultiDiscrete([3, 2, 4]), spaces.MultiDiscrete([2, 3], start=[-1, 4]), spaces.MultiBinary(3)],
    ids=["multidiscrete", "multidiscrete-start", "multibinary"],
)
def test_multidiscrete_and_multibinary_actions(cls, action_space, tmp_path):
    """The env refuses an action outside its space, so training itself checks the env actions."""
    obs_space = spaces.Box(-1, 1, (4,))
    agent, loaded = train_save_load(cls, vec(obs_space, action_space), tmp_path, n_envs=2)
    buffer = getattr(agent, "buffer", None)
    if buffer is not None:
        assert buffer.actions.shape[2:] == action_space.shape and buffer.actions.dtype == np.int64
    assert_same_actions(agent, loaded, obs_space)
    assert loaded.policy.log_std.size == 0


@pytest.mark.parametrize("cls", [PPO, A2C, REINFORCE, DQN, RecurrentPPO], ids=lambda c: c.__name__)
def test_discrete_actions_with_a_start(cls, tmp_path):
    agent, loaded = train_save_load(cls, vec(spaces.Box(-1, 1, (2,)), spaces.Discrete(3, start=-1)), tmp_path, 2)
    assert_same_actions(agent, loaded, agent.observation_space)


def test_gymnasium_vector_envs_with_dict_observations():
    space = spaces.Dict({"img": IMAGE, "pos": spaces.Discrete(3)})
    for vectorization in ("gym-sync", "async"):
        if vectorization == "async":  # an env instance: each worker steps a copy of it, which the agent says
            with pytest.warns(UserWarning, match=r"vectorization='async' steps a copy of the env instance"):
                agent = PPO(SpaceEnv(space, spaces.Discrete(2)), net="cnn", vectorization=vectorization, **FAST[PPO])
        else:
            agent = PPO(SpaceEnv(space, spaces.Discrete(2)), net="cnn", vectorization=vectorization, **FAST[PPO])
        agent.learn(64)
        assert agent.buffer.obs.shape == (32, 1, 39)
        agent.env.close()


def test_load_checks_the_env_spaces(tmp_path):
    path = PPO("FrozenLake-v1", **FAST[PPO]).save(tmp_path / "fl")
    assert PPO.load(path, env="FrozenLake-v1").env.single_observation_space == spaces.Box(0, 1, (16,), np.float32)
    with pytest.raises(ModelFileError, match="do not match"):
        PPO.load(path, env="CliffWalking-v1")


# --- saved spaces --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "space",
    [
        spaces.Discrete(5, start=-2),
        spaces.Box(np.array([-1.0, -np.inf]), np.array([2.0, np.inf]), dtype=np.float64),
        IMAGE,
        spaces.MultiDiscrete([3, 4], start=[1, -1]),
        spaces.MultiDiscrete(np.array([[2, 3], [4, 5]])),
        spaces.MultiBinary(4),
        spaces.MultiBinary((2, 3)),
        spaces.Dict([("z", spaces.Discrete(2)), ("a", spaces.Box(-1, 1, (2,)))]),  # not sorted: order kept
        NESTED,
    ],
    ids=lambda s: type(s).__name__,
)
def test_spaces_survive_the_model_file_json(space):
    back = _space_from_json(json.loads(json.dumps(_space_to_json(space))))
    assert back == space and type(back) is type(space)
    assert back.dtype == space.dtype
    if isinstance(space, spaces.Dict):
        assert list(back.spaces) == list(space.spaces)  # the encoding's order
    obs = batch_of(space, 3)
    np.testing.assert_array_equal(encode_batch(back, obs), encode_batch(space, obs))


# --- what an agent does not take ---------------------------------------------------------------------


def test_unsupported_combinations_name_the_space_and_what_is_supported():
    box = spaces.Box(-1, 1, (3,))
    with pytest.raises(ValueError, match=r"DQN supports Discrete action spaces, got Box"):
        DQN(SpaceEnv(box, spaces.Box(-1, 1, (2,))))
    with pytest.raises(ValueError, match=r"DQN supports Discrete action spaces, got MultiDiscrete"):
        DQN(SpaceEnv(box, spaces.MultiDiscrete([2, 2])))
    with pytest.raises(ValueError, match="RecurrentPPO does not support image parts inside Dict or Tuple"):
        RecurrentPPO(SpaceEnv(spaces.Dict({"img": IMAGE, "v": box}), spaces.Discrete(2)))
    with pytest.raises(ValueError, match=r"net='cnn' needs an image Box .* or a Dict / Tuple one with image parts"):
        PPO(SpaceEnv(spaces.Dict({"v": box, "p": spaces.Discrete(2)}), spaces.Discrete(2)), net="cnn")
    with pytest.raises(ValueError, match=r"net='dbn' needs observations without image parts"):
        PPO(SpaceEnv(spaces.Dict({"img": IMAGE, "v": box}), spaces.Discrete(2)), net="dbn")
    with pytest.raises(ValueError, match=r"supports 1-D MultiDiscrete action spaces"):
        PPO(SpaceEnv(box, spaces.MultiDiscrete(np.array([[2, 2], [3, 3]]))))
    with pytest.raises(ValueError, match=r"supports 1-D Box action spaces"):
        A2C(SpaceEnv(box, spaces.Box(-1, 1, (2, 2))))
    supported = r"supports Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple observation spaces"
    with pytest.raises(ValueError, match=supported + ", got Text"):
        check_spaces("PPO", spaces.Text(4), spaces.Discrete(2))
    with pytest.raises(ValueError, match=supported + r" \(nested too\), got .* with a Text part"):
        check_spaces("PPO", spaces.Dict({"t": spaces.Text(4), "v": box}), spaces.Discrete(2))


@pytest.mark.parametrize("cls", [PPO, A2C, REINFORCE, RecurrentPPO], ids=lambda c: c.__name__)
def test_integer_box_actions_are_refused_naming_the_multidiscrete_of_the_same_integers(cls):
    """A Gaussian's actions are real numbers, which an integer Box's ``contains`` refuses (SB3 sends them anyway)."""
    box = spaces.Box(-1, 1, (3,))
    want = (
        f"{cls.__name__} supports Box action spaces of a floating-point dtype (real-valued actions), got "
        "Box(0, 5, (2,), int64) of dtype int64; for integer actions use MultiDiscrete([6, 6]), whose actions are "
        "the same integers"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(want)}$"):
        cls(SpaceEnv(box, spaces.Box(0, 5, (2,), np.int64)), **FAST[cls])


def test_integer_box_message_gives_the_starts_and_float_boxes_stay_accepted():
    box = spaces.Box(-1, 1, (3,))
    shifted = spaces.Box(np.array([-1, 2]), np.array([1, 4]), dtype=np.int32)
    with pytest.raises(ValueError, match=re.escape("got Box([-1  2], [1 4], (2,), int32) of dtype int32; for integer")):
        check_spaces("PPO", box, shifted)
    with pytest.raises(ValueError, match=re.escape("use MultiDiscrete([3, 3], start=[-1, 2]), whose actions are")):
        check_spaces("PPO", box, shifted)
    with pytest.raises(ValueError, match="of dtype int64; for integer actions use a bounded MultiDiscrete action"):
        check_spaces("A2C", box, spaces.Box(-np.inf, np.inf, (2,), np.int64))
    with pytest.raises(ValueError, match=r"got Box\(False, True, \(2,\), bool\) of dtype bool"):
        check_spaces("A2C", box, spaces.Box(0, 1, (2,), bool))
    for dtype in (np.float16, np.float32, np.float64):
        check_spaces("PPO", box, spaces.Box(-1, 1, (2,), dtype))


# --- learning ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_ppo_solves_frozenlake_from_one_hot_states(seed):
    """FrozenLake 4x4 without slipping: the optimum reaches the goal (return 1) in 6 steps. A uniform random
    policy reaches it in about 1.4% of its episodes; PPO on the one-hot states gets there in ~1.5 s (10k steps;
    seeds 0-14 all solve it, from about 6k steps on)."""
    env = make_vec_env("FrozenLake-v1", 8, is_slippery=False)
    agent = PPO(env, seed=seed, n_envs=8, n_steps=32, batch_size=64, n_epochs=4, learning_rate=1e-3, ent_coef=0.01)
    agent.learn(10_000)
    stats = run_episodes(agent, gym.make("FrozenLake-v1", is_slippery=False), n_episodes=3)
    # seeds 0-4 x 3 OpenBLAS kernels (default, Sandybridge, Prescott): all 15 runs reach the goal in 6 steps
    assert stats.returns == [1.0] * 3 and stats.lengths == [6] * 3


def test_sb3_recurrent_ppo_baseline_names_multibinary_actions_before_training():
    """sb3-contrib's RecurrentPPO fails deep in torch on MultiBinary actions; the baseline says so when it is made.
    SB3's PPO and nngym's RecurrentPPO train on the same env."""
    pytest.importorskip("sb3_contrib")
    from agents.baselines.sb3 import SB3PPO, SB3RecurrentPPO

    env = SpaceEnv(spaces.Box(-1, 1, (3,), np.float32), spaces.MultiBinary(2))
    with pytest.raises(ValueError, match=r"RecurrentPPO cannot train on MultiBinary actions, got MultiBinary\(2\)"):
        SB3RecurrentPPO(env, seed=0, n_steps=16, batch_size=16)
    assert SB3PPO(env, seed=0, n_steps=16, batch_size=16, n_epochs=1).learn(32).num_timesteps == 32  # SB3's PPO can
    assert RecurrentPPO(env, seed=0, **FAST[RecurrentPPO]).learn(64).num_timesteps == 64


@pytest.mark.parametrize("vectorization", ["sync", "gym-sync"])
def test_discrete_and_multidiscrete_actions_come_in_the_spaces_dtype(vectorization):
    from toy_envs import SpacesEnv

    class Checking(SpacesEnv):  # asserts as Gymnasium's envs do
        def step(self, action):
            assert self.action_space.contains(action), (action, getattr(action, "dtype", None))
            return super().step(action)

    obs = gym.spaces.Box(-1, 1, (2,), np.float32)
    for action_space in (
        gym.spaces.Discrete(3, start=2, dtype=np.int32),
        gym.spaces.MultiDiscrete([3, 2], dtype=np.int8),
    ):
        agent = PPO(Checking(obs, action_space), n_steps=8, batch_size=8, vectorization=vectorization).learn(16)
        action, _ = agent.predict(np.zeros(2, np.float32), deterministic=True)
        assert action.dtype == action_space.dtype and action_space.contains(action)
