"""The sub-environment methods of Gymnasium's vector envs (``call``, ``get_attr``, ``set_attr``, ``render``) and of
SB3's ``VecEnv`` (``env_method``, ``indices=``) on the agents' vector envs: ``get_env()`` (nngym's
``SyncVectorEnv``) and the env the agent steps (``agent.env``: under ``NormalizedVecEnv`` with ``normalize_obs``,
under ``EncodedObservations`` for Dict observations).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from toy_envs import SpacesEnv

from agents import DQN, PPO
from agents.common.normalize import NormalizedVecEnv
from agents.common.spaces import EncodedObservations
from agents.common.vec_env import SubEnvMethodsWrapper, SyncVectorEnv, make_vec_env, tile_frames

CARTPOLE_FRAME = (400, 600, 3)


def cartpole_envs(which: str) -> tuple[gym.vector.VectorEnv, list[gym.Env]]:
    """(vector env, its sub-environments) of a PPO on 2 CartPole envs: ``get_env()``, or ``agent.env`` with
    ``normalize_obs=True``."""
    if which == "get_env":
        env = PPO("CartPole-v1", n_envs=2).get_env()
        assert type(env) is SyncVectorEnv
    elif which == "gymnasium":  # a user's own Gymnasium vector env: get_env() has SB3's methods too
        given = gym.make_vec("CartPole-v1", 2, vectorization_mode="sync", vector_kwargs=SAME_STEP)
        env = PPO(given).get_env()
        assert isinstance(env, SubEnvMethodsWrapper) and env.env is given and env.envs is given.envs
    else:
        env = PPO("CartPole-v1", n_envs=2, normalize_obs=True).env
        assert isinstance(env, NormalizedVecEnv)
    return env, env.unwrapped.envs


WHICH = ["get_env", "gymnasium", "normalized"]
SAME_STEP = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}


@pytest.mark.parametrize("which", WHICH)
def test_get_attr_gives_each_envs_attribute(which):
    env, subs = cartpole_envs(which)
    specs = env.get_attr("spec")
    assert isinstance(specs, tuple)
    assert [s.id for s in specs] == ["CartPole-v1", "CartPole-v1"]
    assert specs[0] is subs[0].spec
    assert env.get_attr("spec", indices=1) == (subs[1].spec,)
    assert env.get_attr("spec", indices=[1, 0]) == (subs[1].spec, subs[0].spec)
    assert env.get_attr("spec", indices=-1) == (subs[1].spec,)
    # looked up through the sub-envs' wrappers: the TimeLimit's limit
    assert env.get_attr("_max_episode_steps") == (500, 500)


@pytest.mark.parametrize("which", WHICH)
def test_call_and_env_method_give_per_env_results(which):
    env, _ = cartpole_envs(which)
    expected = gym.make("CartPole-v1").reset(seed=7)[0]
    results = env.call("reset", seed=7)
    assert isinstance(results, tuple)
    assert len(results) == 2
    for obs, info in results:
        np.testing.assert_array_equal(obs, expected)
        assert info == {}
    assert env.call("np_random_seed") == (7, 7)  # an attribute that is no method: its value
    one = env.env_method("reset", seed=7, indices=[1])
    assert isinstance(one, list)
    assert len(one) == 1
    np.testing.assert_array_equal(one[0][0], expected)
    env.env_method("reset", seed=3, indices=0)
    assert env.get_attr("np_random_seed") == (3, 7)
    assert env.env_method("reset", seed=5)[1][0].shape == (4,)
    assert env.get_attr("np_random_seed") == (5, 5)


@pytest.mark.parametrize("which", WHICH)
def test_set_attr_changes_each_envs_attribute(which):
    env, subs = cartpole_envs(which)
    env.set_attr("gravity", [1.5, 2.5])  # one value each
    assert [s.unwrapped.gravity for s in subs] == [1.5, 2.5]
    assert env.get_attr("gravity") == (1.5, 2.5)
    env.set_attr("gravity", 4.0)  # one value for all
    assert [s.unwrapped.gravity for s in subs] == [4.0, 4.0]
    env.set_attr("gravity", 9.0, indices=1)  # SB3's: the envs of indices only
    assert [s.unwrapped.gravity for s in subs] == [4.0, 9.0]
    env.set_attr("gravity", (7.0, 8.0), indices=[1, 0])
    assert [s.unwrapped.gravity for s in subs] == [8.0, 7.0]
    # set where the sub-env's wrappers hold it (CartPoleEnv.force_mag), so its physics uses it
    env.set_attr("gravity", 9.8)
    env.set_attr("force_mag", [0.0, 10.0])
    env.call("reset", seed=0)
    env.env_method("step", 1)
    states = env.get_attr("state")
    single = gym.make("CartPole-v1")
    single.reset(seed=0)
    single.unwrapped.force_mag = 0.0
    single.step(1)
    np.testing.assert_array_equal(states[0], single.unwrapped.state)
    assert states[1][1] > states[0][1]  # the pushed cart moves right faster


@pytest.mark.parametrize("which", WHICH)
def test_bad_indices_and_values_are_named(which):
    env, subs = cartpole_envs(which)
    with pytest.raises(ValueError, match=r"get_attr: indices must be .* ints in \[0, 2\).*got 2"):
        env.get_attr("spec", indices=2)
    with pytest.raises(ValueError, match=r"env_method: indices must be .*got \[0, 'a'\]"):
        env.env_method("reset", indices=[0, "a"])
    with pytest.raises(ValueError, match=r"one value per env \(2\), got 3 values"):
        env.set_attr("gravity", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"one value per env \(1\), got 2 values"):
        env.set_attr("gravity", [1.0, 2.0], indices=0)
    assert [s.unwrapped.gravity for s in subs] == [9.8, 9.8]


@pytest.mark.parametrize("normalize_obs", [False, True])
def test_render_gives_each_envs_frame(normalize_obs):
    vec = make_vec_env("CartPole-v1", 2, render_mode="rgb_array")
    agent = PPO(vec, normalize_obs=normalize_obs)
    for env in (agent.get_env(), agent.env):
        assert env.render_mode == "rgb_array"
        env.reset(seed=[4, 9])
        frames = env.render()
        assert isinstance(frames, tuple)
        assert [(f.shape, f.dtype) for f in frames] == [(CARTPOLE_FRAME, np.uint8)] * 2
        for seed, frame in zip([4, 9], frames, strict=True):
            single = gym.make("CartPole-v1", render_mode="rgb_array")
            single.reset(seed=seed)
            np.testing.assert_array_equal(frame, single.render())
        assert not np.array_equal(frames[0], frames[1])
    vec.close()


@pytest.mark.parametrize("given", ["id", "gymnasium"])
def test_render_rgb_array_tiles_the_frames_as_sb3(given):
    """SB3's ``render(mode="rgb_array")``: the frames in one image, as SB3's ``tile_images`` lays them out."""
    tile_images = pytest.importorskip("stable_baselines3.common.vec_env.base_vec_env").tile_images
    if given == "id":
        env = PPO("CartPole-v1", n_envs=3).get_env()  # frames by default, as SB3's
    else:
        made = gym.make_vec("CartPole-v1", 3, "sync", vector_kwargs=SAME_STEP, render_mode="rgb_array")
        env = PPO(made).get_env()
    env.reset(seed=[1, 2, 3])
    frames = env.render()
    image = env.render(mode="rgb_array")
    assert image.shape == (2 * 400, 2 * 600, 3) and image.dtype == np.uint8  # 2 x 2 cells, the last one black
    np.testing.assert_array_equal(image, tile_images(list(frames)))
    np.testing.assert_array_equal(image[400:, 600:], 0)
    np.testing.assert_array_equal(image[:400, 600:], frames[1])
    with pytest.raises(ValueError, match=r"mode must be None .* or 'rgb_array' .* got 'human'"):
        env.render(mode="human")
    env.close()
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 7):  # the layout of any count
        many = [rng.integers(0, 255, (3, 4, 3), dtype=np.uint8) for _ in range(n)]
        np.testing.assert_array_equal(tile_frames(many), tile_images(many))
    with pytest.raises(ValueError, match=r"render\(mode='rgb_array'\): the envs give no frames .* render_mode='rgb_"):
        unrendered = PPO(make_vec_env("CartPole-v1", 2, render_mode=None)).get_env()
        unrendered.reset(seed=0)
        with pytest.warns(UserWarning, match="without specifying any render mode"):
            unrendered.render(mode="rgb_array")
    with pytest.raises(ValueError, match=r"expected frames \(H, W, C\) of one shape, got \[\(3, 4, 3\), \(2, 4, 3\)\]"):
        tile_frames([np.zeros((3, 4, 3)), np.zeros((2, 4, 3))])


def test_render_modes_of_envs_made_from_an_id():
    """As SB3's: envs made from an id draw rgb_array frames when their class can (only when asked); a render mode
    given is kept, None too; an env class without rgb_array gets none (no warning of gymnasium's)."""
    agent = PPO("CartPole-v1", n_envs=2, normalize_obs=True)
    assert agent.get_env().render_mode == agent.env.render_mode == "rgb_array"
    agent.env.reset(seed=0)
    assert [frame.shape for frame in agent.env.render()] == [CARTPOLE_FRAME] * 2
    unrendered = PPO(make_vec_env("CartPole-v1", 2, render_mode=None)).env
    assert unrendered.render_mode is None
    unrendered.reset(seed=0)
    with pytest.warns(UserWarning, match="without specifying any render mode"):
        assert unrendered.render() == (None, None)
    if "nngym-test/NoFrames-v0" not in gym.registry:
        gym.register(
            "nngym-test/NoFrames-v0", entry_point=lambda: SpacesEnv(spaces.Box(-1, 1, (2,)), spaces.Discrete(2))
        )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert make_vec_env("nngym-test/NoFrames-v0", 2).render_mode is None


DICT_SPACE = spaces.Dict({"a": spaces.Discrete(3), "b": spaces.Box(-1.0, 1.0, (2,), np.float32)})


def test_dict_observations_reach_the_raw_sub_envs():
    vec = SyncVectorEnv([lambda: SpacesEnv(DICT_SPACE, spaces.Discrete(2)) for _ in range(2)])
    agent = DQN(vec, normalize_obs=True)
    env = agent.env
    assert isinstance(env, EncodedObservations)
    subs = vec.envs
    assert env.get_attr("observation_space") == (DICT_SPACE, DICT_SPACE)  # the raw space, not the encoded Box
    assert env.single_observation_space.shape == (5,)  # the encoded observations: one-hot a, then b
    obs = env.call("reset", seed=3)
    assert [set(o) for o, _ in obs] == [{"a", "b"}, {"a", "b"}]
    assert obs[0][0]["a"] == obs[1][0]["a"]
    np.testing.assert_array_equal(obs[0][0]["b"], obs[1][0]["b"])
    env.set_attr("_t", [3, 6])
    assert [s._t for s in subs] == [3, 6]
    stepped = env.env_method("step", 1, indices=1)
    assert len(stepped) == 1
    assert set(stepped[0][0]) == {"a", "b"}
    assert [s._t for s in subs] == [3, 7]
    env.set_attr("_t", 0, indices=[0])
    assert env.get_attr("_t") == (0, 7)
    assert env.get_attr("render_mode", indices=0) == (None,)


def test_async_envs_through_the_wrapper():
    agent = PPO("CartPole-v1", n_envs=2, vectorization="async", normalize_obs=True)
    env = agent.env
    assert isinstance(env, NormalizedVecEnv)
    assert isinstance(env.unwrapped, gym.vector.AsyncVectorEnv)
    try:
        assert [s.id for s in env.get_attr("spec")] == ["CartPole-v1"] * 2
        assert [s.id for s in env.get_attr("spec", indices=[1])] == ["CartPole-v1"]
        env.set_attr("gravity", [1.5, 2.5])
        assert env.get_attr("gravity") == (1.5, 2.5)
        assert env.get_attr("gravity", indices=1) == (2.5,)
        env.set_attr("gravity", (4.0, 3.0), indices=[1, 0])  # every env, in another order
        assert env.get_attr("gravity") == (3.0, 4.0)
        env.reset(seed=7)
        assert env.call("np_random_seed") == (7, 8)
        assert env.env_method("np_random_seed") == [7, 8]
        assert env.env_method("get_wrapper_attr", "_max_episode_steps") == [500, 500]
        with pytest.raises(ValueError, match=r"env_method with indices=\[1\] needs the sub-environments in this"):
            env.env_method("reset", indices=[1])
        with pytest.raises(ValueError, match=r"set_attr with indices=\[0\] needs .* got AsyncVectorEnv"):
            env.set_attr("gravity", 1.0, indices=0)
        assert env.get_attr("gravity") == (3.0, 4.0)
    finally:
        env.close()


class _Shaped(gym.Env):
    """A Box((4,)) env whose observations are ``obs`` from step ``bad_from`` on (0: from reset)."""

    observation_space = gym.spaces.Box(-1, 1, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, obs: np.ndarray, bad_from: int = 0) -> None:
        self.obs, self.bad_from, self.t = obs, bad_from, 0

    def _obs(self) -> np.ndarray:
        return self.obs if self.t >= self.bad_from else np.zeros(4, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {"started": True}

    def step(self, action):
        self.t += 1
        done = self.t >= 3
        info = {"x": float(self.t)}
        if done:
            info["is_success"] = True
        return self._obs(), 1.0, done, False, info


@pytest.mark.parametrize("bad_from", [0, 1])
def test_observations_of_another_shape_or_kind_are_refused_not_broadcast(bad_from):
    one = SyncVectorEnv([lambda: _Shaped(np.array([0.5], np.float32), bad_from)])
    with pytest.raises(ValueError, match=r"env 0 \(_Shaped\) returned an observation of shape \(1,\), but its obs"):
        one.reset(seed=0)
        one.step(np.array([0]))
    ints = gym.spaces.Box(0, 10, (4,), np.int64)
    env = _Shaped(np.array([2.7, 0.5, 9.9, 1.0]), bad_from)
    env.observation_space = ints
    floats = SyncVectorEnv([lambda: env])
    with pytest.raises(ValueError, match=r"returned an observation of dtype float(32|64), which does not fit .* int64"):
        floats.reset(seed=0)
        floats.step(np.array([0]))


def test_the_envs_infos_reach_callbacks_as_gymnasiums_vector_envs_merge_them():
    vec = SyncVectorEnv([lambda: _Shaped(np.zeros(4, np.float32), 99) for _ in range(2)])
    _, infos = vec.reset(seed=0)
    np.testing.assert_array_equal(infos["started"], [True, True])
    _, _, _, _, infos = vec.step(np.array([0, 1]))
    np.testing.assert_array_equal(infos["x"], [1.0, 1.0])
    np.testing.assert_array_equal(infos["_x"], [True, True])
    vec.step(np.array([0, 1]))
    _, _, terminated, _, infos = vec.step(np.array([0, 1]))  # the third step ends both episodes
    assert terminated.all() and infos["final_info"]["is_success"].tolist() == [True, True]
    np.testing.assert_array_equal(infos["final_info"]["x"], [3.0, 3.0])
    np.testing.assert_array_equal(infos["started"], [True, True])  # the reset's info, as Gymnasium's SAME_STEP
    agent = PPO(vec, n_steps=6, batch_size=6)
    agent.learn(12)
    assert list(agent.ep_success_buffer) == [True] * 4  # 12 env steps, 6 for each of 2 envs: 4 three-step episodes


def test_merge_infos_gives_gymnasiums_layout():
    from agents.common.vec_env import merge_infos

    reference = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(4)])
    env_infos = [
        (0, {"n": 1, "x": 0.5, "ok": True, "arr": np.arange(3.0), "tag": "a", "sub": {"k": 2}}),
        (2, {"n": 7, "x": 1.5, "ok": False, "arr": np.ones(3), "tag": "b", "sub": {"k": 5, "j": 1.0}}),
        (3, {"x": 2.5, "only": np.int32(4)}),
    ]
    expected: dict = {}
    for i, info in env_infos:
        expected = reference._add_info(expected, info, i)

    def same(a, b):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], dict):
                same(a[key], b[key])
            else:
                assert a[key].dtype == b[key].dtype, key
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)

    same(merge_infos(env_infos, 4), expected)
    uniform = [(i, {"label": i, "correct": i % 2 == 0}) for i in (0, 1, 3)]  # every env gives the same keys
    expected = {}
    for i, info in uniform:
        expected = reference._add_info(expected, info, i)
    same(merge_infos(uniform, 4), expected)
    assert merge_infos(uniform, 4)["label"].tolist() == [0, 1, 0, 3] and merge_infos([], 4) == {}


