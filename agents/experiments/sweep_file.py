"""Sweeps: implementations × algorithms × environments × seeds × a grid of hyperparameter overrides.

A sweep file (YAML) names what to run::

    name: cartpole-ppo
    impls: [nngym, sb3]
    algos: [ppo]
    envs: [CartPole-v1]
    seeds: [0, 1, 2]
    total_timesteps: 100000        # optional: default is each algorithm's YAML n_timesteps
    hyperparams:                   # optional grid: a list is swept, a scalar is fixed
      learning_rate: [lin_0.001, lin_0.0003]
    n_eval_episodes: 20
    checkpoint_freq: 500           # vector steps between checkpoints (resume after a worker dies)
    max_retries: 2                 # times a run whose worker died is restarted from its checkpoint

Each combination is one run of the train runner (``python -m agents.experiments.train``, the command
behind ``scripts/train.py``) with
its own log directory ``<log_dir>/<run name>/``, so a sweep's runs have the same layout as
single runs. A run is *finished* when its ``eval.json`` exists; finished runs are skipped on a
rerun. A run that fails is reported with its reason (the ``error:`` line of a refused input, or the
traceback) saved to ``error.txt`` while the others go on; a run whose worker dies (killed by a
signal, or a Ray worker lost) is retried and resumes from its latest checkpoint.

Backends: ``local`` runs each combination in a subprocess, at most ``workers`` at a time; ``ray``
submits each as a Ray task (one CPU unless told otherwise) and brings the run's files back to the
driver through Ray, so workers need not share a filesystem with it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

import envs as _nngym_envs  # noqa: F401 - registers the nngym/ ids
from agents import ALGOS
from agents.baselines import ALGO_NAMES as SB3_ALGO_NAMES
from agents.common.hyperparams import ENV_KEYS
from agents.experiments.cli import env_slug, import_env_module

IMPLS = ("nngym", "sb3")
#: the train runner each run executes in its own process (``run_command`` appends the run's arguments)
TRAIN_COMMAND = [sys.executable, "-m", "agents.experiments.train"]
#: The population trainer the local backend runs for nngym's seeds of one configuration.
POPULATION_COMMAND = [sys.executable, "-m", "agents.experiments.train_population"]
SWEEP_KEYS = {
    "name": "a name for the sweep (used for its default log directory)",
    "impls": "list of implementations: nngym, sb3",
    "algos": "list of algorithms",
    "envs": "list of env ids",
    "seeds": "list of distinct integer seeds",
    "total_timesteps": "env steps per run (default: the algorithm's YAML n_timesteps)",
    "hyperparams": "mapping of hyperparameter -> value or list of values (a grid)",
    "n_eval_episodes": "deterministic evaluation episodes after training, >= 1: the table compares them (default 20)",
    "checkpoint_freq": "vector steps between checkpoints (default 0: none; needed to resume after a crash)",
    "max_retries": "restarts of a run whose worker died (default 2)",
    "tune": "a Ray Tune search (see agents.experiments.tune)",
}


class SweepError(ValueError):
    """A sweep file is invalid; raised before anything runs."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of a sweep."""

    impl: str
    algo: str
    env: str
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    total_timesteps: int | None = None

    @property
    def name(self) -> str:
        """Directory name: ``<impl>_<algo>_<env>_s<seed>[_<key>=<value>...]``."""
        parts = [self.impl, self.algo, env_slug(self.env), f"s{self.seed}"]
        parts += [f"{k}={v}" for k, v in self.overrides]
        return "_".join(parts)

    def argv(self, log_dir: Path, n_eval_episodes: int, checkpoint_freq: int, resume: Path | None) -> list[str]:
        """Arguments of the train runner (``agents.experiments.train``) for this run."""
        args = ["--impl", self.impl, "--algo", self.algo, "--env", self.env, "--seed", str(self.seed)]
        args += ["--log-dir", str(log_dir), "--n-eval-episodes", str(n_eval_episodes)]
        args += ["--num-threads", "1"]  # runs side by side, a core each
        if self.total_timesteps:
            args += ["--total-timesteps", str(self.total_timesteps)]
        if checkpoint_freq:
            args += ["--checkpoint-freq", str(checkpoint_freq)]
        if resume is not None:
            args += ["--resume", str(resume)]
        if self.overrides:
            args += ["-p", *(f"{k}={json.dumps(v)}" for k, v in self.overrides)]
        return args


