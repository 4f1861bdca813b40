"""DBN pretraining for agents: env steps to 90% (and 95%) DigitClassify test accuracy, PPO ``net="dbn"`` vs the MLP.

Both agents have the same network: ImageScale → Flatten → Dense(784, 256) → Sigmoid, then PPO's linear π and V
heads, and the same hyperparameters: agents/hyperparams/ppo.yml's DigitClassify entry (64 envs, n_steps 4,
entropy bonus 0.1) with batch 128, 2 epochs and a constant Adam step of 3e-3 (``OVERRIDES``). ``dbn``: the
trunk is an RBM pretrained by CD-1 (5 epochs) on 10,240 observations of a uniform random policy (no labels, no
rewards), whose 10,240 env steps are counted;
``mlp``: the same trunk from Glorot-uniform init (``dbn_kwargs={"n_obs": 0}``). The test accuracy of the
deterministic policy on all 10,000 test images is measured every 2,048 steps (``AccuracyCallback``); a run stops
at ``--target`` (95%) or at ``--max-steps``; ``plot`` reads the env steps to 90% and to 95% off the curves.

Usage:
    python scripts/dbn_agent_figures.py run --kind dbn --seed 0      # one run -> runs/dbn_agent_ent01_95/dbn_s0.json
    python scripts/dbn_agent_figures.py plot                          # figure + RESULTS rows from the JSON files
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

import envs  # noqa: F401  (registers nngym/*)
from agents import PPO, load_hyperparams
from agents.common.callbacks import AccuracyCallback
from agents.common.dbn_policy import describe

ENV = "nngym/DigitClassify-v0"
SIZES = [256]
#: The settings these figures were made with: the main job's entry as it was then, Adam at 3e-3.
OVERRIDES = {"learning_rate": 3e-3, "batch_size": 128, "n_epochs": 2}
TARGETS = (0.9, 0.95)
KINDS = {"dbn": "PPO net='dbn' (pretrained, steps counted)", "mlp": "PPO same-shape MLP (random init)"}


def run(kind: str, seed: int, out: Path, n_obs: int, max_steps: int, target: float, freq: int, overrides: dict) -> dict:
    hp = load_hyperparams("ppo", ENV)
    for key in ("n_timesteps", "net"):
        hp.pop(key, None)
    hp.update({**OVERRIDES, **overrides})
    dbn_kwargs = {"n_obs": n_obs if kind == "dbn" else 0, "sizes": SIZES}
    t0 = time.perf_counter()
    agent = PPO(ENV, net="dbn", seed=seed, dbn_kwargs=dbn_kwargs, **hp)
    pretrain_seconds = time.perf_counter() - t0
    cb = AccuracyCallback(freq, None, stop_at=target)
    agent.learn(max_steps, callback=[cb])
    offset = agent.pretrain_timesteps
    curve = [(offset + s, sec, acc) for s, sec, acc in cb.history]
    reached = next(((s, sec) for s, sec, acc in curve if acc >= target), None)
    result = {
        "kind": kind,
        "seed": seed,
        "hyperparams": {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()},
        **describe(agent.pretraining),
        "pretrain_seconds": round(pretrain_seconds, 2),
        "curve": curve,  # (env steps including pretraining, RL training seconds, test accuracy)
        "target": target,
        "steps_to_target": None if reached is None else reached[0],
        "rl_seconds_to_target": None if reached is None else reached[1],
        "final_accuracy": curve[-1][2],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{kind}_s{seed}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("curve", "hyperparams")}))
    return result


def plot(out: Path, figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = {k: [json.loads(p.read_text()) for p in sorted(out.glob(f"{k}_s*.json"))] for k in KINDS}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax in axes:  # left: the whole run; right: the last points, where 90% and 95% are reached
        for (kind, label), color in zip(KINDS.items(), ("C0", "C1"), strict=True):
            for i, r in enumerate(results[kind]):
                steps, _, acc = np.array(r["curve"]).T
                if kind == "dbn":  # the pretraining budget: a flat stretch at chance before RL starts
                    steps, acc = np.r_[0, r["pretrain_timesteps"], steps], np.r_[0.1, 0.1, acc]
                ax.plot(steps, 100 * acc, color=color, alpha=0.8, label=label if i == 0 else None)
        for target in TARGETS:
            ax.axhline(100 * target, color="grey", ls="--", lw=1)
        ax.set_xlabel("env steps (pretraining observations included)")
    axes[0].set_ylabel("test accuracy (%), all 10,000 images")
    axes[0].set_ylim(0, 100)
    axes[1].set_ylim(85, 96)
    axes[1].set_xlim(left=10_000)
    axes[1].set_title("zoom: 85-96%", fontsize=10)
    fig.suptitle("DigitClassify, PPO: DBN-pretrained trunk vs the same MLP from random init", fontsize=10)
    axes[0].legend(loc="lower right")
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=100)
    plt.close(fig)
    print(f"wrote {figure}")
    print("| net | seeds | pretraining env steps | target | env steps to target, each seed | mean |")
    print("|---|---|---|---|---|---|")
    for kind, label in KINDS.items():
        rs = results[kind]
        for target in TARGETS if rs else ():
            steps = [next((s for s, _, acc in r["curve"] if acc >= target), None) for r in rs]
            reached = [s for s in steps if s is not None]
            mean = f"{np.mean(reached):,.0f}" if len(reached) == len(rs) else f"not reached by {len(rs) - len(reached)}"
            each = ", ".join("—" if s is None else f"{s:,}" for s in steps)
            print(f"| {label} | {len(rs)} | {rs[0]['pretrain_timesteps']:,} | {100 * target:.0f}% | {each} | {mean} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("command", choices=("run", "plot"))
    p.add_argument("--kind", choices=tuple(KINDS), default="dbn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/dbn_agent_ent01_95"))
    p.add_argument("--n-obs", type=int, default=10_240, help="pretraining observations (env steps), dbn only")
    p.add_argument("--max-steps", type=int, default=150_000, help="RL env steps at most")
    p.add_argument("--target", type=float, default=max(TARGETS), help="stop once the test accuracy reaches it")
    p.add_argument("--freq", type=int, default=2048, help="test accuracy every this many env steps")
    p.add_argument("--hyperparams", nargs="*", default=[], help="PPO overrides key=value (YAML values), both kinds")
    p.add_argument("--figure", type=Path, default=Path("docs/figures/dbn_agent_digit_classify.png"))
    args = p.parse_args(argv)
    if args.command == "run":
        overrides = {k: yaml.safe_load(v) for k, _, v in (kv.partition("=") for kv in args.hyperparams)}
        run(args.kind, args.seed, args.out, args.n_obs, args.max_steps, args.target, args.freq, overrides)
    else:
        plot(args.out, args.figure)


if __name__ == "__main__":
    main()