def test_make_vec_env_takes_sb3s_arguments():
    """SB3's ``make_vec_env(env_id, n_envs, seed, wrapper_class, env_kwargs, wrapper_kwargs)`` mean what they mean
    there: the first reset gives SB3's first observations; SB3's arguments without a counterpart are refused."""
    sb3_make_vec_env = pytest.importorskip("stable_baselines3.common.env_util").make_vec_env
    ours = make_vec_env("CartPole-v1", n_envs=3, seed=7)
    theirs = sb3_make_vec_env("CartPole-v1", n_envs=3, seed=7)
    first = theirs.reset()
    np.testing.assert_array_equal(ours.reset()[0], first)
    second = ours.reset()[0]  # the seed is used once: both go on from the seeded generators
    np.testing.assert_array_equal(second, theirs.reset())
    assert not np.array_equal(second, first)
    np.testing.assert_array_equal(PPO(make_vec_env("CartPole-v1", 3, seed=7)).get_env().reset()[0], first)
    seeded = PPO(make_vec_env("CartPole-v1", 3, seed=7), seed=0, n_steps=16, batch_size=48).learn(48)
    assert not np.array_equal(seeded.get_env().reset()[0], first)  # the agent's own seed replaced it, as in SB3
    double = {"wrapper_class": gym.wrappers.TransformReward, "wrapper_kwargs": {"func": lambda r: 2.0 * r}}
    short = make_vec_env("CartPole-v1", 2, "gym-sync", env_kwargs={"max_episode_steps": 3}, **double)
    short.reset(seed=0)
    for _ in range(3):
        _, rewards, _, truncated, _ = short.step(np.array([0, 1]))
        np.testing.assert_array_equal(rewards, [2.0, 2.0])
    np.testing.assert_array_equal(truncated, [True, True])  # the third step hit the time limit
    bad = [
        ({"monitor_dir": "logs"}, "SB3's monitor_dir has no counterpart here: the agent's log_dir writes monitor.csv"),
        ({"vec_env_cls": object}, r"SB3's vec_env_cls .* vectorization='sync' \(DummyVecEnv\) or 'async'"),
        ({"seed": 1.5}, "seed must be an int or None, got 1.5"),
        ({"wrapper_kwargs": {"a": 1}}, "wrapper_kwargs were given without a wrapper_class"),
        ({"env_kwargs": 3}, "env_kwargs must be a dict of gym.make arguments, got 3"),
        ({"env_kwargs": {"max_episode_steps": 3}, "max_episode_steps": 4}, r"\['max_episode_steps'\] given both"),
    ]
    for kwargs, match in bad:
        with pytest.raises(ValueError, match=match):
            make_vec_env("CartPole-v1", 2, **kwargs)
    with pytest.raises(ValueError, match=r"\['max_episode_steps'\] apply to the envs made from an env id, got a Ti"):
        make_vec_env(gym.make("CartPole-v1"), env_kwargs={"max_episode_steps": 3})


