"""The privacy scenarios' cast: a unit in a round, people who answer it in the chat, and readers
(an admin exporting, a principal asking for the unit's result) who write down what they see.

Everything goes through the bot as a person would use it; only the organisation itself (unit,
round, invitations) is written as rows, since opening rounds is another feature's concern.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select

from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Identity, Membership, Person, Role, RoundParticipant
from tests.harness import Conversation, texts
from tests.report_data import install_mini, make_round, make_unit

LABELS = {"teacher": "Teacher", "principal": "Principal", "new": "New", "old": "Long", None: "Skip"}
# One person's answers to the mini instrument: role, years, then A1, A2, B1, B2 (None = skip).
Answers = tuple[str, str, int | None, int | None, int | None, int | None]


@dataclass(frozen=True)
class View:
    """What a reader wrote down from one look at a unit's result: per statement and per area, the
    number of respondents and the distribution (statements) or the mean (areas)."""

    statements: dict[str, tuple[int, tuple[int, ...]]]
    areas: dict[str, tuple[int, float]]

    @property
    def shown(self) -> bool:
        return bool(self.statements or self.areas)


def _person_id(runtime: Runtime, who: Conversation) -> int:
    with runtime.sessions() as session:
        found = session.scalar(select(Identity.person_id).where(Identity.platform_user_id == who.user_id))
    assert found is not None
    return found


@dataclass
class Scene:
    runtime: Runtime
    unit_id: int
    round_id: int
    unit_name: str = "Ystad school"
    people: dict[str, Conversation] = field(default_factory=dict)

    @classmethod
    def open(cls, runtime: Runtime, *, threshold: int = 3, anonymous: bool = False) -> Scene:
        now = runtime.clock.now()
        with transaction(runtime.sessions) as session:
            version = install_mini(session, now)
            unit = make_unit(session, "Ystad school", now)
            round_id = make_round(session, version, unit, now, threshold=threshold, anonymous=anonymous)
        return cls(runtime, unit, round_id)

    def invite(self, name: str) -> Conversation:
        who = Conversation(self.runtime.engine, name.lower(), display_name=name)
        who.say("help")
        pid = _person_id(self.runtime, who)
        now = self.runtime.clock.now()
        with transaction(self.runtime.sessions) as session:
            session.add(Membership(person_id=pid, unit_id=self.unit_id, role=Role.STAFF, joined_at=now))
            session.add(
                RoundParticipant(round_id=self.round_id, person_id=pid, unit_id=self.unit_id, invited_at=now)
            )
        self.people[name] = who
        return who

    def start(self, name: str, answers: Answers) -> Conversation:
        """The person opens the round and answers the background questions."""
        who = self.people.get(name) or self.invite(name)
        who.press(f"o:{self.round_id}")
        who.click(LABELS[answers[0]])
        who.click(LABELS[answers[1]])
        return who

    def finish(self, name: str, answers: Answers) -> None:
        who = self.people[name]
        done = []
        for value in answers[2:]:
            done = who.click(LABELS[None] if value is None else str(value))
        assert "Your result" in texts(done), texts(done)

    def answer(self, name: str, answers: Answers) -> None:
        self.start(name, answers)
        self.finish(name, answers)

    def forget(self, name: str) -> None:
        who = self.people.pop(name)
        who.say("forget-me")
        assert "Everything about you has been deleted" in texts(who.say("DELETE"))

    def admin(self) -> Conversation:
        admin = Conversation(self.runtime.engine, "ada", display_name="Ada Admin")
        admin.say("help")
        pid = _person_id(self.runtime, admin)
        with transaction(self.runtime.sessions) as session:
            person = session.get(Person, pid)
            assert person is not None
            person.is_admin = True
        return admin

    def principal(self) -> Conversation:
        pia = Conversation(self.runtime.engine, "pia", display_name="Pia Principal")
        pia.say("help")
        pid = _person_id(self.runtime, pia)
        now = self.runtime.clock.now()
        with transaction(self.runtime.sessions) as session:
            session.add(Membership(person_id=pid, unit_id=self.unit_id, role=Role.PRINCIPAL, joined_at=now))
        return pia


def exported(admin: Conversation, unit_name: str = "Ystad school") -> View:
    """The admin exports the unit's aggregates as CSV (and declines the raw answers)."""
    replies = admin.say(f'export "{unit_name}" csv')
    admin.say("no")
    file = replies[0].file
    if file is None:
        return View({}, {})
    content = file.content
    rows = list(csv.reader(io.StringIO((content() if callable(content) else content).decode("utf-8-sig"))))
    blank = rows.index([])
    areas = {r[0]: (int(r[1]), float(r[2])) for r in rows[1:blank]}
    statements = {r[0]: (int(r[3]), tuple(int(v) for v in r[6:])) for r in rows[blank + 2 :]}
    return View(statements, areas)


def difference(before: View, after: View) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Per statement shown in both views: how many more respondents, and per answer how many more.
    What a reader learns from two looks: a small non-zero difference is a few people's answers."""
    out = {}
    for code, (n, dist) in after.statements.items():
        if code in before.statements:
            n0, dist0 = before.statements[code]
            out[code] = (n - n0, tuple(a - b for a, b in zip(dist, dist0, strict=True)))
    return out


def isolates_someone(before: View, after: View, threshold: int) -> bool:
    """Whether the two views differ, for some statement, by fewer than `threshold` answers (some
    answers in or out), or by answers swapped at the same count: either way, the difference is a
    few people's answers."""
    for n, dist in difference(before, after).values():
        moved = sum(abs(d) for d in dist)
        if moved and (abs(n) < threshold or n == 0):
            return True
    return False
