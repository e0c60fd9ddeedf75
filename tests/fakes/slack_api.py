"""A small, strict fake of the part of Slack's Web API assessbot uses, and a client that plays Slack
towards the bot's Bolt app.

* :class:`FakeSlackAPI` answers the Web API methods the bot calls (``auth.test``, ``chat.postMessage``,
  ``chat.update``, ``views.publish``, ``users.info``, ``conversations.open``, ``files.info`` and the two
  steps of ``files_upload_v2``), hosts files, and serves ``response_url``\\ s. Point
  ``WebClient(token=fake.token, base_url=fake.base_url)`` at it. It records every call, keeps each
  channel's messages as they look now, the latest Home tab per user, and can answer HTTP 429s.
* :class:`SlackEventsClient` posts Events API callbacks, slash commands and ``block_actions`` to the
  bot, signed as Slack signs them (``v0=HMAC_SHA256(secret, "v0:{ts}:{body}")``).

It is never more lenient than Slack on what the bot does: Slack's documented error codes
(``not_authed``, ``invalid_auth``, ``unknown_method``, ``channel_not_found``, ``no_text``,
``msg_too_long``, ``invalid_blocks``, ``message_not_found``, ``user_not_found``...) and Block Kit's
limits for the blocks the bot sends. Contract details modelled on purpose:

* The token goes in ``Authorization: Bearer`` or as a form field; not inside a JSON body nor in the
  query string (refused for apps created after 2021-02-24). ``users.info`` takes no JSON body.
* ``chat.postMessage`` takes a user id as ``channel`` and posts into the app's DM (``D...``);
  ``chat.update`` needs that ``D...`` id ("ensure that this value is a DM ID").
* ``url_private_download`` needs the bot token; without it Slack redirects (302) to its sign-in page,
  which answers 200 with HTML.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import mimetypes
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from tests.fakes.http_fake import Answer, Call, FakeService, Refused, Window, parse_body

__all__ = ["Call", "FakeSlackAPI", "SlackEventsClient", "block_problems", "dm_channel_id", "sign_request"]

DEFAULT_TOKEN: Final = "xoxb-0000000000-fake-bot-token"
DEFAULT_USER_ID: Final = "U0USER"
VERIFICATION_TOKEN: Final = "fake-verification-token"  # the deprecated per-app token in payloads

# Block Kit and message limits (docs.slack.dev/reference/block-kit, chat.postMessage).
MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_ACTIONS_ELEMENTS: Final = 25
MAX_SECTION_TEXT: Final = 3000
MAX_BUTTON_TEXT: Final = 75
MAX_BUTTON_VALUE: Final = 2000
MAX_ID: Final = 255  # block_id and action_id
MAX_MESSAGE_TEXT: Final = 40000
MAX_VIEW_BYTES: Final = 250_000
FORM_ONLY_METHODS: Final = frozenset({"users.info"})  # documented content types exclude JSON

JsonDict = dict[str, Any]


def dm_channel_id(user_id: str) -> str:
    """The (stable, opaque) id of the app's DM channel with `user_id`, e.g. ``"D1A2B3C4D5E"``."""
    return "D" + hashlib.sha256(user_id.encode()).hexdigest()[:10].upper()


