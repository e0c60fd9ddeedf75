"""`assessbot report UNIT --round R --format pdf|xlsx|csv|png [--out DIR]`: the files the chat gives,
written to a folder. For whoever runs the bot (it reads the database directly); the anonymity rules
apply exactly as in the chat, because the files are made from the same `UnitReport`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.config import Config
from bot.i18n import translator

FORMATS = ("pdf", "xlsx", "csv", "png")


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    from bot import runtime
    from bot.results import charts, report_files, workshop_pack
    from bot.results.reports import find_round, find_unit, latest_round, unit_report
    from bot.results.unit_results import file_stem

    t = translator(args.locale or config.default_locale)
    app = runtime.start(config)
    with app.sessions() as session:
        unit = find_unit(session, args.unit)
        if unit is None:
            print(t._("I don't know the unit %(unit)s.", unit=args.unit), file=sys.stderr)
            return 1
        round_ = find_round(session, unit.id, args.round) if args.round else latest_round(session, unit.id)
        if round_ is None and args.round:
            unknown = t._(
                "%(unit)s has no round called %(round)s. Type round list to see the rounds.",
                unit=unit.name,
                round=args.round,
            )
            print(unknown, file=sys.stderr)
            return 1
        if round_ is None:
            print(t._("%(unit)s has not taken part in any round yet.", unit=unit.name), file=sys.stderr)
            return 1
        report = unit_report(session, unit.id, round_.id)
    from bot.results.report_text import summary

    if not report.shown:
        print(summary(t, report), file=sys.stderr)
        return 1
    out = Path(args.out or config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(report)
    files: dict[str, bytes]
    if args.format == "pdf":
        files = {f"{stem}-workshop.pdf": workshop_pack.workshop_pdf(t, report)}
    elif args.format == "xlsx":
        files = {
            f"{stem}-results.xlsx": report_files.aggregates_xlsx(t, report),
            f"{stem}-workshop.xlsx": workshop_pack.workshop_xlsx(t, report),
        }
    elif args.format == "csv":
        files = {f"{stem}-results.csv": report_files.aggregates_csv(t, report)}
    else:
        files = {
            f"{stem}-areas.png": charts.unit_chart(t, report),
            f"{stem}-statements.png": charts.distribution_chart(t, report),
        }
    for name, content in files.items():
        path = out / name
        path.write_bytes(content)
        print(path)
    return 0


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="write a unit's result as files (pdf, xlsx, csv or png)")
    report.add_argument("unit", help="the unit's name or id")
    report.add_argument("--round", help="the round's name or id (default: the latest)")
    report.add_argument("--format", choices=FORMATS, default="pdf")
    report.add_argument("--out", help="folder to write to (default: ASSESSBOT_OUTPUT_DIR)")
    report.add_argument("--locale", choices=["sv", "en"])
    report.set_defaults(handler=cmd_report)
