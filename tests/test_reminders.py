"""Round reminders over a four-week round: who is reminded, when, how often, and who is not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from bot.clock import ManualClock
from bot.follow_up.scheduler import scan
from bot.follow_up.working_time import zone
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Membership,
    Outbox,
    OutboxState,
    Response,
    ResponseStatus,
    Role,
    RoundParticipant,
    UnitHoliday,
)
from tests.harness import Conversation, texts
from tests.timed import (
    RecordingSender,
    add_member,
    add_person,
    add_unit,
    open_round,
    run_until,
    stockholm,
)


def _local_times(sender: RecordingSender, user: str, tz: str) -> list[str]:
    return [d.at.astimezone(zone(tz)).strftime("%a %d %b %H:%M") for d in sender.to(user)]


def test_four_week_round_reminds_only_those_who_have_not_finished(
    runtime: Runtime, clock: ManualClock
) -> None:
    start = clock.now()
    with transaction(runtime.sessions) as s:
        school = add_unit(s, "Ekskolan", start)
        people = {
            user: add_person(s, user, name, start, tz=tz)
            for user, name, tz in [
                ("anna", "Anna Svensson", "Europe/Stockholm"),  # starts, stops half-way
                ("bo", "Bo Ek", "Europe/Stockholm"),  # never starts
                ("cecilia", "Cecilia Lind", "Europe/Stockholm"),  # completes on day two
                ("dmitri", "Dmitri Ivanov", "America/New_York"),  # works from New York
                ("eva", "Eva Berg", "Europe/Stockholm"),  # turns reminders off
            ]
        }
        for person in people.values():
            add_member(s, person, school, Role.STAFF, start)
        round_ = open_round(
            s,
            school,
            list(people.values()),
            instrument="digcomp-library",
            opens=start,
            closes=stockholm(2026, 12, 19),  # open through Friday 18 December
        )
        round_id = round_.id
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)

    anna = Conversation(runtime.engine, "anna")
    anna.press(f"o:{round_id}")
    for _ in range(4):  # background questions
        anna.press(anna.choices()[0].payload)
    for _ in range(5):
        anna.click("5")
    eva = Conversation(runtime.engine, "eva")

    run_until(runtime, clock, dispatcher, stockholm(2026, 11, 24, 12))
    with transaction(runtime.sessions) as s:
        cecilia = people["cecilia"]
        s.add(
            Response(
                person_id=cecilia.id,
                instrument_version_id=round_.instrument_version_id,
                round_id=round_id,
                unit_id=school.id,
                status=ResponseStatus.COMPLETED,
                cursor=28,
                started_at=clock.now() - timedelta(minutes=15),
                completed_at=clock.now(),
            )
        )
        participant = s.scalar(select(RoundParticipant).where(RoundParticipant.person_id == cecilia.id))
        assert participant is not None
        participant.completed_at = clock.now()
    assert "no more reminders" in texts(eva.say("remind off")).lower()

    run_until(runtime, clock, dispatcher, stockholm(2026, 12, 19, 1))

    # Three working days after the invitation, then two days before the close: 09:30 local time.
    assert _local_times(sender, "anna", "Europe/Stockholm") == ["Thu 26 Nov 09:30", "Wed 16 Dec 09:30"]
    assert _local_times(sender, "bo", "Europe/Stockholm") == ["Thu 26 Nov 09:30", "Wed 16 Dec 09:30"]
    assert _local_times(sender, "dmitri", "America/New_York") == ["Thu 26 Nov 09:30", "Wed 16 Dec 09:30"]
    assert sender.to("cecilia") == []
    assert sender.to("eva") == []
    for delivery in sender.sent:
        assert delivery.at.astimezone(zone("Europe/Stockholm")).weekday() < 5

    first = sender.to("anna")[0]
    assert first.text == "You have 19 statements left in the assessment (closes Friday 18 December)."
    assert "is waiting for you" in sender.to("bo")[0].text
    assert sender.to("bo")[0].replies[0].flat_choices[0].payload == f"o:{round_id}"

    # The button resumes exactly where Anna stopped: the sixth statement.
    clock.set(stockholm(2026, 11, 26, 10))
    replies = anna.press(first.replies[0].flat_choices[0].payload)
    assert "Welcome back! Here is where you were." in texts(replies)
    assert "Statement 6/24" in texts(replies)


def test_holidays_and_away_move_reminders_and_the_maximum_holds(runtime: Runtime, clock: ManualClock) -> None:
    start = clock.now()  # Monday 23 November
    with transaction(runtime.sessions) as s:
        school = add_unit(s, "Ekskolan", start)
        hanna = add_person(s, "hanna", "Hanna Ek", start)
        gus = add_person(s, "gus", "Gus Holm", start)
        for person in (hanna, gus):
            add_member(s, person, school, Role.STAFF, start)
        open_round(
            s,
            school,
            [hanna, gus],
            instrument="digcomp-library",
            opens=start,
            closes=stockholm(2026, 12, 19),
            rule="1wd,2wd,3wd,4wd,5wd,6wd,max3",
        )
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    with transaction(runtime.sessions) as s:
        add_person(s, "root", "Rut Admin", start).is_admin = True
    admin = Conversation(runtime.engine, "root")
    reply = texts(admin.say('unit holidays "Ekskolan" 2026-11-24 2026-11-25'))
    assert "Holidays of Ekskolan" in reply
    gus_chat = Conversation(runtime.engine, "gus")
    assert "until after 26 November 2026" in texts(gus_chat.say("away until 2026-11-26"))

    run_until(runtime, clock, dispatcher, stockholm(2026, 12, 19, 1))

    assert _local_times(sender, "hanna", "Europe/Stockholm") == [
        "Thu 26 Nov 09:30",
        "Fri 27 Nov 09:30",
        "Mon 30 Nov 09:30",
    ]
    assert _local_times(sender, "gus", "Europe/Stockholm") == [
        "Fri 27 Nov 09:30",
        "Mon 30 Nov 09:30",
        "Tue 01 Dec 09:30",
    ]
    with transaction(runtime.sessions) as s:
        assert s.scalar(select(UnitHoliday.first_day)).isoformat() == "2026-11-24"  # type: ignore[union-attr]


def test_a_person_who_leaves_or_is_forgotten_gets_nothing_more(runtime: Runtime, clock: ManualClock) -> None:
    start = clock.now()
    with transaction(runtime.sessions) as s:
        school = add_unit(s, "Ekskolan", start)
        trio = [add_person(s, u, n, start) for u, n in [("anna", "Anna"), ("bo", "Bo"), ("carl", "Carl")]]
        for person in trio:
            add_member(s, person, school, Role.STAFF, start)
        open_round(s, school, trio, instrument="digcomp-library", opens=start, closes=stockholm(2026, 12, 19))
        anna_id = trio[0].id
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)

    # The first reminders are written at 09:30 on Thursday but not yet sent ...
    clock.set(stockholm(2026, 11, 26, 9, 30))
    assert scan(runtime.sessions, clock.now()) == 3
    # ... when Anna leaves the unit and Bo asks to be forgotten.
    with transaction(runtime.sessions) as s:
        s.execute(delete(Membership).where(Membership.person_id == anna_id))
    bo = Conversation(runtime.engine, "bo")
    bo.say("forget-me")
    assert "Everything about you has been deleted" in texts(bo.say("DELETE"))
    bo_history = len(bo.history)

    run_until(runtime, clock, dispatcher, stockholm(2026, 12, 19, 1))

    assert len(sender.to("carl")) == 2
    assert sender.to("anna") == []
    assert sender.to("bo") == []
    assert len(bo.history) == bo_history
    with transaction(runtime.sessions) as s:
        states = {row.state for row in s.scalars(select(Outbox).where(Outbox.person_id == anna_id))}
        assert states == {OutboxState.CANCELLED}
