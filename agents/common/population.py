"""Many seeds as one population: K seeds of an agent trained in one process on parameters stacked (K, ...).

``PPO("CartPole-v1", seed=[0, 1, 2, 3])`` (also A2C and DQN, with MLP policies) gives a ``Population``. Its
members are ordinary agents, built exactly as single runs with their seeds (weights, generators, env seeds,
replay buffers, normalisers, log files): member k starts from the parameters a single run with seed k starts
from. Their networks' parameters are views of stacked arrays, and one loop steps the K·n_envs environments
and updates the K networks with batched matrix products (``nngym.stacked``) and one optimiser pass per step
(``nngym.stacked_optim``). Everything statistical stays per member: each member's generator draws its
actions, minibatch order and replay samples in the order its single run draws them, and advantage
normalisation, the clipped gradient norm, Adam's moments, ε and the replay buffer are its own, so member k
follows the single run with seed k up to floating-point rounding.

Files: with ``log_dir``, member k writes ``monitor.csv`` and ``progress.csv`` into its own directory (the
layout of K single runs; ``member_log_dir``: ``<log_dir>/s<seed>``, or ``{seed}`` in ``log_dir`` filled in). With
``tensorboard_log`` each member's TensorBoard runs go into its own directory laid out the same way,
``<tensorboard_log>/s<seed>/PPO_1``, ``PPO_2``... (SB3's run names, counted per member): ``tensorboard --logdir
<tensorboard_log>`` shows one run per seed and ``learn``, named by the seed, and ``learn(...,
reset_num_timesteps=False)`` (also after ``load_population``) continues each member's latest run in its own
directory. ``save(path)`` writes a directory of one ordinary model file per member plus ``population.json``;
``load_population`` reads it back to continue training. With ``verbose=1`` each member prints its log table, after
a line ``seed <seed>:``.

Time: the members run in one process, side by side, so the clock each member's files show is the population's
wall-clock: ``monitor.csv``'s ``t`` (and ``ep_info_buffer``'s), and progress.csv's ``time/time_elapsed`` are the
seconds since the population's ``learn`` began, and ``time/fps`` is a member's env steps over them (about 1/K of
the population's steps per second). ``agents.experiments.train_population``'s ``eval.json`` gives each seed
``train_seconds`` / ``train_cpu_seconds`` as a 1/K share of the population's seconds, and the whole population's
seconds under its ``population`` entry.

Members from elsewhere: ``Population.from_members`` (and ``load_population``) takes ready agents of one class,
configuration, number of envs and pair of spaces, at one point of training (``check_counters``: the loops step
every member with member 0's env step count, schedules' progress and DQN's call count, and the stacked optimiser
keeps one step count for all). ``population.member(k)`` is a copy of member k with envs made as member k's are
(from each of its envs' specs: id, arguments, ``max_episode_steps``), or none, with a warning naming ``set_env``,
if they cannot be made again.

Hyperparameters: the members share one configuration. ``population.gamma`` reads it, and ``population.ent_coef =
0.01`` sets a hyperparameter a single agent lets you set (``SETTABLE``) on every member and on what the population
built from it (the stacked optimiser's gradient-norm clip, the members' shared schedules), in effect from the next
update on, as on a single agent; the others are refused as a single agent refuses them. Setting one on a member
(``population.members[k].gamma = ...``) is refused, as are its ``learn``, ``set_env`` and ``set_random_seed``:
``population.member(k)`` gives a copy of its own to change. A member's ``save``, ``get_parameters`` and
``set_parameters`` read and write the optimiser state the population holds for it.
Attributes of a single agent that a population has per member (``policy``, ``env``, ``ep_info_buffer``,
``replay_buffer``...) raise an AttributeError that names ``population.members[k].<name>`` and
``population.member(k).<name>``.

Callbacks see the population as their ``model``: ``training_env`` is ``get_env()``, the K·n_envs envs of its members
(``PopulationEnvs``: a vector env's spaces, ``get_attr``, ``set_attr``, ``env_method``, ``call`` and ``render`` over
them, numbered member by member; stepping and resetting are member k's, ``training_env[k]``), and ``logger`` writes
into every member's progress.csv (``PopulationLogger``: ``record``, ``record_mean``, ``dump``; what is a member's
own, ``get_dir`` or ``name_to_value``, is ``model.members[k].logger``'s).
A callback's ``num_timesteps`` is the population's, all members' env steps together (K times a member's).
``CheckpointCallback`` saves the population's directory (``<name_prefix>_<K>x<steps>_steps``, K members of
``<steps>`` steps each), ``EvalCallback`` evaluates each member into its own files and ``StopTrainingOnMaxEpisodes``
counts the episodes of all K·n_envs envs (``agents.common.callbacks``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from threadpoolctl import threadpool_limits

from agents.common.callbacks import (
    BaseCallback,
    CallbackList,
    MaybeCallback,
    ProgressBarCallback,
    as_callback,
    start_training,
    training_locals,
)
from agents.common.config import (
    CONFIG_LOG_INTERVAL,
    SavedSchedule,
    check_total_timesteps,
    is_schedule_marker,
    log_interval_for_call,
    lost_schedules_text,
)
from agents.common.logger import member_log_dir
from agents.common.population_dqn import DQNPopulationEngine
from agents.common.population_onpolicy import A2CPopulationEngine, PPOPopulationEngine, check_population_config
from agents.common.population_parts import dump_member_logs, label_member_table, part_count
from agents.common.sb3_args import check_save_arguments
from agents.common.vec_env import SyncVectorEnv, make_vec_env, sub_env_indices, tile_frames
from nngym.parallel import available_cores
from nngym.serialization import META_KEY, ModelFileError

#: The algorithms a population trains, by ``algo`` name, and the loop that trains them.
ENGINES: dict[str, type] = {"PPO": PPOPopulationEngine, "A2C": A2CPopulationEngine, "DQN": DQNPopulationEngine}


def check_seeds(seeds: Any) -> list[int]:
    """The seeds as a list of distinct ints.

    Raises:
        ValueError: For an empty list, non-integers or repeated seeds, or a 0-d numpy array (one seed, not a list:
            ``int(seed)`` makes a single agent).
    """
    if isinstance(seeds, np.ndarray) and seeds.ndim == 0:
        raise ValueError(
            f"a population needs a list of seeds, got a 0-d array {seeds!r}, which holds one seed: pass "
            f"seed=int(seed) for a single agent, or seed=[...] for a population"
        )
    out = list(seeds)
    if not out or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0 for s in out):
        raise ValueError(f"a population needs a non-empty list of non-negative integer seeds, got {seeds!r}")
    out = [int(s) for s in out]
    if len(set(out)) != len(out):
        raise ValueError(f"a population needs distinct seeds (members would be identical), got {out}")
    return out


def training_counters(agent: Any) -> dict[str, int]:
    """The counters of ``agent``'s training progress that a population's loops share among its members.

    The loops read them from member 0 for all: its env steps (``num_timesteps``) decide when ``learn`` ends and the
    progress of every schedule (step size, clip range, DQN's ε and ``learning_starts``), the stacked optimiser
    keeps one step count ``t`` for all (Adam's bias correction), and DQN's vector steps (``_n_calls``) time its
    target updates and training calls. The updates (``_n_updates``) follow from them.

    Returns:
        ``{"num_timesteps", "optimizer.t", "n_updates"}`` and, for DQN, ``"n_calls"``.
    """
    counters = {"num_timesteps": agent.num_timesteps, "optimizer.t": agent.optimizer.t, "n_updates": agent._n_updates}
    if hasattr(agent, "_n_calls"):
        counters["n_calls"] = agent._n_calls
    return counters


def check_counters(members: Sequence[Any]) -> None:
    """Checks that the members are at one point of training (``training_counters``): a population steps them
    together, with member 0's counters, so a member at another point would not follow its single run.

    Raises:
        ValueError: Listing each member's seed and counters.
    """
    counters = [training_counters(m) for m in members]
    if all(c == counters[0] for c in counters):
        return
    listed = "; ".join(
        f"seed {m.seed}: " + ", ".join(f"{key}={value}" for key, value in c.items())
        for m, c in zip(members, counters, strict=True)
    )
    raise ValueError(
        f"a population's members are trained in step, with one count of env steps, optimiser steps and updates for "
        f"all (member 0's), so they must be at one point of training; their counters differ: {listed}. Make the "
        "population of members saved at one step (a population's checkpoint: load_population), or train each "
        "member alone"
    )


class PopulationEnvs:
    """The envs a population steps, K members' vector envs of n_envs each, as one view: a population's
    ``get_env()``, so a callback's ``training_env``.

    It has a vector env's size and spaces: ``num_envs`` = K·n_envs (the population's ``n_envs``, as the locals'
    ``dones`` hold K·n_envs flags, one array per member), ``single_observation_space`` / ``single_action_space``
    (the members' one pair) and ``observation_space`` / ``action_space`` batched over the K·n_envs envs. Its envs
    are numbered member by member: env i is env ``i % n_envs`` of member ``i // n_envs``. Gymnasium's ``call``,
    ``get_attr``, ``set_attr`` and ``render`` and SB3's ``env_method`` and ``indices`` reach them in that order,
    each through its member's vector env (``agents.common.vec_env.SubEnvMethods``). Member k's vector env is
    ``envs[k]`` (or ``population_envs[k]``). It does not step, reset or close: the population steps its members'
    envs itself; those, and the other attributes of one member's vector env, are ``population_envs[k]``'s.

    Args:
        envs: The members' vector envs, in member order, of n_envs envs each.
    """

    def __init__(self, envs: Sequence[gym.vector.VectorEnv]) -> None:
        self.envs = list(envs)
        self.num_envs = sum(e.num_envs for e in self.envs)
        self.single_observation_space = self.envs[0].single_observation_space
        self.single_action_space = self.envs[0].single_action_space

    @property
    def observation_space(self) -> gym.Space:
        """The observation space of the K·n_envs envs batched, as a vector env's (``batch_space``)."""
        return gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)

    @property
    def action_space(self) -> gym.Space:
        """The action space of the K·n_envs envs batched, as a vector env's (``batch_space``)."""
        return gym.vector.utils.batch_space(self.single_action_space, self.num_envs)

    def __len__(self) -> int:
        """K, the number of members' vector envs (``num_envs`` counts their envs)."""
        return len(self.envs)

    def __getitem__(self, k: int) -> gym.vector.VectorEnv:
        return self.envs[k]

    def __iter__(self) -> Iterator[gym.vector.VectorEnv]:
        return iter(self.envs)

    def __repr__(self) -> str:
        return f"PopulationEnvs({len(self.envs)} members x {self.envs[0].num_envs} envs)"

    def __getattr__(self, name: str) -> Any:
        """An AttributeError for what the members' vector envs have and the population's envs as one do not
        (``reset``, ``step``, ``close``...), naming ``training_env[k]``."""
        envs = self.__dict__.get("envs")
        raise _per_member_attribute_error(
            self,
            name,
            envs[0] if envs else None,
            lambda: (
                f"PopulationEnvs, the {self.num_envs} envs of a population's {len(envs)} members, has no {name!r}: "
                f"the population steps, resets and closes its members' envs itself; member k's vector env has it: "
                f"training_env[k].{name} (population.get_env()[k].{name}), k in 0..{len(envs) - 1}"
            ),
        )

    def _by_member(self, indices: int | Iterable[int] | None, what: str) -> list[tuple[int, list[int]]]:
        """The envs ``indices`` (SB3's: None for all, an int or ints in [-num_envs, num_envs)) as runs of one
        member each, in their order: ``[(k, [member k's env indices]), ...]``.

        Raises:
            ValueError: For indices that are not ints in range (``sub_env_indices``), naming ``what``.
        """
        n = self.envs[0].num_envs
        runs: list[tuple[int, list[int]]] = []
        for i in sub_env_indices(indices, self.num_envs, f"PopulationEnvs.{what}"):
            if runs and runs[-1][0] == i // n:
                runs[-1][1].append(i % n)
            else:
                runs.append((i // n, [i % n]))
        return runs

    def get_attr(self, name: str, indices: int | Iterable[int] | None = None) -> tuple[Any, ...]:
        """Each env's attribute ``name`` (Gymnasium's ``get_attr``, SB3's with ``indices``), through its member's
        vector env.

        Args:
            name: The attribute, looked up through each env's wrappers (called if callable, as Gymnasium does).
            indices: The envs, numbered member by member (None: all K·n_envs; an int or ints).

        Returns:
            One value per env of ``indices``, in their order.
        """
        return tuple(
            value for k, local in self._by_member(indices, "get_attr") for value in self.envs[k].get_attr(name, local)
        )

    def set_attr(self, name: str, values: Any, indices: int | Iterable[int] | None = None) -> None:
        """Sets each env's attribute ``name`` (Gymnasium's ``set_attr``, SB3's with ``indices``), through its
        member's vector env.

        Args:
            name: The attribute, set where each env's wrappers hold it.
            values: A list or tuple of one value per env of ``indices``, or one value for them all.
            indices: The envs, numbered member by member (None: all K·n_envs; an int or ints).

        Raises:
            ValueError: For a list or tuple of another length than the envs of ``indices``.
        """
        runs = self._by_member(indices, "set_attr")
        count = sum(len(local) for _, local in runs)
        if not isinstance(values, list | tuple):
            values = [values] * count
        if len(values) != count:
            raise ValueError(
                f"PopulationEnvs.set_attr: values must be one value or a list or tuple of one value per env "
                f"({count}), got {len(values)} values"
            )
        start = 0
        for k, local in runs:
            self.envs[k].set_attr(name, list(values[start : start + len(local)]), local)
            start += len(local)

    def env_method(
        self, method_name: str, *method_args: Any, indices: int | Iterable[int] | None = None, **method_kwargs: Any
    ) -> list[Any]:
        """SB3's ``env_method``: each env's method ``method_name`` called with the arguments, through its member's
        vector env.

        Args:
            method_name: The method, looked up through each env's wrappers.
            *method_args: Its positional arguments.
            indices: The envs, numbered member by member (None: all K·n_envs; an int or ints).
            **method_kwargs: Its keyword arguments.

        Returns:
            One result per env of ``indices``, in their order.
        """
        return [
            result
            for k, local in self._by_member(indices, "env_method")
            for result in self.envs[k].env_method(method_name, *method_args, indices=local, **method_kwargs)
        ]

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Each env's attribute ``name``, called with ``args`` and ``kwargs`` if callable (Gymnasium's ``call``).

        Returns:
            One result per env, member by member (``num_envs``,).
        """
        return tuple(result for env in self.envs for result in env.call(name, *args, **kwargs))

    def render(self, mode: str | None = None) -> Any:
        """Each env's frame, member by member, or, with SB3's ``mode="rgb_array"``, the K·n_envs frames tiled into
        one image (``agents.common.vec_env.tile_frames``), as a vector env's ``render``.

        Raises:
            ValueError: For another mode, or ``"rgb_array"`` on envs that give no frames.
        """
        if mode not in (None, "rgb_array"):
            raise ValueError(
                f"PopulationEnvs.render: mode must be None (each env's frame) or 'rgb_array' (the frames tiled into "
                f"one image, SB3's), got {mode!r}; an env's render mode is chosen when it is made (render_mode=...)"
            )
        frames = tuple(frame for env in self.envs for frame in env.render())
        return frames if mode is None else tile_frames(frames, "PopulationEnvs.render(mode='rgb_array')")


def _per_member_attribute_error(obj: Any, name: str, member_part: Any, message: Callable[[], str]) -> AttributeError:
    """The AttributeError for ``obj.<name>``: Python's own if a member's part (``member_part``: member 0's vector
    env or logger) has no such attribute either (or the name is private), else ``message()``, which names where
    each member's is."""
    if name.startswith("_") or member_part is None or not hasattr(member_part, name):
        return AttributeError(f"'{type(obj).__name__}' object has no attribute {name!r}", name=name, obj=obj)
    return AttributeError(message(), name=name, obj=obj)


class PopulationLogger:
    """The members' loggers behind one: what a callback's ``logger`` is on a population.

    ``record`` and ``record_mean`` (SB3's, with ``exclude``) add the value to every member's next row of
    progress.csv (and TensorBoard), the row the member writes at its next log interval; ``dump`` writes each
    member's row now. A value of one member alone goes to that member's own logger,
    ``population.members[k].logger.record(key, value)`` (as ``EvalCallback`` records each member's evaluation).
    The members' loggers are looked up at every call: each ``learn`` opens new ones.

    Args:
        members: The population's agents.
    """

    def __init__(self, members: Sequence[Any]) -> None:
        self.members = list(members)

    def __getattr__(self, name: str) -> Any:
        """An AttributeError for what the members' loggers have and the population's does not (``get_dir``,
        ``name_to_value``, ``close``...: each member's is its own), naming ``model.members[k].logger``."""
        members = self.__dict__.get("members")
        raise _per_member_attribute_error(
            self,
            name,
            members[0].logger if members else None,
            lambda: (
                f"a population's logger writes into its {len(members)} members' loggers (record, record_mean, "
                f"dump) and has no {name!r}: each member's logger has its own, model.members[k].logger.{name} (in a "
                f"callback, self.model.members[k].logger.{name}), k in 0..{len(members) - 1}"
            ),
        )

    def record(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        """``record`` on every member's logger (``agents.common.logger.Logger.record``)."""
        for m in self.members:
            m.logger.record(key, value, exclude)

    def record_mean(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        """``record_mean`` on every member's logger (``agents.common.logger.Logger.record_mean``)."""
        for m in self.members:
            m.logger.record_mean(key, value, exclude)

    def dump(self, step: int | None = None) -> None:
        """Writes every member's recorded values now, each row at the member's own env steps.

        Args:
            step: Taken as SB3's ``dump(step)`` takes it, not used: a callback's ``num_timesteps`` is the
                population's, K times a member's, and each member's file counts its own steps.
        """
        for m in self.members:
            label_member_table(m)
            m.logger.dump(m.num_timesteps)


class Population:
    """K agents of one class and configuration, one per seed, trained together on stacked parameters.

    The members share one configuration: ``population.<hyperparameter>`` reads it (``population.gamma``), and
    assigning one a single agent takes (``SETTABLE``: ``population.learning_rate = 1e-4``) sets it on every member
    and on what the population built from it, from the next update on (``_set_hyperparameter``). ``verbose``,
    ``stats_window_size``, ``log_dir`` and ``tensorboard_log`` are the population's too: set, they are set for every
    member (the directories per member, ``member_log_dir``). What a single agent has per run (``policy``, ``env``,
    ``ep_info_buffer``, ``replay_buffer``, ``get_parameters``...) the population has per member: reading it raises an
    AttributeError naming ``population.members[k].<name>`` (member k itself) and ``population.member(k).<name>`` (a
    copy of its own).

    Args:
        agent_cls: PPO, A2C or DQN (``ENGINES``).
        env: An env id (each member makes its own envs), or a list of K envs / vector envs, one per member, all with
            one observation space and one action space and of one size (``num_envs``).
        seed: The members' seeds, K distinct ints.
        log_dir: Directory of the members' logs (``member_log_dir``: ``{seed}`` in it is filled in, else
            ``<log_dir>/s<seed>``).
        **kwargs: The agent's arguments (``net``, ``verbose``, hyperparameters), the same for every member;
            ``tensorboard_log`` is the root of the members' TensorBoard directories, laid out as ``log_dir``
            (``<tensorboard_log>/s<seed>/<ALGO>_<n>``).

    Raises:
        ValueError: For another algorithm, a policy that is not an MLP, a single env instance, envs with different
            spaces or numbers of envs, or bad seeds.
    """

    #: Threads while learning. With n > 1 the members are cut into up to n parts (as many as their work pays for,
    #: ``agents.common.population_parts.part_count``) whose updates run side by side, one thread each: the
    #: arithmetic of PPO's epochs and DQN's gradient steps on n cores; rollouts stay on one thread. -1: every core
    #: the process may run on. BLAS keeps one thread per part. A member learns the same numbers with any count.
    #: One by default, as a single agent.
    num_threads: int = 1

    def learning_threads(self) -> int:
        """The threads ``learn`` uses: ``num_threads``, or every core the process may run on for -1.

        Raises:
            ValueError: For a count of 0 or below -1.
        """
        if self.num_threads == -1:
            return available_cores()
        if isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int) or self.num_threads < 1:
            raise ValueError(f"num_threads must be an int >= 1 or -1 (every core), got {self.num_threads!r}")
        return self.num_threads

    def __init__(
        self,
        agent_cls: type,
        env: str | Sequence[gym.Env | gym.vector.VectorEnv] | None = None,
        net: Any = "mlp",
        seed: Sequence[int] = (0,),
        log_dir: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> None:
        seeds = check_seeds(seed)
        multi_input = isinstance(net, str) and net == "multi_input"  # SB3's MultiInputPolicy: the spaces decide
        _check_supported(agent_cls, "mlp" if multi_input else net)
        if isinstance(env, gym.Env | gym.vector.VectorEnv):
            raise ValueError(
                f"a population of {len(seeds)} needs an env id (each member makes its own envs) or a list of "
                f"{len(seeds)} envs, got one {type(env).__name__}"
            )
        envs = list(env) if isinstance(env, list | tuple) else [env] * len(seeds)
        if len(envs) != len(seeds):
            raise ValueError(f"a population of {len(seeds)} seeds needs {len(seeds)} envs, got {len(envs)}")
        tensorboard_log = kwargs.pop("tensorboard_log", None)
        members = [
            agent_cls(
                e,
                net=net,
                seed=s,
                log_dir=member_log_dir(log_dir, s),
                tensorboard_log=member_log_dir(tensorboard_log, s),
                **kwargs,
            )
            for e, s in zip(envs, seeds, strict=True)
        ]
        if multi_input:  # "cnn" for image parts, which a population does not stack
            _check_supported(agent_cls, members[0].net)
        self._init_from_members(members, log_dir)
        self.__dict__["_tensorboard_log"] = tensorboard_log

    @classmethod
    def from_members(cls, members: Sequence[Any], log_dir: str | os.PathLike | None = None) -> Population:
        """A population of ready agents (one class and configuration, distinct seeds), e.g. loaded ones; their
        parameters and optimiser states are taken over as they are.

        Members that share one ``tensorboard_log`` get a directory each under it (``<tensorboard_log>/s<seed>``), so
        their runs do not mix; members with directories of their own keep them.

        Args:
            members: The agents, in member order: one class and configuration, distinct seeds, envs of one number
                and one pair of spaces, and one training progress (``check_counters``: equal env steps,
                optimiser steps and updates).
            log_dir: The members' log directory (``member_log_dir``); None keeps none.

        Raises:
            ValueError: For no member, another algorithm or network, repeated seeds, members of several classes or
                configurations, envs of other spaces or sizes, or members at different training steps (naming
                each member's seed and counters).
        """
        if not members:
            raise ValueError("a population needs at least one member")
        _check_supported(type(members[0]), members[0].net)
        check_seeds([m.seed for m in members])
        if any(type(m) is not type(members[0]) or m.config != members[0].config for m in members):
            raise ValueError("a population's members need one agent class and one configuration")
        pop = cls.__new__(cls)
        pop._init_from_members(list(members), log_dir)
        return pop

    def _init_from_members(self, members: list[Any], log_dir: str | os.PathLike | None) -> None:
        _check_one_shape(members)
        check_counters(members)
        init = self.__dict__  # the population's own state, set before its attributes' rules apply (__setattr__)
        init["members"] = members
        init["agent_cls"] = type(members[0])
        init["algo"] = init["agent_cls"].algo
        init["_log_dir"] = log_dir
        init["_tensorboard_log"] = _shared_tensorboard_root(members)
        self._share_schedules()
        init["engine"] = ENGINES[self.algo](members)
        init["_logger"] = PopulationLogger(members)
        for k, m in enumerate(members):
            _guard_member(m, k, self.engine)

    def _share_schedules(self) -> None:
        """Gives every member member 0's schedule objects: the engine evaluates member 0's, one object, so each
        member's file saves the value it was used at."""
        m0 = self.members[0]
        for m in self.members[1:]:
            for attr in m.schedule_attrs.values():
                if hasattr(m, attr):
                    setattr(m, attr, getattr(m0, attr))

    # --- the members' configuration and the attributes of single agents ----------------------------------------
    def _config_fields(self) -> set[str]:
        return {f.name for f in dataclasses.fields(self.agent_cls.Config)}

    def __getattr__(self, name: str) -> Any:
        """The members' hyperparameter ``name`` (``population.gamma``); for an attribute a single agent has and a
        population has per member, an AttributeError naming where to find it."""
        state = self.__dict__
        if name.startswith("_") or "members" not in state or "agent_cls" not in state:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}", name=name, obj=self)
        if name in self._config_fields():
            return getattr(self.members[0].config, name)
        raise AttributeError(self._per_member_text(name), name=name, obj=self)

    def __setattr__(self, name: str, value: Any) -> None:
        """Hyperparameters go to every member (``_set_hyperparameter``); the attributes a population has per member
        (``ep_info_buffer``...) are refused, naming where they are; the population's own are set as usual."""
        if "agent_cls" in self.__dict__ and not name.startswith("_"):
            if name in self._config_fields():
                self._set_hyperparameter(name, value)
                return
            own = hasattr(type(self), name) or name in self.__dict__
            if not own and _member_has(self.members[0], name):
                raise AttributeError(self._per_member_text(name, setting=True), name=name, obj=self)
        object.__setattr__(self, name, value)

    def _set_hyperparameter(self, name: str, value: Any) -> None:
        """``population.<name> = value``: set on every member as ``agent.<name> = value`` sets it on a single agent
        (checked as the Config checks it), then on what the population built from it (member 0's schedules,
        shared; the stacked optimiser's gradient-norm clip), so each member trains from the next update on as a
        single agent given that value does.

        Raises:
            ValueError: For a field fixed when the members are made, a value the Config refuses, or one a population
                does not support (PPO's ``target_kl``), naming them.
        """
        m0 = self.members[0]
        if name not in m0.SETTABLE:
            raise ValueError(
                f"{self.algo} population.{name} is fixed when the members are made (it shapes their networks, "
                f"buffers, envs or normalisation): pass it to {self.algo}(..., seed=[...], {name}=...) or "
                f"load_population({self.algo}, path, {name}=...)"
            )
        if name == "target_kl" and value is not None:
            check_population_config(dataclasses.replace(m0.config, target_kl=value))
        for m in self.members:  # the agent's own setter, past the guard that refuses it on a member (_guard_member)
            type(m)._set_hyperparameter(m, name, value)
        self._share_schedules()
        self.engine.config_changed()

    def _per_member_text(self, name: str, setting: bool = False) -> str:
        """The AttributeError's text for ``population.<name>``, an attribute a population has per member (or none)."""
        what = f"a {self.algo} population (seeds {self.seeds})"
        hint = _ATTRIBUTE_HINTS.get(name, "")
        if not _member_has(self.members[0], name):
            return f"{what} has no attribute {name!r}" + (f": {hint}" if hint else "")
        verb = "cannot set" if setting else "has no"
        if name in _COPY_ONLY:  # on a member inside the population it would undo what the population keeps per member
            where = (
                f"population.member(k).{name} (a copy of member k, an agent of its own; the members keep their seeds "
                "and envs while they are trained together)"
            )
        else:
            where = (
                f"population.members[k].{name} (member k, trained in the population) or population.member(k).{name} "
                "(a copy of member k, an agent of its own)"
            )
        return f"{what} {verb} {name!r}: its members are {self.algo} agents, each with its own: {where}" + (
            f"; {hint}" if hint else ""
        )

    @property
    def verbose(self) -> int:
        """The members' ``verbose`` (member 0's); setting it sets every member's, from the next ``learn`` on."""
        return self.members[0].verbose

    @verbose.setter
    def verbose(self, value: int) -> None:
        for m in self.members:
            m.verbose = value

    @property
    def stats_window_size(self) -> int:
        """Episodes the members' ``rollout/ep_rew_mean`` averages over (member 0's); setting it sets every member's."""
        return self.members[0].stats_window_size

    @stats_window_size.setter
    def stats_window_size(self, value: int) -> None:
        self.members[0].stats_window_size = value  # checked here, before any other member changes
        for m in self.members[1:]:
            m.stats_window_size = value

    @property
    def log_dir(self) -> str | os.PathLike | None:
        """The members' log directory as given (``member_log_dir`` makes member k's); setting it sets every
        member's, for the next ``learn``."""
        return self._log_dir

    @log_dir.setter
    def log_dir(self, value: str | os.PathLike | None) -> None:
        self.__dict__["_log_dir"] = value
        for m in self.members:
            m.log_dir = member_log_dir(value, m.seed)

    @property
    def tensorboard_log(self) -> str | os.PathLike | None:
        """The root of the members' TensorBoard directories: member k writes its runs ``<ALGO>_<n>`` (SB3's names,
        counted per member) into ``member_log_dir(tensorboard_log, seed)``, ``<tensorboard_log>/s<seed>``, so
        ``tensorboard --logdir <tensorboard_log>`` shows a run per seed named by it and a continued run
        (``reset_num_timesteps=False``) goes on in its member's own directory. None: no TensorBoard, or members
        whose directories do not share a root. Setting it sets every member's, for the next ``learn``."""
        return self._tensorboard_log

    @tensorboard_log.setter
    def tensorboard_log(self, value: str | os.PathLike | None) -> None:
        self.__dict__["_tensorboard_log"] = value
        for m in self.members:
            m.tensorboard_log = member_log_dir(value, m.seed)

    # --- what a population is ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, k: int) -> Any:
        """``population[k]`` is ``population.member(k)``."""
        return self.member(k)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Raises a TypeError: a population has one policy per member, not one (evaluate its members)."""
        raise TypeError(
            f"a {self.algo} population of {len(self)} members (seeds {self.seeds}) has no single policy to predict "
            "with: use population[k] (population.member(k)), e.g. evaluate(population[k], env)"
        )

    @property
    def seeds(self) -> list[int]:
        """The members' seeds, in member order."""
        return [m.seed for m in self.members]

    @property
    def config(self) -> Any:
        return self.members[0].config

    @property
    def env_id(self) -> str:
        return self.members[0].env_id

    @property
    def num_timesteps(self) -> int:
        """Env steps of all members together."""
        return sum(m.num_timesteps for m in self.members)

    @property
    def _total_timesteps(self) -> int:
        return sum(m._total_timesteps for m in self.members)

    @property
    def n_envs(self) -> int:
        """Environments stepped per population step, K · n_envs."""
        return sum(m.n_envs for m in self.members)

    @property
    def observation_space(self) -> gym.Space:
        """The members' observation space (one for all)."""
        return self.members[0].observation_space

    @property
    def action_space(self) -> gym.Space:
        """The members' action space (one for all)."""
        return self.members[0].action_space

    def get_env(self) -> PopulationEnvs | None:
        """The members' envs as one view (``PopulationEnvs``: ``num_envs`` = K · n_envs, member k's vector env at
        ``[k]``), what a callback's ``training_env`` is; None if the members have no envs (loaded without one)."""
        envs = [m.get_env() for m in self.members]
        return None if any(e is None for e in envs) else PopulationEnvs(envs)

    def dump_logs(self) -> None:
        """SB3's ``dump_logs``: each member writes its log row now, at its own env steps (with ``verbose`` >= 1 its
        stdout table after a line ``seed <seed>:``)."""
        for m in self.members:
            dump_member_logs(m)

    @property
    def logger(self) -> PopulationLogger:
        """The members' loggers as one (``PopulationLogger``): a callback's ``logger.record(key, value)`` goes into
        every member's progress.csv."""
        return self._logger

    def __repr__(self) -> str:
        return f"Population({self.algo}, seeds={self.seeds})"

    def member(self, k: int) -> Any:
        """Member k as an ordinary single agent of its own (a copy: training it leaves the population as it is).

        It has member k's parameters, optimiser state, counters and generator state (and replay buffer for DQN),
        as ``agent_cls.load`` of member k's saved file gives it, and envs of its own made as member k's are: one
        per env of member k, each ``gym.make(spec)`` of that env's spec (its id, arguments and
        ``max_episode_steps``), vectorised as the configuration says. An env without a spec (an instance of an
        unregistered class, or wrapped by a wrapper that cannot be remade) cannot be made again: the copy then has
        no env (``get_env()`` is None) and a UserWarning says to give it one with ``set_env``.

        Raises:
            TypeError: For an index that is not an int.
            IndexError: For an index outside [-K, K).
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise TypeError(f"member index must be an int, got {type(k).__name__} {k!r}")
        if not -len(self) <= k < len(self):
            raise IndexError(f"member {k} of a population of {len(self)}")
        self.engine.sync_members()
        with tempfile.TemporaryDirectory() as tmp:
            path = self.members[k].save(Path(tmp) / "member.npz", include_replay_buffer=True)
            custom = self.members[k]._callable_schedules()  # the file holds their last values, not the functions
            return self.agent_cls.load(path, env=_remade_env(self.members[k], k), custom_objects=custom)

    # --- learning ----------------------------------------------------------------------------
    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int | None = CONFIG_LOG_INTERVAL,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Population:
        """Trains every member for ``total_timesteps`` env steps (each, as a single run's ``learn``); returns self.
        ``log_interval`` is SB3's, for this call (None: no rows of the members' own; the default: the Config's);
        ``tb_log_name`` names the members' TensorBoard runs (with ``tensorboard_log``). The arguments come in SB3's
        order.

        Callbacks see the population (``callback.model``, ``callback.agent``); ``on_step`` is called once per
        population step (K · n_envs env steps), and returning False stops every member. Their ``locals`` hold the
        step's ``new_obs``, ``actions``, ``rewards``, ``dones`` and ``infos`` as lists of one entry per member; their
        ``training_env`` is ``get_env()`` and their ``logger`` the members' loggers (``PopulationLogger``).
        """
        check_total_timesteps(total_timesteps)
        cb = as_callback(callback, f"{self.algo} population.learn")  # a TypeError before anything changes
        with log_interval_for_call(self.algo, [m.config for m in self.members], log_interval):
            self._learn(total_timesteps, cb, progress_bar, reset_num_timesteps, tb_log_name)
        return self

    def _learn(
        self,
        total_timesteps: int,
        cb: BaseCallback,
        progress_bar: bool,
        reset_num_timesteps: bool,
        tb_log_name: str | None = None,
    ) -> None:
        """``learn`` after its arguments were checked."""
        parts = part_count(self.learning_threads(), len(self), self.engine.macs_per_member())
        if len(self.engine.parts) != parts:
            self.engine.set_parts(parts)
        with threadpool_limits(limits=1, user_api="blas"):
            if progress_bar:
                cb = CallbackList([cb, ProgressBarCallback()])
            cb.init_callback(self)
            for m in self.members:
                m._setup_learn(total_timesteps, None, reset_num_timesteps, False, tb_log_name)
            training = training_locals(self, self._total_timesteps, cb, reset_num_timesteps, progress_bar)
            start_training(cb, training, globals())
            try:
                self.engine.learn(cb)
            finally:
                self.engine.parts.close()
                cb.on_training_end()
                for m in self.members:
                    m._finish_learn(CallbackList([]))

    # --- files -------------------------------------------------------------------------------
    def save(
        self,
        path: str | os.PathLike,
        exclude: Any = None,
        include: Any = None,
        include_replay_buffer: bool = False,
    ) -> Path:
        """A directory ``path`` (a ``.npz`` suffix dropped) of member files ``s<seed>.npz``, each an ordinary model
        file (``agent_cls.load`` reads it as a single agent), and ``population.json`` listing them in order.
        Returns the directory. ``exclude`` / ``include`` are SB3's, taken as the single agents' ``save`` takes
        them (``agents.common.sb3_args.check_save_arguments``).

        Raises:
            TypeError: For a ``path`` that is no path (a file object: a population is a folder of files).
        """
        _check_folder_path(path, f"{self.algo} population.save", self.algo)
        check_save_arguments(f"{self.algo} population", exclude, include)
        folder = Path(path)
        if folder.suffix == ".npz":
            folder = folder.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        self.engine.sync_members()
        files = []
        for m in self.members:
            files.append(m.save(folder / f"s{m.seed}.npz", include_replay_buffer=include_replay_buffer).name)
        meta = {"format": "nngym.population", "algorithm": self.algo, "seeds": self.seeds, "files": files}
        (folder / "population.json").write_text(json.dumps(meta, indent=2))
        return folder

    def sync(self) -> None:
        """Writes the stacked optimiser's state into every member's own optimiser (``save`` and ``member`` do)."""
        self.engine.sync_members()


def load_population(
    agent_cls: type,
    path: str | os.PathLike,
    env: str | None = None,
    log_dir: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Population:
    """A population saved by ``Population.save``, to continue training (``learn(..., reset_num_timesteps=False)``).

    Schedules that were callables are read back as ``agent_cls.load`` reads them (their last values, as constants)
    unless ``custom_objects`` gives their functions back; one UserWarning for the whole population names them, where
    each member's ``load`` would warn once per member.

    Args:
        agent_cls: The algorithm's class (``PPO``...); the file's must match.
        path: The directory ``save`` wrote.
        env: An env id for the members (``None``: no env, prediction only).
        log_dir: The members' log directory (``member_log_dir``); logs are appended when training continues.
        **kwargs: ``verbose``, ``tensorboard_log``, ``custom_objects`` (the functions of callable schedules, as
            ``agent_cls.load`` takes them), hyperparameters (as ``agent_cls.load`` takes them). ``tensorboard_log``
            is the root of the members' TensorBoard directories (``Population.tensorboard_log``); without it each
            member writes where its file says it wrote before, ``<tensorboard_log>/s<seed>``, so
            ``learn(..., reset_num_timesteps=False)`` continues each member's latest run in its own directory
            (members whose files name one shared directory, as files saved before populations had a directory per
            member, get one each under it).

    Raises:
        ModelFileError: If ``population.json`` is missing, not valid JSON, of another format or algorithm, without
            its ``files`` and ``seeds`` lists (of one length, distinct seeds), or if a member file's seed is not the
            one ``population.json`` lists for it; the message names the file.
        TypeError: For a ``path`` that is no path (a file object: a population is a folder of files).
    """
    _check_folder_path(path, "load_population", getattr(agent_cls, "algo", "<Algo>"))
    folder = Path(path)
    if folder.suffix == ".npz":
        folder = folder.with_suffix("")
    index = folder / "population.json"
    if not index.exists():
        raise ModelFileError(f"{folder}: no population.json (not a saved population)")
    files, seeds = _read_index(index, agent_cls.algo)
    metas = [_member_meta(folder / name) for name in files]
    for name, seed, meta in zip(files, seeds, metas, strict=True):
        _check_member_seed(index, folder / name, seed, meta)  # before any member's logs are opened under a listed seed
    custom = kwargs.pop("custom_objects", None)
    given_tensorboard = "tensorboard_log" in kwargs  # None given: no TensorBoard, as load(..., tensorboard_log=None)
    tensorboard_root = kwargs.pop("tensorboard_log", None)
    if tensorboard_root is not None:  # member k's runs under <tensorboard_log>/s<seed>, as the population made them
        tensorboard_dirs = [member_log_dir(tensorboard_root, seed) for seed in seeds]
    elif given_tensorboard:
        tensorboard_dirs = [None for _ in seeds]
    else:  # each member's own, kept in its file (the directory its runs are in)
        tensorboard_dirs = [meta.get("tensorboard_log") if meta is not None else None for meta in metas]
    if custom is None or isinstance(custom, dict):
        # each member's saved schedules given to its load as load would make them: one warning below, none per member
        given = ({f.name for f in dataclasses.fields(agent_cls.Config)} & set(kwargs)) | set(custom or {})
        saved = [_saved_schedules(agent_cls, meta, given) for meta in metas]
        custom_objects = [{**lost, **(custom or {})} for lost in saved]
    else:  # not a dict: load says what it takes
        saved, custom_objects = [{} for _ in files], [custom for _ in files]
    members = [
        agent_cls.load(
            folder / name,
            env=env,
            log_dir=member_log_dir(log_dir, seed),
            tensorboard_log=tensorboard,
            custom_objects=objects,
            **kwargs,
        )
        for name, seed, objects, tensorboard in zip(files, seeds, custom_objects, tensorboard_dirs, strict=True)
    ]
    population = Population.from_members(members, log_dir)  # one configuration: the same saved schedules in all
    if tensorboard_root is not None:
        population.__dict__["_tensorboard_log"] = tensorboard_root
    if saved[0]:
        warnings.warn(_saved_schedules_message(agent_cls.__name__, folder, seeds, saved[0]), UserWarning, stacklevel=2)
    return population


def _check_folder_path(path: Any, where: str, algo: str) -> None:
    """Checks that ``path`` names a population's folder: a str or ``os.PathLike``.

    Args:
        path: What was given.
        where: The caller, for the message.
        algo: The population's algorithm (``PPO``), for the message.

    Raises:
        TypeError: Naming ``where``, what came, and how to save or load one member to or from a file object.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"{where}: a population is a folder (a model file per member and population.json), so it needs a "
            f"path (str or os.PathLike), got {type(path).__name__}; a file object holds one agent: "
            f"population.members[k].save(file) writes member k, {algo}.load(file) reads it"
        )


def _member_meta(path: Path) -> dict[str, Any] | None:
    """The metadata of a member file, None if it cannot be read (``load`` then says what is wrong with it)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data[META_KEY]))
    except (OSError, ValueError, KeyError, EOFError, AttributeError, zipfile.BadZipFile):
        return None
    return meta if isinstance(meta, dict) else None


def _check_member_seed(index: Path, path: Path, seed: int, meta: dict[str, Any] | None) -> None:
    """Checks the seed in a member file's metadata ``meta`` against the one ``population.json`` lists for it (a file
    that cannot be read, ``meta`` None, is left to ``load``, which says what is wrong with it).

    Raises:
        ModelFileError: Naming both files and both seeds.
    """
    if meta is None:
        return
    found = meta.get("seed")
    if found != seed:
        raise ModelFileError(
            f"{index}: lists seed {seed} for {path.name}, but {path} holds the member with seed {found}"
        )


def _saved_schedules(agent_cls: type, meta: dict[str, Any] | None, given: set[str]) -> dict[str, SavedSchedule]:
    """The callable schedules a member file holds as markers (``schedule_marker``) and ``load`` would read back as
    their last values (``SavedSchedule``), by field name: those not ``given`` (in ``custom_objects`` or as keywords)."""
    config = meta.get("config") if meta is not None else None
    if not isinstance(config, dict):
        return {}
    fields = {f.name for f in dataclasses.fields(agent_cls.Config)}
    return {
        name: SavedSchedule.from_marker(value)
        for name, value in config.items()
        if name in fields and name not in given and is_schedule_marker(value)
    }


def _saved_schedules_message(algo: str, folder: Path, seeds: list[int], lost: dict[str, SavedSchedule]) -> str:
    """The warning of ``load_population`` for the callable schedules ``lost`` that every member file held as their
    last values: ``load``'s warning, said once for the population."""
    what, restore = lost_schedules_text(lost)
    return (
        f"{folder}: a model file cannot hold a function: in the files of all {len(seeds)} members (seeds {seeds}), "
        f"{what}. To restore {'them' if len(lost) > 1 else 'it'}: "
        f"load_population({algo}, path, custom_objects={{{restore}}})"
    )


def _read_index(index: Path, algo: str) -> tuple[list[str], list[int]]:
    """The member files and seeds ``population.json`` lists, checked.

    Raises:
        ModelFileError: Naming ``index`` and what is wrong in it.
    """
    try:
        meta = json.loads(index.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{index}: not valid JSON ({e}); Population.save writes this file") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{index}: expected a JSON object (format, algorithm, seeds, files), got {meta!r}")
    if meta.get("format") != "nngym.population" or meta.get("algorithm") != algo:
        raise ModelFileError(
            f"{index}: holds {meta.get('format')!r} of {meta.get('algorithm')!r}, expected a {algo} population"
        )
    files, seeds = meta.get("files"), meta.get("seeds")
    if not (isinstance(files, list) and files and all(isinstance(f, str) and f for f in files)):
        raise ModelFileError(f"{index}: 'files' must be a non-empty list of member file names, got {files!r}")
    if not isinstance(seeds, list):
        raise ModelFileError(f"{index}: 'seeds' must be a list of the members' seeds, got {seeds!r}")
    if len(files) != len(seeds):
        raise ModelFileError(
            f"{index}: lists {len(files)} member files and {len(seeds)} seeds, expected one seed per file"
        )
    try:
        seeds = check_seeds(seeds)
    except ValueError as e:
        raise ModelFileError(f"{index}: 'seeds': {e}") from None
    return files, seeds


def _check_supported(agent_cls: type, net: Any) -> None:
    algo = getattr(agent_cls, "algo", "")
    if algo not in ENGINES:
        raise ValueError(f"a population (a list of seeds) supports {sorted(ENGINES)}, got {algo or agent_cls!r}")
    if not (isinstance(net, str) and net == "mlp"):
        raise ValueError(
            f"a {algo} population supports MLP policies (net='mlp'); got net={net!r} (CNN, DBN, recurrent and "
            "custom networks train one seed per agent)"
        )


def _check_one_shape(members: Sequence[Any]) -> None:
    """Checks that the members' envs have one observation space and one action space (up to a Box's bounds): their
    networks are stacked, and one action distribution serves them all; and that each member has as many envs
    (``n_envs``): their rollouts are stacked (K, n_envs, ...).

    Raises:
        ValueError: Naming the first member whose spaces differ from member 0's, both members' envs and spaces; or
            each member's seed and number of envs.
    """
    m0 = members[0]
    if any(m.n_envs != m0.n_envs for m in members):
        sizes = ", ".join(f"seed {m.seed}: {m.n_envs}" for m in members)
        raise ValueError(
            f"a population's members need the same number of envs (their rollouts are stacked, a row of n_envs envs "
            f"per member), got num_envs {sizes}; give every member a vector env of one size (or an env id and "
            "n_envs)"
        )
    first = (_space_layout(m0.observation_space), _space_layout(m0.action_space))
    for k, m in enumerate(members[1:], start=1):
        if (_space_layout(m.observation_space), _space_layout(m.action_space)) != first:
            raise ValueError(
                f"a population's members need envs with one observation space and one action space (their "
                f"networks are stacked), but the envs differ: member 0 (seed {m0.seed}, {_env_name(m0)}) has "
                f"observation space {m0.observation_space} and action space {m0.action_space}, member {k} (seed "
                f"{m.seed}, {_env_name(m)}) has observation space {m.observation_space} and action space "
                f"{m.action_space}; train the seeds of each env as a population of its own"
            )


def _remade_env(agent: Any, k: int) -> gym.vector.VectorEnv | None:
    """New envs made as member ``k``'s (``agent``'s) are: each of its envs again from its spec (``gym.make(spec)``:
    the id, arguments, ``max_episode_steps`` and recorded wrappers), vectorised as its configuration says
    (``vectorization``), in a vector env of the agent's kind (``make_vec_env``).

    Returns:
        The vector env, or None if the agent has none, or (with a UserWarning naming ``set_env``) if one of its
        envs has no spec or cannot be made from it.
    """
    env = agent.get_env()
    if env is None:
        return None
    specs = list(env.get_attr("spec"))
    fns = [lambda spec=spec: gym.make(spec) for spec in specs]
    vectorization = getattr(agent.config, "vectorization", "sync")
    missing = [i for i, spec in enumerate(specs) if spec is None]
    if missing:
        reason = f"its env {missing[0]} has no spec (an instance of an unregistered env class)"
    else:
        try:
            if vectorization == "sync":
                return SyncVectorEnv(fns)
            vector_cls = gym.vector.SyncVectorEnv if vectorization == "gym-sync" else gym.vector.AsyncVectorEnv
            return make_vec_env(vector_cls(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP))
        except Exception as e:  # noqa: BLE001 - any env that cannot be made again leaves the copy without envs
            reason = f"its envs cannot be made again from their specs ({type(e).__name__}: {e})"
    warnings.warn(
        f"population.member({k}) (seed {agent.seed}) has no env: {reason}; give the copy an env with "
        "set_env(env) before it learns",
        UserWarning,
        stacklevel=3,
    )
    return None


def _env_name(agent: Any) -> str:
    return f"env {agent.env_id}" if agent.env_id else "its env"


def _space_layout(space: gym.Space) -> Any:
    """What stacking depends on in a space: its kind, shape, dtype and sizes (``n``, ``nvec``, ``start``), part by
    part for Dict and Tuple spaces; not a Box's bounds."""
    if isinstance(space, gym.spaces.Dict):
        return ("Dict", [(key, _space_layout(sub)) for key, sub in space.spaces.items()])
    if isinstance(space, gym.spaces.Tuple):
        return ("Tuple", [_space_layout(sub) for sub in space.spaces])
    sizes = [(a, np.asarray(getattr(space, a)).tolist()) for a in ("n", "nvec", "start") if hasattr(space, a)]
    return (type(space).__name__, tuple(space.shape or ()), str(space.dtype), sizes)


def _shared_tensorboard_root(members: Sequence[Any]) -> str | os.PathLike | None:
    """The root of the members' TensorBoard directories, giving members that share one directory one each under it.

    Members whose directories are ``<root>/s<seed>`` (``member_log_dir``) have that root; members that share one
    directory (agents made with one ``tensorboard_log``, files of a population saved before it had a directory per
    member) would write into one another's runs (each ``learn`` picks the latest ``<ALGO>_<n>``), so each is given
    ``<directory>/s<seed>``, and the directory is the root. Otherwise None: the members keep their own.
    """
    dirs = [m.tensorboard_log for m in members]
    if any(d is None for d in dirs):
        return None
    parents = {Path(d).parent for d in dirs}
    if len(parents) == 1 and all(Path(d).name == f"s{m.seed}" for d, m in zip(dirs, members, strict=True)):
        return parents.pop()
    if len({Path(d) for d in dirs}) == 1:
        for m in members:
            m.tensorboard_log = member_log_dir(dirs[0], m.seed)
        return dirs[0]
    return None


#: What ``population.<name>`` says besides the members, for attributes that have a counterpart on the population.
_ATTRIBUTE_HINTS: dict[str, str] = {
    "seed": "population.seeds lists the members' seeds",
    "env": "population.get_env() gives the members' envs as one (PopulationEnvs, member k's at [k])",
    "evaluate": "agents.evaluate(population[k], env) evaluates member k (population[k] is population.member(k))",
    "set_random_seed": (
        "a member's seed is what it is in the population (its files s<seed>.npz, its log directory); for other "
        "seeds make a population of them"
    ),
    "set_env": "the members' envs are given when the population is made (an env id, or a list of one env per member)",
}

#: Single-agent methods that, called on a member inside a population, would take it out of step with the population
#: (its generator, its envs): the message names the member's copy, ``population.member(k)``, only.
_COPY_ONLY = frozenset({"set_env", "set_random_seed"})


def _member_has(agent: Any, name: str) -> bool:
    """Whether a single agent has the attribute ``name`` (without calling a property)."""
    return hasattr(type(agent), name) or name in vars(agent)


def _guard_member(member: Any, k: int, engine: Any) -> None:
    """Keeps member ``k`` in step with its population when a user reaches it as ``population.members[k]``.

    The members share one configuration that the population's loops read from member 0, each member's generator
    is drawn from by the population, and their optimiser state lives in the population's stacked optimiser. So on
    a member: setting a hyperparameter (``population.members[k].gamma = ...``), reseeding, ``set_env`` and ``learn``
    raise;
    ``save`` and ``get_parameters`` first take the member's optimiser state from the stacked optimiser;
    ``set_parameters`` writes the networks in place (the population's views) and the optimiser state into the
    member's row of the stacked optimiser. The agent's own methods stay on its class (``Population`` calls them);
    ``population.member(k)`` is a copy without this guard.

    Args:
        member: The agent, member ``k`` of the population.
        k: Its index.
        engine: The population's engine (``sync_member``, ``optimizer``: the stacked optimiser).
    """
    algo, seed, cls = member.algo, member.seed, type(member)
    where = f"this agent is member {k} (seed {seed}) of a {algo} population"

    def set_hyperparameter(name: str, value: Any) -> None:
        if name not in member.SETTABLE:  # the agent's own message: fixed when it is made
            cls._set_hyperparameter(member, name, value)
        raise ValueError(
            f"{algo}.{name}: {where}, whose members share one configuration: set it on the population "
            f"(population.{name} = {value!r} sets it for every member); population.member({k}) gives a copy of "
            f"member {k}, an agent of its own, free to change"
        )

    def set_random_seed(seed_: int | None = None) -> None:
        raise ValueError(
            f"{algo}.set_random_seed: {where}, which draws from its generator and names its files by its seed; "
            f"population.member({k}) gives a copy of member {k}, an agent of its own, to reseed"
        )

    def learn(*args: Any, **kwargs: Any) -> Any:
        raise ValueError(
            f"{algo}.learn: {where}, which trains its members together (stacked parameters, one optimiser, the "
            f"members' env steps in step): population.learn(...) trains every member; population.member({k}) gives "
            f"a copy of member {k}, an agent of its own, to train alone"
        )

    def set_env(*args: Any, **kwargs: Any) -> None:
        raise ValueError(
            f"{algo}.set_env: {where}, which steps the envs it was given: a population is made with its members' "
            f"envs (an env id, or a list of one env per member); population.member({k}) gives a copy of member {k}, "
            "an agent of its own, to give another env"
        )

    def save(*args: Any, **kwargs: Any) -> Any:
        engine.sync_member(k)
        return cls.save(member, *args, **kwargs)

    def get_parameters() -> dict[str, dict[str, np.ndarray]]:
        engine.sync_member(k)
        return cls.get_parameters(member)

    def set_parameters(load_path_or_dict: Any, exact_match: bool = True, device: str = "auto") -> None:
        engine.sync_member(k)  # the groups not given keep the member's current state
        params = load_path_or_dict
        if isinstance(params, str | os.PathLike) or hasattr(params, "read"):
            params = member._file_parameters(params)
        opt = params.get("opt") if isinstance(params, dict) else None
        if isinstance(opt, dict) and "t" in opt:
            try:
                t = int(np.asarray(opt["t"]))
            except (TypeError, ValueError):
                t = None  # the agent's own check names it
            if t is not None and t != engine.optimizer.t:
                raise ValueError(
                    f"{algo}.set_parameters: {where}, whose members take their optimiser steps together: the "
                    f"optimiser state given has taken {t} steps, the population's {engine.optimizer.t}; give the "
                    f"networks alone (exact_match=False without 'opt') or load it into population.member({k})"
                )
        cls.set_parameters(member, params, exact_match, device)
        engine.optimizer.load_member_state_dict(k, member.optimizer.state_dict())

    member._set_hyperparameter = set_hyperparameter
    member.set_random_seed = set_random_seed
    member.learn = learn
    member.set_env = set_env
    member.save = save
    member.get_parameters = get_parameters
    member.set_parameters = set_parameters
