"""What nobody expected: the "other" notes of a launch, their rising themes, and a theme made a hypothesis.

* ``GET /launches/{slug}/other``: every signed-in user; the same range and filter parameters as the
  launch page (without one: since the last digest, at least 24 hours), ``q=`` to search the notes,
  ``theme=`` (a theme's key) for the notes of one theme, as digests and alerts link to it;
  ``before=`` (a re-link's id) for the moves older than it;
  to htmx, just the notes.
* ``GET|POST /launches/{slug}/other/new``: leads; the form prefilled from the themes (``theme=``), note
  groups (``group=``) or enquiries (``enquiry=``) chosen, then the hypothesis created and the
  enquiries moved onto it in one transaction. ``POST /launches/{slug}/other/move``, the same form's
  other button: the ticked enquiries moved onto a hypothesis the launch has.
* ``POST /launches/{slug}/relinks/{id}/undo``: leads.
* ``GET /api/v1/launches/{slug}/surprises``, ``POST /api/v1/launches/{slug}/hypotheses`` and
  ``POST /api/v1/launches/{slug}/hypotheses/{key}/relinks`` for tokens.

``router`` holds both (pages behind the CSRF check, the API behind bearer tokens): one line in app/main.py.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from app import csrf, digests, launches, ranges, retention
from app.bodies import BODY_TOO_LARGE, JsonBodyRoute, JsonInt
from app.deps import (
    API_DEPENDENCIES,
    MAX_ROW_ID,
    CurrentToken,
    CurrentViewer,
    IsHtmx,
    LeadToken,
    Now,
    RequireLead,
    RowId,
    SessionDep,
    Viewer,
    ViewParams,
)
from app.errors import ERRORS, HYPOTHESIS_NOT_FOUND, LEAD_ONLY, ErrorBody, Invalid, TallyError
from app.hypothesis_sets import MAX_EXPECTED_PER_DAY
from app.i18n import N_, Text
from app.insight import relink, themes
from app.launches import SLUG_PATTERN
from app.models import Hypothesis, HypothesisStatus, Launch, Relink, id_of
from app.web import render

pages = APIRouter(dependencies=[Depends(csrf.protect)], include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["api"], dependencies=API_DEPENDENCIES, route_class=JsonBodyRoute)
router = APIRouter()

DEFAULT = "default"  # the range= of the default period, so links that change a filter keep it
MAX_GROUPS = 200  # note groups on the page; the rest are counted
VARY = {"Vary": "HX-Request"}


# --- the page -------------------------------------------------------------------------------


def _select(query: ranges.ViewQuery, session: Session, launch: Launch, now: dt.datetime) -> ranges.Selection:
    """The range asked for; without one, the default recent period of the themes (named ``default``)."""
    if query.range in (None, DEFAULT) and not query.from_ and not query.to:
        whole = ranges.select(launch, now=now, range_name="launch", channels=query.channels, segments=query.segments)
        start, end = themes.default_period(session, launch, now=now)
        digest_start = digests.since_digest_start(session, launch, now)  # for the chip of "since-digest"
        return replace(whole.with_range(start, end), name=DEFAULT, digest_start=digest_start)
    return query.select(launch, now, digests.since_digest_start(session, launch, now))


@dataclass(frozen=True)
class OtherPage:
    launch: Launch
    selection: ranges.Selection
    surprises: themes.Surprises
    groups: themes.NoteGroups
    q: str
    history: relink.History
    last_slot: dt.datetime | None  # where "since the digest" starts: the last digest composed (None: none yet)
    done: Relink | None  # the re-link just made or undone, to say so
    done_key: str | None
    done_created: bool  # … and its hypothesis was made with it (not one the launch had)
    created: Hypothesis | None  # a hypothesis just made with no enquiry moved (created=, found in this launch)
    skipped: int  # enquiries ticked that were no longer "other"
    erased: int | None = None  # notes just erased (0: none were left to erase), to say so
    theme: str = ""  # theme=: only the notes with this theme (a key, or a phrase), as asked
    chosen: themes.Theme | None = None  # … that theme among the range's rising ones, when it is

    @property
    def path(self) -> str:
        return f"/launches/{self.launch.slug}/other"

    def query(self, **changes: Any) -> str:
        return self.selection.query(**changes)

    @property
    def theme_name(self) -> str:
        return self.chosen.phrase if self.chosen else self.theme


def _page(
    session: Session,
    launch: Launch,
    selection: ranges.Selection,
    *,
    now: dt.datetime,
    q: str,
    done: int | None = None,
    created: str | None = None,
    skipped: int = 0,
    erased: int | None = None,
    theme: str = "",
    before: int | None = None,
) -> OtherPage:
    found = themes.surprises(
        session, launch, now=now, start=selection.start, end=selection.end, filter=selection.filter
    )
    chosen = themes.chosen_theme(found, theme) if theme else None
    # One theme's notes, by its stems as it was counted (a link from a digest or an alert): the notes
    # listed are the theme's count. Not found among the themes, the words asked are taken as a key.
    notes = themes.notes_with(found.recent, theme_keys=[chosen.key if chosen else theme]) if theme else found.recent
    done_row = session.get(Relink, done) if done else None
    if done_row is not None and done_row.launch_id != launch.id:
        done_row = None
    done_key, done_created = None, False
    if done_row is not None:
        hypothesis = session.get(Hypothesis, done_row.hypothesis_id)
        done_key = hypothesis.key if hypothesis else None
        # Made in the same transaction as the move: one ``now`` for both.
        done_created = hypothesis is not None and hypothesis.created_at == done_row.relinked_at
    # The banners say what the redirect after a save says, from the database: a link made up by hand
    # (created=<any words>, skipped=<any number>) must not show a hypothesis "created" that is not there.
    made = next((h for h in launches.hypotheses_of(session, launch) if h.key == created), None) if created else None
    if not 0 <= skipped <= relink.MAX_ENQUIRIES:  # more than one save can tick
        skipped = 0
    return OtherPage(
        launch=launch,
        selection=selection,
        surprises=found,
        groups=themes.group_notes(notes, q=q, limit=MAX_GROUPS),
        q=q,
        history=relink.history(session, launch, before=before),
        last_slot=selection.digest_start,
        done=done_row,
        done_key=done_key,
        done_created=done_created,
        created=made,
        skipped=skipped,
        erased=retention.erased_by(session, id_of(launch), erased) if erased else erased,
        theme=theme,
        chosen=chosen,
    )


@pages.get("/launches/{slug}/other")
def other_page(
    request: Request,
    slug: str,
    viewer: CurrentViewer,
    session: SessionDep,
    now: Now,
    htmx: IsHtmx,
    query: ViewParams,
    q: Annotated[str, Query(max_length=200)] = "",
    done: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    created: Annotated[str | None, Query(max_length=64)] = None,
    skipped: Annotated[int, Query(ge=0)] = 0,
    erased: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    theme: Annotated[str, Query(max_length=200)] = "",
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    """The "other" notes of a range, grouped and searchable, under the themes that rose in it; ``theme=``:
    only the notes of that theme; ``before=``: the moves older than that re-link."""
    launch = launches.get_by_slug(session, slug)
    error: Invalid | None = None
    try:
        selection = _select(query, session, launch, now)
    except Invalid as invalid:
        if htmx:
            raise
        # A chip that does not fit the launch (Today once it is over, since it started before it began) or a
        # filter it does not have: the page says why, on its own default period with no filters, whose chips
        # lead on, where a bare error page was a dead end. (As the launch page's ``_range_error``.)
        error = invalid
        selection = _select(
            ranges.ViewQuery(range=None, from_=None, to=None, channels=[], segments=[]), session, launch, now
        )
    view = _page(
        session,
        launch,
        selection,
        now=now,
        q=q.strip(),
        done=done,
        created=created,
        skipped=skipped,
        erased=erased,
        theme=theme.strip(),
        before=before,
    )
    template = "insight/_notes.html" if htmx else "insight/page.html"
    return render(
        request,
        template,
        viewer=viewer,
        view=view,
        ranges=ranges.RANGES,
        error=error,
        status_code=error.status_code if error else 200,
        headers=VARY,
    )


# --- from themes and notes to a hypothesis ----------------------------------------------------


@dataclass(frozen=True)
class EraseForm:
    """The erase form (erasing notes): the chosen notes, listed to be erased."""

    launch: Launch
    selection: ranges.Selection
    notes: list[themes.NoteRef]
    chosen: frozenset[int]
    truncated: bool
    asked: bool = True  # whether any theme, group or enquiry was chosen at all


@dataclass(frozen=True)
class NewForm:
    launch: Launch
    selection: ranges.Selection
    key: str
    text: str
    area: str
    owner_team: str
    expected_per_day: str
    notes: list[themes.NoteRef]
    chosen: frozenset[int]
    truncated: bool
    hypotheses: list[Hypothesis]  # the launch's, to move the notes onto one of them instead
    onto: str = ""


@dataclass(frozen=True)
class Chosen:
    """What the "other" page's form sends to a form that acts on notes: themes, groups, enquiries."""

    themes: list[str]
    groups: list[str]
    enquiries: list[int]


