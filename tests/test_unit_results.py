"""Principals, managers and admins look at a unit's result; staff hear "You said, we did"."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import openpyxl
from sqlalchemy import func, select

from bot.runtime import Runtime
from storage.db import transaction
from storage.models import ActionPlan, Identity, Membership, Outbox, Person, PlanItem, Role
from tests.charts_png import png_size
from tests.harness import Conversation, texts
from tests.report_data import GOLDEN, PREVIOUS, add_responses, install_mini, make_round, make_unit

ROOT = Path(__file__).resolve().parent.parent


def person_id(runtime: Runtime, who: Conversation) -> int:
    with runtime.sessions() as session:
        found = session.scalar(select(Identity.person_id).where(Identity.platform_user_id == who.user_id))
    assert found is not None
    return found


def join(runtime: Runtime, who: Conversation, unit: int | None, role: Role | None = None) -> int:
    """Make the conversation's person exist, then a member of `unit` (or an admin when role is None)."""
    who.say("help")
    pid = person_id(runtime, who)
    with transaction(runtime.sessions) as session:
        if unit is None:
            person = session.get(Person, pid)
            assert person is not None
            person.is_admin = True
        else:
            session.add(Membership(person_id=pid, unit_id=unit, role=role, joined_at=runtime.clock.now()))
    return pid


def school(runtime: Runtime) -> tuple[int, int, int]:
    """A municipality with one school that answered two rounds (spring: 3 people, autumn: 6 of 7)."""
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        town = make_unit(session, "Ystad municipality", now)
        unit = make_unit(session, "Ystad school", now, parent_id=town)
        spring = make_round(session, version, unit, now, name="Spring 2026", threshold=3, opens_days_ago=200)
        add_responses(session, spring, unit, version, PREVIOUS, now - timedelta(days=190))
        autumn = make_round(session, version, unit, now, name="Autumn 2026", threshold=3)
        add_responses(session, autumn, unit, version, GOLDEN, now - timedelta(days=5), invited_extra=1)
    return town, unit, autumn


def test_principal_sees_the_unit_result_with_charts_and_gets_the_workshop_pack(runtime: Runtime) -> None:
    _, unit, _ = school(runtime)
    pia = Conversation(runtime.engine, "pia", display_name="Pia Rektor")
    join(runtime, pia, unit, Role.PRINCIPAL)
    replies = pia.say("unit results")
    text = texts(replies)
    assert 'Ystad school · Round "Autumn 2026" · 6 of 7 answered (86%)' in text
    assert "• Collaboration 2.8 (spread 1.2) (+0.8 since Spring 2026)" in text
    assert "The views differ most on Technology: Teacher 4.2, Principal 2.7." in text
    assert "Weakest statements (for the workshop):\nA2 We plan together. (2.7)" in text
    images = [r.image for r in replies if r.image is not None]
    assert len(images) == 2
    assert all(png_size(i.content)[0] == 1080 for i in images)
    pack = pia.click("Workshop pack (PDF)")
    assert pack[0].file is not None
    assert pack[0].file.content.startswith(b"%PDF")
    sheet = pia.say('unit results "Ystad school" "Autumn 2026" workshop xlsx')
    assert sheet[0].file is not None
    workbook = openpyxl.load_workbook(io.BytesIO(sheet[0].file.content))
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    assert [row[1] for row in rows[1:]] == ["A2", "A1", "B1", "B2"]
    assert rows[1][7:12] == (1, 2, 1, 2, 0)


def test_earlier_round_by_name_and_swedish_numbers(runtime: Runtime) -> None:
    _, unit, _ = school(runtime)
    pia = Conversation(runtime.engine, "pia", display_name="Pia Rektor", locale_hint="sv")
    join(runtime, pia, unit, Role.PRINCIPAL)
    text = texts(pia.say('unit results "Ystad school" "Spring 2026"'))
    assert 'Omgång "Spring 2026" · 3 av 3 har svarat (100\xa0%)' in text
    assert "• Samarbete 2,0 (spridning 1,0)" in text


