"""Benchmark 3, fan-out: 10,000 reminders through the real Telegram adapter to the fake Bot API
server, which enforces a per-second limit (set high, e.g. 500/s, so the run is short). Figure: the
achieved send rate; baseline: the allowed rate; target ratio >= 0.9, with zero lost and zero
duplicated (every outbox row sent once; the fake server counts each chat's messages).

It needs the Telegram adapter (`adapters/telegram.py`, with the outbox `Sender`) and the fake Bot
API server (`tests/fakes/telegram_api.py`), which land with the Telegram issue. Until both are in
the tree it reports "not available yet" instead of a made-up figure.

Plan once they land: write 10,000 `reminder` rows to the outbox for 10,000 people (each with a
Telegram identity), start the fake server with limit=500/s, run `bot.outbox.Dispatcher` with the
adapter's Sender until the outbox is drained, then compare the fake's received messages (per chat:
exactly one) with the outbox rows (all `sent`).
"""

from __future__ import annotations

from importlib.util import find_spec

from bench.databases import Database
from bench.registry import Outcome, Sizes, register

NEEDS = ("adapters.telegram", "tests.fakes.telegram_api")


def missing() -> list[str]:
    return [name for name in NEEDS if find_spec(name) is None]


@register("fanout", "10,000 reminders through the Telegram adapter to a rate-limited fake Bot API")
def run(database: Database, sizes: Sizes) -> Outcome:
    absent = missing()
    if absent:
        return Outcome(figures=f"needs {', '.join(absent)} (the Telegram issue)", available=False)
    return Outcome(
        figures="the Telegram adapter and its fake server are present; wire the run up (see bench/fanout.py)",
        available=False,
    )
