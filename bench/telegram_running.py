"""The Telegram adapter as `assessbot run` runs it, in a thread of the benchmark's process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.config import Config
from bot.runtime import Runtime

if TYPE_CHECKING:
    from adapters.telegram import TelegramSender


@contextlib.contextmanager
def telegram_running(
    config: Config, app: Runtime, sender: TelegramSender, *, within: float
) -> Iterator[None]:
    """`adapters.telegram.run` long polling in a thread, the sender bound to its loop, until the
    block ends; the block starts once the sender runs (within `within` seconds). The app's database
    is disposed of after."""
    from adapters import telegram

    stop = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            telegram.run(config, app.engine, sender, stop)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    bot = threading.Thread(target=serve, name="bench-telegram", daemon=True)
    try:
        bot.start()
        started = time.monotonic()
        while not sender.running:
            if failure or time.monotonic() - started > within:
                raise RuntimeError(f"the Telegram adapter did not start: {failure or 'timeout'}")
            time.sleep(0.02)
        yield
    finally:
        stop.set()
        bot.join(timeout=30)
        app.db.dispose()
