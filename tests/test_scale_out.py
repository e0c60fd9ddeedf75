"""Several `assessbot run` processes on one PostgreSQL, as the README's "Scaling out" describes."""

from __future__ import annotations

import functools
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from storage.db import make_engine, make_session_factory, schema_ready, transaction
from storage.models import Instrument, JoinCode, ResponseStatus
from tests.bot_processes import (
    SECRET,
    BotProcess,
    empty_postgres_schema,
    free_port,
    listening,
    open_round_for,
    stored,
    telegram_webhook_settings,
    wait_for,
)
from tests.fakes.slack_api import FakeSlackAPI, SlackEventsClient, dm_channel_id
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.reliability.scripted_round import CODES


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


# ---------------------------------------------------------------- a crowd through two processes

PEOPLE = 16
# How long before a SIGKILL a message the platform took may still be unmarked (it is marked sent
# a database round trip after the platform's answer, on a machine this test keeps busy).
UNMARKED = 0.5
ERRORS = (
    "Sorry, something went wrong",
    "can't reach my database",
    "not valid any more",
    "already completed",
    "the answer was not changed",
    "Welcome back",
)


class RoundRobin:
    """A load balancer without stickiness: each request to the next process that is up,
    round-robin; one that refuses or fails it (not 200) is tried on the next, as the platforms retry."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.down: set[int] = set()
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def next_port(self, avoid: int | None = None) -> int:
        with self._lock:
            for _ in range(2 * len(self.ports)):
                port = self.ports[next(self._turn) % len(self.ports)]
                if port not in self.down and port != avoid:
                    return port
            return self.ports[0]

    def _until_acknowledged(self, send_to: Callable[[int], int], what: str, avoid: int | None) -> int:
        """Send until a process acknowledges it (200); the port that did."""
        deadline = time.monotonic() + 30
        port = self.next_port(avoid)
        while time.monotonic() < deadline:
            try:
                status = send_to(port)
            except OSError:  # refused, or cut off by a process dying
                status = 0
            if status == 200:
                return port
            time.sleep(0.05)
            port = self.next_port(port)
        raise AssertionError(f"no process acknowledged {what}")


class Balancer(RoundRobin):
    """Telegram's webhook updates, spread over the processes."""

    def __init__(self, fake: FakeTelegramAPI, ports: list[int]) -> None:
        super().__init__(ports)
        self.fake = fake

    def deliver(self, update: dict[str, Any], avoid: int | None = None) -> int:
        def send_to(port: int) -> int:
            return self.fake.deliver_webhook(
                update, url=f"http://127.0.0.1:{port}/telegram", secret=SECRET, timeout=10
            )

        return self._until_acknowledged(send_to, f"update {update.get('update_id')}", avoid)


@dataclass
class Crowd:
    fake: FakeTelegramAPI
    balancer: Balancer
    presses: int = 0
    unanswered: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, user: int) -> None:
        try:
            self._take(user)
        except Exception as error:  # a person's script failing is a failure of the scenario
            self._unanswered(f"{user}: {error!r}")

    def _take(self, user: int) -> None:
        """One person: `assess`, then a button of the newest question until the result is shown.
        Some presses are double clicks split across the processes, some are re-delivered."""
        rng = random.Random(user)
        self.balancer.deliver(self.fake.push_message(user, "/assess"))
        if not _wait(lambda: any(m.buttons for m in self.fake.chat(user))):
            self._unanswered(f"{user}: no answer to /assess")
            return
        pressed: set[tuple[int, str | None]] = set()  # a message is edited into the next question
        while not any("Your result for" in (m.text or "") for m in self.fake.chat(user)):
            waiting = [m for m in self.fake.chat(user) if m.buttons and (m.message_id, m.text) not in pressed]
            if not waiting:
                self._unanswered(f"{user}: nothing to press and no result")
                return
            message = waiting[-1]
            pressed.add((message.message_id, message.text))
            data = _choose(message.callback_data(), rng)
            update = self.fake.push_callback(user, message.message_id, data)
            chance = rng.random()
            if chance < 0.3:  # a double click whose halves reach different processes
                second = self.fake.push_callback(user, message.message_id, data)
                first_port = self.balancer.next_port()
                halves = [
                    threading.Thread(target=self.balancer.deliver, args=(update,)),
                    threading.Thread(target=self.balancer.deliver, args=(second, first_port)),
                ]
                for half in halves:
                    half.start()
                for half in halves:
                    half.join()
            else:
                port = self.balancer.deliver(update)
                if chance < 0.5:  # Telegram delivers the same update again, to the other process
                    self.balancer.deliver(update, avoid=port)
            with self.lock:
                self.presses += 1
            answered = functools.partial(_answered, self.fake, user, message.message_id, message.text, data)
            if not _wait(answered):
                self._unanswered(f"{user}: press {data} on message {message.message_id} not answered")
                return

    def _unanswered(self, what: str) -> None:
        with self.lock:
            self.unanswered.append(what)


