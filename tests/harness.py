"""A conversation harness every adapter's tests can share: push an event, pop what the bot said.

It drives the real Engine; adapter tests put the real platform client in between.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.engine import Engine
from bot.messages import Attachment, Choice, Incoming, Reply

_event_ids = itertools.count(1)


@dataclass
class Conversation:
    engine: Engine
    user_id: str
    platform: str = "console"
    display_name: str = "Anna"
    locale_hint: str | None = "en"
    workspace: str = ""
    history: list[Reply] = field(default_factory=list)

    def _send(self, **fields: object) -> list[Reply]:
        event_id = fields.pop("event_id", None) or f"{self.user_id}-{next(_event_ids)}"
        incoming = Incoming(
            platform=self.platform,
            user_id=self.user_id,
            workspace=self.workspace,
            display_name=self.display_name,
            locale_hint=self.locale_hint,
            event_id=str(event_id),
            **fields,  # type: ignore[arg-type]
        )
        replies = self.engine.handle(incoming)
        self.history.extend(replies)
        return replies

    def say(self, text: str, *, event_id: str | None = None) -> list[Reply]:
        return self._send(text=text, event_id=event_id)

    def press(self, payload: str, *, event_id: str | None = None) -> list[Reply]:
        return self._send(action=payload, event_id=event_id)

    def upload(self, filename: str, content: bytes, text: str = "") -> list[Reply]:
        return self._send(text=text, attachment=Attachment(filename, content))

    @property
    def last(self) -> Reply:
        return self.history[-1]

    def choices(self) -> list[Choice]:
        """The buttons of the most recent message that had any."""
        for reply in reversed(self.history):
            if reply.choices:
                return reply.flat_choices
        return []

    def button(self, label: str) -> str:
        """The payload of a button of the latest keyboard, by its exact label."""
        for choice in self.choices():
            if choice.label == label:
                return choice.payload
        raise AssertionError(f"no button {label!r} in {[c.label for c in self.choices()]}")

    def click(self, label: str) -> list[Reply]:
        return self.press(self.button(label))


def texts(replies: Sequence[Reply]) -> str:
    return "\n".join(r.text for r in replies)
