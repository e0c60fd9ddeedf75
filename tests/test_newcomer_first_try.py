"""What a new admin and a new member ran into the first time they tried the bot, as they did it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from bot.clock import ManualClock
from bot.runtime import Runtime
from storage.db import transaction
from storage.models import Person
from tests.harness import Conversation, texts
from tests.org_setup import claim_admin
from tests.report_data import GOLDEN, add_responses, install_mini, make_round, make_unit
from tests.test_plan_todo import _planned


def unnamed_round(runtime: Runtime) -> tuple[int, int]:
    """A region with one school that answered a round opened without a name (six of seven)."""
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        version = install_mini(session, now)
        region = make_unit(session, "Region Skåne", now)
        school = make_unit(session, "Ystad school", now, parent_id=region)
        round_id = make_round(session, version, school, now, name="", threshold=3)
        add_responses(session, round_id, school, version, GOLDEN, now - timedelta(days=5), invited_extra=1)
    return region, school


def admin(runtime: Runtime, user_id: str, locale: str = "en") -> Conversation:
    who = Conversation(runtime.engine, user_id, display_name=user_id.title(), locale_hint=locale)
    who.say("help")
    with transaction(runtime.sessions) as session:
        for person in session.scalars(select(Person)):
            person.is_admin = True
    return who


def test_admin_asks_for_the_round_by_the_name_the_result_showed(runtime: Runtime) -> None:
    unnamed_round(runtime)
    alva = admin(runtime, "alva")
    shown = texts(alva.say('unit results "Ystad school"'))
    assert 'Ystad school · Round "Mini survey" · 6 of 7 answered' in shown
    again = texts(alva.say('unit results "Ystad school" "Mini survey"'))
    assert 'Ystad school · Round "Mini survey" · 6 of 7 answered' in again
    pack = alva.say('unit results "Ystad school" "mini survey" workshop')
    assert pack[0].file is not None
    assert pack[0].file.content.startswith(b"%PDF")
    status = texts(alva.say('round status "Mini survey"'))
    assert "Ystad school: 7 invited · 6 started · 6 completed" in status


def test_swedish_admin_asks_for_the_round_by_its_swedish_name(runtime: Runtime) -> None:
    unnamed_round(runtime)
    alva = admin(runtime, "alva", "sv")
    shown = texts(alva.say('unit results "Ystad school" "Minienkät"'))
    assert 'Ystad school · Omgång "Minienkät" · 6 av 7 har svarat' in shown


def test_region_result_names_the_round_as_its_units_do(runtime: Runtime) -> None:
    unnamed_round(runtime)
    alva = admin(runtime, "alva")
    region = texts(alva.say('unit results "Region Skåne"'))
    assert 'Region Skåne · Round "Mini survey"' in region
    assert 'Round "1"' not in region
    by_name = texts(alva.say('unit results "Region Skåne" "Mini survey"'))
    assert 'Region Skåne · Round "Mini survey"' in by_name


def test_join_examples_show_a_code_as_long_as_the_real_ones(runtime: Runtime) -> None:
    alva = claim_admin(runtime)
    alva.say('unit create "Ystad bibliotek"')
    code = texts(alva.say('unit invite "Ystad bibliotek"')).rsplit("join ", 1)[1].split()[0]
    for locale in ("en", "sv"):
        newcomer = Conversation(runtime.engine, f"ny-{locale}", display_name="Ny", locale_hint=locale)
        for text in (texts(newcomer.say("join")), texts(newcomer.say("help"))):
            examples = re.findall(r"\b(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{4,}\b", text)
            assert examples
            assert {len(example) for example in examples} == {len(code)}


def test_swedish_reader_is_told_the_swedish_words_and_they_work_as_written(runtime: Runtime) -> None:
    bo = Conversation(runtime.engine, "bo", display_name="Bo", locale_hint="sv")
    help_text = texts(bo.say("hjälp"))
    assert "(t.ex. påminn av)" in help_text
    assert "(t.ex. borta till 2027-01-08)" in help_text
    assert "hoppa över, tillbaka och ?" in help_text
    assert "skip (hoppa över)" not in help_text
    lost = texts(bo.say("blaha"))
    assert "Skriv hjälp för att se vad du kan göra, eller skatta för att börja." in lost
    assert "Skriv hjälp" in texts(bo.say("skata"))
    assert "förrän efter 8 januari 2027" in texts(bo.say("borta till 2027-01-08"))
    assert "ingen öppen skattningsomgång" in texts(bo.say("påminn av"))
    assert "Skriv RADERA (eller DELETE)" in texts(bo.say("glöm mig"))


def test_a_date_not_understood_is_explained_in_the_readers_language(runtime: Runtime) -> None:
    anna = Conversation(runtime.engine, "anna", display_name="Anna", locale_hint="en")
    english = texts(anna.say("away until yesterday"))
    assert "yesterday is not a date: write it as e.g. 2027-01-08, 8/1 or 8 January." in english
    assert "8 January" in texts(anna.say("away until 8 January"))
    bo = Conversation(runtime.engine, "bo", display_name="Bo", locale_hint="sv")
    swedish = texts(bo.say("borta till igår"))
    assert "igår är inte ett datum" in swedish
    assert "8 januari" in swedish
    assert "förrän efter 8 januari 2027" in texts(bo.say("borta till 8 januari"))


def test_principal_moves_a_due_date_written_in_words(runtime: Runtime, clock: ManualClock) -> None:
    pia, _anna, _bo = _planned(runtime, clock)
    assert "due 30 April 2027" in texts(pia.say("plan due 1 30 April 2027"))
    assert "banana day is not a date" in texts(pia.say("plan due 1 banana day"))


def test_swedish_staff_are_never_told_to_type_an_english_command(runtime: Runtime) -> None:
    bo = Conversation(runtime.engine, "bo", display_name="Bo", locale_hint="sv")
    said = " ".join(
        texts(bo.say(words))
        for words in ("hej", "resultat", "paus", "språk", "tidszon", "borta", "påminn", "borta till igår")
    )
    english = re.findall(r"[Ss]kriv (?:bara )?(assess|results|help|language|timezone|away|remind)\b", said)
    assert english == []
    assert "skriv skatta" in said.lower()
    assert "Skriv borta till och ett datum" in said


def test_report_on_the_command_line_for_a_round_the_unit_does_not_have(runtime: Runtime, db_url: str) -> None:
    unnamed_round(runtime)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSESSBOT_")}
    env["ASSESSBOT_DATABASE_URL"] = db_url
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "report",
            "Ystad school",
            "--round",
            "Autumn 2026",
            "--format",
            "csv",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Ystad school has no round called Autumn 2026." in done.stderr
    assert "has not taken part" not in done.stderr
