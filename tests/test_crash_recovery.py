"""The bot process is killed right after acknowledging an answer; after a restart nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from storage.db import make_engine, make_session_factory
from storage.models import Answer

ROOT = Path(__file__).resolve().parent.parent


def start_bot(db_url: str, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ASSESSBOT_DATABASE_URL": db_url, "ASSESSBOT_OUTPUT_DIR": str(tmp_path / "out")}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "chat", "--as", "anna", "--locale", "en"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def say_and_wait(bot: subprocess.Popen[str], line: str, expected: str, timeout: float = 30) -> str:
    """Send a line and read the bot's output until `expected` shows up (the acknowledgement)."""
    assert bot.stdin is not None
    assert bot.stdout is not None
    bot.stdin.write(line + "\n")
    bot.stdin.flush()
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = bot.stdout.readline()
        if not out:
            break
        seen.append(out)
        if expected in out:
            return "".join(seen)
    raise AssertionError(f"never saw {expected!r}; got {''.join(seen)!r}")


def test_sigkill_right_after_an_acknowledged_answer_loses_nothing(db_url: str, tmp_path: Path) -> None:
    bot = start_bot(db_url, tmp_path)
    try:
        say_and_wait(bot, "assess", "Which assessment")
        say_and_wait(bot, "1", "Background question 1/4")
        for _ in range(4):
            say_and_wait(bot, "1", "Your answer")
        say_and_wait(bot, "5", "Statement 2/24")
        say_and_wait(bot, "6", "Statement 3/24")  # the second answer is acknowledged here ...
        os.kill(bot.pid, signal.SIGKILL)  # ... and the process dies at once
        bot.wait(timeout=10)
    finally:
        if bot.poll() is None:
            bot.kill()
    sessions = make_session_factory(make_engine(db_url))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 2

    again = start_bot(db_url, tmp_path)
    try:
        output = say_and_wait(again, "assess", "Statement 3/24")
        assert "Welcome back" in output
        say_and_wait(again, "7", "Statement 4/24")
    finally:
        assert again.stdin is not None
        again.stdin.close()
        again.wait(timeout=30)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 3
