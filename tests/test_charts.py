"""Charts render as PNG images of the size a phone shows well."""

from __future__ import annotations

from datetime import timedelta

from bot.i18n import translator
from bot.messages import Image
from bot.results import charts
from bot.results.reports import unit_report
from bot.results.scoring import summarise
from bot.runtime import Runtime
from instruments.schema import parse_instrument
from storage.db import transaction
from tests.charts_png import png_size
from tests.harness import Conversation
from tests.report_data import GOLDEN, MINI_YAML, add_responses, install_mini, make_round, make_unit


def test_personal_chart_with_and_without_last_time() -> None:
    instrument = parse_instrument(MINI_YAML, "mini.yaml")
    result = summarise(instrument, "teacher", {"A1": 2, "A2": 3, "B1": 4, "B2": None})
    for locale in ("sv", "en"):
        t = translator(locale)
        alone = charts.personal_chart(t, instrument, result)
        beside = charts.personal_chart(t, instrument, result, {"a": 2.0, "b": 3.5})
        assert png_size(alone) == (charts.WIDTH_PX, charts.height_px(2))
        assert png_size(beside) == (1080, charts.BASE_PX + 2 * charts.ROW_PX)
        assert alone != beside


def test_unit_and_distribution_charts(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
        add_responses(session, round_id, unit, version, GOLDEN, now - timedelta(days=1))
    with runtime.sessions() as session:
        report = unit_report(session, unit, round_id)
    t = translator("sv")
    assert report.roles  # principals and teachers side by side
    assert png_size(charts.unit_chart(t, report)) == (1080, charts.height_px(2))
    assert png_size(charts.distribution_chart(t, report)) == (
        1080,
        charts.height_px(4, charts.STATEMENT_ROW_PX),
    )


def test_completing_an_assessment_shows_the_result_as_a_chart(anna: Conversation) -> None:
    anna.say("assess")
    anna.click("Digital competence for library staff")
    for _ in range(4):
        anna.press(anna.choices()[0].payload)
    for _ in range(24):
        replies = anna.click("5")
    (result,) = [r for r in replies if r.image is not None]
    assert "Your result for" in result.text
    assert result.image is not None
    assert result.image.filename.endswith(".png")
    assert png_size(result.image.content) == (1080, charts.height_px(5))
    later = anna.say("results")
    assert later[0].image is not None


def test_a_chart_in_a_reply_is_drawn_once_when_first_used_and_is_the_same_picture() -> None:
    # Replies carry their charts undrawn; the engine draws them after the event's commit.
    drawn: list[int] = []

    def draw() -> bytes:
        drawn.append(1)
        return b"\x89PNG chart"

    image = Image("result.png", draw, "Your result")
    assert drawn == []
    assert image.content == image.content == b"\x89PNG chart"
    assert drawn == [1]
    assert image == Image("result.png", b"\x89PNG chart", "Your result")
    assert image != Image("result.png", b"\x89PNG other", "Your result")
