"""Several `assessbot run` processes on one PostgreSQL, as the README's "Scaling out" describes."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from storage.db import make_engine, schema_ready
from storage.models import Instrument, JoinCode
from tests.bot_processes import (
    BotProcess,
    empty_postgres_schema,
    free_port,
    listening,
    telegram_webhook_settings,
    wait_for,
)
from tests.fakes.telegram_api import FakeTelegramAPI


def test_two_processes_started_at_the_same_moment_on_an_empty_database_both_come_up(tmp_path: Path) -> None:
    with empty_postgres_schema() as url, FakeTelegramAPI(local_mode=True) as fake:
        db = make_engine(url)
        assert not schema_ready(db)  # nothing has run yet: a readiness check says so
        ports = [free_port(), free_port()]
        bots = [
            BotProcess(
                telegram_webhook_settings(url, f"http://127.0.0.1:{fake.port}", fake.token, port, tmp_path),
                tmp_path / f"bot-{n}.log",
            )
            for n, port in enumerate(ports)
        ]
        go = threading.Barrier(len(bots))

        def start(bot: BotProcess) -> None:
            go.wait()
            bot.start()

        starters = [threading.Thread(target=start, args=(bot,)) for bot in bots]
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join()
        try:
            for bot, port in zip(bots, ports, strict=True):
                _wait_until_listening(bot, port)
            assert schema_ready(db)
            with db.connect() as conn:
                # The bundled instruments once, and one claim code for the first admin, not two.
                assert conn.scalar(select(func.count()).select_from(Instrument)) == 2
                assert conn.scalar(select(func.count()).select_from(JoinCode)) == 1
        finally:
            codes = [bot.stop() for bot in bots]
            db.dispose()
        for bot in bots:
            assert "Traceback" not in bot.log(), bot.log()
        assert codes == [0, 0]


def _wait_until_listening(bot: BotProcess, port: int) -> None:
    wait_for(lambda: listening(port) or not bot.alive, what="the webhook to listen")
    assert bot.alive, bot.log()
