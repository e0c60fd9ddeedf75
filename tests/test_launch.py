"""`assessbot run` with Slack configured: the real HTTP server, the real Bolt app, the outbox, stopped cleanly."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable

from adapters import launch
from bot.clock import ManualClock
from bot.messages import Reply
from bot.outbox import enqueue
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Identity, Person
from tests.fakes.slack_api import FakeSlackAPI, SlackEventsClient, dm_channel_id

SECRET = "launch-signing-secret-0123456789"
ANNA = "U0ANNA"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_assessbot_run_serves_slack_over_http_and_sends_the_outbox(
    runtime: Runtime, clock: ManualClock
) -> None:
    with FakeSlackAPI() as fake:
        fake.add_user(ANNA, locale="en-US", real_name="Anna Svensson")
        port = free_port()
        config = dataclasses.replace(
            runtime.config,
            slack_bot_token=fake.token,
            slack_signing_secret=SECRET,
            slack_api_url=fake.base_url,
            slack_port=port,
        )
        app = dataclasses.replace(runtime, config=config)
        stop = threading.Event()
        result: list[int] = []
        runner = threading.Thread(
            target=lambda: result.append(launch.run_platforms(app, stop, dispatch_every=0.05))
        )
        runner.start()
        try:
            client = SlackEventsClient(f"http://127.0.0.1:{port}/slack/events", SECRET, api=fake)

            def answered() -> bool:
                try:
                    return client.send_command(text="help", user_id=ANNA)[0] == 200
                except OSError:
                    return False  # the server is not listening yet

            wait_for(answered)
            channel = dm_channel_id(ANNA)
            wait_for(
                lambda: any(
                    "Here is what you can do" in m.get("text", "") for m in fake.channel_messages(channel)
                )
            )

            # A message the bot sends on its own goes out through the same process's dispatcher.
            with transaction(runtime.sessions) as session:
                person = session.query(Person).join(Identity).filter(Identity.platform_user_id == ANNA).one()
                enqueue(
                    session,
                    person_id=person.id,
                    kind="test",
                    replies=[Reply("A reminder from the outbox")],
                    key="launch-test",
                    due_at=runtime.clock.now(),
                )
            # Sent after the per-person gap (one message a second): the reply to help went just now.
            clock.advance(seconds=2)
            wait_for(
                lambda: any(
                    "A reminder from the outbox" in m.get("text", "") for m in fake.channel_messages(channel)
                )
            )
        finally:
            stop.set()
            runner.join(timeout=30)
        assert result == [0]
