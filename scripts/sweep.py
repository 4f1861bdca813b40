"""Run a sweep (implementations × algorithms × envs × seeds × hyperparameter grid) locally or on Ray,
then write the comparison table and plots; or, for a sweep file with a ``tune`` section, a Ray Tune search.

    python scripts/sweep.py scripts/sweeps/cartpole_ppo.yaml                  # local, 1 worker
    python scripts/sweep.py scripts/sweeps/cartpole_ppo.yaml --workers 2
    python scripts/sweep.py scripts/sweeps/cartpole_ppo.yaml --backend ray    # Ray started locally
    python scripts/sweep.py scripts/sweeps/cartpole_ppo.yaml --backend ray --address ray://head:10001
    python scripts/sweep.py scripts/sweeps/tune_ppo_cartpole.yaml             # Ray Tune (needs .[ray])

Rerunning the same command skips finished runs. See ``agents/experiments/sweep_file.py`` for the file format.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agents.experiments.cli import positive_float, positive_int, writable_folder
from agents.experiments.sweep import check_drill_kill, run_sweep, write_report
from agents.experiments.sweep_file import SweepError, load_sweep
from agents.experiments.tune import check_tune

PROJECT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_file")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start Ray locally)")
    p.add_argument("--workers", type=positive_int, default=1, help="runs at a time (local), CPUs of a local Ray")
    p.add_argument(
        "--cpus-per-run", type=positive_float, default=1.0, help="Ray: CPUs reserved per run, > 0 (a fraction shares)"
    )
    p.add_argument("--log-dir", default=None, help="folder of the runs (default: runs/sweeps/<sweep name>)")
    p.add_argument(
        "--drill-kill",
        default=None,
        metavar="RUN",
        help="fault drill: kill RUN's worker once after its first checkpoint (RUN: a run's name, its folder; the sweep "
        "needs checkpoint_freq)",
    )
    p.add_argument(
        "--population",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="local: train nngym's seeds of one PPO/A2C/DQN configuration as one population (--no-population: "
        "one process per run)",
    )
    args = p.parse_args(argv)
    try:
        sweep = load_sweep(args.sweep_file)
        if sweep.tune is not None:
            check_tune(sweep.tune)
    except SweepError as e:  # the tune section's messages begin "tune:"; load_sweep's name the file
        where = "" if str(e).startswith(str(args.sweep_file)) else f"{args.sweep_file}: "
        print(f"error: {where}{e}", file=sys.stderr)
        return 2
    log_dir = Path(args.log_dir or f"runs/sweeps/{sweep.name}")
    if args.drill_kill is not None:
        try:
            check_drill_kill(sweep, args.drill_kill, log_dir)
        except ValueError as e:
            p.error(str(e))
    writable_folder("--log-dir", log_dir)  # before any run: one error line, not a traceback

    if sweep.tune is not None:
        from agents.experiments.tune import run_tune  # Ray only when it runs

        best, path = run_tune(sweep.tune, log_dir, address=args.address)
        print(f"best hyperparameters {best}\nwritten to {path} (use: scripts/train.py --hyperparams-file {path})")
        return 0

    start = time.perf_counter()
    results = run_sweep(
        sweep,
        log_dir,
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        cpus_per_run=args.cpus_per_run,
        drill_kill=args.drill_kill,
        working_dir=PROJECT,  # shipped to a Ray cluster's workers (with --address)
        population=args.population,
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
