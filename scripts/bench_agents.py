"""Training speed, nngym agents vs Stable-Baselines3, side by side in one process.

Same env, same hyperparameters (agents/hyperparams/<algo>.yml), same number of steps, CPU:

    python scripts/bench_agents.py --algos ppo a2c dqn --seeds 0 1 2

prints env steps per second of ``learn`` for both and the ratio nngym / SB3, and the
deterministic evaluation return of each trained model (--eval-episodes, 0 to skip).

SB3 gets the yml entry minus the options it has no counterpart for (``agents.baselines.sb3.SB3_LACKS``, printed
when dropped): DQN's ``double_q``. DQN's ``n_steps`` and ``learning_rate_final`` schedule are SB3's own
``n_steps`` and a callable learning rate (``agents.baselines.sb3.SB3DQN``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from agents import ALGOS, evaluate, load_hyperparams
from agents.baselines.sb3 import sb3_agent, sb3_hyperparams


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", nargs="+", default=["ppo", "a2c", "dqn"])
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--steps", type=int, default=None, help="default: the yml's n_timesteps")
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--skip-sb3", action="store_true")
    args = p.parse_args(argv)
    rows = []
    for algo in args.algos:
        hp = load_hyperparams(algo, args.env)
        steps = args.steps or int(hp.pop("n_timesteps"))
        hp.pop("n_timesteps", None)
        sb3_hp, dropped = sb3_hyperparams(algo, hp)
        if not args.skip_sb3 and dropped:
            print(f"{algo}: SB3 runs without {dropped} (no SB3 counterpart)", flush=True)
        for seed in args.seeds:
            row = {"algo": algo, "seed": seed, "steps": steps}
            impls = [("nngym", lambda s=seed, a=algo, h=hp: ALGOS[a](args.env, seed=s, **h))]
            if not args.skip_sb3:
                impls.append(("sb3", lambda s=seed, a=algo, h=sb3_hp: sb3_agent(a, args.env, s, **h)))
            for name, make in impls:
                agent = make()
                t0 = time.perf_counter()
                agent.learn(steps)
                sec = time.perf_counter() - t0
                row[f"{name}_s"] = round(sec, 2)
                row[f"{name}_sps"] = round(steps / sec)
                if args.eval_episodes:
                    row[f"{name}_eval"] = evaluate(agent, args.env, args.eval_episodes, seed=10_000 + seed)[0]
            if "sb3_s" in row:
                row["ratio"] = round(row["sb3_s"] / row["nngym_s"], 2)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("\nalgo  steps    nngym s (steps/s)      SB3 s (steps/s)        nngym/SB3 speed")
    for algo in args.algos:
        sel = [r for r in rows if r["algo"] == algo]
        ng = np.array([r["nngym_s"] for r in sel])
        line = f"{algo:5} {sel[0]['steps']:<8} {ng.mean():6.1f} ± {ng.std():4.1f} ({sel[0]['steps'] / ng.mean():7.0f})"
        if "sb3_s" in sel[0]:
            sb = np.array([r["sb3_s"] for r in sel])
            ratio = np.array([r["ratio"] for r in sel])
            line += f"   {sb.mean():6.1f} ± {sb.std():4.1f} ({sel[0]['steps'] / sb.mean():7.0f})   {ratio.mean():.2f}×"
            line += f" (min {ratio.min():.2f})"
        print(line)
    return rows


if __name__ == "__main__":
    main()