def chosen_params(
    theme: Annotated[list[str] | None, Query()] = None,
    group: Annotated[list[str] | None, Query()] = None,
    enquiry: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] | None, Query()] = None,
) -> Chosen:
    return Chosen([t for t in theme or [] if t], [g for g in group or [] if g], enquiry or [])


ChosenParams = Annotated[Chosen, Depends(chosen_params)]


def _chosen_notes(
    session: Session,
    launch: Launch,
    selection: ranges.Selection,
    *,
    now: dt.datetime,
    chosen: Chosen,
    any_by_id: bool = False,
) -> list[themes.NoteRef]:
    """The "other" notes chosen: those with a theme, anywhere in the launch so far; those in a group,
    in the range shown; and enquiries by id (``any_by_id``: whether under "other" or not, to be erased)."""
    found: dict[int, themes.NoteRef] = {}
    launch_start, launch_end = launches.window(launch)
    theme_keys, group_keys, enquiry_ids = chosen.themes, chosen.groups, chosen.enquiries
    if theme_keys:
        everything = themes.load_notes(
            session, launch, start=launch_start, end=min(max(now, selection.end), launch_end)
        )
        found.update((n.id, n) for n in themes.notes_with(everything, theme_keys=theme_keys))
    if group_keys:
        shown = themes.load_notes(session, launch, start=selection.start, end=selection.end, filter=selection.filter)
        found.update((n.id, n) for n in themes.notes_with(shown, group_keys=group_keys))
    if enquiry_ids:
        picked = themes.load_notes(
            session, launch, start=launch_start, end=launch_end, ids=enquiry_ids, other_only=not any_by_id
        )
        found.update((n.id, n) for n in picked)
    return sorted(found.values(), key=lambda n: (n.occurred_at, n.id), reverse=True)


