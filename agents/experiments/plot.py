"""Reward curves from any mix of nngym and Stable-Baselines3 runs (both write SB3's monitor.csv).

    python scripts/plot.py runs/compare/nngym runs/compare/sb3 --x both --window 100 --out docs/figures/compare_ppo
    python scripts/plot.py my_sb3_logs/ runs/nngym/ --labels "SB3 (Monitor)" "nngym PPO"
    python scripts/plot.py runs/compare/nngym runs/compare/sb3 --stat iqm    # IQM across seeds, 95% CI band

Each RUN_DIR is a run (a directory with monitor.csv or SB3's <i>.monitor.csv files) or a directory
searched recursively for runs. Runs are grouped by env (the monitor file's env_id, else eval.json's env) and,
within an env, by "<impl> <ALGO>" (from the run's eval.json, written by scripts/train.py), else by directory
name without the seed suffix (a population's member directories <log_dir>/s<seed> by the name of <log_dir>: one
curve of its seeds), or by --labels (one per RUN_DIR). Each group is drawn as the mean ± std across
its runs of the return smoothed over --window episodes (``--stat iqm``: the interquartile mean across runs
with its 95% stratified-bootstrap confidence band, ``agents.experiments.stats``), with the env's reward
threshold as a dashed line; runs of several envs get one row of panels per env, each with its own threshold.
Writes <out>.png and <out>.svg; for DigitClassify runs also <out>_accuracy.png/.svg (reward per image =
fraction of training images classified right).
A run whose monitor file is corrupt or truncated is reported (naming the file) and skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import envs  # noqa: F401 - registers the nngym/ ids, for their reward thresholds
from agents.experiments.cli import finite_float, positive_int, writable_folder
from agents.experiments.plotting import (
    MonitorFileError,
    Run,
    find_runs,
    load_run,
    plot_env_groups,
    reward_threshold,
    run_env,
    run_label,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--labels", nargs="+", default=None, help="one group label per RUN_DIR")
    p.add_argument("--x", default="steps", choices=["steps", "time", "both"], help="x axis: env steps, seconds")
    p.add_argument("--window", type=positive_int, default=100, help="episodes in the moving mean")
    p.add_argument(
        "--stat", default="mean", choices=["mean", "iqm"], help="mean ± std, or IQM with its 95%% bootstrap CI"
    )
    p.add_argument(
        "--threshold",
        type=finite_float,
        default=None,
        help="a finite number, drawn for every env (default: each env's reward_threshold)",
    )
    p.add_argument("--title", default=None)
    p.add_argument(
        "--out",
        default=None,
        help="output path without suffix, its folder created (default: <first RUN_DIR>/reward_curves)",
    )
    return p.parse_args(argv)


def load_groups(run_dirs: list[str], labels: list[str] | None = None) -> dict[str, dict[str, list[Run]]]:
    """Env id -> label -> runs (envs in sorted order, ``""`` for runs that name none last), skipping (with a message
    on stderr naming the file) runs that cannot be read."""
    if labels is not None and len(labels) != len(run_dirs):
        raise SystemExit(f"error: --labels: expected one per RUN_DIR ({len(run_dirs)}), got {len(labels)}")
    groups: dict[str, dict[str, list[Run]]] = {}
    for i, dirs in enumerate(find_runs(run_dirs)):
        if not dirs:
            print(f"plot.py: no monitor.csv at or below {run_dirs[i]}; skipped", file=sys.stderr)
        for d in dirs:
            try:
                run = load_run(d)
            except MonitorFileError as e:
                print(f"plot.py: skipping run {d}: {e}", file=sys.stderr)
                continue
            label = run_label(run, labels[i] if labels else None)
            groups.setdefault(run_env(run), {}).setdefault(label, []).append(run)
    return {env: groups[env] for env in sorted(groups, key=lambda e: (not e, e))}


def main(argv: list[str] | None = None) -> list[Path]:
    args = parse_args(argv)
    by_env = load_groups(args.run_dirs, args.labels)
    if not by_env:
        raise SystemExit("error: plot.py: no readable run in " + " ".join(args.run_dirs))
    thresholds = {
        env: args.threshold if args.threshold is not None else reward_threshold(env) if env else None for env in by_env
    }
    what = "IQM and 95% CI" if args.stat == "iqm" else "mean ± std"
    name = (next(iter(by_env)) or "reward curves") if len(by_env) == 1 else f"{len(by_env)} envs"
    title = args.title or f"{name}: {what} across runs"
    out = Path(args.out) if args.out else Path(args.run_dirs[0]) / "reward_curves"
    writable_folder("--out", out, of_file=True)  # before drawing: one error line, not a traceback from savefig
    paths = plot_env_groups(by_env, out, args.x, args.window, thresholds, title, stat=args.stat)
    digits = {env: groups for env, groups in by_env.items() if "DigitClassify" in env}
    if digits:
        acc = out.with_name(out.name + "_accuracy")
        acc_title = title.replace(what, f"accuracy, {what}")
        paths += plot_env_groups(digits, acc, args.x, args.window, None, acc_title, True, stat=args.stat)
    for env, groups in by_env.items():
        for label, rs in groups.items():
            where = f"{env or 'env unknown'}, " if len(by_env) > 1 else ""
            print(f"{where}{label}: {len(rs)} run(s), {sum(len(r.returns) for r in rs)} episodes")
    print("wrote " + " ".join(str(p) for p in paths))
    return paths


if __name__ == "__main__":
    main()
