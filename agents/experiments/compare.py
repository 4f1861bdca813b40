"""nngym's agents side by side with Stable-Baselines3's: same env, hyperparameters (agents/hyperparams), seeds, steps.

    python scripts/compare.py --env CartPole-v1 --algo ppo --seeds 0 1 2
    python scripts/compare.py --env CartPole-v1 Acrobot-v1 --algo ppo --seeds 0 1 2 3 4 \
        --hyperparams-file agents/hyperparams/zoo/ppo.yml   # several envs, the zoo's entries

    python scripts/compare.py --env Acrobot-v1 --algo dqn --hyperparams-file zoo/hyperparams/dqn.yml --log-dir runs/zoo

Trains each implementation x seed with the train runner (``agents.experiments.train``) into
``<log-dir>/<impl>/<algo>_<env>_s<seed>/``
(a finished run is reused, not retrained, when its eval.json shows the hyperparameters this command would train
with, the yml's entry with the -p overrides as ``train.py`` reads them, from the same --hyperparams-file, and at
least as many steps; otherwise it is trained again, saying why. A reused run whose final evaluation was not over
--n-eval-episodes episodes, eval.json's n_eval_episodes, or does not say, has its saved model evaluated again,
saying so); nngym's seeds of
PPO, A2C and DQN train together as one population in one process (``agents.experiments.train_population``: the
same files per seed, ``train_seconds`` each seed's share), ``--no-population`` trains them one by one. Then it
writes to ``--out`` (default docs/figures):

- ``compare_<algo>_<env>.md`` and ``.csv``: per implementation, the final deterministic evaluation return
  (mean ± std over seeds of each seed's mean over --n-eval-episodes), the mean training return of the
  last --window episodes (monitor.csv), env steps until that mean first reaches the env's reward
  threshold, wall-clock seconds of ``learn``, env steps per second, and the steps/s ratio to SB3, and the same
  from the CPU seconds of ``learn`` (steps per CPU-second and its ratio: unlike wall-clock time, not inflated when
  other processes pre-empt the runs);
- ``compare_<algo>_<env>_runs.csv``: the same numbers per seed;
- ``compare_<algo>_<env>.png`` / ``.svg``: reward curves against env steps and against seconds
  (scripts/plot.py's figure), and ``_accuracy`` figures for DigitClassify, whose table also has the
  deterministic policy's accuracy on the 10,000 test images (eval.json's test_accuracy);
- aggregate statistics of the final evaluation returns (``agents.experiments.stats``, Agarwal et al. 2021),
  in the .md and in ``compare_<algo>_<env>_stats.csv``: per implementation the IQM and the mean with 95%
  stratified-bootstrap confidence intervals over seeds, and the probability that an nngym run beats an SB3
  run, P(nngym > SB3), with its interval; ``compare_<algo>_<env>_profile.png`` / ``.svg`` is the
  performance profile (fraction of runs above each return, with bands).

``--log-dir`` and ``--out`` are created before any run trains: a folder that cannot be (a file in its way, a
read-only file system) ends the command in one ``error:`` line, not after the training. The closing ``wrote`` line
(stderr) lists every file written.

With several ``--env``, each env gets its files and ``compare_<algo>_aggregate.md`` / ``_stats.csv`` /
``_profile.png`` aggregate over envs with normalised scores: (score − random policy's mean return) /
(the env's reward threshold, or the best run's score without one, − random policy's), 0 for acting at
random and 1 at the reference; the bootstrap resamples seeds within each env.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs  # noqa: F401 - registers the nngym/ env ids
from agents.common.hyperparams import ENV_KEYS
from agents.experiments import stats, train
from agents.experiments.cli import (
    env_id,
    env_slug,
    finite_float,
    non_negative_int,
    positive_int,
    reported_as_errors,
    writable_folder,
)
from agents.experiments.plotting import (
    MonitorFileError,
    Run,
    final_return,
    load_run,
    plot_groups,
    plot_performance_profiles,
    reward_threshold,
    steps_to_threshold,
)
from agents.experiments.train_population import POPULATION_ALGOS, train_population


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--env", nargs="+", type=env_id, default=["CartPole-v1"], help="one env id, or several (aggregate table)"
    )
    p.add_argument("--algo", default="ppo")
    p.add_argument("--seeds", nargs="+", type=non_negative_int, default=[0, 1, 2])
    p.add_argument(
        "--sb3-seeds",
        nargs="+",
        type=non_negative_int,
        default=None,
        help="SB3's seeds when they differ from --seeds (e.g. 16 nngym seeds as one population next to SB3's 3)",
    )
    p.add_argument("--impl", nargs="+", default=["nngym", "sb3"], choices=["nngym", "sb3"])
    p.add_argument("--total-timesteps", type=positive_int, default=None, help="default: the yml's n_timesteps")
    p.add_argument("--log-dir", default="runs/compare", help="the runs' folder: <log-dir>/<impl>/<algo>_<env>_s<seed>")
    p.add_argument(
        "--hyperparams-file",
        default=None,
        help="zoo-style YAML for both implementations (train.py --hyperparams-file), e.g. rl-baselines3-zoo's "
        "hyperparams/ppo.yml; default agents/hyperparams/<algo>.yml",
    )
    p.add_argument(
        "--out", default="docs/figures", help="directory for the table and figures, created before any run trains"
    )
    p.add_argument(
        "--n-eval-episodes", type=positive_int, default=20, help="deterministic evaluation episodes (the table's)"
    )
    p.add_argument("--window", type=positive_int, default=100, help="episodes in the moving mean (threshold, curves)")
    p.add_argument("--threshold", type=finite_float, default=None, help="default: the env's reward_threshold")
    p.add_argument("--retrain", action="store_true", help="train again even if a finished run exists")
    p.add_argument(
        "--population",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train nngym's seeds (PPO, A2C, DQN) as one population in one process (--no-population: one by one)",
    )
    p.add_argument(
        "-p", "--hyperparams", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help="passed to train.py"
    )
    p.add_argument("--bootstrap-reps", type=int, default=50_000, help="bootstrap resamples of the CIs")
    args = p.parse_args(argv)
    for option, seeds in (("--seeds", args.seeds), ("--sb3-seeds", args.sb3_seeds or [])):
        duplicates = sorted({seed for seed in seeds if seeds.count(seed) > 1})
        if duplicates:
            p.error(f"{option}: duplicate seeds {duplicates}")
    if args.bootstrap_reps < 1:
        p.error(f"--bootstrap-reps: expected at least 1 resample, got {args.bootstrap_reps}")
    return args


Configs = dict[str, train.RunHyperparameters]
"""Impl -> the hyperparameters its runs train with."""


def check_hyperparams(args: argparse.Namespace) -> dict[str, Configs]:
    """Reads the hyperparameters of every ``--env`` and implementation, before anything trains: what a run trains
    with (``train.run_hyperparameters``: the yml's entry with the ``-p`` overrides), which also decides whether a
    finished run can be reused, so every env needs its entry.

    Returns:
        Env id -> impl -> its hyperparameters.

    Raises:
        SystemExit: Naming the file and the env id without an entry (or the key that cannot be honoured).
    """
    configs = {}
    for env in args.env:
        with reported_as_errors():
            configs[env] = {impl: _hyperparameters(args, env, impl) for impl in args.impl}
    return configs


def _hyperparameters(args: argparse.Namespace, env: str, impl: str) -> train.RunHyperparameters:
    return train.run_hyperparameters(args.algo, env, args.hyperparams_file, args.hyperparams, impl)


def run_dirs(args: argparse.Namespace, env: str) -> dict[str, dict[int, Path]]:
    """Impl -> seed -> the run directory ``<log-dir>/<impl>/<algo>_<env>_s<seed>``."""
    slug = f"{args.algo}_{env_slug(env)}"
    dirs = {}
    for impl in args.impl:
        seeds = args.seeds if impl == "nngym" or not getattr(args, "sb3_seeds", None) else args.sb3_seeds
        dirs[impl] = {seed: Path(args.log_dir) / impl / f"{slug}_s{seed}" for seed in seeds}
    return dirs


def train_runs(args: argparse.Namespace, env: str, configs: Configs | None = None) -> dict[str, list[Path]]:
    """Impl -> run directories of ``env``, one per seed; trains the missing ones with the train runner.

    A finished run is reused when ``stale_reason`` finds nothing against it, else trained again, saying why; a reused
    run whose final evaluation is not of --n-eval-episodes episodes (``evaluation_reason``) has its saved model
    evaluated again (``train.evaluate_again``), saying why.
    nngym's missing seeds of PPO, A2C and DQN train together as one population (``train_population``) unless
    ``--no-population``; a configuration a population does not take is trained one seed at a time, saying why.

    Args:
        args: compare's arguments.
        env: The env id.
        configs: Impl -> the hyperparameters its runs train with (``check_hyperparams``; default: read here).
    """
    runs: dict[str, list[Path]] = {}
    for impl, dirs in run_dirs(args, env).items():
        config = configs[impl] if configs is not None else _hyperparameters(args, env, impl)
        seeds = list(dirs)
        todo = []
        for seed in seeds:
            if not _finished(args, dirs[seed]):
                todo.append(seed)
            elif (why := stale_reason(args, dirs[seed], config)) is not None:
                print(f"retraining {dirs[seed]}: {why}", flush=True)
                todo.append(seed)
            elif (why := evaluation_reason(args, dirs[seed])) is not None and not (dirs[seed] / "model.npz").exists():
                print(f"retraining {dirs[seed]}: {why}, and it has no model.npz to evaluate again", flush=True)
                todo.append(seed)
            elif why is not None:
                print(f"reusing {dirs[seed]}, its model evaluated again: {why}", flush=True)
                train.evaluate_again(dirs[seed], args.n_eval_episodes)
            else:
                print(f"reusing {dirs[seed]}", flush=True)
        if impl == "nngym" and getattr(args, "population", True) and len(todo) > 1 and args.algo in POPULATION_ALGOS:
            print(f"training nngym {args.algo} {env} seeds {todo} as one population", flush=True)
            try:
                train_population(
                    args.algo,
                    env,
                    todo,
                    Path(args.log_dir) / impl,
                    args.total_timesteps,
                    args.n_eval_episodes,
                    args.hyperparams_file,
                    args.hyperparams,
                )
                todo = []
            except ValueError as e:
                print(f"training the seeds one by one: {e}", flush=True)
        for seed in seeds:
            if seed in todo:
                argv = ["--impl", impl, "--algo", args.algo, "--env", env, "--seed", str(seed)]
                argv += ["--log-dir", str(Path(args.log_dir) / impl), "--n-eval-episodes", str(args.n_eval_episodes)]
                argv += ["--no-progress", "--num-threads", "1"]  # one core each, as SB3 and the population
                if args.hyperparams_file:
                    argv += ["--hyperparams-file", args.hyperparams_file]
                if args.total_timesteps is not None:
                    argv += ["--total-timesteps", str(args.total_timesteps)]
                if args.hyperparams:
                    argv += ["-p", *args.hyperparams]
                print(f"training {impl} {args.algo} {env} seed {seed}", flush=True)
                train.main(argv)
            runs.setdefault(impl, []).append(dirs[seed])
    return runs


def _finished(args: argparse.Namespace, run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished run (eval.json and monitor.csv) and ``--retrain`` was not given."""
    return not args.retrain and (run_dir / "eval.json").exists() and (run_dir / "monitor.csv").exists()


def stale_reason(args: argparse.Namespace, run_dir: Path, config: train.RunHyperparameters) -> str | None:
    """Why the finished run in ``run_dir`` cannot stand for the run this command would train, or None if it can.

    It can when its eval.json shows the same hyperparameter file, the same hyperparameters (``config``: the yml's
    entry with the ``-p`` overrides, translated) and env wrappers, and at least as many env steps
    (``--total-timesteps``, else the entry's n_timesteps). Its final evaluation is ``evaluation_reason``'s concern.
    """
    try:
        meta = json.loads((run_dir / "eval.json").read_text())
    except json.JSONDecodeError as e:
        return f"its eval.json is not valid JSON ({e})"
    if meta.get("hyperparams_file") != args.hyperparams_file:
        return f"trained from --hyperparams-file {meta.get('hyperparams_file')}, not {args.hyperparams_file}"
    differences = _differences(meta.get("hyperparams") or {}, config.recorded())
    if differences:
        return f"trained with other hyperparameters ({differences})"
    wrapping = json.loads(json.dumps(config.wrapping))
    if {k: meta[k] for k in ENV_KEYS if meta.get(k) is not None} != wrapping:
        return f"trained with other env wrappers than {wrapping or 'none'}"
    total = config.n_timesteps if args.total_timesteps is None else args.total_timesteps
    if meta.get("total_timesteps", 0) < total:
        return f"trained {meta.get('total_timesteps', 0)} steps, fewer than {total}"
    return None


def evaluation_reason(args: argparse.Namespace, run_dir: Path) -> str | None:
    """Why the final evaluation in the eval.json of a reusable run is not the one this command reports, or None if
    it is: it must be of ``--n-eval-episodes`` episodes (eval.json's ``n_eval_episodes``; an eval.json written before
    the number was recorded evaluated an unknown number, so it does not count as one)."""
    meta = json.loads((run_dir / "eval.json").read_text())
    n = meta.get("n_eval_episodes")
    wanted = f"--n-eval-episodes {args.n_eval_episodes}"
    if meta.get("eval_mean") is None:
        return f"it has no final evaluation (trained with --n-eval-episodes 0), {wanted} wanted"
    if n is None:
        return f"its eval.json does not say over how many episodes it was evaluated, {wanted} wanted"
    if n != args.n_eval_episodes:
        return f"evaluated over {n} episodes, {wanted} wanted"
    return None


def _differences(stored: dict, wanted: dict) -> str:
    """``"gamma 0.98 -> 0.5, n_epochs unset -> 2"``: the keys whose values differ, stored -> wanted."""
    unset = object()
    changed = [k for k in sorted(set(stored) | set(wanted)) if stored.get(k, unset) != wanted.get(k, unset)]
    show = {k: (stored.get(k, "unset"), wanted.get(k, "unset")) for k in changed}
    return ", ".join(f"{k} {old} -> {new}" for k, (old, new) in show.items())


def summarise(runs: dict[str, list[Run]], threshold: float | None, window: int) -> tuple[list[dict], list[dict]]:
    """(summary rows per impl, rows per run) with the columns of the table."""
    per_run, summary = [], []
    for impl, rs in runs.items():
        for r in rs:
            hit = steps_to_threshold(r, threshold, window) if threshold is not None else None
            per_run.append(
                {
                    "impl": impl,
                    "algo": r.meta["algo"],
                    "env": r.meta["env"],
                    "seed": r.meta["seed"],
                    "timesteps": r.meta["total_timesteps"],
                    "eval_mean": r.meta["eval_mean"],
                    "eval_std": r.meta["eval_std"],
                    "final_return": final_return(r, window),
                    "episodes": len(r.returns),
                    "steps_to_threshold": hit,
                    "seconds": r.meta["train_seconds"],
                    "steps_per_second": r.meta["steps_per_second"],
                    "cpu_seconds": r.meta.get("train_cpu_seconds"),
                    "steps_per_cpu_second": r.meta.get("steps_per_cpu_second"),
                    "test_accuracy": r.meta.get("test_accuracy"),
                }
            )
    sb3_sps = sb3_cpu_sps = None
    for impl in runs:
        rows = [p for p in per_run if p["impl"] == impl]
        hits = [p["steps_to_threshold"] for p in rows if p["steps_to_threshold"] is not None]
        ev, fr = np.array([p["eval_mean"] for p in rows]), np.array([p["final_return"] for p in rows])
        sps = float(np.mean([p["steps_per_second"] for p in rows]))
        cpu_sps = _mean_or_none([p["steps_per_cpu_second"] for p in rows])
        sb3_sps = sps if impl == "sb3" else sb3_sps
        sb3_cpu_sps = cpu_sps if impl == "sb3" else sb3_cpu_sps
        summary.append(
            {
                "impl": impl,
                "algo": rows[0]["algo"],
                "env": rows[0]["env"],
                "n_seeds": len(rows),
                "timesteps": rows[0]["timesteps"],
                "eval_mean": float(ev.mean()),
                "eval_std": float(ev.std()),
                "final_return_mean": float(fr.mean()),
                "final_return_std": float(fr.std()),
                "threshold": threshold,
                "n_reached": len(hits),
                "steps_to_threshold_mean": float(np.mean(hits)) if hits else None,
                "seconds_mean": float(np.mean([p["seconds"] for p in rows])),
                "steps_per_second_mean": sps,
                "cpu_seconds_mean": _mean_or_none([p["cpu_seconds"] for p in rows]),
                "steps_per_cpu_second_mean": cpu_sps,
                "test_accuracy_mean": _mean_or_none([p["test_accuracy"] for p in rows]),
                "test_accuracy_std": _std_or_none([p["test_accuracy"] for p in rows]),
                "populations": populations(runs[impl]),
            }
        )
    for row in summary:
        row["sps_ratio_to_sb3"] = row["steps_per_second_mean"] / sb3_sps if sb3_sps else None
        cpu_sps = row["steps_per_cpu_second_mean"]
        row["cpu_sps_ratio_to_sb3"] = cpu_sps / sb3_cpu_sps if cpu_sps is not None and sb3_cpu_sps else None
    return summary, per_run


def populations(runs: list[Run]) -> list[dict]:
    """The populations the runs were members of (eval.json's ``population``), once each, in order of first member:
    ``{"seeds", "train_seconds", "train_cpu_seconds"}`` of the whole population."""
    found: dict[tuple[int, ...], dict] = {}
    for r in runs:
        pop = r.meta.get("population")
        if pop is not None:
            found.setdefault(tuple(pop["seeds"]), pop)
    return list(found.values())


def _mean_or_none(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _std_or_none(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(np.std(values))


def markdown(summary: list[dict], window: int) -> str:
    """The summary as a Markdown table."""
    thr = summary[0]["threshold"]
    head = [
        "impl",
        "algo",
        "env",
        "seeds",
        "steps",
        "eval return (mean ± std over seeds)",
        f"train return, last {window} ep.",
        f"steps to {thr:g} (runs reaching it)" if thr is not None else "steps to threshold",
        "learn s",
        "steps/s",
        "steps/s ÷ SB3",
        "learn CPU s",
        "steps/CPU-s",
        "steps/CPU-s ÷ SB3",
    ]
    accuracy = all(r["test_accuracy_mean"] is not None for r in summary)
    if accuracy:
        head.insert(7, "test accuracy (10,000 images)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary:
        reach = "n/a" if thr is None else "never" if not r["n_reached"] else f"{r['steps_to_threshold_mean']:,.0f}"
        reach += "" if thr is None else f" ({r['n_reached']}/{r['n_seeds']})"
        ratio = f"{r['sps_ratio_to_sb3']:.2f}" if r["sps_ratio_to_sb3"] is not None else "n/a"
        cpu = r["cpu_seconds_mean"], r["steps_per_cpu_second_mean"], r["cpu_sps_ratio_to_sb3"]
        cells = [
            r["impl"],
            r["algo"],
            r["env"],
            str(r["n_seeds"]),
            f"{r['timesteps']:,}",
            f"{r['eval_mean']:.1f} ± {r['eval_std']:.1f}",
            f"{r['final_return_mean']:.1f} ± {r['final_return_std']:.1f}",
            reach,
            f"{r['seconds_mean']:.1f}",
            f"{r['steps_per_second_mean']:,.0f}",
            ratio,
            "n/a" if cpu[0] is None else f"{cpu[0]:.1f}",
            "n/a" if cpu[1] is None else f"{cpu[1]:,.0f}",
            "n/a" if cpu[2] is None else f"{cpu[2]:.2f}",
        ]
        if accuracy:
            cells.insert(7, f"{100 * r['test_accuracy_mean']:.2f}% ± {100 * r['test_accuracy_std']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    notes = [population_note(r["impl"], pop) for r in summary for pop in r["populations"]]
    return "\n".join(lines) + "\n" + "".join(f"\n{note}\n" for note in notes)


def population_note(impl: str, pop: dict) -> str:
    """The sentence under the table for one population: its seeds trained in one process, so a member's learn s
    and learn CPU s are its 1/K share of the population's time, and that time in all."""
    k = len(pop["seeds"])
    cpu = pop.get("train_cpu_seconds")
    total = f"{pop['train_seconds']:.1f} s wall-clock" + ("" if cpu is None else f", {cpu:.1f} CPU s")
    return (
        f"{impl}: seeds {', '.join(str(s) for s in pop['seeds'])} trained as one population in one process "
        f"({total} for all {k}); their learn s and learn CPU s are each seed's 1/{k} share."
    )


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([{k: "" if v is None else v for k, v in r.items()} for r in rows])


def label(impl: str, algo: str) -> str:
    """ "nngym PPO" / "SB3 PPO"."""
    return f"{'SB3' if impl == 'sb3' else 'nngym'} {algo.upper()}"


def eval_scores(runs: dict[str, list[Run]]) -> dict[str, np.ndarray]:
    """Impl -> its runs' final evaluation returns (eval.json's eval_mean), one per seed."""
    return {impl: np.array([r.meta["eval_mean"] for r in rs], dtype=np.float64) for impl, rs in runs.items()}


def statistics_section(
    score_sets: dict[str, list[np.ndarray]], what: str, reps: int = 50_000, seed: int = 0, digits: int = 1
) -> tuple[str, list[dict]]:
    """(Markdown section, rows) of ``stats.summarize``: IQM and mean with 95% CIs, P(impl > SB3)."""
    rows = stats.summarize(score_sets, reps=reps, seed=seed)
    seeds = sorted({sum(len(t) for t in stats.tasks_of(v)) for v in score_sets.values()})
    text = (
        f"Aggregate statistics of the {what} (Agarwal et al. 2021; {'/'.join(map(str, seeds))} runs per "
        "implementation; "
        "95% stratified-bootstrap confidence intervals, seeds resampled within each env; P(impl > SB3) is the "
        "probability that a run of the implementation scores above a run of SB3's):\n\n"
    )
    return text + stats.markdown(rows, what, digits=digits), rows


def profile_figure(
    score_sets: dict[str, list[np.ndarray]], out: Path, xlabel: str, title: str, algo: str, reps: int = 2000
) -> list[Path]:
    """The performance profiles of ``score_sets`` (``stats.performance_profile``) drawn to ``<out>.png/.svg``."""
    pooled = np.concatenate([t for v in score_sets.values() for t in stats.tasks_of(v)])
    pad = 0.05 * (pooled.max() - pooled.min() or 1.0)
    taus = np.linspace(pooled.min() - pad, pooled.max() + pad, 201)
    profiles = {}
    for impl, scores in score_sets.items():
        n = sum(len(t) for t in stats.tasks_of(scores))
        profiles[f"{label(impl, algo)} ({n} runs)"] = (taus, *stats.performance_profile(scores, taus, reps))
    return plot_performance_profiles(profiles, out, xlabel, title)


def random_score(env_id: str, n_episodes: int = 50, seed: int = 0, max_steps: int = 20_000) -> float:
    """Mean return of uniformly random actions over ``n_episodes`` (fewer if ``max_steps`` env steps run out)."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    returns, steps = [], 0
    obs, _ = env.reset(seed=seed)
    total = 0.0
    while len(returns) < n_episodes and steps < max_steps:
        obs, r, terminated, truncated, _ = env.step(env.action_space.sample())
        total, steps = total + float(r), steps + 1
        if terminated or truncated:
            returns.append(total)
            total = 0.0
            obs, _ = env.reset()
    env.close()
    return float(np.mean(returns)) if returns else total


def normalised_scores(
    per_env: dict[str, dict[str, np.ndarray]],
) -> tuple[dict[str, list[np.ndarray]], dict[str, tuple[float, float]]]:
    """(impl -> normalised scores per env, env -> (random score, reference)) for an aggregate over envs.

    The reference is the env's reward threshold, or the best score of any run on it when it has none.
    """
    refs = {}
    for env, scores in per_env.items():
        high = reward_threshold(env)
        if high is None:
            high = float(max(s.max() for s in scores.values()))
        refs[env] = (random_score(env), float(high))
    impls = sorted({impl for scores in per_env.values() for impl in scores}, key=lambda i: i != "nngym")
    out = {
        impl: [stats.normalize(per_env[env][impl], *refs[env]) for env in per_env]
        for impl in impls
        if all(impl in per_env[env] for env in per_env)
    }
    return out, refs


def compare_env(
    args: argparse.Namespace, env: str, configs: Configs | None = None
) -> tuple[list[dict], dict[str, list[Run]]]:
    """Trains (or reuses) the runs of ``env`` and writes its table, statistics and figures; (summary, runs).
    ``configs``: as ``train_runs`` takes them."""
    dirs = train_runs(args, env, configs)
    try:
        runs = {impl: [load_run(d) for d in ds] for impl, ds in dirs.items()}
    except MonitorFileError as e:  # e.g. no episode ended within the steps: one error line, not a traceback
        raise SystemExit(
            f"error: {env}: {e} (the run's steps may be fewer than an episode: more --total-timesteps)"
        ) from None
    threshold = args.threshold if args.threshold is not None else reward_threshold(env)
    summary, per_run = summarise(runs, threshold, args.window)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"compare_{args.algo}_{env_slug(env)}"
    scores = {impl: [s] for impl, s in eval_scores(runs).items()}
    section, stat_rows = statistics_section(scores, "eval return", args.bootstrap_reps)
    table = markdown(summary, args.window) + "\n" + section
    tables = [base.with_name(base.name + suffix) for suffix in (".md", ".csv", "_runs.csv", "_stats.csv")]
    tables[0].write_text(table)
    write_csv(tables[1], [{k: v for k, v in r.items() if k != "populations"} for r in summary])
    write_csv(tables[2], per_run)
    write_csv(tables[3], [{"env": env, **r} for r in stat_rows])
    groups = {label(impl, args.algo): rs for impl, rs in runs.items()}
    n_seeds = "/".join(sorted({str(len(rs)) for rs in runs.values()}))
    title = f"{env}: {args.algo.upper()}, nngym vs SB3, {n_seeds} seeds (mean ± std)"
    paths = plot_groups(groups, base, "both", args.window, threshold, title)
    if "DigitClassify" in env:
        paths += plot_groups(groups, base.with_name(base.name + "_accuracy"), "both", args.window, None, title, True)
    paths += profile_figure(
        scores,
        base.with_name(base.name + "_profile"),
        "final evaluation return τ (deterministic policy)",
        f"{env}: {args.algo.upper()} performance profile, {n_seeds} seeds",
        args.algo,
    )
    print(table)
    print("wrote", *tables, *paths, file=sys.stderr)
    return summary, runs


def write_aggregate(
    per_env: dict[str, dict[str, np.ndarray]], base: Path, algo: str, reps: int = 50_000
) -> tuple[str, list[dict]]:
    """The aggregate over envs of normalised final scores: ``<base>.md``, ``_stats.csv``, ``_profile.png/.svg``
    (``aggregate_files``)."""
    scores, refs = normalised_scores(per_env)
    section, rows = statistics_section(scores, "normalised score", reps, digits=2)
    ref_lines = "\n".join(
        f"- {env}: 0 = random policy's {lo:.4g}, 1 = {hi:.4g} "
        f"({'reward threshold' if reward_threshold(env) is not None else 'best run'})"
        for env, (lo, hi) in refs.items()
    )
    text = f"### {algo.upper()} over {len(per_env)} envs, normalised scores\n\n{ref_lines}\n\n{section}"
    base.parent.mkdir(parents=True, exist_ok=True)
    md, stats_csv, *_ = aggregate_files(base)
    md.write_text(text)
    write_csv(stats_csv, [{"envs": " ".join(per_env), **r} for r in rows])
    profile_figure(
        scores,
        base.with_name(base.name + "_profile"),
        "normalised score τ (0 random policy, 1 reference)",
        f"{algo.upper()} on {len(per_env)} envs: performance profile",
        algo,
    )
    return text, rows


def aggregate_files(base: Path) -> list[Path]:
    """The files ``write_aggregate`` writes for ``base``: ``.md``, ``_stats.csv``, ``_profile.png`` and ``.svg``."""
    return [base.with_name(base.name + suffix) for suffix in (".md", "_stats.csv", "_profile.png", "_profile.svg")]


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    configs = check_hyperparams(args)
    writable_folder("--log-dir", args.log_dir)  # before any training: not a failed write after all the runs
    writable_folder("--out", args.out)
    summaries, per_env = [], {}
    for env in args.env:
        summary, runs = compare_env(args, env, configs[env])
        summaries += summary
        per_env[env] = eval_scores(runs)
    if len(args.env) > 1:
        base = Path(args.out) / f"compare_{args.algo}_aggregate"
        text, _ = write_aggregate(per_env, base, args.algo, args.bootstrap_reps)
        print(text)
        print("wrote", *aggregate_files(base), file=sys.stderr)
    return summaries


if __name__ == "__main__":
    main()
