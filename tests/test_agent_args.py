"""Seeds, step counts and hyperparameter types: what SB3 users pass, and clear errors for what cannot work."""

import numpy as np
import pytest

from agents import A2C, PPO

SMALL = {"n_envs": 1, "n_steps": 16, "batch_size": 16}


def test_seed_none_draws_a_seed_that_repeats_the_run():
    agent = PPO("CartPole-v1", seed=None, **SMALL)
    assert isinstance(agent.seed, int) and 0 <= agent.seed < 2**31
    twin = PPO("CartPole-v1", seed=agent.seed, **SMALL)
    for (_, p, _), (_, q, _) in zip(agent.policy.named_params(), twin.policy.named_params(), strict=True):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seed_is_named(seed):
    with pytest.raises(ValueError, match=r"seed must be a non-negative int, a list of them, or None, got"):
        PPO("CartPole-v1", seed=seed, **SMALL)


def test_population_refuses_negative_seeds_and_non_int_member():
    with pytest.raises(ValueError, match="non-negative integer seeds"):
        PPO("CartPole-v1", seed=[-1, 0], **SMALL)
    population = PPO("CartPole-v1", seed=[0, 1], **SMALL)
    with pytest.raises(TypeError, match="member index must be an int, got str '0'"):
        population.member("0")
    with pytest.raises(ValueError, match="total_timesteps must be a whole number >= 0, got -5"):
        population.learn(-5)


@pytest.mark.parametrize("steps", [-10, 2.5, "100"])
def test_learn_refuses_bad_step_counts(steps):
    with pytest.raises(ValueError, match="total_timesteps must be a whole number >= 0"):
        A2C("CartPole-v1", n_envs=1).learn(steps)


def test_learn_takes_a_float_count_as_sb3_does():
    agent = A2C("CartPole-v1", n_envs=1, n_steps=5).learn(2e1)
    assert agent.num_timesteps == 20


def test_integral_float_counts_become_ints_and_strings_are_named():
    agent = PPO("CartPole-v1", n_envs=2.0, n_steps=16, batch_size=16)
    assert agent.config.n_envs == 2 and isinstance(agent.config.n_envs, int) and agent.env.num_envs == 2
    with pytest.raises(ValueError, match=r"PPO: gamma must be a number >= 0 and <= 1, got str '0.9'"):
        PPO("CartPole-v1", gamma="0.9")


def test_evaluate_names_a_vector_env():
    import gymnasium as gym

    from agents import evaluate

    agent = A2C("CartPole-v1", n_envs=1)
    with pytest.raises(ValueError, match="evaluation runs episodes on a single env, got a vector env of 2 envs"):
        evaluate(agent, gym.make_vec("CartPole-v1", 2), 2)


def test_load_takes_hyperparameters_that_replace_the_saved_ones(tmp_path):
    agent = PPO("CartPole-v1", seed=3, learning_rate=3e-4, **SMALL)
    agent.save(tmp_path / "m.npz")
    loaded = PPO.load(tmp_path / "m.npz", env="CartPole-v1", learning_rate=1e-5, n_envs=2, verbose=0)
    assert loaded.config.learning_rate == 1e-5 and loaded.env.num_envs == 2
    assert loaded.config.n_steps == 16 and loaded.seed == 3
    obs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        PPO.load(tmp_path / "m.npz", no_such_key=1)


@pytest.mark.parametrize("content", [b"hello", b'{"format": "nngym.agent"}'])
def test_a_file_that_is_no_npz_is_named_without_pickle_advice(tmp_path, content):
    from nngym.serialization import ModelFileError

    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=r"expected an npz \(zip\) archive, it starts with") as err:
        PPO.load(path)
    assert "pickle" not in str(err.value)


