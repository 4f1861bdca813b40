"""A population's attributes: hyperparameters read and set on the population (every member, from the next update on,
as on a single agent), refused on a member inside it; TensorBoard runs in a directory per member; single-agent
attributes named on the members; the messages for envs of other spaces and for a 0-d array of a seed."""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents import A2C, DQN, PPO, load_population
from agents.common import population_parts
from agents.common.population import Population

SEEDS = [0, 1]
#: small configurations: (class, hyperparameters, env steps before the change, env steps after it, the change)
CASES = {
    "ppo": (
        PPO,
        {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 2, "learning_rate": 1e-3},
        128,
        256,
        {"clip_range": 0.05, "ent_coef": 0.05, "max_grad_norm": 0.05, "learning_rate": 3e-3},
    ),
    "a2c": (A2C, {"n_envs": 2, "n_steps": 5}, 40, 200, {"gae_lambda": 0.8, "vf_coef": 0.1, "max_grad_norm": 0.05}),
    "dqn": (
        DQN,
        {
            "n_envs": 2,
            "learning_starts": 32,
            "train_freq": 4,
            "gradient_steps": 2,
            "batch_size": 16,
            "target_update_interval": 20,
            "exploration_fraction": 0.5,
        },
        64,
        300,
        {"gamma": 0.8, "max_grad_norm": 0.05, "exploration_final_eps": 0.3, "learning_rate": 3e-3, "tau": 0.5},
    ),
}


def flat_params(agent) -> np.ndarray:
    source = agent.q_net if hasattr(agent, "q_net") else agent.policy
    return np.concatenate([p.ravel() for _, p, _ in source.named_params()]).astype(np.float64)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# --- hyperparameters ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", sorted(CASES))
def test_a_learning_rate_of_zero_set_on_the_population_keeps_every_members_parameters(algo):
    cls, hp, first, more, _ = CASES[algo]
    pop = cls("CartPole-v1", seed=SEEDS, **hp).learn(first)
    assert pop.learning_rate == hp.get("learning_rate", pop.members[0].config.learning_rate)
    pop.learning_rate = 0.0
    assert pop.learning_rate == 0.0 and [m.learning_rate for m in pop.members] == [0.0, 0.0]
    before = [flat_params(m) for m in pop.members]
    pop.learn(more, reset_num_timesteps=False)
    assert all(m._n_updates > 0 for m in pop.members)
    for k, m in enumerate(pop.members):
        np.testing.assert_array_equal(flat_params(m), before[k])
        assert m.train_stats["train/learning_rate"] == 0.0


@pytest.mark.parametrize(("algo", "parts"), [("ppo", 1), ("ppo", 2), ("a2c", 1), ("dqn", 1), ("dqn", 2)])
def test_members_given_new_hyperparameters_train_as_single_runs_given_them(algo, parts, monkeypatch):
    """Member k of a population whose hyperparameters were set between two learns follows the single run with seed k
    given the same values (the stacked optimiser's clip norm too, also in parts on threads), and moved away from the
    population that kept the old ones."""
    monkeypatch.setattr(population_parts, "MIN_PART_MACS", 1)
    cls, hp, first, more, change = CASES[algo]
    pop, kept = (cls("CartPole-v1", seed=SEEDS, **hp) for _ in range(2))
    pop.num_threads = parts
    singles = [cls("CartPole-v1", seed=s, **hp) for s in SEEDS]
    for agent in (pop, kept, *singles):
        agent.learn(first)
    for name, value in change.items():
        setattr(pop, name, value)
        for single in singles:
            setattr(single, name, value)
        assert getattr(pop, name) == value and all(getattr(m, name) == value for m in pop.members)
    for agent in (pop, kept, *singles):
        agent.learn(more, reset_num_timesteps=False)
    assert len(pop.engine.parts) == parts
    for k, single in enumerate(singles):
        member = pop.members[k]
        assert rel(flat_params(member), flat_params(single)) <= 1e-5, (algo, k)
        assert rel(flat_params(member), flat_params(kept.members[k])) > 1e-3  # the new values made a difference
        assert member.rng.bit_generator.state == single.rng.bit_generator.state
    if algo == "dqn":  # ε's end point: the same rate as the single run's
        assert pop.members[0].exploration_rate == singles[0].exploration_rate != kept.members[0].exploration_rate


