"""Starting and stopping `assessbot run` as a process of its own, for every test that needs one."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def launch(
    settings: Mapping[str, str], log: IO[bytes], *, die_with_parent: bool = True
) -> subprocess.Popen[bytes]:
    """`assessbot run` with exactly these ASSESSBOT_ variables (none inherited), output to `log`.

    `die_with_parent`: the process gets SIGTERM when the thread that started it ends, so it never
    outlives the test run; a test that starts processes from threads of its own must say False (and
    stop them itself), or they would end with their thread."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ASSESSBOT_")}
    env.update(settings)
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if die_with_parent else None,
    )


def terminate(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait (SIGKILL if it does not end within 30 s); the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return int(process.returncode)
