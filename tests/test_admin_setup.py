"""The whole set-up in chat: an admin claims the bot, builds a region with two libraries, invites
people, uploads a new instrument version (and a broken one), opens a round; five staff join and
complete it; `round status` shows the counts."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.clock import ManualClock
from bot.messages import Address, Reply
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from instruments import bundled_files
from storage.models import (
    AuditLog,
    Identity,
    InstrumentVersion,
    JoinCode,
    Outbox,
    Person,
    Round,
    RoundParticipant,
)
from tests.harness import Conversation, texts
from tests.org_setup import claim_admin, code_from, person

ROOT = Path(__file__).resolve().parent.parent


class RecordingSender:
    """Stands in for a platform: keeps what the outbox dispatcher sends, per user."""

    platform = "console"

    def __init__(self) -> None:
        self.sent: dict[str, list[Reply]] = {}

    def send(self, address: Address, replies: Sequence[Reply]) -> None:
        self.sent.setdefault(address.user_id, []).extend(replies)


def library_source() -> str:
    path = next(p for p in bundled_files() if p.name == "digcomp-library.yaml")
    return path.read_text(encoding="utf-8")


def complete_round(conversation: Conversation, payload: str) -> list[Reply]:
    conversation.press(payload)
    for _ in range(4):  # background questions
        conversation.press(conversation.choices()[0].payload)
    replies: list[Reply] = []
    for _ in range(24):
        replies = conversation.click("5")
    return replies


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_admin_sets_up_region_and_five_staff_complete_a_round(runtime: Runtime, clock: ManualClock) -> None:
    admin = claim_admin(runtime)

    assert "Created Region Skåne." in texts(admin.say('unit create "Region Skåne"'))
    assert "Created Ystad bibliotek under Region Skåne." in texts(
        admin.say('unit create "Ystad bibliotek" parent "Region Skåne"')
    )
    admin.say("unit create Lunds bibliotek parent Region Skåne")  # quotes are optional
    tree = texts(admin.say("unit list"))
    assert (
        tree.index("• Region Skåne") < tree.index("  • Lunds bibliotek") < tree.index("  • Ystad bibliotek")
    )

    ystad_staff = code_from(admin.say('unit invite "Ystad bibliotek" role staff uses 3 days 14'))
    lund_staff = code_from(admin.say('unit invite "Lunds bibliotek" uses 2'))
    principal_code = code_from(admin.say('unit invite "Ystad bibliotek" role principal'))
    assert "It can be used 3 times" in texts(admin.history[-3:])

    # A new version of the library instrument, as a file attachment.
    new_version = library_source().replace(
        'en: "Digital competence for library staff"', 'en: "Digital competence for library staff, 2026"'
    )
    assert "Installed digcomp-library version 2." in texts(
        admin.upload("digcomp-library.yaml", new_version.encode())
    )
    # A broken file: every problem with its line, nothing stored.
    versions_before = count(runtime, InstrumentVersion)
    broken = (
        library_source().replace("points: 7", "points: 12").replace('sv: "Vilken är din yrkesroll?", ', "")
    )
    report = texts(admin.upload("broken.yaml", broken.encode()))
    assert "broken.yaml has 2 problems, nothing was saved:" in report
    assert "line 15, scale.points: 12 is more than the maximum of 10" in report
    assert "line 27, background[0].text.sv" in report
    assert count(runtime, InstrumentVersion) == versions_before
    assert "is now active" in texts(admin.say("instrument activate digcomp-library 2"))

    # The principal and three Ystad staff join before the round opens...
    pia = person(runtime, "pia", "Pia Principal", principal_code)
    ystad = [
        person(runtime, f"y{i}", name, ystad_staff) for i, name in enumerate(["Ylva", "Yngve", "Yasmin"])
    ]
    assert "You are now a member of Ystad bibliotek" in texts(ystad[0].history)

    opened = texts(
        admin.say(
            'round open digcomp-library "Region Skåne" closes 2026-12-12 with-subunits name "Autumn 2026" threshold 3'
        )
    )
    assert (
        "Round #1 (Autumn 2026) is open for Region Skåne and 2 units below it until Saturday 12 December 2026."
        in opened
    )
    assert "I am sending invitations to 4 people." in opened

    # ...and get their invitation through the outbox, from 09:30 in Stockholm (it is 09:00).
    sender = RecordingSender()
    Dispatcher(runtime.sessions, {"console": sender}, clock).drain()
    assert sender.sent == {}
    clock.advance(seconds=30 * 60)
    Dispatcher(runtime.sessions, {"console": sender}, clock).drain()
    assert set(sender.sent) == {"pia", "y0", "y1", "y2"}
    invitation = sender.sent["y0"][0]
    assert "You are invited to the assessment Autumn 2026 for Ystad bibliotek" in invitation.text
    assert [c.payload for c in invitation.flat_choices] == ["o:1"]

    # Two Lund staff join after it opened: the join reply offers the round.
    lund = [person(runtime, f"l{i}", name, lund_staff) for i, name in enumerate(["Lisa", "Leo"])]
    assert "Lunds bibliotek has an assessment open for you" in texts(lund[0].history)
    assert lund[0].choices()[0].payload == "o:1"

    for conversation in ystad:
        done = complete_round(conversation, "o:1")
        assert "Done! Thank you" in texts(done)
    for conversation in lund:
        done = complete_round(conversation, conversation.choices()[0].payload)
        assert "Done! Thank you" in texts(done)
    pia.press("o:1")  # started, not finished

    status = texts(admin.say("round status"))
    assert "#1 Autumn 2026 · digcomp-library v2 · open until 12 December 2026" in status
    assert "Lunds bibliotek: 2 invited · 2 started · 2 completed" in status
    assert "Ystad bibliotek: 4 invited · 4 started · 3 completed" in status
    assert "Total: 6 invited · 6 started · 5 completed" in status
    for name in ("Ylva", "Lisa", "Pia"):
        assert name not in status

    # The principal sees only their own unit's line.
    own = texts(pia.say("round status 1"))
    assert "Ystad bibliotek: 4 invited" in own
    assert "Lunds bibliotek" not in own

    # Opening the same round again invites nobody twice.
    again = texts(admin.say('round open digcomp-library "Region Skåne" closes 2026-12-12 with-subunits'))
    assert "Round #1 (Autumn 2026) is already open" in again
    assert "Everyone there is already invited; the round's settings are unchanged." in again
    with runtime.sessions() as session:
        invites = session.scalars(select(Outbox.idempotency_key).where(Outbox.kind == "invite")).all()
        assert sorted(invites) == sorted(
            f"invite:1:{pid}" for pid in _person_ids(session, "pia", "y0", "y1", "y2")
        )
        assert session.scalar(select(func.count()).select_from(Round)) == 1
        assert session.scalar(select(func.count()).select_from(RoundParticipant)) == 6

    log = texts(admin.say("audit"))
    for action in (
        "unit.create",
        "unit.invite",
        "instrument.upload",
        "instrument.activate",
        "round.open",
        "admin.claim",
    ):
        assert action in log
    assert "Alva Admin" in log


def _person_ids(session: Session, *user_ids: str) -> list[int]:
    return list(session.scalars(select(Identity.person_id).where(Identity.platform_user_id.in_(user_ids))))


def test_claim_code_is_single_use_and_gone_once_there_is_an_admin(runtime: Runtime) -> None:
    code = runtime.admin_claim_code
    claim_admin(runtime)
    intruder = Conversation(runtime.engine, "eve", display_name="Eve")
    assert "has already been used" in texts(intruder.say(f"join {code}"))
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Person).where(Person.is_admin)) == 1


def test_restart_without_admin_offers_the_same_code_and_with_admin_none(
    runtime: Runtime, clock: ManualClock
) -> None:
    from bot import runtime as runtime_module

    again = runtime_module.start(runtime.config, clock)
    assert again.admin_claim_code == runtime.admin_claim_code
    claim_admin(runtime)
    after = runtime_module.start(runtime.config, clock)
    assert after.admin_claim_code is None
    again.db.dispose()
    after.db.dispose()


def test_admin_makes_another_admin(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    bo = Conversation(runtime.engine, "bo", display_name="Bo Berg")
    bo.say("help")
    assert "Bo Berg is now an administrator." in texts(admin.say("admin grant @bo"))
    assert "unit create" in texts(bo.say("help"))
    assert "admin.grant" in texts(admin.say("audit 5"))


def test_pasted_yaml_is_installed_and_validate_stores_nothing(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    source = library_source().replace("id: digcomp-library", "id: library-pilot")
    checked = texts(admin.say("instrument validate\n" + source))
    assert "message.yaml is valid: library-pilot with 24 statements. Nothing was saved." in checked
    assert "I don't know an instrument called library-pilot" in texts(
        admin.say("instrument show library-pilot")
    )
    assert "Installed library-pilot version 1; it is active." in texts(
        admin.say("instrument upload\n" + source)
    )
    listing = texts(admin.say("instrument list"))
    assert "• library-pilot: Digital competence for library staff · active version 1 · 1 version" in listing
    shown = texts(admin.say("instrument show library-pilot"))
    assert "version 1 (message.yaml" in shown
    assert "0 responses, 0 rounds · active" in shown
    assert "already installed" in texts(admin.say("instrument upload\n" + source))
    assert "Attach the instrument file" in texts(admin.say("instrument upload"))


def test_invite_on_telegram_shows_a_deep_link(runtime: Runtime) -> None:
    runtime.engine.config = replace(runtime.engine.config, telegram_bot_username="assess_demo_bot")
    claim = runtime.admin_claim_code
    admin = Conversation(runtime.engine, "4711", platform="telegram", display_name="Alva")
    admin.say(f"/start {claim}")
    admin.say('unit create "Ystad bibliotek"')
    replies = admin.say('unit invite "Ystad bibliotek" uses 20 days 30')
    code = code_from(replies)
    assert f"https://t.me/assess_demo_bot?start={code}" in texts(replies)
    assert "It can be used 20 times and is valid until Wednesday 23 December 2026." in texts(replies)
    # A lower-case code typed on a phone works too.
    newcomer = Conversation(runtime.engine, "4712", platform="telegram", display_name="Ola")
    assert "You are now a member of Ystad bibliotek" in texts(newcomer.say(f"/start {code.lower()}"))
    with runtime.sessions() as session:
        row = session.scalar(select(JoinCode).where(JoinCode.code == code))
        assert row is not None
        assert row.uses == 1
        assert row.max_uses == 20
        assert re.fullmatch(r"[2-9A-HJ-NP-Z]{6}", code)


def test_command_line_names_the_first_admin(runtime: Runtime, db_url: str, tmp_path: Path) -> None:
    env = {"ASSESSBOT_DATABASE_URL": db_url, "ASSESSBOT_OUTPUT_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "admin", "add", "--platform", "telegram", "--user", "12345"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "telegram:12345 is now an administrator." in result.stdout
    with runtime.sessions() as session:
        identity = session.scalar(select(Identity).where(Identity.platform_user_id == "12345"))
        assert identity is not None
        assert identity.person.is_admin
        assert session.scalar(select(AuditLog.action).where(AuditLog.action == "admin.add")) == "admin.add"
    # The claim code printed at first start no longer works.
    eve = Conversation(runtime.engine, "eve", display_name="Eve")
    refused = texts(eve.say(f"join {runtime.admin_claim_code}"))
    assert "has already been used" in refused or "has expired" in refused
    # The first admin, writing from Telegram, has the admin commands.
    boss = Conversation(runtime.engine, "12345", platform="telegram", display_name="Boss")
    assert "round open" in texts(boss.say("help"))


def test_admin_sets_up_through_the_terminal_adapter(runtime: Runtime, tmp_path: Path) -> None:
    import io

    from adapters.console import ConsoleAdapter

    upload = tmp_path / "library-v2.yaml"
    upload.write_text(library_source().replace("Digital competence for library staff", "Library skills 2026"))
    out = io.StringIO()
    terminal = ConsoleAdapter(runtime.engine, user="alva", locale_hint="en", out=out, output_dir=tmp_path)
    terminal.run(
        [
            f"join {runtime.admin_claim_code}",
            'unit create "Region Skåne"',
            'unit create "Ystad bibliotek" parent "Region Skåne"',
            "unit invite Ystad uses 5",
            f"instrument upload {upload}",
            "instrument activate digcomp-library 2",
            'round open digcomp-library "Ystad bibliotek" closes 2026-12-12',
            "round status",
        ],
        prompt=False,
    )
    shown = out.getvalue()
    assert "Installed digcomp-library version 2." in shown
    assert (
        "Round #1 (Library skills 2026) is open for Ystad bibliotek until Saturday 12 December 2026." in shown
    )
    assert "Ystad bibliotek: 0 invited · 0 started · 0 completed" in shown
