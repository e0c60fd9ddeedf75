"""Reminder rules as admins write them (`3wd,-2d,max3`), read the same way by rounds and the scheduler."""

from __future__ import annotations

import pytest

from bot.follow_up.reminder_rules import DEFAULT_RULE, ReminderRule, ReminderStep, RuleInvalid, parse_rule


def test_default_rule_means_three_working_days_then_two_days_before_close_at_most_three() -> None:
    rule = parse_rule(DEFAULT_RULE)
    assert rule == ReminderRule(
        (
            ReminderStep(3, working_days=True, before_close=False),
            ReminderStep(2, working_days=False, before_close=True),
        ),
        max_reminders=3,
    )
    assert rule.after_invitation == (ReminderStep(3, True, False),)
    assert rule.before_close == (ReminderStep(2, False, True),)
    assert rule.text() == DEFAULT_RULE


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("3wd,-2d,max3", "3wd,-2d,max3"),
        (" 5d , -1wd ", "5d,-1wd,max3"),
        ("7D,MAX1", "7d,max1"),
        ("off", "off"),
        ("none", "off"),
    ],
)
def test_rules_are_stored_in_one_spelling(written: str, canonical: str) -> None:
    assert parse_rule(written).text() == canonical


@pytest.mark.parametrize(
    ("written", "bad_part"),
    [
        ("3w", "3w"),
        ("3wd,-2d,max0", "max0"),
        ("3wd,max2,max3", "max3"),
        ("0d", "0d"),
        ("99d", "99d"),
        ("3wd,3wd", "3wd"),
        ("max2", "max2"),
        ("", ""),
        ("soon", "soon"),
    ],
)
def test_a_wrong_part_is_named(written: str, bad_part: str) -> None:
    with pytest.raises(RuleInvalid) as raised:
        parse_rule(written)
    assert raised.value.part == bad_part
