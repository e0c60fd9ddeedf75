"""Understanding typed answers: digits, number words, and the words for skip/back/explain.

Both languages are always understood, whatever the person's locale: people mix them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "ett": 1,
    "en": 1,
    "två": 2,
    "tva": 2,
    "tre": 3,
    "fyra": 4,
    "fem": 5,
    "sex": 6,
    "sju": 7,
    "åtta": 8,
    "atta": 8,
    "nio": 9,
    "tio": 10,
}
SKIP_WORDS = {
    "skip",
    "pass",
    "don't know",
    "dont know",
    "hoppa över",
    "hoppa over",
    "hoppa",
    "vet ej",
    "vet inte",
    "-",
}
NOT_APPLICABLE_WORDS = {"n/a", "na", "not applicable", "ej aktuellt", "inte aktuellt", "ej tillämpligt"}
BACK_WORDS = {"back", "previous", "tillbaka", "föregående", "bakåt"}
EXPLAIN_WORDS = {"?", "explain", "what does this mean", "vad betyder det", "förklara", "förklaring"}

Kind = Literal["value", "skip", "na", "back", "explain", "unknown"]


@dataclass(frozen=True)
class Intent:
    kind: Kind
    value: int | None = None


def clean(text: str) -> str:
    """Normalise Unicode and drop control and format characters (zero-width, bidi overrides)."""
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", clean(text)).strip().strip(".!").lower()


def interpret(text: str) -> Intent:
    """What a typed message means as an answer to a question (not yet checked against a scale)."""
    normalised = _normalise(text)
    if not normalised or len(normalised) > 40:
        return Intent("unknown")
    if normalised.isdecimal():  # not isdigit(): int() refuses "²", which isdigit() accepts
        return Intent("value", int(normalised))
    if normalised in NUMBER_WORDS:
        return Intent("value", NUMBER_WORDS[normalised])
    if normalised in SKIP_WORDS:
        return Intent("skip")
    if normalised in NOT_APPLICABLE_WORDS:
        return Intent("na")
    if normalised in BACK_WORDS:
        return Intent("back")
    if normalised.rstrip("?") in EXPLAIN_WORDS or normalised in EXPLAIN_WORDS:
        return Intent("explain")
    return Intent("unknown")


def matches_option(text: str, labels: list[str]) -> int | None:
    """Index of the option whose label the person typed (case-insensitive, whole label)."""
    normalised = _normalise(text)
    for i, label in enumerate(labels):
        if _normalise(label) == normalised:
            return i
    return None
