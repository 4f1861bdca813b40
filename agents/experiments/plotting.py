"""Reward curves from SB3-format ``monitor.csv`` files, for nngym's and Stable-Baselines3's runs alike.

A *run* is a directory holding one ``monitor.csv`` (nngym's agents, SB3's ``VecMonitor``) or several
``<i>.monitor.csv`` (SB3's ``make_vec_env(monitor_dir=...)``, one per env; merged in time order as
``stable_baselines3.common.results_plotter.load_results`` does). Runs are grouped (e.g. by
implementation and algorithm), each run's returns are smoothed over a window of episodes, put on a
common x grid (env steps or wall-clock seconds) and drawn as the mean across runs with a ± std band;
runs of different envs are never averaged together: each env gets its own row of panels
(``plot_env_groups``), with its own reward threshold.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.experiments import stats


class MonitorFileError(ValueError):
    """A monitor file that cannot be read (corrupt, truncated, empty); the message names the file."""


@dataclass
class Run:
    """Episodes of one training run, in finishing order.

    Attributes:
        path: The run directory.
        returns: (E,) episode returns r.
        lengths: (E,) episode lengths l.
        times: (E,) wall-clock seconds since the run started, t.
        env_id: From the monitor header ("" if absent).
        meta: ``eval.json`` of the run if present (impl, algo, eval_mean, ...), else {}.
    """

    path: Path
    returns: np.ndarray
    lengths: np.ndarray
    times: np.ndarray
    env_id: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def steps(self) -> np.ndarray:
        """(E,) env steps when each episode ended: the running sum of lengths (exact for one env;
        with N envs, episodes in finishing order, so within N·max length of the true count)."""
        return np.cumsum(self.lengths)


def read_monitor(path: str | os.PathLike) -> tuple[dict, np.ndarray]:
    """Reads one SB3 monitor file: a ``#{json}`` header, a ``r,l,t[,...]`` line, then numeric rows.

    Returns:
        (header dict, rows of shape (E, 3) with columns r, l, t).

    Raises:
        MonitorFileError: Naming the file and what is wrong (bad header, missing columns, a short or
            non-numeric row, e.g. a file cut off while being written).
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise MonitorFileError(f"{path}: cannot read monitor file ({e})") from None
    if not lines or not lines[0].startswith("#"):
        raise MonitorFileError(
            f"{path}: expected a '#{{json}}' header line, got {lines[0][:40] if lines else 'nothing'!r}"
        )
    try:
        header = json.loads(lines[0][1:])
    except json.JSONDecodeError as e:
        raise MonitorFileError(f"{path}: header line is not JSON ({e})") from None
    columns = lines[1].split(",") if len(lines) > 1 else []
    if columns[:3] != ["r", "l", "t"]:
        raise MonitorFileError(f"{path}: expected columns r,l,t on line 2, got {','.join(columns) or 'nothing'!r}")
    rows = np.empty((len(lines) - 2, 3))
    for i, line in enumerate(lines[2:]):
        cells = line.split(",")
        try:
            if len(cells) != len(columns):
                raise ValueError(f"{len(cells)} fields, expected {len(columns)}")
            rows[i] = [float(c) for c in cells[:3]]
        except ValueError as e:
            raise MonitorFileError(f"{path}: line {i + 3} {line[:40]!r} is not a row of r,l,t ({e})") from None
    return header, rows


def load_run(run_dir: str | os.PathLike) -> Run:
    """One run from a directory's ``monitor.csv`` / ``*.monitor.csv`` files (and ``eval.json`` if any).

    Raises:
        MonitorFileError: No monitor file, a corrupt one, or no finished episode.
    """
    run_dir = Path(run_dir)
    files = sorted(run_dir.glob("*monitor.csv"))
    if not files:
        raise MonitorFileError(f"{run_dir}: no monitor.csv")
    parts, starts, env_id = [], [], ""
    for f in files:
        header, rows = read_monitor(f)
        env_id = env_id or str(header.get("env_id", ""))
        starts.append(float(header.get("t_start", 0.0)))
        parts.append(np.column_stack([rows, rows[:, 2] + starts[-1]]))  # absolute time, to merge files
    rows = np.concatenate(parts)
    if not len(rows):
        raise MonitorFileError(f"{', '.join(str(f) for f in files)}: no finished episode")
    rows = rows[np.argsort(rows[:, 3], kind="stable")]
    times = rows[:, 3] - min(starts)
    meta_path = run_dir / "eval.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return Run(run_dir, rows[:, 0], rows[:, 1].astype(np.int64), times, env_id, meta)


