"""Scoring a response: means without skips, levels, strengths, development areas, change."""

from __future__ import annotations

from pathlib import Path

from bot.results.scoring import area_scores, summarise
from instruments.schema import parse_instrument

TINY = parse_instrument((Path(__file__).parent / "data" / "tiny.yaml").read_text(), "tiny.yaml")


def test_skips_are_left_out_of_the_mean_and_an_unanswered_area_has_no_level() -> None:
    scores = area_scores(TINY, None, {"11": 4, "12": None, "21": None})
    one, two = scores
    assert one.mean == 4.0
    assert one.answered == 1
    assert one.level is not None
    assert one.level.id == "high"
    assert two.mean is None
    assert two.level is None


def test_level_thresholds_are_exclusive_upper_bounds() -> None:
    assert TINY.level_for(2.99).id == "low"
    assert TINY.level_for(3.0).id == "high"


def test_strength_development_actions_and_change_since_last_time() -> None:
    before = area_scores(TINY, None, {"11": 2, "12": 2, "21": 3})
    result = summarise(TINY, None, {"11": 1, "12": 2, "21": 5}, before)
    assert result.strengths == ("two",)
    assert result.development == ("one",)
    assert [a.text["en"] for a in result.actions] == ["Practise A."]
    assert result.change == {"one": -0.5, "two": 2.0}
