"""An admin exports a unit's individual answers ("pseudonymised": a new random code per row in
every export, rows shuffled) and compares two exports. Rows are whole answer vectors, so two
exports compared as lists of rows are not a difference of sums but a difference of people: the
row that was there before and is gone now is one person's answers, whatever their code. And a row
shows answers to statements the unit's result hides because too few people answered them."""

from __future__ import annotations

import csv
import io
from collections import Counter

from bot.runtime import Runtime
from tests.harness import Conversation
from tests.privacy.play import Scene, exported

ALMA = ("teacher", "new", 1, 1, 1, 1)
BO = ("teacher", "old", 5, 5, 5, 5)
CIA = ("principal", "new", 3, 3, 3, 3)
DAN = ("principal", "old", 2, 4, 2, 4)
EVE = ("teacher", "new", 4, 2, 4, 2)
FAY = ("principal", "old", 1, 5, 1, 5)

Row = tuple[str, ...]


def answer_rows(admin: Conversation, unit_name: str = "Ystad school") -> Counter[Row]:
    """The admin exports the unit as CSV and says YES to the individual answers, if asked; what
    they get is every row of answers they were sent (without the random code)."""
    admin.say(f'export "{unit_name}" csv')
    rows: Counter[Row] = Counter()
    for reply in admin.say("YES"):
        if reply.file is None or not reply.file.filename.endswith(".csv"):
            continue
        text = reply.file.content.decode("utf-8-sig")
        rows.update(tuple(r[1:]) for r in list(csv.reader(io.StringIO(text)))[1:])
    return rows


def row_of(answers: tuple[object, ...]) -> Row:
    return tuple("skip" if v is None else str(v) for v in answers[2:])


def test_an_admin_comparing_answer_exports_around_an_erasure_cannot_find_the_erased_persons_row(
    runtime: Runtime,
) -> None:
    scene = Scene.open(runtime, threshold=3)
    for name, answers in (("Alma", ALMA), ("Bo", BO), ("Cia", CIA)):
        scene.answer(name, answers)
    admin = scene.admin()
    before = answer_rows(admin)

    scene.forget("Bo")  # the admin sees Bo leave the unit
    for name, answers in (("Dan", DAN), ("Eve", EVE), ("Fay", FAY)):
        scene.answer(name, answers)  # three newcomers: the unit's figures are back
    after = answer_rows(admin)

    gone = before - after
    assert gone != Counter([row_of(BO)]), "the row missing from the second export is Bo's answers"
    assert row_of(BO) not in before, "Bo's answers were handed out as one row"


def test_an_admin_cannot_read_answers_to_a_statement_the_result_hides(runtime: Runtime) -> None:
    scene = Scene.open(runtime, threshold=3)
    # Only Alma answers B2: the unit's result cannot show B2 (one answer), and does not.
    scene.answer("Alma", ("teacher", "new", 2, 3, 4, 5))
    scene.answer("Bo", ("teacher", "old", 3, 3, 3, None))
    scene.answer("Cia", ("principal", "new", 4, 3, 2, None))
    admin = scene.admin()
    assert "B2" not in exported(admin).statements
    assert "A1" in exported(admin).statements
    rows = answer_rows(admin)

    b2 = [row[3] for row in rows.elements() if row[3] != "skip"]
    assert b2 == [], f"B2 is hidden in the result, yet the export shows Alma's answer to it: {b2}"
