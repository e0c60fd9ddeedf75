"""`assessbot run`: every configured platform, the outbox dispatcher, and timed work, until stopped.

Each platform runs in its own thread (python-telegram-bot and Slack's Socket Mode each bring their
own loop); the outbox dispatcher drains every few seconds through the platforms' senders, and the
scheduler's periodic scans run in the one process that holds the leader lock. SIGINT or
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

from bot.follow_up import scheduler
from bot.messages import Sender
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

    sender = telegram.TelegramSender(app.clock, anchored=app.engine.anchored)
    return Platform(
        telegram.PLATFORM,
        sender,
        lambda stop: telegram.run(app.config, app.engine, sender, stop, ready=app.ready),
    )


def slack_platform(app: Runtime) -> Platform | None:
    if not app.config.slack_enabled:
        return None
    from adapters import slack

    sender = slack.SlackSender(slack.make_client(app.config), anchored=app.engine.anchored)
    return Platform(slack.PLATFORM, sender, lambda stop: slack.run(app, stop))


# Platform starters, tried in order; each returns None when its platform is not configured.
PLATFORMS: list[Callable[[Runtime], Platform | None]] = [telegram_platform, slack_platform]


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

    threads = [threading.Thread(target=guarded, args=(p,), name=f"platform-{p.name}") for p in platforms]
    for thread in threads:
        thread.start()
    # The outbox dispatcher runs in every process; the scheduler only where this process leads.
    background = scheduler.start_background(
        app, {p.name: p.sender for p in platforms}, dispatch_every=dispatch_every
    )
    while not stop.wait(1.0):
        pass
    background.stop()
    for thread in threads:
        thread.join(timeout=60)
    return 1 if failed else 0
