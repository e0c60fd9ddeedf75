"""The people of bench/crowd.py and the fake Bot API they press buttons on, in a process of their own.

Like Telegram, the fake must not share an interpreter with the bot it measures. Each person is a
thread with a private chat: they open the assessment (`/assess`), take the first button of every
keyboard until a scale statement comes (buttons 1-7), and from the start signal on read for a
while (`think`, uniform between its bounds), press a scale button and wait for the next keyboard
in their chat, whether it comes as a new message or as an edit. A press counts from the moment
its update is queued for the bot's long poll to the moment the fake has handled the call that
shows the next keyboard; both are this process's clock.

Protocol (JSON lines): the child prints {"token", "url"}, then {"ready"} once every person is at
a statement, reads "go", runs for `duration` seconds plus a grace for the last answers, prints
the result and ends at "stop" (or when stdin closes).
"""

from __future__ import annotations

import json
import queue
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tests.fakes.telegram_api import FakeTelegramAPI, _Request

FIRST_PERSON = 200_000
FIRST_WAVE = 500_000  # chats that get reminders and press nothing
SCALE = [str(n) for n in range(1, 8)]
OFFER = "Digital competence for library staff"
WARM_UP_TIMEOUT = 120.0
GRACE = 15.0  # after the run, for answers still on their way (a 429 being waited out)
SENDS = ("sendMessage", "sendPhoto", "sendDocument")


@dataclass(frozen=True)
class Crowd:
    people: int
    think: tuple[float, float]  # seconds a person reads before pressing
    duration: float  # seconds of pressing
    per_second: int | None  # the fake's limit on sends across chats (edits not counted)
    wave: int = 0  # reminder recipients besides the people
    presses_each: int = 23  # the assessment has 24 statements: the last ends it
    seed: int = 19


@dataclass(frozen=True)
class Keyboard:
    message_id: int
    buttons: dict[str, str]  # label -> callback data
    at: float


class CrowdAPI(FakeTelegramAPI):
    """The fake, telling each person's thread when a keyboard arrives in their chat."""

    def __init__(self) -> None:
        super().__init__()
        self.inboxes: dict[int, queue.Queue[Keyboard]] = {}
        self.sends_at: list[float] = []

    def _call(self, token: str, method_name: str, request: _Request) -> tuple[int, dict[str, Any]]:
        status, response = super()._call(token, method_name, request)
        if status == 200 and method_name in SENDS:
            self.sends_at.append(time.monotonic())
        result = response.get("result")
        if status == 200 and method_name in ("sendMessage", "editMessageText") and isinstance(result, dict):
            markup = result.get("reply_markup")
            inbox = self.inboxes.get(int(result["chat"]["id"]))
            if inbox is not None and markup:
                buttons = {
                    str(b["text"]): str(b["callback_data"])
                    for row in markup["inline_keyboard"]
                    for b in row
                    if "callback_data" in b
                }
                inbox.put(Keyboard(int(result["message_id"]), buttons, time.monotonic()))
        return status, response


class CrowdPerson(threading.Thread):
    """What a person of any platform's crowd counts: warm up to a statement, wait for the start
    signal, then press until the time is up (`_warm_up` and `_press_until` are the platform's)."""

    def __init__(self, n: int, crowd: Crowd, go: threading.Event, ready: Any) -> None:
        super().__init__(daemon=True, name=f"person-{n}")
        self.crowd, self.go, self.ready = crowd, go, ready
        self.random = random.Random(crowd.seed * 1_000_003 + n)
        self.latencies: list[float] = []
        self.answered_at: list[float] = []
        self.pressed = 0
        self.failure = ""

    def run(self) -> None:
        try:
            self._warm_up()
            self.go.wait()
            self._press_until(time.monotonic() + self.crowd.duration)
        except Exception as error:  # reported in the result, not as a traceback in a thread
            self.failure = f"{type(error).__name__}: {error}"
            self.ready.release()

    def _warm_up(self) -> None:
        raise NotImplementedError

    def _press_until(self, end: float) -> None:
        raise NotImplementedError


def warm_up(people: Sequence[CrowdPerson], ready: threading.Semaphore) -> None:
    """Start the people and say which could not reach a statement (the protocol's {"ready"})."""
    for person in people:
        person.start()
    for _ in people:
        ready.acquire(timeout=WARM_UP_TIMEOUT)
    print(json.dumps({"ready": [p.failure for p in people if p.failure]}), flush=True)


