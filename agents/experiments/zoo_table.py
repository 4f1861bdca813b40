"""One table of nngym vs SB3 on the zoo's own entries, next to the zoo's benchmark figures.

    python scripts/compare.py --algo ppo --env CartPole-v1 --hyperparams-file agents/hyperparams/zoo/ppo.yml \
        --log-dir runs/zoo          # one per (algo, env) row: writes docs/figures/compare_ppo_CartPole-v1.csv ...
    python scripts/zoo_table.py     # reads those files: docs/figures/zoo_table.md and zoo_table.csv

Each row of the benchmark file (default: ``agents/experiments/data/zoo_benchmark.csv``, rl-baselines3-zoo's
benchmark.md figures) is one (algo, env). For it the table has the zoo's n_timesteps and benchmark mean ± std
(one trained agent, its deterministic policy's episodes), and from compare's files: the final deterministic
evaluation of nngym and SB3 (mean ± std over seeds of each seed's mean return), the env steps per CPU-second of
``learn`` of each and their ratio, the seconds of ``learn`` per run (wall clock and CPU), and whether the row meets
the bar:

- return: nngym's mean ≥ the zoo's mean − the zoo's std (how far below it otherwise);
- speed: nngym's steps per CPU-second ≥ ``SPEED_BAR`` × SB3's (3 for PPO and A2C, 2 for DQN).

A row compare has not written yet is listed as not run.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from agents.experiments.cli import env_slug

#: The zoo's benchmark figures kept with the package (MIT license, see the file's header).
BENCHMARK = Path(__file__).resolve().parent / "data" / "zoo_benchmark.csv"
#: Least ratio nngym steps per CPU-second / SB3's, per algorithm.
SPEED_BAR = {"ppo": 3.0, "a2c": 3.0, "dqn": 2.0}


def read_benchmark(path: str | Path = BENCHMARK) -> list[dict]:
    """The rows of a benchmark file (``#`` lines are its header notes), numbers as floats / ints."""
    with open(path) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    for r in rows:
        r["n_timesteps"] = int(r["n_timesteps"])
        r["mean_reward"], r["std_reward"] = float(r["mean_reward"]), float(r["std_reward"])
    return rows


def _read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _float(value: str) -> float | None:
    return None if value in ("", None) else float(value)


def table_row(bench: dict, figures: Path) -> dict:
    """One row of the table: the benchmark's figures and, if compare wrote them, nngym's and SB3's."""
    algo, env = bench["algo"], bench["env"]
    base = figures / f"compare_{algo}_{env_slug(env)}"
    row = {
        "algo": algo,
        "env": env,
        "zoo_env": bench["zoo_env"],
        "zoo_timesteps": bench["n_timesteps"],
        "zoo_mean": bench["mean_reward"],
        "zoo_std": bench["std_reward"],
    }
    summary_csv = base.with_name(base.name + ".csv")  # not with_suffix: env ids may hold dots
    summary = {r["impl"]: r for r in _read_csv(summary_csv)} if summary_csv.exists() else {}
    if not {"nngym", "sb3"} <= set(summary):
        return {**row, "status": "not run"}
    runs = _read_csv(base.with_name(base.name + "_runs.csv"))
    for impl in ("nngym", "sb3"):
        s, mine = summary[impl], [r for r in runs if r["impl"] == impl]
        row[f"{impl}_seeds"] = int(s["n_seeds"])
        row[f"{impl}_timesteps"] = int(s["timesteps"])
        row[f"{impl}_eval_mean"], row[f"{impl}_eval_std"] = float(s["eval_mean"]), float(s["eval_std"])
        row[f"{impl}_steps_per_cpu_second"] = _float(s.get("steps_per_cpu_second_mean", ""))
        row[f"{impl}_steps_per_second"] = float(s["steps_per_second_mean"])
        row[f"{impl}_seconds"] = [float(r["seconds"]) for r in mine]
        row[f"{impl}_cpu_seconds"] = [_float(r.get("cpu_seconds", "")) for r in mine]
    cpu_n, cpu_s = row["nngym_steps_per_cpu_second"], row["sb3_steps_per_cpu_second"]
    row["cpu_ratio"] = cpu_n / cpu_s if cpu_n is not None and cpu_s else None
    row["wall_ratio"] = row["nngym_steps_per_second"] / row["sb3_steps_per_second"]
    floor = bench["mean_reward"] - bench["std_reward"]
    row["return_floor"] = floor
    row["return_met"] = row["nngym_eval_mean"] >= floor
    row["return_shortfall"] = max(0.0, floor - row["nngym_eval_mean"])
    row["speed_bar"] = SPEED_BAR.get(algo)
    row["speed_met"] = (
        None if row["cpu_ratio"] is None or row["speed_bar"] is None else row["cpu_ratio"] >= row["speed_bar"]
    )
    row["status"] = "done" if row["nngym_seeds"] == row["sb3_seeds"] == 3 else "partial"
    return row


def _seconds(values: list[float | None]) -> str:
    if not values or any(v is None for v in values):
        return "n/a"
    return "/".join(f"{v:.0f}" for v in values)


def _below(ratio: float, bar: float) -> str:
    """A ratio under its bar with two decimals, or three when two would round it up to the bar (1.996 < 2)."""
    return f"{ratio:.2f}" if round(ratio, 2) < bar else f"{ratio:.3f}"


def _seeds(n: int) -> str:
    return "" if n == 3 else f" ({n} seed{'s' * (n > 1)})"


def markdown(rows: list[dict]) -> str:
    """The table as Markdown (rows not run keep the zoo's figures and say so)."""
    head = [
        "algo",
        "env",
        "zoo steps",
        "zoo benchmark (mean ± std)",
        "nngym eval (mean ± std over seeds)",
        "SB3 eval (mean ± std over seeds)",
        "nngym steps/CPU-s",
        "SB3 steps/CPU-s",
        "ratio",
        "bar: return",
        "bar: speed",
        "learn s per seed: wall clock (CPU)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        env = r["env"] if r["zoo_env"] == r["env"] else f"{r['env']} (zoo: {r['zoo_env']})"
        cells = [r["algo"], env, f"{r['zoo_timesteps']:,}", f"{r['zoo_mean']:.1f} ± {r['zoo_std']:.1f}"]
        if r["status"] == "not run":
            lines.append("| " + " | ".join(cells + ["not run"] + [""] * (len(head) - 5)) + " |")
            continue
        ratio = r["cpu_ratio"]
        ret = "met" if r["return_met"] else f"miss by {r['return_shortfall']:.1f}"
        bar = r["speed_bar"]
        speed = (
            "n/a" if r["speed_met"] is None else "met" if r["speed_met"] else f"miss ({_below(ratio, bar)} < {bar:g})"
        )
        cells += [
            f"{r['nngym_eval_mean']:.1f} ± {r['nngym_eval_std']:.1f}{_seeds(r['nngym_seeds'])}",
            f"{r['sb3_eval_mean']:.1f} ± {r['sb3_eval_std']:.1f}{_seeds(r['sb3_seeds'])}",
            "n/a" if r["nngym_steps_per_cpu_second"] is None else f"{r['nngym_steps_per_cpu_second']:,.0f}",
            "n/a" if r["sb3_steps_per_cpu_second"] is None else f"{r['sb3_steps_per_cpu_second']:,.0f}",
            "n/a" if ratio is None else f"{ratio:.2f}",
            ret,
            speed,
            f"nngym {_seconds(r['nngym_seconds'])} (CPU {_seconds(r['nngym_cpu_seconds'])}); "
            f"SB3 {_seconds(r['sb3_seconds'])} (CPU {_seconds(r['sb3_cpu_seconds'])})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(
                {
                    k: "/".join("" if x is None else str(x) for x in v) if isinstance(v, list) else v
                    for k, v in r.items()
                }
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--figures", default="docs/figures", help="where compare.py wrote its per-row files")
    p.add_argument("--out", default=None, help="directory for zoo_table.md / .csv (default: --figures)")
    p.add_argument("--benchmark", default=str(BENCHMARK), help="the zoo's figures, one row per (algo, env)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    figures = Path(args.figures)
    out = Path(args.out or figures)
    out.mkdir(parents=True, exist_ok=True)
    rows = [table_row(b, figures) for b in read_benchmark(args.benchmark)]
    text = markdown(rows)
    (out / "zoo_table.md").write_text(text)
    write_csv(out / "zoo_table.csv", rows)
    print(text)
    return rows


if __name__ == "__main__":
    main()
