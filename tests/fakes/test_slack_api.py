"""The fake Slack Web API, driven by the real slack_sdk WebClient (the events client is proven against
the bot itself in tests/test_slack.py)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.slack_api import (
    Call,
    FakeSlackAPI,
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
        (
            {"channel": USER, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s"}}] * 51},
            "invalid_blocks",
        ),
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
        ({"channel": USER, "blocks": [{"type": "divider"}]}, "invalid_blocks"),  # not a block the bot sends
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
        *[{"type": "section", "text": {"type": "plain_text", "text": "s"}}] * 48,
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
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "Your results"}}
    view: dict[str, Any] = {"type": "home", "blocks": [section]}
    published = client.views_publish(user_id=USER, view=view)["view"]
    home = fake.home_view(USER)
    assert home is not None
    assert home["id"] == published["id"]
    assert home["blocks"][0]["text"]["text"] == "Your results"
    too_many = {"type": "home", "blocks": [section] * 101}
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


# ---------------------------------------------------------------------------------------------- signing


def test_signature_matches_slack_sdk_verifier() -> None:
    from slack_sdk.signature import SignatureVerifier

    body = b'{"type":"event_callback"}'
    timestamp = str(int(time.time()))
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.is_valid(body, timestamp, sign_request(SIGNING_SECRET, timestamp, body))
