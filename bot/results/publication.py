"""What a unit's report may show, built one step at a time: the anonymity rules as a fold.

The rules (stated in bot/results/reports.py) publish results in steps of `threshold` responses in
completion order, and let a figure move only when it grew by 0 or by at least the threshold since
it was last shown. Whether a figure is shown after step k depends only on what was shown before and on step k's
own sums, so the published result after step k is a function of the published result after step k-1
and of step k alone (and of whether someone in the steps so far erased: `withdraw`). `Publication`
is that state: per figure, the running sums and the sums it shows.

It is built from the answers by adding every step in turn (bot/results/step_sums.py makes a step's sums),
and kept in the database when a step fills (bot/results/publication_store.py), so that a report reads the
kept state instead of adding every step again and a new step adds only itself. Nothing here touches
the database: it is plain arithmetic on sums, the same whichever way the steps arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NO_ANSWER = "-"  # the group of respondents who did not answer a background question (or have no role)

Sums = list[float]  # a figure's count first, then its sums (e.g. count, sum, sum of squares, ...)


def may_move(
    count: float, shown_count: float | None, threshold: int, withdrawn_at: float | None = None
) -> bool:
    """Rules 1 and 2 for one figure: shown when it counts at least `threshold` respondents and grew
    by 0 or by at least `threshold` since it was last shown. Checking against the last shown count
    is enough: counts never shrink, so anything shown earlier differs by at least as much.

    After a withdrawal (someone it was made from erased their data) the last shown figure included
    them and the running sums no longer do, so "grew by 0" would be that person's answers, and any
    small growth the person swapped for a newcomer. It comes back only once at least `threshold`
    respondents came in since the withdrawal: the difference from what was shown before is then
    that many newcomers less the erased, which isolates nobody (see README, privacy)."""
    if count < threshold:
        return False
    if withdrawn_at is not None:
        return count - withdrawn_at >= threshold
    if shown_count is None:
        return True
    grown = count - shown_count
    return grown == 0 or grown >= threshold


def _added(sums: Sequence[float], more: Sequence[float]) -> Sums:
    return [a + b for a, b in zip(sums, more, strict=True)]


@dataclass
class Figure:
    """A statement or an area: its running sums and the sums of the last step it was shown at
    (its "last safe value", which it keeps showing while it may not move)."""

    sums: Sums
    shown: Sums | None = None
    withdrawn_at: float | None = None  # its count when it was withdrawn, until it is shown again
    # Whether the step just added made it show something new (not kept: only read within a step).
    moved: bool = field(default=False, compare=False)

    def add(self, step: Sequence[float], threshold: int) -> None:
        # A figure absent from a step needs no call: with nothing added it either stays hidden or
        # shows the sums it already shows.
        self.sums = _added(self.sums, step)
        before = self.shown
        if may_move(self.sums[0], self.shown[0] if self.shown else None, threshold, self.withdrawn_at):
            self.shown = list(self.sums)
            self.withdrawn_at = None
        self.moved = self.shown is not None and self.shown != before

    def withdraw(self) -> None:
        self.shown = None
        self.withdrawn_at = self.sums[0]

    @property
    def current(self) -> bool:
        """Whether what it shows (if anything) is its latest sums."""
        return self.shown is None or self.shown == self.sums

    def dump(self) -> list[Any]:
        # Most figures show their latest sums: kept once (the report reads this on every call).
        if self.shown == self.sums and self.withdrawn_at is None:
            return [self.sums]
        return [self.sums, self.shown, self.withdrawn_at]

    @classmethod
    def load(cls, data: Sequence[Any]) -> Figure:
        if len(data) == 1:
            return cls(data[0], data[0])
        return cls(data[0], data[1], data[2] if len(data) > 2 else None)


@dataclass
class GroupFigure:
    """One group's figure for one area, inside a split: rule 2 over the steps at which the split
    was shown, and what it showed at the last of them (None: hidden there)."""

    sums: Sums
    shown_count: float | None = None
    at_split: Sums | None = None
    withdrawn_at: float | None = None

    def settle(self, threshold: int) -> None:
        """The split is shown at this step: the figure is shown with it or hidden."""
        if may_move(self.sums[0], self.shown_count, threshold, self.withdrawn_at):
            self.shown_count = self.sums[0]
            self.at_split = list(self.sums)
            self.withdrawn_at = None
        else:
            self.at_split = None

    def withdraw(self) -> None:
        self.shown_count = None
        self.at_split = None
        self.withdrawn_at = self.sums[0]

    def dump(self) -> list[Any]:
        return [self.sums, self.shown_count, self.at_split, self.withdrawn_at]

    @classmethod
    def load(cls, data: Sequence[Any]) -> GroupFigure:
        return cls(data[0], data[1], data[2], data[3] if len(data) > 3 else None)


@dataclass
class Partition:
    """A split of the respondents into groups (by role, or by a background question's options) and
    each group's area figures. Rule 3: the split is shown at a step only when every group, "no
    answer" included, is empty or at least the threshold, at least two are not empty, and every
    group grew by 0 or by at least the threshold since the split was last shown. A split that may
    not move keeps what it showed then.

    Rule 3 continued (complementary suppression), per area: the total minus the shown groups is a group
    too. So an area's group figures are shown only when none of its groups with answers is hidden,
    the unit's own figure for the area shows its latest sums (or nothing), and the respondents left
    over (those with no answer to the question, or no role) are none or at least the threshold."""

    sizes: dict[str, int] = field(default_factory=dict)
    shown_sizes: dict[str, int] | None = None
    cells: dict[tuple[str, str], GroupFigure] = field(default_factory=dict)
    withdrawn_sizes: dict[str, int] | None = None
    # Rule 4, per area: each group's count (and the rest's) when the area was last seen (its unit
    # figure moved or the split was shown), and the areas whose groups may never be shown.
    marks: dict[str, dict[str, float]] = field(default_factory=dict)
    tainted: set[str] = field(default_factory=set)

    def add(
        self,
        sizes: Mapping[str, int],
        cells: Mapping[tuple[str, str], Sequence[float]],
        threshold: int,
        totals: Mapping[str, Figure],
    ) -> None:
        for group, n in sizes.items():
            self.sizes[group] = self.sizes.get(group, 0) + n
        for key, step in cells.items():
            cell = self.cells.get(key)
            if cell is None:
                self.cells[key] = GroupFigure(list(step))
            else:
                cell.sums = _added(cell.sums, step)
        shown = self._may_show(threshold)
        if shown:
            self.shown_sizes = dict(self.sizes)
            self.withdrawn_sizes = None
            for cell in self.cells.values():
                cell.settle(threshold)
        self._mark(totals, threshold, shown)
        if shown:
            self._suppress_complements(totals, threshold)

    def _may_show(self, threshold: int) -> bool:
        counts = self.sizes.values()
        if sum(1 for c in counts if c > 0) < 2 or any(0 < c < threshold for c in counts):
            return False
        if self.withdrawn_sizes is not None:
            # Each group may have lost the erased person: each must have gained a whole step since.
            before = self.withdrawn_sizes
            return all(n == 0 or n - before.get(g, 0) >= threshold for g, n in self.sizes.items())
        if self.shown_sizes is None:
            return True
        return all(not 0 < n - self.shown_sizes.get(g, 0) < threshold for g, n in self.sizes.items())

    def _mark(self, totals: Mapping[str, Figure], threshold: int, shown: bool) -> None:
        """Rule 4: the views of an area over time are sums of blocks, one per group and stretch
        of steps between two moments it was seen. A group's figure, compared with the unit's
        figure seen at an earlier step, leaves over that group's block since then (and the other
        groups' blocks before); so if any block is a group of 1..threshold-1, the area's group
        figures are never shown again."""
        groups: dict[str, dict[str, float]] = {}
        for (group, area), cell in self.cells.items():
            groups.setdefault(area, {})[group] = cell.sums[0]
        for area, total in totals.items():
            if not (shown or total.moved):
                continue
            counts = groups.get(area, {})
            now = {**counts, NO_ANSWER + "rest": total.sums[0] - sum(counts.values())}
            before = self.marks.get(area, {})
            if any(0 < n - before.get(g, 0) < threshold for g, n in now.items()):
                self.tainted.add(area)
            self.marks[area] = now

    def _suppress_complements(self, totals: Mapping[str, Figure], threshold: int) -> None:
        # A cell hidden here keeps the count it was settled at as its "last shown": still safe, since
        # that count is 0 or at least `threshold` away from anything shown before.
        by_area: dict[str, list[GroupFigure]] = {}
        for (_group, area), cell in self.cells.items():
            by_area.setdefault(area, []).append(cell)
        for area, cells in by_area.items():
            if area in self.tainted:
                for cell in cells:
                    cell.at_split = None
                continue
            shown = [c.at_split for c in cells if c.at_split is not None]
            if not shown:
                continue
            total = totals.get(area)
            rest = (total.sums[0] if total is not None else 0) - sum(s[0] for s in shown)
            safe = (
                all(c.at_split is not None or c.sums[0] == 0 for c in cells)
                and (total is None or total.current)
                and not 0 < rest < threshold
            )
            if not safe:
                for cell in cells:
                    cell.at_split = None

    def withdraw(self) -> None:
        self.shown_sizes = None
        self.withdrawn_sizes = dict(self.sizes)
        for cell in self.cells.values():
            cell.withdraw()

    def shown_groups(self) -> Iterable[tuple[str, int, dict[str, Sums]]]:
        """(group, respondents, {area: sums}) as last shown; "no answer" is never shown itself."""
        if self.shown_sizes is None:
            return
        for group, n in self.shown_sizes.items():
            if group == NO_ANSWER or n == 0:
                continue
            areas = {
                area: cell.at_split
                for (g, area), cell in self.cells.items()
                if g == group and cell.at_split is not None
            }
            yield group, n, areas

    def dump(self) -> dict[str, Any]:
        return {
            "sizes": self.sizes,
            "shown": self.shown_sizes,
            "cells": [[g, a, *cell.dump()] for (g, a), cell in self.cells.items()],
            "withdrawn": self.withdrawn_sizes,
            "marks": self.marks,
            "tainted": sorted(self.tainted),
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Partition:
        cells = {(c[0], c[1]): GroupFigure.load(c[2:]) for c in data["cells"]}
        return cls(
            dict(data["sizes"]),
            data["shown"],
            cells,
            data.get("withdrawn"),
            {a: dict(m) for a, m in data.get("marks", {}).items()},
            set(data.get("tainted", ())),
        )


@dataclass
class StepSums:
    """The sums of one step's `threshold` responses (made by bot/results/step_sums.py)."""

    # Statement -> value answers, their sum and sum of squares, the count per scale point, skipped,
    # "not applicable".
    statements: dict[str, Sums] = field(default_factory=dict)
    # Area -> respondents with a value in it, the sum and the sum of squares of their means.
    areas: dict[str, Sums] = field(default_factory=dict)
    role_sizes: dict[str, int] = field(default_factory=dict)  # role (NO_ANSWER: none) -> respondents
    role_areas: dict[tuple[str, str], Sums] = field(default_factory=dict)  # (role, area) -> as areas
    option_sizes: dict[tuple[str, str], int] = field(default_factory=dict)  # (question, option) -> n
    option_areas: dict[tuple[str, str, str], Sums] = field(default_factory=dict)  # (q, option, area)

    @property
    def size(self) -> int:
        """The step's respondents (everyone has a role or none)."""
        return sum(self.role_sizes.values())


@dataclass
class Publication:
    """Everything a unit's report in a round may show after its first `steps` steps (made of
    `published` responses: a step has `threshold` when it fills, fewer once someone erased)."""

    threshold: int
    published: int = 0
    statements: dict[str, Figure] = field(default_factory=dict)
    areas: dict[str, Figure] = field(default_factory=dict)
    roles: Partition = field(default_factory=Partition)
    # One split per background question (other than the role question), by question id.
    splits: dict[str, Partition] = field(default_factory=dict)
    steps: int = 0
    # Withdrawn after someone in the published set erased, and no new step since.
    withdrawn: bool = False

    @classmethod
    def empty(cls, threshold: int, split_questions: Iterable[str]) -> Publication:
        return cls(threshold, splits={q: Partition() for q in split_questions})

    def add_step(self, step: StepSums) -> None:
        threshold = self.threshold
        for figures, sums in ((self.statements, step.statements), (self.areas, step.areas)):
            for key, values in sums.items():
                figure = figures.get(key)
                if figure is None:
                    # Integer zeros: a statement's sums stay integers (and short in JSON).
                    figure = figures[key] = Figure([0] * len(values))
                figure.add(values, threshold)
        self.roles.add(step.role_sizes, step.role_areas, threshold, self.areas)
        size = step.size
        for question, split in self.splits.items():
            sizes = {o: n for (q, o), n in step.option_sizes.items() if q == question}
            # Respondents without an answer to the question are a group of their own (rule 3).
            sizes[NO_ANSWER] = size - sum(sizes.values())
            cells = {(o, a): s for (q, o, a), s in step.option_areas.items() if q == question}
            split.add(sizes, cells, threshold, self.areas)
        self.published += size
        self.steps += 1
        if size:
            self.withdrawn = False

    def withdraw(self) -> None:
        """Someone in the steps so far erased their data (their answers are already left out of
        the sums): nothing is shown until whole new steps have come in (see `may_move`)."""
        for figure in (*self.statements.values(), *self.areas.values()):
            figure.withdraw()
        for partition in (self.roles, *self.splits.values()):
            partition.withdraw()
        self.withdrawn = True

    def to_json(self) -> str:
        return json.dumps(
            {
                "threshold": self.threshold,
                "published": self.published,
                "statements": {k: f.dump() for k, f in self.statements.items()},
                "areas": {k: f.dump() for k, f in self.areas.items()},
                "roles": self.roles.dump(),
                "splits": {q: s.dump() for q, s in self.splits.items()},
                "steps": self.steps,
                "withdrawn": self.withdrawn,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Publication:
        data = json.loads(text)
        return cls(
            data["threshold"],
            data["published"],
            {k: Figure.load(v) for k, v in data["statements"].items()},
            {k: Figure.load(v) for k, v in data["areas"].items()},
            Partition.load(data["roles"]),
            {q: Partition.load(v) for q, v in data["splits"].items()},
            data.get("steps", 0),
            data.get("withdrawn", False),
        )
