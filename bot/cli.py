"""The `assessbot` command line: run the bot, chat in the terminal, manage instruments and catalogs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.i18n import translator

Handler = Callable[[argparse.Namespace, Config], int]


def cmd_chat(args: argparse.Namespace, config: Config) -> int:
    from adapters.console import PLATFORM, ConsoleAdapter, ConsoleSender
    from bot import runtime
    from bot.follow_up import scheduler
    from bot.outbox import Dispatcher, recipients_on

    # The terminal is the conversation: log to a file so no traceback ever lands in it.
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    runtime.configure_logging(
        config.log_level, content=config.log_content, filename=str(Path(config.output_dir) / "assessbot.log")
    )
    app = runtime.start(config)
    adapter = ConsoleAdapter(
        app.engine, user=args.user, locale_hint=args.locale, output_dir=config.output_dir
    )
    # The person's inbox: their due messages, shown at start and after each line typed. Other
    # people's messages stay queued for their own terminal (`chat --as NAME`) or platform.
    own = recipients_on(PLATFORM, adapter.user)
    senders = {PLATFORM: ConsoleSender(adapter)}
    inbox = Dispatcher(
        app.sessions,
        senders,
        app.clock,
        default_locale=config.default_locale,
        per_person_gap=timedelta(0),
        recipients=own,
    )
    adapter.inbox = inbox.drain
    interactive = sys.stdin.isatty()
    t = translator(args.locale or config.default_locale)
    # On stderr: a scripted conversation's output stays the bot's replies alone.
    print(t._("The database: %(place)s", place=config.database_place), file=sys.stderr)
    if app.admin_claim_code:
        print(t._("No administrator yet: write join %(code)s to become one.", code=app.admin_claim_code))
    # Reminders and follow-ups are also printed as they fall due while someone sits at the
    # terminal; a piped script stays deterministic (its inbox is looked at between its lines only).
    background = scheduler.start_background(app, senders, recipients=own) if interactive else None
    if interactive:
        print(
            t._("assessbot in your terminal. Type help for what you can do, assess to start, quit to stop.")
        )
    try:
        adapter.run(sys.stdin, prompt=interactive)
    finally:
        if background is not None:
            background.stop()
    return 0


def parse_moment(raw: str, timezone: str) -> datetime:
    """`2026-12-07T09:30` (local wall-clock time in `timezone`) or with an offset, as UTC."""
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


def cmd_tick(args: argparse.Namespace, config: Config) -> int:
    """Run the scheduled work as of a given time, and show what it sends to people in the terminal."""
    from adapters.console import PLATFORM, TerminalPrinter
    from bot import runtime
    from bot.clock import ManualClock
    from bot.follow_up import scheduler
    from bot.outbox import recipients_on

    t = translator(args.locale or config.default_locale)
    try:
        at = parse_moment(args.at, config.default_timezone)
    except ValueError:
        print(t._("%(value)s is not a time: write it as 2026-12-07T09:30.", value=args.at), file=sys.stderr)
        return 2
    app = runtime.start(config, ManualClock(at), offer_admin_claim=False)
    try:
        tick = scheduler.run_due_work(
            app, at, {PLATFORM: TerminalPrinter(sys.stdout)}, recipients_on(PLATFORM)
        )
    finally:
        app.db.dispose()
    local = at.astimezone(ZoneInfo(config.default_timezone)).replace(tzinfo=None)
    when = t.date(local.date(), "weekday") + " " + local.strftime("%H:%M")
    print(
        t.ngettext(
            "As of %(at)s, %(n)s message went to people in the terminal (shown above).",
            "As of %(at)s, %(n)s messages went to people in the terminal (shown above).",
            tick.sent,
            at=when,
        )
        + " "
        + t._("Messages for Slack and Telegram wait for assessbot run.")
    )
    return 0


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """Run every platform that is configured; with none configured, chat in the terminal."""
    if not (config.telegram_enabled or config.slack_enabled):
        return cmd_chat(args, config)
    from sqlalchemy.engine import make_url

    from adapters import launch
    from bot import runtime
    from bot.log_redaction import hide_secrets

    runtime.configure_logging(config.log_level, content=config.log_content)
    hide_secrets(
        config.telegram_token,
        config.telegram_webhook_secret,
        config.slack_bot_token,
        config.slack_app_token,
        config.slack_signing_secret,
        make_url(config.database_url).password,
    )
    if config.telegram_token:
        from adapters.telegram import derived_webhook_secret

        hide_secrets(derived_webhook_secret(config.telegram_token))
    return launch.run_platforms(runtime.start(config))


def cmd_instrument_validate(args: argparse.Namespace, config: Config) -> int:
    from instruments.schema import InstrumentInvalid, parse_instrument

    t = translator(args.locale or config.default_locale)
    path = Path(args.file)
    try:
        instrument = parse_instrument(path.read_bytes(), path.name)
    except InstrumentInvalid as invalid:
        print(invalid.render(t), file=sys.stderr)
        return 1
    except OSError as error:
        print(t._("Cannot read %(file)s: %(error)s", file=path, error=error.strerror), file=sys.stderr)
        return 2
    n = sum(len(a.items) for a in instrument.areas)
    print(t._("%(file)s is valid: %(id)s with %(n)s statements.", file=path.name, id=instrument.id, n=n))
    return 0


def cmd_instrument_add(args: argparse.Namespace, config: Config) -> int:
    from bot import runtime
    from bot.directory import catalogue
    from instruments.schema import InstrumentInvalid
    from storage.db import transaction

    t = translator(args.locale or config.default_locale)
    app = runtime.start(config)
    path = Path(args.file)
    try:
        source = path.read_bytes().decode("utf-8")
        with transaction(app.sessions) as session:
            installed = catalogue.install(
                session, source, path.name, app.clock.now(), activate=True if args.activate else None
            )
    except InstrumentInvalid as invalid:
        print(invalid.render(t), file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as error:
        print(t._("Cannot read %(file)s: %(error)s", file=path, error=error), file=sys.stderr)
        return 2
    if not installed.created:
        print(
            t._("%(id)s version %(v)s is already installed.", id=installed.instrument_id, v=installed.version)
        )
    elif installed.activated:
        print(
            t._(
                "Installed %(id)s version %(v)s; it is active.",
                id=installed.instrument_id,
                v=installed.version,
            )
        )
    else:
        print(
            t._(
                "Installed %(id)s version %(v)s. Activate it with: assessbot instrument add --activate FILE",
                id=installed.instrument_id,
                v=installed.version,
            )
        )
    return 0


def cmd_i18n_sync(_args: argparse.Namespace, _config: Config) -> int:
    from bot.i18n import sync_catalogs

    missing = sync_catalogs()
    for locale, ids in missing.items():
        for msgid in ids:
            print(f"{locale}: untranslated: {msgid!r}")
    return 1 if any(missing.values()) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assessbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot on the configured platforms (the terminal if none)")
    run.set_defaults(handler=cmd_run, user=None, locale=None)

    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--as", dest="user", help="who you are in the chat (default: your login name)")
    chat.add_argument("--locale", choices=["sv", "en"], help="language to start in")
    chat.set_defaults(handler=cmd_chat)

    tick = sub.add_parser("tick", help="run the scheduled work as of a given time (reminders, follow-ups)")
    tick.add_argument("--at", required=True, help="local time, e.g. 2026-12-07T09:30")
    tick.add_argument("--locale", choices=["sv", "en"])
    tick.set_defaults(handler=cmd_tick)

    instrument = sub.add_parser("instrument", help="validate or install an instrument file")
    isub = instrument.add_subparsers(dest="instrument_command", required=True)
    validate = isub.add_parser("validate", help="check a file and list every problem")
    validate.add_argument("file")
    validate.add_argument("--locale", choices=["sv", "en"])
    validate.set_defaults(handler=cmd_instrument_validate)
    add = isub.add_parser("add", help="install a file (a new version if the id exists)")
    add.add_argument("file")
    add.add_argument("--activate", action="store_true", help="make this version the active one")
    add.add_argument("--locale", choices=["sv", "en"])
    add.set_defaults(handler=cmd_instrument_add)

    i18n = sub.add_parser("i18n", help="translation catalogs")
    i18n_sub = i18n.add_subparsers(dest="i18n_command", required=True)
    sync = i18n_sub.add_parser("sync", help="extract messages into locales/ and list untranslated ones")
    sync.set_defaults(handler=cmd_i18n_sync)

    from bot.results.report_cli import add_report_parser

    add_report_parser(sub)
    for extend in EXTENSIONS:
        extend(sub)
    return parser


def cmd_admin_add(args: argparse.Namespace, config: Config) -> int:
    from bot import runtime
    from bot.administration.admins import make_admin
    from storage.db import transaction

    app = runtime.start(config, offer_admin_claim=False)
    t = translator(config.default_locale)
    with transaction(app.sessions) as session:
        _person, already = make_admin(
            session,
            app.clock.now(),
            platform=args.platform,
            user_id=args.user,
            workspace=args.workspace or "",
            default_locale=config.default_locale,
        )
    where = f"{args.platform}:{args.workspace + '/' if args.workspace else ''}{args.user}"
    if already:
        print(t._("%(who)s is already an administrator.", who=where))
    else:
        print(t._("%(who)s is now an administrator.", who=where))
    app.db.dispose()
    return 0


def _admin_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.administration.admins import PLATFORMS

    admin = sub.add_parser("admin", help="manage administrators")
    asub = admin.add_subparsers(dest="admin_command", required=True)
    add = asub.add_parser("add", help="make a platform user an administrator")
    add.add_argument("--platform", required=True, choices=PLATFORMS)
    add.add_argument("--user", required=True, help="the platform user id (the login name in the terminal)")
    add.add_argument("--workspace", default="", help="the Slack workspace (team) id, if any")
    add.set_defaults(handler=cmd_admin_add)


# Feature modules add their own sub-commands here: functions taking the sub-parsers object.
EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [_admin_parser]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = Config.from_env()
    handler: Handler = args.handler
    try:
        return handler(args, config)
    except BrokenPipeError:
        # The reader went away (`assessbot chat | head`): stop quietly, as other commands do. The
        # interpreter would flush stdout again at exit and fail the same way: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
