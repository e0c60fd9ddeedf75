"""A small, strict fake of the Telegram Bot API for the assessbot test suite.

The server side uses the standard library only: a
:class:`http.server.ThreadingHTTPServer` bound to ``127.0.0.1`` on an
ephemeral port, served from a daemon thread.  Point python-telegram-bot at it
with::

    fake = FakeTelegramAPI().start()
    bot = telegram.Bot(**fake.bot_kwargs())
    # == Bot(fake.token, base_url=f"http://127.0.0.1:{port}/bot",
    #        base_file_url=f"http://127.0.0.1:{port}/file/bot")

Routes: ``GET|POST /bot<token>/<method>`` and ``GET /file/bot<token>/<file_path>``.

The fake follows the public contract of https://core.telegram.org/bots/api and
the behaviour of the reference server (tdlib/telegram-bot-api) wherever a bot
could observe it; it is deliberately *never more lenient* than Telegram, so
bugs cannot hide behind it:

* Parameters are reduced to strings exactly like the reference server does:
  query string, ``application/x-www-form-urlencoded``, ``multipart/form-data``
  and JSON bodies (a JSON string value is taken as is, any other JSON value is
  kept as its JSON text, so ``{"chat_id": 5}`` and ``chat_id=5`` are equal).
  An empty parameter counts as a missing one, as on the real server.
* Method names are case-insensitive; unknown methods answer 404 ``Not Found``;
  a malformed token answers 404, a well-formed but wrong token 401.
* Message text is plain (the bot sends no ``parse_mode`` or entities, and the
  fake refuses them), cleaned (control characters, ``\\r``) and trimmed of
  leading/trailing spaces and newlines, then limited to 4096 characters
  (captions: 1024).
* Inline keyboards are validated (rows of button objects, ``text`` plus
  exactly one action field, ``callback_data`` of 1-64 bytes, valid URLs).
  Where the real server would silently drop or truncate a malformed button
  (empty label, more than 12 buttons in a row) this fake refuses it instead.
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard,
  exactly as Telegram does; editing to identical content is refused.

Faults and limits for robustness tests: :meth:`FakeTelegramAPI.fail_next`,
:meth:`FakeTelegramAPI.fail_next_with`, :meth:`FakeTelegramAPI.rate_limit`,
:meth:`FakeTelegramAPI.block_user`.

Every request is recorded as a :class:`Call`; every chat keeps a view of the
bot's messages (:meth:`FakeTelegramAPI.chat`) with their *current* text and
keyboard after edits.

Note for asyncio tests: :meth:`FakeTelegramAPI.deliver_webhook` is blocking;
when the bot's webhook server runs on the test's own event loop use
:meth:`FakeTelegramAPI.deliver_webhook_async` (or ``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import hashlib
import itertools
import json
import math
import mimetypes
import re
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, TypedDict, cast

from tests.fakes.http_fake import Answer, FakeHttpServer

__all__ = [
    "ApiError",
    "BotKwargs",
    "Call",
    "FakeTelegramAPI",
    "SentMessage",
    "StoredFile",
    "UploadedFile",
]

JsonDict = dict[str, Any]

DEFAULT_TOKEN: Final = "123456:TEST-TOKEN"
MAX_MESSAGE_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_CALLBACK_ANSWER_LENGTH: Final = 200
MAX_DOWNLOAD_SIZE: Final = 20 * 1024 * 1024
MAX_PHOTO_SIZE: Final = 10 * 1024 * 1024
MAX_RAW_TEXT_BYTES: Final = 1 << 15
WEBHOOK_PORTS: Final = frozenset({80, 88, 443, 8443})
SEND_METHODS: Final = frozenset({"sendMessage", "sendPhoto", "sendDocument", "editMessageText"})
DEFAULT_ALLOWED_UPDATES_EXCLUDED: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
INLINE_BUTTON_ACTIONS: Final = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
MESSAGE_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_ID_INVALID: Final = "Bad Request: query is too old and response timeout expired or query ID is invalid"
GET_UPDATES_WEBHOOK_CONFLICT: Final = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
GET_UPDATES_TERMINATED: Final = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
GET_UPDATES_TERMINATED_BY_WEBHOOK: Final = "Conflict: terminated by setWebhook request"

# Lower-cased names of every method the reference server (tdlib/telegram-bot-api) knows.
_REAL_METHOD_NAMES: Final = (
    "addstickertoset answercallbackquery answercustomquery answerguestquery answerinlinequery "
    "answerprecheckoutquery answershippingquery answerwebappquery approvechatjoinrequest "
    "approvesuggestedpost banchatmember banchatsenderchat close closeforumtopic "
    "closegeneralforumtopic convertgifttostars copymessage copymessages createchatinvitelink "
    "createchatsubscriptioninvitelink createforumtopic createinvoicelink createnewstickerset "
    "declinechatjoinrequest declinesuggestedpost deleteallmessagereactions deletebusinessmessages "
    "deletechatphoto deletechatstickerset deleteforumtopic deletemessage deletemessagereaction "
    "deletemessages deletemycommands deletestickerfromset deletestickerset deletestory deletewebhook "
    "editchatinvitelink editchatsubscriptioninvitelink editforumtopic editgeneralforumtopic "
    "editmessagecaption editmessagechecklist editmessagelivelocation editmessagemedia "
    "editmessagereplymarkup editmessagetext editstory edituserstarsubscription exportchatinvitelink "
    "forwardmessage forwardmessages getavailablegifts getbusinessaccountgifts "
    "getbusinessaccountstarbalance getbusinessconnection getchat getchatadministrators getchatgifts "
    "getchatmember getchatmembercount getchatmemberscount getchatmenubutton getcustomemojistickers "
    "getfile getforumtopiciconstickers getgamehighscores getmanagedbotaccesssettings "
    "getmanagedbottoken getme getmycommands getmydefaultadministratorrights getmydescription "
    "getmyname getmyshortdescription getmystarbalance getstartransactions getstickerset getupdates "
    "getuserchatboosts getusergifts getuserpersonalchatmessages getuserprofileaudios "
    "getuserprofilephotos getwebhookinfo giftpremiumsubscription hidegeneralforumtopic kickchatmember "
    "leavechat logout pinchatmessage poststory promotechatmember readbusinessmessage "
    "refundstarpayment removebusinessaccountprofilephoto removechatverification removemyprofilephoto "
    "removeuserverification reopenforumtopic reopengeneralforumtopic replacemanagedbottoken "
    "replacestickerinset repoststory restrictchatmember revokechatinvitelink "
    "savepreparedinlinemessage savepreparedkeyboardbutton sendanimation sendaudio sendchataction "
    "sendchecklist sendcontact sendcustomrequest senddice senddocument sendgame sendgift sendinvoice "
    "sendlivephoto sendlocation sendmediagroup sendmessage sendmessagedraft sendpaidmedia sendphoto "
    "sendpoll sendsticker sendvenue sendvideo sendvideonote sendvoice setbusinessaccountbio "
    "setbusinessaccountgiftsettings setbusinessaccountname setbusinessaccountprofilephoto "
    "setbusinessaccountusername setchatadministratorcustomtitle setchatdescription setchatmembertag "
    "setchatmenubutton setchatpermissions setchatphoto setchatstickerset setchattitle "
    "setcustomemojistickersetthumbnail setgamescore setmanagedbotaccesssettings setmessagereaction "
    "setmycommands setmydefaultadministratorrights setmydescription setmyname setmyprofilephoto "
    "setmyshortdescription setpassportdataerrors setstickeremojilist setstickerkeywords "
    "setstickermaskposition setstickerpositioninset setstickersetthumb setstickersetthumbnail "
    "setstickersettitle setuseremojistatus setwebhook stopmessagelivelocation stoppoll "
    "transferbusinessaccountstars transfergift unbanchatmember unbanchatsenderchat "
    "unhidegeneralforumtopic unpinallchatmessages unpinallforumtopicmessages "
    "unpinallgeneralforumtopicmessages unpinchatmessage upgradegift uploadstickerfile verifychat "
    "verifyuser"
)
_REAL_METHODS: Final = frozenset(_REAL_METHOD_NAMES.split())

# Parameters that are plain strings; everything else is JSON-decoded in Call.params
# when it parses as JSON (so chat_id "5" becomes 5, reply_markup becomes a dict).
_STRING_PARAMS: Final = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "action",
        "file_id",
        "language_code",
        "ip_address",
        "business_connection_id",
        "photo",
        "document",
        "query",
    }
)
_UNSET: Final[Any] = object()


# --------------------------------------------------------------------------- records


class BotKwargs(TypedDict):
    """Keyword arguments for ``telegram.Bot`` / ``ApplicationBuilder`` pointing at the fake."""

    token: str
    base_url: str
    base_file_url: str


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart/form-data request."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Call:
    """One request the bot made to the fake.

    ``method`` is the canonical Bot API name (``"sendMessage"``) when known, else the
    name as requested.  ``params`` holds the decoded parameters (JSON values parsed,
    ``chat_id`` as ``int``), ``raw`` the string view the real server works with,
    ``files`` the uploaded parts as ``name -> (filename, bytes)``, ``at`` the
    :func:`time.monotonic` time of arrival, ``status``/``response`` what was answered.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]
    at: float
    raw: dict[str, str] = field(default_factory=dict)
    status: int = 200
    response: JsonDict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the fake answered ``{"ok": true, ...}``."""
        return self.status == 200


@dataclass(frozen=True)
class StoredFile:
    """A file known to the fake (uploaded by the bot or pushed by a test)."""

    file_id: str
    file_unique_id: str
    file_path: str
    filename: str | None
    content: bytes
    mime_type: str | None
    kind: str  # "photo" | "document"

    @property
    def file_size(self) -> int:
        """Size in bytes."""
        return len(self.content)


@dataclass(frozen=True)
class SentMessage:
    """Snapshot of one bot message as the chat currently shows it (after edits)."""

    chat_id: int
    message_id: int
    kind: str  # "text" | "photo" | "document"
    text: str | None
    entities: list[JsonDict]
    caption: str | None
    reply_markup: JsonDict | None  # the inline keyboard attached to the message
    reply_keyboard: JsonDict | None  # a custom reply keyboard / remove / force_reply, if sent
    file: StoredFile | None
    date: int
    edit_date: int | None
    history: list[str | None]  # earlier texts (or captions), oldest first
    message: JsonDict  # the Telegram Message object as currently stored

    @property
    def buttons(self) -> list[list[JsonDict]]:
        """Rows of inline buttons (empty when the message has no inline keyboard)."""
        if not self.reply_markup:
            return []
        return cast(list[list[JsonDict]], self.reply_markup.get("inline_keyboard", []))

    def button_texts(self) -> list[list[str]]:
        """Labels of the inline buttons, row by row."""
        return [[str(b["text"]) for b in row] for row in self.buttons]

    def callback_data(self) -> list[str]:
        """All ``callback_data`` values of the inline keyboard, in reading order."""
        return [str(b["callback_data"]) for row in self.buttons for b in row if "callback_data" in b]


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, parameters: Mapping[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters: JsonDict | None = dict(parameters) if parameters else None

    def body(self) -> JsonDict:
        """The JSON body Telegram sends for this error."""
        result: JsonDict = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            result["parameters"] = self.parameters
        return result


def _bad_request(message: str) -> ApiError:
    """A 400 error worded like the reference server words TDLib errors.

    ``"Bad Request: "`` is prepended; the first letter is lower-cased unless the message
    is an upper-case error code such as ``BUTTON_DATA_INVALID``.
    """
    if message.startswith("Bad Request"):
        return ApiError(400, message)
    if len(message) >= 2 and (message[1] == "_" or "A" <= message[1] <= "Z"):
        return ApiError(400, f"Bad Request: {message}")
    return ApiError(400, f"Bad Request: {message[:1].lower()}{message[1:]}")


def _too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


NOT_FOUND: Final = ApiError(404, "Not Found")
UNAUTHORIZED: Final = ApiError(401, "Unauthorized")


# --------------------------------------------------------------------------- request parsing


@dataclass
class _Request:
    """A parsed Bot API request: every parameter as the string the server sees."""

    args: dict[str, str]
    files: dict[str, UploadedFile]

    def arg(self, name: str) -> str:
        """The parameter value, ``""`` when missing (the server treats both alike)."""
        return self.args.get(name, "")

    def has(self, name: str) -> bool:
        """Whether the parameter is present and non-empty."""
        return bool(self.args.get(name))


def _parse_json_body(body: bytes) -> dict[str, str]:
    """JSON body → string parameters, as tdlib's HttpReader::parse_json_parameters."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "Bad Request: JSON object expected") from exc
    if isinstance(value, str):
        return {"content": value}
    if not isinstance(value, dict):
        raise ApiError(400, "Bad Request: JSON object expected")
    return {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in value.items()}


