"""Hostile input, catalogued: oversized messages, control characters, YAML bombs, SQL-ish text and
forged button payloads. Each gets a clear answer and changes nothing (rows are counted before and
after)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.directory import catalogue
from bot.i18n import translator
from bot.messages import Reply
from bot.runtime import Runtime
from instruments.schema import MAX_FILE_BYTES, InstrumentInvalid, parse_instrument
from storage.db import transaction
from storage.models import Answer, BackgroundAnswer, InstrumentVersion, Person, Response
from storage.models import Instrument as InstrumentRow
from tests.harness import Conversation, texts
from tests.reliability.scripted_round import SMALL_INSTRUMENT

INTERNAL_ERRORS = ("something went wrong on my side", "can't reach my database")

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

HOSTILE_FILES: dict[str, str | bytes] = {
    "billion laughs": BILLION_LAUGHS,
    "a merge key bomb": "base: &base {id: x}\nid: pulse\n<<: *base\n",
    "deep flow nesting": "id: " + "[" * 5000 + "]" * 5000,
    "deep block nesting": "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v\n",
    "a huge file": SMALL_INSTRUMENT + "# " + "x" * MAX_FILE_BYTES + "\n",
    "a huge file as bytes": (SMALL_INSTRUMENT + "#" * MAX_FILE_BYTES).encode(),
    "not UTF-8": b"id: pulse\ntitle: {en: \xff\xfe}\n",
    "a NUL byte": SMALL_INSTRUMENT.replace("Pulse check", "Pulse\x00check"),
    "a terminal escape": SMALL_INSTRUMENT.replace("Pulse check", "Pulse \x1b[2J check"),
    "a python object tag": "id: !!python/object/apply:os.system ['echo pwned']\n",
    "a YAML directive flood": "%YAML 1.1\n" * 3 + "---\nid: x\n",
    "not a mapping": "- just\n- a list\n",
    # Missing top-level fields once sent the validator into an endless loop.
    "only an id": "id: pulse\n",
    "empty": "",
}


@pytest.mark.parametrize("name", list(HOSTILE_FILES))
def test_hostile_instrument_files_get_a_clear_error(name: str) -> None:
    with pytest.raises(InstrumentInvalid) as raised:
        parse_instrument(HOSTILE_FILES[name], "evil.yaml")
    message = raised.value.render(translator("en"))
    assert message.startswith("evil.yaml has")
    assert "nothing was saved" in message
    assert len(message) < 2000, "the error is short enough to read in a chat"


def _catalogue_rows(runtime: Runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(InstrumentRow)) or 0,
            session.scalar(select(func.count()).select_from(InstrumentVersion)) or 0,
        )


def test_installing_hostile_files_stores_nothing(runtime: Runtime) -> None:
    before = _catalogue_rows(runtime)
    for name, source in HOSTILE_FILES.items():
        text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
        with pytest.raises(InstrumentInvalid), transaction(runtime.sessions) as session:
            catalogue.install(session, text, f"{name}.yaml", runtime.clock.now())
    assert _catalogue_rows(runtime) == before


# ---------------------------------------------------------------- through the conversation


def _snapshot(runtime: Runtime) -> tuple[object, ...]:
    """Everything a hostile event could change (processed event ids are bookkeeping and may grow)."""
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Person)),
            sorted(session.execute(select(Answer.response_id, Answer.item_code, Answer.value)).all()),
            sorted(session.execute(select(BackgroundAnswer.response_id, BackgroundAnswer.option_id)).all()),
            sorted(session.execute(select(Response.id, Response.cursor, Response.status)).all()),
        )


def _start(person: Conversation) -> int:
    person.say("assess")
    person.click("Digital competence for library staff")
    for _ in range(4):
        person.press(person.choices()[0].payload)
    person.click("5")
    return int(person.button("4").split(":")[1])


def _clear(replies: list[Reply]) -> None:
    said = texts(replies)
    assert replies, "the person gets an answer"
    assert not any(error in said for error in INTERNAL_ERRORS), said


TwoPeople = tuple[Conversation, Conversation, int, int]  # Anna, Bo and their responses


@pytest.fixture
def two_people(runtime: Runtime) -> TwoPeople:
    anna = Conversation(runtime.engine, "anna", platform="telegram", display_name="Anna Svensson")
    bo = Conversation(runtime.engine, "bo", platform="telegram", display_name="Bo Ek")
    return anna, bo, _start(anna), _start(bo)


HOSTILE_TEXTS = [
    "x" * 100_000,  # far over the message limit
    "\x00\x01\x07\x1b[2J",  # C0 controls and a terminal escape
    "\u202e\u2066\u200b\ufeff",  # bidi overrides, zero width, BOM
    "²",  # a digit that int() refuses
    "9" * 5000,
    "'; DROP TABLE answer; --",
    "5 OR 1=1",
    "assess'; DELETE FROM response WHERE '1'='1",
    "%(name)s %s {0} {{7*7}}",  # format strings
    "language xx'--",
    "join ' OR '1'='1",
]


def test_hostile_messages_get_a_clear_answer_and_change_nothing(
    runtime: Runtime, two_people: TwoPeople
) -> None:
    anna, _bo, _anna_response, _bo_response = two_people
    before = _snapshot(runtime)
    for text in HOSTILE_TEXTS:
        _clear(anna.say(text))
    assert _snapshot(runtime) == before
    assert "too long" in anna.history[-len(HOSTILE_TEXTS)].text


def test_forged_button_payloads_are_refused_and_change_nothing(
    runtime: Runtime, two_people: TwoPeople
) -> None:
    anna, _bo, anna_response, bo_response = two_people
    huge = "9" * 30
    forged = [
        f"a:{bo_response}:112:5",  # someone else's response
        f"b:{bo_response}",
        f"x:{bo_response}:112",
        f"r:{bo_response}",
        f"g:{bo_response}:0:1",
        f"a:{anna_response}:999:5",  # an item that is not in the instrument
        f"a:{anna_response}:112:8",  # off the scale
        f"a:{anna_response}:112:0",
        f"a:{anna_response}:112:-1",
        f"a:{anna_response}:112:05",
        f"a:{anna_response}:112:٥",
        f"a:{anna_response}:112:²",
        "a:²:112:5",
        "g:1:²:0",
        "o:²",
        "i:²",
        f"a:{anna_response}:112:{huge}",
        f"a:{huge}:112:5",  # ids out of any integer range
        f"g:{anna_response}:{huge}:0",
        f"g:{anna_response}:0:{huge}",
        f"o:{huge}",
        f"i:{huge}",
        "o:424242",
        "i:424242",
        f"a:{anna_response}:113:5",  # a statement she has not reached
        f"a:{anna_response} OR 1=1:112:5",
        "a:1;DROP TABLE answer:112:5",
        "a",
        "a:",
        ":::",
        "zz:1",
        "a:" + "1" * 10_000,
        "",
        "\x00:\x00",
    ]
    before = _snapshot(runtime)
    for payload in forged:
        _clear(anna.press(payload))
    assert _snapshot(runtime) == before
    # And the real buttons still work afterwards.
    replies = anna.click("4")
    assert "Statement 3/24" in texts(replies)


def test_a_display_name_with_control_characters_does_not_break_first_contact(runtime: Runtime) -> None:
    eve = Conversation(runtime.engine, "eve", platform="telegram", display_name="Eve\x00\u202e\x1b[31m")
    _clear(eve.say("hello"))
    _clear(eve.say("help"))
    long_name = Conversation(runtime.engine, "zed", platform="telegram", display_name="Z" * 5000)
    _clear(long_name.say("hello"))
