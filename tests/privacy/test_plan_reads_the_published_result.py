"""A principal who types `plan` after every completion learns nothing the unit's result does not
show: suggestions come from the published result, which moves only by whole steps."""

from __future__ import annotations

from bot.runtime import Runtime
from tests.harness import texts
from tests.privacy.play import Scene

STEADY = ("teacher", "new", 3, 3, 3, 3)  # right on the boundary: "low" is below 3
LOW = ("teacher", "old", 1, 1, 1, 1)


def test_a_principal_watching_plan_after_every_completion_sees_it_move_only_with_the_result(
    runtime: Runtime,
) -> None:
    scene = Scene.open(runtime, threshold=3)
    principal = scene.principal()
    for name in ("Alma", "Bo", "Cia"):
        scene.answer(name, STEADY)
    first = texts(principal.say('plan "Ystad school"'))
    assert "Plan one lesson together." not in first

    scene.answer("Dan", LOW)  # alone he would pull collaboration below 3
    assert texts(principal.say('plan "Ystad school"')) == first
    scene.answer("Eve", LOW)
    assert texts(principal.say('plan "Ystad school"')) == first

    scene.answer("Fay", LOW)  # a whole new step: now the result moves, and the plan with it
    moved = texts(principal.say('plan "Ystad school"'))
    assert "Plan one lesson together." in moved
    assert "Ask for help with the technology." in moved
