"""The typed ORM: every table of the data model in DESIGN.md.

Times are UTC datetimes (aware in Python, naive UTC in the database); dates (due dates, holidays) as plain dates.
Columns that other parts of the system look things up by carry an index or a unique
constraint, because the unique constraints are what make "nothing doubled" hold across
processes (processed_event, answer, outbox.idempotency_key).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class Base(DeclarativeBase):
    pass


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native PG enum), so adding a value needs no migration dance.
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class Role(enum.StrEnum):
    STAFF = "staff"
    PRINCIPAL = "principal"
    MANAGER = "manager"


class ResponseStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class AnswerKind(enum.StrEnum):
    VALUE = "value"
    SKIP = "skip"
    NOT_APPLICABLE = "na"


class RoundStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    # Past its retention period: the answers and who took part are deleted; the kept
    # publications (unit_publication) are all that is left of it (bot/follow_up/retention.py).
    ARCHIVED = "archived"


class PlanItemStatus(enum.StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BLOCKED = "blocked"


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database.

    SQLite has no time zones and hands back naive datetimes even for DateTime(timezone=True);
    storing naive UTC and re-attaching UTC on the way out makes both databases behave alike.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


TZDateTime = UTCDateTime()


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # The locale the person chose with `language`; None means "follow the platform's hint".
    locale: Mapped[str | None] = mapped_column(String(10))
    locale_hint: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Stockholm")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    away_until: Mapped[date | None] = mapped_column(Date)
    # The response the person is currently answering, if any (where `assess` resumes).
    current_response_id: Mapped[int | None] = mapped_column(
        ForeignKey("response.id", ondelete="SET NULL", use_alter=True, name="fk_person_current_response")
    )
    # A small prompt that waits for the person's next free text, e.g. a comment or a confirmation:
    # {"kind": "...", ...}. Kept in SQL so it survives restarts and works across processes.
    pending: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TZDateTime)

    identities: Mapped[list[Identity]] = relationship(back_populates="person", cascade="all, delete-orphan")
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


class Identity(Base):
    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("platform", "workspace", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    platform_user_id: Mapped[str] = mapped_column(String(64))
    # Where to reach the person on this platform when the bot speaks first (a chat or DM channel id).
    address: Mapped[str | None] = mapped_column(String(64))

    person: Mapped[Person] = relationship(back_populates="identities")


class Unit(Base):
    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime)

    parent: Mapped[Unit | None] = relationship(remote_side="Unit.id")


class UnitHoliday(Base):
    __tablename__ = "unit_holiday"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("person_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    joined_at: Mapped[datetime] = mapped_column(TZDateTime)

    person: Mapped[Person] = relationship(back_populates="memberships")
    unit: Mapped[Unit] = relationship()


class JoinCode(Base):
    __tablename__ = "join_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    role: Mapped[Role | None] = mapped_column(_enum(Role))
    # An admin claim code (bootstrap) has no unit and makes the claimer an admin.
    grants_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)


class Instrument(Base):
    __tablename__ = "instrument"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("instrument_version.id", use_alter=True, name="fk_instrument_active_version")
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime)


class InstrumentVersion(Base):
    """One immutable version of an instrument, its YAML kept verbatim."""

    __tablename__ = "instrument_version"
    __table_args__ = (UniqueConstraint("instrument_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[str] = mapped_column(ForeignKey("instrument.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime)


class Round(Base):
    __tablename__ = "round"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    instrument_version_id: Mapped[int] = mapped_column(ForeignKey("instrument_version.id"), index=True)
    opens_at: Mapped[datetime] = mapped_column(TZDateTime)
    closes_at: Mapped[datetime] = mapped_column(TZDateTime)
    reminder_rule: Mapped[str] = mapped_column(String(200), default="")
    threshold: Mapped[int] = mapped_column(Integer, default=5)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[RoundStatus] = mapped_column(_enum(RoundStatus), default=RoundStatus.OPEN)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)
    # A pulse check: the round it follows up, and the only statements it asks (None: all of them).
    pulse_of_round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id", ondelete="SET NULL"))
    items: Mapped[list[str] | None] = mapped_column(JSON)


class RoundUnit(Base):
    __tablename__ = "round_unit"

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True)


class RoundParticipant(Base):
    """Who was invited to a round (and may opt out of its reminders)."""

    __tablename__ = "round_participant"
    __table_args__ = (
        UniqueConstraint("round_id", "person_id"),
        # How many of a unit were invited to a round (the unit report's "n of m answered").
        Index("ix_round_participant_round_unit", "round_id", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    invited_at: Mapped[datetime] = mapped_column(TZDateTime)
    reminders_off: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the person completes an anonymous round, whose response is then detached.
    completed_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class Response(Base):
    __tablename__ = "response"
    __table_args__ = (
        Index("ix_response_person_status", "person_id", "status"),
        # A unit's completed responses of a round in completion order: the unit report's published set.
        Index(
            "ix_response_round_unit_status_completed", "round_id", "unit_id", "status", "completed_at", "id"
        ),  # A unit's published set, step by step.
        Index("ix_response_round_unit_step", "round_id", "unit_id", "step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None once an anonymous round's response is detached from its person.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    instrument_version_id: Mapped[int] = mapped_column(ForeignKey("instrument_version.id"), index=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"), index=True)
    # The instrument role (e.g. "teacher") the statements were chosen for; None when not role-based.
    role: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[ResponseStatus] = mapped_column(_enum(ResponseStatus), default=ResponseStatus.IN_PROGRESS)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(TZDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    # The step of its unit's published set the response belongs to (1, 2, ...): given when a whole
    # step of `threshold` completed responses is there, never changed (bot/publication_store.seal).
    step: Mapped[int | None] = mapped_column(Integer)


class Answer(Base):
    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("response_id", "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    item_code: Mapped[str] = mapped_column(String(20))
    kind: Mapped[AnswerKind] = mapped_column(_enum(AnswerKind))
    value: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(TZDateTime)


class BackgroundAnswer(Base):
    __tablename__ = "background_answer"
    __table_args__ = (UniqueConstraint("response_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(40))
    option_id: Mapped[str] = mapped_column(String(40))
    answered_at: Mapped[datetime] = mapped_column(TZDateTime)


class UnitPublication(Base):
    """What a unit's report in a round shows after its first published responses, kept when a step
    of responses fills (bot/results/publication_store.py). A shortcut, never the truth: a report uses it only
    while the unit's steps still hold as many responses as it was made from, and otherwise computes
    the same from the answers."""

    __tablename__ = "unit_publication"

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True)
    instrument_version_id: Mapped[int] = mapped_column(ForeignKey("instrument_version.id"))
    # bot.publication.Publication as JSON (its threshold and how many responses it is made from too).
    state: Mapped[str] = mapped_column(Text)
    steps: Mapped[int] = mapped_column(Integer, default=0)  # how many of the unit's steps it is made of
    updated_at: Mapped[datetime] = mapped_column(TZDateTime)


class PublicationWithdrawal(Base):
    """A unit's figures in a round were withdrawn after its first `after_steps` steps, because a
    person in them erased their data: they come back only once a whole new step has completed
    (bot/results/publication.py). Who it was is not kept."""

    __tablename__ = "publication_withdrawal"

    round_id: Mapped[int] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True)
    after_steps: Mapped[int] = mapped_column(Integer, primary_key=True)


class ActionPlan(Base):
    __tablename__ = "action_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)


class PlanItem(Base):
    __tablename__ = "plan_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("action_plan.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    due_date: Mapped[date | None] = mapped_column(Date)
    cadence_days: Mapped[int] = mapped_column(Integer, default=14)
    status: Mapped[PlanItemStatus] = mapped_column(_enum(PlanItemStatus), default=PlanItemStatus.NOT_STARTED)
    area_id: Mapped[str | None] = mapped_column(String(40))
    # Adopted from an instrument: which of its actions (by position in that version's list), so
    # everyone reads it in their own language; `text` is then the adopter's wording, kept as is.
    action_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("instrument_version.id", name="fk_plan_item_action_version")
    )
    action_index: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TZDateTime)


class ProgressUpdate(Base):
    __tablename__ = "progress_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_item_id: Mapped[int] = mapped_column(ForeignKey("plan_item.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    status: Mapped[PlanItemStatus] = mapped_column(_enum(PlanItemStatus))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(TZDateTime)


class Outbox(Base):
    """A message the bot sends on its own initiative, written once, sent once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # Serialised replies (bot.messages.replies_to_json), rendered in the person's language when written.
    payload: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(TZDateTime)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A group chat the message goes to instead of the person's own ("platform|workspace|chat"): a
    # workshop's timer speaks in the workshop's group; the person (its facilitator) paces it.
    chat: Mapped[str | None] = mapped_column(String(200))
    # A reply's edit target: the message whose button was pressed (bot/reply_outbox.py).
    reply_to: Mapped[str | None] = mapped_column(String(100))


