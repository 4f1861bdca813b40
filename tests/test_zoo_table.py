"""zoo_table (behind scripts/zoo_table.py): compare's per-row files and the zoo's figures -> one table, bars by hand."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from agents.experiments import zoo_table


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _compare_files(figures: Path, algo: str, env: str, evals: dict, sps: dict, seeds: int = 3) -> None:
    """What compare.py writes for one row: the summary per impl and the runs per seed (the columns read here)."""
    base = figures / f"compare_{algo}_{env}"
    summary = [
        {
            "impl": impl,
            "n_seeds": seeds,
            "timesteps": 1000,
            "eval_mean": evals[impl][0],
            "eval_std": evals[impl][1],
            "steps_per_second_mean": sps[impl] / 2,
            "steps_per_cpu_second_mean": sps[impl],
        }
        for impl in ("nngym", "sb3")
    ]
    _write(base.with_suffix(".csv"), summary)
    runs = [
        {"impl": impl, "seed": s, "seconds": 10.0 * (s + 1), "cpu_seconds": 5.0 * (s + 1)}
        for impl in ("nngym", "sb3")
        for s in range(seeds)
    ]
    _write(base.with_name(base.name + "_runs.csv"), runs)


def test_zoo_table_bars_by_hand(tmp_path: Path) -> None:
    bench = tmp_path / "bench.csv"
    bench.write_text(
        "# notes\nalgo,env,zoo_env,n_timesteps,mean_reward,std_reward,eval_episodes\n"
        "ppo,CartPole-v1,CartPole-v1,100000,500.0,0.0,300\n"
        "dqn,Acrobot-v1,Acrobot-v1,100000,-76.639,11.752,1932\n"
        "a2c,LunarLander-v3,LunarLander-v2,200000,155.751,80.419,297\n"
    )
    figures = tmp_path / "figures"
    figures.mkdir()
    _compare_files(
        figures, "ppo", "CartPole-v1", {"nngym": (500.0, 0.0), "sb3": (500.0, 0.0)}, {"nngym": 3100, "sb3": 1000}
    )
    _compare_files(
        figures, "dqn", "Acrobot-v1", {"nngym": (-95.0, 4.0), "sb3": (-80.0, 2.0)}, {"nngym": 390, "sb3": 200}, seeds=2
    )
    rows = zoo_table.main(["--figures", str(figures), "--out", str(tmp_path / "out"), "--benchmark", str(bench)])
    ppo, dqn, a2c = rows
    assert ppo["return_met"] and ppo["speed_met"] and ppo["cpu_ratio"] == pytest.approx(3.1)
    assert ppo["status"] == "done" and ppo["nngym_seconds"] == [10.0, 20.0, 30.0]
    assert not dqn["return_met"] and dqn["return_shortfall"] == pytest.approx(-76.639 - 11.752 + 95.0)
    assert not dqn["speed_met"] and dqn["cpu_ratio"] == pytest.approx(1.95) and dqn["status"] == "partial"
    assert a2c["status"] == "not run"
    md = (tmp_path / "out" / "zoo_table.md").read_text().splitlines()
    assert len(md) == 5 and all(line.count("|") == md[0].count("|") for line in md)
    assert "| met | met |" in md[2] and "3.10" in md[2] and "nngym 10/20/30 (CPU 5/10/15)" in md[2]
    assert "miss by 6.6" in md[3] and "miss (1.95 < 2)" in md[3] and "(2 seeds)" in md[3]
    assert "LunarLander-v3 (zoo: LunarLander-v2)" in md[4] and "not run" in md[4]
    with open(tmp_path / "out" / "zoo_table.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["status"] for r in table] == ["done", "partial", "not run"]


def test_the_kept_benchmark_figures() -> None:
    rows = zoo_table.read_benchmark()
    keys = {(r["algo"], r["env"]) for r in rows}
    envs = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0", "LunarLander-v3")
    assert keys == {(a, e) for a in ("ppo", "a2c") for e in envs} | {
        ("dqn", e) for e in envs if "Pendulum" not in e and "Continuous" not in e
    }
    ppo_cartpole = next(r for r in rows if (r["algo"], r["env"]) == ("ppo", "CartPole-v1"))
    assert (ppo_cartpole["mean_reward"], ppo_cartpole["std_reward"], ppo_cartpole["n_timesteps"]) == (
        500.0,
        0.0,
        100_000,
    )
    assert {r["zoo_env"] for r in rows if r["env"] == "LunarLander-v3"} == {"LunarLander-v2"}
    assert (zoo_table.BENCHMARK.parent / "LICENSE_rl-baselines3-zoo").read_text().startswith("MIT License")


def test_a_miss_never_prints_as_its_bar():
    assert zoo_table._below(1.95, 2) == "1.95"
    assert zoo_table._below(1.996, 2) == "1.996"  # two decimals would print "2.00 < 2"
    assert zoo_table._below(2.9949, 3) == "2.99"