def _suggestion(notes: list[themes.NoteRef], theme_keys: list[str]) -> str:
    """The phrase to prefill with: the first theme as agents wrote it, else the newest note's first words."""
    for key in theme_keys:
        for note in notes:
            shown = themes.surfaces(note.note).get(key)
            if shown:
                return shown
    if notes:
        return " ".join(notes[0].note.split()[:8])
    return ""


def _render_form(
    request: Request,
    viewer: Viewer,
    form: NewForm | EraseForm,
    *,
    error: TallyError | None = None,
    status_code: int = 200,
) -> Response:
    """The new-hypothesis form, or the erase form: both list the notes chosen, ticked."""
    template = "insight/erase.html" if isinstance(form, EraseForm) else "insight/new.html"
    # Answering a POST: the "other" page the notes were chosen on, as the address to come back to (the
    # form's own lists every note chosen, thousands of ids).
    page = f"/launches/{form.launch.slug}/other" + form.selection.query()
    return render(request, template, viewer=viewer, form=form, error=error, status_code=status_code, page=page)


@pages.get("/launches/{slug}/other/new")
def new_hypothesis_form(
    request: Request,
    slug: str,
    viewer: RequireLead,
    session: SessionDep,
    now: Now,
    query: ViewParams,
    chosen: ChosenParams,
) -> Response:
    """A new hypothesis from the themes, note groups or notes chosen: key and text prefilled, the notes listed."""
    launch = launches.get_by_slug(session, slug)
    selection = _select(query, session, launch, now)
    notes = _chosen_notes(session, launch, selection, now=now, chosen=chosen)
    phrase = _suggestion(notes, chosen.themes)
    taken = [h.key for h in launches.hypotheses_of(session, launch)]
    shown = notes[: relink.MAX_ENQUIRIES]
    form = NewForm(
        launch=launch,
        selection=selection,
        key=relink.suggest_key(phrase, taken) if phrase else "",
        text=relink.suggest_text(phrase),
        area="",
        owner_team="",
        expected_per_day="",
        notes=shown,
        chosen=frozenset(n.id for n in shown),
        truncated=len(notes) > len(shown),
        hypotheses=_ordered(launches.hypotheses_of(session, launch)),
    )
    return _render_form(request, viewer, form)


