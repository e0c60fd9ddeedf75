"""Reminder rules of a round, as an admin writes them: `3wd,-2d,max3`.

The rule is stored on the round as text; this module is the one place that reads it, so the
command that opens a round (which only checks the syntax) and the scheduler (which decides when a
reminder is due) agree on what it means.

Parts, separated by commas:
  `Nwd` / `Nd`    N working days / N days after the invitation
  `-Nwd` / `-Nd`  N working days / N days before the round closes
  `maxN`          at most N reminders in all (default 3)
  `off`           no reminders at all
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_RULE = "3wd,-2d,max3"
DEFAULT_MAX = 3
MAX_DAYS = 60
MAX_REMINDERS = 10

_STEP = re.compile(r"^(?P<sign>-?)(?P<days>\d{1,3})(?P<unit>wd|d)$")
_MAX = re.compile(r"^max(?P<n>\d{1,3})$")
_OFF = ("off", "none", "av", "inga")


@dataclass(frozen=True)
class ReminderStep:
    days: int
    working_days: bool  # count Monday to Friday only (holidays are the scheduler's business)
    before_close: bool  # counted back from the round's close instead of from the invitation

    def text(self) -> str:
        return f"{'-' if self.before_close else ''}{self.days}{'wd' if self.working_days else 'd'}"


@dataclass(frozen=True)
class ReminderRule:
    steps: tuple[ReminderStep, ...]
    max_reminders: int

    @property
    def after_invitation(self) -> tuple[ReminderStep, ...]:
        return tuple(s for s in self.steps if not s.before_close)

    @property
    def before_close(self) -> tuple[ReminderStep, ...]:
        return tuple(s for s in self.steps if s.before_close)

    def text(self) -> str:
        """The canonical spelling, stored on the round."""
        if not self.steps or self.max_reminders == 0:
            return "off"
        return ",".join([*(s.text() for s in self.steps), f"max{self.max_reminders}"])


class RuleInvalid(ValueError):
    """A part of the rule could not be read; `part` is what the admin wrote."""

    def __init__(self, part: str) -> None:
        super().__init__(f"cannot read reminder rule part {part!r}")
        self.part = part


def parse_rule(text: str) -> ReminderRule:
    """Read a rule; raises RuleInvalid naming the first part that is wrong."""
    parts = [p.strip().lower() for p in text.replace(" ", "").split(",")]
    if parts == [""]:
        raise RuleInvalid(text)
    if len(parts) == 1 and parts[0] in _OFF:
        return ReminderRule((), 0)
    steps: list[ReminderStep] = []
    max_reminders: int | None = None
    for part in parts:
        if (m := _MAX.match(part)) is not None:
            n = int(m["n"])
            if max_reminders is not None or not 1 <= n <= MAX_REMINDERS:
                raise RuleInvalid(part)
            max_reminders = n
            continue
        step = _STEP.match(part)
        if step is None or not 1 <= int(step["days"]) <= MAX_DAYS:
            raise RuleInvalid(part)
        parsed = ReminderStep(int(step["days"]), step["unit"] == "wd", step["sign"] == "-")
        if parsed in steps:
            raise RuleInvalid(part)
        steps.append(parsed)
    if not steps:
        raise RuleInvalid(text)
    return ReminderRule(tuple(steps), DEFAULT_MAX if max_reminders is None else max_reminders)
