"""The typed, immutable `Instrument`: what a validated instrument file becomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Text = dict[str, str]


def pick(text: Mapping[str, str] | None, locale: str) -> str:
    """The text in `locale`, falling back to English, then to any language the text has."""
    if not text:
        return ""
    return text.get(locale) or text.get("en") or next(iter(text.values()), "")


@dataclass(frozen=True)
class Scale:
    points: int
    labels: dict[int, Text]
    allow_skip: bool = True
    allow_not_applicable: bool = False


@dataclass(frozen=True)
class Option:
    id: str
    text: Text


@dataclass(frozen=True)
class BackgroundQuestion:
    id: str
    text: Text
    options: tuple[Option, ...]

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Item:
    code: str
    area_id: str
    text: Text
    explain: Text | None = None
    roles: tuple[str, ...] = ()

    def asked_of(self, role: str | None) -> bool:
        return not self.roles or role is None or role in self.roles


@dataclass(frozen=True)
class Area:
    id: str
    title: Text
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Level:
    id: str
    title: Text
    below: float | None


@dataclass(frozen=True)
class Action:
    area: str
    level: str
    role: str | None
    text: Text


@dataclass(frozen=True)
class Instrument:
    id: str
    version: int
    languages: tuple[str, ...]
    title: Text
    description: Text
    scale: Scale
    role_question: str | None
    background: tuple[BackgroundQuestion, ...]
    areas: tuple[Area, ...]
    levels: tuple[Level, ...]
    actions: tuple[Action, ...]
    _items: dict[str, Item] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._items.update({item.code: item for area in self.areas for item in area.items})

    @property
    def roles(self) -> tuple[str, ...]:
        question = self.background_question(self.role_question) if self.role_question else None
        return tuple(o.id for o in question.options) if question else ()

    def background_question(self, question_id: str | None) -> BackgroundQuestion | None:
        return next((q for q in self.background if q.id == question_id), None)

    def item(self, code: str) -> Item | None:
        return self._items.get(code)

    def area(self, area_id: str) -> Area | None:
        return next((a for a in self.areas if a.id == area_id), None)

    def items_for(self, role: str | None) -> list[Item]:
        return [item for area in self.areas for item in area.items if item.asked_of(role)]

    def level_for(self, mean: float) -> Level:
        for level in self.levels:
            if level.below is None or mean < level.below:
                return level
        return self.levels[-1]

    def level(self, level_id: str) -> Level | None:
        return next((lv for lv in self.levels if lv.id == level_id), None)

    def actions_for(self, area_id: str, level_id: str, role: str | None) -> list[Action]:
        return [
            a
            for a in self.actions
            if a.area == area_id
            and a.level == level_id
            and (a.role is None or role is None or a.role == role)
        ]