def _ordered(hypotheses: list[Hypothesis]) -> list[Hypothesis]:
    """As on the checklist, the retired ones last."""
    return sorted(hypotheses, key=lambda h: (h.status == HypothesisStatus.RETIRED, h.sort_order, h.id or 0))


def _expected(value: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    # ASCII digits only: str.isdigit takes "²" and "①" too, which int() refuses (a 500, not this 422).
    if not re.fullmatch(r"[0-9]+", text):
        # The catalogue's words for it: a Norwegian lead was told this in English, under a Norwegian heading.
        problem = Text(N_("{value} is not a whole number: write one, such as 20"), value=repr(text[:80]))
        raise Invalid(problem, field="expected_per_day", details=[("expected_per_day", problem)])
    digits = text.lstrip("0") or "0"
    # int() refuses thousands of digits; anything past the limit is refused by the check the editor makes.
    return int(digits) if len(digits) <= len(str(MAX_EXPECTED_PER_DAY)) else MAX_EXPECTED_PER_DAY + 1


class NewHypothesisForm(BaseModel):
    """The form of /other/new as sent: both its buttons send all of it."""

    key: str = ""
    text: str = ""
    area: str = ""
    owner_team: str = ""
    expected_per_day: str = ""
    enquiry: list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] = []  # the ticked notes' enquiries
    onto: str = ""  # a hypothesis the launch has, for "Move onto this hypothesis"


SentForm = Annotated[NewHypothesisForm, Form()]


# A ticked note is a form field: a theme's notes, up to what one re-link moves, and the form's own.
@pages.post("/launches/{slug}/other/new", form_limits={"max_fields": relink.MAX_ENQUIRIES + 50})
def create_hypothesis(
    request: Request, slug: str, viewer: RequireLead, session: SessionDep, now: Now, query: ViewParams, sent: SentForm
) -> Response:
    """Create the hypothesis and move the ticked "other" enquiries onto it, in one transaction."""
    launch = launches.get_by_slug(session, slug)
    selection = _select(query, session, launch, now)
    try:
        promoted = relink.promote(
            session,
            launch,
            key=sent.key,
            text=sent.text,
            area=sent.area,
            owner_team=sent.owner_team,
            expected_per_day=_expected(sent.expected_per_day),
            enquiry_ids=sent.enquiry,
            actor=viewer.user.username,
            now=now,
            names=relink.FORM,
        )
    except TallyError as error:
        session.rollback()
        form = _typed_form(session, launch, selection, sent)
        return _render_form(request, viewer, form, error=error, status_code=error.status_code)
    session.commit()
    made = promoted.relinked.relink
    said = {"done": str(made.id)} if made is not None else {"created": promoted.hypothesis.key}
    if promoted.relinked.skipped:
        said["skipped"] = str(len(promoted.relinked.skipped))
    return RedirectResponse(f"/launches/{launch.slug}/other" + selection.query(**said), status_code=303)


def _typed_form(session: Session, launch: Launch, selection: ranges.Selection, sent: NewHypothesisForm) -> NewForm:
    """The form again, as it was sent, after a refusal: nothing typed or ticked is lost."""
    start, end = launches.window(launch)
    ids = sent.enquiry
    notes = themes.load_notes(session, launch, start=start, end=end, ids=ids) if ids else []
    return NewForm(
        launch=launch,
        selection=selection,
        key=sent.key,
        text=sent.text,
        area=sent.area,
        owner_team=sent.owner_team,
        expected_per_day=sent.expected_per_day,
        notes=notes,
        chosen=frozenset(ids),
        truncated=False,
        hypotheses=_ordered(launches.hypotheses_of(session, launch)),
        onto=sent.onto,
    )