def test_what_a_population_and_its_members_refuse(tmp_path):
    pop = PPO("CartPole-v1", seed=SEEDS, n_envs=1, n_steps=16, batch_size=16, n_epochs=1).learn(16)
    with pytest.raises(ValueError, match=r"PPO population\.n_steps is fixed when the members are made.*seed=\["):
        pop.n_steps = 8
    with pytest.raises(ValueError, match="population does not support target_kl"):
        pop.target_kl = 0.01
    with pytest.raises(ValueError, match="learning_rate"):
        pop.learning_rate = -1.0
    assert pop.n_steps == 16 and pop.target_kl is None and pop.learning_rate == 3e-4
    assert [m.config.learning_rate for m in pop.members] == [3e-4, 3e-4]  # nothing changed
    with pytest.raises(ValueError, match=r"member 1 \(seed 1\) of a PPO population.*population\.gamma = 0\.5"):
        pop.members[1].gamma = 0.5
    with pytest.raises(ValueError, match=r"PPO\.n_steps is fixed when the agent is made"):
        pop.members[0].n_steps = 8
    with pytest.raises(ValueError, match=r"member 0 \(seed 0\).*population\.member\(0\) gives a copy"):
        pop.members[0].set_random_seed(5)
    assert [m.gamma for m in pop.members] == [0.99, 0.99] and pop.members[0].seed == 0
    copy = pop.member(1)  # a copy of its own: free to change
    copy.gamma = 0.5
    copy.set_random_seed(7)
    assert copy.gamma == 0.5 and pop.members[1].gamma == 0.99
    pop.members[0].logger.record("custom/x", 1.0)  # a member's own logger, as documented
    pop.gamma = 0.9
    back = load_population(PPO, pop.save(tmp_path / "pop"), env="CartPole-v1")  # one configuration: loads
    assert back.gamma == 0.9 and [m.gamma for m in back.members] == [0.9, 0.9]


# --- TensorBoard -------------------------------------------------------------------------------------------------
def _steps(run_dir: Path) -> list[int]:
    """The steps of ``time/fps`` (a value of every row) in the event files of ``run_dir``, read by TensorBoard itself,
    in order (the files of two ``learn`` calls in one second are read in the order of their names)."""
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return sorted(e.step for e in acc.Scalars("time/fps"))


def _runs(root: Path) -> list[str]:
    return sorted(str(p.parent.relative_to(root)) for p in root.rglob("events.out.tfevents.*"))


def _progress_steps(path: Path) -> list[int]:
    with open(path) as f:
        return [int(r["time/total_timesteps"]) for r in csv.DictReader(f)]


def test_each_member_writes_and_continues_its_own_tensorboard_runs(tmp_path):
    pytest.importorskip("tensorboard")
    tb, logs = tmp_path / "tb", tmp_path / "logs"
    hp = {"n_envs": 1, "n_steps": 16, "batch_size": 16, "n_epochs": 1, "log_interval": 1}
    pop = PPO("CartPole-v1", seed=[3, 5], log_dir=logs, tensorboard_log=tb, **hp)
    assert pop.tensorboard_log == tb and [m.tensorboard_log for m in pop.members] == [tb / "s3", tb / "s5"]
    pop.learn(32)
    assert sorted(p.name for p in tb.iterdir()) == ["s3", "s5"]
    pop.learn(32, reset_num_timesteps=False)  # continued: each member's own latest run
    assert sorted({run for run in _runs(tb)}) == ["s3/PPO_1", "s5/PPO_1"]
    for s in (3, 5):
        assert _steps(tb / f"s{s}" / "PPO_1") == [16, 32, 48, 64] == _progress_steps(logs / f"s{s}" / "progress.csv")
    pop.learn(32)  # a new run of every member
    assert sorted(set(_runs(tb))) == ["s3/PPO_1", "s3/PPO_2", "s5/PPO_1", "s5/PPO_2"]
    folder = pop.save(tmp_path / "pop")
    for kwargs in ({}, {"tensorboard_log": tb}):  # the members' own directories, from their files or the root
        back = load_population(PPO, folder, env="CartPole-v1", **kwargs)
        assert back.tensorboard_log == tb and [Path(m.tensorboard_log) for m in back.members] == [tb / "s3", tb / "s5"]
    back.learn(32, reset_num_timesteps=False)
    assert sorted(set(_runs(tb))) == ["s3/PPO_1", "s3/PPO_2", "s5/PPO_1", "s5/PPO_2"]
    for s in (3, 5):
        assert _steps(tb / f"s{s}" / "PPO_2") == [16, 32, 48, 64]
    off = load_population(PPO, folder, env="CartPole-v1", tensorboard_log=None)  # None given: off, as load's
    assert off.tensorboard_log is None and all(m.tensorboard_log is None for m in off.members)


