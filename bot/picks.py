"""Numbered choices wherever the bot asks "which?": a list with a button per number, and the
command that asked run again with the pick.

A command that cannot tell which unit or which person is meant raises `ask(...)`: the reply lists
the options numbered, with a button for each number (`cmd:<n>`, as if typed), and the person's
waiting prompt keeps the command and, per option, the arguments to run it with. The number
(pressed or typed) runs the command again, through the engine, with the same permission check as
when it is typed, and the command checks its arguments afresh: a pick is never trusted more than
the words it stands for.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands import Context, UsageError
from bot.messages import Choice, Reply

KIND = "pick"
PER_ROW = 5


def ask(
    ctx: Context, question: str, labels: Sequence[str], command: str, options: Sequence[Sequence[str]]
) -> UsageError:
    """The question with `labels` numbered and a button per number; raise what this returns.
    `options[i]` are the arguments `command` runs with when number i + 1 is picked."""
    ctx.person.pending = {"kind": KIND, "command": command, "options": [list(o) for o in options]}
    lines = [question, *(f"{n}. {label}" for n, label in enumerate(labels, start=1))]
    buttons = [Choice(str(n), f"cmd:{n}") for n in range(1, len(labels) + 1)]
    rows = tuple(tuple(buttons[i : i + PER_ROW]) for i in range(0, len(buttons), PER_ROW))
    return UsageError("\n".join(lines), (*rows, (Choice(ctx.t._("Cancel"), "cmd:cancel"),)))


def picked(ctx: Context, pending: dict[str, object], text: str) -> tuple[str, list[str]] | list[Reply]:
    """The answer to a numbered list: the command and its arguments, or what to say instead."""
    t = ctx.t
    raw = pending.get("options")
    options = [[str(a) for a in o] for o in raw if isinstance(o, list)] if isinstance(raw, list) else []
    answer = text.strip().removesuffix(".")
    if not (answer.isascii() and answer.isdigit()):
        return [Reply(t._("Cancelled: nothing was changed."))]
    if not 1 <= int(answer) <= len(options):
        ctx.person.pending = dict(pending)  # still waiting for a number from the list
        return [Reply(t._("Pick one of 1 to %(n)s; nothing was changed.", n=len(options)))]
    return str(pending.get("command", "")), options[int(answer) - 1]
