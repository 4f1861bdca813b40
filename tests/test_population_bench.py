"""The population benchmark's rows, table and figure (agents.experiments.population_bench), on a tiny job."""

from __future__ import annotations

import pytest

from agents import load_hyperparams
from agents.experiments.population_bench import bench_population, population_figure, population_table


def test_rows_per_k_and_thread_count_share_the_single_runs(tmp_path):
    hp = load_hyperparams("a2c", "CartPole-v1")
    hp.pop("n_timesteps")
    jobs = {"a2c": {"algo": "a2c", "env": "CartPole-v1", "hp": hp, "steps": 80}}
    logged = []
    rows = bench_population(jobs, [1, 2], eval_episodes=1, log=logged.append, threads=[1, 2])
    assert [(r["K"], r["threads"]) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(r["parts"] == 1 for r in rows)  # 40-row A2C members: too little work for a second part
    assert sum('"single_s"' in line for line in logged) == 2  # seeds 0 and 1, each run once
    for r in rows:
        assert r["singles_s"] == pytest.approx(rows[2 * (r["K"] - 1)]["singles_s"])
        assert r["ratio"] >= 0 and "population_in_single_runs" in r
        assert len(r["member_eval"]) == r["K"] and len(r["single_eval"]) == r["K"]
    table = population_table(rows)
    assert "| a2c | 80 | 2 | 2 (1) |" in table
    paths = population_figure(rows, tmp_path / "population")
    assert [p.read_bytes()[:4] for p in paths] == [b"\x89PNG", b"<?xm"]
