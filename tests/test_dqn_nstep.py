"""DQN's n-step returns (``n_steps`` of DQNConfig, ``ReplayBuffer.sample_n_step``) against hand-computed targets.

Hand-filled buffers cover termination and truncation in the middle of the n steps, the circular buffer's
wrap-around, the not-yet-written frontier and two envs; a brute-force reference checks random buffers.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_agents_core import CounterEnv  # obs = steps taken; ends after `horizon` steps

from agents.common.buffers import ReplayBuffer
from agents.common.vec_env import SyncVectorEnv
from agents.dqn import DQN


class FixedIndices:
    """Stands in for a Generator: ``integers`` returns the given start indices (checking the range asked)."""

    def __init__(self, idx: list[int], expected_high: int) -> None:
        self.idx, self.expected_high = np.array(idx), expected_high

    def integers(self, low: int, high: int, size: int) -> np.ndarray:
        assert (low, high, size) == (0, self.expected_high, len(self.idx))
        return self.idx


def add(rb: ReplayBuffer, obs, next_obs, rewards, terminated, truncated) -> None:
    """One vector step: per-env lists of scalars."""
    n = len(obs)
    term = np.array(terminated, dtype=np.float32)
    rb.add(
        np.array(obs, np.float32).reshape(n, 1),
        np.array(next_obs, np.float32).reshape(n, 1),
        np.zeros(n, np.int64),
        np.array(rewards, np.float32),
        term,
        np.maximum(term, np.array(truncated, dtype=np.float32)),
    )


def check(rb, idx, n, gamma, returns, next_obs, terminated, discounts) -> None:
    obs, _, r, nxt, term, disc = rb.sample_n_step(len(idx), FixedIndices(idx, len(rb)), n, gamma)
    np.testing.assert_array_equal(obs[:, 0], rb.obs[idx, 0])
    np.testing.assert_allclose(r, returns, rtol=1e-6)
    np.testing.assert_array_equal(nxt[:, 0], next_obs)
    np.testing.assert_array_equal(term, terminated)
    np.testing.assert_allclose(disc, discounts, rtol=1e-6)


def test_termination_and_truncation_in_the_middle_and_the_frontier():
    # one env, t = 0..7, r_t = t + 1; t = 2 terminates (final obs 99), t = 5 is truncated (final obs 98)
    rb = ReplayBuffer(10, (1,))
    obs = [10, 11, 12, 20, 21, 22, 30, 31]
    nxt = [11, 12, 99, 21, 22, 98, 31, 32]
    for t in range(8):
        add(rb, [obs[t]], [nxt[t]], [t + 1], [t == 2], [t == 5])
    g = 0.5
    check(
        rb,
        [0, 1, 2, 3, 4, 5, 6, 7],
        3,
        g,
        returns=[
            1 + g * 2 + g * g * 3,  # stops after the termination at t = 2
            2 + g * 3,
            3,
            4 + g * 5 + g * g * 6,  # stops after the truncation at t = 5 ...
            5 + g * 6,
            6,
            7 + g * 8,  # t = 8 is not written yet: 2 steps only
            8,
        ],
        next_obs=[99, 99, 99, 98, 98, 98, 32, 32],  # ... and bootstraps from its final obs 98
        terminated=[1, 1, 1, 0, 0, 0, 0, 0],
        discounts=[g**3, g**2, g, g**3, g**2, g, g**2, g],
    )


def test_wrap_around_of_the_full_ring():
    # capacity 5, t = 0..6 in one episode: slots 0, 1 hold t = 5, 6 and slots 2, 3, 4 hold t = 2, 3, 4; pos = 2
    rb = ReplayBuffer(5, (1,))
    for t in range(7):
        add(rb, [t], [t + 1], [t + 1], [False], [False])
    assert rb.full and rb.pos == 2
    g = 0.9
    check(
        rb,
        [2, 3, 4, 0, 1],
        3,
        g,
        returns=[
            3 + g * 4 + g * g * 5,  # the oldest, t = 2
            4 + g * 5 + g * g * 6,  # t = 3: slots 3, 4 then 0 across the end of the array
            5 + g * 6 + g * g * 7,
            6 + g * 7,  # t = 5: t = 7 would be slot 2, the write position (old t = 2), not its successor
            7,
        ],
        next_obs=[5, 6, 7, 7, 7],
        terminated=[0, 0, 0, 0, 0],
        discounts=[g**3, g**3, g**3, g**2, g],
    )


def test_two_envs_interleaved_on_an_odd_capacity():
    # 2 envs, t = 0..4, capacity 7: slot of (t, env) = (2t + env) % 7; kept (t, env) from (1, 1) on; pos = 3.
    # env 0: r = t + 1, truncated at t = 3 (final obs 90); env 1: r = 11 + t, terminated at t = 2 (final obs 80)
    rb = ReplayBuffer(7, (1,), n_envs=2)
    for t in range(5):
        nxt = [90 if t == 3 else t + 1, 80 if t == 2 else 10 * (t + 1)]
        add(rb, [t, 10 * t], nxt, [t + 1, 11 + t], [False, t == 2], [t == 3, False])
    assert rb.full and rb.pos == 3
    g = 0.5
    slots = {(t, e): (2 * t + e) % 7 for t in range(5) for e in range(2)}
    check(
        rb,
        [slots[1, 1], slots[2, 0], slots[2, 1], slots[3, 0], slots[3, 1], slots[4, 0], slots[4, 1]],
        3,
        g,
        returns=[12 + g * 13, 3 + g * 4, 13, 4, 14 + g * 15, 5, 15],
        next_obs=[80, 90, 80, 90, 50, 5, 50],
        terminated=[1, 0, 1, 0, 0, 0, 0],
        discounts=[g**2, g**2, g, g, g**2, g, g],
    )


def reference_n_step(log, capacity, pos, slot, n, gamma):
    """Brute force: follow the env of the transition in ``slot`` through the chronological ``log``."""
    kept = log[-capacity:] if len(log) >= capacity else log
    by_slot = {t["slot"]: t for t in kept}
    first = by_slot[slot]
    env_steps = [t for t in kept if t["env"] == first["env"] and t["t"] >= first["t"]]
    ret, m = 0.0, 0
    for k, tr in enumerate(env_steps[:n]):
        ret += gamma**k * tr["r"]
        m = k + 1
        if tr["done"]:
            break
    last = env_steps[m - 1]
    return ret, last["next"], last["term"], gamma**m


@pytest.mark.parametrize("capacity,n_envs,steps,n", [(11, 1, 30, 4), (9, 2, 13, 3), (64, 3, 10, 5), (10, 2, 12, 1)])
def test_random_buffers_match_a_brute_force_reference(capacity, n_envs, steps, n):
    rng = np.random.default_rng(capacity + n_envs)
    rb, log, gamma = ReplayBuffer(capacity, (1,), n_envs=n_envs), [], 0.8
    g = 0
    for t in range(steps):
        term = rng.random(n_envs) < 0.15
        trunc = ~term & (rng.random(n_envs) < 0.15)
        r = rng.normal(size=n_envs).astype(np.float32)
        nxt = 1000 * (t + 1) + np.arange(n_envs)
        add(rb, list(1000 * t + np.arange(n_envs)), list(nxt), list(r), list(term), list(trunc))
        for e in range(n_envs):
            log.append(
                {
                    "slot": g % capacity,
                    "env": e,
                    "t": t,
                    "r": float(r[e]),
                    "next": nxt[e],
                    "term": float(term[e]),
                    "done": bool(term[e] or trunc[e]),
                }
            )
            g += 1
    idx = np.arange(len(rb))
    ref = [reference_n_step(log, capacity, rb.pos, s, n, gamma) for s in idx]
    check(rb, list(idx), n, gamma, *[[x[i] for x in ref] for i in range(4)])


def test_n_step_one_draws_and_returns_what_sample_does():
    rb = ReplayBuffer(6, (1,), n_envs=2)
    for t in range(5):
        add(rb, [t, -t], [t + 1, -t - 1], [t, 2 * t], [t == 1, False], [False, t == 3])
    a = rb.sample(20, np.random.default_rng(3))
    b = rb.sample_n_step(20, np.random.default_rng(3), 1, 0.99)
    for x, y in zip(a, b[:5], strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(b[5], 0.99)


def test_add_checks_the_number_of_envs():
    rb = ReplayBuffer(6, (1,), n_envs=2)
    with pytest.raises(ValueError, match="2 envs"):
        add(rb, [0], [1], [0], [False], [False])


def test_dqn_stores_dones_and_the_replay_buffer_round_trips(tmp_path):
    env = SyncVectorEnv([lambda: CounterEnv(3, terminate=False)] * 2)
    agent = DQN(env, seed=0, learning_starts=6, buffer_size=10, n_steps=3, train_freq=2, net_arch=(8,))
    agent.learn(14)  # 7 vector steps of 2 envs: 14 transitions in a ring of 10
    rb = agent.replay_buffer
    assert rb.full and rb.pos == 4
    np.testing.assert_array_equal(rb.dones, rb.next_obs[:, 0] == 3)  # truncations are episode ends ...
    np.testing.assert_array_equal(rb.terminated, 0)  # ... but not terminal
    loaded = DQN.load(agent.save(tmp_path / "m", include_replay_buffer=True), env=env)
    np.testing.assert_array_equal(loaded.replay_buffer.dones, rb.dones)
    assert loaded.config.n_steps == 3
    # a buffer saved before ``dones`` existed: they are rebuilt from terminated and obs / next_obs
    old = {k: v for k, v in rb.state_dict().items() if k != "dones"}
    fresh = ReplayBuffer(10, (1,), n_envs=2)
    fresh.load_state_dict(old)
    # (the newest transition of each env, with no successor yet, is rebuilt as not done: an n-step return
    # stops there anyway; here it is not done)
    np.testing.assert_array_equal(fresh.dones, rb.dones)
    loaded.learn(6, reset_num_timesteps=False)


def test_n_steps_is_range_checked():
    with pytest.raises(ValueError, match="n_steps"):
        DQN("CartPole-v1", n_steps=0)


class RecordingHuber:
    """Wraps the agent's Huber cost and keeps the TD targets y it is given."""

    def __init__(self, cost) -> None:
        self.cost, self.targets = cost, []

    def value(self, q, y):
        return self.cost.value(q, y)

    def delta(self, q, y):  # called once per gradient step with that step's targets
        self.targets.append(y.copy())
        return self.cost.delta(q, y)


