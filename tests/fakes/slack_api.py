"""A small, strict fake of the Slack Web API plus a client that plays Slack towards a Bolt app.

Two halves, both stdlib only:

* :class:`FakeSlackAPI` - an HTTP server on ``127.0.0.1`` (port 0) that answers the Web API methods
  assessbot uses, shaped like Slack's documented responses.  Point ``slack_sdk.WebClient`` at it with
  ``WebClient(token=fake.token, base_url=fake.base_url)``.  It records every call, keeps a per-channel view
  of the messages (after updates), the latest Home tab per user and the files, and can inject HTTP 429s.
* :class:`SlackEventsClient` - sends Events API callbacks, slash commands, ``block_actions`` payloads and
  ``url_verification`` challenges to the bot's ``/slack/events`` endpoint, signed exactly as Slack signs them
  (``X-Slack-Signature: v0=HMAC_SHA256(secret, "v0:{ts}:{raw body}")``).

The fake is deliberately *not more lenient than Slack*: it answers with the error codes Slack documents
(``not_authed``, ``invalid_auth``, ``unknown_method``, ``channel_not_found``, ``no_text``, ``msg_too_long``,
``invalid_blocks_format``, ``invalid_blocks``, ``message_not_found``, ``user_not_found``, ...) and checks
the Block Kit limits (50 blocks per message, 100 per Home tab, 25 elements per actions block, button text
75, button value 2000, section text 3000, ...).  Where Slack's behaviour is not documented the fake picks
the stricter reading; those places are marked "approximation" below.

Slack contract details the fake models on purpose:

* A token in the Authorization header (``Bearer xoxb-...``) or as a ``token`` form/multipart field.  A token
  inside a JSON body is *not* accepted (Slack: "To make use of sending JSON ... you must provide your token
  using an Authorization HTTP header"), and neither is a ``?token=`` query string (refused for apps created
  after 2021-02-24).
* ``users.info`` does not accept ``application/json`` bodies (its documented content type is form only), so a
  JSON body there is ignored exactly as Slack ignores it.
* ``chat.postMessage`` accepts a user id (``U...``/``W...``) as ``channel`` and posts into the app's DM with
  that user; the response carries the ``D...`` id.  ``chat.update`` does *not*: "For direct messages, ensure
  that this value is a DM ID (starts with D) instead of a User ID", so ``chat.update(channel="U...")``
  answers ``channel_not_found``.
* ``url_private``/``url_private_download`` need ``Authorization: Bearer <bot token>``; without it (or with a
  wrong token) Slack redirects (302) to its sign-in page, which answers 200 with HTML - the classic "my image
  is an HTML page" bug.  The fake does the same.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import hashlib
import hmac
import itertools
import json
import math
import mimetypes
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tests.fakes.http_fake import Answer as _Reply
from tests.fakes.http_fake import FakeHttpServer

__all__ = [
    "DEFAULT_APP_ID",
    "DEFAULT_BOT_ID",
    "DEFAULT_BOT_USER_ID",
    "DEFAULT_TEAM_ID",
    "DEFAULT_TOKEN",
    "DEFAULT_USER_ID",
    "DEFAULT_VERIFICATION_TOKEN",
    "Call",
    "FakeSlackAPI",
    "SlackEventsClient",
    "block_problems",
    "dm_channel_id",
    "sign_request",
]

DEFAULT_TOKEN: Final = "xoxb-0000000000-fake-bot-token"
DEFAULT_TEAM_ID: Final = "T0TEAM"
DEFAULT_BOT_USER_ID: Final = "U0BOT"
DEFAULT_BOT_ID: Final = "B0BOT"
DEFAULT_APP_ID: Final = "A0APP"
DEFAULT_USER_ID: Final = "U0USER"
DEFAULT_VERIFICATION_TOKEN: Final = "fake-verification-token"  # the deprecated per-app token in payloads

# Block Kit and message limits (docs.slack.dev/reference/block-kit, chat.postMessage).
MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_ACTIONS_ELEMENTS: Final = 25
MAX_CONTEXT_ELEMENTS: Final = 10
MAX_SECTION_TEXT: Final = 3000
MAX_SECTION_FIELDS: Final = 10
MAX_FIELD_TEXT: Final = 2000
MAX_HEADER_TEXT: Final = 150
MAX_BUTTON_TEXT: Final = 75
MAX_BUTTON_VALUE: Final = 2000
MAX_URL: Final = 3000
MAX_ALT_TEXT: Final = 2000
MAX_ID: Final = 255  # block_id and action_id
MAX_MARKDOWN_BLOCK_TEXT: Final = 12000
MAX_MESSAGE_TEXT: Final = 40000
MAX_VIEW_BYTES: Final = 250_000
MAX_PRIVATE_METADATA: Final = 3000

_JSON = dict[str, Any]
_TRUE_STRINGS: Final = frozenset({"1", "true"})


def dm_channel_id(user_id: str) -> str:
    """Return the (stable, opaque) id of the app's DM channel with ``user_id``, e.g. ``"D1A2B3C4D5E"``."""
    return "D" + hashlib.sha256(user_id.encode()).hexdigest()[:10].upper()


