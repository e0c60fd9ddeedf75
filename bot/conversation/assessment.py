"""Taking an assessment: one question at a time, with skip, back, explain, pause and resume.

A response has a cursor: the index of the question the person is at. Answering the question at the
cursor moves it to the first unanswered question after it; `back` moves it one step back; pressing
a button of an earlier question changes that answer and leaves the cursor alone. Every answer is an
upsert on (response, item), so a re-sent or double-clicked answer can never be stored twice.

Button payloads (at most 64 bytes, Telegram's limit), all checked as untrusted input:
  a:<response>:<item code>:<value|s|n>   answer (s = skip, n = not applicable)
  g:<response>:<question no>:<option no> background answer
  x:<response>:<item code>               explain the statement
  b:<response>                           back
  r:<response>                           resume
  i:<instrument version>                 start a self-service assessment
  o:<round>                              start (or resume) a round's assessment
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import (
    Insert,
    bindparam,
    select,
)
from sqlalchemy.orm import Session

from bot.commands import Audience, Context, Registry
from bot.conversation import anonymity, closed_rounds, last_time
from bot.conversation.answer_decision import Decision, Effect, StepAnswer, decide
from bot.conversation.assessment_state import (
    State,
    Step,
    Steps,
    load_state,
)
from bot.directory import catalogue
from bot.free_text import interpret, matches_option
from bot.i18n import N_, Translator
from bot.messages import Choice, Reply
from bot.results import charts, feedback, publication_store
from instruments.schema import Instrument, pick
from storage.db import upsert_insert
from storage.models import (
    Answer,
    AnswerKind,
    Base,
    InstrumentVersion,
    Membership,
    Response,
    ResponseStatus,
    Round,
    RoundParticipant,
    RoundStatus,
)

SECONDS_PER_STATEMENT = 25
# Ids in payloads are database integers (32-bit on PostgreSQL); anything longer is forged.
MAX_ID = 2**31 - 1


def is_number(raw: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() then refuses."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 10


def parse_id(raw: str) -> int | None:
    """A row id from an untrusted payload, or None when it cannot be one."""
    return int(raw) if is_number(raw) and 0 < int(raw) <= MAX_ID else None


def about_minutes(t: Translator, n_statements: int) -> str:
    """ "about 10 minutes" (or "about 1 minute"): how long a number of statements takes."""
    minutes = max(1, round(n_statements * SECONDS_PER_STATEMENT / 60))
    return t.ngettext("about %(n)s minute", "about %(n)s minutes", minutes)


# ---------------------------------------------------------------- rendering questions


def _scale_legend(t: Translator, instrument: Instrument) -> str:
    labels = instrument.scale.labels
    return " · ".join(f"{point} = {pick(labels[point], t.locale)}" for point in sorted(labels))


def _answer_label(t: Translator, state: State, step: Step) -> str | None:
    if step.background is not None:
        option = step.background.option(state.background.get(step.background.id, ""))
        return pick(option.text, t.locale) if option else None
    assert step.item is not None
    stored = state.answers.get(step.item.code)
    if stored is None:
        return None
    kind, value = stored
    if kind is AnswerKind.SKIP:
        return t._("skipped")
    if kind is AnswerKind.NOT_APPLICABLE:
        return t._("not applicable")
    label = state.instrument.scale.labels.get(value or 0)
    return f"{value} ({pick(label, t.locale)})" if label else str(value)


def _heading(t: Translator, state: State, steps: Steps, index: int) -> str:
    step = steps[index]
    n_background = len(state.instrument.background)
    if step.background is not None:
        return t._("Background question %(n)s/%(total)s", n=index + 1, total=n_background)
    assert step.item is not None
    area = state.instrument.area(step.item.area_id)
    return t._(
        "Statement %(n)s/%(total)s · %(area)s",
        n=index - n_background + 1,
        total=len(steps) - n_background,
        area=pick(area.title if area else None, t.locale),
    )


def question(t: Translator, state: State, *, note: str = "") -> Reply:
    """The message for the question at the cursor, with its buttons, in `t`'s language."""
    steps = state.steps
    index = min(state.response.cursor, len(steps) - 1)
    step = steps[index]
    rid = state.response.id
    lines = [note] if note else []
    lines.append(_heading(t, state, steps, index))
    current = _answer_label(t, state, step)
    rows: list[tuple[Choice, ...]] = []
    if step.background is not None:
        q = step.background
        lines.append(pick(q.text, t.locale))
        options = [Choice(pick(o.text, t.locale), f"g:{rid}:{index}:{j}") for j, o in enumerate(q.options)]
        # Short rows read well on a phone (and Telegram allows at most 8 buttons a row).
        rows.extend(tuple(options[k : k + 2]) for k in range(0, len(options), 2))
    else:
        item = step.item
        assert item is not None
        scale = state.instrument.scale
        lines.append(pick(item.text, t.locale))
        lines.append(_scale_legend(t, state.instrument))
        points = [Choice(str(v), f"a:{rid}:{item.code}:{v}") for v in range(1, scale.points + 1)]
        per_row = scale.points if scale.points <= 7 else (scale.points + 1) // 2
        rows.extend(tuple(points[k : k + per_row]) for k in range(0, len(points), per_row))
        extra = []
        if scale.allow_skip:
            extra.append(Choice(t._("Skip"), f"a:{rid}:{item.code}:s"))
        if scale.allow_not_applicable:
            extra.append(Choice(t._("Not applicable"), f"a:{rid}:{item.code}:n"))
        if item.explain:
            extra.append(Choice(t._("What does this mean?"), f"x:{rid}:{item.code}"))
        rows.append(tuple(extra))
    if index > 0:
        rows.append((Choice(t._("Back"), f"b:{rid}"),))
    if current is not None:
        lines.append(t._("Your answer so far: %(answer)s", answer=current))
    return Reply("\n".join(lines), tuple(row for row in rows if row))


