"""Benchmark 5, the crowd on Slack: people pressing scale buttons through Slack HTTP mode (Bolt
behind adapters/slack_http.py, as `assessbot run` serves it), beside a minimal Bolt app measured in
the same run (per press: ack, one insert+commit, one chat.update and one chat.postMessage), each
against a fresh fake Slack with the people in a process of their own (bench/crowd_slack_people.py).
Settings as on Telegram (bench/crowd.py): capacity, and a staff meeting (reading 2-4 s).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import insert

from bench.crowd import CrowdServer, Figures, _crowd, capacity_outcome, meeting_outcome
from bench.crowd_people import SCALE, Crowd
from bench.crowd_slack_people import SIGNING_SECRET
from bench.databases import Database
from bench.minimal_bot import press_table
from bench.registry import Outcome, Sizes, register
from bot import runtime as runtime_module
from bot.clock import SystemClock
from bot.config import Config


class SlackCrowdServer(CrowdServer):
    """The fake Slack and its people; they are told the bot's request URL once it listens."""

    module = "bench.crowd_slack_people"

    def __enter__(self) -> SlackCrowdServer:
        super().__enter__()
        return self

    def people_at(self, url: str) -> None:
        self.people_ready(f"people {url}")


def run_assessbot(database: Database, crowd: Crowd) -> Figures:
    from slack_sdk import WebClient

    from adapters.slack import build_adapter
    from adapters.slack_http import SlackHttpServer

    with SlackCrowdServer(crowd) as server:
        config = Config(
            database_url=database.url,
            log_level="WARNING",
            slack_bot_token=server.token,
            slack_signing_secret=SIGNING_SECRET,
        )
        app = runtime_module.start(config, SystemClock(), offer_admin_claim=False)
        adapter = build_adapter(app, WebClient(token=server.token, base_url=server.url))
        http = SlackHttpServer(adapter.app, signing_secret=SIGNING_SECRET, host="127.0.0.1", port=0).start()
        try:
            server.people_at(http.url)
            return server.go()
        finally:
            http.close()
            app.db.dispose()


@contextlib.contextmanager
def minimal_bolt(token: str, base_url: str, database_url: str) -> Iterator[str]:
    """A Bolt app as its getting-started guide writes one, its request URL served on loopback."""
    from slack_bolt import App, BoltRequest
    from slack_sdk import WebClient

    table, engine = press_table("minimal_slack_press", "channel", database_url)
    buttons = [
        {
            "type": "button",
            "action_id": f"scale-{label}",
            "value": label,
            "text": {"type": "plain_text", "text": label},
        }
        for label in SCALE
    ]
    statement: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "The next statement"}},
        {"type": "actions", "elements": buttons},
    ]
    app = App(signing_secret=SIGNING_SECRET, client=WebClient(token=token, base_url=base_url))

    @app.command("/assess")
    def assess(ack: Any, command: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_postMessage(channel=command["user_id"], text="Statement 1", blocks=statement)

    @app.action(re.compile("scale-.*"))
    def press(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        channel, value = body["container"]["channel_id"], body["actions"][0]["value"]
        with engine.begin() as connection:
            connection.execute(insert(table).values(channel=channel, value=value))
        client.chat_update(
            channel=channel, ts=body["container"]["message_ts"], text=f"Answered: {value}", blocks=[]
        )
        client.chat_postMessage(channel=channel, text="The next statement", blocks=statement)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            headers: dict[str, str | Sequence[str]] = {
                key.lower(): value for key, value in self.headers.items()
            }
            response = app.dispatch(BoltRequest(body=body, headers=headers))
            payload = (response.body or "").encode()
            self.send_response(response.status)
            for key, values in response.headers.items():
                for value in values:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # a crowd connects at once (http.server's default is 5)

    http = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}/slack/events"
    finally:
        http.shutdown()
        http.server_close()
        engine.dispose()


def run_minimal(database: Database, crowd: Crowd) -> Figures:
    with SlackCrowdServer(crowd) as server, minimal_bolt(server.token, server.url, database.url) as url:
        server.people_at(url)
        return server.go()


# SQLite only: the engine's work per press is the Telegram settings' (which run on both databases).
@register(
    "crowd-slack-capacity",
    "40 people pressing as fast as replies come, Slack HTTP mode, beside a minimal Bolt app",
    databases=("sqlite",),
)
def capacity(database: Database, sizes: Sizes) -> Outcome:
    crowd = _crowd(sizes, (0.0, 0.0), None)
    minimal = run_minimal(database, crowd)
    return capacity_outcome(crowd, run_assessbot(database, crowd), minimal, "minimal Bolt app")


@register(
    "crowd-slack-meeting",
    "40 people reading 2-4 s per statement, Slack HTTP mode, beside a minimal Bolt app",
    databases=("sqlite",),
)
def meeting(database: Database, sizes: Sizes) -> Outcome:
    crowd = _crowd(sizes, (2.0, 4.0), None)
    minimal = run_minimal(database, crowd)
    return meeting_outcome(crowd, run_assessbot(database, crowd), minimal, "minimal Bolt app")