@pytest.mark.parametrize("double_q", [False, True])
def test_dqn_td_target_is_the_n_step_target(double_q):
    # the two-env buffer of test_two_envs_interleaved_on_an_odd_capacity inside a DQN agent
    env = SyncVectorEnv([lambda: CounterEnv(3)] * 2)
    g = 0.5
    agent = DQN(env, seed=1, gamma=g, n_steps=3, buffer_size=7, batch_size=16, double_q=double_q, net_arch=(8,))
    rb = agent.replay_buffer
    for t in range(5):
        nxt = [90 if t == 3 else t + 1, 80 if t == 2 else 10 * (t + 1)]
        add(rb, [t, 10 * t], nxt, [t + 1, 11 + t], [False, t == 2], [t == 3, False])
    # per slot (2t + env) % 7: n-step return, next obs, terminated, γ^m (from the hand-computed test above)
    table = {
        3: (12 + g * 13, 80, 1, g**2),
        4: (3 + g * 4, 90, 0, g**2),
        5: (13, 80, 1, g),
        6: (4, 90, 0, g),
        0: (14 + g * 15, 50, 0, g**2),
        1: (5, 5, 0, g),
        2: (15, 50, 0, g),
    }
    agent.cost = RecordingHuber(agent.cost)
    state = agent.rng.bit_generator.state
    q_target = agent.q_target.forward(np.array([[v[1]] for v in table.values()], np.float32))
    q_online = agent.q_net.forward(np.array([[v[1]] for v in table.values()], np.float32))
    agent._train(1)
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    idx = rng.integers(0, 7, 16)
    rows = {slot: i for i, slot in enumerate(table)}
    next_value = q_target[np.arange(7), q_online.argmax(1)] if double_q else q_target.max(1)
    expected = [table[s][0] + (1 - table[s][2]) * table[s][3] * next_value[rows[s]] for s in idx]
    np.testing.assert_allclose(agent.cost.targets[0], expected, rtol=1e-6)


