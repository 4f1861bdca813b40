"""What the agents' vector env says when an env returns something that is not Gymnasium's API: a ValueError naming
the env (index and class), the part of a Dict / Tuple observation, the space and what came, at ``reset()`` and on
the first step after it (where everything is checked) and in the except paths of later steps (where nothing is
checked, and a working step pays nothing); and what ``make_vec_env`` refuses or warns about in what it is given.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import DictInfoToList, RecordEpisodeStatistics

from agents import DQN, PPO
from agents.common.vec_env import SyncVectorEnv, check_vector_infos, final_observations, make_vec_env

BOX = spaces.Box(-1.0, 1.0, (3,), np.float32)
DICT = spaces.Dict({"pos": BOX, "k": spaces.Discrete(4)})
TUPLE = spaces.Tuple((BOX, spaces.Dict({"x": spaces.Discrete(2)})))


def good_obs(space: gym.Space):
    if space is DICT:
        return {"pos": np.zeros(3, np.float32), "k": 1}
    if space is TUPLE:
        return (np.zeros(3, np.float32), {"x": 0})
    return np.zeros(3, np.float32)


class Faulty(gym.Env):
    """Gymnasium's API, until step ``bad_from`` (0: reset() too) from which ``fault`` replaces what it returns."""

    def __init__(self, space: gym.Space = BOX, fault: dict | None = None, bad_from: int = 0) -> None:
        self.observation_space, self.action_space = space, spaces.Discrete(2)
        self.fault, self.bad_from, self.t = fault or {}, bad_from, 0

    def _bad(self) -> bool:
        return self.t >= self.bad_from

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        if self._bad() and "reset" in self.fault:
            return self.fault["reset"]
        return self.fault["obs"] if self._bad() and "obs" in self.fault else good_obs(self.observation_space), {}

    def step(self, action):
        self.t += 1
        if not self._bad():
            return good_obs(self.observation_space), 1.0, False, False, {}
        if "raise" in self.fault:
            raise ValueError(self.fault["raise"])
        if "step" in self.fault:
            return self.fault["step"]
        out = {"obs": good_obs(self.observation_space), "reward": 1.0, "info": {}, **self.fault}
        return out["obs"], out["reward"], False, False, out["info"]


def vec(*envs: gym.Env) -> SyncVectorEnv:
    return SyncVectorEnv([lambda e=e: e for e in envs])


def run(v: SyncVectorEnv, steps: int = 4) -> None:
    v.reset(seed=0)
    for _ in range(steps):
        v.step(np.zeros(v.num_envs, dtype=np.int64))


# --- Dict and Tuple observations, part by part --------------------------------------------------------------------


PART_MISFITS = [  # (space, observation, message, whether batching fails on a later step, where nothing is checked)
    (
        DICT,
        {"pos": np.zeros((1, 3), np.float32), "k": 1},
        r"env 1 \(Faulty\) returned an observation whose part \['pos'\] has shape \(1, 3\), but its observation "
        r"space's part \['pos'\], Box\(-1.0, 1.0, \(3,\), float32\), has shape \(3,\)",
        True,
    ),
    (DICT, {"pos": np.zeros(1, np.float32), "k": 1}, r"part \['pos'\] has shape \(1,\), .* has shape \(3,\)", True),
    (
        DICT,
        {"pos": np.zeros(3, np.float32), "k": 1.7},
        r"env 1 \(Faulty\) returned an observation whose part \['k'\] has dtype float64, which does not fit its "
        r"observation space's part \['k'\], Discrete\(4\), of dtype int64",
        True,
    ),
    (
        DICT,
        {"pos": np.zeros(3, np.float32)},
        r"with keys \['pos'\], but its observation space Dict\(.*\) has keys \['k', 'pos'\] \(missing \['k'\]\)",
        True,
    ),
    (DICT, {**good_obs(DICT), "z": 0}, r"has keys \['k', 'pos'\] \(extra \['z'\]\)", False),
    (DICT, {"pos": np.zeros(3, np.float32), "z": 0}, r"\(missing \['k'\], extra \['z'\]\)", True),
    (DICT, np.zeros(3, np.float32), r"an observation that is an array of shape \(3,\) .* wants a dict with keys", True),
    (DICT, {"pos": "abc", "k": 1}, r"whose part \['pos'\] is 'abc' \(str\), which does not fit", True),
    (TUPLE, (np.zeros(3, np.float32),), r"with 1 parts, but its observation space Tuple\(.*\) has 2", True),
    (TUPLE, {"a": 1}, r"that is .* \(dict\), but its observation space Tuple\(.*\) wants a tuple of 2 parts", True),
    (TUPLE, (np.zeros(3, np.float32), {"x": 0.5}), r"whose part \[1\]\['x'\] has dtype float64, which does not", True),
    (TUPLE, (np.zeros(2, np.float32), {"x": 0}), r"whose part \[0\] has shape \(2,\), but .* part \[0\], Box", True),
    (TUPLE, np.array(0.5), r"that is an array of shape \(\) .* wants a tuple of 2 parts", True),
]


