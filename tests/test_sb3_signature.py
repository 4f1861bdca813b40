"""SB3's constructor form: ``PPO("MlpPolicy", env, policy_kwargs=...)`` builds what nngym's own form builds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from toy_envs import SpacesEnv

from agents import A2C, DQN, PPO, RecurrentPPO
from agents.common.population import Population


def _params(agent) -> dict[str, np.ndarray]:
    return {f"{name}/{k}": v.copy() for name, net in agent._nets().items() for k, v in net.state_dict().items()}


def _same(a, b) -> None:
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)


def test_policy_and_policy_kwargs_build_the_same_agent_as_nngyms_form():
    sb3 = PPO(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(net_arch=dict(pi=[32], vf=[32]), activation_fn="nn.ReLU"),
        n_steps=32,
        batch_size=32,
        device="cpu",
    )
    own = PPO("CartPole-v1", net="mlp", net_arch=(32,), activation="relu", n_steps=32, batch_size=32)
    assert (sb3.net, sb3.config.net_arch, sb3.config.activation) == ("mlp", (32,), "relu")
    _same(sb3, own)
    sb3.learn(64)
    own.learn(64)
    _same(sb3, own)


def test_torch_activation_classes_are_read_by_name():
    nn = pytest.importorskip("torch.nn")
    agent = A2C("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[16], activation_fn=nn.Tanh))
    assert agent.config.activation == "tanh" and agent.config.net_arch == (16,)
    with pytest.raises(ValueError, match="activation_fn=nn.ELU is not supported"):
        A2C("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn=nn.ELU))


def test_policy_by_keyword_env_instance_and_dqn():
    agent = DQN(policy="MlpPolicy", env=gym.make("CartPole-v1"), learning_starts=16, buffer_size=256)
    assert agent.net == "mlp" and agent.n_envs == 1
    agent.learn(32)
    assert agent.num_timesteps == 32


def test_recurrent_policies_fit_recurrent_ppo_only():
    assert RecurrentPPO("MlpLstmPolicy", "CartPole-v1", n_steps=16).net == "mlp"
    fits = r"expected one of \['CnnPolicy', 'MlpPolicy', 'MultiInputPolicy'\]"
    with pytest.raises(ValueError, match=r"policy='MlpLstmPolicy' is not supported by PPO; " + fits):
        PPO("MlpLstmPolicy", "CartPole-v1")
    fits = r"expected one of \['CnnLstmPolicy', 'MlpLstmPolicy', 'MultiInputLstmPolicy'\]"
    with pytest.raises(ValueError, match=r"not supported by RecurrentPPO; " + fits):
        RecurrentPPO(policy="MlpPolicy", env="CartPole-v1")
    with pytest.raises(ValueError, match="policy='MLPPolicy' is not supported by PPO"):
        PPO("MLPPolicy", "CartPole-v1")  # a typo is named as a policy, not looked up as an env id
    with pytest.raises(ValueError, match="policy='TinyPolicy' is not supported by PPO"):
        PPO(policy="TinyPolicy", env="CartPole-v1")


def test_multi_input_policy_sends_image_parts_through_a_cnn():
    image = gym.spaces.Box(0, 255, (16, 16, 1), np.uint8)
    vector = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    with_image = SpacesEnv(gym.spaces.Dict({"pixels": image, "v": vector}), gym.spaces.Discrete(2))
    without = SpacesEnv(gym.spaces.Dict({"a": vector, "b": gym.spaces.Discrete(4)}), gym.spaces.Discrete(2))
    assert PPO("MultiInputPolicy", with_image, n_steps=16, batch_size=16).net == "cnn"
    assert PPO("MultiInputPolicy", without, n_steps=16, batch_size=16).net == "mlp"


def test_a_policy_class_is_refused_naming_what_is_taken():
    class ActorCriticPolicy:  # SB3's policy classes: nngym builds its own networks
        pass

    with pytest.raises(ValueError, match=r"policy=ActorCriticPolicy \(a policy class\) is not supported"):
        PPO(ActorCriticPolicy, "CartPole-v1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "cuda"}, "device='cuda' is not supported: nngym computes with numpy on the CPU"),
        ({"_init_setup_model": False}, "_init_setup_model=False is not supported"),
        ({"rollout_buffer_class": object}, "rollout_buffer_class=<class 'object'> is not supported"),
        ({"policy_kwargs": [64, 64]}, "policy_kwargs must be a dict"),
        ({"policy": "CnnPolicy"}, "got the policy twice"),
        ({"net": "cnn"}, "policy='MlpPolicy' stands for net='mlp', but net='cnn' was given too"),
        ({"stats_window_size": 0}, "stats_window_size must be an int >= 1, got 0"),
    ],
)
def test_sb3_arguments_nngym_cannot_honour_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        PPO("MlpPolicy", "CartPole-v1", **kwargs)


def test_sb3_defaults_are_accepted_and_hyperparameters_by_position_refused():
    agent = DQN(
        "MlpPolicy",
        "CartPole-v1",
        replay_buffer_class=None,
        replay_buffer_kwargs=None,
        optimize_memory_usage=False,
        _init_setup_model=True,
        device="auto",
    )
    assert agent.net == "mlp"
    with pytest.raises(ValueError, match="optimize_memory_usage=True is not supported"):
        DQN("MlpPolicy", "CartPole-v1", optimize_memory_usage=True)
    with pytest.raises(ValueError, match=r"pass the hyperparameters after policy and env by keyword"):
        PPO("MlpPolicy", "CartPole-v1", 3e-4)


def test_a_list_of_seeds_in_sb3_form_makes_a_population():
    pop = PPO("MlpPolicy", "CartPole-v1", seed=[0, 1], n_steps=16, batch_size=16, policy_kwargs=dict(net_arch=[8]))
    assert isinstance(pop, Population) and pop.seeds == [0, 1]
    single = PPO("CartPole-v1", seed=1, n_steps=16, batch_size=16, net_arch=(8,))
    _same(pop.member(1), single)


def test_stats_window_size_sets_the_episode_window_and_is_kept_in_the_file(tmp_path):
    agent = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, stats_window_size=3)
    agent.learn(256)
    assert agent.ep_info_buffer.maxlen == 3 and len(agent.ep_info_buffer) == 3
    path = tmp_path / "model.npz"
    agent.save(path)
    assert PPO.load(path, device="cpu").stats_window_size == 3
    assert PPO.load(path, stats_window_size=7).stats_window_size == 7


def test_learn_takes_sb3s_log_interval_for_the_call(tmp_path):
    import csv

    def rows(agent_dir):
        with open(agent_dir / "progress.csv") as f:
            return [int(r["time/total_timesteps"]) for r in csv.DictReader(f)]

    every = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, log_dir=tmp_path / "a")
    every.learn(total_timesteps=32 * 6)
    second = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, log_dir=tmp_path / "b")
    second.learn(total_timesteps=32 * 6, log_interval=2)
    assert rows(tmp_path / "a") == [32, 64, 96, 128, 160, 192]
    assert rows(tmp_path / "b") == [64, 128, 192]
    assert second.config.log_interval == 1  # the Config's value again after the call
    with pytest.raises(ValueError, match="log_interval"):
        second.learn(32, log_interval=0)
    assert second.config.log_interval == 1


def test_an_sb3_vec_env_is_refused_saying_what_to_pass():
    env_util = pytest.importorskip("stable_baselines3.common.env_util")
    vec_env = pytest.importorskip("stable_baselines3.common.vec_env")
    venv = vec_env.VecNormalize(env_util.make_vec_env("CartPole-v1", n_envs=2))
    with pytest.raises(ValueError, match=r"VecNormalize.*pass the env id with n_envs=N.*normalize_obs=True"):
        PPO("MlpPolicy", venv)


def test_multi_input_policy_populations_stack_mlps_only():
    vector = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    parts = gym.spaces.Dict({"a": vector, "b": gym.spaces.Discrete(4)})
    flat = [SpacesEnv(parts, gym.spaces.Discrete(2)) for _ in "ab"]
    pop = PPO("MultiInputPolicy", flat, seed=[0, 1], n_steps=16, batch_size=16)
    assert isinstance(pop, Population) and pop.member(0).net == "mlp"
    image = gym.spaces.Box(0, 255, (16, 16, 1), np.uint8)
    pixels = [SpacesEnv(gym.spaces.Dict({"p": image, "v": vector}), gym.spaces.Discrete(2)) for _ in "ab"]
    with pytest.raises(ValueError, match="population supports MLP policies \\(net='mlp'\\); got net='cnn'"):
        PPO("MultiInputPolicy", pixels, seed=[0, 1], n_steps=16, batch_size=16)


def test_dqn_takes_sb3s_train_freq_tuple_in_steps():
    assert DQN("MlpPolicy", "CartPole-v1", train_freq=(4, "step")).config.train_freq == 4
    assert DQN("CartPole-v1", train_freq=[8, "step"]).config.train_freq == 8  # a yml list
    with pytest.raises(ValueError, match=r"train_freq=\(1, 'episode'\) is not supported: nngym's DQN trains every n"):
        DQN("MlpPolicy", "CartPole-v1", train_freq=(1, "episode"))
    with pytest.raises(ValueError, match=r"train_freq must be an int or SB3's \(n, 'step'\), got \(4, 'steps'\)"):
        DQN("MlpPolicy", "CartPole-v1", train_freq=(4, "steps"))


def test_populations_and_the_sb3_adapter_take_log_interval(tmp_path):
    import csv

    pop = PPO("MlpPolicy", "CartPole-v1", seed=[0, 1], n_steps=16, batch_size=16, log_dir=tmp_path / "s{seed}")
    pop.learn(16 * 4, log_interval=2)
    with open(tmp_path / "s1" / "progress.csv") as f:
        assert [int(r["time/total_timesteps"]) for r in csv.DictReader(f)] == [32, 64]
    assert pop.config.log_interval == 1
    with pytest.raises(ValueError, match="log_interval"):
        pop.learn(16, log_interval=0)
    sb3 = pytest.importorskip("agents.baselines.sb3")
    agent = sb3.sb3_agent("ppo", "CartPole-v1", seed=0, log_dir=tmp_path / "sb3", n_steps=16, batch_size=16)
    agent.learn(16 * 4, log_interval=2)
    with open(tmp_path / "sb3" / "progress.csv") as f:
        assert [int(r["time/total_timesteps"]) for r in csv.DictReader(f)] == [32, 64]
    with pytest.raises(ValueError, match="log_interval must be an int >= 1, got 0"):
        agent.learn(16, log_interval=0)


@pytest.mark.parametrize(
    ("cls", "policy_kwargs", "kwargs"),
    [
        (PPO, {"optimizer_kwargs": {"eps": 1e-5}}, {}),  # SB3's Adam of PPO, spelled out
        (PPO, {"optimizer_kwargs": {"eps": 1e-5, "betas": [0.9, 0.999], "weight_decay": 0, "amsgrad": False}}, {}),
        (PPO, {"optimizer_kwargs": None}, {}),
        (RecurrentPPO, {"optimizer_kwargs": {"eps": 1e-5}}, {}),
        (A2C, {"optimizer_kwargs": {"alpha": 0.99, "eps": 1e-5, "weight_decay": 0}}, {}),  # SB3's A2C RMSprop
        (A2C, {"optimizer_kwargs": {"eps": 1e-3}}, {"rms_prop_eps": 1e-3}),
        (A2C, {"optimizer_kwargs": {"eps": 1e-5}}, {"use_rms_prop": False}),  # Adam as PPO's
        (DQN, {"optimizer_kwargs": {}}, {}),  # torch's Adam: eps 1e-8
        (DQN, {"optimizer_kwargs": {"eps": 1e-8}}, {}),
    ],
)
def test_optimizer_kwargs_of_nngyms_optimiser_are_taken(cls, policy_kwargs, kwargs):
    policy = "MlpLstmPolicy" if cls is RecurrentPPO else "MlpPolicy"
    agent = cls(policy, "CartPole-v1", policy_kwargs=policy_kwargs, **kwargs)
    own = cls("CartPole-v1", **kwargs)
    assert type(agent.optimizer) is type(own.optimizer)
    default_eps = 1e-8 if cls is DQN else 1e-5
    assert agent.optimizer.eps == own.optimizer.eps == (policy_kwargs["optimizer_kwargs"] or {}).get("eps", default_eps)


@pytest.mark.parametrize(
    ("cls", "policy_kwargs", "kwargs", "message"),
    [
        (
            PPO,
            {"optimizer_kwargs": {}},
            {},
            r"optimizer_kwargs=\{\} is not supported by nngym's ppo, which steps with Adam\(betas=\(0.9, 0.999\), "
            r"eps=1e-05, .*; with these optimizer_kwargs SB3 would step with eps=1e-08 \(torch's default\); SB3 sets "
            r"Adam's eps=1e-5 only when optimizer_kwargs is None, so add eps=1e-5",
        ),
        (
            RecurrentPPO,
            {"optimizer_kwargs": {"eps": 1e-8, "betas": (0.5, 0.999)}},
            {},
            r"nngym's recurrent_ppo, which steps with Adam\(.*SB3 would step with betas=\(0.5, 0.999\), eps=1e-08$",
        ),
        (
            A2C,
            {"optimizer_kwargs": {"eps": 1e-3}},
            {},
            r"nngym's a2c, which steps with RMSprop\(alpha=0.99, eps=1e-05, .*\), as SB3's A2C with use_rms_prop=True, "
            r"which puts dict\(alpha=0.99, eps=rms_prop_eps, weight_decay=0\) in place of optimizer_kwargs: give "
            r"rms_prop_eps",
        ),
        (DQN, {"optimizer_kwargs": {"eps": 1e-5}}, {}, r"dqn, which steps with Adam\(.*eps=1e-08.*would step with eps"),
        (PPO, {"optimizer_kwargs": {"lr": 1e-3}}, {}, r"Adam\(.*\): \['lr'\] is not among its settings"),
        (PPO, {"optimizer_kwargs": [1e-5]}, {}, r"Adam\(.*\): optimizer_kwargs must be a dict of its settings"),
        (A2C, {"optimizer_class": "RMSpropTFLike"}, {}, r"optimizer_class='RMSpropTFLike' .*RMSprop\(alpha=0.99"),
    ],
)
def test_other_optimizer_kwargs_are_refused_naming_nngyms_optimiser(cls, policy_kwargs, kwargs, message):
    policy = "MlpLstmPolicy" if cls is RecurrentPPO else "MlpPolicy"
    with pytest.raises(ValueError, match=message):
        cls(policy, "CartPole-v1", policy_kwargs=policy_kwargs, **kwargs)


def test_the_optimisers_named_are_those_the_agents_step_with():
    from agents import REINFORCE
    from agents.common.hyperparams import TORCH_OPTIMIZER_DEFAULTS, nngym_optimizer

    cases = [(PPO, {}), (RecurrentPPO, {}), (A2C, {}), (A2C, {"use_rms_prop": False}), (A2C, {"rms_prop_eps": 1e-3})]
    for cls, kwargs in [*cases, (DQN, {}), (REINFORCE, {})]:
        optimizer = cls("CartPole-v1", **kwargs).optimizer
        name, settings = nngym_optimizer(cls.algo.lower().replace("recurrentppo", "recurrent_ppo"), kwargs)
        assert type(optimizer).__name__ == name and optimizer.eps == settings["eps"]
        assert optimizer.weight_decay == settings["weight_decay"] == 0
        if name == "Adam":
            assert (optimizer.beta1, optimizer.beta2) == settings["betas"]
        else:
            assert optimizer.alpha == settings["alpha"]
    torch = pytest.importorskip("torch")
    import inspect

    for name, defaults in TORCH_OPTIMIZER_DEFAULTS.items():
        signature = inspect.signature(getattr(torch.optim, name)).parameters
        assert {k: signature[k].default for k in defaults} == defaults


def test_features_extractor_kwargs_are_refused_naming_the_encoder_each_agent_has():
    with pytest.raises(
        ValueError,
        match=r"features_extractor_kwargs=\{'features_dim': 32\} .* recurrent_ppo \(the "
        r"encoder before each LSTM is nngym's: cnn_spec, .* or encoder_arch",
    ):
        RecurrentPPO("MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(features_extractor_kwargs={"features_dim": 32}))
    with pytest.raises(ValueError, match="give nngym's agent its trunk as net=: a spec"):
        PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(features_extractor_kwargs={"features_dim": 32}))