def find_runs(paths: list[str | os.PathLike]) -> list[list[Path]]:
    """For each path, the run directories at or below it (directories holding a ``*monitor.csv``)."""
    found = []
    for p in map(Path, paths):
        dirs = {f.parent for f in p.rglob("*monitor.csv")} if p.is_dir() else set()
        found.append(sorted(dirs))
    return found


def moving_mean(x: np.ndarray, window: int) -> np.ndarray:
    """(E,) trailing mean over the last ``window`` values (fewer at the start: the mean of those so far)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    c = np.cumsum(np.concatenate([[0.0], np.asarray(x, dtype=np.float64)]))
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def steps_to_threshold(run: Run, threshold: float, window: int = 100) -> int | None:
    """Env steps at which the mean return of the last ``window`` episodes first reaches ``threshold``.

    Only points with a full window count (Gym's "average over 100 consecutive episodes").
    ``None`` if it never does.
    """
    if len(run.returns) < window:
        return None
    mean = moving_mean(run.returns, window)[window - 1 :]
    hit = np.flatnonzero(mean >= threshold)
    return int(run.steps[window - 1 + hit[0]]) if len(hit) else None


def final_return(run: Run, window: int = 100) -> float:
    """Mean return of the last ``window`` episodes (all of them if fewer)."""
    return float(np.mean(run.returns[-window:]))


def reward_threshold(env_id: str) -> float | None:
    """The env's registered ``reward_threshold`` (Gymnasium registry), or None."""
    try:
        import gymnasium as gym

        return gym.spec(env_id).reward_threshold
    except Exception:  # noqa: BLE001 - unknown / unregistered ids simply have no threshold
        return None


def group_band(
    runs: list[Run], x: str = "steps", window: int = 100, n_points: int = 200, stat: str = "mean"
) -> tuple[np.ndarray, ...]:
    """A statistic across runs of the smoothed return and its band, interpolated on a common grid.

    Args:
        runs: Runs of one group (e.g. seeds).
        x: "steps" (env steps) or "time" (wall-clock seconds).
        window: Episodes in the moving mean.
        n_points: Grid size, from the largest first x to the smallest last x over the runs.
        stat: "mean" (band: mean ± std) or "iqm" (the interquartile mean across runs, band: its 95%
            bootstrap confidence interval, ``agents.experiments.stats.curve_band``).

    Returns:
        (grid (P,), statistic (P,), band low (P,), band high (P,)).
    """
    xs = [r.steps.astype(np.float64) if x == "steps" else r.times for r in runs]
    ys = [moving_mean(r.returns, window) for r in runs]
    lo, hi = max(v[0] for v in xs), min(v[-1] for v in xs)
    grid = np.linspace(lo, hi, n_points) if hi > lo else np.array([hi])
    curves = np.stack([np.interp(grid, xv, yv) for xv, yv in zip(xs, ys, strict=True)])
    if stat == "iqm":
        return grid, *stats.curve_band(curves, "iqm")
    if stat != "mean":
        raise ValueError(f"stat must be 'mean' or 'iqm', got {stat!r}")
    mean, std = curves.mean(0), curves.std(0)
    return grid, mean, mean - std, mean + std


def run_env(run: Run) -> str:
    """The env a run trained on: its monitor header's ``env_id``, else eval.json's ``env``, else ``""``."""
    return run.env_id or str(run.meta.get("env", ""))


def run_label(run: Run, fallback: str | None = None) -> str:
    """Group label: ``fallback`` if given, else ``"<impl> <ALGO>"`` from eval.json, else the directory
    name without a trailing seed (``ppo_CartPole-v1_s0`` -> ``ppo_CartPole-v1``). A directory named by a seed
    alone, ``s<seed>`` (a population member's, ``<log_dir>/s<seed>``), is that seed of the run its parent names
    (``logs/pop/s0`` -> ``pop``)."""
    if fallback:
        return fallback
    if "impl" in run.meta and "algo" in run.meta:
        return f"{run.meta['impl']} {str(run.meta['algo']).upper()}"
    name = run.path.name
    if re.fullmatch(r"s\d+", name):
        name = run.path.absolute().parent.name or name
    return re.sub(r"[_-]s?\d+$", "", name) or name


def plot_groups(
    groups: dict[str, list[Run]],
    out: str | os.PathLike,
    x: str = "steps",
    window: int = 100,
    threshold: float | None = None,
    title: str = "",
    accuracy: bool = False,
    stat: str = "mean",
) -> list[Path]:
    """One figure: mean ± std (or IQM and its 95% CI) of the smoothed return per group, a dashed threshold line.

    Args:
        groups: Label -> runs (of one env).
        out: Output path without suffix; writes ``<out>.png`` and ``<out>.svg``.
        x: "steps" or "time"; "both" draws two panels side by side.
        window: Episodes in the moving mean.
        threshold: Reward threshold line (None: none).
        title: Figure title.
        accuracy: Label y as accuracy (mean reward per step; for DigitClassify, whose reward per
            image is 1 if correct: return / length is the fraction of images classified right).
        stat: "mean" (band ± std across runs) or "iqm" (band: 95% stratified-bootstrap CI over runs).

    Returns:
        The two files written.
    """
    return plot_env_groups({"": groups}, out, x, window, {"": threshold}, title, accuracy, stat)


def plot_env_groups(
    by_env: dict[str, dict[str, list[Run]]],
    out: str | os.PathLike,
    x: str = "steps",
    window: int = 100,
    thresholds: dict[str, float | None] | None = None,
    title: str = "",
    accuracy: bool = False,
    stat: str = "mean",
) -> list[Path]:
    """``plot_groups`` for runs of several envs: one row of panels per env, titled with its env id (with one env,
    ``plot_groups``' figure), each with that env's threshold line; a label keeps its colour in every row.

    Args:
        by_env: Env id -> label -> runs.
        out: Output path without suffix; writes ``<out>.png`` and ``<out>.svg``.
        x: "steps" or "time"; "both" draws two panels side by side.
        window: Episodes in the moving mean.
        thresholds: Env id -> its reward threshold line (missing or None: none).
        title: Figure title.
        accuracy: As ``plot_groups``.
        stat: As ``plot_groups``.

    Returns:
        The two files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = thresholds or {}
    panels = ["steps", "time"] if x == "both" else [x]
    colors = {label: f"C{i}" for i, label in enumerate(dict.fromkeys(lb for g in by_env.values() for lb in g))}
    fig, axes = plt.subplots(len(by_env), len(panels), figsize=(6 * len(panels), 3.8 * len(by_env)), squeeze=False)
    for row, (env, groups) in zip(axes, by_env.items(), strict=True):
        threshold = thresholds.get(env)
        for ax, kind in zip(row, panels, strict=True):
            for label, runs in groups.items():
                if accuracy:
                    runs = [_per_step(r) for r in runs]
                grid, centre, low, high = group_band(runs, kind, window, stat=stat)
                color = colors[label]
                what = "IQM, " if stat == "iqm" else ""
                seeds = f"{what}{len(runs)} seed{'s' * (len(runs) > 1)}"
                ax.plot(grid, centre, color=color, lw=1.6, label=f"{label} ({seeds})")
                ax.fill_between(grid, low, high, color=color, alpha=0.2, lw=0)
            if threshold is not None and not accuracy:
                ax.axhline(threshold, color="k", ls="--", lw=1, label=f"reward threshold {threshold:g}")
            ax.set_xlabel("env steps" if kind == "steps" else "wall-clock seconds")
            ylabel = "training accuracy" if accuracy else "episode return"
            ax.set_ylabel(f"{ylabel}\n(mean of last {window} episodes)")
            ax.grid(alpha=0.3)
            band = "shaded: 95% bootstrap CI of the IQM" if stat == "iqm" else "shaded: ± std across seeds"
            ax.legend(loc="lower right", fontsize=8, title=band, title_fontsize=7)
            if len(by_env) > 1:
                ax.set_title(env or "env unknown", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_name(out.name + ".png"), out.with_name(out.name + ".svg")]
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
    return paths


def _per_step(run: Run) -> Run:
    """The run with each episode's return divided by its length (reward per step)."""
    return Run(run.path, run.returns / np.maximum(run.lengths, 1), run.lengths, run.times, run.env_id, run.meta)


def plot_performance_profiles(
    profiles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    out: str | os.PathLike,
    xlabel: str = "final evaluation return τ",
    title: str = "",
) -> list[Path]:
    """Performance profiles (Agarwal et al. 2021): per group, the fraction of runs scoring above τ, with its band.

    Args:
        profiles: Label (with its run count) -> (τ (K,), fraction (K,), band low (K,), band high (K,)),
            as ``agents.experiments.stats.performance_profile`` returns them.
        out: Output path without suffix; writes ``<out>.png`` and ``<out>.svg``.
        xlabel: What τ is, with its unit.
        title: Figure title.

    Returns:
        The two files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for i, (label, (taus, frac, low, high)) in enumerate(profiles.items()):
        ax.step(taus, frac, where="post", color=f"C{i}", lw=1.6, label=label)
        ax.fill_between(taus, low, high, step="post", color=f"C{i}", alpha=0.2, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, title="shaded: 95% bootstrap CI", title_fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_name(out.name + ".png"), out.with_name(out.name + ".svg")]
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
    return paths


def read_accuracy(run_dir: str | os.PathLike) -> np.ndarray:
    """(K, 2) env steps and test accuracy of a run's ``accuracy.csv`` (``AccuracyCallback``), (0, 2) if none."""
    path = Path(run_dir) / "accuracy.csv"
    if not path.exists():
        return np.zeros((0, 2))
    rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return rows[:, [0, 2]] if len(rows) else np.zeros((0, 2))


def plot_training_curve(run_dir: str | os.PathLike, title: str, window: int | None = None) -> Path:
    """One run's training curve, ``<run_dir>/reward_curve.png``, drawn for what its episodes are.

    - Episodes of one step each (DigitClassify: one image, reward 1 if labelled right): the running accuracy,
      the mean reward of the last ``window`` episodes (in % when the rewards are 0 or 1), and the test
      accuracy measured during training (``accuracy.csv``) and at the end (``eval.json``'s test_accuracy) as
      points; the raw 0/1 returns are not drawn (they would fill the plot).
    - Longer episodes: each episode's return as a faint line, its moving mean, the env's reward threshold and
      the final deterministic evaluation (``eval.json``: mean ± std over its episodes).

    Args:
        run_dir: A run directory with ``monitor.csv`` (and optionally ``accuracy.csv``, ``eval.json``).
        title: Figure title (the seed count is added).
        window: Episodes in the moving mean (default 100, or 1% of the episodes for one-step episodes, at least
            100 and at most 2,000).

    Returns:
        The PNG written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = training_curve_figure(run_dir, title, window)
    out = Path(run_dir) / "reward_curve.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def training_curve_figure(run_dir: str | os.PathLike, title: str, window: int | None = None) -> object:
    """The matplotlib figure ``plot_training_curve`` saves (same arguments), for callers that style or test it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    try:
        run = load_run(run_dir)
    except MonitorFileError as e:
        run = None
        ax.text(0.5, 0.5, f"no finished episode\n({e})", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    meta = run.meta if run is not None else {}
    if run is not None:
        steps, returns = run.steps, run.returns
        one_step = bool(np.all(run.lengths == 1))
        k = window or (int(min(max(100, len(returns) // 100), 2000)) if one_step else 100)
        k = min(k, len(returns))
        smooth = moving_mean(returns, k)[k - 1 :]
        if one_step:
            binary = bool(np.all(np.isin(returns, (0.0, 1.0))))
            scale = 100.0 if binary else 1.0
            name = "training accuracy" if binary else "mean reward"
            ax.plot(steps[k - 1 :], scale * smooth, color="C1", lw=1.5, label=f"{name}, last {k:,} episodes")
            acc = read_accuracy(run_dir)
            if len(acc):
                ax.plot(
                    acc[:, 0], 100.0 * acc[:, 1], "o-", color="C2", ms=4, lw=1, label="test accuracy (10,000 images)"
                )
            if meta.get("test_accuracy") is not None:
                ax.plot(
                    [steps[-1]],
                    [100.0 * meta["test_accuracy"]],
                    "*",
                    color="C3",
                    ms=11,
                    label=f"final test accuracy {100 * meta['test_accuracy']:.2f}%",
                )
            ax.set_ylabel("accuracy (% of images right)" if binary else "reward per episode")
            if binary:
                ax.set_ylim(0, 100)
        else:
            ax.plot(steps, returns, color="C0", lw=0.5, alpha=0.35, label="episode return")
            ax.plot(steps[k - 1 :], smooth, color="C1", lw=1.6, label=f"mean of last {k} episodes")
            threshold = reward_threshold(run.env_id) if run.env_id else None
            if threshold is not None:
                ax.axhline(threshold, color="k", ls="--", lw=1, label=f"reward threshold {threshold:g}")
            if meta.get("eval_mean") is not None:  # None: the evaluation was skipped
                final = f"final evaluation {meta['eval_mean']:.1f} ± {meta.get('eval_std') or 0.0:.1f} (deterministic)"
                ax.errorbar(
                    [steps[-1]],
                    [meta["eval_mean"]],
                    yerr=[meta.get("eval_std") or 0.0],
                    fmt="*",
                    color="C3",
                    ms=11,
                    capsize=3,
                    label=final,
                )
            ax.set_ylabel("episode return (sum of rewards)")
        ax.set_xlabel("env steps")
        ax.legend(loc="lower right" if one_step else "best", fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"{title} (1 seed)", fontsize=10)
    fig.tight_layout()
    return fig