def sign_request(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Return Slack's ``X-Slack-Signature`` value: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Call:
    """One request the fake received.

    ``method`` is the Web API method name (``"chat.postMessage"``) or, for the non-API routes,
    ``"file_download"``, ``"file_upload"`` or ``"response_url"``.  ``params`` holds the decoded
    parameters without the token; ``status`` is the HTTP status answered and ``error`` the Slack error code
    (``None`` when the call succeeded).
    """

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call was answered with HTTP 200 and ``"ok": true``."""
        return self.status == 200 and self.error is None


# --------------------------------------------------------------------------------------------------
# Block Kit validation


_MESSAGE_BLOCK_TYPES: Final = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
# Input blocks are refused in chat.postMessage (python-slack-sdk#1257: invalid_blocks) but fine in views.
_VIEW_BLOCK_TYPES: Final = _MESSAGE_BLOCK_TYPES | {"input"}
_INTERACTIVE_ELEMENTS: Final = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "file_input",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
        "workflow_button",
    }
)


class _Checker:
    """Collects Block Kit problems in Slack's wording: ``"must be ... [json-pointer:/blocks/0/text]"``."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{message} [json-pointer:{path}]")

    def length(self, value: Any, path: str, *, max_len: int, min_len: int = 0) -> None:
        if not isinstance(value, str):
            self.add(path, "must provide a string")
        elif len(value) < min_len:
            self.add(path, f"must be more than {min_len - 1} characters")
        elif len(value) > max_len:
            self.add(path, f"must be less than {max_len + 1} characters")

    def text(self, obj: Any, path: str, *, max_len: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.add(path, "must provide an object")
            return
        kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in kinds:
            self.add(f"{path}/type", "must be one of " + ", ".join(kinds))
        self.length(obj.get("text"), f"{path}/text", max_len=max_len, min_len=1)

    def image(self, obj: Mapping[str, Any], path: str) -> None:
        if "image_url" in obj:
            self.length(obj["image_url"], f"{path}/image_url", max_len=MAX_URL, min_len=1)
        elif not isinstance(obj.get("slack_file"), dict):
            self.add(path, "must provide either `image_url` or `slack_file`")
        self.length(obj.get("alt_text"), f"{path}/alt_text", max_len=MAX_ALT_TEXT, min_len=1)

    def element(self, el: Any, path: str, *, in_section: bool, action_ids: set[str]) -> None:
        if not isinstance(el, dict):
            self.add(path, "must provide an object")
            return
        kind = el.get("type")
        if kind == "image" and in_section:
            self.image(el, path)
            return
        if kind not in _INTERACTIVE_ELEMENTS:
            self.add(f"{path}/type", f"unsupported element type `{kind}`")
            return
        if "action_id" in el:
            action_id = el["action_id"]
            self.length(action_id, f"{path}/action_id", max_len=MAX_ID, min_len=1)
            if isinstance(action_id, str):
                if action_id in action_ids:
                    self.add(f"{path}/action_id", "action_id must be unique within the block")
                action_ids.add(action_id)
        if kind == "button":
            self.text(el.get("text"), f"{path}/text", max_len=MAX_BUTTON_TEXT, plain_only=True)
            if "value" in el:
                self.length(el["value"], f"{path}/value", max_len=MAX_BUTTON_VALUE, min_len=1)
            if "url" in el:
                self.length(el["url"], f"{path}/url", max_len=MAX_URL, min_len=1)
            if "style" in el and el["style"] not in ("primary", "danger"):
                self.add(f"{path}/style", "must be one of primary, danger")
            if "accessibility_label" in el:
                self.length(el["accessibility_label"], f"{path}/accessibility_label", max_len=75, min_len=1)

    def blocks(self, blocks: list[Any], root: str, *, surface: str) -> None:
        max_blocks = MAX_MESSAGE_BLOCKS if surface == "message" else MAX_VIEW_BLOCKS
        allowed = _MESSAGE_BLOCK_TYPES if surface == "message" else _VIEW_BLOCK_TYPES
        if len(blocks) > max_blocks:
            self.add(root, f"must be less than {max_blocks + 1} items")
        seen_ids: set[str] = set()
        for index, block in enumerate(blocks):
            path = f"{root}/{index}"
            if not isinstance(block, dict):
                self.add(path, "must provide an object")
                continue
            kind = block.get("type")
            if kind not in allowed:
                self.add(f"{path}/type", f"unsupported type `{kind}`")
                continue
            if "block_id" in block:
                block_id = block["block_id"]
                self.length(block_id, f"{path}/block_id", max_len=MAX_ID, min_len=1)
                if isinstance(block_id, str):
                    if block_id in seen_ids:
                        self.add(f"{path}/block_id", "duplicate block_id")
                    seen_ids.add(block_id)
            self.block(block, path, kind)

    def block(self, block: Mapping[str, Any], path: str, kind: str) -> None:
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.add(path, "must define either `text` or `fields`")
            if "text" in block:
                self.text(block["text"], f"{path}/text", max_len=MAX_SECTION_TEXT)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not fields:
                    self.add(f"{path}/fields", "must provide a non-empty array")
                else:
                    if len(fields) > MAX_SECTION_FIELDS:
                        self.add(f"{path}/fields", f"must be less than {MAX_SECTION_FIELDS + 1} items")
                    for i, item in enumerate(fields):
                        self.text(item, f"{path}/fields/{i}", max_len=MAX_FIELD_TEXT)
            if "accessory" in block:
                self.element(block["accessory"], f"{path}/accessory", in_section=True, action_ids=set())
        elif kind == "header":
            self.text(block.get("text"), f"{path}/text", max_len=MAX_HEADER_TEXT, plain_only=True)
        elif kind == "image":
            self.image(block, path)
            if "title" in block:
                self.text(block["title"], f"{path}/title", max_len=MAX_ALT_TEXT, plain_only=True)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add(f"{path}/elements", "must provide a non-empty array")
                return
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                self.add(f"{path}/elements", f"must be less than {MAX_CONTEXT_ELEMENTS + 1} items")
            for i, el in enumerate(elements):
                el_path = f"{path}/elements/{i}"
                if isinstance(el, dict) and el.get("type") == "image":
                    self.image(el, el_path)
                else:
                    self.text(el, el_path, max_len=MAX_SECTION_TEXT)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add(f"{path}/elements", "must provide a non-empty array")
                return
            if len(elements) > MAX_ACTIONS_ELEMENTS:
                self.add(f"{path}/elements", f"must be less than {MAX_ACTIONS_ELEMENTS + 1} items")
            action_ids: set[str] = set()
            for i, el in enumerate(elements):
                self.element(el, f"{path}/elements/{i}", in_section=False, action_ids=action_ids)
        elif kind == "markdown":
            self.length(block.get("text"), f"{path}/text", max_len=MAX_MARKDOWN_BLOCK_TEXT, min_len=1)
        elif kind == "rich_text":
            if not isinstance(block.get("elements"), list):
                self.add(f"{path}/elements", "must provide an array")
        elif kind == "input":
            self.text(block.get("label"), f"{path}/label", max_len=MAX_ALT_TEXT, plain_only=True)
            if not isinstance(block.get("element"), dict):
                self.add(f"{path}/element", "must provide an object")


def block_problems(blocks: Any, *, surface: str = "message") -> list[str]:
    """Return the Block Kit problems the fake finds in ``blocks`` (empty list: acceptable).

    ``surface`` is ``"message"`` (max 50 blocks, no input blocks) or ``"home"`` (max 100 blocks).
    Useful on its own to unit-test message builders against the same rules the fake enforces.
    """
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.add("/blocks", "must provide an array")
    else:
        checker.blocks(blocks, "/blocks", surface=surface)
    return checker.problems


# --------------------------------------------------------------------------------------------------
# Internal plumbing


class _ApiError(Exception):
    """A Slack error answer: ``{"ok": false, "error": code, ...extra}`` with an HTTP status."""

    def __init__(self, code: str, *, status: int = 200, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = dict(extra or {})


def _blocks_error(problems: list[str], *, code: str = "invalid_blocks") -> _ApiError:
    return _ApiError(
        code,
        extra={"errors": problems, "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}},
    )


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str | int) and str(value).strip().lower() in _TRUE_STRINGS)


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization") or headers.get("authorization")
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Parse ``multipart/form-data``; text parts become ``str``, parts with a filename stay ``bytes``."""
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            fields[name] = data
            fields.setdefault("__filename__", part.get_filename())
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8", "replace")
    return fields


@dataclass
class _User:
    id: str
    team_id: str
    name: str
    real_name: str
    tz: str
    locale: str
    is_bot: bool = False


@dataclass
class _Channel:
    id: str
    name: str
    members: frozenset[str] | None  # None: every registered user is a member


@dataclass
class _File:
    id: str
    name: str
    title: str
    mimetype: str
    content: bytes
    user: str
    created: int
    alt_txt: str | None = None
    channels: list[str] = field(default_factory=list)
    ims: list[str] = field(default_factory=list)


@dataclass
class _PendingUpload:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    data: bytes | None = None


@dataclass
class _ResponseUrl:
    channel_id: str
    user_id: str
    message_ts: str | None


class _Window:
    """Sliding-window limiter: ``rate`` events per second, window ``capacity / rate`` seconds."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, math.floor(rate))
        self.span = self.capacity / rate
        self.hits: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float) -> int | None:
        """Seconds to wait (>= 1) if one more hit on ``key`` would exceed the rate, else ``None``."""
        hits = self.hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.span:
            hits.popleft()
        if len(hits) >= self.capacity:
            return max(1, math.ceil(hits[0] + self.span - now))
        return None

    def hit(self, key: str, now: float) -> None:
        self.hits.setdefault(key, deque()).append(now)


_Handler = Callable[[dict[str, Any]], _JSON]


# --------------------------------------------------------------------------------------------------
# The fake Web API


class FakeSlackAPI:
    """Fake Slack Web API + file host on ``127.0.0.1`` (see module docstring for the contract).

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with FakeSlackAPI() as fake:
            fake.add_user("U123")
            client = WebClient(token=fake.token, base_url=fake.base_url)
            client.chat_postMessage(channel="U123", text="hi")
            assert fake.channel_messages(fake.dm_channel("U123"))[0]["text"] == "hi"
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        team_id: str = DEFAULT_TEAM_ID,
        team_name: str = "Fake Team",
        team_domain: str = "fake-team",
        bot_user_id: str = DEFAULT_BOT_USER_ID,
        bot_id: str = DEFAULT_BOT_ID,
        app_id: str = DEFAULT_APP_ID,
        bot_name: str = "assessbot",
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name

        self._lock = threading.RLock()
        self._http = FakeHttpServer(self._route, name="fake-slack-api")
        self._ids = itertools.count(1)
        self._last_ts = 0.0

        self._calls: list[Call] = []
        self._users: dict[str, _User] = {}
        self._channels: dict[str, _Channel] = {}
        self._opened_dms: set[str] = set()
        self._messages: dict[str, list[_JSON]] = {}
        self._ephemeral: dict[str, list[_JSON]] = {}
        self._home_views: dict[str, _JSON] = {}
        self._files: dict[str, _File] = {}
        self._uploads: dict[str, _PendingUpload] = {}
        self._upload_keys: dict[str, str] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._fail_next: dict[str, list[int]] = {}
        self._overall_limit: _Window | None = None
        self._channel_limit: _Window | None = None
        self._rejected_429 = 0
        self._rejected_downloads = 0

        self._handlers: dict[str, _Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "files.info": self._files_info,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }
        # Methods whose documented content types do not include application/json.
        self._form_only_methods: frozenset[str] = frozenset({"users.info"})
        self._register_user(
            _User(bot_user_id, team_id, bot_name, bot_name, "Europe/Stockholm", "en-US", is_bot=True)
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a daemon thread; returns ``self``."""
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the server listens on (after :meth:`start`)."""
        return self._http.port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:{port}`` - file URLs, upload URLs and response URLs live under it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}/api/`` for ``WebClient(base_url=...)``."""
        return f"{self.root_url}/api/"

    # -- test set-up -----------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        locale: str = "sv-SE",
        real_name: str | None = None,
        tz: str = "Europe/Stockholm",
        team_id: str | None = None,
        name: str | None = None,
    ) -> None:
        """Register a workspace member (needed for ``users.info``, DMs, ``views.publish``, ...)."""
        display = name or user_id.lower()
        self._register_user(
            _User(user_id, team_id or self.team_id, display, real_name or display, tz, locale)
        )

    def add_channel(
        self, channel_id: str, *, name: str | None = None, members: set[str] | None = None
    ) -> None:
        """Register a public/private channel; ``members=None`` means every registered user is in it."""
        with self._lock:
            self._channels[channel_id] = _Channel(
                channel_id, name or channel_id.lower(), frozenset(members) if members is not None else None
            )

    def add_file(
        self,
        name: str,
        content: bytes,
        *,
        user: str,
        mimetype: str | None = None,
        title: str | None = None,
    ) -> str:
        """Host a file uploaded by ``user`` (one the bot must fetch); returns its ``F...`` id."""
        with self._lock:
            file_id = self._new_id("F")
            self._files[file_id] = _File(
                id=file_id,
                name=name,
                title=title or name,
                mimetype=mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream",
                content=bytes(content),
                user=user,
                created=int(time.time()),
            )
            return file_id

    def dm_channel(self, user_id: str) -> str:
        """The app's DM channel id with ``user_id`` (same as :func:`dm_channel_id`)."""
        return dm_channel_id(user_id)

    def new_response_url(
        self, channel_id: str, user_id: str, *, kind: str = "commands", message_ts: str | None = None
    ) -> str:
        """Mint a ``response_url`` served by this fake (used by :class:`SlackEventsClient`)."""
        with self._lock:
            key = f"{self.team_id}/{next(self._ids)}/{secrets.token_hex(12)}"
            self._response_urls[key] = _ResponseUrl(channel_id, user_id, message_ts)
        return f"{self.root_url}/hooks/{kind}/{key}"

    # -- faults and limits -----------------------------------------------------------------------

    def fail_next(self, method: str, times: int = 1, *, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429, ``Retry-After: {retry_after}``."""
        if times < 1 or retry_after < 0:
            raise ValueError("times must be >= 1 and retry_after >= 0")
        with self._lock:
            self._fail_next.setdefault(method, []).extend([retry_after] * times)

    def rate_limit(
        self, per_channel_per_second: float | None = None, overall_per_second: float | None = None
    ) -> None:
        """Enforce rates over a sliding 1 s window (429 + ``Retry-After: 1``); ``None`` disables a limit.

        ``per_channel_per_second`` applies per (resolved) channel to ``chat.postMessage`` and
        ``chat.update``; ``overall_per_second`` to every authenticated API call.
        Rejected calls do not use up the window.
        """
        with self._lock:
            self._channel_limit = _Window(per_channel_per_second) if per_channel_per_second else None
            self._overall_limit = _Window(overall_per_second) if overall_per_second else None

    @property
    def rejected_429(self) -> int:
        """How many API calls were answered with HTTP 429 (injected or rate-limited)."""
        with self._lock:
            return self._rejected_429

    @property
    def rejected_downloads(self) -> int:
        """How many file downloads were redirected to the sign-in page (missing or wrong token)."""
        with self._lock:
            return self._rejected_downloads

    # -- inspection ------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_of(self, method: str) -> list[Call]:
        """The recorded calls of one method (including failed ones; filter on ``Call.ok``)."""
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def clear_calls(self) -> None:
        """Forget the recorded calls (state such as messages and files is kept)."""
        with self._lock:
            self._calls.clear()

    def channel_messages(self, channel: str) -> list[_JSON]:
        """The channel's messages in ``ts`` order, as they look now (after ``chat.update``)."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def ephemeral_messages(self, channel: str) -> list[_JSON]:
        """Ephemeral messages shown in ``channel`` (each has ``"user"``: the one who saw it)."""
        with self._lock:
            return copy.deepcopy(self._ephemeral.get(channel, []))

    def home_view(self, user_id: str) -> _JSON | None:
        """The latest Home tab view published for ``user_id`` (``None`` if none)."""
        with self._lock:
            view = self._home_views.get(user_id)
            return copy.deepcopy(view) if view is not None else None

    def file_object(self, file_id: str) -> _JSON:
        """Slack's file object for a hosted file (what ``files.info`` and message events carry)."""
        with self._lock:
            return self._file_json(self._files[file_id])

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a hosted or uploaded file."""
        with self._lock:
            return self._files[file_id].content

    # -- routing ---------------------------------------------------------------------------------

    def _route(self, http_method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        path, _, query = raw_path.partition("?")
        with self._lock:
            if path.startswith("/api/"):
                return self._api(path.removeprefix("/api/"), http_method, headers, query, body)
            if path.startswith("/files-pri/") and http_method == "GET":
                return self._download(path, headers)
            if path.startswith("/upload/v1/"):
                return self._upload(path.removeprefix("/upload/v1/"), http_method, headers, body)
            if path.startswith("/hooks/") and http_method == "POST":
                return self._response_url(path, headers, body)
            if path == "/signin":
                page = b"<!DOCTYPE html><html><body><h1>Sign in to Slack</h1></body></html>"
                return _Reply(200, page, "text/html; charset=utf-8")
            return _Reply(404, b"not found", "text/plain; charset=utf-8")

    def _record(
        self, method: str, params: Mapping[str, Any], *, status: int = 200, error: str | None = None
    ) -> None:
        clean = {key: value for key, value in params.items() if key != "token"}
        self._calls.append(Call(method, clean, time.time(), status, error))

    def _api(
        self, method: str, http_method: str, headers: Mapping[str, str], query: str, body: bytes
    ) -> _Reply:
        handler = self._handlers.get(method)
        if handler is None:
            self._record(method, {}, error="unknown_method")
            # approximation: Slack's wording and body; HTTP status 200 is assumed, not documented
            return _Reply.json({"ok": False, "error": "unknown_method", "req_method": method})
        warnings: list[str] = []
        try:
            params, body_token = self._parse_params(method, http_method, headers, query, body, warnings)
        except _ApiError as err:
            self._record(method, {}, status=err.status, error=err.code)
            return _Reply.json({"ok": False, "error": err.code, **err.extra}, status=err.status)

        token = _bearer(headers) or body_token
        if not token:
            self._record(method, params, error="not_authed")
            return _Reply.json({"ok": False, "error": "not_authed"})
        if not hmac.compare_digest(token, self.token):
            self._record(method, params, error="invalid_auth")
            return _Reply.json({"ok": False, "error": "invalid_auth"})

        queued = self._fail_next.get(method)
        if queued:
            retry_after = queued.pop(0)
            return self._too_many(method, params, retry_after)

        now = time.monotonic()
        channel_key = self._rate_channel_key(method, params)
        waits = []
        if self._overall_limit is not None:
            waits.append(self._overall_limit.retry_after("*", now))
        if self._channel_limit is not None and channel_key is not None:
            waits.append(self._channel_limit.retry_after(channel_key, now))
        if any(wait is not None for wait in waits):
            return self._too_many(method, params, 1)
        if self._overall_limit is not None:
            self._overall_limit.hit("*", now)
        if self._channel_limit is not None and channel_key is not None:
            self._channel_limit.hit(channel_key, now)

        try:
            result = handler(params)
        except _ApiError as err:
            self._record(method, params, status=err.status, error=err.code)
            return _Reply.json({"ok": False, "error": err.code, **err.extra}, status=err.status)
        if warnings:
            result["warning"] = ",".join(warnings)
            result.setdefault("response_metadata", {})["warnings"] = warnings
        self._record(method, params)
        return _Reply.json(result)

    def _too_many(self, method: str, params: Mapping[str, Any], retry_after: int) -> _Reply:
        self._rejected_429 += 1
        self._record(method, params, status=429, error="ratelimited")
        return _Reply.json(
            {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)}
        )

    def _rate_channel_key(self, method: str, params: Mapping[str, Any]) -> str | None:
        if method not in ("chat.postMessage", "chat.update"):
            return None
        channel = _as_str(params.get("channel")) or ""
        if method == "chat.postMessage" and channel[:1] in ("U", "W"):
            return dm_channel_id(channel)
        return channel or None

    def _parse_params(
        self,
        method: str,
        http_method: str,
        headers: Mapping[str, str],
        query: str,
        body: bytes,
        warnings: list[str],
    ) -> tuple[dict[str, Any], str | None]:
        """Merge query-string and body parameters the way Slack reads them; returns (params, body token)."""
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        params.pop("token", None)  # query-string tokens are refused for apps created after Feb 2021
        body_params: dict[str, Any] = {}
        body_token: str | None = None
        content_type = headers.get("Content-Type") or headers.get("content-type") or ""
        media_type = content_type.split(";", 1)[0].strip().lower()
        if http_method == "POST" and body:
            if media_type == "application/json":
                if "charset" not in content_type.lower():
                    warnings.append("missing_charset")
                if method not in self._form_only_methods:
                    try:
                        decoded = json.loads(body.decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # approximation: code
                        raise _ApiError("invalid_json") from exc
                    if not isinstance(decoded, dict):
                        raise _ApiError("invalid_json")
                    body_params = {key: value for key, value in decoded.items() if key != "token"}
            elif media_type == "multipart/form-data":
                body_params = _parse_multipart(content_type, body)
                body_token = _as_str(body_params.pop("token", None))
            else:  # application/x-www-form-urlencoded (and urllib's default for raw data)
                body_params = dict(
                    urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                )
                body_token = _as_str(body_params.pop("token", None))
        params.update(body_params)
        return params, body_token

    # -- helpers for handlers --------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def _new_ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _register_user(self, user: _User) -> None:
        with self._lock:
            self._users[user.id] = user

    def _user_for_dm(self, channel: str) -> str | None:
        for user_id in self._users:
            if dm_channel_id(user_id) == channel:
                return user_id
        return None

    def _channel_exists(self, channel: str) -> bool:
        return (
            channel in self._channels or channel in self._opened_dms or self._user_for_dm(channel) is not None
        )

    def _resolve_channel(self, raw: Any, *, allow_user_ids: bool) -> str:
        """Return the channel id ``raw`` denotes, or raise ``channel_not_found``."""
        channel = _as_str(raw) or ""
        if not channel:
            raise _ApiError("channel_not_found")
        if channel[:1] in ("U", "W"):
            if allow_user_ids and channel in self._users and not self._users[channel].is_bot:
                return dm_channel_id(channel)
            raise _ApiError("channel_not_found")
        if channel.startswith("#"):
            for candidate in self._channels.values():
                if candidate.name == channel[1:]:
                    return candidate.id
            raise _ApiError("channel_not_found")
        if not self._channel_exists(channel):
            raise _ApiError("channel_not_found")
        return channel

    def _json_field(self, params: Mapping[str, Any], name: str, *, error: str) -> Any:
        """Decode a JSON-valued argument (JSON bodies carry it decoded, forms as a JSON string)."""
        value = params.get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise _ApiError(error) from exc
        return value

    def _message_content(self, params: Mapping[str, Any], *, for_update: bool = False) -> _JSON:
        """Validate text/blocks/attachments; returns only the fields present in ``params``."""
        content: _JSON = {}
        if "text" in params and params["text"] is not None:
            text = _as_str(params["text"]) or ""
            if len(text) > MAX_MESSAGE_TEXT:
                raise _ApiError("msg_too_long")
            content["text"] = text
        if "blocks" in params and params["blocks"] is not None:
            blocks = self._json_field(params, "blocks", error="invalid_blocks_format")
            if not isinstance(blocks, list):
                raise _ApiError("invalid_blocks_format")
            problems = block_problems(blocks, surface="message")
            if problems:
                raise _blocks_error(problems)
            content["blocks"] = self._with_block_ids(blocks)
        if "attachments" in params and params["attachments"] is not None:
            attachments = self._json_field(params, "attachments", error="invalid_attachments")
            if not isinstance(attachments, list):
                raise _ApiError("invalid_attachments")
            content["attachments"] = copy.deepcopy(attachments)
        if not for_update and not (
            content.get("text") or content.get("blocks") or content.get("attachments")
        ):
            raise _ApiError("no_text")
        return content

    def _with_block_ids(self, blocks: list[Any]) -> list[Any]:
        """Copy blocks, giving each one without a ``block_id`` a generated one (as Slack does)."""
        result = copy.deepcopy(blocks)
        for block in result:
            if isinstance(block, dict) and "block_id" not in block:
                block["block_id"] = secrets.token_urlsafe(4)[:5]
        return result

    def _bot_message(self, content: Mapping[str, Any], ts: str) -> _JSON:
        message: _JSON = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": content.get("text", ""),
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "deleted": False,
            },
        }
        for key in ("blocks", "attachments"):
            if key in content:
                message[key] = content[key]
        return message

    def _store_message(self, channel: str, message: _JSON) -> None:
        self._messages.setdefault(channel, []).append(message)
        self._messages[channel].sort(key=lambda m: float(m["ts"]))

    def _find_message(self, channel: str, ts: str) -> _JSON | None:
        for message in self._messages.get(channel, []):
            if message.get("ts") == ts:
                return message
        return None

    def _file_json(self, f: _File) -> _JSON:
        base = f"{self.root_url}/files-pri/{self.team_id}-{f.id}"
        quoted = urllib.parse.quote(f.name)
        extension = f.name.rsplit(".", 1)[-1].lower() if "." in f.name else "binary"
        data: _JSON = {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.name,
            "title": f.title,
            "mimetype": f.mimetype,
            "filetype": extension,
            "pretty_type": extension.upper(),
            "user": f.user,
            "user_team": self.team_id,
            "editable": False,
            "size": len(f.content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(f.channels),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base}/{quoted}",
            "url_private_download": f"{base}/download/{quoted}",
            "permalink": f"{self.root_url}/files/{f.user}/{f.id}/{quoted}",
            "permalink_public": f"{self.root_url}/T-{f.id}-public",
            "channels": list(f.channels),
            "groups": [],
            "ims": list(f.ims),
            "comments_count": 0,
            "has_rich_preview": False,
            "file_access": "visible",
        }
        if f.alt_txt is not None:
            data["alt_txt"] = f.alt_txt
        return data

    # -- Web API methods -------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> _JSON:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> _JSON:
        channel = self._resolve_channel(params.get("channel"), allow_user_ids=True)
        content = self._message_content(params)
        ts = self._new_ts()
        message = self._bot_message(content, ts)
        thread_ts = _as_str(params.get("thread_ts"))
        if thread_ts:
            message["thread_ts"] = thread_ts
        if isinstance(params.get("metadata"), dict):
            message["metadata"] = copy.deepcopy(params["metadata"])
        self._store_message(channel, message)
        return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_update(self, params: dict[str, Any]) -> _JSON:
        channel = self._resolve_channel(params.get("channel"), allow_user_ids=False)
        ts = _as_str(params.get("ts")) or ""
        message = self._find_message(channel, ts)
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _ApiError("cant_update_message")
        changes = self._message_content(params, for_update=True)
        if not changes:
            raise _ApiError("no_text")
        updated = copy.deepcopy(message)
        for key, value in changes.items():
            if key in ("blocks", "attachments") and not value:
                updated.pop(key, None)  # an empty array removes them
            else:
                updated[key] = value
        if not (updated.get("text") or updated.get("blocks") or updated.get("attachments")):
            raise _ApiError("no_text")
        updated["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        message.clear()
        message.update(updated)
        reply = {key: value for key, value in updated.items() if key != "ts"}
        return {"ok": True, "channel": channel, "ts": ts, "text": updated.get("text", ""), "message": reply}

    def _views_publish(self, params: dict[str, Any]) -> _JSON:
        user_id = _as_str(params.get("user_id")) or ""
        if user_id not in self._users:
            # approximation: the error code for an unknown user_id is not documented
            raise _ApiError(
                "invalid_arguments", extra={"response_metadata": {"messages": ["[ERROR] invalid user_id"]}}
            )
        view = self._json_field(params, "view", error="invalid_arguments")
        if not isinstance(view, dict):
            raise _ApiError(
                "invalid_arguments", extra={"response_metadata": {"messages": ["[ERROR] invalid view"]}}
            )
        if len(json.dumps(view).encode()) > MAX_VIEW_BYTES:
            raise _ApiError("view_too_large")
        problems: list[str] = []
        if view.get("type") != "home":
            problems.append("must be `home` for views.publish [json-pointer:/view/type]")
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            problems.append("must provide an array [json-pointer:/view/blocks]")
        else:
            checker = _Checker()
            checker.blocks(blocks, "/view/blocks", surface="home")
            problems.extend(checker.problems)
        if len(_as_str(view.get("private_metadata")) or "") > MAX_PRIVATE_METADATA:
            problems.append(
                f"must be less than {MAX_PRIVATE_METADATA + 1} characters"
                " [json-pointer:/view/private_metadata]"
            )
        if problems:
            raise _ApiError(
                "invalid_arguments",
                extra={"response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}},
            )
        previous = self._home_views.get(user_id)
        given_hash = _as_str(params.get("hash"))
        if given_hash and previous is not None and given_hash != previous["hash"]:
            raise _ApiError("hash_conflict")
        view_id = previous["id"] if previous is not None else self._new_id("V")
        published: _JSON = {
            "id": view_id,
            "team_id": self.team_id,
            "type": "home",
            "blocks": self._with_block_ids(blocks if isinstance(blocks, list) else []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{secrets.token_hex(4)}",
            "title": view.get("title", {"type": "plain_text", "text": "View Title"}),
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._home_views[user_id] = published
        return {"ok": True, "view": copy.deepcopy(published)}

    def _users_info(self, params: dict[str, Any]) -> _JSON:
        user = self._users.get(_as_str(params.get("user")) or "")
        if user is None:
            raise _ApiError("user_not_found")
        try:
            offset = datetime.now(ZoneInfo(user.tz)).utcoffset()
            label = datetime.now(ZoneInfo(user.tz)).tzname() or user.tz
        except ZoneInfoNotFoundError:
            offset, label = None, user.tz
        data: _JSON = {
            "id": user.id,
            "team_id": user.team_id,
            "name": user.name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_label": label,  # approximation: Slack uses long names ("Central European Time")
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": {
                "real_name": user.real_name,
                "real_name_normalized": user.real_name,
                "display_name": user.name,
                "display_name_normalized": user.name,
                "team": user.team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()),
        }
        if user.is_bot:
            data["profile"]["bot_id"] = self.bot_id
        if _truthy(params.get("include_locale")):
            data["locale"] = user.locale
        return {"ok": True, "user": data}

    def _conversations_open(self, params: dict[str, Any]) -> _JSON:
        users_param = _as_str(params.get("users"))
        channel_param = _as_str(params.get("channel"))
        if users_param:
            users = [u.strip() for u in users_param.split(",") if u.strip()]
            if len(users) > 8:
                raise _ApiError("too_many_users")
            for user_id in users:
                if user_id not in self._users:
                    raise _ApiError("user_not_found")
            if len(users) != 1:
                raise _ApiError("method_not_supported_for_channel_type")  # approximation: no MPIMs here
            user_id = users[0]
            channel = dm_channel_id(user_id)
        elif channel_param:
            user_for_dm = self._user_for_dm(channel_param)
            if user_for_dm is None:
                raise _ApiError("channel_not_found")
            user_id, channel = user_for_dm, channel_param
        else:
            raise _ApiError("users_list_not_supplied")
        already_open = channel in self._opened_dms
        self._opened_dms.add(channel)
        result: _JSON = {"ok": True, "channel": {"id": channel}}
        if already_open:
            result["no_op"] = True
            result["already_open"] = True
        if _truthy(params.get("return_im")):
            result["channel"].update(
                {
                    "created": int(time.time()),
                    "is_im": True,
                    "is_org_shared": False,
                    "user": user_id,
                    "is_user_deleted": False,
                    "priority": 0,
                }
            )
        return result

    def _files_info(self, params: dict[str, Any]) -> _JSON:
        f = self._files.get(_as_str(params.get("file")) or "")
        if f is None:
            raise _ApiError("file_not_found")
        return {
            "ok": True,
            "file": self._file_json(f),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> _JSON:
        filename = _as_str(params.get("filename"))
        length_raw = _as_str(params.get("length"))
        if not filename or length_raw is None:
            raise _ApiError("invalid_arguments")
        try:
            length = int(length_raw)
        except ValueError as exc:
            raise _ApiError("invalid_arguments") from exc
        if length <= 0:
            # documented: missing_argument 'typically only occurs when the length provided is 0'
            raise _ApiError("missing_argument")
        alt_txt = _as_str(params.get("alt_txt"))
        if alt_txt is not None and len(alt_txt) > 1000:
            raise _ApiError("alt_txt_too_large")
        file_id = self._new_id("F")
        key = secrets.token_urlsafe(16)
        self._uploads[file_id] = _PendingUpload(file_id, filename, length, alt_txt)
        self._upload_keys[key] = file_id
        return {"ok": True, "upload_url": f"{self.root_url}/upload/v1/{key}", "file_id": file_id}

    def _files_complete_upload_external(self, params: dict[str, Any]) -> _JSON:
        items = self._json_field(params, "files", error="invalid_arguments")
        if not isinstance(items, list) or not items:
            raise _ApiError("invalid_arguments")
        pending: list[tuple[_PendingUpload, str | None]] = []
        for item in items:
            if not isinstance(item, dict):
                raise _ApiError("invalid_arguments")
            upload = self._uploads.get(_as_str(item.get("id")) or "")
            if upload is None or upload.data is None:
                raise _ApiError("file_not_found")
            pending.append((upload, _as_str(item.get("title"))))
        targets: list[str] = []
        channel_id = _as_str(params.get("channel_id"))
        if channel_id:
            targets.append(self._resolve_channel(channel_id, allow_user_ids=False))
        for raw in (_as_str(params.get("channels")) or "").split(","):
            if raw.strip():
                targets.append(self._resolve_channel(raw.strip(), allow_user_ids=True))
        thread_ts = _as_str(params.get("thread_ts"))
        if thread_ts and len(targets) != 1:
            raise _ApiError("invalid_arguments")
        comment = _as_str(params.get("initial_comment"))
        if comment is not None and len(comment) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        created: list[_File] = []
        for upload, title in pending:
            del self._uploads[upload.file_id]
            f = _File(
                id=upload.file_id,
                name=upload.filename,
                title=title or upload.filename,
                mimetype=mimetypes.guess_type(upload.filename)[0] or "application/octet-stream",
                content=upload.data or b"",
                user=self.bot_user_id,
                created=int(time.time()),
                alt_txt=upload.alt_txt,
            )
            for target in targets:
                (f.ims if target.startswith("D") else f.channels).append(target)
            self._files[f.id] = f
            created.append(f)
        for target in targets:
            message = self._bot_message({"text": comment or ""}, self._new_ts())
            message.update(
                {"files": [self._file_json(f) for f in created], "upload": True, "display_as_bot": False}
            )
            if thread_ts:
                message["thread_ts"] = thread_ts
            self._store_message(target, message)
        return {"ok": True, "files": [self._file_json(f) for f in created]}

    # -- non-API routes ----------------------------------------------------------------------------

    def _download(self, path: str, headers: Mapping[str, str]) -> _Reply:
        # /files-pri/{team}-{file_id}/{name}  or  /files-pri/{team}-{file_id}/download/{name}
        parts = path.split("/")
        owner = parts[2] if len(parts) > 3 else ""
        file_id = owner.split("-", 1)[1] if "-" in owner else ""
        f = self._files.get(file_id)
        token = _bearer(headers)
        authorized = token is not None and hmac.compare_digest(token, self.token)
        if not authorized:
            self._rejected_downloads += 1
            self._record("file_download", {"file": file_id, "path": path}, status=302, error="not_authed")
            # Slack sends unauthenticated (or wrongly authenticated) file requests to its sign-in page
            redirect = f"{self.root_url}/signin?redir={urllib.parse.quote(path)}"
            return _Reply(302, b"", "text/html; charset=utf-8", {"Location": redirect})
        if f is None:
            self._record("file_download", {"file": file_id, "path": path}, status=404, error="file_not_found")
            return _Reply(404, b"file not found", "text/plain; charset=utf-8")
        self._record("file_download", {"file": file_id, "path": path})
        disposition = "attachment" if "/download/" in path else "inline"
        return _Reply(
            200,
            f.content,
            f.mimetype,
            {"Content-Disposition": f'{disposition}; filename="{urllib.parse.quote(f.name)}"'},
        )

    def _upload(self, key: str, http_method: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        file_id = self._upload_keys.get(key)
        upload = self._uploads.get(file_id or "")
        if http_method != "POST":
            return _Reply(405, b"method not allowed", "text/plain; charset=utf-8")
        if upload is None:
            self._record("file_upload", {"key": key}, status=404, error="upload_url_not_found")
            return _Reply(404, b"not found", "text/plain; charset=utf-8")
        content_type = headers.get("Content-Type") or headers.get("content-type") or ""
        data = body
        if content_type.lower().startswith("multipart/form-data"):
            fields = _parse_multipart(content_type, body)
            file_parts = [value for value in fields.values() if isinstance(value, bytes)]
            data = file_parts[0] if file_parts else b""
        upload.data = data
        self._record(
            "file_upload", {"file_id": upload.file_id, "size": len(data), "declared_length": upload.length}
        )
        return _Reply(200, f"OK - {len(data)}".encode(), "text/plain; charset=utf-8")

    def _response_url(self, path: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        key = path.split("/", 3)[3] if path.count("/") >= 3 else ""
        target = self._response_urls.get(key)
        if target is None:
            self._record("response_url", {"path": path}, status=404, error="expired_url")
            return _Reply(404, b"expired_url", "text/plain; charset=utf-8")
        try:
            payload = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        if not isinstance(payload, dict):
            self._record("response_url", {"path": path}, status=400, error="invalid_payload")
            return _Reply(400, b"invalid_payload", "text/plain; charset=utf-8")
        try:
            if _truthy(payload.get("delete_original")):
                content: _JSON = {}
            else:
                content = self._message_content(payload)
        except _ApiError as err:
            self._record("response_url", payload, status=400, error=err.code)
            return _Reply(400, err.code.encode(), "text/plain; charset=utf-8")
        channel = target.channel_id
        if _truthy(payload.get("delete_original")) or _truthy(payload.get("replace_original")):
            original = self._find_message(channel, target.message_ts or "")
            if original is None:
                self._record("response_url", payload, status=404, error="message_not_found")
                return _Reply(404, b"message_not_found", "text/plain; charset=utf-8")
            if _truthy(payload.get("delete_original")):
                self._messages[channel].remove(original)
            else:
                original.pop("blocks", None)
                original.pop("attachments", None)
                original.update(content)
                original["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        elif payload.get("response_type") == "in_channel":
            self._store_message(channel, self._bot_message(content, self._new_ts()))
        else:
            message = self._bot_message(content, self._new_ts())
            message["user"] = target.user_id
            self._ephemeral.setdefault(channel, []).append(message)
        self._record("response_url", payload)
        # approximation: the body of a response_url answer is not part of the documented contract
        return _Reply.json({"ok": True})


# --------------------------------------------------------------------------------------------------
# Playing Slack towards the bot


class SlackEventsClient:
    """Sends signed requests to a Bolt HTTP endpoint exactly as Slack does.

    ``url`` is the bot's request URL (Bolt's default path is ``/slack/events``).  Pass the running
    ``api`` (a :class:`FakeSlackAPI`) to have response URLs served by the fake and ``send_action`` fill in
    the real message, button text and ``block_id``; ids default to the fake's team/app/bot.
    Every ``send_*`` returns ``(HTTP status, response body text)``.
    """

    def __init__(
        self,
        url: str,
        signing_secret: str,
        *,
        api: FakeSlackAPI | None = None,
        api_app_id: str | None = None,
        bot_user_id: str | None = None,
        team_id: str | None = None,
        team_domain: str = "fake-team",
        verification_token: str = DEFAULT_VERIFICATION_TOKEN,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.api = api
        self.api_app_id = api_app_id or (api.app_id if api else DEFAULT_APP_ID)
        self.bot_user_id = bot_user_id or (api.bot_user_id if api else DEFAULT_BOT_USER_ID)
        self.team_id = team_id or (api.team_id if api else DEFAULT_TEAM_ID)
        self.team_domain = team_domain
        self.verification_token = verification_token
        self.timeout = timeout
        self.last_event_id: str | None = None
        self._last_ts = 0.0

    # -- builders ----------------------------------------------------------------------------------

    def _ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def message_event(
        self,
        user_id: str,
        text: str,
        *,
        channel: str | None = None,
        files: list[_JSON] | None = None,
        thread_ts: str | None = None,
        team_id: str | None = None,
        channel_type: str = "im",
    ) -> _JSON:
        """A ``message`` event from ``user_id`` in the app's DM (``channel_type: "im"``).

        ``channel`` defaults to the DM channel the fake uses for that user; with ``files`` (Slack file
        objects, e.g. from :meth:`FakeSlackAPI.file_object`) the event gets ``subtype: "file_share"``.
        A message in a channel (``message.channels``) has ``channel_type: "channel"``; a reply in a
        thread carries the parent's ``thread_ts``.
        """
        ts = self._ts()
        event: _JSON = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel": channel or dm_channel_id(user_id),
            "channel_type": channel_type,
            "team": team_id or self.team_id,
            "client_msg_id": secrets.token_hex(16),
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": secrets.token_urlsafe(4)[:5],
                    "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
                }
            ]
            if text
            else [],
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        if files:
            event["subtype"] = "file_share"
            event["files"] = copy.deepcopy(files)
            event["upload"] = False
            event["display_as_bot"] = False
        return event

    # -- senders -----------------------------------------------------------------------------------

    def send_event(
        self,
        event: Mapping[str, Any],
        *,
        team_id: str | None = None,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """POST an Events API ``event_callback`` envelope around ``event``.

        ``retry_num`` adds ``X-Slack-Retry-Num`` and ``X-Slack-Retry-Reason`` (default ``http_timeout``);
        reuse ``event_id`` (see :attr:`last_event_id`) to imitate Slack's redelivery of the same event.
        """
        team = team_id or self.team_id
        self.last_event_id = event_id or "Ev" + secrets.token_hex(5).upper()
        envelope: _JSON = {
            "token": self.verification_token,
            "team_id": team,
            "context_team_id": team,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": self.last_event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_urlsafe(24),
        }
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra["X-Slack-Retry-Num"] = str(retry_num)
            extra["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        elif retry_reason is not None:
            extra["X-Slack-Retry-Reason"] = retry_reason
        return self._post(
            json.dumps(envelope).encode(),
            "application/json",
            timestamp=timestamp,
            bad_signature=bad_signature,
            extra_headers=extra,
        )

    def url_verification(self, challenge: str, *, bad_signature: bool = False) -> tuple[int, str]:
        """POST the ``url_verification`` handshake Slack sends when the request URL is configured."""
        body = {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        return self._post(json.dumps(body).encode(), "application/json", bad_signature=bad_signature)

    def send_command(
        self,
        command: str = "/assess",
        text: str = "",
        *,
        user_id: str = DEFAULT_USER_ID,
        team_id: str | None = None,
        channel_id: str | None = None,
        user_name: str | None = None,
        channel_name: str | None = None,
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """POST a slash command, form-encoded as Slack sends it (defaults: in the user's DM with the app)."""
        channel = channel_id or dm_channel_id(user_id)
        team = team_id or self.team_id
        fields = {
            "token": self.verification_token,
            "team_id": team,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": channel_name or ("directmessage" if channel.startswith("D") else channel.lower()),
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url("commands", channel, user_id, None),
            "trigger_id": self._trigger_id(),
        }
        return self._post(
            urllib.parse.urlencode(fields).encode(),
            "application/x-www-form-urlencoded",
            timestamp=timestamp,
            bad_signature=bad_signature,
        )

    def send_action(
        self,
        user_id: str,
        action_id: str,
        value: str,
        *,
        channel_id: str,
        message_ts: str,
        block_id: str | None = None,
        team_id: str | None = None,
        message: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """POST a ``block_actions`` payload for a button click on the message at ``message_ts``.

        With an attached ``api`` the message is taken from the fake (a click on a message or button that does
        not exist raises ``LookupError``: Slack cannot send such a click); otherwise pass ``message``.
        """
        team = team_id or self.team_id
        button_text = value
        if self.api is not None and message is None:
            found = next(
                (m for m in self.api.channel_messages(channel_id) if m.get("ts") == message_ts),
                None,
            )
            if found is None:
                raise LookupError(f"no message {message_ts} in {channel_id}")
            message = found
            element = self._find_action(found, action_id)
            if element is None:
                raise LookupError(f"message {message_ts} has no element with action_id {action_id!r}")
            block_id = block_id or element[0]
            text_obj = element[1].get("text")
            if isinstance(text_obj, dict) and isinstance(text_obj.get("text"), str):
                button_text = text_obj["text"]
        msg: _JSON = (
            dict(message) if message is not None else {"type": "message", "ts": message_ts, "text": ""}
        )
        action_ts = self._ts()
        payload: _JSON = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team},
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": self._trigger_id(),
            "team": {"id": team, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {
                "id": channel_id,
                "name": "directmessage" if channel_id.startswith("D") else channel_id,
            },
            "message": msg,
            "state": {"values": {}},
            "response_url": self._response_url("actions", channel_id, user_id, message_ts),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id or "fakeblk",
                    "text": {"type": "plain_text", "text": button_text, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": action_ts,
                }
            ],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._post(
            body, "application/x-www-form-urlencoded", timestamp=timestamp, bad_signature=bad_signature
        )

    # -- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _find_action(message: Mapping[str, Any], action_id: str) -> tuple[str, _JSON] | None:
        for block in message.get("blocks") or []:
            if not isinstance(block, dict):
                continue
            candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
            if isinstance(block.get("accessory"), dict):
                candidates.append(block["accessory"])
            for element in candidates:
                if isinstance(element, dict) and element.get("action_id") == action_id:
                    return str(block.get("block_id", "")), element
        return None

    @staticmethod
    def _trigger_id() -> str:
        return f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"

    def _response_url(self, kind: str, channel_id: str, user_id: str, message_ts: str | None) -> str:
        if self.api is not None:
            return self.api.new_response_url(channel_id, user_id, kind=kind, message_ts=message_ts)
        return f"https://hooks.slack.com/{kind}/{self.team_id}/{secrets.randbelow(10**12)}/{secrets.token_hex(12)}"

    def _post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        bad_signature: bool = False,
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[int, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        secret = self.signing_secret + ("-wrong" if bad_signature else "")
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign_request(secret, ts, body),
            **dict(extra_headers or {}),
        }
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {self.url}")
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return int(err.code), err.read().decode("utf-8", "replace")
