"""Replies rendered into a Slack channel: Block Kit messages posted (adapters/slack_blocks.py), the
pressed message updated in place, images and files uploaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from adapters.slack_blocks import edited_payload, message_payloads
from bot.messages import Reply


@dataclass(frozen=True)
class Click:
    """The message whose button was pressed (what an `edit=True` reply replaces)."""

    channel: str
    ts: str


def deliver(
    client: WebClient,
    channel: str,
    replies: Sequence[Reply],
    *,
    click: Click | None = None,
    before_post: Callable[[str], None] | None = None,
    skip: int = 0,
    on_sent: Callable[[], None] | None = None,
    thread_ts: str | None = None,
    anchored: Anchored | None = None,
) -> None:
    """Render replies into `channel` (a `D...` DM id, or a workshop's channel). Raises SlackApiError
    as it comes.

    `skip` leaves out the first messages (already delivered before a retry); `on_sent` counts them.
    `thread_ts` posts into that thread. A reply with an anchor is reported to `anchored` (channel,
    ts, anchor) once posted, so that its thread finds it.
    """
    for operation in _operations(replies, click):
        if skip > 0:
            skip -= 1
            continue
        kind, payload, anchor = operation
        if before_post is not None and kind != "update":
            before_post(channel)
        if kind == "update":
            assert click is not None
            client.chat_update(channel=click.channel, ts=click.ts, **payload)
            posted = (click.channel, click.ts)
        elif kind == "post":
            if thread_ts is not None:
                payload = {**payload, "thread_ts": thread_ts}
            answer = client.chat_postMessage(channel=channel, **payload)
            posted = (str(answer.get("channel") or channel), str(answer.get("ts") or ""))
        else:
            client.files_upload_v2(channel=channel, **payload)
            posted = None
        if anchor and anchored is not None and posted is not None and posted[1]:
            anchored(posted[0], posted[1], anchor)
        if on_sent is not None:
            on_sent()


Anchored = Callable[[str, str, str], None]


def _operations(replies: Sequence[Reply], click: Click | None) -> Iterator[tuple[str, dict[str, Any], str]]:
    for reply in replies:
        if reply.edit and click is not None:
            yield "update", edited_payload(reply), reply.anchor
            continue
        for payload in message_payloads(reply):
            yield "post", payload, reply.anchor
        for attached in (reply.image, reply.file):
            if attached is not None:
                yield (
                    "upload",
                    {
                        "file": attached.content,
                        "filename": attached.filename,
                        "title": attached.caption or attached.filename,
                    },
                    "",
                )
