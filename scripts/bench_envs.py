"""Environment steps per second for every nngym/* env next to Gymnasium's CartPole-v1, in one run.

Three ways of stepping: a single env (``gym.make``, with its default wrappers), and 8 copies in
``gym.make_vec`` with ``vectorization_mode="sync"`` and ``"async"`` (8 worker processes). Actions
are drawn beforehand from a seeded Generator, so only the environments are timed; finished
episodes are reset (by hand for the single env, by the vector env's autoreset otherwise) and
resets count toward the time. Each figure is the median of ``--repeats`` timings.

Timing: run under the CPU lock on the shared machine,

    flock /tmp/nngym-cpu.lock python scripts/bench_envs.py

and prints a Markdown table; CartPole-v1 is measured first and again last to show drift.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import envs

BASELINE = "CartPole-v1"


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


def median_of(repeats: int, fn, *args) -> float:
    return float(np.median([fn(*args) for _ in range(repeats)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=envs.ENV_IDS, help="nngym ids to measure (default: all)")
    parser.add_argument("--steps", type=int, default=20_000, help="single-env steps per timing")
    parser.add_argument("--vector-steps", type=int, default=2_500, help="vector steps per sync timing")
    parser.add_argument("--async-steps", type=int, default=1_000, help="vector steps per async timing")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    def measure(env_id: str) -> tuple[float, float, float]:
        single = median_of(args.repeats, single_steps_per_s, env_id, args.steps, args.seed)
        sync = median_of(args.repeats, vector_steps_per_s, env_id, "sync", args.num_envs, args.vector_steps, args.seed)
        asyn = median_of(args.repeats, vector_steps_per_s, env_id, "async", args.num_envs, args.async_steps, args.seed)
        return single, sync, asyn

    rows = [(BASELINE + " (first)", *measure(BASELINE))]
    for env_id in args.envs:
        rows.append((env_id, *measure(env_id)))
    rows.append((BASELINE + " (last)", *measure(BASELINE)))
    base = np.mean([rows[0][1:], rows[-1][1:]], axis=0)  # CartPole's mean of first and last, per column

    n = args.num_envs
    print(f"| env | single steps/s | sync x{n} steps/s | async x{n} steps/s | single / CartPole | sync / CartPole |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, single, sync, asyn in rows:
        print(f"| {name} | {single:,.0f} | {sync:,.0f} | {asyn:,.0f} | {single / base[0]:.2f} | {sync / base[1]:.2f} |")


if __name__ == "__main__":
    main()
