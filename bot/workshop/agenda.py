"""The workshop's decisions, without I/O: where it is now, when time runs out, how votes count and
how the statements rank.

A workshop's timer is never kept running anywhere: it is stored as the statement reached, the
moment it was reached and the seconds of its time already used, and worked out from the clock when
needed. With `auto_next` the workshop moves on by itself when time is up; `settle` says where that
has taken it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Timing:
    """Statement `position` of `size`, reached at `started_at` (None while paused) with `elapsed`
    seconds of its `minutes` already used."""

    position: int
    size: int
    started_at: datetime | None
    elapsed: float
    minutes: int
    auto_next: bool

    @property
    def length(self) -> float:
        return self.minutes * 60.0

    @property
    def paused(self) -> bool:
        return self.started_at is None


def settle(timing: Timing, now: datetime) -> Timing:
    """The same workshop as of `now`: the time passed counted in, and with `auto_next` the
    statements whose time ran out left behind (it stays on the last one)."""
    if timing.started_at is None:
        return timing
    used = timing.elapsed + max(0.0, (now - timing.started_at).total_seconds())
    position = timing.position
    if timing.auto_next and timing.length > 0:
        moved = min(int(used // timing.length), timing.size - 1 - position)
        position += moved
        used -= moved * timing.length
    return replace(timing, position=position, started_at=now, elapsed=used)


def time_left(timing: Timing, now: datetime) -> float:
    """Seconds left for the current statement (0 when time is up)."""
    return max(0.0, timing.length - settle(timing, now).elapsed)


def ends_at(timing: Timing, now: datetime) -> datetime | None:
    """When the current statement's time runs out (None while paused)."""
    settled = settle(timing, now)
    if settled.started_at is None:
        return None
    return settled.started_at + timedelta(seconds=max(0.0, settled.length - settled.elapsed))


def go_to(timing: Timing, position: int, now: datetime) -> Timing:
    """`next` and `back`: another statement with its full time (still paused if it was)."""
    settled = settle(timing, now)
    target = min(max(position, 0), timing.size - 1)
    return replace(settled, position=target, elapsed=0.0)


def pause(timing: Timing, now: datetime) -> Timing:
    return replace(settle(timing, now), started_at=None)


def resume(timing: Timing, now: datetime) -> Timing:
    return timing if timing.started_at is not None else replace(timing, started_at=now)


@dataclass(frozen=True)
class Alarm:
    """The moment `position`'s time runs out; `moves_on` when the next statement comes with it."""

    due_at: datetime
    position: int
    moves_on: bool


def alarms(timing: Timing) -> list[Alarm]:
    """When time runs out from here on: once for this statement, or with `auto_next` once for each
    statement left (each starting when the one before runs out)."""
    if timing.started_at is None:
        return []
    first = timing.started_at + timedelta(seconds=max(0.0, timing.length - timing.elapsed))
    if not timing.auto_next:
        return [Alarm(first, timing.position, False)]
    step = timedelta(seconds=timing.length)
    return [
        Alarm(first + k * step, p, p + 1 < timing.size)
        for k, p in enumerate(range(timing.position, timing.size))
    ]


class Vote(enum.Enum):
    ADDED = "added"
    TAKEN_BACK = "taken back"
    NOT_A_MEMBER = "not a member"
    NONE_LEFT = "none left"


def vote(*, member: bool, already: bool, used: int, allowed: int) -> Vote:
    """A press of "a priority for us": a second press takes the vote back; only the unit's members
    count, each with `allowed` votes across the workshop."""
    if not member:
        return Vote.NOT_A_MEMBER
    if already:
        return Vote.TAKEN_BACK
    return Vote.ADDED if used < allowed else Vote.NONE_LEFT


def ranking(agenda: Sequence[str], votes: Mapping[str, int]) -> list[tuple[str, int]]:
    """The statements by priority votes, most first; ties in the workshop's own order."""
    order = {code: i for i, code in enumerate(agenda)}
    return sorted(((code, votes.get(code, 0)) for code in agenda), key=lambda cv: (-cv[1], order[cv[0]]))


def chosen(agenda: Sequence[str], votes: Mapping[str, int], pick: int) -> list[tuple[str, int]]:
    """The top `pick` statements that got at least one vote."""
    return [(code, n) for code, n in ranking(agenda, votes)[:pick] if n > 0]
