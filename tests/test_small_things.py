"""Smaller things a newcomer trips over, each as they would meet it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.console import ConsoleAdapter
from bot.config import Config
from bot.dates import parse_date
from bot.directory import catalogue
from bot.i18n import translator
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Answer
from tests.harness import Conversation, texts
from tests.org_setup import Organisation, build_organisation, claim_admin

TINY = Path(__file__).parent / "data" / "tiny.yaml"
SCHOOL = "Your school's digital maturity"
LIBRARY = "Digital competence for library staff"


def install_tiny(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        catalogue.install(session, TINY.read_text(), "tiny.yaml", runtime.clock.now(), activate=True)


def answer_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Answer)) or 0)


def test_the_introduction_says_how_long_it_takes_once(anna: Conversation) -> None:
    said = texts(anna.say("assess"))
    if "Which assessment" in said:
        said = texts(anna.click(LIBRARY))
    assert said.count("10 minutes") == 1, said
    assert said.count("pause") == 1, said


def test_the_introduction_counts_what_the_headings_count(runtime: Runtime) -> None:
    org = build_organisation(runtime)
    teacher = Conversation(runtime.engine, "tove", display_name="Tove Teacher")
    intro = texts(teacher.say("assess"))
    intro = texts(teacher.click(SCHOOL)) if "Which assessment" in intro else intro
    assert "20 to 21 statements depending on your role" in intro, intro
    assert "First 3 background questions." in intro
    teacher.click("Teacher")
    for _ in range(2):
        teacher.press(teacher.choices()[0].payload)
    assert "Statement 1/21" in teacher.last.text

    # A principal's role is known from her membership: two questions are left, and say so.
    pia = org.principal
    intro = texts(pia.say("assess"))
    intro = texts(pia.click(SCHOOL)) if "Which assessment" in intro else intro
    assert "20 statements," in intro, intro
    assert "First 2 more background questions (of 3; the others are already answered)." in intro
    assert "Background question 2/3" in pia.last.text


def test_two_people_in_one_terminal_folder_keep_their_own_charts(runtime: Runtime, tmp_path: Path) -> None:
    install_tiny(runtime)
    for user in ("anna", "bo"):
        terminal = ConsoleAdapter(
            runtime.engine, user=user, locale_hint="en", out=io.StringIO(), output_dir=tmp_path
        )
        terminal.run(["assess"], prompt=False)
        if "Which assessment" in terminal.out.getvalue():  # type: ignore[attr-defined]
            choices = [c.label for c in terminal._choices]
            terminal.run([str(choices.index("Tiny check-in") + 1)], prompt=False)
        terminal.run(["4", "4", "4"], prompt=False)
    charts = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert len(charts) == 2, charts
    assert charts[0].startswith("anna/result-")
    assert charts[1].startswith("bo/result-")


def test_a_number_off_a_5_point_scale_in_the_terminal_is_explained_not_pressed(
    runtime: Runtime, tmp_path: Path
) -> None:
    install_tiny(runtime)
    out = io.StringIO()
    terminal = ConsoleAdapter(runtime.engine, user="anna", locale_hint="en", out=out, output_dir=tmp_path)
    terminal.run(["assess"], prompt=False)
    if "Which assessment" in out.getvalue():
        terminal.run([str([c.label for c in terminal._choices].index("Tiny check-in") + 1)], prompt=False)
    before = len(out.getvalue())
    terminal.run(["6"], prompt=False)
    assert "Please answer with a number from 1 to 5" in out.getvalue()[before:]
    assert answer_count(runtime) == 0
    terminal.run(["5"], prompt=False)
    assert answer_count(runtime) == 1


@pytest.mark.parametrize(
    ("locale", "begin", "same", "strengths"),
    [
        ("en", "assess", "All your areas came out the same", "Strengths"),
        ("sv", "skatta", "Alla dina områden fick samma resultat", "Styrkor"),
    ],
)
def test_equal_answers_everywhere_name_no_strength(
    runtime: Runtime, locale: str, begin: str, same: str, strengths: str
) -> None:
    install_tiny(runtime)
    tove = Conversation(runtime.engine, "tove", display_name="Tove", locale_hint=locale)
    tove.say(begin)
    tove.click("Liten avstämning" if locale == "sv" else "Tiny check-in")
    for _ in range(3):
        result = texts(tove.click("4"))
    assert same in result, result
    assert strengths not in result
    assert "To develop" not in result
    assert "Att utveckla" not in result


def test_a_greeting_after_pausing_gets_the_welcome(anna: Conversation) -> None:
    anna.say("assess")
    if "Which assessment" in anna.last.text:
        anna.click(LIBRARY)
    anna.press(anna.choices()[0].payload)
    anna.say("pausa")
    said = texts(anna.say("hej"))
    assert "Ready when you are." in said, said
    assert "answer with" not in said


def test_help_in_swedish_names_the_swedish_commands(runtime: Runtime) -> None:
    sara = Conversation(runtime.engine, "sara", display_name="Sara", locale_hint="sv")
    said = texts(sara.say("hjälp"))
    assert "• skatta (assess):" in said, said
    assert "• resultat (results):" in said
    assert "t.ex. skatta" in said or "t.ex. skatta)" in said, said
    english = texts(Conversation(runtime.engine, "erik", display_name="Erik").say("help"))
    assert "• assess:" in english


@pytest.mark.parametrize(
    "command",
    ["round status ²", "round close ³", "audit ²", "remind off ²", "round status 99999999999999999999"],
)
def test_odd_digits_in_a_command_get_a_friendly_answer(runtime: Runtime, command: str) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ekskolan"')
    assert "Round #1" in texts(admin.say('round open digcomp-library "Ekskolan" closes 2026-12-12'))
    said = texts(admin.say(command))
    assert said
    assert "went wrong" not in said, said


def test_dates_are_read_as_people_write_them() -> None:
    today = date(2026, 12, 4)  # a Friday
    expected = date(2026, 12, 12)
    for typed in [
        "2026-12-12",
        "12/12",
        "12/12/2026",
        "12.12.2026",
        "12 december",
        "12 dec 2026",
        "December 12",
    ]:
        assert parse_date(typed, today) == expected, typed
    assert parse_date("fredag", today) == date(2026, 12, 11)
    assert parse_date("tisdag", today) == date(2026, 12, 8)
    assert parse_date("monday", today) == date(2026, 12, 7)
    assert parse_date("3 januari", today) == date(2027, 1, 3)
    assert parse_date("imorgon", today) == date(2026, 12, 5)
    for nonsense in ["30/2", "2026-02-30", "someday", "12 smarch", "²/12", ""]:
        assert parse_date(nonsense, today) is None, nonsense


def test_a_round_can_close_on_12_december_as_written(runtime: Runtime) -> None:
    org: Organisation = build_organisation(runtime)
    said = texts(org.admin.say('round open digcomp-library "Ystad bibliotek" closes 12 december'))
    assert "until Saturday 12 December 2026" in said, said
    said = texts(org.admin.say('round open school-digital-maturity "Lunds bibliotek" closes fredag'))
    assert "until Friday 27 November 2026" in said, said


def test_times_are_shown_day_first_in_english_too() -> None:
    moment = datetime(2026, 12, 4, 3, 56, tzinfo=UTC)
    assert translator("en").datetime(moment, "Europe/Stockholm") == "4 December 2026 04:56"
    assert translator("sv").datetime(moment, "Europe/Stockholm") == "4 december 2026 04:56"


def test_the_default_database_is_in_the_persons_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert Config.from_env({}).database_url == f"sqlite:///{tmp_path}/data/assessbot/assessbot.sqlite3"
    chosen = Config.from_env({"ASSESSBOT_DATABASE_URL": "sqlite:////srv/bot.sqlite3"})
    assert chosen.database_url == "sqlite:////srv/bot.sqlite3"


def run_terminal(tmp_path: Path, shell: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "ASSESSBOT_OUTPUT_DIR": str(tmp_path / "out"),
    }
    env.pop("ASSESSBOT_DATABASE_URL", None)
    bindir = Path(sys.executable).parent
    return subprocess.run(
        ["sh", "-c", shell.replace("assessbot", str(bindir / "assessbot"))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_terminal_says_where_its_database_is_from_any_folder(tmp_path: Path) -> None:
    first = run_terminal(tmp_path, "printf 'help\\n' | assessbot chat --as anna")
    assert first.returncode == 0, first.stderr
    assert f"The database: {tmp_path}/data/assessbot/assessbot.sqlite3" in first.stderr
    assert not list(tmp_path.glob("*.sqlite3"))  # nothing in the folder it was started from


def test_piping_the_terminal_into_head_ends_quietly(tmp_path: Path) -> None:
    finished = run_terminal(
        tmp_path, "for i in $(seq 300); do echo help; done | assessbot chat --as anna | head -n 2"
    )
    assert finished.returncode == 0
    assert "Traceback" not in finished.stderr, finished.stderr
    assert "BrokenPipeError" not in finished.stderr


def test_taking_an_instrument_again_offers_last_times_background_answers(
    anna: Conversation, runtime: Runtime
) -> None:
    install_tiny(runtime)
    anna.say("assess")
    anna.click("Tiny check-in")
    for _ in range(3):
        anna.click("4")
    assert "Your result" in texts(anna.history[-3:])

    anna.say("assess")
    said = texts(anna.click(LIBRARY))
    assert "Background question 1/4" in said
    assert not any(c.label.startswith("Same as last time") for c in anna.choices())
    options = []
    for _ in range(4):
        options.append(anna.choices()[1].label)
        anna.press(anna.choices()[1].payload)
    for _ in range(24):
        anna.click("5")

    anna.say("assess")
    anna.click(LIBRARY)
    offer = next(c for c in anna.choices() if c.label.startswith("Same as last time"))
    assert options[0] in offer.label, (options, offer.label)
    said = texts(anna.press(offer.payload))
    assert "Filled in as last time." in said
    assert "Statement 1/24" in said, said