@pytest.mark.parametrize(("space", "obs", "expected", "later"), PART_MISFITS)
@pytest.mark.parametrize("bad_from", [0, 1, 3])
def test_a_composite_observation_that_does_not_fit_names_the_env_the_part_and_the_space(
    space, obs, expected, later, bad_from
):
    """At reset (0), on the first step (1) and on a later one (3), where Gymnasium's batching fails: the except path
    names the env and the part too (an extra Dict key, which batching drops, is refused where checked only)."""
    v = vec(Faulty(space), Faulty(space, {"obs": obs}, bad_from))
    if bad_from == 3 and not later:
        run(v)
        return
    with pytest.raises(ValueError, match=expected):
        run(v)


@pytest.mark.parametrize("obs", [[1, 0], np.array([1, 0]), (np.int64(2), 1)])
def test_what_gymnasium_takes_as_a_tuple_observation_passes_the_check(obs):
    pair = spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2)))
    run(vec(Faulty(pair, {"obs": obs, "reset": (obs, {})})))


def test_agents_refuse_a_dict_observation_of_another_shape_naming_the_part():
    with pytest.raises(ValueError, match=r"env 0 \(Faulty\) returned an observation whose part \['pos'\] has shape"):
        PPO(Faulty(DICT, {"obs": {"pos": np.zeros((1, 3), np.float32), "k": 1}}), n_steps=8, batch_size=8).learn(8)


def test_box_observations_keep_their_messages_and_a_later_step_that_cannot_be_stored_names_the_env():
    with pytest.raises(ValueError, match=r"env 0 \(Faulty\) returned an observation of shape \(1, 3\), but its obs"):
        run(vec(Faulty(BOX, {"obs": np.zeros((1, 3), np.float32)})))
    with pytest.raises(ValueError, match=r"env 1 \(Faulty\) returned an observation of shape \(2,\), but its obs"):
        run(vec(Faulty(), Faulty(BOX, {"obs": np.zeros(2, np.float32)}, bad_from=3)))


def test_an_env_made_from_an_id_is_named_by_its_id_and_class():
    v = make_vec_env("CartPole-v1")
    v.single_observation_space = spaces.Box(-1.0, 1.0, (5,), np.float32)  # what its observations are checked against
    with pytest.raises(ValueError, match=r"env 0 \(CartPole-v1, CartPoleEnv\) returned an observation of shape"):
        v.reset(seed=0)


# --- reset() and step() of another API, rewards that are no scalars, infos that are no dicts -----------------------


@pytest.mark.parametrize(
    ("reset", "came"),
    [(np.zeros(3, np.float32), r"an array of shape \(3,\)"), ((np.zeros(3, np.float32), None), r"a tuple of 2")],
)
def test_a_reset_that_does_not_return_obs_and_info_is_refused_saying_so(reset, came):
    with pytest.raises(
        ValueError,
        match=r"env 0 \(Faulty\): reset\(\) must return \(observation, info\) \(Gymnasium's "
        rf"API\), info a dict; it returned {came}",
    ):
        vec(Faulty(BOX, {"reset": reset})).reset(seed=0)


def test_a_step_of_gyms_older_api_is_refused_on_the_first_step_and_later():
    old = (np.zeros(3, np.float32), 1.0, False, {})
    api = r"step\(\) must return \(observation, reward, terminated, truncated, info\) \(Gymnasium's API\)"
    with pytest.raises(ValueError, match=rf"env 1 \(Faulty\): {api}; it returned a tuple of 4 values .*done, info"):
        run(vec(Faulty(), Faulty(BOX, {"step": old}, bad_from=1)))
    with pytest.raises(ValueError, match=rf"env 1 \(Faulty\): {api}; .*expected 5, got 4"):
        run(vec(Faulty(), Faulty(BOX, {"step": old}, bad_from=3)))


def test_a_reward_that_is_no_scalar_is_refused_naming_what_came():
    scalar = r"env 1 \(Faulty\): the reward must be a scalar \(a Python or numpy number\), got"
    with pytest.raises(ValueError, match=rf"{scalar} an array of shape \(1,\) and dtype float64"):
        run(vec(Faulty(), Faulty(BOX, {"reward": np.array([1.0])}, bad_from=1)))
    with pytest.raises(ValueError, match=rf"{scalar} a value numpy cannot store as one number"):
        run(vec(Faulty(), Faulty(BOX, {"reward": np.array([1.0])}, bad_from=3)))
    for fine in (np.float32(1.0), 2, np.array(0.5), True):  # numbers of any kind are taken
        run(vec(Faulty(BOX, {"reward": fine})))


def test_an_error_of_the_env_itself_comes_as_it_was_raised():
    with pytest.raises(ValueError, match=r"^the env's own bug$"):
        run(vec(Faulty(), Faulty(BOX, {"raise": "the env's own bug"}, bad_from=3)))


@pytest.mark.parametrize("bad_from", [1, 3])
def test_an_info_that_is_no_dict_is_refused(bad_from):
    with pytest.raises(
        ValueError,
        match=r"env 1 \(Faulty\): step\(\)'s info must be a dict \(Gymnasium's API\), "
        r"got a list of 1 value",
    ):
        run(vec(Faulty(), Faulty(BOX, {"info": [{"x": 1}]}, bad_from)))