class ProcessedEvent(Base):
    __tablename__ = "processed_event"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(TZDateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(TZDateTime, index=True)
    actor_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(80))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class Workshop(Base):
    """A staff workshop on one unit's result, run in one chat (a group, a channel, or the terminal).

    The timer is stored, not kept running: `position` was reached at `step_started_at` with
    `step_elapsed` seconds of it already used (before a pause); bot/workshop/agenda.py works out
    where the workshop is now. `seq` grows with every move, so a timer message written for an
    earlier state is recognised and dropped.
    """

    __tablename__ = "workshop"
    __table_args__ = (Index("ix_workshop_chat", "platform", "workspace", "chat", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"))
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    chat: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(10), default="en")
    minutes: Mapped[int] = mapped_column(Integer, default=3)
    pick: Mapped[int] = mapped_column(Integer, default=6)
    votes: Mapped[int] = mapped_column(Integer, default=3)
    weakest_first: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_next: Mapped[bool] = mapped_column(Boolean, default=False)
    agenda: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer, default=0)
    step_started_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    step_elapsed: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(TZDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class WorkshopFacilitator(Base):
    """Someone a unit's principal named to run the unit's workshops."""

    __tablename__ = "workshop_facilitator"

    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    named_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    named_at: Mapped[datetime] = mapped_column(TZDateTime)


class WorkshopVote(Base):
    """One member's "this is a priority for us" on one statement: once per person and statement."""

    __tablename__ = "workshop_vote"
    __table_args__ = (UniqueConstraint("workshop_id", "person_id", "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id", ondelete="CASCADE"))
    # NULL once the voter ran forget-me: the vote still counts, so the counts the group saw do not
    # drop by exactly their votes (which would tell how they voted), and it names nobody.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    item_code: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(TZDateTime)


class WorkshopNote(Base):
    """A note on one statement of a workshop: a reply to the statement's message, or `workshop note`."""

    __tablename__ = "workshop_note"
    __table_args__ = (Index("ix_workshop_note_workshop", "workshop_id", "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshop.id", ondelete="CASCADE"))
    item_code: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(TZDateTime)


class PostedMessage(Base):
    """A message the bot posted whose replies mean something (bot/intake/anchors.py): its platform id and
    the anchor the core gave it."""

    __tablename__ = "posted_message"
    __table_args__ = (UniqueConstraint("platform", "workspace", "chat", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    chat: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    anchor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(TZDateTime)