def test_who_may_see_a_unit_result(runtime: Runtime) -> None:
    town, unit, _ = school(runtime)
    with transaction(runtime.sessions) as session:
        other = make_unit(session, "Malmö school", runtime.clock.now())
    staff = Conversation(runtime.engine, "sam")
    join(runtime, staff, unit, Role.STAFF)
    assert "don't have permission" in texts(staff.say('unit results "Ystad school"'))
    elsewhere = Conversation(runtime.engine, "olle")
    join(runtime, elsewhere, other, Role.PRINCIPAL)
    assert "only see results of units you are responsible for" in texts(
        elsewhere.say('unit results "Ystad school"')
    )
    manager = Conversation(runtime.engine, "maja")
    join(runtime, manager, town, Role.MANAGER)
    assert "6 of 7 answered" in texts(manager.say('unit results "Ystad school"'))
    admin = Conversation(runtime.engine, "ada")
    join(runtime, admin, None)
    assert "6 of 7 answered" in texts(admin.say('unit results "Ystad school" "Autumn 2026"'))


def test_admin_exports_the_aggregates_and_never_the_individual_answers(runtime: Runtime) -> None:
    _, unit, _ = school(runtime)
    admin = Conversation(runtime.engine, "ada", display_name="Ada Admin")
    join(runtime, admin, None)
    exported = admin.say('export "Ystad school" csv')
    files = [r.file.filename for r in exported if r.file is not None]
    assert len(files) == 1
    assert files[0].endswith("-results.csv")
    aggregates = exported[0].file.content.decode("utf-8-sig") if exported[0].file else ""
    assert "Person" not in aggregates
    assert "Collaboration,6,2.75,1.214" in aggregates
    assert "pseudonym" not in aggregates
    assert "YES" not in texts(exported)
    assert all(r.file is None for r in admin.say("YES"))
    xlsx = admin.say('export "Ystad school" xlsx')
    assert xlsx[0].file is not None
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx[0].file.content))
    assert len(workbook.worksheets) == 2
    # A principal cannot export.
    pia = Conversation(runtime.engine, "pia")
    join(runtime, pia, unit, Role.PRINCIPAL)
    assert "don't have permission" in texts(pia.say('export "Ystad school" csv'))


def test_staff_hear_what_was_said_and_what_will_be_done_once(runtime: Runtime) -> None:
    _, unit, round_id = school(runtime)
    pia = Conversation(runtime.engine, "pia", display_name="Pia Rektor")
    pid = join(runtime, pia, unit, Role.PRINCIPAL)
    assert "No actions have been adopted" in texts(pia.say("unit announce"))
    with transaction(runtime.sessions) as session:
        plan = ActionPlan(unit_id=unit, round_id=round_id, created_by=pid, created_at=runtime.clock.now())
        session.add(plan)
        session.flush()
        session.add(
            PlanItem(
                plan_id=plan.id,
                text="Plan one lesson together each month",
                due_date=date(2027, 1, 15),
                created_at=runtime.clock.now(),
            )
        )
        members = session.scalar(
            select(func.count()).select_from(Membership).where(Membership.unit_id == unit)
        )
    assert "Sent to" in texts(pia.say("unit announce"))
    assert "already been told" in texts(pia.say("unit announce"))
    with runtime.sessions() as session:
        queued = session.scalars(select(Outbox).where(Outbox.kind == "announce")).all()
    assert len(queued) == members
    assert {q.idempotency_key for q in queued} == {f"announce:{round_id}:{q.person_id}" for q in queued}
    message = str(queued[0].payload[0]["text"])
    assert "You said, we did: Ystad school, round Autumn 2026" in message
    assert "1) Plan one lesson together each month (by 15 January)" in message
    assert "• Technology 3.4" in message


def test_report_command_line_writes_the_files(runtime: Runtime, db_url: str, tmp_path: Path) -> None:
    school(runtime)
    out = tmp_path / "files"
    # The real environment (matplotlib's font cache lives under HOME), minus any ASSESSBOT_ settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSESSBOT_")}
    env["ASSESSBOT_DATABASE_URL"] = db_url
    for fmt in ("pdf", "xlsx", "csv", "png"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot.cli",
                "report",
                "Ystad school",
                "--round",
                "Autumn 2026",
                "--format",
                fmt,
                "--out",
                str(out),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "ystad-school-autumn-2026-areas.png",
        "ystad-school-autumn-2026-results.csv",
        "ystad-school-autumn-2026-results.xlsx",
        "ystad-school-autumn-2026-statements.png",
        "ystad-school-autumn-2026-workshop.pdf",
        "ystad-school-autumn-2026-workshop.xlsx",
    ]
    assert (out / "ystad-school-autumn-2026-workshop.pdf").read_bytes().startswith(b"%PDF")
    assert png_size((out / "ystad-school-autumn-2026-areas.png").read_bytes())[0] == 1080
