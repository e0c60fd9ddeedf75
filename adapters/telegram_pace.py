"""How fast the Telegram adapter sends: replies to a person at once, the outbox paced, 429s obeyed.

Telegram documents about 30 messages a second for a bot sending to many users, and answers 429
with `retry_after` past its limits; a bot that keeps sending through 429s is banned for longer.
python-telegram-bot's AIORateLimiter paced every call to a chat to that limit, a reply to a
person's own press included, so a crowd waited behind itself and behind the reminders. `Lanes`
(python-telegram-bot's `BaseRateLimiter` extension point) keeps two lanes instead:

- interactive: what answers a person's own message or press (the handlers' `Delivery`) goes at
  once. Its messages are counted, so the other lane knows how much room is left.
- bulk: everything else sent to a chat (the outbox's reminders and digests, the default) waits
  for room in a sliding one-second window, as Telegram counts: all sends in the last second plus
  a headroom for the interactive traffic of the last few seconds stay under the limit, less a
  margin for sends that arrive closer together than they left. With nobody pressing, the outbox
  has the whole limit; during a crowd it yields.

A 429 on either lane pauses every send for its `retry_after`, and the call is tried again after
the pause, twice, before the caller hears of it (the handlers then wait and retry themselves, the
outbox hands the wait back to its dispatcher); retrying in place keeps one chat's messages in
their order. Calls
without a chat (getUpdates, answerCallbackQuery, setMyCommands) are not paced: Telegram's message
limits are not about them. Edits are not counted, as Telegram counts messages sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import math
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

COUNTED = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage", "forwardMessage"}
)
MARGIN = 0.04  # of the limit, left unused
WINDOW = 1.0  # seconds: Telegram's limit is per second
RECENT = 5.0  # seconds of interactive sends that set the bulk lane's headroom


class Lane(enum.Enum):
    INTERACTIVE = "interactive"
    BULK = "bulk"


_lane: contextvars.ContextVar[Lane] = contextvars.ContextVar("telegram_lane", default=Lane.BULK)


@contextlib.contextmanager
def lane(which: Lane) -> Iterator[None]:
    """Calls made in this block (in this task) go through `which` lane."""
    token = _lane.set(which)
    try:
        yield
    finally:
        _lane.reset(token)


def retry_seconds(error: RetryAfter) -> float:
    """`RetryAfter.retry_after` is an int today and a timedelta in later PTB versions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


def headroom(recent_interactive: int) -> float:
    """Room the bulk lane leaves for interactive sends in the next second: their recent rate and
    three standard deviations of it (arrivals of presses are about Poisson), and one more."""
    if recent_interactive == 0:
        return 0.0
    rate = recent_interactive / RECENT
    return rate + 3 * math.sqrt(rate) + 1


class Window:
    """The sends that may still count in Telegram's window, and the interactive ones of the last
    few seconds; not thread-safe (one event loop uses it).

    Telegram counts a send when it arrives, somewhere between its leaving and its answer. So a send
    counts from when it leaves until a second after its answer: whatever second Telegram looks at,
    every send it could see in it is counted here.
    """

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = max(1.0, per_second * (1 - MARGIN))
        self.clock = clock
        self.answered: deque[float] = deque()  # when each send of the last second was answered
        self.interactive: deque[float] = deque()
        self.in_flight = 0
        self.paused_until = 0.0

    def _forget(self, now: float) -> None:
        while self.answered and self.answered[0] <= now - WINDOW:
            self.answered.popleft()
        while self.interactive and self.interactive[0] <= now - RECENT:
            self.interactive.popleft()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    def pause_left(self) -> float:
        return max(0.0, self.paused_until - self.clock())

    def leave(self) -> None:
        """A send goes now (an interactive one without waiting for room)."""
        self.in_flight += 1

    def answer(self, *, interactive: bool) -> None:
        now = self.clock()
        self.in_flight -= 1
        self.answered.append(now)
        if interactive:
            self.interactive.append(now)

    def bulk_wait(self) -> float:
        """0 when a bulk send may leave now (then `leave` it); otherwise seconds to wait first."""
        now = self.clock()
        if now < self.paused_until:
            return self.paused_until - now
        self._forget(now)
        counted = len(self.answered) + self.in_flight
        if counted + 1 + headroom(len(self.interactive)) <= self.capacity:
            return 0.0
        oldest = self.answered[0] if self.answered else now
        return max(0.005, oldest + WINDOW - now)


class Lanes(BaseRateLimiter[None]):
    """python-telegram-bot's rate limiter for the two lanes of the module docstring."""

    def __init__(
        self, per_second: float, *, retries: int = 2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = Window(per_second, clock)
        self.retries = retries  # after a 429 and its pause, before the caller hears of it

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if data.get("chat_id") is None:
            return await callback(*args, **kwargs)
        interactive = _lane.get() is Lane.INTERACTIVE
        counted = endpoint in COUNTED
        for attempt in range(self.retries + 1):
            await self._turn(counted, interactive)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                self.window.pause(retry_seconds(error))
                if attempt == self.retries:
                    raise
            finally:
                if counted:
                    self.window.answer(interactive=interactive)
        raise AssertionError("unreachable")

    async def _turn(self, counted: bool, interactive: bool) -> None:
        """Wait out a pause, and for a bulk message its room in the window; then it leaves."""
        window = self.window
        while (wait := window.pause_left()) > 0:
            await asyncio.sleep(wait)
        if counted and not interactive:
            while (wait := window.bulk_wait()) > 0:
                await asyncio.sleep(wait)
        if counted:
            window.leave()
