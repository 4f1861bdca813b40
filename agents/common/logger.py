"""Training logs in Stable-Baselines3's formats, shared by the agents and the scripts.

- ``MonitorWriter``: one ``monitor.csv`` per run (SB3's ``Monitor`` / ``VecMonitor`` format:
  a ``#{"t_start": ..., "env_id": ...}`` JSON line, then ``r,l,t`` rows), readable by
  ``stable_baselines3.common.results_plotter.load_results``.
- ``Logger``: ``record(key, value)`` (or ``record_mean``, the mean of the values given since the last
  ``dump``) then ``dump(step)`` writes a row of ``progress.csv`` (SB3's key names, e.g.
  ``rollout/ep_rew_mean``, ``time/fps``), a short stdout table, and, with a TensorBoard directory, the same
  scalars at the same step to a TensorBoard event file (``TensorBoardOutputFormat``); ``exclude=`` keeps a
  value out of some of them, under SB3's format names (``OUTPUT_NAMES``). progress.csv holds each value as
  recorded (``str(value)``, as SB3's CSV writer); only the stdout table shortens floats to 4 significant digits.
- ``Figure``, ``Image``, ``HParam``, ``Video`` (``agents.common.tensorboard``, importable from here as from SB3's
  logger): values only TensorBoard shows. Videos, and any of them when the logger has no TensorBoard output, are not
  written, with one warning per key. None of them goes to progress.csv or the stdout table.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from agents.common.tensorboard import (  # noqa: F401 - Figure...Video: SB3's names, imported from its logger
    Figure,
    HParam,
    Image,
    TensorBoardOutputFormat,
    Video,
    close_figure,
    tensorboard_only,
    tensorboard_run_dir,
)

#: SB3's output format names, as ``record(..., exclude=...)`` takes them, and the nngym output each one names:
#: the stdout table (SB3's "stdout" and "log" both print the human-readable table), progress.csv, TensorBoard. nngym
#: writes no JSON log, so "json" excludes a value from nothing.
OUTPUT_NAMES: dict[str, str | None] = {
    "stdout": "stdout",
    "log": "stdout",
    "csv": "csv",
    "tensorboard": "tensorboard",
    "json": None,
}


def excluded_outputs(exclude: Any, where: str = "Logger.record") -> frozenset[str]:
    """The nngym outputs (``"stdout"``, ``"csv"``, ``"tensorboard"``) that SB3's ``exclude`` argument names: None,
    one format name or a tuple / list of them (``OUTPUT_NAMES``).

    Raises:
        ValueError: For another kind of value or a name that is not one of SB3's formats, naming ``where``, the
            names taken and what came.
    """
    if exclude is None:
        return frozenset()
    names = (exclude,) if isinstance(exclude, str) else exclude
    if not isinstance(names, tuple | list) or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f"{where}: exclude must be None, a format name or a tuple of them (some of {sorted(OUTPUT_NAMES)}), "
            f"got {type(exclude).__name__} {exclude!r}"
        )
    unknown = sorted({n for n in names if n not in OUTPUT_NAMES})
    if unknown:
        raise ValueError(f"{where}: exclude takes SB3's format names {sorted(OUTPUT_NAMES)}, got {unknown}")
    return frozenset(out for n in names if (out := OUTPUT_NAMES[n]) is not None)


class MonitorWriter:
    """Appends finished episodes (return r, length l, wall time t since start) to ``<folder>/monitor.csv``.

    ``t`` is SB3's Monitor's: seconds since the run started (the header's ``t_start``). A run continued with
    ``append`` (resumed from a checkpoint, or ``learn`` called again) goes on from the ``t`` of the last row it keeps,
    so ``t`` counts the seconds the run has spent running, not the time between its two runs (which can be days);
    ``t_start + t`` is then no longer the wall-clock time an episode ended.

    Args:
        folder: Directory for the file (created if missing).
        env_id: Written in the JSON header line.
        append: Keep an existing file (resume) instead of starting a new one.
        keep_episodes: With ``append``, the number of episode rows to keep: a run resumed from a checkpoint
            drops the rows its earlier self wrote after the checkpoint, which the resumed run plays again
            (``None``: keep them all).
    """

    def __init__(
        self, folder: str | os.PathLike, env_id: str = "", append: bool = False, keep_episodes: int | None = None
    ) -> None:
        self.path = Path(folder) / "monitor.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.t_start = time.time()
        #: time.time() at t = 0 of the rows this writer adds: t_start for a new file, earlier for a continued one
        self._t0 = self.t_start
        if append and self.path.exists():
            with open(self.path) as f:
                lines = f.readlines()
            self.t_start = float(json.loads(lines[0][1:])["t_start"])
            if keep_episodes is not None and len(lines) > 2 + keep_episodes:  # header, column names, rows
                lines = lines[: 2 + keep_episodes]
                with open(self.path, "w") as f:
                    f.writelines(lines)
            self._t0 = time.time() - last_episode_t(lines)  # t goes on from the last kept row
            self._file = open(self.path, "a")  # noqa: SIM115 - kept open while training
        else:
            self._file = open(self.path, "w")  # noqa: SIM115
            self._file.write("#" + json.dumps({"t_start": self.t_start, "env_id": env_id}) + "\n")
            self._file.write("r,l,t\n")
        self._file.flush()

    def write(self, returns: list[float], lengths: list[int]) -> None:
        """Writes one row per finished episode."""
        t = round(time.time() - self._t0, 6)
        for r, n in zip(returns, lengths, strict=True):
            self._file.write(f"{round(float(r), 6)},{int(n)},{t}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def last_episode_t(lines: list[str]) -> float:
    """The ``t`` of the last episode row of a monitor file's lines (header, column names, rows), 0 without one:
    where a continued run's time axis goes on."""
    for line in reversed(lines[2:]):
        cells = line.strip().split(",")
        if len(cells) >= 3:
            try:
                return float(cells[2])
            except ValueError:
                continue
    return 0.0


def _step_of(row: dict[str, str]) -> float:
    """The env step a ``progress.csv`` row was logged at (``time/total_timesteps``; rows without it: 0)."""
    try:
        return float(row.get("time/total_timesteps") or 0)
    except ValueError:
        return 0.0


def log_rows(folder: Path) -> dict[str, int]:
    """The rows of ``monitor.csv`` (episodes) and ``progress.csv`` in ``folder`` (0 for a file that is missing)."""
    monitor, progress = folder / "monitor.csv", folder / "progress.csv"
    episodes = max(len(monitor.read_text().splitlines()) - 2, 0) if monitor.exists() else 0  # JSON line, names
    rows = 0
    if progress.exists() and progress.stat().st_size:
        with open(progress, newline="") as f:
            rows = sum(1 for _ in csv.DictReader(f))
    return {"monitor": episodes, "progress": rows}


def trim_progress(path: Path, keep: int, until_step: int) -> None:
    """Drops the rows of ``progress.csv`` a run resumed at ``until_step`` env steps logs again: after the first
    ``keep`` rows (earlier runs'), those logged after ``until_step`` (``time/total_timesteps``)."""
    if not path.exists() or not path.stat().st_size:
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows, keys = list(reader), list(reader.fieldnames or [])
    kept = rows[:keep] + [r for r in rows[keep:] if _step_of(r) <= until_step]
    if len(kept) < len(rows):
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(kept)


def trim_monitor(path: Path, episodes: int) -> None:
    """Keeps the first ``episodes`` episode rows of a ``monitor.csv`` (after its JSON header and column names)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    if len(lines) > 2 + episodes:
        path.write_text("".join(lines[: 2 + episodes]))


class Logger:
    """Collects values under SB3's key names and writes them to ``progress.csv``, stdout and TensorBoard.

    ``record(key, value, exclude=None)`` and ``record_mean(key, value, exclude=None)`` are SB3's: ``exclude`` names
    outputs the value stays out of, by SB3's format names (``"stdout"`` / ``"log"``: the stdout table, ``"csv"``:
    progress.csv, ``"tensorboard"``; ``"json"``, which nngym does not write, excludes it from nothing), so callbacks
    written for SB3 run unchanged. So are ``name_to_value`` (the values recorded since the last ``dump``),
    ``get_dir()`` and ``close()``.

    progress.csv holds every value as recorded, ``str(value)`` as SB3's CSV writer writes it (``123456.789``, not a
    rounded ``1.235e+05``); the stdout table shows floats to 4 significant digits. ``Figure``, ``Image``, ``HParam``
    and ``Video`` values (this module's or SB3's) go to TensorBoard only (``TensorBoardOutputFormat``), never to
    progress.csv or the table; one that is not written (a video, or any of them without a TensorBoard output) gives
    one warning per key, naming its type, and the run goes on.

    Args:
        folder: Where ``progress.csv`` goes (``None``: no file).
        verbose: 1 or more prints an SB3-style table at every ``dump``; 0 or less nothing (as SB3).
        append: Keep an existing ``progress.csv`` (resume).
        keep_until_step: With ``append``, drop the rows logged after this many env steps (a run resumed from
            a checkpoint logs those steps again; ``None``: keep every row).
        tensorboard_dir: A run directory for TensorBoard event files (``tensorboard_run_dir``; ``None``: none).

    Raises:
        ImportError: ``tensorboard_dir`` without the tensorboard package (``TensorBoardOutputFormat``).
    """

    def __init__(
        self,
        folder: str | os.PathLike | None = None,
        verbose: int = 1,
        append: bool = False,
        tensorboard_dir: str | os.PathLike | None = None,
        keep_until_step: int | None = None,
    ) -> None:
        self.verbose = verbose
        self.values: dict[str, Any] = {}
        #: the outputs each recorded key stays out of (``excluded_outputs``); keys without an entry go everywhere
        self.excluded: dict[str, frozenset[str]] = {}
        self._mean_counts: dict[str, int] = {}  # record_mean: values averaged into each key since the last dump
        self._warned: set[str] = set()  # keys whose value was not written, warned about once
        self.tensorboard = None if tensorboard_dir is None else TensorBoardOutputFormat(tensorboard_dir)
        self.path = None if folder is None else Path(folder) / "progress.csv"
        self._keys: list[str] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if append and self.path.exists():
                with open(self.path, newline="") as f:
                    reader = csv.DictReader(f)
                    rows = list(reader)
                    self._keys = list(reader.fieldnames or [])
                if keep_until_step is not None:
                    kept = [r for r in rows if _step_of(r) <= keep_until_step]
                    if len(kept) < len(rows):
                        with open(self.path, "w", newline="") as f:
                            w = csv.DictWriter(f, fieldnames=self._keys)
                            w.writeheader()
                            w.writerows(kept)
            else:
                self.path.write_text("")

    def __getattr__(self, name: str) -> Any:
        if name == "output_formats":  # SB3's writers: code that reaches into them wants SB3's logger
            raise AttributeError(
                "Logger.output_formats: nngym's logger has no SB3 output formats (its TensorBoard writer is not SB3's "
                "TensorBoardOutputFormat); for code that uses them, give the agent SB3's logger: "
                "agent.set_logger(stable_baselines3.common.logger.configure(folder, ['stdout', 'csv', 'tensorboard']))"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def record(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        """Sets ``key``'s value in the next row (SB3's ``record``); a later ``record`` of the key replaces it.

        Args:
            key: SB3-style name, ``"<group>/<name>"``.
            value: A number (or a string, for the table and progress.csv), or a ``Figure``, ``Image``, ``HParam`` or
                ``Video`` (this module's or SB3's) for TensorBoard only.
            exclude: Outputs the value stays out of: SB3's format names (``OUTPUT_NAMES``), one or a tuple.

        Raises:
            ValueError: For an ``exclude`` that names no SB3 format (``excluded_outputs``).
        """
        self.excluded[key] = excluded_outputs(exclude)
        self.values[key] = value
        self._mean_counts.pop(key, None)

    def record_mean(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        """Averages ``value`` into ``key``: the next row holds the mean of the values ``record_mean`` was given for it
        since the last ``dump`` (SB3's ``record_mean``; a ``record`` of the key in between starts the mean again).
        None is skipped, as SB3 skips it.

        Raises:
            ValueError: For an ``exclude`` that names no SB3 format (``excluded_outputs``).
        """
        excluded = excluded_outputs(exclude, "Logger.record_mean")
        if value is None:
            return
        count = self._mean_counts.get(key, 0)
        mean = self.values[key] if count else 0.0
        self.values[key] = mean + (value - mean) / (count + 1)
        self._mean_counts[key] = count + 1
        self.excluded[key] = excluded

    @property
    def name_to_value(self) -> dict[str, Any]:
        """SB3's ``name_to_value``: the values recorded since the last ``dump`` (a ``record_mean`` key: the mean so
        far), by key; ``dump`` empties it. The logger's own dict, as SB3's, but a plain one: a key not recorded is
        missing (``.get(key)``), where SB3's defaultdict would read it as 0.0 and write that 0.0 at the next dump."""
        return self.values

    def get_dir(self) -> str | None:
        """SB3's ``get_dir``: the folder the logger writes its files to, progress.csv's (else the TensorBoard run
        directory), None if it writes no file."""
        if self.path is not None:
            return os.fspath(self.path.parent)
        return None if self.tensorboard is None else os.fspath(self.tensorboard.dir)

    def _shown_in(self, output: str) -> dict[str, Any]:
        """The recorded values that go to ``output`` (``"stdout"``, ``"csv"`` or ``"tensorboard"``): the values only
        TensorBoard shows (``tensorboard_only``) go to no other output."""
        return {
            k: v
            for k, v in self.values.items()
            if output not in self.excluded.get(k, ()) and (output == "tensorboard" or tensorboard_only(v) is None)
        }

    def dump(self, step: int, out: TextIO | None = None) -> None:
        """Writes the recorded values (plus ``time/total_timesteps``), each to the outputs it is not excluded from,
        and clears them.

        A ``Figure``, ``Image``, ``HParam`` or ``Video`` that goes to TensorBoard but is not written there (a video,
        an image that is none, or a logger without TensorBoard output) warns once per key and is dropped; a
        ``Figure`` with ``close=True`` is closed.
        """
        if "time/total_timesteps" not in self.values:  # the row's step, for progress.csv (TensorBoard's x axis)
            self.values["time/total_timesteps"] = step
            self.excluded.setdefault("time/total_timesteps", frozenset({"tensorboard"}))
        if self.path is not None:
            self._write_csv(self._shown_in("csv"))
        board = self._shown_in("tensorboard")
        if self.tensorboard is not None:
            not_written = self.tensorboard.write(board, step)
        else:
            not_written = {
                k: "the logger has no TensorBoard output; give the agent tensorboard_log=DIR (--tensorboard-log) to "
                "write it"
                for k, v in board.items()
                if tensorboard_only(v) is not None
            }
        for key, why in not_written.items():
            self._warn_not_written(key, self.values[key], why)
        if self.verbose >= 1:  # SB3's: 0 or less prints nothing
            print(self.table(self._shown_in("stdout")), file=out or sys.stdout)
        for v in self.values.values():
            if tensorboard_only(v) == "figure" and v.close:
                close_figure(v.figure)
        self.values, self.excluded, self._mean_counts = {}, {}, {}

    def _warn_not_written(self, key: str, value: Any, why: str) -> None:
        """One warning per key that ``value``, recorded under ``key``, is not written, naming its type and why."""
        if key in self._warned:
            return
        self._warned.add(key)
        kind = type(value)
        warnings.warn(
            f"Logger: {key!r} holds a value of type {kind.__module__}.{kind.__qualname__}, which goes to TensorBoard "
            f"only (never to progress.csv or the stdout table), and is not written: {why}",
            UserWarning,
            stacklevel=3,
        )

    def close(self) -> None:
        """Closes the TensorBoard event file (SB3's ``close``; ``progress.csv`` is closed after every row). Calling it
        again does nothing."""
        if self.tensorboard is not None:
            self.tensorboard.close()

    def _write_csv(self, values: dict[str, Any]) -> None:
        """Appends a row of ``values`` to progress.csv, each as ``str(value)`` (SB3's CSV writer: full precision; None
        an empty cell), widening the header for new keys."""
        new = [k for k in values if k not in self._keys]
        if new:  # a new key: rewrite the file with the wider header, as SB3 does
            self._keys.extend(new)
            rows = []
            if self.path.stat().st_size:
                with open(self.path) as f:
                    rows = list(csv.DictReader(f))
            with open(self.path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self._keys)
                w.writeheader()
                w.writerows(rows)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self._keys).writerow(
                {k: "" if v is None else str(v) for k, v in values.items()}
            )

    def table(self, values: dict[str, Any] | None = None) -> str:
        """SB3's stdout table of ``values`` (default: every recorded value): keys grouped by prefix, values right of
        a bar."""
        values = self.values if values is None else values
        groups: dict[str, list[tuple[str, str]]] = {}
        for key in sorted(values):
            prefix, _, name = key.partition("/")
            groups.setdefault(prefix, []).append((name, _fmt(values[key])))
        kw = max([len(p) + 1 for p in groups] + [len(n) + 3 for g in groups.values() for n, _ in g] + [10])
        vw = max([len(v) for g in groups.values() for _, v in g] + [8])
        line = "-" * (kw + vw + 7)
        out = [line]
        for prefix, items in groups.items():
            out.append(f"| {prefix + '/':<{kw}} | {'':<{vw}} |")
            out.extend(f"| {'   ' + n:<{kw}} | {v:<{vw}} |" for n, v in items)
        out.append(line)
        return "\n".join(out)


def _fmt(v: Any) -> str:
    """A value as the stdout table shows it: floats (numpy's too) to 3 significant digits, as SB3's."""
    if isinstance(v, float | np.floating):
        return f"{v:.3g}"
    return str(v)


def member_log_dir(log_dir: str | os.PathLike | None, seed: int) -> Path | None:
    """Member ``seed``'s log directory: ``log_dir`` with ``{seed}`` filled in if it has one, else
    ``log_dir/s<seed>``."""
    if log_dir is None:
        return None
    text = os.fspath(log_dir)
    return Path(text.format(seed=seed)) if "{seed}" in text else Path(text) / f"s{seed}"
