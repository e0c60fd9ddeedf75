"""The instrument format: validation of a read YAML document into the typed `Instrument`.

The validator collects every problem in one pass, each with the line and the field path where it
was found, so an admin fixes a file in one go instead of one error per upload. The typed instrument
lives in `instruments.model`, problems in `instruments.problems`, reading YAML in
`instruments.yaml_source`; their names are re-exported here so callers need one import.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bot.i18n import N_
from instruments.model import (
    Action,
    Area,
    BackgroundQuestion,
    Instrument,
    Item,
    Level,
    Option,
    Scale,
    Text,
    pick,
)
from instruments.problems import InstrumentInvalid, Problem, language_name
from instruments.yaml_source import MAX_DEPTH, MAX_FILE_BYTES, Located, read_document

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "Action",
    "Area",
    "BackgroundQuestion",
    "Instrument",
    "InstrumentInvalid",
    "Item",
    "Level",
    "Option",
    "Problem",
    "Scale",
    "Text",
    "iter_texts",
    "language_name",
    "parse_instrument",
    "pick",
]

MIN_POINTS, MAX_POINTS = 4, 10
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,20}$")
KNOWN_LANGUAGES = ("sv", "en")
# Reports are made in one statement over every statement of an instrument; this many keep well
# inside SQLite's and PostgreSQL's limits on the values of one statement.
MAX_STATEMENTS = 2000


class _Validator:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.problems: list[Problem] = list(located.problems)
        self.unreadable = located.unreadable
        self.languages: tuple[str, ...] = KNOWN_LANGUAGES

    def line(self, path: str) -> int:
        while path:
            if path in self.located.lines:
                return self.located.lines[path]
            parent = re.sub(r"(\.?[^.\[\]]+|\[\d+\])$", "", path)
            if parent == path:
                # Nothing left to strip: without this guard a path the regex cannot shorten
                # (a file missing a required top-level field) looped here forever.
                break
            path = parent
        return 1

    def problem(self, path: str, message: str, **params: object) -> None:
        if path in self.unreadable:
            return
        self.problems.append(Problem(self.line(path), path, message, params))

    # -- primitives --

    def mapping(self, value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...]) -> bool:
        if not isinstance(value, dict):
            self.problem(path, N_("must be a mapping (key: value)"))
            return False
        for key in required:
            if key not in value or value[key] is None:
                self.problem(f"{path}.{key}" if path else key, N_("this field is required"))
        allowed = required + optional
        for key in value:
            if key not in allowed:
                child = f"{path}.{key}" if path else str(key)
                self.problem(child, N_("unknown field (allowed: %(allowed)s)"), allowed=", ".join(allowed))
        return True

    def text(self, value: Any, path: str) -> Text:
        if isinstance(value, str) and len(self.languages) == 1:
            value = {self.languages[0]: value}
        if not isinstance(value, dict):
            self.problem(path, N_('must be a text per language, e.g. {sv: "...", en: "..."}'))
            return {}
        result: Text = {}
        for language in self.languages:
            text = value.get(language)
            if not isinstance(text, str) or not text.strip():
                self.problem(f"{path}.{language}", N_("missing text in %(language)s"), language=language)
            else:
                result[language] = text.strip()
        for key in value:
            if key not in self.languages:
                self.problem(
                    f"{path}.{key}", N_("%(value)s is not one of the instrument's languages"), value=key
                )
        return result

    def identifier(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not ID_PATTERN.match(value):
            self.problem(path, N_("must be a short id of lowercase letters, digits, - and _"))
            return ""
        return value

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, N_("must be a whole number"))
            return low
        if value < low:
            self.problem(path, N_("%(value)s is less than the minimum of %(min)s"), value=value, min=low)
        if value > high:
            self.problem(path, N_("%(value)s is more than the maximum of %(max)s"), value=value, max=high)
        return value

    def boolean(self, value: Any, path: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(path, N_("must be true or false"))
            return default
        return value

    def sequence(self, value: Any, path: str, minimum: int = 1) -> list[Any]:
        if not isinstance(value, list):
            if value is not None:
                self.problem(path, N_("must be a list"))
            return []
        if len(value) < minimum:
            self.problem(path, N_("needs at least %(min)s entries"), min=minimum)
        return value

    def unique(self, seen: set[str], value: str, path: str) -> None:
        if value and value in seen:
            self.problem(path, N_('"%(value)s" is used twice'), value=value)
        seen.add(value)

    def one_of(self, value: Any, allowed: list[str], path: str, message: str) -> str | None:
        if value is None:
            return None
        if value not in allowed:
            self.problem(path, message, value=value, allowed=", ".join(allowed))
            return None
        return str(value)

    # -- the document --

    def document(self, data: Any) -> Instrument | None:
        top_required = ("id", "title", "scale", "areas", "levels")
        top_optional = ("version", "languages", "description", "role_question", "background", "actions")
        if not self.mapping(data, "", top_required, top_optional):
            return None
        self.languages = self._languages(data.get("languages"))
        instrument_id = self.identifier(data.get("id"), "id")
        version = self.integer(data.get("version", 1), "version", 1, 10_000)
        title = self.text(data.get("title"), "title")
        description = self.text(data["description"], "description") if data.get("description") else {}
        scale = self._scale(data.get("scale"))
        background = self._background(data.get("background"))
        role_question, roles = self._role_question(data.get("role_question"), background)
        areas = self._areas(data.get("areas"), roles)
        self._statement_count(areas)
        levels = self._levels(data.get("levels"), scale.points)
        actions = self._actions(data.get("actions"), areas, levels, roles)
        if self.problems:
            return None
        return Instrument(
            id=instrument_id,
            version=version,
            languages=self.languages,
            title=title,
            description=description,
            scale=scale,
            role_question=role_question,
            background=background,
            areas=areas,
            levels=levels,
            actions=actions,
        )

    def _languages(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return KNOWN_LANGUAGES
        if not isinstance(value, list) or not value:
            self.problem("languages", N_("must be a list of languages, e.g. [sv, en]"))
            return KNOWN_LANGUAGES
        good = []
        for i, language in enumerate(value):
            if language not in KNOWN_LANGUAGES:
                self.problem(
                    f"languages[{i}]",
                    N_('"%(value)s" is not a supported language (%(allowed)s)'),
                    value=language,
                    allowed=", ".join(KNOWN_LANGUAGES),
                )
            else:
                good.append(language)
        return tuple(good) or KNOWN_LANGUAGES

    def _scale(self, value: Any) -> Scale:
        path = "scale"
        if not self.mapping(value, path, ("points",), ("labels", "allow_skip", "allow_not_applicable")):
            return Scale(points=MIN_POINTS, labels={})
        points = self.integer(value.get("points"), f"{path}.points", MIN_POINTS, MAX_POINTS)
        labels: dict[int, Text] = {}
        raw_labels = value.get("labels") or {}
        if not isinstance(raw_labels, dict):
            self.problem(f"{path}.labels", N_("must be a mapping (key: value)"))
            raw_labels = {}
        for key, text in raw_labels.items():
            label_path = f"{path}.labels.{key}"
            if isinstance(key, bool) or not isinstance(key, int) or not 1 <= key <= points:
                self.problem(
                    label_path, N_("a label's key must be a point of the scale, 1 to %(max)s"), max=points
                )
                continue
            labels[key] = self.text(text, label_path)
        return Scale(
            points=points,
            labels=labels,
            allow_skip=self.boolean(value.get("allow_skip"), f"{path}.allow_skip", True),
            allow_not_applicable=self.boolean(
                value.get("allow_not_applicable"), f"{path}.allow_not_applicable", False
            ),
        )

    def _background(self, value: Any) -> tuple[BackgroundQuestion, ...]:
        questions = []
        seen: set[str] = set()
        for i, raw in enumerate(self.sequence(value, "background", minimum=0)):
            path = f"background[{i}]"
            if not self.mapping(raw, path, ("id", "text", "options"), ()):
                continue
            qid = self.identifier(raw.get("id"), f"{path}.id")
            self.unique(seen, qid, f"{path}.id")
            options = []
            option_ids: set[str] = set()
            for j, option in enumerate(self.sequence(raw.get("options"), f"{path}.options", minimum=2)):
                opath = f"{path}.options[{j}]"
                if not self.mapping(option, opath, ("id", "text"), ()):
                    continue
                oid = self.identifier(option.get("id"), f"{opath}.id")
                self.unique(option_ids, oid, f"{opath}.id")
                options.append(Option(oid, self.text(option.get("text"), f"{opath}.text")))
            questions.append(
                BackgroundQuestion(qid, self.text(raw.get("text"), f"{path}.text"), tuple(options))
            )
        return tuple(questions)

    def _role_question(
        self, value: Any, background: tuple[BackgroundQuestion, ...]
    ) -> tuple[str | None, list[str]]:
        if value is None:
            return None, []
        question = next((q for q in background if q.id == value), None)
        if question is None:
            self.problem(
                "role_question",
                N_('"%(value)s" is not one of the background questions (%(allowed)s)'),
                value=value,
                allowed=", ".join(q.id for q in background),
            )
            return None, []
        return question.id, [o.id for o in question.options]

    def _areas(self, value: Any, roles: list[str]) -> tuple[Area, ...]:
        areas = []
        area_ids: set[str] = set()
        codes: set[str] = set()
        for i, raw in enumerate(self.sequence(value, "areas")):
            path = f"areas[{i}]"
            if not self.mapping(raw, path, ("id", "title", "items"), ()):
                continue
            area_id = self.identifier(raw.get("id"), f"{path}.id")
            self.unique(area_ids, area_id, f"{path}.id")
            items = [
                item
                for j, rawitem in enumerate(self.sequence(raw.get("items"), f"{path}.items"))
                if (item := self._item(rawitem, f"{path}.items[{j}]", area_id, roles, codes)) is not None
            ]
            areas.append(Area(area_id, self.text(raw.get("title"), f"{path}.title"), tuple(items)))
        return tuple(areas)

    def _statement_count(self, areas: tuple[Area, ...]) -> None:
        count = sum(len(area.items) for area in areas)
        if count > MAX_STATEMENTS:
            self.problem(
                "areas",
                N_("an instrument can have at most %(max)s statements; this one has %(count)s"),
                max=MAX_STATEMENTS,
                count=count,
            )

    def _item(self, raw: Any, path: str, area_id: str, roles: list[str], codes: set[str]) -> Item | None:
        if not self.mapping(raw, path, ("code", "text"), ("explain", "roles")):
            return None
        code = raw.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            code = str(code)
        if not isinstance(code, str) or not CODE_PATTERN.match(code):
            self.problem(f"{path}.code", N_('must be a short code of letters and digits, e.g. "311"'))
            code = ""
        self.unique(codes, code, f"{path}.code")
        item_roles: list[str] = []
        for k, role in enumerate(self.sequence(raw.get("roles"), f"{path}.roles", minimum=0)):
            checked = self.one_of(
                role,
                roles,
                f"{path}.roles[{k}]",
                N_('"%(value)s" is not one of the roles (%(allowed)s)'),
            )
            if checked:
                item_roles.append(checked)
        explain = self.text(raw["explain"], f"{path}.explain") if raw.get("explain") is not None else None
        return Item(code, area_id, self.text(raw.get("text"), f"{path}.text"), explain, tuple(item_roles))

    def _levels(self, value: Any, points: int) -> tuple[Level, ...]:
        levels = []
        seen: set[str] = set()
        raw_levels = self.sequence(value, "levels")
        previous: float | None = None
        for i, raw in enumerate(raw_levels):
            path = f"levels[{i}]"
            if not self.mapping(raw, path, ("id", "title"), ("below",)):
                continue
            level_id = self.identifier(raw.get("id"), f"{path}.id")
            self.unique(seen, level_id, f"{path}.id")
            below = self._below(raw.get("below"), f"{path}.below", points, last=i == len(raw_levels) - 1)
            if below is not None:
                if previous is not None and below <= previous:
                    self.problem(f"{path}.below", N_("levels must be in rising order of `below`"))
                previous = below
            levels.append(Level(level_id, self.text(raw.get("title"), f"{path}.title"), below))
        return tuple(levels)

    def _below(self, value: Any, path: str, points: int, *, last: bool) -> float | None:
        """A level's threshold: a mean on the scale, so that the level can be reached at all.

        Above 1 (no mean is below 1) and at most the top of the scale; NaN and infinity compare
        false with every mean, which would skip or swallow the level silently."""
        if value is None:
            if not last:
                self.problem(path, N_("every level but the last needs `below`"))
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 1 < value <= points:
            self.problem(
                path, N_("must be a number above 1 and at most %(max)s, the scale's top"), max=points
            )
            return None
        return float(value)

    def _actions(
        self, value: Any, areas: tuple[Area, ...], levels: tuple[Level, ...], roles: list[str]
    ) -> tuple[Action, ...]:
        actions = []
        area_ids = [a.id for a in areas]
        level_ids = [lv.id for lv in levels]
        for i, raw in enumerate(self.sequence(value, "actions", minimum=0)):
            path = f"actions[{i}]"
            if not self.mapping(raw, path, ("area", "level", "text"), ("role",)):
                continue
            area = self.one_of(
                raw.get("area"),
                area_ids,
                f"{path}.area",
                N_('"%(value)s" is not one of the areas (%(allowed)s)'),
            )
            level = self.one_of(
                raw.get("level"),
                level_ids,
                f"{path}.level",
                N_('"%(value)s" is not one of the levels (%(allowed)s)'),
            )
            role = self.one_of(
                raw.get("role"),
                roles,
                f"{path}.role",
                N_('"%(value)s" is not one of the roles (%(allowed)s)'),
            )
            text = self.text(raw.get("text"), f"{path}.text")
            if area and level:
                actions.append(Action(area, level, role, text))
        return tuple(actions)


def parse_instrument(source: str | bytes, filename: str) -> Instrument:
    """Load and validate an instrument file; raises InstrumentInvalid listing every problem."""
    data, located = read_document(source, filename)
    if data is None:
        raise InstrumentInvalid(filename, [Problem(1, "", N_("the file is empty"))])
    validator = _Validator(located)
    instrument = validator.document(data)
    if instrument is None:
        raise InstrumentInvalid(filename, validator.problems)
    return instrument


def iter_texts(instrument: Instrument) -> Iterator[tuple[str, Text]]:
    """Every translatable text of an instrument (for completeness checks)."""
    yield "title", instrument.title
    for q in instrument.background:
        yield q.id, q.text
        for o in q.options:
            yield f"{q.id}.{o.id}", o.text
    for area in instrument.areas:
        yield area.id, area.title
        for item in area.items:
            yield item.code, item.text
    for level in instrument.levels:
        yield level.id, level.title
    for action in instrument.actions:
        yield f"{action.area}/{action.level}", action.text
