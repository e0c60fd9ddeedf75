"""Someone on the network plays the hostile client against `assessbot run`'s public endpoints.

Slack's request URL (HTTP mode) and the Telegram webhook are reached over real sockets, the bytes
broken on purpose: lengths that lie, bodies that never finish, connections left half open, bodies
that are not what they claim. Every such request gets an HTTP status or a closed connection within
a few seconds, and the process's memory and threads stay where they were. One `assessbot run` per
platform serves the whole module (the database is not what is under test, so SQLite is enough).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlackAPI, SlackEventsClient, dm_channel_id, sign_request
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.served import (
    BotProcess,
    closed_by_server,
    connect,
    exchange,
    free_port,
    http_get,
    post,
    post_head,
    read_outcome,
    running,
    stream,
)

SIGNING_SECRET = "hostile-signing-secret-0123456789"
IDLE_SECONDS = 2  # ASSESSBOT_HTTP_IDLE_TIMEOUT for these processes
BODY_SECONDS = 2  # ASSESSBOT_HTTP_BODY_TIMEOUT
SOON = IDLE_SECONDS + BODY_SECONDS + 2  # "within a few seconds"
EVENTS = "/slack/events"
WEBHOOK = "/telegram/hook"
HUGE = 200 * 1024 * 1024
ANNA = "U0ANNA"


def settings(tmp: Path, **more: str) -> dict[str, str]:
    return {
        "ASSESSBOT_DATABASE_URL": f"sqlite:///{tmp / 'assessbot.sqlite3'}",
        "ASSESSBOT_OUTPUT_DIR": str(tmp / "out"),
        "ASSESSBOT_HTTP_IDLE_TIMEOUT": str(IDLE_SECONDS),
        "ASSESSBOT_HTTP_BODY_TIMEOUT": str(BODY_SECONDS),
        **more,
    }


@pytest.fixture(scope="module")
def slack_api() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as fake:
        fake.add_user(ANNA, locale="en-US", real_name="Anna Svensson")
        yield fake


@pytest.fixture(scope="module")
def slack_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def slack_bot(
    slack_api: FakeSlackAPI, slack_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    with served(
        tmp_path_factory.mktemp("slack-hostile"),
        slack_port,
        ASSESSBOT_SLACK_BOT_TOKEN=slack_api.token,
        ASSESSBOT_SLACK_SIGNING_SECRET=SIGNING_SECRET,
        ASSESSBOT_SLACK_API_URL=slack_api.base_url,
        ASSESSBOT_SLACK_PORT=str(slack_port),
    ) as bot:
        yield bot


def signed(body: bytes, content_type: str, *, secret: str = SIGNING_SECRET) -> bytes:
    ts = str(int(time.time()))
    return post(
        EVENTS,
        body,
        {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign_request(secret, ts, body),
        },
    )


def assert_no_traceback(bot: BotProcess) -> None:
    assert "Traceback" not in bot.log()


def half_open_connections_are_closed(bot: BotProcess, port: int, start: bytes) -> None:
    """200 connections that send the `start` of a request and then nothing: they take no thread
    each, others are still served meanwhile, and the server closes them all within a few seconds."""
    threads, rss = bot.threads, bot.rss_mb
    sockets = [connect(port) for _ in range(200)]
    try:
        for sock in sockets:
            sock.sendall(start)
        time.sleep(0.5)
        assert bot.threads <= threads + 4
        assert http_get(port, "/healthz").status == 200  # others are still served meanwhile
        deadline = time.monotonic() + SOON
        assert all(closed_by_server(sock, deadline - time.monotonic()) for sock in sockets)
        assert bot.rss_mb - rss < 40
    finally:
        for sock in sockets:
            sock.close()


def never_finished_body_is_cut_off(port: int, request_start: bytes) -> None:
    outcome = exchange(port, request_start, wait=SOON + 4)
    assert outcome.status == 408 or outcome.closed
    assert outcome.seconds < SOON


@contextlib.contextmanager
def served(tmp: Path, port: int, **more: str) -> Iterator[BotProcess]:
    with running(settings(tmp, **more), port) as bot:
        yield bot


# ---------------------------------------------------------------------------------- Slack


def test_a_negative_content_length_on_slack_gets_400_instead_of_an_endless_read(
    slack_bot: BotProcess, slack_port: int
) -> None:
    before = slack_bot.rss_mb
    head = post_head(EVENTS, {"Content-Type": "application/json", "Content-Length": "-1"})
    outcome = exchange(slack_port, head, then=stream(HUGE))
    assert outcome.status == 400
    assert outcome.seconds < SOON
    assert slack_bot.rss_mb - before < 30
    assert_no_traceback(slack_bot)


def test_a_slack_post_without_a_length_is_refused(slack_bot: BotProcess, slack_port: int) -> None:
    head = post_head(EVENTS, {"Content-Type": "application/json"})
    outcome = exchange(slack_port, head + b'{"type": "url_verification"}')
    assert outcome.status in (400, 411)
    assert outcome.seconds < SOON


def test_a_slack_body_that_never_finishes_is_cut_off(slack_bot: BotProcess, slack_port: int) -> None:
    head = post_head(EVENTS, {"Content-Type": "application/json", "Content-Length": "1000"})
    never_finished_body_is_cut_off(slack_port, head + b'{"type": ')


def test_headers_trickled_a_byte_at_a_time_to_slack_are_cut_off(
    slack_bot: BotProcess, slack_port: int
) -> None:
    started = time.monotonic()
    with connect(slack_port) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        cut_off = False
        for byte in b"X-Padding: " + b"a" * 200:  # a byte every 0.2 s: 40 s of headers
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut_off = True
                break
            if closed_by_server(sock, 0.2):
                cut_off = True
                break
    assert cut_off
    assert time.monotonic() - started < SOON


def test_200_half_open_connections_to_slack_hold_no_threads_and_are_closed(
    slack_bot: BotProcess, slack_port: int
) -> None:
    half_open_connections_are_closed(
        slack_bot, slack_port, b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"
    )


def test_sixty_slow_near_limit_bodies_at_once_keep_slack_s_memory_bounded(
    slack_bot: BotProcess, slack_port: int
) -> None:
    """Each body is allowed (1.9 MB) but never finished: the process holds at most its in-flight
    budget of them (32 MB) and turns the rest away at once."""
    before, peak = slack_bot.rss_mb, [0.0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], slack_bot.rss_mb)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    length = 1_900_000
    head = post_head(EVENTS, {"Content-Type": "application/json", "Content-Length": str(length)})
    sockets = []
    try:
        for _ in range(60):
            sock = connect(slack_port)
            sockets.append(sock)
            with contextlib.suppress(OSError):  # turned away (and closed) while still sending
                sock.sendall(head + b" " * (length - 1))
        started = time.monotonic()
        outcomes = [read_outcome(sock, started, SOON) for sock in sockets]
    finally:
        sampling.set()
        sampler.join()
        for sock in sockets:
            sock.close()
    statuses = [outcome.status for outcome in outcomes]
    assert set(statuses) <= {408, 503}
    assert statuses.count(503) >= 30
    assert peak[0] - before < 60


def test_unsigned_malformed_json_to_slack_gets_401_not_a_dropped_connection(
    slack_bot: BotProcess, slack_port: int
) -> None:
    outcome = exchange(
        slack_port, post(EVENTS, b'{"type": "event_callback", ', {"Content-Type": "application/json"})
    )
    assert outcome.status == 401
    assert_no_traceback(slack_bot)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"type": "event_callback", ', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"\xff\xfe not text", "application/json"),
        (b"payload=%7B%22type%22%3A", "application/x-www-form-urlencoded"),
        (b"payload=%5B1%5D", "application/x-www-form-urlencoded"),
    ],
    ids=["cut-json", "json-list", "not-utf8", "cut-form-payload", "form-payload-list"],
)
def test_a_signed_but_malformed_slack_body_gets_400(
    slack_bot: BotProcess, slack_port: int, body: bytes, content_type: str
) -> None:
    outcome = exchange(slack_port, signed(body, content_type))
    assert outcome.status == 400
    assert_no_traceback(slack_bot)


def test_an_unsigned_oversized_slack_post_is_refused_before_it_is_read(
    slack_bot: BotProcess, slack_port: int
) -> None:
    before = slack_bot.rss_mb
    head = post_head(EVENTS, {"Content-Type": "application/json", "Content-Length": str(HUGE)})
    outcome = exchange(slack_port, head, then=stream(HUGE))
    assert outcome.status == 413
    assert outcome.seconds < SOON
    assert slack_bot.rss_mb - before < 30


def test_a_signed_zip_bomb_to_slack_is_refused_without_being_inflated(
    slack_bot: BotProcess, slack_port: int
) -> None:
    before = slack_bot.rss_mb
    bomb = gzip.compress(b"{" + b" " * 300_000_000, compresslevel=9)  # 300 MB once inflated
    ts = str(int(time.time()))
    request = post(
        EVENTS,
        bomb,
        {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign_request(SIGNING_SECRET, ts, bomb),
        },
    )
    assert exchange(slack_port, request).status in (400, 413)
    assert slack_bot.rss_mb - before < 30


def test_a_bad_or_stale_slack_signature_gets_401(slack_bot: BotProcess, slack_port: int) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    assert exchange(slack_port, signed(body, "application/json", secret="not-the-secret")).status == 401
    stale = str(int(time.time()) - 600)
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stale,
        "X-Slack-Signature": sign_request(SIGNING_SECRET, stale, body),
    }
    assert exchange(slack_port, post(EVENTS, body, headers)).status == 401


def test_an_idle_keep_alive_connection_to_slack_is_closed(slack_bot: BotProcess, slack_port: int) -> None:
    with connect(slack_port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock, IDLE_SECONDS + 3)


def test_garbage_instead_of_http_gets_400(slack_bot: BotProcess, slack_port: int) -> None:
    outcome = exchange(slack_port, b"HELLO THERE\r\n\r\n")
    assert outcome.status == 400 or (outcome.closed and outcome.status is None)
    assert outcome.seconds < SOON


def test_after_all_that_slack_still_gets_its_replies(
    slack_bot: BotProcess, slack_port: int, slack_api: FakeSlackAPI
) -> None:
    client = SlackEventsClient(f"http://127.0.0.1:{slack_port}{EVENTS}", SIGNING_SECRET, api=slack_api)
    assert client.send_command(text="help", user_id=ANNA)[0] == 200
    # Answered once handled: the reply is in the DM before the 200 (a crash before it would leave
    # the request unanswered, and Slack would retry it).
    messages = slack_api.channel_messages(dm_channel_id(ANNA))
    assert any("Here is what you can do" in m.get("text", "") for m in messages)
    assert_no_traceback(slack_bot)


# ---------------------------------------------------------------------------------- Telegram


@pytest.fixture(scope="module")
def telegram_api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI(local_mode=True) as fake:  # a self-hosted Bot API: plain http on any port
        yield fake


@pytest.fixture(scope="module")
def hook_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def telegram_bot(
    telegram_api: FakeTelegramAPI, hook_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    with served(
        tmp_path_factory.mktemp("telegram-hostile"),
        hook_port,
        ASSESSBOT_TELEGRAM_TOKEN=telegram_api.token,
        ASSESSBOT_TELEGRAM_API_URL=f"http://127.0.0.1:{telegram_api.port}",
        ASSESSBOT_TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{hook_port}{WEBHOOK}",
        ASSESSBOT_TELEGRAM_WEBHOOK_LISTEN="127.0.0.1",
        ASSESSBOT_TELEGRAM_WEBHOOK_PORT=str(hook_port),
    ) as bot:
        deadline = time.monotonic() + 30
        while not telegram_api.webhook_secret and time.monotonic() < deadline:
            time.sleep(0.1)
        assert telegram_api.webhook_secret  # derived from the token, given to setWebhook
        yield bot


def from_telegram(body: bytes, secret: str | None, content_type: str = "application/json") -> bytes:
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return post(WEBHOOK, body, headers)


def test_an_unsigned_oversized_webhook_post_is_refused_before_its_body_is_sent(
    telegram_bot: BotProcess, hook_port: int
) -> None:
    before = telegram_bot.rss_mb
    head = post_head(WEBHOOK, {"Content-Type": "application/json", "Content-Length": str(HUGE)})
    outcome = exchange(hook_port, head, wait=SOON)  # not one byte of the body: the answer comes first
    assert outcome.status in (403, 413)
    assert outcome.seconds < SOON
    outcome = exchange(hook_port, head, then=stream(HUGE))
    assert outcome.status in (403, 413)
    assert telegram_bot.rss_mb - before < 30


def test_an_oversized_webhook_post_with_the_secret_gets_413_unread(
    telegram_bot: BotProcess, telegram_api: FakeTelegramAPI, hook_port: int
) -> None:
    head = post_head(
        WEBHOOK,
        {
            "Content-Type": "application/json",
            "Content-Length": str(HUGE),
            "X-Telegram-Bot-Api-Secret-Token": str(telegram_api.webhook_secret),
        },
    )
    outcome = exchange(hook_port, head, wait=SOON)
    assert outcome.status == 413


def test_a_negative_or_missing_length_on_the_webhook_is_refused(
    telegram_bot: BotProcess, telegram_api: FakeTelegramAPI, hook_port: int
) -> None:
    secret = str(telegram_api.webhook_secret)
    negative = post_head(WEBHOOK, {"Content-Length": "-1", "X-Telegram-Bot-Api-Secret-Token": secret})
    outcome = exchange(hook_port, negative, then=stream(HUGE))
    assert outcome.status == 400
    assert outcome.seconds < SOON
    missing = post_head(WEBHOOK, {"X-Telegram-Bot-Api-Secret-Token": secret})
    assert exchange(hook_port, missing + b'{"update_id": 1}').status in (400, 411)


def test_a_webhook_body_that_never_finishes_is_cut_off(
    telegram_bot: BotProcess, telegram_api: FakeTelegramAPI, hook_port: int
) -> None:
    head = post_head(
        WEBHOOK,
        {"Content-Length": "1000", "X-Telegram-Bot-Api-Secret-Token": str(telegram_api.webhook_secret)},
    )
    never_finished_body_is_cut_off(hook_port, head + b'{"update_id": ')


def test_200_half_open_connections_to_the_webhook_are_closed(
    telegram_bot: BotProcess, hook_port: int
) -> None:
    half_open_connections_are_closed(
        telegram_bot, hook_port, f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tele".encode()
    )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"update_id": 7, "message": ', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'{"update_id": "seven"}', "application/json"),
        (b"update_id=7&message=hi", "application/x-www-form-urlencoded"),
    ],
    ids=["cut-json", "json-list", "not-an-update", "form-body"],
)
def test_a_malformed_webhook_body_with_the_secret_gets_400(
    telegram_bot: BotProcess, telegram_api: FakeTelegramAPI, hook_port: int, body: bytes, content_type: str
) -> None:
    outcome = exchange(hook_port, from_telegram(body, str(telegram_api.webhook_secret), content_type))
    assert outcome.status == 400
    assert_no_traceback(telegram_bot)


def test_a_zip_bomb_with_the_webhook_secret_is_refused_without_being_inflated(
    telegram_bot: BotProcess, telegram_api: FakeTelegramAPI, hook_port: int
) -> None:
    before = telegram_bot.rss_mb
    bomb = gzip.compress(b'{"update_id": 1, "x": "' + b"a" * 300_000_000, compresslevel=9)
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "X-Telegram-Bot-Api-Secret-Token": str(telegram_api.webhook_secret),
    }
    assert exchange(hook_port, post(WEBHOOK, bomb, headers)).status in (400, 413)
    assert telegram_bot.rss_mb - before < 30


def test_a_wrong_webhook_secret_gets_403(telegram_bot: BotProcess, hook_port: int) -> None:
    assert exchange(hook_port, from_telegram(b'{"update_id": 1}', "wrong-secret")).status == 403
    assert exchange(hook_port, from_telegram(b'{"update_id": 1}', None)).status == 403


def test_after_all_that_telegram_updates_still_arrive(
    telegram_bot: BotProcess, telegram_api: FakeTelegramAPI, hook_port: int
) -> None:
    update = telegram_api.push_message(4242, "/help")
    assert telegram_api.deliver_webhook(update) == 200
    # Acknowledged once handled: the answer has gone out before the 200 (a crash before it would
    # leave the update to be delivered again).
    assert any("Here is what you can do" in (m.text or "") for m in telegram_api.chat(4242))
    assert_no_traceback(telegram_bot)
