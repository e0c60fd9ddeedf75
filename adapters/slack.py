"""The Slack adapter (Bolt for Python): inbound translation and the entry points. The rendering of
replies is adapters/slack_render.py (Block Kit in adapters/slack_blocks.py), the outbox Sender
adapters/slack_sender.py.

Thin on purpose: every decision (what a command means, who may do it, what to say) is the engine's.
This module only turns Slack payloads into `Incoming`, hands them to `Engine.handle`, and renders the
replies in the person's DM with the app.

Slack facts this module is built around (Slack's public API docs):
* `chat.postMessage` to a user id posts in the app's DM and answers with its `D...` id; `chat.update`
  and `files_upload_v2` need that `D...` id, so the DM channel is what we store as the address.
* Commands and button clicks must be acknowledged within 3 s: every listener acks first and works
  afterwards (events are acked by Bolt before the listener runs).
* Bolt does not drop Slack's retries: the Events API `event_id`, and for clicks the click's own
  `action_ts`, become `Incoming.event_id`, which the engine records under a unique constraint.
* File URLs need the bot token as a bearer header and answer a redirect to a sign-in page
  otherwise; we never follow redirects and send the token only to Slack's (or the configured) host.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from adapters.http_server import Limits
from adapters.slack_blocks import ACTION_ID_PATTERN, home_view
from adapters.slack_http import EVENTS_PATH, SlackHttpServer
from adapters.slack_render import Click, deliver
from adapters.slack_sender import PLATFORM as PLATFORM
from adapters.slack_sender import SlackSender as SlackSender
from bot.config import Config
from bot.engine import Engine
from bot.intake.notices import Notice
from bot.log_redaction import content
from bot.messages import Attachment, Incoming, Reply
from bot.runtime import Runtime

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1_000_000  # instruments are small YAML files
USER_INFO_SECONDS = 600.0
DOWNLOAD_TIMEOUT = 15.0


def make_client(config: Config) -> WebClient:
    """The Web API client: the configured host (GovSlack) and Slack's Retry-After honoured."""
    kwargs: dict[str, Any] = {"token": config.slack_bot_token}
    if config.slack_api_url:
        base = config.slack_api_url
        kwargs["base_url"] = base if base.endswith("/") else base + "/"
    client = WebClient(**kwargs)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


# ---------------------------------------------------------------------------------- the adapter


@dataclass(frozen=True)
class SlackUser:
    team_id: str | None
    locale: str | None
    display_name: str | None


