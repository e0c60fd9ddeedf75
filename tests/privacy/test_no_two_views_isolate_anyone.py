"""The property behind every privacy scenario: whatever order people complete and erase in, and
however often a reader looks, no combination of the views they saw singles out fewer than
`threshold` people.

The published result is driven exactly as the bot drives it (bot/results/publication_store.py
seals steps with `steps_to_seal`; a report folds the steps with bot/results/publication.py and
withdraws after each erasure), with one change of data: each person's "answer" is a marker of
that person (a one-hot vector), so a shown figure says exactly whose answers it sums. A reader can
add and subtract any figures of the same quantity: all views of one statement, or of one area
(the unit's figure and every group's figure in every split). They learn something about fewer than
`threshold` people exactly when some such combination is zero for everyone else and not for them;
that is checked with exact linear algebra over every small group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.results.publication import NO_ANSWER, Publication, StepSums
from bot.results.publication_store import steps_to_seal

PEOPLE = 14
STATEMENTS = {"A1": "a", "A2": "a", "B1": "b"}


@dataclass(frozen=True)
class Person:
    role: str | None
    years: str | None
    answered: frozenset[str]  # the statements they gave a value (the others skipped)


@dataclass
class Unit:
    """A unit in a round: who completed, their steps, who erased, and the withdrawals."""

    threshold: int
    people: dict[int, Person] = field(default_factory=dict)
    waiting: list[int] = field(default_factory=list)
    steps: list[list[int]] = field(default_factory=list)
    withdrawals: list[int] = field(default_factory=list)

    def complete(self, person: Person) -> None:
        pid = len(self.people)
        self.people[pid] = person
        self.waiting.append(pid)
        for _step, ids in steps_to_seal(self.waiting, self.threshold, len(self.steps)):
            self.steps.append(list(ids))
            self.waiting = [p for p in self.waiting if p not in ids]

    def erase(self, pick: int) -> None:
        alive = [p for step in self.steps for p in step] + self.waiting
        if not alive:
            return
        pid = alive[pick % len(alive)]
        published = any(pid in step for step in self.steps)
        if published and len(self.steps) not in self.withdrawals:  # what withdraw_for does
            self.withdrawals.append(len(self.steps))
        self.steps = [[p for p in step if p != pid] for step in self.steps]
        self.waiting = [p for p in self.waiting if p != pid]

    def view(self) -> Publication:
        """What a report shows now: every step folded, withdrawn after each erasure's step."""
        publication = Publication.empty(self.threshold, ["years"])
        for number, step in enumerate(self.steps, start=1):
            publication.add_step(_sums(self.people, step))
            if number in self.withdrawals:
                publication.withdraw()
        return publication


def _marker(pid: int) -> list[float]:
    return [1.0] + [1.0 if i == pid else 0.0 for i in range(PEOPLE)]


def _add(into: dict[Any, list[float]], key: object, pid: int) -> None:
    marker = _marker(pid)
    into[key] = [a + b for a, b in zip(into[key], marker, strict=True)] if key in into else marker


def _sums(people: dict[int, Person], step: Sequence[int]) -> StepSums:
    sums = StepSums()
    for pid in step:
        person = people[pid]
        role = person.role or NO_ANSWER
        sums.role_sizes[role] = sums.role_sizes.get(role, 0) + 1
        if person.years is not None:
            key = ("years", person.years)
            sums.option_sizes[key] = sums.option_sizes.get(key, 0) + 1
        for code in person.answered:
            _add(sums.statements, code, pid)
        for area in sorted({STATEMENTS[c] for c in person.answered}):
            _add(sums.areas, area, pid)
            if person.role is not None:
                _add(sums.role_areas, (person.role, area), pid)
            if person.years is not None:
                _add(sums.option_areas, ("years", person.years, area), pid)
    return sums


def seen(publication: Publication) -> Iterable[tuple[str, tuple[int, ...]]]:
    """(quantity, the people a shown figure is made of) for every figure the view shows."""

    def people(sums: Sequence[float]) -> tuple[int, ...]:
        return tuple(round(v) for v in sums[1:])

    for code, figure in publication.statements.items():
        if figure.shown is not None:
            yield code, people(figure.shown)
    for area, figure in publication.areas.items():
        if figure.shown is not None:
            yield area, people(figure.shown)
    for partition in (publication.roles, *publication.splits.values()):
        for _group, _n, areas in partition.shown_groups():
            for area, sums in areas.items():
                yield area, people(sums)


def _rank(rows: Sequence[Sequence[int]]) -> int:
    matrix = [[Fraction(v) for v in row] for row in rows]
    rank, width = 0, len(matrix[0]) if matrix else 0
    for col in range(width):
        pivot = next((r for r in range(rank, len(matrix)) if matrix[r][col] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for r in range(len(matrix)):
            if r != rank and matrix[r][col] != 0:
                factor = matrix[r][col] / matrix[rank][col]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        rank += 1
    return rank


def small_groups_revealed(views: Sequence[tuple[int, ...]], threshold: int) -> list[tuple[int, ...]]:
    """The smallest groups of 1..threshold-1 people some combination of the views is made of alone:
    those where the views, with the group's columns left out, lose rank."""
    rows = sorted(set(views))
    if not rows:
        return []
    everyone = [i for i in range(PEOPLE) if any(row[i] for row in rows)]
    full = _rank(rows)
    found: list[tuple[int, ...]] = []
    for size in range(1, threshold):
        for group in combinations(everyone, size):
            if any(set(smaller) <= set(group) for smaller in found):
                continue  # only the smallest groups
            rest = [[row[i] for i in range(PEOPLE) if i not in group] for row in rows]
            if _rank(rest) < full:
                found.append(group)
    return found


people = st.builds(
    Person,
    role=st.sampled_from(["teacher", "principal", None]),
    years=st.sampled_from(["new", "old", None]),
    answered=st.frozensets(st.sampled_from(sorted(STATEMENTS)), min_size=1),
)
events = st.lists(
    st.one_of(st.tuples(st.just("complete"), people), st.tuples(st.just("erase"), st.integers(0, 99))),
    min_size=1,
    max_size=PEOPLE,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(threshold=st.sampled_from([2, 3]), happenings=events)
def test_completions_erasures_and_views_in_any_order_never_single_out_a_small_group(
    threshold: int, happenings: list[tuple[str, object]]
) -> None:
    unit = Unit(threshold)
    views: dict[str, list[tuple[int, ...]]] = {}
    for kind, what in happenings:
        if kind == "complete":
            if len(unit.people) >= PEOPLE:
                continue
            assert isinstance(what, Person)
            unit.complete(what)
        else:
            assert isinstance(what, int)
            unit.erase(what)
        for quantity, made_of in seen(unit.view()):
            views.setdefault(quantity, []).append(made_of)
    for quantity, all_made_of in views.items():
        assert small_groups_revealed(all_made_of, threshold) == [], (quantity, sorted(set(all_made_of)))


def test_the_check_itself_finds_one_person_between_two_views() -> None:
    # The check that the property rests on: three people, then four, isolates the fourth.
    three = tuple([1, 1, 1] + [0] * (PEOPLE - 3))
    four = tuple([1, 1, 1, 1] + [0] * (PEOPLE - 4))
    assert small_groups_revealed([three, four], 3) == [(3,)]
    swapped = tuple([1, 1, 0, 1] + [0] * (PEOPLE - 4))
    assert small_groups_revealed([three, swapped], 3) == [(2, 3)]
