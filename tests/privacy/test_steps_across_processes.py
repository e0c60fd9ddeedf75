"""Two people of one unit finish at the same moment, in two processes: the published set still
grows by exactly one whole step, never by two overlapping ones."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from bot.results import publication_store
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Response, ResponseStatus
from tests.report_data import add_responses, install_mini, make_round, make_unit

STEADY = ("teacher", "new", 3, 3, 3, 3)


def test_two_people_finishing_at_once_make_one_step_and_the_other_waits_for_the_next(
    runtime: Runtime,
) -> None:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=3)
        add_responses(session, round_id, unit, version, [STEADY, STEADY], now - timedelta(hours=1))
        answering = []
        for _ in range(2):
            response = Response(
                instrument_version_id=version,
                round_id=round_id,
                unit_id=unit,
                status=ResponseStatus.IN_PROGRESS,
                started_at=now,
            )
            session.add(response)
            session.flush()
            answering.append(response.id)
    first_sealed = threading.Event()
    sealed: dict[int, int] = {}

    def finish(response_id: int, hold: float) -> None:
        with transaction(runtime.sessions) as session:
            session.execute(
                update(Response).where(Response.id == response_id).values(status=ResponseStatus.COMPLETED)
            )
            sealed[response_id] = publication_store.seal(session, round_id, unit)
            first_sealed.set()
            time.sleep(hold)  # still in the transaction while the other one finishes

    first = threading.Thread(target=finish, args=(answering[0], 0.5))
    first.start()
    assert first_sealed.wait(10)
    second = threading.Thread(target=finish, args=(answering[1], 0.0))
    second.start()
    first.join(10)
    second.join(10)
    assert sealed == {answering[0]: 1, answering[1]: 0}
    with runtime.sessions() as session:
        steps = dict(
            session.execute(select(Response.id, Response.step).where(Response.round_id == round_id)).all()
        )
    assert sorted(steps.values(), key=lambda s: s or 0) == [None, 1, 1, 1]
    assert steps[answering[1]] is None  # waits for the next step
