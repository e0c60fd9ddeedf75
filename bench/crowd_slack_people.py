"""The people of bench/crowd.py's Slack settings and the fake Slack they press buttons on, in a
process of their own (bench/crowd_people.py's protocol and reading, for Slack HTTP mode).

Each person runs `/assess` in their DM with the app, takes the first button of every message with
buttons until a scale statement comes, then reads and presses as in the Telegram settings. A
press is Slack's signed `block_actions` POST to the bot's request URL; it counts from just before
that POST to the moment the fake has stored the message (new or updated) with the next buttons.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.crowd_people import (
    GRACE,
    OFFER,
    SCALE,
    WARM_UP_TIMEOUT,
    Crowd,
    CrowdPerson,
    peak_per_second,
    press,
    read_crowd,
    warm_up,
)
from tests.fakes.slack_api import FakeSlackAPI, SlackEventsClient, dm_channel_id

SIGNING_SECRET = "crowd-signing-secret"


@dataclass(frozen=True)
class Buttons:
    ts: str
    text: str
    buttons: dict[str, tuple[str, str]]  # label -> (action_id, value)
    at: float


def _buttons(message: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                found.setdefault(
                    str(element["text"]["text"]), (str(element["action_id"]), str(element.get("value")))
                )
    return found


class CrowdSlack(FakeSlackAPI):
    """The fake, telling each person when their DM changes."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: dict[str, threading.Event] = {}
        self.posts_at: list[float] = []

    def _record(
        self, method: str, params: Mapping[str, Any], *, status: int = 200, error: str | None = None
    ) -> None:
        super()._record(method, params, status=status, error=error)
        if status == 200 and error is None and method in ("chat.postMessage", "chat.update"):
            if method == "chat.postMessage":
                self.posts_at.append(time.monotonic())
            channel = str(params.get("channel") or "")
            channel = dm_channel_id(channel) if channel[:1] in ("U", "W") else channel
            event = self.changed.get(channel)
            if event is not None:
                event.set()


class Person(CrowdPerson):
    def __init__(
        self, api: CrowdSlack, url: str, n: int, crowd: Crowd, go: threading.Event, ready: Any
    ) -> None:
        super().__init__(n, crowd, go, ready)
        self.api = api
        self.user = f"U{n:08d}"
        self.dm = dm_channel_id(self.user)
        api.add_user(self.user, locale="en-US", real_name=f"P{n}")
        self.client = SlackEventsClient(url, SIGNING_SECRET, api=api, timeout=60)
        self.changed = threading.Event()
        api.changed[self.dm] = self.changed

    def _newest(self, unlike: tuple[str, str] | None) -> Buttons | None:
        for message in reversed(self.api.channel_messages(self.dm)):
            buttons = _buttons(message)
            if buttons:
                key = (str(message["ts"]), str(message.get("text")))
                return None if key == unlike else Buttons(key[0], key[1], buttons, time.monotonic())
        return None

    def _next(self, unlike: tuple[str, str] | None, timeout: float) -> Buttons | None:
        deadline = time.monotonic() + timeout
        while True:
            self.changed.clear()
            found = self._newest(unlike)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self.changed.wait(left):
                return None

    def _press(self, buttons: Buttons, label: str) -> None:
        action_id, value = buttons.buttons[label]
        status, _body = self.client.send_action(
            self.user, action_id, value, channel_id=self.dm, message_ts=buttons.ts
        )
        if status != 200:
            raise RuntimeError(f"the bot answered a press with HTTP {status}")

    def _warm_up(self) -> None:
        status, _body = self.client.send_command("/assess", "", user_id=self.user)
        if status != 200:
            raise RuntimeError(f"the bot answered /assess with HTTP {status}")
        buttons = self._next(None, WARM_UP_TIMEOUT)
        while buttons is not None and set(SCALE) - set(buttons.buttons):
            label = OFFER if OFFER in buttons.buttons else next(iter(buttons.buttons))
            self._press(buttons, label)
            buttons = self._next((buttons.ts, buttons.text), WARM_UP_TIMEOUT)
        if buttons is None:
            raise RuntimeError("no statement came")
        self.buttons = buttons
        self.ready.release()

    def _press_until(self, end: float) -> None:
        low, high = self.crowd.think
        buttons = self.buttons
        while self.pressed < self.crowd.presses_each:
            time.sleep(self.random.uniform(low, high))
            if time.monotonic() >= end:
                return
            pressed_at = time.monotonic()
            self._press(buttons, self.random.choice(SCALE))
            self.pressed += 1
            following = self._next((buttons.ts, buttons.text), max(0.1, end - time.monotonic()) + GRACE)
            if following is None:
                return  # unanswered
            self.latencies.append(following.at - pressed_at)
            self.answered_at.append(following.at)
            if set(SCALE) - set(following.buttons):
                return
            buttons = following


def serve(crowd_json: str) -> None:
    """The child process: the fake first (its URL printed), then the people once told the bot's URL."""
    crowd = read_crowd(crowd_json)
    api = CrowdSlack()
    with api:
        print(json.dumps({"token": api.token, "url": api.base_url}), flush=True)
        command = sys.stdin.readline().split()
        if not command or command[0] != "people":
            return
        go, ready = threading.Event(), threading.Semaphore(0)
        people = [Person(api, command[1], i, crowd, go, ready) for i in range(crowd.people)]
        warm_up(people, ready)
        if sys.stdin.readline().strip() != "go":
            return
        api.posts_at.clear()
        result = press(people, crowd, go)
        result |= {
            "rejected": {"any": api.rejected_429},
            "peak_sends_per_second": peak_per_second(api.posts_at),
            "wave_received": 0,
        }
        print(json.dumps(result), flush=True)
        sys.stdin.readline()
