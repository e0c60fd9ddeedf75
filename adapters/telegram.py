"""The Telegram adapter (python-telegram-bot 22, asyncio): a thin layer over the engine.

Inbound: a private message, command, button press or document becomes one `Incoming`; the engine
(synchronous, one database transaction) runs in a worker thread so the event loop never blocks.
Outbound: the engine's replies become Bot API calls as adapters/telegram_render.py decides (a
press is answered by editing the pressed message into the answer and the next question), sent by
adapters/telegram_delivery.py; images and files are photos and documents. Conversation state
lives in SQL, so there is no ConversationHandler and any number of processes can serve one bot
(webhook mode behind a load balancer).

Replies to a person's own message or press go at once; `TelegramSender` delivers the outbox
through the same bot and event loop, paced below the bot's limit (`telegram_max_per_second`) with
room left for the replies (adapters/telegram_pace.py), and about one message a second per chat;
a 429 becomes `RetryLater` for the dispatcher, a blocked bot `Undeliverable`. HTTP goes through
aiohttp (adapters/telegram_request.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import hashlib
import logging
import re
import threading
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from telegram import Bot, BotCommand, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from adapters.telegram_delivery import Delivery, left_after
from adapters.telegram_pace import Lane, Lanes, retry_seconds
from adapters.telegram_render import MAX_TEXT, keyboard, message_count, split_text, utf16_len
from adapters.telegram_request import AiohttpRequest
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.engine import Engine
from bot.i18n import pick_locale, translator
from bot.log_redaction import content, hide_secrets
from bot.messages import Address, Attachment, Incoming, Reply, RetryLater, Sending, Undeliverable

if TYPE_CHECKING:  # the HTTP server is loaded only when a webhook is configured
    from aiohttp import web

    from adapters.http_server import Readiness

log = logging.getLogger(__name__)

PLATFORM = "telegram"
MAX_UPLOAD_BYTES = 1024 * 1024  # instrument files are a few kB; refuse anything much larger
# The everyday commands shown in Telegram's command menu (admin commands stay in `help`).
MENU_COMMANDS = ("start", "assess", "results", "help", "language", "mydata")
MENU_LANGUAGES = ("sv",)  # plus the default menu, in English
PER_CHAT_INTERVAL = timedelta(seconds=1)
SEND_TIMEOUT = 120.0  # seconds the outbox dispatcher waits for one send
CONNECTIONS = 256  # kept-alive connections to the Bot API at most (python-telegram-bot's default)
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


# python-telegram-bot advises its typed method over do_api_request for a method it has; we use
# do_api_request for sendMessage and editMessageText on purpose (Delivery.text, Delivery.edit).
warnings.filterwarnings("ignore", r"Please use 'Bot\.(sendMessage|editMessageText)'", PTBUserWarning)
AppType = Application[Any, Any, Any, Any, Any, Any]


# Re-exported: the names the adapter's users and tests know it by.
__all__ = ["MAX_TEXT", "Delivery", "keyboard", "retry_seconds", "split_text", "utf16_len"]


# ---------------------------------------------------------------- inbound


def _display_name(update: Update) -> str | None:
    user = update.effective_user
    if user is None:
        return None
    return " ".join(part for part in (user.first_name, user.last_name) if part) or None


def with_mentions(message: Message) -> str:
    """The text with each mention of a user who has no username (Telegram shows their name, the
    entity carries their id) written as `<@id>`: the one form the core takes as naming a person."""
    text = message.text or ""
    for entity, shown in message.parse_entities([MessageEntity.TEXT_MENTION]).items():
        if entity.user is not None:
            text = text.replace(shown, f"<@{entity.user.id}>", 1)
    return text


def _replied(message: Message) -> str | None:
    """The id of the bot's message this message replies to, if it replies to one of the bot's."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != message.get_bot().id:
        return None
    return str(replied.message_id)


def incoming_for(update: Update, **fields: Any) -> Incoming:
    """The platform-free event for an update from a person (message or button press)."""
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None
    return Incoming(
        platform=PLATFORM,
        user_id=str(user.id),
        address=str(chat.id) if chat is not None else str(user.id),
        locale_hint=user.language_code,
        display_name=_display_name(update),
        is_private=chat is not None and chat.type == ChatType.PRIVATE,
        reports_delivery=True,
        **fields,
    )