def test_population_indexes_members_and_refuses_predict():
    from agents import evaluate

    population = PPO("CartPole-v1", seed=[4, 5], **SMALL)
    assert [population[k].seed for k in range(len(population))] == [4, 5]
    with pytest.raises(TypeError, match=r"population of 2 members \(seeds \[4, 5\]\) has no single policy"):
        evaluate(population, "CartPole-v1", 1)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "message"),
    [
        ("nngym/TMaze-v0", {"corridor_length": None}, "corridor_length must be an integer >= 1, got None"),
        ("nngym/Catch-v0", {"rows": float("inf")}, "rows must be an integer from 2 to 64 .*got inf"),
        ("nngym/DigitClassify-v0", {"wrong_reward": "a"}, "wrong_reward must be a finite number below"),
        ("nngym/Catch-v0", {"scale": "2"}, "scale must be an integer from 1 to 16, got '2'"),
    ],
)
def test_env_arguments_of_the_wrong_type_are_named(env_id, kwargs, message):
    import gymnasium as gym

    import envs  # noqa: F401  (registers the nngym/ envs)

    with pytest.raises(ValueError, match=message):
        gym.make(env_id, **kwargs)


# --- bool hyperparameters: a real bool, never read by truth value -------------------------------------


def _bool_fields() -> list[tuple[type, str]]:
    import dataclasses

    from agents import DQN, REINFORCE, RecurrentPPO
    from agents.ram import RAM

    return [
        (cls, f.name)
        for cls in (PPO, A2C, DQN, REINFORCE, RecurrentPPO, RAM)
        for f in dataclasses.fields(cls.Config)
        if str(f.type) == "bool"
    ]


def test_every_bool_field_of_every_config_refuses_strings_and_ints():
    from agents.common.config import check_config

    fields = _bool_fields()
    names = {(cls.algo, name) for cls, name in fields}
    assert {("PPO", "normalize_obs"), ("PPO", "ortho_init"), ("A2C", "use_rms_prop"), ("DQN", "double_q")} <= names
    assert ("RAM", "detach_heads") in names and ("RecurrentPPO", "normalize_advantage") in names
    assert len(fields) == 23
    for cls, name in fields:
        for bad in ("false", "False", 0, 1, None, 1.0):
            with pytest.raises(ValueError, match=rf"{cls.algo}: {name} must be a bool \(True or False\), got"):
                check_config(cls.algo, cls.Config(**{name: bad}))
        check_config(cls.algo, cls.Config(**{name: np.bool_(True)}))  # numpy's bool is a bool


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"normalize_obs": "false"}, r"PPO: normalize_obs must be a bool \(True or False\), got str 'false'"),
        ({"ortho_init": "False"}, r"PPO: ortho_init must be a bool \(True or False\), got str 'False'"),
        ({"normalize_advantage": 0}, r"PPO: normalize_advantage must be a bool \(True or False\), got int 0"),
    ],
)
def test_string_and_int_bools_are_refused_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PPO("CartPole-v1", **kwargs, **SMALL)


def test_dqn_double_q_string_is_refused_and_numpy_bools_become_bools(tmp_path):
    from agents import DQN

    with pytest.raises(ValueError, match=r"DQN: double_q must be a bool \(True or False\), got str 'no'"):
        DQN("CartPole-v1", double_q="no")
    agent = PPO("CartPole-v1", normalize_obs=np.bool_(True), ortho_init=np.bool_(False), **SMALL)
    assert agent.config.normalize_obs is True and agent.config.ortho_init is False and agent.normalizer is not None
    assert PPO.load(agent.save(tmp_path / "m")).config.normalize_obs is True  # JSON takes it


# --- net_arch: SB3's forms, or a message naming what is accepted ---------------------------------------


def _dense_shapes(net) -> list[tuple[int, ...]]:
    return [layer.params["W"].shape for layer in net.layers if "W" in layer.params]


