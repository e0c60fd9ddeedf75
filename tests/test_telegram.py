"""Telegram: the real python-telegram-bot Application over real HTTP against the fake Bot API server.

Plain pytest drives asyncio through `asyncio.run`. Updates reach the bot either by long polling
(`serve`, as `assessbot run` does) or through `Application.process_update`; both are the real stack.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from telegram import Update
from telegram.error import NetworkError

from adapters import telegram as tg
from adapters.telegram_delivery import left_after
from adapters.telegram_render import Call, Method
from bot.clock import ManualClock
from bot.config import Config
from bot.i18n import translator
from bot.messages import Choice, Reply
from bot.outbox import Dispatcher, enqueue
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Answer,
    Identity,
    JoinCode,
    Membership,
    Outbox,
    OutboxState,
    Person,
    Response,
    ResponseStatus,
    Role,
    Unit,
)
from tests.fakes.telegram_api import FakeTelegramAPI, SentMessage

USER = 4242
CODE = "TGJQ42"
LIBRARY = "Digital competence for library staff"
T = TypeVar("T")
# Rendering-only scenarios: the database is not what they test, so one is enough.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
# The burst is slow-ish (real 429 pauses): run it where several dispatchers would share the outbox.
POSTGRESQL_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

# PTB itself reads RetryAfter.retry_after (an int until PTB_TIMEDELTA is set) when raising it.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as api:
        yield api


def telegram_config(runtime: Runtime, fake: FakeTelegramAPI, **overrides: Any) -> Config:
    return dataclasses.replace(
        runtime.config,
        telegram_token=fake.token,
        telegram_api_url=f"http://127.0.0.1:{fake.port}",
        **overrides,
    )


async def wait_for(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("the bot did not get there in time")
        await asyncio.sleep(0.01)


def message_with(fake: FakeTelegramAPI, needle: str, after: int = 0, chat: int = USER) -> SentMessage | None:
    for message in reversed(fake.chat(chat)):
        if message.message_id > after and needle in (message.text or ""):
            return message
    return None


def data_of(message: SentMessage, label: str) -> str:
    for row in message.buttons:
        for button in row:
            if button["text"] == label:
                return str(button["callback_data"])
    raise AssertionError(f"no button {label!r} in {message.button_texts()}")


def add_unit_with_code(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        unit = Unit(name="Ystad bibliotek", created_at=now)
        session.add(unit)
        session.flush()
        session.add(JoinCode(code=CODE, unit_id=unit.id, role=Role.STAFF, uses=0, created_at=now))


def count(runtime: Runtime, model: type[Any]) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


class Chat:
    """One person in a private chat, updates handed to `Application.process_update`."""

    def __init__(self, fake: FakeTelegramAPI, application: tg.AppType, user: int = USER, **who: Any) -> None:
        self.fake = fake
        self.app = application
        self.user = user
        self.who = who

    async def deliver(self, update: dict[str, Any]) -> None:
        await self.app.process_update(Update.de_json(update, self.app.bot))

    async def say(self, text: str, **kwargs: Any) -> None:
        await self.deliver(self.fake.push_message(self.user, text, **{**self.who, **kwargs}))

    async def press(self, message: SentMessage, label: str) -> None:
        await self.deliver(self.fake.push_callback(self.user, message.message_id, data_of(message, label)))

    @property
    def last(self) -> SentMessage:
        message = self.fake.last_message(self.user)
        assert message is not None
        return message

    def texts(self) -> list[str]:
        return [m.text or m.caption or "" for m in self.fake.chat(self.user)]


def with_app(
    runtime: Runtime,
    fake: FakeTelegramAPI,
    body: Callable[[tg.AppType, Chat], Awaitable[T]],
    **overrides: Any,
) -> T:
    application, _adapter = tg.build_application(telegram_config(runtime, fake, **overrides), runtime.engine)

    async def main() -> T:
        async with application:
            return await body(application, Chat(fake, application))

    return asyncio.run(main())


async def to_first_statement(chat: Chat) -> SentMessage:
    await chat.say("/assess")
    await chat.press(chat.last, LIBRARY)
    for _ in range(4):
        await chat.press(chat.last, chat.last.button_texts()[0][0])
    assert "Statement 1/24" in (chat.last.text or "")
    return chat.last


# ---------------------------------------------------------------- the whole flow, by long polling


def test_join_link_then_24_statements_by_buttons_over_long_polling(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    add_unit_with_code(runtime)
    config = telegram_config(runtime, fake)
    application, adapter = tg.build_application(config, runtime.engine)
    stop = asyncio.Event()
    presses = 0

    async def press(message: SentMessage, label: str) -> None:
        nonlocal presses
        presses += 1
        fake.push_callback(USER, message.message_id, data_of(message, label))

    async def conversation() -> None:
        fake.push_message(USER, f"/start {CODE}", first_name="Anna")
        await wait_for(lambda: message_with(fake, "Welcome, Anna! You are now a member of Ystad bibliotek."))
        ready = await wait_for(lambda: message_with(fake, "Ready when you are."))
        fake.push_message(USER, "/assess", first_name="Anna")
        offer = await wait_for(partial(message_with, fake, "", ready.message_id))
        await press(offer, LIBRARY)
        question = await wait_for(lambda: message_with(fake, "Background question 1/4"))
        for n in range(1, 5):
            assert f"Background question {n}/4" in (question.text or "")
            await press(question, question.button_texts()[0][0])
            needle = f"Background question {n + 1}/4" if n < 4 else "Statement 1/24"
            question = await wait_for(partial(message_with, fake, needle))
        sends_before_statements = len(fake.calls_of("sendMessage"))
        for n in range(1, 25):
            assert f"Statement {n}/24" in (question.text or "")
            assert ["1", "2", "3", "4", "5", "6", "7"] in question.button_texts()
            await press(question, "5")
            if n == 24:
                break
            needle = f"Statement {n + 1}/24"
            following = await wait_for(partial(message_with, fake, needle))
            # One message, edited: the statement with the answer given, then the next statement.
            assert following.message_id == question.message_id
            text = following.text or ""
            assert text.index(f"Statement {n}/24") < text.index("→ Your answer: 5") < text.index(needle)
            assert data_of(following, "5") != data_of(question, "5")  # the next statement's buttons
            question = following
        # Answering the statements took no new message; the result comes as new ones.
        assert len(fake.calls_of("sendMessage")) == sends_before_statements
        await wait_for(lambda: message_with(fake, "Done! Thank you, Anna.", after=question.message_id))
        answered = fake.message(USER, question.message_id)
        assert answered is not None
        assert answered.reply_markup is None  # the keyboard is gone
        assert (answered.text or "").endswith("→ Your answer: 5")
        assert "Statement 24/24" in (answered.text or "")
        stop.set()

    async def main() -> None:
        server = asyncio.create_task(tg.serve(application, adapter, config, stop.is_set, poll_timeout=1))
        try:
            await asyncio.wait_for(conversation(), 60)
        finally:
            stop.set()
            await server

    asyncio.run(main())

    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 24
        assert set(session.scalars(select(Answer.value))) == {5}
        assert session.scalar(select(Response.status)) is ResponseStatus.COMPLETED
        membership = session.scalar(select(Membership))
        assert membership is not None
        assert membership.role is Role.STAFF
    # Every request but the long polls succeeded; each button press was answered exactly once.
    assert all(c.ok for c in fake.calls if c.method != "getUpdates"), [
        (c.method, c.response) for c in fake.calls if not c.ok
    ]
    answered = [c.params["callback_query_id"] for c in fake.calls_of("answerCallbackQuery")]
    assert len(answered) == len(set(answered)) == presses
    assert fake.calls_of("deleteWebhook")  # polling starts by removing any webhook
    edits = fake.calls_of("editMessageText")
    assert len(edits) == 4 + 24  # each answered background question and statement
    assert all("parse_mode" not in c.params for c in fake.calls_of("sendMessage") + edits)
    # The command menu, per language, and the username for join links.
    assert [c["command"] for c in fake.commands_for("")] == list(tg.MENU_COMMANDS)
    sv = translator("sv")
    assert fake.commands_for("sv")[1]["description"] == sv._(
        "start an assessment, or continue where you were"
    )
    assert runtime.engine.config.telegram_bot_username == "assess_test_bot"


# ---------------------------------------------------------------- buttons: repeats and forgeries


def test_a_redelivered_callback_and_a_double_click_store_one_answer(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    async def body(app: tg.AppType, chat: Chat) -> None:
        first = await to_first_statement(chat)
        update = fake.push_callback(USER, first.message_id, data_of(first, "5"))
        await chat.deliver(update)
        await chat.deliver(update)  # Telegram delivers it again (say, after a crash)
        second = chat.last
        assert "Statement 2/24" in (second.text or "")
        # A double click: two queries from the same button before the first is handled.
        twice = [fake.push_callback(USER, second.message_id, data_of(second, "6")) for _ in range(2)]
        for pressed in twice:
            await chat.deliver(pressed)
        assert sum("Statement 2/24" in text for text in chat.texts()) == 1
        assert sum("Statement 3/24" in text for text in chat.texts()) == 1
        ids = [c.params["callback_query_id"] for c in fake.calls_of("answerCallbackQuery") if c.ok]
        assert len(ids) == len(set(ids))
        assert update["callback_query"]["id"] in ids
        assert all(p["callback_query"]["id"] in ids for p in twice)

    with_app(runtime, fake, body)
    with runtime.sessions() as session:
        assert list(session.scalars(select(Answer.value).order_by(Answer.value))) == [5, 6]


def test_a_forged_button_is_refused_and_nothing_is_stored(runtime: Runtime, fake: FakeTelegramAPI) -> None:
    async def body(app: tg.AppType, chat: Chat) -> None:
        first = await to_first_statement(chat)
        real = data_of(first, "5")
        forged = [real[: real.rindex(":")] + ":9", "a:999999:111:5", "zz:1", real.replace("a:", "g:")]
        for data in forged:
            await chat.deliver(fake.push_callback(USER, first.message_id, data, check_button=False))
            assert "That button is not valid any more" in (chat.last.text or ""), data
        still = fake.message(USER, first.message_id)
        assert still is not None
        assert still.button_texts() == first.button_texts()  # the question is untouched

    with_app(runtime, fake, body)
    assert count(runtime, Answer) == 0


# ---------------------------------------------------------------- documents


BROKEN = b"id: broken\nversion: one\nlanguages: [sv, en]\nscale: {points: 12}\n"


def test_an_admin_uploads_a_broken_instrument_and_reads_the_errors(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    async def body(app: tg.AppType, chat: Chat) -> None:
        await chat.say("/start")
        with transaction(runtime.sessions) as session:
            person = session.scalar(
                select(Person)
                .join(Identity)
                .where(Identity.platform == "telegram", Identity.platform_user_id == str(USER))
            )
            assert person is not None
            person.is_admin = True
        await chat.deliver(fake.push_document(USER, "broken.yaml", BROKEN))
        reply = chat.last.text or ""
        assert "broken.yaml has" in reply
        assert "nothing was saved" in reply
        assert "line 2" in reply
        # Too big: refused before downloading.
        before = len(fake.calls_of("getFile"))
        await chat.deliver(fake.push_document(USER, "huge.yaml", b"#" * (tg.MAX_UPLOAD_BYTES + 1)))
        assert "That file is too big for me" in (chat.last.text or "")
        assert len(fake.calls_of("getFile")) == before

    with_app(runtime, fake, body)
    with runtime.sessions() as session:
        # Nothing queued; the replies were kept with each event until delivered, and then not kept.
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind != "reply")) == 0
        assert session.scalar(select(func.count()).select_from(Outbox)) == 0


@SQLITE_ONLY
def test_staff_cannot_upload_an_instrument(runtime: Runtime, fake: FakeTelegramAPI) -> None:
    async def body(app: tg.AppType, chat: Chat) -> None:
        await chat.deliver(fake.push_document(USER, "broken.yaml", BROKEN))
        assert "you don't have permission" in (chat.last.text or "")

    with_app(runtime, fake, body)


# ---------------------------------------------------------------- groups and languages


@SQLITE_ONLY
def test_a_group_is_told_to_open_a_private_chat_and_chatter_is_ignored(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    group = -100000 - USER

    async def body(app: tg.AppType, chat: Chat) -> None:
        await chat.say("good morning everyone", chat_type="group")
        assert fake.chat(group) == []
        await chat.say("/assess@someone_else_bot", chat_type="group")
        assert fake.chat(group) == []
        await chat.say("/assess", chat_type="group")
        (told,) = fake.chat(group)
        assert "Let's talk in a private chat" in (told.text or "")
        mention = fake.push_message(USER, "@assess_test_bot can I answer here?", chat_type="group")
        # Telegram marks mentions as entities (the fake adds only bot_command entities).
        mention["message"]["entities"] = [{"type": "mention", "offset": 0, "length": 16}]
        await chat.deliver(mention)
        assert len(fake.chat(group)) == 2

    with_app(runtime, fake, body)
    assert count(runtime, Response) == 0


@SQLITE_ONLY
def test_swedish_telegram_users_get_swedish_until_they_choose(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    sv, en = translator("sv"), translator("en")

    async def body(app: tg.AppType, chat: Chat) -> None:
        await chat.say("/start", language_code="sv-SE", first_name="Sven")
        assert chat.last.text == sv._("Ready when you are.")
        assert chat.last.button_texts() == [[sv._("Start"), sv._("Help")]]
        await chat.say("language en", language_code="sv")
        await chat.say("/start", language_code="sv")
        assert chat.last.text == en._("Ready when you are.")

    with_app(runtime, fake, body)


@SQLITE_ONLY
def test_a_typed_answer_moves_on_like_a_button(runtime: Runtime, fake: FakeTelegramAPI) -> None:
    async def body(app: tg.AppType, chat: Chat) -> None:
        first = await to_first_statement(chat)
        await chat.say("fem")
        assert "Statement 2/24" in (chat.last.text or "")
        assert chat.last.message_id > first.message_id

    with_app(runtime, fake, body)
    assert count(runtime, Answer) == 1


# ---------------------------------------------------------------- outbox delivery


def people_on_telegram(runtime: Runtime, fake: FakeTelegramAPI, n: int, first: int = 10_000) -> list[int]:
    ids = []
    with transaction(runtime.sessions) as session:
        for i in range(n):
            chat = first + i
            fake.add_chat(chat, first_name=f"P{i}")
            person = Person(display_name=f"P{i}", created_at=runtime.clock.now())
            session.add(person)
            session.flush()
            session.add(
                Identity(
                    person_id=person.id, platform="telegram", platform_user_id=str(chat), address=str(chat)
                )
            )
            ids.append(person.id)
    return ids


def queue(runtime: Runtime, person_ids: list[int], prefix: str) -> None:
    with transaction(runtime.sessions) as session:
        for n, pid in enumerate(person_ids):
            reply = Reply(f"Reminder {prefix}{n}", ((Choice("Continue", "cmd:assess"),),))
            enqueue(
                session,
                person_id=pid,
                kind="reminder",
                replies=[reply],
                key=f"{prefix}:{n}",
                due_at=runtime.clock.now(),
            )


def outbox_states(runtime: Runtime) -> dict[OutboxState, int]:
    """The queued messages by state (an event's own replies, kept with it, are not counted)."""
    with runtime.sessions() as session:
        return dict(
            session.execute(
                select(Outbox.state, func.count()).where(Outbox.kind != "reply").group_by(Outbox.state)
            ).all()
        )


def drain_through_telegram(
    runtime: Runtime,
    fake: FakeTelegramAPI,
    clock: ManualClock,
    *,
    rounds: int = 6,
    concurrency: int = 1,
    per_second: int = 1000,
) -> None:
    """Run the dispatcher in a thread against the bot's event loop, moving the clock between passes."""
    application, _adapter = tg.build_application(
        telegram_config(runtime, fake, telegram_max_per_second=per_second), runtime.engine
    )
    sender = tg.TelegramSender(clock)
    dispatcher = Dispatcher(runtime.sessions, {"telegram": sender}, clock, concurrency=concurrency)

    async def main() -> None:
        async with application:
            sender.bind(application.bot, asyncio.get_running_loop())
            for _ in range(rounds):
                await asyncio.to_thread(dispatcher.drain)
                clock.advance(seconds=5)

    asyncio.run(main())


@POSTGRESQL_ONLY
def test_a_burst_of_200_reminders_through_429s_arrives_once_each(
    runtime: Runtime, fake: FakeTelegramAPI, clock: ManualClock
) -> None:
    people = people_on_telegram(runtime, fake, 200)
    queue(runtime, people, "burst")
    fake.fail_next("sendMessage", 3, retry_after=1)  # flood control for a while

    drain_through_telegram(runtime, fake, clock)

    assert fake.rejected_429 == 3
    for i in range(200):
        (message,) = fake.chat(10_000 + i)
        assert message.text == f"Reminder burst{i}"
        assert message.button_texts() == [["Continue"]]
    assert outbox_states(runtime) == {OutboxState.SENT: 200}


def test_reminders_sent_eight_at_a_time_arrive_once_each_in_their_own_chat(
    runtime: Runtime, fake: FakeTelegramAPI, clock: ManualClock
) -> None:
    people = people_on_telegram(runtime, fake, 60)
    queue(runtime, people, "wide")
    queue(runtime, people[:2], "again")  # a second message for two people waits its per-chat turn
    fake.block_user(10_059)
    fake.fail_next("sendMessage", 2, retry_after=1)

    drain_through_telegram(runtime, fake, clock, concurrency=8)

    for i in range(59):
        texts = [m.text for m in fake.chat(10_000 + i)]
        assert texts == ([f"Reminder wide{i}", f"Reminder again{i}"] if i < 2 else [f"Reminder wide{i}"])
    assert fake.chat(10_059) == []
    assert outbox_states(runtime) == {OutboxState.SENT: 61, OutboxState.FAILED: 1}


def test_one_chat_gets_a_message_a_second_and_a_blocked_user_is_given_up(
    runtime: Runtime, fake: FakeTelegramAPI, clock: ManualClock
) -> None:
    (anna, bertil) = people_on_telegram(runtime, fake, 2)
    queue(runtime, [anna, anna, anna], "anna")
    queue(runtime, [bertil], "bertil")
    fake.block_user(10_001)

    drain_through_telegram(runtime, fake, clock)

    assert [m.text for m in fake.chat(10_000)] == ["Reminder anna0", "Reminder anna1", "Reminder anna2"]
    with runtime.sessions() as session:
        sent = sorted(t for t in session.scalars(select(Outbox.sent_at).where(Outbox.person_id == anna)) if t)
    assert len(sent) == 3
    assert all(later - earlier >= timedelta(seconds=1) for earlier, later in itertools.pairwise(sent))
    assert outbox_states(runtime) == {OutboxState.SENT: 3, OutboxState.FAILED: 1}


@SQLITE_ONLY
def test_a_burst_after_a_quiet_moment_stays_within_the_bots_overall_limit(
    runtime: Runtime, fake: FakeTelegramAPI, clock: ManualClock
) -> None:
    """Telegram counts a bot's sends per second. A limiter that let a second's worth through at once
    after a quiet moment, and then the rate, would fit nearly two seconds' worth into one."""
    people = people_on_telegram(runtime, fake, 120)
    queue(runtime, people, "burst")
    fake.rate_limit(per_second=40)

    drain_through_telegram(runtime, fake, clock, concurrency=8, per_second=40)

    assert fake.rejected_429 == 0
    assert all(len(fake.chat(10_000 + i)) == 1 for i in range(120))
    assert outbox_states(runtime) == {OutboxState.SENT: 120}


def test_the_sender_waits_while_the_bot_is_not_running() -> None:
    from bot.messages import Address, RetryLater

    with pytest.raises(RetryLater):
        tg.TelegramSender().send(Address("telegram", "", "1", "1"), [Reply("hi")])


# ---------------------------------------------------------------- webhook mode


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@SQLITE_ONLY
def test_webhook_refuses_a_wrong_secret_and_processes_the_right_one(runtime: Runtime) -> None:
    port = free_port()
    with FakeTelegramAPI(local_mode=True) as fake:  # a self-hosted server: plain http on any port
        config = telegram_config(
            runtime,
            fake,
            telegram_webhook_url=f"http://127.0.0.1:{port}/telegram",
            telegram_webhook_listen="127.0.0.1",
            telegram_webhook_port=port,
            telegram_webhook_secret="right-secret_1",
        )
        application, adapter = tg.build_application(config, runtime.engine)
        stop = asyncio.Event()

        async def main() -> None:
            server = asyncio.create_task(tg.serve(application, adapter, config, stop.is_set))
            try:
                await wait_for(lambda: fake.webhook_url)
                await wait_for(lambda: listening(port))
                assert fake.webhook_secret == "right-secret_1"
                update = fake.push_message(USER, "/help")
                assert await fake.deliver_webhook_async(update, secret="wrong") == 403
                assert await fake.deliver_webhook_async(update, secret=None) == 403
                assert fake.chat(USER) == []
                assert await fake.deliver_webhook_async(update) == 200
                await wait_for(lambda: message_with(fake, "Here is what you can do:"))
            finally:
                stop.set()
                await server

        asyncio.run(main())
        assert not fake.calls_of("getUpdates")


# ---------------------------------------------------------------- secrets and rendering


@SQLITE_ONLY
def test_the_token_never_reaches_the_logs(
    runtime: Runtime, fake: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def body(app: tg.AppType, chat: Chat) -> None:
        await chat.say("/start")
        await chat.deliver(fake.push_document(USER, "x.yaml", b"id: [", caption="instrument validate"))

    with_app(runtime, fake, body)
    wrong = "123456:WRONG-TOKEN-never-logged"
    config = dataclasses.replace(telegram_config(runtime, fake), telegram_token=wrong)
    import threading

    stop = threading.Event()
    with pytest.raises(RuntimeError, match="refused the bot token") as refused:
        tg.run(config, runtime.engine, tg.TelegramSender(), stop)
    logging.getLogger("test").error("start failed", exc_info=refused.value)
    assert caplog.records  # PTB and the adapter did log (at DEBUG)
    assert fake.token not in caplog.text
    assert wrong not in caplog.text
    leaks = [
        r.getMessage() for r in caplog.records if fake.token in r.getMessage() or wrong in r.getMessage()
    ]
    assert leaks == []


def test_long_texts_are_split_and_wide_keyboards_wrapped() -> None:
    text = "\n".join(f"line {n} " + "å" * 60 for n in range(200))
    parts = tg.split_text(text)
    assert len(parts) > 1
    assert all(tg.utf16_len(p) <= tg.MAX_TEXT for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    emoji = tg.split_text("😀" * 3000)  # two UTF-16 units each
    assert [tg.utf16_len(p) for p in emoji] == [4096, 1904]
    assert tg.split_text(" \n ") == []
    markup = tg.keyboard([tuple(Choice(str(n), f"a:1:1:{n}") for n in range(1, 11))])
    assert markup is not None
    assert [len(row) for row in markup.inline_keyboard] == [8, 2]
    assert tg.keyboard([(Choice("x", "p" * 65),)]) is None


def test_retry_after_as_seconds_or_timedelta() -> None:
    from telegram.error import RetryAfter

    assert tg.retry_seconds(RetryAfter(3)) == 3
    assert tg.retry_seconds(RetryAfter(timedelta(seconds=2))) == 2


# ---------------------------------------------------------------- assessbot run


def test_assessbot_run_serves_telegram_and_drains_the_outbox_until_stopped(
    runtime: Runtime, fake: FakeTelegramAPI, clock: ManualClock
) -> None:
    import threading

    from adapters import launch

    app = dataclasses.replace(runtime, config=telegram_config(runtime, fake))
    (person,) = people_on_telegram(runtime, fake, 1)
    stop = threading.Event()
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(launch.run_platforms(app, stop, dispatch_every=0.05))
    )
    runner.start()
    try:
        fake.push_message(USER, "/help")

        async def replies() -> None:
            await wait_for(lambda: message_with(fake, "Here is what you can do:"))
            queue(runtime, [person], "run")
            # The first scans may come before the bot is up (the sender asks to wait): move time on.
            clock.advance(seconds=10)
            await wait_for(lambda: fake.chat(10_000))

        asyncio.run(replies())
    finally:
        stop.set()
        runner.join(timeout=30)
    assert result == [0]
    assert [m.text for m in fake.chat(10_000)] == ["Reminder run0"]
    assert outbox_states(runtime) == {OutboxState.SENT: 1}


@SQLITE_ONLY
def test_assessbot_run_sends_reminders_several_at_a_time_to_a_slow_bot_api(
    runtime: Runtime, fake: FakeTelegramAPI, clock: ManualClock
) -> None:
    """A real Bot API answers in a tenth of a second or more: one send at a time would manage a few
    messages a second, far below Telegram's 30. `assessbot run` keeps `outbox_concurrency` out."""
    import threading

    from adapters import launch

    app = dataclasses.replace(runtime, config=telegram_config(runtime, fake, outbox_concurrency=4))
    people = people_on_telegram(runtime, fake, 24)
    fake.slow_down("sendMessage", 0.2)
    stop = threading.Event()
    runner = threading.Thread(target=lambda: launch.run_platforms(app, stop, dispatch_every=0.05))
    runner.start()
    try:
        fake.push_message(USER, "/help")

        async def all_sent() -> None:
            await wait_for(lambda: message_with(fake, "Here is what you can do:"))
            queue(runtime, people, "slow")  # once the bot is up: no pass is asked to wait
            await wait_for(lambda: all(fake.chat(10_000 + i) for i in range(24)), timeout=30)

        asyncio.run(all_sent())
    finally:
        stop.set()
        runner.join(timeout=30)
    assert fake.most_in_flight == 4
    assert all(len(fake.chat(10_000 + i)) == 1 for i in range(24))
    assert outbox_states(runtime) == {OutboxState.SENT: 24}


# ---------------------------------------------------------------- images, files and edits


@SQLITE_ONLY
def test_a_chart_and_a_data_export_arrive_as_photo_and_document(
    runtime: Runtime, fake: FakeTelegramAPI, clock: ManualClock
) -> None:
    from bot.messages import Image
    from tests.fakes.test_telegram_api import tiny_png

    (person,) = people_on_telegram(runtime, fake, 1)
    chart = Reply("Your unit's result", image=Image("chart.png", tiny_png(40, 30), "Ystad bibliotek"))
    with transaction(runtime.sessions) as session:
        enqueue(session, person_id=person, kind="digest", replies=[chart], key="chart", due_at=clock.now())
    drain_through_telegram(runtime, fake, clock, rounds=1)
    text, photo = fake.chat(10_000)
    assert text.text == "Your unit's result"
    assert photo.kind == "photo"
    assert photo.caption == "Ystad bibliotek"

    async def body(app: tg.AppType, chat: Chat) -> None:
        await chat.say("/mydata")
        document = next(m for m in fake.chat(USER) if m.kind == "document")
        assert document.file is not None
        assert document.file.filename is not None
        assert document.file.filename.endswith(".json")

    with_app(runtime, fake, body)


@SQLITE_ONLY
def test_edits_that_change_nothing_or_cannot_be_made(runtime: Runtime, fake: FakeTelegramAPI) -> None:
    async def body(app: tg.AppType, chat: Chat) -> None:
        await chat.say("/start")
        question = await app.bot.send_message(USER, "Pick one")
        delivery = tg.Delivery(app.bot, USER)
        picked = Call(Method.EDIT, "Picked")
        assert await delivery.edit(question.message_id, picked)
        # "message is not modified": an edit made twice (by another process, say) changes nothing.
        assert await delivery.edit(question.message_id, picked)
        gone = question.message_id + 100
        before = len(fake.chat(USER))
        await delivery.replies([Reply("Moved on", edit=True)], gone)  # not editable: sent anew
        await delivery.replies([Reply("Typed answer noted", edit=True)])  # no pressed message
        assert [m.text for m in fake.chat(USER)][before:] == ["Moved on", "Typed answer noted"]
        edited = fake.message(USER, question.message_id)
        assert edited is not None
        assert edited.text == "Picked"

    with_app(runtime, fake, body)


def test_an_edit_that_fails_on_the_way_is_tried_again_and_else_left_whole_to_the_outbox(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    async def body(app: tg.AppType, chat: Chat) -> None:
        await chat.say("/start")
        question = await app.bot.send_message(USER, "Statement 1/3")
        replies = [Reply("→ Your answer: 4", edit=True), Reply("Statement 2/3")]
        # Telegram's gateway fails the edit once (as a timeout on the real one may): tried again.
        fake.fail_next_with("editMessageText", 502, "Bad Gateway")
        await tg.Delivery(app.bot, USER).replies(replies, question.message_id)
        assert "Statement 2/3" in (fake.message(USER, question.message_id).text or "")  # type: ignore[union-attr]
        # Failing twice, the error goes up, and every reply is still to deliver: the edit holds the
        # next question, and an edit may be made again (it is idempotent), so nothing is dropped.
        again = await app.bot.send_message(USER, "Statement 2/3")
        fake.fail_next_with("editMessageText", 502, "Bad Gateway", times=2)
        delivery = tg.Delivery(app.bot, USER)
        with pytest.raises(NetworkError) as failed:
            await delivery.replies(replies, again.message_id)
        assert left_after(delivery, replies, True, failed.value) == replies

    with_app(runtime, fake, body)


def test_many_chats_at_once_and_each_chat_in_order(runtime: Runtime, fake: FakeTelegramAPI) -> None:
    config = telegram_config(runtime, fake)
    application, adapter = tg.build_application(config, runtime.engine)
    stop = asyncio.Event()
    sv, en = translator("sv"), translator("en")
    others = range(USER + 1, USER + 21)

    async def main() -> None:
        server = asyncio.create_task(tg.serve(application, adapter, config, stop.is_set, poll_timeout=1))
        try:
            # One person's messages, queued together, must be handled in the order they were sent.
            for text in ("language sv", "/start", "language en", "/start"):
                fake.push_message(USER, text)
            for user in others:
                fake.push_message(user, "/start", first_name=f"P{user}")
            await wait_for(lambda: all(message_with(fake, "Ready when you are.", chat=u) for u in others))
            await wait_for(lambda: sum(m.text == en._("Ready when you are.") for m in fake.chat(USER)))
        finally:
            stop.set()
            await server

    asyncio.run(main())
    ready = [
        m.text
        for m in fake.chat(USER)
        if m.text in (sv._("Ready when you are."), en._("Ready when you are."))
    ]
    assert ready == [sv._("Ready when you are."), en._("Ready when you are.")]
    assert all(len([m for m in fake.chat(u) if m.text == "Ready when you are."]) == 1 for u in others)


def test_the_webhook_secret_is_configured_or_derived_from_the_token() -> None:
    derived = tg.webhook_secret(Config(telegram_token="123456:ABC-def"))
    assert derived == tg.webhook_secret(Config(telegram_token="123456:ABC-def"))  # every process agrees
    assert "123456" not in derived
    assert derived != tg.webhook_secret(Config(telegram_token="123456:other"))
    assert tg.webhook_secret(Config(telegram_token="1:x", telegram_webhook_secret="s3cr3t_-")) == "s3cr3t_-"
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        tg.webhook_secret(Config(telegram_token="1:x", telegram_webhook_secret="not allowed!"))


def test_the_http_layer_reports_an_unreachable_or_silent_server_as_python_telegram_bots_errors() -> None:
    """AiohttpRequest under python-telegram-bot: a refused connection is a NetworkError, a server
    that takes the request and never answers a TimedOut (so the outbox retries later)."""
    from telegram.error import NetworkError, TimedOut

    from adapters.telegram_request import AiohttpRequest

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused_port = closed.getsockname()[1]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the kernel accepts the connection; nobody ever answers

    async def main() -> None:
        async with AiohttpRequest(read_timeout=0.3) as request:
            with pytest.raises(NetworkError, match="aiohttp"):
                await request.post(f"http://127.0.0.1:{refused_port}/botX/getMe")
            with pytest.raises(TimedOut):
                await request.post(f"http://127.0.0.1:{silent.getsockname()[1]}/botX/getMe")

    try:
        asyncio.run(main())
    finally:
        silent.close()
