"""A database from before the published set had steps: upgrading gives every unit the steps its
result was shown from until then (the first responses in completion order, `threshold` at a
time), so the next view is the last one before the upgrade; the rest wait for their step."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import select

from bot.results.reports import unit_report
from bot.runtime import Runtime
from storage.db import alembic_config, transaction
from storage.models import Response
from tests.report_data import GOLDEN, add_responses, install_mini, make_round, make_unit


def test_upgrading_gives_each_unit_the_steps_it_was_shown_from(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
        # Seven answers, completed out of id order: the last-made response finished first.
        ids = add_responses(session, round_id, unit, version, [*GOLDEN, GOLDEN[0]], now - timedelta(days=3))
        first = session.get(Response, ids[-1])
        assert first is not None
        first.completed_at = now - timedelta(days=4)
    config = alembic_config(runtime.db)
    command.downgrade(config, "0006")
    command.upgrade(config, "head")
    with runtime.sessions() as session:
        steps = dict(session.execute(select(Response.id, Response.step).order_by(Response.id)).all())
        after = unit_report(session, unit, round_id)
    assert steps == {ids[-1]: 1, ids[0]: 1, ids[1]: 1, ids[2]: 2, ids[3]: 2, ids[4]: 2, ids[5]: None}
    assert (after.published, after.completed, after.steps) == (6, 7, 2)