@pytest.mark.slow
def test_dqn_n_step_learns_the_values_of_a_terminating_chain():
    # reward 1 per step, termination after 6 steps, γ = 0.8: Q(s) = (1 − γ^(6 − s)) / (1 − γ) for both actions
    # (uniformly random behaviour, ε = 1, so both actions are sampled alike); with n = 2 most targets bootstrap
    # with γ², and bootstrapping with γ instead has its fixed point 0.7 above Q(0) (3.69 vs 4.39)
    env = SyncVectorEnv([lambda: CounterEnv(6, terminate=True)] * 2)
    agent = DQN(
        env,
        seed=0,
        gamma=0.8,
        n_steps=2,
        learning_starts=100,
        learning_rate=3e-3,
        learning_rate_final=1e-4,
        learning_rate_decay_start=0.4,
        batch_size=64,
        train_freq=1,
        target_update_interval=50,
        net_arch=(32,),
        exploration_final_eps=1.0,
    )
    agent.learn(4000)
    s = np.arange(6, dtype=np.float32)[:, None]
    expected = (1 - 0.8 ** (6 - s)) / 0.2
    # max |Q - expected|, seeds 0-4 x 3 OpenBLAS kernels: max 0.19 (seed 1), median 0.06
    np.testing.assert_allclose(agent.q_net.forward(s), np.hstack([expected, expected]), atol=0.3)


