"""net="dbn" (agents.common.dbn_policy): pretraining on random-policy observations, conversion, save/load, learning."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import agents.common.base
import envs  # noqa: F401  (registers nngym/*)
from agents import A2C, DQN, PPO, REINFORCE
from agents.common.dbn_policy import DBNPretrainConfig
from agents.common.policies import ActorCriticPolicy
from nngym.activations import Sigmoid
from nngym.datasets import load_mnist
from nngym.dense import Dense

TINY = {"n_obs": 256, "sizes": [16], "epochs": 1}


class StepCounter(gym.Wrapper):
    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.steps = 0

    def step(self, action):
        self.steps += 1
        return self.env.step(action)


def _obs(agent, n: int = 32) -> np.ndarray:
    return np.stack([agent.observation_space.sample() for _ in range(n)]).astype(np.float32)


@pytest.mark.parametrize("env_id", ["nngym/DigitClassify-v0", "CartPole-v1"])
def test_trunk_equals_dbn_upward_pass(env_id):
    agent = PPO(env_id, net="dbn", seed=1, n_envs=4, n_steps=8, dbn_kwargs=TINY)
    pre = agent.pretraining
    agent.observation_space.seed(0)
    obs = _obs(agent)
    if env_id == "CartPole-v1":  # Gaussian visible units on standardised observations, folded into the first Dense
        assert pre.dbn.visible == "gaussian" and pre.mean.shape == (4,) and np.all(pre.std > 0)
        visible = (obs - pre.mean) / pre.std
        assert len(agent.policy.trunk.layers) == 2
    else:  # Bernoulli visible units on grey levels in [0, 1]
        assert pre.dbn.visible == "bernoulli" and pre.mean is None
        visible = obs.reshape(len(obs), -1) / 255.0
        assert visible.max() > 0.5
    np.testing.assert_allclose(pre.visible(obs, agent.observation_space), visible, rtol=1e-6, atol=1e-6)
    h = pre.dbn.up(visible.astype(np.float32))
    assert h.shape == (32, 16) and h.std() > 1e-3  # features that differ between observations
    np.testing.assert_allclose(agent.policy.trunk.forward(obs, train=False), h, rtol=1e-5, atol=1e-5)
    dense = [layer for layer in agent.policy.trunk.layers if isinstance(layer, Dense)]
    assert [type(layer) for layer in agent.policy.trunk.layers][-2:] == [Dense, Sigmoid] and len(dense) == 1
    if env_id != "CartPole-v1":  # Bernoulli: the RBM's (W, b) copied as they are
        np.testing.assert_array_equal(dense[0].params["W"], pre.dbn.rbms[0].params["W"])


def test_pretraining_steps_counted_and_logged(tmp_path):
    env = StepCounter(gym.make("CartPole-v1"))
    agent = A2C(env, net="dbn", seed=0, n_steps=8, log_interval=1, log_dir=tmp_path, dbn_kwargs={**TINY, "n_obs": 100})
    assert env.steps == 100 and agent.pretrain_timesteps == 100 and agent.num_timesteps == 0
    agent.learn(64)
    assert env.steps == 164 and agent.num_timesteps == 64 and agent.pretrain_timesteps == 100
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert "pretrain/timesteps" in header
    vec = PPO("CartPole-v1", net="dbn", seed=0, n_envs=8, n_steps=8, dbn_kwargs={**TINY, "n_obs": 100})
    assert vec.pretrain_timesteps == 104  # whole vector steps: 13 · 8


@pytest.mark.parametrize("cls", [PPO, A2C, DQN, REINFORCE])
def test_save_load_identical_actions_without_pretraining_again(cls, tmp_path, monkeypatch):
    kwargs = {"learning_starts": 0, "train_freq": 4, "buffer_size": 500} if cls is DQN else {"n_steps": 16}
    agent = cls("nngym/DigitClassify-v0", net="dbn", seed=2, dbn_kwargs=TINY, **kwargs).learn(64)
    path = agent.save(tmp_path / "model")

    def no_pretraining(*args, **kwargs):
        raise AssertionError("a loaded agent must not pretrain again")

    monkeypatch.setattr(agents.common.base, "pretrain_dbn_trunk", no_pretraining)
    loaded = cls.load(path, env="nngym/DigitClassify-v0")
    assert loaded.pretrain_timesteps == 256 and loaded.num_timesteps == agent.num_timesteps
    agent.observation_space.seed(3)
    obs = _obs(agent, 64)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    for name, net in agent._nets().items():
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(loaded._nets()[name].state_dict()[k], v)


def test_random_init_baseline_has_the_same_shape():
    pretrained = PPO("nngym/DigitClassify-v0", net="dbn", seed=0, n_steps=8, dbn_kwargs=TINY)
    baseline = PPO("nngym/DigitClassify-v0", net="dbn", seed=0, n_steps=8, dbn_kwargs={**TINY, "n_obs": 0})
    assert baseline.pretrain_timesteps == 0 and baseline.pretraining.dbn is None
    shapes = [(k, v.shape) for k, v in pretrained.policy.trunk.state_dict().items()]
    assert shapes == [(k, v.shape) for k, v in baseline.policy.trunk.state_dict().items()]
    assert [type(x) for x in pretrained.policy.trunk.layers] == [type(x) for x in baseline.policy.trunk.layers]


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dbn_kwargs"):
        PPO("CartPole-v1", net="dbn", dbn_kwargs={"hidden": [8]})
    with pytest.raises(ValueError, match="needs net='dbn'"):
        PPO("CartPole-v1", net="mlp", dbn_kwargs=TINY)
    with pytest.raises(ValueError, match="pass an env"):
        PPO(None, net="dbn", _spaces=(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2)), dbn_kwargs=TINY)
    with pytest.raises(ValueError, match="pretrained by an agent"):
        ActorCriticPolicy(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2), np.random.default_rng(0), net="dbn")
    with pytest.raises(ValueError, match="positive sizes"):
        DBNPretrainConfig(sizes=(0,))


def test_dbn_kwargs_are_checked_before_any_env_step():
    """Each field of dbn_kwargs is checked as the agents' hyperparameters are: ``persistent="false"`` (read as true by
    truth value) is refused naming the field, before the random policy spends a step; good values reach CD as given."""
    env = StepCounter(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match=r"dbn_kwargs: persistent must be a bool \(True or False\), got str 'false'"):
        PPO(env, net="dbn", seed=0, n_steps=8, dbn_kwargs={**TINY, "persistent": "false"})
    assert env.steps == 0
    bad = [
        ({"persistent": 1}, r"persistent must be a bool \(True or False\), got int 1"),
        ({"n_obs": -1}, r"n_obs must be an integer >= 0, got -1"),
        ({"n_obs": 2.5}, r"n_obs must be an integer, got 2.5"),
        ({"k": 0}, r"k must be an integer >= 1, got 0"),
        ({"epochs": "3"}, r"epochs must be an integer, got '3'"),
        ({"batch_size": 0}, r"batch_size must be >= 1, got 0"),
        ({"sizes": 16}, r"sizes must be a non-empty list of positive sizes, got int 16"),
        ({"sizes": [8, 2.5]}, r"sizes must be a non-empty list of positive sizes, got list \[8, 2.5\]"),
        ({"lr": 0}, r"lr must be None \(the defaults\) or a finite number > 0, got int 0"),
        ({"lr": "0.01"}, r"lr must be None \(the defaults\) or a finite number > 0, got str '0.01'"),
        ({"weight_decay": -1e-4}, r"weight_decay must be a finite number >= 0, got float -0.0001"),
        ({"init": "glorot"}, r"init must be the name of an initialiser: unknown initializer 'glorot'"),
        ({"init": None}, r"init must be the name of an initialiser, got NoneType None"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=rf"^dbn_kwargs: {message}"):
            DBNPretrainConfig(**kwargs)
    config = DBNPretrainConfig(n_obs=1e3, sizes=[8, 4], k=2, persistent=np.bool_(True), lr=0.01, init="orthogonal:2")
    assert (config.n_obs, config.sizes, config.persistent) == (1000, (8, 4), True)
    assert type(config.n_obs) is int and type(config.persistent) is bool  # as the agents' configs hold them
    assert [(c.k, c.persistent, c.lr) for c in config.cd_configs("gaussian")] == [(2, True, 0.01)] * 2


@pytest.mark.slow
def test_pretrained_trunk_learns_digits_faster_than_random_init():
    """PPO on DigitClassify (10 classes) for 8,192 RL steps: the trunk pretrained on 4,096 unlabelled digits labels
    held-out digits >= 60% right, >= 10 points above the same Sigmoid trunk from random init. Chance is 10%."""
    images, labels = load_mnist("test")
    accuracy = {}
    for n_obs in (4096, 0):
        agent = PPO(
            "nngym/DigitClassify-v0",
            net="dbn",
            seed=0,
            n_envs=64,
            n_steps=4,
            batch_size=128,
            n_epochs=2,
            gamma=0.0,
            gae_lambda=0.0,
            learning_rate=3e-3,
            dbn_kwargs={"n_obs": n_obs, "sizes": [128], "epochs": 3},
        )
        assert agent.pretrain_timesteps == n_obs
        actions, _ = agent.learn(8192).predict(images[:2000, None].astype(np.float32), deterministic=True)
        accuracy[n_obs] = float(np.mean(actions == labels[:2000]))
    # seeds 0-4 x 3 OpenBLAS kernels: pretrained min 64.9%, median 70.3%; random init min 41.2%, median 47.4%,
    # max 48.4%; the difference min 16.5, median 26.1 points
    assert accuracy[4096] >= 0.6 and accuracy[4096] - accuracy[0] >= 0.1, accuracy
