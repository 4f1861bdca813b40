"""Callbacks called from ``learn``: periodic evaluation (keeping the best model), test accuracy,
periodic checkpoints, and a tqdm progress bar. SB3's hook names; ``on_step`` returning False stops training."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.evaluation import classification_accuracy, evaluate_episodes


class BaseCallback:
    """Hooks: ``on_training_start``, ``on_step`` (after every vector-env step), ``on_rollout_end``, ``on_training_end``.

    ``self.agent`` is set by ``init``; ``self.n_calls`` counts ``on_step`` calls.
    """

    def __init__(self) -> None:
        self.agent: Any = None
        self.n_calls = 0

    def init(self, agent: Any) -> None:
        self.agent = agent

    def on_training_start(self) -> None:
        return None

    def on_step(self) -> bool:
        self.n_calls += 1
        return self._on_step()

    def _on_step(self) -> bool:
        return True

    def on_rollout_end(self) -> None:
        return None

    def on_training_end(self) -> None:
        return None


#: What ``learn(callback=...)`` takes: one callback, a list of them, or None.
MaybeCallback = BaseCallback | list[BaseCallback] | None


class CallbackList(BaseCallback):
    """Several callbacks called in order; training stops if any ``on_step`` returns False."""

    def __init__(self, callbacks: list[BaseCallback]) -> None:
        super().__init__()
        self.callbacks = callbacks

    def init(self, agent: Any) -> None:
        super().init(agent)
        for c in self.callbacks:
            c.init(agent)

    def on_training_start(self) -> None:
        for c in self.callbacks:
            c.on_training_start()

    def _on_step(self) -> bool:
        return all([c.on_step() for c in self.callbacks])

    def on_rollout_end(self) -> None:
        for c in self.callbacks:
            c.on_rollout_end()

    def on_training_end(self) -> None:
        for c in self.callbacks:
            c.on_training_end()


class CheckpointCallback(BaseCallback):
    """Saves the agent every ``save_freq`` calls (vector steps) to ``<save_path>/<name_prefix>_<steps>_steps.npz``.

    Args:
        save_freq: Interval in ``on_step`` calls (one call = n_envs env steps, as in SB3).
        save_path: Directory.
        name_prefix: File name prefix.
        save_replay_buffer: DQN: store the replay buffer too.
    """

    def __init__(
        self, save_freq: int, save_path: str | os.PathLike, name_prefix: str = "model", save_replay_buffer: bool = False
    ) -> None:
        super().__init__()
        self.save_freq, self.save_path, self.name_prefix = save_freq, Path(save_path), name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.last_path: Path | None = None

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            path = self.save_path / f"{self.name_prefix}_{self.agent.num_timesteps}_steps.npz"
            self.last_path = self.agent.save(path, include_replay_buffer=self.save_replay_buffer)
        return True


class EvalCallback(BaseCallback):
    """Evaluates the agent on a separate env every ``eval_freq`` calls; saves the best model.

    Args:
        eval_env: Env id or env used only for evaluation.
        eval_freq: Interval in ``on_step`` calls.
        n_eval_episodes: Episodes per evaluation.
        best_model_save_path: Directory for ``best_model.npz`` (``None``: do not save).
        deterministic: Greedy / mean actions.
        log_path: Directory for ``evaluations.npz`` (timesteps, results) as SB3 writes.
    """

    def __init__(
        self,
        eval_env: str | gym.Env,
        eval_freq: int = 10_000,
        n_eval_episodes: int = 5,
        best_model_save_path: str | os.PathLike | None = None,
        deterministic: bool = True,
        log_path: str | os.PathLike | None = None,
        seed: int = 12345,
    ) -> None:
        super().__init__()
        self.eval_env = gym.make(eval_env) if isinstance(eval_env, str) else eval_env
        self.eval_freq, self.n_eval_episodes, self.deterministic = eval_freq, n_eval_episodes, deterministic
        self.best_model_save_path = None if best_model_save_path is None else Path(best_model_save_path)
        self.log_path = None if log_path is None else Path(log_path)
        self.seed = seed
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.timesteps: list[int] = []
        self.results: list[list[float]] = []

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq:
            return True
        rewards = evaluate_episodes(self.agent, self.eval_env, self.n_eval_episodes, self.deterministic, self.seed)
        mean = float(np.mean(rewards))
        self.last_mean_reward = mean
        self.timesteps.append(self.agent.num_timesteps)
        self.results.append(rewards)
        self.agent.logger.record("eval/mean_reward", mean)
        if self.log_path is not None:
            self.log_path.mkdir(parents=True, exist_ok=True)
            np.savez(
                self.log_path / "evaluations.npz", timesteps=np.array(self.timesteps), results=np.array(self.results)
            )
        if mean > self.best_mean_reward:
            self.best_mean_reward = mean
            if self.best_model_save_path is not None:
                self.agent.save(self.best_model_save_path / "best_model.npz")
        return True


class ProgressBarCallback(BaseCallback):
    """A tqdm bar over the env steps of this ``learn`` call."""

    def on_training_start(self) -> None:
        from tqdm.auto import tqdm

        self._start = self.agent.num_timesteps
        self.bar = tqdm(total=self.agent._total_timesteps - self._start, unit="steps")

    def _on_step(self) -> bool:
        self.bar.update(self.agent.n_envs)
        return True

    def on_training_end(self) -> None:
        self.bar.close()


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
