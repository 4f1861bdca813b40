"""Training logs in Stable-Baselines3's formats, shared by the agents and the scripts.

- ``MonitorWriter``: one ``monitor.csv`` per run (SB3's ``Monitor`` / ``VecMonitor`` format:
  a ``#{"t_start": ..., "env_id": ...}`` JSON line, then ``r,l,t`` rows), readable by
  ``stable_baselines3.common.results_plotter.load_results``.
- ``Logger``: ``record(key, value)`` then ``dump(step)`` writes a row of ``progress.csv``
  (SB3's key names, e.g. ``rollout/ep_rew_mean``, ``time/fps``) and a short stdout table.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO


class MonitorWriter:
    """Appends finished episodes (return r, length l, wall time t since start) to ``<folder>/monitor.csv``.

    Args:
        folder: Directory for the file (created if missing).
        env_id: Written in the JSON header line.
        append: Keep an existing file (resume) instead of starting a new one.
    """

    def __init__(self, folder: str | os.PathLike, env_id: str = "", append: bool = False) -> None:
        self.path = Path(folder) / "monitor.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.t_start = time.time()
        if append and self.path.exists():
            with open(self.path) as f:
                self.t_start = float(json.loads(f.readline()[1:])["t_start"])
            self._file = open(self.path, "a")  # noqa: SIM115 - kept open while training
        else:
            self._file = open(self.path, "w")  # noqa: SIM115
            self._file.write("#" + json.dumps({"t_start": self.t_start, "env_id": env_id}) + "\n")
            self._file.write("r,l,t\n")
        self._file.flush()

    def write(self, returns: list[float], lengths: list[int]) -> None:
        """Writes one row per finished episode."""
        t = round(time.time() - self.t_start, 6)
        for r, n in zip(returns, lengths, strict=True):
            self._file.write(f"{round(float(r), 6)},{int(n)},{t}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Logger:
    """Collects scalars under SB3's key names and writes them to ``progress.csv`` and stdout.

    Args:
        folder: Where ``progress.csv`` goes (``None``: no file).
        verbose: 1 prints an SB3-style table at every ``dump``; 0 prints nothing.
        append: Keep an existing ``progress.csv`` (resume).
    """

    def __init__(self, folder: str | os.PathLike | None = None, verbose: int = 1, append: bool = False) -> None:
        self.verbose = verbose
        self.values: dict[str, Any] = {}
        self.path = None if folder is None else Path(folder) / "progress.csv"
        self._keys: list[str] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if append and self.path.exists():
                with open(self.path) as f:
                    self._keys = next(csv.reader(f), [])
            else:
                self.path.write_text("")

    def record(self, key: str, value: Any) -> None:
        self.values[key] = value

    def dump(self, step: int, out: TextIO | None = None) -> None:
        """Writes the recorded values (plus ``time/total_timesteps``) and clears them."""
        self.values.setdefault("time/total_timesteps", step)
        if self.path is not None:
            self._write_csv()
        if self.verbose:
            print(self.table(), file=out or sys.stdout)
        self.values = {}

    def _write_csv(self) -> None:
        new = [k for k in self.values if k not in self._keys]
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
            csv.DictWriter(f, fieldnames=self._keys).writerow({k: _fmt(v) for k, v in self.values.items()})

    def table(self) -> str:
        """SB3's stdout table: keys grouped by prefix, values right of a bar."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for key in sorted(self.values):
            prefix, _, name = key.partition("/")
            groups.setdefault(prefix, []).append((name, _fmt(self.values[key])))
        kw = max([len(p) + 1 for p in groups] + [len(n) + 4 for g in groups.values() for n, _ in g] + [10])
        vw = max([len(v) for g in groups.values() for _, v in g] + [8])
        line = "-" * (kw + vw + 7)
        out = [line]
        for prefix, items in groups.items():
            out.append(f"| {prefix + '/':<{kw}} | {'':<{vw}} |")
            out.extend(f"| {'    ' + n:<{kw}} | {v:<{vw}} |" for n, v in items)
        out.append(line)
        return "\n".join(out)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
