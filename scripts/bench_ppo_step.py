"""Where a PPO gradient step's time goes, next to a floor: the same step written straight through in numpy.

Trains PPO briefly with the CartPole-v1 entry of agents/hyperparams/ppo.yml (one 256-row minibatch per epoch, the
64-64 tanh actor and critic), then times the parts of ``PPO._update``'s gradient steps, the functions it calls
wrapped with timers (drawing the minibatch, the forward pass, log π and entropy, the advantage normalisation,
``ppo_loss``, the backward pass, Adam) and a vector step of the rollout. The floor is the step's arithmetic
alone, written out by hand here: both networks forward and backward, log-softmax, the clipped loss and its
derivative, and Adam on one flat vector, with no minibatch gathering, statistics, checks or layer objects. It
bounds what removing nngym's structure could gain; what remains is numpy's cost per call. Pin it to a core for
steady numbers:

    OPENBLAS_NUM_THREADS=1 taskset -c 0 python scripts/bench_ppo_step.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import agents.ppo as ppo_module
from agents import PPO, load_hyperparams
from agents.common.distributions import Categorical


def nngym_parts(agent: PPO, rounds: int) -> dict[str, float]:
    """Mean µs per gradient step of each part of ``agent``'s update, over ``rounds`` calls of ``PPO._update`` on its
    rollout: the functions the update calls are wrapped with timers for the duration (the update itself unchanged)."""
    totals: dict[str, float] = {}

    def timed(part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            totals[part] = totals.get(part, 0.0) + time.perf_counter() - start
            return out

        return call

    def timed_batches() -> Iterator[Any]:
        batches = draw_minibatches()
        while True:
            start = time.perf_counter()
            mb = next(batches, None)
            totals["minibatch"] = totals.get("minibatch", 0.0) + time.perf_counter() - start
            if mb is None:
                return
            yield mb

    draw_minibatches = agent._minibatches
    wrapped = {  # (owner, attribute) -> part
        (agent, "_minibatches"): None,
        (agent, "_evaluate_actions"): "forward",
        (Categorical, "log_prob"): "log π, entropy",
        (Categorical, "entropy"): "log π, entropy",
        (ppo_module, "normalized_advantages"): "advantage normalisation",
        (ppo_module, "ppo_loss"): "ppo_loss",
        (ppo_module, "backward_policy_loss"): "backward",
        (agent.optimizer, "step"): "Adam",
    }
    originals = {key: key[0].__dict__.get(key[1]) for key in wrapped}
    try:
        for (owner, name), part in wrapped.items():
            setattr(owner, name, timed_batches if part is None else timed(part, getattr(owner, name)))
        for _ in range(rounds):
            agent._update()
    finally:
        for (owner, name), original in originals.items():
            if original is None:  # an instance attribute set here over the class's method
                delattr(owner, name)
            else:
                setattr(owner, name, original)
    steps = rounds * agent.config.n_epochs * -(-agent.buffer.n_steps * agent.n_envs // agent.config.batch_size)
    return {part: seconds / steps * 1e6 for part, seconds in totals.items()}


def straight_step(n: int, rng: np.random.Generator) -> Callable[[], None]:
    """One clipped-PPO gradient step on ``n`` rows for 4-64-64-2 / 4-64-64-1 tanh networks, written out in numpy."""
    f32 = np.float32

    def dense(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        return (rng.standard_normal((n_out, n_in)) * 0.1).astype(f32), np.zeros(n_out, f32)

    (w1, b1), (w2, b2), (w3, b3) = dense(64, 4), dense(64, 64), dense(2, 64)
    (v1, c1), (v2, c2), (v3, c3) = dense(64, 4), dense(64, 64), dense(1, 64)
    x = rng.standard_normal((n, 4)).astype(f32)
    actions = rng.integers(0, 2, n)
    advantages, returns = rng.standard_normal(n).astype(f32), rng.standard_normal(n).astype(f32)
    old_log_prob = np.full(n, -0.69, f32)
    size = sum(a.size for a in (w1, b1, w2, b2, w3, b3, v1, c1, v2, c2, v3, c3))
    params, grads, m, v, tmp, step = (np.zeros(size, f32) for _ in range(6))
    rows = np.arange(n)

    def forward(w: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hidden activations h1, h2 and the output of a 4-64-64-k tanh network with weights and biases ``w``."""
        h1 = x @ w[0].T
        h1 += w[1]
        np.tanh(h1, out=h1)
        h2 = h1 @ w[2].T
        h2 += w[3]
        np.tanh(h2, out=h2)
        out = h2 @ w[4].T
        out += w[5]
        return h1, h2, out

    def backward(w: tuple[np.ndarray, ...], h1: np.ndarray, h2: np.ndarray, d_out: np.ndarray) -> None:
        """BP3 / BP4 at each layer, BP2 down to the first (its input is data)."""
        _ = d_out.T @ h2, d_out.sum(0)
        d2 = d_out @ w[4]
        d2 *= 1 - h2 * h2
        _ = d2.T @ h1, d2.sum(0)
        d1 = d2 @ w[2]
        d1 *= 1 - h1 * h1
        _ = d1.T @ x, d1.sum(0)

    actor, critic = (w1, b1, w2, b2, w3, b3), (v1, c1, v2, c2, v3, c3)

    def run() -> None:
        h1, h2, z = forward(actor)
        g1, g2, value = forward(critic)
        value = value[:, 0]
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        p = e / total
        log_prob = (shifted - np.log(total))[rows, actions]
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = np.exp(log_prob - old_log_prob)
        surr1, surr2 = adv * ratio, adv * np.clip(ratio, 0.8, 1.2)
        d_log_prob = np.where(surr1 <= surr2, -adv * ratio / n, 0.0).astype(f32)
        dz = -p * d_log_prob[:, None]
        dz[rows, actions] += d_log_prob
        backward(actor, h1, h2, dz)
        backward(critic, g1, g2, ((value - returns) * (1.0 / n))[:, None])
        _ = np.sqrt(grads @ grads)  # the clipping norm
        np.multiply(m, 0.9, out=m)  # Adam on the flat vector (in place, as nngym's)
        np.multiply(grads, 0.1, out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(v, 0.999, out=v)
        np.multiply(grads, grads, out=tmp)
        np.multiply(tmp, 0.001, out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)
        np.add(tmp, 1e-5, out=tmp)
        np.multiply(m, 1e-3, out=step)
        np.divide(step, tmp, out=step)
        np.subtract(params, step, out=params)

    return run


def microseconds(fn: Callable[[], None], calls: int, repeats: int) -> tuple[float, float]:
    """(min, median) µs per call of ``fn`` over ``repeats`` timings of ``calls`` calls each."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return min(times), float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=150, help="updates timed part by part (20 gradient steps each)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    hp = load_hyperparams("ppo", "CartPole-v1")
    hp.pop("n_timesteps", None)
    hp.pop("policy", None)
    agent = PPO("CartPole-v1", seed=args.seed, **hp)
    agent.learn(2048)  # a trained-ish policy and a full rollout buffer
    parts = nngym_parts(agent, args.rounds)
    for part, us in parts.items():
        print(f"nngym {part}: {us:.1f} µs")
    print(f"nngym gradient step, parts summed: {sum(parts.values()):.1f} µs")
    whole = microseconds(agent._update, 10, 10)
    print(f"nngym gradient step, PPO._update / n_epochs: min {whole[0] / 20:.0f} µs, median {whole[1] / 20:.0f} µs")
    floor = microseconds(straight_step(agent.config.batch_size, np.random.default_rng(args.seed)), 200, 20)
    print(f"straight-through numpy step (the floor): min {floor[0]:.0f} µs, median {floor[1]:.0f} µs")
    c = agent.config
    rollout = microseconds(lambda: agent._collect_rollout(None), 10, 10)
    print(f"rollout: min {rollout[0] / c.n_steps:.0f} µs, median {rollout[1] / c.n_steps:.0f} µs a vector step")


if __name__ == "__main__":
    main()