@pages.post("/launches/{slug}/other/move", form_limits={"max_fields": relink.MAX_ENQUIRIES + 50})
def move_onto_hypothesis(
    request: Request, slug: str, viewer: RequireLead, session: SessionDep, now: Now, query: ViewParams, sent: SentForm
) -> Response:
    """Move the ticked "other" enquiries onto a hypothesis the launch has (the new one's fields are kept
    only to show the form again if this is refused)."""
    launch = launches.get_by_slug(session, slug)
    selection = _select(query, session, launch, now)
    try:
        moved = relink.move_onto(
            session, launch, sent.onto, sent.enquiry, actor=viewer.user.username, now=now, names=relink.FORM
        )
    except TallyError as error:
        session.rollback()
        form = _typed_form(session, launch, selection, sent)
        return _render_form(request, viewer, form, error=error, status_code=error.status_code)
    session.commit()
    said = {"done": str(moved.relink.id)}
    if moved.skipped:
        said["skipped"] = str(len(moved.skipped))
    return RedirectResponse(f"/launches/{launch.slug}/other" + selection.query(**said), status_code=303)


@pages.post("/launches/{slug}/relinks/{relink_id}/undo")
def undo_relink(
    slug: str,
    relink_id: RowId,
    viewer: RequireLead,
    session: SessionDep,
    now: Now,
    query: ViewParams,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    """Take the enquiries of a re-link back to "other" (the hypothesis stays); ``before=``: the page of
    older moves it was undone from, shown again."""
    launch = launches.get_by_slug(session, slug)
    relink.undo(session, launch, relink_id, actor=viewer.user.username, now=now)
    session.commit()
    selection = _select(query, session, launch, now)
    said = {"done": str(relink_id), "before": str(before) if before else None}
    return RedirectResponse(f"/launches/{launch.slug}/other" + selection.query(**said), status_code=303)


# --- erasing notes -----------------------------------------------------------------------------


@pages.get("/launches/{slug}/other/erase")
def erase_notes_form(
    request: Request,
    slug: str,
    viewer: RequireLead,
    session: SessionDep,
    now: Now,
    query: ViewParams,
    chosen: ChosenParams,
) -> Response:
    """The notes chosen on the "other" page, listed to be erased (a name the scrubber missed, a customer's
    request to be forgotten): nothing goes before the lead ticks that it cannot be undone."""
    launch = launches.get_by_slug(session, slug)
    selection = _select(query, session, launch, now)
    # By id, a note moved onto a hypothesis too (found in the enquiries download): it keeps its text.
    notes = _chosen_notes(session, launch, selection, now=now, chosen=chosen, any_by_id=True)
    shown = notes[: relink.MAX_ENQUIRIES]
    asked = bool(chosen.themes or chosen.groups or chosen.enquiries)
    form = EraseForm(launch, selection, shown, frozenset(n.id for n in shown), len(notes) > len(shown), asked)
    return _render_form(request, viewer, form)


class EraseNotesForm(BaseModel):
    enquiry: list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] = []
    confirmed: bool = False  # "They cannot be brought back" ticked


@pages.post("/launches/{slug}/other/erase", form_limits={"max_fields": relink.MAX_ENQUIRIES + 50})
def erase_notes(
    request: Request,
    slug: str,
    viewer: RequireLead,
    session: SessionDep,
    now: Now,
    query: ViewParams,
    sent: Annotated[EraseNotesForm, Form()],
) -> Response:
    """Erase the ticked notes' text; their enquiries, and every count, stay."""
    launch = launches.get_by_slug(session, slug)
    selection = _select(query, session, launch, now)
    error: TallyError | None = None
    if not sent.enquiry:
        error = Invalid(Text(N_("Tick the notes to erase.")), field="enquiry")
    elif not sent.confirmed:
        error = Invalid(
            Text(N_("Tick “They cannot be brought back” to erase the ticked notes: nothing was erased.")),
            field="confirmed",
        )
    if error is not None:
        start, end = launches.window(launch)
        notes = (
            themes.load_notes(session, launch, start=start, end=end, ids=sent.enquiry, other_only=False)
            if sent.enquiry
            else []
        )
        form = EraseForm(launch, selection, notes, frozenset(sent.enquiry), False)
        return _render_form(request, viewer, form, error=error, status_code=error.status_code)
    erased = retention.erase_notes(session, id_of(launch), sent.enquiry, actor=viewer.user.username, now=now)
    session.commit()
    said = {"erased": str(erased.event_id or 0)}  # 0: none left to erase (erased meanwhile)
    return RedirectResponse(f"/launches/{launch.slug}/other" + selection.query(**said), status_code=303)


