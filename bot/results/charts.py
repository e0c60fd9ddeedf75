"""Charts of personal and unit results, as PNG bytes, readable on a phone.

Matplotlib's object-oriented API with the Agg canvas: no pyplot, so no global figure state and no
GUI backend, which keeps chart rendering safe in threads and servers. Every chart is 1080 pixels
wide (a phone screen) with a height that grows with the number of rows; bars are horizontal so
long area and statement names stay readable. Labels are translated and numbers are formatted by
the reader's locale (a decimal comma in Swedish).

Unit charts take a `UnitReport`, which already holds only what may be shown (bot/results/reports.py):
a chart can never show more than the text does.

Matplotlib is imported when a chart is first drawn, not with this module: it is most of the
process's start-up time and memory, and a bot that nobody has written to draws nothing.
`prepare_soon` loads it in the background once someone begins an assessment, so their result
chart at the end does not wait for the import.
"""

from __future__ import annotations

import io
import logging
import textwrap
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bot.i18n import Translator
from bot.results.reports import UnitReport
from bot.results.scoring import Result
from instruments.schema import Instrument, pick

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

DPI = 120
WIDTH_PX = 1080
# Heights are whole multiples of half an inch at 120 dpi, so the pixel size is exact.
BASE_PX = 300
ROW_PX = 120
STATEMENT_ROW_PX = 90  # distribution charts have many rows: a bit tighter

CURRENT = "#1f6fb2"
PREVIOUS = "#b0b0b0"
ROLE_COLOURS = ("#1f6fb2", "#e08a1e", "#4d9a4d", "#8e5ea2")
SKIPPED = "#d9d9d9"

FONT = 15


def height_px(rows: int, row_px: int = ROW_PX) -> int:
    """The pixel height of a chart with `rows` bars (or groups of bars)."""
    return BASE_PX + max(1, rows) * row_px


def _plot_area(figure: Figure) -> tuple[float, float, float, float]:
    """The axes rectangle: fixed pixel margins for the title (top) and the ticks and legend (bottom)."""
    height = figure.get_figheight() * DPI
    bottom, top = 130 / height, 80 / height
    return (0.34, bottom, 0.62, 1 - bottom - top)


_preparing = threading.Lock()
_prepared = False


def prepare() -> None:
    """Import matplotlib and draw a tiny figure once (fonts and the Agg renderer loaded)."""
    global _prepared
    with _preparing:
        if _prepared:
            return
        figure = _figure(1)
        figure.add_axes((0.1, 0.1, 0.8, 0.8)).barh([0], [1])
        figure.suptitle("·")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=10)
        _prepared = True


def prepare_soon() -> None:
    """`prepare` in a background thread, unless it is done or under way."""
    if _prepared or _preparing.locked():
        return

    def run() -> None:
        try:
            prepare()
        except Exception:  # the chart itself will say what is wrong when it is drawn
            log.exception("could not prepare the chart library")

    threading.Thread(target=run, name="charts-prepare", daemon=True).start()


def _figure(rows: int, row_px: int = ROW_PX) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, height_px(rows, row_px) / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _wrap(text: str, width: int = 24, lines: int = 2) -> str:
    wrapped = textwrap.wrap(text, width) or [""]
    if len(wrapped) > lines:
        wrapped = [
            *wrapped[: lines - 1],
            textwrap.shorten(" ".join(wrapped[lines - 1 :]), width, placeholder="…"),
        ]
    return "\n".join(wrapped)


def _scale_axis(axes: object, t: Translator, points: int) -> None:
    from matplotlib.axes import Axes
    from matplotlib.ticker import FixedLocator, FuncFormatter

    assert isinstance(axes, Axes)
    axes.set_xlim(0, points)
    axes.xaxis.set_major_locator(FixedLocator(list(range(1, points + 1))))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: t.number(x, 0)))
    axes.tick_params(labelsize=FONT)
    axes.grid(axis="x", color="#e5e5e5")
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _grouped_bars(
    figure: Figure,
    t: Translator,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None], str]],
    points: int,
    title: str,
) -> None:
    """Horizontal bars, one group per label, one bar per series; each bar labelled with its value."""
    axes = figure.add_axes(_plot_area(figure))
    n = len(series)
    height = 0.8 / n
    for k, (name, values, colour) in enumerate(series):
        positions = [i - 0.4 + height * (k + 0.5) for i in range(len(labels))]
        shown = [(p, v) for p, v in zip(positions, values, strict=True) if v is not None]
        bars = axes.barh(
            [p for p, _ in shown], [v for _, v in shown], height=height * 0.92, color=colour, label=name
        )
        axes.bar_label(bars, labels=[t.number(v) for _, v in shown], padding=4, fontsize=FONT - 2)
    axes.set_yticks(range(len(labels)), [_wrap(label) for label in labels], fontsize=FONT)
    axes.invert_yaxis()
    _scale_axis(axes, t, points)
    figure.suptitle(title, fontsize=FONT + 3, x=0.02, ha="left")
    if n > 1:
        figure.legend(loc="lower center", ncols=n, fontsize=FONT - 1, frameon=False)


