"""The outbox Sender for Slack: paced per channel, Slack's 429s and permanent errors translated for
the outbox (adapters/slack_render.py does the rendering)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from adapters.slack_render import Anchored, deliver
from bot.messages import Address, Reply, RetryLater, Undeliverable

PLATFORM = "slack"
# Slack errors that no retry will fix: the person left, was deactivated, or cannot be messaged.
UNDELIVERABLE_ERRORS = frozenset(
    {
        "user_not_found",
        "account_inactive",
        "channel_not_found",
        "is_archived",
        "cannot_dm_bot",
        "user_disabled",
        "not_in_channel",
        "messages_tab_disabled",
    }
)


class SlackSender:
    """Delivers outbox messages: about one message a second per channel, Retry-After honoured.

    A 429 the client's own retries could not get past becomes RetryLater (the outbox tries again
    later); errors that no retry will fix become Undeliverable. If a multi-message row fails half
    way, the messages already delivered are skipped on the retry (remembered in this process).
    """

    platform = PLATFORM

    def __init__(
        self,
        client: WebClient,
        *,
        min_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        anchored: Callable[..., None] | None = None,
    ) -> None:
        self.client = client
        # `Engine.anchored`: a workshop statement the timer posts takes notes in its thread too.
        self.anchored = anchored
        self.min_interval = min_interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._last: dict[str, float] = {}
        self._channel_locks: dict[str, threading.Lock] = {}
        self._delivered: dict[str, int] = {}
        self._guard = threading.Lock()

    def send(self, address: Address, replies: Sequence[Reply]) -> None:
        key = hashlib.sha256(repr((address.chat, replies)).encode()).hexdigest()
        with self._guard:
            already = self._delivered.pop(key, 0)
        sent = 0

        def count() -> None:
            nonlocal sent
            sent += 1

        try:
            channel = self._channel(address, replies)
            deliver(
                self.client,
                channel,
                replies,
                before_post=self._pace,
                skip=already,
                on_sent=count,
                anchored=self._anchor_in(address.workspace) if self.anchored else None,
            )
        except SlackApiError as error:
            if sent or already:
                with self._guard:
                    self._delivered[key] = already + sent
            code = str(error.response.get("error") or "")
            if error.response.status_code == 429:
                retry_after = error.response.headers.get("Retry-After") or error.response.headers.get(
                    "retry-after"
                )
                raise RetryLater(float(retry_after or 1)) from None
            if code in UNDELIVERABLE_ERRORS:
                raise Undeliverable(code) from None
            raise

    def _anchor_in(self, workspace: str) -> Anchored:
        def anchor(channel: str, ts: str, name: str) -> None:
            assert self.anchored is not None
            self.anchored(platform=PLATFORM, workspace=workspace, chat=channel, message_id=ts, anchor=name)

        return anchor

    def _channel(self, address: Address, replies: Sequence[Reply]) -> str:
        has_files = any(reply.image or reply.file for reply in replies)
        if address.chat.startswith("D") or not has_files:
            return address.chat
        # A user id: chat.postMessage takes it (Slack posts in the app's DM), file uploads do not.
        return str(self.client.conversations_open(users=address.user_id)["channel"]["id"])

    def _pace(self, channel: str) -> None:
        with self._guard:
            lock = self._channel_locks.setdefault(channel, threading.Lock())
        with lock:
            wait = self._last.get(channel, float("-inf")) + self.min_interval - self._monotonic()
            if wait > 0:
                self._sleep(wait)
            self._last[channel] = self._monotonic()
