"""rl-baselines3-zoo's own hyperparameter files, read unchanged (copies in agents/hyperparams/zoo, MIT license).

Every entry whose env is installed either becomes an agent (its hyperparameters, wrappers and
normalisation applied) or raises one HyperparamsError naming the key, the file and the env id —
never an AttributeError or TypeError. ``policy_kwargs`` strings are parsed with ``ast``, never ``eval``.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import envs  # noqa: F401 - registers the nngym/ ids
from agents import ALGOS, HyperparamsError, load_hyperparams, parse_policy_kwargs
from agents.common.hyperparams import HYPERPARAMS_DIR
from agents.common.vec_env import make_vec_env
from envs.wrappers import FrameSkip, FrameStack, zoo_wrappers

ZOO = HYPERPARAMS_DIR / "zoo"
FILES = {"ppo": "ppo.yml", "a2c": "a2c.yml", "dqn": "dqn.yml", "recurrent_ppo": "ppo_lstm.yml"}


def installed(env_id: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's notes on old versions of the MuJoCo ids
        try:
            gym.make(env_id).close()
        except Exception:  # not registered, or its package (MuJoCo, Atari, minigrid ...) missing
            return False
    return True


ENTRIES = [
    (algo, env_id)
    for algo, name in FILES.items()
    for env_id in yaml.safe_load((ZOO / name).read_text())
    if env_id not in ("default", "atari") and installed(env_id)
]


def test_the_installed_envs_include_classic_control_and_box2d():
    ids = {env_id for _, env_id in ENTRIES}
    assert {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"} <= ids
    pytest.importorskip("Box2D")  # the zoo extra
    assert "LunarLander-v3" in ids  # the box2d extra is in dev
    assert len(ENTRIES) >= 25


@pytest.mark.parametrize("algo,env_id", ENTRIES, ids=[f"{a}-{e}" for a, e in ENTRIES])
def test_every_installed_entry_builds_an_agent_or_names_what_is_unsupported(algo, env_id):
    path = ZOO / FILES[algo]
    try:
        hp = load_hyperparams(algo, env_id, path)
    except HyperparamsError as e:  # the one error allowed: it names the file, the env and the key
        assert str(path) in str(e) and env_id in str(e), e
        assert any(key in str(e) for key in ("use_sde", "policy_kwargs", "env_wrapper", "normalize", "policy=")), e
        return
    assert isinstance(hp.pop("n_timesteps"), int)
    wrappers = zoo_wrappers(hp.pop("env_wrapper", None), hp.pop("frame_stack", None))
    n_envs = min(int(hp.pop("n_envs", 1)), 2)  # the entry's n_envs is checked by the Config, fewer envs are built
    env = make_vec_env(env_id, n_envs, wrappers=wrappers)
    agent = ALGOS[algo](env, seed=0, n_envs=n_envs, **hp)
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs, episode_start=np.ones(n_envs))
    assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype))


def test_which_entries_are_refused_and_why():
    """The zoo entries nngym cannot honour, pinned down: gSDE for recurrent PPO, the critic without an LSTM."""
    refused = {}
    for algo, env_id in ENTRIES:
        try:
            load_hyperparams(algo, env_id, ZOO / FILES[algo])
        except HyperparamsError as e:
            refused[(algo, env_id)] = str(e)
    for algo in ("ppo", "a2c"):  # the zoo tunes them on Pendulum and MountainCarContinuous with gSDE: honoured
        assert (algo, "Pendulum-v1") not in refused and (algo, "MountainCarContinuous-v0") not in refused
    assert load_hyperparams("a2c", "Pendulum-v1", ZOO / "a2c.yml")["use_sde"] is True
    sde = [e for e, entry in yaml.safe_load((ZOO / "ppo_lstm.yml").read_text()).items() if entry.get("use_sde")]
    assert all("use_sde" in refused[("recurrent_ppo", e)] for e in sde if ("recurrent_ppo", e) in ENTRIES)
    assert all(("ppo", e) not in refused for e in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3"))
    assert all(("dqn", e) not in refused for e in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3"))
    assert len(refused) < len(ENTRIES) / 2


def test_zoo_entries_translate_to_the_agents_arguments():
    hp = load_hyperparams("dqn", "Acrobot-v1", ZOO / "dqn.yml")
    assert hp["net_arch"] == (256, 256) and hp["gradient_steps"] == -1 and hp["n_timesteps"] == 100_000
    assert hp["net"] == "mlp" and "policy_kwargs" not in hp and "policy" not in hp
    hp = load_hyperparams("ppo", "Acrobot-v1", ZOO / "ppo.yml")
    assert hp["normalize_obs"] is hp["normalize_reward"] is True and hp["n_envs"] == 16
    hp = load_hyperparams("ppo", "LunarLanderContinuous-v3", ZOO / "ppo.yml")
    assert hp.get("activation", "tanh") in ("tanh", "relu")
    hp = load_hyperparams("recurrent_ppo", "Acrobot-v1", ZOO / "ppo_lstm.yml")
    assert hp["net"] == "mlp"  # MlpLstmPolicy


@pytest.mark.parametrize(
    "text,expected",
    [
        ("dict(net_arch=[256, 256])", {"net_arch": [256, 256]}),
        ("dict(log_std_init=-3.29, ortho_init=False)", {"log_std_init": -3.29, "ortho_init": False}),
        (
            "dict(\n  ortho_init=False,\n  activation_fn=nn.ReLU,\n  net_arch=dict(pi=[64], vf=[64]),\n)",
            {"ortho_init": False, "activation_fn": "relu", "net_arch": {"pi": [64], "vf": [64]}},
        ),
        ("{'a': (1, 2), 'b': None, 'c': 'x'}", {"a": (1, 2), "b": None, "c": "x"}),
        (
            "dict(activation_fn=nn.GELU, net_arch=dict(pi=[256], vf=[256]))",
            {"activation_fn": "gelu", "net_arch": {"pi": [256], "vf": [256]}},
        ),
    ],
)
def test_policy_kwargs_strings(text, expected):
    assert parse_policy_kwargs(text) == expected


@pytest.mark.parametrize(
    "text,names",
    [
        ("dict(activation_fn=nn.ELU)", "nn.ELU"),
        ("dict(x=__import__('os').system('touch /tmp/nngym_pwned'))", "__import__"),
        ("dict(f=lambda: 0)", "lambda"),
        ("dict(optimizer_class=RMSpropTFLike)", "RMSpropTFLike"),
        ("dict(**kw)", "dict(**kw)"),
        ("[1, 2]", "must be a dict"),
        ("dict(", "not a Python expression"),
    ],
)
def test_policy_kwargs_refuses_anything_but_literals(text, names):
    with pytest.raises(HyperparamsError, match="policy_kwargs") as info:
        parse_policy_kwargs(text)
    assert names in str(info.value)
    assert not Path("/tmp/nngym_pwned").exists()


def test_normalize_forms_and_unsupported_keys(tmp_path):
    table = {
        "CartPole-v1": {"normalize": "{'norm_obs': False, 'norm_reward': True}", "gamma": 0.9},
        "Acrobot-v1": {"normalize": "true"},
        "MountainCar-v0": {"normalize": "{'norm_obs': True, 'norm_obs_keys': ['position']}"},
        "Pendulum-v1": {"use_sde": False, "learning_rate": "linear_0.001", "callback": "my.Callback"},
        "LunarLander-v3": {"n_epochs": 4, "learning_rat": 0.1},
    }
    path = tmp_path / "ppo.yml"
    path.write_text(yaml.safe_dump(table))
    hp = load_hyperparams("ppo", "CartPole-v1", path)
    assert hp == {"normalize_obs": False, "normalize_reward": True, "gamma": 0.9}
    assert load_hyperparams("ppo", "Acrobot-v1", path) == {"normalize_obs": True, "normalize_reward": True}
    with pytest.raises(HyperparamsError, match=r"MountainCar-v0: normalize norm_obs_keys=\['position'\] is not supp"):
        load_hyperparams("ppo", "MountainCar-v0", path)
    with pytest.raises(HyperparamsError, match="Pendulum-v1: callback='my.Callback' is not supported"):
        load_hyperparams("ppo", "Pendulum-v1", path)
    with pytest.raises(HyperparamsError, match=r"LunarLander-v3: \['learning_rat'\] not hyperparameters"):
        load_hyperparams("ppo", "LunarLander-v3", path)
    with pytest.raises(HyperparamsError, match="no ppo hyperparameters for 'Nope-v0'"):
        load_hyperparams("ppo", "Nope-v0", path)
    (tmp_path / "bad.yml").write_text("CartPole-v1: [1, 2\n")
    with pytest.raises(HyperparamsError, match="cannot read"):
        load_hyperparams("ppo", "CartPole-v1", tmp_path / "bad.yml")


def test_frame_stack_concatenates_along_the_channel_axis():
    env = FrameStack(gym.make("CartPole-v1"), 3)
    assert env.observation_space.shape == (12,)
    first, _ = env.reset(seed=0)
    np.testing.assert_array_equal(first[:8], 0.0)  # zero padding before the first observation
    second, *_ = env.step(0)
    np.testing.assert_array_equal(second[4:8], first[8:])  # the oldest first, shifted by one frame
    img = FrameStack(gym.make("nngym/Catch-v0"), 2)  # (1, 10, 5) channels first -> (2, 10, 5)
    assert img.observation_space.shape == (2, 10, 5) and img.observation_space.dtype == np.uint8
    with pytest.raises(ValueError, match="frame_stack must be an integer >= 1"):
        FrameStack(gym.make("CartPole-v1"), 0)


def test_frame_skip_repeats_the_action_and_sums_rewards():
    env = FrameSkip(gym.make("CartPole-v1"), skip=3)
    env.reset(seed=0)
    _, reward, *_ = env.step(0)
    assert reward == 3.0


def test_zoo_env_wrappers_resolve_inside_gymnasium_only():
    pytest.importorskip("Box2D")  # CarRacing
    pytest.importorskip("cv2")  # ResizeObservation
    spec = [
        {"rl_zoo3.wrappers.FrameSkip": {"skip": 2}},
        {"rl_zoo3.wrappers.YAMLCompatResizeObservation": {"shape": [8, 8]}},
        {"gymnasium.wrappers.transform_observation.GrayscaleObservation": {"keep_dim": True}},
    ]
    env = gym.make("CarRacing-v3")
    for wrap in zoo_wrappers(spec, frame_stack=2):
        env = wrap(env)
    assert env.observation_space.shape == (8, 8, 2)
    with pytest.raises(ValueError, match="env_wrapper 'stable_baselines3.common.atari_wrappers.AtariWrapper'"):
        zoo_wrappers(["stable_baselines3.common.atari_wrappers.AtariWrapper"])
    with pytest.raises(ValueError, match="env_wrapper 'os.system' is not supported"):
        zoo_wrappers("os.system")


@pytest.mark.slow
def test_train_py_reads_the_zoo_dqn_file_unchanged(tmp_path):
    from agents.experiments import train

    args = ["--algo", "dqn", "--env", "Acrobot-v1", "--hyperparams-file", str(ZOO / "dqn.yml")]
    args += ["--total-timesteps", "400", "--log-dir", str(tmp_path), "--no-progress", "--n-eval-episodes", "1"]
    result = train.main([*args, "-p", "learning_starts=100"])
    assert result["hyperparams"]["gradient_steps"] == -1 and result["total_timesteps"] == 400
    saved = json.loads((tmp_path / "dqn_Acrobot-v1_s0" / "eval.json").read_text())
    assert saved["hyperparams"]["net_arch"] == [256, 256]


def test_a_namespaced_env_finds_the_entry_of_its_bare_name(tmp_path):
    """nngym/CartPoleNoVel-v1 is the env the zoo's ppo_lstm.yml calls CartPoleNoVel-v1; an entry under the full id
    wins over the bare name."""
    zoo_lstm = ZOO / "ppo_lstm.yml"
    hp = load_hyperparams("recurrent_ppo", "nngym/CartPoleNoVel-v1", zoo_lstm)
    assert hp == load_hyperparams("recurrent_ppo", "CartPoleNoVel-v1", zoo_lstm)
    assert hp["n_envs"] == 8 and hp["n_steps"] == 32 and hp["normalize_obs"] and hp["n_timesteps"] == 100_000
    assert load_hyperparams("recurrent_ppo", "envs:nngym/CartPoleNoVel-v1", zoo_lstm) == hp  # gymnasium's module:id
    # no entry of its own: the zoo file's 'default' one, whose MlpPolicy SB3-contrib's RecurrentPPO does not take
    with pytest.raises(
        HyperparamsError, match=r"ppo_lstm.yml: default \(used for 'nngym/TMaze-v0', which has no entry"
    ):
        load_hyperparams("recurrent_ppo", "nngym/TMaze-v0", zoo_lstm)
    both = tmp_path / "both.yml"
    both.write_text("CartPoleNoVel-v1: {n_steps: 16}\nnngym/CartPoleNoVel-v1: {n_steps: 64}\n")
    assert load_hyperparams("recurrent_ppo", "nngym/CartPoleNoVel-v1", both) == {"n_steps": 64}
    with pytest.raises(HyperparamsError, match="no recurrent_ppo hyperparameters for 'nngym/TMaze-v0'"):
        load_hyperparams("recurrent_ppo", "nngym/TMaze-v0", both)


def test_overrides_are_merged_into_the_entry_and_translated_with_it(tmp_path):
    """train.py's -p: the zoo's keys mean what they mean in a file, and an override wins over the entry's keys."""
    from agents.common import hyperparams

    path = tmp_path / "ppo.yml"
    path.write_text(
        "CartPole-v1:\n  policy: 'MlpPolicy'\n  gamma: 0.9\n"
        "  policy_kwargs: 'dict(net_arch=[64, 64], activation_fn=nn.ReLU)'\n"
        "nngym/DigitClassify-v0:\n  net: cnn\n  gamma: 0.9\n"
    )
    fields = [f.name for f in dataclasses.fields(ALGOS["ppo"].Config)]

    def load(env: str, **overrides):
        return hyperparams.load_hyperparams("ppo", env, path, fields, overrides)

    assert load("CartPole-v1", net_arch=[8]) == {"net": "mlp", "gamma": 0.9, "net_arch": (8,), "activation": "relu"}
    assert load("CartPole-v1", policy_kwargs="dict(net_arch=[32])") == {"net": "mlp", "gamma": 0.9, "net_arch": (32,)}
    assert load("CartPole-v1", net_arch={"pi": [16], "vf": [16]})["net_arch"] == (16,)
    assert load("CartPole-v1", normalize=True, normalize_reward=False) == {
        "net": "mlp",
        "gamma": 0.9,
        "net_arch": (64, 64),
        "activation": "relu",
        "normalize_obs": True,
        "normalize_reward": False,
    }
    assert load("nngym/DigitClassify-v0", policy="MlpPolicy")["net"] == "mlp"  # the override's policy, not the net
    assert load("nngym/DigitClassify-v0")["net"] == "cnn"
    # as in the zoo, the entry's gamma (or the override's) replaces normalize's: VecNormalize discounts as the agent
    assert "normalize_kwargs" not in load("CartPole-v1", gamma=0.95, normalize="{'gamma': 0.5}")
    assert load("CartPole-v1", normalize="{'gamma': 0.95, 'clip_obs': 5}")["normalize_kwargs"] == {"clip_obs": 5.0}
    with pytest.raises(HyperparamsError, match=r"with the overrides \{'bogus': 1\}: \['bogus'\] not hyperparameters"):
        load("CartPole-v1", bogus=1)
    # SB3's other forms go on to the agent, which checks them (a DQN's net_arch is one list)
    assert load("CartPole-v1", net_arch={"pi": [16], "vf": [8]})["net_arch"] == {"pi": (16,), "vf": (8,)}
    assert load("CartPole-v1", policy_kwargs="dict(net_arch=dict(pi=[16]))")["net_arch"] == {"pi": (16,), "vf": ()}
    assert hyperparams.load_hyperparams("ppo", "CartPole-v1", path) == load("CartPole-v1")  # no overrides


