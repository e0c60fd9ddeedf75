"""Scoring one response: area means, levels, strengths, development areas, actions, progression.

Skips and "not applicable" are left out of means (they are not low answers). An area with no
answered statement has no mean and no level; it is neither a strength nor a development area.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from instruments.schema import Action, Instrument, Level


@dataclass(frozen=True)
class AreaScore:
    area_id: str
    mean: float | None
    answered: int
    level: Level | None


@dataclass(frozen=True)
class Result:
    areas: tuple[AreaScore, ...]
    strengths: tuple[str, ...]
    development: tuple[str, ...]
    actions: tuple[Action, ...]
    # Change in mean per area since the previous completed response (only areas scored both times).
    change: Mapping[str, float]

    @property
    def all_the_same(self) -> bool:
        """Several areas scored, all with the same mean: none is a strength or to develop."""
        return len({a.mean for a in self.areas if a.mean is not None}) == 1 and (
            sum(a.mean is not None for a in self.areas) > 1
        )

    def area(self, area_id: str) -> AreaScore | None:
        return next((a for a in self.areas if a.area_id == area_id), None)


def area_scores(
    instrument: Instrument, role: str | None, values: Mapping[str, int | None]
) -> tuple[AreaScore, ...]:
    """`values` maps item code to the answered value, or None for a skip / not applicable."""
    scores = []
    for area in instrument.areas:
        answered = [
            v for item in area.items if item.asked_of(role) and (v := values.get(item.code)) is not None
        ]
        mean = sum(answered) / len(answered) if answered else None
        level = instrument.level_for(mean) if mean is not None else None
        scores.append(AreaScore(area.id, mean, len(answered), level))
    return tuple(scores)


def _how_many(scored: int) -> int:
    # Two of five areas is a useful focus; with many areas three are shown.
    return 3 if scored >= 6 else 2 if scored >= 3 else 1


def summarise(
    instrument: Instrument,
    role: str | None,
    values: Mapping[str, int | None],
    previous: Sequence[AreaScore] | None = None,
    actions_per_area: int = 2,
) -> Result:
    scores = area_scores(instrument, role, values)
    scored = [s for s in scores if s.mean is not None]
    order = {a.id: i for i, a in enumerate(instrument.areas)}
    # Highest first; ties keep the instrument's order so the result is stable.
    by_mean = sorted(scored, key=lambda s: (-(s.mean or 0.0), order[s.area_id]))
    n = _how_many(len(scored))
    weakest_first = sorted(scored, key=lambda s: (s.mean or 0.0, order[s.area_id]))
    means = [s.mean for s in scored if s.mean is not None]
    lowest, highest = min(means, default=None), max(means, default=None)
    # A strength stands above the weakest area and a development area below the strongest, so
    # areas that all came out the same are neither.
    strengths = tuple(s.area_id for s in by_mean[:n] if s.mean != lowest) if len(scored) > 1 else ()
    development = tuple(
        s.area_id for s in weakest_first[:n] if s.area_id not in strengths and s.mean != highest
    )
    actions: list[Action] = []
    for area_id in development or tuple(s.area_id for s in weakest_first[:1]):
        score = next(s for s in scores if s.area_id == area_id)
        if score.level is not None:
            actions.extend(instrument.actions_for(area_id, score.level.id, role)[:actions_per_area])
    change: dict[str, float] = {}
    if previous:
        before = {p.area_id: p.mean for p in previous if p.mean is not None}
        for s in scored:
            if s.area_id in before and s.mean is not None:
                change[s.area_id] = s.mean - before[s.area_id]
    return Result(scores, strengths, development, tuple(actions), change)
