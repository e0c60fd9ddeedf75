"""The terminal adapter: the whole bot on standard input/output (also scripted through a pipe).

Typed numbers pick from the buttons of the latest message, so `5` answers 5 on a scale and `1`
picks the first option of a background question; anything else goes to the engine as text. On a
scale the numbers belong to its points, so its other buttons (Skip, Back, ...) are keyed by letters.

What the bot sends on its own (invitations, reminders, follow-ups) to the person the terminal runs
as is their inbox: shown at start and after every line typed (`inbox`), and as it falls due while
someone sits at the terminal (the background dispatcher, through `ConsoleSender`).
`TerminalPrinter` shows every terminal person's messages, for `assessbot tick`.
"""

from __future__ import annotations

import getpass
import string
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

from bot.engine import Engine
from bot.i18n import translator
from bot.messages import Address, Attachment, Choice, Incoming, Reply

PLATFORM = "console"


class ConsoleAdapter:
    def __init__(
        self,
        engine: Engine,
        *,
        user: str | None = None,
        locale_hint: str | None = None,
        out: TextIO = sys.stdout,
        output_dir: str | Path = "assessbot-output",
        inbox: Callable[[], object] | None = None,
    ) -> None:
        self.engine = engine
        # Delivers the person's due outbox messages (through a ConsoleSender to this adapter).
        self.inbox = inbox
        self.user = user or getpass.getuser()
        self.locale_hint = locale_hint
        self.out = out
        self.output_dir = Path(output_dir)
        self._choices: list[Choice] = []

    def incoming(self, line: str) -> Incoming:
        text = line.rstrip("\n")
        stripped = text.strip()
        chosen = self._choice_for(stripped)
        if chosen is not None:
            return self._event(action=chosen.payload)
        words = stripped.split(maxsplit=2)
        if len(words) == 3 and words[0] == "instrument" and words[1] in ("upload", "validate"):
            # In the terminal the file is on this machine: attach it, as a chat app would.
            path = Path(words[2]).expanduser()
            if path.is_file():
                content = path.read_bytes()
                return self._event(text=f"{words[0]} {words[1]}", attachment=Attachment(path.name, content))
        return self._event(text=text)

    def _choice_for(self, typed: str) -> Choice | None:
        """The button of the key typed, as the menu shows it (`menu_keys`)."""
        keys = menu_keys(self._choices)
        wanted = typed.lower()
        return next((c for c, key in zip(self._choices, keys, strict=True) if key == wanted), None)

    def _event(self, **fields: object) -> Incoming:
        return Incoming(
            platform=PLATFORM,
            user_id=self.user,
            display_name=self.user,
            locale_hint=self.locale_hint,
            **fields,  # type: ignore[arg-type]
        )

    def send_line(self, line: str) -> list[Reply]:
        replies = self.engine.handle(self.incoming(line))
        self.render(replies)
        return replies

    def render(self, replies: Sequence[Reply]) -> None:
        for reply in replies:
            self._render_one(reply)
        self.out.flush()

    def _render_one(self, reply: Reply) -> None:
        if reply.edit:
            # The question is already on screen: show only what changed.
            self.out.write("  " + reply.text.splitlines()[-1] + "\n")
            return
        self.out.write(reply.text + "\n")
        if reply.choices:
            self._choices = reply.flat_choices
            keys = iter(menu_keys(self._choices))
            rows = ("  ".join(f"[{next(keys)}] {c.label}" for c in row) for row in reply.choices)
            self.out.write("\n".join(rows) + "\n")
        for attached in (reply.image, reply.file):
            if attached is not None:
                # A folder per person: everyone's chart is called result-<date>.png.
                folder = self.output_dir / _safe_name(self.user)
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / Path(attached.filename).name
                path.write_bytes(attached.content)
                self.out.write(f"  ({attached.caption or attached.filename}: {path})\n")
        self.out.write("\n")

    def run(self, lines: Iterable[str], *, prompt: bool) -> None:
        self.check_inbox()
        if prompt:
            self.out.write("> ")
            self.out.flush()
        for line in lines:
            if line.strip().lower() in ("quit", "exit", "avsluta"):
                break
            self.send_line(line)
            self.check_inbox()
            if prompt:
                self.out.write("> ")
                self.out.flush()

    def check_inbox(self) -> None:
        if self.inbox is not None:
            self.inbox()


def menu_keys(choices: Sequence[Choice]) -> list[str]:
    """What to type for each button: its number in the menu, unless some buttons are themselves
    numbers (a scale). Then a number picks the button of that label only (`6` on a 5-point scale
    goes to the bot as text, which says the scale's range, instead of pressing the sixth button),
    and the other buttons get the letters a, b, c, ... so every one shown can be typed."""
    if not any(_is_number(c.label) for c in choices):
        return [str(n) for n in range(1, len(choices) + 1)]
    letters = iter(string.ascii_lowercase)
    return [c.label.strip() if _is_number(c.label) else next(letters) for c in choices]


def _is_number(label: str) -> bool:
    return label.strip().isascii() and label.strip().isdigit()


def _safe_name(user: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in user).strip(".") or "user"


class ConsoleSender:
    """Outbox delivery to the terminal: the bot's own-initiative messages to the person it runs as
    are printed (its Dispatcher is given only their rows), marked as coming from the bot."""

    platform = PLATFORM

    def __init__(self, adapter: ConsoleAdapter) -> None:
        self.adapter = adapter

    def send(self, address: Address, replies: Sequence[Reply]) -> None:
        if address.user_id != self.adapter.user:
            raise ValueError(f"{address.user_id} is not the person this terminal runs as")
        self.adapter.out.write("📬 " + translator(address.locale)._("A message from the bot:") + "\n")
        self.adapter.render(replies)


class TerminalPrinter:
    """Outbox delivery for `assessbot tick`: every terminal person's messages, each under their name."""

    platform = PLATFORM

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out

    def send(self, address: Address, replies: Sequence[Reply]) -> None:
        t = translator(address.locale)
        self.out.write("📬 " + t._("To %(person)s:", person=address.user_id) + "\n")
        for reply in replies:
            self.out.write(reply.text + "\n")
            labels = [f"[{c.label}]" for c in reply.flat_choices]
            if labels:
                self.out.write("  " + "  ".join(labels) + "\n")
        self.out.write("\n")
        self.out.flush()