@dataclasses.dataclass
class Sweep:
    """A validated sweep file."""

    name: str
    runs: list[Run]
    n_eval_episodes: int = 20
    checkpoint_freq: int = 0
    max_retries: int = 2
    tune: dict[str, Any] | None = None


@dataclasses.dataclass
class RunResult:
    """What happened to one run."""

    run: Run
    status: str  # "finished", "skipped" (finished before), "failed"
    attempts: int = 0
    seconds: float = 0.0
    error: str = ""
    resumed_from: int = 0  # env steps of the checkpoint the last attempt resumed from


def _as_list(value: Any, key: str) -> list[Any]:
    if isinstance(value, list | tuple):
        if not value:
            raise SweepError(f"sweep key {key!r} is an empty list")
        return list(value)
    return [value]


def known_algos(impl: str) -> set[str]:
    """Algorithms an implementation offers."""
    if impl == "nngym":
        return set(ALGOS)
    return set(SB3_ALGO_NAMES)


def load_sweep(source: str | os.PathLike | dict[str, Any]) -> Sweep:
    """Reads and validates a sweep file (or an already-parsed mapping).

    Raises:
        SweepError: For unknown keys, implementations, algorithms, env ids or hyperparameters, or
            values of the wrong type, naming what is allowed. Nothing has run when it is raised.
    """
    if isinstance(source, dict):
        spec, where = dict(source), "sweep"
    else:
        where = str(source)
        try:
            spec = yaml.safe_load(Path(source).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise SweepError(f"cannot read sweep file {where}: {e}") from e
    if not isinstance(spec, dict):
        raise SweepError(f"{where}: a sweep file is a mapping of {sorted(SWEEP_KEYS)}, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SWEEP_KEYS))
    if unknown:
        raise SweepError(f"{where}: unknown keys {unknown}; allowed: {sorted(SWEEP_KEYS)}")
    tune = spec.get("tune")
    if tune is not None and not isinstance(tune, dict):
        raise SweepError(f"{where}: 'tune' must be a mapping")
    if tune is not None and not any(k in spec for k in ("impls", "algos", "envs", "seeds")):
        return Sweep(name=str(spec.get("name", "tune")), runs=[], tune=tune)
    for key in ("algos", "envs", "seeds"):
        if key not in spec:
            raise SweepError(f"{where}: missing key {key!r} ({SWEEP_KEYS[key]})")

    impls = [str(i) for i in _as_list(spec.get("impls", ["nngym"]), "impls")]
    algos = [str(a) for a in _as_list(spec["algos"], "algos")]
    envs = [str(e) for e in _as_list(spec["envs"], "envs")]
    seeds = _as_list(spec["seeds"], "seeds")
    for impl in impls:
        if impl not in IMPLS:
            raise SweepError(f"{where}: unknown implementation {impl!r}; expected one of {list(IMPLS)}")
        missing = sorted(set(algos) - known_algos(impl))
        if missing:
            raise SweepError(f"{where}: {impl} has no algorithm {missing}; it offers {sorted(known_algos(impl))}")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise SweepError(f"{where}: seeds must be integers, got {seeds}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise SweepError(
            f"{where}: seeds must be distinct (a repeated seed is the same run twice), got {seeds}: "
            f"{', '.join(map(str, repeated))} repeated"
        )
    check_envs(envs, where)

    grid = spec.get("hyperparams") or {}
    if not isinstance(grid, dict):
        raise SweepError(f"{where}: 'hyperparams' must be a mapping of name -> value or list, got {grid!r}")
    check_hyperparams(grid, algos, where)
    keys = sorted(grid)
    combos = list(itertools.product(*(_as_list(grid[k], f"hyperparams.{k}") for k in keys)))
    total = spec.get("total_timesteps")
    if total is not None and (not isinstance(total, int | float) or total <= 0):
        raise SweepError(f"{where}: total_timesteps must be a positive number, got {total!r}")
    runs = [
        Run(impl, algo, env, int(seed), tuple(zip(keys, combo, strict=True)), None if total is None else int(total))
        for impl, algo, env, combo, seed in itertools.product(impls, algos, envs, combos, seeds)
    ]
    ints = {k: spec.get(k, d) for k, d in (("n_eval_episodes", 20), ("checkpoint_freq", 0), ("max_retries", 2))}
    for k, v in ints.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise SweepError(f"{where}: {k} must be a non-negative integer, got {v!r}")
    if ints["n_eval_episodes"] < 1:
        raise SweepError(
            f"{where}: n_eval_episodes must be >= 1 (the sweep's table compares the final evaluations), got 0"
        )
    return Sweep(name=str(spec.get("name", Path(where).stem)), runs=runs, tune=tune, **ints)


def check_envs(envs: Iterable[str], where: str) -> None:
    """Checks that every env id is registered; a ``module:EnvId`` id's module is imported first (from the current
    directory too, ``agents.experiments.cli.import_env_module``).

    Raises:
        SweepError: Naming the id that is unknown or whose module cannot be imported.
    """
    for env_id in envs:
        try:
            import_env_module(env_id)
            gym.spec(env_id)
        except ImportError as e:
            raise SweepError(f"{where}: {e}") from None
        except gym.error.Error as e:
            raise SweepError(f"{where}: unknown env id {env_id!r} ({e})") from None


def check_hyperparams(grid: dict[str, Any], algos: list[str], where: str) -> None:
    """Checks the grid's names: the algorithms' Config fields and the yml keys the train runner translates
    (``agents.common.hyperparams``: ``policy``, ``policy_kwargs``, ``normalize`` ...), which a run passes as ``-p``.

    Raises:
        SweepError: Naming the names an algorithm does not have.
    """
    allowed = {"n_envs", "n_timesteps", "net", "policy", "policy_kwargs", "normalize", "net_arch", *ENV_KEYS}
    for algo in algos:
        if algo in ALGOS:
            names = allowed | {f.name for f in dataclasses.fields(ALGOS[algo].Config)}
            bad = sorted(set(grid) - names)
            if bad:
                raise SweepError(f"{where}: {algo} has no hyperparameter {bad}; it has {sorted(names)}")


# --- running -------------------------------------------------------------------------------------
def is_finished(run_dir: Path) -> bool:
    """A run is finished when training wrote its ``eval.json``."""
    return any(run_dir.glob("**/eval.json"))


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint with the most steps under ``run_dir`` (``*_<steps>_steps.npz``), if any."""
    found = []
    for path in run_dir.glob("**/checkpoints/*_steps.npz"):
        try:
            found.append((checkpoint_steps(path), path))
        except ValueError:
            continue
    return max(found)[1] if found else None


def run_command(train_cmd: list[str], run: Run, sweep: Sweep, run_dir: Path, resume: Path | None) -> list[str]:
    """The subprocess command line of one run: ``train_cmd`` (``TRAIN_COMMAND``) and the runner's arguments."""
    return [*train_cmd, *run.argv(run_dir, sweep.n_eval_episodes, sweep.checkpoint_freq, resume)]


def checkpoint_steps(path: Path | None) -> int:
    """Env steps in a checkpoint's name ``<prefix>_<steps>_steps.npz`` (0 for None)."""
    return 0 if path is None else int(path.stem.rsplit("_", 2)[-2])


def save_error(run_dir: Path, code: int) -> str:
    """Keeps why the run failed (its traceback, else the tail of its log) in ``error.txt``; returns its last line."""
    log = run_dir / "train.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    tail = text[text.rfind("Traceback (most recent call last)") :] if "Traceback" in text else text[-4000:]
    why = f"exit code {code}" if code >= 0 else f"killed by signal {-code}, retries exhausted"
    (run_dir / "error.txt").write_text(f"{why}\n{tail}")
    last = tail.strip().splitlines()[-1] if tail.strip() else why
    return f"{why}: {last}"
