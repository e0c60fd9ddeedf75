"""`assessbot run` as a separate process, and a raw-socket client that behaves as badly as it likes.

The endpoint tests talk to the real server over real sockets, the way an attacker on the network
would: no HTTP library between them and the bytes, so a request can be broken in any way on purpose.
The process watches its parent (PR_SET_PDEATHSIG), so it never outlives the test run.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.assessbot_process import free_port, launch, terminate

__all__ = ["BotProcess", "free_port", "running"]


class BotProcess:
    """`assessbot run` with the given ASSESSBOT_ settings; its log (stderr) goes to a file."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        self._log = tempfile.NamedTemporaryFile(prefix="assessbot-run-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = launch(settings, self._log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_listening(self, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"assessbot run exited with {self.process.returncode}:\n{self.log()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"nothing listens on port {port}:\n{self.log()}")

    def status(self, field: str) -> int:
        """A number from /proc/PID/status: VmRSS (kB) or Threads."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == field:
                return int(value.split()[0])
        raise KeyError(field)

    @property
    def rss_mb(self) -> float:
        return self.status("VmRSS") / 1024

    @property
    def threads(self) -> int:
        return self.status("Threads")

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def stop(self) -> str:
        """SIGTERM, wait, and the whole log."""
        terminate(self.process)
        text = self.log()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)
        return text


@contextlib.contextmanager
def running(settings: Mapping[str, str], port: int) -> Iterator[BotProcess]:
    bot = BotProcess(settings)
    try:
        bot.wait_listening(port)
        yield bot
    finally:
        bot.stop()


# ---------------------------------------------------------------------------------- the raw client


@dataclass(frozen=True)
class Outcome:
    """What the server did: the status it answered (None if none), and whether it closed the socket."""

    status: int | None
    closed: bool
    seconds: float
    head: bytes = b""


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(
    port: int,
    data: bytes,
    *,
    wait: float = 8.0,
    then: Callable[[socket.socket], None] | None = None,
) -> Outcome:
    """Send `data` (and whatever `then` sends), then read until the server answers or closes."""
    started = time.monotonic()
    with connect(port) as sock:
        sock.sendall(data)
        if then is not None:
            with contextlib.suppress(OSError):  # the server may have answered and closed meanwhile
                then(sock)
        return read_outcome(sock, started, wait)


def read_outcome(sock: socket.socket, started: float, wait: float) -> Outcome:
    received = b""
    deadline = started + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:  # reset by the server: closed
            return Outcome(_status(received), True, time.monotonic() - started, received)
        if not chunk:
            return Outcome(_status(received), True, time.monotonic() - started, received)
        received += chunk
        if b"\r\n\r\n" in received and _complete(received):
            return Outcome(_status(received), _closes(sock), time.monotonic() - started, received)
    return Outcome(_status(received), False, time.monotonic() - started, received)


def _status(received: bytes) -> int | None:
    line = received.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    return None


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def _closes(sock: socket.socket, within: float = 0.5) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes this (idle or unfinished) connection within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False


def http_get(port: int, path: str, *, wait: float = 8.0) -> Outcome:
    return exchange(
        port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode(), wait=wait
    )


def post_head(path: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(path: str, body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    return post_head(path, all_headers) + body


def stream(total: int, chunk: int = 1 << 20, seconds: float = 5.0) -> Callable[[socket.socket], None]:
    """A body sent as fast as the server takes it, up to `total` bytes or `seconds`."""

    def send(sock: socket.socket) -> None:
        block = b"x" * chunk
        sent = 0
        deadline = time.monotonic() + seconds
        sock.settimeout(1.0)
        while sent < total and time.monotonic() < deadline:
            if select.select([sock], [], [], 0)[0]:
                return  # the server has answered (or closed): no point sending more
            try:
                sock.sendall(block)
            except TimeoutError:
                continue
            sent += chunk

    return send
