"""A workshop's votes are cast by pressing a button: the group sees how many votes each statement
has, never whose. A principal who keeps the pack of an ended workshop and asks for it again after a
member ran forget-me compares the two rankings: the votes that went are that member's votes."""

from __future__ import annotations

import io

import openpyxl

from bot.runtime import Runtime
from tests.harness import Conversation, texts
from tests.test_workshop import principal, school, staff


def votes_in_the_pack(pia: Conversation) -> dict[str, int]:
    """Pia asks for the workshop pack as a spreadsheet and reads the votes per statement."""
    pia.say("workshop pack")
    sheet = pia.click("Spreadsheet")[0].file
    assert sheet is not None
    rows = list(openpyxl.load_workbook(io.BytesIO(sheet.content)).worksheets[0].iter_rows(values_only=True))
    return {str(r[1]): int(r[-2] or 0) for r in rows[1:] if r[1]}


def test_a_principal_comparing_workshop_packs_around_an_erasure_cannot_tell_how_the_erased_person_voted(
    runtime: Runtime,
) -> None:
    unit, _ = school(runtime)
    pia = principal(runtime, unit)
    sven = staff(runtime, unit, "sven", "Sven Staff")
    maja = staff(runtime, unit, "maja", "Maja Staff")
    first = pia.say("workshop start pick 2 votes 2")[2]
    for who in (pia, sven, maja):
        who.press(first.flat_choices[0].payload)
    second = pia.say("workshop next")[0]
    sven.press(second.flat_choices[0].payload)
    pia.say("workshop end")
    before = votes_in_the_pack(pia)

    sven.say("forget-me")
    assert "Everything about you has been deleted" in texts(sven.say("DELETE"))
    after = votes_in_the_pack(pia)

    taken = {code: before[code] - after.get(code, 0) for code in before if before[code] != after.get(code, 0)}
    assert taken == {}, f"the votes that went with Sven: {taken}"
