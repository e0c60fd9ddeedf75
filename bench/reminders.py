"""Due reminders for people who each have a Telegram chat of their own (fan-out and the crowd's wave)."""

from __future__ import annotations

from sqlalchemy import insert

from bot.messages import Choice, Reply, replies_to_json
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Identity, Outbox, OutboxState, Person


def people_with_reminders(app: Runtime, n: int, *, first_chat: int, name: str, key: str) -> None:
    """N people named `name`0.. in chats `first_chat`.., and one due reminder each (keys `key`:0..)."""
    now = app.clock.now()
    payload = replies_to_json(
        [Reply("Time for your self-assessment.", ((Choice("Continue", "cmd:assess"),),))]
    )
    with transaction(app.sessions) as session:
        people = session.scalars(
            insert(Person).returning(Person.id, sort_by_parameter_order=True),
            [{"display_name": f"{name}{i}", "created_at": now} for i in range(n)],
        ).all()
        session.execute(
            insert(Identity),
            [
                {
                    "person_id": pid,
                    "platform": "telegram",
                    "workspace": "",
                    "platform_user_id": str(first_chat + i),
                    "address": str(first_chat + i),
                }
                for i, pid in enumerate(people)
            ],
        )
        session.execute(
            insert(Outbox),
            [
                {
                    "person_id": pid,
                    "kind": "reminder",
                    "payload": payload,
                    "due_at": now,
                    "idempotency_key": f"{key}:{i}",
                    "state": OutboxState.PENDING,
                    "attempts": 0,
                }
                for i, pid in enumerate(people)
            ],
        )
