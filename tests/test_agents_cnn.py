"""CNN policies and custom networks: image spaces, shared-trunk gradients, save/load, a short Catch learning test."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gradients import assert_all_float64, assert_gradient_matches

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import A2C, DQN, PPO, REINFORCE
from agents.common.cnn import ImageScale, image_layout
from agents.common.evaluation import classification_accuracy, evaluate
from agents.common.policies import CNN_SPEC, CNN_SPEC_SMALL, ActorCriticPolicy, check_spaces, default_cnn_spec
from nngym.builders import cnn
from nngym.datasets import load_mnist
from nngym.gradcheck import numerical_gradient

CATCH, DIGITS = "nngym/Catch-v0", "nngym/DigitClassify-v0"


def test_default_specs_fit_digits_and_catch():
    assert default_cnn_spec((1, 28, 28)) == CNN_SPEC
    assert default_cnn_spec((1, 10, 5)) == CNN_SPEC_SMALL
    assert default_cnn_spec((3, 36, 40)) == "conv:32x8s4,conv:64x4s2,conv:64x3,dense:512"  # SB3's NatureCNN
    assert default_cnn_spec((3, 35, 96)) == CNN_SPEC  # too small for it
    rng = np.random.default_rng(0)
    assert cnn(CNN_SPEC, (1, 28, 28), rng).forward(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 128)
    assert cnn(CNN_SPEC_SMALL, (1, 10, 5), rng).forward(np.zeros((2, 1, 10, 5), np.float32)).shape == (2, 128)


def test_check_spaces_accepts_images_and_names_what_is_wrong():
    image = gym.spaces.Box(0, 255, (1, 28, 28), np.uint8)
    check_spaces("PPO", image, gym.spaces.Discrete(10), net="cnn")
    check_spaces("PPO", image, gym.spaces.Discrete(10), net="mlp")  # flattened
    with pytest.raises(ValueError, match="net='cnn' needs an image Box"):
        check_spaces("PPO", gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2), net="cnn")
    check_spaces("PPO", gym.spaces.Discrete(3), gym.spaces.Discrete(2), net="mlp")  # one-hot (tests/test_spaces.py)
    with pytest.raises(ValueError, match="observation spaces"):
        check_spaces("PPO", gym.spaces.Text(5), gym.spaces.Discrete(2), net="mlp")
    with pytest.raises(ValueError, match="net='cnn' needs an image Box"):
        PPO("CartPole-v1", net="cnn")


def test_image_scale_channels_last_equals_channels_first():
    rng = np.random.default_rng(0)
    hwc = gym.spaces.Box(0, 255, (10, 5, 3), np.uint8)
    assert image_layout(hwc) == ((3, 10, 5), True, 1 / 255)
    assert image_layout(gym.spaces.Box(0, 255, (1, 10, 5), np.uint8))[:2] == ((1, 10, 5), False)
    x = rng.integers(0, 256, (4, 10, 5, 3)).astype(np.float32)
    layer = ImageScale(1 / 255, channels_last=True)
    y = layer.forward(x)
    np.testing.assert_allclose(y, x.transpose(0, 3, 1, 2) / 255, rtol=1e-6)
    assert layer.backward(np.ones_like(y)).shape == x.shape
    policy = ActorCriticPolicy(hwc, gym.spaces.Discrete(3), rng, net="cnn")
    assert policy.forward(x)[1].shape == (4,)


def test_shared_trunk_gradient_matches_finite_differences():
    """Both heads' gradients must meet in the shared trunk: ∂L/∂θ_trunk by backprop vs central differences."""
    rng = np.random.default_rng(1)
    space = gym.spaces.Box(0, 255, (1, 6, 5), np.uint8)
    policy = ActorCriticPolicy(space, gym.spaces.Discrete(3), rng, net="conv:3x3p1,dense:8", ortho_init=False)
    policy.astype(np.float64)
    obs = rng.integers(0, 256, (4, 1, 6, 5)).astype(np.float64)
    c_out, c_v = rng.normal(size=(4, 3)), rng.normal(size=4)

    def loss() -> float:
        dist, v = policy.forward(obs, train=True)
        return float((c_out * dist.logits).sum() + (c_v * v).sum())

    loss()
    policy.backward(c_out, c_v)
    assert_all_float64(policy.named_params())
    for name, p, g in policy.named_params():
        if name.startswith("trunk"):
            assert_gradient_matches(g, numerical_gradient(loss, p), name)


