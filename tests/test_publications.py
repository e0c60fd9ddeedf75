"""Kept publications: when a step of a unit's responses fills, the unit's result is worked out and
kept, and a report reads it in one statement. A kept result is used only while it was made from
exactly the unit's first responses; it always shows what the answers show."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from bot.results import publication_store
from bot.results.publication import Publication
from bot.results.reports import UnitReport, unit_report
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Answer,
    Identity,
    Membership,
    Person,
    Response,
    Role,
    Round,
    RoundParticipant,
    UnitPublication,
)
from tests.harness import Conversation
from tests.report_data import GOLDEN, PREVIOUS, Row, add_responses, install_mini, make_round, make_unit
from tests.test_report_steps import NOT_ASKED_B1, ROWS, THRESHOLD

# ---------------------------------------------------------------- helpers


def numbers(report: UnitReport) -> dict[str, float]:
    """Every figure a report shows, by name (for comparing two reports with pytest.approx)."""
    out: dict[str, float] = {"invited": report.invited, "completed": report.completed}
    out["published"] = report.published

    def stat(name: str, s: Any) -> None:
        out[f"{name} n"], out[f"{name} mean"] = s.n, s.mean
        out[f"{name} sd"] = -1.0 if s.sd is None else s.sd

    for st in report.statements:
        stat(f"statement {st.code}", st.stat)
        for point, count in enumerate(st.distribution, start=1):
            out[f"statement {st.code} answered {point}"] = count
        out[f"statement {st.code} skipped"] = st.skipped
        out[f"statement {st.code} n/a"] = st.not_applicable
    for area in report.areas:
        stat(f"area {area.area_id}", area.stat)
        out[f"area {area.area_id} change"] = -99.0 if area.change is None else area.change
    splits = [("role", report.roles), *((s.question_id, s.groups) for s in report.splits)]
    for question, groups in splits:
        for group in groups:
            out[f"{question} {group.key} n"] = group.n
            for area_id, s in group.areas.items():
                stat(f"{question} {group.key} {area_id}", s)
    return out


@contextmanager
def statements_run(runtime: Runtime) -> Iterator[list[tuple[str, Any]]]:
    """The reads run through SQLAlchemy meanwhile: every one but the report's head, which is read
    on the driver."""
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        sql, context = str(args[2]), args[4]
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            # The statement's named parameters, the same on both databases.
            seen.append((sql, context.compiled_parameters[0] if context.compiled_parameters else {}))

    event.listen(runtime.db, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.db, "before_cursor_execute", record)


def made_from_the_answers(session: Session, unit: int, round_id: int) -> UnitReport:
    """The report with nothing kept (in the caller's transaction, which must be rolled back)."""
    session.execute(delete(UnitPublication).where(UnitPublication.unit_id == unit))
    return unit_report(session, unit, round_id)


def kept_count(runtime: Runtime, round_id: int, unit: int) -> int | None:
    """How many responses the unit's kept publication is made from (None: nothing kept)."""
    with runtime.sessions() as session:
        state = session.scalar(
            select(UnitPublication.state).where(
                UnitPublication.round_id == round_id, UnitPublication.unit_id == unit
            )
        )
    return None if state is None else Publication.from_json(state).published


def add_and_publish(
    runtime: Runtime,
    round_id: int,
    unit: int,
    version: int,
    rows: Sequence[Row],
    start: datetime,
    *,
    not_asked_b1: frozenset[int] = frozenset(),
) -> None:
    """Responses completed one by one, the unit's publication kept after each (as the bot does)."""
    for i, row in enumerate(rows):
        with transaction(runtime.sessions) as session:
            (rid,) = add_responses(session, round_id, unit, version, [row], start + timedelta(minutes=i))
            if i in not_asked_b1:
                session.execute(delete(Answer).where(Answer.response_id == rid, Answer.item_code == "B1"))
            publication_store.publish(session, round_id, unit, runtime.clock.now())


def take_round(runtime: Runtime, name: str, unit: int, round_id: int, values: Sequence[str]) -> Conversation:
    """Someone of the unit answers the round through the bot: a teacher, new, then the statements."""
    who = Conversation(runtime.engine, name, display_name=name, locale_hint="en")
    who.say("help")
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        person = session.scalar(select(Identity.person_id).where(Identity.platform_user_id == name))
        assert person is not None
        session.add(Membership(person_id=person, unit_id=unit, role=Role.STAFF, joined_at=now))
        session.add(RoundParticipant(round_id=round_id, person_id=person, unit_id=unit, invited_at=now))
    who.press(f"o:{round_id}")
    who.click("Teacher")
    who.click("New")
    for value in values:
        who.click(value)
    return who


# ---------------------------------------------------------------- scenarios


def test_people_completing_a_round_keep_their_units_result_and_a_report_reads_it_at_once(
    runtime: Runtime,
) -> None:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
    kept_after = []
    for i, values in enumerate((("2", "3", "4", "5"), ("1", "2", "3", "4"), ("5", "5", "4", "4")) * 2):
        take_round(runtime, f"teacher{i}", unit, round_id, values)
        kept_after.append(kept_count(runtime, round_id, unit))
    # Kept when a step of three fills, and only then.
    assert kept_after == [None, None, 3, 3, 3, 6]
    with runtime.sessions() as session, statements_run(runtime) as seen:
        report = unit_report(session, unit, round_id)
    # Its one read, the head (names, counts, the kept result), is prepared and run on the driver
    # (storage/driver_sql.read_in); nothing else is read, so nothing is added up from the answers.
    assert seen == []
    assert (report.completed, report.published) == (6, 6)
    with runtime.sessions() as session:
        assert numbers(report) == pytest.approx(numbers(made_from_the_answers(session, unit, round_id)))
        session.rollback()


def kept_and_made_from_the_answers(
    runtime: Runtime, unit: int, round_id: int
) -> tuple[UnitReport, UnitReport]:
    with runtime.sessions() as session, statements_run(runtime) as seen:
        kept = unit_report(session, unit, round_id)
    assert seen == []  # only this round's head and the previous round's, both on the driver
    with runtime.sessions() as session:
        fresh = made_from_the_answers(session, unit, round_id)
        session.rollback()
    return kept, fresh


def test_a_result_kept_step_by_step_is_the_result_of_the_answers(runtime: Runtime) -> None:
    # The golden data set (roles, a background split, a previous round), kept after every response.
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        spring = make_round(session, version, unit, now, name="Spring 2026", threshold=3, opens_days_ago=200)
        autumn = make_round(session, version, unit, now, name="Autumn 2026", threshold=3)
    add_and_publish(runtime, spring, unit, version, PREVIOUS, now - timedelta(days=190))
    add_and_publish(runtime, autumn, unit, version, GOLDEN, now - timedelta(days=5))
    kept, fresh = kept_and_made_from_the_answers(runtime, unit, autumn)
    assert kept.previous_round_name == "Spring 2026"
    assert kept.roles
    assert numbers(kept) == pytest.approx(numbers(fresh))


def test_a_big_unit_kept_step_by_step_shows_what_its_answers_show(runtime: Runtime) -> None:
    # The unit of tests/test_report_steps.py: skips, steps nobody was asked a statement, a tail of
    # small steps where a statement keeps its last safe value.
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Big school", now)
        round_id = make_round(session, version, unit, now, threshold=THRESHOLD)
    not_asked = frozenset(i for i in range(len(ROWS)) if i // THRESHOLD in NOT_ASKED_B1)
    add_and_publish(runtime, round_id, unit, version, ROWS, now - timedelta(days=5), not_asked_b1=not_asked)
    kept, fresh = kept_and_made_from_the_answers(runtime, unit, round_id)
    assert kept.published == 60
    assert numbers(kept) == pytest.approx(numbers(fresh))


def test_a_split_kept_while_it_may_not_move_is_the_split_of_the_answers(runtime: Runtime) -> None:
    # Step 1: 3 new and 3 long-serving, shown. Steps 2-3 grow the groups by 2 and 1: the split
    # keeps step 1, and so does whose view (teachers and principals).
    rows: list[Row] = [("teacher", "new", 2, 2, 2, 2)] * 3
    rows += [("principal", "old", 4, 4, 4, 4)] * 3
    rows += [("teacher", "new", 5, 5, 5, 5)] * 2 + [("principal", "old", 1, 1, 1, 1)]
    rows += [("teacher", None, 3, 3, 3, 3)] * 3
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
    add_and_publish(runtime, round_id, unit, version, rows, now - timedelta(days=5))
    kept, fresh = kept_and_made_from_the_answers(runtime, unit, round_id)
    (years,) = kept.splits
    assert {g.key: g.n for g in years.groups} == {"new": 3, "old": 3}
    assert numbers(kept) == pytest.approx(numbers(fresh))


def seed_six(runtime: Runtime) -> tuple[int, int, int]:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
    add_and_publish(runtime, round_id, unit, version, list(GOLDEN), now - timedelta(days=5))
    return unit, round_id, version


def report_of(runtime: Runtime, unit: int, round_id: int) -> UnitReport:
    with runtime.sessions() as session:
        return unit_report(session, unit, round_id)


def test_a_response_stamped_before_the_kept_ones_waits_for_the_next_step(runtime: Runtime) -> None:
    # An anonymous round keeps only the day of completion, so a response can carry a time before
    # ones already published: it still joins the next step, and the published six stay the same.
    unit, round_id, version = seed_six(runtime)
    before = report_of(runtime, unit, round_id)
    with transaction(runtime.sessions) as session:
        add_responses(
            session,
            round_id,
            unit,
            version,
            [("teacher", "new", 1, 1, 1, 1)],
            runtime.clock.now() - timedelta(days=6),
        )
    after = report_of(runtime, unit, round_id)
    assert (after.completed, after.published) == (7, 6)
    assert numbers(after) == pytest.approx({**numbers(before), "invited": 7, "completed": 7})


def test_a_deleted_response_makes_the_kept_result_give_way(runtime: Runtime) -> None:
    unit, round_id, _ = seed_six(runtime)
    with transaction(runtime.sessions) as session:
        first = session.scalars(
            select(Response).where(Response.round_id == round_id).order_by(Response.id)
        ).first()
        assert first is not None
        assert first.person_id is not None
        session.execute(delete(Person).where(Person.id == first.person_id))
    report = report_of(runtime, unit, round_id)
    assert (report.completed, report.published) == (5, 5)
    with runtime.sessions() as session:
        assert numbers(report) == pytest.approx(numbers(made_from_the_answers(session, unit, round_id)))
        session.rollback()


def test_a_changed_threshold_makes_the_kept_result_give_way(runtime: Runtime) -> None:
    unit, round_id, _ = seed_six(runtime)
    with transaction(runtime.sessions) as session:
        round_ = session.get(Round, round_id)
        assert round_ is not None
        round_.threshold = 4
    report = report_of(runtime, unit, round_id)
    # The steps stay as they were sealed; the figures follow the new threshold from the first step.
    assert (report.threshold, report.published) == (4, 6)
    with runtime.sessions() as session:
        assert numbers(report) == pytest.approx(numbers(made_from_the_answers(session, unit, round_id)))
        session.rollback()


def test_steps_that_filled_since_the_result_was_kept_are_added_to_it(runtime: Runtime) -> None:
    unit, round_id, version = seed_six(runtime)
    with transaction(runtime.sessions) as session:
        # Written past the bot, so nothing was kept for these three.
        add_responses(
            session, round_id, unit, version, list(GOLDEN[:3]), runtime.clock.now() - timedelta(days=1)
        )
    with runtime.sessions() as session, statements_run(runtime) as seen:
        report = unit_report(session, unit, round_id)
    assert report.published == 9
    # Only the new step was aggregated: step 3 (responses 7 to 9).
    aggregated = [params for sql, params in seen if "UNION ALL" in sql]
    assert [(p["after"], p["through"]) for p in aggregated] == [(2, 3)]
    with runtime.sessions() as session:
        assert numbers(report) == pytest.approx(numbers(made_from_the_answers(session, unit, round_id)))
        session.rollback()


def test_a_big_unit_is_not_started_over_while_someone_waits_for_their_answer(runtime: Runtime) -> None:
    # Nothing matching is kept (here: nothing at all) and the unit has more published responses than
    # may be added up again during a completion: the report is made from the answers instead.
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
        add_responses(session, round_id, unit, version, list(GOLDEN), now - timedelta(days=5))
        publication_store.publish(session, round_id, unit, now, rebuild_limit=5)
    assert kept_count(runtime, round_id, unit) is None
    with transaction(runtime.sessions) as session:
        publication_store.publish(session, round_id, unit, now, rebuild_limit=6)
    assert kept_count(runtime, round_id, unit) == 6


def test_forget_me_also_deletes_the_kept_results_made_from_the_persons_answers(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
    people = [take_round(runtime, f"teacher{i}", unit, round_id, ("3", "3", "3", "3")) for i in range(3)]
    assert kept_count(runtime, round_id, unit) == 3
    people[0].say("forget-me")
    people[0].say("DELETE")
    assert kept_count(runtime, round_id, unit) is None
    report = report_of(runtime, unit, round_id)
    assert (report.completed, report.published, report.shown, report.withdrawn) == (2, 2, False, True)
