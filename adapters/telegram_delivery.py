"""Sending one batch of replies to one Telegram chat: the calls adapters/telegram_render.py
decides, made through one lane of adapters/telegram_pace.py, with 429s waited out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from telegram import Bot, Message
from telegram.error import BadRequest, RetryAfter

from adapters.telegram_pace import Lane, lane, retry_seconds
from adapters.telegram_render import Call, Method, calls_for, keyboard, keyboard_json
from bot.messages import Reply, RetryLater

log = logging.getLogger(__name__)

RETRIES = 3
T = TypeVar("T")


def is_not_modified(error: BadRequest) -> bool:
    return "message is not modified" in error.message.lower()


class Delivery:
    """Sends one batch of replies to one chat, through one lane (adapters/telegram_pace.py):
    interactive for a reply to the person's own message or press, bulk for the outbox.

    A 429 is waited out and retried; `give_up_first` instead hands the wait to the outbox
    dispatcher (RetryLater) when nothing of the batch has gone out yet, so no message is sent twice.
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int | str,
        *,
        through: Lane = Lane.INTERACTIVE,
        give_up_first: bool = False,
        anchored: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.through = through
        self.give_up_first = give_up_first
        self.sent = 0
        # Told (message id, anchor) of each posted reply that has an anchor (`Reply.anchor`).
        self.anchored = anchored

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        with lane(self.through):
            for _ in range(RETRIES):
                try:
                    result = await request()
                except RetryAfter as error:
                    seconds = retry_seconds(error)
                    if self.give_up_first and self.sent == 0:
                        raise RetryLater(seconds) from None
                    await asyncio.sleep(seconds)
                    continue
                self.sent += 1
                return result
            result = await request()
        self.sent += 1
        return result

    async def replies(self, replies: Sequence[Reply], pressed: Message | None = None) -> None:
        for call in calls_for(replies, pressed=pressed is not None):
            if call.method is Method.EDIT:
                assert pressed is not None
                if await self.edit(pressed, call):
                    continue
                call = Call(Method.TEXT, call.text, call.choices)  # shown as a new message instead
            await self.make(call)

    async def edit(self, pressed: Message, call: Call) -> bool:
        """Replace the pressed message; False if Telegram will not edit it (then it is sent anew).

        Like `text`, without parsing Telegram's answer into a `Message` nobody reads."""
        fields = {
            "chat_id": pressed.chat_id,
            "message_id": pressed.message_id,
            "text": call.text,
            "reply_markup": keyboard_json(call.choices),
        }
        try:
            await self._call(lambda: self.bot.do_api_request("editMessageText", fields, return_type=None))
        except BadRequest as error:
            if is_not_modified(error):
                return True
            log.info("could not edit a message (%s); sending it as a new one", error.message)
            return False
        if call.anchor and self.anchored is not None:
            await self.anchored(str(pressed.message_id), call.anchor)
        return True

    async def text(self, text: str, markup: str | None = None) -> None:
        """sendMessage, without turning Telegram's answer into a `Message` we would not read: that
        parsing was a fifth of the event loop's CPU per outbox message (python-telegram-bot's
        `send_message` always does it; `do_api_request` with no return type does not)."""
        await self.bot.do_api_request(
            "sendMessage", {"chat_id": self.chat_id, "text": text, "reply_markup": markup}, return_type=None
        )

    async def anchored_text(self, text: str, markup: str | None, anchor: str) -> None:
        """sendMessage for a reply whose replies mean something: its message id is needed."""
        sent = await self.bot.do_api_request(
            "sendMessage",
            {"chat_id": self.chat_id, "text": text, "reply_markup": markup},
            return_type=Message,
        )
        if self.anchored is not None and isinstance(sent, Message):
            await self.anchored(str(sent.message_id), anchor)

    async def make(self, call: Call) -> None:
        """One new message: a text, a photo or a document."""
        if call.method is Method.TEXT:
            assert call.text is not None
            text, anchor = call.text, call.anchor
            if anchor and self.anchored is not None:
                await self._call(lambda: self.anchored_text(text, keyboard_json(call.choices), anchor))
            else:
                await self._call(lambda: self.text(text, keyboard_json(call.choices)))
            return
        attachment = call.attachment
        assert attachment is not None
        send = self.bot.send_photo if call.method is Method.PHOTO else self.bot.send_document
        await self._call(
            lambda: send(
                self.chat_id,
                attachment.content,
                caption=call.text,
                filename=attachment.filename,
                reply_markup=keyboard(call.choices),
            )
        )
