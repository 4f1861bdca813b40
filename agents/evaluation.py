"""Evaluation: run an agent for whole episodes on an env and report the returns."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.callbacks import BaseCallback


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


def classification_accuracy(agent: Any, split: str = "test", batch_size: int = 1000) -> float:
    """Fraction of the MNIST ``split`` (all 10,000 test images by default) the deterministic policy labels right.

    This is DigitClassify's mean reward per step with ``wrong_reward=0`` over one sweep of the split,
    computed in batches: the observations are the env's own (uint8 images of shape (1, 28, 28)).

    Args:
        agent: Anything with ``predict(obs (N, 1, 28, 28), deterministic=True) -> (actions (N,), state)``.
        split: "train" or "test".
        batch_size: Images per ``predict`` call.
    """
    from nngym.datasets import load_mnist

    images, labels = load_mnist(split)
    correct = 0
    for i in range(0, len(labels), batch_size):
        actions, _ = agent.predict(images[i : i + batch_size, None], deterministic=True)
        correct += int(np.sum(np.asarray(actions) == labels[i : i + batch_size]))
    return correct / len(labels)


class AccuracyCallback(BaseCallback):
    """Test accuracy (``classification_accuracy``) every ``eval_freq`` env steps, into ``accuracy.csv``.

    Training time excludes the evaluations, so ``seconds`` is what the curve cost to learn.
    Rows: ``steps,seconds,accuracy``; ``self.history`` keeps them as tuples.

    Args:
        eval_freq: Interval in env steps (rounded to whole vector steps).
        log_path: Directory for ``accuracy.csv`` (``None``: keep in memory only).
        split: MNIST split evaluated.
        stop_at: Stop training once the accuracy reaches this (``None``: never).
    """

    def __init__(
        self,
        eval_freq: int,
        log_path: str | os.PathLike | None = None,
        split: str = "test",
        stop_at: float | None = None,
    ) -> None:
        super().__init__()
        self.eval_freq, self.split, self.stop_at = int(eval_freq), split, stop_at
        self.log_path = None if log_path is None else Path(log_path)
        self.history: list[tuple[int, float, float]] = []

    def on_training_start(self) -> None:
        self._next = self.agent.num_timesteps + self.eval_freq
        self._eval_seconds = 0.0
        self._t0 = time.perf_counter()
        if self.log_path is not None:
            self.log_path.mkdir(parents=True, exist_ok=True)
            (self.log_path / "accuracy.csv").write_text("steps,seconds,accuracy\n")

    def _record(self) -> None:
        t = time.perf_counter()
        row = (int(self.agent.num_timesteps), round(t - self._t0 - self._eval_seconds, 2))  # training time only
        acc = classification_accuracy(self.agent, self.split)
        self._eval_seconds += time.perf_counter() - t
        self.history.append((*row, acc))
        self.agent.logger.record("eval/accuracy", acc)
        if self.log_path is not None:
            with open(self.log_path / "accuracy.csv", "a") as f:
                f.write(f"{row[0]},{row[1]},{acc:.4f}\n")

    def _on_step(self) -> bool:
        if self.agent.num_timesteps >= self._next:
            self._next += self.eval_freq
            self._record()
            return self.stop_at is None or self.history[-1][2] < self.stop_at
        return True

    def on_training_end(self) -> None:
        self._record()  # the final policy (an on-step row at the same step count came before the last update)