def test_sb3_gets_n_steps_and_the_same_learning_rate_schedule():
    pytest.importorskip("stable_baselines3")
    from agents.baselines.sb3 import sb3_agent
    from agents.dqn import lr_decay_schedule

    hp = dict(
        n_steps=3,
        learning_rate=2.3e-3,
        learning_rate_final="5e-5",
        learning_rate_decay_start=0.25,
        learning_rate_decay_end=0.8,
        learning_starts=10,
    )
    model = sb3_agent("dqn", "CartPole-v1", 0, **hp).model
    assert model.n_steps == 3 and type(model.replay_buffer).__name__ == "NStepReplayBuffer"
    ours = lr_decay_schedule(2.3e-3, 5e-5, 0.25, 0.8)
    for p in (1.0, 0.75, 0.5, 0.2, 0.0):
        assert model.lr_schedule(p) == pytest.approx(ours(p))
    assert ours(1.0) == 2.3e-3 and ours(0.2) == pytest.approx(5e-5)


def test_sb3_runs_the_yml_entry_without_double_q_but_refuses_it_when_asked():
    pytest.importorskip("stable_baselines3")
    from agents import load_hyperparams
    from agents.baselines.sb3 import sb3_agent, sb3_hyperparams

    hp = load_hyperparams("dqn", "CartPole-v1")
    assert hp["double_q"] is True  # the yml entry uses Double DQN, which SB3 lacks
    sb3_hp, dropped = sb3_hyperparams("dqn", hp)
    assert dropped == ["double_q"] and "double_q" not in sb3_hp and sb3_hp["n_steps"] == hp["n_steps"]
    assert sb3_hyperparams("ppo", {"double_q": True}) == ({"double_q": True}, [])  # only the algo's own list
    with pytest.raises(ValueError, match="SB3 DQN has no double Q-learning"):
        sb3_agent("dqn", "CartPole-v1", 0, double_q=True)
