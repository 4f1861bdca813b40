"""What the command-line programs share: ``KEY=VALUE`` options, argument types checked when the command line is
parsed, env ids of gymnasium's ``module:EnvId`` form, and user errors reported as one ``error:`` line."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

from nngym.parallel import available_cores

#: The OSErrors of a path the user named: missing, not permitted, a folder for a file or a file for a folder.
PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


@contextmanager
def reported_as_errors() -> Iterator[None]:
    """Ends the script with ``error: <reason>`` for what the user gave wrong: a ValueError (bad hyperparameters,
    spaces, model files: their messages name what was expected and what came), a missing file or one that cannot
    be read or written (permissions, a folder where a file was meant, a file where a folder was meant), an
    unknown env id (gymnasium's errors), a module that cannot be imported (an env's entry point, a missing
    optional package), and the TypeError ``gym.make`` raises for arguments the env does not take.

    Raises:
        SystemExit: With the reason, instead of a traceback.
    """
    try:
        yield
    except (ValueError, ImportError, gym.error.Error, *PATH_ERRORS) as e:
        raise SystemExit(f"error: {e}") from None
    except TypeError as e:
        if "environment creator" not in str(e):  # not gym.make's: a defect, with its traceback
            raise
        raise SystemExit(f"error: {e}") from None


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Ends the script with ``error: cannot write <path>: <reason>`` for an OSError while writing ``path`` (a folder
    that cannot be made or written to, a read-only file system such as ``/proc``, a folder of that name, a full
    disk): the file the user named, not a temporary file or a traceback.

    Raises:
        SystemExit: With the path and the reason.
    """
    try:
        yield
    except OSError as e:
        reason = e.strerror or str(e)
        if e.filename is not None and os.fspath(e.filename) != os.fspath(path):
            reason += f" ({e.filename})"
        raise SystemExit(f"error: cannot write {os.fspath(path)}: {reason}") from None


def output_file(text: str) -> str:
    """argparse ``type=`` of a file a script writes when it is done (``--save`` after training): its folder must
    exist or be creatable and be writable, and the path must not be a folder, so a long run does not end in a
    failed write.

    Raises:
        argparse.ArgumentTypeError: Naming the path and the reason.
    """
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, expected a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the nearest folder that exists is the one written to
        folder = folder.parent
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot write {text}: {e.strerror or e} (in {folder})") from None
    return text


def output_folder(text: str) -> str:
    """argparse ``type=`` of a folder a script writes into (``--log-dir``, ``--video-folder``): it may not exist yet,
    but neither it nor a folder above it may be a file, so a run does not end, after its work, in a failed write.

    Raises:
        argparse.ArgumentTypeError: Naming the path and the file in the way.
    """
    if not text:
        raise argparse.ArgumentTypeError("expected a folder, got ''")
    path = Path(text)
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            what = "a file" if folder == path else f"inside the file {folder}"
            raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}: {what}")
    return text


def writable_folder(option: str, path: str | os.PathLike, *, of_file: bool = False) -> Path:
    """Creates the folder an output option names (``--log-dir``, ``--out`` ...), or with ``of_file`` the folder of
    the file it names, and checks that a file can be written into it: what a script calls before its work, so a
    path that cannot be written ends the command at once, not in a traceback after the training.

    Args:
        option: The option, as the message names it (``"--log-dir"``).
        path: Its value.
        of_file: ``path`` names a file (or a file name without its suffix, as ``plot.py --out``): its parent folder
            is created and checked.

    Returns:
        The folder, created.

    Raises:
        SystemExit: ``error: <option> <path>: cannot create the folder (<reason>)`` (with ``of_file``: ``cannot
            create its folder <folder> (<reason>)``): a folder under a read-only file system such as ``/proc``, a
            file of that name or a file where a folder above it should be (the reason names it), no permission;
            ``cannot write into the folder ...`` for a folder that exists but takes no files.
    """
    folder = Path(path).parent if of_file else Path(path)
    which = f"its folder {folder}" if of_file else "the folder"
    into = f"into its folder {folder}" if of_file else "into the folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = e.strerror or str(e)
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            reason += f": {blocker} is a file"
        raise SystemExit(f"error: {option} {os.fspath(path)}: cannot create {which} ({reason})") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise SystemExit(f"error: {option} {os.fspath(path)}: cannot write {into} ({e.strerror or e})") from None
    return folder