@pytest.mark.parametrize("cls", [PPO, DQN])
def test_cnn_policy_save_load_identical_actions(cls, tmp_path):
    kw = {"n_steps": 8, "batch_size": 32} if cls is PPO else {"learning_starts": 32, "buffer_size": 500}
    agent = cls(DIGITS, net="cnn", seed=3, n_envs=4, **kw).learn(128)
    images = load_mnist("test")[0][:64, None]
    agent.save(tmp_path / "m.npz")
    loaded = cls.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(
        loaded.predict(images, deterministic=True)[0], agent.predict(images, deterministic=True)[0]
    )
    first = next(iter(loaded._nets().values()))
    assert isinstance(first.layers[0], ImageScale)
    assert len(set(agent.predict(images, deterministic=True)[0].tolist())) > 1 or cls is DQN  # not a constant function


def test_custom_networks_sequential_spec_and_dict(tmp_path):
    rng = np.random.default_rng(0)
    trunk = cnn("conv:4x3p1,dense:16", (1, 10, 5), rng)
    w0 = trunk.layers[0].params["W"].copy()
    agent = PPO(CATCH, net=trunk, seed=0, n_envs=4, n_steps=8, batch_size=16).learn(64)
    own = agent.policy.trunk
    assert isinstance(own.layers[0], ImageScale) and own.n_params == trunk.n_params
    assert not np.array_equal(own.layers[1].params["W"], w0)  # trained ...
    np.testing.assert_array_equal(trunk.layers[0].params["W"], w0)  # ... a copy: the given network is untouched
    obs = np.stack([agent.observation_space.sample() for _ in range(16)])
    agent.save(tmp_path / "custom.npz")
    loaded = PPO.load(tmp_path / "custom.npz")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    # a spec string and the same spec as a list build the same trunk
    a = A2C(CATCH, net="conv:4x3p1,dense:16", seed=0).policy.trunk.architecture()
    assert a == A2C(CATCH, net=["conv:4x3p1", "dense:16"], seed=0).policy.trunk.architecture()
    # complete actor and critic networks, and a whole Q-network
    pi, vf = cnn("conv:4x3p1", (1, 10, 5), rng, n_out=3), cnn("conv:4x3p1", (1, 10, 5), rng, n_out=1)
    r = REINFORCE(CATCH, net={"pi": pi, "vf": vf}, seed=0, n_envs=2, n_steps=16).learn(64)
    assert r.policy.trunk is None and r.policy.actor.forward(obs).shape == (16, 3)
    q = cnn("conv:4x3p1,dense:8", (1, 10, 5), rng, n_out=3)
    d = DQN(CATCH, net={"q": q}, seed=0, learning_starts=16, buffer_size=100).learn(64)
    assert d.q_net.q.layers[0] is not d.q_target.q.layers[0]  # online and target networks are separate copies
    d.save(tmp_path / "q.npz")
    np.testing.assert_array_equal(
        DQN.load(tmp_path / "q.npz").predict(obs, deterministic=True)[0], d.predict(obs, deterministic=True)[0]
    )
    with pytest.raises(ValueError, match="needs both 'pi' and 'vf'"):
        PPO(CATCH, net={"pi": pi})
    with pytest.raises(ValueError, match="need image observations"):
        PPO("CartPole-v1", net="conv:4x3")
    # a dense-only spec is an MLP trunk on a 1-D observation
    assert PPO("CartPole-v1", net="dense:32", seed=0).policy.forward(np.zeros((2, 4), np.float32))[1].shape == (2,)


