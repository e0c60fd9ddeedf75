"""Which workshop command, button and reply goes where: `register` adds them to the engine's registry."""

from __future__ import annotations

from bot.commands import Audience, Registry
from bot.i18n import N_
from bot.outbox import register_check
from bot.workshop import chat, ending


def register(registry: Registry) -> None:
    registry.command(
        "workshop start",
        Audience.EVERYONE,
        N_("run a workshop on your unit's result in this chat (principal or facilitator)"),
        'workshop start "Ystad bibliotek" "Autumn 2026" minutes 3 pick 6',
        aliases=("verkstad start",),
        in_groups=True,
    )(chat.start)
    for how, swedish in (("next", "nästa"), ("back", "tillbaka"), ("pause", "paus"), ("resume", "fortsätt")):
        registry.command(
            f"workshop {how}",
            Audience.EVERYONE,
            N_("move the workshop on"),
            f"workshop {how}",
            aliases=(f"workshop {swedish}",),
            listed=False,
            in_groups=True,
        )(chat.move_command(how))
    registry.command(
        "workshop end",
        Audience.EVERYONE,
        N_("end the workshop: the priorities, ranked by votes"),
        "workshop end",
        aliases=("workshop slut",),
        listed=False,
        in_groups=True,
    )(chat.move_command("end"))
    registry.command(
        "workshop note",
        Audience.EVERYONE,
        N_("a note on the statement being discussed"),
        "workshop note We need a shared folder",
        aliases=("workshop anteckning",),
        listed=False,
        in_groups=True,
    )(chat.note)
    registry.command(
        "workshop facilitator",
        Audience.PRINCIPAL,
        N_("name someone to run your unit's workshops"),
        "workshop facilitator @anna",
        aliases=("workshop samtalsledare",),
        in_groups=True,
    )(chat.facilitator)
    registry.action("wv", in_groups=True)(chat.on_vote)
    registry.action("wm", in_groups=True)(chat.on_move)
    registry.reply_to("ws")(chat.on_reply)
    ending.register(registry)
    register_check(chat.KIND, chat.still_due)
