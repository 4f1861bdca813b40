"""Environment steps per second for every nngym/* env next to Gymnasium's CartPole-v1, in one run.

Three ways of stepping: a single env (``gym.make``, with its default wrappers), and 8 copies in
``gym.make_vec`` with ``vectorization_mode="sync"`` and ``"async"`` (8 worker processes). Actions
are drawn beforehand from a seeded Generator, so only the environments are timed; finished
episodes are reset (by hand for the single env, by the vector env's autoreset otherwise) and
resets count toward the time. Each figure is the median of ``--repeats`` timings.

Timing: run it on an otherwise idle machine (other processes skew the figures),

    python scripts/bench_envs.py

which prints a Markdown table. CartPole-v1 is timed alternately with each env, in the same way, so
each ratio compares runs made seconds apart.

``--returns EPISODES`` instead prints each env's random-policy return, measured next to the
expected value its docstring derives, and the optimal return (no timing, so other load does not matter).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import envs
from envs.tmaze import random_policy_return

BASELINE = "CartPole-v1"

#: id -> (expected return of the uniform random policy as the env's docstring derives it, optimal return)
RETURNS = {
    "nngym/DigitClassify-v0": (0.1, 1.0),
    "nngym/DigitGlimpse-v0": (0.1 * (1 - (4 / 14) ** 6), 1.0),
    "nngym/TMaze-v0": (random_policy_return(10, 100), 4.0),
    "nngym/Catch-v0": (-0.6, 1.0),
    "nngym/CartPoleNoVel-v1": (22.18, 500.0),  # empirical (10,000 episodes); the others are exact
}


def single_steps_per_s(env_id: str, steps: int, seed: int) -> float:
    """Steps per second of one env, resetting when an episode ends."""
    env = gym.make(env_id)
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=steps).tolist()
    env.reset(seed=seed)
    for a in actions[:200]:  # warm-up
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    env.reset(seed=seed)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def vector_steps_per_s(env_id: str, mode: str, num_envs: int, vector_steps: int, seed: int) -> float:
    """Environment steps per second (vector steps * num_envs) of a ``gym.make_vec`` env."""
    vec = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    actions = np.random.default_rng(seed).integers(vec.single_action_space.n, size=(vector_steps, num_envs))
    vec.reset(seed=seed)
    for a in actions[:20]:  # warm-up
        vec.step(a)
    start = time.perf_counter()
    for a in actions:
        vec.step(a)
    elapsed = time.perf_counter() - start
    vec.close()
    return vector_steps * num_envs / elapsed


def random_returns(env_id: str, episodes: int, seed: int) -> np.ndarray:
    """Undiscounted returns of the uniform random policy (actions from a seeded Generator), default arguments."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    returns = np.zeros(episodes)
    for e in range(episodes):
        env.reset()
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            returns[e] += reward
            done = terminated or truncated
    return returns


def print_returns_table(env_ids: list[str], episodes: int, seed: int) -> None:
    print(f"| env | random policy: expected | measured ({episodes:,} episodes, ± 1 s.e.) | optimal |")
    print("|---|---:|---:|---:|")
    for env_id in env_ids:
        expected, optimal = RETURNS[env_id]
        r = random_returns(env_id, episodes, seed)
        print(f"| {env_id} | {expected:.4f} | {r.mean():.4f} ± {r.std() / np.sqrt(episodes):.4f} | {optimal:g} |")


def paired(repeats: int, fn, env_id: str, *args) -> tuple[float, float, float]:
    """Median steps/s of `env_id` and of CartPole-v1, timed alternately, and the median of their ratios.

    Alternating the two within each repeat keeps the ratio honest on a machine whose speed drifts.
    """
    ours, base = [], []
    for _ in range(repeats):
        base.append(fn(BASELINE, *args))
        ours.append(fn(env_id, *args))
    return float(np.median(ours)), float(np.median(base)), float(np.median(np.divide(ours, base)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=envs.ENV_IDS, help="nngym ids to measure (default: all)")
    parser.add_argument("--steps", type=int, default=20_000, help="single-env steps per timing")
    parser.add_argument("--vector-steps", type=int, default=2_500, help="vector steps per sync timing")
    parser.add_argument("--async-steps", type=int, default=500, help="vector steps per async timing")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--returns", type=int, default=0, metavar="EPISODES", help="instead: random-policy returns")
    args = parser.parse_args()
    if args.returns:
        print_returns_table(args.envs, args.returns, args.seed)
        return

    n = args.num_envs
    print(f"steps/s, median of {args.repeats} timings; CartPole-v1 timed alternately with each env (ratio: median of")
    print("the per-repeat ratios, > 1 means faster than CartPole-v1)\n")
    print(f"| env | single | CartPole-v1 single | ratio | sync x{n} | CartPole sync x{n} | ratio |", end="")
    print(f" async x{n} | CartPole async x{n} | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for env_id in args.envs:
        cells = [
            paired(args.repeats, single_steps_per_s, env_id, args.steps, args.seed),
            paired(args.repeats, vector_steps_per_s, env_id, "sync", n, args.vector_steps, args.seed),
            paired(args.repeats, vector_steps_per_s, env_id, "async", n, args.async_steps, args.seed),
        ]
        row = " | ".join(f"{ours:,.0f} | {base:,.0f} | {ratio:.2f}" for ours, base, ratio in cells)
        print(f"| {env_id} | {row} |", flush=True)


if __name__ == "__main__":
    main()
