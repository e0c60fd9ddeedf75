"""The workshop pack: the document a facilitator prints and hands out, as a PDF or a spreadsheet.

Made from the unit's published `UnitReport` (nothing below the anonymity threshold) and, after a
workshop, its `WorkshopOutcome` (votes, notes, the chosen priorities). The PDF is HTML laid out by
WeasyPrint: the unit and round on every page, page numbers, the result up front, one page per
statement with its distribution, its votes and the notes, then the priorities; tagged (PDF/UA-1),
so its text is selectable and read in order by screen readers.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.i18n import Translator
from bot.results import charts, report_text
from bot.results.report_files import _area_rows, _statement_header, _statement_row, _xlsx
from bot.results.reports import StatementResult, UnitReport
from instruments.schema import pick


@dataclass(frozen=True)
class WorkshopOutcome:
    """What a workshop adds to its pack: its statements in the order discussed, the votes and the
    notes on each (never who voted or wrote), and the priorities it chose, first first."""

    agenda: Sequence[str]
    votes: Mapping[str, int] = field(default_factory=dict)
    notes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    priorities: Sequence[str] = ()


def _statements(report: UnitReport, outcome: WorkshopOutcome | None) -> list[StatementResult]:
    if outcome is None:
        return list(report.weakest())
    by_code = {s.code: s for s in report.statements}
    return [by_code[code] for code in outcome.agenda if code in by_code]


def _e(text: object) -> str:
    return html.escape(str(text))


STYLE = """
@page {
  size: A4; margin: 2.2cm 2cm 2cm 2cm;
  @top-left { content: "%(running)s"; font-size: 9pt; color: #444; }
  @bottom-right { content: "%(page)s " counter(page) " / " counter(pages); font-size: 9pt; color: #444; }
}
body { font-family: "DejaVu Sans", sans-serif; font-size: 10.5pt; line-height: 1.35; }
h1 { font-size: 20pt; margin: 0 0 0.3em; }
h2 { font-size: 14pt; margin: 0 0 0.4em; }
section.statement, section.priorities { break-before: page; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #999; padding: 3pt 7pt; text-align: center; }
.bar { display: inline-block; height: 9pt; background: #2c4a6e; }
.lines p { border-bottom: 1px solid #aaa; height: 1.6em; margin: 0; }
img { width: 100%%; }
"""


def workshop_pdf(t: Translator, report: UnitReport, outcome: WorkshopOutcome | None = None) -> bytes:
    """The pack as a tagged PDF (WeasyPrint; imported here, it takes a moment to load)."""
    from weasyprint import HTML

    return bytes(
        HTML(string=workshop_html(t, report, outcome)).write_pdf(pdf_variant="pdf/ua-1", pdf_tags=True)
    )


def workshop_html(t: Translator, report: UnitReport, outcome: WorkshopOutcome | None = None) -> str:
    running = f"{report.unit_name} · {report_text.round_label(t, report)}"
    style = STYLE % {"running": running.replace('"', "'"), "page": t._("Page")}
    title = t._("Workshop pack")
    parts = [
        f'<!DOCTYPE html><html lang="{_e(t.locale)}"><head><meta charset="utf-8">',
        f"<title>{_e(title)} · {_e(running)}</title><style>{style}</style></head><body>",
        _front(t, report),
    ]
    parts.extend(_statement_page(t, report, s, outcome) for s in _statements(report, outcome))
    parts.append(_priorities(t, report, outcome))
    parts.append("</body></html>")
    return "".join(parts)


def _front(t: Translator, report: UnitReport) -> str:
    lines = report_text.summary(t, report, weakest=0).splitlines()
    body = "".join(f"<p>{_e(line)}</p>" if line else "" for line in lines)
    chart = ""
    if report.shown:
        png = base64.b64encode(charts.unit_chart(t, report)).decode()
        alt = t._("Mean per area")
        chart = f'<img src="data:image/png;base64,{png}" alt="{_e(alt)}">'
    title = t._("Workshop pack")
    return f"<section><h1>{_e(title)}</h1>{body}{chart}</section>"


def _statement_page(
    t: Translator, report: UnitReport, s: StatementResult, outcome: WorkshopOutcome | None
) -> str:
    item = report.instrument.item(s.code)
    area = report.instrument.area(s.area_id)
    labels = [str(p) for p in range(1, len(s.distribution) + 1)] + [t._("Skipped"), t._("Not applicable")]
    counts = [*s.distribution, s.skipped, s.not_applicable]
    widest = max(counts) or 1
    rows = "".join(
        f'<tr><th scope="row">{_e(label)}</th><td>{n}</td>'
        f'<td style="text-align:left"><span class="bar" style="width:{120 * n / widest:.0f}pt"></span></td></tr>'
        for label, n in zip(labels, counts, strict=True)
    )
    stats = t._(
        "Mean %(mean)s · spread %(sd)s · %(n)s answers",
        mean=t.number(s.stat.mean),
        sd=t.number(s.stat.sd) if s.stat.sd is not None else "–",
        n=s.stat.n,
    )
    answer, respondents = t._("Answer"), t._("Respondents")
    parts = [
        '<section class="statement">',
        f"<h2>{_e(s.code)} {_e(pick(item.text if item else None, t.locale))}</h2>",
        f"<p>{_e(pick(area.title if area else None, t.locale))} · {_e(stats)}</p>",
        f'<table><tr><th scope="col">{_e(answer)}</th><th scope="col">{_e(respondents)}</th>'
        f"<th></th></tr>{rows}</table>",
    ]
    if outcome is not None:
        votes = outcome.votes.get(s.code, 0)
        counted = t.ngettext("%(n)s priority vote", "%(n)s priority votes", votes)
        parts.append(f"<p><strong>{_e(counted)}</strong></p>")
    heading = t._("Our notes")
    parts.append(f"<h3>{_e(heading)}</h3>")
    notes = outcome.notes.get(s.code, ()) if outcome is not None else ()
    if notes:
        parts.append("<ul>" + "".join(f"<li>{_e(note)}</li>" for note in notes) + "</ul>")
    else:
        parts.append('<div class="lines">' + "<p></p>" * 5 + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _priorities(t: Translator, report: UnitReport, outcome: WorkshopOutcome | None) -> str:
    heading = t._("Our priorities")
    parts = ['<section class="priorities">', f"<h2>{_e(heading)}</h2>"]
    if outcome is not None and outcome.priorities:
        parts.append("<ol>")
        for code in outcome.priorities:
            item = report.instrument.item(code)
            votes = t.ngettext("%(n)s vote", "%(n)s votes", outcome.votes.get(code, 0))
            parts.append(
                f"<li>{_e(code)} {_e(pick(item.text if item else None, t.locale))} ({_e(votes)})</li>"
            )
        parts.append("</ol>")
    else:
        ask = t._("What we will work on first (up to three priorities), who leads it and by when:")
        parts.append(f"<p>{_e(ask)}</p>" + '<div class="lines">' + "<p></p>" * 9 + "</div>")
    parts.append("</section>")
    return "".join(parts)


def workshop_xlsx(t: Translator, report: UnitReport, outcome: WorkshopOutcome | None = None) -> bytes:
    """The statements in the workshop's order (weakest first without one) with their distributions,
    and the priority votes and notes (empty columns to fill in without a workshop)."""
    header: list[object] = [t._("Rank"), *_statement_header(t, report), t._("Priority"), t._("Notes")]
    rows: list[list[object]] = [header]
    for rank, s in enumerate(_statements(report, outcome), start=1):
        votes = outcome.votes.get(s.code, 0) if outcome is not None else None
        notes = "\n".join(outcome.notes.get(s.code, ())) if outcome is not None else None
        rows.append([rank, *_statement_row(t, report, s), votes, notes or None])
    summary = [[line] for line in report_text.summary(t, report, weakest=0).splitlines()]
    sheets: list[tuple[str, Sequence[Sequence[object]]]] = [
        (t._("Workshop"), rows),
        (t._("Summary"), summary),
        (t._("Areas"), _area_rows(t, report)),
    ]
    if outcome is not None:
        chosen: list[list[object]] = [[t._("Rank"), t._("Statement"), t._("Text"), t._("Priority")]]
        for rank, code in enumerate(outcome.priorities, start=1):
            item = report.instrument.item(code)
            chosen.append(
                [rank, code, pick(item.text if item else None, t.locale), outcome.votes.get(code, 0)]
            )
        sheets.append((t._("Our priorities"), chosen))
    return _xlsx(sheets)
