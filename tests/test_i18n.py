"""Both languages ship complete, and numbers, dates and plurals follow the person's locale."""

from __future__ import annotations

from datetime import date

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, extract_messages, pick_locale, translator, untranslated


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_every_message_in_the_code_is_translated(locale: str) -> None:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    in_code = {m.id if isinstance(m.id, str) else m.id[0] for m in extract_messages() if m.id}
    in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    assert in_code - in_catalog == set(), "run `make locales` and translate the new messages"
    assert untranslated(catalog) == []


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_translations_keep_their_placeholders(locale: str) -> None:
    import re

    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    placeholder = re.compile(r"%\((\w+)\)s")
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(placeholder.findall(str(ids[-1]))) - {"n"}
        for string in strings:
            assert set(placeholder.findall(str(string))) - {"n"} == expected, message.id


def test_swedish_plural_forms() -> None:
    sv = translator("sv")
    one = sv.ngettext(
        "%(n)s statement, %(duration)s.",
        "%(n)s statements, %(duration)s.",
        1,
        duration="",
    )
    many = sv.ngettext(
        "%(n)s statement, %(duration)s.",
        "%(n)s statements, %(duration)s.",
        24,
        duration="",
    )
    assert one.startswith("1 påstående,")
    assert many.startswith("24 påståenden,")


def test_numbers_and_dates_are_formatted_for_the_locale() -> None:
    sv, en = translator("sv"), translator("en")
    assert sv.number(1234.5) == "1\xa0234,5"
    assert en.number(1234.5) == "1,234.5"
    assert sv.signed(0.8) == "+0,8"
    assert sv.date(date(2026, 12, 12), "day_month") == "12 december"
    assert en.date(date(2026, 12, 12), "day_month") == "12 December"


@pytest.mark.parametrize(
    ("chosen", "hint", "expected"),
    [(None, "sv-SE", "sv"), (None, "sv", "sv"), (None, "de", "en"), ("en", "sv", "en"), (None, None, "en")],
)
def test_the_platform_hint_decides_until_the_person_chooses(
    chosen: str | None, hint: str | None, expected: str
) -> None:
    assert pick_locale(chosen, hint) == expected