def personal_chart(
    t: Translator, instrument: Instrument, result: Result, previous: Mapping[str, float] | None = None
) -> bytes:
    """One bar per area on the instrument's scale; the previous result beside it in grey."""
    labels = [pick(area.title, t.locale) for area in instrument.areas]
    current = [s.mean for s in result.areas]
    series: list[tuple[str, Sequence[float | None], str]] = [(t._("This time"), current, CURRENT)]
    if previous:
        series.append((t._("Last time"), [previous.get(a.id) for a in instrument.areas], PREVIOUS))
    figure = _figure(len(labels))
    _grouped_bars(figure, t, labels, series, instrument.scale.points, t._("Your result"))
    return _png(figure)


def role_title(instrument: Instrument, role: str, locale: str) -> str:
    question = instrument.background_question(instrument.role_question)
    option = question.option(role) if question else None
    return pick(option.text, locale) if option else role


def unit_chart(t: Translator, report: UnitReport) -> bytes:
    """Mean per area for the unit; when the roles may be shown, each role's mean side by side."""
    instrument = report.instrument
    areas = [a for a in instrument.areas if report.area(a.id) is not None]
    labels = [pick(a.title, t.locale) for a in areas]
    series: list[tuple[str, Sequence[float | None], str]] = [
        (t._("Everyone"), [report.area(a.id).stat.mean for a in areas], CURRENT)  # type: ignore[union-attr]
    ]
    for k, group in enumerate(report.roles):
        series.append(
            (
                role_title(instrument, group.key, t.locale),
                [group.areas[a.id].mean if a.id in group.areas else None for a in areas],
                ROLE_COLOURS[(k + 1) % len(ROLE_COLOURS)],
            )
        )
    figure = _figure(len(labels))
    title = f"{report.unit_name} · {report.round_name}"
    _grouped_bars(figure, t, labels, series, instrument.scale.points, title)
    return _png(figure)


def _colours(points: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["RdYlGn"]
    return [cmap(0.1 + 0.8 * i / max(1, points - 1)) for i in range(points)]


def distribution_chart(t: Translator, report: UnitReport) -> bytes:
    """For each statement, weakest first, the share of answers at each scale point (stacked)."""
    instrument = report.instrument
    from matplotlib.ticker import FuncFormatter

    statements = report.weakest()
    points = instrument.scale.points
    figure = _figure(len(statements), STATEMENT_ROW_PX)
    axes = figure.add_axes(_plot_area(figure))
    colours = _colours(points)
    labels = []
    for row, statement in enumerate(statements):
        item = instrument.item(statement.code)
        labels.append(_wrap(f"{statement.code} {pick(item.text if item else None, t.locale)}", 30))
        counts = [*statement.distribution, statement.skipped + statement.not_applicable]
        total = sum(counts) or 1
        left = 0.0
        for k, count in enumerate(counts):
            share = 100 * count / total
            colour = colours[k] if k < points else SKIPPED
            label = (str(k + 1) if k < points else t._("Skipped")) if row == 0 else None
            axes.barh(row, share, left=left, color=colour, height=0.75, label=label)
            if share >= 8:
                axes.text(
                    left + share / 2, row, t.number(share, 0), ha="center", va="center", fontsize=FONT - 4
                )
            left += share
    axes.set_yticks(range(len(labels)), labels, fontsize=FONT - 3)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: t.number(x, 0) + " %"))
    axes.tick_params(axis="x", labelsize=FONT - 3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.suptitle(t._("Answers per statement, weakest first"), fontsize=FONT + 2, x=0.02, ha="left")
    figure.legend(loc="lower center", ncols=points + 1, fontsize=FONT - 3, frameon=False)
    return _png(figure)
