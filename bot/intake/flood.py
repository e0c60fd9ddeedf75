"""Flood protection: a per-person token bucket in front of the engine.

A runaway client (or someone leaning on a key) can send hundreds of events a second; each would
cost a database transaction and starve everyone else. Each person has a bucket of `burst` events
that refills at `per_second`; an event that finds it empty is refused before the database is
touched. The first refusal in a `notice_every` window gets a polite message, the rest get nothing,
so the flood is not answered with a flood.

The limits are far above human speed (answering fast and double clicks stay well inside them).

Why in process memory, when DESIGN says nothing lives only there: this is not state anyone relies
on but a coarse brake. Keeping it in SQL would cost a write per event, the very load it exists to
shed; losing it on a restart only means a fresh bucket. With N processes behind a load balancer a
person gets at most N times the limit, which still stops a flood. Entries are bounded (least
recently seen people are forgotten first), so memory stays flat however many people write.

The terminal is exempt: it is the operator's own machine, and a script piped into `assessbot chat`
goes as fast as it can on purpose.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.messages import Incoming

BURST = 60
PER_SECOND = 10.0
NOTICE_EVERY_SECONDS = 30.0
MAX_PEOPLE = 100_000
EXEMPT_PLATFORMS = frozenset({"console"})


class Verdict(enum.Enum):
    ADMIT = "admit"
    REFUSE_AND_TELL = "refuse-and-tell"
    REFUSE_QUIETLY = "refuse-quietly"


@dataclass
class _Bucket:
    tokens: float
    at: float
    told_at: float | None = None


class FloodGuard:
    def __init__(
        self,
        *,
        burst: int = BURST,
        per_second: float = PER_SECOND,
        notice_every: float = NOTICE_EVERY_SECONDS,
        max_people: int = MAX_PEOPLE,
        exempt_platforms: frozenset[str] = EXEMPT_PLATFORMS,
        seconds: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.notice_every = notice_every
        self.max_people = max_people
        self.exempt_platforms = exempt_platforms
        # Real elapsed time, not the engine's Clock: a flood happens in seconds of wall time,
        # whatever day a test's ManualClock says it is.
        self.seconds = seconds
        self._buckets: OrderedDict[tuple[str, str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()  # adapters may call the engine from several threads

    def check(self, incoming: Incoming) -> Verdict:
        if incoming.platform in self.exempt_platforms:
            return Verdict.ADMIT
        key = (incoming.platform, incoming.workspace, incoming.user_id)
        now = self.seconds()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(tokens=float(self.burst), at=now)
                self._buckets[key] = bucket
                if len(self._buckets) > self.max_people:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.per_second)
                bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return Verdict.ADMIT
            if bucket.told_at is None or now - bucket.told_at >= self.notice_every:
                bucket.told_at = now
                return Verdict.REFUSE_AND_TELL
            return Verdict.REFUSE_QUIETLY
