"""Replies as Block Kit: section blocks for text, actions blocks for buttons, within Slack's limits.

Limits (Slack's Block Kit reference): 50 blocks a message, 100 in a Home tab, 25 elements in an
actions block, 3000 characters of section text, 75 of button text, 2000 of button value, block_id
unique within a message. Text is escaped for mrkdwn (&, <, >), so nothing a person typed, or an
instrument says, can become a link or a mention.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from bot.messages import Choice, Reply

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_ACTIONS_ELEMENTS = 25
MAX_SECTION_TEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_FALLBACK_TEXT = 4000  # Slack truncates `text` at 40 000; notifications show far less anyway

# Every button we render has an action_id matching this; the listener dispatches on it.
ACTION_ID_PATTERN = re.compile(r"^ab_\d+$")

Block = dict[str, Any]


def escape(text: str) -> str:
    """mrkdwn control characters (Slack's "Escaping text" guide): only these three."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chunks(text: str, limit: int) -> Iterator[str]:
    """Split at line breaks where possible, so a long result stays readable."""
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        yield rest[:cut]
        rest = rest[cut:].lstrip("\n")
    if rest.strip():
        yield rest


def text_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    for chunk in _chunks(text, MAX_SECTION_TEXT - 200):
        escaped = escape(chunk)
        # Escaping lengthens the text; cut again rather than exceed the section limit.
        blocks.extend(
            {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
            for piece in _chunks(escaped, MAX_SECTION_TEXT)
        )
    return blocks


def _button_text(label: str) -> str:
    label = label.strip() or "…"
    return label if len(label) <= MAX_BUTTON_TEXT else label[: MAX_BUTTON_TEXT - 1] + "…"


def action_blocks(rows: Sequence[Sequence[Choice]]) -> list[Block]:
    blocks: list[Block] = []
    index = 0
    for row in rows:
        buttons = []
        for choice in row:
            if not choice.payload or len(choice.payload) > MAX_BUTTON_VALUE:
                continue  # cannot be sent back intact; the core keeps payloads short
            buttons.append(
                {
                    "type": "button",
                    "action_id": f"ab_{index}",
                    "text": {"type": "plain_text", "text": _button_text(choice.label), "emoji": True},
                    "value": choice.payload,
                }
            )
            index += 1
        for start in range(0, len(buttons), MAX_ACTIONS_ELEMENTS):
            blocks.append({"type": "actions", "elements": buttons[start : start + MAX_ACTIONS_ELEMENTS]})
    return blocks


def _with_ids(blocks: list[Block]) -> list[Block]:
    return [{**block, "block_id": f"b{i}"} for i, block in enumerate(blocks)]


def fallback_text(text: str) -> str:
    return _fallback(escape(text))


def message_payloads(reply: Reply) -> list[dict[str, Any]]:
    """One reply as chat.postMessage arguments: usually one message, more if it is very long."""
    blocks = text_blocks(reply.text) + action_blocks(reply.choices)
    if not blocks:
        return []
    messages = []
    for start in range(0, len(blocks), MAX_MESSAGE_BLOCKS):
        part = blocks[start : start + MAX_MESSAGE_BLOCKS]
        texts = [b["text"]["text"] for b in part if b["type"] == "section"]
        fallback = "\n".join(texts) if texts else escape(reply.text)
        messages.append({"text": _fallback(fallback), "blocks": _with_ids(part)})
    return messages


def _fallback(escaped: str) -> str:
    escaped = escaped.strip() or "…"
    return escaped if len(escaped) <= MAX_FALLBACK_TEXT else escaped[: MAX_FALLBACK_TEXT - 1] + "…"


def edited_payload(reply: Reply) -> dict[str, Any]:
    """chat.update arguments: the answered question, its buttons gone, or a message whose buttons
    stay (a workshop statement with its new vote count)."""
    blocks = (text_blocks(reply.text) + action_blocks(reply.choices))[:MAX_MESSAGE_BLOCKS]
    return {"text": fallback_text(reply.text), "blocks": _with_ids(blocks)}


def home_view(replies: Sequence[Reply]) -> dict[str, Any]:
    blocks: list[Block] = []
    for reply in replies:
        blocks.extend(text_blocks(reply.text))
        blocks.extend(action_blocks(reply.choices))
    return {"type": "home", "blocks": _with_ids(blocks[:MAX_VIEW_BLOCKS])}