# --- the API ----------------------------------------------------------------------------------


SURPRISES_RULES = (
    "Phrases (one to three words, stemmed; stop words, numbers and masked personal data left out) that rose in "
    "the `other` notes of the recent period compared with the launch before it, ranked by Dunning's "
    "log-likelihood over the number of notes that have them: at least 3 recent notes, a larger share than "
    "before, and G² ≥ 10.83 (p < 0.001). Without `from`/`to` the recent period runs from the end of the last "
    "digest delivered, or 24 hours ago if that is earlier, to now. A range outside the launch's dates is "
    "refused with 422 `range_out_of_window`."
)


class NoteOut(BaseModel):
    id: int = Field(description="The enquiry's id.")
    note: str
    occurred_at: dt.datetime


class ThemeOut(BaseModel):
    phrase: str = Field(description="As agents wrote it most often.", examples=["widgeten på hjemskjermen"])
    key: str = Field(description="Its stemmed words: the same for every inflection.", examples=["widg hjemskjerm"])
    recent: int = Field(description="Notes with it in the recent period.")
    before: int = Field(description="Notes with it in the launch before the recent period.")
    score: float = Field(description="Dunning's log-likelihood G² (10.83 is p < 0.001): how unlikely by chance.")
    first_seen: dt.datetime
    notes: list[NoteOut] = Field(description="Up to three notes of the recent period, newest first.")


class SurprisesOut(BaseModel):
    start: dt.datetime = Field(description="The recent period: [start, end).")
    end: dt.datetime
    notes_total: int = Field(description='"Other" notes in the recent period.')
    before_total: int = Field(description='"Other" notes in the launch before it.')
    themes: list[ThemeOut] = Field(description="Best first.")


@api.get(
    "/launches/{slug}/surprises",
    response_model=SurprisesOut,
    responses=ERRORS,
    description=SURPRISES_RULES,
)
def get_surprises(
    slug: str,
    token: CurrentToken,
    session: SessionDep,
    now: Now,
    from_: Annotated[
        str | None, Query(alias="from", description="First local day (YYYY-MM-DD), or an ISO 8601 time with offset.")
    ] = None,
    to: Annotated[
        str | None,
        Query(description="Last local day, included (YYYY-MM-DD), or an ISO 8601 time with offset (excluded)."),
    ] = None,
) -> SurprisesOut:
    """What nobody expected: the rising themes of the `other` notes."""
    launch = launches.get_by_slug(session, slug)
    if from_ or to:
        selection = ranges.select(launch, now=now, from_text=from_, to_text=to)
        found = themes.surprises(session, launch, now=now, start=selection.start, end=selection.end)
    else:
        found = themes.surprises(session, launch, now=now)
    return SurprisesOut(
        start=found.start,
        end=found.end,
        notes_total=found.notes_total,
        before_total=found.before_total,
        themes=[
            ThemeOut(
                phrase=t.phrase,
                key=t.key,
                recent=t.recent,
                before=t.before,
                score=t.score,
                first_seen=t.first_seen,
                notes=[NoteOut(id=n.id, note=n.note, occurred_at=n.occurred_at) for n in t.notes],
            )
            for t in found.themes
        ],
    )


EnquiryIdIn = JsonInt[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]]  # in a JSON body: 7, never true


class NewHypothesisIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=SLUG_PATTERN, description="Lower-case letters, digits and dashes; new in the launch.")
    text: str = Field(min_length=1, max_length=500)
    area: str = Field(default="", max_length=100)
    owner_team: str = Field(default="", max_length=100)
    expected_per_day: JsonInt[Annotated[int, Field(ge=0, le=MAX_EXPECTED_PER_DAY)]] | None = None
    # Bounded to the INTEGER id column (32-bit on PostgreSQL): past it the lookup itself failed (a 500).
    from_notes: list[EnquiryIdIn] = Field(
        default_factory=list,
        # Past the re-link's own limit, so a list of 5,001 gets its code (too_many_enquiries), not "invalid".
        max_length=relink.MAX_ENQUIRIES * 10,
        description='Ids of "other" enquiries to move onto the new hypothesis (from `surprises`), at most 5,000 '
        '(`too_many_enquiries`). Ids that are unknown, of another launch or no longer "other" are skipped and '
        "listed in `skipped`.",
    )


class MovedOut(BaseModel):
    """What a move of "other" enquiries onto a hypothesis did: both API calls that move them answer it."""

    relinked: int = Field(description="Enquiries moved from `other` onto it.")
    skipped: list[int] = Field(description="Ids in `from_notes` that were not moved.")


# Both calls that change hypotheses need a lead token.
class HypothesisCreatedOut(MovedOut):
    key: str
    text: str
    area: str
    owner_team: str
    expected_per_day: int | None
    status: HypothesisStatus
    version: int
    created_at: dt.datetime


@api.post(
    "/launches/{slug}/hypotheses",
    status_code=201,
    response_model=HypothesisCreatedOut,
    responses={
        **ERRORS,
        **LEAD_ONLY,
        **BODY_TOO_LARGE,
        409: {"model": ErrorBody, "description": "The launch has a hypothesis with this key (`duplicate_key`)"},
    },
)
def create_hypothesis_api(
    slug: str, body: NewHypothesisIn, token: LeadToken, session: SessionDep, now: Now
) -> HypothesisCreatedOut:
    """Add a hypothesis (checked like the editor's), and move the `other` enquiries in `from_notes` onto it,
    in one transaction. Every kept count of the days of those enquiries is counted again."""
    launch = launches.get_by_slug(session, slug)
    promoted = relink.promote(
        session,
        launch,
        key=body.key,
        text=body.text,
        area=body.area,
        owner_team=body.owner_team,
        expected_per_day=body.expected_per_day,
        enquiry_ids=body.from_notes,
        actor=f"token:{token.name}",
        now=now,
        names=relink.API,
    )
    session.commit()
    h = promoted.hypothesis
    return HypothesisCreatedOut(
        key=h.key,
        text=h.text,
        area=h.area,
        owner_team=h.owner_team,
        expected_per_day=h.expected_per_day,
        status=h.status,
        version=h.version,
        created_at=h.created_at,
        relinked=len(promoted.relinked.moved),
        skipped=promoted.relinked.skipped,
    )


class RelinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_notes: list[EnquiryIdIn] = Field(
        min_length=1,
        max_length=relink.MAX_ENQUIRIES * 10,
        description='Ids of "other" enquiries to move onto the hypothesis (from `surprises`), 1 to 5,000 '
        '(`too_many_enquiries`). Ids that are unknown, of another launch or no longer "other" are skipped and '
        "listed in `skipped`.",
    )


class RelinkOut(MovedOut):
    relink_id: int = Field(description="The move, which a lead can undo on the Other page.")
    key: str


@api.post(
    "/launches/{slug}/hypotheses/{key}/relinks",
    status_code=201,
    response_model=RelinkOut,
    responses={
        **ERRORS,
        **LEAD_ONLY,
        **BODY_TOO_LARGE,
        **HYPOTHESIS_NOT_FOUND,
        409: {"model": ErrorBody, "description": 'None of `from_notes` is "other" any more (`nothing_moved`)'},
    },
)
def relink_api(slug: str, key: str, body: RelinkIn, token: LeadToken, session: SessionDep, now: Now) -> RelinkOut:
    """Move the `other` enquiries in `from_notes` onto a hypothesis the launch has (a retired one too), in one
    transaction. Every kept count of the days of those enquiries is counted again."""
    launch = launches.get_by_slug(session, slug)
    moved = relink.move_onto(
        session, launch, key, body.from_notes, actor=f"token:{token.name}", now=now, names=relink.API
    )
    session.commit()
    return RelinkOut(
        relink_id=id_of(moved.relink),
        key=key,
        relinked=len(moved.moved),
        skipped=moved.skipped,
    )


router.include_router(pages)
router.include_router(api)
