"""A small round for the reliability tests: a short instrument, a unit, and people invited to it.

Rows are inserted directly (the admin commands that create rounds belong to another part), and the
script is what those people do, interleaved: start the round, answer the background question, then
type a value for each statement.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.directory import catalogue
from storage.models import Identity, Membership, Person, Role, Round, RoundParticipant, RoundUnit, Unit

PLATFORM = "telegram"
SMALL_INSTRUMENT = """\
id: pulse
version: 1
languages: [sv, en]
title: {sv: "Pulsmätning", en: "Pulse check"}
scale:
  points: 5
  labels:
    1: {sv: "Inte alls", en: "Not at all"}
    5: {sv: "Helt", en: "Fully"}
background:
  - id: team
    text: {sv: "Vilket lag?", en: "Which team?"}
    options:
      - {id: north, text: {sv: "Norr", en: "North"}}
      - {id: south, text: {sv: "Söder", en: "South"}}
areas:
  - id: tools
    title: {sv: "Verktyg", en: "Tools"}
    items:
      - {code: "t1", text: {sv: "Jag hittar rätt verktyg.", en: "I find the right tool."}}
      - {code: "t2", text: {sv: "Jag delar filer säkert.", en: "I share files safely."}}
  - id: learning
    title: {sv: "Lärande", en: "Learning"}
    items:
      - {code: "l1", text: {sv: "Jag lär mig nya program.", en: "I learn new programs."}}
levels:
  - {id: starting, below: 3, title: {sv: "Början", en: "Starting"}}
  - {id: going, title: {sv: "På väg", en: "Going"}}
"""
CODES = ("t1", "t2", "l1")


@dataclass(frozen=True)
class Event:
    event_id: str
    user: str
    kind: str  # "press" | "say"
    arg: str
    # The statement this event answers, if any, and the value typed.
    code: str | None = None
    value: int | None = None

    def line(self) -> str:
        return f"{self.event_id} {self.user} {self.kind} {self.arg}\n"


def open_round(session: Session, people: int, now: datetime) -> int:
    """Install the instrument and open a round for `people` invited staff; returns the round id."""
    installed = catalogue.install(session, SMALL_INSTRUMENT, "pulse.yaml", now, activate=True)
    unit = Unit(name="Ekbacken school", created_at=now)
    session.add(unit)
    session.flush()
    round_ = Round(
        name="Autumn pulse",
        instrument_version_id=installed.version_id,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
        threshold=5,
        created_at=now,
    )
    session.add(round_)
    session.flush()
    session.add(RoundUnit(round_id=round_.id, unit_id=unit.id))
    for i in range(people):
        person = Person(display_name=f"Person {i}", locale_hint="en", created_at=now)
        session.add(person)
        session.flush()
        session.add_all(
            [
                Identity(person_id=person.id, platform=PLATFORM, workspace="", platform_user_id=f"p{i:03d}"),
                Membership(person_id=person.id, unit_id=unit.id, role=Role.STAFF, joined_at=now),
                RoundParticipant(round_id=round_.id, person_id=person.id, unit_id=unit.id, invited_at=now),
            ]
        )
    session.flush()
    return round_.id


def script(round_id: int, people: int, seed: int) -> list[Event]:
    """Everyone's events, each person's in order, the people interleaved at random."""
    rng = random.Random(seed)
    own: dict[str, list[Event]] = {}
    for i in range(people):
        user = f"p{i:03d}"
        events = [
            Event(f"{user}-start", user, "press", f"o:{round_id}"),
            Event(f"{user}-bg", user, "say", "1"),
        ]
        for code in CODES:
            value = rng.randint(1, 5)
            events.append(Event(f"{user}-{code}", user, "say", str(value), code, value))
        own[user] = events
    order = [user for user, events in own.items() for _ in events]
    rng.shuffle(order)
    cursors = dict.fromkeys(own, 0)
    merged = []
    for user in order:
        merged.append(own[user][cursors[user]])
        cursors[user] += 1
    return merged
