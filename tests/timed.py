"""Shared set-up for the timed-work scenarios: people, units and rounds as rows, a recording Sender,
and a loop that moves the ManualClock while the scan and the dispatcher run as they would in the bot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import ManualClock
from bot.follow_up.scheduler import scan
from bot.messages import Address, Reply
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.models import (
    Identity,
    Instrument,
    Membership,
    Person,
    Role,
    Round,
    RoundParticipant,
    RoundUnit,
    Unit,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True)
class Delivery:
    user_id: str
    replies: tuple[Reply, ...]
    at: datetime

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)


@dataclass
class RecordingSender:
    """A Sender that keeps what it was asked to deliver, stamped with the (manual) time."""

    clock: ManualClock
    platform: str = "console"
    sent: list[Delivery] = field(default_factory=list)

    def send(self, address: Address, replies: Sequence[Reply]) -> None:
        self.sent.append(Delivery(address.user_id, tuple(replies), self.clock.now()))

    def to(self, user_id: str) -> list[Delivery]:
        return [d for d in self.sent if d.user_id == user_id]


def add_person(
    session: Session, user_id: str, name: str, now: datetime, *, tz: str = "Europe/Stockholm"
) -> Person:
    person = Person(display_name=name, locale="en", timezone=tz, created_at=now)
    session.add(person)
    session.flush()
    session.add(Identity(person_id=person.id, platform="console", workspace="", platform_user_id=user_id))
    session.flush()
    return person


def add_unit(session: Session, name: str, now: datetime, parent: Unit | None = None) -> Unit:
    unit = Unit(name=name, parent_id=parent.id if parent else None, created_at=now)
    session.add(unit)
    session.flush()
    return unit


def add_member(session: Session, person: Person, unit: Unit, role: Role, now: datetime) -> None:
    session.add(Membership(person_id=person.id, unit_id=unit.id, role=role, joined_at=now))
    session.flush()


def active_version(session: Session, instrument_id: str) -> int:
    version = session.scalar(select(Instrument.active_version_id).where(Instrument.id == instrument_id))
    assert version is not None
    return version


def open_round(
    session: Session,
    unit: Unit,
    people: Sequence[Person],
    *,
    instrument: str,
    opens: datetime,
    closes: datetime,
    rule: str = "",
    threshold: int = 3,
) -> Round:
    """What `round open` does (another part of the bot): a round, its unit and its invited members."""
    round_ = Round(
        name="",
        instrument_version_id=active_version(session, instrument),
        opens_at=opens,
        closes_at=closes,
        reminder_rule=rule,
        threshold=threshold,
        created_at=opens,
    )
    session.add(round_)
    session.flush()
    session.add(RoundUnit(round_id=round_.id, unit_id=unit.id))
    for person in people:
        session.add(
            RoundParticipant(round_id=round_.id, person_id=person.id, unit_id=unit.id, invited_at=opens)
        )
    session.flush()
    return round_


def stockholm(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM).astimezone(UTC)


def run_until(
    runtime: Runtime,
    clock: ManualClock,
    dispatcher: Dispatcher,
    until: datetime,
    step: timedelta = timedelta(minutes=30),
) -> None:
    """Move time in steps, scanning and dispatching at each, as the running bot would."""
    while clock.now() < until:
        clock.advance(seconds=step.total_seconds())
        scan(runtime.sessions, clock.now())
        dispatcher.drain()
