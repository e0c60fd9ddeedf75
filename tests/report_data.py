"""Small fixed data sets for report tests: a tiny instrument, units, rounds and completed responses,
inserted as rows (the commands that open rounds belong to another feature)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.directory import catalogue
from bot.results import publication_store
from storage.models import (
    Answer,
    AnswerKind,
    BackgroundAnswer,
    Membership,
    Person,
    Response,
    ResponseStatus,
    Role,
    Round,
    RoundParticipant,
    RoundStatus,
    RoundUnit,
    Unit,
)

MINI_YAML = """
id: mini
version: 1
languages: [sv, en]
title: {sv: "Minienkät", en: "Mini survey"}
scale:
  points: 5
  labels:
    1: {sv: "Stämmer inte alls", en: "Not at all true"}
    5: {sv: "Stämmer helt", en: "Completely true"}
  allow_skip: true
role_question: role
background:
  - id: role
    text: {sv: "Roll?", en: "Role?"}
    options:
      - {id: principal, text: {sv: "Rektor", en: "Principal"}}
      - {id: teacher, text: {sv: "Lärare", en: "Teacher"}}
  - id: years
    text: {sv: "Hur länge?", en: "How long?"}
    options:
      - {id: new, text: {sv: "Ny", en: "New"}}
      - {id: old, text: {sv: "Länge", en: "Long"}}
areas:
  - id: a
    title: {sv: "Samarbete", en: "Collaboration"}
    items:
      - {code: "A1", text: {sv: "Vi delar material.", en: "We share material."}}
      - {code: "A2", text: {sv: "Vi planerar ihop.", en: "We plan together."}}
  - id: b
    title: {sv: "Teknik", en: "Technology"}
    items:
      - {code: "B1", text: {sv: "Tekniken fungerar.", en: "The technology works."}}
      - {code: "B2", text: {sv: "Det finns stöd.", en: "There is support."}}
levels:
  - {id: low, below: 3, title: {sv: "Låg", en: "Low"}}
  - {id: high, title: {sv: "Hög", en: "High"}}
actions:
  - {area: a, level: low, text: {sv: "Planera en gemensam lektion.", en: "Plan one lesson together."}}
  - {area: b, level: low, text: {sv: "Be om hjälp med tekniken.", en: "Ask for help with the technology."}}
"""

# (role, years, A1, A2, B1, B2); None = skipped. The golden data set of tests/test_reports.py.
GOLDEN: tuple[tuple[str | None, str | None, int | None, int | None, int | None, int | None], ...] = (
    ("teacher", "new", 1, 2, 4, 5),
    ("teacher", "new", 2, 2, 3, None),
    ("teacher", "old", 3, 4, 5, 5),
    ("principal", "old", 4, 4, 2, 3),
    ("principal", "old", 5, 3, 1, 2),
    ("principal", "new", 2, 1, 4, 4),
)
PREVIOUS: tuple[tuple[str | None, str | None, int | None, int | None, int | None, int | None], ...] = (
    ("teacher", "new", 2, 2, 3, 3),
    ("teacher", "old", 3, 3, 2, 2),
    ("principal", "old", 1, 1, 4, 4),
)
Row = tuple[str | None, str | None, int | None, int | None, int | None, int | None]


@dataclass(frozen=True)
class Seeded:
    unit_id: int
    round_id: int
    version_id: int


def install_mini(session: Session, now: datetime) -> int:
    return catalogue.install(session, MINI_YAML, "mini.yaml", now, activate=False).version_id


def make_unit(session: Session, name: str, now: datetime, parent_id: int | None = None) -> int:
    unit = Unit(name=name, parent_id=parent_id, created_at=now)
    session.add(unit)
    session.flush()
    return unit.id


def make_person(
    session: Session, name: str, now: datetime, unit_id: int | None = None, role: Role = Role.STAFF
) -> int:
    person = Person(display_name=name, created_at=now, locale="en")
    session.add(person)
    session.flush()
    if unit_id is not None:
        session.add(Membership(person_id=person.id, unit_id=unit_id, role=role, joined_at=now))
    return person.id


def make_round(
    session: Session,
    version_id: int,
    unit_id: int,
    now: datetime,
    *,
    name: str = "Autumn 2026",
    threshold: int = 5,
    anonymous: bool = False,
    opens_days_ago: int = 10,
    status: RoundStatus = RoundStatus.OPEN,
) -> int:
    round_ = Round(
        name=name,
        instrument_version_id=version_id,
        opens_at=now - timedelta(days=opens_days_ago),
        closes_at=now + timedelta(days=20),
        threshold=threshold,
        anonymous=anonymous,
        status=status,
        created_at=now,
    )
    session.add(round_)
    session.flush()
    session.add(RoundUnit(round_id=round_.id, unit_id=unit_id))
    return round_.id


def add_responses(
    session: Session,
    round_id: int,
    unit_id: int,
    version_id: int,
    rows: Sequence[Row],
    start: datetime,
    *,
    invited_extra: int = 0,
) -> list[int]:
    """One invited person and one completed response per row, completed a minute apart in order."""
    ids = []
    codes = ("A1", "A2", "B1", "B2")
    for i, (role, years, *values) in enumerate(rows):
        at = start + timedelta(minutes=i)
        person_id = make_person(session, f"Person {round_id}-{i}", start, unit_id)
        session.add(
            RoundParticipant(
                round_id=round_id, person_id=person_id, unit_id=unit_id, invited_at=start, completed_at=at
            )
        )
        response = Response(
            person_id=person_id,
            instrument_version_id=version_id,
            round_id=round_id,
            unit_id=unit_id,
            role=role,
            status=ResponseStatus.COMPLETED,
            cursor=6,
            started_at=at,
            completed_at=at,
        )
        session.add(response)
        session.flush()
        ids.append(response.id)
        if role is not None:
            session.add(
                BackgroundAnswer(response_id=response.id, question_id="role", option_id=role, answered_at=at)
            )
        if years is not None:
            session.add(
                BackgroundAnswer(
                    response_id=response.id, question_id="years", option_id=years, answered_at=at
                )
            )
        for code, value in zip(codes, values, strict=True):
            session.add(
                Answer(
                    response_id=response.id,
                    item_code=code,
                    kind=AnswerKind.VALUE if value is not None else AnswerKind.SKIP,
                    value=value,
                    answered_at=at,
                )
            )
    for j in range(invited_extra):
        person_id = make_person(session, f"Invited {round_id}-{j}", start, unit_id)
        session.add(
            RoundParticipant(round_id=round_id, person_id=person_id, unit_id=unit_id, invited_at=start)
        )
    session.flush()
    # As the bot does when each one completes: whole steps of the unit's published set are sealed.
    publication_store.seal(session, round_id, unit_id)
    return ids
