"""Trying the bot in the terminal alone: the person it runs as sees what the bot sends them (their
inbox), and `assessbot tick --at TIME` runs the scheduled work as of that time."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.console import PLATFORM, ConsoleAdapter, ConsoleSender
from bot import cli
from bot.clock import ManualClock
from bot.follow_up.scheduler import scan
from bot.outbox import Dispatcher, recipients_on
from bot.runtime import Runtime
from storage.models import Identity, Outbox, OutboxState
from tests.harness import texts
from tests.org_setup import Organisation, build_organisation
from tests.timed import stockholm


@pytest.fixture
def org(runtime: Runtime, clock: ManualClock) -> Organisation:
    organisation = build_organisation(runtime)
    clock.set(stockholm(2026, 11, 23, 10))  # Monday, working hours
    opened = texts(organisation.admin.say('round open digcomp-library "Ystad bibliotek" closes 2026-12-12'))
    assert "I am sending invitations to 2 people." in opened, opened
    return organisation


def terminal(runtime: Runtime, user: str, tmp_path: Path) -> tuple[ConsoleAdapter, io.StringIO]:
    """The terminal as `assessbot chat --as USER` sets it up."""
    out = io.StringIO()
    adapter = ConsoleAdapter(runtime.engine, user=user, locale_hint="en", out=out, output_dir=tmp_path)
    inbox = Dispatcher(
        runtime.sessions,
        {PLATFORM: ConsoleSender(adapter)},
        runtime.clock,
        per_person_gap=timedelta(0),
        recipients=recipients_on(PLATFORM, user),
    )
    adapter.inbox = inbox.drain
    return adapter, out


def state_of_invitation(runtime: Runtime, user: str) -> OutboxState:
    with runtime.sessions() as session:
        state = session.scalar(
            select(Outbox.state)
            .join(Identity, Identity.person_id == Outbox.person_id)
            .where(Identity.platform_user_id == user, Outbox.kind == "invite")
        )
    assert state is not None
    return state


def test_the_terminal_shows_the_person_their_invitation_and_leaves_others_theirs(
    runtime: Runtime, org: Organisation, tmp_path: Path
) -> None:
    sven, out = terminal(runtime, "sven", tmp_path)
    sven.run([], prompt=False)

    shown = out.getvalue()
    assert "📬 A message from the bot:" in shown, shown
    assert "You are invited to the assessment Digital competence for library staff" in shown
    assert "[1] Start the assessment" in shown
    assert state_of_invitation(runtime, "sven") is OutboxState.SENT
    # Pia's invitation is not shown here, nor marked sent: her own terminal shows it.
    assert state_of_invitation(runtime, "pia") is OutboxState.PENDING
    pia, pia_out = terminal(runtime, "pia", tmp_path)
    pia.run([], prompt=False)
    assert "You are invited" in pia_out.getvalue()
    assert state_of_invitation(runtime, "pia") is OutboxState.SENT

    # The number picks the invitation's button, as with any other message.
    sven.run(["1"], prompt=False)
    assert "Background question 1/" in out.getvalue()


def test_a_reminder_falling_due_while_the_terminal_runs_is_shown_after_the_next_line(
    runtime: Runtime, org: Organisation, clock: ManualClock, tmp_path: Path
) -> None:
    sven, out = terminal(runtime, "sven", tmp_path)
    sven.run(["help"], prompt=False)
    before = out.getvalue()
    assert "is waiting for you" not in before

    clock.set(stockholm(2026, 11, 26, 9, 30))  # three working days later: the first reminder
    assert scan(runtime.sessions, clock.now()) >= 1
    sven.run(["results"], prompt=False)

    later = out.getvalue()[len(before) :]
    assert "You have no completed assessment yet" in later
    assert "📬 A message from the bot:" in later
    assert "is waiting for you" in later, later


def test_tick_runs_the_scheduled_work_as_of_a_given_time(
    runtime: Runtime,
    org: Organisation,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ASSESSBOT_DATABASE_URL", db_url)
    capsys.readouterr()

    assert cli.main(["tick", "--at", "2026-11-26T09:30"]) == 0

    shown = capsys.readouterr().out
    assert "📬 To sven:" in shown, shown
    assert "📬 To pia:" in shown, shown
    assert "is waiting for you" in shown
    assert "As of Thursday 26 November 2026 09:30" in shown, shown
    with runtime.sessions() as session:
        reminders = session.scalars(select(Outbox.state).where(Outbox.kind == "reminder")).all()
    assert sorted(reminders) == [OutboxState.SENT, OutboxState.SENT]

    # The same time again writes and shows nothing twice.
    assert cli.main(["tick", "--at", "2026-11-26T09:30"]) == 0
    again = capsys.readouterr().out
    assert "To sven" not in again
    assert "0 messages went to people in the terminal" in again


def test_tick_with_a_time_it_cannot_read_says_how_to_write_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tick", "--at", "monday"]) == 2
    assert "write it as 2026-12-07T09:30" in capsys.readouterr().err


def shown_menu(screen: str) -> dict[str, str]:
    """The last menu on screen, as typed key -> button label (`[8] Skip  [9] What…` in a row)."""
    block = screen.rstrip("\n").split("\n\n")[-1]
    menu: dict[str, str] = {}
    for line in block.splitlines():
        for cell in re.findall(r"\[([^\]]+)\] ((?:(?!  \[).)+)", line):
            assert cell[0] not in menu, f"{cell[0]!r} is shown twice: {block}"
            menu[cell[0]] = cell[1].strip()
    return menu


def test_on_a_7_point_scale_every_option_the_terminal_shows_can_be_typed(
    runtime: Runtime, tmp_path: Path
) -> None:
    anna, out = terminal(runtime, "anna", tmp_path)
    anna.run(["assess"], prompt=False)
    while "Statement 1/24" not in out.getvalue():  # the background questions: their first option
        anna.run(["1"], prompt=False)
    menu = shown_menu(out.getvalue())
    keys = {label: key for key, label in menu.items()}
    assert [keys[str(v)] for v in range(1, 8)] == [str(v) for v in range(1, 8)], menu
    assert {"Skip", "What does this mean?", "Back"} <= set(keys), menu

    before = len(out.getvalue())
    anna.run([keys["What does this mean?"]], prompt=False)
    explained = out.getvalue()[before:]
    assert "Please answer with a number" not in explained, explained
    assert explained.startswith("ℹ️ E.g. choosing good search terms"), explained

    anna.run([keys["Skip"]], prompt=False)
    assert "Statement 2/24" in out.getvalue()[before:], out.getvalue()[before:]
    before = len(out.getvalue())
    back = next(key for key, label in shown_menu(out.getvalue()).items() if label == "Back")
    anna.run([back], prompt=False)
    assert "Statement 1/24" in out.getvalue()[before:], out.getvalue()[before:]
