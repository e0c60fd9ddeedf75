"""The instruments the bot knows: installing versions, activating one, loading them for use.

A version is immutable: its YAML is stored verbatim with a checksum, and a changed file always
becomes a new version, so answers always refer to the exact statements the person saw.
Parsed versions are cached by id, which is safe precisely because they never change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from instruments import bundled_files
from instruments.schema import Instrument, parse_instrument, pick
from storage.models import Instrument as InstrumentRow
from storage.models import InstrumentVersion, Round


@dataclass(frozen=True)
class Installed:
    instrument_id: str
    version: int
    version_id: int
    created: bool  # False when the identical file was already installed
    activated: bool


def checksum(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def install(
    session: Session, source: str, filename: str, now: datetime, *, activate: bool | None = None
) -> Installed:
    """Validate and store a file as the next version of its instrument.

    `activate=None` activates only an instrument's first version; later versions wait for
    `instrument activate` so a running round is never switched under people's feet.
    Raises InstrumentInvalid (nothing stored) when the file has problems.
    """
    digest = checksum(source)
    same = session.scalar(select(InstrumentVersion).where(InstrumentVersion.checksum == digest).limit(1))
    if same is not None:  # installed before (every start installs the bundled files): not parsed again
        active = session.scalar(
            select(InstrumentRow.active_version_id).where(InstrumentRow.id == same.instrument_id)
        )
        return Installed(same.instrument_id, same.version, same.id, False, active == same.id)
    instrument = _parse_source(source, filename, digest)
    row = session.get(InstrumentRow, instrument.id)
    if row is None:
        row = InstrumentRow(id=instrument.id, created_at=now)
        session.add(row)
        session.flush()
    existing = session.scalar(
        select(InstrumentVersion).where(
            InstrumentVersion.instrument_id == instrument.id, InstrumentVersion.checksum == digest
        )
    )
    if existing is not None:
        return Installed(
            instrument.id, existing.version, existing.id, False, row.active_version_id == existing.id
        )
    latest = session.scalar(
        select(func.max(InstrumentVersion.version)).where(InstrumentVersion.instrument_id == instrument.id)
    )
    version = InstrumentVersion(
        instrument_id=instrument.id,
        version=(latest or 0) + 1,
        source=source,
        checksum=digest,
        filename=filename,
        created_at=now,
    )
    session.add(version)
    session.flush()
    should_activate = row.active_version_id is None if activate is None else activate
    if should_activate:
        row.active_version_id = version.id
    return Installed(instrument.id, version.version, version.id, True, should_activate)


def install_bundled(session: Session, now: datetime) -> list[Installed]:
    """Install the instruments shipped in `instruments/`; a changed bundled file becomes active."""
    results = []
    for path in bundled_files():
        source = path.read_text(encoding="utf-8")
        results.append(install(session, source, path.name, now, activate=True))
    return results


# Valid files by checksum: every start installs the bundled files again, and parsing YAML in pure
# Python is the slow part of a start. Only valid results are kept (errors name the file).
_valid_sources: dict[str, Instrument] = {}


def _parse_source(source: str, filename: str, digest: str) -> Instrument:
    cached = _valid_sources.get(digest)
    if cached is None:
        cached = parse_instrument(source, filename)
        if len(_valid_sources) > 64:
            _valid_sources.clear()
        _valid_sources[digest] = cached
    return cached


# Keyed by (version id, checksum): ids alone could repeat across databases (tests, benchmarks).
_parsed: dict[tuple[int, str], Instrument] = {}


def _parse_cached(version: InstrumentVersion) -> Instrument:
    key = (version.id, version.checksum)
    if key not in _parsed:
        if len(_parsed) > 256:
            _parsed.clear()
        _parsed[key] = parse_instrument(version.source, version.filename)
    return _parsed[key]


def parsed(version_id: int, checksum: str) -> Instrument | None:
    """The version's parsed instrument if it is already in memory (the quick answer path reads
    nothing more than this, and leaves a cold cache to `load`)."""
    return _parsed.get((version_id, checksum))


def load(session: Session, version_id: int, *, checksum: str | None = None) -> Instrument:
    """The parsed instrument of a version; on the answer path this reads only the checksum (or is
    given it by a caller that read it along with other rows, saving a round trip)."""
    digest = checksum or session.scalar(
        select(InstrumentVersion.checksum).where(InstrumentVersion.id == version_id)
    )
    if digest is None:
        raise LookupError(f"no instrument version {version_id}")
    cached = parsed(version_id, digest)
    if cached is not None:
        return cached
    version = session.get(InstrumentVersion, version_id)
    assert version is not None
    return _parse_cached(version)


def active_versions(session: Session) -> list[tuple[InstrumentVersion, Instrument]]:
    rows = session.scalars(
        select(InstrumentVersion)
        .join(InstrumentRow, InstrumentRow.active_version_id == InstrumentVersion.id)
        .order_by(InstrumentRow.id)
    ).all()
    return [(row, _parse_cached(row)) for row in rows]


def round_title(session: Session, round_: Round, locale: str) -> str:
    """What people see a round called: its name, or its instrument's title in their language."""
    if round_.name:
        return round_.name
    return pick(load(session, round_.instrument_version_id).title, locale)


def round_called(session: Session, round_: Round, word: str) -> bool:
    """Whether `word` names the round as people see it called (any case): its name, or for a
    round opened without one its instrument's title in any language, since that is what every
    result, invitation and `round list` shows."""
    wanted = word.strip().casefold()
    if round_.name:
        return round_.name.casefold() == wanted
    titles = load(session, round_.instrument_version_id).title.values()
    return any(title.casefold() == wanted for title in titles)


def action_text(
    session: Session, version_id: int | None, index: int | None, fallback: str, locale: str
) -> str:
    """An instrument version's suggested action number `index` in `locale` (a plan item adopted
    from it keeps the two), or `fallback` when there is none or it cannot be read."""
    if version_id is None or index is None:
        return fallback
    try:
        actions = load(session, version_id).actions
    except Exception:
        return fallback  # the version cannot be read: the wording kept with the item will do
    return pick(actions[index].text, locale) if 0 <= index < len(actions) else fallback
