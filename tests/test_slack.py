"""Slack, end to end: the real Bolt app over real HTTP, signed like Slack signs, against a fake Web API.

Each test drives the bot's own request handler (adapters.slack_http.SlackHttpServer around Bolt) with
tests.fakes.slack_api.SlackEventsClient, and reads what a person would see from the fake: the DM's
messages as they look after chat.update, the Home tab, ephemeral notices. Bolt runs listeners after
the acknowledgement, so tests wait for the adapter to report that its listeners have finished.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from sqlalchemy import func, select

from adapters.slack import SlackAdapter, SlackSender, build_adapter, socket_mode_handler
from adapters.slack_blocks import MAX_ACTIONS_ELEMENTS, action_blocks, message_payloads
from adapters.slack_http import SlackHttpServer
from bot.clock import ManualClock
from bot.messages import Choice, Reply
from bot.outbox import Dispatcher, enqueue
from bot.runtime import Runtime
from storage.models import (
    ActionPlan,
    Answer,
    Identity,
    Membership,
    Outbox,
    OutboxState,
    Person,
    PlanItem,
    PlanItemStatus,
    Response,
    ResponseStatus,
    Role,
    Unit,
)
from tests.fakes.slack_api import FakeSlackAPI, SlackEventsClient, block_problems, dm_channel_id, sign_request

SECRET = "test-signing-secret-0123456789"
ANNA = "U0ANNA"
LIBRARY = "Digital competence for library staff"
DATA = Path(__file__).parent / "data"


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as api:
        api.add_user(ANNA, locale="en-US", real_name="Anna Svensson")
        yield api


def _client(fake: FakeSlackAPI) -> WebClient:
    client = WebClient(token=fake.token, base_url=fake.base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


@dataclass
class SlackBot:
    """The bot behind its request URL, and Anna's view of her DM with it."""

    adapter: SlackAdapter
    slack: SlackEventsClient
    fake: FakeSlackAPI
    runtime: Runtime
    url: str
    expected: int = 0

    def settle(self) -> None:
        assert self.adapter.wait_finished(self.expected), "the bot did not finish handling in time"

    def _sent(self, result: tuple[int, str]) -> tuple[int, str]:
        if result[0] == 200:
            self.expected += 1
            self.settle()
        return result

    def say(self, text: str, user: str = ANNA, **kwargs: Any) -> tuple[int, str]:
        return self._sent(self.slack.send_event(self.slack.message_event(user, text), **kwargs))

    def command(self, text: str = "", user: str = ANNA, **kwargs: Any) -> tuple[int, str]:
        return self._sent(self.slack.send_command("/assess", text, user_id=user, **kwargs))

    def event(self, event: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        return self._sent(self.slack.send_event(event, **kwargs))

    def messages(self, user: str = ANNA) -> list[dict[str, Any]]:
        return self.fake.channel_messages(dm_channel_id(user))

    def last_with_buttons(self, user: str = ANNA) -> dict[str, Any]:
        return next(m for m in reversed(self.messages(user)) if _buttons(m))

    def click(self, label: str, user: str = ANNA, *, value: str | None = None) -> tuple[int, str]:
        message = self.last_with_buttons(user)
        button = next(b for b in _buttons(message) if b["text"]["text"] == label)
        return self._sent(
            self.slack.send_action(
                user,
                button["action_id"],
                value if value is not None else button["value"],
                channel_id=dm_channel_id(user),
                message_ts=message["ts"],
            )
        )

    def post_signed(self, body: bytes, content_type: str) -> int:
        """A raw request, signed now (a redelivery of an identical body, or a Home tab click)."""
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - a local test server
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": sign_request(SECRET, timestamp, body),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status = int(response.status)
        self.expected += 1
        self.settle()
        return status


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [el for b in message.get("blocks") or [] if b["type"] == "actions" for el in b["elements"]]


def _text(message: dict[str, Any]) -> str:
    return str(message.get("text") or "")


@pytest.fixture
def bot(runtime: Runtime, fake: FakeSlackAPI) -> Iterator[SlackBot]:
    adapter = SlackAdapter(runtime.engine, _client(fake), signing_secret=SECRET)
    server = SlackHttpServer(adapter.app, signing_secret=SECRET, host="127.0.0.1", port=0).start()
    try:
        yield SlackBot(adapter, SlackEventsClient(server.url, SECRET, api=fake), fake, runtime, server.url)
    finally:
        server.close()


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _start_library_assessment(bot: SlackBot) -> None:
    assert bot.command()[0] == 200
    assert "Which assessment would you like to take?" in _text(bot.messages()[-1])
    bot.click(LIBRARY)


# ------------------------------------------------------------------------------------ taking it


def test_staff_member_takes_the_whole_assessment_by_buttons(bot: SlackBot) -> None:
    _start_library_assessment(bot)
    for _ in range(4):  # background questions: the first option each time
        bot.click(_buttons(bot.last_with_buttons())[0]["text"]["text"])
    first_statement = bot.last_with_buttons()
    assert "Statement 1/24" in _text(first_statement)
    labels = [b["text"]["text"] for b in _buttons(first_statement)]
    assert labels[:7] == ["1", "2", "3", "4", "5", "6", "7"]
    assert "1 = " in _text(first_statement)
    assert "7 = " in _text(first_statement)
    for n in range(1, 25):
        assert f"Statement {n}/24" in _text(bot.last_with_buttons())
        bot.click("5")

    messages = bot.messages()
    answered = [m for m in messages if "Your answer: 5" in _text(m)]
    assert len(answered) == 24  # each question message was updated in place...
    assert all(not _buttons(m) and "edited" in m for m in answered)  # ...and lost its buttons
    assert "Done! Thank you, Anna." in _text(messages[-2])
    assert messages[-1].get("files"), "the result chart follows the result text"
    assert all(c.ok for c in bot.fake.calls_of("chat.update"))
    assert all(not block_problems(m.get("blocks") or []) for m in messages)
    with bot.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 24
        assert session.scalar(select(Response.status)) is ResponseStatus.COMPLETED
        identity = session.scalar(select(Identity))
        assert identity is not None
        assert (identity.platform, identity.workspace, identity.address) == (
            "slack",
            bot.fake.team_id,
            dm_channel_id(ANNA),
        )
        assert identity.person.locale_hint == "en-US"


def test_typed_answers_in_the_dm(bot: SlackBot) -> None:
    _start_library_assessment(bot)
    for _ in range(4):
        bot.say("1")
    assert "Statement 1/24" in _text(bot.messages()[-1])
    bot.say("5")
    bot.say("six")
    bot.say("banana")
    last = _text(bot.messages()[-1])
    assert "Please answer with a number from 1 to 7" in last
    assert "Statement 3/24" in last
    with bot.runtime.sessions() as session:
        assert list(session.scalars(select(Answer.value).order_by(Answer.value))) == [5, 6]


def test_language_follows_the_slack_locale(bot: SlackBot) -> None:
    bot.fake.add_user("U0SVEN", locale="sv-SE", real_name="Sven Ek")
    bot.command(user="U0SVEN")
    assert "Vilken skattning vill du göra?" in _text(bot.messages("U0SVEN")[-1])


# ------------------------------------------------------------------------------------ delivery rules


def test_a_retried_event_is_acknowledged_and_handled_once(bot: SlackBot) -> None:
    event = bot.slack.message_event(ANNA, "assess")
    assert bot.event(event)[0] == 200
    before = bot.messages()
    assert before

    status, _ = bot.event(event, event_id=bot.slack.last_event_id, retry_num=1)

    assert status == 200
    assert bot.messages() == before
    assert _count(bot.runtime, Person) == 1


def test_a_redelivered_click_counts_once_and_a_double_click_changes_nothing(bot: SlackBot) -> None:
    _start_library_assessment(bot)
    question = bot.last_with_buttons()
    first = _buttons(question)[0]
    payload = {
        "type": "block_actions",
        "user": {"id": ANNA, "username": "anna", "name": "anna", "team_id": bot.fake.team_id},
        "api_app_id": bot.fake.app_id,
        "container": {
            "type": "message",
            "message_ts": question["ts"],
            "channel_id": dm_channel_id(ANNA),
            "is_ephemeral": False,
        },
        "trigger_id": "1.2.3",
        "team": {"id": bot.fake.team_id, "domain": "fake-team"},
        "channel": {"id": dm_channel_id(ANNA), "name": "directmessage"},
        "message": question,
        "actions": [
            {
                "action_id": first["action_id"],
                "block_id": "b1",
                "text": first["text"],
                "value": first["value"],
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    form = "application/x-www-form-urlencoded"
    assert bot.post_signed(body, form) == 200
    after_first = bot.messages()
    assert bot.post_signed(body, form) == 200  # Slack's redelivery: the identical request
    assert bot.messages() == after_first

    # A genuine second click on the same (already answered) button: a new click, same answer.
    bot._sent(
        bot.slack.send_action(
            ANNA,
            first["action_id"],
            first["value"],
            channel_id=dm_channel_id(ANNA),
            message_ts=question["ts"],
            message=question,
            block_id="b1",
        )
    )
    assert bot.messages() == after_first
    questions = [m for m in after_first if "Background question 2/" in _text(m)]
    assert len(questions) == 1


def test_signatures_are_checked(bot: SlackBot) -> None:
    event = bot.slack.message_event(ANNA, "assess")
    assert bot.slack.send_event(event, bad_signature=True)[0] == 401
    assert bot.slack.send_event(event, timestamp=int(time.time()) - 6 * 60)[0] == 401
    assert bot.slack.send_command("/assess", "", user_id=ANNA, bad_signature=True)[0] == 401
    assert bot.slack.url_verification("c-1", bad_signature=True)[0] == 401
    status, body = bot.slack.url_verification("c-1")  # the handshake when the request URL is set
    assert (status, json.loads(body)) == (200, {"challenge": "c-1"})
    assert bot.adapter.finished == 0
    assert bot.messages() == []
    assert _count(bot.runtime, Person) == 0


def test_a_forged_button_value_is_refused_and_nothing_stored(bot: SlackBot) -> None:
    _start_library_assessment(bot)
    for _ in range(4):
        bot.click(_buttons(bot.last_with_buttons())[0]["text"]["text"])
    with bot.runtime.sessions() as session:
        response_id = session.scalar(select(Response.id))
    assert response_id is not None
    for forged in (f"a:{response_id}:999:5", f"a:{response_id + 1}:111:5", f"a:{response_id}:111:9", "zz:1"):
        bot.click("5", value=forged)
        assert "That button is not valid any more" in _text(bot.messages()[-1])
    assert _count(bot.runtime, Answer) == 0


def test_a_user_from_another_workspace_is_refused(bot: SlackBot) -> None:
    bot.fake.add_user("U0EVE", team_id="T0OTHER", locale="en-GB")

    assert bot.command(user="U0EVE", team_id="T0OTHER")[0] == 200
    [notice] = bot.fake.ephemeral_messages(dm_channel_id("U0EVE"))
    assert "only work with people in the workspace I am installed in" in notice["text"]

    # Even when the payload claims our workspace, users.info says where the person belongs.
    bot.say("assess", user="U0EVE")
    assert "only work with people" in _text(bot.messages("U0EVE")[-1])
    assert _count(bot.runtime, Person) == 0


# ------------------------------------------------------------------------------------ home, files


def _home_text(bot: SlackBot) -> str:
    view = bot.fake.home_view(ANNA)
    assert view is not None
    return "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")


def _open_home(bot: SlackBot) -> None:
    event = {
        "type": "app_home_opened",
        "user": ANNA,
        "channel": dm_channel_id(ANNA),
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    assert bot.event(event)[0] == 200


def test_app_home_shows_progress_plan_status_and_starts_the_assessment(bot: SlackBot) -> None:
    _open_home(bot)
    assert "You have no assessment in progress." in _home_text(bot)
    view = bot.fake.home_view(ANNA)
    assert view is not None
    [button] = [el for b in view["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert (button["text"]["text"], button["value"]) == ("Start an assessment", "cmd:assess")

    _start_library_assessment(bot)
    for _ in range(4):
        bot.click(_buttons(bot.last_with_buttons())[0]["text"]["text"])
    bot.click("4")
    with bot.runtime.sessions() as session, session.begin():
        person = session.scalars(select(Person)).one()
        unit = Unit(name="Ystad library", created_at=bot.runtime.clock.now())
        session.add(unit)
        session.flush()
        session.add(
            Membership(person_id=person.id, unit_id=unit.id, role=Role.PRINCIPAL, joined_at=unit.created_at)
        )
        plan = ActionPlan(unit_id=unit.id, created_at=unit.created_at)
        session.add(plan)
        session.flush()
        for status in (PlanItemStatus.DONE, PlanItemStatus.IN_PROGRESS, PlanItemStatus.NOT_STARTED):
            session.add(PlanItem(plan_id=plan.id, text="x", status=status, created_at=unit.created_at))

    _open_home(bot)
    home = _home_text(bot)
    assert f"In progress: {LIBRARY}, 5 of 28 answered." in home
    assert "Ystad library action plan: 3 actions, 1 done, 1 in progress." in home

    # The Home tab's button: a click in a view, not in a message; the question comes in the DM.
    view = bot.fake.home_view(ANNA)
    assert view is not None
    payload = {
        "type": "block_actions",
        "user": {"id": ANNA, "team_id": bot.fake.team_id},
        "team": {"id": bot.fake.team_id},
        "container": {"type": "view", "view_id": view["id"]},
        "view": view,
        "trigger_id": "9.9.9",
        "actions": [
            {
                "action_id": "ab_0",
                "block_id": view["blocks"][-1]["block_id"],
                "value": "cmd:assess",
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    assert bot.post_signed(body, "application/x-www-form-urlencoded") == 200
    last = _text(bot.messages()[-1])
    assert "Welcome back!" in last
    assert "Statement 2/24" in last


def test_an_admin_uploads_an_instrument_as_a_file(bot: SlackBot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bot.say("help")
    with bot.runtime.sessions() as session, session.begin():
        session.scalars(select(Person)).one().is_admin = True
    file_id = bot.fake.add_file("tiny.yaml", (DATA / "tiny.yaml").read_bytes(), user=ANNA)

    bot.event(bot.slack.message_event(ANNA, "", files=[bot.fake.file_object(file_id)]))

    assert "Installed tiny version 1" in _text(bot.messages()[-1])
    assert [c.ok for c in bot.fake.calls_of("file_download")] == [True]
    assert bot.fake.rejected_downloads == 0
    assert bot.fake.token not in caplog.text
    assert SECRET not in caplog.text


def test_file_stubs_are_looked_up_and_large_files_refused(bot: SlackBot) -> None:
    bot.say("help")
    with bot.runtime.sessions() as session, session.begin():
        session.scalars(select(Person)).one().is_admin = True
    big = bot.fake.add_file("huge.yaml", b"#" * 1_500_000, user=ANNA)
    bot.event(bot.slack.message_event(ANNA, "", files=[bot.fake.file_object(big)]))
    assert "That file is too large for me" in _text(bot.messages()[-1])
    assert bot.fake.calls_of("file_download") == []

    # Slack may send only a stub of the file; the adapter asks files.info for the rest.
    tiny = bot.fake.add_file("tiny.yaml", (DATA / "tiny.yaml").read_bytes(), user=ANNA)
    stub = {"id": tiny, "mode": "hidden_by_limit", "file_access": "check_file_info"}
    bot.event(bot.slack.message_event(ANNA, "instrument upload", files=[stub]))
    assert "Installed tiny version 1" in _text(bot.messages()[-1])
    assert [c.ok for c in bot.fake.calls_of("files.info")] == [True]


def test_admin_commands_through_the_slash_command_keep_special_characters(bot: SlackBot) -> None:
    bot.say("help")
    with bot.runtime.sessions() as session, session.begin():
        session.scalars(select(Person)).one().is_admin = True

    # Slack delivers typed &, < and > as entities; the unit gets the name the admin typed.
    bot.command('unit create "Ystad &amp; Tomelilla &lt;north&gt;"')

    with bot.runtime.sessions() as session:
        assert session.scalar(select(Unit.name)) == "Ystad & Tomelilla <north>"
    assert "Ystad &amp; Tomelilla &lt;north&gt;" in _text(bot.messages()[-1])  # escaped again on the way out


# ------------------------------------------------------------------------------------ rendering


def test_long_keyboards_and_labels_fit_block_kit() -> None:
    row = tuple(Choice("x" * 100 + str(i), f"p:{i}") for i in range(30))
    blocks = action_blocks([row])
    assert [len(b["elements"]) for b in blocks] == [MAX_ACTIONS_ELEMENTS, 5]
    assert all(len(el["text"]["text"]) <= 75 for b in blocks for el in b["elements"])
    [payload] = message_payloads(Reply("a < b & c > d", (row,)))
    assert payload["blocks"][0]["text"]["text"] == "a &lt; b &amp; c &gt; d"
    assert block_problems(payload["blocks"]) == []
    long = message_payloads(Reply("\n".join("line " * 100 for _ in range(400))))
    assert len(long) > 1
    assert all(block_problems(p["blocks"]) == [] for p in long)


# ------------------------------------------------------------------------------------ outbox


# The sender and the fake's limits are what is tested here; one database is enough (and keeps it fast).
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_burst_of_200_messages_is_delivered_once_despite_rate_limits(
    runtime: Runtime, fake: FakeSlackAPI, clock: ManualClock
) -> None:
    users = [f"U{n:05d}" for n in range(200)]
    with runtime.sessions() as session, session.begin():
        for user in users:
            fake.add_user(user, locale="en-US")
            person = Person(display_name=user, created_at=clock.now())
            session.add(person)
            session.flush()
            session.add(
                Identity(person_id=person.id, platform="slack", workspace=fake.team_id, platform_user_id=user)
            )
            enqueue(
                session,
                person_id=person.id,
                kind="reminder",
                replies=[Reply(f"Reminder for {user}", ((Choice("Continue", "cmd:assess"),),))],
                key=f"reminder:{user}",
                due_at=clock.now(),
            )
    fake.rate_limit(overall_per_second=40)
    fake.fail_next("chat.postMessage", 3)  # more 429s in a row than the client retries
    dispatcher = Dispatcher(runtime.sessions, {"slack": SlackSender(_client(fake))}, clock)

    sent = dispatcher.drain()
    clock.advance(seconds=30)
    sent += dispatcher.drain()

    assert sent == 200
    assert fake.rejected_429 > 3  # the injected ones and the rate window
    for user in users:
        assert [m["text"] for m in fake.channel_messages(dm_channel_id(user))] == [f"Reminder for {user}"]
    with runtime.sessions() as session:
        assert set(session.scalars(select(Outbox.state))) == {OutboxState.SENT}


def test_sender_reports_people_who_cannot_be_reached(fake: FakeSlackAPI) -> None:
    from bot.messages import Address, Undeliverable

    sender = SlackSender(_client(fake))
    with pytest.raises(Undeliverable):
        sender.send(Address("slack", fake.team_id, "U0GONE", "U0GONE"), [Reply("hello")])


# ------------------------------------------------------------------------------------ socket mode


def test_socket_mode_handler_is_wired_to_the_app(runtime: Runtime, fake: FakeSlackAPI) -> None:
    from slack_bolt.adapter.socket_mode.internals import run_bolt_app

    config = replace(
        runtime.config,
        slack_bot_token=fake.token,
        slack_api_url=fake.base_url,
        slack_app_token="xapp-1-A0-fake",
    )
    adapter = build_adapter(replace(runtime, config=config))
    handler = socket_mode_handler(adapter, "xapp-1-A0-fake")
    try:
        assert handler.app is adapter.app
        assert handler.handle in handler.client.socket_mode_request_listeners
        assert not handler.client.is_connected()
        envelope = {
            "type": "event_callback",
            "team_id": fake.team_id,
            "api_app_id": fake.app_id,
            "event_id": "EvSOCKET1",
            "event": SlackEventsClient("http://unused", "", api=fake).message_event(ANNA, "help"),
        }
        request = SocketModeRequest(type="events_api", envelope_id="env-1", payload=envelope)
        response = run_bolt_app(handler.app, request)  # what the handler does with each socket message
        assert response.status == 200
        assert adapter.wait_finished(1)
        assert "assess" in fake.channel_messages(dm_channel_id(ANNA))[-1]["text"]
    finally:
        handler.client.close()
