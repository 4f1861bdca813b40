"""Evaluation: run an agent for whole episodes on an env and report the returns."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def evaluate_episodes(
    agent: Any, env: str | gym.Env, n_episodes: int, deterministic: bool = True, seed: int = 0
) -> list[float]:
    """Undiscounted returns of ``n_episodes`` episodes, run one after another on a single env.

    Args:
        agent: Anything with ``predict(obs, deterministic=...) -> (action, state)`` (nngym or SB3 agents).
        env: Env id or env (not a vector env).
        n_episodes: Number of episodes.
        deterministic: Greedy / mean actions.
        seed: Seed of the first reset (then the env's own sequence).
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    env = gym.make(env) if isinstance(env, str) else env
    returns = []
    obs, _ = env.reset(seed=seed)
    for _ in range(n_episodes):
        total, done = 0.0, False
        while not done:
            action, _ = agent.predict(obs, deterministic=deterministic)
            obs, r, terminated, truncated, _ = env.step(action)
            total += float(r)
            done = terminated or truncated
        returns.append(total)
        obs, _ = env.reset()
    return returns


def evaluate(
    agent: Any, env: str | gym.Env, n_episodes: int = 20, deterministic: bool = True, seed: int = 0
) -> tuple[float, float]:
    """(mean, std) of the returns of ``n_episodes`` evaluation episodes."""
    returns = evaluate_episodes(agent, env, n_episodes, deterministic, seed)
    return float(np.mean(returns)), float(np.std(returns))
