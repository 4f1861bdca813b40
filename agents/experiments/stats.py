"""Aggregate statistics over seeds and envs, as Agarwal et al. (2021), "Deep Reinforcement Learning at the
Edge of the Statistical Precipice" (NeurIPS), define them and their ``rliable`` package computes them.

A *score set* is one 1-D array of run scores (one per seed) per task (env); the tasks may have different
numbers of runs. Scores of several envs are made comparable first with ``normalize``.

- ``iqm``: the interquartile mean, the mean of the middle 50% of all runs pooled over tasks
  (``scipy.stats.trim_mean(scores, 0.25)``: ⌊n/4⌋ runs cut off at each end);
- ``mean``: the mean over tasks of each task's mean over runs;
- ``bootstrap_ci``: a 95% *stratified* bootstrap confidence interval: each resample draws, for every task
  separately, as many runs as it has, with replacement, from that task's runs; the interval is the 2.5 and
  97.5 percentiles of the statistic over the resamples (rliable's default, ``method="percentile"``);
- ``probability_of_improvement``: P(X > Y) = mean over tasks of P(X_i > Y_j) + ½ P(X_i = Y_j) over all pairs of
  runs i of X and j of Y, the Mann-Whitney U statistic over n·m; its interval resamples X's and Y's runs
  independently within each task;
- ``performance_profile``: for each threshold τ, the fraction of runs scoring above τ (rliable's score
  distribution), with bootstrap bands;
- ``curve_band``: the IQM (or mean) across runs at each point of their learning curves, with a bootstrap band.

Why a numpy implementation and not ``rliable`` itself: these are five short estimators, while rliable would
bring arch, statsmodels, scipy and seaborn into an experiment layer that needs only numpy; the tests check
these functions against hand-computed cases and against rliable's own functions (rliable is a test-only
dependency, in the ``dev`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

#: One 1-D array of run scores per task; a 2-D (runs, tasks) array is taken column by column.
ScoreSet = Sequence[np.ndarray] | np.ndarray


class Interval(NamedTuple):
    """A point estimate and its confidence interval."""

    value: float
    low: float
    high: float


def tasks_of(scores: ScoreSet) -> list[np.ndarray]:
    """The score set as a list of 1-D float arrays, one per task.

    Args:
        scores: A list of 1-D arrays (runs of each task), a 1-D array (one task), or a (runs, tasks) array.

    Raises:
        ValueError: For no task, or a task without runs.
    """
    if isinstance(scores, np.ndarray):
        arr = np.asarray(scores, dtype=np.float64)
        tasks = [arr] if arr.ndim == 1 else [arr[:, j] for j in range(arr.shape[1])]
    else:
        tasks = [np.asarray(t, dtype=np.float64).ravel() for t in scores]
    if not tasks or any(len(t) == 0 for t in tasks):
        raise ValueError(f"need at least one task with at least one run, got run counts {[len(t) for t in tasks]}")
    return tasks


def trim_mean(x: np.ndarray, proportion: float = 0.25, axis: int = -1) -> np.ndarray:
    """``scipy.stats.trim_mean``: the mean after cutting ⌊proportion · n⌋ values off each end along ``axis``.

    Args:
        x: Values, any shape.
        proportion: Fraction cut at each end, in [0, 0.5).
        axis: The axis to reduce.
    """
    x = np.sort(np.asarray(x, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    k = int(proportion * n)
    if not 0.0 <= proportion < 0.5 or k >= n - k:
        raise ValueError(f"proportion must be in [0, 0.5) and leave values, got {proportion} of {n}")
    return np.take(x, np.arange(k, n - k), axis=axis).mean(axis=axis)


# Batched statistics: each task as (B, n_task), a batch of B score sets; they return (B,).
def _iqm_batched(tasks: list[np.ndarray]) -> np.ndarray:
    return trim_mean(np.concatenate(tasks, axis=1), 0.25, axis=1)


def _mean_batched(tasks: list[np.ndarray]) -> np.ndarray:
    return np.mean([t.mean(axis=1) for t in tasks], axis=0)


def iqm(scores: ScoreSet) -> float:
    """The interquartile mean of all runs of all tasks pooled (rliable's ``aggregate_iqm``)."""
    return float(_iqm_batched([t[None] for t in tasks_of(scores)])[0])


def mean(scores: ScoreSet) -> float:
    """The mean over tasks of the mean over runs (rliable's ``aggregate_mean``)."""
    return float(_mean_batched([t[None] for t in tasks_of(scores)])[0])


#: The aggregate statistics by name, as functions of batched score sets.
STATISTICS: dict[str, Callable[[list[np.ndarray]], np.ndarray]] = {"iqm": _iqm_batched, "mean": _mean_batched}


def _resample(tasks: list[np.ndarray], reps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``reps`` stratified resamples: per task, (reps, n) runs drawn with replacement from that task's n runs."""
    return [t[rng.integers(0, len(t), (reps, len(t)))] for t in tasks]


def _percentiles(estimates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(estimates, [alpha, 100.0 - alpha], axis=0)
    return low, high


def _batches(reps: int, size: int = 5000) -> list[int]:
    return [min(size, reps - start) for start in range(0, reps, size)]


def bootstrap_ci(
    scores: ScoreSet,
    statistic: str | Callable[[list[np.ndarray]], np.ndarray] = "iqm",
    reps: int = 50_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The statistic of ``scores`` and its stratified-bootstrap percentile interval.

    Args:
        scores: Runs per task (``tasks_of``).
        statistic: ``"iqm"``, ``"mean"`` or a function of batched tasks [(B, n_task)] -> (B,).
        reps: Bootstrap resamples (rliable's default 50,000).
        confidence: Interval coverage.
        seed: Seeds the resampling.
    """
    fn = STATISTICS[statistic] if isinstance(statistic, str) else statistic
    tasks = tasks_of(scores)
    rng = np.random.default_rng(seed)
    estimates = np.concatenate([fn(_resample(tasks, b, rng)) for b in _batches(reps)])
    low, high = _percentiles(estimates, confidence)
    return Interval(float(fn([t[None] for t in tasks])[0]), float(low), float(high))


def _poi_batched(xs: list[np.ndarray], ys: list[np.ndarray]) -> np.ndarray:
    per_task = []
    for x, y in zip(xs, ys, strict=True):  # (B, n), (B, m) -> (B,)
        greater = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
        equal = (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
        per_task.append(greater + 0.5 * equal)
    return np.mean(per_task, axis=0)


def probability_of_improvement(x: ScoreSet, y: ScoreSet) -> float:
    """P(X > Y): mean over tasks of P(X_i > Y_j) + ½ P(X_i = Y_j) over all run pairs (Mann-Whitney U / (n·m)).

    Raises:
        ValueError: If X and Y do not have the same number of tasks.
    """
    xs, ys = tasks_of(x), tasks_of(y)
    if len(xs) != len(ys):
        raise ValueError(f"X and Y need the same tasks, got {len(xs)} and {len(ys)}")
    return float(_poi_batched([t[None] for t in xs], [t[None] for t in ys])[0])


def probability_of_improvement_ci(
    x: ScoreSet, y: ScoreSet, reps: int = 50_000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """``probability_of_improvement`` and its interval: X's and Y's runs resampled independently per task."""
    xs, ys = tasks_of(x), tasks_of(y)
    point = probability_of_improvement(xs, ys)
    rng = np.random.default_rng(seed)
    estimates = np.concatenate([_poi_batched(_resample(xs, b, rng), _resample(ys, b, rng)) for b in _batches(reps)])
    low, high = _percentiles(estimates, confidence)
    return Interval(point, float(low), float(high))


def performance_profile(
    scores: ScoreSet, taus: np.ndarray, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fraction of runs scoring above each τ (mean over tasks of each task's fraction) and its band.

    Args:
        scores: Runs per task.
        taus: Thresholds, shape (K,).
        reps: Bootstrap resamples for the band (rliable's default for profiles, 2,000).
        confidence: Band coverage.
        seed: Seeds the resampling.

    Returns:
        (profile (K,), low (K,), high (K,)).
    """
    tasks, taus = tasks_of(scores), np.asarray(taus, dtype=np.float64)

    def profile(batch: list[np.ndarray]) -> np.ndarray:  # (B, n) per task -> (B, K)
        return np.mean([(t[:, :, None] > taus).mean(axis=1) for t in batch], axis=0)

    rng = np.random.default_rng(seed)
    estimates = np.concatenate([profile(_resample(tasks, b, rng)) for b in _batches(reps, 1000)])
    low, high = _percentiles(estimates, confidence)
    return profile([t[None] for t in tasks])[0], low, high


def curve_band(
    curves: np.ndarray, statistic: str = "iqm", reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A statistic across runs of learning curves at every point, with its bootstrap band (one task: runs resampled).

    Args:
        curves: (R, P) one curve of P points per run, on a common x grid.
        statistic: ``"iqm"`` or ``"mean"`` across the R runs.
        reps: Bootstrap resamples; the same resampled runs serve every point.
        confidence: Band coverage.
        seed: Seeds the resampling.

    Returns:
        (statistic (P,), band low (P,), band high (P,)).
    """
    curves = np.asarray(curves, dtype=np.float64)

    def stat(x: np.ndarray) -> np.ndarray:  # (B, R, P) -> (B, P)
        return trim_mean(x, 0.25, axis=1) if statistic == "iqm" else x.mean(axis=1)

    rng = np.random.default_rng(seed)
    n = len(curves)
    estimates = np.concatenate([stat(curves[rng.integers(0, n, (b, n))]) for b in _batches(reps, 500)])
    low, high = _percentiles(estimates, confidence)
    return stat(curves[None])[0], low, high


def normalize(scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """Scores mapped so that ``low`` (e.g. a random policy's score) is 0 and ``high`` (the reference) is 1.

    Raises:
        ValueError: If ``high`` is not above ``low``.
    """
    if not high > low:
        raise ValueError(f"normalisation needs high > low, got low {low}, high {high}")
    return (np.asarray(scores, dtype=np.float64) - low) / (high - low)


def summarize(
    score_sets: dict[str, ScoreSet], reps: int = 50_000, seed: int = 0, baseline: str = "sb3"
) -> list[dict[str, float | int | str | None]]:
    """One row per implementation: runs, tasks, IQM and mean with their intervals, and P(impl > baseline).

    Args:
        score_sets: Implementation -> its runs per task (the same tasks for all).
        reps: Bootstrap resamples.
        seed: Seeds the resampling.
        baseline: The implementation the others' probability of improvement is measured against.
    """
    rows = []
    for impl, scores in score_sets.items():
        tasks = tasks_of(scores)
        q, m = bootstrap_ci(tasks, "iqm", reps, seed=seed), bootstrap_ci(tasks, "mean", reps, seed=seed)
        poi = None
        if impl != baseline and baseline in score_sets:
            poi = probability_of_improvement_ci(tasks, score_sets[baseline], reps, seed=seed)
        rows.append(
            {
                "impl": impl,
                "runs": sum(len(t) for t in tasks),
                "tasks": len(tasks),
                "iqm": q.value,
                "iqm_low": q.low,
                "iqm_high": q.high,
                "mean": m.value,
                "mean_low": m.low,
                "mean_high": m.high,
                f"p_improvement_over_{baseline}": None if poi is None else poi.value,
                f"p_improvement_over_{baseline}_low": None if poi is None else poi.low,
                f"p_improvement_over_{baseline}_high": None if poi is None else poi.high,
            }
        )
    return rows


def markdown(rows: list[dict], what: str, baseline: str = "sb3", digits: int = 1) -> str:
    """The ``summarize`` rows as a Markdown table; ``what`` names the score (e.g. "eval return")."""
    key = f"p_improvement_over_{baseline}"
    shown = "SB3" if baseline == "sb3" else baseline
    head = ["impl", "runs", f"IQM {what} [95% CI]", f"mean {what} [95% CI]", f"P(impl > {shown}) [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        poi = "n/a" if r[key] is None else f"{r[key]:.2f} [{r[key + '_low']:.2f}, {r[key + '_high']:.2f}]"
        cells = [
            str(r["impl"]),
            f"{r['runs']} ({r['tasks']} env{'s' * (r['tasks'] > 1)})",
            f"{r['iqm']:.{digits}f} [{r['iqm_low']:.{digits}f}, {r['iqm_high']:.{digits}f}]",
            f"{r['mean']:.{digits}f} [{r['mean_low']:.{digits}f}, {r['mean_high']:.{digits}f}]",
            poi,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
