"""Training speed: nngym's agents vs Stable-Baselines3 and SBX (SB3 on JAX), side by side in one process.

Each job is one algorithm on one env with one set of hyperparameters and steps, the same for every
implementation; per seed the implementations run one after another (their order rotated from seed to
seed), so a ratio compares runs made under the same load. ::

    JAX_PLATFORMS=cpu taskset -c 0 python scripts/bench_agents.py --seeds 0 1 2

Jobs (``--jobs``, default all):

- ``ppo``, ``a2c``, ``dqn``: CartPole-v1 (``--env``) with agents/hyperparams/<algo>.yml, the yml's n_timesteps.
- ``ppo-cnn``: the main job's env, PPO-CNN on nngym/DigitClassify-v0 (ppo.yml's entry), 50k steps (``--cnn-steps``);
  SB3 gets the same CNN (``agents.baselines.sb3.SpecCNN``). Evaluated by MNIST test accuracy.
- ``dqn-acrobot``: DQN on Acrobot-v1 with rl-baselines3-zoo's values (agents/hyperparams/zoo/dqn.yml: 256x256,
  batch 128, a gradient step per env step), ``--acrobot-steps`` (default 20k of the zoo's 100k: a speed figure).

Prints, per run, seconds of ``learn`` and env steps per second of each implementation and the deterministic
evaluation (``--eval-episodes``, 0 to skip); then per job the mean ± std over seeds and the ratios nngym ÷ SB3
and nngym ÷ SBX (their mean and minimum over seeds). SBX's time includes its JIT compilation, as a user sees it.

Every implementation runs the same algorithm: an option of the yml entry that one of the compared implementations
has no counterpart for (``agents.baselines.sb3.SB3_LACKS``, ``agents.baselines.sbx.SBX_LACKS``: DQN's ``double_q``,
and ``max_grad_norm`` for SBX) is dropped for all of them, nngym included, and the job prints what was dropped; each
then runs its own default for it (DQN: no Double DQN, gradients clipped at norm 10 where the implementation clips).
``--nngym-entry`` gives nngym the whole yml entry instead (more work than the baselines do: a figure of nngym's own
configuration, not a like-for-like ratio).
sbx has no A2C and no CNN of nngym's specs: those rows have no SBX column. ``--impls`` picks implementations;
a missing optional package (``pip install -e ".[baselines]"``, ``".[sbx]"``) drops its column with a message.

``--population K [K ...]`` measures instead nngym's populations (``PPO(env, seed=[0, …, K − 1])``) against K single
runs of the same seeds, one after another in this process (``agents.experiments.population_bench``)::

    taskset -c 1 python scripts/bench_agents.py --jobs ppo --population 1 2 4 8 16

``--num-threads N`` (default 1) gives nngym's agents and SB3's torch N threads each (nngym splits a CNN's batches
across them, ``nngym.parallel``); with ``--population`` it is the populations' threads (their members' updates in
up to N parts side by side, ``agents.common.population_parts``; the single runs keep one), and
``--population-threads 1 2`` measures populations on each count in turn for every K::

    python scripts/bench_agents.py --jobs dqn --population 1 2 4 8 --population-threads 1 2

Run it without ``taskset`` for N > 1.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import ALGOS, evaluate, load_hyperparams
from agents.common.evaluation import classification_accuracy
from agents.experiments.cli import env_id, non_negative_int
from agents.experiments.population_bench import bench_population, population_figure, population_table

ROOT = Path(__file__).resolve().parents[1]
DIGITS = "nngym/DigitClassify-v0"


def job_table(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Job name -> {algo, env, hp (without n_timesteps), steps}."""
    jobs = {}
    for name in args.jobs:
        if name in ("ppo", "a2c", "dqn"):
            algo, env, hp = name, args.env, load_hyperparams(name, args.env)
        elif name == "ppo-cnn":
            algo, env, hp = "ppo", DIGITS, load_hyperparams("ppo", DIGITS)
            hp["n_timesteps"] = args.cnn_steps
        elif name == "dqn-acrobot":
            algo, env, hp = "dqn", "Acrobot-v1", load_hyperparams("dqn", "Acrobot-v1", args.zoo_dqn)
            hp["n_timesteps"] = args.acrobot_steps
        else:
            raise ValueError(f"unknown job {name!r}; expected ppo, a2c, dqn, ppo-cnn or dqn-acrobot")
        steps = args.steps or int(hp.pop("n_timesteps"))
        hp.pop("n_timesteps", None)
        jobs[name] = {"algo": algo, "env": env, "hp": hp, "steps": steps}
    return jobs


