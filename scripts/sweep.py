"""Run a sweep (implementations × algorithms × envs × seeds × hyperparameter grid) locally or on Ray,
then write the comparison table and plots; or, for a sweep file with a ``tune`` section, a Ray Tune search.

    python scripts/sweep.py sweeps/cartpole_ppo.yaml                          # local, 1 worker
    python scripts/sweep.py sweeps/cartpole_ppo.yaml --workers 2
    python scripts/sweep.py sweeps/cartpole_ppo.yaml --backend ray            # Ray started locally
    python scripts/sweep.py sweeps/cartpole_ppo.yaml --backend ray --address ray://head:10001
    python scripts/sweep.py sweeps/tune_ppo.yaml                              # Ray Tune (needs .[ray])

Rerunning the same command skips finished runs. See ``agents/sweep.py`` for the file format.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from agents.sweep import RunResult, SweepError, load_sweep, run_sweep

TRAIN = Path(__file__).resolve().parent / "train.py"


def _sibling(name: str):
    """Imports ``scripts/<name>.py`` (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"nngym_{name}_script", Path(__file__).resolve().parent / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_report(results: list[RunResult], log_dir: Path, window: int = 100) -> Path | None:
    """The comparison table (Markdown + CSV) and reward-curve plots of the finished runs, with compare.py's code.

    Runs are grouped by algorithm, env and hyperparameter overrides; within a group, one row per
    implementation (mean ± std over seeds, steps/s and its ratio to SB3).
    """
    compare = _sibling("compare")  # scripts/compare.py: the same table code
    from nngym.plotting import load_run, plot_groups, reward_threshold

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
    for (algo, env, overrides), runs in groups.items():
        threshold = reward_threshold(env)
        summary, _ = compare.summarise(runs, threshold, window)
        hp = ", ".join(f"{k}={v}" for k, v in overrides)
        tables.append(f"### {algo.upper()} on {env}{f' ({hp})' if hp else ''}\n\n" + compare.markdown(summary, window))
        rows += [{**row, "overrides": hp} for row in summary]
        slug = "_".join([algo, env.replace("/", "-"), *(f"{k}={v}" for k, v in overrides)])
        labels = {impl: f"{'SB3' if impl == 'sb3' else 'nngym'} {algo.upper()}" for impl in runs}
        title = f"{env}: {algo.upper()}{f' ({hp})' if hp else ''}, mean ± std over seeds"
        plot_groups(
            {labels[i]: rs for i, rs in runs.items()}, log_dir / "plots" / slug, "both", window, threshold, title
        )
    table = log_dir / "sweep_table.md"
    table.write_text("\n".join(tables))
    compare.write_csv(log_dir / "sweep_table.csv", rows)
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_file")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start Ray locally)")
    p.add_argument("--workers", type=int, default=1, help="runs at a time (local), CPUs of a local Ray")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray: CPUs reserved per run")
    p.add_argument("--log-dir", default=None, help="default: runs/sweeps/<sweep name>")
    p.add_argument(
        "--drill-kill",
        default=None,
        metavar="RUN",
        help="fault drill: kill RUN's worker once after its first checkpoint",
    )
    args = p.parse_args(argv)
    try:
        sweep = load_sweep(args.sweep_file)
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log_dir = Path(args.log_dir or f"runs/sweeps/{sweep.name}")

    if sweep.tune is not None:
        from agents.tune import run_tune

        best, path = run_tune(sweep.tune, log_dir, address=args.address)
        print(f"best hyperparameters {best}\nwritten to {path} (use: scripts/train.py --hyperparams-file {path})")
        return 0

    start = time.perf_counter()
    results = run_sweep(
        sweep,
        log_dir,
        [sys.executable, str(TRAIN)],
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        cpus_per_run=args.cpus_per_run,
        drill_kill=args.drill_kill,
        working_dir=TRAIN.parent.parent,  # shipped to a Ray cluster's workers (with --address)
    )
    wall = time.perf_counter() - start
    table = write_report(results, log_dir)
    if table is not None:
        print(table.read_text())
        print(f"table: {table} and {table.with_suffix('.csv')}; plots: {log_dir / 'plots'}")
    for r in results:
        extra = f" (resumed from step {r.resumed_from})" if r.resumed_from else ""
        print(f"{r.status:>8}  {r.run.name}  attempts={r.attempts}  {r.seconds:.1f} s{extra}  {r.error}")
    print(f"sweep wall-clock {wall:.1f} s with backend={args.backend} workers={args.workers}")
    failed = [r for r in results if r.status == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
