"""Someone reads the database after Anna finished an anonymous round on Telegram: every message the
bot stored for her (its outbox, the replies to her presses included) is lined up against the
round's completed responses. Nothing with her id on it may carry her result or one of her answers,
or a button that names one of the responses."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.messages import replies_from_json
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import (
    Identity,
    Membership,
    Outbox,
    Person,
    Response,
    ResponseStatus,
    Role,
    RoundParticipant,
)
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.report_data import install_mini, make_round, make_unit
from tests.test_telegram import USER, Chat, fake, with_app

__all__ = ["fake"]  # the fake Telegram server fixture, used by name below

RESPONSE_BUTTON = re.compile(r"^[agxbr]:(\d+)")


def _anonymous_round_with_anna(runtime: Runtime, telegram: FakeTelegramAPI) -> tuple[int, int]:
    now = runtime.clock.now()
    telegram.add_chat(USER, first_name="Anna")
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        unit = make_unit(session, "Ystad school", now)
        round_id = make_round(session, version, unit, now, threshold=2, anonymous=True)
        anna = Person(display_name="Anna", locale="en", created_at=now)
        session.add(anna)
        session.flush()
        session.add(
            Identity(person_id=anna.id, platform="telegram", platform_user_id=str(USER), address=str(USER))
        )
        session.add(Membership(person_id=anna.id, unit_id=unit, role=Role.STAFF, joined_at=now))
        session.add(RoundParticipant(round_id=round_id, person_id=anna.id, unit_id=unit, invited_at=now))
        return round_id, anna.id


def test_nothing_the_bot_stored_for_anna_carries_her_anonymous_result(
    runtime: Runtime, fake: FakeTelegramAPI
) -> None:
    round_id, anna = _anonymous_round_with_anna(runtime, fake)

    async def answer(_app: object, chat: Chat) -> list[str]:
        await chat.say("/assess")
        await chat.press(chat.last, chat.last.button_texts()[0][0])  # the round on offer
        for label in ("Teacher", "New", "2", "4", "1", "5"):
            if any(label in row for row in chat.last.button_texts()):
                await chat.press(chat.last, label)
        return chat.texts()

    said = with_app(runtime, fake, answer)
    assert any("Your result" in text for text in said), said

    with runtime.sessions() as session:
        completed = set(
            session.scalars(
                select(Response.id).where(
                    Response.round_id == round_id, Response.status == ResponseStatus.COMPLETED
                )
            )
        )
        assert len(completed) == 1
        assert session.scalar(select(Response.person_id).where(Response.id.in_(completed))) is None
        for row in session.scalars(select(Outbox).where(Outbox.person_id == anna)):
            for reply in replies_from_json(row.payload):
                assert "Your result" not in reply.text, f"a {row.kind} row keeps her result"
                assert "Your answer" not in reply.text, f"a {row.kind} row keeps one of her answers"
                for choice in reply.flat_choices:
                    found = RESPONSE_BUTTON.match(choice.payload)
                    assert not (found and int(found.group(1)) in completed), f"a {row.kind} row names it"
