"""Commands, button actions and pending prompts: parsing, registration and permission checks.

Every feature module (`self_service`, `assessment`, `admin`, ...) exposes `register(registry)` and
adds what it handles. The engine owns one Registry; adapters never decide what a command means
or who may run it.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.i18n import Translator
from bot.messages import Choice, Incoming, Reply
from storage.models import Person

if TYPE_CHECKING:
    from bot.config import Config


class Audience(enum.IntEnum):
    """Who may see and run a command. Finer, per-unit checks happen inside the handler."""

    EVERYONE = 0
    PRINCIPAL = 1
    MANAGER = 2
    ADMIN = 3


@dataclass
class Context:
    """What a handler needs for one incoming event, inside its database transaction."""

    session: Session
    person: Person
    incoming: Incoming
    now: datetime
    t: Translator
    config: Config

    @property
    def locale(self) -> str:
        return self.t.locale


CommandRun = Callable[[Context, list[str]], list[Reply]]
PendingRun = Callable[[Context, dict[str, object], str], list[Reply]]


class UsageError(Exception):
    """A command was given wrong or missing arguments; the message is already translated.

    `choices` are buttons that go with it (for instance the numbered list of people to pick from)."""

    def __init__(self, message: str, choices: tuple[tuple[Choice, ...], ...] = ()) -> None:
        super().__init__(message)
        self.choices = choices

    def reply(self) -> Reply:
        return Reply(str(self), self.choices)


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    run: CommandRun
    audience: Audience
    summary: str  # marked with N_, translated when shown
    example: str
    aliases: tuple[tuple[str, ...], ...] = ()
    # Hidden commands work but are not listed by `help` (e.g. `start`, which platforms send).
    listed: bool = True
    # Also answered in a group chat or channel (a workshop); everything else is private only.
    in_groups: bool = False


ReplyRun = Callable[[Context, str, str], list[Reply]]


@dataclass
class Registry:
    commands: list[Command] = field(default_factory=list)
    actions: dict[str, CommandRun] = field(default_factory=dict)
    pending: dict[str, PendingRun] = field(default_factory=dict)
    # Button prefixes also answered in group chats.
    group_actions: set[str] = field(default_factory=set)
    # Replies to an anchored message, by the anchor's prefix (`Reply.anchor`, `Incoming.reply_to`).
    replies: dict[str, ReplyRun] = field(default_factory=dict)

    def command(
        self,
        words: str,
        audience: Audience,
        summary: str,
        example: str,
        *,
        aliases: Sequence[str] = (),
        listed: bool = True,
        in_groups: bool = False,
    ) -> Callable[[CommandRun], CommandRun]:
        def decorate(run: CommandRun) -> CommandRun:
            self.commands.append(
                Command(
                    tuple(words.split()),
                    run,
                    audience,
                    summary,
                    example,
                    tuple(tuple(a.split()) for a in aliases),
                    listed,
                    in_groups,
                )
            )
            return run

        return decorate

    def action(self, prefix: str, *, in_groups: bool = False) -> Callable[[CommandRun], CommandRun]:
        """Handle button payloads `prefix:arg:arg...` (the handler receives the args)."""

        def decorate(run: CommandRun) -> CommandRun:
            if prefix in self.actions:
                raise ValueError(f"action prefix {prefix!r} registered twice")
            self.actions[prefix] = run
            if in_groups:
                self.group_actions.add(prefix)
            return run

        return decorate

    def reply_to(self, prefix: str) -> Callable[[ReplyRun], ReplyRun]:
        """Handle a reply to a message anchored `prefix:...` (the handler gets the anchor and the text)."""

        def decorate(run: ReplyRun) -> ReplyRun:
            self.replies[prefix] = run
            return run

        return decorate

    def pending_prompt(self, kind: str) -> Callable[[PendingRun], PendingRun]:
        """Handle the free text that answers a prompt stored in `person.pending`."""

        def decorate(run: PendingRun) -> PendingRun:
            self.pending[kind] = run
            return run

        return decorate

    def match(self, words: list[str]) -> tuple[Command, list[str]] | None:
        """The command with the longest matching word prefix, and the remaining arguments."""
        lowered = [w.lower() for w in words]
        best: tuple[Command, list[str]] | None = None
        best_len = 0
        for command in self.commands:
            for spelling in (command.words, *command.aliases):
                n = len(spelling)
                if n > best_len and tuple(lowered[:n]) == spelling:
                    best, best_len = (command, words[n:]), n
        return best


def split_words(text: str) -> list[str]:
    """Split a command line; quotes group words ("Ystad bibliotek"), typographic quotes too."""
    normalised = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
    try:
        return shlex.split(normalised)
    except ValueError:
        # An unbalanced quote: fall back to plain words rather than refusing the whole line.
        return normalised.replace('"', " ").split()


def digits(raw: str) -> bool:
    """A plain number of ASCII digits, short enough for a database id: `str.isdigit()` also
    accepts "²" and "١", which int() then refuses or reads as something else."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 9


def command_words(text: str) -> list[str]:
    """Words of a command message: a leading `/` and a Telegram `@botname` suffix are dropped."""
    stripped = text.strip()
    if stripped.startswith("/"):
        stripped = stripped[1:]
    words = split_words(stripped)
    if words and "@" in words[0]:
        words[0] = words[0].split("@", 1)[0]
    return words
