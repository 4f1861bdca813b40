"""Figures of the CNN-policy agents (RESULTS.md, "Agents that see") from finished ``scripts/train.py`` runs.

No training here:

    python scripts/cnn_figures.py --runs runs/ --out docs/figures

Reads ``<runs>/<algo>_<env>_s<seed>/`` (accuracy.csv, monitor.csv, eval.json) and writes
``cnn_digits_accuracy.png`` (test accuracy against env steps for every DigitClassify run found),
``cnn_digits_reward.png`` (PPO-CNN's reward per step, moving mean) and ``cnn_catch.png`` (Catch
returns, moving mean of 100 episodes), then prints the Markdown rows for RESULTS.md: final test
accuracy, env steps and training minutes to 95 %, 98 %, 99 % test accuracy, Catch eval returns.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DIGITS, CATCH = "nngym-DigitClassify-v0", "nngym-Catch-v0"
LABELS = {"ppo": "PPO-CNN", "dqn": "DQN-CNN", "reinforce": "REINFORCE-MLP", "a2c": "A2C-CNN"}
THRESHOLDS = (0.95, 0.98, 0.99)


def runs_of(root: Path, env: str) -> list[tuple[str, int, Path]]:
    """(algo, seed, run dir) of every run of ``env`` under ``root``, sorted."""
    out = []
    for d in sorted(root.glob(f"*_{env}_s*")):
        algo, _, seed = d.name.partition(f"_{env}_s")
        if (d / "eval.json").exists():
            out.append((algo, int(seed), d))
    return out


def first_reaching(acc: np.ndarray, threshold: float) -> str:
    """ "steps / minutes" at the first evaluation with accuracy ≥ threshold, or "not reached"."""
    hit = np.flatnonzero(acc[:, 2] >= threshold)
    if not len(hit):
        return "not reached"
    steps, seconds, _ = acc[hit[0]]
    return f"{int(steps):,} / {seconds / 60:.1f}"


def moving_mean(x: np.ndarray, k: int) -> np.ndarray:
    k = max(1, min(k, len(x)))
    return np.convolve(x, np.ones(k) / k, mode="valid")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs/")
    p.add_argument("--out", default="docs/figures")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    digits = runs_of(root, DIGITS)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    print("| agent | seed | env steps | train min | final test acc. | steps / min to 95 % | to 98 % | to 99 % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for algo, seed, d in digits:
        result = json.loads((d / "eval.json").read_text())
        label = LABELS.get(algo, algo)
        if (d / "accuracy.csv").exists():
            acc = np.loadtxt(d / "accuracy.csv", delimiter=",", skiprows=1, ndmin=2)
            ax.plot(acc[:, 0], 100 * acc[:, 2], marker=".", label=f"{label} seed {seed}")
            reach = [first_reaching(acc, t) for t in THRESHOLDS]
        else:
            reach = ["-"] * 3
        print(
            f"| {label} | {seed} | {result['total_timesteps']:,} | {result['train_seconds'] / 60:.1f} | "
            f"{100 * result.get('test_accuracy', float('nan')):.2f} % | " + " | ".join(reach) + " |"
        )
    ax.axhline(99, color="grey", lw=0.8, ls="--")
    ax.set_ylim(80, 100)
    ax.set_xlabel("env steps (images answered)")
    ax.set_ylabel("test accuracy, % (deterministic, 10,000 images)")
    ax.set_title("DigitClassify: learning to label digits from rewards")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cnn_digits_accuracy.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for algo, seed, d in digits:
        r = np.loadtxt(d / "monitor.csv", delimiter=",", skiprows=2, ndmin=2)[:, 0]
        mm = moving_mean(r, 10_000)
        ax.plot(np.arange(len(r) - len(mm) + 1, len(r) + 1), mm, lw=1, label=f"{LABELS.get(algo, algo)} seed {seed}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("reward per step (moving mean of 10,000)")
    ax.set_title("DigitClassify: training reward (stochastic policy)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cnn_digits_reward.png", dpi=100)
    plt.close(fig)

    catch = runs_of(root, CATCH)
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    print("\n| agent | seed | env steps | train s | eval mean return (100 episodes) |")
    print("| --- | --- | --- | --- | --- |")
    for algo, seed, d in catch:
        result = json.loads((d / "eval.json").read_text())
        rows = np.loadtxt(d / "monitor.csv", delimiter=",", skiprows=2, ndmin=2)
        steps = np.cumsum(rows[:, 1])
        mm = moving_mean(rows[:, 0], 100)
        ax.plot(steps[len(steps) - len(mm) :], mm, lw=1, label=f"{algo.upper()}-CNN seed {seed}")
        print(
            f"| {algo.upper()}-CNN | {seed} | {result['total_timesteps']:,} | {result['train_seconds']:.0f} | "
            f"{result['eval_mean']:.2f} ± {result['eval_std']:.2f} |"
        )
    ax.axhline(0.95, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return (moving mean of 100)")
    ax.set_title("Catch from pixels, nngym CNN")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cnn_catch.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
