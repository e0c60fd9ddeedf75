"""How the bot reads to a real person: typos get a suggestion, Swedish is Swedish all the way.

Each test here is a problem found by trying the bot from outside, as staff and admins would.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.clock import ManualClock
from bot.runtime import Runtime
from tests.harness import Conversation, texts
from tests.org_setup import claim_admin, code_from

TINY = Path(__file__).parent / "data" / "tiny.yaml"


def test_a_mistyped_command_suggests_the_closest_one(anna: Conversation) -> None:
    said = texts(anna.say("asess"))
    assert "Did you mean assess?" in said


def test_a_swedish_typo_gets_a_swedish_suggestion(runtime: Runtime) -> None:
    sara = Conversation(runtime.engine, "sara", display_name="Sara", locale_hint="sv")
    said = texts(sara.say("hjälpp"))
    assert "Menade du hjälp?" in said


def test_staff_are_not_offered_admin_commands(anna: Conversation) -> None:
    said = texts(anna.say("unit creat Ystad"))
    assert "Did you mean" not in said
    assert "Type help" in said


def test_an_admin_with_a_typo_in_the_second_word_is_helped(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    said = texts(admin.say('unit creat "Ystad bibliotek"'))
    assert "Did you mean unit create?" in said


def test_nonsense_gets_no_suggestion(anna: Conversation) -> None:
    said = texts(anna.say("bananas are yellow"))
    assert "Did you mean" not in said


def test_swedish_help_has_no_english_abbreviation(runtime: Runtime) -> None:
    sara = Conversation(runtime.engine, "sara", display_name="Sara", locale_hint="sv")
    said = texts(sara.say("hjälp"))
    assert "t.ex." in said
    assert "e.g." not in said


def test_a_join_code_says_the_weekday_it_expires_day_first(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ystad bibliotek"')
    said = texts(admin.say('unit invite "Ystad bibliotek"'))
    # Day first, as everywhere else in the bot ("due 27 November"), and the weekday to plan by.
    assert re.search(r"valid until [A-Z][a-z]+day \d{1,2} [A-Z][a-z]+ \d{4}\.", said), said


def test_a_short_instrument_takes_about_one_minute_not_one_minutes(
    runtime: Runtime, anna: Conversation
) -> None:
    admin = claim_admin(runtime)
    admin.upload("tiny.yaml", TINY.read_bytes(), "instrument upload")
    said = texts(anna.say("assess"))
    if "Which assessment" in said:
        said = texts(anna.click("Tiny check-in"))
    assert "3 statements, about 1 minute." in said, said
    sara = Conversation(runtime.engine, "sara", display_name="Sara", locale_hint="sv")
    said = texts(sara.say("skatta"))
    said = texts(sara.click("Liten avstämning"))
    assert "3 påståenden, ungefär 1 minut." in said, said


def test_start_with_a_code_keeps_the_round_buttons_last(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ystad bibliotek"')
    admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-18 threshold 3')
    code = code_from(admin.say('unit invite "Ystad bibliotek" uses 5'))
    bo = Conversation(runtime.engine, "bo", display_name="Bo")
    bo.say(f"start {code}")
    # The round's button is what a number or a tap picks; no "Ready when you are" keyboard after it.
    assert [c.payload for c in bo.choices()] == ["o:1"]
    assert "Ready when you are" not in bo.last.text
    bo.say("assess")
    offered = [c.label for c in bo.choices()]
    assert offered[0] == "Digital competence for library staff (closes 18 December)"
    assert "Digital competence for library staff (on your own)" in offered


def test_a_round_opened_without_a_name_is_headed_by_its_instrument(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ystad bibliotek"')
    admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-18 threshold 3')
    said = texts(admin.say('unit results "Ystad bibliotek"'))
    assert 'Ystad bibliotek · Round "Digital competence for library staff" · 0 of 0 answered' in said, said


def test_an_unknown_unit_or_round_says_how_to_find_the_right_one(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ystad bibliotek"')
    admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-18 threshold 3')
    assert "Type unit list to see the units." in texts(admin.say("unit results Ystad"))
    said = texts(admin.say('unit results "Ystad bibliotek" "Vår 2030"'))
    assert "Type round list to see the rounds." in said


def test_a_plan_item_due_in_the_past_is_refused(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ystad bibliotek"')
    said = texts(admin.say('plan add "Share one tool a month" due 2020-01-01 unit "Ystad bibliotek"'))
    assert "2020-01-01 has already passed: choose a due date in the future." in said, said


def test_swedish_quotes_an_action_the_swedish_way() -> None:
    from bot.follow_up.plan_items import quoted
    from bot.i18n import translator

    assert quoted(translator("sv"), "Filmverkstad") == "”Filmverkstad”"
    assert quoted(translator("en"), "Film workshop") == "“Film workshop”"


def test_results_in_the_middle_of_an_assessment_say_how_to_continue(anna: Conversation) -> None:
    anna.say("assess")
    anna.click("Digital competence for library staff")
    said = texts(anna.say("results"))
    assert "Type assess to continue where you were." in said


def test_a_time_zone_in_lower_case_is_understood(anna: Conversation) -> None:
    assert "Your time zone is now Europe/Helsinki." in texts(anna.say("timezone europe/helsinki"))


def test_an_unsupported_language_says_which_ones_there_are(anna: Conversation) -> None:
    said = texts(anna.say("language de"))
    assert "I can write in Swedish and English." in said


def test_away_in_the_past_says_what_to_write(anna: Conversation) -> None:
    said = texts(anna.say("away until 2020-01-01"))
    assert "e.g. away until 2027-01-08" in said


def test_opening_the_same_round_again_does_not_say_invited_0_people(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ystad bibliotek"')
    admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-18')
    again = texts(admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-18 threshold 3'))
    assert "invited 0" not in again
    assert "the round's settings are unchanged" in again


def test_a_greeting_gets_a_welcome_not_a_shrug(runtime: Runtime) -> None:
    sara = Conversation(runtime.engine, "sara", display_name="Sara Berg", locale_hint="sv")
    said = texts(sara.say("Hej!"))
    assert "Hej Sara!" in said
    assert "förstod jag inte" not in said


def test_a_missing_translation_in_an_instrument_names_the_language(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    broken = TINY.read_text(encoding="utf-8").replace(
        '{sv: "Jag kan B.", en: "I can B."}', '{en: "I can B."}'
    )
    said = texts(admin.upload("broken.yaml", broken.encode("utf-8"), "instrument upload"))
    assert "areas[0].items[1].text.sv: missing text in Swedish" in said, said
    admin.say("language sv")
    said = texts(admin.upload("broken.yaml", broken.encode("utf-8"), "instrument upload"))
    assert "text saknas på svenska" in said, said


def test_swedish_follow_up_cadence_has_no_wrong_ordinal() -> None:
    from bot.i18n import translator

    sv = translator("sv")
    # "var 2:e vecka" is wrong Swedish (2:a); say it without an ordinal.
    said = sv.ngettext("follow-up every week", "follow-up every %(n)s weeks", 2)
    assert said == "uppföljning med 2 veckors mellanrum"


def test_a_path_the_terminal_could_not_open_is_named(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    said = texts(admin.say("instrument upload ./teacher-checkin.yaml"))
    assert "I can't find the file ./teacher-checkin.yaml." in said, said


def test_a_latest_round_without_results_offers_the_earlier_rounds(runtime: Runtime) -> None:
    admin = claim_admin(runtime)
    admin.say('unit create "Ystad bibliotek"')
    admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-18 name "Höst 2026"')
    assert isinstance(runtime.clock, ManualClock)
    runtime.clock.advance(minutes=1)
    admin.say('round open school-digital-maturity "Ystad bibliotek" closes 2026-12-19')
    said = texts(admin.say('unit results "Ystad bibliotek"'))
    assert "Earlier rounds of Ystad bibliotek:" in said, said
    assert [c.label for c in admin.choices()] == ["Höst 2026"]
    assert 'Round "Höst 2026"' in texts(admin.click("Höst 2026"))
