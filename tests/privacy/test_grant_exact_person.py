"""Granting a role names one exact person. People choose their own display names, so an admin who
types a name must never get whoever happens to be called that: a stranger who wrote to the bot as
"Erik Svensson", or "Joanna Berg" for `@anna`. A platform mention or user id names one person; a
name only offers a numbered list of members of the admin's units to pick from."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import select
from telegram import Update

from adapters import telegram as tg
from bot.administration.admins import make_admin
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Identity, Membership, Person, Role, Unit
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.harness import Conversation, texts
from tests.org_setup import Organisation, build_organisation, claim_admin, code_from, person


@pytest.fixture
def org(runtime: Runtime) -> Organisation:
    return build_organisation(runtime)


def _is_admin(runtime: Runtime, user_id: str) -> bool:
    with runtime.sessions() as s:
        found = s.scalar(
            select(Person.is_admin)
            .join(Identity, Identity.person_id == Person.id)
            .where(Identity.platform_user_id == user_id)
        )
        return bool(found)


def _role(runtime: Runtime, user_id: str, unit: str) -> Role | None:
    with runtime.sessions() as s:
        return s.scalar(
            select(Membership.role)
            .join(Identity, Identity.person_id == Membership.person_id)
            .join(Unit, Unit.id == Membership.unit_id)
            .where(Identity.platform_user_id == user_id, Unit.name == unit)
        )


def test_a_stranger_who_calls_himself_erik_is_not_made_admin(runtime: Runtime, org: Organisation) -> None:
    stranger = Conversation(runtime.engine, "x9", display_name="Erik Svensson")
    stranger.say("hej")
    reply = texts(org.admin.say("admin grant @erik"))
    assert not _is_admin(runtime, "x9")
    assert "Erik Svensson" not in reply  # not even offered: he is in none of the admin's units
    assert "nothing was changed" in reply


def test_admin_grant_anna_does_not_grant_joanna(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ekskolan"')
    person(runtime, "jb", "Joanna Berg", code_from(admin.say('unit invite "Ekskolan"')))
    reply = texts(admin.say("admin grant @anna"))
    assert not _is_admin(runtime, "jb")
    assert "nothing was changed" in reply


def test_a_name_offers_a_numbered_list_of_members_and_the_pick_is_granted(
    runtime: Runtime, org: Organisation
) -> None:
    code = code_from(org.admin.say('unit invite "Ystad bibliotek" uses 2'))
    person(runtime, "anna1", "Anna Svensson", code)
    person(runtime, "anna2", "Anna Berg", code)
    Conversation(runtime.engine, "x8", display_name="Anna Stranger").say("hej")
    asked = org.admin.say('admin grant "Anna Berg"')
    assert not _is_admin(runtime, "anna2")  # a name alone grants nothing, not even an exact one
    listed = texts(asked)
    assert "1. Anna Berg" in listed
    assert "Anna Stranger" not in listed
    assert [c.label for c in org.admin.choices()] == ["1", "Cancel"]
    assert "Anna Berg is now an administrator." in texts(org.admin.click("1"))
    assert _is_admin(runtime, "anna2")
    assert not _is_admin(runtime, "anna1")

    both = texts(org.admin.say("admin grant anna"))
    assert "1. Anna Berg" in both
    assert "2. Anna Svensson" in both
    assert "Pick one of 1 to 2" in texts(org.admin.say("7"))
    assert not _is_admin(runtime, "anna1")


def test_a_platform_mention_names_exactly_one_person(runtime: Runtime, org: Organisation) -> None:
    slack_admin = Conversation(runtime.engine, "UADMIN", platform="slack", workspace="T1", display_name="Ada")
    erik = Conversation(runtime.engine, "UERIK", platform="slack", workspace="T1", display_name="Erik Ek")
    erik.say("hej")
    with runtime.sessions() as s:
        ada_id = s.scalar(select(Identity.person_id).where(Identity.platform_user_id == "UADMIN"))
    assert ada_id is None
    with transaction(runtime.sessions) as s:  # as `assessbot admin add --platform slack` does
        make_admin(
            s, runtime.clock.now(), platform="slack", user_id="UADMIN", workspace="T1", default_locale="en"
        )
    assert "Erik Ek is now an administrator." in texts(slack_admin.say("admin grant <@UERIK>"))
    assert _is_admin(runtime, "UERIK")
    # Slack's mention with the name it shows: the id counts, never the name.
    assert "already an administrator" in texts(slack_admin.say("admin grant <@UERIK|someone else>"))


def test_a_member_cannot_be_picked_by_forging_the_pick(runtime: Runtime, org: Organisation) -> None:
    stranger = Conversation(runtime.engine, "x9", display_name="Erik Svensson")
    stranger.say("hej")
    with runtime.sessions() as s:
        stranger_id = s.scalar(select(Identity.person_id).where(Identity.platform_user_id == "x9"))
    reply = texts(org.admin.say(f"admin grant #{stranger_id}"))
    assert not _is_admin(runtime, "x9")
    assert "nothing was changed" in reply


def test_unit_role_by_name_is_picked_from_the_unit_never_guessed(runtime: Runtime, org: Organisation) -> None:
    code = code_from(org.admin.say('unit invite "Ystad bibliotek" uses 2'))
    person(runtime, "anna1", "Anna Svensson", code)
    person(runtime, "jo", "Joanna Berg", code)
    reply = texts(org.admin.say('unit role @anna principal "Ystad bibliotek"'))
    assert _role(runtime, "jo", "Ystad bibliotek") is Role.STAFF
    assert _role(runtime, "anna1", "Ystad bibliotek") is Role.STAFF
    assert "1. Anna Svensson" in reply
    assert "Joanna" not in reply
    assert "Anna Svensson is now principal in Ystad bibliotek." in texts(org.admin.click("1"))


def test_a_plan_owner_by_name_is_picked_not_guessed(runtime: Runtime, org: Organisation) -> None:
    code = code_from(org.admin.say('unit invite "Ystad bibliotek" uses 2'))
    person(runtime, "sven2", "Sven Berg", code)
    reply = texts(org.principal.say('plan add "Share one tool a month" owner Sven due 2027-03-31'))
    assert "Added to the plan" not in reply
    assert "1. Sven Berg" in reply
    assert "2. Sven Staff" in reply
    added = texts(org.principal.click("2"))
    assert "Added to the plan: Share one tool a month" in added
    assert "Owner: Sven Staff." in added


def test_on_telegram_a_mention_of_a_user_without_username_grants_exactly_them(runtime: Runtime) -> None:
    """Telegram shows such a mention as the person's name; the message carries their id."""
    with transaction(runtime.sessions) as s:
        make_admin(s, runtime.clock.now(), platform="telegram", user_id="1001", default_locale="en")
    with FakeTelegramAPI() as fake:
        config = dataclasses.replace(
            runtime.config, telegram_token=fake.token, telegram_api_url=f"http://127.0.0.1:{fake.port}"
        )
        application, _adapter = tg.build_application(config, runtime.engine)

        async def play() -> None:
            async with application:
                for user, name in ((2002, "Erik Svensson"), (3003, "Erik Svensson")):
                    hello = fake.push_message(user, "hej", first_name=name)
                    await application.process_update(Update.de_json(hello, application.bot))
                typed = "admin grant Erik Svensson"
                update = fake.push_message(1001, typed, first_name="Ada")
                update["message"]["entities"] = [
                    {
                        "type": "text_mention",
                        "offset": len("admin grant "),
                        "length": len("Erik Svensson"),
                        "user": {"id": 3003, "is_bot": False, "first_name": "Erik", "last_name": "Svensson"},
                    }
                ]
                await application.process_update(Update.de_json(update, application.bot))

        asyncio.run(play())
        said = fake.last_message(1001)
        assert said is not None
        assert said.text == "Erik Svensson is now an administrator."
    assert _is_admin(runtime, "3003")
    assert not _is_admin(runtime, "2002")
