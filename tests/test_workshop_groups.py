"""The workshop in a Telegram group and a Slack channel, through the real libraries over HTTP against
the fake platforms: several members pressing, replies and threads kept as notes, the timer speaking in
the group, a restart in the middle; everything else stays private."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from telegram import Update

from adapters import telegram as tg
from adapters.slack import SlackAdapter
from adapters.slack_http import SlackHttpServer
from bot.clock import ManualClock
from bot.outbox import Dispatcher
from bot.runtime import Runtime
from bot.runtime import start as start_runtime
from storage.db import transaction
from storage.models import Identity, Membership, Person, Role, WorkshopNote
from tests.fakes.slack_api import FakeSlackAPI, SlackEventsClient, dm_channel_id
from tests.fakes.telegram_api import FakeTelegramAPI, SentMessage
from tests.test_telegram import data_of, telegram_config
from tests.test_workshop import school

pytestmark = pytest.mark.filterwarnings(r"ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

GROUP = -4200
PIA, SVEN, ANNA, OLLE = 101, 102, 103, 104
NAMES = {PIA: "Pia", SVEN: "Sven", ANNA: "Anna", OLLE: "Olle"}


def people(
    runtime: Runtime, unit: int, platform: str, ids: dict[str, Role | None], workspace: str = ""
) -> None:
    """People known to the bot on `platform`, members of the unit in their role (None: not a member)."""
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        for user_id, role in ids.items():
            person = Person(display_name=f"{user_id} Person", locale="en", created_at=now)
            session.add(person)
            session.flush()
            session.add(
                Identity(
                    person_id=person.id, platform=platform, workspace=workspace, platform_user_id=user_id
                )
            )
            if role is not None:
                session.add(Membership(person_id=person.id, unit_id=unit, role=role, joined_at=now))


# ---------------------------------------------------------------- Telegram: a group


@dataclass
class Group:
    fake: FakeTelegramAPI
    app: tg.AppType

    async def deliver(self, update: dict[str, Any]) -> None:
        await self.app.process_update(Update.de_json(update, self.app.bot))

    async def say(self, user: int, text: str, *, reply_to: SentMessage | None = None) -> None:
        await self.deliver(
            self.fake.push_message(
                user,
                text,
                chat_type="group",
                chat_id=GROUP,
                first_name=NAMES[user],
                chat_title="Ystad staff room",
                reply_to_message_id=reply_to.message_id if reply_to else None,
            )
        )

    async def press(self, user: int, message: SentMessage, label: str) -> None:
        update = self.fake.push_callback(
            user, message.message_id, data_of(message, label), chat_id=GROUP, first_name=NAMES[user]
        )
        await self.deliver(update)

    def find(self, needle: str) -> SentMessage:
        found = [m for m in self.fake.chat(GROUP) if needle in (m.text or m.caption or "")]
        assert found, f"no message with {needle!r} in {[m.text for m in self.fake.chat(GROUP)]}"
        return found[-1]

    def texts(self) -> list[str]:
        return [m.text or m.caption or "" for m in self.fake.chat(GROUP)]


@pytest.fixture
def telegram() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as api:
        yield api


def run_in_group(runtime: Runtime, fake: FakeTelegramAPI, body: Any) -> None:
    application, _adapter = tg.build_application(telegram_config(runtime, fake), runtime.engine)

    async def main() -> None:
        async with application:
            await body(application, Group(fake, application))

    asyncio.run(main())


def test_a_telegram_group_runs_a_workshop_through_a_restart(
    runtime: Runtime, telegram: FakeTelegramAPI, clock: ManualClock
) -> None:
    unit, _ = school(runtime)
    people(
        runtime,
        unit,
        "telegram",
        {str(PIA): Role.PRINCIPAL, str(SVEN): Role.STAFF, str(ANNA): Role.STAFF, str(OLLE): None},
    )

    async def before(application: tg.AppType, group: Group) -> None:
        await group.say(PIA, "/workshop start minutes 3 pick 2 votes 2")
        assert any('Ystad school · Round "Autumn 2026"' in t for t in group.texts())
        statement = group.find("Statement 1/4")
        assert "⏱ 3 minutes, until 09:03." in (statement.text or "")
        await group.press(SVEN, statement, "⭐ A priority for us (0)")
        await group.press(ANNA, group.find("Statement 1/4"), "⭐ A priority for us (1)")
        await group.press(OLLE, group.find("Statement 1/4"), "⭐ A priority for us (2)")
        assert group.texts()[-1] == "Only members of Ystad school can vote."
        assert data_of(group.find("Statement 1/4"), "⭐ A priority for us (2)")
        await group.say(ANNA, "We never find the time to plan together", reply_to=statement)
        assert group.texts()[-1] == "📝 Noted on A2 (1 note)."
        await group.say(SVEN, "/assess")
        assert "Let's talk in a private chat" in group.texts()[-1]
        # The timer speaks in the group, through the outbox.
        sender = tg.TelegramSender(clock, anchored=runtime.engine.anchored)
        sender.bind(application.bot, asyncio.get_running_loop())
        clock.advance(minutes=3)
        assert await asyncio.to_thread(Dispatcher(runtime.sessions, {"telegram": sender}, clock).drain) == 1
        assert "⏰ Time is up: A2 We plan together." in group.texts()[-1]
        await group.press(PIA, group.find("⏰ Time is up"), "Next ▶")
        assert group.find("Statement 2/4").text.startswith("Statement 2/4 · Collaboration\nA1")  # type: ignore[union-attr]

    run_in_group(runtime, telegram, before)
    again = start_runtime(runtime.config, clock)  # a restart: a new process on the same database
    try:

        async def after(_application: tg.AppType, group: Group) -> None:
            # A reply to the first statement's message still finds it.
            await group.say(SVEN, "Let us book an hour every month", reply_to=group.find("Statement 1/4"))
            assert group.texts()[-1] == "📝 Noted on A2 (2 notes)."
            await group.press(SVEN, group.find("Statement 2/4"), "⭐ A priority for us (0)")
            await group.press(ANNA, group.find("Statement 2/4"), "Next ▶")
            assert "Only the workshop's facilitator or the unit's principal can do that." in group.texts()[-1]
            await group.say(PIA, "/workshop end")
            ended = group.texts()[-1]
            assert "1) A2 We plan together. (2 votes)\n2) A1 We share material. (1 vote)" in ended

        run_in_group(again, telegram, after)
    finally:
        again.db.dispose()
    everything = "\n".join(m.text or "" for m in telegram.chat(GROUP))
    assert not any(name in everything for name in ("Sven", "Anna", "Olle"))
    with runtime.sessions() as session:
        assert sorted(session.scalars(select(WorkshopNote.text))) == [
            "Let us book an hour every month",
            "We never find the time to plan together",
        ]


# ---------------------------------------------------------------- Slack: a channel with threads

CHANNEL = "C0STAFF"
SECRET = "test-signing-secret-0123456789"


@dataclass
class Channel:
    adapter: SlackAdapter
    slack: SlackEventsClient
    fake: FakeSlackAPI
    expected: int = 0

    def _done(self, result: tuple[int, str]) -> None:
        assert result[0] == 200, result
        self.expected += 1
        assert self.adapter.wait_finished(self.expected)

    def command(self, user: str, text: str) -> None:
        self._done(self.slack.send_command("/assess", text, user_id=user, channel_id=CHANNEL))

    def in_thread(self, user: str, text: str, parent: dict[str, Any]) -> None:
        event = self.slack.message_event(
            user, text, channel=CHANNEL, thread_ts=str(parent["ts"]), channel_type="channel"
        )
        self._done(self.slack.send_event(event))

    def click(self, user: str, message: dict[str, Any], label: str) -> None:
        buttons = [el for b in message.get("blocks") or [] if b["type"] == "actions" for el in b["elements"]]
        button = next(b for b in buttons if b["text"]["text"] == label)
        self._done(
            self.slack.send_action(
                user, button["action_id"], button["value"], channel_id=CHANNEL, message_ts=message["ts"]
            )
        )

    def messages(self) -> list[dict[str, Any]]:
        return self.fake.channel_messages(CHANNEL)

    def find(self, needle: str) -> dict[str, Any]:
        return next(m for m in reversed(self.messages()) if needle in str(m.get("text") or ""))


@pytest.fixture
def channel(runtime: Runtime) -> Iterator[Channel]:
    with FakeSlackAPI() as fake:
        for user in ("U0PIA", "U0SVEN", "U0ANNA"):
            fake.add_user(user, locale="en-US", real_name=user)
        fake.add_channel(CHANNEL)
        adapter = SlackAdapter(
            runtime.engine, WebClient(token=fake.token, base_url=fake.base_url), signing_secret=SECRET
        )
        server = SlackHttpServer(adapter.app, signing_secret=SECRET, host="127.0.0.1", port=0).start()
        try:
            yield Channel(adapter, SlackEventsClient(server.url, SECRET, api=fake), fake)
        finally:
            server.close()


def test_a_slack_channel_runs_a_workshop_with_notes_in_threads(runtime: Runtime, channel: Channel) -> None:
    unit, _ = school(runtime)
    team = channel.fake.team_id
    people(
        runtime, unit, "slack", {"U0PIA": Role.PRINCIPAL, "U0SVEN": Role.STAFF, "U0ANNA": Role.STAFF}, team
    )
    channel.command("U0PIA", "workshop start pick 2")
    statement = channel.find("Statement 1/4")
    assert "A2 We plan together." in statement["text"]
    channel.click("U0SVEN", statement, "⭐ A priority for us (0)")
    assert "A priority for us (1)" in str(channel.find("Statement 1/4")["blocks"])
    channel.in_thread("U0ANNA", "We could plan in pairs", statement)
    noted = channel.find("Noted on A2")
    assert noted["thread_ts"] == statement["ts"]
    channel.command("U0PIA", "workshop next")
    second = channel.find("Statement 2/4")
    channel.in_thread("U0SVEN", "Share slides in one folder", second)
    # Any other command typed in the channel goes on in the person's DM, as before.
    before = len(channel.messages())
    channel.command("U0SVEN", "assess")
    assert len(channel.messages()) == before
    assert (
        "Which assessment would you like to take?"
        in channel.fake.channel_messages(dm_channel_id("U0SVEN"))[-1]["text"]
    )
    channel.command("U0PIA", "workshop end")
    assert "1) A2 We plan together. (1 vote)" in channel.messages()[-1]["text"]
    with runtime.sessions() as session:
        notes = {(n.item_code, n.text) for n in session.scalars(select(WorkshopNote))}
    assert notes == {("A2", "We could plan in pairs"), ("A1", "Share slides in one folder")}
    # Elsewhere in the channel, people talking to each other are not answered.
    before = len(channel.messages())
    channel._done(
        channel.slack.send_event(
            channel.slack.message_event("U0ANNA", "lunch?", channel=CHANNEL, channel_type="channel")
        )
    )
    assert len(channel.messages()) == before
