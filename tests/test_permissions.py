"""Who may run which admin command, one row per command and role.

Staff cannot run principal or admin commands; a principal's commands touch only their own unit; a
manager sees only the units below them; an admin can do everything. A refused command gets a clear
message and changes nothing in the database.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from instruments import bundled_files
from storage.models import (
    AuditLog,
    InstrumentVersion,
    JoinCode,
    Membership,
    Outbox,
    Person,
    Round,
    RoundParticipant,
    RoundUnit,
    Unit,
)
from storage.models import Instrument as InstrumentRow
from tests.harness import Conversation, texts
from tests.org_setup import Organisation, build_organisation

ROLES = ("staff", "principal", "manager", "admin")
REFUSALS = (
    "you don't have permission",
    "is not one of your units",
    "you can't give the role",
    "I don't know a round",
)

# (command, the roles that may run it). Units: Region Skåne > Ystad, Lund; Region Halland > Halmstad.
# The principal leads Ystad; the manager is attached to Region Skåne; round 1 is Ystad's, 2 Halmstad's.
TABLE: list[tuple[str, set[str]]] = [
    ('unit create "Malmö bibliotek" parent "Region Skåne"', {"admin"}),
    ("unit list", {"principal", "manager", "admin"}),
    ('unit invite "Ystad bibliotek"', {"principal", "manager", "admin"}),
    ('unit invite "Lunds bibliotek"', {"manager", "admin"}),
    ('unit invite "Halmstad bibliotek"', {"admin"}),
    ('unit invite "Ystad bibliotek" role principal', {"manager", "admin"}),
    ('unit invite "Region Skåne" role manager', {"admin"}),
    ('unit members "Ystad bibliotek"', {"principal", "manager", "admin"}),
    ('unit members "Lunds bibliotek"', {"manager", "admin"}),
    ('unit members "Halmstad bibliotek"', {"admin"}),
    ('unit role @sven principal "Ystad bibliotek"', {"manager", "admin"}),
    ("unit role @lars principal", {"manager", "admin"}),
    ('unit role @hanna principal "Halmstad bibliotek"', {"admin"}),
    ('unit role @pia staff "Ystad bibliotek"', {"manager", "admin"}),
    ("unit role @maja staff", {"admin"}),
    ("instrument upload\n{pilot}", {"admin"}),
    ("instrument validate\n{pilot}", {"admin"}),
    ("instrument list", {"admin"}),
    ("instrument show digcomp-library", {"admin"}),
    ("instrument activate school-digital-maturity 1", {"admin"}),
    ('round open digcomp-library "Lunds bibliotek" closes 2026-12-12', {"admin"}),
    ("round status", {"principal", "manager", "admin"}),
    ("round status 1", {"principal", "manager", "admin"}),
    ("round status 2", {"admin"}),
    ("round list", {"principal", "manager", "admin"}),
    ("round close 1", {"admin"}),
    ("round close 2", {"admin"}),
    ("admin grant @sven", {"admin"}),
    ("audit", {"admin"}),
]


def pilot_source() -> str:
    path = next(p for p in bundled_files() if p.name == "digcomp-library.yaml")
    return path.read_text(encoding="utf-8").replace("id: digcomp-library", "id: pilot")


def snapshot(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    """Every row an admin command could change."""
    columns = {
        Unit: (Unit.id, Unit.name, Unit.parent_id),
        Membership: (Membership.id, Membership.person_id, Membership.unit_id, Membership.role),
        JoinCode: (JoinCode.id, JoinCode.code, JoinCode.uses, JoinCode.max_uses, JoinCode.expires_at),
        InstrumentRow: (InstrumentRow.id, InstrumentRow.active_version_id),
        InstrumentVersion: (InstrumentVersion.id,),
        Round: (Round.id, Round.status, Round.closes_at),
        RoundUnit: (RoundUnit.round_id, RoundUnit.unit_id),
        RoundParticipant: (RoundParticipant.id, RoundParticipant.person_id),
        Outbox: (Outbox.id, Outbox.state),
        AuditLog: (AuditLog.id,),
        Person: (Person.id, Person.is_admin),
    }
    with runtime.sessions() as session:
        return {
            model.__name__: [tuple(row) for row in session.execute(select(*cols).order_by(*cols))]
            for model, cols in columns.items()
        }


@pytest.fixture
def organisation(runtime: Runtime) -> Organisation:
    org = build_organisation(runtime)
    admin = org.admin
    admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-12')
    admin.say('round open digcomp-library "Halmstad bibliotek" closes 2026-12-12')
    return org


def as_role(org: Organisation, role: str) -> Conversation:
    return {"staff": org.staff, "principal": org.principal, "manager": org.manager, "admin": org.admin}[role]


@pytest.mark.parametrize(("command", "allowed"), TABLE, ids=[c.split("\n")[0] for c, _ in TABLE])
def test_permission_table(
    runtime: Runtime, organisation: Organisation, command: str, allowed: set[str]
) -> None:
    """Each role runs the command on the same organisation: the refused ones first, so each
    refusal is checked against an untouched database, then the ones allowed to run it."""
    text = command.replace("{pilot}", pilot_source())
    for role in sorted(ROLES, key=lambda r: r in allowed):
        before = snapshot(runtime)
        reply = texts(as_role(organisation, role).say(text))
        refused = any(phrase.lower() in reply.lower() for phrase in REFUSALS)
        if role in allowed:
            assert not refused, (role, reply)
            assert "something went wrong" not in reply, (role, reply)
        else:
            assert refused, (role, reply)
            assert snapshot(runtime) == before, role


def test_help_lists_only_what_each_role_may_run(runtime: Runtime, organisation: Organisation) -> None:
    commands = [
        "unit create",
        "unit list",
        "unit invite",
        "unit members",
        "unit role",
        "instrument upload",
        "instrument validate",
        "instrument list",
        "instrument show",
        "instrument activate",
        "round open",
        "round status",
        "round list",
        "round close",
        "admin grant",
        "audit",
    ]
    expected = {
        "staff": set(),
        "principal": {"unit list", "unit invite", "unit members", "round status", "round list"},
        "manager": {"unit list", "unit invite", "unit members", "unit role", "round status", "round list"},
        "admin": set(commands),
    }
    for role in ROLES:
        listed = texts(as_role(organisation, role).say("help"))
        shown = {c for c in commands if f"• {c}:" in listed}
        assert shown == expected[role], role


def test_every_admin_command_has_a_summary_and_an_example(runtime: Runtime) -> None:
    mine = [
        c
        for c in runtime.engine.registry.commands
        if c.words[0] in ("unit", "instrument", "round", "admin", "audit")
    ]
    assert len(mine) >= 16  # the admin branch's 16, plus `unit results` and `unit announce`
    for command in mine:
        assert command.summary
        assert command.example.startswith(" ".join(command.words))


def test_refusals_name_the_problem(runtime: Runtime, organisation: Organisation) -> None:
    staff = texts(organisation.staff.say("unit list"))
    assert "Sorry, you don't have permission to do that." in staff
    principal = texts(organisation.principal.say('unit invite "Lunds bibliotek"'))
    assert "Sorry, Lunds bibliotek is not one of your units, so nothing was changed." in principal
    role = texts(organisation.principal.say('unit invite "Ystad bibliotek" role principal'))
    assert "Sorry, you can't give the role principal in Ystad bibliotek, so nothing was changed." in role
    manager = texts(organisation.manager.say('unit members "Halmstad bibliotek"'))
    assert "Halmstad bibliotek is not one of your units" in manager


def test_manager_sees_only_units_below_them(runtime: Runtime, organisation: Organisation) -> None:
    tree = texts(organisation.manager.say("unit list"))
    assert "Region Skåne" in tree
    assert "Ystad bibliotek" in tree
    assert "Lunds bibliotek" in tree
    assert "Halland" not in tree
    assert "Halmstad" not in tree
    principal_tree = texts(organisation.principal.say("unit list"))
    assert "Ystad bibliotek" in principal_tree
    assert "Lunds" not in principal_tree
    rounds = texts(organisation.manager.say("round list"))
    assert "#1" in rounds
    assert "#2" not in rounds