def _choose(data: list[str], rng: random.Random) -> str:
    """The round's offer, the first background option, or a point on the scale (never back)."""
    for prefix in ("o:", "g:"):
        found = [d for d in data if d.startswith(prefix)]
        if found:
            return found[0]
    points = [d for d in data if d.startswith("a:") and d.rsplit(":", 1)[1].isdigit()]
    assert points, data
    return rng.choice(points)


def _answered(fake: FakeTelegramAPI, user: int, pressed: int, was: str | None, data: str) -> bool:
    """The press shows: the next question (or the result) came, in the pressed message edited into
    the answer and the next question, or in a new message after it (an offer stays as it was)."""
    messages = fake.chat(user)
    now = [m for m in messages if m.message_id == pressed]
    edited = bool(now) and now[0].text != was and not data.startswith("o:")
    shown = [m for m in messages if m.message_id > pressed] + (now if edited else [])
    return any(m.buttons or "Your result for" in (m.text or "") for m in shown)


def _sent_twice(fake: FakeTelegramAPI, except_just_before: float) -> list[str]:
    """Messages sent twice to one chat, and messages edited twice (a repeated identical edit is
    refused by Telegram as "not modified" and changes nothing the person sees). A message whose
    first copy reached the platform in the `UNMARKED` moment before `except_just_before` (the
    kill) is the documented exception."""
    sent: dict[tuple[object, object], list[float]] = {}
    for call in fake.calls_of("sendMessage"):
        if call.status == 200:
            sent.setdefault((call.params.get("chat_id"), call.params.get("text")), []).append(call.at)
    edited = Counter(
        (call.params.get("chat_id"), call.params.get("message_id"), call.params.get("text"))
        for call in fake.calls_of("editMessageText")
        if call.status == 200
    )
    in_window = except_just_before - UNMARKED
    return [
        f"sent {len(times)}x to {chat}: {text!r}"
        for (chat, text), times in sent.items()
        if len(times) > 1 and not (len(times) == 2 and in_window <= times[0] <= except_just_before)
    ] + [
        f"edited {n}x into the same text: message {message} in {chat}"
        for (chat, message, _text), n in edited.items()
        if n > 1
    ]


def test_a_crowd_answers_through_two_telegram_webhook_processes_one_killed_midway(tmp_path: Path) -> None:
    users = [5001 + n for n in range(PEOPLE)]
    with empty_postgres_schema() as url, FakeTelegramAPI(local_mode=True) as fake:
        # A Bot API a little way off: a press's edit is on its way for a moment, as on the real one.
        fake.slow_down("editMessageText", 0.1)
        ports = [free_port(), free_port()]
        bots = [
            BotProcess(
                {
                    **telegram_webhook_settings(
                        url, f"http://127.0.0.1:{fake.port}", fake.token, port, tmp_path
                    ),
                    # A reply its process did not send goes out from the other one this much later
                    # (long enough that a process merely slow on a busy machine is not overtaken).
                    "reply_takeover_seconds": "8",
                },
                tmp_path / f"bot-{n}.log",
            )
            for n, port in enumerate(ports)
        ]
        for bot in bots:
            bot.start()
        try:
            for bot, port in zip(bots, ports, strict=True):
                _wait_until_listening(bot, port)
            db = make_engine(url)
            with transaction(make_session_factory(db)) as session:
                round_id = open_round_for(session, "telegram", [str(u) for u in users])
            db.dispose()
            balancer = Balancer(fake, ports)
            crowd = Crowd(fake, balancer)
            people = [threading.Thread(target=crowd.take, args=(user,)) for user in users]
            for person in people:
                person.start()
            # Midway, the first process dies without warning; the balancer notices, and a
            # supervisor starts it again a moment later.
            wait_for(lambda: crowd.presses >= PEOPLE * 2, timeout=60, what="the crowd to get going")
            # Telegram's gateway fails a few edits (as timeouts on the real one do): an edit is
            # tried again, and one that still fails is left to the outbox, never dropped.
            fake.fail_next_with("editMessageText", 502, "Bad Gateway", times=6)
            time.sleep(0.5)
            balancer.down.add(ports[0])
            killed_at = time.monotonic()
            bots[0].kill()
            time.sleep(1.0)
            bots[0].start()
            _wait_until_listening(bots[0], ports[0])
            balancer.down.discard(ports[0])
            for person in people:
                person.join(timeout=120)
            assert crowd.unanswered == []
            at_end = stored(url, round_id)
        finally:
            codes = [bot.stop() for bot in bots]
        # Everyone completed, with one response each and every answer stored once.
        assert at_end.responses == {str(u): [ResponseStatus.COMPLETED] for u in users}
        assert at_end.answers == {str(u): len(CODES) for u in users}
        assert at_end.background == {str(u): 1 for u in users}
        # Nothing said twice, no error shown.
        # Nothing said twice, except in the window no one can close from our side (the README's
        # "Scaling out"): a message the platform took just before the process died, before it
        # could mark it sent, is sent again by the process that takes its replies over.
        assert _sent_twice(fake, except_just_before=killed_at) == []
        shown = [m.text or m.caption or "" for u in users for m in fake.chat(u)]
        assert [text for text in shown if any(error in text for error in ERRORS)] == []
        for bot in bots:
            assert "Traceback" not in bot.log(), bot.log()
        assert codes == [0, 0]