def test_classification_accuracy_counts_the_test_split():
    labels = load_mnist("test")[1]

    class Constant:
        def predict(self, obs, deterministic=True):
            return np.full(len(obs), 7), None

    assert classification_accuracy(Constant()) == pytest.approx(np.mean(labels == 7))


@pytest.mark.parametrize(
    ("cls", "steps", "kw"),
    [
        (PPO, 8000, {"n_envs": 16, "n_steps": 16, "batch_size": 128, "n_epochs": 4, "learning_rate": 2e-3}),
        (
            DQN,
            4000,
            {
                "n_envs": 4,
                "learning_rate": 1e-3,
                "batch_size": 64,
                "buffer_size": 10_000,
                "learning_starts": 500,
                "target_update_interval": 250,
                "train_freq": 2,
                "exploration_fraction": 0.3,
                "exploration_final_eps": 0.01,
            },
        ),
    ],
)
@pytest.mark.slow
def test_cnn_learns_catch(cls, steps, kw):
    """Catch from pixels in seconds: a uniformly random policy averages −0.6, the optimum is +1."""
    agent = cls(CATCH, net="cnn", seed=0, **kw).learn(steps)
    mean, _ = evaluate(agent, CATCH, n_episodes=50, seed=1)
    assert mean >= 0.9  # seeds 0-4 x 3 OpenBLAS kernels, PPO and DQN: min 1.0, median 1.0


def test_uint8_observations_are_scaled_by_1_over_255_only_for_pixels_of_bounds_0_to_255():
    from toy_envs import SpacesEnv

    def first_scale(low: int, high: int) -> float:
        space = gym.spaces.Box(low, high, (7, 9, 3), np.uint8)
        agent = PPO(SpacesEnv(space, gym.spaces.Discrete(2)), net="cnn", n_steps=8, batch_size=8)
        layer = next(layer for layer in agent.policy.trunk.layers if isinstance(layer, ImageScale))
        return layer.scale

    assert first_scale(0, 255) == pytest.approx(1 / 255)
    assert first_scale(0, 1) == 1.0  # a 0/1 mask is no 0..255 image (SB3 scales those only)
    assert first_scale(0, 100) == 1.0


@pytest.mark.parametrize("algo", ["PPO", "DQN"])
def test_cnn_policy_on_images_natures_cnn_takes_is_sb3s(algo):
    """``"CnnPolicy"`` (``net="cnn"``) on images of at least 36 pixels a side is SB3's CnnPolicy: NatureCNN and
    linear heads, parameter for parameter the shapes of SB3's."""
    sb3 = pytest.importorskip("stable_baselines3")
    from toy_envs import SpacesEnv

    def env() -> SpacesEnv:
        return SpacesEnv(gym.spaces.Box(0, 255, (64, 48, 3), np.uint8), gym.spaces.Discrete(3))

    kwargs = {"buffer_size": 100} if algo == "DQN" else {}
    heads = {"PPO": {"net_arch": {"pi": [32], "vf": [16, 8]}}, "DQN": {"net_arch": [32]}}[algo]
    for policy_kwargs in ({}, heads):  # SB3's default linear heads, and MLP heads of net_arch on the features
        ours = {"PPO": PPO, "DQN": DQN}[algo]("CnnPolicy", env(), policy_kwargs=policy_kwargs, **kwargs)
        theirs = getattr(sb3, algo)("CnnPolicy", env(), device="cpu", policy_kwargs=policy_kwargs, **kwargs)
        mine = [v.shape for name, net in ours._nets().items() if name != "q_target" for v in net.state_dict().values()]
        params = theirs.policy.parameters() if algo == "PPO" else theirs.policy.q_net.parameters()
        assert sorted(mine) == sorted(tuple(p.shape) for p in params), policy_kwargs
        assert (32, 3, 8, 8) in mine and (512, 64 * 4 * 2) in mine  # 8x8 stride 4, ..., 512 features of 64 4 x 2 maps
    assert (32, 512) in mine and ((8, 16) in mine) == (algo == "PPO")  # the heads' hidden layers


