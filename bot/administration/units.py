"""Units and the people in them: `unit create|list|invite|members|role`.

Who may touch which unit: an admin every unit; a manager the units they are attached to and
everything below them; a principal their own unit. What they may hand out follows the same
ladder: only an admin makes managers, a manager makes principals, a principal invites staff.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import audit
from bot.administration import join_codes
from bot.administration.command_options import split_options
from bot.commands import Audience, Context, Registry, UsageError, digits
from bot.directory import person_lookup
from bot.i18n import N_, Translator
from bot.messages import Reply
from bot.permissions import descendants, visible_units
from storage.models import Membership, Person, Role, Unit

MAX_NAME = 200
DEFAULT_INVITE_DAYS = 14
MAX_INVITE_DAYS = 365
MAX_INVITE_USES = 1000

ROLE_LABELS = {
    Role.STAFF: N_("staff"),
    Role.PRINCIPAL: N_("principal"),
    Role.MANAGER: N_("manager"),
}
ROLE_WORDS = {
    "staff": Role.STAFF,
    "medarbetare": Role.STAFF,
    "personal": Role.STAFF,
    "principal": Role.PRINCIPAL,
    "rektor": Role.PRINCIPAL,
    "chef": Role.PRINCIPAL,
    "manager": Role.MANAGER,
    "huvudman": Role.MANAGER,
}


def role_label(t: Translator, role: Role) -> str:
    return t._(ROLE_LABELS[role])


def parse_role(t: Translator, word: str) -> Role:
    role = ROLE_WORDS.get(word.strip().lower())
    if role is None:
        raise UsageError(t._("%(word)s is not a role: use staff, principal or manager.", word=word))
    return role


# ------------------------------------------------------------------ finding units, checking rights


def find_unit(ctx: Context, name: str) -> Unit:
    """The unit a command names: exact name (any case), else the one unit whose name contains it."""
    t = ctx.t
    wanted = name.strip().casefold()
    if not wanted:
        raise UsageError(t._('Which unit? Write its name, for example: unit members "Ystad bibliotek"'))
    units = ctx.session.scalars(select(Unit).order_by(Unit.name)).all()
    exact = [u for u in units if u.name.casefold() == wanted]
    if exact:
        return exact[0]
    partial = [u for u in units if wanted in u.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise UsageError(
            t._(
                "Several units match %(name)s: %(units)s. Write the full name.",
                name=name,
                units=", ".join(u.name for u in partial),
            )
        )
    raise UsageError(t._("I don't know a unit called %(name)s. Type unit list to see the units.", name=name))


def managed_units(ctx: Context) -> set[int]:
    """Units the person may change: as visible_units (principal: own unit; manager: below them)."""
    return visible_units(ctx.session, ctx.person)


def require_unit_rights(ctx: Context, unit: Unit) -> None:
    if unit.id not in managed_units(ctx):
        raise UsageError(
            ctx.t._(
                "Sorry, %(unit)s is not one of your units, so nothing was changed.",
                unit=unit.name,
            )
        )


def grantable_roles(ctx: Context, unit: Unit) -> set[Role]:
    """The roles this person may hand out in this unit."""
    if ctx.person.is_admin:
        return set(Role)
    memberships = ctx.session.execute(
        select(Membership.unit_id, Membership.role).where(Membership.person_id == ctx.person.id)
    ).all()
    managed = {unit_id for unit_id, role in memberships if role is Role.MANAGER}
    if unit.id in descendants(ctx.session, managed):
        return {Role.STAFF, Role.PRINCIPAL}
    if (unit.id, Role.PRINCIPAL) in {(u, r) for u, r in memberships}:
        return {Role.STAFF}
    return set()


def require_grantable(ctx: Context, unit: Unit, role: Role) -> None:
    if role not in grantable_roles(ctx, unit):
        raise UsageError(
            ctx.t._(
                "Sorry, you can't give the role %(role)s in %(unit)s, so nothing was changed.",
                role=role_label(ctx.t, role),
                unit=unit.name,
            )
        )


# ------------------------------------------------------------------ commands


def unit_create(ctx: Context, args: list[str]) -> list[Reply]:
    """`unit create NAME [parent NAME]`."""
    t = ctx.t
    options = split_options(t, args, valued=("parent",))
    name = options.text
    if not name:
        raise UsageError(
            t._(
                'Write the name of the unit, for example: unit create "Ystad bibliotek" parent "Region Skåne"'
            )
        )
    if len(name) > MAX_NAME:
        raise UsageError(t._("That name is too long (at most %(n)s characters).", n=MAX_NAME))
    # Compared in Python: SQLite's lower() leaves å, ä and ö alone.
    taken = next((u for u in ctx.session.scalars(select(Unit)) if u.name.casefold() == name.casefold()), None)
    if taken is not None:
        raise UsageError(t._("There is already a unit called %(name)s.", name=taken.name))
    parent = find_unit(ctx, options.values["parent"]) if "parent" in options.values else None
    unit = Unit(name=name, parent_id=parent.id if parent else None, created_at=ctx.now)
    ctx.session.add(unit)
    ctx.session.flush()
    audit.record(
        ctx, "unit.create", {"unit": unit.id, "name": name, "parent": parent.name if parent else None}
    )
    if parent is not None:
        return [Reply(t._("Created %(name)s under %(parent)s.", name=name, parent=parent.name))]
    return [Reply(t._("Created %(name)s.", name=name))]


def unit_list(ctx: Context, _args: list[str]) -> list[Reply]:
    """The units the person may see, as a tree, with member counts per role."""
    t = ctx.t
    allowed = managed_units(ctx)
    units = [u for u in ctx.session.scalars(select(Unit).order_by(Unit.name)) if u.id in allowed]
    if not units:
        return [Reply(t._("There are no units yet. Create one with unit create."))]
    counts: dict[int, Counter[Role]] = {}
    for unit_id, role in ctx.session.execute(select(Membership.unit_id, Membership.role)):
        counts.setdefault(unit_id, Counter())[role] += 1
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        parent = unit.parent_id if unit.parent_id in allowed else None
        children.setdefault(parent, []).append(unit)
    lines = [t._("Units:")]

    def walk(parent: int | None, depth: int) -> None:
        for unit in children.get(parent, []):
            lines.append("  " * depth + "• " + unit.name + " " + _member_summary(t, counts.get(unit.id)))
            walk(unit.id, depth + 1)

    walk(None, 0)
    return [Reply("\n".join(lines))]


def _member_summary(t: Translator, counts: Counter[Role] | None) -> str:
    if not counts:
        return t._("(no members yet)")
    total = sum(counts.values())
    parts = [f"{counts[role]} {role_label(t, role)}" for role in Role if counts[role]]
    return "(" + t.ngettext("%(n)s member", "%(n)s members", total) + ": " + ", ".join(parts) + ")"


def unit_invite(ctx: Context, args: list[str]) -> list[Reply]:
    """`unit invite UNIT [role R] [uses N] [days D]`: a join code (and a Telegram deep link)."""
    t = ctx.t
    options = split_options(t, args, valued=("role", "uses", "days"))
    unit = find_unit(ctx, options.text)
    require_unit_rights(ctx, unit)
    role = parse_role(t, options.values["role"]) if "role" in options.values else Role.STAFF
    require_grantable(ctx, unit, role)
    uses = _bounded(t, options.values.get("uses", "1"), "uses", 1, MAX_INVITE_USES)
    days = _bounded(t, options.values.get("days", str(DEFAULT_INVITE_DAYS)), "days", 1, MAX_INVITE_DAYS)
    expires_at = ctx.now + timedelta(days=days)
    row = join_codes.create(
        ctx.session,
        ctx.now,
        unit_id=unit.id,
        role=role,
        max_uses=uses,
        expires_at=expires_at,
        created_by=ctx.person.id,
    )
    audit.record(
        ctx,
        "unit.invite",
        {"unit": unit.id, "name": unit.name, "role": role.value, "uses": uses, "days": days},
    )
    expiry = t.date(expires_at.astimezone(person_zone(ctx)).date(), "weekday")
    lines = [
        t._(
            "Join code for %(unit)s (%(role)s): %(code)s",
            unit=unit.name,
            role=role_label(t, role),
            code=row.code,
        ),
        t.ngettext(
            "It can be used once and is valid until %(date)s.",
            "It can be used %(n)s times and is valid until %(date)s.",
            uses,
            date=expiry,
        ),
        t._("Whoever gets it writes to me: join %(code)s", code=row.code),
    ]
    username = ctx.config.telegram_bot_username
    if ctx.incoming.platform == "telegram" and username:
        lines.append(
            t._(
                "Or they open this link in Telegram: %(link)s",
                link=f"https://t.me/{username.lstrip('@')}?start={row.code}",
            )
        )
    return [Reply("\n".join(lines))]


def person_zone(ctx: Context) -> ZoneInfo:
    return ZoneInfo(ctx.person.timezone or ctx.config.default_timezone)


def _bounded(t: Translator, raw: str, word: str, low: int, high: int) -> int:
    if not digits(raw) or not low <= int(raw) <= high:
        raise UsageError(
            t._("%(word)s must be a number from %(low)s to %(high)s.", word=word, low=low, high=high)
        )
    return int(raw)


def unit_members(ctx: Context, args: list[str]) -> list[Reply]:
    """`unit members UNIT`: names and roles."""
    t = ctx.t
    unit = find_unit(ctx, " ".join(args))
    require_unit_rights(ctx, unit)
    rows = ctx.session.execute(
        select(Person, Membership.role)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.unit_id == unit.id)
    ).all()
    if not rows:
        return [Reply(t._("%(unit)s has no members yet. Invite people with unit invite.", unit=unit.name))]
    listed = sorted((person_lookup.label(ctx.session, person), role_label(t, role)) for person, role in rows)
    lines = [t._("Members of %(unit)s:", unit=unit.name)]
    lines.extend(f"• {name} ({role})" for name, role in listed)
    return [Reply("\n".join(lines))]


def unit_role(ctx: Context, args: list[str]) -> list[Reply]:
    """`unit role @person ROLE [UNIT]`: change a member's role."""
    t = ctx.t
    if len(args) < 2:
        raise UsageError(
            t._("Write unit role, the person and the role, for example: unit role @anna principal")
        )
    query, role = args[0], parse_role(t, args[1])
    unit_name = " ".join(args[2:]).strip()
    if unit_name:
        unit = find_unit(ctx, unit_name)
        require_unit_rights(ctx, unit)
        unit_ids = {unit.id}
        where = unit.name
    else:
        unit_ids = managed_units(ctx)
        where = t._("your units")
    memberships = ctx.session.scalars(select(Membership).where(Membership.unit_id.in_(unit_ids))).all()
    asked = person_lookup.Asked("unit role", tuple(args), query)
    person = person_lookup.resolve(ctx, query, [m.person for m in memberships], where, asked)
    theirs = [m for m in memberships if m.person_id == person.id]
    name = person_lookup.label(ctx.session, person)
    if len(theirs) > 1:
        raise UsageError(
            t._(
                '%(name)s is in several units (%(units)s). Add the unit, for example: unit role @%(query)s %(role)s "%(unit)s"',
                name=name,
                units=", ".join(sorted(m.unit.name for m in theirs)),
                query=query.removeprefix("@"),
                role=args[1],
                unit=theirs[0].unit.name,
            )
        )
    membership = theirs[0]
    require_grantable(ctx, membership.unit, role)
    # Taking a role away needs the same right as giving it.
    require_grantable(ctx, membership.unit, membership.role)
    if membership.role is role:
        return [
            Reply(
                t._(
                    "%(name)s is already %(role)s in %(unit)s.",
                    name=name,
                    role=role_label(t, role),
                    unit=membership.unit.name,
                )
            )
        ]
    previous = membership.role
    membership.role = role
    audit.record(
        ctx,
        "unit.role",
        {"person": person.id, "unit": membership.unit_id, "from": previous.value, "to": role.value},
    )
    return [
        Reply(
            t._(
                "%(name)s is now %(role)s in %(unit)s.",
                name=name,
                role=role_label(t, role),
                unit=membership.unit.name,
            )
        )
    ]


def register(registry: Registry) -> None:
    registry.command(
        "unit create",
        Audience.ADMIN,
        N_("create a unit, optionally under a parent unit"),
        'unit create "Ystad bibliotek" parent "Region Skåne"',
    )(unit_create)
    registry.command(
        "unit list", Audience.PRINCIPAL, N_("your units as a tree, with member counts"), "unit list"
    )(unit_list)
    registry.command(
        "unit invite",
        Audience.PRINCIPAL,
        N_("a join code for a unit (role, number of uses, days valid)"),
        'unit invite "Ystad bibliotek" role staff uses 20 days 14',
    )(unit_invite)
    registry.command(
        "unit members",
        Audience.PRINCIPAL,
        N_("the members of a unit and their roles"),
        'unit members "Ystad bibliotek"',
    )(unit_members)
    registry.command(
        "unit role",
        Audience.MANAGER,
        N_("change a member's role"),
        'unit role @anna principal "Ystad bibliotek"',
    )(unit_role)
