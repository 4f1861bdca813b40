"""The recurrent attention model on DigitGlimpse: training with a test-accuracy curve, the deterministic accuracy
on a whole MNIST split, and pictures of where the agent looks (``scripts/ram_figures.py`` is the command line).

The env follows Mnih et al.'s 28x28 MNIST experiment: 8x8 glimpses, one scale, 6 glimpses, continuous
locations, the label in the info of an episode's last step; ``TRANSLATED`` is their 60x60 translated MNIST
(12x12 glimpses, 3 scales, 8 glimpses).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.callbacks import BaseCallback
from agents.common.vec_env import make_vec_env
from agents.ram import RAM

ENV_ID = "nngym/DigitGlimpse-v0"
#: Mnih et al.'s 28x28 MNIST setting (1.12 % test error with 6 glimpses).
MNIST = {"glimpse_size": 8, "n_scales": 1, "max_glimpses": 6, "action_mode": "location", "reveal_label": "end"}
#: Their 60x60 translated MNIST setting (1.84 % with 8 glimpses).
TRANSLATED = {**MNIST, "glimpse_size": 12, "n_scales": 3, "max_glimpses": 8, "canvas_size": 60}
TRAIN_IMAGES = 60_000


def accuracy_and_trajectories(
    agent: RAM, env_kwargs: dict[str, Any], split: str = "test", n_images: int | None = None, batch_size: int = 1000
) -> tuple[float, list[dict[str, Any]]]:
    """The deterministic policy's accuracy on the first ``n_images`` of ``split`` (all by default), one episode each.

    Image i is shown with ``reset(seed=i, options={"index": i})``, so a translated canvas places every digit the
    same way on every call.

    Args:
        agent: A trained agent (``predict`` with its LSTM state).
        env_kwargs: DigitGlimpse's arguments (``split`` is set here).
        split: "test" or "train".
        n_images: How many images from index 0; None for the whole split.
        batch_size: Episodes run side by side.

    Returns:
        (accuracy, one dict per image: "index", "label", "answer", "locations" (glimpse centres, row and column in
        pixels, in order), "offset" (the digit's top-left pixel on the canvas)).
    """
    kwargs = {**env_kwargs, "split": split}
    probe = gym.make(ENV_ID, **kwargs).unwrapped
    n = probe._n if n_images is None else int(n_images)
    envs_ = [probe] + [gym.make(ENV_ID, **kwargs).unwrapped for _ in range(min(batch_size, n) - 1)]
    results: list[dict[str, Any]] = []
    for start in range(0, n, len(envs_)):
        idx = list(range(start, min(start + len(envs_), n)))
        live = envs_[: len(idx)]
        obs, infos = zip(*(e.reset(seed=i, options={"index": i}) for e, i in zip(live, idx, strict=True)), strict=True)
        obs = np.stack(obs)
        tracks = [[info["location"]] for info in infos]
        done = np.zeros(len(idx), bool)
        answers = np.zeros(len(idx), np.int64)
        rewards = np.zeros(len(idx))
        state = None
        first = True
        while not done.all():
            actions, state = agent.predict(obs, state, episode_start=np.full(len(idx), first), deterministic=True)
            first = False
            for j, e in enumerate(live):
                if done[j]:
                    continue
                o, r, term, trunc, info = e.step({"label": actions["label"][j], "location": actions["location"][j]})
                obs[j] = o
                if term or trunc:
                    done[j], answers[j], rewards[j] = True, actions["label"][j], r
                else:
                    tracks[j].append(info["location"])
        for j, (e, i) in enumerate(zip(live, idx, strict=True)):
            results.append(
                {
                    "index": i,
                    "label": int(e._labels[i]),
                    "answer": int(answers[j]),
                    "locations": [tuple(int(v) for v in loc) for loc in tracks[j]],
                    "offset": e._offset,
                }
            )
    accuracy = float(np.mean([r["label"] == r["answer"] for r in results]))
    return accuracy, results


class TestAccuracyCallback(BaseCallback):
    """Test accuracy every ``eval_freq`` env steps (and at the end) into ``<log_path>/curve.csv``, saving the model.

    Rows: ``epoch,steps,seconds,accuracy`` (epochs of 60,000 training episodes, seconds of training alone: the
    evaluations are not counted). A threshold the run's last update reaches is evaluated once, after that update,
    when training ends. With ``append`` the rows of an earlier run in ``curve.csv`` are kept and the seconds continue
    from its last row (a run resumed from its ``model.npz``). It overrides SB3's hooks (``_on_training_start``,
    ``_on_step``, ``_on_training_end``), so it runs wherever nngym's callbacks run, also called as SB3 calls them.
    """

    def __init__(
        self,
        eval_freq: int,
        env_kwargs: dict[str, Any],
        log_path: Path,
        steps_per_epoch: int,
        append: bool = False,
        n_images: int | None = None,
    ) -> None:
        super().__init__()
        self.eval_freq, self.env_kwargs, self.log_path = int(eval_freq), env_kwargs, Path(log_path)
        self.steps_per_epoch, self.append, self.n_images = steps_per_epoch, append, n_images
        self.history: list[tuple[float, int, float, float]] = []

    def _on_training_start(self) -> None:
        self._next = self.model.num_timesteps + self.eval_freq
        self._eval_seconds, self._t0, self._seconds_before = 0.0, time.perf_counter(), 0.0
        self.log_path.mkdir(parents=True, exist_ok=True)
        curve = self.log_path / "curve.csv"
        if self.append and curve.exists():
            rows = read_curve(curve)
            self.history = [(r["epoch"], int(r["steps"]), r["seconds"], r["accuracy"]) for r in rows]
            self._seconds_before = self.history[-1][2] if self.history else 0.0
        else:
            curve.write_text("epoch,steps,seconds,accuracy\n")

    def _record(self) -> None:
        t = time.perf_counter()
        steps = int(self.model.num_timesteps)
        seconds = round(self._seconds_before + t - self._t0 - self._eval_seconds, 1)
        row = (round(steps / self.steps_per_epoch, 2), steps, seconds)
        accuracy, _ = accuracy_and_trajectories(self.model, self.env_kwargs, n_images=self.n_images)
        self.model.save(self.log_path / "model.npz")
        self._eval_seconds += time.perf_counter() - t
        self.history.append((*row, accuracy))
        self.logger.record("eval/accuracy", accuracy)
        with open(self.log_path / "curve.csv", "a") as f:
            f.write(f"{row[0]},{row[1]},{row[2]},{accuracy:.4f}\n")
        print(f"epoch {row[0]:.2f}  {row[2]:.0f} s  test accuracy {accuracy:.4f}", flush=True)

    def _on_step(self) -> bool:
        if self.model.num_timesteps >= self._next:
            # the threshold the last episodes cross waits for their update: _on_training_end evaluates it
            if self._next < self.model._total_timesteps:
                self._record()
            self._next += self.eval_freq
        return True

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1][1] != self.model.num_timesteps:
            self._record()


def train(
    seed: int,
    epochs: float,
    out: Path,
    env_kwargs: dict[str, Any] = MNIST,
    eval_epochs: float = 1.0,
    max_shift: int = 0,
    resume: bool = False,
    n_test_images: int | None = None,
    **config: Any,
) -> dict[str, Any]:
    """Trains RAM for ``epochs`` x 60,000 episodes, with the test accuracy every ``eval_epochs``.

    ``max_shift`` > 0 moves each training digit by a random shift of up to that many pixels (the env's
    ``max_shift``, data augmentation); the test digits are never shifted. ``config`` goes to ``RAM``.

    With ``resume`` the run continues from ``<out>/ram_s<seed>/model.npz`` for ``epochs`` more (Adam's state,
    counters and generator restored, the curve appended to). As in SB3, a schedule then runs on over the whole
    count: ``lin_1e-3`` resumed for as many epochs as were done continues from 5e-4 down to 0. ``config`` must then
    agree with the saved configuration.

    Writes ``<out>/ram_s<seed>/`` (curve.csv, progress.csv, monitor.csv, model.npz) and ``<out>/ram_s<seed>.json``.

    Args:
        n_test_images: Evaluate on the first this many test images (None: all 10,000).

    Returns:
        The summary written to the JSON file.

    Raises:
        FileNotFoundError: ``resume`` without a saved model.
        ValueError: ``resume`` with a ``config`` that differs from the saved one.
    """
    run = Path(out) / f"ram_s{seed}"
    c = {"n_envs": 64, **config}
    train_kwargs = {**env_kwargs, "max_shift": max_shift} if max_shift else env_kwargs
    env = make_vec_env(ENV_ID, c["n_envs"], c.get("vectorization", "gym-sync"), **train_kwargs)
    steps_per_epoch = TRAIN_IMAGES * env_kwargs["max_glimpses"]
    total = int(round(epochs * steps_per_epoch))
    if resume:
        if not (run / "model.npz").exists():
            raise FileNotFoundError(f"resume: no saved model at {run / 'model.npz'}; train without --resume first")
        agent = RAM.load(run / "model.npz", env=env, log_dir=run)
        saved = dataclasses.asdict(agent.config)
        differ = {k: (v, saved.get(k)) for k, v in c.items() if saved.get(k) != v}
        if differ:
            raise ValueError(
                "resume: the config differs from the saved model's (given, saved): "
                + ", ".join(f"{k}={a!r} vs {b!r}" for k, (a, b) in sorted(differ.items()))
            )
    else:
        agent = RAM(env, seed=seed, log_dir=run, **c)
    cb = TestAccuracyCallback(
        int(eval_epochs * steps_per_epoch), env_kwargs, run, steps_per_epoch, append=resume, n_images=n_test_images
    )
    t0 = time.perf_counter()
    agent.learn(total, callback=cb, reset_num_timesteps=not resume)
    summary = {
        "seed": seed,
        "env_kwargs": env_kwargs,
        "max_shift": max_shift,
        "config": c,
        "epochs": round(agent.num_timesteps / steps_per_epoch, 2),
        "resumed": resume,
        "steps": agent.num_timesteps,
        "train_seconds": cb.history[-1][2],
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "test_accuracy": cb.history[-1][3],
        "curve": cb.history,
    }
    (Path(out) / f"ram_s{seed}.json").write_text(json.dumps(summary, indent=1))
    return summary


def read_curve(path: Path) -> list[dict[str, float]]:
    """The rows of a ``curve.csv`` as dicts of floats."""
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def glimpse_frames(agent: RAM, env_kwargs: dict[str, Any], indices: list[int], split: str = "test") -> list[np.ndarray]:
    """RGB frames of the deterministic agent on images ``indices`` of ``split``: the env's render at each glimpse
    (the retina's boxes over the digit), framed grey, and the last glimpse framed green (right answer) or red."""
    frames = []
    env = gym.make(ENV_ID, render_mode="rgb_array", **{**env_kwargs, "split": split})
    for i in indices:
        obs, _ = env.reset(seed=i, options={"index": i})
        state, start, shots = None, True, []
        while True:
            shots.append(env.render())
            action, state = agent.predict(obs, state, episode_start=start, deterministic=True)
            start = False
            obs, _, term, trunc, info = env.step(action)
            if term or trunc:
                break
        frames += [_border(shot, None) for shot in shots[:-1]] + [_border(shots[-1], bool(info["correct"]))]
    return frames


def plot_trajectories(results: list[dict[str, Any]], env_kwargs: dict[str, Any], path: Path, split: str = "test"):
    """One row per image: the digit with the glimpse path so far and the current retina boxes, step by step.

    Args:
        results: Entries of ``accuracy_and_trajectories`` (index, label, answer, locations, offset).
        env_kwargs: The env's arguments (glimpse size, scales, canvas).
        path: The PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from nngym.datasets import load_mnist

    images, _ = load_mnist(split)
    S = int(env_kwargs.get("canvas_size", 28))
    g, k = int(env_kwargs.get("glimpse_size", 8)), int(env_kwargs.get("n_scales", 1))
    T = max(len(r["locations"]) for r in results)
    fig, axes = plt.subplots(len(results), T, figsize=(1.6 * T, 1.7 * len(results)), squeeze=False)
    for row, r in enumerate(results):
        canvas = np.zeros((S, S))
        top, left = r["offset"]
        canvas[top : top + 28, left : left + 28] = images[r["index"]]
        locs = np.array(r["locations"])
        for t in range(T):
            ax = axes[row, t]
            ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlim(-0.5, S - 0.5)  # the canvas only: boxes reaching past its edge are clipped
            ax.set_ylim(S - 0.5, -0.5)
            if t >= len(locs):
                continue
            ax.plot(locs[: t + 1, 1], locs[: t + 1, 0], "-o", color="tab:orange", ms=3, lw=1)
            for s in range(k):
                side = g * 2**s
                y, x = locs[t, 0] - side // 2 - 0.5, locs[t, 1] - side // 2 - 0.5
                ax.add_patch(Rectangle((x, y), side, side, fill=False, ec="tab:red", lw=1.2, alpha=1.0 - 0.3 * s))
            if t == 0:
                ax.set_ylabel(f"label {r['label']}", fontsize=8)
            if t == len(locs) - 1:
                ok = r["answer"] == r["label"]
                ax.set_title(f"answer {r['answer']}", fontsize=8, color="tab:green" if ok else "tab:red")
            elif row == 0:
                ax.set_title(f"glimpse {t + 1}", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _border(frame: np.ndarray, correct: bool | None, width: int = 6) -> np.ndarray:
    color = (200, 200, 200) if correct is None else (40, 170, 60) if correct else (220, 30, 30)
    out = np.full((frame.shape[0] + 2 * width, frame.shape[1] + 2 * width, 3), color, np.uint8)
    out[width:-width, width:-width] = frame
    return out


#: Test-error ticks (%) of the log-scaled curve axis.
ERROR_TICKS = (0.5, 1, 1.5, 2, 3, 5, 10, 20, 50)


def plot_curves(curves: dict[int, list[dict[str, float]]], path: Path) -> None:
    """Test error (%) against training epochs and minutes, one line per seed, with Mnih et al.'s 1.12 %."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for seed, rows in sorted(curves.items()):
        err = [100 * (1 - r["accuracy"]) for r in rows]
        axes[0].plot([r["epoch"] for r in rows], err, "-o", ms=3, label=f"seed {seed}")
        axes[1].plot([r["seconds"] / 60 for r in rows], err, "-o", ms=3, label=f"seed {seed}")
    for ax, xlabel in zip(axes, ["epochs (60,000 episodes)", "training minutes (one core, shared)"], strict=True):
        ax.axhline(1.12, color="k", ls="--", lw=1, label="RAM, Mnih et al. (1.12 %)")
        ax.axhline(1.5, color="gray", ls=":", lw=1, label="goal (1.5 %)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test error, 10,000 images (%)")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(FixedLocator(ERROR_TICKS))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())  # plain percentages, not "6 × 10^0"
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle("Recurrent attention model on DigitGlimpse: 6 glimpses of 8x8, one scale", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