def sign_request(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's ``X-Slack-Signature``: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------------------ Block Kit


class _Checker:
    """Block Kit problems in Slack's wording, ``"must be ... [json-pointer:/blocks/0/text]"``, for
    the blocks the bot sends: sections of text and actions of buttons. Other block and element types
    are refused, so a change in the bot's rendering meets a fake that knows the rules it needs."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{message} [json-pointer:{path}]")

    def length(self, value: Any, path: str, max_len: int) -> None:
        if not isinstance(value, str):
            self.add(path, "must provide a string")
        elif not value:
            self.add(path, "must be more than 0 characters")
        elif len(value) > max_len:
            self.add(path, f"must be less than {max_len + 1} characters")

    def text(self, obj: Any, path: str, max_len: int, kinds: tuple[str, ...]) -> None:
        if not isinstance(obj, dict):
            self.add(path, "must provide an object")
            return
        if obj.get("type") not in kinds:
            self.add(f"{path}/type", "must be one of " + ", ".join(kinds))
        self.length(obj.get("text"), f"{path}/text", max_len)

    def unique_id(self, block: Mapping[str, Any], key: str, path: str, seen: set[str]) -> None:
        if key in block:
            self.length(block[key], f"{path}/{key}", MAX_ID)
            if str(block[key]) in seen:
                self.add(f"{path}/{key}", f"duplicate {key}")
            seen.add(str(block[key]))

    def button(self, element: Any, path: str, action_ids: set[str]) -> None:
        if not isinstance(element, dict) or element.get("type") != "button":
            self.add(f"{path}/type", "unsupported element type (this fake knows buttons)")
            return
        self.unique_id(element, "action_id", path, action_ids)
        self.text(element.get("text"), f"{path}/text", MAX_BUTTON_TEXT, ("plain_text",))
        if "value" in element:
            self.length(element["value"], f"{path}/value", MAX_BUTTON_VALUE)

    def blocks(self, blocks: list[Any], root: str, max_blocks: int) -> None:
        if len(blocks) > max_blocks:
            self.add(root, f"must be less than {max_blocks + 1} items")
        block_ids: set[str] = set()
        for index, block in enumerate(blocks):
            path = f"{root}/{index}"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind not in ("section", "actions") or not isinstance(block, dict):
                self.add(f"{path}/type", f"unsupported type `{kind}` (this fake knows section, actions)")
                continue
            self.unique_id(block, "block_id", path, block_ids)
            if kind == "section":
                self.text(block.get("text"), f"{path}/text", MAX_SECTION_TEXT, ("plain_text", "mrkdwn"))
                continue
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add(f"{path}/elements", "must provide a non-empty array")
                continue
            if len(elements) > MAX_ACTIONS_ELEMENTS:
                self.add(f"{path}/elements", f"must be less than {MAX_ACTIONS_ELEMENTS + 1} items")
            action_ids: set[str] = set()
            for i, element in enumerate(elements):
                self.button(element, f"{path}/elements/{i}", action_ids)


def block_problems(blocks: Any, *, surface: str = "message") -> list[str]:
    """The Block Kit problems the fake finds in `blocks` (empty: acceptable); `surface` is
    ``"message"`` (at most 50 blocks) or ``"home"`` (100)."""
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.add("/blocks", "must provide an array")
    else:
        checker.blocks(blocks, "/blocks", MAX_MESSAGE_BLOCKS if surface == "message" else MAX_VIEW_BLOCKS)
    return checker.problems


# ------------------------------------------------------------------------------------------ the fake


def _error(code: str, status: int = 200, **extra: Any) -> Refused:
    return Refused(status, {"ok": False, "error": code, **extra})


def _invalid(problems: list[str], code: str) -> Refused:
    return _error(code, errors=problems, response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true")


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


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
class _File:
    id: str
    name: str
    title: str
    content: bytes
    user: str
    created: int = field(default_factory=lambda: int(time.time()))
    channels: list[str] = field(default_factory=list)

    @property
    def mimetype(self) -> str:
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"


class FakeSlackAPI(FakeService):
    """Fake Slack Web API and file host on 127.0.0.1 (see the module docstring for the contract)::

    with FakeSlackAPI() as fake:
        fake.add_user("U123")
        WebClient(token=fake.token, base_url=fake.base_url).chat_postMessage(channel="U123", text="hi")
        assert fake.channel_messages(fake.dm_channel("U123"))[0]["text"] == "hi"
    """

    server_name = "fake-slack-api"

    def __init__(self, *, token: str = DEFAULT_TOKEN, team_id: str = "T0TEAM") -> None:
        super().__init__()
        self.token = token
        self.team_id = team_id
        self.bot_user_id, self.bot_id, self.app_id, self.bot_name = "U0BOT", "B0BOT", "A0APP", "assessbot"
        self.rejected_downloads = 0  # file downloads redirected to the sign-in page
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._users: dict[str, _User] = {}
        self._channels: set[str] = set()
        self._opened_dms: set[str] = set()
        self._dms: dict[str, str] = {}  # DM channel -> user
        self._messages: dict[str, list[JsonDict]] = {}
        self._ephemeral: dict[str, list[JsonDict]] = {}
        self._home_views: dict[str, JsonDict] = {}
        self._files: dict[str, _File] = {}
        self._uploads: dict[str, tuple[str, str, bytes | None]] = {}  # key -> file id, name, data
        self._response_urls: dict[str, tuple[str, str]] = {}  # key -> channel, user
        self._overall_limit: Window | None = None
        self._channel_limit: Window | None = None
        self._handlers: dict[str, Callable[[JsonDict], JsonDict]] = {
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
        bot = _User(self.bot_user_id, team_id, self.bot_name, self.bot_name, "UTC", "en-US", is_bot=True)
        self._users[bot.id] = bot

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}/api/`` for ``WebClient(base_url=...)``."""
        return f"{self.root_url}/api/"

    # -- test set-up ---------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        locale: str = "sv-SE",
        real_name: str | None = None,
        tz: str = "Europe/Stockholm",
        team_id: str | None = None,
    ) -> None:
        """A workspace member (``users.info``, DMs and ``views.publish`` need one)."""
        with self._lock:
            name = user_id.lower()
            self._users[user_id] = _User(
                user_id, team_id or self.team_id, name, real_name or name, tz, locale
            )
            self._dms[dm_channel_id(user_id)] = user_id

    def add_channel(self, channel_id: str) -> None:
        """A channel the bot is in (a workshop's)."""
        with self._lock:
            self._channels.add(channel_id)

    def add_file(self, name: str, content: bytes, *, user: str) -> str:
        """Host a file a person uploaded (one the bot must fetch); returns its ``F...`` id."""
        with self._lock:
            file = _File(self._new_id("F"), name, name, bytes(content), user)
            self._files[file.id] = file
            return file.id

    def dm_channel(self, user_id: str) -> str:
        return dm_channel_id(user_id)

    def new_response_url(self, channel_id: str, user_id: str, kind: str) -> str:
        """A ``response_url`` served by this fake (for :class:`SlackEventsClient`)."""
        with self._lock:
            key = f"{self.team_id}/{next(self._ids)}/{secrets.token_hex(12)}"
            self._response_urls[key] = (channel_id, user_id)
        return f"{self.root_url}/hooks/{kind}/{key}"

    def rate_limit(
        self, per_channel_per_second: float | None = None, overall_per_second: float | None = None
    ) -> None:
        """Sliding-window rates (429 with ``Retry-After: 1``; ``None`` disables one): per channel for
        ``chat.postMessage`` and ``chat.update``, overall for every authenticated call. Refused calls
        do not use up the window."""
        with self._lock:
            self._channel_limit = Window(per_channel_per_second) if per_channel_per_second else None
            self._overall_limit = Window(overall_per_second) if overall_per_second else None

    # -- inspection ----------------------------------------------------------------------------

    def channel_messages(self, channel: str) -> list[JsonDict]:
        """The channel's messages in ``ts`` order, as they look now (after ``chat.update``)."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def ephemeral_messages(self, channel: str) -> list[JsonDict]:
        """Ephemeral messages shown in `channel` (each has ``"user"``: the one who saw it)."""
        with self._lock:
            return copy.deepcopy(self._ephemeral.get(channel, []))

    def home_view(self, user_id: str) -> JsonDict | None:
        """The latest Home tab published for `user_id`."""
        with self._lock:
            return copy.deepcopy(self._home_views.get(user_id))

    def file_object(self, file_id: str) -> JsonDict:
        """Slack's file object for a hosted file (what ``files.info`` and message events carry)."""
        with self._lock:
            return self._file_json(self._files[file_id])

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self._files[file_id].content

    # -- routing -------------------------------------------------------------------------------

    def _rate_limited(self, retry_after: int) -> Refused:
        return Refused(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    def _route(self, verb: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        path, _, query = raw_path.partition("?")
        with self._lock:
            if path.startswith("/api/"):
                return self._api(path.removeprefix("/api/"), headers, query, body)
            if path.startswith("/files-pri/") and verb == "GET":
                return self._download(path, headers)
            if path.startswith("/upload/v1/") and verb == "POST":
                return self._upload(path.removeprefix("/upload/v1/"), body)
            if path.startswith("/hooks/") and verb == "POST":
                return self._response_url(path, body)
            if path == "/signin":
                page = b"<!DOCTYPE html><html><body><h1>Sign in to Slack</h1></body></html>"
                return Answer(200, page, "text/html; charset=utf-8")
            return Answer(404, b"not found", "text/plain; charset=utf-8")

    def _record(
        self, method: str, params: Mapping[str, Any], *, status: int = 200, error: str | None = None
    ) -> None:
        response = {"ok": False, "error": error} if error else {}
        self._keep(Call(method, dict(params), time.time(), status, response))

    def _api(self, method: str, headers: Mapping[str, str], query: str, body: bytes) -> Answer:
        params: JsonDict = {}
        try:
            handler = self._handlers.get(method)
            if handler is None:
                raise _error("unknown_method", req_method=method)
            params, body_token = self._params(method, headers, query, body)
            token = _bearer(headers) or body_token
            if not token:
                raise _error("not_authed")
            if not hmac.compare_digest(token, self.token):
                raise _error("invalid_auth")
            self._check_rate(method, params)
            result = handler(params)
        except Refused as refused:
            self._record(method, params, status=refused.status, error=str(refused.body["error"]))
            return refused.answer()
        self._record(method, params)
        return Answer.json(result)

    def _check_rate(self, method: str, params: Mapping[str, Any]) -> None:
        fault = self._take_fault(method)
        if fault is not None:
            raise fault
        now = time.monotonic()
        channel = str(params.get("channel") or "")
        channel = dm_channel_id(channel) if channel[:1] in ("U", "W") else channel
        limits = [(self._overall_limit, "*")]
        if method in ("chat.postMessage", "chat.update") and channel:
            limits.append((self._channel_limit, channel))
        active = [(window, key) for window, key in limits if window is not None]
        if any(window.wait(key, now) is not None for window, key in active):
            raise self._rate_limited(1)
        for window, key in active:
            window.hit(key, now)

    def _params(
        self, method: str, headers: Mapping[str, str], query: str, body: bytes
    ) -> tuple[JsonDict, str | None]:
        """Query-string and body parameters as Slack reads them, and the token of a form body."""
        params: JsonDict = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        params.pop("token", None)  # query-string tokens are refused for apps created after Feb 2021
        content_type = headers.get("content-type", "")
        is_json = content_type.split(";", 1)[0].strip().lower() == "application/json"
        if is_json and method in FORM_ONLY_METHODS:
            return params, None  # Slack ignores such a body
        try:
            fields, _ = parse_body(content_type, body)
        except (UnicodeDecodeError, ValueError) as exc:  # approximation: the error code
            raise _error("invalid_json") from exc
        token = fields.pop("token", None)
        params.update(fields)
        return params, None if is_json else token  # a token inside JSON is not read

    # -- helpers -------------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def _new_ts(self) -> str:
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def _channel(self, raw: Any, *, allow_user_ids: bool) -> str:
        """The channel `raw` denotes, or ``channel_not_found``."""
        channel = str(raw or "")
        user = self._users.get(channel)
        if channel[:1] in ("U", "W") and allow_user_ids and user is not None and not user.is_bot:
            return dm_channel_id(channel)
        if channel in self._channels or channel in self._opened_dms or channel in self._dms:
            return channel
        raise _error("channel_not_found")

    def _blocks(self, params: Mapping[str, Any], name: str, error: str) -> Any:
        """A JSON argument: decoded in a JSON body, a JSON string in a form."""
        value = params.get(name)
        try:
            return json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as exc:
            raise _error(error) from exc

    def _content(self, params: Mapping[str, Any], *, for_update: bool = False) -> JsonDict:
        """Validated text and blocks: only the fields present in `params`."""
        content: JsonDict = {}
        if params.get("text") is not None:
            content["text"] = str(params["text"])
            if len(content["text"]) > MAX_MESSAGE_TEXT:
                raise _error("msg_too_long")
        if params.get("blocks") is not None:
            blocks = self._blocks(params, "blocks", "invalid_blocks_format")
            if not isinstance(blocks, list):
                raise _error("invalid_blocks_format")
            if problems := block_problems(blocks):
                raise _invalid(problems, "invalid_blocks")
            content["blocks"] = self._with_block_ids(blocks)
        if not for_update and not (content.get("text") or content.get("blocks")):
            raise _error("no_text")
        return content

    @staticmethod
    def _with_block_ids(blocks: list[Any]) -> list[Any]:
        """A copy in which every block has a ``block_id`` (Slack makes one up when missing)."""
        return [{"block_id": secrets.token_urlsafe(4)[:5], **block} for block in copy.deepcopy(blocks)]

    def _post(self, channel: str, content: Mapping[str, Any], **extra: Any) -> JsonDict:
        message = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id}
        message.update({"text": "", **content, "ts": self._new_ts(), "team": self.team_id, **extra})
        self._messages.setdefault(channel, []).append(message)
        return message

    def _message(self, channel: str, ts: str) -> JsonDict | None:
        return next((m for m in self._messages.get(channel, []) if m.get("ts") == ts), None)

    def _file_json(self, f: _File) -> JsonDict:
        base = f"{self.root_url}/files-pri/{self.team_id}-{f.id}"
        quoted = urllib.parse.quote(f.name)
        return {
            "id": f.id,
            "created": f.created,
            "name": f.name,
            "title": f.title,
            "mimetype": f.mimetype,
            "user": f.user,
            "size": len(f.content),
            "url_private": f"{base}/{quoted}",
            "url_private_download": f"{base}/download/{quoted}",
            "channels": [c for c in f.channels if not c.startswith("D")],
            "ims": [c for c in f.channels if c.startswith("D")],
        }

    # -- Web API methods -----------------------------------------------------------------------

    def _auth_test(self, params: JsonDict) -> JsonDict:
        return {
            "ok": True,
            "url": "https://fake-team.slack.com/",
            "team": "Fake Team",
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params.get("channel"), allow_user_ids=True)
        thread = {"thread_ts": str(params["thread_ts"])} if params.get("thread_ts") else {}
        message = self._post(channel, self._content(params), **thread)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params.get("channel"), allow_user_ids=False)
        ts = str(params.get("ts") or "")
        message = self._message(channel, ts)
        if message is None:
            raise _error("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _error("cant_update_message")
        updated = {**message, **self._content(params, for_update=True)}
        if not updated.get("blocks"):
            updated.pop("blocks", None)  # an empty array removes them
        if not (updated.get("text") or updated.get("blocks")):
            raise _error("no_text")
        updated["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        message.clear()
        message.update(updated)
        reply = {key: value for key, value in updated.items() if key != "ts"}
        return {"ok": True, "channel": channel, "ts": ts, "text": updated["text"], "message": reply}

    def _views_publish(self, params: JsonDict) -> JsonDict:
        user_id = str(params.get("user_id") or "")
        view = self._blocks(params, "view", "invalid_arguments")
        problems = [] if user_id in self._users else ["invalid user_id"]  # approximation: the code
        if not isinstance(view, dict):
            raise _invalid(["must provide an object [json-pointer:/view]"], "invalid_arguments")
        if len(json.dumps(view).encode()) > MAX_VIEW_BYTES:
            raise _error("view_too_large")
        if view.get("type") != "home":
            problems.append("must be `home` for views.publish [json-pointer:/view/type]")
        checker = _Checker()
        checker.blocks(view.get("blocks") or [], "/view/blocks", MAX_VIEW_BLOCKS)
        if problems := problems + checker.problems:
            raise _invalid(problems, "invalid_arguments")
        previous = self._home_views.get(user_id)
        blocks = self._with_block_ids(view.get("blocks") or [])
        published = {
            "id": previous["id"] if previous else self._new_id("V"),
            "type": "home",
            "blocks": blocks,
        }
        self._home_views[user_id] = published
        return {"ok": True, "view": copy.deepcopy(published)}

    def _users_info(self, params: JsonDict) -> JsonDict:
        user = self._users.get(str(params.get("user") or ""))
        if user is None:
            raise _error("user_not_found")
        offset = datetime.now(ZoneInfo(user.tz)).utcoffset()
        data: JsonDict = {
            "id": user.id,
            "team_id": user.team_id,
            "name": user.name,
            "deleted": False,
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": {"real_name": user.real_name, "display_name": user.name, "team": user.team_id},
            "is_bot": user.is_bot,
        }
        if _truthy(params.get("include_locale")):
            data["locale"] = user.locale
        return {"ok": True, "user": data}

    def _conversations_open(self, params: JsonDict) -> JsonDict:
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise _error("users_list_not_supplied")
        if any(user not in self._users for user in users):
            raise _error("user_not_found")
        if len(users) != 1:
            raise _error("method_not_supported_for_channel_type")  # approximation: no group DMs here
        channel = dm_channel_id(users[0])
        result: JsonDict = {"ok": True, "channel": {"id": channel}}
        if channel in self._opened_dms:
            result.update(no_op=True, already_open=True)
        self._opened_dms.add(channel)
        return result

    def _files_info(self, params: JsonDict) -> JsonDict:
        f = self._files.get(str(params.get("file") or ""))
        if f is None:
            raise _error("file_not_found")
        return {"ok": True, "file": self._file_json(f), "comments": []}

    def _files_get_upload_url_external(self, params: JsonDict) -> JsonDict:
        filename, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not filename or not length.isdigit():
            raise _error("invalid_arguments")
        if int(length) <= 0:  # documented: 'typically only occurs when the length provided is 0'
            raise _error("missing_argument")
        file_id, key = self._new_id("F"), secrets.token_urlsafe(16)
        self._uploads[key] = (file_id, filename, None)
        return {"ok": True, "upload_url": f"{self.root_url}/upload/v1/{key}", "file_id": file_id}

    def _files_complete_upload_external(self, params: JsonDict) -> JsonDict:
        items = self._blocks(params, "files", "invalid_arguments")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise _error("invalid_arguments")
        uploaded = {file_id: (key, name, data) for key, (file_id, name, data) in self._uploads.items()}
        if any(uploaded.get(str(item.get("id")), ("", "", None))[2] is None for item in items):
            raise _error("file_not_found")
        channel = (
            self._channel(params["channel_id"], allow_user_ids=False) if params.get("channel_id") else ""
        )
        created = []
        for item in items:
            key, name, data = uploaded[str(item["id"])]
            del self._uploads[key]
            f = _File(str(item["id"]), name, str(item.get("title") or name), data or b"", self.bot_user_id)
            f.channels = [channel] if channel else []
            self._files[f.id] = f
            created.append(f)
        if channel:
            self._post(channel, {}, files=[self._file_json(f) for f in created], upload=True)
        return {"ok": True, "files": [self._file_json(f) for f in created]}

    # -- files and response URLs ---------------------------------------------------------------

    def _download(self, path: str, headers: Mapping[str, str]) -> Answer:
        # /files-pri/{team}-{file_id}/{name}  or  /files-pri/{team}-{file_id}/download/{name}
        file_id = path.split("/")[2].partition("-")[2] if path.count("/") >= 3 else ""
        f = self._files.get(file_id)
        token = _bearer(headers)
        params = {"file": file_id, "path": path}
        if token is None or not hmac.compare_digest(token, self.token):
            self.rejected_downloads += 1
            self._record("file_download", params, status=302, error="not_authed")
            redirect = f"{self.root_url}/signin?redir={urllib.parse.quote(path)}"
            return Answer(302, b"", "text/html; charset=utf-8", {"Location": redirect})
        if f is None:
            self._record("file_download", params, status=404, error="file_not_found")
            return Answer(404, b"file not found", "text/plain; charset=utf-8")
        self._record("file_download", params)
        disposition = "attachment" if "/download/" in path else "inline"
        quoted = urllib.parse.quote(f.name)
        return Answer(
            200, f.content, f.mimetype, {"Content-Disposition": f'{disposition}; filename="{quoted}"'}
        )

    def _upload(self, key: str, body: bytes) -> Answer:
        """Step two of files_upload_v2: the raw bytes POSTed to the upload URL."""
        if key not in self._uploads:
            self._record("file_upload", {"key": key}, status=404, error="upload_url_not_found")
            return Answer(404, b"not found", "text/plain; charset=utf-8")
        file_id, name, _ = self._uploads[key]
        self._uploads[key] = (file_id, name, body)
        self._record("file_upload", {"file_id": file_id, "size": len(body)})
        return Answer(200, f"OK - {len(body)}".encode(), "text/plain; charset=utf-8")

    def _response_url(self, path: str, body: bytes) -> Answer:
        """An ephemeral answer to a command or click (Bolt's `respond`), the one kind the bot sends:
        replacing, deleting or posting in the channel are refused rather than modelled."""
        target = self._response_urls.get(path.split("/", 3)[3] if path.count("/") >= 3 else "")
        payload: JsonDict = {}
        try:
            if target is None:
                raise _error("expired_url", 404)
            payload = self._response_payload(body)
            message = {"type": "message", "text": "", **self._content(payload), "ts": self._new_ts()}
        except Refused as refused:
            self._record("response_url", payload, status=refused.status, error=str(refused.body["error"]))
            return Answer(refused.status, str(refused.body["error"]).encode(), "text/plain; charset=utf-8")
        channel, message["user"] = target
        self._ephemeral.setdefault(channel, []).append(message)
        self._record("response_url", payload)
        return Answer.json({"ok": True})  # approximation: the body is not documented

    @staticmethod
    def _response_payload(body: bytes) -> JsonDict:
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        if not isinstance(payload, dict):
            raise _error("invalid_payload", 400)
        replaces = any(_truthy(payload.get(key)) for key in ("replace_original", "delete_original"))
        if replaces or payload.get("response_type") == "in_channel":
            raise _error("not_modelled_by_this_fake", 400)
        return payload


# ------------------------------------------------------------------------------------------ playing Slack


class SlackEventsClient:
    """Posts signed requests to the bot's Bolt endpoint as Slack does. Response URLs are served by
    `api`, and `send_action` takes the pressed message, button text and ``block_id`` from it. Every
    ``send_*`` returns (HTTP status, response body)."""

    def __init__(self, url: str, signing_secret: str, *, api: FakeSlackAPI, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url}")
        self.url = url
        self.signing_secret = signing_secret
        self.api = api
        self.timeout = timeout
        self.last_event_id: str | None = None
        self._last_ts = 0.0

    def _ts(self) -> str:
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def message_event(
        self,
        user_id: str,
        text: str,
        *,
        channel: str | None = None,
        files: list[JsonDict] | None = None,
        thread_ts: str | None = None,
        channel_type: str = "im",
    ) -> JsonDict:
        """A ``message`` event from `user_id`, by default in the app's DM; with `files` (Slack file
        objects, e.g. `FakeSlackAPI.file_object`) a ``file_share``; a reply in a thread carries the
        parent's `thread_ts`."""
        ts = self._ts()
        event: JsonDict = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel": channel or dm_channel_id(user_id),
            "channel_type": channel_type,
            "team": self.api.team_id,
            "client_msg_id": secrets.token_hex(16),
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        if files:
            event.update(subtype="file_share", files=copy.deepcopy(files), upload=False)
        return event

    def send_event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """POST an ``event_callback`` envelope around `event`. `retry_num` adds ``X-Slack-Retry-Num``
        and ``X-Slack-Retry-Reason``; reuse `event_id` (`last_event_id`) for Slack's redelivery."""
        team = self.api.team_id
        self.last_event_id = event_id or "Ev" + secrets.token_hex(5).upper()
        envelope: JsonDict = {
            "token": VERIFICATION_TOKEN,
            "team_id": team,
            "api_app_id": self.api.app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": self.last_event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {"enterprise_id": None, "team_id": team, "user_id": self.api.bot_user_id, "is_bot": True}
            ],
        }
        retry = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self._send(
            json.dumps(envelope).encode(),
            "application/json",
            timestamp=timestamp,
            bad_signature=bad_signature,
            extra_headers=retry if retry_num is not None else {},
        )

    def url_verification(self, challenge: str, *, bad_signature: bool = False) -> tuple[int, str]:
        """The handshake Slack sends when the request URL is configured."""
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return self._send(json.dumps(body).encode(), "application/json", bad_signature=bad_signature)

    def send_command(
        self,
        command: str = "/assess",
        text: str = "",
        *,
        user_id: str = DEFAULT_USER_ID,
        team_id: str | None = None,
        channel_id: str | None = None,
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """A slash command, form-encoded as Slack sends it (by default in the user's DM)."""
        channel = channel_id or dm_channel_id(user_id)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id or self.api.team_id,
            "team_domain": "fake-team",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else channel.lower(),
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api.app_id,
            "response_url": self.api.new_response_url(channel, user_id, "commands"),
            "trigger_id": _trigger_id(),
        }
        body = urllib.parse.urlencode(fields).encode()
        form = "application/x-www-form-urlencoded"
        return self._send(body, form, timestamp=timestamp, bad_signature=bad_signature)

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
        bad_signature: bool = False,
    ) -> tuple[int, str]:
        """A ``block_actions`` click on the message at `message_ts`, as found in the fake (a click on a
        message or button that does not exist raises LookupError: Slack cannot send it), or `message`."""
        team = team_id or self.api.team_id
        button_text = value
        if message is None:
            found = next(
                (m for m in self.api.channel_messages(channel_id) if m.get("ts") == message_ts), None
            )
            if found is None:
                raise LookupError(f"no message {message_ts} in {channel_id}")
            element = _find_action(found, action_id)
            if element is None:
                raise LookupError(f"message {message_ts} has no element with action_id {action_id!r}")
            message, block_id = found, block_id or element[0]
            button_text = str(element[1]["text"]["text"])
        payload: JsonDict = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team},
            "api_app_id": self.api.app_id,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": _trigger_id(),
            "team": {"id": team, "domain": "fake-team"},
            "channel": {
                "id": channel_id,
                "name": "directmessage" if channel_id.startswith("D") else channel_id,
            },
            "message": dict(message),
            "state": {"values": {}},
            "response_url": self.api.new_response_url(channel_id, user_id, "actions"),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id or "fakeblk",
                    "text": {"type": "plain_text", "text": button_text, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": self._ts(),
                }
            ],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._send(body, "application/x-www-form-urlencoded", bad_signature=bad_signature)

    def _send(
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
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return int(err.code), err.read().decode("utf-8", "replace")


def _find_action(message: Mapping[str, Any], action_id: str) -> tuple[str, JsonDict] | None:
    for block in message.get("blocks") or []:
        elements = block.get("elements") or [] if block.get("type") == "actions" else []
        for element in elements:
            if element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    return None


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
