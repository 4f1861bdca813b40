"""Range and type checks of the agents' hyperparameters, so a bad value fails at construction with its name.

The Config dataclasses of the agents share field names (SB3's); one table says what each name allows.
A value such as ``n_steps=-1`` would otherwise fail deep inside numpy with a message about array shapes,
and ``normalize_obs="false"`` would be read as true. ``check_config`` checks, ``canonical_config`` then
puts the values in one form (ints, bools, ``net_arch`` tuples) for the agents and their JSON files.

Schedules (``learning_rate``, PPO's ``clip_range`` and ``clip_range_vf``) may also be callables of the progress
remaining, as SB3 takes them. A model file is npz + JSON and cannot hold a function: ``schedule_marker`` is what it
holds instead (the value at the last update), and ``restore_schedules`` turns the markers back into functions given
by the user (``custom_objects``), or else into that value as a constant (``SavedSchedule``), with a warning.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from nngym.checks import is_int
from nngym.schedules import CallableSchedule, ScheduleRateError, parse_schedule

#: field -> (lowest, highest, lowest allowed?, highest allowed?)
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "n_envs": (1, math.inf, True, False),
    "n_steps": (1, math.inf, True, False),
    "batch_size": (1, math.inf, True, False),
    "n_epochs": (1, math.inf, True, False),
    "buffer_size": (1, math.inf, True, False),
    "learning_starts": (0, math.inf, True, False),
    "train_freq": (1, math.inf, True, False),
    "gradient_steps": (1, math.inf, True, False),
    "target_update_interval": (1, math.inf, True, False),
    "lstm_hidden_size": (1, math.inf, True, False),
    "log_interval": (1, math.inf, True, False),
    "gamma": (0.0, 1.0, True, True),
    "gae_lambda": (0.0, 1.0, True, True),
    "tau": (0.0, 1.0, False, True),
    "exploration_fraction": (0.0, 1.0, True, True),
    "exploration_initial_eps": (0.0, 1.0, True, True),
    "exploration_final_eps": (0.0, 1.0, True, True),
    "ent_coef": (0.0, math.inf, True, False),
    "vf_coef": (0.0, math.inf, True, False),
    "max_grad_norm": (0.0, math.inf, False, False),
    "rms_prop_eps": (0.0, math.inf, False, False),
    "clip_range_vf": (0.0, math.inf, False, False),
    "target_kl": (0.0, math.inf, False, False),
}
#: values allowed besides the range: SB3's ``gradient_steps=-1`` (as many gradient steps as env steps collected)
ALSO_ALLOWED: dict[str, set[float]] = {"gradient_steps": {-1}}
#: fields that are a number or a "lin_<x>" / "linear_<x>" schedule (rl-baselines3-zoo's strings), checked at their
#: start value; ``clip_range_vf`` may also be None (no value clipping)
SCHEDULES = ("learning_rate", "clip_range", "clip_range_vf")
#: fields that also take a callable of the progress remaining (SB3's schedules), its values checked when used
#: (``nngym.schedules.CallableSchedule``)
CALLABLE_FIELDS = ("learning_rate", "clip_range", "clip_range_vf")
#: fields that are hidden layer sizes (``check_net_arch``); an annotation with ``dict`` also takes SB3's
#: ``dict(pi=[...], vf=[...])`` for different actor and critic sizes
ARCH_FIELDS = ("net_arch", "encoder_arch")

#: A checked ``net_arch``: one tuple of sizes for actor and critic, or ``{"pi": sizes, "vf": sizes}``.
NetArch = tuple[int, ...] | dict[str, tuple[int, ...]]


def _in_range(name: str, value: float) -> bool:
    if value in ALSO_ALLOWED.get(name, ()):
        return True
    low, high, low_ok, high_ok = RANGES[name]
    above = value >= low if low_ok else value > low
    below = value <= high if high_ok else value < high
    return above and below


def _describe(name: str) -> str:
    low, high, low_ok, high_ok = RANGES[name]
    left = f"{'>=' if low_ok else '>'} {low:g}"
    text = left if math.isinf(high) else f"{left} and {'<=' if high_ok else '<'} {high:g}"
    also = ALSO_ALLOWED.get(name)
    return text + (f" (or {', '.join(f'{v:g}' for v in sorted(also))})" if also else "")


def check_config(algo: str, config: Any) -> None:
    """Raise ValueError naming the first hyperparameter of ``config`` that is out of its range or of the wrong type.

    Fields annotated ``bool`` take only ``True`` / ``False`` (numpy's ``bool_`` too): ``"false"`` or ``0`` would
    otherwise be read by truth value. Fields named in ``ARCH_FIELDS`` are layer sizes (``check_net_arch``).

    Args:
        algo: Algorithm name for the message ("PPO", "DQN", ...).
        config: One of the agents' Config dataclasses.
    """
    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
        if str(field.type) == "bool" and not isinstance(value, bool | np.bool_):
            raise ValueError(f"{algo}: {name} must be a bool (True or False), got {type(value).__name__} {value!r}")
        if name in ARCH_FIELDS:
            if not (value is None and field.default is None):  # None: the agent's own default (RecurrentPPO's)
                check_net_arch(algo, value, name, pi_vf="dict" in str(field.type))
            continue
        if value is None:
            continue
        if name in CALLABLE_FIELDS and callable(value):
            check_schedule_callable(algo, name, value)
            continue
        # numpy's scalars too (a search's ``rng.choice([64, 128])`` is an np.int64): canonical_config makes them
        # Python numbers, which the agents' JSON files can hold
        numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
        if str(field.type).startswith("int") and not (numeric and float(value).is_integer()):
            raise ValueError(f"{algo}: {name} must be an integer, got {value!r}")
        if name in RANGES and not numeric and not (name in SCHEDULES and isinstance(value, str)):
            raise ValueError(f"{algo}: {name} must be a number {_describe(name)}, got {type(value).__name__} {value!r}")
        if name in RANGES and numeric and not _in_range(name, float(value)):
            raise ValueError(f"{algo}: {name} must be {_describe(name)}, got {value!r}")
        if name in SCHEDULES:
            # a step size of 0 is SB3's way to freeze an agent (load(..., custom_objects={"learning_rate": 0.0}))
            bound = ">= 0" if name == "learning_rate" else "> 0"
            try:
                start = parse_schedule(value)(1.0)
            except ScheduleRateError as err:  # a number, but negative or not finite
                raise ValueError(f"{algo}: {name} must be {bound}, got {value!r}") from err
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"{algo}: {name} must be a number {bound}, 'lin_<x>' or a callable of progress_remaining, got "
                    f"{value!r}"
                ) from err
            if not (start >= 0.0 if name == "learning_rate" else start > 0.0):
                raise ValueError(f"{algo}: {name} must be {bound}, got {value!r}")


def check_schedule_callable(algo: str, name: str, fn: Callable[[float], Any]) -> None:
    """Calls the schedule ``fn`` of the field ``name`` at progress_remaining 1.0, as SB3 does when it builds the
    optimiser, so a function of another signature or a bad first value fails at construction.

    Raises:
        ValueError: If the call raises (naming the field, what a schedule is and the error), or the value is not a
            finite number >= 0 (``CallableSchedule``'s message).
    """
    try:
        value = fn(1.0)
    except Exception as err:
        raise ValueError(
            f"{algo}: {name} is a callable, so it must be a function of progress_remaining (1.0 at the start of "
            f"training, 0.0 at the end); calling it with 1.0 raised {type(err).__name__}: {err}"
        ) from err
    CallableSchedule(lambda _progress: value, f"{algo}: {name}")(1.0)


@dataclasses.dataclass(frozen=True)
class SavedSchedule:
    """A callable schedule read back from a model file without its function: the value it had at the last update,
    as a constant. It stays a callable, so saving the agent again records the same marker (and ``load`` warns again)
    until the function is given back (``load(..., custom_objects={name: fn})``)."""

    qualname: str
    """The function's ``__qualname__`` when it was saved (``"<lambda>"``, ``"linear_schedule.<locals>.f"``)."""
    value: float
    """Its value at the last update (at progress_remaining 1.0 before any training)."""
    progress_remaining: float
    """The progress remaining of that update."""

    def __call__(self, progress_remaining: float) -> float:
        return self.value

    @classmethod
    def from_marker(cls, marker: dict[str, Any]) -> SavedSchedule:
        """The schedule a model file's marker (``schedule_marker``) stands for."""
        return cls(str(marker["callable"]), marker["last_value"], marker["progress_remaining"])


def lost_schedules_text(lost: dict[str, SavedSchedule]) -> tuple[str, str]:
    """What the warnings of ``load`` and ``load_population`` say of the callable schedules ``lost`` (read back as
    constants): a description of each, and the ``custom_objects`` that would give their functions back."""
    what = "; ".join(
        f"{name} was the callable {s.qualname} and is now the constant {s.value:g} (its value at "
        f"progress_remaining {s.progress_remaining:g}, the last update)"
        for name, s in lost.items()
    )
    return what, ", ".join(f"{name!r}: <function>" for name in lost)


def schedule_marker(fn: Callable[[float], Any], value: float, progress_remaining: float) -> dict[str, Any]:
    """What a model file's JSON holds in place of the callable schedule ``fn``: its name and the ``value`` it had at
    ``progress_remaining`` (the last update)."""
    qualname = fn.qualname if isinstance(fn, SavedSchedule) else getattr(fn, "__qualname__", type(fn).__name__)
    return {"callable": qualname, "last_value": float(value), "progress_remaining": float(progress_remaining)}


def is_schedule_marker(value: Any) -> bool:
    """Whether ``value``, read from a model file's config, is a ``schedule_marker``."""
    return isinstance(value, dict) and set(value) == {"callable", "last_value", "progress_remaining"}


def restore_schedules(
    algo: str,
    path: str | os.PathLike,
    saved: dict[str, Any],
    fields: set[str],
    custom_objects: dict[str, Any] | None,
    overrides: dict[str, Any],
) -> dict[str, Any]:
    """The saved config ``saved`` with ``custom_objects`` and ``overrides`` (``load``'s hyperparameter keywords) in
    place of the saved values, and each remaining ``schedule_marker`` as a ``SavedSchedule`` (its last value, a
    constant); one UserWarning names those fields and how to restore their functions.

    Args:
        algo: Algorithm name for the messages (``"PPO"``).
        path: The model file, for the messages.
        saved: The config as the file holds it.
        fields: The Config's field names: the keys ``custom_objects`` may have.
        custom_objects: SB3's ``load`` argument: values that replace the saved ones, such as the functions of
            callable schedules (``{"learning_rate": fn}``); None for none.
        overrides: Hyperparameters given to ``load`` as keywords (they replace the saved values too).

    Raises:
        ValueError: If ``custom_objects`` is not a dict, or has a key also given as a keyword. Keys that are not
            fields of the Config (SB3's ``lr_schedule``, ``observation_space``...) are ignored with a warning, as SB3
            ignores what its file does not hold.
    """
    custom = {} if custom_objects is None else custom_objects
    if not isinstance(custom, dict):
        raise ValueError(f"{algo}.load: custom_objects must be a dict or None, got {type(custom).__name__}")
    unknown = sorted(set(custom) - fields, key=str)
    if unknown:  # SB3 replaces only what its file holds; rl-baselines3-zoo's enjoy passes lr_schedule and the like
        hint = " (nngym builds lr_schedule from learning_rate)" * ("lr_schedule" in unknown)
        warnings.warn(
            f"{algo}.load: custom_objects keys {unknown} are not hyperparameters of {algo} and are ignored, as SB3 "
            f"ignores what its file does not hold{hint}; it takes some of {sorted(fields)}",
            UserWarning,
            stacklevel=3,
        )
        custom = {k: v for k, v in custom.items() if k in fields}
    twice = sorted(set(custom) & set(overrides))
    if twice:
        raise ValueError(f"{algo}.load: {twice} given both in custom_objects and as keywords; give each once")
    config = {**saved, **custom, **overrides}
    lost = {}
    for name, value in saved.items():
        if is_schedule_marker(value) and name not in custom and name not in overrides:
            config[name] = lost[name] = SavedSchedule.from_marker(value)
    if lost:
        what, restore = lost_schedules_text(lost)
        warnings.warn(
            f"{path}: a model file cannot hold a function: {what}. To restore {'them' if len(lost) > 1 else 'it'}: "
            f"{algo}.load(path, custom_objects={{{restore}}})",
            UserWarning,
            stacklevel=3,
        )
    return config


class _ConfigLogInterval:
    """The default of ``learn``'s ``log_interval``: the Config's (``CONFIG_LOG_INTERVAL``)."""

    def __repr__(self) -> str:
        return "CONFIG_LOG_INTERVAL"

    def __reduce__(self) -> str:  # copies and pickles are the one object (by its module-level name)
        return "CONFIG_LOG_INTERVAL"


#: ``learn(log_interval=CONFIG_LOG_INTERVAL)``, the default: the Config's ``log_interval``; None turns the rows off.
CONFIG_LOG_INTERVAL: Any = _ConfigLogInterval()


@contextmanager
def log_interval_for_call(algo: str, configs: Sequence[Any], log_interval: Any) -> Iterator[None]:
    """SB3's ``learn(..., log_interval=n)``: ``configs``' ``log_interval`` is ``n`` for the call (checked as the
    Config field before anything runs) and what it was afterwards, also when training raises; None writes no rows
    of the agent's own in the call (SB3's: a callback such as ``LogEveryNTimesteps`` may write them);
    ``CONFIG_LOG_INTERVAL`` changes nothing.

    Raises:
        ValueError: For a ``log_interval`` the Config refuses.
    """
    kept = [c.log_interval for c in configs]
    if log_interval is not CONFIG_LOG_INTERVAL:
        if log_interval is not None:
            check_config(algo, dataclasses.replace(configs[0], log_interval=log_interval))
        for c, k in zip(configs, kept, strict=True):
            c.log_interval = 0 if log_interval is None else int(log_interval)  # 0: the loops write no rows
            vars(c)[_OUTSIDE_CALL] = {"log_interval": k}  # what a file saved during the call keeps
    try:
        yield
    finally:
        for c, k in zip(configs, kept, strict=True):
            c.log_interval = k
            vars(c).pop(_OUTSIDE_CALL, None)


#: The attribute of a Config that holds its own values of the fields a ``learn`` call sets for itself.
_OUTSIDE_CALL = "_outside_call"


def config_outside_call(config: Any) -> dict[str, Any]:
    """The Config's own values of the fields the running ``learn`` call set for itself (``log_interval_for_call``):
    what a model file saved during the call keeps; {} outside a call."""
    return dict(vars(config).get(_OUTSIDE_CALL, {}))


def check_seed(seed: Any) -> int:
    """The agent's seed as an int: ``seed`` itself, or for None (SB3's default) one drawn from the OS's entropy,
    kept in ``agent.seed`` and the model file so the run can be repeated.

    Raises:
        ValueError: For anything but a non-negative int or None.
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**31 - 1))
    if isinstance(seed, np.ndarray) and seed.ndim == 0 and seed.dtype.kind in "iu":  # np.array(3): the int it holds
        seed = seed.item()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, a list of them, or None, got {seed!r}")
    return int(seed)


def check_total_timesteps(total_timesteps: Any) -> None:
    """Raises a ValueError unless ``total_timesteps`` is a whole number >= 0 (``1e5`` too, as SB3 takes it)."""
    whole = isinstance(total_timesteps, int | float | np.integer) and float(total_timesteps).is_integer()
    if isinstance(total_timesteps, bool) or not whole or total_timesteps < 0:
        raise ValueError(f"total_timesteps must be a whole number >= 0, got {total_timesteps!r}")


def _sizes(value: Any) -> tuple[int, ...] | None:
    """``value`` as a tuple of positive ints, or None if it is not a list / tuple of them (bools are no sizes)."""
    if not isinstance(value, list | tuple):
        return None
    if not all(is_int(v) and v > 0 for v in value):
        return None
    return tuple(int(v) for v in value)


def check_net_arch(algo: str, value: Any, name: str = "net_arch", pi_vf: bool = True) -> NetArch:
    """The hidden layer sizes ``value`` in their canonical form, or a ValueError saying what is accepted.

    Accepted: a list or tuple of positive ints (``[64, 64]``; ``[]``: no hidden layer), and with ``pi_vf``
    SB3's ``dict(pi=[...], vf=[...])`` (a missing key means no hidden layer there, as in SB3) or the same dict
    alone in a list (``[dict(pi=..., vf=...)]``, SB3 before 1.8).

    Returns:
        A tuple of ints; for a dict, the tuple if ``pi`` and ``vf`` are equal, else ``{"pi": tuple, "vf": tuple}``.

    Raises:
        ValueError: Naming ``name``, the accepted forms and what came.
    """
    sizes = _sizes(value)
    if sizes is not None and not (isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value)):
        return sizes
    if pi_vf:
        d = value[0] if isinstance(value, list | tuple) and len(value) == 1 else value
        if isinstance(d, dict) and d and set(d) <= {"pi", "vf"}:
            pi, vf = _sizes(d.get("pi", ())), _sizes(d.get("vf", ()))
            if pi is not None and vf is not None:
                return pi if pi == vf else {"pi": pi, "vf": vf}
    accepted = "a list of positive layer sizes such as [64, 64]"
    if pi_vf:
        accepted += " or dict(pi=[...], vf=[...]) for different actor and critic sizes"
    raise ValueError(f"{algo}: {name} must be {accepted}, got {type(value).__name__} {value!r}")


def net_arch_sizes(net_arch: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(actor sizes, critic sizes) of a ``net_arch`` that ``check_net_arch`` accepts.

    Raises:
        ValueError: For a ``net_arch`` it does not accept.
    """
    arch = check_net_arch("policy", net_arch)
    return (arch["pi"], arch["vf"]) if isinstance(arch, dict) else (arch, arch)


def canonical_config(config: Any) -> None:
    """Puts the values of a checked ``config`` in one form, in place: integral floats of int fields as ints
    (``8.0`` from a yml's ``!!float``), numpy scalars as Python numbers (``np.int64(128)`` as 128, ``np.float32``
    as the float it holds), numpy bools as bools, layer sizes as ``check_net_arch`` returns them."""
    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
        if str(field.type).startswith("int") and isinstance(value, float | np.floating | np.integer):
            setattr(config, name, int(value))
        elif isinstance(value, np.integer):
            setattr(config, name, int(value))
        elif isinstance(value, np.floating):
            setattr(config, name, float(value))
        elif isinstance(value, np.bool_):
            setattr(config, name, bool(value))
        elif name in ARCH_FIELDS and value is not None:
            setattr(config, name, check_net_arch("", value, name, pi_vf="dict" in str(field.type)))
