"""Dates as people type them, in Swedish or English: `2026-12-12`, `12/12`, `12/12/2026`,
`12.12.2026`, `12 december`, `12 dec 2026`, `december 12`, `fredag`, `friday`, `idag`, `tomorrow`.

Day first, as written in Sweden and Britain (`1/12` is the first of December). Without a year, the
next such day from today on; a weekday name is the next one after today. A pure function of the
text and today's date.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("januari", "january", "jan"),
            ("februari", "february", "feb"),
            ("mars", "march", "mar"),
            ("april", "apr"),
            ("maj", "may"),
            ("juni", "june", "jun"),
            ("juli", "july", "jul"),
            ("augusti", "august", "aug"),
            ("september", "sept", "sep"),
            ("oktober", "october", "okt", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("måndag", "monday", "mon"),
            ("tisdag", "tuesday", "tue"),
            ("onsdag", "wednesday", "wed"),
            ("torsdag", "thursday", "thu"),
            ("fredag", "friday", "fri"),
            ("lördag", "saturday", "sat"),
            ("söndag", "sunday", "sun"),
        ]
    )
    for name in names
}
_RELATIVE = {"idag": 0, "today": 0, "imorgon": 1, "tomorrow": 1}
_NUMERIC = re.compile(r"^(\d{1,2})[/.](\d{1,2})(?:[/.](\d{4}))?$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_MONTH = re.compile(r"^(\d{1,2})\.? ([a-zåäö]+)\.?(?: (\d{4}))?$")
_MONTH_DAY = re.compile(r"^([a-zåäö]+)\.? (\d{1,2})(?:,? (\d{4}))?$")


def parse_date(text: str, today: date) -> date | None:
    """The date `text` names, or None if it names none (or an impossible one, like 30/2)."""
    words = " ".join(text.casefold().replace(",", " ").split())
    if words in _RELATIVE:
        return today + timedelta(days=_RELATIVE[words])
    if words in _WEEKDAYS:
        ahead = (_WEEKDAYS[words] - today.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead)
    if match := _ISO.match(words):
        return _day(int(match[1]), int(match[2]), int(match[3]))
    if match := _NUMERIC.match(words):
        return _on_or_after(today, int(match[1]), int(match[2]), match[3])
    if (match := _DAY_MONTH.match(words)) and match[2] in _MONTHS:
        return _on_or_after(today, int(match[1]), _MONTHS[match[2]], match[3])
    if (match := _MONTH_DAY.match(words)) and match[1] in _MONTHS:
        return _on_or_after(today, int(match[2]), _MONTHS[match[1]], match[3])
    return None


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _on_or_after(today: date, day: int, month: int, year: str | None) -> date | None:
    if year is not None:
        return _day(int(year), month, day)
    this_year = _day(today.year, month, day)
    if this_year is not None and this_year >= today:
        return this_year
    # 29 February without a year: the next year that has one, within four.
    return next(
        (found for y in range(today.year + 1, today.year + 5) if (found := _day(y, month, day))),
        None,
    )
