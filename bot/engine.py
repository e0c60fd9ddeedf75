"""The conversation engine: one incoming event in, the replies out, one transaction in between.

Contract: `Engine.handle(incoming) -> list[Reply]`. The database transaction commits before the
replies are returned, so whatever the person is told has been stored. A platform event id is
recorded in the same transaction (bot/intake/processed_events.py); a re-delivered event (or a double-clicked
button carrying the same id) finds it and changes nothing.

A press of a scale button on the statement the person is at, most of all events, first takes the
quick path (bot/conversation/quick_answer.py): the same checks and writes run on the database driver, in one
round trip for a person this process remembers. Everything else, and whatever the quick path
declines, is routed here (and the quick path forgets the person, whom the general path may change).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from importlib import import_module
from types import ModuleType
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import picks
from bot.clock import Clock, SystemClock
from bot.commands import Command, Context, Registry, UsageError, command_words
from bot.config import Config
from bot.conversation import assessment, home, quick_answer
from bot.directory.people import identify, locale_of
from bot.free_text import clean
from bot.i18n import pick_locale, translator
from bot.intake import anchors, notices, processed_events
from bot.intake.flood import FloodGuard, Verdict
from bot.messages import Incoming, Outgoing, Reply
from bot.permissions import may_use

log = logging.getLogger(__name__)

# Feature modules, each with `register(registry)`. A new feature adds its module here.
FEATURES: tuple[str, ...] = (
    "bot.conversation.self_service",
    "bot.conversation.assessment",
    "bot.administration.units",
    "bot.administration.rounds",
    "bot.conversation.closed_rounds",
    "bot.administration.instrument_admin",
    "bot.administration.admins",
    "bot.audit",
    "bot.results.unit_results",
    "bot.follow_up.reminders",
    "bot.follow_up.plans",
    "bot.follow_up.plan_changes",
    "bot.follow_up.my_actions",
    "bot.follow_up.scheduler",
    "bot.workshop.routes",
)

MAX_TEXT_CHARS = 64 * 1024

# A lone greeting outside an assessment gets the same welcome as `start`.
GREETINGS = frozenset({"hi", "hello", "hey", "hej", "hejsan", "hallå", "tjena", "tja"})


def _drop_pending(ctx: Context) -> None:
    """Forget a waiting prompt. Only assigned when there is one: assigning even None marks the person
    changed, and every later query of the event would then flush first (three flushes per answer)."""
    if ctx.person.pending is not None:
        ctx.person.pending = None


class Engine:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        config: Config | None = None,
        clock: Clock | None = None,
        features: Iterable[str] = FEATURES,
        flood: FloodGuard | None = None,
        quick_answers: bool = True,
    ) -> None:
        self.sessions = sessions
        # Scale-button answers take bot/conversation/quick_answer.py first (off only to compare the two paths).
        self.quick_answers = quick_answer.QuickAnswers(sessions.kw["bind"]) if quick_answers else None
        self.config = config or Config()
        self.flood = flood or FloodGuard(
            burst=self.config.flood_burst, per_second=self.config.flood_per_minute / 60
        )
        self.clock = clock or SystemClock()
        self.registry = Registry()
        for name in features:
            module: ModuleType = import_module(name)
            module.register(self.registry)
        self.registry.action("cmd")(self._button_command)
        self.registry.pending_prompt(picks.KIND)(self._picked)

    # ------------------------------------------------------------ entry point

    def handle(self, incoming: Incoming) -> list[Reply]:
        """Handle one event. Never raises: failures become a friendly message in the person's language."""
        fallback = translator(pick_locale(None, incoming.locale_hint, self.config.default_locale))
        if incoming.text is not None and len(incoming.text) > MAX_TEXT_CHARS:
            return [Reply(fallback._("That message is too long for me. Please write something shorter."))]
        verdict = self.flood.check(incoming)
        if verdict is Verdict.REFUSE_AND_TELL:
            return [
                Reply(
                    fallback._("You are sending messages faster than I can take them. Please wait a moment.")
                )
            ]
        if verdict is Verdict.REFUSE_QUIETLY:
            return []
        try:
            quick = self._quick(incoming)
            if quick is not None:
                return quick
            with self.sessions() as session, session.begin():
                replies = self._handle(session, incoming)
            return _attachments_made(replies)
        except (OperationalError, DBAPIError) as exc:
            log.warning("database unavailable while handling an event: %s", type(exc).__name__)
            return [Reply(fallback._("I can't reach my database just now. Please try again in a minute."))]
        except Exception:
            log.exception("unexpected error while handling an event from %s", incoming.platform)
            return [Reply(fallback._("Sorry, something went wrong on my side. Please try again."))]

    def _quick(self, incoming: Incoming) -> list[Reply] | None:
        if self.quick_answers is None:
            return None
        quick = self.quick_answers.handle(incoming, self.clock.now(), self.config.default_locale)
        if quick is None:
            self.quick_answers.forget(incoming)  # the general path may change what it remembers
        return quick

    def _handle(self, session: Session, incoming: Incoming) -> list[Reply]:
        now = self.clock.now()
        if incoming.event_id and not processed_events.first_time(session, incoming, now):
            return []
        ctx = self._context(session, incoming, now)
        if incoming.reply_to is not None and incoming.text and not incoming.text.lstrip().startswith("/"):
            replied = self._reply(ctx, incoming.reply_to, incoming.text)
            if replied is not None:
                return replied
        if not incoming.is_private and not self._for_groups(incoming):
            if incoming.reply_to is not None:
                return []  # people talking to each other under one of our messages
            return [
                Reply(
                    ctx.t._("Let's talk in a private chat: open a direct message with me and write assess.")
                )
            ]
        if incoming.action is not None:
            return self._action(ctx, incoming.action)
        text = clean(incoming.text or "").strip()
        if not text and incoming.attachment is not None:
            text = "instrument upload"
        if not text:
            return [Reply(ctx.t._("I didn't catch that. Type help to see what you can do."))]
        return self._text(ctx, text)

    def _context(self, session: Session, incoming: Incoming, now: datetime) -> Context:
        """Who is talking, in which language, inside this event's transaction."""
        person = identify(session, incoming, now, self.config.default_locale)
        return Context(
            session=session,
            person=person,
            incoming=incoming,
            now=now,
            t=translator(locale_of(person, self.config.default_locale)),
            config=self.config,
        )

    # ------------------------------------------------------------ routing

    def answered_in_groups(self, text: str) -> bool:
        """Whether a command typed in a group chat is one of the few answered there (a workshop's);
        a platform that can take any other one to the person's private chat asks this first."""
        return self._for_groups(Incoming(platform="", user_id="", text=text, is_private=False))

    def _for_groups(self, incoming: Incoming) -> bool:
        """Whether a group chat's event is one of the few answered there (a workshop's)."""
        if incoming.action is not None:
            return incoming.action.partition(":")[0] in self.registry.group_actions
        words = command_words(clean(incoming.text or ""))
        matched = self.registry.match(words) if words else None
        return matched is not None and matched[0].in_groups

    def _reply(self, ctx: Context, message_id: str, text: str) -> list[Reply] | None:
        """A reply to one of the bot's anchored messages, or None when it answers no anchored one."""
        incoming = ctx.incoming
        anchor = anchors.find(
            ctx.session,
            platform=incoming.platform,
            workspace=incoming.workspace,
            chat=incoming.address or incoming.user_id,
            message_id=message_id,
        )
        handler = self.registry.replies.get(anchor.partition(":")[0]) if anchor else None
        if anchor is None or handler is None:
            return None
        return handler(ctx, anchor, clean(text).strip())

    def _action(self, ctx: Context, payload: str) -> list[Reply]:
        prefix, _, rest = payload.partition(":")
        handler = self.registry.actions.get(prefix)
        if handler is None or len(payload) > 200:
            return [assessment.invalid_button(ctx)]
        if prefix != "cmd":  # a `cmd:` button is as if typed: it may answer a waiting prompt
            _drop_pending(ctx)
        try:
            return handler(ctx, rest.split(":") if rest else [])
        except UsageError as error:
            return [error.reply()]

    def _run(self, ctx: Context, command: Command, args: list[str]) -> list[Reply]:
        try:
            return command.run(ctx, args)
        except UsageError as error:
            return [error.reply()]

    def _picked(self, ctx: Context, pending: dict[str, object], text: str) -> list[Reply]:
        """A number picked from a list (bot/picks.py): the command that asked runs again with it."""
        answer = picks.picked(ctx, pending, text)
        if isinstance(answer, list):
            return answer
        words, args = answer
        command = next((c for c in self.registry.commands if " ".join(c.words) == words), None)
        if command is None or not may_use(ctx.session, ctx.person, command.audience):
            return [Reply(ctx.t._("Cancelled: nothing was changed."))]
        return self._run(ctx, command, args)

    def _button_command(self, ctx: Context, args: list[str]) -> list[Reply]:
        return self._text(ctx, " ".join(args))

    def _text(self, ctx: Context, text: str) -> list[Reply]:
        words = command_words(text)
        matched = self.registry.match(words) if words else None
        pending = ctx.person.pending
        if pending is not None and matched is None:
            kind = str(pending.get("kind"))
            _drop_pending(ctx)
            handler = self.registry.pending.get(kind)
            if handler is not None:
                return handler(ctx, pending, text)
        if matched is not None:
            _drop_pending(ctx)
            command, args = matched
            if not may_use(ctx.session, ctx.person, command.audience):
                return [
                    Reply(
                        ctx.t._(
                            "Sorry, you don't have permission to do that. Type help to see what you can do."
                        )
                    )
                ]
            return self._run(ctx, command, args)
        if len(words) == 1 and words[0].lower().strip("!.,") in GREETINGS:
            # "hej" is the most common first message of all: answer it as the platform's start,
            # also part-way through an assessment (after `pausa`, "hej" is not an answer).
            greeted = self.registry.match(["start"])
            if greeted is not None:
                return greeted[0].run(ctx, [])
        response = assessment.current_response(ctx)
        if response is not None:
            return assessment.on_text(ctx, response, text)
        suggestion = self._closest_command(ctx, words)
        if suggestion is not None:
            return [
                Reply(
                    ctx.t._(
                        "I didn't understand that. Did you mean %(command)s? Type help to see what you can do.",
                        command=suggestion,
                    )
                )
            ]
        return [
            Reply(ctx.t._("I didn't understand that. Type help to see what you can do, or assess to start."))
        ]

    # ------------------------------------------------------------ platform surfaces

    def home(self, incoming: Incoming) -> list[Reply]:
        """The person's state at a glance (Slack's App Home tab), with a start/resume button.

        Read-mostly: it identifies the person (first contact creates them, like a message would) and
        records nothing else. `incoming.event_id` is ignored: showing the state twice is harmless.
        """
        fallback = translator(pick_locale(None, incoming.locale_hint, self.config.default_locale))
        try:
            with self.sessions() as session, session.begin():
                return [home.home_reply(self._context(session, incoming, self.clock.now()))]
        except Exception:
            log.exception("unexpected error while building the home view for %s", incoming.platform)
            return [Reply(fallback._("Sorry, something went wrong on my side. Please try again."))]

    def anchored(self, *, platform: str, workspace: str, chat: str, message_id: str, anchor: str) -> None:
        """An adapter posted a reply with `anchor` as `message_id` in `chat`: replies to it will find it."""
        try:
            with self.sessions() as session, session.begin():
                anchors.record(
                    session,
                    platform=platform,
                    workspace=workspace,
                    chat=chat,
                    message_id=message_id,
                    anchor=anchor,
                    at=self.clock.now(),
                )
        except Exception:  # the message is out; only replies to it lose their meaning
            log.exception("recording a posted message on %s failed", platform)

    def notice(self, notice: notices.Notice, locale_hint: str | None) -> list[Reply]:
        """A refusal an adapter detected itself, worded in the core (no database access)."""
        t = translator(pick_locale(None, locale_hint, self.config.default_locale))
        return [Reply(notices.render(notice, t))]

    def _closest_command(self, ctx: Context, words: list[str]) -> str | None:
        """The command the person probably meant by a mistyped one (`asess`, `unit creat`), if any.

        Only commands the person may use are suggested, and only the command words (the rest of the
        line is theirs to keep); aliases count, so `hjälpp` suggests `hjälp`.
        """
        if not words or len(words[0]) < 3:
            return None
        lowered = [w.lower() for w in words]
        spellings: dict[str, Command] = {}
        for command in self.registry.commands:
            for words_of in (command.words, *command.aliases):
                if len(words_of) <= len(lowered):
                    spellings.setdefault(" ".join(words_of), command)
        best: tuple[float, str] | None = None
        for spelling, command in spellings.items():
            typed = " ".join(lowered[: len(spelling.split())])
            ratio = difflib.SequenceMatcher(None, typed, spelling).ratio()
            better = ratio >= 0.75 and (best is None or ratio > best[0])
            if better and may_use(ctx.session, ctx.person, command.audience):
                best = (ratio, spelling)
        return best[1] if best is not None else None


def _attachments_made(replies: list[Reply]) -> list[Reply]:
    """The replies with their charts and files made: after the commit (see `Outgoing`), and here in
    the caller's thread rather than later in an adapter's event loop, which would stall every other
    chat. One that fails is left out; the answer is stored and the text still goes."""
    return [
        reply
        if reply.image is None and reply.file is None
        else replace(reply, image=_made(reply.image), file=_made(reply.file))
        for reply in replies
    ]


OutgoingT = TypeVar("OutgoingT", bound=Outgoing)


def _made(attached: OutgoingT | None) -> OutgoingT | None:
    if attached is None:
        return None
    try:
        attached.content  # noqa: B018 (made and kept on first use)
    except Exception:
        log.exception("making %s failed; sending the reply without it", attached.filename)
        return None
    return attached
