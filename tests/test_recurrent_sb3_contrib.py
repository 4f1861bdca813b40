"""RecurrentPPO as sb3-contrib's: minibatch sizes, the LSTM state layout of ``predict``, a settable ``seq_len``.

sb3-contrib's minibatches are ``batch_size`` consecutive transitions of the rollout; nngym's are whole sequences of
``seq_len`` steps, whose default gives the same numbers of transitions per minibatch and of minibatches per epoch
(counted here against sb3-contrib's own ``RecurrentRolloutBuffer.get``). ``predict`` takes and returns sb3-contrib's
state, (h, c) each (n_lstm_layers, n_envs, H) = (1, N, H): the loop written for sb3-contrib runs unchanged, env i's
memory is ``state[k][:, i]``, and states pass between the two libraries by shape.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import RecurrentPPO, load_hyperparams
from agents.common.recurrent_buffer import default_seq_len, minibatch_sizes, sb3_contrib_minibatch_sizes

#: A small agent for the state tests: 3 envs of CartPoleNoVel (episodes end within the loops below), H = 6.
SMALL = {"n_envs": 3, "n_steps": 16, "batch_size": 48, "n_epochs": 1, "lstm_hidden_size": 6, "net_arch": (8,)}
#: (n_steps, n_envs, batch_size): the zoo's ppo_lstm.yml shapes (Acrobot-v1 256/128, LunarLanderNoVel 512/128,
#: Minitaur 2048/64, with fewer envs), batch_size >= n_steps (recurrent_ppo.yml's CartPoleNoVel-v1, a rollout that
#: is no multiple of batch_size, a batch_size above the rollout) and a batch_size that is no power of two.
SHAPES = [(256, 2, 128), (512, 3, 128), (2048, 1, 64), (32, 8, 256), (16, 3, 32), (64, 2, 200), (96, 2, 48)]


def nngym_minibatch_sizes(n_steps: int, n_envs: int, batch_size: int, **kw) -> tuple[int, list[int]]:
    """(seq_len, transitions of each minibatch of one epoch) of a fresh nngym agent, counted from ``_minibatches``."""
    agent = RecurrentPPO(
        "CartPole-v1", n_steps=n_steps, n_envs=n_envs, batch_size=batch_size, lstm_hidden_size=4, net_arch=(4,), **kw
    )
    return agent.seq_len, [len(mb.actions) for mb in agent._minibatches()]


def sb3_contrib_sizes(n_steps: int, n_envs: int, batch_size: int) -> list[int]:
    """The transitions of each minibatch sb3-contrib's own buffer gives for one epoch (its ``mask``'s sum)."""
    buffers = pytest.importorskip("sb3_contrib.common.recurrent.buffers")
    space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    buffer = buffers.RecurrentRolloutBuffer(
        n_steps, space, gym.spaces.Discrete(2), (n_steps, 1, n_envs, 4), device="cpu", n_envs=n_envs
    )
    buffer.episode_starts[::7] = 1.0  # episodes start inside the slices: the sequences are cut, not the minibatches
    buffer.full = True
    return [int(batch.mask.sum()) for batch in buffer.get(batch_size)]


# --- minibatches -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_steps,n_envs,batch_size", SHAPES)
def test_default_minibatches_are_sb3_contribs(n_steps, n_envs, batch_size):
    theirs = sb3_contrib_sizes(n_steps, n_envs, batch_size)
    assert theirs == sb3_contrib_minibatch_sizes(n_steps, n_envs, batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the counts are sb3-contrib's
        seq_len, ours = nngym_minibatch_sizes(n_steps, n_envs, batch_size)
    assert ours == theirs == minibatch_sizes(n_steps, n_envs, seq_len, batch_size)
    assert seq_len == default_seq_len(n_steps, batch_size) == min(n_steps, batch_size)


def test_learn_takes_sb3_contribs_gradient_steps():
    """n_steps 256, 2 envs, batch_size 128 (the zoo's Acrobot-v1 shape): an epoch is four gradient steps of 128
    transitions, as sb3-contrib's, each on one 128-step sequence (before: two steps of two 256-step sequences)."""
    agent = RecurrentPPO("CartPole-v1", n_steps=256, n_envs=2, batch_size=128, n_epochs=1, lstm_hidden_size=4, seed=0)
    sizes, evaluate = [], agent._evaluate_actions

    def counted(mb):
        sizes.append(mb.obs.shape[:2])
        return evaluate(mb)

    agent._evaluate_actions = counted
    agent.learn(512)  # one rollout
    assert sizes == [(128, 1)] * 4
    assert [L * B for L, B in sizes] == sb3_contrib_sizes(256, 2, 128)


def test_batch_size_at_least_n_steps_trains_as_before():
    """The default seq_len is n_steps when batch_size >= n_steps: the parameters of recurrent_ppo.yml's
    CartPoleNoVel-v1 after 4096 steps are bit for bit those of an explicit seq_len = n_steps (what the default was
    before it followed sb3-contrib's minibatches)."""
    hp = load_hyperparams("recurrent_ppo", "nngym/CartPoleNoVel-v1")
    hp.pop("n_timesteps")
    default = RecurrentPPO("nngym/CartPoleNoVel-v1", seed=0, **hp).learn(4096)
    explicit = RecurrentPPO("nngym/CartPoleNoVel-v1", seed=0, seq_len=hp["n_steps"], **hp).learn(4096)
    assert default.seq_len == hp["n_steps"] == 32 and default.config.seq_len is None
    for group, arrays in sorted(default.get_parameters().items()):
        for name, array in sorted(arrays.items()):
            np.testing.assert_array_equal(array, explicit.get_parameters()[group][name])


@pytest.mark.parametrize(
    "n_steps,n_envs,batch_size,seq_len,sizes,shown",
    [
        (
            128,
            4,
            200,
            None,
            [128] * 4,
            r"seq_len = 128 \(the default.* 1 whole sequence \(at least one\), 128 trans.* 4 mini.* 200 .* 3 ",
        ),
        (
            100,
            2,
            64,
            None,
            [50] * 4,
            r"seq_len = 50 \(the default for n_steps = 100.* 50 trans.* 4 mini.*seq_len = 4 \(",
        ),
        (64, 2, 16, 32, [32] * 4, r"seq_len = 32: .* 32 trans.* 4 mini.* takes 16 transitions, 8 mini"),
    ],
)
def test_minibatches_other_than_sb3_contribs_are_named(n_steps, n_envs, batch_size, seq_len, sizes, shown):
    with pytest.warns(UserWarning, match=f"batch_size = {batch_size} is not a multiple of {shown}") as rec:
        _, ours = nngym_minibatch_sizes(n_steps, n_envs, batch_size, seq_len=seq_len)
    assert rec[0].filename == __file__  # the user's line that made the agent
    assert ours == sizes != sb3_contrib_sizes(n_steps, n_envs, batch_size)


def test_an_explicit_seq_len_keeps_its_meaning():
    seq_len, sizes = nngym_minibatch_sizes(256, 2, 128, seq_len=32)
    assert seq_len == 32 and sizes == [128] * 4  # four 32-step sequences a minibatch
    with pytest.warns(UserWarning, match="batch_size = 128 is not a multiple of seq_len = 256: "):
        seq_len, sizes = nngym_minibatch_sizes(256, 2, 128, seq_len=256)
    assert seq_len == 256 and sizes == [256, 256]  # the old default, on request


# --- seq_len: checked when set, kept in the model file --------------------------------------------------------------
def test_seq_len_is_set_checked_and_saved(tmp_path):
    agent = RecurrentPPO("CartPole-v1", n_steps=16, n_envs=2, batch_size=16, n_epochs=1, lstm_hidden_size=4, seed=0)
    assert agent.seq_len == 16 and agent.config.seq_len is None
    agent.seq_len = 8
    assert agent.seq_len == agent.config.seq_len == 8
    assert [len(mb.actions) for mb in agent._minibatches()] == [16] * 2  # two 8-step sequences per minibatch
    agent.learn(32)
    loaded = RecurrentPPO.load(agent.save(tmp_path / "rppo.npz"))
    assert loaded.seq_len == loaded.config.seq_len == 8
    assert RecurrentPPO.load(tmp_path / "rppo.npz", seq_len=4).seq_len == 4
    for bad in (5, 0, 32, -4):
        with pytest.raises(ValueError, match=rf"must divide n_steps = 16 \(one of \[1, 2, 4, 8, 16\]\).*got {bad}"):
            agent.seq_len = bad
    with pytest.raises(ValueError, match="seq_len must be an integer, got '8'"):
        agent.seq_len = "8"
    assert agent.seq_len == 8  # a refused value changes nothing
    agent.seq_len = None  # the default again, which follows batch_size
    assert agent.seq_len == 16
    agent.batch_size = 4
    assert agent.seq_len == 4 and [len(mb.actions) for mb in agent._minibatches()] == [4] * 8
    with pytest.raises(ValueError, match=r"seq_len must divide n_steps = 16 .* got 0"):
        RecurrentPPO("CartPole-v1", n_steps=16, seq_len=0)  # 0 is no default


# --- predict's state: sb3-contrib's layout ---------------------------------------------------------------------------
def canonical_loop(model: RecurrentPPO, steps: int) -> tuple[list, list, list]:
    """sb3-contrib's documented loop on ``model.get_env()``: (observations, episode starts, actions) of each step."""
    vec_env = model.get_env()
    obs, _ = vec_env.reset(seed=0)
    lstm_states = None
    episode_starts = np.ones((vec_env.num_envs,), dtype=bool)
    seen, starts, actions = [], [], []
    for _ in range(steps):
        action, lstm_states = model.predict(obs, state=lstm_states, episode_start=episode_starts, deterministic=True)
        assert [s.shape for s in lstm_states] == [(1, vec_env.num_envs, 6)] * 2
        seen.append(obs.copy())
        starts.append(episode_starts.copy())
        actions.append(action)
        obs, _, terminated, truncated, _ = vec_env.step(action)
        episode_starts = terminated | truncated
    return seen, starts, actions


def test_sb3_contribs_loop_carries_each_envs_memory_in_its_column():
    model = RecurrentPPO("nngym/CartPoleNoVel-v1", seed=0, **SMALL)
    seen, starts, actions = canonical_loop(model, 40)
    assert sum(s.sum() for s in starts[1:]) >= 2  # episodes restart inside the loop
    for i in range(3):  # env i alone, its state (1, 1, H), gives the same actions
        state = None
        for t in range(40):
            start = starts[t][i : i + 1]
            action, state = model.predict(seen[t][i : i + 1], state, episode_start=start, deterministic=True)
            assert action[0] == actions[t][i]
    # the batch's state is the envs' states side by side on axis 1
    state, single = None, [None] * 3
    for t in range(10):
        _, state = model.predict(seen[t], state, episode_start=starts[t], deterministic=True)
        for i in range(3):
            _, single[i] = model.predict(seen[t][i : i + 1], single[i], episode_start=starts[t][i : i + 1])
    for i in range(3):
        np.testing.assert_allclose(state[0][:, i : i + 1], single[i][0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(state[1][:, i : i + 1], single[i][1], rtol=0, atol=1e-6)
    assert np.abs(state[0]).max() > 1e-3  # a memory, not zeros
    # policy.predict is the agent's: the same layout
    assert [s.shape for s in model.policy.predict(seen[0], state, episode_start=starts[0])[1]] == [(1, 3, 6)] * 2


def test_zeroing_env_is_column_is_its_episode_start():
    model = RecurrentPPO("nngym/CartPoleNoVel-v1", seed=0, **SMALL)
    seen, starts, _ = canonical_loop(model, 12)
    state = None
    for t in range(12):
        _, state = model.predict(seen[t], state, episode_start=starts[t], deterministic=True)
    obs, i = seen[-1], 1
    kept = [s.copy() for s in state]
    zeroed = [s.copy() for s in state]
    zeroed[0][:, i] = 0  # sb3-contrib's way to reset env i by hand
    zeroed[1][:, i] = 0
    start_i = np.zeros(3, bool)
    start_i[i] = True
    a_zeroed, s_zeroed = model.predict(obs, state=tuple(zeroed), episode_start=np.zeros(3, bool), deterministic=True)
    a_start, s_start = model.predict(obs, state=state, episode_start=start_i, deterministic=True)
    np.testing.assert_array_equal(a_zeroed, a_start)
    np.testing.assert_array_equal(s_zeroed[0], s_start[0])
    np.testing.assert_array_equal(s_zeroed[1], s_start[1])
    for s, k in zip(state, kept, strict=True):
        np.testing.assert_array_equal(s, k)  # predict reads the state, never writes it
    a_kept, s_kept = model.predict(obs, state=state, episode_start=np.zeros(3, bool), deterministic=True)
    assert not np.allclose(s_kept[0][:, i], s_start[0][:, i])  # the reset changed env i's memory...
    np.testing.assert_array_equal(np.delete(s_kept[0], i, axis=1), np.delete(s_start[0], i, axis=1))  # ...only its


def test_states_pass_between_sb3_contrib_and_nngym_by_shape():
    sb3_contrib = pytest.importorskip("sb3_contrib")
    from stable_baselines3.common.env_util import make_vec_env

    theirs = sb3_contrib.RecurrentPPO(
        "MlpLstmPolicy",
        make_vec_env("CartPole-v1", n_envs=2),
        n_steps=8,
        batch_size=8,
        policy_kwargs=dict(lstm_hidden_size=6),
        seed=0,
    )
    obs = theirs.get_env().reset()
    _, their_state = theirs.predict(obs, state=None, episode_start=np.ones(2, bool), deterministic=True)
    assert [s.shape for s in their_state] == [(1, 2, 6)] * 2
    ours = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", n_envs=2, policy_kwargs=dict(lstm_hidden_size=6), seed=0)
    actions, our_state = ours.predict(obs, state=their_state, episode_start=np.zeros(2, bool), deterministic=True)
    assert actions.shape == (2,) and [s.shape for s in our_state] == [(1, 2, 6)] * 2
    _, back = theirs.predict(obs, state=our_state, episode_start=np.zeros(2, bool), deterministic=True)
    assert [s.shape for s in back] == [(1, 2, 6)] * 2  # and sb3-contrib takes nngym's
    # the values are the state the step starts from: sb3-contrib's (nonzero) state is not a fresh start
    fresh = ours.predict(obs, state=None, deterministic=True)[1]
    assert not np.allclose(our_state[0], fresh[0])


def test_the_sb3_adapter_takes_nngyms_default_seq_len_and_refuses_others():
    pytest.importorskip("sb3_contrib")
    from agents.baselines.sb3 import SB3_ALGOS

    rppo = SB3_ALGOS["recurrent_ppo"]
    rppo("CartPole-v1", seq_len=16, n_steps=64, batch_size=16)  # nngym's default there: what sb3-contrib does
    with pytest.raises(ValueError, match=r"sb3-contrib has no seq_len: .* None \(or that default, 16\), got 8"):
        rppo("CartPole-v1", seq_len=8, n_steps=64, batch_size=16)


def test_files_read_seq_len_none_as_the_code_that_wrote_them(tmp_path):
    kw = {"n_steps": 32, "batch_size": 8, "lstm_hidden_size": 4, "net_arch": (4,)}
    agent = RecurrentPPO("nngym/CartPoleNoVel-v1", seed=0, **kw)
    loaded = RecurrentPPO.load(agent.save(tmp_path / "m"))  # its file says how null is read: fitted to batch_size
    assert (loaded.config.seq_len, loaded.seq_len) == (None, 8)
    config = {"seq_len": None, "n_steps": 32, "batch_size": 8}  # a file without that entry: null meant n_steps
    RecurrentPPO._config_from_file(config, {}, {})
    assert config["seq_len"] == 32
    config = {"seq_len": None, "n_steps": 32, "batch_size": 8}
    RecurrentPPO._config_from_file(config, {}, {"seq_len": None})  # given to load: as given
    assert config["seq_len"] is None