def test_sb3s_make_vec_env_forms_has_attr_and_gymnasiums_final_info():
    """SB3's ``make_vec_env`` takes an env class or a function returning an env (with ``env_kwargs``); ``has_attr``
    is SB3's; an ended episode's info is under ``final_info`` (masked by ``_final_info``) even when it is empty, as
    Gymnasium's SAME_STEP vector envs give it."""
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    from agents.common.vec_env import make_vec_env as nngym_make_vec_env

    classes = nngym_make_vec_env(CartPoleEnv, n_envs=2, seed=0)
    assert classes.num_envs == 2 and classes.has_attr("gravity") and not classes.has_attr("no_such_attribute")
    made = nngym_make_vec_env(
        lambda length=20: gym.make("CartPole-v1", max_episode_steps=length), 2, env_kwargs={"length": 3}
    )
    made.reset(seed=0)
    for _ in range(3):
        _, _, _, truncated, infos = made.step(np.array([0, 1]))
    assert truncated.all() and infos["_final_info"].all() and "final_info" in infos
    ours, theirs = PPO("CartPole-v1").get_env(), gym.make_vec("CartPole-v1", 1, "sync", vector_kwargs=SAME_STEP)
    for env in (ours, theirs):
        env.reset(seed=0)
        keys = set()
        for _ in range(60):
            _, _, terminated, truncated, infos = env.step(np.zeros(env.num_envs, dtype=np.int64))
            if (terminated | truncated)[0]:
                keys = set(infos)
                break
        assert keys == {"final_obs", "_final_obs", "final_info", "_final_info"}
    with pytest.raises(ValueError, match=r"make_vec_env: .*<lambda>\(...\) must return a gymnasium.Env, got int"):
        nngym_make_vec_env(lambda: 3, 2)


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_has_attr_looks_the_attribute_up_without_calling_it(vectorization):
    env = make_vec_env("CartPole-v1", 2, vectorization)
    env.reset(seed=0)
    before = env.get_attr("state")
    assert env.has_attr("reset") and env.has_attr("gravity") and not env.has_attr("no_such_attribute")
    np.testing.assert_array_equal(env.get_attr("state"), before)  # reset was not called
    env.step(np.array([0, 1]))  # the workers are alive
    env.close()
