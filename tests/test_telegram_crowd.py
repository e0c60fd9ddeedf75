"""Telegram in a staff meeting: presses answered first while reminders go out, and 429s obeyed.

The real python-telegram-bot Application over real HTTP against the fake Bot API, long polling as
`assessbot run` does, with the outbox dispatcher sending through the same bot. No timing is
asserted (speed is bench/crowd.py's): what a person sees, and in which order things happened.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from functools import partial

import pytest

from adapters import telegram as tg
from bot.messages import Choice, Reply
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from storage.models import OutboxState
from tests.fakes.telegram_api import FakeTelegramAPI, SentMessage
from tests.test_telegram import (
    LIBRARY,
    USER,
    data_of,
    message_with,
    outbox_states,
    people_on_telegram,
    queue,
    telegram_config,
    wait_for,
)

# The reminders go out at two a second, so a wave of them lasts long enough to press into.
LIMIT = 2
IN_FLIGHT = 8  # the dispatcher's sends handed to the bot at once
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
pytestmark = pytest.mark.filterwarnings(r"ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as api:
        yield api


class Person:
    """Anna in her private chat, pressing the buttons of the newest question."""

    def __init__(self, fake: FakeTelegramAPI) -> None:
        self.fake = fake

    def question(self, needle: str) -> SentMessage | None:
        return message_with(self.fake, needle)

    def press(self, message: SentMessage, label: str) -> None:
        self.fake.push_callback(USER, message.message_id, data_of(message, label))

    async def to_first_statement(self) -> SentMessage:
        self.fake.push_message(USER, "/assess", first_name="Anna")
        offer = await wait_for(self._offer)
        self.press(offer, LIBRARY)
        for n in range(1, 5):
            question = await wait_for(partial(self.question, f"Background question {n}/4"))
            self.press(question, question.button_texts()[0][0])
        return await wait_for(lambda: self.question("Statement 1/24"))

    def _offer(self) -> SentMessage | None:
        last = self.fake.last_message(USER)
        return last if last is not None and LIBRARY in str(last.button_texts()) else None


def reminders_sent(fake: FakeTelegramAPI) -> int:
    return sum(1 for c in fake.calls_of("sendMessage") if c.ok and "Reminder" in str(c.params.get("text")))


def serving(
    runtime: Runtime, fake: FakeTelegramAPI, body: Callable[[Person, Dispatcher], Awaitable[None]]
) -> None:
    """The bot long polling with the outbox sender bound, as `assessbot run` runs them; `body` gets
    Anna and a dispatcher whose draining it starts when it likes."""
    config = telegram_config(runtime, fake, telegram_max_per_second=LIMIT)
    application, adapter = tg.build_application(config, runtime.engine)
    sender = tg.TelegramSender(runtime.clock)
    dispatcher = Dispatcher(runtime.sessions, {"telegram": sender}, runtime.clock, concurrency=IN_FLIGHT)
    stop = asyncio.Event()

    async def main() -> None:
        server = asyncio.create_task(
            tg.serve(application, adapter, config, stop.is_set, sender, poll_timeout=1)
        )
        try:
            await wait_for(lambda: sender.running)
            await asyncio.wait_for(body(Person(fake), dispatcher), 90)
        finally:
            stop.set()
            await server

    asyncio.run(main())


def draining(dispatcher: Dispatcher, until: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not until.is_set():
            dispatcher.drain(100)
            until.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@SQLITE_ONLY
def test_a_press_is_answered_while_a_wave_of_reminders_is_going_out(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    others = people_on_telegram(runtime, fake, 16)
    queue(runtime, others, "wave")

    async def body(anna: Person, dispatcher: Dispatcher) -> None:
        first = await anna.to_first_statement()
        fake.rate_limit(per_second=LIMIT, count_edits=False)  # Telegram's limit, as the bot is told it
        done = threading.Event()
        thread = draining(dispatcher, done)
        try:
            await wait_for(lambda: reminders_sent(fake) >= LIMIT)  # the wave is under way
            before = reminders_sent(fake)
            anna.press(first, "5")
            second = await wait_for(lambda: anna.question("Statement 2/24"))
            # Anna's answer did not wait its turn behind the reminders handed to the bot before it.
            assert reminders_sent(fake) - before < IN_FLIGHT // 2
            assert reminders_sent(fake) < len(others)
            anna.press(second, "6")
            await wait_for(lambda: anna.question("Statement 3/24"))
            await wait_for(lambda: reminders_sent(fake) == len(others), timeout=60)
        finally:
            done.set()
            await asyncio.to_thread(thread.join, 30)

    serving(runtime, fake, body)

    # Every reminder arrived once, and nothing went past Telegram's limit.
    assert fake.rejected_429 == 0
    for i in range(len(others)):
        assert [m.text for m in fake.chat(10_000 + i)] == [f"Reminder wave{i}"]
    assert outbox_states(runtime) == {OutboxState.SENT: len(others)}


@SQLITE_ONLY
def test_a_429_on_an_answer_is_waited_out_and_the_next_statement_still_comes(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    others = people_on_telegram(runtime, fake, 6)

    async def body(anna: Person, dispatcher: Dispatcher) -> None:
        first = await anna.to_first_statement()
        fake.fail_next("editMessageText", 1, retry_after=1)  # Telegram's flood control, for a second
        anna.press(first, "5")
        await wait_for(lambda: fake.rejected_429)
        queue(runtime, others, "later")  # reminders due while the bot is told to wait
        done = threading.Event()
        thread = draining(dispatcher, done)
        try:
            await wait_for(lambda: anna.question("Statement 2/24"))
            await wait_for(lambda: reminders_sent(fake) == len(others))
        finally:
            done.set()
            await asyncio.to_thread(thread.join, 30)

    serving(runtime, fake, body)

    refused = next(c for c in fake.calls_of("editMessageText") if c.status == 429)
    retried = next(c for c in fake.calls_of("editMessageText") if c.ok and c.at > refused.at)
    # The bot waited the second Telegram asked for, before the answer and before any reminder.
    assert retried.at - refused.at >= 1.0
    reminders = [c for c in fake.calls_of("sendMessage") if "Reminder" in str(c.params.get("text"))]
    assert min(c.at for c in reminders) - refused.at >= 1.0
    assert fake.rejected_429 == 1
    answered = fake.message(USER, refused.params["message_id"])
    assert answered is not None
    assert "→ Your answer: 5" in (answered.text or "")


@SQLITE_ONLY
def test_answering_a_statement_is_one_message_edited_in_place(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    """The transcript a person sees: the pressed message becomes the answered statement and, below
    it, the next one with its buttons; no new message per statement."""

    async def body(anna: Person, _dispatcher: Dispatcher) -> None:
        first = await anna.to_first_statement()
        messages = len(fake.chat(USER))
        anna.press(first, "3")
        second = await wait_for(lambda: anna.question("Statement 2/24"))
        assert second.message_id == first.message_id
        assert len(fake.chat(USER)) == messages
        answered, following = (second.text or "").split("\n\n", 1)
        assert answered.startswith("Statement 1/24")
        assert answered.endswith("→ Your answer: 3")
        assert following.startswith("Statement 2/24")
        assert ["1", "2", "3", "4", "5", "6", "7"] in second.button_texts()
        assert second.history[-1] == first.text

    serving(runtime, fake, body)


def test_an_answer_and_a_next_question_too_long_for_one_message_are_two() -> None:
    """When the two would not fit one Telegram message, the answer is edited and the next is sent."""
    from adapters.telegram_render import MAX_TEXT, Method, calls_for

    answered = Reply("Statement 1\n→ Your answer: 5", edit=True)
    short = Reply("Statement 2", ((Choice("5", "a:1:x:5"),),))
    assert [c.method for c in calls_for([answered, short], pressed=True)] == [Method.EDIT]
    long = Reply("x" * (MAX_TEXT - 10))
    assert [c.method for c in calls_for([answered, long], pressed=True)] == [Method.EDIT, Method.TEXT]
    assert [c.method for c in calls_for([answered, short], pressed=False)] == [Method.TEXT, Method.TEXT]
