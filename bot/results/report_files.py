"""Files made from a unit result: the exports (CSV or XLSX); the workshop pack is workshop_pack.py.

All of them are made from a `UnitReport`, so they contain exactly what the chat shows and nothing
below the anonymity threshold. There is no file of individual answers: a row of one person's
answers, however pseudonymised, is that person's answers to whoever can tell the row apart
(tests/privacy/test_reader_raw_export.py).

openpyxl is imported when a spreadsheet is first made: loading it with the module would make
every process start slower and hold more memory for files most processes never make.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from bot.i18n import Translator
from bot.results.reports import StatementResult, UnitReport
from instruments.schema import pick

# ---------------------------------------------------------------- rows shared by CSV and XLSX


def _statement_header(t: Translator, report: UnitReport) -> list[object]:
    points = [str(p) for p in range(1, report.instrument.scale.points + 1)]
    return [
        t._("Statement"),
        t._("Text"),
        t._("Area"),
        t._("Respondents"),
        t._("Mean"),
        t._("Spread"),
        *points,
        t._("Skipped"),
        t._("Not applicable"),
    ]


def _statement_row(t: Translator, report: UnitReport, s: StatementResult) -> list[object]:
    item = report.instrument.item(s.code)
    area = report.instrument.area(s.area_id)
    return [
        s.code,
        pick(item.text if item else None, t.locale),
        pick(area.title if area else None, t.locale),
        s.stat.n,
        round(s.stat.mean, 3),
        round(s.stat.sd, 3) if s.stat.sd is not None else None,
        *s.distribution,
        s.skipped,
        s.not_applicable,
    ]


def _area_rows(t: Translator, report: UnitReport) -> list[list[object]]:
    rows: list[list[object]] = [
        [t._("Area"), t._("Respondents"), t._("Mean"), t._("Spread"), t._("Change since the previous round")]
    ]
    for a in report.areas:
        area = report.instrument.area(a.area_id)
        rows.append(
            [
                pick(area.title if area else None, t.locale),
                a.stat.n,
                round(a.stat.mean, 3),
                round(a.stat.sd, 3) if a.stat.sd is not None else None,
                round(a.change, 3) if a.change is not None else None,
            ]
        )
    return rows


def _statement_rows(t: Translator, report: UnitReport) -> list[list[object]]:
    return [_statement_header(t, report), *(_statement_row(t, report, s) for s in report.statements)]


def _csv(rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    # A byte-order mark lets spreadsheet programs recognise UTF-8 (å, ä, ö).
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx(sheets: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    first = True
    for title, rows in sheets:
        sheet = workbook.active if first else workbook.create_sheet()
        assert sheet is not None
        first = False
        sheet.title = title[:31]
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- exports


def aggregates_csv(t: Translator, report: UnitReport) -> bytes:
    """Areas, then statements, in one CSV (numbers with a decimal point, for any program)."""
    return _csv([*_area_rows(t, report), [], *_statement_rows(t, report)])


def aggregates_xlsx(t: Translator, report: UnitReport) -> bytes:
    return _xlsx([(t._("Areas"), _area_rows(t, report)), (t._("Statements"), _statement_rows(t, report))])
