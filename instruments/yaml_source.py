"""Reading an uploaded YAML file into plain values, with the line where each field path starts.

Uploaded files are untrusted: size, nesting depth and YAML anchors/aliases (the "billion laughs"
expansion) are refused before any structure is built.

PyYAML is imported when a file is first read, not with this module: a bot whose bundled
instruments are installed already reads no YAML, and need not hold the parser in memory.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from bot.i18n import N_
from instruments.problems import InstrumentInvalid, Problem

if TYPE_CHECKING:
    import yaml

MAX_FILE_BYTES = 512 * 1024
MAX_DEPTH = 12


# Far beyond any number an instrument needs, and far below the digits at which Python refuses
# to convert a string to an int.
MAX_DIGITS = 30
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class Located:
    """Where each field path of the document starts, and what could not be read as plain data.

    A value that could not be read (a key that is a list, a key written twice, a number too long)
    is named in `problems` and left out, so the validator checks everything else in the same pass.
    """

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []

    def problem(self, line: int, path: str, message: str, **params: object) -> None:
        self.problems.append(Problem(line, path, message, params))

    @property
    def unreadable(self) -> set[str]:
        """The paths already named as unreadable: nothing more is said about them."""
        return {p.path for p in self.problems}


@cache
def _loader() -> type[yaml.SafeLoader]:
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        pass

    return NoAliasLoader


_PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")}


def _check_events(source: str, filename: str) -> list[Problem]:
    """Refuse anchors, aliases and deep nesting before anything is constructed."""
    problems: list[Problem] = []
    import yaml

    depth = 0
    for ev in yaml.parse(source, Loader=_loader()):
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


class _Unreadable:
    """Stands in for a value that could not be read; the validator says nothing more about it."""


UNREADABLE = _Unreadable()


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _to_python(node: yaml.Node, path: str, loader: yaml.SafeLoader, located: Located) -> Any:
    import yaml

    located.lines.setdefault(path, _line(node))
    if isinstance(node, yaml.MappingNode):
        return _mapping(node, path, loader, located)
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, f"{path}[{i}]", loader, located) for i, item in enumerate(node.value)]
    return _scalar(node, path, loader, located)


def _mapping(node: yaml.MappingNode, path: str, loader: yaml.SafeLoader, located: Located) -> dict[Any, Any]:
    import yaml

    result: dict[Any, Any] = {}
    first_lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            located.problem(_line(key_node), path, N_("a field name must be a word, not a list or a mapping"))
            continue
        key = _scalar(key_node, path, loader, located)
        if key is UNREADABLE:
            continue
        child = f"{path}.{key}" if path else str(key)
        if key in first_lines:
            # YAML itself lets the last one win silently: a typo'd copy would replace the real one.
            located.problem(
                _line(key_node),
                child,
                N_("the field %(field)s is written twice (first on line %(first)s)"),
                field=key,
                first=first_lines[key],
            )
            continue
        first_lines[key] = _line(key_node)
        located.lines[child] = _line(key_node)
        result[key] = _to_python(value_node, child, loader, located)
    return result


def _scalar(node: yaml.Node, path: str, loader: yaml.SafeLoader, located: Located) -> Any:
    if node.tag in _NUMBER_TAGS and sum(c.isdigit() for c in str(node.value)) > MAX_DIGITS:
        located.problem(
            _line(node), path, N_("the number is too long (at most %(max)s digits)"), max=MAX_DIGITS
        )
        return UNREADABLE
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:
        # A value YAML recognises by its shape but cannot build, such as the date 2026-13-45.
        located.problem(_line(node), path, N_("not a valid value: %(error)s"), error=str(exc))
        return UNREADABLE


def read_document(source: str | bytes, filename: str) -> tuple[Any, Located]:
    """The document as plain values; refuses (raises) what cannot be read at all."""
    import yaml

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
        loader = _loader()(source)
        try:
            node = loader.get_single_node()
            located = Located()
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
