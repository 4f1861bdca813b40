"""Callbacks called from ``learn`` as Stable-Baselines3 calls its own: periodic evaluation (keeping the best model),
test accuracy, periodic checkpoints, stopping rules and a tqdm progress bar.

A callback has SB3's attributes (``model``, the agent, also called ``agent``; ``num_timesteps``, ``n_calls``,
``training_env``, ``logger``, ``locals``, ``globals``, ``parent``) and hooks, which every agent's ``learn`` calls
in SB3's order::

    init_callback(agent)                      # before the env is reset or a log file is opened
    on_training_start(locals, globals)
    repeat:                                   # on-policy: one rollout of n_steps vector steps per update
        on_rollout_start()                    # DQN: the steps between two training calls (train_freq)
        per vector step: update_locals(step), on_step()   # False stops training at once
        on_rollout_end()                      # after the rollout, before the update (not when a step stopped it)
    on_training_end()

Subclasses override the underscored hooks (``_init_callback``, ``_on_training_start``, ``_on_rollout_start``,
``_on_step``, ``_on_rollout_end``, ``_on_training_end``). ``learn(callback=...)`` takes a callback, a list of them
(a ``CallbackList``), a function ``fn(locals, globals) -> bool`` (a ``ConvertCallback``, as SB3 takes it) or None;
anything else raises a TypeError before the env is touched. That includes Stable-Baselines3's own callbacks
(``stable_baselines3.common.callbacks``), which expect an SB3 model: the error names the class of this module, nngym's
version of it, to import instead.

``self.locals`` holds, from ``on_training_start`` on, ``self`` (the agent), ``total_timesteps`` (the step count at
which this ``learn`` ends), ``callback``, ``reset_num_timesteps``, ``progress_bar`` and ``tb_log_name``; from the
first ``on_step`` on, also the vector step just taken (``STEP_LOCALS``): ``new_obs``, ``actions``, ``rewards``,
``dones`` (terminated or truncated), ``infos``, as SB3's ``collect_rollouts`` has them, except that ``infos`` is
gymnasium's vector-env info dict (arrays over the envs, with ``_<key>`` masks; ``final_obs`` / ``final_info`` for
the envs whose episode ended) instead of SB3's list of one dict per env. ``new_obs`` and ``rewards`` are what the
training env returned: for the on-policy agents normalised under ``normalize_obs`` / ``normalize_reward``, as SB3's
``VecNormalize`` gives them; DQN's raw, as it stores them. ``self.globals`` is the agent module's globals, as SB3
passes its own.

On a population (``PPO(env, seed=[0, 1, ...])``, ``agents.common.population``) the model is the population:
``on_step`` comes once per population step, ``locals`` hold lists of one entry per member, ``num_timesteps`` counts
all members' env steps (so ``EveryNTimesteps(n)`` fires every n/K env steps of each member, while frequencies in
calls, ``save_freq`` and ``eval_freq``, are per member's vector steps as in its single run), ``training_env`` is its
``PopulationEnvs`` (``num_envs`` = K·n_envs) and ``logger`` writes into every member's progress.csv.
``CheckpointCallback`` saves the population's directory (``<name_prefix>_<K>x<steps>_steps``: K members of
``<steps>`` env steps each), ``EvalCallback`` evaluates each member into its own files, ``StopTrainingOnMaxEpisodes``
counts the episodes of all K·n_envs envs; ``AccuracyCallback`` and an ``EvalCallback``'s ``callback_on_new_best`` /
``callback_after_eval`` are refused when ``learn`` starts.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common.evaluation import EpisodeStats, classification_accuracy, run_episodes
from agents.common.logger import member_log_dir
from nngym.checks import is_int, is_real, shown

#: The keys ``update_locals`` sets at every vector step (see the module's docstring).
STEP_LOCALS = ("new_obs", "actions", "rewards", "dones", "infos")


def check_count(value: Any, what: str, minimum: int = 1) -> int:
    """``value`` as an int, which must be a whole number ``>= minimum``: an int, or a float that is one (``1e4``
    from a yml, as the agents' int hyperparameters and ``total_timesteps`` take it); not a bool.

    Raises:
        ValueError: Naming ``what``, the bound and the value that came.
    """
    whole = is_int(value) or (is_real(value) and float(value).is_integer())
    if not whole or value < minimum:
        raise ValueError(f"{what} must be a whole number >= {minimum}, got {shown(value)}")
    return int(value)


def population_members(model: Any) -> list[Any] | None:
    """The members of a population (``agents.common.population.Population``), None for a single agent."""
    members = getattr(model, "members", None)
    return members if isinstance(members, list) else None


def refuse_population(callback: Any, why: str) -> None:
    """Raises for a callback that cannot run on a population, if its model is one.

    Raises:
        ValueError: Naming the callback, the population and ``why``.
    """
    if population_members(callback.model) is not None:
        raise ValueError(f"{type(callback).__name__} cannot run on {callback.model!r}: {why}")


class BaseCallback:
    """SB3's ``BaseCallback``: the hooks ``learn`` calls and the attributes they read.

    Attributes:
        model: The agent being trained (set by ``init_callback``); ``agent`` is the same object.
        n_calls: ``on_step`` calls so far (vector steps: one call = n_envs env steps).
        num_timesteps: The agent's env steps, as of the last ``on_training_start`` / ``on_step``.
        locals: The training loop's variables (the module's docstring lists the keys); updated at every step.
        globals: The agent module's globals.
        parent: The callback that calls this one on an event (``EvalCallback``'s ``callback_on_new_best`` /
            ``callback_after_eval``), else None.
        verbose: 0 prints nothing; subclasses print more at 1 and 2.
    """

    def __init__(self, verbose: int = 0) -> None:
        self.model: Any = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.verbose = verbose
        self.locals: dict[str, Any] = {}
        self.globals: dict[str, Any] = {}
        self.parent: BaseCallback | None = None

    @property
    def agent(self) -> Any:
        """The agent being trained: ``self.model`` (nngym's earlier name for it)."""
        return self.model

    @agent.setter
    def agent(self, agent: Any) -> None:
        self.model = agent

    @property
    def training_env(self) -> Any:
        """The vector env the agent trains on (``model.get_env()``; a population's: its members' envs as one,
        ``agents.common.population.PopulationEnvs``).

        Raises:
            ValueError: If the agent has none (loaded without an env).
        """
        env = self.model.get_env()
        if env is None:
            raise ValueError(f"{type(self).__name__}.training_env: the agent has no env (pass env= to it or to load)")
        return env

    @property
    def logger(self) -> Any:
        """The agent's logger (``agents.common.logger.Logger``): ``record(key, value, exclude=None)`` adds a value to
        the next row of progress.csv (and TensorBoard, and the stdout table), ``record_mean`` the mean of the values
        given until then, as SB3's; a population's writes into every member's files
        (``agents.common.population.PopulationLogger``)."""
        return self.model.logger

    # --- what learn calls ------------------------------------------------------------------------------------------
    def init_callback(self, model: Any) -> None:
        """Keeps a reference to the agent, then ``_init_callback`` (checks, folders)."""
        self.model = model
        self._init_callback()

    def init(self, agent: Any) -> None:
        """``init_callback`` under nngym's earlier name."""
        self.init_callback(agent)

    def on_training_start(self, locals_: dict[str, Any] | None = None, globals_: dict[str, Any] | None = None) -> None:
        """Keeps ``locals_`` and ``globals_`` (None: keeps the ones it has), reads the agent's step count (which a
        continued run starts from), then ``_on_training_start``."""
        if locals_ is not None:
            self.locals = locals_
        if globals_ is not None:
            self.globals = globals_
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def on_rollout_start(self) -> None:
        self._on_rollout_start()

    def on_step(self) -> bool:
        """After every vector step: counts the call, reads the agent's step count, then ``_on_step``.

        Returns:
            False to stop training (as SB3, any false value stops it).
        """
        self.n_calls += 1
        self.num_timesteps = self.model.num_timesteps
        return self._on_step()

    def on_rollout_end(self) -> None:
        self._on_rollout_end()

    def on_training_end(self) -> None:
        self._on_training_end()

    def update_locals(self, locals_: dict[str, Any]) -> None:
        """Updates ``self.locals`` with the training loop's variables of this step (and the children's)."""
        self.locals.update(locals_)
        self.update_child_locals(locals_)

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """Passes ``locals_`` on to the callbacks this one calls (none here)."""

    # --- what subclasses override -----------------------------------------------------------------------------------
    def _init_callback(self) -> None:
        return None

    def _on_training_start(self) -> None:
        return None

    def _on_rollout_start(self) -> None:
        return None

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        return None

    def _on_training_end(self) -> None:
        return None


#: What ``learn(callback=...)`` takes: a callback, a list of them, a function ``(locals, globals) -> bool`` or None.
MaybeCallback = BaseCallback | list[BaseCallback] | Callable[[dict[str, Any], dict[str, Any]], bool] | None


def as_callback(callback: Any, where: str = "learn") -> BaseCallback:
    """The one callback ``learn`` calls for what it was given (SB3's ``_init_callback``): a list becomes a
    ``CallbackList``, a function ``fn(locals, globals) -> bool`` a ``ConvertCallback``, None an empty list.

    Raises:
        TypeError: For anything else (a class instead of an instance, a number, a string...), naming ``where``,
            what is taken and what came; for one of Stable-Baselines3's own callbacks, also what to import from
            ``agents.common.callbacks`` instead (``sb3_callback_hint``).
    """
    if isinstance(callback, BaseCallback):
        return callback
    if callback is None:
        return CallbackList([])
    if isinstance(callback, list | tuple):
        return CallbackList(list(callback), where)
    return ConvertCallback(_checked_function(callback, f"{where}: callback"))


def sb3_callback_hint(value: Any) -> str:
    """For a callback (or callback class) of Stable-Baselines3's own, or a subclass of one, the end of an error
    message saying what to use instead: nngym's version from ``agents.common.callbacks``; "" for anything else.

    nngym's agents call ``agents.common.callbacks.BaseCallback``'s hooks, with nngym's model and logger: SB3's own
    callbacks (``stable_baselines3.common.callbacks``) expect an SB3 model, and are refused.
    """
    cls = value if isinstance(value, type) else type(value)
    sb3 = next((c for c in cls.__mro__ if c.__module__.split(".")[0] in ("stable_baselines3", "sb3_contrib")), None)
    if sb3 is None:
        return ""
    namesake = globals().get(sb3.__name__)  # nngym's version of the SB3 class, if this module has one
    ours = sb3.__name__ if isinstance(namesake, type) and issubclass(namesake, BaseCallback) else None
    if sb3 is cls:
        instead = (
            f"import {ours} from agents.common.callbacks (nngym's versions of SB3's callbacks, taking SB3's keyword "
            "arguments)"
            if ours
            else "nngym has no version of it: write it as a subclass of agents.common.callbacks.BaseCallback"
        )
        return (
            f"; {cls.__module__}.{cls.__name__} is Stable-Baselines3's own callback, which nngym's agents cannot "
            f"call; {instead}"
        )
    return (
        f"; {cls.__name__} subclasses Stable-Baselines3's {sb3.__module__}.{sb3.__name__}, which nngym's agents cannot "
        f"call: subclass agents.common.callbacks.{ours or 'BaseCallback'} instead (nngym's versions of SB3's "
        "callbacks, with the same hooks)"
    )


def _checked_function(fn: Any, what: str) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    """``fn`` if it is a function to wrap in a ``ConvertCallback``.

    Raises:
        TypeError: For a callback class (not an instance), something not callable or one of Stable-Baselines3's
            own callbacks (naming the one of ``agents.common.callbacks`` to use instead).
    """
    if isinstance(fn, type):
        hint = f"; pass an instance: {fn.__name__}()" if issubclass(fn, BaseCallback) else sb3_callback_hint(fn)
        raise TypeError(f"{what} must be a callback instance, got the class {fn.__name__}{hint}")
    if not callable(fn) or sb3_callback_hint(fn):
        raise TypeError(
            f"{what} must be a BaseCallback, a list of them, a function (locals, globals) -> bool or None, "
            f"got {shown(fn)}{sb3_callback_hint(fn)}"
        )
    return fn


def _takes_locals(callback: BaseCallback) -> bool:
    """Whether ``callback.on_training_start`` takes SB3's (locals, globals): False for a subclass written for
    nngym's earlier hooks, which overrides ``on_training_start(self)`` without arguments."""
    try:
        params = inspect.signature(callback.on_training_start).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - a builtin or C method
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional for p in params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def training_locals(
    agent: Any,
    total_timesteps: int,
    callback: BaseCallback,
    reset_num_timesteps: bool,
    progress_bar: bool,
    tb_log_name: str | None = None,
) -> dict[str, Any]:
    """The callbacks' ``locals`` at training start, the variables SB3's ``learn`` has then (each step adds
    ``STEP_LOCALS``)."""
    return {
        "self": agent,
        "total_timesteps": total_timesteps,
        "callback": callback,
        "reset_num_timesteps": reset_num_timesteps,
        "progress_bar": progress_bar,
        "tb_log_name": tb_log_name,
    }


def start_training(callback: BaseCallback, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
    """``callback.on_training_start(locals_, globals_)``; a callback whose ``on_training_start`` takes no arguments
    (written for nngym's earlier hooks) gets ``locals_`` and ``globals_`` set and is called without them."""
    if _takes_locals(callback):
        callback.on_training_start(locals_, globals_)
    else:
        callback.locals, callback.globals = locals_, globals_
        callback.num_timesteps = callback.model.num_timesteps
        callback.on_training_start()


class CallbackList(BaseCallback):
    """Several callbacks called in order; training stops if any ``on_step`` returns False (all are called).

    Args:
        callbacks: Callbacks, or functions ``(locals, globals) -> bool`` (wrapped in ``ConvertCallback``).
        where: Who asks, for messages.

    Raises:
        TypeError: For an item that is neither (naming its index).
    """

    def __init__(self, callbacks: list[Any], where: str = "CallbackList") -> None:
        super().__init__()
        if not isinstance(callbacks, list | tuple):
            raise TypeError(f"{where} takes a list of callbacks, got {shown(callbacks)}")
        self.callbacks = [
            c if isinstance(c, BaseCallback) else ConvertCallback(_checked_function(c, f"{where}: callback[{i}]"))
            for i, c in enumerate(callbacks)
        ]

    def _init_callback(self) -> None:
        for c in self.callbacks:
            c.init_callback(self.model)
            c.parent = self.parent

    def _on_training_start(self) -> None:
        for c in self.callbacks:
            start_training(c, self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        for c in self.callbacks:
            c.on_rollout_start()

    def _on_step(self) -> bool:
        go_on = True
        for c in self.callbacks:
            go_on = bool(c.on_step()) and go_on
        return go_on

    def _on_rollout_end(self) -> None:
        for c in self.callbacks:
            c.on_rollout_end()

    def _on_training_end(self) -> None:
        for c in self.callbacks:
            c.on_training_end()

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        for c in self.callbacks:
            c.update_locals(locals_)


class ConvertCallback(BaseCallback):
    """A function ``fn(locals, globals) -> bool`` called at every step (SB3's ``ConvertCallback``: what ``learn``
    makes of a function given as its callback); a false value stops training."""

    def __init__(self, callback: Callable[[dict[str, Any], dict[str, Any]], bool] | None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.callback = callback

    def _on_step(self) -> bool:
        return True if self.callback is None else self.callback(self.locals, self.globals)


class EventCallback(BaseCallback):
    """A callback that calls another one (``callback``, whose ``parent`` it becomes) when an event happens.

    Args:
        callback: Called on the event (None: nothing).
        verbose: Verbosity.
    """

    def __init__(self, callback: BaseCallback | None = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        if callback is not None and not isinstance(callback, BaseCallback):
            raise TypeError(
                f"{type(self).__name__}: callback must be a BaseCallback or None, got {shown(callback)}"
                f"{sb3_callback_hint(callback)}"
            )
        self.callback = callback
        if callback is not None:
            callback.parent = self

    def init_callback(self, model: Any) -> None:
        super().init_callback(model)
        if self.callback is not None:
            self.callback.init_callback(self.model)

    def _on_training_start(self) -> None:
        if self.callback is not None:
            start_training(self.callback, self.locals, self.globals)

    def _on_event(self) -> bool:
        return True if self.callback is None else bool(self.callback.on_step())

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        if self.callback is not None:
            self.callback.update_locals(locals_)


class EveryNTimesteps(EventCallback):
    """Calls ``callback`` once at least ``n_steps`` env steps have passed since it last did (SB3's).

    On a population the steps are the population's ``num_timesteps``, all K members' together: it fires every
    ``n_steps / K`` env steps of each member (``n_steps = K * n`` for every n steps of each).

    Raises:
        ValueError: For ``n_steps`` that is not a whole number >= 1.
    """

    def __init__(self, n_steps: int, callback: BaseCallback) -> None:
        super().__init__(callback)
        self.n_steps = check_count(n_steps, "EveryNTimesteps: n_steps")
        self.last_time_trigger = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last_time_trigger >= self.n_steps:
            self.last_time_trigger = self.num_timesteps
            return self._on_event()
        return True


class LogEveryNTimesteps(EveryNTimesteps):
    """Writes the agent's log row (progress.csv, the stdout table, TensorBoard) once at least ``n_steps`` env steps
    have passed since it last did (SB3's): the agent's ``dump_logs()``, besides the rows of its own log interval.

    Raises:
        ValueError: For ``n_steps`` that is not a whole number >= 1.
    """

    def __init__(self, n_steps: int) -> None:
        super().__init__(n_steps, ConvertCallback(self._log_data))

    def _log_data(self, _locals: dict[str, Any], _globals: dict[str, Any]) -> bool:
        self.model.dump_logs()
        return True


class CheckpointCallback(BaseCallback):
    """Saves the agent every ``save_freq`` calls (vector steps) to ``<save_path>/<name_prefix>_<steps>_steps.npz``.

    On a population (one call per population step, so every ``save_freq`` vector steps of each member, as its single
    run would save) it saves the population's directory ``<save_path>/<name_prefix>_<K>x<steps>_steps/``
    (``Population.save``: a model file per member, which ``load_population`` reads back): K members of ``<steps>``
    env steps each, the ``num_timesteps`` each member's file holds and its progress.csv shows; the population's
    ``num_timesteps``, which callbacks count, is their sum, K·steps (``rl_model_2x64_steps``: 2 members, 64 steps
    each, 128 together).

    Args:
        save_freq: Interval in ``on_step`` calls (one call = n_envs env steps, as in SB3): a whole number >= 1.
        save_path: Directory (created by ``init_callback``).
        name_prefix: File name prefix (SB3's default, ``rl_model``).
        save_replay_buffer: DQN: store the replay buffer too, inside the model file (SB3 writes a ``.pkl`` of its
            own).
        save_vecnormalize: SB3's: also save the ``VecNormalize`` statistics, which SB3 writes to a ``.pkl`` of their
            own. Accepted and nothing more: nngym keeps the normaliser's statistics (``normalize_obs`` /
            ``normalize_reward``: ``obs_rms``, ``ret_rms`` and their settings) inside every model file it saves, so
            each checkpoint holds them, and ``load`` restores them, whatever this is.
        verbose: 2 prints each path saved.

    Raises:
        ValueError: For a ``save_freq`` that is not a whole number >= 1 (0 would divide by zero in SB3).
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str | os.PathLike,
        name_prefix: str = "rl_model",
        save_replay_buffer: bool = False,
        save_vecnormalize: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.save_freq = check_count(save_freq, "CheckpointCallback: save_freq")
        self.save_path, self.name_prefix = Path(save_path), name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.save_vecnormalize = save_vecnormalize  # the statistics are in every model file (see above)
        self.last_path: Path | None = None

    def _init_callback(self) -> None:
        self.save_path.mkdir(parents=True, exist_ok=True)

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            path = self.save_path / f"{self.name_prefix}_{self._steps_name()}_steps.npz"
            self.last_path = self.model.save(path, include_replay_buffer=self.save_replay_buffer)
            if self.verbose >= 2:
                print(f"Saving model checkpoint to {self.last_path}")
        return True

    def _steps_name(self) -> str:
        """The steps in a checkpoint's name: ``num_timesteps``; on a population of K members of n steps each,
        ``<K>x<n>``."""
        members = population_members(self.model)
        steps = {int(m.num_timesteps) for m in members} if members is not None else set()
        if len(steps) == 1:
            return f"{len(members)}x{steps.pop()}"
        return str(self.num_timesteps)


class EvalCallback(EventCallback):
    """Evaluates the agent on a separate env every ``eval_freq`` calls; saves the best model.

    The evaluation is ``agents.common.evaluation.run_episodes``: ``n_eval_episodes`` episodes one after another on
    one env, the first reset with ``seed``, carrying a recurrent agent's state, as ``evaluate`` runs them, so its
    numbers are those of ``evaluate(agent, eval_env, n_eval_episodes, deterministic, seed=seed)``. A vector env is
    refused (SB3 evaluates on a VecEnv's envs side by side: different episodes, and numbers ``evaluate`` would not
    give).

    Each evaluation writes a row of progress.csv at once, as SB3's does: ``eval/mean_reward``,
    ``eval/mean_ep_length``, ``eval/success_rate`` (the mean of ``info["is_success"]`` at the episodes' ends, when the
    env's infos have it) and ``time/total_timesteps``, with whatever else was recorded since the agent's last row;
    the agent writes its own rows at its log interval as before. The row's ``time/total_timesteps`` stays out of
    TensorBoard, as SB3's (the step is its x axis).

    On a population every member is evaluated, one after the other on the same episodes, and each gets the files its
    single run would: ``evaluations.npz`` in ``member_log_dir(log_path, seed)`` (``<log_path>/s<seed>``, or
    ``{seed}`` filled in), ``best_model.npz`` (an ordinary model file of the member, saved when its own mean return
    is a new best) in ``member_log_dir(best_model_save_path, seed)``, and the evaluation's row in its own
    progress.csv, at its own env steps. Member k's evaluations are those its single run with the same callback
    would make (its parameters follow that run's). In memory, each evaluation's ``timesteps``, ``results``,
    ``ep_lengths`` and ``successes`` entry is a list of one entry per member and ``best_mean_reward`` /
    ``last_mean_reward`` are arrays (K,). ``callback_on_new_best`` and ``callback_after_eval`` follow one run's
    evaluations while a population stops all its members at once: they are refused on a population.

    Used again on the model it evaluated (``learn(..., reset_num_timesteps=False)``), it goes on with that model's
    evaluations and best mean return, as SB3's; given another model (a single agent after a population, a new
    agent), it starts afresh, as a new ``EvalCallback`` would: no evaluation, no best, no call counted yet.

    The arguments come in SB3's order with SB3's defaults (``verbose=1`` prints each evaluation), nngym's ``seed``
    last.

    Args:
        eval_env: Env id or ``gymnasium.Env`` used only for evaluation, with the training env's spaces (checked by
            ``init_callback``, before training).
        callback_on_new_best: Called (``on_step``) when the mean return is a new best, e.g.
            ``StopTrainingOnRewardThreshold``; its False stops training.
        callback_after_eval: Called after every evaluation, e.g. ``StopTrainingOnNoModelImprovement``.
        n_eval_episodes: Episodes per evaluation: a whole number >= 1.
        eval_freq: Interval in ``on_step`` calls (vector steps): a whole number >= 1.
        log_path: Directory for ``evaluations.npz`` as SB3 writes it: ``timesteps`` (E,), ``results`` (E,
            n_eval_episodes) returns and ``ep_lengths`` (E, n_eval_episodes), one row per evaluation, and
            ``successes`` (E', n) the ``is_success`` flags of the E' evaluations whose episodes had them.
        best_model_save_path: Directory for ``best_model.npz`` (``None``: do not save).
        deterministic: Greedy / mean actions.
        render: SB3's: show the evaluation episodes on the screen. True makes an env id with
            ``render_mode="human"``, which gymnasium renders at every step; an env given must be one made so
            (another cannot be shown by nngym's evaluation, which calls no ``render``).
        verbose: 1 prints each evaluation's mean return and length, as SB3's; 0 prints nothing.
        warn: SB3's: warn if the eval env has no ``Monitor`` wrapper, which SB3's evaluation reads the returns
            from. Accepted and not used: nngym's evaluation adds up the eval env's rewards itself, with no Monitor
            to look for.
        seed: Seed of each evaluation's first reset (nngym's: every evaluation plays the same episodes, so their
            returns compare the policies alone).

    Raises:
        ValueError: For a vector env or something that is not an env, counts that are not whole numbers >= 1,
            ``render`` or ``warn`` that are not bools, or ``render=True`` with an env not made with
            ``render_mode="human"``.
    """

    def __init__(
        self,
        eval_env: str | gym.Env,
        callback_on_new_best: BaseCallback | None = None,
        callback_after_eval: BaseCallback | None = None,
        n_eval_episodes: int = 5,
        eval_freq: int = 10_000,
        log_path: str | os.PathLike | None = None,
        best_model_save_path: str | os.PathLike | None = None,
        deterministic: bool = True,
        render: bool = False,
        verbose: int = 1,
        warn: bool = True,
        seed: int = 12345,
    ) -> None:
        super().__init__(callback_after_eval, verbose)
        for name, flag in (("render", render), ("warn", warn)):
            if not isinstance(flag, bool | np.bool_):
                raise ValueError(f"EvalCallback: {name} must be a bool, got {shown(flag)}")
        if isinstance(eval_env, gym.vector.VectorEnv):
            raise ValueError(
                f"EvalCallback evaluates on one env, episode after episode (as evaluate does), got a vector env of "
                f"{eval_env.num_envs} envs ({type(eval_env).__name__}); pass the env id or one gymnasium.make(...)"
            )
        if not isinstance(eval_env, str | gym.Env):
            raise ValueError(f"EvalCallback: eval_env must be an env id or a gymnasium.Env, got {shown(eval_env)}")
        self.eval_freq = check_count(eval_freq, "EvalCallback: eval_freq")
        self.n_eval_episodes = check_count(n_eval_episodes, "EvalCallback: n_eval_episodes")
        if callback_on_new_best is not None and not isinstance(callback_on_new_best, BaseCallback):
            raise TypeError(
                f"EvalCallback: callback_on_new_best must be a BaseCallback or None, got {shown(callback_on_new_best)}"
                f"{sb3_callback_hint(callback_on_new_best)}"
            )
        if render and not isinstance(eval_env, str) and getattr(eval_env, "render_mode", None) != "human":
            raise ValueError(
                "EvalCallback: render=True shows the evaluation episodes, which an env does by itself when made with "
                "render_mode='human' (gymnasium renders it at every step; nngym's evaluation calls no render), got "
                f"an env with render_mode={getattr(eval_env, 'render_mode', None)!r}; pass the env id, or "
                "gymnasium.make(..., render_mode='human')"
            )
        if isinstance(eval_env, str):
            eval_env = gym.make(eval_env, render_mode="human") if render else gym.make(eval_env)
        self.eval_env = eval_env
        self.render, self.warn = bool(render), bool(warn)
        self.deterministic = deterministic
        self.best_model_save_path = None if best_model_save_path is None else Path(best_model_save_path)
        self.log_path = None if log_path is None else Path(log_path)
        self.seed = seed
        self.callback_on_new_best = callback_on_new_best
        if callback_on_new_best is not None:
            callback_on_new_best.parent = self
        self._start_afresh()

    def _start_afresh(self) -> None:
        """The state of a callback that has evaluated nothing yet."""
        self.n_calls = 0
        self.best_mean_reward: float | np.ndarray = -np.inf
        self.last_mean_reward: float | np.ndarray = -np.inf
        self.timesteps: list[Any] = []
        self.results: list[Any] = []
        self.ep_lengths: list[Any] = []
        self.successes: list[Any] = []

    # SB3's names of the evaluations so far
    @property
    def evaluations_timesteps(self) -> list[int]:
        return self.timesteps

    @property
    def evaluations_results(self) -> list[list[float]]:
        return self.results

    @property
    def evaluations_length(self) -> list[list[int]]:
        return self.ep_lengths

    @property
    def evaluations_successes(self) -> list[list[bool]]:
        return self.successes

    def init_callback(self, model: Any) -> None:
        """Starts afresh for a model other than the one it evaluated (its evaluations, best and last mean returns
        and call count are that model's), then inits as every callback does (``_init_callback``)."""
        if model is not self.model:
            self._start_afresh()
        super().init_callback(model)

    def _init_callback(self) -> None:
        """Checks the eval env's spaces against the agent's; creates the output folders; inits
        ``callback_on_new_best``.

        Raises:
            ValueError: If the spaces differ, naming both pairs; on a population, with ``callback_on_new_best`` or
                ``callback_after_eval``.
        """
        obs_space = getattr(self.model, "observation_space", None)
        act_space = getattr(self.model, "action_space", None)
        env_spaces = (self.eval_env.observation_space, self.eval_env.action_space)
        if obs_space is not None and act_space is not None and env_spaces != (obs_space, act_space):
            raise ValueError(
                f"EvalCallback: the eval env's spaces {env_spaces[0]}, {env_spaces[1]} differ from the agent's "
                f"{obs_space}, {act_space}; evaluate on an env like the one it trains on"
            )
        members = population_members(self.model)
        if members is not None:
            self._init_members(members)
            return
        if self.best_model_save_path is not None:
            self.best_model_save_path.mkdir(parents=True, exist_ok=True)
        if self.log_path is not None:
            self.log_path.mkdir(parents=True, exist_ok=True)
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.init_callback(self.model)

    def _init_members(self, members: list[Any]) -> None:
        """A population: refuses the stopping callbacks, makes each member's folders, one best and last mean return
        per member."""
        children = (("callback_on_new_best", self.callback_on_new_best), ("callback_after_eval", self.callback))
        given = [name for name, child in children if child is not None]
        if given:
            refuse_population(
                self,
                f"its {' and '.join(given)} follow one run's evaluations, but a population has one per member "
                "(best_mean_reward[k]) and stops all its members at once; evaluate it without them, or train the "
                "seeds one by one",
            )

        self._member_dirs = {
            name: [member_log_dir(folder, m.seed) for m in members] if folder is not None else None
            for name, folder in (("log", self.log_path), ("best", self.best_model_save_path))
        }
        for folder in (d for dirs in self._member_dirs.values() if dirs for d in dirs):
            folder.mkdir(parents=True, exist_ok=True)
        if np.ndim(self.best_mean_reward) == 0:  # nothing evaluated yet (else: the same population, trained on)
            self.best_mean_reward = np.full(len(members), -np.inf)
            self.last_mean_reward = np.full(len(members), -np.inf)

    def _run(self, agent: Any) -> tuple[EpisodeStats, list[bool]]:
        """One evaluation of ``agent``: ``run_episodes``' statistics and the ``is_success`` flags of the episodes
        whose last info had one."""
        stats = run_episodes(agent, self.eval_env, self.n_eval_episodes, self.deterministic, self.seed)
        return stats, stats.successes

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq:
            return True
        members = population_members(self.model)
        if members is not None:
            self._evaluate_members(members)
            return True
        stats, successes = self._run(self.model)
        mean, mean_length = float(np.mean(stats.returns)), float(np.mean(stats.lengths))
        self.last_mean_reward = mean
        self.timesteps.append(self.num_timesteps)
        self.results.append(stats.returns)
        self.ep_lengths.append(stats.lengths)
        if successes:
            self.successes.append(successes)
        if self.log_path is not None:
            _save_evaluations(self.log_path, self.timesteps, self.results, self.ep_lengths, self.successes)
        if self.verbose >= 1:
            print(f"Eval num_timesteps={self.num_timesteps}, episode_reward={mean:.2f} +/- {np.std(stats.returns):.2f}")
            print(f"Episode length: {mean_length:.2f} +/- {np.std(stats.lengths):.2f}")
        _log_evaluation(self.logger, self.num_timesteps, mean, mean_length, successes, self.verbose, self.model)
        go_on = True
        if mean > self.best_mean_reward:
            if self.verbose >= 1:
                print("New best mean reward!")
            if self.best_model_save_path is not None:
                self.model.save(self.best_model_save_path / "best_model.npz")
            self.best_mean_reward = mean
            if self.callback_on_new_best is not None:
                go_on = bool(self.callback_on_new_best.on_step())
        if self.callback is not None:
            go_on = self._on_event() and go_on
        return go_on

    def _evaluate_members(self, members: list[Any]) -> None:
        """Evaluates each member of a population into its own files, progress.csv row and best model."""
        runs = [self._run(m) for m in members]
        stats = [s for s, _ in runs]
        self.timesteps.append([int(m.num_timesteps) for m in members])
        self.results.append([s.returns for s in stats])
        self.ep_lengths.append([s.lengths for s in stats])
        self.successes.append([flags for _, flags in runs])
        self.last_mean_reward = np.array([np.mean(s.returns) for s in stats], dtype=np.float64)
        synced = False
        for k, (m, (s, successes)) in enumerate(zip(members, runs, strict=True)):
            mean, mean_length = float(self.last_mean_reward[k]), float(np.mean(s.lengths))
            if self._member_dirs["log"] is not None:
                _save_evaluations(
                    self._member_dirs["log"][k],
                    [t[k] for t in self.timesteps],
                    [r[k] for r in self.results],
                    [n[k] for n in self.ep_lengths],
                    [f[k] for f in self.successes if f[k]],
                )
            if self.verbose >= 1:
                print(
                    f"Eval seed {m.seed} num_timesteps={m.num_timesteps}, episode_reward={mean:.2f} +/- "
                    f"{np.std(s.returns):.2f}, episode length: {mean_length:.2f} +/- {np.std(s.lengths):.2f}"
                )
            _log_evaluation(m.logger, int(m.num_timesteps), mean, mean_length, successes, self.verbose, m)
            if mean > self.best_mean_reward[k]:
                if self.verbose >= 1:
                    print(f"New best mean reward for seed {m.seed}!")
                if self._member_dirs["best"] is not None:
                    if not synced:  # the members' optimiser states from the stacked optimiser, for their files
                        self.model.sync()
                        synced = True
                    m.save(self._member_dirs["best"][k] / "best_model.npz")
                self.best_mean_reward[k] = mean

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        super().update_child_locals(locals_)
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.update_locals(locals_)


def _save_evaluations(
    folder: Path, timesteps: list[int], results: list[list[float]], ep_lengths: list[list[int]], successes: list[Any]
) -> None:
    """``<folder>/evaluations.npz`` as SB3 writes it: ``timesteps`` (E,), ``results`` and ``ep_lengths`` (E,
    n_eval_episodes), and ``successes`` (E', n) if some evaluations had ``is_success`` flags."""
    extra = {"successes": np.array(successes, dtype=bool)} if successes else {}
    np.savez(
        folder / "evaluations.npz",
        timesteps=np.array(timesteps, dtype=np.int64),
        results=np.array(results, dtype=np.float64),
        ep_lengths=np.array(ep_lengths, dtype=np.int64),
        **extra,
    )


def _log_evaluation(
    logger: Any, steps: int, mean: float, mean_length: float, successes: list[bool], verbose: int, agent: Any = None
) -> None:
    """Writes an evaluation's row of progress.csv now, at ``steps`` env steps, as SB3's ``EvalCallback`` does:
    ``eval/mean_reward``, ``eval/mean_ep_length``, ``eval/success_rate`` (with ``successes``) and
    ``time/total_timesteps``, plus what else was recorded since the last row and the values ``agent`` records at
    every row's step (DQN's ε: SB3 records it at every env step, so its evaluation rows hold it too)."""
    for key, value in getattr(agent, "_live_stats", dict)().items():
        logger.record(key, value)
    logger.record("eval/mean_reward", mean)
    logger.record("eval/mean_ep_length", mean_length)
    if successes:
        success_rate = float(np.mean(successes))
        if verbose >= 1:
            print(f"Success rate: {100 * success_rate:.2f}%")
        logger.record("eval/success_rate", success_rate)
    logger.record("time/total_timesteps", steps, exclude="tensorboard")  # SB3's: TensorBoard's x axis is the step
    logger.dump(steps)


class StopTrainingOnRewardThreshold(BaseCallback):
    """Stops training once the best mean evaluation return reaches ``reward_threshold`` (SB3's): the
    ``callback_on_new_best`` of an ``EvalCallback``.

    Raises:
        ValueError: If it is called without an ``EvalCallback`` as its parent.
    """

    def __init__(self, reward_threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.reward_threshold = reward_threshold

    def _on_step(self) -> bool:
        best = _parent_best(self)
        go_on = bool(best < self.reward_threshold)
        if self.verbose >= 1 and not go_on:
            print(f"Stopping training because the mean reward {best:.2f} reached the threshold {self.reward_threshold}")
        return go_on


class StopTrainingOnNoModelImprovement(BaseCallback):
    """Stops training after more than ``max_no_improvement_evals`` evaluations in a row without a new best model,
    counting from evaluation ``min_evals`` on (SB3's): the ``callback_after_eval`` of an ``EvalCallback``.

    Raises:
        ValueError: For counts that are not whole numbers >= 0; when called without an ``EvalCallback`` parent.
    """

    def __init__(self, max_no_improvement_evals: int, min_evals: int = 0, verbose: int = 0) -> None:
        super().__init__(verbose)
        what = "StopTrainingOnNoModelImprovement"
        self.max_no_improvement_evals = check_count(max_no_improvement_evals, f"{what}: max_no_improvement_evals", 0)
        self.min_evals = check_count(min_evals, f"{what}: min_evals", 0)
        self.last_best_mean_reward = -np.inf
        self.no_improvement_evals = 0

    def init_callback(self, model: Any) -> None:
        """Starts counting afresh for a model other than the one it followed (as its ``EvalCallback`` parent starts
        its evaluations afresh), then inits as every callback does."""
        if model is not self.model:
            self.n_calls, self.last_best_mean_reward, self.no_improvement_evals = 0, -np.inf, 0
        super().init_callback(model)

    def _on_step(self) -> bool:
        best = _parent_best(self)
        go_on = True
        if self.n_calls > self.min_evals:
            if best > self.last_best_mean_reward:
                self.no_improvement_evals = 0
            else:
                self.no_improvement_evals += 1
                go_on = self.no_improvement_evals <= self.max_no_improvement_evals
        self.last_best_mean_reward = best
        if self.verbose >= 1 and not go_on:
            print(
                "Stopping training because there was no new best model in the last "
                f"{self.no_improvement_evals} evaluations"
            )
        return go_on


def _parent_best(callback: BaseCallback) -> float:
    """The best mean return of ``callback``'s ``EvalCallback`` parent.

    Raises:
        ValueError: If its parent is not an ``EvalCallback``.
    """
    if not isinstance(callback.parent, EvalCallback):
        raise ValueError(
            f"{type(callback).__name__} reads the evaluations of an EvalCallback: pass it as the EvalCallback's "
            "callback_on_new_best or callback_after_eval, not to learn"
        )
    return callback.parent.best_mean_reward


class StopTrainingOnMaxEpisodes(BaseCallback):
    """Stops training once ``max_episodes`` episodes per env have ended, ``max_episodes`` · n_envs in all (SB3's).

    On a population, whose ``training_env`` has K · n_envs envs, every member stops once ``max_episodes`` · K · n_envs
    episodes have ended over all its members.

    Raises:
        ValueError: For a ``max_episodes`` that is not a whole number >= 1.
    """

    def __init__(self, max_episodes: int, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.max_episodes = check_count(max_episodes, "StopTrainingOnMaxEpisodes: max_episodes")
        self._total_max_episodes = self.max_episodes
        self.n_episodes = 0

    def _init_callback(self) -> None:
        self._total_max_episodes = self.max_episodes * self.training_env.num_envs

    def _on_step(self) -> bool:
        self.n_episodes += int(np.sum(self.locals["dones"]))
        go_on = self.n_episodes < self._total_max_episodes
        if self.verbose >= 1 and not go_on:
            print(
                f"Stopping training with a total of {self.num_timesteps} steps because the model reached "
                f"max_episodes={self.max_episodes}, by playing for {self.n_episodes} episodes"
            )
        return go_on


class ProgressBarCallback(BaseCallback):
    """A tqdm bar over the env steps of this ``learn`` call."""

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        total = self.locals.get("total_timesteps", self.model._total_timesteps)
        self.bar = tqdm(total=total - self.model.num_timesteps, unit="steps")

    def _on_step(self) -> bool:
        self.bar.update(self.model.n_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


class AccuracyCallback(BaseCallback):
    """Test accuracy (``classification_accuracy``) every ``eval_freq`` env steps, into ``accuracy.csv``.

    Training time excludes the evaluations, so ``seconds`` is what the curve cost to learn.
    Rows: ``steps,seconds,accuracy``; ``self.history`` keeps them as tuples.

    Args:
        eval_freq: Interval in env steps (rounded to whole vector steps): a whole number >= 1.
        log_path: Directory for ``accuracy.csv`` (``None``: keep in memory only).
        split: MNIST split evaluated.
        stop_at: Stop training once the accuracy reaches this (``None``: never).

    Raises:
        ValueError: For an ``eval_freq`` that is not a whole number >= 1; when ``learn`` starts, on a population.
    """

    def __init__(
        self,
        eval_freq: int,
        log_path: str | os.PathLike | None = None,
        split: str = "test",
        stop_at: float | None = None,
    ) -> None:
        super().__init__()
        self.eval_freq, self.split, self.stop_at = check_count(eval_freq, "AccuracyCallback: eval_freq"), split, stop_at
        self.log_path = None if log_path is None else Path(log_path)
        self.history: list[tuple[int, float, float]] = []

    def _init_callback(self) -> None:
        """Refuses a population, whose K policies have no one accuracy.

        Raises:
            ValueError: On a population, naming what to do instead.
        """
        refuse_population(
            self,
            "a population has one policy per member, not one to take the accuracy of; after training, "
            "classification_accuracy(population[k]) gives member k's",
        )

    def _on_training_start(self) -> None:
        self._next = self.model.num_timesteps + self.eval_freq
        self._eval_seconds = 0.0
        self._t0 = time.perf_counter()
        if self.log_path is not None:
            self.log_path.mkdir(parents=True, exist_ok=True)
            (self.log_path / "accuracy.csv").write_text("steps,seconds,accuracy\n")

    def _record(self) -> None:
        t = time.perf_counter()
        row = (int(self.model.num_timesteps), round(t - self._t0 - self._eval_seconds, 2))  # training time only
        acc = classification_accuracy(self.model, self.split)
        self._eval_seconds += time.perf_counter() - t
        self.history.append((*row, acc))
        self.logger.record("eval/accuracy", acc)
        if self.log_path is not None:
            with open(self.log_path / "accuracy.csv", "a") as f:
                f.write(f"{row[0]},{row[1]},{acc:.4f}\n")

    def _on_step(self) -> bool:
        if self.model.num_timesteps >= self._next:
            self._next += self.eval_freq
            self._record()
            return self.stop_at is None or self.history[-1][2] < self.stop_at
        return True

    def _on_training_end(self) -> None:
        self._record()  # the final policy (an on-step row at the same step count came before the last update)
