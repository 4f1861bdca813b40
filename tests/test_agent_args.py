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
    np.testing.assert_array_equal(loaded.predict(obs)[0], agent.predict(obs)[0])
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
        ("nngym/Catch-v0", {"rows": float("inf")}, "rows must be an integer >= 2, got inf"),
        ("nngym/DigitClassify-v0", {"wrong_reward": "a"}, "wrong_reward must be a finite number below"),
        ("nngym/Catch-v0", {"scale": "2"}, "scale must be an integer from 1 to 16, got '2'"),
    ],
)
def test_env_arguments_of_the_wrong_type_are_named(env_id, kwargs, message):
    import gymnasium as gym

    import envs  # noqa: F401  (registers the nngym/ envs)

    with pytest.raises(ValueError, match=message):
        gym.make(env_id, **kwargs)
