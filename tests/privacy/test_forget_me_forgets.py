"""Sven asks to be forgotten. Afterwards a principal, a manager and an admin look everywhere they
can (the plan report, the audit, the messages still waiting to go out and those already sent),
and a reader of the database looks at the rows themselves: nothing he wrote or that names him."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.clock import ManualClock
from bot.follow_up.scheduler import scan
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.models import AuditLog, Identity, Outbox, OutboxState, PlanItem, ProgressUpdate
from tests.harness import texts
from tests.org_setup import build_organisation
from tests.timed import RecordingSender, stockholm

COMMENT = "Waiting for the new laptops; my back is bad this month"


def test_sven_is_forgotten_by_the_plan_the_audit_and_the_queued_messages(
    runtime: Runtime, clock: ManualClock
) -> None:
    org = build_organisation(runtime)
    pia, sven, admin = org.principal, org.staff, org.admin
    assert "Owner: Sven Staff" in texts(
        pia.say('plan add "Share one tool a month" owner @sven due 2026-11-27')
    )
    admin.say("admin grant @sven")
    with runtime.sessions() as s:
        sven_id = s.scalar(select(Identity.person_id).where(Identity.platform_user_id == "sven"))
        item_id = s.scalar(select(PlanItem.id))
    assert sven_id is not None
    sven.press(f"pu:{item_id}:bl")
    assert "comment is saved" in texts(sven.say(COMMENT))
    assert COMMENT in texts(pia.say("plan report"))

    # The item is overdue and December begins: Pia is told who has not delivered, Maja gets her
    # digest; one of them goes out before Sven erases himself, the rest are still queued.
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    clock.set(stockholm(2026, 11, 30, 10))
    scan(runtime.sessions, clock.now())
    dispatcher.drain()
    assert any("owner Sven Staff" in d.text for d in sender.to("pia"))
    clock.set(stockholm(2026, 12, 1, 10))
    scan(runtime.sessions, clock.now())
    with runtime.sessions() as s:
        queued = s.scalars(select(Outbox).where(Outbox.state == OutboxState.PENDING)).all()
        assert any(COMMENT in json.dumps(row.payload, ensure_ascii=False) for row in queued)
    before_forgetting = len(sender.sent)

    sven.say("forget-me")
    assert "deleted" in texts(sven.say("DELETE"))

    dispatcher.drain()
    for delivery in sender.sent[before_forgetting:]:
        assert "Sven" not in delivery.text
        assert COMMENT not in delivery.text
    report = texts(pia.say("plan report"))
    assert "Share one tool a month" in report  # the unit's plan stays
    assert COMMENT not in report
    assert "Sven" not in report
    audit = texts(admin.say("audit 50"))
    assert "admin.grant" in audit  # what was done stays, not to whom
    assert "Sven" not in audit

    with runtime.sessions() as s:
        for row in s.scalars(select(Outbox)):
            stored = json.dumps(row.payload, ensure_ascii=False)
            assert "Sven" not in stored, row.kind
            assert COMMENT not in stored, row.kind
        assert s.scalars(select(ProgressUpdate).where(ProgressUpdate.comment == COMMENT)).all() == []
        for entry in s.scalars(select(AuditLog)):
            assert sven_id not in (entry.detail.get("person"), entry.detail.get("owner")), entry.action
            assert "Sven" not in json.dumps(entry.detail, ensure_ascii=False), entry.action
    # Maja still gets her digest for December, without him.
    assert [d.text.split("\n")[0] for d in sender.to("maja")] == ["Monthly digest"]