def check_threads(num_threads: int, minus_one: str) -> int:
    """``--num-threads``: a count >= 1, or -1, which means ``minus_one`` (e.g. "as many as pay": a single agent's
    ``BaseAgent.learning_threads``; "every core": a population's).

    A count above the cores this process may run on (``nngym.parallel.available_cores``: its CPU affinity) is kept,
    as SB3 and torch keep it: a run's numbers depend on its thread count, so asking for a larger machine's count
    reproduces that machine's run. It prints a warning line, since the threads then share the cores, which makes the
    run slower, not faster.

    Raises:
        SystemExit: For 0 or a count below -1.
    """
    if num_threads == 0 or num_threads < -1:
        raise SystemExit(f"error: --num-threads: expected a count >= 1 or -1 ({minus_one}), got {num_threads}")
    cores = available_cores()
    if num_threads > cores:
        print(
            f"warning: --num-threads {num_threads} is more than the {cores} core{'s' * (cores != 1)} this process may "
            f"run on: the threads share them, which makes the run slower, not faster (its numbers are still those of "
            f"a {num_threads}-thread run)",
            flush=True,
        )
    return num_threads


def env_slug(env: str) -> str:
    """An env id as a file or folder name: ``/`` (a namespace, ``nngym/Catch-v0``) and ``:`` (gymnasium's
    ``module:EnvId`` form, not allowed in Windows names) become ``-``."""
    return env.replace("/", "-").replace(":", "-")


def zoo_aliases(parser: argparse.ArgumentParser, aliases: dict[tuple[str, ...], tuple[str, dict[str, Any]]]) -> None:
    """Adds other names for options the parser has, e.g. rl-baselines3-zoo's ``-n`` for ``--total-timesteps``:
    ``{("-n", "--n-timesteps"): ("total_timesteps", {"type": non_negative_int})}`` (flags: the option's ``dest`` and
    the ``add_argument`` keywords the value needs). They are left out of ``--help`` and set no default of their own
    (the option's holds), and an error names the flag the user typed."""
    for flags, (dest, kwargs) in aliases.items():
        kwargs = {"action": _AliasStore, **kwargs}  # a store action records the flag (``option_as_typed``)
        parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


class _AliasStore(argparse.Action):
    """argparse's store action that also records the flag that set the option (``option_as_typed``)."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, values)
        flags = dict(getattr(namespace, "_alias_flags", {}))
        flags[self.dest] = option_string
        namespace._alias_flags = flags


def option_as_typed(args: argparse.Namespace, dest: str, option: str) -> str:
    """The flag that set ``dest`` as the user typed it: a ``zoo_aliases`` name (``-f``) if one did, else ``option``."""
    return getattr(args, "_alias_flags", {}).get(dest) or option


def parse_key_values(pairs: list[str], option: str) -> dict:
    """``["gamma=0.98", "net_arch=[64, 64]"]`` -> ``{"gamma": 0.98, "net_arch": [64, 64]}`` (values read as YAML).

    rl-baselines3-zoo's ``KEY:VALUE`` form (``-params n_steps:64``) is read too: a pair splits at its first ``=`` or
    ``:``, whichever comes first (keys hold neither).

    Raises:
        SystemExit: A pair without ``=`` or ``:``, with an empty key or a value that is not YAML, naming the option and
            the pair.
    """
    out = {}
    for kv in pairs:
        cut = min((i for i in (kv.find("="), kv.find(":")) if i >= 0), default=-1)
        key, value = (kv[:cut], kv[cut + 1 :]) if cut >= 0 else (kv, "")
        if cut < 0 or not key:
            raise SystemExit(f"error: {option}: expected KEY=VALUE (or the zoo's KEY:VALUE), got {kv!r}")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or "not a YAML value"
            raise SystemExit(f"error: {option}: the value of {kv!r} is not a YAML value ({problem})") from None
    return out


def parse_env_kwargs(pairs: list[str], option: str) -> dict:
    """``--env-kwargs`` pairs as ``gym.make`` arguments (``parse_key_values``), with the arguments ``gym.make`` itself
    takes checked: ``max_episode_steps`` must be a whole number >= 1 (or null), not what gymnasium's ``TimeLimit``
    refuses with a TypeError after the env is made.

    Raises:
        SystemExit: A pair ``parse_key_values`` refuses, or a ``max_episode_steps`` that is not a count, naming the
            option and the value.
    """
    kwargs = parse_key_values(pairs, option)
    steps = kwargs.get("max_episode_steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise SystemExit(f"error: {option}: max_episode_steps must be a whole number >= 1, got {steps!r}")
    return kwargs


def _int_at_least(low: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type=`` of a count that must be >= 1 (``--window``, episodes to evaluate ...).

    Raises:
        argparse.ArgumentTypeError: Naming what came; argparse ends the script with ``error: argument ...``.
    """
    return _int_at_least(1, text)


