"""Wall time of a population of K seeds against K single runs of the same seeds, in one process.

For each job (algorithm, env, hyperparameters, steps) and each K: ``ALGOS[algo](env, seed=[0, …, K − 1], **hp)``
trains for the job's steps per member, and the single runs of seeds 0 … K − 1 (each run once, the runs of
seeds below K shared by every K) train one after another; populations and single runs alternate (population
K, then the single runs it adds), so both see the same machine load. Every trained member and single run is
evaluated (deterministic, ``eval_episodes`` episodes).

Reported per job and K, in wall-clock and in CPU seconds of the process (one BLAS thread, so a single run's CPU
seconds are the wall time of an otherwise idle core; a population with ``threads`` > 1 adds up its threads' CPU):
the population's seconds, the K single runs' seconds (their sum), the
ratio, seconds per seed of each, and the population's time in units of one seed's single run (the mean single run).
``population_figure`` draws seconds per seed against K.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents import ALGOS, evaluate


def _timed_learn(agent: Any, steps: int) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of this process) of ``agent.learn(steps)``."""
    t0, c0 = time.perf_counter(), time.process_time()
    agent.learn(steps)
    return time.perf_counter() - t0, time.process_time() - c0


def bench_population(
    jobs: dict[str, dict[str, Any]],
    ks: Sequence[int],
    eval_episodes: int = 20,
    log: Any = print,
    threads: Sequence[int] = (1,),
) -> list[dict[str, Any]]:
    """Rows ``{job, algo, env, steps, K, threads, population_s, singles_s, ratio, ...}``, one per job, K and thread
    count (module docstring).

    Args:
        jobs: Job name -> {"algo", "env", "hp", "steps"} (``scripts/bench_agents.py``'s table).
        ks: Population sizes, e.g. (1, 2, 4, 8, 16).
        eval_episodes: Deterministic evaluation episodes per member and single run (0: none).
        log: Called with each measurement as a JSON line.
        threads: The populations' ``num_threads``, each measured in turn for every K (their updates in up to that
            many parts on as many cores); the single runs keep one thread.
    """
    rows = []
    for name, job in jobs.items():
        cls, env, hp, steps = ALGOS[job["algo"]], job["env"], job["hp"], job["steps"]
        single_s: dict[int, float] = {}
        single_cpu: dict[int, float] = {}
        single_eval: dict[int, float] = {}
        for k in sorted(ks):
            pops = {}
            for t in threads:
                pop = cls(env, seed=list(range(k)), **hp)
                pop.num_threads = t
                pop_s, pop_cpu = _timed_learn(pop, steps)
                evals = [
                    evaluate(m, env, eval_episodes, seed=10_000 + m.seed)[0] if eval_episodes else None
                    for m in pop.members
                ]
                pops[t] = (pop_s, pop_cpu, evals, len(pop.engine.parts))
                log(
                    json.dumps(
                        {
                            "job": name,
                            "K": k,
                            "threads": t,
                            "parts": len(pop.engine.parts),
                            "population_s": round(pop_s, 2),
                            "cpu_s": round(pop_cpu, 2),
                            "member_eval": evals,
                        }
                    )
                )
            for seed in range(k):
                if seed in single_s:
                    continue
                agent = cls(env, seed=seed, **hp)
                single_s[seed], single_cpu[seed] = _timed_learn(agent, steps)
                single_eval[seed] = (
                    evaluate(agent, env, eval_episodes, seed=10_000 + seed)[0] if eval_episodes else None
                )
                log(
                    json.dumps(
                        {"job": name, "seed": seed, "single_s": round(single_s[seed], 2), "eval": single_eval[seed]}
                    )
                )
            singles = sum(single_s[s] for s in range(k))
            singles_cpu = sum(single_cpu[s] for s in range(k))
            for t, (pop_s, pop_cpu, evals, parts) in pops.items():
                rows.append(
                    {
                        "job": name,
                        "algo": job["algo"],
                        "env": env,
                        "steps": steps,
                        "K": k,
                        "threads": t,
                        "parts": parts,
                        "population_s": round(pop_s, 2),
                        "singles_s": round(singles, 2),
                        "ratio": round(pop_s / singles, 3),
                        "population_s_per_seed": round(pop_s / k, 3),
                        "single_s_per_seed": round(singles / k, 3),
                        "population_cpu_s": round(pop_cpu, 2),
                        "singles_cpu_s": round(singles_cpu, 2),
                        "cpu_ratio": round(pop_cpu / singles_cpu, 3),
                        "population_cpu_s_per_seed": round(pop_cpu / k, 3),
                        "single_cpu_s_per_seed": round(singles_cpu / k, 3),
                        "member_eval": evals,
                        "single_eval": [single_eval[s] for s in range(k)],
                    }
                )
        one, one_cpu = float(np.mean(list(single_s.values()))), float(np.mean(list(single_cpu.values())))
        for row in rows:
            if row["job"] == name:
                row["population_in_single_runs"] = round(row["population_s"] / one, 2)
                row["population_cpu_in_single_runs"] = round(row["population_cpu_s"] / one_cpu, 2)
    return rows


