"""Reward curves from any mix of nngym and Stable-Baselines3 runs (both write SB3's monitor.csv).

    python scripts/plot.py runs/compare/nngym runs/compare/sb3 --x both --window 100 --out docs/figures/compare_ppo
    python scripts/plot.py my_sb3_logs/ runs/nngym/ --labels "SB3 (Monitor)" "nngym PPO"
    python scripts/plot.py runs/compare/nngym runs/compare/sb3 --stat iqm    # IQM across seeds, 95% CI band

Each RUN_DIR is a run (a directory with monitor.csv or SB3's <i>.monitor.csv files) or a directory
searched recursively for runs. Runs are grouped by "<impl> <ALGO>" (from the run's eval.json, written by
scripts/train.py), else by directory name without the seed suffix, or by --labels (one per RUN_DIR).
Each group is drawn as the mean ± std across its runs of the return smoothed over --window episodes
(``--stat iqm``: the interquartile mean across runs with its 95% stratified-bootstrap confidence band,
``agents.experiments.stats``), with the env's reward threshold as a dashed line. Writes <out>.png and
<out>.svg; for DigitClassify runs also <out>_accuracy.png/.svg (reward per image = fraction of training
images classified right).
A run whose monitor file is corrupt or truncated is reported (naming the file) and skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import envs  # noqa: F401 - registers the nngym/ ids, for their reward thresholds
from agents.experiments.plotting import (
    MonitorFileError,
    Run,
    find_runs,
    load_run,
    plot_groups,
    reward_threshold,
    run_label,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--labels", nargs="+", default=None, help="one group label per RUN_DIR")
    p.add_argument("--x", default="steps", choices=["steps", "time", "both"], help="x axis: env steps, seconds")
    p.add_argument("--window", type=int, default=100, help="episodes in the moving mean")
    p.add_argument(
        "--stat", default="mean", choices=["mean", "iqm"], help="mean ± std, or IQM with its 95%% bootstrap CI"
    )
    p.add_argument("--threshold", type=float, default=None, help="default: the env's reward_threshold")
    p.add_argument("--title", default=None)
    p.add_argument("--out", default=None, help="output path without suffix (default: <first RUN_DIR>/reward_curves)")
    return p.parse_args(argv)


def load_groups(run_dirs: list[str], labels: list[str] | None = None) -> dict[str, list[Run]]:
    """Label -> runs, skipping (with a message on stderr naming the file) runs that cannot be read."""
    if labels is not None and len(labels) != len(run_dirs):
        raise SystemExit(f"--labels: expected one per RUN_DIR ({len(run_dirs)}), got {len(labels)}")
    groups: dict[str, list[Run]] = {}
    for i, dirs in enumerate(find_runs(run_dirs)):
        if not dirs:
            print(f"plot.py: no monitor.csv at or below {run_dirs[i]}; skipped", file=sys.stderr)
        for d in dirs:
            try:
                run = load_run(d)
            except MonitorFileError as e:
                print(f"plot.py: skipping run {d}: {e}", file=sys.stderr)
                continue
            groups.setdefault(run_label(run, labels[i] if labels else None), []).append(run)
    return groups


def main(argv: list[str] | None = None) -> list[Path]:
    args = parse_args(argv)
    groups = load_groups(args.run_dirs, args.labels)
    if not groups:
        raise SystemExit("plot.py: no readable run in " + " ".join(args.run_dirs))
    runs = [r for rs in groups.values() for r in rs]
    env_ids = sorted({r.env_id for r in runs if r.env_id})
    threshold = args.threshold if args.threshold is not None else reward_threshold(env_ids[0]) if env_ids else None
    what = "IQM and 95% CI" if args.stat == "iqm" else "mean ± std"
    title = args.title or f"{', '.join(env_ids) or 'reward curves'}: {what} across runs"
    out = Path(args.out) if args.out else Path(args.run_dirs[0]) / "reward_curves"
    paths = plot_groups(groups, out, args.x, args.window, threshold, title, stat=args.stat)
    if any("DigitClassify" in e for e in env_ids):
        acc = out.with_name(out.name + "_accuracy")
        acc_title = title.replace(what, f"accuracy, {what}")
        paths += plot_groups(groups, acc, args.x, args.window, None, acc_title, True, stat=args.stat)
    for label, rs in groups.items():
        print(f"{label}: {len(rs)} run(s), {sum(len(r.returns) for r in rs)} episodes")
    print("wrote " + " ".join(str(p) for p in paths))
    return paths


if __name__ == "__main__":
    main()
