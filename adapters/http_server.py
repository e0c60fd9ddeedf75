"""The public HTTP endpoints' server (Slack's request URL, the Telegram webhook): aiohttp's, bounded.

Whoever can reach the port can send anything, so nothing is read that has not been bounded first:
* aiohttp's own parser refuses a malformed request line or header, and a negative or non-numeric
  Content-Length, with 400; request lines and header fields are capped at 8 kB, headers at 48.
* A POST must say how long it is (411 otherwise, chunked bodies included) and that length must be
  at most `Limits.max_body` (413): both are refused from the headers alone, before any body byte.
* aiohttp closes a connection that has no complete request within `keepalive_timeout`, from the
  moment it is accepted and again after each response: that is our `idle_seconds`, and it bounds
  both unfinished headers (a slowloris) and idle keep-alive connections. A body that takes longer
  than `body_seconds` gets 408.
* The bodies being read or handled at once may announce at most `Limits.max_in_flight` bytes in
  all; past that a request gets 503 at once, so many slow bodies cannot fill the memory.
* A refused request gets its status and the connection is closed (no lingering read of the rest).
* One event loop serves every connection: a half-open connection costs a socket, not a thread.
`/healthz` answers 200 when the process is up and ready (the database answers and its schema is
current), else 503, for a load balancer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware

from bot.config import Config

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2_000_000  # Slack's largest payloads are tens of kB, Telegram's updates a few
MAX_IN_FLIGHT_BYTES = 32_000_000  # bodies being read or handled at once, by their announced length
HEALTH_PATH = "/healthz"
HEALTH_SECONDS = 3.0  # a probe that takes longer is answered 503
MAX_HEADERS = 48
BACKLOG = 128  # a burst of clicks from many people queues instead of being refused
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

Readiness = Callable[[], bool]  # blocking: may this process take traffic? (raising means no)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Limits:
    max_body: int = MAX_BODY_BYTES
    max_in_flight: int = MAX_IN_FLIGHT_BYTES
    idle_seconds: float = 15.0
    body_seconds: float = 10.0

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        return cls(idle_seconds=config.http_idle_timeout, body_seconds=config.http_body_timeout)


class Refused(Exception):
    """Answer this status and close the connection (a handler's way to turn a request away)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


LIMITS = web.AppKey("limits", Limits)


def refusal(status: int, reason: str) -> web.Response:
    response = web.Response(status=status, text=reason + "\n")
    response.force_close()  # do not read (or wait for) the rest of what was sent
    return response


async def read_body(request: web.Request) -> bytes:
    """The whole body, within the body timeout (its length was checked by `_bounded`)."""
    try:
        async with asyncio.timeout(request.app[LIMITS].body_seconds):
            return await request.read()
    except TimeoutError:
        raise Refused(408, "the request body took too long") from None
    except web.HTTPRequestEntityTooLarge:
        raise Refused(413, "the request body is too large") from None


def _bounded(limits: Limits) -> Middleware:
    in_flight = 0  # bytes of bodies announced by the requests being read or handled right now

    @web.middleware
    async def bounded(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal in_flight
        length = 0
        if request.method in BODY_METHODS:
            length = request.content_length or 0
            if (
                request.content_length is None
                or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
            ):
                return refusal(411, "a Content-Length is required")
            if length > limits.max_body:
                return refusal(413, "the request body is too large")
            # Many bodies sent slowly at once would each be held until complete: past the budget
            # a request is turned away at once (Slack and Telegram retry) instead of held.
            if in_flight + length > limits.max_in_flight:
                return refusal(503, "too many requests at once")
        in_flight += length
        try:
            return await handler(request)
        except Refused as refused:
            return refusal(refused.status, refused.reason)
        finally:
            in_flight -= length

    return bounded


class Health:
    """`/healthz`: one readiness probe at a time in a worker thread, answered within HEALTH_SECONDS.

    Requests that arrive while a probe runs share its outcome, so a database that hangs holds one
    thread, not one per load-balancer request.
    """

    def __init__(self, ready: Readiness, timeout: float = HEALTH_SECONDS) -> None:
        self._ready = ready
        self._timeout = timeout
        self._probe: asyncio.Future[bool] | None = None

    async def handle(self, _request: web.Request) -> web.Response:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(asyncio.to_thread(self._ready))
        try:
            ready = await asyncio.wait_for(asyncio.shield(self._probe), self._timeout)
        except Exception as error:  # the database does not answer (or not in time)
            log.warning("health check: not ready (%s)", type(error).__name__)
            ready = False
        if ready:
            return web.Response(text="ok\n")
        return web.Response(status=503, text="not ready\n")


class _MalformedRequests(logging.Filter):
    """aiohttp logs each request its parser refused (already answered 400) as an error with a
    traceback: one line will do, or anyone could fill the log with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "refused a malformed request: %s", (error.message,)
            record.exc_info, record.exc_text = None, None
        return True


_MALFORMED = _MalformedRequests()


def make_app(limits: Limits, ready: Readiness | None) -> web.Application:
    """An application with the bounds in place and `/healthz`; the caller adds its own routes."""
    logging.getLogger("aiohttp.server").addFilter(_MALFORMED)  # once: filters are a set
    app = web.Application(client_max_size=limits.max_body, middlewares=[_bounded(limits)])
    app[LIMITS] = limits
    app.router.add_get(HEALTH_PATH, Health(ready or (lambda: True)).handle)
    return app


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0: any free port); returns the runner (`cleanup()` stops it) and the port."""
    limits = app[LIMITS]
    runner = web.AppRunner(
        app,
        access_log=None,  # request lines are not worth a log line each; errors are logged
        keepalive_timeout=limits.idle_seconds,
        # Slack and Telegram send about a dozen headers (a proxy adds a few): 48 of at most 8 kB
        # bound what one connection's headers can hold.
        max_headers=MAX_HEADERS,
        # Neither platform compresses what it sends: a compressed body is read as it came (and is
        # then not JSON: 400) rather than inflated up to the size limit.
        auto_decompress=False,
        lingering_time=0,
        shutdown_timeout=2.0,
        handle_signals=False,
    )
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=BACKLOG).start()
    return runner, int(runner.addresses[0][1])


class ThreadedServer:
    """The server on an event loop of its own in a background thread, for synchronous callers."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="http-server", daemon=True)

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> ThreadedServer:
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError(f"the HTTP server on port {self._port} did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start(), which raises it in the caller
            self._error = error
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner, self._port = await start(self._app, self._host, self._port)
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
