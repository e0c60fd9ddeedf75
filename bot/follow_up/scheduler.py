"""Timed work: periodic scans that write due messages into the outbox (and forget old event ids),
and the dispatcher loop.

The scans never send anything; they only write outbox rows with unique idempotency keys, so a scan
that runs twice, late, or in two processes at once writes each message once. `scan(sessions, now)`
is the whole of it and takes the time as an argument (tests call it directly and move a ManualClock).

In a running bot, APScheduler 3 (BackgroundScheduler, SQLAlchemyJobStore in the same database)
calls the scan every few minutes with the system clock. APScheduler's job store must not be shared
by two schedulers, so on PostgreSQL only the process holding an advisory lock (taken with
pg_try_advisory_lock on a connection kept open for as long as it leads) runs the scheduler; the
others keep trying and take over when the leader's connection goes away. Every process runs a
dispatcher (the outbox claims rows with FOR UPDATE SKIP LOCKED). SQLite means one process: it leads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, Select, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot import reply_outbox
from bot.clock import Clock, ManualClock
from bot.commands import Audience, Context, Registry
from bot.follow_up import plan_followups, reminders, retention
from bot.follow_up.working_time import zone
from bot.i18n import N_
from bot.intake import processed_events
from bot.messages import Reply, Sender
from bot.outbox import Dispatcher
from storage.db import transaction
from storage.models import Outbox, OutboxState, Person

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SCAN_JOB_ID = "assessbot-scan"
SCAN_EVERY = timedelta(minutes=5)
JOBS_TABLE = "apscheduler_jobs"
# The advisory lock's key is derived from the database and schema, so two installations (or two
# test runs in separate schemas) on one PostgreSQL server each get their own leader.
LEADER_LOCK_SQL = (
    "SELECT pg_try_advisory_lock(hashtextextended("
    "current_database() || '.' || current_schema() || '.assessbot-scheduler', 0))"
)
UNLOCK_SQL = (
    "SELECT pg_advisory_unlock(hashtextextended("
    "current_database() || '.' || current_schema() || '.assessbot-scheduler', 0))"
)


def scan(sessions: sessionmaker[Session], now: datetime, default_locale: str = "en") -> int:
    """Write every message due by `now` into the outbox; returns how many rows were written."""
    with transaction(sessions) as session:
        return reminders.scan_reminders(session, now, default_locale) + plan_followups.scan_plans(
            session, now, default_locale
        )


@dataclass(frozen=True)
class Tick:
    """What running the scheduled work as of one moment did."""

    at: datetime
    written: int  # messages the scan found due and wrote into the outbox
    sent: int  # of the due messages, those delivered through the given senders


def run_due_work(
    runtime: Runtime,
    at: datetime,
    senders: Mapping[str, Sender],
    recipients: Select[int] | None = None,
) -> Tick:
    """Everything the running bot would have done by `at` (`assessbot tick --at ...`): the scan
    writes what is due, then every due message of `recipients` goes out through `senders`, all of
    them at once (the pause between two messages to one person is the platforms' concern)."""
    written = scan(runtime.sessions, at, runtime.config.default_locale)
    dispatcher = Dispatcher(
        runtime.sessions,
        senders,
        ManualClock(at),
        default_locale=runtime.config.default_locale,
        per_person_gap=timedelta(0),
        recipients=recipients,
    )
    sent = 0
    while n := dispatcher.drain():
        sent += n
    return Tick(at, written, sent)


# ---------------------------------------------------------------- leadership


class Leadership:
    """Who runs the scheduler. PostgreSQL: an advisory lock held on a dedicated connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._single = engine.dialect.name != "postgresql"

    def try_acquire(self) -> bool:
        """True if this process leads now (keeps leading until `release` or a lost connection)."""
        if self._single:
            return True
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("scheduler leader lost its database connection")
                self._drop()
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(connection.execute(text(LEADER_LOCK_SQL)).scalar())
        except Exception:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(text(UNLOCK_SQL))
        except Exception:
            log.debug("advisory unlock failed; closing the connection releases the lock")
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception:
                log.debug("closing the leader connection failed")
        self._connection = None


# ---------------------------------------------------------------- the APScheduler wiring


@dataclass(frozen=True)
class ScanTarget:
    sessions: sessionmaker[Session]
    clock: Clock
    default_locale: str
    retention_days: int = retention.DEFAULT_DAYS


# The pickled job carries only this name; the process that runs it looks its database up here,
# so no session, engine or connection string ever lands in the job store.
_TARGETS: dict[str, ScanTarget] = {}


def run_scan(target: str) -> None:
    """The periodic job (module level, so APScheduler can pickle a reference to it)."""
    found = _TARGETS.get(target)
    if found is None:
        log.warning("scan job for unknown target %s skipped", target)
        return
    periodic(found.sessions, found.clock.now(), found.default_locale, found.retention_days)


def periodic(
    sessions: sessionmaker[Session],
    now: datetime,
    default_locale: str = "en",
    retention_days: int = retention.DEFAULT_DAYS,
) -> None:
    """What the scheduler does every few minutes: due messages into the outbox, and housekeeping
    (old event ids, delivered replies, and the answers of rounds past their retention period)."""
    written = scan(sessions, now, default_locale)
    if written:
        log.info("scan wrote %s outbox message(s)", written)
    forgotten = processed_events.forget_old(sessions, now)
    if forgotten:
        log.info("forgot %s processed event id(s) older than %s", forgotten, processed_events.KEEP)
    reply_outbox.forget_delivered(sessions)
    retention.expire(sessions, now, retention_days)


def make_scheduler(engine: Engine, target: str, every: timedelta = SCAN_EVERY) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=UTC,
    )
    scheduler.add_job(
        run_scan,
        "interval",
        seconds=every.total_seconds(),
        id=SCAN_JOB_ID,
        args=[target],
        replace_existing=True,
        next_run_time=datetime.now(UTC),
    )
    return scheduler


class Background:
    """The scheduler (when this process leads) and a dispatcher loop, on daemon threads."""

    def __init__(
        self,
        runtime: Runtime,
        senders: Mapping[str, Sender],
        *,
        dispatch_every: float = 1.0,
        lead_retry: float = 30.0,
        scan_every: timedelta = SCAN_EVERY,
        recipients: Select[int] | None = None,
    ) -> None:
        self.runtime = runtime
        self.target = "default"
        self.dispatcher = Dispatcher(
            runtime.sessions,
            senders,
            runtime.clock,
            default_locale=runtime.config.default_locale,
            concurrency=max(1, runtime.config.outbox_concurrency),
            recipients=recipients,
        )
        self.leadership = Leadership(runtime.db)
        self.scheduler: BackgroundScheduler | None = None
        self.dispatch_every = dispatch_every
        self.lead_retry = lead_retry
        self.scan_every = scan_every
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Background:
        config = self.runtime.config
        _TARGETS[self.target] = ScanTarget(
            self.runtime.sessions, self.runtime.clock, config.default_locale, config.retention_days
        )
        for name, loop in (("assessbot-dispatch", self._dispatch_loop), ("assessbot-lead", self._lead_loop)):
            thread = threading.Thread(target=loop, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatcher.drain()
            except Exception:
                log.exception("outbox dispatch failed; trying again")
            self._stop.wait(self.dispatch_every)

    def _lead_loop(self) -> None:
        while not self._stop.is_set():
            try:
                leading = self.leadership.try_acquire()
                if leading and self.scheduler is None:
                    log.info("this process runs the scheduler")
                    self.scheduler = make_scheduler(self.runtime.db, self.target, self.scan_every)
                    self.scheduler.start()
                elif not leading and self.scheduler is not None:
                    self.scheduler.shutdown(wait=False)
                    self.scheduler = None
            except Exception:
                log.exception("scheduler leadership check failed; trying again")
            self._stop.wait(self.lead_retry)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        self.leadership.release()
        _TARGETS.pop(self.target, None)


def start_background(
    runtime: Runtime,
    senders: Mapping[str, Sender],
    *,
    dispatch_every: float = 1.0,
    recipients: Select[int] | None = None,
) -> Background:
    """Run the scheduler (if this process leads) and a dispatcher for `senders` (of `recipients`'
    messages only, when given); `.stop()` ends both."""
    return Background(runtime, senders, dispatch_every=dispatch_every, recipients=recipients).start()


# ---------------------------------------------------------------- `schedule` (admin)


def next_scan(session: Session) -> datetime | None:
    """When the scheduler runs the scan next, as stored in its job table (any process can read it)."""
    # The session's own connection: a second one would wait for SQLite's write lock held by this one.
    if not inspect(session.connection()).has_table(JOBS_TABLE):
        return None
    raw = session.execute(
        text(f"SELECT next_run_time FROM {JOBS_TABLE} WHERE id = :id"), {"id": SCAN_JOB_ID}
    ).scalar()
    return datetime.fromtimestamp(float(raw), UTC) if raw is not None else None


def schedule_command(ctx: Context, _args: list[str]) -> list[Reply]:
    t = ctx.t
    tz = ctx.person.timezone
    pending = (Outbox.state == OutboxState.PENDING) | (Outbox.state == OutboxState.SENDING)
    counts = ctx.session.execute(
        select(Outbox.kind, func.count(Outbox.id)).where(pending).group_by(Outbox.kind).order_by(Outbox.kind)
    ).all()
    lines = [t._("Upcoming timed work:")]
    if not counts:
        lines.append(t._("Nothing is waiting in the outbox."))
    else:
        lines.append(", ".join(f"{kind}: {n}" for kind, n in counts))
        rows = ctx.session.execute(
            select(Outbox, Person)
            .join(Person, Person.id == Outbox.person_id)
            .where(pending)
            .order_by(Outbox.due_at, Outbox.id)
            .limit(15)
        ).all()
        for row, person in rows:
            when = t.datetime(row.due_at, tz)
            lines.append(f"• {when} · {row.kind} → {person.display_name or person.id}")
    upcoming = next_scan(ctx.session)
    if upcoming is not None:
        lines.append(
            t._("Next scan for due reminders and follow-ups: %(when)s", when=t.datetime(upcoming, tz))
        )
    else:
        minutes = int(SCAN_EVERY.total_seconds() // 60)
        lines.append(
            t._(
                "The scan for due reminders and follow-ups runs every %(n)s minutes while the bot runs.",
                n=minutes,
            )
        )
    local = ctx.now.astimezone(zone(tz))
    lines.append(t._("Times are in %(tz)s (now %(now)s).", tz=tz, now=local.strftime("%H:%M")))
    return [Reply("\n".join(lines))]


def register(registry: Registry) -> None:
    registry.command(
        "schedule",
        Audience.ADMIN,
        N_("upcoming reminders, follow-ups and digests"),
        "schedule",
        aliases=("schema",),
    )(schedule_command)
