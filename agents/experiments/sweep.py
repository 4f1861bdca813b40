"""Running a sweep (``agents.experiments.sweep_file``): every unfinished run, locally or on Ray.

The ``local`` backend runs each run in a subprocess, at most ``workers`` at a time; ``ray``
(``agents.experiments.sweep_ray``) submits each as a Ray task and brings the run's files back to the driver.
Locally, nngym's runs of PPO, A2C and DQN that differ only in their seed train by default as one population in
one subprocess (``agents.experiments.train_population``, the same files in each run's directory);
``population=False`` trains every run on its own, and so do sweeps with ``checkpoint_freq`` (checkpoints and
their resume are per run) and a ``drill_kill`` run.
A run that fails is reported with its reason (the ``error:`` line of a refused input, or the traceback) in
``error.txt`` while the others go on; a run whose
worker dies is retried and resumes from its latest checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from agents.experiments import compare
from agents.experiments.cli import env_slug
from agents.experiments.plotting import load_run, plot_groups, reward_threshold
from agents.experiments.sweep_file import (
    POPULATION_COMMAND,
    TRAIN_COMMAND,
    Run,
    RunResult,
    Sweep,
    checkpoint_steps,
    is_finished,
    latest_checkpoint,
    run_command,
    save_error,
)
from agents.experiments.train_population import POPULATION_ALGOS


def run_sweep(
    sweep: Sweep,
    log_dir: str | os.PathLike,
    train_cmd: list[str] | None = None,
    backend: str = "local",
    workers: int = 1,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    drill_kill: str | None = None,
    working_dir: str | os.PathLike | None = None,
    population: bool = True,
) -> list[RunResult]:
    """Runs every unfinished run of ``sweep`` and writes ``<log_dir>/sweep_status.json``.

    Args:
        sweep: From ``load_sweep``.
        log_dir: Root directory; each run writes to ``<log_dir>/<run.name>/``.
        train_cmd: The training program (default ``TRAIN_COMMAND``, the train runner); it receives the
            runner's arguments (``Run.argv``).
        backend: ``"local"`` (subprocesses) or ``"ray"`` (Ray tasks).
        workers: Local: runs at a time. Ray without an address: CPUs of the local Ray instance.
        address: Ray cluster address (``None``: start Ray locally).
        cpus_per_run: Ray: CPUs reserved per run.
        drill_kill: Fault drill: the run with this name has its worker killed once, right after its
            first checkpoint, to show that it is retried and resumes from the checkpoint.
        working_dir: Ray with an ``address``: the project directory to ship to the cluster's workers.
        population: Local backend without ``checkpoint_freq``: train nngym's seeds of one PPO / A2C / DQN
            configuration as one population (a group whose population fails is run run by run).

    Returns:
        One result per run, in sweep order.

    Raises:
        ValueError: For a backend or worker count that does not exist, and a ``drill_kill`` that would do nothing
            (``check_drill_kill``).
    """
    if drill_kill is not None:
        check_drill_kill(sweep, drill_kill, log_dir)
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    train_cmd = TRAIN_COMMAND if train_cmd is None else train_cmd
    root = Path(log_dir)
    root.mkdir(parents=True, exist_ok=True)
    results: dict[Run, RunResult] = {}
    todo = []
    for run in sweep.runs:
        if is_finished(root / run.name):
            results[run] = RunResult(run, "skipped")
        else:
            todo.append(run)
    if todo and population and backend == "local" and not sweep.checkpoint_freq:
        done, todo = _run_populations(sweep, todo, root, workers, drill_kill)
        results.update({r.run: r for r in done})
    if todo:
        if backend == "local":
            done = _run_local(train_cmd, sweep, todo, root, workers, drill_kill)
        else:
            from agents.experiments.sweep_ray import run_ray

            done = run_ray(
                train_cmd,
                sweep,
                todo,
                root,
                workers,
                address,
                cpus_per_run,
                drill_kill,
                None if working_dir is None else Path(working_dir).resolve(),
            )
        results.update({r.run: r for r in done})
    ordered = [results[run] for run in sweep.runs]
    status = [
        {
            **dataclasses.asdict(r.run),
            "name": r.run.name,
            **{k: v for k, v in dataclasses.asdict(r).items() if k != "run"},
        }
        for r in ordered
    ]
    (root / "sweep_status.json").write_text(json.dumps(status, indent=2, default=str))
    return ordered


def check_drill_kill(sweep: Sweep, name: str, log_dir: str | os.PathLike | None = None) -> None:
    """Refuses a fault drill (``drill_kill``, ``scripts/sweep.py --drill-kill``) that would silently do nothing: on a
    Ray Tune sweep (it has no named runs), for a name that is none of the sweep's runs, on a sweep without
    ``checkpoint_freq`` (the worker is killed after the run's first checkpoint, which never comes), and, given the
    sweep's ``log_dir``, for a run that has finished there (the sweep skips it).

    Raises:
        ValueError: Naming the run and why; for an unknown name, the sweep's runs.
    """
    if sweep.tune is not None:
        raise ValueError(f"--drill-kill {name}: a Ray Tune sweep has no named runs to kill")
    names = [run.name for run in sweep.runs]
    if name not in names:
        raise ValueError(f"--drill-kill {name}: no run of that name in the sweep; its runs: {', '.join(names)}")
    if not sweep.checkpoint_freq:
        raise ValueError(
            f"--drill-kill {name}: the drill kills the run's worker after its first checkpoint, and the sweep has "
            "no checkpoint_freq; set checkpoint_freq in the sweep file"
        )
    if log_dir is not None and is_finished(Path(log_dir) / name):
        raise ValueError(
            f"--drill-kill {name}: that run has finished in {Path(log_dir) / name} and the sweep skips it, so the "
            "drill would do nothing; choose a run that has not finished, or remove its folder to run it again"
        )


def _run_populations(
    sweep: Sweep, todo: list[Run], root: Path, workers: int, drill_kill: str | None
) -> tuple[list[RunResult], list[Run]]:
    """Trains each group of nngym runs that differ only in their seed as one population subprocess, ``workers``
    at a time. Returns (results of the runs that finished, the runs left to train one by one)."""
    groups: dict[tuple, list[Run]] = {}
    for run in todo:
        if run.impl == "nngym" and run.algo in POPULATION_ALGOS and run.name != drill_kill:
            groups.setdefault((run.algo, run.env, run.overrides, run.total_timesteps), []).append(run)
    groups = {key: runs for key, runs in groups.items() if len(runs) > 1}
    queue, active, results = list(groups.values()), {}, []
    while queue or active:
        while queue and len(active) < workers:
            runs = queue.pop(0)
            template = dataclasses.replace(runs[0], seed="{seed}").name  # the run directories, {seed} filled in
            cmd = [*POPULATION_COMMAND, "--algo", runs[0].algo, "--env", runs[0].env]
            cmd += ["--seeds", *(str(r.seed) for r in runs), "--log-dir", str(root / template)]
            cmd += ["--n-eval-episodes", str(sweep.n_eval_episodes)]
            if runs[0].total_timesteps:
                cmd += ["--total-timesteps", str(runs[0].total_timesteps)]
            if runs[0].overrides:
                cmd += ["-p", *(f"{k}={json.dumps(v)}" for k, v in runs[0].overrides)]
            for r in runs:
                (root / r.name).mkdir(parents=True, exist_ok=True)
            with open(root / f"{template.replace('{seed}', 'population')}.log", "ab") as log:
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            active[tuple(runs)] = (proc, time.perf_counter())
        time.sleep(0.1)
        for runs, (proc, start) in list(active.items()):
            if proc.poll() is None:
                continue
            del active[runs]
            seconds = time.perf_counter() - start
            results += [RunResult(r, "finished", 1, seconds) for r in runs if is_finished(root / r.name)]
    finished = {r.run for r in results}
    return results, [run for run in todo if run not in finished]


def _run_local(
    train_cmd: list[str], sweep: Sweep, todo: list[Run], root: Path, workers: int, drill_kill: str | None
) -> list[RunResult]:
    queue = list(todo)
    active: dict[Run, tuple[subprocess.Popen, float]] = {}
    attempts = {run: 0 for run in todo}
    resumed = {run: 0 for run in todo}
    results: list[RunResult] = []
    drilled = False
    while queue or active:
        while queue and len(active) < workers:
            run = queue.pop(0)
            run_dir = root / run.name
            run_dir.mkdir(parents=True, exist_ok=True)
            attempts[run] += 1
            resume = latest_checkpoint(run_dir)
            resumed[run] = checkpoint_steps(resume)
            with open(run_dir / "train.log", "ab") as log:
                cmd = run_command(train_cmd, run, sweep, run_dir, resume)
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            active[run] = (proc, time.perf_counter())
        time.sleep(0.1)
        for run, (proc, start) in list(active.items()):
            run_dir = root / run.name
            if drill_kill == run.name and not drilled and latest_checkpoint(run_dir) is not None:
                drilled = True
                proc.send_signal(signal.SIGKILL)  # the fault drill: this worker dies mid-run
            code = proc.poll()
            if code is None:
                continue
            del active[run]
            seconds = time.perf_counter() - start
            if code == 0 and is_finished(run_dir):
                results.append(RunResult(run, "finished", attempts[run], seconds, resumed_from=resumed[run]))
            elif code < 0 and attempts[run] <= sweep.max_retries:
                queue.append(run)  # killed by a signal: retry, resuming from the latest checkpoint
            else:
                results.append(RunResult(run, "failed", attempts[run], seconds, save_error(run_dir, code)))
    return results


def write_report(results: list[RunResult], log_dir: Path, window: int = 100) -> Path | None:
    """The comparison table (Markdown + CSV) and reward-curve plots of the finished runs (``experiments.compare``).

    Runs are grouped by algorithm, env and hyperparameter overrides; within a group, one row per
    implementation (mean ± std over seeds, steps/s and its ratio to SB3), then the aggregate statistics of the
    final evaluation returns (IQM and mean with 95% stratified-bootstrap CIs, P(nngym > SB3); ``compare``) and a
    performance profile in ``plots/``. When the same algorithm and overrides ran on several envs, a section
    aggregates them with normalised scores (``compare.write_aggregate``, files ``aggregate_<algo>...``).
    """
    groups: dict[tuple, dict[str, list]] = {}
    for r in results:
        if r.status == "failed":
            continue
        evals = sorted((log_dir / r.run.name).glob("**/eval.json"))
        if evals:
            key = (r.run.algo, r.run.env, r.run.overrides)
            groups.setdefault(key, {}).setdefault(r.run.impl, []).append(load_run(evals[0].parent))
    if not groups:
        return None
    tables, rows = [], []
    across: dict[tuple, dict[str, dict]] = {}  # (algo, overrides) -> env -> impl -> final scores
    for (algo, env, overrides), runs in groups.items():
        threshold = reward_threshold(env)
        summary, _ = compare.summarise(runs, threshold, window)
        hp = ", ".join(f"{k}={v}" for k, v in overrides)
        scores = compare.eval_scores(runs)
        across.setdefault((algo, overrides), {})[env] = scores
        section, stat_rows = compare.statistics_section({impl: [v] for impl, v in scores.items()}, "eval return")
        head = f"### {algo.upper()} on {env}{f' ({hp})' if hp else ''}\n\n"
        tables.append(head + compare.markdown(summary, window) + "\n" + section)
        by_impl = {r["impl"]: r for r in stat_rows}
        rows += [{**row, **_stat_columns(by_impl[row["impl"]]), "overrides": hp} for row in summary]
        slug = "_".join([algo, env_slug(env), *(f"{k}={v}" for k, v in overrides)])
        labels = {impl: f"{'SB3' if impl == 'sb3' else 'nngym'} {algo.upper()}" for impl in runs}
        title = f"{env}: {algo.upper()}{f' ({hp})' if hp else ''}, mean ± std over seeds"
        plot_groups(
            {labels[i]: rs for i, rs in runs.items()}, log_dir / "plots" / slug, "both", window, threshold, title
        )
        n_seeds = "/".join(sorted({str(len(rs)) for rs in runs.values()}))
        compare.profile_figure(
            {impl: [v] for impl, v in scores.items()},
            log_dir / "plots" / f"{slug}_profile",
            "final evaluation return τ (deterministic policy)",
            f"{env}: {algo.upper()}{f' ({hp})' if hp else ''} performance profile, {n_seeds} seeds",
            algo,
        )
    for (algo, overrides), per_env in across.items():
        if len(per_env) > 1:
            slug = "_".join(["aggregate", algo, *(f"{k}={v}" for k, v in overrides)])
            text, _ = compare.write_aggregate(per_env, log_dir / "plots" / slug, algo)
            tables.append(text)
    table = log_dir / "sweep_table.md"
    table.write_text("\n".join(tables))
    compare.write_csv(log_dir / "sweep_table.csv", rows)
    return table


def _stat_columns(row: dict) -> dict:
    """The ``stats.summarize`` columns added to a sweep table row (all but impl, runs and tasks)."""
    return {k: v for k, v in row.items() if k not in ("impl", "runs", "tasks")}
