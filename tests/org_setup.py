"""Steps shared by the admin tests: claiming admin rights and building an organisation by chat."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.messages import Reply
from bot.runtime import Runtime
from tests.harness import Conversation, texts

CODE = re.compile(r"join ([2-9A-HJ-NP-Z]{6})\b")


def code_from(replies: Sequence[Reply]) -> str:
    match = CODE.search(texts(replies))
    assert match, texts(replies)
    return match.group(1)


def claim_admin(runtime: Runtime, user_id: str = "alva", name: str = "Alva Admin") -> Conversation:
    """The first admin, claiming the code printed at first start."""
    assert runtime.admin_claim_code is not None
    admin = Conversation(runtime.engine, user_id, display_name=name)
    assert "You are now an administrator" in texts(admin.say(f"join {runtime.admin_claim_code}"))
    return admin


def person(runtime: Runtime, user_id: str, name: str, code: str, locale: str = "en") -> Conversation:
    conversation = Conversation(runtime.engine, user_id, display_name=name, locale_hint=locale)
    conversation.say(f"join {code}")
    return conversation


@dataclass
class Organisation:
    """Region Skåne (Ystad, Lund) and Region Halland (Halmstad), with one person per role."""

    admin: Conversation
    manager: Conversation  # of Region Skåne
    principal: Conversation  # of Ystad bibliotek
    staff: Conversation  # of Ystad bibliotek
    lund_staff: Conversation
    halmstad_staff: Conversation


def build_organisation(runtime: Runtime) -> Organisation:
    admin = claim_admin(runtime)
    admin.say('unit create "Region Skåne"')
    admin.say('unit create "Ystad bibliotek" parent "Region Skåne"')
    admin.say('unit create "Lunds bibliotek" parent "Region Skåne"')
    admin.say('unit create "Region Halland"')
    admin.say('unit create "Halmstad bibliotek" parent "Region Halland"')

    def invite(words: str) -> str:
        return code_from(admin.say(f"unit invite {words}"))

    return Organisation(
        admin=admin,
        manager=person(runtime, "maja", "Maja Manager", invite('"Region Skåne" role manager')),
        principal=person(runtime, "pia", "Pia Principal", invite('"Ystad bibliotek" role principal')),
        staff=person(runtime, "sven", "Sven Staff", invite('"Ystad bibliotek"')),
        lund_staff=person(runtime, "lars", "Lars Lund", invite('"Lunds bibliotek"')),
        halmstad_staff=person(runtime, "hanna", "Hanna Halmstad", invite('"Halmstad bibliotek"')),
    )
