"""Whoever reads the log of `assessbot run` at DEBUG learns no secret and nothing anyone typed.

Configured secrets (the bot tokens, Slack's signing secret, the database password) and derived ones
(the Telegram webhook secret, made from the token) never appear; what people write appears only
when ASSESSBOT_LOG_CONTENT=1 asks for it, and even then no secret does. A failed SQL statement
names itself, not the values it was given.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from storage.db import make_engine
from tests.fakes.slack_api import FakeSlackAPI, SlackEventsClient, dm_channel_id
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.served import BotProcess, free_port

POSTGRESQL_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
SIGNING_SECRET = "log-signing-secret-0123456789abcdef"
DB_PASSWORD = "db-password-never-logged-77"
TYPED_ON_TELEGRAM = "my spreadsheets-zanzibar are a mess"
TYPED_ON_SLACK = "I never-quixotic understand macros"
ANNA = "U0ANNA"
USER = 4242


def wait(condition: Callable[[], object], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def a_day_of_logs(db_url: str, tmp_path: Path, **more: str) -> tuple[str, list[str]]:
    """Run both platforms at DEBUG, let a person write on each, stop; the log and the secrets."""
    database = make_url(db_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    slack_port, hook_port = free_port(), free_port()
    with FakeSlackAPI() as slack, FakeTelegramAPI(local_mode=True) as telegram:
        slack.add_user(ANNA, locale="en-US", real_name="Anna Svensson")
        bot = BotProcess(
            {
                "ASSESSBOT_DATABASE_URL": database,
                "ASSESSBOT_OUTPUT_DIR": str(tmp_path / "out"),
                "ASSESSBOT_LOG_LEVEL": "DEBUG",
                "ASSESSBOT_TELEGRAM_TOKEN": telegram.token,
                "ASSESSBOT_TELEGRAM_API_URL": f"http://127.0.0.1:{telegram.port}",
                "ASSESSBOT_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{hook_port}/hook",
                "ASSESSBOT_TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
                "ASSESSBOT_TELEGRAM_WEBHOOK_PORT": str(hook_port),
                "ASSESSBOT_SLACK_BOT_TOKEN": slack.token,
                "ASSESSBOT_SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "ASSESSBOT_SLACK_API_URL": slack.base_url,
                "ASSESSBOT_SLACK_PORT": str(slack_port),
                **more,
            }
        )
        try:
            bot.wait_listening(hook_port)
            bot.wait_listening(slack_port)
            wait(lambda: telegram.webhook_secret, "the webhook was never set")
            derived = str(telegram.webhook_secret)
            assert telegram.deliver_webhook(telegram.push_message(USER, TYPED_ON_TELEGRAM)) == 200
            wait(lambda: telegram.chat(USER), "no reply on Telegram")
            client = SlackEventsClient(
                f"http://127.0.0.1:{slack_port}/slack/events", SIGNING_SECRET, api=slack
            )
            assert client.send_event(client.message_event(ANNA, TYPED_ON_SLACK))[0] == 200
            wait(lambda: slack.channel_messages(dm_channel_id(ANNA)), "no reply on Slack")
        finally:
            log = bot.stop()
        return log, [telegram.token, derived, slack.token, SIGNING_SECRET, DB_PASSWORD]


@POSTGRESQL_ONLY
def test_a_debug_log_holds_no_secret_and_nothing_anyone_typed(db_url: str, tmp_path: Path) -> None:
    log, secrets = a_day_of_logs(db_url, tmp_path)
    assert " DEBUG " in log  # it did log at DEBUG
    assert [secret for secret in secrets if secret in log] == []
    assert TYPED_ON_TELEGRAM not in log
    assert TYPED_ON_SLACK not in log


@POSTGRESQL_ONLY
def test_log_content_shows_what_people_typed_but_still_no_secret(db_url: str, tmp_path: Path) -> None:
    log, secrets = a_day_of_logs(db_url, tmp_path, ASSESSBOT_LOG_CONTENT="1")
    assert TYPED_ON_TELEGRAM in log
    assert TYPED_ON_SLACK in log
    assert [secret for secret in secrets if secret in log] == []


def _failed_statement(db_url: str, **engine_options: bool) -> str:
    """What an engine error says when a statement fails: the text a traceback in the log carries."""
    engine = make_engine(db_url, **engine_options)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("SELECT CAST(:typed AS INTEGER) / 0 FROM no_such_table"), {"typed": TYPED_ON_SLACK}
            )
    except DBAPIError as error:
        return "".join(traceback.format_exception(error))
    finally:
        engine.dispose()
    raise AssertionError("the statement did not fail")


def test_a_failed_statement_in_the_log_does_not_quote_what_someone_typed(db_url: str) -> None:
    assert "no_such_table" in _failed_statement(db_url)  # the statement is still named
    assert TYPED_ON_SLACK not in _failed_statement(db_url)
    assert TYPED_ON_SLACK in _failed_statement(db_url, show_values=True)