def test_tensorboard_directories_follow_log_dirs_layout(tmp_path):
    pytest.importorskip("tensorboard")
    hp = {"n_envs": 1, "n_steps": 16, "batch_size": 16, "n_epochs": 1}
    pop = PPO("CartPole-v1", seed=SEEDS, tensorboard_log=tmp_path / "tb_{seed}", **hp).learn(16)
    assert _runs(tmp_path) == ["tb_0/PPO_1", "tb_1/PPO_1"]
    single = PPO("CartPole-v1", seed=0, tensorboard_log=tmp_path / "one", **hp).learn(16)  # SB3's layout
    assert _runs(tmp_path / "one") == ["PPO_1"] and single.tensorboard_log == tmp_path / "one"
    agents = [PPO("CartPole-v1", seed=s, tensorboard_log=tmp_path / "shared", **hp) for s in SEEDS]
    pop = Population.from_members(agents)  # one directory for all: one each under it
    assert pop.tensorboard_log == tmp_path / "shared" and agents[1].tensorboard_log == tmp_path / "shared" / "s1"
    pop.tensorboard_log = tmp_path / "other"
    pop.learn(16)
    assert _runs(tmp_path / "other") == ["s0/PPO_1", "s1/PPO_1"]


# --- attributes of single agents -----------------------------------------------------------------------------------
def test_single_agent_attributes_name_the_members():
    ppo = PPO("CartPole-v1", seed=SEEDS, n_envs=1, n_steps=16, batch_size=16)
    dqn = DQN("CartPole-v1", seed=SEEDS, learning_starts=10)
    for pop, names in (
        (ppo, ["ep_info_buffer", "env", "policy", "set_env", "get_parameters", "set_random_seed", "seed"]),
        (dqn, ["replay_buffer", "save_replay_buffer", "q_net", "exploration_rate"]),
    ):
        for name in names:
            assert not hasattr(pop, name)
            with pytest.raises(AttributeError, match=rf"population \(seeds \[0, 1\]\) has no '{name}': its members"):
                getattr(pop, name)
    with pytest.raises(AttributeError, match=r"population\.members\[k\]\.policy \(member k.*population\.member\(k\)"):
        _ = ppo.policy
    with pytest.raises(AttributeError, match=r"population\.member\(k\)\.set_env \(a copy of member k"):
        ppo.set_env("CartPole-v1")
    with pytest.raises(AttributeError, match=r"population\.seeds lists the members' seeds"):
        _ = ppo.seed
    with pytest.raises(AttributeError, match=r"has no attribute 'evaluate': agents\.evaluate\(population\[k\], env\)"):
        ppo.evaluate()
    with pytest.raises(AttributeError, match=r"cannot set 'ep_info_buffer'"):
        ppo.ep_info_buffer = []
    with pytest.raises(AttributeError, match="'Population' object has no attribute '_nothing'"):
        _ = ppo._nothing
    ppo.verbose = 1  # the population's own: every member's
    ppo.stats_window_size = 5
    assert ppo.verbose == 1 and [(m.verbose, m.stats_window_size) for m in ppo.members] == [(1, 5), (1, 5)]
    ppo.log_dir = "runs/x"
    assert [m.log_dir for m in ppo.members] == [Path("runs/x/s0"), Path("runs/x/s1")]