@pytest.mark.parametrize("algo", ["PPO", "DQN", "RecurrentPPO"])
def test_files_written_before_natures_cnn_default_load_with_their_own_cnns(algo, tmp_path):
    """A model file without the ``cnn_default`` rule was written when ``net="cnn"`` took the smaller CNNs for large
    images too: it loads with them (and trains on); a file of today's rule loads with NatureCNN."""
    from toy_envs import SpacesEnv

    from agents import RecurrentPPO
    from agents.common.base import _digest
    from agents.common.policies import cnn_defaults_of_older_files
    from nngym.serialization import load_npz, save_npz

    cls = {"PPO": PPO, "DQN": DQN, "RecurrentPPO": RecurrentPPO}[algo]
    kwargs = {"n_steps": 8, "batch_size": 8} if algo != "DQN" else {"buffer_size": 64, "learning_starts": 8}
    env = SpacesEnv(gym.spaces.Box(0, 255, (40, 40, 1), np.uint8), gym.spaces.Discrete(2))
    with cnn_defaults_of_older_files():
        before = cls(env, net="cnn", seed=0, **kwargs)
    path = before.save(tmp_path / "old.npz")
    arrays, meta = load_npz(path)
    meta.pop("sha256")
    del meta["cnn_default"]  # as the files of then, which kept the Config's net_arch whatever the heads were
    if algo != "RecurrentPPO":
        meta["config"]["net_arch"] = [64, 64]
    save_npz(path, arrays, {**meta, "sha256": _digest(arrays, meta)})
    old = cls.load(path, env=SpacesEnv(gym.spaces.Box(0, 255, (40, 40, 1), np.uint8), gym.spaces.Discrete(2)))
    for name, net in before._nets().items():
        assert old._nets()[name].architecture() == net.architecture()
    obs = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 1), dtype=np.uint8)
    np.testing.assert_array_equal(old.predict(obs, deterministic=True)[0], before.predict(obs, deterministic=True)[0])
    old.learn(16, reset_num_timesteps=False)
    today = cls(env, net="cnn", seed=0, **kwargs)
    assert any(net.architecture() != before._nets()[name].architecture() for name, net in today._nets().items())
    again = cls.load(today.save(tmp_path / "new.npz"))
    for name, net in today._nets().items():
        assert again._nets()[name].architecture() == net.architecture()


def test_sb3_adapter_files_written_before_natures_cnn_default_keep_their_linear_heads(tmp_path):
    """The SB3 adapter built linear heads after its CNN whatever net_arch said: such a file loads with them."""
    pytest.importorskip("stable_baselines3")
    from toy_envs import SpacesEnv

    from agents.baselines.sb3 import SB3PPO
    from agents.common.base import _digest
    from nngym.serialization import load_npz, save_npz

    env = SpacesEnv(gym.spaces.Box(0, 255, (1, 40, 40), np.uint8), gym.spaces.Discrete(3))
    agent = SB3PPO(env, net="conv:8x5s2,dense:16", n_steps=16, batch_size=16, n_epochs=1)
    path = agent.save(tmp_path / "sb3.npz")
    arrays, meta = load_npz(path)
    meta.pop("sha256", None)
    del meta["cnn_default"]
    meta["config"]["net_arch"] = [32]  # what such a file may say beside its linear heads
    save_npz(path, arrays, {**meta, **({"sha256": _digest(arrays, meta)} if "sha256" in load_npz(path)[1] else {})})
    loaded = SB3PPO.load(path, env=SpacesEnv(gym.spaces.Box(0, 255, (1, 40, 40), np.uint8), gym.spaces.Discrete(3)))
    obs = np.random.default_rng(0).integers(0, 256, (4, 1, 40, 40), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
