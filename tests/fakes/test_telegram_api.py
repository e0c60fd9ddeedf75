"""Proves the fake Telegram Bot API against the real python-telegram-bot client.

Plain pytest tests drive asyncio through ``asyncio.run`` (no pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import struct
import threading
import time
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter

from tests.fakes.telegram_api import FakeTelegramAPI

USER = 4242
T = TypeVar("T")

# PTB itself reads RetryAfter.retry_after (an int until PTB_TIMEDELTA is set) when raising it.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as api:
        yield api


def run_with_bot(fake: FakeTelegramAPI, body: Callable[[Bot], Awaitable[T]]) -> T:
    """Run ``body(bot)`` with an initialised real PTB bot pointed at the fake."""

    async def main() -> T:
        async with Bot(**fake.bot_kwargs()) as bot:
            return await body(bot)

    return asyncio.run(main())


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


def raw_call(
    fake: FakeTelegramAPI,
    method: str,
    *,
    body: bytes | None = None,
    content_type: str = "application/json",
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """A plain HTTP call to the fake, bypassing PTB."""
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        headers = {"Content-Type": content_type} if body is not None else {}
        verb = "POST" if body is not None else "GET"
        connection.request(verb, f"/bot{token or fake.token}/{method}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- with the real PTB client


def test_initialize_calls_get_me_and_send_message_with_inline_keyboard(fake: FakeTelegramAPI) -> None:
    fake.push_message(USER, "hi")

    async def body(bot: Bot) -> None:
        assert bot.username == "assess_test_bot"
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Yes", callback_data="q1:yes"),
                    InlineKeyboardButton("No", callback_data="q1:no"),
                ],
                [InlineKeyboardButton("About", url="https://example.org/about")],
            ]
        )
        sent = await bot.send_message(USER, "Question 1?", reply_markup=markup)
        assert sent.text == "Question 1?"
        assert sent.chat.id == USER
        assert sent.chat.type == "private"
        assert sent.from_user is not None
        assert sent.from_user.id == 999
        assert sent.from_user.is_bot
        assert sent.reply_markup == markup

    run_with_bot(fake, body)

    assert [c.method for c in fake.calls][:1] == ["getMe"]
    shown = fake.last_message(USER)
    assert shown is not None
    assert shown.text == "Question 1?"
    assert shown.button_texts() == [["Yes", "No"], ["About"]]
    assert shown.callback_data() == ["q1:yes", "q1:no"]
    (call,) = fake.calls_of("sendMessage")
    assert call.params["chat_id"] == USER  # PTB sends "4242"; params are decoded
    assert call.raw["chat_id"] == str(USER)
    assert call.params["reply_markup"]["inline_keyboard"][0][0] == {"text": "Yes", "callback_data": "q1:yes"}


def test_edit_message_text_updates_chat_view_and_refuses_no_op_edits(fake: FakeTelegramAPI) -> None:
    fake.push_message(USER, "hi")

    async def body(bot: Bot) -> None:
        sent = await bot.send_message(USER, "Pick one", reply_markup=keyboard([("A", "a"), ("B", "b")]))
        edited = await bot.edit_message_text(
            "You picked A",
            chat_id=USER,
            message_id=sent.message_id,
            reply_markup=keyboard([("Undo", "undo")]),
        )
        assert isinstance(edited, Message)
        assert edited.edit_date is not None
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text(
                "You picked A",
                chat_id=USER,
                message_id=sent.message_id,
                reply_markup=keyboard([("Undo", "undo")]),
            )
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("x", chat_id=USER, message_id=sent.message_id + 100)
        # Like Telegram: an edit without reply_markup removes the keyboard.
        await bot.edit_message_text("Done", chat_id=USER, message_id=sent.message_id)

    run_with_bot(fake, body)

    (shown,) = fake.chat(USER)
    assert shown.text == "Done"
    assert shown.reply_markup is None
    assert shown.history == ["Pick one", "You picked A"]


def test_429_once_then_success(fake: FakeTelegramAPI) -> None:
    fake.push_message(USER, "hi")
    fake.fail_next("sendMessage", 1, retry_after=3)

    async def body(bot: Bot) -> int:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "first try")
        retry_after = caught.value.retry_after
        seconds = retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after
        assert seconds == 3
        sent = await bot.send_message(USER, "second try")
        return sent.message_id

    run_with_bot(fake, body)

    assert fake.rejected_429 == 1
    assert [c.status for c in fake.calls_of("sendMessage")] == [429, 200]
    assert fake.calls_of("sendMessage")[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert [m.text for m in fake.chat(USER)] == ["second try"]


def test_get_updates_returns_message_and_callback_query(fake: FakeTelegramAPI) -> None:
    first = fake.push_message(USER, "/start deep-link", language_code="sv", username="anna")

    async def body(bot: Bot) -> None:
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [first["update_id"]]
        message = updates[0].message
        assert message is not None
        assert message.text == "/start deep-link"
        assert message.from_user is not None
        assert message.from_user.language_code == "sv"
        assert message.parse_entities(["bot_command"]) == {message.entities[0]: "/start"}

        sent = await bot.send_message(USER, "Ready?", reply_markup=keyboard([("Go", "go")]))
        pushed = fake.push_callback(USER, sent.message_id, "go")
        updates = await bot.get_updates(offset=first["update_id"] + 1, timeout=0)
        assert len(updates) == 1
        assert isinstance(updates[0], Update)
        query = updates[0].callback_query
        assert query is not None
        assert query.data == "go"
        assert query.id == pushed["callback_query"]["id"]
        assert isinstance(query.message, Message)
        assert query.message.message_id == sent.message_id
        assert query.message.reply_markup == keyboard([("Go", "go")])
        assert await query.answer("Thanks")
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query(query.id)  # a query can be answered only once

        # The offset confirms: nothing left, and a long poll wakes up as soon as an update arrives.
        assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
        threading.Timer(0.2, fake.push_message, args=(USER, "later")).start()
        started = time.monotonic()
        updates = await bot.get_updates(offset=updates[0].update_id + 1, timeout=5)
        assert time.monotonic() - started < 2
        assert [u.message.text for u in updates if u.message] == ["later"]

    run_with_bot(fake, body)
    assert fake.callback_answers[pushed_id(fake)]["text"] == "Thanks"


def pushed_id(fake: FakeTelegramAPI) -> str:
    (answer,) = [c for c in fake.calls_of("answerCallbackQuery") if c.ok]
    return str(answer.params["callback_query_id"])


def test_download_pushed_document_via_get_file(fake: FakeTelegramAPI) -> None:
    content = b"instrument: dcq\nitems:\n  - q1\n" + bytes(range(256))
    update = fake.push_document(USER, "my answers.yaml", content, caption="here")

    async def body(bot: Bot) -> bytes:
        (received,) = await bot.get_updates(timeout=0)
        assert received.update_id == update["update_id"]
        assert received.message is not None
        assert received.message.document is not None
        document = received.message.document
        assert document.file_name == "my answers.yaml"
        assert document.mime_type == "application/x-yaml"
        assert document.file_size == len(content)
        file = await bot.get_file(document.file_id)
        assert file.file_size == len(content)
        return bytes(await file.download_as_bytearray())

    assert run_with_bot(fake, body) == content


def test_callback_data_over_64_bytes_is_refused(fake: FakeTelegramAPI) -> None:
    fake.push_message(USER, "hi")

    async def body(bot: Bot) -> None:
        await bot.send_message(USER, "ok", reply_markup=keyboard([("64", "x" * 64)]))
        with pytest.raises(BadRequest, match=r"(?i)^button_data_invalid$"):
            await bot.send_message(USER, "too long", reply_markup=keyboard([("65", "x" * 65)]))
        with pytest.raises(BadRequest, match=r"(?i)^button_data_invalid$"):  # bytes, not characters
            await bot.send_message(USER, "too long", reply_markup=keyboard([("ä", "ä" * 33)]))

    run_with_bot(fake, body)
    assert [m.text for m in fake.chat(USER)] == ["ok"]
    assert fake.calls_of("sendMessage")[1].response["description"] == "Bad Request: BUTTON_DATA_INVALID"


def test_set_my_commands_is_recorded_per_language_and_scope(fake: FakeTelegramAPI) -> None:
    async def body(bot: Bot) -> None:
        assert await bot.set_my_commands([BotCommand("start", "Start an assessment")])
        assert await bot.set_my_commands([BotCommand("start", "Starta en bedömning")], language_code="sv")
        with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
            await bot.set_my_commands([BotCommand("Start", "upper case is not allowed")])

    run_with_bot(fake, body)
    assert fake.commands_for("") == [{"command": "start", "description": "Start an assessment"}]
    assert fake.commands_for("sv") == [{"command": "start", "description": "Starta en bedömning"}]
    assert fake.commands_for("de") == []
    calls = [c for c in fake.calls_of("setMyCommands") if c.ok]
    assert [c.params.get("language_code") for c in calls] == [None, "sv"]


def test_send_photo_and_document_multipart_uploads(fake: FakeTelegramAPI) -> None:
    fake.push_message(USER, "hi")
    png = tiny_png(30, 20)

    async def body(bot: Bot) -> None:
        photo_msg = await bot.send_photo(USER, png, caption="  Radar chart\n")
        assert photo_msg.caption == "Radar chart"  # trimmed like Telegram does
        assert (photo_msg.photo[-1].width, photo_msg.photo[-1].height) == (30, 20)
        doc_msg = await bot.send_document(USER, b"a;b\n1;2\n", filename="report.csv")
        assert doc_msg.document is not None
        assert doc_msg.document.file_name == "report.csv"
        file = await bot.get_file(photo_msg.photo[-1].file_id)
        assert bytes(await file.download_as_bytearray()) == png
        with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
            await bot.send_photo(USER, b"not an image", filename="x.png")

    run_with_bot(fake, body)
    photo_call = fake.calls_of("sendPhoto")[0]
    assert photo_call.files["photo"][1] == png
    assert fake.calls_of("sendDocument")[0].files["document"] == ("report.csv", b"a;b\n1;2\n")
    kinds = [(m.kind, m.caption) for m in fake.chat(USER)]
    assert kinds == [("photo", "Radar chart"), ("document", None)]


def test_text_rules_follow_telegram(fake: FakeTelegramAPI) -> None:
    fake.push_message(USER, "hi")

    async def body(bot: Bot) -> None:
        await bot.send_message(USER, "x" * 4096)
        with pytest.raises(BadRequest, match=r"(?i)^message is too long$"):
            await bot.send_message(USER, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)text must be non-empty"):
            await bot.send_message(USER, " \n ")
        sent = await bot.send_message(USER, "  Score: 3.5\r  \n")
        assert sent.text == "Score: 3.5"  # cleaned and trimmed like Telegram does
        # The bot sends plain text; formatted text would be a change the fake refuses to hide.
        with pytest.raises(BadRequest, match=r"(?i)unsupported parse_mode"):
            await bot.send_message(USER, "<b>Score</b>", parse_mode="HTML")
        fake.block_user(USER)
        with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
            await bot.send_message(USER, "blocked")
        fake.block_user(USER, blocked=False)
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(777, "a user who never wrote to the bot")

    run_with_bot(fake, body)


def test_plain_http_contract(fake: FakeTelegramAPI) -> None:
    assert raw_call(fake, "noSuchMethod", body=b"{}") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert raw_call(fake, "getMe", token="123456:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert raw_call(fake, "editMessageCaption", body=b"{}")[0] == 404  # real, but not in the fake
    assert [c.method for c in fake.unimplemented_calls()] == ["editMessageCaption"]
    status, body = raw_call(fake, "GETME")  # method names are case-insensitive
    assert status == 200
    assert body["result"]["username"] == "assess_test_bot"

    fake.push_message(USER, "hi")
    status, body = raw_call(fake, "sendMessage", body=json.dumps({"chat_id": USER, "text": ""}).encode())
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    markup = json.dumps({"inline_keyboard": [[{"text": "both", "callback_data": "a", "url": "https://a.b"}]]})
    form = urllib.parse.urlencode({"chat_id": str(USER), "text": "x", "reply_markup": markup}).encode()
    status, body = raw_call(fake, "sendMessage", body=form, content_type="application/x-www-form-urlencoded")
    assert status == 400
    assert "exactly one" in body["description"]
    markup = json.dumps({"inline_keyboard": [[{"text": "label only"}]]})
    status, body = raw_call(
        fake, "sendMessage", body=json.dumps({"chat_id": USER, "text": "x", "reply_markup": markup}).encode()
    )
    assert body["description"] == (
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
    )
    # A JSON body may carry reply_markup as an object: the server sees its JSON text.
    payload = {
        "chat_id": USER,
        "text": "ok",
        "reply_markup": {"inline_keyboard": [[{"text": "A", "url": "a.org"}]]},
    }
    status, body = raw_call(fake, "sendMessage", body=json.dumps(payload).encode())
    assert status == 200
    assert body["result"]["reply_markup"] == {"inline_keyboard": [[{"text": "A", "url": "http://a.org/"}]]}


def test_webhook_set_deliver_and_conflicts() -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(
                (self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(self.rfile.read(length)))
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    local_url = f"http://127.0.0.1:{receiver.server_address[1]}/tg"
    try:
        with FakeTelegramAPI() as strict:

            async def strict_body(bot: Bot) -> None:
                with pytest.raises(BadRequest, match=r"(?i)an https url must be provided"):
                    await bot.set_webhook(local_url)

            run_with_bot(strict, strict_body)

        with FakeTelegramAPI(local_mode=True) as fake:

            async def body(bot: Bot) -> None:
                assert await bot.set_webhook(local_url, secret_token="s3cr3t-_")
                assert fake.webhook_url == local_url
                with pytest.raises(Conflict, match=r"(?i)webhook is active"):
                    await bot.get_updates(timeout=0)

            run_with_bot(fake, body)
            update = fake.push_message(USER, "/start")
            assert fake.deliver_webhook(update) == 200
            assert fake.deliver_webhook(update, secret=None) == 200
            assert fake.pending_updates() == []
            assert [secret for secret, _ in received] == ["s3cr3t-_", None]
            assert received[0][1] == update
            Update.de_json(received[0][1], None)  # what Telegram posts is a valid Update
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_rate_limit_per_chat_and_redeliver(fake: FakeTelegramAPI) -> None:
    fake.push_message(USER, "hi")
    fake.push_message(USER + 1, "hi")
    fake.rate_limit(per_second=None, per_chat_per_second=1)

    async def body(bot: Bot) -> None:
        await bot.send_message(USER, "one")
        await bot.send_message(USER + 1, "other chat is fine")
        with pytest.raises(RetryAfter):
            await bot.send_message(USER, "two")

    run_with_bot(fake, body)
    assert fake.rejected_429 == 1

    first = fake.pending_updates()[0]

    async def consume(bot: Bot) -> tuple[Update, ...]:
        updates = await bot.get_updates(timeout=0)
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)  # confirm all
        fake.redeliver(first)
        return await bot.get_updates(timeout=0)

    again = run_with_bot(fake, consume)
    assert [u.update_id for u in again] == [first["update_id"]]


def test_rate_limit_can_leave_edits_uncounted(fake: FakeTelegramAPI) -> None:
    """Telegram's 30/s is for messages to many users: edits can be left out of the window."""
    fake.push_message(USER, "hi")
    fake.rate_limit(per_second=1, count_edits=False)

    async def body(bot: Bot) -> None:
        sent = await bot.send_message(USER, "one")
        for n in range(3):
            await bot.edit_message_text(f"edited {n}", chat_id=USER, message_id=sent.message_id)
        with pytest.raises(RetryAfter):
            await bot.send_message(USER, "two")

    run_with_bot(fake, body)
    assert fake.rejected_429 == 1


def test_application_polling_with_command_handler(fake: FakeTelegramAPI) -> None:
    """The full PTB stack: Updater long polling, CommandHandler, CallbackQueryHandler."""
    from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            f"Hello! args={context.args}", reply_markup=keyboard([("Begin", "begin")])
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"Pressed {query.data}")

    async def main() -> None:
        app = (
            Application.builder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .build()
        )
        app.add_handler(CommandHandler("start", start))
        app.add_handler(CallbackQueryHandler(pressed))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=2)
            fake.push_message(USER, "/start abc")
            reply = await wait_for(lambda: fake.last_message(USER))
            fake.push_callback(USER, reply.message_id, "begin")
            await wait_for(lambda: (m := fake.last_message(USER)) and m.text == "Pressed begin")
            await app.updater.stop()
            await app.stop()

    asyncio.run(main())
    (message,) = fake.chat(USER)
    assert message.history == ["Hello! args=['abc']"]
    assert message.reply_markup is None
    assert [c.method for c in fake.calls if c.method == "deleteWebhook"] == ["deleteWebhook"]
    assert all(c.status == 200 for c in fake.calls if c.method != "getUpdates")


async def wait_for(probe: Callable[[], T | None], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")
