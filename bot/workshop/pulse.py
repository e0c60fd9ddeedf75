"""A pulse check: some months after a workshop, a short round that asks only the statements the unit
chose as priorities (or a list), and the change on exactly those statements.

The pulse round takes an instrument of its own, made from the round it follows: the same YAML with
only those statements (and the areas and actions they belong to), stored as `<id>-pulse`. So the
assessment, its reminders and the unit's result work as for any round, and nothing compares a pulse
round's area means with a full round's. The change on those statements is bot/results/pulse_change.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.commands import Context, UsageError
from bot.directory import catalogue
from bot.results.reports import find_round, rounds_of_unit
from bot.workshop import agenda, store
from storage.models import InstrumentVersion, Round, Unit, Workshop

MAX_ID = 64


def prioritised(session: Session, unit_id: int, round_id: int) -> list[str]:
    """The statements the unit's latest ended workshop on the round chose, first first."""
    workshop = session.scalar(
        select(Workshop)
        .where(Workshop.unit_id == unit_id, Workshop.round_id == round_id, Workshop.status == store.ENDED)
        .order_by(Workshop.id.desc())
        .limit(1)
    )
    if workshop is None:
        return []
    votes = store.votes_by_code(session, workshop.id)
    return [code for code, _n in agenda.chosen(workshop.agenda, votes, workshop.pick)]


def narrowed_source(source: str, codes: Sequence[str]) -> str:
    """The instrument's YAML with only `codes`: areas without them and their actions left out."""
    import yaml  # here, not at the top: an idle bot does not hold the YAML library

    data = yaml.safe_load(source)
    wanted = set(codes)
    areas = []
    for area in data.get("areas") or []:
        items = [item for item in area.get("items") or [] if str(item.get("code")) in wanted]
        if items:
            areas.append({**area, "items": items})
    kept = {area["id"] for area in areas}
    data["areas"] = areas
    data["actions"] = [a for a in data.get("actions") or [] if a.get("area") in kept]
    data["id"] = f"{data['id']}-pulse"[:MAX_ID]
    title = data.get("title") or {}
    data["title"] = {
        lang: f"{text} (pulse)" if lang != "sv" else f"{text} (puls)" for lang, text in title.items()
    }
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def pulse_version(session: Session, of: Round, codes: Sequence[str], now: datetime) -> InstrumentVersion:
    """The instrument version a pulse of `of` asks: `of`'s instrument with only `codes` (one stored
    version per distinct set of statements; the same set again reuses it)."""
    version = session.get(InstrumentVersion, of.instrument_version_id)
    assert version is not None
    installed = catalogue.install(
        session, narrowed_source(version.source, codes), f"pulse-of-{version.filename}", now, activate=False
    )
    found = session.get(InstrumentVersion, installed.version_id)
    assert found is not None
    return found


@dataclass(frozen=True)
class PulseRequest:
    """A checked `round open ... pulse`: the narrowed version, the round followed up, its statements."""

    version: InstrumentVersion
    of_round_id: int
    items: tuple[str, ...]


def _followed(ctx: Context, unit: Unit, word: str | None) -> Round:
    t = ctx.t
    if word:
        found = find_round(ctx.session, unit.id, word)
        if found is None:
            raise UsageError(
                t._(
                    "%(unit)s has no round called %(round)s. Type round list to see the rounds.",
                    unit=unit.name,
                    round=word,
                )
            )
        return found
    rounds = [
        r
        for r in rounds_of_unit(ctx.session, unit.id)
        if r.pulse_of_round_id is None and r.opens_at <= ctx.now
    ]
    if not rounds:
        raise UsageError(t._("%(unit)s has not taken part in any round yet.", unit=unit.name))
    return rounds[0]


def read_pulse(
    ctx: Context, unit: Unit, instrument_id: str, of: str | None, items: str | None
) -> PulseRequest:
    """`pulse [of ROUND] [items 311,312]`: the statements the unit chose in its workshop on the round
    (its latest round by default), or those listed."""
    t = ctx.t
    followed = _followed(ctx, unit, of)
    version = ctx.session.get(InstrumentVersion, followed.instrument_version_id)
    assert version is not None
    if version.instrument_id != instrument_id.strip().lower():
        raise UsageError(
            t._(
                "A pulse check asks statements of %(round)s, which used %(instrument)s.",
                round=followed.name or str(followed.id),
                instrument=version.instrument_id,
            )
        )
    instrument = catalogue.load(ctx.session, version.id, checksum=version.checksum)
    if items:
        wanted = [code for code in items.replace(",", " ").split() if code]
        codes = [
            next((i.code for i in instrument.items_for(None) if i.code.lower() == w.lower()), w)
            for w in wanted
        ]
        unknown = [code for code in codes if instrument.item(code) is None]
        if unknown:
            raise UsageError(
                t._(
                    "%(instrument)s has no statement %(codes)s.",
                    instrument=version.instrument_id,
                    codes=", ".join(unknown),
                )
            )
    else:
        codes = prioritised(ctx.session, unit.id, followed.id)
        if not codes:
            raise UsageError(
                t._(
                    "%(unit)s has chosen no priorities in a workshop on %(round)s yet. Name the statements instead, for example: pulse items 311,312",
                    unit=unit.name,
                    round=followed.name or str(followed.id),
                )
            )
    unique = tuple(dict.fromkeys(codes))
    return PulseRequest(pulse_version(ctx.session, followed, unique, ctx.now), followed.id, unique)
