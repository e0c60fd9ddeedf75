"""The scheduler's leader election, its housekeeping, and the admin's view of upcoming timed work."""

from __future__ import annotations

from sqlalchemy import select

from bot.clock import ManualClock
from bot.follow_up.scheduler import Leadership, periodic, scan
from bot.intake import processed_events
from bot.runtime import Runtime
from storage.db import make_engine, transaction
from storage.models import ProcessedEvent, Role
from tests.harness import Conversation, texts
from tests.timed import add_member, add_person, add_unit, open_round, stockholm


def test_only_one_process_leads_the_scheduler_until_it_lets_go(runtime: Runtime, db_url: str) -> None:
    other_process = make_engine(db_url)
    first, second = Leadership(runtime.db), Leadership(other_process)
    try:
        assert first.try_acquire()
        if runtime.db.dialect.name == "postgresql":
            assert not second.try_acquire()
            assert first.try_acquire()  # still leading: the lock lives on its open connection
            first.release()
            assert second.try_acquire()
        else:
            assert second.try_acquire()  # SQLite: a single process, which always leads
    finally:
        first.release()
        second.release()
        other_process.dispose()


def test_admin_lists_upcoming_reminders_and_staff_may_not(runtime: Runtime, clock: ManualClock) -> None:
    start = clock.now()
    with transaction(runtime.sessions) as s:
        school = add_unit(s, "Ekskolan", start)
        staff = [add_person(s, u, n, start) for u, n in [("anna", "Anna Svensson"), ("bo", "Bo Ek")]]
        for person in staff:
            add_member(s, person, school, Role.STAFF, start)
        open_round(
            s, school, staff, instrument="digcomp-library", opens=start, closes=stockholm(2026, 12, 19)
        )
        add_person(s, "root", "Rut Admin", start).is_admin = True
    clock.set(stockholm(2026, 11, 26, 9, 30))
    assert scan(runtime.sessions, clock.now()) == 2

    listing = texts(Conversation(runtime.engine, "root").say("schedule"))
    assert "Upcoming timed work:" in listing
    assert "reminder: 2" in listing
    assert "reminder → Anna Svensson" in listing
    assert "reminder → Bo Ek" in listing
    assert "every 5 minutes" in listing
    assert "permission" in texts(Conversation(runtime.engine, "anna").say("schedule"))


def _recorded_events(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(select(ProcessedEvent.event_id).order_by(ProcessedEvent.id)))


def test_a_week_on_the_ids_of_annas_old_events_are_forgotten_and_a_recent_one_still_counts_once(
    runtime: Runtime, clock: ManualClock
) -> None:
    anna = Conversation(runtime.engine, "anna", display_name="Anna Svensson")
    for n in range(5):
        assert anna.say("help", event_id=f"old-{n}")
    clock.advance(days=8)
    assert anna.say("help", event_id="new-1")
    assert anna.say("help", event_id="new-2")

    periodic(runtime.sessions, clock.now())

    assert _recorded_events(runtime) == ["new-1", "new-2"]
    assert anna.say("help", event_id="new-2") == [], "a re-delivery within the week changes nothing"


def test_old_event_ids_are_forgotten_a_batch_at_a_time_up_to_the_first_newer_one(
    runtime: Runtime, clock: ManualClock
) -> None:
    anna = Conversation(runtime.engine, "anna", display_name="Anna Svensson")
    for n in range(5):
        anna.say("help", event_id=f"old-{n}")
    clock.advance(days=7, seconds=1)
    anna.say("help", event_id="new-1")
    anna.say("help", event_id="new-2")

    assert processed_events.forget_old(runtime.sessions, clock.now(), batch=2) == 5
    assert _recorded_events(runtime) == ["new-1", "new-2"]
    assert processed_events.forget_old(runtime.sessions, clock.now(), batch=2) == 0