_DISPOSITION_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Minimal multipart/form-data parser (RFC 7578) without the deprecated cgi module."""
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type)
    if match is None:
        raise ApiError(400, "Bad Request: multipart boundary is not specified")
    boundary = (match.group(1) or match.group(2)).encode("latin-1")
    args: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    delimiter = b"--" + boundary
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, "Bad Request: headers in multipart/form-data are empty")
        content = content.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, value = line.partition(":")
            headers[header.strip().lower()] = value.strip()
        params: dict[str, str] = {}
        for m in _DISPOSITION_PARAM.finditer(";" + headers.get("content-disposition", "")):
            raw = m.group(2) if m.group(2) is not None else (m.group(3) or "").strip()
            params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", raw)
        name = params.get("name")
        if name is None:
            continue
        filename = params.get("filename")
        if "filename*" in params:  # RFC 5987: utf-8''percent-encoded
            encoded = params["filename*"].split("''", 1)[-1]
            filename = urllib.parse.unquote(encoded)
        if filename is not None:
            files[name] = UploadedFile(
                filename=filename,
                content=content,
                content_type=headers.get("content-type", "application/octet-stream"),
            )
        else:
            args[name] = content.decode("utf-8", "replace")
    return args, files


def _decode_param(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _to_integer(value: str) -> int:
    """td::to_integer: optional sign and leading digits, 0 when there are none."""
    match = re.match(r"\s*([+-]?\d+)", value)
    return int(match.group(1)) if match else 0


def _int_arg(value: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
    result = default if not value.strip() else _to_integer(value)
    if lo is not None:
        result = max(lo, result)
    if hi is not None:
        result = min(hi, result)
    return result


def _to_bool(value: str) -> bool:
    return value.strip().lower() in ("true", "yes", "1")


def _json_arg(req: _Request, name: str, error: str) -> Any:
    """A JSON-encoded parameter, or ``None`` when missing."""
    raw = req.arg(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _bad_request(error) from exc


# --------------------------------------------------------------------------- text


def _utf16_len(text: str) -> int:
    """Length in UTF-16 code units (Telegram's measure for offsets and limits)."""
    if len(text) == 1:  # the common call, one character at a time
        return 2 if ord(text) > 0xFFFF else 1
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _is_space(ch: str) -> bool:
    return ch in " \t\r\n\0\v\f"


def _entity(kind: str, offset: int, length: int, **extra: Any) -> JsonDict:
    result: JsonDict = {"type": kind, "offset": offset, "length": length}
    result.update({k: v for k, v in extra.items() if v not in (None, "")})
    return result


def _check_link(url: str) -> str:
    """TDLib's LinkManager::check_link_impl, simplified; raises ValueError(reason)."""
    if not url or any(_is_space(ch) for ch in url.strip("\0")):
        raise ValueError("Wrong HTTP URL")
    lowered = url.lower()
    for scheme in ("tg:", "ton:", "tonsite:"):
        if lowered.startswith(scheme):
            rest = url[len(scheme) :].removeprefix("//")
            host = re.split(r"[/?#]", rest, maxsplit=1)[0]
            if not host or not re.fullmatch(r"[A-Za-z0-9_.-]+", host):
                raise ValueError("Wrong tg URL" if scheme == "tg:" else "Wrong ton URL")
            return f"{scheme[:-1]}://{rest}"
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("Unsupported URL protocol")
    host = parts.hostname or ""
    if not host or ("." not in host and ":" not in host):
        raise ValueError("Wrong HTTP URL")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("Wrong port number specified in the URL") from exc
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, parts.fragment)
    )


