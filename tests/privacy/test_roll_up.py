"""A region follows its libraries: `unit results "Region Skåne"` shows the libraries side by side
and in total, with the change since the last round, under the same anonymity rules: the total is
made of what each library shows, so the region minus its other libraries never reveals a small one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.follow_up import plan_followups
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Membership, Outbox, Role, RoundUnit
from tests.harness import Conversation, texts
from tests.privacy.play import _person_id
from tests.report_data import Row, add_responses, install_mini, make_round, make_unit

STEADY: Row = ("teacher", "new", 3, 3, 3, 3)
LOW: Row = ("teacher", "old", 1, 1, 1, 1)
HIGH: Row = ("teacher", "old", 5, 5, 5, 5)


def region(runtime: Runtime) -> tuple[dict[str, int], int, int, int]:
    """Region Skåne with Ystad (3 answers this autumn) and Lund (2: below the threshold of 3);
    in the spring both had 3."""
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        skane = make_unit(session, "Region Skåne", now)
        units = {name: make_unit(session, name, now, parent_id=skane) for name in ("Ystad", "Lund")}
        spring = make_round(
            session, version, units["Ystad"], now, name="Spring 2026", threshold=3, opens_days_ago=200
        )
        autumn = make_round(session, version, units["Ystad"], now, name="Autumn 2026", threshold=3)
        for round_id in (spring, autumn):
            session.add(RoundUnit(round_id=round_id, unit_id=units["Lund"]))
        session.flush()
        add_responses(session, spring, units["Ystad"], version, [LOW, LOW, LOW], now - timedelta(days=190))
        add_responses(session, spring, units["Lund"], version, [LOW, LOW, LOW], now - timedelta(days=190))
        add_responses(
            session, autumn, units["Ystad"], version, [STEADY, STEADY, STEADY], now - timedelta(days=2)
        )
        add_responses(session, autumn, units["Lund"], version, [HIGH, HIGH], now - timedelta(days=2))
    return units, skane, autumn, version


def manager(runtime: Runtime, unit_id: int) -> Conversation:
    maja = Conversation(runtime.engine, "maja", display_name="Maja Manager")
    maja.say("help")
    pid = _person_id(runtime, maja)
    with transaction(runtime.sessions) as session:
        session.add(
            Membership(person_id=pid, unit_id=unit_id, role=Role.MANAGER, joined_at=runtime.clock.now())
        )
    return maja


def test_a_regional_manager_sees_the_libraries_side_by_side_and_in_total(runtime: Runtime) -> None:
    _units, skane, _autumn, _version = region(runtime)
    said = texts(manager(runtime, skane).say('unit results "Region Skåne"'))
    assert "has not taken part" not in said
    assert "Ystad" in said
    assert "Lund" in said
    # The total is Ystad's result alone: Lund's two answers are not in it, so the region minus
    # Ystad reveals nothing about Lund.
    assert "Total of 3 answers in 1 of 2 units" in said
    assert "Collaboration 3.0" in said
    assert "(+2.0 since Spring 2026)" in said  # spring: both libraries at 1
    assert "Lund: no result yet" in said
    assert "Ystad: Collaboration 3.0, Technology 3.0 (3 answers)" in said


def test_the_region_minus_its_other_libraries_never_reveals_a_small_one(runtime: Runtime) -> None:
    units, skane, autumn, version = region(runtime)
    maja = manager(runtime, skane)
    before = texts(maja.say('unit results "Region Skåne"'))
    with transaction(runtime.sessions) as session:
        # A third answer in Lund: Lund's first step, so Lund shows, and the total moves by three.
        add_responses(session, autumn, units["Lund"], version, [HIGH], runtime.clock.now())
    after = texts(maja.say('unit results "Region Skåne"'))
    assert before != after
    assert "Total of 6 answers in 2 of 2 units" in after
    assert "Collaboration 4.0" in after  # (3 x 3 + 3 x 5) / 6
    with transaction(runtime.sessions) as session:
        # A fourth in Ystad is not a step: neither Ystad nor the total moves.
        add_responses(session, autumn, units["Ystad"], version, [HIGH], runtime.clock.now())
    assert total(texts(maja.say('unit results "Region Skåne"'))) == total(after)


def total(said: str) -> str:
    """The region's own figures: everything before the units side by side."""
    return said.split("Side by side:")[0]


def test_the_regional_manager_gets_the_tree_in_the_monthly_digest(runtime: Runtime) -> None:
    _units, skane, _autumn, _version = region(runtime)
    maja = manager(runtime, skane)
    on_screen = texts(maja.say('unit results "Region Skåne"'))
    maja_id = _person_id(runtime, maja)
    with transaction(runtime.sessions) as session:
        # The first working day of December, noon in Stockholm; a second scan adds nothing.
        assert plan_followups.scan_plans(session, datetime(2026, 12, 1, 11, 0, tzinfo=UTC)) == 1
        assert plan_followups.scan_plans(session, datetime(2026, 12, 1, 15, 0, tzinfo=UTC)) == 0
    with runtime.sessions() as session:
        (row,) = session.scalars(select(Outbox).where(Outbox.kind == "tree-digest")).all()
        assert row.person_id == maja_id
        payload = "\n".join(str(reply.get("text", "")) for reply in row.payload)
    assert "Monthly digest" in payload
    assert "Total of 3 answers in 1 of 2 units" in payload
    assert total(on_screen).splitlines()[1] in payload  # the same roll-up as on screen