def test_optimizer_kwargs_in_a_file_are_taken_when_they_are_nngyms_optimiser(tmp_path):
    """policy_kwargs' optimizer_kwargs of the optimiser the agent steps with are dropped; others are refused naming it
    (A2C's RMSprop follows the entry's rms_prop_eps and use_rms_prop)."""
    path = tmp_path / "hp.yml"
    path.write_text(
        "CartPole-v1:\n  policy_kwargs: 'dict(optimizer_kwargs=dict(eps=1e-5, betas=(0.9, 0.999)), net_arch=[8])'\n"
        "Acrobot-v1:\n  policy_kwargs: 'dict(optimizer_kwargs=dict(eps=1e-3))'\n  rms_prop_eps: 0.001\n"
        "Pendulum-v1:\n  policy_kwargs: 'dict(optimizer_kwargs=dict(eps=1e-8))'\n"
        "MountainCar-v0:\n  use_rms_prop: false\n  policy_kwargs: 'dict(optimizer_kwargs=dict(eps=1e-5))'\n"
    )
    assert load_hyperparams("ppo", "CartPole-v1", path) == {"net_arch": (8,)}
    assert load_hyperparams("recurrent_ppo", "CartPole-v1", path) == {"net_arch": (8,)}
    assert load_hyperparams("a2c", "Acrobot-v1", path) == {"rms_prop_eps": 0.001}
    assert load_hyperparams("a2c", "MountainCar-v0", path) == {"use_rms_prop": False}
    assert load_hyperparams("dqn", "Pendulum-v1", path) == {}
    with pytest.raises(
        HyperparamsError,
        match=r"hp.yml: Pendulum-v1: policy_kwargs optimizer_kwargs=\{'eps': 1e-08\} "
        r"is not supported by nngym's ppo, which steps with Adam\(betas=\(0.9, 0.999\), eps=1e-05",
    ):
        load_hyperparams("ppo", "Pendulum-v1", path)
    from agents.common import hyperparams  # its load_hyperparams takes train.py's overrides

    with pytest.raises(HyperparamsError, match=r"a2c, which steps with RMSprop\(alpha=0.99, eps=1e-05, .*rms_prop_eps"):
        hyperparams.load_hyperparams("a2c", "Acrobot-v1", path, overrides={"rms_prop_eps": 1e-5})