class FileRefused(Exception):
    def __init__(self, notice: Notice) -> None:
        super().__init__(notice.value)
        self.notice = notice


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect from a file URL means "not authorised" (Slack's sign-in page): stop there."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class SlackAdapter:
    """The Bolt app and its listeners over one engine, for one installed workspace."""

    def __init__(
        self,
        engine: Engine,
        client: WebClient,
        *,
        signing_secret: str | None,
        answer_after_handling: bool = False,
    ) -> None:
        self.engine = engine
        self.client = client
        auth = client.auth_test()
        self.team_id = str(auth["team_id"])
        self.bot_user_id = str(auth["user_id"])
        self._users: dict[str, tuple[float, SlackUser]] = {}
        self._dms: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._finished = 0
        self._finished_changed = threading.Condition()
        self.app = App(
            client=client,
            # Socket Mode needs no signing secret (the socket is authenticated; Bolt skips the check).
            signing_secret=signing_secret or "",
            # In HTTP mode Slack's request is answered once its listener has returned (the engine
            # has committed): a process killed mid-event leaves it unanswered, and Slack retries it.
            process_before_response=answer_after_handling,
            listener_executor=ThreadPoolExecutor(max_workers=8, thread_name_prefix="slack-listener"),
            logger=logging.getLogger("adapters.slack.bolt"),
        )
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("app_home_opened")(self._on_home_opened)
        self.app.command("/assess")(self._on_command)
        self.app.action(ACTION_ID_PATTERN)(self._on_action)

    # -------------------------------------------------------------- observability (tests, health)

    @property
    def finished(self) -> int:
        """How many listener runs have finished (whatever they did)."""
        with self._finished_changed:
            return self._finished

    def wait_finished(self, count: int, timeout: float = 15.0) -> bool:
        with self._finished_changed:
            return self._finished_changed.wait_for(lambda: self._finished >= count, timeout)

    @contextmanager
    def _run(self) -> Iterator[None]:
        try:
            yield
        except SlackApiError as error:
            log.warning("Slack API error while handling a request: %s", error.response.get("error"))
        except Exception:
            log.exception("unexpected error in a Slack listener")
        finally:
            with self._finished_changed:
                self._finished += 1
                self._finished_changed.notify_all()

    # -------------------------------------------------------------- listeners

    def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        with self._run():
            subtype = event.get("subtype")
            if subtype not in (None, "file_share") or event.get("bot_id") or not event.get("user"):
                return  # edits, deletions, joins and bots (ourselves included) are not a person talking
            if event.get("user") == self.bot_user_id:
                return
            if event.get("channel_type") != "im":
                self._in_thread(body, event)
                return
            user_id = str(event["user"])
            channel = str(event["channel"])
            self._remember_dm(user_id, channel)
            user = self._user(user_id)
            if self._foreign(event.get("user_team") or event.get("team"), user):
                self._post(channel, self.engine.notice(Notice.FOREIGN_WORKSPACE, user.locale))
                return
            attachment: Attachment | None = None
            files = event.get("files") or []
            if subtype == "file_share" and files:
                try:
                    attachment = self._download(files[0])
                except FileRefused as refused:
                    self._post(channel, self.engine.notice(refused.notice, user.locale))
                    return
            incoming = self._incoming(
                user_id,
                user,
                address=channel,
                text=_unescape(str(event.get("text") or "")),
                attachment=attachment,
                event_id=str(body.get("event_id") or "") or None,
            )
            self._converse(incoming, channel)

    def _in_thread(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A message in a channel's thread: the core decides whether it answers one of our
        messages (a workshop statement's notes); other channel messages are not for us."""
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == event.get("ts") or event.get("subtype"):
            return
        user_id = str(event["user"])
        user = self._user(user_id)
        if self._foreign(event.get("user_team") or event.get("team"), user):
            return
        channel = str(event["channel"])
        incoming = self._incoming(
            user_id,
            user,
            address=channel,
            text=_unescape(str(event.get("text") or "")),
            event_id=str(body.get("event_id") or "") or None,
            is_private=False,
            reply_to=str(thread_ts),
        )
        self._converse(incoming, channel, thread_ts=str(thread_ts))

    def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """@assessbot in a channel: the engine answers "let's talk in private" (is_private=False)."""
        with self._run():
            user_id = str(event.get("user") or "")
            if not user_id or event.get("bot_id"):
                return
            user = self._user(user_id)
            channel = str(event["channel"])
            if self._foreign(event.get("user_team") or event.get("team"), user):
                self._post(channel, self.engine.notice(Notice.FOREIGN_WORKSPACE, user.locale))
                return
            incoming = self._incoming(
                user_id,
                user,
                address=None,
                text=str(event.get("text") or ""),
                event_id=str(body.get("event_id") or "") or None,
                is_private=False,
            )
            self._post(channel, self.engine.handle(incoming))

    def _on_home_opened(self, event: dict[str, Any]) -> None:
        with self._run():
            if event.get("tab") != "home" or not event.get("user"):
                return
            user_id = str(event["user"])
            user = self._user(user_id)
            if self._foreign(None, user):
                return
            channel = str(event.get("channel") or "")
            address = channel if channel.startswith("D") else None
            if address:
                self._remember_dm(user_id, address)
            replies = self.engine.home(self._incoming(user_id, user, address=address))
            self.client.views_publish(user_id=user_id, view=home_view(replies))

    def _on_command(self, ack: Callable[..., None], command: dict[str, Any], respond: Any) -> None:
        ack()  # within Slack's 3 s, before any work
        with self._run():
            user_id = str(command["user_id"])
            user = self._user(user_id)
            if self._foreign(command.get("team_id"), user):
                respond(text=_plain(self.engine.notice(Notice.FOREIGN_WORKSPACE, user.locale)))
                return
            channel = str(command.get("channel_id") or "")
            words = _unescape(str(command.get("text") or "")).strip()
            # A workshop's command typed in a channel is the channel's; every other command, wherever
            # it was typed, goes on in the person's DM with the app (the core says which is which).
            in_channel = (
                bool(channel) and not channel.startswith("D") and self.engine.answered_in_groups(words)
            )
            where = channel if in_channel else self._dm(user_id)
            incoming = self._incoming(
                user_id,
                user,
                address=where,
                text=words or "assess",
                # A slash command is never retried by Slack; its trigger_id is unique per invocation.
                event_id=f"cmd:{command.get('trigger_id')}" if command.get("trigger_id") else None,
                is_private=not in_channel,
            )
            self._converse(incoming, where)

    def _on_action(
        self, ack: Callable[..., None], body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        ack()
        with self._run():
            user_id = str(body["user"]["id"])
            user = self._user(user_id)
            team = body["user"].get("team_id") or (body.get("team") or {}).get("id")
            if self._foreign(team, user):
                respond(
                    text=_plain(self.engine.notice(Notice.FOREIGN_WORKSPACE, user.locale)),
                    replace_original=False,
                )
                return
            container = body.get("container") or {}
            click: Click | None = None
            if container.get("type") == "message" and container.get("channel_id"):
                click = Click(str(container["channel_id"]), str(container["message_ts"]))
            in_channel = click is not None and not click.channel.startswith("D")
            if click is not None and not in_channel:
                self._remember_dm(user_id, click.channel)
            where = click.channel if click else self._dm(user_id)
            value = str(action.get("value") or "")
            incoming = self._incoming(
                user_id,
                user,
                address=where,
                action=value,
                event_id=_click_identity(user_id, container, action),
                is_private=not in_channel,
            )
            self._converse(incoming, where, click)

    # -------------------------------------------------------------- the conversation

    def _incoming(self, user_id: str, user: SlackUser, *, address: str | None, **fields: Any) -> Incoming:
        content.debug("slack %s: text %r, action %r", user_id, fields.get("text"), fields.get("action"))
        return Incoming(
            platform=PLATFORM,
            user_id=user_id,
            workspace=self.team_id,
            address=address,
            locale_hint=user.locale,
            display_name=user.display_name,
            **fields,
        )

    def _converse(
        self, incoming: Incoming, channel: str, click: Click | None = None, *, thread_ts: str | None = None
    ) -> None:
        # One person's events one at a time (in this process): two quick typed answers must not both
        # read the same cursor. Other people are not held up.
        with self._lock_for(incoming.user_id):
            replies = self.engine.handle(incoming)
            deliver(self.client, channel, replies, click=click, thread_ts=thread_ts, anchored=self.anchored)

    def anchored(self, channel: str, ts: str, anchor: str) -> None:
        """A posted message with an anchor: its thread's replies will find what it is about."""
        self.engine.anchored(
            platform=PLATFORM, workspace=self.team_id, chat=channel, message_id=ts, anchor=anchor
        )

    def _post(self, channel: str, replies: Sequence[Reply]) -> None:
        deliver(self.client, channel, replies)

    def _lock_for(self, user_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(user_id, threading.Lock())

    def _foreign(self, payload_team: object, user: SlackUser) -> bool:
        """A user of another workspace (e.g. over Slack Connect) is not one of ours."""
        teams = {str(t) for t in (payload_team, user.team_id) if t}
        return any(team != self.team_id for team in teams)

    def _user(self, user_id: str) -> SlackUser:
        now = time.monotonic()
        with self._guard:
            cached = self._users.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            data = self.client.users_info(user=user_id, include_locale=True)["user"]
            profile = data.get("profile") or {}
            user = SlackUser(
                team_id=data.get("team_id"),
                locale=data.get("locale"),
                display_name=profile.get("real_name") or data.get("real_name") or profile.get("display_name"),
            )
        except SlackApiError as error:
            log.info("users.info failed: %s", error.response.get("error"))
            user = SlackUser(None, None, None)
        with self._guard:
            self._users[user_id] = (now + USER_INFO_SECONDS, user)
        return user

    def _remember_dm(self, user_id: str, channel: str) -> None:
        with self._guard:
            self._dms[user_id] = channel

    def _dm(self, user_id: str) -> str:
        """The app's DM channel with the person (a command can come from any channel)."""
        with self._guard:
            known = self._dms.get(user_id)
        if known:
            return known
        channel = str(self.client.conversations_open(users=user_id)["channel"]["id"])
        self._remember_dm(user_id, channel)
        return channel

    # -------------------------------------------------------------- files

    def _download(self, file: dict[str, Any]) -> Attachment:
        size = int(file.get("size") or 0)
        if size > MAX_FILE_BYTES:
            raise FileRefused(Notice.FILE_TOO_LARGE)
        url = file.get("url_private_download") or file.get("url_private")
        if not url and file.get("id"):
            # Slack may send a stub ("file_access": "check_file_info"): ask for the full object.
            file = self.client.files_info(file=str(file["id"]))["file"]
            url = file.get("url_private_download") or file.get("url_private")
            if int(file.get("size") or 0) > MAX_FILE_BYTES:
                raise FileRefused(Notice.FILE_TOO_LARGE)
        if not url or not self._trusted_file_url(str(url)):
            raise FileRefused(Notice.FILE_UNREADABLE)
        request = urllib.request.Request(  # noqa: S310 - scheme and host checked above
            str(url), headers={"Authorization": f"Bearer {self.client.token}"}
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=DOWNLOAD_TIMEOUT) as response:
                content = response.read(MAX_FILE_BYTES + 1)
        except (urllib.error.URLError, OSError) as error:
            log.warning("file download failed: %s", type(error).__name__)
            raise FileRefused(Notice.FILE_UNREADABLE) from error
        if len(content) > MAX_FILE_BYTES:
            raise FileRefused(Notice.FILE_TOO_LARGE)
        name = str(file.get("name") or file.get("title") or "upload")
        return Attachment(name, content)

    def _trusted_file_url(self, url: str) -> bool:
        """Send the bot token only to Slack's file hosts or to the configured API host."""
        parsed = urllib.parse.urlsplit(url)
        api = urllib.parse.urlsplit(self.client.base_url)
        if (parsed.scheme, parsed.netloc) == (api.scheme, api.netloc):
            return True
        host = parsed.hostname or ""
        slack_host = host in ("slack.com", "slack-gov.com") or host.endswith((".slack.com", ".slack-gov.com"))
        return parsed.scheme == "https" and slack_host


def _click_identity(user_id: str, container: dict[str, Any], action: dict[str, Any]) -> str:
    """One click, one id: a redelivered request carries the same action_ts, a second click a new one."""
    raw = ":".join(
        str(part)
        for part in (
            action.get("action_ts"),
            user_id,
            container.get("message_ts") or container.get("view_id") or "",
            action.get("action_id"),
            action.get("value"),
        )
    )
    return "act:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _unescape(text: str) -> str:
    """Slack sends typed text with &, < and > as entities (its mrkdwn escaping); undo exactly that."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(replies: Sequence[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


# ---------------------------------------------------------------------------------- entry points


def build_adapter(runtime: Runtime, client: WebClient | None = None) -> SlackAdapter:
    config = runtime.config
    if not config.slack_bot_token and client is None:
        raise ValueError("ASSESSBOT_SLACK_BOT_TOKEN is not set")
    return SlackAdapter(
        runtime.engine,
        client or make_client(config),
        signing_secret=config.slack_signing_secret,
        answer_after_handling=not config.slack_app_token,  # HTTP mode
    )


def build_app(runtime: Runtime, client: WebClient | None = None) -> App:
    return build_adapter(runtime, client).app


def socket_mode_handler(adapter: SlackAdapter, app_token: str) -> Any:
    """Socket Mode (the default): no public URL; the handler does not connect until `start()`."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(adapter.app, app_token)


def run(app: Runtime, stop: threading.Event | None = None) -> None:
    """Run the Slack bot until `stop` is set (or forever): Socket Mode if an app token is set, else HTTP."""
    config = app.config
    stop = stop or threading.Event()
    adapter = build_adapter(app)
    if config.slack_app_token:
        log.info("Slack: Socket Mode")
        handler = socket_mode_handler(adapter, config.slack_app_token)
        handler.connect()
        try:
            stop.wait()
        finally:
            handler.close()
        return
    if config.slack_signing_secret:
        server = SlackHttpServer(
            adapter.app,
            signing_secret=config.slack_signing_secret,
            port=config.slack_port,
            limits=Limits.from_config(config),
            ready=app.ready,
        ).start()
        log.info("Slack: HTTP mode on port %s, path %s", server.port, EVENTS_PATH)
        try:
            stop.wait()
        finally:
            server.close()
        return
    raise ValueError(
        "Set ASSESSBOT_SLACK_APP_TOKEN (Socket Mode) or ASSESSBOT_SLACK_SIGNING_SECRET (HTTP mode)"
    )
