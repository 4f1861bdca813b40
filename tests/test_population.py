"""Populations (a list of seeds): member k starts as and follows the single run with seed k; per-member files,
save / load as ordinary agents, checkpoint and resume of the whole population, and the clear refusals."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import A2C, DQN, PPO, REINFORCE, RecurrentPPO
from agents.common import population_parts
from agents.common.logger import member_log_dir
from agents.common.member_generators import MemberGenerators
from agents.common.population import Population, load_population
from agents.ppo import ppo_loss
from nngym import stacked_optim
from nngym.serialization import ModelFileError

SEEDS = [0, 1, 2]
#: small configurations: (class, hyperparameters, env steps of the first update, env steps of a few updates)
CASES = {
    "ppo": (PPO, {"n_envs": 4, "n_steps": 32, "batch_size": 32, "n_epochs": 2, "learning_rate": 1e-3}, 128, 512),
    "a2c": (A2C, {"n_envs": 4, "n_steps": 5}, 20, 400),
    "dqn": (
        DQN,
        {
            "n_envs": 2,
            "learning_starts": 64,
            "train_freq": 8,
            "gradient_steps": 4,
            "batch_size": 16,
            "target_update_interval": 20,
            "n_steps": 3,
            "double_q": True,
            "exploration_fraction": 0.5,
        },
        80,
        600,
    ),
}


def flat_params(agent) -> np.ndarray:
    source = agent.q_net if hasattr(agent, "q_net") else agent.policy
    return np.concatenate([p.ravel() for _, p, _ in source.named_params()]).astype(np.float64)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize(("algo", "in_place"), [*((a, False) for a in sorted(CASES)), ("dqn", True)])
def test_member_k_is_the_single_run_with_seed_k(algo, in_place, monkeypatch):
    """Exactly the single run's initial parameters; after the first update (and after several) equal to the
    single run's to 1e-5 relative error, each member having moved away from its start (also with the stacked
    optimiser updating each parameter in place, as it does for large members)."""
    if in_place:
        monkeypatch.setattr(stacked_optim, "IN_PLACE_MIN", 0)
    cls, hp, first, more = CASES[algo]
    pop = cls("CartPole-v1", seed=SEEDS, **hp)
    assert isinstance(pop, Population) and len(pop) == 3 and pop.seeds == SEEDS
    start = [flat_params(m) for m in pop.members]
    singles = [cls("CartPole-v1", seed=s, **hp) for s in SEEDS]
    for k, single in enumerate(singles):
        np.testing.assert_array_equal(start[k], flat_params(single))
    assert rel(start[0], start[1]) > 0.1  # different seeds, different members
    for steps in (first, more):
        pop.learn(steps, reset_num_timesteps=steps == first)
        for single in singles:
            single.learn(steps, reset_num_timesteps=steps == first)
        for k, single in enumerate(singles):
            assert single._n_updates > 0 and pop.members[k]._n_updates == single._n_updates
            assert rel(flat_params(pop.members[k]), start[k]) > 1e-4  # it learned something
            assert rel(flat_params(pop.members[k]), flat_params(single)) <= 1e-5, (algo, k, steps)
            assert pop.members[k].num_timesteps == single.num_timesteps
            episodes = [[(e["r"], e["l"]) for e in a.ep_info_buffer] for a in (pop.members[k], single)]
            assert episodes[0] == episodes[1]  # returns and lengths (the seconds differ)
            assert pop.members[k].rng.bit_generator.state == single.rng.bit_generator.state


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_box_action_members_are_the_single_runs(algo):
    """Gaussian policies: each member's log σ is its own (a view of the stacked (K, D) array), and member k
    follows the single run with seed k on Pendulum, log σ included."""
    cls, hp, first, more = CASES[algo]
    pop = cls("Pendulum-v1", seed=SEEDS, log_std_init=-0.5, **hp)
    singles = [cls("Pendulum-v1", seed=s, log_std_init=-0.5, **hp) for s in SEEDS]
    for k, single in enumerate(singles):
        np.testing.assert_array_equal(flat_params(pop.members[k]), flat_params(single))
    pop.learn(more)
    for single in singles:
        single.learn(more)
    for k, single in enumerate(singles):
        member = pop.members[k]
        assert not np.allclose(member.policy.log_std, -0.5)  # log σ learned
        np.testing.assert_allclose(member.policy.log_std, single.policy.log_std, rtol=1e-5)
        assert rel(flat_params(member), flat_params(single)) <= 1e-5, (algo, k)
        assert member.train_stats["train/std"] == pytest.approx(single.train_stats["train/std"], rel=1e-5)
    assert not np.allclose(pop.members[0].policy.log_std, pop.members[1].policy.log_std)  # never shared
    member = pop.member(1)  # its own copy: acts as the single run, and trains its own log σ
    actions, _ = member.predict(np.zeros((5, 3), np.float32), deterministic=True)
    np.testing.assert_allclose(
        actions, singles[1].predict(np.zeros((5, 3), np.float32), deterministic=True)[0], atol=1e-5
    )
    before = member.policy.log_std.copy()
    member.learn(more, reset_num_timesteps=False)
    assert not np.allclose(member.policy.log_std, before)
    np.testing.assert_array_equal(pop.members[1].policy.log_std, before)


def test_member_generators_give_each_member_its_own_stream():
    rngs = MemberGenerators([np.random.default_rng(s) for s in (3, 4)])
    u = rngs.random((6, 1))
    np.testing.assert_array_equal(u[:3], np.random.default_rng(3).random((3, 1)))
    np.testing.assert_array_equal(u[3:], np.random.default_rng(4).random((3, 1)))
    with pytest.raises(ValueError, match="split into 2 members"):
        rngs.integers(0, 2, 5)


def test_stacked_ppo_loss_rows_are_ppo_loss():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((3, 8)).astype(np.float32) for _ in range(7)]
    arrays[1] = np.abs(arrays[1])  # entropies
    kw = {"clip": 0.2, "clip_range_vf": 0.5, "ent_coef": 0.01, "vf_coef": 0.5}
    terms, d_lp, d_h, d_v = ppo_loss(*arrays, **kw)  # (K, n): a row a member
    for k in range(3):
        t, d_lp_k, d_h_k, d_v_k = ppo_loss(*(a[k] for a in arrays), **kw)
        for key, value in t.items():
            np.testing.assert_allclose(terms[key][k], value, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(d_lp[k], d_lp_k, rtol=1e-6)
        np.testing.assert_allclose(d_v[k], d_v_k, rtol=1e-6)
        assert d_h == d_h_k


def test_member_is_an_ordinary_agent_of_its_own(tmp_path):
    cls, hp, first, _ = CASES["ppo"]
    pop = cls("CartPole-v1", seed=SEEDS, **hp).learn(first)
    m = pop.member(1)
    assert type(m) is PPO and m.seed == 1 and m.num_timesteps == first
    np.testing.assert_array_equal(flat_params(m), flat_params(pop.members[1]))
    assert m.optimizer.state_dict()["t"] == pop.engine.optimizer.t > 0
    obs = np.zeros((5, 4), dtype=np.float32)
    np.testing.assert_array_equal(
        m.predict(obs, deterministic=True)[0], pop.members[1].predict(obs, deterministic=True)[0]
    )
    before = flat_params(pop.members[1])
    m.learn(first)  # trains the copy only
    np.testing.assert_array_equal(flat_params(pop.members[1]), before)
    assert rel(flat_params(m), before) > 1e-4
    loaded = PPO.load(m.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(flat_params(loaded), flat_params(m))
    folder = pop.save(tmp_path / "pop")  # a population's folder given to load: the message says how to load it
    with pytest.raises(ModelFileError, match=r"a population's folder, not a model file: load it with "):
        PPO.load(folder)
    np.testing.assert_array_equal(flat_params(PPO.load(folder / "s1.npz")), flat_params(pop.members[1]))


def read_monitor(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#{") and lines[1] == "r,l,t"
    return [tuple(row.split(",")[:2]) for row in lines[2:]]


def test_per_member_files_are_those_of_single_runs(tmp_path):
    cls, hp, _, more = CASES["a2c"]
    hp = {**hp, "log_interval": 10}
    pop = cls("CartPole-v1", seed=SEEDS, log_dir=tmp_path / "pop" / "a2c_s{seed}", **hp).learn(more)
    for s in SEEDS:
        single = cls("CartPole-v1", seed=s, log_dir=tmp_path / "single" / f"a2c_s{s}", **hp).learn(more)
        assert member_log_dir(tmp_path / "pop" / "a2c_s{seed}", s) == tmp_path / "pop" / f"a2c_s{s}"
        mine, theirs = tmp_path / "pop" / f"a2c_s{s}", tmp_path / "single" / f"a2c_s{s}"
        assert read_monitor(mine / "monitor.csv") == read_monitor(theirs / "monitor.csv")  # returns and lengths
        with open(mine / "progress.csv") as f, open(theirs / "progress.csv") as g:
            rows, expected = list(csv.DictReader(f)), list(csv.DictReader(g))
        assert rows[0].keys() == expected[0].keys() and len(rows) == len(expected) == more // 20 // 10
        for row, exp in zip(rows, expected, strict=True):
            for key in ("time/total_timesteps", "rollout/ep_rew_mean", "train/n_updates"):
                assert row[key] == exp[key]
            np.testing.assert_allclose(float(row["train/value_loss"]), float(exp["train/value_loss"]), rtol=1e-3)
        assert single.num_timesteps == pop.members[SEEDS.index(s)].num_timesteps
    results_plotter = pytest.importorskip("stable_baselines3.common.results_plotter")
    frame = results_plotter.load_results(str(tmp_path / "pop" / "a2c_s1"))
    assert len(frame) == len(read_monitor(tmp_path / "pop" / "a2c_s1" / "monitor.csv")) > 0


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_save_load_and_resume_a_population(tmp_path, algo):
    cls, hp, first, _ = CASES[algo]
    pop = cls("CartPole-v1", seed=SEEDS, log_dir=tmp_path / "logs", **hp).learn(first * 2)
    folder = pop.save(tmp_path / "ckpt.npz", include_replay_buffer=True)
    assert sorted(p.name for p in folder.iterdir()) == ["population.json", "s0.npz", "s1.npz", "s2.npz"]
    single = cls.load(folder / "s2.npz")  # an ordinary model file
    np.testing.assert_array_equal(flat_params(single), flat_params(pop.members[2]))
    back = load_population(cls, folder, env="CartPole-v1", log_dir=tmp_path / "logs")
    assert back.seeds == SEEDS
    for k in range(3):
        a, b = back.members[k], pop.members[k]
        np.testing.assert_array_equal(flat_params(a), flat_params(b))
        assert a.rng.bit_generator.state == b.rng.bit_generator.state and a.num_timesteps == b.num_timesteps
        for key in ("m", "v"):
            np.testing.assert_array_equal(back.engine.optimizer.slots[key][k], pop.engine.optimizer.slots[key][k])
        if algo == "dqn":
            assert len(a.replay_buffer) == len(b.replay_buffer) == first * 2
            np.testing.assert_array_equal(a.replay_buffer.obs[: first * 2], b.replay_buffer.obs[: first * 2])
    episodes = len(read_monitor(tmp_path / "logs" / "s0" / "monitor.csv"))
    back.learn(first, reset_num_timesteps=False)
    assert all(m.num_timesteps == first * 3 for m in back.members)
    assert len(read_monitor(tmp_path / "logs" / "s0" / "monitor.csv")) > episodes  # appended
    with pytest.raises(ValueError, match="holds .nngym.population. of"):
        load_population(A2C if algo == "ppo" else PPO, folder)


def test_a_corrupt_population_json_is_named_with_its_problem(tmp_path):
    folder = PPO("CartPole-v1", seed=[0, 1], n_envs=1, n_steps=16, batch_size=16).save(tmp_path / "pop")
    index = folder / "population.json"
    good = json.loads(index.read_text())
    cases = [
        ("{not json", "not valid JSON"),
        ([0, 1], r"expected a JSON object .*got \[0, 1\]"),
        ({**good, "files": None}, "'files' must be a non-empty list of member file names, got None"),
        ({k: v for k, v in good.items() if k != "seeds"}, "'seeds' must be a list of the members' seeds, got None"),
        ({**good, "seeds": [0]}, "lists 2 member files and 1 seeds, expected one seed per file"),
        ({**good, "seeds": [1, 1]}, "'seeds': a population needs distinct seeds"),
        ({**good, "seeds": [5, 1]}, "lists seed 5 for s0.npz, but .*s0.npz holds the member with seed 0"),
        ({**good, "seeds": [1, 0]}, "lists seed 1 for s0.npz, but .*s0.npz holds the member with seed 0"),
    ]
    for content, message in cases:
        index.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(ModelFileError, match=message) as raised:
            load_population(PPO, folder, log_dir=tmp_path / "logs")
        assert str(raised.value).startswith(f"{index}: "), raised.value
    assert not (tmp_path / "logs").exists()  # refused before any member's logs were opened
    index.write_text(json.dumps(good))
    assert load_population(PPO, folder).seeds == [0, 1]


def test_what_a_population_refuses():
    with pytest.raises(ValueError, match="supports \\['A2C', 'DQN', 'PPO'\\]"):
        REINFORCE("CartPole-v1", seed=[0, 1])
    with pytest.raises(ValueError, match="supports \\['A2C', 'DQN', 'PPO'\\]"):
        RecurrentPPO("CartPole-v1", seed=[0, 1])
    with pytest.raises(ValueError, match="MLP policies"):
        PPO("CartPole-v1", net="cnn", seed=[0, 1])
    for cls in (PPO, DQN):  # image observations: the networks begin with an input layer that is not stacked
        with pytest.raises(ValueError, match="stacks MLPs on flat observations.*got ImageScale at layer 0"):
            cls("nngym/Catch-v0", seed=[0, 1])
    with pytest.raises(ValueError, match="distinct seeds"):
        PPO("CartPole-v1", seed=[3, 3])
    with pytest.raises(ValueError, match="target_kl"):
        PPO("CartPole-v1", seed=[0, 1], target_kl=0.01)
    with pytest.raises(ValueError, match="gSDE"):
        PPO("Pendulum-v1", seed=[0, 1], use_sde=True)
    import gymnasium as gym

    with pytest.raises(ValueError, match="needs an env id"):
        PPO(gym.make("CartPole-v1"), seed=[0, 1])


@pytest.mark.slow
def test_compare_trains_seeds_as_one_population_by_default(tmp_path):
    """compare.py's nngym seeds: one population by default, the same episodes and evaluations as one by one."""
    from agents.experiments import compare

    argv = ["--env", "CartPole-v1", "--algo", "a2c", "--seeds", "0", "1", "--impl", "nngym", "--n-eval-episodes", "2"]
    argv += ["--total-timesteps", "400", "--bootstrap-reps", "100", "-p", "n_envs=4"]
    rows = {}
    for flag in ("--population", "--no-population"):
        logs = tmp_path / flag.strip("-")
        (rows[flag],) = compare.main([*argv, flag, "--log-dir", str(logs / "runs"), "--out", str(logs / "out")])
    for seed in (0, 1):
        pop = tmp_path / "population" / "runs" / "nngym" / f"a2c_CartPole-v1_s{seed}"
        one = tmp_path / "no-population" / "runs" / "nngym" / f"a2c_CartPole-v1_s{seed}"
        assert read_monitor(pop / "monitor.csv") == read_monitor(one / "monitor.csv")
        meta_pop, meta_one = (json.loads((d / "eval.json").read_text()) for d in (pop, one))
        assert meta_pop["population"]["seeds"] == [0, 1] and "population" not in meta_one
        assert meta_pop["eval_mean"] == meta_one["eval_mean"] and meta_pop["total_timesteps"] == 400
        assert rel(flat_params(A2C.load(pop / "model.npz")), flat_params(A2C.load(one / "model.npz"))) <= 1e-5
    assert rows["--population"]["eval_mean"] == rows["--no-population"]["eval_mean"]