def answered_echo(t: Translator, state: State, steps: Steps, index: int) -> Reply:
    """The answered question as it should now read (the adapter edits the original message)."""
    step = steps[index]
    text = pick(step.background.text if step.background else step.item.text, t.locale)  # type: ignore[union-attr]
    label = _answer_label(t, state, step) or ""
    return Reply(
        "\n".join(
            [
                _heading(t, state, steps, index),
                text,
                "→ " + t._("Your answer: %(answer)s", answer=label),
            ]
        ),
        edit=True,
    )


# ---------------------------------------------------------------- starting and resuming


@dataclass(frozen=True)
class Offer:
    """Something the person can take now: a round they were invited to, or a self-service instrument."""

    label: str
    payload: str


def open_round_offers(ctx: Context) -> list[Offer]:
    rows = ctx.session.execute(
        select(Round, InstrumentVersion)
        .join(RoundParticipant, RoundParticipant.round_id == Round.id)
        .join(InstrumentVersion, InstrumentVersion.id == Round.instrument_version_id)
        .where(
            RoundParticipant.person_id == ctx.person.id,
            RoundParticipant.completed_at.is_(None),
            Round.status == RoundStatus.OPEN,
            Round.opens_at <= ctx.now,
            Round.closes_at > ctx.now,
        )
        .order_by(Round.closes_at)
    ).all()
    offers = []
    for round_, version in rows:
        done = ctx.session.scalar(
            select(Response.id).where(
                Response.round_id == round_.id,
                Response.person_id == ctx.person.id,
                Response.status == ResponseStatus.COMPLETED,
            )
        )
        if done is None:
            instrument = catalogue.load(ctx.session, version.id)
            title = round_.name or pick(instrument.title, ctx.locale)
            closes = ctx.t.date(round_.closes_at.date(), "day_month")
            offers.append(
                Offer(ctx.t._("%(title)s (closes %(date)s)", title=title, date=closes), f"o:{round_.id}")
            )
    return offers


