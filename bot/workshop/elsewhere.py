"""What other units chose: for a priority's area and level, how many other units adopted each of
the instrument's suggested actions, shown only where at least `threshold` units did and never
naming a unit.

A suggested action is offered per area and level, so a unit that adopted it was at that level in
that area when it did: counting the units whose plan holds an action's text (in any of the
instrument's languages) is counting the units at the same level that chose it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments.schema import Instrument, pick
from storage.models import ActionPlan, PlanItem


def adopted_elsewhere(
    session: Session,
    instrument: Instrument,
    unit_id: int,
    area_id: str,
    level_id: str,
    locale: str,
    threshold: int,
) -> list[tuple[str, int]]:
    """(action text, number of other units) for the area's actions at the level, most first; only
    counts of at least `threshold` units."""
    role = "principal" if "principal" in instrument.roles else None
    actions = instrument.actions_for(area_id, level_id, role)
    spelled = {str(text): k for k, action in enumerate(actions) for text in action.text.values()}
    if not spelled:
        return []
    rows = session.execute(
        select(PlanItem.text, ActionPlan.unit_id)
        .join(ActionPlan, ActionPlan.id == PlanItem.plan_id)
        .where(PlanItem.text.in_(list(spelled)), ActionPlan.unit_id != unit_id)
        .distinct()
    )
    units: dict[int, set[int]] = {}
    for text, other in rows:
        units.setdefault(spelled[str(text)], set()).add(int(other))
    counted = [
        (pick(actions[k].text, locale), len(found))
        for k, found in units.items()
        if len(found) >= max(threshold, 2)
    ]
    return sorted(counted, key=lambda pair: (-pair[1], pair[0]))