def without(hp: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    """``hp`` without the options in ``dropped`` (each implementation then runs its default for them)."""
    return {k: v for k, v in hp.items() if k not in dropped}


def baselines(impls: list[str]) -> dict[str, tuple[Any, Any]]:
    """Implementation name -> (make agent, hyperparameters it takes) for the importable baselines."""
    out = {}
    if "sb3" in impls:
        try:
            from agents.baselines.sb3 import SB3_ALGOS, sb3_agent, sb3_hyperparams

            out["sb3"] = (sb3_agent, sb3_hyperparams, SB3_ALGOS)
        except ImportError as e:
            print(f"no SB3 column ({e}); pip install -e '.[baselines]'", flush=True)
    if "sbx" in impls:
        try:
            from agents.baselines.sbx import SBX_ALGOS, sbx_agent, sbx_hyperparams

            out["sbx"] = (sbx_agent, sbx_hyperparams, SBX_ALGOS)
        except ImportError as e:
            print(f"no SBX column ({e}); pip install -e '.[sbx]'", flush=True)
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", nargs="+", default=["ppo", "a2c", "dqn", "ppo-cnn", "dqn-acrobot"])
    p.add_argument("--algos", nargs="+", default=None, help="alias of --jobs (ppo a2c dqn)")
    p.add_argument("--env", type=env_id, default="CartPole-v1", help="env of the ppo, a2c and dqn jobs")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--steps", type=int, default=None, help="every job's steps (default: each job's own)")
    p.add_argument("--cnn-steps", type=int, default=50_000)
    p.add_argument("--acrobot-steps", type=int, default=20_000)
    p.add_argument("--zoo-dqn", default=str(ROOT / "agents" / "hyperparams" / "zoo" / "dqn.yml"))
    p.add_argument("--impls", nargs="+", default=["nngym", "sb3", "sbx"], choices=["nngym", "sb3", "sbx"])
    p.add_argument("--skip-sb3", action="store_true", help="same as --impls without sb3")
    p.add_argument(
        "--nngym-entry",
        action="store_true",
        help="nngym runs the whole yml entry, options the baselines lack included (default: the options all have)",
    )
    p.add_argument("--eval-episodes", type=non_negative_int, default=20, help="0 skips the evaluation")
    p.add_argument(
        "--population",
        nargs="+",
        type=int,
        default=None,
        metavar="K",
        help="instead: K seeds as one population vs K single runs (nngym only; agents.experiments.population_bench)",
    )
    p.add_argument("--out", default="docs/figures", help="with --population: directory of the table and figure")
    p.add_argument(
        "--population-threads",
        nargs="+",
        type=int,
        default=None,
        metavar="N",
        help="with --population: the populations' thread counts, each measured for every K (default: --num-threads)",
    )
    p.add_argument(
        "--num-threads",
        type=int,
        default=1,
        help="threads of nngym's agents (BaseAgent.num_threads) and SB3's torch (SBX's JAX uses the cores the process "
        "may run on, so pin with taskset for one)",
    )
    args = p.parse_args(argv)
    if args.num_threads < 1:
        raise SystemExit(f"error: --num-threads: expected a count >= 1, got {args.num_threads}")
    if args.algos:
        args.jobs = args.algos
    if args.population:
        return population(args)
    impls = [i for i in args.impls if not (args.skip_sb3 and i == "sb3")]
    jobs, base = job_table(args), baselines(impls)
    makers: dict[str, dict[str, Any]] = {}
    for name, job in jobs.items():
        runs = {  # the baselines that run this job: impl -> (make, options of the entry they lack)
            impl: (make, translate(job["algo"], job["hp"])[1])
            for impl, (make, translate, algos) in base.items()
            if job["algo"] in algos and not (impl == "sbx" and job["hp"].get("net", "mlp") != "mlp")
        }
        lacking = sorted({k for _, keys in runs.values() for k in keys})
        if lacking and not args.nngym_entry:
            print(f"{name}: every implementation runs without {lacking} (not in {', '.join(runs)})", flush=True)
        makers[name] = {}
        if "nngym" in impls:
            hp = job["hp"] if args.nngym_entry else without(job["hp"], lacking)
            makers[name]["nngym"] = lambda s, j=job, h=hp: ALGOS[j["algo"]](j["env"], seed=s, **h)
        for impl, (make, keys) in runs.items():
            if keys and args.nngym_entry:
                print(f"{name}: {impl} runs without {keys} (no counterpart)", flush=True)
            hp = without(job["hp"], keys if args.nngym_entry else lacking)
            makers[name][impl] = lambda s, j=job, h=hp, m=make: m(j["algo"], j["env"], s, **h)
    rows = []
    for name, job in jobs.items():
        for n_seed, seed in enumerate(args.seeds):
            row: dict[str, Any] = {"job": name, "env": job["env"], "seed": seed, "steps": job["steps"]}
            row["num_threads"] = args.num_threads
            order = list(makers[name])
            order = order[n_seed % len(order) :] + order[: n_seed % len(order)]
            for impl in order:
                agent = makers[name][impl](seed)
                if impl == "nngym":
                    agent.num_threads = args.num_threads
                elif impl == "sb3":
                    agent.torch_threads = args.num_threads
                t0 = time.perf_counter()
                agent.learn(job["steps"])
                sec = time.perf_counter() - t0
                row[f"{impl}_s"] = round(sec, 2)
                row[f"{impl}_sps"] = round(job["steps"] / sec)
                if args.eval_episodes and job["env"] == DIGITS:
                    row[f"{impl}_test_acc"] = round(classification_accuracy(agent), 4)
                elif args.eval_episodes:
                    row[f"{impl}_eval"] = evaluate(agent, job["env"], args.eval_episodes, seed=10_000 + seed)[0]
            for impl in ("sb3", "sbx"):
                if f"{impl}_s" in row and "nngym_s" in row:
                    row[f"nngym/{impl}"] = round(row[f"{impl}_s"] / row["nngym_s"], 2)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(summary(rows, jobs))
    return rows