def self_service_offers(ctx: Context) -> list[Offer]:
    return [
        Offer(pick(instrument.title, ctx.locale), f"i:{version.id}")
        for version, instrument in catalogue.active_versions(ctx.session)
    ]


def assess(ctx: Context, _args: list[str]) -> list[Reply]:
    """`assess`: resume where the person was, or offer what they can take."""
    if (closed := closed_rounds.closed_current(ctx)) is not None:
        return closed
    response = current_response(ctx)
    if response is not None:
        return resume(ctx, response)
    rounds = open_round_offers(ctx)
    own = self_service_offers(ctx)
    if rounds:
        # Next to a round the same title would appear twice: say which one is just for them.
        own = [Offer(ctx.t._("%(title)s (on your own)", title=o.label), o.payload) for o in own]
    offers = rounds + own
    if not offers:
        return [Reply(ctx.t._("There is no assessment to take right now."))]
    if len(offers) == 1:
        return dispatch_offer(ctx, offers[0].payload)
    return [
        Reply(
            ctx.t._("Which assessment would you like to take?"),
            tuple((Choice(o.label, o.payload),) for o in offers),
        )
    ]


def current_response(ctx: Context) -> Response | None:
    rid = ctx.person.current_response_id
    if rid is None:
        return None
    response = ctx.session.get(Response, rid)
    if response is None or response.status is not ResponseStatus.IN_PROGRESS:
        ctx.person.current_response_id = None
        return None
    return response


def dispatch_offer(ctx: Context, payload: str) -> list[Reply]:
    kind, _, raw = payload.partition(":")
    if parse_id(raw) is None:
        return [invalid_button(ctx)]
    if kind == "o":
        return start_round(ctx, [raw])
    return start_instrument(ctx, [raw])


