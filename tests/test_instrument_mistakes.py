"""An admin uploads an instrument with a subtle mistake: every one is named with its line and field.

And an instrument with hundreds of statements, once installed, gives reports on both databases.
"""

from __future__ import annotations

import textwrap

import pytest
import yaml

from bot.i18n import translator
from bot.runtime import Runtime
from instruments.schema import InstrumentInvalid, parse_instrument
from tests.harness import Conversation, texts
from tests.org_setup import claim_admin, code_from, person

EN = translator("en")


def five_point(levels: str) -> str:
    """A small, valid instrument on a 5-point scale with the given `levels:` block."""
    return textwrap.dedent(
        """\
        id: check
        languages: [sv, en]
        title: {sv: "Koll", en: "Check"}
        scale: {points: 5}
        areas:
          - id: one
            title: {sv: "Ett", en: "One"}
            items:
              - {code: "11", text: {sv: "Jag kan A.", en: "I can A."}}
        levels:
        """
    ) + textwrap.indent(textwrap.dedent(levels), "  ")


def report_of(source: str) -> str:
    with pytest.raises(InstrumentInvalid) as caught:
        parse_instrument(source, "check.yaml")
    return caught.value.render(EN)


@pytest.mark.parametrize("below", ["6.5", "9", "0.5", "1", ".nan", ".inf", "-.inf"])
def test_a_level_threshold_off_the_scale_is_named_with_its_line(below: str) -> None:
    report = report_of(
        five_point(
            f"""\
            - {{id: low, below: {below}, title: {{sv: "Låg", en: "Low"}}}}
            - {{id: high, title: {{sv: "Hög", en: "High"}}}}
            """
        )
    )
    assert "line 11, levels[0].below:" in report
    assert "must be a number above 1 and at most 5, the scale's top" in report


def test_a_threshold_at_the_top_of_the_scale_is_accepted() -> None:
    instrument = parse_instrument(
        five_point(
            """\
            - {id: low, below: 2.5, title: {sv: "Låg", en: "Low"}}
            - {id: mid, below: 5, title: {sv: "Mellan", en: "Middle"}}
            - {id: high, title: {sv: "Hög", en: "High"}}
            """
        ),
        "check.yaml",
    )
    assert [lv.below for lv in instrument.levels] == [2.5, 5.0, None]


def test_a_key_written_twice_is_named_instead_of_the_last_one_winning() -> None:
    source = five_point(
        """\
        - {id: low, below: 3, title: {sv: "Låg", en: "Low"}}
        - {id: high, title: {sv: "Hög", en: "High"}}
        """
    ).replace('title: {sv: "Koll", en: "Check"}', 'title: {sv: "Koll", en: "Check"}\ntitle: {en: "Other"}')
    report = report_of(source)
    assert "line 4, title: the field title is written twice (first on line 3)" in report


def test_a_key_that_is_a_list_gets_a_message_not_a_traceback() -> None:
    source = five_point(
        """\
        - {id: low, below: 3, title: {sv: "Låg", en: "Low"}}
        - {id: high, title: {sv: "Hög", en: "High"}}
        """
    ).replace("scale: {points: 5}", "scale: {points: 5, [a, b]: 3}")
    report = report_of(source)
    assert "line 4, scale: a field name must be a word, not a list or a mapping" in report


def test_a_number_of_5000_digits_gets_a_message_not_a_traceback() -> None:
    source = five_point(
        """\
        - {id: low, below: 3, title: {sv: "Låg", en: "Low"}}
        - {id: high, title: {sv: "Hög", en: "High"}}
        """
    ).replace("scale: {points: 5}", "scale: {points: " + "7" * 5000 + "}")
    report = report_of(source)
    assert "line 4, scale.points: the number is too long (at most 30 digits)" in report


def test_every_mistake_is_listed_at_once_in_swedish_too() -> None:
    source = textwrap.dedent(
        """\
        id: check
        languages: [sv, en]
        title: {sv: "Koll", en: "Check"}
        title: {sv: "Koll igen", en: "Check again"}
        scale: {points: 5, [a, b]: 3}
        areas:
          - id: one
            title: {sv: "Ett", en: "One"}
            items:
              - {code: "11", text: {sv: "Jag kan A.", en: "I can A."}}
              - {code: 12345678901234567890123456789012345678901, text: {sv: "B.", en: "B."}}
        levels:
          - {id: low, below: 6.5, title: {sv: "Låg", en: "Low"}}
          - {id: high, title: {sv: "Hög", en: "High"}}
        """
    )
    with pytest.raises(InstrumentInvalid) as caught:
        parse_instrument(source, "check.yaml")
    english = caught.value.render(EN)
    assert english.startswith("check.yaml has 4 problems, nothing was saved:")
    assert "line 4, title: the field title is written twice" in english
    assert "line 5, scale: a field name must be a word" in english
    assert "line 11, areas[0].items[1].code: the number is too long" in english
    assert "line 13, levels[0].below: must be a number above 1 and at most 5" in english
    swedish = caught.value.render(translator("sv"))
    assert swedish.startswith("check.yaml har 4 problem")
    assert "rad 4, title: fältet title står två gånger (första gången på rad 3)" in swedish


def big_instrument(statements: int) -> str:
    per_area = statements // 5
    data = {
        "id": "big",
        "languages": ["sv", "en"],
        "title": {"sv": "Stor", "en": "Big"},
        "scale": {"points": 5},
        "areas": [
            {
                "id": f"a{a}",
                "title": {"sv": f"Område {a}", "en": f"Area {a}"},
                "items": [
                    {"code": f"{a}-{i}", "text": {"sv": f"Påstående {i}", "en": f"Statement {i}"}}
                    for i in range(per_area)
                ],
            }
            for a in range(5)
        ],
        "levels": [
            {"id": "low", "below": 3, "title": {"sv": "Låg", "en": "Low"}},
            {"id": "high", "title": {"sv": "Hög", "en": "High"}},
        ],
    }
    return yaml.safe_dump(data, allow_unicode=True)


def test_an_instrument_of_600_statements_gives_a_unit_result_on_both_databases(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ekskolan"')
    assert "big" in texts(admin.upload("big.yaml", big_instrument(600).encode()))
    code = code_from(admin.say('unit invite "Ekskolan" role staff uses 10'))
    principal_code = code_from(admin.say('unit invite "Ekskolan" role principal'))
    principal = person(runtime, "pia", "Pia Principal", principal_code)
    opened = texts(admin.say('round open big "Ekskolan" closes 2026-12-20 threshold 3'))
    assert "Ekskolan" in opened, opened
    for n in range(3):
        staff = person(runtime, f"staff{n}", f"Staff {n}", code)
        answer_everything(staff)
    report = texts(principal.say("unit results"))
    assert "database" not in report, report
    assert "3 of 4 answered" in report, report
    assert "Area 0" in report, report


def answer_everything(staff: Conversation) -> None:
    staff.say("assess")
    staff.click("Big (closes 20 December)")
    for _ in range(600):
        if not any(c.label == "4" for c in staff.choices()):
            break
        staff.click("4")
    assert "Your result" in texts(staff.history[-3:]), texts(staff.history[-3:])


def test_an_instrument_beyond_the_statement_limit_is_refused_with_the_limit_named() -> None:
    with pytest.raises(InstrumentInvalid) as caught:
        parse_instrument(big_instrument(2005), "big.yaml")
    report = caught.value.render(EN)
    assert "areas: an instrument can have at most 2000 statements; this one has 2005" in report
