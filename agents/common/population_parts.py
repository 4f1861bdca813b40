"""A population's members in parts whose updates run side by side on threads.

Member k's rows of the stacked networks never meet member j's, so the members' updates are independent. With
``Population.num_threads = n`` the K members are cut into up to n contiguous parts (as many as their work pays for,
``part_count``); each part holds views of its rows of the stacked networks and optimiser
(``nngym.stacked.network_rows``, ``StackedOptimizer.rows``) and the parts' updates run side by side
(``MemberParts``). numpy releases the GIL inside its products and elementwise loops, so the parts'
arithmetic runs on as many cores, with BLAS on one thread each. Rollouts stay on the calling thread: stepping
Python environments holds the GIL. Each row is computed by the same calls on the same numbers as in the
undivided population, so a member learns the same either way.

``dump_member_logs`` writes a member's log row from any of the population's loops, its stdout table labelled with
the member's seed (``label_member_table``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

import numpy as np

from nngym.stacked_optim import StackedOptimizer

T = TypeVar("T")


@dataclass
class Part:
    """Members ``rows`` of a population, with views of their rows of the stacked networks and optimiser.

    Attributes:
        members: The part's agents, in member order.
        rows: Their rows of every stacked (K, ...) array.
        optimizer: The stacked optimiser of these rows (slots are views of the population's).
        nets: The stacked networks' views by name (e.g. ``{"policy": ...}`` or ``{"q_net": ..., "q_target": ...}``).
    """

    members: list[Any]
    rows: slice
    optimizer: StackedOptimizer
    nets: dict[str, Any] = field(default_factory=dict)


#: Least work a part needs for a thread of its own: multiply-adds of its members' products per gradient step
#: (forward and backward, and DQN's passes on s'). Smaller parts lose more to handing the GIL back and forth between
#: their many short numpy calls than they gain from a second core. Measured on a 2-core AMD EPYC, populations on two
#: threads against one: DQN 4-256-256-2 at 64 rows (21M a member) in parts of 2 members 1.5x faster, of 1 member no
#: faster; PPO's 64-unit actor and critic at 256 rows (7M a member) in parts of 8 members 1.26x faster, of 4 1.1x,
#: of 2 1.3x slower; A2C's 40-row rollouts (1.1M a member) slower in parts of 8.
MIN_PART_MACS = 25_000_000


def label_member_table(member: Any, out: TextIO | None = None) -> None:
    """Prints ``seed <seed>:`` if ``member``'s logger prints a stdout table at its next dump (``verbose`` >= 1): the
    label of a table that would otherwise look like every other member's.

    Args:
        member: The agent, a member of a population.
        out: Where the label goes (None: ``sys.stdout``, where the logger prints its table).
    """
    if getattr(member.logger, "verbose", 0) >= 1:
        print(f"seed {member.seed}:", file=out or sys.stdout)


def dump_member_logs(member: Any, iteration: int | None = None) -> None:
    """Writes member ``member``'s log row now, as its single run's ``_dump_logs(iteration)`` does, its stdout table
    labelled with its seed (``label_member_table``).

    Args:
        member: The agent, a member of a population.
        iteration: On-policy agents' rollout count (``time/iterations``); None for DQN (``time/episodes``).
    """
    label_member_table(member)
    member._dump_logs(iteration)


def part_count(threads: int, n_members: int, macs_per_member: int) -> int:
    """How many parts a population of ``n_members`` learns in with up to ``threads`` threads: no more than the
    work pays for (``MIN_PART_MACS`` a part), at least one."""
    return max(1, min(threads, n_members, n_members * macs_per_member // MIN_PART_MACS))


def member_rows(n_members: int, n_parts: int) -> list[slice]:
    """``n_parts`` contiguous, nearly equal row ranges covering ``n_members`` (fewer if there are fewer members).

    Raises:
        ValueError: If ``n_parts`` < 1.
    """
    if n_parts < 1:
        raise ValueError(f"a population needs at least one part, got {n_parts}")
    bounds = np.linspace(0, n_members, min(n_parts, n_members) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class MemberParts:
    """A population's members cut into ``n`` parts, and the threads their updates run on.

    Args:
        members: The population's agents, in member order.
        optimizer: The population's stacked optimiser.
        nets: The stacked networks by name (``{"policy": ...}``, ``{"q_net": ..., "q_target": ...}``), each with
            ``rows(start, stop)``; the first is the one the optimiser steps.
        n: Parts (1: the whole population, on the calling thread).
    """

    def __init__(self, members: list[Any], optimizer: StackedOptimizer, nets: dict[str, Any], n: int) -> None:
        self.optimizer = optimizer
        rows = member_rows(len(members), n)
        if len(rows) == 1:
            self.parts = [Part(members, rows[0], optimizer, nets)]
        else:
            self.parts = []
            for r in rows:
                views = {name: net.rows(r.start, r.stop) for name, net in nets.items()}
                part_optimizer = optimizer.rows(next(iter(views.values())), r.start, r.stop)
                self.parts.append(Part(members[r], r, part_optimizer, views))
        self._pool: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[Part]:
        return iter(self.parts)

    def map(self, fn: Callable[[Part], T]) -> list[T]:
        """``[fn(part) for part in parts]``, the calls side by side on one thread each (an exception in one is
        raised here), the parts' optimisers given the whole one's step count and step size before and its step
        count taken back after (every part steps as often)."""
        if len(self.parts) == 1:
            return [fn(self.parts[0])]
        for part in self.parts:
            part.optimizer.rule.t, part.optimizer.rule.lr = self.optimizer.rule.t, self.optimizer.rule.lr
        if self._pool is None:
            self._pool = ThreadPoolExecutor(len(self.parts), thread_name_prefix="nngym-population")
        out = list(self._pool.map(fn, self.parts))
        self.optimizer.rule.t = self.parts[0].optimizer.rule.t
        return out

    def set_rule(self, name: str, value: Any) -> None:
        """Sets the update rule's hyperparameter ``name`` (``max_grad_norm``) to ``value`` in the whole optimiser and
        in every part's (each part's rule is a copy)."""
        setattr(self.optimizer.rule, name, value)
        for part in self.parts:
            setattr(part.optimizer.rule, name, value)

    def close(self) -> None:
        """Ends the parts' threads (a later ``map`` starts them again)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
