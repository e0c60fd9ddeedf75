"""When the bot may speak first: working days and hours in a person's own time zone.

Prompts (reminders, follow-ups, digests) go out on working days (Monday to Friday, outside the
unit's holidays and the person's `away until` date), between 09:30 and 17:00 local time. Something
due on a weekend, a holiday or at night moves to 09:30 on the first working day after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Person, UnitHoliday

DEFAULT_TIMEZONE = "Europe/Stockholm"
DAY_STARTS = time(9, 30)
DAY_ENDS = time(17, 0)
# Enough to step over any holiday list; a calendar with no free day in two years is a mistake.
MAX_DAYS_AHEAD = 730


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

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5:
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
    found: dict[int, list[tuple[date, date]]] = {u: [] for u in unit_ids}
    if unit_ids:
        for row in session.scalars(select(UnitHoliday).where(UnitHoliday.unit_id.in_(unit_ids))):
            found[row.unit_id].append((row.first_day, row.last_day))
    return {u: tuple(sorted(days)) for u, days in found.items()}


def calendar_for(person: Person, holidays: tuple[tuple[date, date], ...] = ()) -> Calendar:
    return Calendar(zone(person.timezone), holidays, person.away_until)


def away_hold(session: Session, person: Person, unit_ids: set[int], now: datetime) -> datetime | None:
    """When a prompt to `person` due now should go instead, or None if it may go now."""
    calendar = calendar_for(person, _merged(holidays_by_unit(session, unit_ids)))
    placed = calendar.place(now)
    return None if placed <= now else placed


def _merged(by_unit: dict[int, tuple[tuple[date, date], ...]]) -> tuple[tuple[date, date], ...]:
    return tuple(sorted(span for spans in by_unit.values() for span in spans))
