"""The instrument format: loading, validation and the typed, immutable `Instrument`.

The validator collects every problem in one pass, each with the line and the field path where it
was found, so an admin fixes a file in one go instead of one error per upload. Problems are kept as
message templates with parameters and rendered in the reader's language.

Uploaded files are untrusted: size, nesting depth and YAML anchors/aliases (the "billion laughs"
expansion) are refused before any structure is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from babel import Locale, UnknownLocaleError

from bot.i18n import N_, Translator

MAX_FILE_BYTES = 512 * 1024
MAX_DEPTH = 12
MIN_POINTS, MAX_POINTS = 4, 10
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,20}$")
KNOWN_LANGUAGES = ("sv", "en")

Text = dict[str, str]


def pick(text: Mapping[str, str] | None, locale: str) -> str:
    """The text in `locale`, falling back to English, then to any language the text has."""
    if not text:
        return ""
    return text.get(locale) or text.get("en") or next(iter(text.values()), "")


# ---------------------------------------------------------------- the typed instrument


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


# ---------------------------------------------------------------- problems


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


# ---------------------------------------------------------------- reading YAML with line numbers


class _Located:
    """Values of the document plus the line where each field path starts."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}


class _NoAliasLoader(yaml.SafeLoader):
    pass


_PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")}


def _check_events(source: str, filename: str) -> list[Problem]:
    """Refuse anchors, aliases and deep nesting before anything is constructed."""
    problems: list[Problem] = []
    depth = 0
    for ev in yaml.parse(source, Loader=_NoAliasLoader):
        line = ev.start_mark.line + 1 if ev.start_mark else 0
        if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
            problems.append(Problem(line, "", N_("anchors and aliases (& and *) are not allowed")))
            return problems
        tag = getattr(ev, "tag", None)
        if (
            tag is not None
            and tag not in _PLAIN_TAGS
            and not (isinstance(ev, yaml.ScalarEvent) and tag == "!")
        ):
            # Only plain data: a tag such as !!python/object never gets near a constructor.
            problems.append(Problem(line, "", N_("tags such as %(tag)s are not allowed"), {"tag": tag}))
            return problems
        if isinstance(ev, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                problems.append(
                    Problem(line, "", N_("the file is nested deeper than %(max)s levels"), {"max": MAX_DEPTH})
                )
                return problems
        elif isinstance(ev, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
    return problems


def _to_python(node: yaml.Node, path: str, loader: yaml.SafeLoader, located: _Located) -> Any:
    located.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = f"{path}.{key}" if path else str(key)
            located.lines[child] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, child, loader, located)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, f"{path}[{i}]", loader, located) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def read_document(source: str | bytes, filename: str) -> tuple[Any, _Located]:
    if isinstance(source, bytes):
        if len(source) > MAX_FILE_BYTES:
            raise InstrumentInvalid(filename, [_too_big()])
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InstrumentInvalid(
                filename,
                [Problem(1, "", N_("the file is not UTF-8 text (byte %(pos)s)"), {"pos": exc.start})],
            ) from None
    if len(source.encode("utf-8")) > MAX_FILE_BYTES:
        raise InstrumentInvalid(filename, [_too_big()])
    try:
        problems = _check_events(source, filename)
        if problems:
            raise InstrumentInvalid(filename, problems)
        loader = _NoAliasLoader(source)
        try:
            node = loader.get_single_node()
            located = _Located()
            data = _to_python(node, "", loader, located) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise InstrumentInvalid(
            filename, [Problem(line, "", N_("not valid YAML: %(error)s"), {"error": exc.problem or str(exc)})]
        ) from None
    except yaml.YAMLError as exc:
        raise InstrumentInvalid(
            filename, [Problem(1, "", N_("not valid YAML: %(error)s"), {"error": str(exc)})]
        ) from None
    return data, located


def _too_big() -> Problem:
    return Problem(1, "", N_("the file is larger than %(max)s kB"), {"max": MAX_FILE_BYTES // 1024})


# ---------------------------------------------------------------- validation


class _Validator:
    def __init__(self, located: _Located) -> None:
        self.located = located
        self.problems: list[Problem] = []
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
        levels = self._levels(data.get("levels"))
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

    def _levels(self, value: Any) -> tuple[Level, ...]:
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
            below = raw.get("below")
            last = i == len(raw_levels) - 1
            if below is None and not last:
                self.problem(f"{path}.below", N_("every level but the last needs `below`"))
            elif below is not None:
                if isinstance(below, bool) or not isinstance(below, int | float):
                    self.problem(f"{path}.below", N_("must be a number"))
                    below = None
                elif previous is not None and below <= previous:
                    self.problem(f"{path}.below", N_("levels must be in rising order of `below`"))
                else:
                    previous = float(below)
            levels.append(
                Level(level_id, self.text(raw.get("title"), f"{path}.title"), float(below) if below else None)
            )
        return tuple(levels)

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
