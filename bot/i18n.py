"""Languages: gettext catalogs (Babel) and locale-aware numbers and dates.

The catalogs live as `.po` files in `locales/`; they are compiled in memory at start-up, so there is
no build step and no stale `.mo` to forget. A missing or empty catalog is an error at start-up,
not a silent fallback to English (Babel's `Translations.load` would quietly return NullTranslations).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

ROOT = Path(__file__).resolve().parent.parent
LOCALES_DIR = ROOT / "locales"
LOCALES = ("sv", "en")
DEFAULT_LOCALE = "en"
# Where user-facing strings live; `assessbot i18n sync` extracts from these.
SOURCE_DIRS = ("bot", "adapters", "instruments", "storage")


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (it is translated when shown)."""
    return message


def pick_locale(chosen: str | None, hint: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The person's choice wins; otherwise the platform's hint (`sv-SE`, `sv`), otherwise the default."""
    if chosen in LOCALES:
        return chosen
    if hint:
        language = hint.replace("-", "_").split("_")[0].lower()
        if language in LOCALES:
            return language
        return DEFAULT_LOCALE
    return default


def parse_locale_word(word: str) -> str | None:
    """`sv`, `svenska`, `swedish`, `en`, `engelska`, `english` -> a locale code."""
    aliases = {
        "sv": "sv",
        "svenska": "sv",
        "swedish": "sv",
        "se": "sv",
        "en": "en",
        "english": "en",
        "engelska": "en",
    }
    return aliases.get(word.strip().lower())


def _po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"


@cache
def _translations(locale: str) -> Translations:
    path = _po_path(locale)
    if not path.exists():
        raise RuntimeError(f"missing translation catalog {path}")
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    if len(catalog) == 0:
        raise RuntimeError(f"translation catalog {path} is empty")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def check_catalogs() -> None:
    """Load every catalog once; raises when one is missing (called at start-up)."""
    for locale in LOCALES:
        _translations(locale)


# Named date forms. "weekday" is for dates people plan around (a round closing, a code expiring).
DATE_FORMS = {"day_month": "d MMMM", "long": "d MMMM y", "weekday": "EEEE d MMMM y"}


class Translator:
    """Everything locale-specific a reply needs: messages, plurals, numbers, dates."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE
        self._t = _translations(self.locale)
        self._babel_locale = Locale.parse(self.locale)

    def _(self, message: str, **params: object) -> str:
        text = self._t.gettext(message)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text % {"n": n, **params}

    def number(self, value: float, decimals: int = 1) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self._babel_locale)

    def signed(self, value: float, decimals: int = 1) -> str:
        text = self.number(abs(value), decimals)
        return ("+" if value >= 0 else "\u2212") + text

    def percent(self, fraction: float) -> str:
        return format_percent(fraction, locale=self._babel_locale)

    def date(self, value: date, form: str = "long") -> str:
        # Day first in both languages, as in the rest of the bot ("12 December 2026"): Babel's
        # English "long" would say "December 12, 2026" next to "due 27 November".
        pattern = DATE_FORMS.get(form, form)
        return format_date(value, format=pattern, locale=self._babel_locale)

    def datetime(self, value: datetime, tz: str = "Europe/Stockholm") -> str:
        # Day first and a 24-hour clock in both languages ("4 December 2026 04:56"): Babel's
        # English "short" said "12/4/26, 4:56 AM", which a Swedish reader takes for 12 April.
        return format_datetime(value, format="d MMMM y HH:mm", tzinfo=_zone(tz), locale=self._babel_locale)


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@cache
def translator(locale: str) -> Translator:
    return Translator(locale)


# --- catalog maintenance (`assessbot i18n sync`, and the completeness test) ---


def extract_messages(root: Path = ROOT) -> Catalog:
    catalog = _new_catalog()
    keywords = {"_": None, "N_": None, "ngettext": (1, 2)}
    for directory in SOURCE_DIRS:
        base = root / directory
        if not base.exists():
            continue
        for filename, lineno, message, comments, _context in extract_from_dir(
            str(base), keywords=keywords, comment_tags=("TRANSLATORS:",)
        ):
            catalog.add(message, None, [(f"{directory}/{filename}", lineno)], auto_comments=comments)
    return catalog


# Fixed header dates: a date that changes on every sync would make every branch conflict.
_HEADER_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def _new_catalog(locale: str | None = None) -> Catalog:
    return Catalog(
        locale=locale,
        project="assessbot",
        version="1",
        charset="utf-8",
        creation_date=_HEADER_DATE,
        revision_date=_HEADER_DATE,
        copyright_holder="assessbot developers",
    )


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # No locations and sorted output: the files change only when a message changes, which keeps
    # parallel branches mergeable.
    write_po(buffer, catalog, width=100, no_location=True, sort_output=True, omit_header=False)
    path.write_bytes(buffer.getvalue())


def sync_catalogs(root: Path = ROOT) -> dict[str, list[str]]:
    """Extract messages, rewrite the template and update both catalogs.

    English is filled in from the source strings; new Swedish entries are left empty (and the
    catalog test fails) until someone translates them. Returns the untranslated msgids per locale.
    """
    template = extract_messages(root)
    _write(template, root / "locales" / "messages.pot")
    missing: dict[str, list[str]] = {}
    for locale in LOCALES:
        path = root / "locales" / locale / "LC_MESSAGES" / "messages.po"
        old = Catalog(locale=locale)
        if path.exists():
            with path.open("rb") as fh:
                old = read_po(fh, locale=locale)
        new = _new_catalog(locale)
        for message in template:
            if not message.id:
                continue
            previous = old.get(message.id)
            string = previous.string if previous is not None else None
            if locale == "en" and not _filled(string):
                string = message.id
            new.add(message.id, string, auto_comments=message.auto_comments)
        _write(new, path)
        missing[locale] = untranslated(new)
    _translations.cache_clear()
    translator.cache_clear()
    return missing


def _filled(string: object) -> bool:
    if isinstance(string, tuple | list):
        return all(bool(s) for s in string)
    return bool(string)


def untranslated(catalog: Iterable[object]) -> list[str]:
    result = []
    for message in catalog:
        msgid = getattr(message, "id", None)
        if not msgid:
            continue
        if not _filled(getattr(message, "string", None)) or getattr(message, "fuzzy", False):
            result.append(msgid if isinstance(msgid, str) else msgid[0])
    return result
