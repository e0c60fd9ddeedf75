"""The HTTP front both platform fakes share: 127.0.0.1, an ephemeral port, a daemon thread.

A fake supplies one function from a request (method, path, headers, body) to an `Answer`; this
module serves it the way an API front end would: HTTP/1.1 with kept-alive connections, a backlog
for bursts of connections, and chunked or sized request bodies.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self, cast


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
        return cls(status, json.dumps(payload).encode(), headers=dict(headers or {}))


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
    # Without TCP_NODELAY an answer on a kept-alive connection can wait for the client's delayed
    # ACK.
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
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        server = cast(_Server, self.server)
        body = self._read_body()
        headers = dict(self.headers.items())
        try:
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
