"""`assessbot run`: every configured platform, the outbox dispatcher, and timed work, until stopped.

Each platform runs in its own thread (python-telegram-bot and Slack's Socket Mode each bring their
own loop); the outbox dispatcher drains every few seconds through the platforms' senders. SIGINT or
SIGTERM stops everything cleanly; so does a platform that fails (it is logged, and the exit code
says so, so a supervisor restarts the process).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from bot.messages import Sender
from bot.outbox import Dispatcher
from bot.runtime import Runtime

log = logging.getLogger(__name__)

DISPATCH_EVERY = 3.0  # seconds between outbox scans


@dataclass(frozen=True)
class Platform:
    """A configured platform: its outbox sender and a blocking `run(stop)` that returns once stop is set."""

    name: str
    sender: Sender
    run: Callable[[threading.Event], None]


def telegram_platform(app: Runtime) -> Platform | None:
    if not app.config.telegram_enabled:
        return None
    from adapters import telegram

    sender = telegram.TelegramSender(app.clock)
    return Platform(
        telegram.PLATFORM, sender, lambda stop: telegram.run(app.config, app.engine, sender, stop)
    )


# Platform starters, tried in order; each returns None when its platform is not configured.
# Slack: add `slack_platform` here (same shape as `telegram_platform`).
PLATFORMS: list[Callable[[Runtime], Platform | None]] = [telegram_platform]

# Background services started next to the platforms (e.g. the scheduler): each gets the runtime and
# the stop event and returns the thread it started (joined at shutdown).
SERVICES: list[Callable[[Runtime, threading.Event], threading.Thread | None]] = []


def dispatch_outbox(dispatcher: Dispatcher, stop: threading.Event, every: float = DISPATCH_EVERY) -> None:
    while not stop.is_set():
        try:
            dispatcher.drain()
        except Exception:
            log.exception("outbox dispatch failed; trying again shortly")
        stop.wait(every)


def run_platforms(
    app: Runtime, stop: threading.Event | None = None, *, dispatch_every: float = DISPATCH_EVERY
) -> int:
    """Run until SIGINT/SIGTERM (or `stop` is set); 0 on a clean stop, 1 if a platform failed,
    2 if none is configured."""
    platforms = [p for starter in PLATFORMS if (p := starter(app)) is not None]
    if not platforms:
        log.error("no chat platform is configured (set ASSESSBOT_TELEGRAM_TOKEN, or the Slack tokens)")
        return 2
    stop = stop or threading.Event()
    failed: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping (signal %s)", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def guarded(platform: Platform) -> None:
        try:
            platform.run(stop)
        except Exception:
            log.exception("%s stopped with an error", platform.name)
            failed.append(platform.name)
        stop.set()

    dispatcher = Dispatcher(
        app.sessions,
        {p.name: p.sender for p in platforms},
        app.clock,
        default_locale=app.config.default_locale,
    )
    threads = [threading.Thread(target=guarded, args=(p,), name=f"platform-{p.name}") for p in platforms]
    threads.append(
        threading.Thread(target=dispatch_outbox, args=(dispatcher, stop, dispatch_every), name="outbox")
    )
    for thread in threads:
        thread.start()
    for service in SERVICES:
        if (started := service(app, stop)) is not None:
            threads.append(started)
    while not stop.wait(1.0):
        pass
    for thread in threads:
        thread.join(timeout=60)
    return 1 if failed else 0