def test_net_arch_dict_gives_actor_and_critic_their_own_sizes(tmp_path):
    agent = PPO("CartPole-v1", seed=0, net_arch=dict(pi=[32], vf=[16, 8]), **SMALL)
    assert agent.config.net_arch == {"pi": (32,), "vf": (16, 8)}
    assert _dense_shapes(agent.policy.actor) == [(32, 4), (2, 32)]
    assert _dense_shapes(agent.policy.critic) == [(16, 4), (8, 16), (1, 8)]
    agent.learn(64)
    loaded = PPO.load(agent.save(tmp_path / "m"))
    assert loaded.config.net_arch == {"pi": (32,), "vf": (16, 8)}
    obs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    np.testing.assert_array_equal(loaded.policy.values(obs), agent.policy.values(obs))


def test_net_arch_sb3_forms_and_sizes_are_the_same_as_sb3s():
    from agents import A2C, REINFORCE, RecurrentPPO

    assert PPO("CartPole-v1", net_arch=dict(pi=[8, 8], vf=[8, 8]), **SMALL).config.net_arch == (8, 8)  # one tuple
    old_sb3 = A2C("CartPole-v1", net_arch=[dict(pi=[8], vf=[4])])  # SB3 before 1.8: the dict in a list
    assert _dense_shapes(old_sb3.policy.actor) == [(8, 4), (2, 8)] and _dense_shapes(old_sb3.policy.critic)[0] == (4, 4)
    pi_only = REINFORCE("CartPole-v1", net_arch={"pi": [8]})  # SB3: a missing key is no hidden layer
    assert _dense_shapes(pi_only.policy.critic) == [(1, 4)] and pi_only.config.net_arch == {"pi": (8,), "vf": ()}
    rppo = RecurrentPPO("CartPole-v1", lstm_hidden_size=4, net_arch=dict(pi=[8], vf=[3, 3]))
    assert _dense_shapes(rppo.policy.actor.head) == [(8, 4), (2, 8)]
    assert _dense_shapes(rppo.policy.critic.head) == [(3, 4), (3, 3), (1, 3)]
    assert PPO("CartPole-v1", net_arch=np.array([16, 16]).tolist(), **SMALL).config.net_arch == (16, 16)


@pytest.mark.parametrize(
    "net_arch", [64, "64,64", [64, 0], [True, 8], [8.0], dict(pi=[32], q=[3]), {}, [8, dict(pi=[8])]]
)
def test_bad_net_arch_names_the_accepted_forms_and_what_came(net_arch):
    accepted = r"net_arch must be a list of positive layer sizes such as \[64, 64\] or dict\(pi=\[...\], vf=\[...\]\)"
    with pytest.raises(ValueError, match=rf"PPO: {accepted} for different actor and critic sizes, got"):
        PPO("CartPole-v1", net_arch=net_arch, **SMALL)


def test_dqn_net_arch_is_a_list():
    from agents import DQN

    message = r"DQN: net_arch must be a list of positive layer sizes such as \[64, 64\], got dict \{'pi': \[8\]"
    with pytest.raises(ValueError, match=message):
        DQN("CartPole-v1", net_arch=dict(pi=[8], vf=[8]))
    with pytest.raises(ValueError, match=r"RecurrentPPO: encoder_arch must be a list of positive layer sizes"):
        from agents import RecurrentPPO

        RecurrentPPO("CartPole-v1", encoder_arch=16)


# --- SB3's get_env, set_env, get_parameters, set_parameters ---------------------------------------------


