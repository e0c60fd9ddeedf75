"""A determined reader looks at a unit's result again and again and subtracts what they saw.
The published set of respondents only grows, `threshold` at a time, in the order people finished:
two looks differ by nobody or by at least `threshold` people, whoever erases or finishes late."""

from __future__ import annotations

from sqlalchemy import select

from bot.clock import ManualClock
from bot.runtime import Runtime
from storage.models import Response, ResponseStatus
from tests.harness import texts
from tests.privacy.play import Scene, exported, isolates_someone

ALMA = ("teacher", "new", 1, 1, 1, 1)
BO = ("teacher", "old", 5, 5, 5, 5)
CIA = ("principal", "new", 3, 3, 3, 3)
DAN = ("principal", "old", 2, 4, 2, 4)
EVE = ("teacher", "new", 4, 2, 4, 2)
FAY = ("principal", "old", 1, 5, 1, 5)


def test_an_admin_exporting_before_and_after_a_published_person_erases_learns_nothing(
    runtime: Runtime,
) -> None:
    scene = Scene.open(runtime, threshold=3)
    for name, answers in (("Alma", ALMA), ("Bo", BO), ("Cia", CIA), ("Dan", DAN)):
        scene.answer(name, answers)
    admin = scene.admin()
    before = exported(admin)
    assert before.statements["A1"][0] == 3

    scene.forget("Bo")  # one of the first three
    after = exported(admin)
    assert not isolates_someone(before, after, 3), (before, after)
    assert not after.shown  # withdrawn: what is left is no longer a set the reader has not seen
    principal = scene.principal()
    said = texts(principal.say('unit results "Ystad school"'))
    assert "withdrawn" in said

    # Three people who were never in a view (Dan, then Eve and Fay) make a new step: back again.
    scene.answer("Eve", EVE)
    scene.answer("Fay", FAY)
    back = exported(admin)
    assert back.shown
    assert back.statements["A1"][0] == 5  # Alma and Cia, then Dan, Eve and Fay
    assert "withdrawn" not in texts(principal.say('unit results "Ystad school"'))


def test_an_admin_exporting_after_every_answer_sees_the_figures_move_only_by_whole_steps(
    runtime: Runtime,
) -> None:
    scene = Scene.open(runtime, threshold=3)
    admin = scene.admin()
    people = (("Alma", ALMA), ("Bo", BO), ("Cia", CIA), ("Dan", DAN), ("Eve", EVE), ("Fay", FAY))
    views = []
    for name, answers in people:
        scene.answer(name, answers)
        views.append(exported(admin))
    shown = [v for v in views if v.shown]
    assert [v.statements["A1"][0] for v in shown] == [3, 3, 3, 6]
    for a in views:
        for b in views:
            assert not isolates_someone(a, b, 3)


def test_in_an_anonymous_round_someone_who_started_first_and_finished_last_pushes_nobody_out(
    runtime: Runtime, clock: ManualClock
) -> None:
    scene = Scene.open(runtime, threshold=3, anonymous=True)
    scene.start("Alma", ALMA)  # opens the round first, then pauses
    clock.advance(minutes=5)
    for name, answers in (("Bo", BO), ("Cia", CIA), ("Dan", DAN)):
        scene.answer(name, answers)
        clock.advance(minutes=5)
    admin = scene.admin()
    before = exported(admin)
    assert before.statements["A1"][0] == 3

    scene.finish("Alma", ALMA)  # the same day
    after = exported(admin)
    assert after == before
    assert not isolates_someone(before, after, 3)


def test_in_an_anonymous_round_the_database_does_not_say_who_of_a_step_finished_first(
    runtime: Runtime, clock: ManualClock
) -> None:
    scene = Scene.open(runtime, threshold=3, anonymous=True)
    for name, answers in (("Alma", ALMA), ("Bo", BO), ("Cia", CIA)):
        scene.start(name, answers)
        clock.advance(minutes=7)
    for name, answers in (("Cia", CIA), ("Alma", ALMA), ("Bo", BO)):  # finished in another order
        scene.finish(name, answers)
        clock.advance(minutes=7)
    with runtime.sessions() as session:
        rows = (
            session.execute(
                select(Response).where(
                    Response.round_id == scene.round_id, Response.status == ResponseStatus.COMPLETED
                )
            )
            .scalars()
            .all()
        )
        # Everything but the id (given when a person starts, in start order) is the same for all three.
        order_columns = {(r.started_at, r.completed_at, r.cursor, getattr(r, "step", None)) for r in rows}
    assert len(rows) == 3
    assert len(order_columns) == 1
