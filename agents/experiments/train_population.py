"""The train runner for several seeds of one configuration at once: one population (``agents.common.population``).

Writes what ``agents.experiments.train`` writes for each seed, into the same directories
``<log-dir>/<algo>_<env>_s<seed>/``: monitor.csv, progress.csv, model.npz (an ordinary model file), eval.json and
reward_curve.png, so compare, plot and the sweep's report read the runs as single runs. eval.json's
``train_seconds`` / ``train_cpu_seconds`` are the population's seconds divided by the number of seeds (each
seed's share of the one process), and ``population`` holds the whole population's seconds and seeds.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents import ALGOS
from agents.experiments.cli import check_threads, env_id, env_slug, non_negative_int, reported_as_errors
from agents.experiments.train import evaluation, mean_std, plot_rewards, run_hyperparameters

#: The train runner's algorithms a population trains (``agents.common.population.ENGINES``).
POPULATION_ALGOS = ("ppo", "a2c", "dqn")


def run_dir(log_dir: str | Path, algo: str, env: str, seed: int | str) -> Path:
    """``<log_dir>/<algo>_<env>_s<seed>``, the train runner's run directory (``env_slug``: a "/" or ":" in the env
    id becomes "-")."""
    return Path(log_dir) / f"{algo}_{env_slug(env)}_s{seed}"


def train_population(
    algo: str,
    env: str,
    seeds: Sequence[int],
    log_dir: str | Path,
    total_timesteps: int | None = None,
    n_eval_episodes: int = 20,
    hyperparams_file: str | None = None,
    hyperparams: Sequence[str] = (),
    verbose: int = 0,
    num_threads: int = 1,
) -> list[dict[str, Any]]:
    """Trains ``seeds`` of ``algo`` on ``env`` as one population and writes each seed's run directory.

    Args:
        algo: "ppo", "a2c" or "dqn".
        env: Env id.
        seeds: The seeds, two or more distinct ints.
        log_dir: Parent of the run directories (``run_dir``); ``{seed}`` in it is filled in with each seed (the
            sweep gives every seed a parent of its own).
        total_timesteps: Env steps per seed (default: the yml's n_timesteps; 0 trains nothing, as train.py).
        n_eval_episodes: Deterministic evaluation episodes of each member (seed 10,000 + its seed, as train.py; 0
            skips the evaluation).
        hyperparams_file: A zoo-style YAML instead of agents/hyperparams/<algo>.yml.
        hyperparams: ``KEY=VALUE`` overrides (YAML values), as train.py's ``-p``: merged into the yml's entry and
            translated with it (``agents.experiments.train.run_hyperparameters``).
        verbose: The agents' verbosity.
        num_threads: The population's threads (``Population.num_threads``: its members' updates in up to that many
            parts side by side; -1 every core). One keeps comparisons at one core a run.

    Returns:
        Each seed's eval.json content.

    Raises:
        ValueError: For an algorithm or configuration a population does not train (env wrappers, frame stacks,
            CNN policies, gSDE ...), naming it; the caller trains those seeds one by one.
    """
    if algo not in POPULATION_ALGOS:
        raise ValueError(f"a population trains {POPULATION_ALGOS}, got {algo!r}")
    config = run_hyperparameters(algo, env, hyperparams_file, hyperparams)
    if config.wrapping:
        raise ValueError(f"{env}: env_wrapper / frame_stack entries are trained one seed per process")
    hp = config.agent
    total = config.n_timesteps if total_timesteps is None else total_timesteps
    folders = {seed: run_dir(str(log_dir).replace("{seed}", str(seed)), algo, env, seed) for seed in seeds}
    pop = ALGOS[algo](env, seed=list(seeds), verbose=verbose, **hp)
    pop.num_threads = num_threads
    for m in pop.members:  # each member's monitor.csv and progress.csv in its own run directory
        m.log_dir = folders[m.seed]
    t0, cpu0 = time.perf_counter(), time.process_time()
    pop.learn(total)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    k = len(pop)
    results = []
    for m in pop.members:
        folder = folders[m.seed]
        m.save(folder / "model.npz")
        returns = evaluation(m, env, n_eval_episodes, 10_000 + m.seed)
        share, cpu_share = max(seconds / k, 1e-9), cpu_seconds / k
        result = {
            "impl": "nngym",
            "algo": algo,
            "env": env,
            "env_kwargs": {},
            "seed": m.seed,
            "num_threads": pop.learning_threads(),
            "total_timesteps": m.num_timesteps,
            "train_seconds": round(share, 2),
            "steps_per_second": round(m.num_timesteps / share),  # the steps taken: rollouts may overshoot total
            "train_cpu_seconds": round(cpu_share, 2),
            "steps_per_cpu_second": round(m.num_timesteps / max(cpu_share, 1e-9)),
            "hyperparams_file": hyperparams_file,
            **mean_std(returns),
            "n_eval_episodes": n_eval_episodes,
            "hyperparams": config.recorded(),
            "population": {
                "seeds": pop.seeds,
                "train_seconds": round(seconds, 2),
                "train_cpu_seconds": round(cpu_seconds, 2),
                "parts": len(pop.engine.parts),
            },
        }
        (folder / "eval.json").write_text(json.dumps(result, indent=2))
        plot_rewards(folder, f"nngym {algo.upper()} {env} seed {m.seed} (population of {k})")
        print(json.dumps({key: v for key, v in result.items() if key != "hyperparams"}), flush=True)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Command line: ``python -m agents.experiments.train_population --algo ppo --env CartPole-v1 --seeds 0 1 2``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default="ppo", choices=POPULATION_ALGOS)
    p.add_argument("--env", type=env_id, default="CartPole-v1")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--log-dir", default="runs/", help="parent of the run directories; {seed} is filled in")
    p.add_argument(
        "--total-timesteps",
        type=non_negative_int,
        default=None,
        help="default: the yml's n_timesteps; 0 trains nothing",
    )
    p.add_argument("--n-eval-episodes", type=non_negative_int, default=20, help="0 skips the evaluation")
    p.add_argument("--hyperparams-file", default=None)
    p.add_argument("-p", "--hyperparams", nargs="*", action="extend", default=[], metavar="KEY=VALUE")
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument(
        "--num-threads",
        type=int,
        default=1,
        help="threads of the population: its members' updates in up to N parts side by side (-1: every core)",
    )
    args = p.parse_args(argv)
    check_threads(args.num_threads, "every core")
    with reported_as_errors():  # as train.py: bad seeds, hyperparameters or env arguments end in one error: line
        return train_population(
            args.algo,
            args.env,
            args.seeds,
            args.log_dir,
            args.total_timesteps,
            args.n_eval_episodes,
            args.hyperparams_file,
            args.hyperparams,
            args.verbose,
            args.num_threads,
        )


if __name__ == "__main__":  # python -m agents.experiments.train_population (what sweeps run)
    main()
