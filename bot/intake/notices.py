"""Short notices an adapter needs before (or instead of) the conversation: refusals it detects itself.

The adapter detects the situation (a user from another workspace, a file it could not fetch); the
wording stays in the core, in the person's language.
"""

from __future__ import annotations

import enum

from bot.i18n import Translator


class Notice(enum.Enum):
    FOREIGN_WORKSPACE = "foreign_workspace"
    FILE_TOO_LARGE = "file_too_large"
    FILE_UNREADABLE = "file_unreadable"


def render(notice: Notice, t: Translator) -> str:
    if notice is Notice.FOREIGN_WORKSPACE:
        return t._(
            "Sorry, I only work with people in the workspace I am installed in. "
            "Ask your own workspace's admin about the assessment bot."
        )
    if notice is Notice.FILE_TOO_LARGE:
        return t._(
            "That file is too large for me. Instrument files are small YAML files; please check the file."
        )
    return t._("I could not read that file. Please try sending it again.")
