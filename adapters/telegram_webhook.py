"""The Telegram webhook: updates POSTed by Telegram, on the bounded aiohttp server.

python-telegram-bot's own webhook server (Tornado, with its defaults: bodies up to 100 MB read
before any handler runs, idle connections kept for an hour) is not used; this one checks, in order,
the length (from the headers), the secret header Telegram sends with every update (403 before a
byte of the body is read), the body within its timeout, and its shape (400 unless it is a JSON
object python-telegram-bot can read as an Update). A good update is handled before it is answered
200, so an update whose handling a crash cut short is delivered again.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from adapters.http_server import Limits, Readiness, Refused, make_app, read_body, start

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - the header's name
AppType = Application[Any, Any, Any, Any, Any, Any]


class Updates:
    """The POST handler: a checked update into the Application's queue."""

    def __init__(self, application: AppType, secret: str) -> None:
        self.application = application
        self.secret = secret.encode()

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            raise Refused(403, "wrong or missing secret token")
        update = self._update(await read_body(request))
        # Acknowledged only once handled (the engine has committed): a process killed mid-update
        # leaves it unacknowledged, and Telegram delivers it again. Through the update processor,
        # so one chat's updates still run one at a time.
        application = self.application
        await application.update_processor.process_update(update, application.process_update(update))
        return web.Response(text="ok\n")

    def _update(self, body: bytes) -> Update:
        try:
            data = json.loads(body)
        except ValueError:  # not JSON (or not UTF-8)
            raise Refused(400, "the body is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise Refused(400, "the body is not an update")
        try:
            return Update.de_json(data, self.application.bot)
        # python-telegram-bot reads the fields it knows as the types Telegram sends; other types
        # surface as these.
        except (ValueError, TypeError, KeyError, AttributeError):
            raise Refused(400, "the body is not an update") from None


async def start_webhook(
    application: AppType,
    *,
    url: str,
    path: str,
    listen: str,
    port: int,
    secret: str,
    allowed_updates: Sequence[str],
    limits: Limits,
    ready: Readiness | None,
) -> web.AppRunner:
    """Listen for updates on listen:port/path, then tell Telegram where to send them."""
    app = make_app(limits, ready)
    app.router.add_post(path, Updates(application, secret).handle)
    runner, _ = await start(app, listen, port)
    try:
        await application.bot.set_webhook(url=url, secret_token=secret, allowed_updates=list(allowed_updates))
    except BaseException:
        await runner.cleanup()
        raise
    return runner
