"""When the bot may speak first: working days and hours in a person's own time zone.

Prompts (invitations, reminders, follow-ups, digests) go out on working days, between 09:30 and
17:00 local time. A working day is Monday to Friday, not a Swedish public holiday (nor Christmas
Eve, Midsummer Eve or New Year's Eve, which are days off in practice), outside the holidays set for
the unit or for a unit above it (a municipality's school breaks hold for all its schools), and not
before the person's `away until` date. Something due on a day off or at night moves to 09:30 on
the first working day after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person, Unit, UnitHoliday

DEFAULT_TIMEZONE = "Europe/Stockholm"
DAY_STARTS = time(9, 30)
DAY_ENDS = time(17, 0)
# Enough to step over any holiday list; a calendar with no free day in two years is a mistake.
MAX_DAYS_AHEAD = 730
# The organisations using the bot are Swedish: their days off follow Sweden wherever a person works.
COUNTRY = "SE"


@cache
def public_holidays(country: str, year: int) -> frozenset[date]:
    """The country's public holidays and de facto days off in one year (`holidays` keeps them).

    `holidays` is imported on first use: it holds every country's calendars, which a process
    that has not yet scheduled anything need not load at start."""
    import holidays

    # Without include_sundays=False the Swedish calendar counts every Sunday as a holiday too.
    days_off = (holidays.PUBLIC, holidays.DE_FACTO)
    found = holidays.country_holidays(country, years=year, categories=days_off, include_sundays=False)
    return frozenset(found)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class Calendar:
    """One person's working calendar (for one unit's holidays)."""

    tz: ZoneInfo
    holidays: tuple[tuple[date, date], ...] = ()
    away_until: date | None = None
    country: str = COUNTRY

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in public_holidays(self.country, day.year):
            return False
        return not any(first <= day <= last for first, last in self.holidays)

    def is_free(self, day: date) -> bool:
        """A working day on which the person is not away."""
        return self.is_working_day(day) and (self.away_until is None or day > self.away_until)

    def next_free_day(self, day: date) -> date:
        for _ in range(MAX_DAYS_AHEAD):
            if self.is_free(day):
                return day
            day += timedelta(days=1)
        return day

    def previous_free_day(self, day: date) -> date:
        for _ in range(MAX_DAYS_AHEAD):
            if self.is_free(day):
                return day
            day -= timedelta(days=1)
        return day

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after `day` (n < 0 counts backwards)."""
        step = 1 if n >= 0 else -1
        left = abs(n)
        while left > 0:
            day += timedelta(days=step)
            if self.is_working_day(day):
                left -= 1
        return day

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def at(self, day: date, clock_time: time = DAY_STARTS) -> datetime:
        """A local wall-clock time on `day`, as UTC."""
        return datetime.combine(day, clock_time, tzinfo=self.tz).astimezone(UTC)

    def place(self, moment: datetime) -> datetime:
        """The earliest time at or after `moment` when a prompt may go out."""
        local = moment.astimezone(self.tz)
        day = local.date()
        if self.is_free(day):
            if local.time() < DAY_STARTS:
                return self.at(day)
            if local.time() < DAY_ENDS:
                return moment
        return self.at(self.next_free_day(day + timedelta(days=1)))


def holidays_by_unit(session: Session, unit_ids: set[int]) -> dict[int, tuple[tuple[date, date], ...]]:
    """Each unit's days off: its own holidays and those of every unit above it."""
    found: dict[int, list[tuple[date, date]]] = {u: [] for u in unit_ids}
    if not unit_ids:
        return {}
    lines = unit_lines(session, unit_ids)
    spans = session.execute(
        select(UnitHoliday.unit_id, UnitHoliday.first_day, UnitHoliday.last_day).where(
            UnitHoliday.unit_id.in_({u for line in lines.values() for u in line})
        )
    ).all()
    for unit_id, line in lines.items():
        found[unit_id] = [(first, last) for owner, first, last in spans if owner in line]
    return {u: tuple(sorted(days)) for u, days in found.items()}


def unit_lines(session: Session, unit_ids: set[int]) -> dict[int, tuple[int, ...]]:
    """Each unit followed by the units above it, nearest first."""
    parents: dict[int, int | None] = {
        row.id: row.parent_id for row in session.execute(select(Unit.id, Unit.parent_id))
    }
    lines: dict[int, tuple[int, ...]] = {}
    for unit_id in unit_ids:
        line = [unit_id]
        while (parent := parents.get(line[-1])) is not None and parent not in line:
            line.append(parent)
        lines[unit_id] = tuple(line)
    return lines


def calendar_for(person: Person, holidays: tuple[tuple[date, date], ...] = ()) -> Calendar:
    return Calendar(zone(person.timezone), holidays, person.away_until)


def away_hold(session: Session, person: Person, unit_ids: set[int], now: datetime) -> datetime | None:
    """When a prompt to `person` due now should go instead, or None if it may go now."""
    calendar = calendar_for(person, _merged(holidays_by_unit(session, unit_ids)))
    placed = calendar.place(now)
    return None if placed <= now else placed


def _merged(by_unit: dict[int, tuple[tuple[date, date], ...]]) -> tuple[tuple[date, date], ...]:
    return tuple(sorted(span for spans in by_unit.values() for span in spans))