@pytest.mark.slow
def test_sweep_trains_seeds_as_one_population_by_default(tmp_path):
    """The local sweep: the two seeds of one configuration in one population subprocess, the same run directories
    and episodes as one process per run (population=False)."""
    from agents.experiments.sweep import run_sweep
    from agents.experiments.sweep_file import load_sweep

    spec = {"name": "p", "impls": ["nngym"], "algos": ["a2c"], "envs": ["CartPole-v1"], "seeds": [0, 1]}
    spec |= {"total_timesteps": 200, "n_eval_episodes": 1, "hyperparams": {"n_envs": 2}}
    pop = run_sweep(load_sweep(spec), tmp_path / "pop")
    one = run_sweep(load_sweep(spec), tmp_path / "one", population=False)
    assert [r.status for r in pop] == [r.status for r in one] == ["finished", "finished"]
    assert len(list((tmp_path / "pop").glob("*_spopulation*.log"))) == 1
    assert not list((tmp_path / "one").glob("*_spopulation*.log"))
    for r in pop:
        inner = f"{r.run.algo}_{r.run.env}_s{r.run.seed}"
        a, b = (tmp_path / d / r.run.name / inner for d in ("pop", "one"))
        assert read_monitor(a / "monitor.csv") == read_monitor(b / "monitor.csv")
        assert json.loads((a / "eval.json").read_text())["population"]["seeds"] == [0, 1]