# ---------------------------------------------------------------- the same in Slack HTTP mode

SLACK_SECRET = "scale-out-signing-secret-0123456789"


class SlackBalancer(RoundRobin):
    """Slack's requests, spread over the processes' request URLs."""

    def __init__(self, fake: FakeSlackAPI, ports: list[int]) -> None:
        super().__init__(ports)
        self.clients = {
            port: SlackEventsClient(f"http://127.0.0.1:{port}/slack/events", SLACK_SECRET, api=fake)
            for port in ports
        }

    def deliver(self, send: Callable[[SlackEventsClient], tuple[int, str]], avoid: int | None = None) -> int:
        return self._until_acknowledged(lambda port: send(self.clients[port])[0], "a request", avoid)


def _slack_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [el for b in message.get("blocks") or [] if b["type"] == "actions" for el in b["elements"]]


@dataclass
class SlackCrowd:
    fake: FakeSlackAPI
    balancer: SlackBalancer
    presses: int = 0
    unanswered: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, user: str) -> None:
        try:
            self._take(user)
        except Exception as error:  # a person's script failing is a failure of the scenario
            self._unanswered(f"{user}: {error!r}")

    def _take(self, user: str) -> None:
        """`/assess`, then the newest question's buttons (or a typed answer, which Slack may deliver
        again with X-Slack-Retry-Num, to the other process) until the result is shown."""
        rng = random.Random(user)
        channel = dm_channel_id(user)
        self.balancer.deliver(lambda client: client.send_command("/assess", user_id=user))
        pressed: set[str] = set()
        while not any("Your result for" in str(m.get("text")) for m in self.fake.channel_messages(channel)):
            waiting = [
                m for m in self.fake.channel_messages(channel) if _slack_buttons(m) and m["ts"] not in pressed
            ]
            if not waiting:
                if not _wait(
                    lambda: any(
                        _slack_buttons(m) and m["ts"] not in pressed
                        for m in self.fake.channel_messages(channel)
                    )
                ):
                    self._unanswered(f"{user}: nothing to press and no result")
                    return
                continue
            message = waiting[-1]
            pressed.add(message["ts"])
            buttons = {b["value"]: b for b in _slack_buttons(message)}
            data = _choose(list(buttons), rng)
            self._press(user, message, buttons[data], data, rng.random())
            with self.lock:
                self.presses += 1
            if not _wait(functools.partial(_slack_answered, self.fake, channel, message["ts"], data)):
                self._unanswered(f"{user}: {data} on {message['ts']} not answered")
                return

    def _press(
        self, user: str, message: dict[str, Any], button: dict[str, Any], data: str, chance: float
    ) -> None:
        channel, ts = dm_channel_id(user), message["ts"]
        if data.startswith("a:") and chance < 0.3:  # typed, and delivered again by Slack
            event = self.balancer.clients[self.balancer.ports[0]].message_event(user, data.rsplit(":", 1)[1])
            event_id = f"Ev{user}{ts.replace('.', '')}"
            port = self.balancer.deliver(lambda client: client.send_event(event, event_id=event_id))
            self.balancer.deliver(
                lambda client: client.send_event(event, event_id=event_id, retry_num=1), avoid=port
            )
            return

        def click(client: SlackEventsClient) -> tuple[int, str]:
            # The message as it was on screen when clicked (the other half may have changed it since).
            return client.send_action(
                user, button["action_id"], data, channel_id=channel, message_ts=ts, message=message
            )

        if chance < 0.6:  # a double click whose halves reach different processes
            first = self.balancer.next_port()
            halves = [
                threading.Thread(target=self.balancer.deliver, args=(click,)),
                threading.Thread(target=self.balancer.deliver, args=(click, first)),
            ]
            for half in halves:
                half.start()
            for half in halves:
                half.join()
        else:
            self.balancer.deliver(click)

    def _unanswered(self, what: str) -> None:
        with self.lock:
            self.unanswered.append(what)


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    try:
        wait_for(condition, timeout)
    except AssertionError:
        return False
    return True


