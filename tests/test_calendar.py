"""The working calendar knows Sweden: public holidays, a municipality's school breaks, unit holidays,
and working hours in each person's own time zone for invitations as well as reminders."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.clock import ManualClock
from bot.follow_up.working_time import Calendar, zone
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Outbox, Role, Unit
from tests.harness import texts
from tests.org_setup import claim_admin, code_from, person
from tests.timed import RecordingSender, add_member, add_person, add_unit, open_round, run_until, stockholm


def _local_times(sender: RecordingSender, user: str, tz: str = "Europe/Stockholm") -> list[str]:
    return [d.at.astimezone(zone(tz)).strftime("%a %d %b %H:%M") for d in sender.to(user)]


def test_swedish_public_holidays_and_their_eves_are_not_working_days() -> None:
    calendar = Calendar(zone("Europe/Stockholm"))
    days_off = [
        date(2026, 12, 24),  # julafton
        date(2026, 12, 25),  # juldagen
        date(2027, 1, 1),  # nyårsdagen
        date(2027, 1, 6),  # trettondedag jul
        date(2027, 3, 26),  # långfredagen
        date(2027, 3, 29),  # annandag påsk
        date(2027, 5, 6),  # Kristi himmelsfärds dag
        date(2027, 6, 25),  # midsommarafton
    ]
    assert [day for day in days_off if calendar.is_working_day(day)] == []
    assert calendar.is_working_day(date(2026, 12, 23))
    assert calendar.is_working_day(date(2027, 1, 7))


def test_reminders_over_christmas_and_new_year_wait_for_working_days(
    runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(stockholm(2026, 12, 23, 8))  # Wednesday 23 December
    start = clock.now()
    with transaction(runtime.sessions) as s:
        school = add_unit(s, "Ekskolan", start)
        hanna = add_person(s, "hanna", "Hanna Ek", start)
        add_member(s, hanna, school, Role.STAFF, start)
        open_round(
            s,
            school,
            [hanna],
            instrument="digcomp-library",
            opens=start,
            closes=stockholm(2027, 1, 16),
            rule="1wd,3wd,4wd,6wd,max4",
        )
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)

    run_until(runtime, clock, dispatcher, stockholm(2027, 1, 9))

    # Christmas Eve, Christmas Day, New Year's Eve, New Year's Day and Epiphany are stepped over.
    assert _local_times(sender, "hanna") == [
        "Mon 28 Dec 09:30",
        "Wed 30 Dec 09:30",
        "Mon 04 Jan 09:30",
        "Thu 07 Jan 09:30",
    ]


def test_a_school_break_set_for_the_municipality_holds_for_its_schools(
    runtime: Runtime, clock: ManualClock
) -> None:
    admin = claim_admin(runtime)
    clock.set(stockholm(2027, 2, 19, 8))  # Friday before the winter break (sportlov, week 8)
    admin.say('unit create "Malmö stad"')
    admin.say('unit create "Ekskolan" parent "Malmö stad"')
    reply = texts(admin.say('unit holidays "Malmö stad" 2027-02-22 2027-02-26'))
    assert "Holidays of Malmö stad" in reply
    listed = texts(admin.say('unit holidays "Ekskolan"'))
    assert "22 February 2027" in listed, listed
    assert "Malmö stad" in listed, listed
    start = clock.now()
    with transaction(runtime.sessions) as s:
        ekskolan = s.scalar(select(Unit).where(Unit.name == "Ekskolan"))
        assert ekskolan is not None
        gus = add_person(s, "gus", "Gus Holm", start)
        add_member(s, gus, ekskolan, Role.STAFF, start)
        open_round(
            s,
            ekskolan,
            [gus],
            instrument="digcomp-library",
            opens=start,
            closes=stockholm(2027, 3, 13),
            rule="1wd,2wd,max2",
        )
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)

    run_until(runtime, clock, dispatcher, stockholm(2027, 3, 6))

    assert _local_times(sender, "gus") == ["Mon 01 Mar 09:30", "Tue 02 Mar 09:30"]


def test_invitations_sent_at_night_arrive_in_each_persons_working_hours(
    runtime: Runtime, clock: ManualClock
) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ekskolan"')
    code = code_from(admin.say('unit invite "Ekskolan" role staff uses 3'))
    anna = person(runtime, "anna", "Anna Svensson", code)
    dmitri = person(runtime, "dmitri", "Dmitri Ivanov", code)
    yuki = person(runtime, "yuki", "Yuki Sato", code)
    dmitri.say("timezone America/New_York")
    yuki.say("timezone Asia/Tokyo")
    clock.set(stockholm(2026, 11, 24, 3, 47))  # an admin up at night, Tuesday 03:47 in Stockholm
    opened = texts(admin.say('round open digcomp-library "Ekskolan" closes 2026-12-12'))
    assert "invitations to 3 people" in opened, opened
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    dispatcher.drain()  # at once: it is 11:47 in Tokyo
    clock.set(stockholm(2026, 11, 24, 4))

    run_until(runtime, clock, dispatcher, stockholm(2026, 11, 24, 23))

    assert _local_times(sender, "anna") == ["Tue 24 Nov 09:30"]
    assert _local_times(sender, "dmitri", "America/New_York") == ["Tue 24 Nov 09:30"]
    assert _local_times(sender, "yuki", "Asia/Tokyo") == ["Tue 24 Nov 11:47"]
    assert "You are invited" in sender.to("anna")[0].text
    with runtime.sessions() as session:
        kinds = set(session.scalars(select(Outbox.kind)))
    assert kinds == {"invite"}
    assert anna.history  # she joined before the round opened, so the invitation is her first offer
