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
  margin; bulk sends also leave evenly spaced. With nobody pressing, the outbox has the whole
  limit; during a crowd it yields.

A 429 on either lane pauses every send for its `retry_after`, and the call is tried again after
the pause, twice, before the caller hears of it (the handlers then wait and retry themselves, the
outbox hands the wait back to its dispatcher); retrying in place keeps one chat's messages in
their order. Calls without a chat (getUpdates, answerCallbackQuery, setWebhook) are not paced and
do not wait for a pause, Telegram's message limits not being about them; a 429 on one is waited
out by that call alone. Edits are not counted, as Telegram counts messages sent.
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
    """The sends of the last second and the interactive ones of the last few, as they left; not
    thread-safe (one event loop uses it).

    Bulk sends leave evenly spaced (at most `capacity` a second, hardly any burst) as well as
    within the window: sends that leave together can arrive closer together than they left, and
    spacing keeps that to the jitter of the network, which the margin covers.
    """

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = max(1.0, per_second * (1 - MARGIN))
        self.spacing = 1.0 / self.capacity
        # A few sends may leave back to back (about a hundredth of a second's worth, at least two),
        # so a sleep that oversleeps on a busy machine does not cost its slot.
        self.slack = (max(2.0, self.capacity / 100) - 1) * self.spacing
        self.clock = clock
        self.sent: deque[float] = deque()
        self.interactive: deque[float] = deque()
        self.next_bulk = 0.0
        self.paused_until = 0.0

    def _forget(self, now: float) -> None:
        while self.sent and self.sent[0] <= now - WINDOW:
            self.sent.popleft()
        while self.interactive and self.interactive[0] <= now - RECENT:
            self.interactive.popleft()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    def pause_left(self) -> float:
        return max(0.0, self.paused_until - self.clock())

    def note_interactive(self) -> None:
        now = self.clock()
        self._forget(now)
        self.sent.append(now)
        self.interactive.append(now)

    def bulk_wait(self) -> float:
        """0 and the send counted when a bulk send may leave now; otherwise seconds to wait first."""
        now = self.clock()
        if now < self.paused_until:
            return self.paused_until - now
        if now < self.next_bulk - self.slack:
            return self.next_bulk - self.slack - now
        self._forget(now)
        if len(self.sent) + 1 + headroom(len(self.interactive)) > self.capacity:
            oldest = self.sent[0] if self.sent else now
            return max(0.001, oldest + WINDOW - now)
        self.sent.append(now)
        self.next_bulk = max(self.next_bulk, now) + self.spacing
        return 0.0


class Lanes(BaseRateLimiter[None]):
    """python-telegram-bot's rate limiter for the two lanes of the module docstring."""

    def __init__(
        self, per_second: float, *, retries: int = 2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = Window(per_second, clock)
        self._bulk = asyncio.Lock()
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
        to_chat = data.get("chat_id") is not None
        for attempt in range(self.retries + 1):
            if to_chat:
                await self._turn(endpoint)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if to_chat:
                    self.window.pause(retry_seconds(error))
                if attempt == self.retries:
                    raise
                if not to_chat:  # setWebhook and the like: only this call waits
                    await asyncio.sleep(retry_seconds(error))
        raise AssertionError("unreachable")

    async def _turn(self, endpoint: str) -> None:
        """Wait out a pause, and for a bulk message its turn: one bulk send waits for its slot at a
        time, the others queue behind it in order."""
        window = self.window
        while (wait := window.pause_left()) > 0:
            await asyncio.sleep(wait)
        if endpoint not in COUNTED:
            return
        if _lane.get() is Lane.INTERACTIVE:
            window.note_interactive()
            return
        async with self._bulk:
            while (wait := window.bulk_wait()) > 0:
                await asyncio.sleep(wait)