_REMOVED_CHARS: Final = frozenset(
    {"\r", "\u0333", "\u033f", "\u030a"} | {chr(c) for c in range(0x2028, 0x202F)}
)
_SPACE_CHARS: Final = frozenset(chr(c) for c in [*range(0, 10), 11, 12, *range(14, 33)])


def _format_text(
    text: str,
    parse_mode: str,
    raw_entities: str,
    *,
    allow_empty: bool,
    limit: int,
    too_long: str,
) -> tuple[str, list[JsonDict]]:
    """Text (or caption) as Telegram stores plain text: cleaned, trimmed, length-checked.

    The bot sends plain text only (adapters/telegram.py), so formatted text is refused rather than
    parsed: a parse_mode or entities from the bot is a change a test should notice. Cleaning is
    TDLib's fix_formatted_text without entities: control characters become spaces, ``\\r`` and a
    few invisible characters go, then leading and trailing spaces and newlines are cut.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RAW_TEXT_BYTES:
        raise _bad_request("Text is too long")
    if parse_mode or raw_entities:
        raise _bad_request("Unsupported parse_mode: this fake takes the plain text the bot sends")
    cleaned = "".join(" " if ch in _SPACE_CHARS else ch for ch in text if ch not in _REMOVED_CHARS)
    plain = cleaned.strip(" \n")
    if not plain:
        if allow_empty:
            return "", []
        raise _bad_request("Text must be non-empty")
    if len(plain) > limit:
        raise _bad_request(too_long)
    return plain, []


_BOT_COMMAND: Final = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


def _bot_command_entities(text: str) -> list[JsonDict]:
    """``bot_command`` entities Telegram attaches to incoming texts such as ``/start x``."""
    result = []
    for match in _BOT_COMMAND.finditer(text):
        end = match.end()
        if end < len(text) and (text[end].isalnum() or text[end] in "_@/"):
            continue
        start = _utf16_len(text[: match.start()])
        result.append(_entity("bot_command", start, _utf16_len(match.group(0))))
    return result


# --------------------------------------------------------------------------- reply markup


def _parse_inline_button(button: Any) -> JsonDict:
    def cant_parse(reason: str) -> ApiError:
        return _bad_request(f"Can't parse inline keyboard button: {reason}")

    if not isinstance(button, dict):
        raise cant_parse("InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise cant_parse('Can\'t find field "text"')
    text = button["text"]
    if not isinstance(text, str):
        raise cant_parse('Field "text" must be of type String')
    if not text.strip():
        # The real server silently drops such a button; refusing exposes the bug.
        raise _bad_request("Inline keyboard button text must be non-empty")
    present = [
        key
        for key in INLINE_BUTTON_ACTIONS
        if key in button and not (key in ("url", "callback_data") and button[key] == "")
    ]
    if not present:
        raise cant_parse("Text buttons are unallowed in the inline keyboard")
    if len(present) > 1:
        # Bot API: "Exactly one of the optional fields must be used".
        raise cant_parse("exactly one of the optional fields must be used, got " + ", ".join(present))
    action = present[0]
    value = button[action]
    normalised: JsonDict = {"text": text}
    for extra in ("icon_custom_emoji_id", "style"):
        if extra in button:
            normalised[extra] = button[extra]
    if action == "callback_data":
        if not isinstance(value, str):
            raise cant_parse('Field "callback_data" must be of type String')
        if len(value.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
            raise _bad_request("BUTTON_DATA_INVALID")
    elif action == "url":
        if not isinstance(value, str):
            raise cant_parse('Field "url" must be of type String')
        try:
            value = _check_link(value)
        except ValueError as exc:
            raise _bad_request(f"Inline keyboard button URL '{button['url']}' is invalid: {exc}") from exc
    normalised[action] = value
    return normalised


def _parse_reply_markup(raw: str, *, inline_only: bool) -> tuple[JsonDict | None, JsonDict | None]:
    """Validate ``reply_markup``: returns (inline keyboard, other markup)."""
    if not raw:
        return None, None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise _bad_request("Can't parse reply keyboard markup JSON object") from exc
    if not isinstance(value, dict):
        raise _bad_request("Object expected as reply markup")

    keyboard_rows: list[list[JsonDict]] = []
    if "keyboard" in value:
        keyboard = value["keyboard"]
        if not isinstance(keyboard, list):
            raise _bad_request('Field "keyboard" must be of type Array')
        for row in keyboard:
            if not isinstance(row, list):
                raise _bad_request('Field "keyboard" must be an Array of Arrays')
            new_row: list[JsonDict] = []
            for button in row:
                if isinstance(button, str):
                    button = {"text": button}
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad_request(
                        "Can't parse keyboard button: KeyboardButton must be a String or an Object"
                    )
                new_row.append(dict(button))
            if new_row:
                keyboard_rows.append(new_row)

    inline_rows: list[list[JsonDict]] = []
    if "inline_keyboard" in value:
        inline = value["inline_keyboard"]
        if not isinstance(inline, list):
            raise _bad_request('Field "inline_keyboard" must be of type Array')
        total = 0
        for row in inline:
            if not isinstance(row, list):
                raise _bad_request(
                    'Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            new_inline_row = [_parse_inline_button(button) for button in row]
            if len(new_inline_row) > 12:
                raise _bad_request("reply markup is too long")
            total += len(new_inline_row)
            if new_inline_row:
                inline_rows.append(new_inline_row)
        if total > 100:
            raise _bad_request("reply markup is too long")

    other: JsonDict | None = None
    inline_markup: JsonDict | None = None
    if keyboard_rows:
        other = dict(value)
        other.pop("inline_keyboard", None)
        other["keyboard"] = keyboard_rows
    elif inline_rows:
        inline_markup = {"inline_keyboard": inline_rows}
    elif value.get("remove_keyboard") or value.get("hide_keyboard"):
        other = {"remove_keyboard": True}
        if "selective" in value:
            other["selective"] = value["selective"]
    elif value.get("force_reply"):
        other = {k: value[k] for k in ("force_reply", "input_field_placeholder", "selective") if k in value}
    if inline_only and other is not None:
        raise _bad_request("Inline keyboard expected")
    return inline_markup, other


# --------------------------------------------------------------------------- images


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF, JPEG, BMP or WebP image, ``None`` if not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data.startswith(b"BM") and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(int(w)), abs(int(h))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            w = int.from_bytes(data[24:27], "little") + 1
            h = int.from_bytes(data[27:30], "little") + 1
            return w, h
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return int(w) & 0x3FFF, int(h) & 0x3FFF
        if chunk == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return None
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            (seg_len,) = struct.unpack(">H", data[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + seg_len
    return None


# --------------------------------------------------------------------------- internal state


@dataclass
class _StoredMessage:
    message: JsonDict
    from_bot: bool
    kind: str
    reply_keyboard: JsonDict | None = None
    file: StoredFile | None = None
    history: list[str | None] = field(default_factory=list)


@dataclass
class _ChatState:
    chat: JsonDict
    messages: dict[int, _StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1


@dataclass
class _Fault:
    status: int
    description: str
    parameters: JsonDict | None


# --------------------------------------------------------------------------- the fake


class FakeTelegramAPI:
    """In-process fake of the Telegram Bot API (see the module docstring).

    Use as a context manager or call :meth:`start` / :meth:`stop`.

    :param token: the only token accepted (others get 401 Unauthorized).
    :param local_mode: behave like ``telegram-bot-api --local``: allow ``http://``
        webhooks on any port (the default insists on HTTPS and ports 80/88/443/8443).
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, local_mode: bool = False) -> None:
        self.token = token
        self.local_mode = local_mode
        self.bot_user: JsonDict = {
            "id": 999,
            "is_bot": True,
            "first_name": "Assess Test Bot",
            "username": "assess_test_bot",
        }
        self.rejected_429 = 0
        self.calls: list[Call] = []
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.callback_answers: dict[str, JsonDict] = {}

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._http = FakeHttpServer(self._answer, name="FakeTelegramBotAPI/1.0")
        self._stopping = False

        self._updates: list[JsonDict] = []
        self._update_ids = itertools.count(10001)
        self._poll_generation = 0
        self._allowed_updates: frozenset[str] | None = None
        self._chats: dict[int, _ChatState] = {}
        self._users: dict[int, JsonDict] = {}
        self._blocked: set[int] = set()
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._callbacks: dict[str, JsonDict] = {}  # id -> {"answered": bool, ...}
        self._callback_counter = itertools.count(1)
        self._faults: dict[str, deque[_Fault]] = {}
        self._per_second: float | None = None
        self._per_chat_per_second: float | None = None
        self._count_edits = True
        self._sent_at: deque[float] = deque()
        self._sent_at_chat: dict[int, deque[float]] = {}
        self._webhook_allowed_updates: list[str] | None = None
        self._webhook_ip = ""
        self._webhook_last_error: tuple[int, str] | None = None
        self._next_set_webhook_at = 0.0
        self._latency: dict[str, float] = {}
        self._in_flight = 0
        self.most_in_flight = 0  # the most calls of slowed-down methods answered at once

        self._methods: dict[str, tuple[str, Callable[[_Request], Any]]] = {}
        for name, handler in {
            "getMe": self._m_get_me,
            "getUpdates": self._m_get_updates,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "sendMessage": self._m_send_message,
            "editMessageText": self._m_edit_message_text,
            "answerCallbackQuery": self._m_answer_callback_query,
            "sendPhoto": self._m_send_photo,
            "sendDocument": self._m_send_document,
            "getFile": self._m_get_file,
            "setMyCommands": self._m_set_my_commands,
        }.items():
            self._methods[name.lower()] = (name, handler)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTelegramAPI:
        """Start serving on 127.0.0.1 (ephemeral port) in a daemon thread."""
        if not self._http.running:
            self._stopping = False
            self._http.start()
        return self

    def stop(self) -> None:
        """Stop serving; pending long polls are answered with an empty list."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._http.stop()

    def __enter__(self) -> FakeTelegramAPI:
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
        """The TCP port the fake listens on (after :meth:`start`)."""
        return self._http.port

    @property
    def base_url(self) -> str:
        """Value for ``telegram.Bot(base_url=...)``; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``telegram.Bot(base_file_url=...)``; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def bot_kwargs(self) -> BotKwargs:
        """``token``, ``base_url`` and ``base_file_url`` for ``telegram.Bot(**kwargs)``."""
        return {"token": self.token, "base_url": self.base_url, "base_file_url": self.base_file_url}

    # ------------------------------------------------------------------ inspection

    def calls_of(self, method: str) -> list[Call]:
        """Recorded calls of one method (name compared case-insensitively)."""
        wanted = method.lower()
        with self._lock:
            return [c for c in self.calls if c.method.lower() == wanted]

    def unimplemented_calls(self) -> list[Call]:
        """Calls of real Bot API methods this fake does not implement.

        They are answered like unknown methods (404 ``Not Found``, which PTB raises as
        ``InvalidToken``); check this list when a test fails with that error.
        """
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method.lower() in _REAL_METHODS and c.method.lower() not in self._methods
            ]

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self.calls.clear()

    def chat(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages in a chat, oldest first, as currently shown (after edits)."""
        with self._lock:
            state = self._chats.get(chat_id)
            if state is None:
                return []
            return [
                self._snapshot(chat_id, stored)
                for _, stored in sorted(state.messages.items())
                if stored.from_bot
            ]

    def last_message(self, chat_id: int) -> SentMessage | None:
        """The bot's most recent message in a chat, or ``None``."""
        messages = self.chat(chat_id)
        return messages[-1] if messages else None

    def message(self, chat_id: int, message_id: int) -> SentMessage | None:
        """One bot message by id (``None`` if unknown, deleted or not the bot's)."""
        with self._lock:
            state = self._chats.get(chat_id)
            stored = state.messages.get(message_id) if state else None
            if stored is None or not stored.from_bot:
                return None
            return self._snapshot(chat_id, stored)

    def file(self, file_id: str) -> StoredFile | None:
        """A stored file by ``file_id``."""
        with self._lock:
            return self._files.get(file_id)

    def pending_updates(self) -> list[JsonDict]:
        """Updates not yet confirmed by getUpdates (or delivered to the webhook)."""
        with self._lock:
            return copy.deepcopy(self._updates)

    def commands_for(self, language_code: str = "", scope: Mapping[str, Any] | None = None) -> list[JsonDict]:
        """Commands stored by setMyCommands for a scope (default scope if None) and language."""
        key = (self._scope_key(dict(scope) if scope else {"type": "default"}), language_code)
        with self._lock:
            return copy.deepcopy(self.commands.get(key, []))

    def _snapshot(self, chat_id: int, stored: _StoredMessage) -> SentMessage:
        msg = copy.deepcopy(stored.message)
        text = msg.get("text")
        return SentMessage(
            chat_id=chat_id,
            message_id=int(msg["message_id"]),
            kind=stored.kind,
            text=text,
            entities=list(msg.get("entities") or msg.get("caption_entities") or []),
            caption=msg.get("caption"),
            reply_markup=msg.get("reply_markup"),
            reply_keyboard=copy.deepcopy(stored.reply_keyboard),
            file=stored.file,
            date=int(msg["date"]),
            edit_date=msg.get("edit_date"),
            history=list(stored.history),
            message=msg,
        )

    # ------------------------------------------------------------------ faults & limits

    def fail_next(self, method: str, times: int = 1, *, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 Too Many Requests."""
        for _ in range(times):
            self._add_fault(
                method,
                _Fault(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                ),
            )

    def fail_next_with(
        self,
        method: str,
        status: int,
        description: str,
        *,
        times: int = 1,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an arbitrary error.

        E.g. ``fail_next_with("sendMessage", 502, "Bad Gateway")`` or
        ``fail_next_with("sendMessage", 403, "Forbidden: bot was blocked by the user")``.
        """
        for _ in range(times):
            self._add_fault(method, _Fault(status, description, dict(parameters) if parameters else None))

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method.lower(), deque()).append(fault)

    def slow_down(self, method: str, seconds: float) -> None:
        """Answer ``method`` only after ``seconds``, like a Bot API far away. Calls are served
        concurrently (as the real one does), and ``most_in_flight`` counts how many overlapped."""
        with self._lock:
            self._latency[method.lower()] = seconds

    def rate_limit(
        self,
        per_second: float | None = None,
        per_chat_per_second: float | None = None,
        *,
        count_edits: bool = True,
    ) -> None:
        """Enforce flood limits on sendMessage/sendPhoto/sendDocument/editMessageText.

        Sliding window: a rate ``r >= 1`` allows ``floor(r)`` sends per second; a rate
        below one allows one send per ``1/r`` seconds.  Excess calls get 429 with
        ``retry_after`` = seconds until a slot frees (at least 1).  ``None`` disables.
        With ``count_edits=False`` editMessageText is neither limited nor counted: Telegram
        documents its 30/s for messages sent to many users, and says nothing of edits.
        """
        with self._lock:
            self._per_second = per_second
            self._per_chat_per_second = per_chat_per_second
            self._count_edits = count_edits
            self._sent_at.clear()
            self._sent_at_chat.clear()

    def block_user(self, user_id: int, blocked: bool = True) -> None:
        """Make sends to this private chat fail with 403 ``bot was blocked by the user``."""
        with self._lock:
            if blocked:
                self._blocked.add(user_id)
            else:
                self._blocked.discard(user_id)

    @staticmethod
    def _window(rate: float) -> tuple[float, int]:
        if rate >= 1:
            return 1.0, math.floor(rate)
        return 1.0 / rate, 1

    def _check_rate(self, chat_id: int) -> None:
        now = time.monotonic()
        checks: list[tuple[float, deque[float]]] = []
        if self._per_second:
            checks.append((self._per_second, self._sent_at))
        if self._per_chat_per_second:
            checks.append((self._per_chat_per_second, self._sent_at_chat.setdefault(chat_id, deque())))
        for rate, stamps in checks:
            window, capacity = self._window(rate)
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= capacity:
                wait = stamps[0] + window - now
                raise _too_many_requests(max(1, math.ceil(wait)))

    def _count_send(self, chat_id: int) -> None:
        now = time.monotonic()
        if self._per_second:
            self._sent_at.append(now)
        if self._per_chat_per_second:
            self._sent_at_chat.setdefault(chat_id, deque()).append(now)

    # ------------------------------------------------------------------ users & chats

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str = "private",
        first_name: str = "Anna",
        username: str | None = None,
        title: str | None = None,
    ) -> JsonDict:
        """Make a chat known to the fake (pushing an update does this implicitly).

        Like Telegram, the fake answers ``chat not found`` for chats the bot has never
        seen (e.g. a user who never wrote to the bot).
        """
        with self._lock:
            return copy.deepcopy(self._ensure_chat(chat_id, chat_type, first_name, username, title).chat)

    def _ensure_chat(
        self,
        chat_id: int,
        chat_type: str,
        first_name: str,
        username: str | None,
        title: str | None,
    ) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is not None:
            return state
        chat: JsonDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
            if username:
                chat["username"] = username
        else:
            chat["title"] = title or f"Test {chat_type}"
            if username:
                chat["username"] = username
        state = _ChatState(chat=chat)
        self._chats[chat_id] = state
        return state

    def _user(
        self, user_id: int, first_name: str, username: str | None, language_code: str | None
    ) -> JsonDict:
        user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return dict(user)

    def _default_chat_id(self, user_id: int, chat_type: str, chat_id: int | None) -> int:
        if chat_id is not None:
            return chat_id
        if chat_type == "private":
            return user_id
        if chat_type in ("supergroup", "channel"):
            return -1001000000000 - user_id
        return -100000 - user_id

    def _new_message_id(self, state: _ChatState) -> int:
        message_id = state.next_message_id
        state.next_message_id += 1
        return message_id

    # ------------------------------------------------------------------ pushing updates

    def _enqueue(self, update: JsonDict) -> JsonDict:
        with self._cond:
            if "update_id" not in update:
                update["update_id"] = next(self._update_ids)
            else:
                uid = int(update["update_id"])
                current = next(self._update_ids)
                self._update_ids = itertools.count(max(current, uid + 1))
            self._updates.append(update)
            self._updates.sort(key=lambda u: int(u["update_id"]))
            self._cond.notify_all()
            return copy.deepcopy(update)

    def push_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_type: str = "private",
        chat_id: int | None = None,
        language_code: str | None = "en",
        first_name: str = "Anna",
        username: str | None = None,
        chat_title: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> JsonDict:
        """Queue a text message from a user; returns the Update dict.

        ``bot_command`` entities are added like Telegram does (``/start x``), so
        python-telegram-bot's CommandHandler recognises commands. ``reply_to_message_id``
        makes it a reply: the update carries ``reply_to_message``, the replied message as
        stored (without its own ``reply_to_message``, as Telegram sends it).
        """
        with self._lock:
            cid = self._default_chat_id(user_id, chat_type, chat_id)
            state = self._ensure_chat(cid, chat_type, first_name, username, chat_title)
            sender = self._user(user_id, first_name, username, language_code)
            message: JsonDict = {
                "message_id": self._new_message_id(state),
                "from": sender,
                "chat": copy.deepcopy(state.chat),
                "date": int(time.time()),
                "text": text,
            }
            if reply_to_message_id is not None:
                replied = state.messages.get(reply_to_message_id)
                if replied is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {cid}")
                reply_to = copy.deepcopy(replied.message)
                reply_to.pop("reply_to_message", None)
                message["reply_to_message"] = reply_to
            entities = _bot_command_entities(text)
            if entities:
                message["entities"] = entities
            state.messages[message["message_id"]] = _StoredMessage(
                message=copy.deepcopy(message), from_bot=False, kind="text"
            )
            return self._enqueue({"message": message})

    def push_callback(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
        language_code: str | None = "en",
        callback_id: str | None = None,
        first_name: str = "Anna",
        username: str | None = None,
        check_button: bool = True,
    ) -> JsonDict:
        """Queue a button press on one of the bot's messages; returns the Update dict.

        The callback's ``message`` is the bot's message as currently stored, as Telegram
        sends it.  With ``check_button`` (default) ``data`` must be the ``callback_data``
        of a button currently on that message, since that is all a user can press.
        """
        with self._lock:
            cid = user_id if chat_id is None else chat_id
            state = self._chats.get(cid)
            stored = state.messages.get(message_id) if state else None
            if state is None or stored is None or not stored.from_bot:
                raise ValueError(f"no bot message {message_id} in chat {cid}")
            if check_button:
                snapshot = self._snapshot(cid, stored)
                if data not in snapshot.callback_data():
                    raise ValueError(
                        f"message {message_id} has no button with callback_data {data!r}; "
                        f"it has {snapshot.callback_data()!r}"
                    )
            query_id = callback_id or f"{user_id}{next(self._callback_counter):08d}"
            sender = self._user(user_id, first_name, username, language_code)
            instance = int(hashlib.sha256(str(cid).encode()).hexdigest()[:15], 16)
            query: JsonDict = {
                "id": query_id,
                "from": sender,
                "message": copy.deepcopy(stored.message),
                "chat_instance": str(instance),
                "data": data,
            }
            self._callbacks[query_id] = {"answered": False, "user_id": user_id}
            return self._enqueue({"callback_query": query})

    def push_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = "application/x-yaml",
        chat_type: str = "private",
        chat_id: int | None = None,
        language_code: str | None = "en",
        first_name: str = "Anna",
        username: str | None = None,
    ) -> JsonDict:
        """Queue a document sent by a user; getFile and the file download then work."""
        with self._lock:
            cid = self._default_chat_id(user_id, chat_type, chat_id)
            state = self._ensure_chat(cid, chat_type, first_name, username, None)
            sender = self._user(user_id, first_name, username, language_code)
            stored_file = self._store_file("document", content, filename, mime_type)
            message: JsonDict = {
                "message_id": self._new_message_id(state),
                "from": sender,
                "chat": copy.deepcopy(state.chat),
                "date": int(time.time()),
                "document": self._document_json(stored_file),
            }
            if caption:
                message["caption"] = caption
                entities = _bot_command_entities(caption)
                if entities:
                    message["caption_entities"] = entities
            state.messages[message["message_id"]] = _StoredMessage(
                message=copy.deepcopy(message), from_bot=False, kind="document", file=stored_file
            )
            return self._enqueue({"message": message})

    def redeliver(self, update: Mapping[str, Any]) -> JsonDict:
        """Queue the very same update again (same ``update_id``), as after a bot crash."""
        return self._enqueue(copy.deepcopy(dict(update)))

    def push_raw(self, update: Mapping[str, Any]) -> JsonDict:
        """Queue an arbitrary update dict (``update_id`` is assigned when missing)."""
        return self._enqueue(copy.deepcopy(dict(update)))

    # ------------------------------------------------------------------ webhook delivery

    def deliver_webhook(
        self,
        update: Mapping[str, Any],
        *,
        secret: str | None = _UNSET,
        url: str | None = None,
        timeout: float = 10.0,
    ) -> int:
        """POST an update to the webhook like Telegram does; returns the HTTP status.

        ``secret`` defaults to the ``secret_token`` given to setWebhook and is sent as
        ``X-Telegram-Bot-Api-Secret-Token`` (omitted when ``None``).  ``url`` overrides
        the destination (e.g. the bot's local listener behind the public HTTPS URL
        given to setWebhook).  On a 2xx answer the update leaves the pending queue.
        Blocking: from asyncio code use :meth:`deliver_webhook_async`.
        """
        with self._lock:
            target = url or self.webhook_url
            token = self.webhook_secret if secret is _UNSET else secret
        if not target:
            raise RuntimeError("no webhook is set (call setWebhook first or pass url=)")
        if not target.lower().startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s): {target!r}")
        body = json.dumps(dict(update), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(target, data=body, method="POST")  # noqa: S310 (http(s) only)
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("X-Telegram-Bot-Api-Secret-Token", token)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status = int(response.status)
                reason = str(response.reason)
        except urllib.error.HTTPError as exc:
            status, reason = int(exc.code), str(exc.reason)
        with self._lock:
            if 200 <= status < 300:
                uid = update.get("update_id")
                self._updates = [u for u in self._updates if u.get("update_id") != uid]
            else:
                self._webhook_last_error = (
                    int(time.time()),
                    f"Wrong response from the webhook: {status} {reason}",
                )
        return status

    async def deliver_webhook_async(
        self,
        update: Mapping[str, Any],
        *,
        secret: str | None = _UNSET,
        url: str | None = None,
        timeout: float = 10.0,
    ) -> int:
        """:meth:`deliver_webhook` in a worker thread, for use inside the bot's event loop."""
        return await asyncio.to_thread(self.deliver_webhook, update, secret=secret, url=url, timeout=timeout)

    # ------------------------------------------------------------------ HTTP entry point

    def _answer(self, verb: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        return Answer(*self._handle_http(verb, path, headers.get("content-type", ""), body))

    def _handle_http(self, verb: str, path: str, content_type: str, body: bytes) -> tuple[int, bytes, str]:
        parts = urllib.parse.urlsplit(path)
        route = parts.path
        if route.startswith("/file/bot"):
            return self._handle_download(route[len("/file/bot") :])
        match = re.fullmatch(r"/bot([^/]*)/([^/]*)/?", route)
        if match is None:
            return self._json_response(NOT_FOUND.status, NOT_FOUND.body())
        token, method_name = urllib.parse.unquote(match.group(1)), urllib.parse.unquote(match.group(2))
        try:
            args = {k: v for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)}
            files: dict[str, UploadedFile] = {}
            if verb == "POST" and body:
                mime = content_type.split(";", 1)[0].strip().lower()
                if mime == "application/json":
                    args.update(_parse_json_body(body))
                elif mime == "application/x-www-form-urlencoded":
                    form = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                    args.update(dict(form))
                elif mime == "multipart/form-data":
                    form_args, files = _parse_multipart(body, content_type)
                    args.update(form_args)
            request = _Request(args=args, files=files)
        except ApiError as exc:
            return self._json_response(exc.status, exc.body())
        delay = self._latency.get(method_name.lower())
        if delay is None:
            status, response = self._call(token, method_name, request)
        else:
            status, response = self._call_later(delay, token, method_name, request)
        return self._json_response(status, response)

    def _call_later(
        self, delay: float, token: str, method_name: str, request: _Request
    ) -> tuple[int, JsonDict]:
        """A call answered after `delay`, counted while it is in flight (see `slow_down`)."""
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            time.sleep(delay)
            return self._call(token, method_name, request)
        finally:
            with self._lock:
                self._in_flight -= 1

    @staticmethod
    def _json_response(status: int, body: JsonDict) -> tuple[int, bytes, str]:
        return status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"

    def _handle_download(self, rest: str) -> tuple[int, bytes, str]:
        token, _, file_path = rest.partition("/")
        token = urllib.parse.unquote(token)  # PTB percent-encodes the ":" of the token
        with self._lock:
            stored = self._files_by_path.get(urllib.parse.unquote(file_path))
        if token != self.token or stored is None:
            return self._json_response(NOT_FOUND.status, NOT_FOUND.body())
        return 200, stored.content, stored.mime_type or "application/octet-stream"

    def _call(self, token: str, method_name: str, request: _Request) -> tuple[int, JsonDict]:
        entry = self._methods.get(method_name.lower())
        canonical = entry[0] if entry else method_name
        arrived = time.monotonic()
        status, response = self._execute(token, method_name, entry, request)
        params = {k: _decode_param(k, v) for k, v in request.args.items()}
        files = {k: (f.filename, f.content) for k, f in request.files.items()}
        with self._lock:
            if status == 429:
                self.rejected_429 += 1
            bisect.insort(
                self.calls,
                Call(
                    method=canonical,
                    params=params,
                    files=files,
                    at=arrived,
                    raw=dict(request.args),
                    status=status,
                    response=response,
                ),
                key=lambda c: c.at,
            )
        return status, response

    def _execute(
        self,
        token: str,
        method_name: str,
        entry: tuple[str, Callable[[_Request], Any]] | None,
        request: _Request,
    ) -> tuple[int, JsonDict]:
        try:
            if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token):
                raise NOT_FOUND
            if token != self.token:
                raise UNAUTHORIZED
            if entry is None:
                raise NOT_FOUND
            canonical, handler = entry
            with self._lock:
                queue = self._faults.get(canonical.lower())
                fault = queue.popleft() if queue else None
            if fault is not None:
                raise ApiError(fault.status, fault.description, fault.parameters)
            if canonical == "getUpdates":  # long poll: manages the lock itself
                result = handler(request)
            else:
                with self._lock:
                    result = handler(request)
        except ApiError as exc:
            return exc.status, exc.body()
        if isinstance(result, tuple):
            value, description = result
            return 200, {"ok": True, "result": value, "description": description}
        return 200, {"ok": True, "result": result}

    # ------------------------------------------------------------------ helpers for methods

    def _require_chat(self, chat_id_str: str) -> _ChatState:
        if not chat_id_str:
            raise _bad_request("Bad Request: chat_id is empty")
        if chat_id_str.startswith("@"):
            wanted = chat_id_str[1:].lower()
            for state in self._chats.values():
                if str(state.chat.get("username", "")).lower() == wanted and state.chat["type"] in (
                    "channel",
                    "supergroup",
                ):
                    return state
            raise _bad_request("Bad Request: chat not found")
        found = self._chats.get(_to_integer(chat_id_str))
        if found is None:
            raise _bad_request("Bad Request: chat not found")
        return found

    def _check_can_send(self, state: _ChatState) -> None:
        if state.chat["type"] == "private" and state.chat["id"] in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _check_reply(self, req: _Request, state: _ChatState) -> JsonDict | None:
        params = _json_arg(req, "reply_parameters", "Can't parse reply parameters JSON object")
        reply_id = 0
        allow_missing = _to_bool(req.arg("allow_sending_without_reply"))
        if isinstance(params, dict):
            reply_id = int(params.get("message_id") or 0)
            allow_missing = bool(params.get("allow_sending_without_reply", allow_missing))
        elif req.has("reply_to_message_id"):
            reply_id = _to_integer(req.arg("reply_to_message_id"))
        if reply_id <= 0:
            return None
        stored = state.messages.get(reply_id)
        if stored is None:
            if allow_missing:
                return None
            raise _bad_request("Bad Request: message to be replied not found")
        replied = copy.deepcopy(stored.message)
        replied.pop("reply_to_message", None)
        return replied

    def _new_bot_message(self, state: _ChatState, content: JsonDict) -> JsonDict:
        message: JsonDict = {
            "message_id": self._new_message_id(state),
            "from": dict(self.bot_user),
            "chat": copy.deepcopy(state.chat),
            "date": int(time.time()),
        }
        message.update(content)
        return message

    def _store_file(
        self, kind: str, content: bytes, filename: str | None, mime_type: str | None
    ) -> StoredFile:
        n = next(self._file_counter)
        digest = hashlib.sha256(content + str(n).encode()).hexdigest()
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        ext = ""
        if filename and "." in filename:
            ext = "." + filename.rsplit(".", 1)[1]
        folder = "photos" if kind == "photo" else "documents"
        stored = StoredFile(
            file_id=f"{prefix}{digest[:40]}",
            file_unique_id=f"AgAD{digest[40:52]}",
            file_path=f"{folder}/file_{n}{'.jpg' if kind == 'photo' else ext}",
            filename=filename,
            content=content,
            mime_type=mime_type,
            kind=kind,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    @staticmethod
    def _document_json(stored: StoredFile) -> JsonDict:
        result: JsonDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        if stored.filename:
            result["file_name"] = stored.filename
        if stored.mime_type:
            result["mime_type"] = stored.mime_type
        return result

    def _photo_sizes(self, stored: StoredFile, width: int, height: int) -> list[JsonDict]:
        sizes: list[JsonDict] = []
        biggest = max(width, height, 1)
        seen: set[tuple[int, int]] = set()
        for box in (90, 320, 800, 1280, 2560):
            scale = min(1.0, box / biggest)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            if size in seen:
                continue
            seen.add(size)
            if scale == 1.0:
                variant = stored
            else:
                variant = self._store_file("photo", stored.content, stored.filename, "image/jpeg")
            sizes.append(
                {
                    "file_id": variant.file_id,
                    "file_unique_id": variant.file_unique_id,
                    "file_size": max(1, round(stored.file_size * scale * scale)),
                    "width": size[0],
                    "height": size[1],
                }
            )
            if scale == 1.0:
                break
        return sizes

    def _input_file(self, req: _Request, field_name: str) -> tuple[UploadedFile | None, str]:
        """(uploaded part, file_id or URL) for a file parameter, per get_input_file."""
        value = req.arg(field_name)
        if value.startswith("attach://"):
            return req.files.get(value[len("attach://") :]), ""
        if value:
            return None, value
        return req.files.get(field_name), ""

    def _apply_caption(self, req: _Request, content: JsonDict) -> None:
        caption, entities = _format_text(
            req.arg("caption"),
            req.arg("parse_mode"),
            req.arg("caption_entities"),
            allow_empty=True,
            limit=MAX_CAPTION_LENGTH,
            too_long="message caption is too long",
        )
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities

    def _send_media(self, req: _Request, kind: str) -> JsonDict:
        upload, reference = self._input_file(req, kind)
        if upload is None and not reference:
            raise _bad_request(f"There is no {kind} in the request")
        content: JsonDict = {}
        self._apply_caption(req, content)
        inline, other = _parse_reply_markup(req.arg("reply_markup"), inline_only=False)
        state = self._require_chat(req.arg("chat_id"))
        self._check_can_send(state)
        reply_to = self._check_reply(req, state)
        chat_id = int(state.chat["id"])
        self._check_rate(chat_id)

        dims = (1280, 720)  # used when the real size is unknown (URL / empty placeholder)
        if upload is not None:
            if not upload.content:
                raise _bad_request("File must be non-empty")
            if kind == "photo":
                measured = _image_size(upload.content)
                if measured is None:
                    raise _bad_request("IMAGE_PROCESS_FAILED")
                if len(upload.content) > MAX_PHOTO_SIZE:
                    raise _bad_request("PHOTO_SAVE_FILE_INVALID")
                w, h = measured
                if w <= 0 or h <= 0 or w + h > 10000 or max(w, h) > 20 * min(w, h):
                    raise _bad_request("PHOTO_INVALID_DIMENSIONS")
                stored = self._store_file("photo", upload.content, upload.filename, "image/jpeg")
            else:
                mime = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
                stored = self._store_file("document", upload.content, upload.filename, mime)
        elif reference.lower().startswith(("http://", "https://")):
            # Telegram would download the URL; the fake stores an empty placeholder.
            name = reference.rsplit("/", 1)[-1] or None
            stored = self._store_file(kind, b"", name, "image/jpeg" if kind == "photo" else None)
        else:
            known = self._files.get(reference)
            if known is None:
                raise _bad_request("Bad Request: wrong file identifier/HTTP URL specified")
            if known.kind != kind:
                raise _bad_request("Bad Request: type of file mismatch")
            stored = known

        if kind == "photo":
            w, h = _image_size(stored.content) or dims
            content["photo"] = self._photo_sizes(stored, w, h)
        else:
            content["document"] = self._document_json(stored)
        if reply_to is not None:
            content["reply_to_message"] = reply_to
        if inline is not None:
            content["reply_markup"] = inline
        message = self._new_bot_message(state, content)
        state.messages[message["message_id"]] = _StoredMessage(
            message=copy.deepcopy(message),
            from_bot=True,
            kind=kind,
            reply_keyboard=other,
            file=stored,
        )
        self._count_send(chat_id)
        return message

    def _find_message(self, req: _Request, what: str) -> tuple[_ChatState, _StoredMessage]:
        chat_id_str = req.arg("chat_id")
        message_id = _int_arg(req.arg("message_id"), 0)
        if not chat_id_str and message_id <= 0:
            if not req.has("inline_message_id"):
                raise _bad_request("Message identifier is not specified")
            raise _bad_request("MESSAGE_ID_INVALID")  # inline messages are not modelled
        state = self._require_chat(chat_id_str)
        stored = state.messages.get(message_id) if message_id > 0 else None
        if stored is None:
            raise _bad_request(f"{what} not found")
        return state, stored

    @staticmethod
    def _scope_key(scope: JsonDict) -> str:
        kind = scope.get("type", "default")
        key: JsonDict = {"type": kind}
        if "chat_id" in scope:
            key["chat_id"] = str(scope["chat_id"])
        if "user_id" in scope:
            key["user_id"] = int(scope["user_id"])
        return json.dumps(key, sort_keys=True)

    def _scope_and_language(self, req: _Request) -> tuple[str, str]:
        scope = _json_arg(req, "scope", "Can't parse BotCommandScope JSON object")
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict):
            raise _bad_request("Can't parse BotCommandScope: BotCommandScope must be an Object")
        kind = scope.get("type")
        if not isinstance(kind, str):
            raise _bad_request("Can't parse BotCommandScope: Can't find field \"type\"")
        simple = ("default", "all_private_chats", "all_group_chats", "all_chat_administrators")
        if kind not in simple:
            if kind not in ("chat", "chat_administrators", "chat_member"):
                raise _bad_request("Can't parse BotCommandScope: Unsupported type specified")
            if scope.get("chat_id") in (None, ""):
                raise _bad_request("Can't parse BotCommandScope: Can't find field \"chat_id\"")
            if kind == "chat_member" and not (isinstance(scope.get("user_id"), int) and scope["user_id"] > 0):
                raise _bad_request("Can't parse BotCommandScope: Invalid user_id specified")
            self._require_chat(str(scope["chat_id"]))
        language = req.arg("language_code")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise _bad_request("Invalid language code specified")
        return self._scope_key(scope), language

    # ------------------------------------------------------------------ methods

    def _m_get_me(self, req: _Request) -> JsonDict:
        me = dict(self.bot_user)
        me.update(
            {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )
        return me

    def _m_get_updates(self, req: _Request) -> list[JsonDict]:
        offset = _int_arg(req.arg("offset"), 0)
        limit = _int_arg(req.arg("limit"), 100, 1, 100)
        timeout = _int_arg(req.arg("timeout"), 0, 0)
        allowed = _json_arg(req, "allowed_updates", "Can't parse allowed_updates JSON object")
        with self._cond:
            if self.webhook_url:
                raise ApiError(409, GET_UPDATES_WEBHOOK_CONFLICT)
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()  # an older long poll gets 409 "terminated by other..."
            if isinstance(allowed, list):
                self._allowed_updates = frozenset(str(a) for a in allowed) or None
            if offset > 0:
                self._updates = [u for u in self._updates if int(u["update_id"]) >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            deadline = time.monotonic() + timeout
            while True:
                if self._stopping:
                    return []
                if generation != self._poll_generation:
                    raise ApiError(409, GET_UPDATES_TERMINATED)
                if self.webhook_url:
                    raise ApiError(409, GET_UPDATES_TERMINATED_BY_WEBHOOK)
                batch = self._take_updates(limit)
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0:
                    return batch
                self._cond.wait(remaining)

    def _take_updates(self, limit: int) -> list[JsonDict]:
        def allowed(update: JsonDict) -> bool:
            kinds = [k for k in update if k != "update_id"]
            kind = kinds[0] if kinds else ""
            if self._allowed_updates is None:
                return kind not in DEFAULT_ALLOWED_UPDATES_EXCLUDED
            return kind in self._allowed_updates

        self._updates = [u for u in self._updates if allowed(u)]
        return copy.deepcopy(self._updates[:limit])

    def _m_set_webhook(self, req: _Request) -> tuple[bool, str]:
        url = req.arg("url")
        if not url:
            return self._m_delete_webhook(req)
        now = time.monotonic()
        if now < self._next_set_webhook_at:
            raise _too_many_requests(1)
        self._next_set_webhook_at = now + 1
        secret = req.arg("secret_token")
        max_connections = _int_arg(req.arg("max_connections"), 40, 1, 100)
        drop = _to_bool(req.arg("drop_pending_updates"))
        allowed = _json_arg(req, "allowed_updates", "Can't parse allowed_updates JSON object")
        if (
            url == self.webhook_url
            and (secret or None) == self.webhook_secret
            and max_connections == self.webhook_max_connections
            and req.arg("ip_address") == self._webhook_ip
            and not drop
        ):
            if isinstance(allowed, list):
                self._webhook_allowed_updates = [str(a) for a in allowed]
            return True, "Webhook is already set"
        if drop:
            self._updates.clear()
        try:
            parts = urllib.parse.urlsplit(url if "://" in url else "https://" + url)
            port = parts.port
        except ValueError as exc:
            raise _bad_request("Bad Request: invalid webhook URL specified") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad_request("Bad Request: invalid webhook URL specified")
        if len(secret) > 256:
            raise _bad_request("Bad Request: secret token is too long")
        if not re.fullmatch(r"[A-Za-z0-9_-]*", secret):
            raise _bad_request("Bad Request: secret token contains unallowed characters")
        if not self.local_mode:
            if parts.scheme != "https":
                raise _bad_request("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            if (port or 443) not in WEBHOOK_PORTS:
                raise _bad_request(
                    "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
                )
        self.webhook_url = url
        self.webhook_secret = secret or None
        self.webhook_max_connections = max_connections
        self._webhook_ip = req.arg("ip_address")
        self._webhook_last_error = None
        if isinstance(allowed, list):
            self._webhook_allowed_updates = [str(a) for a in allowed]
            self._allowed_updates = frozenset(self._webhook_allowed_updates) or None
        self._cond.notify_all()  # a pending long poll gets 409 "terminated by setWebhook"
        return True, "Webhook was set"

    def _m_delete_webhook(self, req: _Request) -> tuple[bool, str]:
        if _to_bool(req.arg("drop_pending_updates")):
            self._updates.clear()
        if not self.webhook_url:
            return True, "Webhook is already deleted"
        self.webhook_url = ""
        self.webhook_secret = None
        self.webhook_max_connections = 40
        self._webhook_ip = ""
        self._webhook_last_error = None
        return True, "Webhook was deleted"

    def _m_send_message(self, req: _Request) -> JsonDict:
        if not req.arg("text"):
            raise _bad_request("Message text is empty")
        text, entities = _format_text(
            req.arg("text"),
            req.arg("parse_mode"),
            req.arg("entities"),
            allow_empty=False,
            limit=MAX_MESSAGE_LENGTH,
            too_long="Message is too long",
        )
        inline, other = _parse_reply_markup(req.arg("reply_markup"), inline_only=False)
        state = self._require_chat(req.arg("chat_id"))
        self._check_can_send(state)
        reply_to = self._check_reply(req, state)
        chat_id = int(state.chat["id"])
        self._check_rate(chat_id)
        content: JsonDict = {"text": text}
        if entities:
            content["entities"] = entities
        if reply_to is not None:
            content["reply_to_message"] = reply_to
        if inline is not None:
            content["reply_markup"] = inline
        message = self._new_bot_message(state, content)
        state.messages[message["message_id"]] = _StoredMessage(
            message=copy.deepcopy(message), from_bot=True, kind="text", reply_keyboard=other
        )
        self._count_send(chat_id)
        return message

    def _m_edit_message_text(self, req: _Request) -> JsonDict:
        if not req.arg("text"):
            raise _bad_request("Message text is empty")
        text, entities = _format_text(
            req.arg("text"),
            req.arg("parse_mode"),
            req.arg("entities"),
            allow_empty=False,
            limit=MAX_MESSAGE_LENGTH,
            too_long="Message is too long",
        )
        inline, _ = _parse_reply_markup(req.arg("reply_markup"), inline_only=True)
        state, stored = self._find_message(req, "message to edit")
        if not stored.from_bot:
            raise _bad_request("Bad Request: message can't be edited")
        if stored.kind != "text":
            raise _bad_request("Bad Request: there is no text in the message to edit")
        message = stored.message
        if (
            message.get("text") == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == inline
        ):
            raise ApiError(400, MESSAGE_NOT_MODIFIED)
        chat_id = int(state.chat["id"])
        if self._count_edits:
            self._check_rate(chat_id)
        stored.history.append(message.get("text"))
        message["text"] = text
        if entities:
            message["entities"] = entities
        else:
            message.pop("entities", None)
        if inline is not None:
            message["reply_markup"] = inline
        else:
            message.pop("reply_markup", None)  # omitting reply_markup removes the keyboard
        message["edit_date"] = int(time.time())
        if self._count_edits:
            self._count_send(chat_id)
        return copy.deepcopy(message)

    def _m_answer_callback_query(self, req: _Request) -> bool:
        query_id = req.arg("callback_query_id")
        query = self._callbacks.get(query_id)
        if query is None or query["answered"]:
            raise ApiError(400, QUERY_ID_INVALID)
        text = req.arg("text")
        if len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        url = req.arg("url")
        if url:
            raise _bad_request("URL_INVALID")  # only game / t.me/bot?start= URLs are allowed
        query["answered"] = True
        self.callback_answers[query_id] = {
            "text": text or None,
            "show_alert": _to_bool(req.arg("show_alert")),
            "cache_time": _int_arg(req.arg("cache_time"), 0, 0),
        }
        return True

    def _m_send_photo(self, req: _Request) -> JsonDict:
        return self._send_media(req, "photo")

    def _m_send_document(self, req: _Request) -> JsonDict:
        return self._send_media(req, "document")

    def _m_get_file(self, req: _Request) -> JsonDict:
        stored = self._files.get(req.arg("file_id"))
        if stored is None:
            raise _bad_request("invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_SIZE:
            raise _bad_request("Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def _m_set_my_commands(self, req: _Request) -> bool:
        raw = _json_arg(req, "commands", "Can't parse commands JSON object")
        commands = [] if raw is None else raw
        if not isinstance(commands, list):
            raise _bad_request("Expected an Array of BotCommand")
        key = self._scope_and_language(req)
        result: list[JsonDict] = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad_request("Can't parse BotCommand: expected an Object")
            for name in ("command", "description"):
                if not isinstance(item.get(name), str):
                    raise _bad_request(f"Can't parse BotCommand: Can't find field \"{name}\"")
            command = str(item["command"]).strip().removeprefix("/")
            description = str(item["description"]).strip()
            if not command:
                raise _bad_request("Command must be non-empty")
            if len(command) > 32:
                raise _bad_request("Command length must not exceed 32")
            if not description:
                raise _bad_request("Command description must be non-empty")
            if len(description) > 256:
                raise _bad_request("Command description length must not exceed 256")
            if not re.fullmatch(r"[a-z0-9_]+", command):
                raise _bad_request("BOT_COMMAND_INVALID")
            result.append({"command": command, "description": description})
        if len(result) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        if result:
            self.commands[key] = result
        else:
            self.commands.pop(key, None)
        return True