def test_callbacks_see_the_population(tmp_path):
    """A callback's on_step runs once per population step; False stops every member; CheckpointCallback saves the
    population directory, named by the members' own steps (what each member's file holds)."""
    from agents import BaseCallback, CheckpointCallback

    class StopAfter(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 10

    cls, hp, _, _ = CASES["a2c"]
    pop = cls("CartPole-v1", seed=SEEDS, **hp)
    ckpt = CheckpointCallback(5, tmp_path, "pop")
    pop.learn(1000, callback=[StopAfter(), ckpt])
    assert [m.num_timesteps for m in pop.members] == [10 * 4] * 3  # 10 vector steps of 4 envs each
    assert ckpt.last_path == tmp_path / "pop_3x40_steps"  # 3 members of 40 env steps each (120 together)
    assert (ckpt.last_path / "population.json").exists()
    back = load_population(cls, ckpt.last_path)
    assert [m.num_timesteps for m in back.members] == [40] * 3


@pytest.mark.parametrize(
    ("algo", "env", "in_place"),
    [
        ("ppo", "CartPole-v1", False),
        ("a2c", "CartPole-v1", False),
        ("dqn", "CartPole-v1", False),
        ("dqn", "CartPole-v1", True),
        ("ppo", "Pendulum-v1", False),
    ],
)
def test_members_learn_the_same_numbers_in_parts_on_threads(algo, env, in_place, monkeypatch):
    """num_threads = 2: the members' updates run in two parts side by side (views of their rows), and every member
    ends with exactly the parameters, optimiser state and statistics of the population trained whole (with the
    members gathered into one array for the update, and with each parameter updated in place)."""
    monkeypatch.setattr(population_parts, "MIN_PART_MACS", 1)  # these small networks get parts all the same
    monkeypatch.setattr(stacked_optim, "IN_PLACE_MIN", 0 if in_place else 10**9)
    extra: dict = {}
    cls, hp, _, more = CASES[algo]
    whole = cls(env, seed=SEEDS, **hp, **extra)
    split = cls(env, seed=SEEDS, **hp, **extra)
    split.num_threads = 2
    whole.learn(more)
    split.learn(more)
    assert [len(p.members) for p in split.engine.parts] == [2, 1] and len(whole.engine.parts) == 1
    assert split.engine.optimizer.t == whole.engine.optimizer.t > 0
    for k in range(len(SEEDS)):
        np.testing.assert_array_equal(flat_params(split.members[k]), flat_params(whole.members[k]))
        assert split.members[k]._n_updates == whole.members[k]._n_updates
        assert split.members[k].train_stats == whole.members[k].train_stats
    for key, slots in whole.engine.optimizer.slots.items():
        np.testing.assert_array_equal(split.engine.optimizer.slots[key], slots)
    split.num_threads = 1  # back to one part: learning goes on from the same state
    split.learn(more // 2, reset_num_timesteps=False)
    whole.learn(more // 2, reset_num_timesteps=False)
    assert len(split.engine.parts) == 1
    for k in range(len(SEEDS)):
        np.testing.assert_array_equal(flat_params(split.members[k]), flat_params(whole.members[k]))


def test_population_threads_are_checked_and_parts_are_as_many_as_pay():
    pop = PPO("CartPole-v1", seed=[0, 1], n_envs=2, n_steps=8, batch_size=8, n_epochs=1)
    for bad in (0, -2, 1.5, True):
        pop.num_threads = bad
        with pytest.raises(ValueError, match="num_threads must be an int >= 1 or -1"):
            pop.learn(16)
    pop.num_threads = 8  # members of 8 rows through two 4-64-64 MLPs: too little work for a thread each
    pop.learn(16)
    products = 2 * (4 * 64 + 64 * 64) + 64 * 2 + 64 * 1
    assert len(pop.engine.parts) == 1 and pop.engine.macs_per_member() == 3 * 8 * products
    ppo = 3 * 256 * products  # the CartPole entry's 256-row minibatches: parts of 4 members or more
    assert [population_parts.part_count(2, k, ppo) for k in (2, 4, 8, 16)] == [1, 1, 2, 2]
    dqn = 5 * 64 * (4 * 256 + 256 * 256 + 256 * 2)  # Double DQN at 64 rows: parts of 2 members or more
    assert [population_parts.part_count(2, k, dqn) for k in (2, 4, 8)] == [1, 2, 2]
    assert population_parts.part_count(2, 16, 3 * 40 * products) == 1  # A2C's 40-row rollouts
    assert population_parts.member_rows(5, 2) == [slice(0, 2), slice(2, 5)]


def test_train_population_records_its_threads_and_refuses_a_bad_count(tmp_path):
    from agents.experiments import train_population

    results = train_population.train_population(
        "a2c", "CartPole-v1", [0, 1], tmp_path, total_timesteps=160, n_eval_episodes=1, num_threads=2
    )
    meta = json.loads((tmp_path / "a2c_CartPole-v1_s1" / "eval.json").read_text())
    assert [r["num_threads"] for r in results] == [2, 2] and meta["num_threads"] == 2
    assert meta["population"]["parts"] == 1  # two A2C members of 40 rows: too little work to split
    with pytest.raises(SystemExit):
        train_population.main(["--algo", "a2c", "--seeds", "0", "1", "--num-threads", "0"])
    argv = ["--algo", "a2c", "--log-dir", str(tmp_path), "--total-timesteps", "80", "--n-eval-episodes", "1"]
    for bad, says in ((["--seeds", "0", "0"], "seed"), (["--seeds", "0", "1", "-p", "n_steps=-1"], "n_steps")):
        with pytest.raises(SystemExit) as info:  # one error: line, no traceback
            train_population.main([*argv, *bad])
        assert str(info.value).startswith("error: ") and says in str(info.value)
