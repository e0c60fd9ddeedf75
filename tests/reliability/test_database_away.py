"""The database goes away (connections killed with pg_terminate_backend, or the server unreachable
for a while): the person is told to try again, the bot keeps running, and recovers by itself."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine as DbEngine
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bot.engine import Engine
from bot.results.reports import unit_report
from bot.runtime import Runtime
from storage.db import make_engine, make_session_factory, transaction
from storage.models import Answer, InstrumentVersion, Round, RoundUnit, Unit
from tests.conftest import POSTGRES_URL
from tests.harness import Conversation, texts
from tests.reliability.tcp_proxy import Proxy

TRY_AGAIN = "I can't reach my database just now"
pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def admin() -> Iterator[DbEngine]:
    """Another connection to the server, like a DBA's session."""
    engine = create_engine(POSTGRES_URL)
    yield engine
    engine.dispose()


def _bot_engine(runtime: Runtime, url: str) -> tuple[Engine, DbEngine]:
    db = make_engine(url)
    return Engine(make_session_factory(db), config=runtime.config, clock=runtime.clock), db


def _with_name(url: str, name: str) -> str:
    return f"{url}&application_name={name}"


def _terminate(admin: DbEngine, where: str, **params: object) -> int:
    """pg_terminate_backend the matching connections and wait until they are really gone."""
    with admin.begin() as conn:
        pids = list(conn.execute(text(f"SELECT pid FROM pg_stat_activity WHERE {where}"), params).scalars())
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with admin.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": pids}
            ).scalar()
        if not left:
            break
        time.sleep(0.02)
    return len(pids)


def _answers(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Answer)) or 0


def _start(person: Conversation) -> None:
    person.say("assess")
    person.click("Digital competence for library staff")
    for _ in range(4):
        person.press(person.choices()[0].payload)


def test_killed_idle_connections_are_replaced_without_the_person_noticing(
    runtime: Runtime, db_url: str, admin: DbEngine
) -> None:
    name = f"assessbot-away-{uuid.uuid4().hex[:8]}"
    engine, db = _bot_engine(runtime, _with_name(db_url, name))
    anna = Conversation(engine, "anna", platform="telegram", display_name="Anna Svensson")
    _start(anna)
    anna.click("5")
    assert _terminate(admin, "application_name = :name", name=name) >= 1
    replies = anna.click("4")
    assert TRY_AGAIN not in texts(replies)
    assert "Statement 3/24" in texts(replies)
    assert _answers(runtime) == 2
    db.dispose()


def test_connection_killed_while_storing_an_answer_asks_to_try_again_and_the_retry_counts_once(
    runtime: Runtime, db_url: str, admin: DbEngine
) -> None:
    engine, db = _bot_engine(runtime, db_url)
    anna = Conversation(engine, "anna", platform="telegram", display_name="Anna Svensson")
    _start(anna)
    anna.click("5")
    # The server kills the connection in the middle of storing the next answer: a trigger on the
    # answer table terminates its own backend, the first time only (a sequence survives rollbacks).
    with db.begin() as conn:
        conn.execute(text("CREATE SEQUENCE answers_seen"))
        conn.execute(
            text(
                """
                CREATE FUNCTION kill_while_storing() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF nextval('answers_seen') = 1 THEN
                        PERFORM pg_terminate_backend(pg_backend_pid());
                    END IF;
                    RETURN NEW;
                END $$
                """
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER kill_while_storing BEFORE INSERT ON answer"
                " FOR EACH ROW EXECUTE FUNCTION kill_while_storing()"
            )
        )
    try:
        payload = anna.button("4")
        replies = anna.press(payload)
        assert TRY_AGAIN in texts(replies)
        assert _answers(runtime) == 1, "nothing of the interrupted event was stored"

        replies = anna.press(payload)  # the person presses again, as asked
        assert "Statement 3/24" in texts(replies)
        assert _answers(runtime) == 2
        replies = anna.press(payload)  # and once more: a double click changes nothing
        assert replies == []
        assert _answers(runtime) == 2
        with db.connect() as conn:
            assert conn.execute(text("SELECT last_value FROM answers_seen")).scalar() == 2, (
                "the answer was attempted once, killed, and stored by the second press"
            )
    finally:
        with db.begin() as conn:
            conn.execute(text("DROP TRIGGER kill_while_storing ON answer"))
            conn.execute(text("DROP FUNCTION kill_while_storing()"))
            conn.execute(text("DROP SEQUENCE answers_seen"))
        db.dispose()


def test_database_unreachable_for_a_while_the_bot_apologises_keeps_running_and_recovers(
    runtime: Runtime, db_url: str, admin: DbEngine
) -> None:
    upstream = make_url(POSTGRES_URL)
    proxy = Proxy(upstream.host or "127.0.0.1", upstream.port or 5432)
    name = f"assessbot-away-{uuid.uuid4().hex[:8]}"
    url = make_url(_with_name(db_url, name)).set(host="127.0.0.1", port=proxy.port)
    engine, db = _bot_engine(runtime, url.render_as_string(hide_password=False))
    anna = Conversation(engine, "anna", platform="telegram", display_name="Anna Svensson")
    bo = Conversation(engine, "bo", platform="telegram", display_name="Bo Ek")
    try:
        _start(anna)
        _start(bo)
        anna.click("5")

        proxy.down()
        _terminate(admin, "application_name = :name", name=name)
        payload = anna.button("4")
        for person, action in ((anna, payload), (bo, bo.button("3")), (anna, payload)):
            replies = person.press(action)
            assert TRY_AGAIN in texts(replies)
        assert _answers(runtime) == 1

        proxy.up()
        replies = anna.press(payload)  # the next event just works: no restart, nobody intervened
        assert "Statement 3/24" in texts(replies)
        replies = bo.click("3")
        assert "Statement 2/24" in texts(replies)
        assert _answers(runtime) == 3
    finally:
        proxy.close()
        db.dispose()


def test_a_unit_report_after_its_connection_was_killed_prepares_its_read_again(
    runtime: Runtime, db_url: str, admin: DbEngine
) -> None:
    # The report's head is prepared once per connection (storage/driver_sql.read_in); the connection
    # that replaces a killed one has none of its prepared statements.
    name = f"assessbot-away-{uuid.uuid4().hex[:8]}"
    db = make_engine(_with_name(db_url, name))
    sessions = make_session_factory(db)
    now = runtime.clock.now()
    with transaction(sessions) as session:
        unit = Unit(name="Ystad library", created_at=now)
        session.add(unit)
        session.flush()
        version = session.scalars(select(InstrumentVersion.id)).first()
        round_ = Round(
            name="Autumn",
            instrument_version_id=version,
            opens_at=now,
            closes_at=now + timedelta(days=30),
            created_at=now,
        )
        session.add(round_)
        session.flush()
        session.add(RoundUnit(round_id=round_.id, unit_id=unit.id))
        where = (unit.id, round_.id)
    try:
        for kill_first in (False, True, False):
            if kill_first:
                assert _terminate(admin, "application_name = :name", name=name) >= 1
            with sessions() as session:
                report = unit_report(session, *where)
            assert (report.unit_name, report.round_name, report.completed) == ("Ystad library", "Autumn", 0)
    finally:
        db.dispose()
