"""Slack's request URL (HTTP mode): Bolt's synchronous App behind aiohttp's server.

Why this shape: the listeners are synchronous (the engine is one database transaction, and Socket
Mode runs the very same `App`), so rather than a second, asynchronous Bolt app the bounded aiohttp
server of adapters/http_server.py reads and checks each request and hands it to `App.dispatch` in a
small thread pool. Bolt acknowledges at once and runs the listener in its own executor.

Order of the checks, cheapest and least revealing first: length (from the headers), then the body
within its timeout (and in UTF-8), then Slack's signature (401 on a bad or stale one, before the body is parsed, so
an unsigned client learns nothing more), then the body's shape (400 for one Bolt could not read).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from adapters.http_server import Limits, Readiness, Refused, ThreadedServer, make_app, read_body

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
DISPATCHERS = 8  # Bolt's dispatch only acknowledges (listeners run in Bolt's own executor)


class SlackEvents:
    """The POST handler: a checked request to Bolt, Bolt's response back."""

    def __init__(self, app: App, signing_secret: str) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret)
        self.pool = ThreadPoolExecutor(max_workers=DISPATCHERS, thread_name_prefix="slack-dispatch")

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = (await read_body(request)).decode("utf-8")
        except UnicodeDecodeError:  # Slack sends UTF-8 (and the signature is computed on text)
            raise Refused(400, "the body is not UTF-8") from None
        headers = {name.lower(): value for name, value in request.headers.items()}
        if not self.verifier.is_valid_request(body, headers):
            raise Refused(401, "invalid or stale signature")
        bolt_request = _bolt_request(body, request.query_string, headers)
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self.pool, self.app.dispatch, bolt_request)
        out = web.Response(status=response.status, body=(response.body or "").encode("utf-8"))
        for name, values in response.headers.items():
            if name.lower() not in ("content-length", "content-type"):
                for value in values:
                    out.headers.add(name, value)
        content_type = response.headers.get("content-type")
        if content_type:
            out.headers["Content-Type"] = content_type[0]
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _bolt_request(body: str, query: str, headers: dict[str, str]) -> BoltRequest:
    """Bolt's request, or 400 for a body that is not what Slack sends (a dict, as JSON or a form)."""
    try:
        bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
        return BoltRequest(body=body, query=query, headers=bolt_headers)
    # ValueError: JSON (the body, or a form's `payload`) that does not parse;
    # AttributeError and TypeError: JSON that parses to something other than an object, which
    # Bolt reads as if it were one.
    except (ValueError, AttributeError, TypeError):
        raise Refused(400, "the body is not a Slack request") from None


class SlackHttpServer:
    """Slack's request URL on its own thread: POSTs on `path` to Bolt, and `/healthz`."""

    def __init__(
        self,
        app: App,
        *,
        signing_secret: str,
        host: str = "0.0.0.0",  # noqa: S104 - Slack must be able to reach it
        port: int = 3000,
        path: str = EVENTS_PATH,
        limits: Limits | None = None,
        ready: Readiness | None = None,
    ) -> None:
        self.path = path
        self.host = host
        self.events = SlackEvents(app, signing_secret)
        web_app = make_app(limits or Limits(), ready)
        web_app.router.add_post(path, self.events.handle)
        self._server = ThreadedServer(web_app, host, port)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}{self.path}"

    def start(self) -> SlackHttpServer:
        self._server.start()
        return self

    def close(self) -> None:
        self._server.close()
        self.events.close()