def press(people: Sequence[CrowdPerson], crowd: Crowd, go: threading.Event) -> dict[str, Any]:
    """Give the start signal and wait for the people: what they pressed and how long answers took."""
    began = time.monotonic()
    go.set()
    for person in people:
        person.join(timeout=crowd.duration + GRACE + 30)
    last = max((t for p in people for t in p.answered_at), default=began + crowd.duration)
    return {
        "latencies": [t for p in people for t in p.latencies],
        "pressed": sum(p.pressed for p in people),
        "elapsed": max(last - began, 1e-3),
        "failures": [p.failure for p in people if p.failure],
    }


def read_crowd(crowd_json: str) -> Crowd:
    crowd = Crowd(**json.loads(crowd_json))
    return Crowd(**{**asdict(crowd), "think": tuple(crowd.think)})


class Person(CrowdPerson):
    def __init__(self, api: CrowdAPI, chat: int, crowd: Crowd, go: threading.Event, ready: Any) -> None:
        super().__init__(chat, crowd, go, ready)
        self.api, self.chat = api, chat
        self.inbox: queue.Queue[Keyboard] = queue.Queue()
        api.inboxes[chat] = self.inbox

    def _next(self, timeout: float) -> Keyboard:
        keyboard = self.inbox.get(timeout=timeout)
        while not self.inbox.empty():  # only the newest keyboard can still be pressed
            keyboard = self.inbox.get_nowait()
        return keyboard

    def _warm_up(self) -> None:
        self.api.push_message(self.chat, "/assess", first_name=f"P{self.chat}")
        keyboard = self._next(WARM_UP_TIMEOUT)
        while set(SCALE) - set(keyboard.buttons):
            label = OFFER if OFFER in keyboard.buttons else next(iter(keyboard.buttons))
            self.api.push_callback(self.chat, keyboard.message_id, keyboard.buttons[label])
            keyboard = self._next(WARM_UP_TIMEOUT)
        self.keyboard = keyboard
        self.ready.release()

    def _press_until(self, end: float) -> None:
        low, high = self.crowd.think
        keyboard = self.keyboard
        while self.pressed < self.crowd.presses_each:
            time.sleep(self.random.uniform(low, high))
            if time.monotonic() >= end:
                return
            label = self.random.choice(SCALE)
            pressed_at = time.monotonic()
            self.api.push_callback(self.chat, keyboard.message_id, keyboard.buttons[label])
            self.pressed += 1
            try:
                keyboard = self.inbox.get(timeout=max(0.1, end - time.monotonic()) + GRACE)
            except queue.Empty:
                return  # unanswered: counted by the parent as pressed - answered
            self.latencies.append(keyboard.at - pressed_at)
            self.answered_at.append(keyboard.at)
            if set(SCALE) - set(keyboard.buttons):
                return  # not a statement: the assessment is over


def peak_per_second(stamps: list[float]) -> int:
    """The most sends within any one second (a sliding window, as Telegram counts)."""
    stamps = sorted(stamps)
    most, start = 0, 0
    for end, at in enumerate(stamps):
        while stamps[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def serve(crowd_json: str) -> None:
    """The child process: the fake, the people, and the protocol of the module docstring."""
    crowd = read_crowd(crowd_json)
    api = CrowdAPI()
    with api:
        for i in range(crowd.wave):
            api.add_chat(FIRST_WAVE + i, first_name=f"W{i}")
        print(json.dumps({"token": api.token, "url": f"http://127.0.0.1:{api.port}"}), flush=True)
        if sys.stdin.readline().strip() != "people":
            return
        go, ready = threading.Event(), threading.Semaphore(0)
        people = [Person(api, FIRST_PERSON + i, crowd, go, ready) for i in range(crowd.people)]
        warm_up(people, ready)
        if sys.stdin.readline().strip() != "go":
            return
        if crowd.per_second:  # from now on: a bot that floods the fake at the start would not get going
            api.rate_limit(per_second=crowd.per_second, count_edits=False)
        api.clear_calls()
        api.sends_at.clear()
        result = press(people, crowd, go)
        rejected = Counter(call.method for call in api.calls if call.status == 429)
        result |= {
            "rejected": dict(rejected),
            "peak_sends_per_second": peak_per_second(api.sends_at),
            "wave_received": sum(
                1 for c in api.calls_of("sendMessage") if c.ok and int(c.params["chat_id"]) >= FIRST_WAVE
            ),
        }
        print(json.dumps(result), flush=True)
        sys.stdin.readline()