def non_negative_int(text: str) -> int:
    """argparse ``type=`` of a count that may be 0 (where 0 means off or nothing: ``--eval-freq 0`` ...).

    Raises:
        argparse.ArgumentTypeError: Naming what came; argparse ends the script with ``error: argument ...``.
    """
    return _int_at_least(0, text)


def _float_in(text: str, low: float, high: float | None, closed: bool, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    inside = (value >= low if closed else value > low) and (high is None or value < high)
    if not (math.isfinite(value) and inside):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
    return value


def finite_float(text: str) -> float:
    """argparse ``type=`` of a number that may have any sign but must be finite (a reward threshold ...): ``nan``,
    ``inf`` and ``-inf``, which ``float`` reads, are refused.

    Raises:
        argparse.ArgumentTypeError: Naming what came; argparse ends the script with ``error: argument ...``.
    """
    return _float_in(text, -math.inf, None, True, "a finite number")


def positive_float(text: str) -> float:
    """argparse ``type=`` of a finite number > 0 (a learning rate ...).

    Raises:
        argparse.ArgumentTypeError: Naming what came; argparse ends the script with ``error: argument ...``.
    """
    return _float_in(text, 0.0, None, False, "a number > 0")


def non_negative_float(text: str) -> float:
    """argparse ``type=`` of a finite number >= 0 (a regularisation strength, where 0 means none ...).

    Raises:
        argparse.ArgumentTypeError: Naming what came; argparse ends the script with ``error: argument ...``.
    """
    return _float_in(text, 0.0, None, True, "a number >= 0")


def probability(text: str) -> float:
    """argparse ``type=`` of a dropout probability: a number in [0, 1).

    Raises:
        argparse.ArgumentTypeError: Naming what came; argparse ends the script with ``error: argument ...``.
    """
    return _float_in(text, 0.0, 1.0, True, "a probability in [0, 1)")


def import_env_module(env: str) -> str:
    """Imports the module of a ``module:EnvId`` env id (gymnasium's form for an env its module registers on import)
    with the current directory importable, as it is for ``python -m`` and the interpreter (a script's
    ``sys.path[0]`` is its own folder), so ``python scripts/train.py --env my_envs:MyEnv-v0`` finds ``my_envs.py``
    where the command is run. An id without a module is returned as it is.

    Returns:
        ``env``, unchanged.

    Raises:
        ImportError: The module cannot be imported, naming it, the env id and the directory searched.
    """
    module, sep, _ = env.partition(":")
    if not sep:
        return env
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # first, as python -m puts it
    importlib.invalidate_caches()  # a module written since the last import is found
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"env id {env!r}: cannot import its module {module!r} from the current directory ({cwd}) or the "
            f"installed packages: {e}"
        ) from e
    return env


def env_id(text: str) -> str:
    """argparse ``type=`` of an env id: ``import_env_module`` for the ``module:EnvId`` form.

    Raises:
        argparse.ArgumentTypeError: For an id with more than one ``:`` or a module that cannot be imported (argparse's
            ``error:`` line).
    """
    if text.count(":") > 1:
        raise argparse.ArgumentTypeError(f"expected an env id or module:EnvId (one ':'), got {text!r}")
    try:
        return import_env_module(text)
    except ImportError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