def population_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per job and K, population vs K single runs (seconds, ratio, seconds per seed, evaluations)."""
    lines = [
        "| job | steps | K | population threads (parts) | population s (CPU s) | K single runs s (CPU s) | "
        "population ÷ singles, wall (CPU) | "
        "CPU s per seed, population / single | population ÷ one single run, wall (CPU) | members ≥ 475 | "
        "single runs ≥ 475 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        hits = ["–", "–"]
        for i, key in enumerate(("member_eval", "single_eval")):
            ev = [e for e in r[key] if e is not None]
            if ev:
                hits[i] = f"{sum(e >= 475 for e in ev)} of {len(ev)}"
        lines.append(
            f"| {r['job']} | {r['steps']:,} | {r['K']} | {r.get('threads', 1)} ({r.get('parts', 1)}) | "
            f"{r['population_s']:.1f} ({r['population_cpu_s']:.1f}) | "
            f"{r['singles_s']:.1f} ({r['singles_cpu_s']:.1f}) | {r['ratio']:.2f} ({r['cpu_ratio']:.2f}) | "
            f"{r['population_cpu_s_per_seed']:.2f} / {r['single_cpu_s_per_seed']:.2f} | "
            f"{r['population_in_single_runs']:.2f}× ({r['population_cpu_in_single_runs']:.2f}×) | "
            f"{hits[0]} | {hits[1]} |"
        )
    return "\n".join(lines)


def population_figure(rows: list[dict[str, Any]], out: str | Path) -> list[Path]:
    """Seconds per seed against K, populations (solid, one colour per job and thread count) and single runs
    (dashed): CPU seconds (left; a population's threads added up) and wall-clock seconds (right; on a shared
    machine they also count other processes' turns); png and svg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind, ylabel in (
        (axes[0], "_cpu", "CPU seconds per seed (all threads)"),
        (axes[1], "", "wall-clock seconds per seed (shared machine)"),
    ):
        singles_drawn: set[str] = set()
        for i, (name, t) in enumerate(dict.fromkeys((r["job"], r.get("threads", 1)) for r in rows)):
            sel = [r for r in rows if r["job"] == name and r.get("threads", 1) == t]
            ks, label = [r["K"] for r in sel], f"{name} ({sel[0]['steps']:,} steps)"
            pop = [r[f"population{kind}_s_per_seed"] for r in sel]
            ax.plot(ks, pop, "o-", color=f"C{i}", label=f"{label}, population on {t} thread{'s' * (t > 1)}")
            if name not in singles_drawn:  # the single runs are shared by every thread count
                singles_drawn.add(name)
                single = [r[f"single{kind}_s_per_seed"] for r in sel]
                ax.plot(ks, single, "s--", color=f"C{i}", alpha=0.6, label=f"{label}, single runs")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["K"] for r in rows}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("seeds K")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    counts = sorted({r.get("threads", 1) for r in rows})
    where = "one core" if counts == [1] else "single runs on one thread"
    fig.suptitle(f"K seeds as one population vs K single runs ({rows[0]['env']}, {where})")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
    return paths
