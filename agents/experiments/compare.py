"""nngym's agents side by side with Stable-Baselines3's: same env, hyperparameters (agents/hyperparams), seeds, steps.

    python scripts/compare.py --env CartPole-v1 --algo ppo --seeds 0 1 2

Trains each implementation x seed with the train runner (``agents.experiments.train``) into
``<log-dir>/<impl>/<algo>_<env>_s<seed>/``
(a run whose eval.json shows it finished at least that many steps is reused, not retrained), then
writes to ``--out`` (default docs/figures):

- ``compare_<algo>_<env>.md`` and ``.csv``: per implementation, the final deterministic evaluation return
  (mean ± std over seeds of each seed's mean over --n-eval-episodes), the mean training return of the
  last --window episodes (monitor.csv), env steps until that mean first reaches the env's reward
  threshold, wall-clock seconds of ``learn``, env steps per second, and the steps/s ratio to SB3;
- ``compare_<algo>_<env>_runs.csv``: the same numbers per seed;
- ``compare_<algo>_<env>.png`` / ``.svg``: reward curves against env steps and against seconds
  (scripts/plot.py's figure), and ``_accuracy`` figures for DigitClassify, whose table also has the
  deterministic policy's accuracy on the 10,000 test images (eval.json's test_accuracy).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

import envs  # noqa: F401 - registers the nngym/ env ids
from agents.experiments import train
from agents.experiments.plotting import Run, final_return, load_run, plot_groups, reward_threshold, steps_to_threshold


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--algo", default="ppo")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--impl", nargs="+", default=["nngym", "sb3"], choices=["nngym", "sb3"])
    p.add_argument("--total-timesteps", type=int, default=None, help="default: the yml's n_timesteps")
    p.add_argument("--log-dir", default="runs/compare")
    p.add_argument("--out", default="docs/figures", help="directory for the table and figures")
    p.add_argument("--n-eval-episodes", type=int, default=20)
    p.add_argument("--window", type=int, default=100, help="episodes in the moving mean (threshold, curves)")
    p.add_argument("--threshold", type=float, default=None, help="default: the env's reward_threshold")
    p.add_argument("--retrain", action="store_true", help="train again even if a finished run exists")
    p.add_argument("-p", "--hyperparams", nargs="*", default=[], metavar="KEY=VALUE", help="passed to train.py")
    return p.parse_args(argv)


def train_runs(args: argparse.Namespace) -> dict[str, list[Path]]:
    """Impl -> run directories, one per seed; trains the missing ones with the train runner."""
    slug = f"{args.algo}_{args.env.replace('/', '-')}"
    runs: dict[str, list[Path]] = {}
    for impl in args.impl:
        for seed in args.seeds:
            run_dir = Path(args.log_dir) / impl / f"{slug}_s{seed}"
            done = run_dir / "eval.json"
            if done.exists() and not args.retrain and (run_dir / "monitor.csv").exists():
                meta = json.loads(done.read_text())
                if args.total_timesteps is None or meta.get("total_timesteps", 0) >= args.total_timesteps:
                    print(f"reusing {run_dir} ({meta.get('total_timesteps')} steps)", flush=True)
                    runs.setdefault(impl, []).append(run_dir)
                    continue
            argv = ["--impl", impl, "--algo", args.algo, "--env", args.env, "--seed", str(seed)]
            argv += ["--log-dir", str(Path(args.log_dir) / impl), "--n-eval-episodes", str(args.n_eval_episodes)]
            argv += ["--no-progress"]
            if args.total_timesteps:
                argv += ["--total-timesteps", str(args.total_timesteps)]
            if args.hyperparams:
                argv += ["-p", *args.hyperparams]
            print(f"training {impl} {args.algo} {args.env} seed {seed}", flush=True)
            train.main(argv)
            runs.setdefault(impl, []).append(run_dir)
    return runs


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
                    "test_accuracy": r.meta.get("test_accuracy"),
                }
            )
    sb3_sps = None
    for impl in runs:
        rows = [p for p in per_run if p["impl"] == impl]
        hits = [p["steps_to_threshold"] for p in rows if p["steps_to_threshold"] is not None]
        ev, fr = np.array([p["eval_mean"] for p in rows]), np.array([p["final_return"] for p in rows])
        sps = float(np.mean([p["steps_per_second"] for p in rows]))
        sb3_sps = sps if impl == "sb3" else sb3_sps
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
                "test_accuracy_mean": _mean_or_none([p["test_accuracy"] for p in rows]),
                "test_accuracy_std": _std_or_none([p["test_accuracy"] for p in rows]),
            }
        )
    for row in summary:
        row["sps_ratio_to_sb3"] = row["steps_per_second_mean"] / sb3_sps if sb3_sps else None
    return summary, per_run


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
    ]
    accuracy = all(r["test_accuracy_mean"] is not None for r in summary)
    if accuracy:
        head.insert(7, "test accuracy (10,000 images)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary:
        reach = "n/a" if thr is None else "never" if not r["n_reached"] else f"{r['steps_to_threshold_mean']:,.0f}"
        reach += "" if thr is None else f" ({r['n_reached']}/{r['n_seeds']})"
        ratio = f"{r['sps_ratio_to_sb3']:.2f}" if r["sps_ratio_to_sb3"] is not None else "n/a"
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
        ]
        if accuracy:
            cells.insert(7, f"{100 * r['test_accuracy_mean']:.2f}% ± {100 * r['test_accuracy_std']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([{k: "" if v is None else v for k, v in r.items()} for r in rows])


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    dirs = train_runs(args)
    runs = {impl: [load_run(d) for d in ds] for impl, ds in dirs.items()}
    threshold = args.threshold if args.threshold is not None else reward_threshold(args.env)
    summary, per_run = summarise(runs, threshold, args.window)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"compare_{args.algo}_{args.env.replace('/', '-')}"
    table = markdown(summary, args.window)
    base.with_suffix(".md").write_text(table)
    write_csv(base.with_suffix(".csv"), summary)
    write_csv(base.with_name(base.name + "_runs.csv"), per_run)
    labels = {impl: f"{'SB3' if impl == 'sb3' else 'nngym'} {args.algo.upper()}" for impl in runs}
    groups = {labels[impl]: rs for impl, rs in runs.items()}
    title = f"{args.env}: {args.algo.upper()}, nngym vs SB3, {len(args.seeds)} seeds (mean ± std)"
    paths = plot_groups(groups, base, "both", args.window, threshold, title)
    if "DigitClassify" in args.env:
        paths += plot_groups(groups, base.with_name(base.name + "_accuracy"), "both", args.window, None, title, True)
    print(table)
    print("wrote", base.with_suffix(".md"), base.with_suffix(".csv"), *paths, file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