def start_instrument(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `i:<version>`: a self-service assessment of an active instrument."""
    version_id = parse_id(args[0]) if len(args) == 1 else None
    if version_id is None:
        return [invalid_button(ctx)]
    if version_id not in {v.id for v, _ in catalogue.active_versions(ctx.session)}:
        return [
            Reply(ctx.t._("That assessment is no longer available. Type assess to see what you can take."))
        ]
    existing = ctx.session.scalar(
        select(Response).where(
            Response.person_id == ctx.person.id,
            Response.instrument_version_id == version_id,
            Response.round_id.is_(None),
            Response.status == ResponseStatus.IN_PROGRESS,
        )
    )
    if existing is not None:
        return resume_started(ctx, existing)
    return begin(ctx, version_id, round_=None)


def start_round(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `o:<round>`: the round's assessment, if the person was invited and it is open."""
    round_id = parse_id(args[0]) if len(args) == 1 else None
    if round_id is None:
        return [invalid_button(ctx)]
    round_ = ctx.session.get(Round, round_id)
    participant = (
        ctx.session.scalar(
            select(RoundParticipant).where(
                RoundParticipant.round_id == round_.id, RoundParticipant.person_id == ctx.person.id
            )
        )
        if round_
        else None
    )
    if round_ is None or participant is None:
        return [invalid_button(ctx)]
    if round_.status is not RoundStatus.OPEN or round_.closes_at <= ctx.now:
        return [Reply(ctx.t._("That round has closed."))]
    if participant.completed_at is not None:
        return [Reply(ctx.t._("You have already completed this round. Thank you!"))]
    existing = ctx.session.scalar(
        select(Response).where(Response.person_id == ctx.person.id, Response.round_id == round_.id)
    )
    if existing is not None:
        if existing.status is ResponseStatus.COMPLETED:
            return [Reply(ctx.t._("You have already completed this round. Thank you!"))]
        return resume_started(ctx, existing)
    return begin(ctx, round_.instrument_version_id, round_=round_, unit_id=participant.unit_id)


def begin(ctx: Context, version_id: int, *, round_: Round | None, unit_id: int | None = None) -> list[Reply]:
    t = ctx.t
    instrument = catalogue.load(ctx.session, version_id)
    response = Response(
        person_id=ctx.person.id,
        instrument_version_id=version_id,
        round_id=round_.id if round_ else None,
        unit_id=unit_id,
        status=ResponseStatus.IN_PROGRESS,
        cursor=0,
        started_at=ctx.now,
    )
    ctx.session.add(response)
    ctx.session.flush()
    ctx.person.current_response_id = response.id
    state = State(response, instrument, {}, {})
    charts.prepare_soon()  # the result chart at the end then does not wait for the chart library
    _infer_role(ctx, state, unit_id)
    steps = state.steps
    state.response.cursor = state.next_unanswered(steps, -1) or 0
    intro = [pick(instrument.title, ctx.locale)]
    if instrument.description:
        intro.append(pick(instrument.description, ctx.locale))
    intro.append(
        size_line(t, instrument, response.role)
        + " "
        + t._("You can pause whenever you like and continue later: just type assess.")
    )
    if round_ is not None and round_.anonymous:
        intro.append(
            t._(
                "This round is anonymous: when you finish, your answers are separated from your name for good. "
                "You see your own result once, at the end, and it is not kept for comparing next time."
            )
        )
    elif round_ is not None:
        intro.append(
            t._(
                "Only you see your answers; your unit sees only summaries of at least %(n)s people.",
                n=round_.threshold,
            )
        )
    else:
        intro.append(t._("Only you see your answers."))
    remaining_background = sum(1 for s in steps if s.background and not state.answered(s))
    if remaining_background:
        intro.append(background_line(t, remaining_background, len(instrument.background)))
    return [Reply("\n\n".join(intro)), _with_last_time(ctx, state, question(ctx.t, state))]


def _with_last_time(ctx: Context, state: State, first: Reply) -> Reply:
    """The first background question, with a button for last time's answers if there are any."""
    earlier = last_time.previous_background(ctx.session, ctx.person.id, state.instrument, state.response.id)
    unanswered = {k: v for k, v in earlier.items() if k not in state.background}
    if not unanswered or state.steps[state.response.cursor].background is None:
        return first
    choice = last_time.offer(ctx.t, state.instrument, unanswered, state.response.id)
    return replace(first, choices=(*first.choices, (choice,)))


def _continued(ctx: Context, args: list[str]) -> Response | list[Reply]:
    """The response a `<prefix>:<response>` button goes on with, made the person's current one; or,
    when it cannot go on (not theirs, its round closed, already finished), what to say instead."""
    response = _owned_response(ctx, args[0]) if len(args) == 1 else None
    if response is None:
        return [invalid_button(ctx)]
    if (closed := closed_rounds.closed_reply(ctx, response)) is not None:
        return closed
    if response.status is not ResponseStatus.IN_PROGRESS:
        return [_finished(ctx)]
    _make_current(ctx, response)
    return response


def on_last_time(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `sb:<response>`: fill in the background questions as in the last completed response."""
    response = _continued(ctx, args)
    if isinstance(response, list):
        return response
    state = load_state(ctx.session, response)
    earlier = last_time.previous_background(ctx.session, ctx.person.id, state.instrument, response.id)
    for question_id, option_id in earlier.items():
        if question_id not in state.background:
            _store_background(ctx, state, question_id, option_id)
    response.cursor = state.next_unanswered(state.steps, -1) or 0
    return [question(ctx.t, state, note=ctx.t._("Filled in as last time."))]


def size_line(t: Translator, instrument: Instrument, role: str | None) -> str:
    """How many statements the person will be asked, as the headings will count them: where the
    role question is still to come and roles are asked different numbers, the range."""
    counts = sorted({len(instrument.items_for(r)) for r in instrument.roles}) if role is None else []
    if len(counts) > 1:
        return t._(
            "%(low)s to %(high)s statements depending on your role, %(duration)s.",
            low=counts[0],
            high=counts[-1],
            duration=about_minutes(t, counts[-1]),
        )
    n = counts[0] if counts else len(instrument.items_for(role))
    return t.ngettext(
        "%(n)s statement, %(duration)s.", "%(n)s statements, %(duration)s.", n, duration=about_minutes(t, n)
    )


def background_line(t: Translator, remaining: int, total: int) -> str:
    """The background questions still to answer, agreeing with the headings' "2/3"."""
    if remaining == total:
        return t.ngettext("First %(n)s background question.", "First %(n)s background questions.", total)
    return t.ngettext(
        "First %(n)s more background question (of %(total)s; the others are already answered).",
        "First %(n)s more background questions (of %(total)s; the others are already answered).",
        remaining,
        total=total,
    )


def _infer_role(ctx: Context, state: State, unit_id: int | None) -> None:
    """Where the instrument asks different statements of different roles, a principal's role is known
    from their membership; everyone else is asked (the role question comes first)."""
    instrument = state.instrument
    if not instrument.role_question:
        return
    query = select(Membership.role).where(Membership.person_id == ctx.person.id)
    if unit_id is not None:
        query = query.where(Membership.unit_id == unit_id)
    memberships = {r.value for r in ctx.session.scalars(query)}
    known = [role for role in instrument.roles if role in memberships]
    if len(known) == 1:
        _store_background(ctx, state, instrument.role_question, known[0])


# A start button pressed again this soon after it began the response is the other half of a double
# click (perhaps handled by another process): the first half's question is on its way.
DOUBLE_CLICK = timedelta(seconds=10)


def resume_started(ctx: Context, response: Response) -> list[Reply]:
    """A start button for an assessment already in progress: where the person was, unless the
    response was begun by this very click's other half (then nothing more is said)."""
    just_begun = response.started_at > ctx.now - DOUBLE_CLICK
    if just_begun and not ctx.session.scalar(
        select(Answer.id).where(Answer.response_id == response.id).limit(1)
    ):
        _make_current(ctx, response)
        return []
    return resume(ctx, response)


def resume(ctx: Context, response: Response) -> list[Reply]:
    if (closed := closed_rounds.closed_reply(ctx, response)) is not None:
        return closed
    ctx.person.current_response_id = response.id
    state = load_state(ctx.session, response)
    return [question(ctx.t, state, note=ctx.t._("Welcome back! Here is where you were."))]


# ---------------------------------------------------------------- answering


def invalid_button(ctx: Context) -> Reply:
    return Reply(ctx.t._("That button is not valid any more. Type assess to continue where you were."))


# Built once, unlike `session.get`, which builds and keys a fresh query each call: every button runs it.
_RESPONSE_BY_ID = select(Response).where(Response.id == bindparam("id"))


def _owned_response(ctx: Context, raw_id: str) -> Response | None:
    response_id = parse_id(raw_id)
    if response_id is None:
        return None
    response = ctx.session.scalar(_RESPONSE_BY_ID, {"id": response_id})
    if response is None or response.person_id != ctx.person.id:
        return None
    return response


def _make_current(ctx: Context, response: Response) -> None:
    """Make this the response `assess` resumes. Only assigned when it changes: assigning the same id
    still marks the person changed, and every later query of the event would flush first."""
    if ctx.person.current_response_id != response.id:
        ctx.person.current_response_id = response.id


def _finished(ctx: Context) -> Reply:
    return Reply(
        ctx.t._(
            "That assessment is finished, so the answer was not changed. Type results to see your result."
        )
    )


# The upserts run on every answer: built once per table and dialect. Each table's unique key,
# and the columns a newer answer replaces.
_UPSERT_COLUMNS = {
    "answer": (("response_id", "item_code"), ("kind", "value", "answered_at")),
    "background_answer": (("response_id", "question_id"), ("option_id", "answered_at")),
}


def upsert_statement(table: str, dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (unique key) DO UPDATE, so a repeated answer replaces, never doubles."""
    cache_key = (table, dialect)
    if cache_key not in _UPSERTS:
        key, replaced = _UPSERT_COLUMNS[table]
        statement = upsert_insert(dialect)(Base.metadata.tables[table])
        _UPSERTS[cache_key] = statement.on_conflict_do_update(
            index_elements=list(key), set_={column: statement.excluded[column] for column in replaced}
        )
    return _UPSERTS[cache_key]


_UPSERTS: dict[tuple[str, str], Insert] = {}


def _upsert_answer(ctx: Context, response_id: int, code: str, kind: AnswerKind, value: int | None) -> None:
    values = {
        "response_id": response_id,
        "item_code": code,
        "kind": kind,
        "value": value,
        "answered_at": ctx.now,
    }
    ctx.session.execute(upsert_statement("answer", ctx.session.get_bind().dialect.name), values)


def _store_background(ctx: Context, state: State, question_id: str, option_id: str) -> None:
    values = {
        "response_id": state.response.id,
        "question_id": question_id,
        "option_id": option_id,
        "answered_at": ctx.now,
    }
    ctx.session.execute(upsert_statement("background_answer", ctx.session.get_bind().dialect.name), values)
    state.background[question_id] = option_id
    if question_id == state.instrument.role_question:
        state.response.role = option_id


def record(ctx: Context, state: State, step_index: int, answer: StepAnswer) -> list[Reply]:
    """Store the answer to a step as `answer_decision.decide` says, and say what comes next."""
    decision = decide(state, step_index, answer)
    if decision.effect is Effect.REFUSED:
        return [invalid_button(ctx)]
    step = state.steps[step_index]
    if decision.store:
        if step.background is not None:
            assert isinstance(answer, str)
            _store_background(ctx, state, step.background.id, answer)
        else:
            assert step.item is not None
            assert isinstance(answer, tuple)
            _upsert_answer(ctx, state.response.id, step.item.code, answer[0], answer[1])
            state.answers[step.item.code] = answer
    if decision.effect is Effect.COMPLETE:
        return [answered_echo(ctx.t, state, state.steps, step_index), *complete(ctx, state)]
    return told(ctx.t, state, step_index, decision)


def told(t: Translator, state: State, step_index: int, decision: Decision) -> list[Reply]:
    """What the person is told of an answer that does not complete the response, once it is stored
    (`state` holds it): nothing, the question as answered, or that and the next question. Moves
    the state's cursor as decided."""
    if decision.effect is Effect.NOTHING:
        return []
    echo = answered_echo(t, state, state.steps, step_index)
    if decision.effect is Effect.CHANGED:
        return [echo]
    assert decision.effect is Effect.NEXT
    assert decision.cursor is not None
    state.response.cursor = decision.cursor
    return [echo, question(t, state)]


def complete(ctx: Context, state: State) -> list[Reply]:
    response = state.response
    # Completing is the general path's alone (the quick path declines the last answer), so this is
    # the ORM row and its changes are flushed with the event.
    assert isinstance(response, Response)
    response.status = ResponseStatus.COMPLETED
    response.completed_at = ctx.now
    response.cursor = len(state.steps)
    if ctx.person.current_response_id == response.id:
        ctx.person.current_response_id = None
    replies = feedback.render(ctx, response, just_completed=True)
    round_ = ctx.session.get(Round, response.round_id) if response.round_id is not None else None
    if round_ is not None and round_.anonymous:
        # Detach the answers from the person for good; only "finished" stays (for reminders).
        anonymity.unlink(ctx.session, response, round_, ctx.now)
    elif round_ is not None:
        participant = ctx.session.scalar(
            select(RoundParticipant).where(
                RoundParticipant.round_id == round_.id, RoundParticipant.person_id == ctx.person.id
            )
        )
        if participant is not None:
            participant.completed_at = ctx.now
    ctx.session.flush()
    # If this response filled a step of its unit, the step is sealed and the unit's report moves
    # now: keep it.
    if (
        round_ is not None
        and response.unit_id is not None
        and publication_store.seal(ctx.session, round_.id, response.unit_id)
    ):
        publication_store.publish(ctx.session, round_.id, response.unit_id, ctx.now)
    return replies


def on_answer(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `a:<response>:<code>:<value|s|n>`."""
    if len(args) != 3:
        return [invalid_button(ctx)]
    response = _owned_response(ctx, args[0])
    if response is None:
        return [invalid_button(ctx)]
    if (closed := closed_rounds.closed_reply(ctx, response)) is not None:
        return closed
    state = load_state(ctx.session, response)
    index = state.index_of(args[1])
    answer = parse_value(state.instrument, args[2])
    if index is None or answer is None:
        return [invalid_button(ctx)]
    if response.status is not ResponseStatus.IN_PROGRESS:
        return [] if state.answers.get(args[1]) == answer else [_finished(ctx)]
    _make_current(ctx, response)
    return record(ctx, state, index, answer)


def parse_value(instrument: Instrument, raw: str) -> tuple[AnswerKind, int | None] | None:
    scale = instrument.scale
    if raw == "s" and scale.allow_skip:
        return (AnswerKind.SKIP, None)
    if raw == "n" and scale.allow_not_applicable:
        return (AnswerKind.NOT_APPLICABLE, None)
    if is_number(raw) and 1 <= int(raw) <= scale.points and str(int(raw)) == raw:
        return (AnswerKind.VALUE, int(raw))
    return None


def on_background(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `g:<response>:<question no>:<option no>`."""
    if len(args) != 3 or not (is_number(args[1]) and is_number(args[2])):
        return [invalid_button(ctx)]
    response = _owned_response(ctx, args[0])
    if response is None:
        return [invalid_button(ctx)]
    if (closed := closed_rounds.closed_reply(ctx, response)) is not None:
        return closed
    state = load_state(ctx.session, response)
    questions = state.instrument.background
    qi, oi = int(args[1]), int(args[2])
    if qi >= len(questions) or oi >= len(questions[qi].options):
        return [invalid_button(ctx)]
    option_id = questions[qi].options[oi].id
    if response.status is not ResponseStatus.IN_PROGRESS:
        return [] if state.background.get(questions[qi].id) == option_id else [_finished(ctx)]
    _make_current(ctx, response)
    return record(ctx, state, qi, option_id)


def on_explain(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `x:<response>:<code>`: the statement's explanation, without moving on."""
    if len(args) != 2:
        return [invalid_button(ctx)]
    response = _owned_response(ctx, args[0])
    if response is None:
        return [invalid_button(ctx)]
    instrument = catalogue.load(ctx.session, response.instrument_version_id)
    item = instrument.item(args[1])
    if item is None:
        return [invalid_button(ctx)]
    if not item.explain:
        return [Reply(ctx.t._("There is no explanation for this statement."))]
    return [Reply("ℹ️ " + pick(item.explain, ctx.locale))]


def on_back(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `b:<response>`."""
    response = _continued(ctx, args)
    if isinstance(response, list):
        return response
    return go_back(ctx, load_state(ctx.session, response))


def go_back(ctx: Context, state: State) -> list[Reply]:
    if state.response.cursor <= 0:
        return [question(ctx.t, state, note=ctx.t._("This is the first question."))]
    state.response.cursor -= 1
    return [question(ctx.t, state)]


def on_resume(ctx: Context, args: list[str]) -> list[Reply]:
    """Button `r:<response>` (reminders carry it): continue exactly where the person stopped."""
    response = _owned_response(ctx, args[0]) if len(args) == 1 else None
    if response is None:
        return [invalid_button(ctx)]
    if (closed := closed_rounds.closed_reply(ctx, response)) is not None:
        return closed
    if response.status is not ResponseStatus.IN_PROGRESS:
        return [Reply(ctx.t._("You have already finished this assessment. Thank you!"))]
    return resume(ctx, response)


def on_text(ctx: Context, response: Response, text: str) -> list[Reply]:
    """Typed text while answering: a value, a number word, skip, back, explain; otherwise a hint."""
    if (closed := closed_rounds.closed_reply(ctx, response)) is not None:
        return closed
    state = load_state(ctx.session, response)
    steps = state.steps
    index = min(response.cursor, len(steps) - 1)
    step = steps[index]
    intent = interpret(text)
    if intent.kind == "back":
        return go_back(ctx, state)
    if step.background is not None:
        options = step.background.options
        chosen: int | None = None
        if intent.kind == "value" and intent.value is not None and 1 <= intent.value <= len(options):
            chosen = intent.value - 1
        else:
            chosen = matches_option(text, [pick(o.text, lang) for o in options for lang in ("sv", "en")])
            chosen = chosen // 2 if chosen is not None else None
        if chosen is None:
            hint = ctx.t._("Please choose one of the options: press a button or type its number.")
            return [question(ctx.t, state, note=hint)]
        return record(ctx, state, index, options[chosen].id)
    assert step.item is not None
    scale = state.instrument.scale
    if intent.kind == "explain":
        return on_explain(ctx, [str(response.id), step.item.code])
    answer: tuple[AnswerKind, int | None] | None = None
    if intent.kind == "value" and intent.value is not None and 1 <= intent.value <= scale.points:
        answer = (AnswerKind.VALUE, intent.value)
    elif intent.kind == "skip" and scale.allow_skip:
        answer = (AnswerKind.SKIP, None)
    elif intent.kind == "na" and scale.allow_not_applicable:
        answer = (AnswerKind.NOT_APPLICABLE, None)
    if answer is None:
        hint = ctx.t._(
            "Please answer with a number from 1 to %(max)s, or press a button. "
            "You can also write skip, back or help.",
            max=scale.points,
        )
        return [question(ctx.t, state, note=hint)]
    replies = record(ctx, state, index, answer)
    # A typed answer leaves the question message as it was, so there is nothing to edit.
    return [r for r in replies if not r.edit]


def on_pause(ctx: Context, _args: list[str]) -> list[Reply]:
    if current_response(ctx) is None:
        return [Reply(ctx.t._("You are not in the middle of an assessment. Type assess to start one."))]
    return [Reply(ctx.t._("Paused. Your answers are saved; type assess whenever you want to continue."))]


def latest_completed(session: Session, person_id: int) -> Response | None:
    return session.scalar(
        select(Response)
        .where(Response.person_id == person_id, Response.status == ResponseStatus.COMPLETED)
        .order_by(Response.completed_at.desc(), Response.id.desc())
        .limit(1)
    )


def results(ctx: Context, _args: list[str]) -> list[Reply]:
    response = latest_completed(ctx.session, ctx.person.id)
    if response is None:
        if current_response(ctx) is not None:
            return [
                Reply(
                    ctx.t._("You have no completed assessment yet. Type assess to continue where you were.")
                )
            ]
        return [Reply(ctx.t._("You have no completed assessment yet. Type assess to take one."))]
    return feedback.render(ctx, response, just_completed=False)


def register(registry: Registry) -> None:
    registry.command(
        "assess",
        Audience.EVERYONE,
        N_("start an assessment, or continue where you were"),
        "assess",
        aliases=("skatta", "fortsätt", "continue"),
    )(assess)
    registry.command(
        "results", Audience.EVERYONE, N_("your latest result"), "results", aliases=("resultat",)
    )(results)
    registry.command(
        "pause",
        Audience.EVERYONE,
        N_("pause the assessment (your answers are kept)"),
        "pause",
        aliases=("paus", "pausa"),
    )(on_pause)
    registry.action("a")(on_answer)
    registry.action("g")(on_background)
    registry.action("x")(on_explain)
    registry.action("b")(on_back)
    registry.action("r")(on_resume)
    registry.action("i")(start_instrument)
    registry.action("o")(start_round)
    registry.action(last_time.ACTION)(on_last_time)