class OneChatAtATime(BaseUpdateProcessor):
    """Concurrent updates across chats, in order within one chat (a person's messages stay in order)."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int | None, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else None
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class TelegramAdapter:
    """Handlers that turn updates into `Incoming` events and render the engine's replies."""

    def __init__(self, engine: Engine, *, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.engine = engine
        self.max_upload_bytes = max_upload_bytes
        self.username: str | None = None

    def register(self, application: AppType) -> None:
        private = filters.ChatType.PRIVATE
        groups = filters.ChatType.GROUPS
        application.add_handler(CallbackQueryHandler(self.on_callback))
        application.add_handler(MessageHandler(private & filters.Document.ALL, self.on_document))
        application.add_handler(MessageHandler(private & filters.TEXT, self.on_text))
        application.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, self.on_other))
        # In groups only a command or a mention of the bot is for us, never every message.
        application.add_handler(
            MessageHandler(
                groups
                & filters.TEXT
                & (filters.COMMAND | filters.Entity(MessageEntity.MENTION) | filters.REPLY),
                self.on_group,
            )
        )
        application.add_error_handler(self.on_error)

    async def prepare(self, application: AppType) -> None:
        """After `initialize` (getMe): the bot's username for join links, and the command menus."""
        bot = application.bot
        self.username = bot.username
        if not self.engine.config.telegram_bot_username and bot.username:
            self.engine.config = dataclasses.replace(self.engine.config, telegram_bot_username=bot.username)
        try:
            for language in (None, *MENU_LANGUAGES):
                await bot.set_my_commands(self.menu(language or "en"), language_code=language)
        except TelegramError as error:  # the menu is a convenience: run without it
            log.warning("could not set the command menu: %s", error.message)

    def menu(self, locale: str) -> list[BotCommand]:
        t = translator(locale)
        summaries = {c.words: c.summary for c in self.engine.registry.commands}
        return [BotCommand(name, t._(summaries[(name,)])) for name in MENU_COMMANDS if (name,) in summaries]

    async def _handle(self, incoming: Incoming) -> list[Reply]:
        # The engine is synchronous (one database transaction): keep it off the event loop.
        content.debug("telegram %s: text %r, action %r", incoming.user_id, incoming.text, incoming.action)
        return await asyncio.to_thread(self.engine.handle, incoming)

    def _delivery(self, bot: Bot, chat_id: int) -> Delivery:
        return Delivery(bot, chat_id, anchored=functools.partial(self._anchored, chat_id))

    async def _converse(self, delivery: Delivery, incoming: Incoming) -> None:
        """Handle the event, show what the engine says, and tell the engine it went: replies that
        did not go are left to the outbox, which any process delivers (bot/reply_outbox.py)."""
        replies = await self._handle(incoming)
        pressed = int(incoming.pressed) if incoming.pressed else None
        try:
            await delivery.replies(replies, pressed)
        except TelegramError as error:
            left = left_after(delivery, replies, pressed is not None, error)
            log.warning("replies not delivered (%s); %d left to the outbox", type(error).__name__, len(left))
            await asyncio.to_thread(self.engine.unsent, incoming, left, type(error).__name__)
            return
        if replies:
            await asyncio.to_thread(self.engine.replied, incoming)

    async def _anchored(self, chat_id: int, message_id: str, anchor: str) -> None:
        await asyncio.to_thread(
            self.engine.anchored,
            platform=PLATFORM,
            workspace="",
            chat=str(chat_id),
            message_id=message_id,
            anchor=anchor,
        )

    async def on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        incoming = incoming_for(
            update,
            text=with_mentions(message),
            event_id=f"upd:{update.update_id}",
            reply_to=_replied(message),
        )
        await self._converse(self._delivery(message.get_bot(), message.chat_id), incoming)

    async def on_other(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A sticker, photo or voice message: the engine answers that it did not catch it."""
        message = update.effective_message
        if message is None or update.effective_user is None:
            return
        incoming = incoming_for(update, text="", event_id=f"upd:{update.update_id}")
        await self._converse(Delivery(message.get_bot(), message.chat_id), incoming)

    async def on_document(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        assert message.document is not None
        document = message.document
        delivery = Delivery(message.get_bot(), message.chat_id)
        if document.file_size is not None and document.file_size > self.max_upload_bytes:
            await delivery.replies([self._too_big(update)])
            return
        file = await document.get_file()
        content = bytes(await file.download_as_bytearray())
        if len(content) > self.max_upload_bytes:
            await delivery.replies([self._too_big(update)])
            return
        incoming = incoming_for(
            update,
            text=message.caption or "",
            attachment=Attachment(document.file_name or "upload.yaml", content),
            event_id=f"upd:{update.update_id}",
        )
        await self._converse(delivery, incoming)

    def _too_big(self, update: Update) -> Reply:
        user = update.effective_user
        t = translator(
            pick_locale(None, user.language_code if user else None, self.engine.config.default_locale)
        )
        size = t.number(round(self.max_upload_bytes / 1024 / 1024, 1))
        return Reply(
            t._("That file is too big for me (at most %(size)s MB). Please send a smaller file.", size=size)
        )

    async def on_callback(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        # Answer at once (exactly once per query): the button stops spinning whatever happens next.
        try:
            await query.answer()
        except TelegramError as error:  # answered before (a re-delivered update), too old, or flood
            log.info("callback query not answered: %s", error.message)
        if query.data is None:
            return
        # An old message may come back "inaccessible" (chat known, content not): reply anew there.
        pressed = query.message if isinstance(query.message, Message) else None
        incoming = incoming_for(
            update,
            action=query.data,
            event_id=f"cbq:{query.id}",
            pressed=str(pressed.message_id) if pressed is not None else None,
        )
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        await self._converse(self._delivery(query.get_bot(), chat_id), incoming)

    async def on_group(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or update.effective_user is None or not self._addressed_to_me(message):
            return
        incoming = incoming_for(
            update, text=message.text or "", event_id=f"upd:{update.update_id}", reply_to=_replied(message)
        )
        await self._converse(self._delivery(message.get_bot(), message.chat_id), incoming)

    def _addressed_to_me(self, message: Message) -> bool:
        """A command or mention for this bot, or a reply to one of its messages (which group
        privacy mode delivers too: a workshop statement's notes)."""
        if _replied(message) is not None:
            return True
        me = (self.username or message.get_bot().username or "").lower()
        commands = message.parse_entities([MessageEntity.BOT_COMMAND])
        mentions = message.parse_entities([MessageEntity.MENTION])
        for command in commands.values():
            target = command.partition("@")[2].lower()
            if not target or target == me:
                return True
        return any(m.lstrip("@").lower() == me for m in mentions.values())

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("handling a Telegram update failed", exc_info=context.error)


# ---------------------------------------------------------------- outbox sender


class TelegramSender:
    """The outbox's `ConcurrentSender`: the dispatcher thread hands messages over with `start`, they
    are sent on the bot's event loop (as many at once as it hands over), and each outcome is
    reported back through the message's `done`. `send` is the blocking form for one message."""

    platform = PLATFORM

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        per_chat: timedelta = PER_CHAT_INTERVAL,
        anchored: Callable[..., None] | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.per_chat = per_chat
        # `Engine.anchored`: a workshop statement the timer posts takes replies as notes too.
        self.anchored = anchored
        self._bound: tuple[Bot, asyncio.AbstractEventLoop] | None = None
        self._free_at: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, bot: Bot, loop: asyncio.AbstractEventLoop) -> None:
        self._bound = (bot, loop)

    def unbind(self) -> None:
        self._bound = None

    @property
    def running(self) -> bool:
        """The bot is up and `send` delivers (before that it answers RetryLater)."""
        return self._bound is not None

    def send(self, address: Address, replies: Sequence[Reply]) -> None:
        """One message, waited for."""
        outcome: concurrent.futures.Future[None] = concurrent.futures.Future()

        def done(error: BaseException | None) -> None:
            if error is None:
                outcome.set_result(None)
            else:
                outcome.set_exception(error)

        self.start([Sending(address, replies, done)])
        outcome.result(SEND_TIMEOUT + 5)  # the send itself gives up after SEND_TIMEOUT

    def start(self, sendings: Sequence[Sending]) -> None:
        """Hand messages to the bot's event loop (one wake-up for all of them) without waiting."""
        bound = self._bound
        if bound is None:  # the bot is starting or stopping: the dispatcher tries again
            for sending in sendings:
                sending.done(RetryLater(5))
            return
        bot, loop = bound
        accepted: list[Sending] = []
        for sending in sendings:
            try:
                self._reserve(sending.address.chat, message_count(sending.replies))
            except RetryLater as wait:
                sending.done(wait)
            else:
                accepted.append(sending)
        if not accepted:
            return
        try:
            loop.call_soon_threadsafe(self._launch, bot, accepted)
        except RuntimeError:  # the event loop has closed under us
            for sending in accepted:
                self._release(sending.address.chat)
                sending.done(RetryLater(5))

    def _launch(self, bot: Bot, sendings: Sequence[Sending]) -> None:
        for sending in sendings:
            task = asyncio.get_running_loop().create_task(self._run(bot, sending))
            self._tasks.add(task)  # a task nobody refers to may be collected mid-way
            task.add_done_callback(self._tasks.discard)

    async def _run(self, bot: Bot, sending: Sending) -> None:
        chat = sending.address.chat
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self._deliver(bot, chat, sending.replies, sending.address.pressed)
        except RetryLater as wait:
            self._release(chat)
            sending.done(wait)
        except Exception as error:
            sending.done(error)
        except asyncio.CancelledError as stopped:  # the bot is stopping
            sending.done(stopped)
            raise
        else:
            sending.done(None)

    async def _anchored(self, chat: str, message_id: str, anchor: str) -> None:
        assert self.anchored is not None
        await asyncio.to_thread(
            self.anchored, platform=PLATFORM, workspace="", chat=chat, message_id=message_id, anchor=anchor
        )

    def _reserve(self, chat: str, messages: int) -> None:
        """About one message a second per chat: a chat spoken to just now waits its turn."""
        now = self.clock.now()
        with self._lock:
            free_at = self._free_at.get(chat)
            if free_at is not None and free_at > now:
                raise RetryLater((free_at - now).total_seconds())
            if len(self._free_at) > 10_000:
                self._free_at = {c: t for c, t in self._free_at.items() if t > now}
            self._free_at[chat] = now + self.per_chat * messages

    def _release(self, chat: str) -> None:
        with self._lock:
            self._free_at.pop(chat, None)

    async def _deliver(self, bot: Bot, chat: str, replies: Sequence[Reply], pressed: str | None) -> None:
        chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        # An event's replies its own process could not send (`Address.pressed`) are interactive.
        message = int(pressed) if pressed and pressed.isdigit() else None
        through = Lane.INTERACTIVE if message is not None else Lane.BULK
        try:
            anchored = functools.partial(self._anchored, chat) if self.anchored is not None else None
            delivery = Delivery(bot, chat_id, through=through, give_up_first=True, anchored=anchored)
            await delivery.replies(replies, message)
        except RetryAfter as flood:  # still flooded after waiting: back to the outbox for later
            raise RetryLater(retry_seconds(flood)) from None
        except Forbidden as refused:  # blocked by the user, or kicked from the chat
            raise Undeliverable(refused.message) from None
        except BadRequest as refused:  # chat not found and the like: trying again will not help
            raise Undeliverable(refused.message) from None


# ---------------------------------------------------------------- building and running


def webhook_secret(config: Config) -> str:
    """The configured secret, or one derived from the token (the same in every process)."""
    if config.telegram_webhook_secret:
        if not _SECRET_TOKEN.fullmatch(config.telegram_webhook_secret):
            raise ValueError("ASSESSBOT_TELEGRAM_WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - (1-256)")
        return config.telegram_webhook_secret
    assert config.telegram_token
    return derived_webhook_secret(config.telegram_token)


def derived_webhook_secret(token: str) -> str:
    """The webhook secret made from the token: whoever holds it can forge updates (never logged)."""
    return hashlib.sha256(b"assessbot-webhook:" + token.encode()).hexdigest()


def build_application(
    config: Config,
    engine: Engine,
    *,
    overall_rate: float | None = None,
    concurrency: int = 32,
) -> tuple[AppType, TelegramAdapter]:
    """The python-telegram-bot Application with the adapter's handlers (not started).

    `overall_rate` (messages/s for the whole bot) defaults to `config.telegram_max_per_second`.
    """
    if not config.telegram_token:
        raise ValueError("ASSESSBOT_TELEGRAM_TOKEN is not set")
    hide_secrets(
        config.telegram_token, config.telegram_webhook_secret, derived_webhook_secret(config.telegram_token)
    )
    builder = (
        Application.builder()
        .token(config.telegram_token)
        .rate_limiter(Lanes(config.telegram_max_per_second if overall_rate is None else overall_rate))
        .concurrent_updates(OneChatAtATime(concurrency))
        # Timed work is bot/follow_up/scheduler.py's (in SQL); PTB's in-memory job queue is not used.
        .job_queue(None)
        # HTTP over aiohttp: a fraction of httpx's CPU per request (adapters/telegram_request.py).
        # The pool sizes are python-telegram-bot's defaults; the long poll holds one connection.
        .request(AiohttpRequest(CONNECTIONS))
        .get_updates_request(AiohttpRequest(1))
    )
    if config.telegram_api_url:
        # A self-hosted telegram-bot-api server: same paths as the public one.
        url = config.telegram_api_url.rstrip("/")
        builder = builder.base_url(f"{url}/bot").base_file_url(f"{url}/file/bot")
    application: AppType = builder.build()
    adapter = TelegramAdapter(engine)
    adapter.register(application)
    return application, adapter


async def serve(
    application: AppType,
    adapter: TelegramAdapter,
    config: Config,
    stopped: Callable[[], bool],
    sender: TelegramSender | None = None,
    *,
    poll_timeout: int = 30,
    ready: Readiness | None = None,
) -> None:
    """Run until `stopped()` is true: long polling, or a webhook when a webhook URL is configured."""
    async with application:
        await adapter.prepare(application)
        await application.start()
        updater = application.updater
        assert updater is not None
        webhook: web.AppRunner | None = None
        if config.telegram_webhook_url:
            from adapters.http_server import Limits
            from adapters.telegram_webhook import start_webhook

            path = "/" + urllib.parse.urlsplit(config.telegram_webhook_url).path.lstrip("/")
            webhook = await start_webhook(
                application,
                url=config.telegram_webhook_url,
                path=path,
                listen=config.telegram_webhook_listen,
                port=config.telegram_webhook_port,
                secret=webhook_secret(config),
                allowed_updates=ALLOWED_UPDATES,
                limits=Limits.from_config(config),
                ready=ready,
            )
            log.info("Telegram: receiving updates by webhook on port %s", config.telegram_webhook_port)
        else:
            await updater.start_polling(timeout=poll_timeout, allowed_updates=list(ALLOWED_UPDATES))
            log.info("Telegram: receiving updates by long polling as @%s", adapter.username)
        if sender is not None:
            sender.bind(application.bot, asyncio.get_running_loop())
        try:
            while not stopped():
                await asyncio.sleep(0.2)
        finally:
            if sender is not None:
                sender.unbind()
            if webhook is not None:
                await webhook.cleanup()
            if updater.running:
                await updater.stop()
            await application.stop()


def run(
    config: Config,
    engine: Engine,
    sender: TelegramSender,
    stop: threading.Event,
    *,
    ready: Readiness | None = None,
) -> None:
    """Blocking: serve Telegram in this thread until `stop` is set."""
    application, adapter = build_application(config, engine)
    try:
        asyncio.run(serve(application, adapter, config, stop.is_set, sender, ready=ready))
    except InvalidToken:
        # PTB's message quotes the token: say what is wrong without it.
        raise RuntimeError("Telegram refused the bot token (ASSESSBOT_TELEGRAM_TOKEN)") from None
