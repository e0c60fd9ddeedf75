"""Instrument files: the bundled ones are valid and complete; broken files get every problem listed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from bot.i18n import translator
from bot.runtime import Runtime
from instruments import bundled_files
from instruments.schema import InstrumentInvalid, iter_texts, parse_instrument
from storage.models import Answer
from tests.harness import Conversation, texts

EN = translator("en")


def test_bundled_instruments_are_valid_and_complete_in_both_languages() -> None:
    files = {path.stem: path for path in bundled_files()}
    assert set(files) == {"digcomp-library", "school-digital-maturity"}
    for path in files.values():
        instrument = parse_instrument(path.read_bytes(), path.name)
        for where, text in iter_texts(instrument):
            assert text.get("sv"), (path.name, where)
            assert text.get("en"), (path.name, where)


def test_the_library_instrument_has_the_shape_the_workshop_expects() -> None:
    path = next(p for p in bundled_files() if p.stem == "digcomp-library")
    instrument = parse_instrument(path.read_bytes(), path.name)
    assert [q.id for q in instrument.background] == ["profession", "years", "organisation_size", "county"]
    assert instrument.scale.points == 7
    items = instrument.items_for(None)
    assert len(items) == 24
    assert len(instrument.areas) == 5
    for number, area in enumerate(instrument.areas, start=1):
        assert all(len(i.code) == 3 and i.code[0] == str(number) for i in area.items)
    for area in instrument.areas:
        for level in instrument.levels:
            assert instrument.actions_for(area.id, level.id, None), (area.id, level.id)


def test_the_school_instrument_has_actions_for_every_area_level_and_role() -> None:
    path = next(p for p in bundled_files() if p.stem == "school-digital-maturity")
    instrument = parse_instrument(path.read_bytes(), path.name)
    assert instrument.roles == ("principal", "teacher")
    assert [a.id for a in instrument.areas] == [
        "competence",
        "collaboration",
        "content",
        "infrastructure",
        "follow-up",
    ]
    assert 3 <= len(instrument.levels) <= 4
    for area in instrument.areas:
        for level in instrument.levels:
            for role in instrument.roles:
                assert any(a.role == role for a in instrument.actions_for(area.id, level.id, role))


BROKEN = textwrap.dedent(
    """\
    id: teacher-checkin
    languages: [sv, en]
    title: {sv: "Avstämning", en: "Check-in"}
    scale:
      points: 12
      labels:
        1: {sv: "Inte alls", en: "Not at all"}
    colour: blue
    areas:
      - id: teaching
        title: {sv: "Undervisning", en: "Teaching"}
        items:
          - code: "1"
            text: {sv: "Jag kan ...", en: "I can ..."}
          - code: "1"
            text: {en: "I can also ..."}
    levels:
      - {id: emerging, below: 3.5, title: {sv: "På väg", en: "Emerging"}}
      - {id: leading, title: {sv: "Ledande", en: "Leading"}}
    actions:
      - {area: teaching, level: expert, text: {sv: "Gör", en: "Do"}}
    """
)


def test_a_file_with_several_mistakes_gets_every_problem_with_its_line_and_field() -> None:
    with pytest.raises(InstrumentInvalid) as caught:
        parse_instrument(BROKEN, "teacher-checkin.yaml")
    report = caught.value.render(EN)
    assert report.startswith("teacher-checkin.yaml has 5 problems, nothing was saved:")
    assert "line 5, scale.points: 12 is more than the maximum of 10" in report
    assert "line 8, colour: unknown field" in report
    assert 'line 15, areas[0].items[1].code: "1" is used twice' in report
    assert "line 16, areas[0].items[1].text.sv: missing text in Swedish" in report
    assert 'line 21, actions[0].level: "expert" is not one of the levels (emerging, leading)' in report


def test_problems_are_reported_in_swedish_too() -> None:
    with pytest.raises(InstrumentInvalid) as caught:
        parse_instrument(BROKEN, "teacher-checkin.yaml")
    report = caught.value.render(translator("sv"))
    assert report.startswith("teacher-checkin.yaml har 5 problem")
    assert "rad 5, scale.points" in report


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a: &a [1]\nb: *a\n", "anchors and aliases"),
        ("x: " + "[" * 40 + "]" * 40 + "\n", "nested deeper"),
        ("id: x\n" + "# padding\n" * 60_000, "larger than 512 kB"),
        ("id: [unclosed\n", "not valid YAML"),
        ("", "the file is empty"),
        ("- just\n- a list\n", "must be a mapping"),
        ("!!python/object:os.system {}\n", "tags such as tag:yaml.org,2002:python/object:os.system"),
    ],
    ids=["aliases", "deep", "huge", "syntax", "empty", "list", "python-tag"],
)
def test_hostile_or_broken_files_are_refused_with_a_clear_message(source: str, expected: str) -> None:
    with pytest.raises(InstrumentInvalid) as caught:
        parse_instrument(source, "upload.yaml")
    assert expected in caught.value.render(EN)


def test_billion_laughs_is_refused_before_anything_expands() -> None:
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 9)}]" for i in range(1, 10)]
    with pytest.raises(InstrumentInvalid) as caught:
        parse_instrument("\n".join(lines), "bomb.yaml")
    assert "anchors and aliases" in caught.value.render(EN)


def scale_instrument(points: int) -> str:
    data = yaml.safe_load((Path(__file__).parent / "data" / "tiny.yaml").read_text())
    data["id"] = f"tiny-{points}"
    data["scale"]["points"] = points
    data["scale"]["labels"] = {1: {"sv": "Låg", "en": "Low"}, points: {"sv": "Hög", "en": "High"}}
    return yaml.safe_dump(data, allow_unicode=True)


@pytest.mark.parametrize("points", [4, 10])
def test_scales_from_4_to_10_points_can_be_installed_and_answered(
    anna: Conversation, runtime: Runtime, points: int
) -> None:
    from bot.directory import catalogue
    from storage.db import transaction

    with transaction(runtime.sessions) as session:
        catalogue.install(session, scale_instrument(points), "tiny.yaml", runtime.clock.now())
    anna.say("assess")
    anna.click("Tiny check-in")
    assert [c.label for c in anna.choices()][:points] == [str(v) for v in range(1, points + 1)]
    anna.click(str(points))
    assert f"{points} (High)" in anna.history[-2].text
    assert "not valid" in texts(anna.press(anna.button("1").rsplit(":", 1)[0] + f":{points + 1}"))
    with runtime.sessions() as session:
        assert session.query(Answer).count() == 1
