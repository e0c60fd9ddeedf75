"""The fake Slack Web API, driven by the real slack_sdk WebClient, and the signed-request client against Bolt."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.slack_api import (
    Call,
    FakeSlackAPI,
    SlackEventsClient,
    block_problems,
    dm_channel_id,
    sign_request,
)

USER = "U0ALICE"
SIGNING_SECRET = "test-signing-secret"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as api:
        api.add_user(USER, locale="sv-SE", real_name="Alice Andersson", tz="Europe/Stockholm")
        yield api


@pytest.fixture
def client(fake: FakeSlackAPI) -> WebClient:
    return WebClient(token=fake.token, base_url=fake.base_url, timeout=5)


def _button(action_id: str, text: str = "Yes", value: str = "yes") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


def _question_blocks() -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Question 1*: Do you back up your files?"}},
        {"type": "actions", "elements": [_button("answer_yes"), _button("answer_no", "No", "no")]},
    ]


def _api_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


def _wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


# ---------------------------------------------------------------------------------------------- Web API


def test_post_dm_by_user_id_lands_in_the_dm_channel_with_blocks(
    fake: FakeSlackAPI, client: WebClient
) -> None:
    response = client.chat_postMessage(channel=USER, text="Question 1", blocks=_question_blocks())

    channel = response["channel"]
    assert channel == dm_channel_id(USER) == fake.dm_channel(USER)
    assert channel.startswith("D")
    assert response["message"]["bot_id"] == fake.bot_id
    [message] = fake.channel_messages(channel)
    assert message["ts"] == response["ts"]
    assert message["text"] == "Question 1"
    assert [b["type"] for b in message["blocks"]] == ["section", "actions"]
    assert all(b["block_id"] for b in message["blocks"])  # Slack fills in missing block_ids
    [call] = fake.calls_of("chat.postMessage")
    assert isinstance(call, Call)
    assert call.ok
    assert call.params["channel"] == USER
    assert "token" not in call.params


def test_chat_update_changes_the_channel_view_and_needs_the_dm_id(
    fake: FakeSlackAPI, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=USER, text="Question 1", blocks=_question_blocks())
    channel, ts = posted["channel"], posted["ts"]

    updated = client.chat_update(
        channel=channel,
        ts=ts,
        text="Answered: yes",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "You answered *yes*"}}],
    )

    assert updated["ts"] == ts
    [message] = fake.channel_messages(channel)
    assert message["text"] == "Answered: yes"
    assert message["blocks"][0]["text"]["text"] == "You answered *yes*"
    assert "edited" in message
    # Slack: "For direct messages, ensure that this value is a DM ID (starts with D) instead of a User ID".
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=USER, ts=ts, text="x")
    assert _api_error(excinfo) == "channel_not_found"
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=channel, ts="1.000001", text="x")
    assert _api_error(excinfo) == "message_not_found"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": USER}, "no_text"),
        ({"channel": USER, "text": ""}, "no_text"),
        ({"channel": "", "text": "hello"}, "channel_not_found"),
        ({"channel": "C0NOPE", "text": "hello"}, "channel_not_found"),
        ({"channel": "U0STRANGER", "text": "hello"}, "channel_not_found"),
        ({"channel": USER, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": USER, "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            {
                "channel": USER,
                "blocks": [{"type": "actions", "elements": [_button(f"b{i}") for i in range(26)]}],
            },
            "invalid_blocks",
        ),
        (
            {"channel": USER, "blocks": [{"type": "actions", "elements": [_button("b", "x" * 76)]}]},
            "invalid_blocks",
        ),
        (
            {"channel": USER, "blocks": [{"type": "actions", "elements": [_button("b", "ok", "v" * 2001)]}]},
            "invalid_blocks",
        ),
        (
            {
                "channel": USER,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}],
            },
            "invalid_blocks",
        ),
        ({"channel": USER, "blocks": [{"type": "section"}]}, "invalid_blocks"),
    ],
)
def test_post_message_is_as_strict_as_slack(client: WebClient, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(**kwargs)
    assert _api_error(excinfo) == error


def test_post_message_without_channel_argument(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", json={"text": "where to?"})
    assert _api_error(excinfo) == "channel_not_found"


def test_block_limits_at_the_boundary_are_accepted(client: WebClient) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}},
        {"type": "actions", "elements": [_button(f"b{i}", "x" * 75, "v" * 2000) for i in range(25)]},
        *[{"type": "divider"}] * 48,
    ]
    assert block_problems(blocks) == []
    assert client.chat_postMessage(channel=USER, text="fallback", blocks=blocks)["ok"]


def test_form_encoded_blocks_string_and_token_param_are_accepted(fake: FakeSlackAPI) -> None:
    anonymous = WebClient(
        base_url=fake.base_url
    )  # no Authorization header: the token travels as a form field
    response = anonymous.api_call(
        "chat.postMessage",
        params={"token": fake.token, "channel": USER, "blocks": json.dumps(_question_blocks())},
    )
    assert response["ok"]
    assert fake.channel_messages(response["channel"])[0]["blocks"][1]["type"] == "actions"
    with pytest.raises(SlackApiError) as excinfo:
        anonymous.api_call(
            "chat.postMessage", params={"token": fake.token, "channel": USER, "blocks": "{nope"}
        )
    assert _api_error(excinfo) == "invalid_blocks_format"


def test_users_info_with_locale(client: WebClient) -> None:
    with_locale = client.users_info(user=USER, include_locale=True)["user"]
    assert with_locale["id"] == USER
    assert with_locale["team_id"] == "T0TEAM"
    assert with_locale["real_name"] == "Alice Andersson"
    assert with_locale["tz"] == "Europe/Stockholm"
    assert with_locale["tz_offset"] in (3600, 7200)
    assert with_locale["locale"] == "sv-SE"
    assert "locale" not in client.users_info(user=USER)["user"]
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U0NOBODY")
    assert _api_error(excinfo) == "user_not_found"


def test_views_publish_and_conversations_open(fake: FakeSlackAPI, client: WebClient) -> None:
    view = {
        "type": "home",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Your results"}}],
    }
    published = client.views_publish(user_id=USER, view=view)["view"]
    home = fake.home_view(USER)
    assert home is not None
    assert home["id"] == published["id"]
    assert home["blocks"][0]["text"]["text"] == "Your results"
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    with pytest.raises(SlackApiError) as excinfo:
        client.views_publish(user_id=USER, view=too_many)
    assert _api_error(excinfo) == "invalid_arguments"

    opened = client.conversations_open(users=USER)
    assert opened["channel"]["id"] == dm_channel_id(USER)
    assert client.conversations_open(users=USER)["already_open"] is True


def test_rate_limit_429_is_retried_by_slack_sdk(fake: FakeSlackAPI, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", 1, retry_after=1)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))

    started = time.monotonic()
    response = client.chat_postMessage(channel=USER, text="after a 429")

    assert response["ok"]
    assert time.monotonic() - started >= 1.0  # slack_sdk honoured Retry-After
    assert fake.rejected_429 == 1
    assert [(c.status, c.error) for c in fake.calls_of("chat.postMessage")] == [
        (429, "ratelimited"),
        (200, None),
    ]
    assert len(fake.channel_messages(response["channel"])) == 1


def test_rate_limit_window_rejects_bursts_per_channel(fake: FakeSlackAPI, client: WebClient) -> None:
    fake.rate_limit(per_channel_per_second=1)
    client.chat_postMessage(channel=USER, text="first")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=USER, text="second, too soon")
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "1"
    assert _api_error(excinfo) == "ratelimited"
    assert fake.rejected_429 == 1


def test_file_download_needs_the_bot_token(fake: FakeSlackAPI, client: WebClient) -> None:
    file_id = fake.add_file("scan.png", PNG_BYTES, user=USER)
    info = client.files_info(file=file_id)["file"]
    assert info["mimetype"] == "image/png"
    assert info["size"] == len(PNG_BYTES)
    url = info["url_private_download"]
    assert url.startswith(fake.root_url)

    authorized = urllib.request.Request(url, headers={"Authorization": f"Bearer {fake.token}"})  # noqa: S310
    with urllib.request.urlopen(authorized, timeout=5) as response:  # noqa: S310
        assert response.status == 200
        assert response.read() == PNG_BYTES

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    for headers in ({}, {"Authorization": "Bearer xoxb-wrong"}):
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            opener.open(urllib.request.Request(url, headers=headers), timeout=5)  # noqa: S310
        assert excinfo.value.code == 302
        assert "/signin" in excinfo.value.headers["Location"]
    # Following the redirect, as a naive downloader does, yields Slack's HTML sign-in page, not the image.
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        assert response.headers.get_content_type() == "text/html"
    assert fake.rejected_downloads == 3


def test_files_upload_v2_shares_a_png_in_the_dm(fake: FakeSlackAPI, client: WebClient) -> None:
    channel = client.conversations_open(users=USER)["channel"]["id"]

    response = client.files_upload_v2(
        channel=channel,
        file=PNG_BYTES,
        filename="radar.png",
        title="Your profile",
        initial_comment="Here it is",
    )

    file_id = response["file"]["id"]
    assert fake.file_content(file_id) == PNG_BYTES
    assert response["file"]["mimetype"] == "image/png"
    assert [c.method for c in fake.calls if c.method.startswith("file")] == [
        "files.getUploadURLExternal",
        "file_upload",
        "files.completeUploadExternal",
    ]
    [message] = fake.channel_messages(channel)
    assert message["text"] == "Here it is"
    assert message["files"][0]["id"] == file_id
    assert message["files"][0]["title"] == "Your profile"


def test_bad_or_missing_token_and_unknown_method(fake: FakeSlackAPI, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(token="xoxb-wrong", base_url=fake.base_url).auth_test()
    assert _api_error(excinfo) == "invalid_auth"
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(base_url=fake.base_url).auth_test()
    assert _api_error(excinfo) == "not_authed"
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessageWithMagic", json={"channel": USER, "text": "hi"})
    assert _api_error(excinfo) == "unknown_method"
    assert client.auth_test()["user_id"] == fake.bot_user_id


def _raw_post(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_token_placement_follows_slack(fake: FakeSlackAPI) -> None:
    bearer = {"Authorization": f"Bearer {fake.token}"}
    as_json = {"Content-Type": "application/json; charset=utf-8"}
    # JSON bodies need the Authorization header; a token inside the JSON is not read.
    assert _raw_post(fake.base_url + "auth.test", json.dumps({"token": fake.token}).encode(), as_json)[
        "error"
    ] == ("not_authed")
    # Query-string tokens are refused for apps created after 2021-02-24.
    assert _raw_post(f"{fake.base_url}auth.test?token={fake.token}", b"", {})["error"] == "not_authed"
    # users.info only reads form/query arguments, so a JSON body is as good as no arguments.
    body = json.dumps({"user": USER}).encode()
    assert _raw_post(fake.base_url + "users.info", body, {**bearer, **as_json})["error"] == "user_not_found"
    assert _raw_post(fake.base_url + "users.info", f"user={USER}".encode(), bearer)["user"]["id"] == USER


# ---------------------------------------------------------------------------------------------- Bolt


class _BoltServer:
    """A stdlib HTTP server that hands every POST to ``app.dispatch(BoltRequest(...))``."""

    def __init__(self, app: App) -> None:
        bolt_app = app

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                path, _, query = self.path.partition("?")
                if path != "/slack/events":
                    self.send_error(404)
                    return
                request = BoltRequest(body=body, query=query, headers=dict(self.headers.items()))
                response = bolt_app.dispatch(request)
                payload = response.body.encode("utf-8")
                self.send_response(response.status)
                for name, values in response.headers.items():
                    if name.lower() != "content-length":
                        for value in values:
                            self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def bolt(fake: FakeSlackAPI) -> Iterator[tuple[App, SlackEventsClient, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    app = App(signing_secret=SIGNING_SECRET, client=WebClient(token=fake.token, base_url=fake.base_url))

    @app.message("")
    def on_message(message: dict[str, Any], request: BoltRequest, say: Any) -> None:
        seen.append({"message": message, "retry_num": request.headers.get("x-slack-retry-num", [None])[0]})
        say(text=f"You said: {message['text']}")

    @app.command("/assess")
    def on_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()
        seen.append({"command": command})
        respond(text="Starting the assessment")

    @app.action("answer_yes")
    def on_answer(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.append({"action": body})
        client.chat_update(channel=body["channel"]["id"], ts=body["message"]["ts"], text="Answered: yes")

    server = _BoltServer(app)
    try:
        yield app, SlackEventsClient(server.url, SIGNING_SECRET, api=fake), seen
    finally:
        server.close()


def test_bolt_init_calls_auth_test_on_the_fake(fake: FakeSlackAPI, bolt: Any) -> None:
    assert [c.ok for c in fake.calls_of("auth.test")] == [True]  # token_verification_enabled=True


def test_bolt_accepts_signed_event_and_replies_via_fake(fake: FakeSlackAPI, bolt: Any) -> None:
    _, slack, seen = bolt
    event = slack.message_event(USER, "hello bot")

    status, _ = slack.send_event(event)

    assert status == 200
    _wait_for(lambda: bool(fake.channel_messages(dm_channel_id(USER))))
    assert fake.channel_messages(dm_channel_id(USER))[0]["text"] == "You said: hello bot"
    assert seen[0]["message"]["channel_type"] == "im"
    assert seen[0]["retry_num"] is None

    status, _ = slack.send_event(event, event_id=slack.last_event_id, retry_num=1)
    assert status == 200
    _wait_for(lambda: len(seen) == 2)
    assert seen[1]["retry_num"] == "1"  # Bolt passes retries on; deduplication is the app's job


def test_bolt_refuses_bad_or_stale_signatures(bolt: Any) -> None:
    _, slack, seen = bolt
    event = slack.message_event(USER, "hello")

    assert slack.send_event(event, bad_signature=True)[0] == 401
    assert slack.send_event(event, timestamp=int(time.time()) - 6 * 60)[0] == 401
    assert slack.url_verification("abc", bad_signature=True)[0] == 401
    time.sleep(0.05)
    assert seen == []


def test_url_verification_command_and_action_round_trip(fake: FakeSlackAPI, bolt: Any) -> None:
    _, slack, seen = bolt
    status, body = slack.url_verification("challenge-123")
    assert (status, json.loads(body)) == (200, {"challenge": "challenge-123"})

    status, _ = slack.send_command("/assess", "digcomp", user_id=USER)
    assert status == 200
    _wait_for(lambda: bool(fake.ephemeral_messages(dm_channel_id(USER))))
    assert fake.ephemeral_messages(dm_channel_id(USER))[0]["text"] == "Starting the assessment"
    assert seen[0]["command"]["text"] == "digcomp"

    posted = WebClient(token=fake.token, base_url=fake.base_url).chat_postMessage(
        channel=USER, text="Question 1", blocks=_question_blocks()
    )
    status, _ = slack.send_action(
        USER, "answer_yes", "yes", channel_id=posted["channel"], message_ts=posted["ts"]
    )
    assert status == 200
    _wait_for(lambda: fake.channel_messages(posted["channel"])[0]["text"] == "Answered: yes")
    action = seen[-1]["action"]
    assert action["type"] == "block_actions"
    assert action["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": posted["channel"],
        "is_ephemeral": False,
    }
    assert action["actions"][0]["block_id"] == posted["message"]["blocks"][1]["block_id"]
    with pytest.raises(LookupError):
        slack.send_action(USER, "no_such_button", "x", channel_id=posted["channel"], message_ts=posted["ts"])


def test_signature_matches_slack_sdk_verifier() -> None:
    from slack_sdk.signature import SignatureVerifier

    body = b'{"type":"event_callback"}'
    timestamp = str(int(time.time()))
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.is_valid(body, timestamp, sign_request(SIGNING_SECRET, timestamp, body))
