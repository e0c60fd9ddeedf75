"""Keyword options in admin commands: `round open X Y closes 2026-12-12 threshold 5 anonymous`.

Words before the first keyword are the positional part; a valued keyword takes every word up to
the next keyword (so `name Autumn 2026` needs no quotes); a flag stands alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from bot.commands import UsageError
from bot.i18n import Translator


@dataclass(frozen=True)
class Options:
    positional: tuple[str, ...]
    values: Mapping[str, str] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        """The positional words as one name (`Ystad bibliotek` typed without quotes)."""
        return " ".join(self.positional).strip()


def split_options(
    t: Translator, args: list[str], valued: Collection[str], flags: Collection[str] = ()
) -> Options:
    positional: list[str] = []
    values: dict[str, list[str]] = {}
    seen: set[str] = set()
    current: list[str] | None = None
    for word in args:
        key = word.lower()
        if key in valued or key in flags:
            if key in values or key in seen:
                raise UsageError(t._("%(word)s is given twice.", word=key))
            if key in flags:
                seen.add(key)
                current = None
            else:
                current = values[key] = []
            continue
        if current is not None:
            current.append(word)
        elif values or seen:
            # A stray word after the options is more likely a typo than part of a name.
            raise UsageError(t._("I don't understand %(word)s here.", word=word))
        else:
            positional.append(word)
    for key, words in values.items():
        if not words:
            raise UsageError(t._("%(word)s needs a value after it.", word=key))
    return Options(tuple(positional), {k: " ".join(v) for k, v in values.items()}, frozenset(seen))
