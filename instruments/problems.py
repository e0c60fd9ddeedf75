"""A problem found in an instrument file, kept as a message template and rendered in the reader's
language, with the line and the field path where it was found."""

from __future__ import annotations

from dataclasses import dataclass, field

from babel import Locale, UnknownLocaleError

from bot.i18n import Translator


def language_name(code: str, locale: str) -> str:
    """The language's name in the reader's language (sv -> Swedish / svenska); the code if unknown."""
    try:
        name = Locale.parse(code).get_language_name(locale)
    except (ValueError, UnknownLocaleError):
        return code
    return name or code


@dataclass(frozen=True)
class Problem:
    line: int
    path: str
    message: str
    params: dict[str, object] = field(default_factory=dict)

    def render(self, t: Translator) -> str:
        params = dict(self.params)
        if isinstance(params.get("language"), str):
            # "missing text in Swedish", not "in sv": the admin may not know the code.
            params["language"] = language_name(str(params["language"]), t.locale)
        text = t._(self.message, **params) if params else t._(self.message)
        where = t._("line %(line)s", line=self.line)
        return f"{where}, {self.path}: {text}" if self.path else f"{where}: {text}"


class InstrumentInvalid(Exception):
    def __init__(self, filename: str, problems: list[Problem]) -> None:
        super().__init__(f"{filename}: {len(problems)} problem(s)")
        self.filename = filename
        self.problems = sorted(problems, key=lambda p: (p.line, p.path))

    def render(self, t: Translator) -> str:
        head = t.ngettext(
            "%(file)s has %(n)s problem, nothing was saved:",
            "%(file)s has %(n)s problems, nothing was saved:",
            len(self.problems),
            file=self.filename,
        )
        return "\n".join([head, *("  " + p.render(t) for p in self.problems)])
