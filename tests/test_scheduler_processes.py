"""Two bot processes share one PostgreSQL for a simulated week: one leads the scheduler (advisory
lock), both dispatch (SKIP LOCKED), and every due message is sent exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import ActionPlan, Identity, Outbox, OutboxState, PlanItem, Role
from tests.timed import add_member, add_person, add_unit, open_round, stockholm

ROOT = Path(__file__).resolve().parent.parent
STAFF = 30


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_processes_for_a_week_send_every_due_message_exactly_once(
    runtime: Runtime, clock: ManualClock, db_url: str, tmp_path: Path
) -> None:
    start = clock.now()  # Monday 23 November, 09:00 in Stockholm
    with transaction(runtime.sessions) as s:
        school = add_unit(s, "Ekskolan", start)
        staff = [add_person(s, f"s{i}", f"Staff {i}", start) for i in range(STAFF)]
        principal = add_person(s, "pia", "Pia Rektor", start)
        for person in staff:
            add_member(s, person, school, Role.STAFF, start)
        add_member(s, principal, school, Role.PRINCIPAL, start)
        # Reminders one and three working days after the invitation: Tuesday and Thursday.
        open_round(
            s,
            school,
            staff,
            instrument="digcomp-library",
            opens=start,
            closes=stockholm(2026, 12, 19),
            rule="1wd,3wd",
        )
        plan = ActionPlan(unit_id=school.id, created_by=principal.id, created_at=start)
        s.add(plan)
        s.flush()
        for i in range(3):
            s.add(
                PlanItem(
                    plan_id=plan.id,
                    text=f"Action {i}",
                    owner_person_id=staff[i].id,
                    due_date=date(2026, 11, 25) if i == 0 else None,
                    cadence_days=7,
                    created_at=start,
                )
            )
    # 30 x 2 reminders, 3 weekly follow-ups on Monday 30 November, 1 overdue prompt + 1 note.
    expected = STAFF * 2 + 3 + 1 + 1

    out = tmp_path / "delivered.tsv"
    end = stockholm(2026, 11, 30, 12)
    epoch = time.time() + 2  # both processes start their simulated week at the same wall-clock moment
    speed = (end - start).total_seconds() / 30  # the week in about 30 seconds
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.sim_worker",
                db_url,
                str(out),
                f"--epoch={epoch}",
                f"--start={start.isoformat()}",
                f"--end={end.isoformat()}",
                f"--speed={speed}",
                f"--name=w{n}",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    reports = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    assert any("led=1" in r for r in reports), reports

    lines = [line.split("\t") for line in out.read_text().splitlines()]
    with transaction(runtime.sessions) as s:
        states = Counter(s.scalars(select(Outbox.state)))
        claimed = list(s.scalars(select(Outbox.claimed_at)))
        rows_per_user = dict(
            s.execute(
                select(Identity.platform_user_id, func.count(Outbox.id))
                .join(Identity, Identity.person_id == Outbox.person_id)
                .group_by(Identity.platform_user_id)
            ).all()
        )
    assert states == {OutboxState.SENT: expected}
    assert len(lines) == expected
    assert Counter(user for user, *_ in lines) == rows_per_user
    # Every message was taken for sending on a weekday in working hours, local time. (The simulated
    # clock runs 20,000 times faster than the wall clock, so a millisecond of real work is minutes of
    # simulated time: the moment of claiming, not of the file write, is the one to check.)
    for moment in claimed:
        assert moment is not None
        local = moment.astimezone(ZoneInfo("Europe/Stockholm"))
        assert local.weekday() < 5
        assert time_of_day(9, 30) <= local.time() < time_of_day(17, 0)
    reminders = Counter(user for user, _at, _w, text in lines if "is waiting for you" in text)
    assert reminders == {f"s{i}": 2 for i in range(STAFF)}