def _slack_answered(fake: FakeSlackAPI, channel: str, pressed: str, data: str) -> bool:
    messages = fake.channel_messages(channel)
    newer = [m for m in messages if float(m["ts"]) > float(pressed)]
    return any(_slack_buttons(m) or "Your result for" in str(m.get("text")) for m in newer)


def _slack_sent_twice(fake: FakeSlackAPI, except_just_before: float) -> list[str]:
    sent: dict[tuple[object, object], list[float]] = {}
    for call in fake.calls_of("chat.postMessage"):
        if call.ok:
            sent.setdefault((call.params.get("channel"), call.params.get("text")), []).append(call.at)
    in_window = except_just_before - UNMARKED
    return [
        f"sent {len(times)}x to {chat}: {text!r}"
        for (chat, text), times in sent.items()
        if len(times) > 1 and not (len(times) == 2 and in_window <= times[0] <= except_just_before)
    ]


def test_a_crowd_answers_through_two_slack_http_processes_one_killed_midway(tmp_path: Path) -> None:
    with empty_postgres_schema() as url, FakeSlackAPI() as fake:
        users = [f"U0P{n:03d}" for n in range(PEOPLE)]
        for user in users:
            fake.add_user(user, locale="en-US", real_name=f"Person {user}")
        ports = [free_port(), free_port()]
        bots = [
            BotProcess(
                {
                    "database_url": url,
                    "output_dir": str(tmp_path),
                    "slack_bot_token": fake.token,
                    "slack_signing_secret": SLACK_SECRET,
                    "slack_api_url": fake.base_url,
                    "slack_port": str(port),
                    "reply_takeover_seconds": "8",
                },
                tmp_path / f"slack-{n}.log",
            )
            for n, port in enumerate(ports)
        ]
        for bot in bots:
            bot.start()
        try:
            for bot, port in zip(bots, ports, strict=True):
                _wait_until_listening(bot, port)
            db = make_engine(url)
            with transaction(make_session_factory(db)) as session:
                round_id = open_round_for(session, "slack", users, workspace=fake.team_id)
            db.dispose()
            balancer = SlackBalancer(fake, ports)
            crowd = SlackCrowd(fake, balancer)
            people = [threading.Thread(target=crowd.take, args=(user,)) for user in users]
            for person in people:
                person.start()
            wait_for(lambda: crowd.presses >= PEOPLE * 2, timeout=60, what="the crowd to get going")
            balancer.down.add(ports[0])
            killed_at = time.time()
            bots[0].kill()
            time.sleep(1.0)
            bots[0].start()
            _wait_until_listening(bots[0], ports[0])
            balancer.down.discard(ports[0])
            for person in people:
                person.join(timeout=120)
            assert crowd.unanswered == []
            at_end = stored(url, round_id)
        finally:
            codes = [bot.stop() for bot in bots]
        unfinished = [u for u in users if at_end.responses.get(u) != [ResponseStatus.COMPLETED]]
        assert unfinished == [], [
            [str(m.get("text"))[:40] for m in fake.channel_messages(dm_channel_id(u))] for u in unfinished
        ]
        assert at_end.answers == {u: len(CODES) for u in users}
        assert at_end.background == {u: 1 for u in users}
        assert _slack_sent_twice(fake, except_just_before=killed_at) == []
        shown = [str(m.get("text")) for u in users for m in fake.channel_messages(dm_channel_id(u))]
        assert [text for text in shown if any(error in text for error in ERRORS)] == []
        for bot in bots:
            assert "Traceback" not in bot.log(), bot.log()
        assert codes == [0, 0]
