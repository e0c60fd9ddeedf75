"""How the engine's replies become Telegram calls: pure functions, no network.

A press on a question's button is answered with one call: the pressed message is edited into the
answered question (the engine's `edit=True` reply) followed by the next question with its buttons.
The person's thumb stays where it was, the answer they gave stays in view above the next
statement, and the bot makes one call a press instead of two; Telegram's limit of about 30
messages a second is for messages sent, so a whole staff meeting pressing at once leaves the
reminders their full share. Anything else (a typed answer, a chart or a file, text too long for
one message) is sent as before: one message per part, the keyboard on the last.

Texts are plain (no parse_mode, so no entity errors) and cut to Telegram's 4096 UTF-16 units.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import Choice, FileOut, Image, Reply

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # Telegram's limit for a message text, after trimming
MAX_CAPTION = 1024
MAX_BUTTONS_PER_ROW = 8
MAX_CALLBACK_BYTES = 64
JOIN = "\n\n"  # between the answered question and the next one, in one message

Rows = tuple[tuple[Choice, ...], ...]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` UTF-16 units (Telegram's measure), cut at line breaks where possible.

    Blank parts are dropped: Telegram refuses a message that is empty after trimming.
    """
    parts: list[str] = []
    rest = text.strip()
    while utf16_len(rest) > limit:
        cut = min(len(rest), limit)
        while (excess := utf16_len(rest[:cut]) - limit) > 0:
            cut -= max(1, excess // 2)  # a character is one or two UTF-16 units
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline
        parts.append(rest[:cut])
        rest = rest[cut:].strip()
    parts.append(rest)
    return [part for part in parts if part.strip()]


def keyboard(rows: Sequence[Sequence[Choice]]) -> InlineKeyboardMarkup | None:
    """An inline keyboard; rows longer than Telegram's 8 buttons are wrapped.

    A payload over Telegram's 64 bytes would make Telegram refuse the whole message, so such a
    button is left out (and logged): the person can still type the answer.
    """
    markup: list[list[InlineKeyboardButton]] = []
    for row in rows:
        buttons = []
        for choice in row:
            if len(choice.payload.encode()) > MAX_CALLBACK_BYTES or not choice.payload:
                log.warning("button %r left out: its payload does not fit Telegram's limit", choice.label)
                continue
            buttons.append(InlineKeyboardButton(choice.label or "·", callback_data=choice.payload))
        for start in range(0, len(buttons), MAX_BUTTONS_PER_ROW):
            markup.append(buttons[start : start + MAX_BUTTONS_PER_ROW])
    return InlineKeyboardMarkup(markup) if markup else None


@functools.lru_cache(maxsize=1024)
def keyboard_json(rows: Rows) -> str | None:
    """`keyboard` as the JSON Telegram takes, made once per distinct keyboard (a reminder's or a
    question's is sent to many people; building and serialising it was a tenth of a send's CPU)."""
    markup = keyboard(rows)
    return json.dumps(markup.to_dict()) if markup else None  # as python-telegram-bot encodes it


class Method(Enum):
    EDIT = "editMessageText"  # the pressed message
    TEXT = "sendMessage"
    PHOTO = "sendPhoto"
    DOCUMENT = "sendDocument"


@dataclass(frozen=True)
class Call:
    """One Bot API call: `text` is the message text or the caption, `choices` its keyboard."""

    method: Method
    text: str | None = None
    choices: Rows = ()
    attachment: Image | FileOut | None = None
    anchor: str | None = None  # `Reply.anchor`: the engine is told which message carries it


def _caption(text: str) -> tuple[str | None, list[str]]:
    """A caption that fits (1024), or none and the text as separate messages."""
    stripped = text.strip()
    if not stripped:
        return None, []
    if utf16_len(stripped) <= MAX_CAPTION:
        return stripped, []
    return None, split_text(stripped)


def sent(reply: Reply) -> list[Call]:
    """A reply as new messages: its text parts, then its picture, then its file, each caption too
    long for Telegram sent as text after it. The keyboard goes with the last text part, or with
    the last attachment when there is no text."""
    parts = split_text(reply.text)
    last = len(parts) - 1
    calls = [
        Call(
            Method.TEXT,
            part,
            reply.choices if n == last else (),
            anchor=reply.anchor or None if n == last else None,
        )
        for n, part in enumerate(parts)
    ]
    attachments = [(Method.PHOTO, reply.image), (Method.DOCUMENT, reply.file)]
    present = [(method, item) for method, item in attachments if item is not None]
    for n, (method, item) in enumerate(present):
        caption, extra = _caption(item.caption)
        choices = reply.choices if not parts and n == len(present) - 1 else ()
        calls.append(Call(method, caption, choices, item))
        calls.extend(Call(Method.TEXT, part) for part in extra)
    return calls


def edited(reply: Reply) -> list[Call]:
    """A reply replacing the pressed message: its first part in place, anything more sent after."""
    parts = split_text(reply.text)
    if not parts:
        return sent(reply)
    if len(parts) == 1 and not (reply.image or reply.file):
        return [Call(Method.EDIT, parts[0], reply.choices, anchor=reply.anchor or None)]
    rest = Reply("\n".join(parts[1:]), reply.choices, image=reply.image, file=reply.file)
    return [Call(Method.EDIT, parts[0], anchor=reply.anchor or None), *sent(rest)]


def _one_message(answered: Reply, following: Reply) -> Reply | None:
    """The answered question and the next one as one edit, when they fit one plain message."""
    if answered.choices or answered.image or answered.file or following.edit:
        return None
    if answered.anchor or following.anchor:  # each anchored message stays a message of its own
        return None
    if following.image or following.file or not following.text.strip():
        return None
    text = answered.text.strip() + JOIN + following.text.strip()
    if len(split_text(text)) != 1:
        return None
    return Reply(text, following.choices, edit=True)


def calls_for(replies: Sequence[Reply], *, pressed: bool) -> list[Call]:
    """The calls that show `replies`; `pressed` when they answer a press on a message we can edit
    (otherwise an edit is shown as a new message)."""
    replies = list(replies)
    if pressed and len(replies) >= 2 and replies[0].edit:
        merged = _one_message(replies[0], replies[1])
        if merged is not None:
            replies[:2] = [merged]
    calls: list[Call] = []
    for reply in replies:
        calls.extend(edited(reply) if reply.edit and pressed else sent(reply))
        pressed = pressed and not reply.edit  # only one reply replaces the pressed message
    return calls


def message_count(replies: Sequence[Reply]) -> int:
    """How many messages `replies` make when sent (not as an answer to a press)."""
    return len(calls_for(replies, pressed=False)) or 1