def test_flags_that_are_no_scalars_are_refused_on_the_first_step():
    step = (np.zeros(3, np.float32), 1.0, np.array([True]), False, {})
    with pytest.raises(ValueError, match=r"env 0 \(Faulty\): terminated must be a bool, got an array of shape \(1,\)"):
        run(vec(Faulty(BOX, {"step": step}, bad_from=1)))


# --- vector envs given to the agents --------------------------------------------------------------------------------


def same_step_cartpoles(n: int = 2) -> gym.vector.VectorEnv:
    return gym.make_vec(
        "CartPole-v1", n, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}
    )


@pytest.mark.parametrize("algo", [PPO, DQN])
@pytest.mark.parametrize("outer", [False, True])
def test_a_vector_env_with_list_infos_is_refused_naming_dict_info_to_list(algo, outer):
    env = DictInfoToList(same_step_cartpoles())
    if outer:
        env = RecordEpisodeStatistics(env)
    with pytest.raises(
        ValueError,
        match=r"DictInfoToList, whose infos are a list .* pass the vector env without "
        r"DictInfoToList: callbacks see Gymnasium's dict infos",
    ):
        algo(env)


def test_list_infos_are_named_where_they_are_read():
    env = DictInfoToList(same_step_cartpoles())
    _, infos = env.reset(seed=0)
    with pytest.raises(ValueError, match=r"DictInfoToList\.reset\(\) returned infos of type list; agents need Gym"):
        check_vector_infos(env, infos)
    check_vector_infos(env, {})
    with pytest.raises(ValueError, match=r"the vector env's infos are of type list; agents need Gymnasium's"):
        final_observations([{}, {}], np.array([1]))
    with pytest.raises(ValueError, match=r"hold no final_obs for the envs \[1\] .* autoreset_mode=AutoresetMode"):
        final_observations({"x": np.zeros(2)}, np.array([1]))


def fake_sb3_vec_env(n: int = 4):
    """An object of a class of SB3's VecEnv module (what the hint recognises), without importing SB3."""
    cls = type("DummyVecEnv", (), {"__module__": "stable_baselines3.common.vec_env.dummy_vec_env", "num_envs": n})
    cls.step_async = lambda self, actions: None
    return cls()


def test_an_sb3_vec_env_is_refused_naming_how_to_keep_the_envs_arguments():
    with pytest.raises(ValueError) as err:
        make_vec_env(fake_sb3_vec_env(4))
    message = str(err.value)
    assert "pass the env id with n_envs=N (the agent makes N envs; this VecEnv has 4)" in message
    assert "make_vec_env(env_id, n_envs=N, **env_kwargs) from agents.common.vec_env" in message
    assert (
        'gym.make_vec(env_id, num_envs=N, vectorization_mode="sync", vector_kwargs={"autoreset_mode": '
        "gym.vector.AutoresetMode.SAME_STEP}, **env_kwargs)" in message
    )


def test_the_env_kwargs_route_the_hint_names_keeps_the_envs_arguments():
    env = make_vec_env("CartPole-v1", n_envs=2, max_episode_steps=7)
    assert env.envs[0].spec.max_episode_steps == 7
    agent = PPO(env, n_steps=16, batch_size=16)
    agent.learn(16)
    assert {e["l"] for e in agent.ep_info_buffer} <= set(range(1, 8))


def test_an_env_instance_stepped_in_a_worker_process_warns_that_it_is_copied(monkeypatch):
    made = []
    sync = gym.vector.SyncVectorEnv  # stands in for the worker processes
    monkeypatch.setattr(gym.vector, "AsyncVectorEnv", lambda fns, **kw: made.append(len(fns)) or sync(fns, **kw))
    with pytest.warns(
        UserWarning,
        match=r"vectorization='async' steps a copy of the env instance \(CartPoleEnv\) in "
        r"a worker process: .* its own state does not change .* Pass the env id instead",
    ) as caught:
        assert isinstance(make_vec_env(gym.make("CartPole-v1"), vectorization="async").env, sync)
    assert caught[0].filename == __file__  # the user's line, not the package's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_vec_env("CartPole-v1", 2, vectorization="async")  # an env id: the workers make their envs
        make_vec_env(gym.make("CartPole-v1"), vectorization="gym-sync")
        make_vec_env(gym.make("CartPole-v1"))
    assert made == [1, 2]


def test_a_vector_env_of_its_own_that_gives_list_infos_is_named_at_the_first_reset():
    class ListInfos(gym.vector.VectorWrapper):  # not DictInfoToList, so only the infos themselves tell
        def reset(self, **kwargs):
            obs, infos = self.env.reset(**kwargs)
            return obs, [{} for _ in range(self.num_envs)]

    agent = PPO(ListInfos(same_step_cartpoles()), n_steps=8, batch_size=8)
    with pytest.raises(ValueError, match=r"ListInfos\.reset\(\) returned infos of type list; agents need Gym"):
        agent.learn(16)
