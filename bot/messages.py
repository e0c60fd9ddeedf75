"""What crosses the line between the platform-free core and the adapters.

An adapter turns a platform update into an `Incoming`, hands it to `Engine.handle`, and renders the
returned `Reply` objects with its platform's widgets. Nothing here knows about any platform.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Attachment:
    """A file the person sent (an instrument upload, for instance)."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Incoming:
    """One thing a person did: typed a message or command, pressed a button, or sent a file."""

    platform: str
    user_id: str
    text: str | None = None
    # The payload of a pressed button (untrusted: a client can send anything here).
    action: str | None = None
    # The platform's id for this update, so a re-delivery or a double click is recognised.
    event_id: str | None = None
    workspace: str = ""
    # Where the bot can reach this person later (chat id, DM channel); defaults to the user id.
    address: str | None = None
    locale_hint: str | None = None
    display_name: str | None = None
    attachment: Attachment | None = None
    # False in group chats and channels: the bot never collects answers there.
    is_private: bool = True
    # The platform's id of the bot's message this one answers: a Telegram reply, a Slack thread.
    reply_to: str | None = None


@dataclass(frozen=True)
class Choice:
    """A button. `payload` is what comes back in `Incoming.action` (kept short: Telegram allows 64 bytes)."""

    label: str
    payload: str


@dataclass(frozen=True, eq=False)
class Outgoing:
    """A file the bot sends. `source` is its bytes, or a function that makes them: then they are made
    on first use of `content`, which for a reply is just after the event's transaction has
    committed (bot/engine.py). Drawing a chart or a workshop PDF takes CPU time (bench/RESULTS.md),
    too long to hold SQLite's write lock (every other person's answer waits on it) or a PostgreSQL
    transaction."""

    filename: str
    source: bytes | Callable[[], bytes]
    caption: str = ""

    @cached_property
    def content(self) -> bytes:
        return self.source() if callable(self.source) else self.source

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Outgoing)
        return (self.filename, self.caption, self.content) == (other.filename, other.caption, other.content)

    def __hash__(self) -> int:
        return hash((self.filename, self.caption))


class Image(Outgoing):
    """A picture, shown in the conversation."""


class FileOut(Outgoing):
    """A document to download."""


@dataclass(frozen=True)
class Reply:
    """One message from the bot.

    `edit=True` asks the adapter to replace the message whose button was pressed (the answered
    question) instead of posting a new one; adapters that cannot edit print it as a new line.
    """

    text: str
    choices: tuple[tuple[Choice, ...], ...] = ()
    edit: bool = False
    image: Image | None = None
    file: FileOut | None = None
    # Replies to this message mean something (a workshop statement's notes): the adapter reports
    # the posted message's id with `Engine.anchored`, and a reply to it comes back as `reply_to`.
    anchor: str = ""

    @property
    def flat_choices(self) -> list[Choice]:
        return [choice for row in self.choices for choice in row]


@dataclass(frozen=True)
class Address:
    """Where an outbox message goes: one person's identity on one platform."""

    platform: str
    workspace: str
    user_id: str
    chat: str
    locale: str = "en"


class RetryLater(Exception):
    """A sender was rate limited; the message should be tried again after `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Undeliverable(Exception):
    """The platform refused the message for good (blocked bot, unknown user)."""


class Sender(Protocol):
    """How the outbox dispatcher sends a message through one platform. Blocking; thread-safe."""

    platform: str

    def send(self, address: Address, replies: Sequence[Reply]) -> None: ...


@dataclass(frozen=True)
class Sending:
    """One message handed to a `ConcurrentSender`; `done` is called once with its outcome:
    None when the platform took it, else the exception `Sender.send` would have raised."""

    address: Address
    replies: Sequence[Reply]
    done: Callable[[BaseException | None], None]


@runtime_checkable
class ConcurrentSender(Sender, Protocol):
    """A sender that runs many sends at once by itself (on an event loop of its own).

    `start` returns at once; each sending's `done` is called later, from any thread. The dispatcher
    then needs no thread per message in flight, and hands over several messages in one call.
    """

    def start(self, sendings: Sequence[Sending]) -> None: ...


def reply_to_json(reply: Reply) -> dict[str, object]:
    data: dict[str, object] = {"text": reply.text}
    if reply.anchor:
        data["anchor"] = reply.anchor
    if reply.choices:
        data["choices"] = [[[c.label, c.payload] for c in row] for row in reply.choices]
    if reply.image:
        data["image"] = {
            "filename": reply.image.filename,
            "content": base64.b64encode(reply.image.content).decode(),
            "caption": reply.image.caption,
        }
    if reply.file:
        data["file"] = {
            "filename": reply.file.filename,
            "content": base64.b64encode(reply.file.content).decode(),
            "caption": reply.file.caption,
        }
    return data


def reply_from_json(data: dict[str, object]) -> Reply:
    rows = data.get("choices") or []
    assert isinstance(rows, list)
    choices = tuple(tuple(Choice(str(label), str(payload)) for label, payload in row) for row in rows)
    image = file = None
    if isinstance(img := data.get("image"), dict):
        image = Image(img["filename"], base64.b64decode(img["content"]), img.get("caption", ""))
    if isinstance(f := data.get("file"), dict):
        file = FileOut(f["filename"], base64.b64decode(f["content"]), f.get("caption", ""))
    return Reply(
        text=str(data.get("text", "")),
        choices=choices,
        image=image,
        file=file,
        anchor=str(data.get("anchor", "")),
    )


def replies_to_json(replies: Sequence[Reply]) -> list[dict[str, object]]:
    return [reply_to_json(r) for r in replies]


def replies_from_json(data: Sequence[dict[str, object]]) -> list[Reply]:
    return [reply_from_json(d) for d in data]
