"""What both platform fakes share: the HTTP front, request bodies, call records, faults and rate windows.

`FakeHttpServer` serves a function from a request (method, path, headers by lower-case name, body) to
an `Answer` the way an API front end would: 127.0.0.1 at an ephemeral port, HTTP/1.1 with kept-alive
connections, a backlog for bursts of connections, chunked or sized request bodies. `FakeService` is the base of each fake:
start/stop, the recorded `Call`s, the faults a test queues (`fail_next`) and the sliding-window limits.
"""

from __future__ import annotations

import bisect
import contextlib
import email.parser
import email.policy
import json
import math
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

JsonDict = dict[str, Any]


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, payload: Mapping[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
    ) -> Self:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode(), headers=dict(headers or {}))


class Refused(Exception):
    """An error answer of a platform: its HTTP status, JSON body and any extra headers."""

    def __init__(self, status: int, body: JsonDict, headers: dict[str, str] | None = None) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def answer(self) -> Answer:
        return Answer.json(self.body, status=self.status, headers=self.headers)


@dataclass(frozen=True)
class Call:
    """One request the bot made: the method, its decoded parameters (no token), when it arrived,
    and what was answered. `files` holds uploaded parts as name -> (filename, bytes)."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    response: JsonDict = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is not False

    @property
    def error(self) -> str | None:
        """Slack's error code, Telegram's description, or None when the call succeeded."""
        return None if self.ok else str(self.response.get("error") or self.response.get("description"))


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart/form-data body."""

    filename: str
    content: bytes


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Parameters of a JSON, form-encoded or multipart body; raises ValueError for broken JSON.

    JSON values stay decoded; form and multipart fields are strings; file parts are `Upload`s.
    """
    mime = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}, {}
    if mime == "application/json":
        value = json.loads(body.decode("utf-8"))
        if not isinstance(value, dict):
            raise ValueError("a JSON object is expected")
        return value, {}
    if mime != "multipart/form-data":  # form-encoded, and urllib's default for raw data
        return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), {}
    head = b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if not isinstance(name, str):
            continue
        if part.get_filename() is not None:
            files[name] = Upload(str(part.get_filename()), data)
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8", "replace")
    return fields, files


class Window:
    """Sliding-window limit of `rate` events a second per key: `capacity` events per `span` seconds."""

    def __init__(self, rate: float) -> None:
        self.capacity = max(1, math.floor(rate))
        self.span = self.capacity / rate
        self.hits: dict[object, deque[float]] = {}

    def wait(self, key: object, now: float) -> int | None:
        """Seconds to wait (>= 1) if one more event on `key` would exceed the rate, else None."""
        hits = self.hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.span:
            hits.popleft()
        return max(1, math.ceil(hits[0] + self.span - now)) if len(hits) >= self.capacity else None

    def hit(self, key: object, now: float) -> None:
        self.hits.setdefault(key, deque()).append(now)


class FakeService:
    """The base of a platform fake: lifecycle, recorded calls, queued faults.

    A subclass gives `_route` (the request -> `Answer` function served) and `_rate_limited`
    (the platform's 429 for a wait of so many seconds).
    """

    server_name = "fake"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._http = FakeHttpServer(self._route, name=self.server_name)
        self._calls: list[Call] = []
        self._faults: dict[str, deque[Refused]] = {}
        self.rejected_429 = 0

    def _route(self, verb: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        raise NotImplementedError

    def _rate_limited(self, retry_after: int) -> Refused:
        raise NotImplementedError

    def start(self) -> Self:
        """Serve on 127.0.0.1 at an ephemeral port, from a daemon thread."""
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def calls(self) -> list[Call]:
        """Every request answered so far, in order of arrival (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_of(self, method: str) -> list[Call]:
        """The recorded calls of one method, failed ones included (filter on `Call.ok`)."""
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def _keep(self, call: Call) -> None:
        with self._lock:
            if call.status == 429:
                self.rejected_429 += 1
            bisect.insort(self._calls, call, key=lambda c: c.at)  # a long poll is answered late

    def fail_next(self, method: str, times: int = 1, *, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with the platform's 429 (retry after so long)."""
        for _ in range(times):
            self._queue_fault(method, self._rate_limited(retry_after))

    def _queue_fault(self, method: str, fault: Refused) -> None:
        with self._lock:
            self._faults.setdefault(method, deque()).append(fault)

    def _take_fault(self, method: str) -> Refused | None:
        with self._lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None


Route = Callable[[str, str, Mapping[str, str], bytes], Answer]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Like a real API front end, accept a burst of concurrent connections (the default backlog is 5).
    request_queue_size = 128
    allow_reuse_address = True
    route: Route
    server_name_header: str


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY an answer on a kept-alive connection can wait for the client's delayed ACK.
    disable_nagle_algorithm = True

    _date: tuple[int, str] = (0, "")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def version_string(self) -> str:
        return cast(_Server, self.server).server_name_header

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, formatted once a second rather than once an answer."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        if _Handler._date[0] != now:
            _Handler._date = (now, super().date_time_string(now))
        return _Handler._date[1]

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        server = cast(_Server, self.server)
        body = self._read_body()
        try:
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = server.route(self.command, self.path, headers, body)
        except Exception as exc:  # a bug in the fake itself: say so rather than drop the connection
            answer = Answer.json({"ok": False, "error": "fatal_error", "detail": repr(exc)}, status=500)
        extra = "".join(f"{key}: {value}\r\n" for key, value in answer.headers.items())
        # Status line, headers and body in one write: one system call per answer, not two.
        head = (
            f"{self.protocol_version} {answer.status} {self.responses.get(answer.status, ('',))[0]}\r\n"
            f"Server: {self.version_string()}\r\nDate: {self.date_time_string()}\r\n"
            f"Content-Type: {answer.content_type}\r\nContent-Length: {len(answer.body)}\r\n{extra}\r\n"
        )
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            self.wfile.write(head.encode("latin-1") + answer.body)  # (e.g. a cancelled long poll)


class FakeHttpServer:
    """Serves `route` on 127.0.0.1 at an ephemeral port from a daemon thread."""

    def __init__(self, route: Route, *, name: str) -> None:
        self._route = route
        self._name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        server = _Server(("127.0.0.1", 0), _Handler)
        server.route = self._route
        server.server_name_header = self._name
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self._name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not started")
        return int(self._server.server_address[1])