def test_get_parameters_into_a_fresh_agent_acts_the_same(tmp_path):
    kw = {"n_steps": 32, "batch_size": 32, "n_epochs": 2}
    agent = PPO("Pendulum-v1", seed=0, **kw).learn(64)
    params = agent.get_parameters()
    assert set(params) == {"net/pi", "net/vf", "extra", "opt"}
    np.testing.assert_array_equal(params["net/pi"]["0.W"], agent.policy.actor.state_dict()["0.W"])
    assert int(params["opt"]["t"]) == agent.optimizer.t > 0 and "pi.0.W/m" in params["opt"]
    params["net/pi"]["0.W"][...] = 0  # a copy: the agent keeps its weights
    assert np.abs(agent.policy.actor.state_dict()["0.W"]).sum() > 0
    params = agent.get_parameters()
    fresh = PPO("Pendulum-v1", seed=9, **kw)
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    assert not np.array_equal(fresh.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    fresh.set_parameters(params)
    np.testing.assert_array_equal(fresh.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    np.testing.assert_array_equal(fresh.policy.log_std, agent.policy.log_std)
    assert fresh.optimizer.t == agent.optimizer.t
    for group, arrays in fresh.get_parameters().items():  # the optimiser's state too
        for key, value in arrays.items():
            np.testing.assert_array_equal(value, params[group][key], err_msg=f"{group}/{key}")
    from_file = PPO("Pendulum-v1", seed=5, **kw)
    from_file.set_parameters(agent.save(tmp_path / "m"))  # a model file, as SB3 takes a zip
    np.testing.assert_array_equal(
        from_file.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0]
    )


def test_set_parameters_checks_names_shapes_and_exact_match():
    from agents import DQN

    agent = DQN("CartPole-v1", seed=0, net_arch=(8,))
    params = agent.get_parameters()
    assert set(params) == {"net/q", "net/q_target", "opt"}
    before = agent.get_parameters()
    with pytest.raises(ValueError, match=r"DQN.set_parameters: net/q/0.W has shape \(3,\), expected \(8, 4\)"):
        agent.set_parameters({**params, "net/q": {**params["net/q"], "0.W": np.zeros(3)}})
    with pytest.raises(ValueError, match=r"expected the groups \['net/q', 'net/q_target', 'opt'\]; unknown \['pi'\]"):
        agent.set_parameters({**params, "pi": {}})
    with pytest.raises(ValueError, match=r"missing \['net/q_target', 'opt'\]"):
        agent.set_parameters({"net/q": params["net/q"]})
    with pytest.raises(ValueError, match=r"'net/q' has unknown arrays \['9.W'\]"):
        agent.set_parameters({"net/q": {"9.W": np.zeros(3)}}, exact_match=False)
    with pytest.raises(ValueError, match="takes a dict of get_parameters"):
        agent.set_parameters([params])
    with pytest.raises(ValueError, match="holds a DQN model, cannot load it as PPO"):
        PPO("CartPole-v1").set_parameters(agent.save(__import__("tempfile").mkdtemp() + "/dqn"))
    for group, arrays in agent.get_parameters().items():  # nothing was loaded by the refused calls
        for key, value in arrays.items():
            np.testing.assert_array_equal(value, before[group][key])
    new_q = {k: v + 1 for k, v in params["net/q"].items()}
    agent.set_parameters({"net/q": new_q}, exact_match=False)  # only what is given
    np.testing.assert_array_equal(agent.q_net.q.state_dict()["0.W"], params["net/q"]["0.W"] + 1)
    np.testing.assert_array_equal(agent.q_target.q.state_dict()["0.W"], params["net/q_target"]["0.W"])


def test_set_env_checks_spaces_and_learn_continues_on_the_new_env(tmp_path):
    import gymnasium as gym

    agent = PPO("CartPole-v1", seed=0, n_envs=2, n_steps=16, batch_size=32, n_epochs=1).learn(64)
    assert agent.get_env() is agent.env and agent.get_env().num_envs == 2
    with pytest.raises(ValueError, match=r"PPO.set_env: the agent's spaces .* do not match the env's .*Discrete\(3\)"):
        agent.set_env("MountainCar-v0")
    with pytest.raises(ValueError, match="PPO.set_env needs a vector env of the agent's 2 envs, got 3"):
        agent.set_env(make_same_step("CartPole-v1", 3))
    with pytest.raises(ValueError, match="agents need a vector env with autoreset_mode=AutoresetMode.SAME_STEP"):
        agent.set_env(gym.make_vec("CartPole-v1", num_envs=2))
    new_env = make_same_step("CartPole-v1", 2)
    agent.set_env(new_env)
    assert agent.get_env().env is new_env and agent._last_obs is None
    agent.learn(64, reset_num_timesteps=False)
    assert agent.num_timesteps == 128
    assert PPO.load(agent.save(tmp_path / "m")).get_env() is None  # loaded without an env
    loaded = PPO.load(tmp_path / "m.npz")
    loaded.set_env("CartPole-v1")  # an env id: as many envs as the agent has
    assert loaded.learn(32, reset_num_timesteps=False).num_timesteps == 160
    with pytest.raises(ValueError, match="do not match"):
        PPO("CartPole-v1", **SMALL).set_env(gym.make("Acrobot-v1"))


def test_set_env_cuts_dqn_n_step_returns_and_resets_the_recurrent_state():
    from agents import DQN, RecurrentPPO

    agent = DQN("CartPole-v1", seed=0, n_envs=2, learning_starts=16, buffer_size=200, n_steps=3).learn(40)
    rb = agent.replay_buffer
    last = (rb.pos - 2 + np.arange(2)) % rb.capacity  # each env's newest transition, its episode still running
    assert rb.dones[last].tolist() == [0.0, 0.0]
    agent.set_env("CartPole-v1")
    agent.learn(20, reset_num_timesteps=False)
    assert agent.num_timesteps == 60
    assert rb.dones[last].tolist() == [1.0, 1.0]  # the env was reset after them: their episodes ended there
    rppo = RecurrentPPO("CartPole-v1", seed=0, n_steps=16, batch_size=16, lstm_hidden_size=4).learn(16)
    assert np.abs(rppo._state[0]).sum() > 0
    rppo.set_env("CartPole-v1")
    rppo._setup_learn(16, None, False, False)
    assert rppo._state is None  # the next rollout starts from zero states, every env at an episode start


def make_same_step(env_id: str, n: int):
    import gymnasium as gym

    return gym.make_vec(
        env_id,
        num_envs=n,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )


def test_numpy_scalars_are_taken_as_the_python_numbers_they_hold(tmp_path):
    # what a random or grid search built with numpy passes: rng.choice([64, 128]) is an np.int64
    from agents import DQN

    agent = PPO(
        "CartPole-v1",
        n_steps=np.int64(64),
        batch_size=np.int32(32),
        n_epochs=np.int64(2),
        gamma=np.float32(0.99),
        learning_rate=np.float32(3e-4),
        clip_range=np.float16(0.25),
    )
    c = agent.config
    assert (c.n_steps, c.batch_size, c.n_epochs) == (64, 32, 2)
    assert [type(v) for v in (c.n_steps, c.batch_size, c.n_epochs)] == [int, int, int]
    assert (c.gamma, c.learning_rate, c.clip_range) == (float(np.float32(0.99)), float(np.float32(3e-4)), 0.25)
    assert [type(v) for v in (c.gamma, c.learning_rate, c.clip_range)] == [float, float, float]
    agent.ent_coef = np.float32(0.5)  # an attribute set the same way
    assert type(agent.config.ent_coef) is float and agent.config.ent_coef == 0.5
    agent.learn(64)
    agent.save(tmp_path / "m.npz")  # an np.float32 learning rate used to end in json's TypeError here
    assert PPO.load(tmp_path / "m.npz").config.learning_rate == float(np.float32(3e-4))
    dqn = DQN("CartPole-v1", buffer_size=np.int64(1000), exploration_fraction=np.float32(0.5))
    assert (dqn.config.buffer_size, type(dqn.config.buffer_size)) == (1000, int)
    with pytest.raises(ValueError, match=r"PPO: n_steps must be an integer, got np.float64\(2.5\)"):
        PPO("CartPole-v1", n_steps=np.float64(2.5))
    with pytest.raises(ValueError, match=r"PPO: gamma must be >= 0 and <= 1, got np.float32\(1.5\)"):
        PPO("CartPole-v1", gamma=np.float32(1.5))
