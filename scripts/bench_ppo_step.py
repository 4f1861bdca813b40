"""Where a PPO gradient step's time goes, next to a floor: the same step written straight through in numpy.

Trains PPO briefly with the CartPole-v1 entry of agents/hyperparams/ppo.yml (one 256-row minibatch per epoch, the
64-64 tanh actor and critic), then times the parts of ``PPO._update``'s gradient steps in place (drawing the
minibatch, the forward pass, log π and entropy, the advantage normalisation, ``ppo_loss``, the backward pass, Adam)
and a vector step of the rollout. The floor is the step's arithmetic alone, written out by hand here: both networks
forward and backward, log-softmax, the clipped loss and its derivative, and Adam on one flat vector, with no
minibatch gathering, statistics, checks or layer objects. It bounds what removing nngym's structure could gain;
what remains is numpy's cost per call. Pin it to a core for steady numbers:

    OPENBLAS_NUM_THREADS=1 taskset -c 0 python scripts/bench_ppo_step.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from agents import PPO, load_hyperparams
from agents.common.policies import backward_policy_loss
from agents.common.ppo_loss import ppo_loss
from agents.common.rollout import normalized_advantages


def nngym_parts(agent: PPO, rounds: int) -> dict[str, float]:
    """Mean µs per gradient step of each part of ``agent``'s update, over ``rounds`` updates of its rollout."""
    c, policy = agent.config, agent.policy
    clip = agent.clip_schedule(1.0)
    totals: dict[str, float] = {}
    steps = 0

    def tick(part: str, start: float) -> float:
        now = time.perf_counter()
        totals[part] = totals.get(part, 0.0) + now - start
        return now

    for _ in range(rounds):
        for _epoch in range(c.n_epochs):
            t = time.perf_counter()
            for mb in agent._minibatches():
                t = tick("minibatch", t)
                dist, values = agent._evaluate_actions(mb)
                t = tick("forward", t)
                log_prob, entropy = dist.log_prob(mb.actions), dist.entropy()
                t = tick("log π, entropy", t)
                adv = normalized_advantages(mb.advantages)
                t = tick("advantage normalisation", t)
                _, d_log_prob, d_entropy, d_values = ppo_loss(
                    log_prob,
                    entropy,
                    values,
                    mb.old_log_prob,
                    adv,
                    mb.returns,
                    mb.old_values,
                    clip=clip,
                    clip_range_vf=c.clip_range_vf,
                    ent_coef=c.ent_coef,
                    vf_coef=c.vf_coef,
                )
                t = tick("ppo_loss", t)
                backward_policy_loss(policy, dist, mb.actions, d_log_prob, d_entropy, d_values)
                t = tick("backward", t)
                agent.optimizer.step()
                t = tick("Adam", t)
                steps += 1
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

    def run() -> None:
        h1 = x @ w1.T
        h1 += b1
        np.tanh(h1, out=h1)
        h2 = h1 @ w2.T
        h2 += b2
        np.tanh(h2, out=h2)
        z = h2 @ w3.T
        z += b3
        g1 = x @ v1.T
        g1 += c1
        np.tanh(g1, out=g1)
        g2 = g1 @ v2.T
        g2 += c2
        np.tanh(g2, out=g2)
        value = (g2 @ v3.T)[:, 0] + c3[0]
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        p = e / total
        log_prob = (shifted - np.log(total))[rows, actions]
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = np.exp(log_prob - old_log_prob)
        surr1, surr2 = adv * ratio, adv * np.clip(ratio, 0.8, 1.2)
        d_log_prob = np.where(surr1 <= surr2, -adv * ratio / n, 0.0).astype(f32)
        d_value = ((value - returns) * (1.0 / n))[:, None]
        dz = -p * d_log_prob[:, None]
        dz[rows, actions] += d_log_prob
        _ = dz.T @ h2, dz.sum(0)  # actor: ∂C/∂W3, ∂C/∂b3, then BP2 and BP4 down the layers
        d2 = dz @ w3
        d2 *= 1 - h2 * h2
        _ = d2.T @ h1, d2.sum(0)
        d1 = d2 @ w2
        d1 *= 1 - h1 * h1
        _ = d1.T @ x, d1.sum(0)
        _ = d_value.T @ g2, d_value.sum(0)  # critic
        e2 = d_value @ v3
        e2 *= 1 - g2 * g2
        _ = e2.T @ g1, e2.sum(0)
        e1 = e2 @ v2
        e1 *= 1 - g1 * g1
        _ = e1.T @ x, e1.sum(0)
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