def population(args: argparse.Namespace) -> list[dict]:
    """``--population K ...``: each job's populations of K seeds vs K single runs; writes
    ``<out>/population_<jobs>.md`` / ``.json`` and the seconds-per-seed figure ``population_<jobs>.png`` / ``.svg``."""
    jobs = job_table(args)
    rows = bench_population(
        jobs,
        args.population,
        args.eval_episodes,
        log=lambda line: print(line, flush=True),
        threads=args.population_threads or [args.num_threads],
    )
    table = population_table(rows)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"population_{'_'.join(jobs)}"
    stem.with_suffix(".md").write_text(table + "\n")
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    for path in population_figure(rows, stem):
        print(f"wrote {path}")
    return rows


def summary(rows: list[dict], jobs: dict[str, dict[str, Any]]) -> str:
    """Markdown table: per job, seconds mean ± std (steps/s) of each implementation, speed ratios mean (min)."""
    lines = [
        "| job | env | steps | seeds | nngym s (steps/s) | SB3 s (steps/s) | SBX s (steps/s) "
        "| nngym ÷ SB3 | nngym ÷ SBX |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, job in jobs.items():
        sel = [r for r in rows if r["job"] == name]
        if not sel:
            continue
        cells = [name, job["env"], str(job["steps"]), str(len(sel))]
        for impl in ("nngym", "sb3", "sbx"):
            s = np.array([r[f"{impl}_s"] for r in sel if f"{impl}_s" in r])
            cells.append(f"{s.mean():.1f} ± {s.std():.1f} ({job['steps'] / s.mean():,.0f})" if len(s) else "–")
        for impl in ("sb3", "sbx"):
            ratio = np.array([r[f"nngym/{impl}"] for r in sel if f"nngym/{impl}" in r])
            cells.append(f"{ratio.mean():.2f}× (min {ratio.min():.2f})" if len(ratio) else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
