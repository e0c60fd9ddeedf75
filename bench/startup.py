"""Benchmark 6, a lean process: `assessbot run` to its first poll, its memory while idle, and the
first result chart it draws, beside the minimal python-telegram-bot bot (bench/minimal_bot.py)
started the same way in the same run.

Both are started as processes of their own against the fake Bot API (served here: the fake is not
what is measured). The schema and the bundled instruments are put in place first, so the measured
start is a restart, as a deployment restarts. First poll: from starting the process to its first
getUpdates reaching the fake. Idle memory: the process's resident set size
two seconds after that, nobody having written. First result chart: one person then takes the whole
assessment, reading a moment per statement; from their last press to the chart's photo reaching
the fake (the completion's work, drawing the chart and uploading it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.databases import Database
from bench.registry import Outcome, Sizes, register
from tests.fakes.telegram_api import FakeTelegramAPI, SentMessage, _Request

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0
IDLE = 2.0
READING = 0.05  # seconds a person looks at each statement in the chart scenario
PERSON = 4242
OFFER = "Digital competence for library staff"
POLL_TARGET, RSS_TARGET, CHART_TARGET = 0.8, 80.0, 0.3


class WatchedAPI(FakeTelegramAPI):
    """The fake, noting when a long poll arrives (the fake records a call only once answered)."""

    def __init__(self) -> None:
        super().__init__()
        self.polls = 0
        self.polled = threading.Condition()

    def _call(self, token: str, method_name: str, request: _Request) -> tuple[int, dict[str, Any]]:
        if method_name.lower() == "getupdates":
            with self.polled:
                self.polls += 1
                self.polled.notify_all()
        return super()._call(token, method_name, request)

    def wait_for_poll(self, after: int, timeout: float = START_TIMEOUT) -> None:
        with self.polled:
            if not self.polled.wait_for(lambda: self.polls > after, timeout):
                raise RuntimeError("the bot did not poll in time")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Started:
    """A bot process, stopped on the way out (SIGTERM, as a supervisor stops it)."""

    def __init__(self, api: WatchedAPI, command: list[str], env: dict[str, str]) -> None:
        self.api = api
        before = api.polls
        began = time.perf_counter()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        try:
            api.wait_for_poll(before)
        except Exception:
            self.stop()
            raise
        self.first_poll = time.perf_counter() - began

    def idle_rss(self) -> float:
        time.sleep(IDLE)
        return rss_mb(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _assessbot(api: WatchedAPI, database: Database, output: str) -> Started:
    env = {
        **os.environ,
        "ASSESSBOT_DATABASE_URL": database.url,
        "ASSESSBOT_TELEGRAM_TOKEN": api.token,
        "ASSESSBOT_TELEGRAM_API_URL": f"http://127.0.0.1:{api.port}",
        "ASSESSBOT_LOG_LEVEL": "WARNING",
        "ASSESSBOT_OUTPUT_DIR": output,
    }
    code = "import sys; from bot.cli import main; sys.exit(main(['run']))"
    return Started(api, [sys.executable, "-c", code], env)


def _question(api: FakeTelegramAPI, unlike: tuple[int, str | None] | None) -> SentMessage | None:
    """The newest message with buttons, if it is not the one (message id, text) pressed before."""
    for message in reversed(api.chat(PERSON)):
        if message.buttons:
            return None if (message.message_id, message.text) == unlike else message
    return None


def _first_chart(api: WatchedAPI) -> float:
    """One person takes the whole assessment; seconds from their last press to the chart."""
    api.push_message(PERSON, "/assess")
    pressed: tuple[int, str | None] | None = None
    pressed_at = 0.0
    finished = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        photos = api.calls_of("sendPhoto")
        question = _question(api, pressed)
        if photos:
            return photos[0].at - pressed_at
        if (
            finished
            or question is None
            or not (
                OFFER in (question.text or "") + str(question.buttons)
                or any(word in (question.text or "") for word in ("Background question", "Statement"))
            )
        ):
            time.sleep(0.005)
            continue
        buttons = {str(b["text"]): str(b["callback_data"]) for row in question.buttons for b in row}
        label = OFFER if OFFER in buttons else ("5" if "5" in buttons else next(iter(buttons)))
        time.sleep(READING)
        pressed, pressed_at = (question.message_id, question.text), time.monotonic()
        api.push_callback(PERSON, question.message_id, buttons[label])
        statements = re.findall(r"Statement (\d+)/(\d+)", question.text or "")
        finished = bool(statements) and statements[-1][0] == statements[-1][1]  # the last one
    raise RuntimeError("the assessment did not end with a result chart in time")


def _prepare(database: Database) -> None:
    """The schema and the bundled instruments in place, as a first start leaves them."""
    from bot import runtime
    from bot.config import Config

    runtime.start(Config(database_url=database.url), offer_admin_claim=False).db.dispose()


@register(
    "start-up",
    "assessbot run to its first poll, idle memory and first chart, beside a minimal bot",
    databases=("sqlite",),  # the start is the same on PostgreSQL but for the driver
)
def run(database: Database, _sizes: Sizes) -> Outcome:
    api = WatchedAPI()
    with api, tempfile.TemporaryDirectory(prefix="assessbot-bench-") as output:
        _prepare(database)
        bot = _assessbot(api, database, output)
        try:
            poll, rss = bot.first_poll, bot.idle_rss()
            chart = _first_chart(api)
        finally:
            bot.stop()
        minimal = Started(
            api,
            [
                sys.executable,
                "-m",
                "bench.minimal_bot",
                api.token,
                f"http://127.0.0.1:{api.port}",
                database.url,
            ],
            dict(os.environ),
        )
        try:
            minimal_poll, minimal_rss = minimal.first_poll, minimal.idle_rss()
        finally:
            minimal.stop()
    return Outcome(
        figures=f"assessbot run: first poll {poll:.2f} s, idle {rss:.0f} MB, first result chart {chart:.2f} s",
        baseline=f"minimal bot: first poll {minimal_poll:.2f} s, idle {minimal_rss:.0f} MB",
        ratio=poll / minimal_poll,
        target=f"first poll <= {POLL_TARGET} s, idle <= {RSS_TARGET:.0f} MB, chart <= {CHART_TARGET} s",
        met=poll <= POLL_TARGET and rss <= RSS_TARGET and chart <= CHART_TARGET,
    )
