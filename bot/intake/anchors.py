"""Messages whose replies mean something: the bot's message id on the platform and the anchor the
core gave it (`Reply.anchor`), so that a reply (`Incoming.reply_to`) finds what it is about.

A platform only tells the adapter a message's id once it is posted, after the event's commit, so
the adapter records it in a transaction of its own (`Engine.anchored`). Recording the same message
twice changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import upsert_insert
from storage.models import PostedMessage


def record(
    session: Session, *, platform: str, workspace: str, chat: str, message_id: str, anchor: str, at: datetime
) -> None:
    insert = upsert_insert(session.get_bind().dialect.name)
    session.execute(
        insert(PostedMessage)
        .values(
            platform=platform, workspace=workspace, chat=chat, message_id=message_id, anchor=anchor, at=at
        )
        .on_conflict_do_nothing(index_elements=["platform", "workspace", "chat", "message_id"])
    )


def find(session: Session, *, platform: str, workspace: str, chat: str, message_id: str) -> str | None:
    return session.scalar(
        select(PostedMessage.anchor).where(
            PostedMessage.platform == platform,
            PostedMessage.workspace == workspace,
            PostedMessage.chat == chat,
            PostedMessage.message_id == message_id,
        )
    )