# --- messages ------------------------------------------------------------------------------------------------------
def test_members_on_envs_of_other_spaces_are_named():
    with pytest.raises(
        ValueError,
        match=r"envs differ: member 0 \(seed 0, env CartPole-v1\) .*Discrete\(2\), member 1 "
        r"\(seed 1, env Acrobot-v1\) has observation space Box\(.*\(6,\), float32\) and action space "
        r"Discrete\(3\)",
    ):
        A2C([gym.make("CartPole-v1"), gym.make("Acrobot-v1")], seed=SEEDS)
    with pytest.raises(ValueError, match=r"member 1 \(seed 1, env MountainCar-v0\)"):
        PPO(["CartPole-v1", "MountainCar-v0"], seed=SEEDS)


def test_a_0d_array_seed_is_one_seed():
    """np.array(3) is one seed (it was a TypeError from iterating it): a single agent with seed 3, an int."""
    agent = PPO("CartPole-v1", seed=np.array(3), n_steps=16, batch_size=16)
    assert not isinstance(agent, Population) and agent.seed == 3 and type(agent.seed) is int


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_member_reached_directly_stays_in_step_with_its_population(algo, tmp_path):
    """``population.members[k]``: learn and set_env refused; save/get_parameters give the optimiser state the
    population holds (not the member's stale copy); set_parameters writes into the population's rows."""
    cls, hp, before, _, _ = CASES[algo]
    pop = cls("CartPole-v1", seed=SEEDS, **hp).learn(before)
    steps = [m.num_timesteps for m in pop.members]
    with pytest.raises(ValueError, match=r"member 0 \(seed 0\).*population\.learn\(\.\.\.\) trains every member"):
        pop.members[0].learn(64)
    with pytest.raises(ValueError, match=r"member 1 \(seed 1\).*population\.member\(1\) gives a copy"):
        pop.members[1].set_env(gym.make("CartPole-v1"))
    assert [m.num_timesteps for m in pop.members] == steps

    held = pop.engine.optimizer.member_state_dict(1)  # what the population's optimiser holds for member 1
    assert held["t"] > 0 and any(np.abs(s).max() > 0 for slots in held["slots"].values() for s in slots.values())
    opt = pop.members[1].get_parameters()["opt"]
    assert int(opt["t"]) == held["t"]
    for name, slots in held["slots"].items():
        for key, value in slots.items():
            np.testing.assert_array_equal(opt[f"{name}/{key}"], value)
    loaded = cls.load(pop.members[1].save(tmp_path / "m1.npz"))
    for group, arrays in pop.members[1].get_parameters().items():
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded.get_parameters()[group][key], value, err_msg=f"{group}/{key}")

    pop.members[0].set_parameters(pop.members[1].get_parameters())  # member 0 becomes member 1, optimiser too
    for name, slots in pop.engine.optimizer.member_state_dict(0)["slots"].items():
        for key, value in slots.items():
            np.testing.assert_array_equal(value, held["slots"][name][key])
    theirs = pop.members[1]._parameter_arrays()
    for group, arrays in pop.members[0]._parameter_arrays().items():
        if group != "opt":
            for name, value in arrays.items():
                np.testing.assert_array_equal(value, theirs[group][name], err_msg=f"{group}/{name}")

    other = cls("CartPole-v1", seed=5, **hp)  # an optimiser that has taken no step: refused, nothing changed
    stacked = {key: v.copy() for key, v in pop.engine.optimizer.slots.items()}
    with pytest.raises(ValueError, match=r"has taken 0 steps, the population's \d+"):
        pop.members[0].set_parameters(other.get_parameters())
    for key, v in pop.engine.optimizer.slots.items():
        np.testing.assert_array_equal(v, stacked[key])
    pop.learn(before, reset_num_timesteps=False)  # the population trains on
    assert [m.num_timesteps for m in pop.members] == [2 * before, 2 * before]
