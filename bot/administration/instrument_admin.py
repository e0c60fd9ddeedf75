"""Instruments in chat: `instrument upload|validate|list|show|activate`.

A file comes as an attachment, or as YAML pasted on the lines after the command words. Uploading
an existing id stores a new version (inactive until `instrument activate`); versions are never
changed, so answers always point at the statements people actually saw.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot import audit
from bot.commands import Audience, Context, Registry, UsageError, digits
from bot.directory import catalogue
from bot.i18n import N_
from bot.messages import Reply
from instruments.schema import Instrument, InstrumentInvalid, parse_instrument, pick
from storage.models import Instrument as InstrumentRow
from storage.models import InstrumentVersion, Response, Round

PASTED_FILENAME = "message.yaml"


def _source(ctx: Context) -> tuple[str | bytes, str]:
    """The file to read: the attachment, else the lines after the command in the message."""
    attachment = ctx.incoming.attachment
    if attachment is not None:
        return attachment.content, attachment.filename
    first, _newline, rest = (ctx.incoming.text or "").partition("\n")
    named = first.split()[2:]
    if not rest.strip() and len(named) == 1 and named[0].lower().endswith((".yaml", ".yml")):
        # A path the terminal could not open (it attaches files that exist): say so, not "attach".
        raise UsageError(
            ctx.t._(
                "I can't find the file %(file)s. Check the name and the folder, or attach the file.",
                file=named[0],
            )
        )
    if not rest.strip():
        raise UsageError(
            ctx.t._(
                "Attach the instrument file (YAML) to the message, or paste the YAML on the lines after instrument upload."
            )
        )
    return rest, PASTED_FILENAME


def _statement_count(instrument: Instrument) -> int:
    return sum(len(area.items) for area in instrument.areas)


def upload(ctx: Context, _args: list[str]) -> list[Reply]:
    t = ctx.t
    source, filename = _source(ctx)
    try:
        text = source.decode("utf-8") if isinstance(source, bytes) else source
        installed = catalogue.install(ctx.session, text, filename, ctx.now)
    except UnicodeDecodeError:
        # Let the validator phrase it (with the byte position), like every other problem.
        try:
            parse_instrument(source, filename)
        except InstrumentInvalid as invalid:
            return [Reply(invalid.render(t))]
        raise
    except InstrumentInvalid as invalid:
        return [Reply(invalid.render(t))]
    ids = {"id": installed.instrument_id, "v": installed.version}
    if not installed.created:
        return [Reply(t._("%(id)s version %(v)s is already installed; nothing changed.", **ids))]
    audit.record(
        ctx,
        "instrument.upload",
        {"instrument": installed.instrument_id, "version": installed.version, "file": filename},
    )
    if installed.activated:
        return [Reply(t._("Installed %(id)s version %(v)s; it is active.", **ids))]
    return [
        Reply(
            t._("Installed %(id)s version %(v)s.", **ids)
            + " "
            + t._(
                "Rounds keep the version they were opened with. Make it the version new rounds use with: instrument activate %(id)s %(v)s",
                **ids,
            )
        )
    ]


def validate(ctx: Context, _args: list[str]) -> list[Reply]:
    t = ctx.t
    source, filename = _source(ctx)
    try:
        instrument = parse_instrument(source, filename)
    except InstrumentInvalid as invalid:
        return [Reply(invalid.render(t))]
    return [
        Reply(
            t._(
                "%(file)s is valid: %(id)s with %(n)s statements.",
                file=filename,
                id=instrument.id,
                n=_statement_count(instrument),
            )
            + " "
            + t._("Nothing was saved.")
        )
    ]


def unknown_instrument(ctx: Context, instrument_id: str) -> UsageError:
    """The refusal for an instrument id that is not installed (or not usable), naming those that are."""
    known = ", ".join(ctx.session.scalars(select(InstrumentRow.id).order_by(InstrumentRow.id)))
    return UsageError(
        ctx.t._("I don't know an instrument called %(id)s. Known: %(known)s.", id=instrument_id, known=known)
    )


def _find(ctx: Context, instrument_id: str) -> InstrumentRow:
    row = ctx.session.get(InstrumentRow, instrument_id.strip().lower())
    if row is None:
        raise unknown_instrument(ctx, instrument_id)
    return row


def list_instruments(ctx: Context, _args: list[str]) -> list[Reply]:
    t = ctx.t
    rows = ctx.session.scalars(select(InstrumentRow).order_by(InstrumentRow.id)).all()
    if not rows:
        return [Reply(t._("There are no instruments yet. Upload one with instrument upload."))]
    lines = [t._("Instruments:")]
    for row in rows:
        versions = ctx.session.scalar(
            select(func.count())
            .select_from(InstrumentVersion)
            .where(InstrumentVersion.instrument_id == row.id)
        )
        active = ctx.session.get(InstrumentVersion, row.active_version_id) if row.active_version_id else None
        if active is None:
            lines.append(f"• {row.id}: " + t._("no active version"))
            continue
        instrument = catalogue.load(ctx.session, active.id)
        lines.append(
            f"• {row.id}: {pick(instrument.title, ctx.locale)} · "
            + t._("active version %(v)s", v=active.version)
            + " · "
            + t.ngettext("%(n)s version", "%(n)s versions", versions or 0)
        )
    return [Reply("\n".join(lines))]


def show(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    if len(args) != 1:
        raise UsageError(
            t._("Write instrument show and the id, for example: instrument show digcomp-library")
        )
    row = _find(ctx, args[0])
    versions = ctx.session.scalars(
        select(InstrumentVersion)
        .where(InstrumentVersion.instrument_id == row.id)
        .order_by(InstrumentVersion.version)
    ).all()
    lines = [row.id]
    active = next((v for v in versions if v.id == row.active_version_id), None)
    if active is not None:
        instrument = catalogue.load(ctx.session, active.id)
        lines.append(pick(instrument.title, ctx.locale))
        lines.append(
            t._(
                "%(areas)s areas, %(n)s statements, scale 1–%(points)s, languages: %(languages)s",
                areas=len(instrument.areas),
                n=_statement_count(instrument),
                points=instrument.scale.points,
                languages=", ".join(instrument.languages),
            )
        )
    lines.append(t._("Versions:"))
    for version in versions:
        responses = ctx.session.scalar(
            select(func.count()).select_from(Response).where(Response.instrument_version_id == version.id)
        )
        rounds = ctx.session.scalar(
            select(func.count()).select_from(Round).where(Round.instrument_version_id == version.id)
        )
        marker = " · " + t._("active") if version.id == row.active_version_id else ""
        usage = t.ngettext("%(n)s response", "%(n)s responses", responses or 0) + ", "
        usage += t.ngettext("%(n)s round", "%(n)s rounds", rounds or 0)
        heading = t._(
            "version %(v)s (%(file)s, %(date)s)",
            v=version.version,
            file=version.filename or "-",
            date=t.date(version.created_at.date()),
        )
        lines.append(f"• {heading}: {usage}{marker}")
    return [Reply("\n".join(lines))]


def activate(ctx: Context, args: list[str]) -> list[Reply]:
    t = ctx.t
    if len(args) != 2 or not digits(args[1]):
        raise UsageError(
            t._(
                "Write instrument activate, the id and the version, for example: instrument activate digcomp-library 2"
            )
        )
    row = _find(ctx, args[0])
    version = ctx.session.scalar(
        select(InstrumentVersion).where(
            InstrumentVersion.instrument_id == row.id, InstrumentVersion.version == int(args[1])
        )
    )
    if version is None:
        raise UsageError(
            t._("%(id)s has no version %(v)s. See instrument show %(id)s.", id=row.id, v=args[1])
        )
    ids = {"id": row.id, "v": version.version}
    if row.active_version_id == version.id:
        return [Reply(t._("%(id)s version %(v)s is already active.", **ids))]
    previous = row.active_version_id
    row.active_version_id = version.id
    audit.record(
        ctx,
        "instrument.activate",
        {"instrument": row.id, "version": version.version, "previous_version_id": previous},
    )
    return [
        Reply(
            t._("%(id)s version %(v)s is now active: new rounds and self-assessments use it.", **ids)
            + " "
            + t._("Rounds already open keep their version.")
        )
    ]


def register(registry: Registry) -> None:
    registry.command(
        "instrument upload",
        Audience.ADMIN,
        N_("add an instrument or a new version (attach the YAML file or paste it)"),
        "instrument upload",
    )(upload)
    registry.command(
        "instrument validate",
        Audience.ADMIN,
        N_("check an instrument file and list every problem, saving nothing"),
        "instrument validate",
    )(validate)
    registry.command(
        "instrument list", Audience.ADMIN, N_("the instruments and their active versions"), "instrument list"
    )(list_instruments)
    registry.command(
        "instrument show",
        Audience.ADMIN,
        N_("an instrument's versions and how much each is used"),
        "instrument show digcomp-library",
    )(show)
    registry.command(
        "instrument activate",
        Audience.ADMIN,
        N_("choose the version new rounds use"),
        "instrument activate digcomp-library 2",
    )(activate)
