"""Files made from a unit result: the workshop pack (PDF or XLSX) and the exports (CSV or XLSX).

All of them are made from a `UnitReport`, so they contain exactly what the chat shows and nothing
below the anonymity threshold. Raw answers are exported only pseudonymised: no names, no platform
ids, no background answers or times (which could single someone out), a fresh random code per
response for each export, and rows in random order (completion order could identify people).

Matplotlib (the PDF) and openpyxl (the spreadsheets) are imported when a file is first made:
loading them with the module would make every process start slower and hold more memory for
files that most processes never make.
"""

from __future__ import annotations

import csv
import io
import secrets
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from bot.i18n import Translator
from bot.results import charts, report_text
from bot.results.reports import StatementResult, UnitReport
from instruments.schema import pick
from storage.models import AnswerKind

if TYPE_CHECKING:
    from matplotlib.figure import Figure

A4 = (8.27, 11.69)
STATEMENTS_PER_PAGE = 5


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


def pseudonymised_rows(
    report: UnitReport, answers: Iterable[tuple[int, str, AnswerKind, int | None]]
) -> list[list[object]]:
    """One row per response: a random code, then the answer to each statement."""
    codes = [item.code for area in report.instrument.areas for item in area.items]
    by_response: dict[int, dict[str, object]] = defaultdict(dict)
    for response_id, code, kind, value in answers:
        by_response[response_id][code] = value if kind is AnswerKind.VALUE else kind.value
    rows: list[list[object]] = [["pseudonym", *codes]]
    responses = list(by_response.values())
    secrets.SystemRandom().shuffle(responses)
    used: set[str] = set()
    for answers_of_one in responses:
        pseudonym = secrets.token_hex(4)
        while pseudonym in used:
            pseudonym = secrets.token_hex(4)
        used.add(pseudonym)
        rows.append([pseudonym, *(answers_of_one.get(code) for code in codes)])
    return rows


def raw_csv(report: UnitReport, answers: Iterable[tuple[int, str, AnswerKind, int | None]]) -> bytes:
    return _csv(pseudonymised_rows(report, answers))


def raw_xlsx(report: UnitReport, answers: Iterable[tuple[int, str, AnswerKind, int | None]]) -> bytes:
    return _xlsx([("answers", pseudonymised_rows(report, answers))])


# ---------------------------------------------------------------- workshop pack


def workshop_xlsx(t: Translator, report: UnitReport) -> bytes:
    """Statements weakest first with their distributions and empty columns for the workshop's notes."""
    header: list[object] = [t._("Rank"), *_statement_header(t, report), t._("Priority"), t._("Notes")]
    rows: list[list[object]] = [header]
    for rank, s in enumerate(report.weakest(), start=1):
        rows.append([rank, *_statement_row(t, report, s), None, None])
    summary = [[line] for line in report_text.summary(t, report, weakest=0).splitlines()]
    return _xlsx([(t._("Workshop"), rows), (t._("Summary"), summary), (t._("Areas"), _area_rows(t, report))])


LINES_PER_PAGE = 38


def _text_pages(lines: Sequence[str], title: str) -> list[Figure]:
    """A4 pages of wrapped text under a title; as many pages as the text needs."""
    from matplotlib.figure import Figure

    wrapped = [part for line in lines for part in (textwrap.wrap(line, 80) or [""])]
    pages = []
    for start in range(0, max(1, len(wrapped)), LINES_PER_PAGE):
        figure = Figure(figsize=A4)
        figure.text(0.08, 0.94, title, fontsize=16, weight="bold", va="top")
        for k, part in enumerate(wrapped[start : start + LINES_PER_PAGE]):
            figure.text(0.08, 0.89 - k * 0.022, part, fontsize=10, va="top")
        pages.append(figure)
    return pages


def _statement_block(
    figure: Figure, t: Translator, report: UnitReport, s: StatementResult, top: float
) -> None:
    item = report.instrument.item(s.code)
    text = pick(item.text if item else None, t.locale)
    figure.text(0.08, top, f"{s.code}  {text}"[:400], fontsize=10, weight="bold", va="top", wrap=True)
    stats = t._(
        "Mean %(mean)s · spread %(sd)s · %(n)s answers",
        mean=t.number(s.stat.mean),
        sd=t.number(s.stat.sd) if s.stat.sd is not None else "–",
        n=s.stat.n,
    )
    figure.text(0.08, top - 0.045, stats, fontsize=9, va="top")
    axes = figure.add_axes((0.08, top - 0.1, 0.84, 0.035))
    counts = [*s.distribution, s.skipped + s.not_applicable]
    total = sum(counts) or 1
    left = 0.0
    colours = [*charts._colours(report.instrument.scale.points), charts.SKIPPED]
    for k, count in enumerate(counts):
        share = count / total
        axes.barh(0, share, left=left, color=colours[k])
        if share >= 0.07:
            label = str(k + 1) if k < len(s.distribution) else t._("Skipped")
            axes.text(left + share / 2, 0, f"{label}: {count}", ha="center", va="center", fontsize=8)
        left += share
    axes.set_xlim(0, 1)
    axes.set_axis_off()
    figure.text(0.08, top - 0.115, t._("Our notes:") + " " + "_" * 70, fontsize=9, va="top")


def workshop_pdf(t: Translator, report: UnitReport) -> bytes:
    """Summary and chart, then the statements weakest first with their distributions and room to
    note priorities; a last page for the priorities the staff agree on."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        for page in _text_pages(report_text.summary(t, report, weakest=0).splitlines(), t._("Workshop pack")):
            pdf.savefig(page)
        if report.shown:
            chart = Figure(figsize=A4)
            axes = chart.add_axes((0.05, 0.3, 0.9, 0.6))
            axes.imshow(imread(io.BytesIO(charts.unit_chart(t, report)), format="png"))
            axes.set_axis_off()
            pdf.savefig(chart)
        statements = report.weakest()
        for start in range(0, len(statements), STATEMENTS_PER_PAGE):
            page = Figure(figsize=A4)
            page.text(0.08, 0.95, t._("Statements, weakest first"), fontsize=14, weight="bold", va="top")
            for k, s in enumerate(statements[start : start + STATEMENTS_PER_PAGE]):
                _statement_block(page, t, report, s, 0.9 - k * 0.175)
            pdf.savefig(page)
        lines = [t._("What we will work on first (up to three priorities), who leads it and by when:"), ""]
        for n in range(1, 4):
            lines.extend([f"{n}. " + "_" * 70, "", t._("Who and by when:") + " " + "_" * 55, ""])
        for page in _text_pages(lines, t._("Our priorities")):
            pdf.savefig(page)
    return buffer.getvalue()
