"""Launch pages: the list, the dashboard every signed-in user reads (and a hypothesis's
drill-down), both for a range and filters given in the query, and the lead's editor
(launch fields and the hypothesis set), import and export."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple, NoReturn
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from app import checklist, dashboard, digests, hypothesis_sets, launches, ranges
from app.config import Settings, check_timezone
from app.deps import CurrentViewer, IsHtmx, Now, RequireLead, SessionDep, SettingsDep, Viewer, ViewParams
from app.errors import Conflict, Invalid, StaleOrder, TallyError
from app.i18n import N_, Text
from app.insight import relink
from app.models import Hypothesis, HypothesisStatus, Launch, LaunchStatus
from app.web import render

router = APIRouter()


class Upload(NamedTuple):
    """A hypothesis file sent to import: its name, its bytes (none of a file over the limit, which is not
    read) and its size."""

    filename: str
    raw: bytes
    size: int


# A file at the limit re-sent by the import's Apply form (multipart, so as it is, but every line break
# as CR LF, as a browser sends a textarea's): twice the file at most (a file of empty lines), and the
# form's few other fields.
MAX_IMPORT_BODY = 2 * hypothesis_sets.MAX_FILE_BYTES + 64 * 1024


def _local_time(value: str, timezone: str, *, field: str) -> dt.datetime:
    """A datetime-local form value (a wall-clock time in the launch's zone) as an aware time."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(
            Text(N_("{value} is not a date and time such as 2026-11-20T14:30."), value=repr(value)), field=field
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    if not 2 <= moment.year <= 9998:  # no fix ships then, and the conversion below would overflow
        raise Invalid(Text(N_("{value} is not a time any launch runs in."), value=repr(value)), field=field)
    return moment.astimezone(dt.UTC)


def _zone_or(value: str, default: str) -> str:
    try:
        return check_timezone(value) if value else default
    except ValueError:
        return default


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


def _apply(
    session: Any, spec: hypothesis_sets.LaunchFile, viewer: Viewer, settings: Any, now: Any
) -> hypothesis_sets.LaunchChanges:
    return hypothesis_sets.import_launch(
        session,
        spec,
        actor=viewer.user.username,
        now=now,
        default_timezone=settings.timezone,
        default_digest_times=settings.digest_times,
    )


@router.get("/")
def index(request: Request, viewer: CurrentViewer, session: SessionDep) -> Response:
    return render(
        request, "launches/index.html", viewer=viewer, launches=launches.list_launches(session), error=None, typed=None
    )


# The same URL serves the page and (to htmx) its live fragment: caches must keep them apart.
VARY = {"Vary": "HX-Request"}


def _range_error(
    request: Request,
    viewer: Viewer,
    session: Session,
    launch: Launch,
    now: dt.datetime,
    error: Invalid,
    template: str,
    **context: Any,
) -> Response:
    """A link whose range or filters cannot be shown: the page says why and offers the ranges that can be."""
    return render(
        request,
        template,
        viewer=viewer,
        view=None,
        launch=launch,
        error=error,
        fallback=ranges.select(launch, now=now),
        last_slot=digests.since_digest_start(session, launch, now),
        ranges=ranges.RANGES,
        status_code=error.status_code,
        headers=VARY,
        **context,
    )


@router.get("/launches/{slug}")
def launch_page(
    request: Request,
    slug: str,
    viewer: CurrentViewer,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    htmx: IsHtmx,
    query: ViewParams,
) -> Response:
    """The launch page, or (to htmx, which polls it) just its numbers."""
    launch = launches.get_by_slug(session, slug)
    try:
        selection = query.select(launch, now, digests.since_digest_start(session, launch, now))
    except Invalid as error:
        if htmx:
            raise
        return _range_error(request, viewer, session, launch, now, error, "launches/page.html")
    view = dashboard.build(session, launch=launch, selection=selection, now=now, settle=digests.settle(settings))
    template = "launches/_refresh.html" if htmx else "launches/page.html"
    # "What nobody expected" on the channels and segments shown, and on the range when one was chosen: its
    # own default period (since the last digest, at least a day) reads themes better than today's hours.
    other_query = selection.query() if query.range or query.from_ or query.to else selection.query(range=None)
    return render(
        request,
        template,
        viewer=viewer,
        view=view,
        error=None,
        ranges=ranges.RANGES,
        other_query=other_query,
        headers=VARY,
    )


@router.get("/launches/{slug}/hypotheses/{key}")
def hypothesis_page(
    request: Request,
    slug: str,
    key: str,
    viewer: CurrentViewer,
    session: SessionDep,
    now: Now,
    htmx: IsHtmx,
    query: ViewParams,
) -> Response:
    """One hypothesis alone (the drill-down), or (to htmx) just its numbers."""
    launch = launches.get_by_slug(session, slug)
    try:
        selection = query.select(launch, now, digests.since_digest_start(session, launch, now))
    except Invalid as error:
        if htmx:
            raise
        hypothesis, _ = dashboard.drilldown.find(session, launch, key)
        return _range_error(request, viewer, session, launch, now, error, "hypotheses/page.html", hypothesis=hypothesis)
    view = dashboard.drilldown.build(session, launch=launch, key=key, selection=selection, now=now)
    template = "hypotheses/_refresh.html" if htmx else "hypotheses/page.html"
    return render(request, template, viewer=viewer, view=view, error=None, ranges=ranges.RANGES, headers=VARY)


@router.get("/launches/{slug}/export")
def export(slug: str, viewer: CurrentViewer, session: SessionDep) -> Response:
    launch = launches.get_by_slug(session, slug)
    return Response(
        hypothesis_sets.export_launch(session, launch),
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{launch.slug}.yaml"', "Cache-Control": "no-store"},
    )


@router.post("/launches", form_limits={"max_part_size": MAX_IMPORT_BODY})
async def create_or_import(
    request: Request,
    viewer: RequireLead,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    file: UploadFile | None = None,
    slug: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    starts_on: Annotated[str, Form()] = "",
    file_text: Annotated[str, Form()] = "",
    filename: Annotated[str, Form()] = "",
    seen: Annotated[str, Form()] = "",
) -> Response:
    """A new launch from the short form, or a launch (new or existing) from an uploaded YAML file. A file
    that would change a launch that exists is shown first, with what it changes; the lead's Apply
    sends it again (``file_text``) with ``seen``, the launch as it was shown."""
    upload = None
    most = hypothesis_sets.MAX_FILE_BYTES
    if file is not None and file.filename:
        # Starlette counted the file's bytes as they came: one over the limit is not read.
        raw = await file.read(most + 1) if (file.size or 0) <= most else b""
        upload = Upload(file.filename, raw, max(file.size or 0, len(raw)))
    elif file_text:
        # The browser sent the file's line breaks as CR LF: back to what the file had (an export's LF), so a
        # file at the limit is still within it.
        raw = file_text.replace("\r\n", "\n").encode("utf-8", errors="replace")
        upload = Upload(filename or "upload.yaml", raw, len(raw))
    # The rest in a worker thread: parsing a slow or hostile file, and the database, which may wait for
    # the launch's row (another edit, an import), must not block the event loop.
    return await run_in_threadpool(
        _create_or_import,
        request,
        viewer,
        session,
        settings,
        now,
        upload,
        slug=slug,
        name=name,
        starts_on=starts_on,
        seen=seen,
    )


def _spec_of(
    session: Session,
    upload: Upload | None,
    *,
    slug: str,
    name: str,
    starts_on: str,
    now: dt.datetime,
) -> hypothesis_sets.LaunchFile:
    """The launch an uploaded file, or the short form, asks for; ``Invalid`` saying what is wrong. A
    file's fix times are checked against ``now``, the moment it is imported."""
    if upload is not None:
        filename, raw, size = upload
        if size > hypothesis_sets.MAX_FILE_BYTES:  # refused unread, as the CLI refuses it
            _refuse([hypothesis_sets.Problem(filename, 1, "", hypothesis_sets.too_large(size))])
        try:
            text = hypothesis_sets.decode(raw, filename)
        except hypothesis_sets.InvalidFiles as exc:
            _refuse(exc.problems)
        parsed = hypothesis_sets.parse_text(text, path=filename, now=now)
        if parsed.launch is None:
            _refuse(parsed.problems)
        return parsed.launch
    spec = hypothesis_sets.revalidate({"slug": slug.strip(), "name": name.strip(), "starts_on": starts_on})
    if launches.find_by_slug(session, spec.slug) is not None:
        raise Invalid(Text(N_("There is already a launch {slug}."), slug=repr(spec.slug)), field="slug")
    return spec


def _refuse(problems: list[hypothesis_sets.Problem]) -> NoReturn:
    """``Invalid`` for a file that is not imported, listing its problems."""
    nothing = Text(N_("Nothing was imported."))
    raise Invalid(
        "\n".join([*(str(p) for p in problems), nothing]),
        field="file",
        # Each problem where it is (file, line, field as written in the file) and what is wrong.
        details=[*((p.place, p.message) for p in problems), ("", nothing)],
    )


def _shown_if_exists(session: Session, upload: Upload | None, slug: str) -> str | None:
    """For a file over a launch that exists, the launch as the lead is shown it (``_shown``)."""
    existing = launches.find_by_slug(session, slug) if upload is not None else None
    return _shown(session, existing) if existing is not None else None


def _create_or_import(
    request: Request,
    viewer: Viewer,
    session: Session,
    settings: Settings,
    now: dt.datetime,
    upload: Upload | None,
    *,
    slug: str,
    name: str,
    starts_on: str,
    seen: str = "",
) -> Response:
    # A file over a launch that exists: what it would change is shown first, and applied only when the
    # lead applies it to the launch as it was shown. Applied at once, a copy of last launch's file with
    # its slug left unchanged renamed the live launch and retired its hypotheses.
    try:
        spec = _spec_of(session, upload, slug=slug, name=name, starts_on=starts_on, now=now)
        before = _shown_if_exists(session, upload, spec.slug)
        try:
            changes = _apply(session, spec, viewer, settings, now)
        except sa.exc.IntegrityError:
            # Two of them for one new slug at once (a double click on Import or Create, two leads): both
            # found no launch, and the other's row came first. Once more: a file is then shown against
            # the launch the other made (applied at once if it changes nothing), the form says there is one.
            session.rollback()
            spec = _spec_of(session, upload, slug=slug, name=name, starts_on=starts_on, now=now)
            before = _shown_if_exists(session, upload, spec.slug)
            changes = _apply(session, spec, viewer, settings, now)
    except TallyError as error:
        session.rollback()
        return render(
            request,
            "launches/index.html",
            viewer=viewer,
            launches=launches.list_launches(session),
            error=error,
            # The form that was sent, with what was typed in it (a file cannot be given back: chosen again).
            typed={"form": "import"}
            if upload is not None
            else {"form": "new", "name": name, "slug": slug, "starts_on": starts_on},
            status_code=error.status_code,
            page="/",
        )
    if upload is not None and before is not None and changes.changed and seen != before:
        session.rollback()  # shown, not applied
        return render(
            request,
            "launches/confirm_import.html",
            viewer=viewer,
            launch=launches.get_by_slug(session, spec.slug),
            changes=changes,
            file_text=upload.raw.decode("utf-8", errors="replace"),
            filename=upload.filename,
            seen=before,
            changed_since=bool(seen),
            page="/",  # where the file was chosen
        )
    session.commit()
    if changes.created:
        return RedirectResponse(f"/launches/{spec.slug}/edit", status_code=303)
    # A file over a launch that exists: say what it changed, so an older export that undid edits made
    # in the app since (a retired hypothesis, a text) does not do so unseen.
    said = {
        "imported": "1",
        "launch_fields": ",".join(changes.launch_fields),
        "added": ",".join(changes.added),
        "revised": ",".join(changes.revised),
        # Each with the fields that changed: "a:owner_team:status".
        "updated": ",".join(":".join([key, *changes.updated_fields.get(key, ())]) for key in changes.updated),
        "retired": ",".join(changes.retired),
        "set_retired": ",".join(changes.set_retired),
    }
    query = urlencode({name: value for name, value in said.items() if value})
    return RedirectResponse(f"/launches/{spec.slug}/edit?{query}", status_code=303)


IMPORT_LISTS = ("launch_fields", "added", "revised", "updated", "retired", "set_retired")


def _shown(session: Session, launch: Launch) -> str:
    """The launch and its hypotheses as a lead was shown them, in short: its file's digest."""
    return hashlib.sha256(hypothesis_sets.export_launch(session, launch).encode()).hexdigest()[:32]


@router.get("/launches/{slug}/edit")
def edit_page(request: Request, slug: str, viewer: RequireLead, session: SessionDep) -> Response:
    launch = launches.get_by_slug(session, slug)
    imported: dict[str, Any] | None = None
    if request.query_params.get("imported"):
        # Only names the launch has: the page never repeats text a link made up. Settings by their
        # labels (as the confirm page named them), hypotheses by their keys.
        keys = {h.key for h in launches.hypotheses_of(session, launch)}
        imported = {
            name: [
                v
                for v in request.query_params.get(name, "").split(",")
                if v in (set(LAUNCH_FIELDS) if name == "launch_fields" else keys)
            ][:50]
            for name in IMPORT_LISTS
            if name != "updated"
        }
        imported["updated"], imported["updated_fields"] = _updated_in(request.query_params.get("updated", ""), keys)
    # After a save merged with another lead's changes, without JavaScript: which form to say so in, and
    # which of its fields took the other lead's change.
    kept = request.query_params.get("kept")
    if kept not in ({KEPT_LAUNCH} | {h.key for h in launches.hypotheses_of(session, launch)}):
        kept = None
    fields = LAUNCH_FIELDS if kept == KEPT_LAUNCH else ROW_FIELDS
    kept_fields = [name for name in request.query_params.get("kept_fields", "").split(",") if name in fields]
    return _editor(request, viewer, session, launch, error=None, imported=imported, kept=kept, kept_fields=kept_fields)


def _updated_in(said: str, keys: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The changed hypotheses a link names ("a:owner_team:status,b:sort_order"), each with its changed
    fields: only keys the launch has and fields a hypothesis has."""
    updated: list[str] = []
    fields: dict[str, list[str]] = {}
    for item in said.split(",")[:50]:
        key, *names = item.split(":")
        if key in keys and key not in fields:
            updated.append(key)
            fields[key] = [name for name in names if name in HYPOTHESIS_CHANGES]
    return updated, fields


# --- the editor ---------------------------------------------------------------------------
# Every form carries the version it was made from: a save from an older copy is refused (409)
# with what the user typed kept in the inputs and the current values beside them. To htmx each
# form answers with its own fragment (a row, the launch form, the add form), so a save never
# touches the other forms' unsaved inputs; without JavaScript the whole page works as before.

ROW_FIELDS = ("text", "area", "owner_team", "expected_per_day", "status", "fix_shipped_at", "fix_url")
HYPOTHESIS_CHANGES = (*ROW_FIELDS, "sort_order")  # what an import may change of one
LAUNCH_FIELDS = (
    "name",
    "product_area",
    "starts_on",
    "ends_on",
    "timezone",
    "digest_times",
    "slack_channel",
    "channels",
    "segments",
    "alert_min_count",
    "alert_factor",
    "status",
)
ADD_FIELDS = ("key", "text", "area", "owner_team", "expected_per_day")


def row_values(hypothesis: Hypothesis, timezone: str) -> dict[str, str]:
    """A hypothesis as its row's inputs show it."""
    shipped = hypothesis.fix_shipped_at
    return {
        "text": hypothesis.text,
        "area": hypothesis.area or "",
        "owner_team": hypothesis.owner_team or "",
        "expected_per_day": "" if hypothesis.expected_per_day is None else str(hypothesis.expected_per_day),
        "status": hypothesis.status.value,
        "fix_shipped_at": _local_input(shipped, timezone) if shipped else "",
        "fix_url": hypothesis.fix_url or "",
    }


def fingerprint(values: dict[str, str]) -> str:
    """What a form showed, in short: a save whose version is behind but whose row still holds
    exactly this was made from a copy that differs only in its place in the list (a move raises
    the version too), so it is not refused."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:32]


def order_fingerprint(keys: list[str]) -> str:
    """The list's order as a page showed it, in short: the ↑/↓ buttons' forms (without JavaScript)
    carry it, so a move from a page whose order is not the stored one is refused, not applied to an
    order the lead never saw."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def _stale_order(hypotheses: list[Hypothesis]) -> StaleOrder:
    return StaleOrder(
        "The order of the hypotheses changed since this page showed it (someone else moved one): nothing was "
        "saved. `order` holds the order now; move again from it.",
        order=[h.key for h in hypotheses],
        shortcuts=checklist.shortcuts(hypotheses),
    )


def launch_values(launch: Launch) -> dict[str, str]:
    """A launch as its form's inputs show it: a name stored with a line break (before files' names were
    made one line) as the one line a save keeps, not run together by the browser's one-line field."""
    return {
        "name": " ".join(launch.name.split()),
        "product_area": " ".join(launch.product_area.split()),
        "starts_on": launch.starts_on.isoformat(),
        "ends_on": launch.ends_on.isoformat(),
        "timezone": launch.timezone,
        "digest_times": ", ".join(launch.digest_times),
        "slack_channel": launch.slack_channel or "",
        "channels": ", ".join(launch.channels),
        "segments": ", ".join(launch.segments),
        "alert_min_count": str(launch.alert_min_count),
        "alert_factor": str(launch.alert_factor),
        "status": launch.status.value,
    }


def _local_input(moment: dt.datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


def _version(value: str) -> int | None:
    """The version a form was made from (none from an older page or a script: no check)."""
    text = value.strip()
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None  # str.isdigit takes "²" too


def _original(value: str) -> dict[str, str] | None:
    """The values a form showed when it was made (its hidden ``original``), or None from an older
    page or a script, or one that is not what the page sent: then a stale save is refused whole."""
    try:
        loaded = json.loads(value) if value else None
    except (ValueError, RecursionError):
        # RecursionError: nested past the parser's depth ("[[[[…", a hostile form), which was a 500.
        return None
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        return None
    return {str(k): v for k, v in loaded.items()}


def merge(
    typed: dict[str, str], original: dict[str, str], stored: dict[str, str]
) -> tuple[dict[str, str], set[str], list[str]]:
    """A save made from an older copy, merged field by field with what was stored since: a field the
    user left as the form showed it takes the stored value (saving must not undo another lead's change
    to it), one only the user changed takes the user's. Returns the merged values, the fields both
    changed to different values (the conflict, for the user to decide), and the fields that took
    another lead's change."""
    merged: dict[str, str] = {}
    conflicts: set[str] = set()
    kept: list[str] = []
    for field, mine in typed.items():
        base, theirs = original.get(field), stored[field]
        if base is None:  # a field the form did not say it showed: the user's, a conflict if not as stored
            merged[field] = mine
            if mine != theirs:
                conflicts.add(field)
        elif mine == base:
            merged[field] = theirs
            if theirs != base:
                kept.append(field)
        else:
            merged[field] = mine
            if theirs not in (base, mine):
                conflicts.add(field)
    return merged, conflicts, kept


@dataclass(frozen=True)
class RowState:
    """A row shown with what the user typed rather than what is stored: after a refused save."""

    values: dict[str, str]
    current: dict[str, str] | None = None  # the stored values, when the save was stale
    error: TallyError | None = None
    zone: str | None = None  # the time zone the typed fix time was written in, if not the launch's
    conflicts: frozenset[str] | None = None  # the fields both leads changed (None: every field that differs)


@dataclass(frozen=True)
class FormState:
    """The launch form or the add form, shown with what the user typed."""

    values: dict[str, str]
    current: dict[str, str] | None = None
    error: TallyError | None = None
    conflicts: frozenset[str] | None = None  # the fields both leads changed (None: every field that differs)


def _editor(
    request: Request,
    viewer: Viewer,
    session: Any,
    launch: Any,
    *,
    error: TallyError | None,
    status_code: int = 200,
    rows: dict[str, RowState] | None = None,
    launch_form: FormState | None = None,
    add_form: FormState | None = None,
    imported: dict[str, list[str]] | None = None,
    kept: str | None = None,
    kept_fields: Sequence[str] = (),
) -> Response:
    return render(
        request,
        "launches/edit.html",
        status_code=status_code,
        imported=imported,
        kept=kept,
        kept_fields=kept_fields,
        page=f"/launches/{launch.slug}/edit",  # also for the answers to the editor's forms
        **_editor_context(viewer, session, launch, error=error, rows=rows, launch_form=launch_form, add_form=add_form),
    )


def _editor_context(
    viewer: Viewer,
    session: Any,
    launch: Launch,
    *,
    error: TallyError | None = None,
    rows: dict[str, RowState] | None = None,
    launch_form: FormState | None = None,
    add_form: FormState | None = None,
) -> dict[str, Any]:
    hypotheses = launches.hypotheses_of(session, launch)
    return {
        "viewer": viewer,
        "launch": launch,
        "hypotheses": hypotheses,
        "order_seen": order_fingerprint([h.key for h in hypotheses]),
        "revisions": launches.revisions_of(session, launch),
        "statuses": list(LaunchStatus),
        "hypothesis_statuses": list(HypothesisStatus),
        "error": error,
        "rows": rows or {},
        "row_values": row_values,
        "launch_values": launch_values,
        "fingerprint": fingerprint,
        "shortcuts": checklist.shortcuts(hypotheses),
        "launch_form": launch_form or FormState(launch_values(launch)),
        # Asked only by the launch form (a row's save, which renders this context too, needs no count).
        "outside": lambda: launches.enquiries_outside(session, launch),
        "add_form": add_form or FormState(dict.fromkeys(ADD_FIELDS, "")),
    }


def _row(
    request: Request,
    viewer: Viewer,
    session: Any,
    launch: Launch,
    key: str,
    *,
    state: RowState | None = None,
    status_code: int = 200,
    kept: Sequence[str] = (),
) -> Response:
    """One hypothesis's row, for htmx to swap in place of the one that was sent, with the other rows'
    checklist keys (retiring a row, or bringing it back, moves those after it)."""
    context = _editor_context(viewer, session, launch, rows={key: state} if state else None)
    keys = [h.key for h in context["hypotheses"]]
    index = keys.index(key)
    return render(
        request,
        "launches/_row_saved.html",
        status_code=status_code,
        h=context["hypotheses"][index],
        first=index == 0,
        last=index == len(keys) - 1,
        kept=key if kept else None,
        kept_fields=kept,
        **context,
    )


def _apply_change(session: Any, viewer: Viewer, settings: Any, now: Any, slug: str, change: Any) -> None:
    """Apply ``change`` (a function from the set's data to new data) like an import, to the set as the
    last edit left it."""
    launch = launches.get_for_update(session, slug)
    data = hypothesis_sets.current_spec(session, launch).model_dump()
    spec = hypothesis_sets.revalidate(change(data))
    if spec.slug != slug:
        raise Invalid(
            Text(N_("The slug of a launch cannot change: it is how files and the API find it.")), field="slug"
        )
    _apply(session, spec, viewer, settings, now)


KEPT_LAUNCH = "_launch"  # not a key (keys start with a letter or digit): the launch form kept another's change


def _edited(slug: str, kept: str | None = None, fields: Sequence[str] = ()) -> Response:
    # Keys, KEPT_LAUNCH and field names need no quoting.
    query = f"?kept={kept}&kept_fields={','.join(fields)}" if kept else ""
    return RedirectResponse(f"/launches/{slug}/edit{query}", status_code=303)


@router.post("/launches/{slug}/edit")
def save_launch(
    request: Request,
    slug: str,
    viewer: RequireLead,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    htmx: IsHtmx,
    name: Annotated[str, Form()],
    starts_on: Annotated[str, Form()],
    ends_on: Annotated[str, Form()],
    timezone: Annotated[str, Form()],
    digest_times: Annotated[str, Form()],
    channels: Annotated[str, Form()],
    segments: Annotated[str, Form()],
    status: Annotated[str, Form()],
    product_area: Annotated[str, Form()] = "",
    slack_channel: Annotated[str, Form()] = "",
    alert_min_count: Annotated[str, Form()] = "",
    alert_factor: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    original: Annotated[str, Form()] = "",
) -> Response:
    typed = {
        "name": name,
        "product_area": product_area,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "timezone": timezone,
        "digest_times": digest_times,
        "slack_channel": slack_channel,
        "channels": channels,
        "segments": segments,
        "alert_min_count": alert_min_count,
        "alert_factor": alert_factor,
        "status": status,
    }

    launch = launches.get_for_update(session, slug)
    expected = _version(version)
    base = _original(original)
    values, conflicts = typed, None
    kept: list[str] = []
    if expected is not None and expected != launch.version and base is not None:
        values, clashing, kept = merge(typed, base, launch_values(launch))
        conflicts = frozenset(clashing)
        if not conflicts:
            expected = launch.version  # nothing of another lead's is undone: save the merged values

    def change(data: dict[str, Any]) -> dict[str, Any]:
        alerts = dict(data.get("alerts") or {})  # a field left empty keeps what was set
        if values["alert_min_count"].strip():
            alerts["min_count"] = values["alert_min_count"].strip()
        if values["alert_factor"].strip():
            alerts["factor"] = values["alert_factor"].strip().replace(",", ".")  # 2,5 as written in Norwegian
        return data | {
            "alerts": alerts,
            "name": values["name"].strip(),
            "product_area": values["product_area"].strip(),
            "starts_on": values["starts_on"],
            "ends_on": values["ends_on"],
            "timezone": values["timezone"].strip(),
            "digest_times": _split(values["digest_times"]),
            "channels": _split(values["channels"]),
            "segments": _split(values["segments"]),
            "status": values["status"],
            "slack_channel": values["slack_channel"].strip() or None,
        }

    try:
        if expected is not None and expected != launch.version:
            raise Conflict("Someone else changed this launch since you opened it.", code="stale_version")
        _apply_change(session, viewer, settings, now, slug, change)
    except TallyError as error:
        session.rollback()
        launch = launches.get_by_slug(session, slug)
        stale = error.code == "stale_version"
        current = launch_values(launch) if stale else None
        state = FormState(values, current=current, error=error, conflicts=conflicts if stale else None)
        if htmx:
            context = _editor_context(viewer, session, launch, launch_form=state)
            return render(request, "launches/_launch_form.html", status_code=error.status_code, **context)
        return _editor(request, viewer, session, launch, error=error, status_code=error.status_code, launch_form=state)
    session.commit()
    if htmx:
        launch = launches.get_by_slug(session, slug)
        context = _editor_context(viewer, session, launch)
        kept_here = KEPT_LAUNCH if kept else None
        return render(
            request, "launches/_launch_form.html", saved_alone=True, kept=kept_here, kept_fields=kept, **context
        )
    return _edited(slug, KEPT_LAUNCH if kept else None, kept)


@router.post("/launches/{slug}/hypotheses")
def add_hypothesis(
    request: Request,
    slug: str,
    viewer: RequireLead,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    htmx: IsHtmx,
    key: Annotated[str, Form()],
    text: Annotated[str, Form()],
    area: Annotated[str, Form()] = "",
    owner_team: Annotated[str, Form()] = "",
    expected_per_day: Annotated[str, Form()] = "",
) -> Response:
    typed = {"key": key, "text": text, "area": area, "owner_team": owner_team, "expected_per_day": expected_per_day}

    def change(data: dict[str, Any]) -> dict[str, Any]:
        if not re.fullmatch(launches.SLUG_PATTERN, key.strip()):  # by its field, not the new row's place in the list
            taken = [item["key"] for item in data["hypotheses"]]
            suggestion = relink.suggest_key(key, taken, fallback="login-loop")  # as "New hypothesis from these"
            raise Invalid(
                Text(
                    N_("{key} is not a key: use lower-case letters, digits and dashes, at most 64, such as {example}."),
                    key=repr(key.strip()[:80]),
                    example=suggestion,
                ),
                field="key",
            )
        item = {
            "key": key.strip(),
            "text": text.strip(),  # blank is refused (min length); the schema strips only after checking
            "area": area,
            "owner_team": owner_team,
            "expected_per_day": expected_per_day or None,
            "status": HypothesisStatus.OPEN,
        }
        return data | {"hypotheses": [*data["hypotheses"], item]}

    try:
        _apply_change(session, viewer, settings, now, slug, change)
    except TallyError as error:
        session.rollback()
        launch = launches.get_by_slug(session, slug)
        state = FormState(typed, error=error)
        if htmx:
            context = _editor_context(viewer, session, launch, add_form=state)
            return render(request, "launches/_add_form.html", status_code=error.status_code, **context)
        return _editor(request, viewer, session, launch, error=error, status_code=error.status_code, add_form=state)
    session.commit()
    if not htmx:
        return _edited(slug)
    # A fresh add form, and the new row appended to the list (out of band): the other rows,
    # and whatever is typed in them, stay as they are.
    launch = launches.get_by_slug(session, slug)
    context = _editor_context(viewer, session, launch)
    hypotheses = context["hypotheses"]
    return render(
        request,
        "launches/_added.html",
        h=hypotheses[-1],
        first=len(hypotheses) == 1,
        last=True,
        **context,
    )


@router.post("/launches/{slug}/order")
def order_hypotheses(
    slug: str,
    viewer: RequireLead,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    keys: Annotated[list[str], Form()],
    seen: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The hypotheses in a new order (every key, once), as editor.js sends it after a drag or
    Alt+↑/↓, with ``seen``, the order the page showed before the move. A move from an order that
    is not the stored one (another lead moved rows since) is refused with the order there now
    (``StaleOrder``): applied, the page's whole order undid the other lead's move and changed the
    agents' keys unseen. Needs no row versions: an order says nothing about the rows' contents.
    Answers with the rows whose version this raised, ``{key: [before, after]}``, so the page can keep
    its forms' versions current without taking someone else's edit for its own."""
    launch = launches.get_for_update(session, slug)
    hypotheses = launches.hypotheses_of(session, launch)
    before = {h.key: h.version for h in hypotheses}
    # No ``seen``: a page whose script is older than this check, which reloading replaces.
    if sorted(keys) != sorted(before) or seen is None:
        raise Conflict(
            "The list of hypotheses changed since you opened the editor: reload the page to see it, then move again.",
            code="stale_order",
        )
    if seen != [h.key for h in hypotheses]:
        raise _stale_order(hypotheses)

    def change(data: dict[str, Any]) -> dict[str, Any]:
        by_key = {item["key"]: item for item in data["hypotheses"]}
        return data | {"hypotheses": [by_key[key] for key in keys]}

    _apply_change(session, viewer, settings, now, slug, change)
    moved = launches.hypotheses_of(session, launches.get_by_slug(session, slug))
    after = {h.key: h.version for h in moved}
    session.commit()
    bumped = {key: [before[key], after[key]] for key in keys if after[key] != before[key]}
    # The checklist's keys follow the order: the page shows each row's, now another for some.
    return JSONResponse({"order": keys, "versions": bumped, "shortcuts": checklist.shortcuts(moved)})


@router.post("/launches/{slug}/hypotheses/{key}")
def save_hypothesis(
    request: Request,
    slug: str,
    key: str,
    viewer: RequireLead,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    htmx: IsHtmx,
    text: Annotated[str, Form()],
    status: Annotated[str, Form()],
    area: Annotated[str, Form()] = "",
    owner_team: Annotated[str, Form()] = "",
    expected_per_day: Annotated[str, Form()] = "",
    fix_shipped_at: Annotated[str, Form()] = "",
    fix_url: Annotated[str, Form()] = "",
    move: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    seen: Annotated[str, Form()] = "",
    zone: Annotated[str, Form()] = "",
    order: Annotated[str, Form()] = "",
    original: Annotated[str, Form()] = "",
) -> Response:
    typed = {
        "text": text,
        "area": area,
        "owner_team": owner_team,
        "expected_per_day": expected_per_day,
        "status": status,
        "fix_shipped_at": fix_shipped_at,
        "fix_url": fix_url,
    }
    launch = launches.get_for_update(session, slug)
    expected = _version(version)
    # The fix time was shown, and typed, in the zone the row was made in: the launch's then, which a
    # lead may have changed since (another lead, or this one in the launch form above the rows).
    shown_in = _zone_or(zone, launch.timezone)
    values, conflicts = typed, None
    kept: list[str] = []
    try:
        hypotheses = launches.hypotheses_of(session, launch)
        stored = next((h for h in hypotheses if h.key == key), None)
        if stored is None:
            raise Invalid(
                Text(N_("Launch {slug} has no hypothesis {key}."), slug=repr(slug), key=repr(key)), field="key"
            )
        # ↑/↓ without JavaScript: a move from a page that showed another order is refused, whole (none
        # from an older page or a script: no check, as with versions).
        current_order = [h.key for h in hypotheses]
        if move in ("up", "down") and order and order != order_fingerprint(current_order):
            raise _stale_order(hypotheses)
        base = _original(original)
        if expected != stored.version and base is not None:
            values, clashing, kept = merge(typed, base, row_values(stored, shown_in))
            conflicts = frozenset(clashing)
            if not conflicts:
                expected = stored.version  # nothing of another lead's is undone: save the merged values
        elif expected != stored.version and seen and seen == fingerprint(row_values(stored, shown_in)):
            expected = stored.version  # moved in the list since, and nothing else: nothing to overwrite
        changes: dict[str, Any] = {
            "text": values["text"].strip(),  # as in add_hypothesis: a blank text must not pass
            "status": values["status"],
            "area": values["area"],
            "owner_team": values["owner_team"],
            "expected_per_day": values["expected_per_day"] or None,
            "fix_url": values["fix_url"].strip(),
        }
        # Sent back as the row showed it, the stored time stands: the field has no seconds, and in
        # the night clocks go back 02:30 is two moments, of which the form can only name the first.
        shipped = values["fix_shipped_at"].strip()
        if shipped and shipped != row_values(stored, shown_in)["fix_shipped_at"]:
            changes["fix_shipped_at"] = _local_time(shipped, shown_in, field="fix_shipped_at")
        hypothesis_sets.update_hypothesis(
            session,
            launch,
            key,
            changes,
            expected_version=expected,
            actor=viewer.user.username,
            now=now,
            default_timezone=settings.timezone,
            default_digest_times=settings.digest_times,
        )
        if move in ("up", "down"):  # the buttons without JavaScript: save the row, then move it

            def change(data: dict[str, Any]) -> dict[str, Any]:
                items = list(data["hypotheses"])
                index = next(i for i, item in enumerate(items) if item["key"] == key)
                target = index - 1 if move == "up" else index + 1
                if 0 <= target < len(items):
                    items.insert(target, items.pop(index))
                return data | {"hypotheses": items}

            _apply_change(session, viewer, settings, now, slug, change)
    except TallyError as error:
        session.rollback()
        launch = launches.get_by_slug(session, slug)
        found = next((h for h in launches.hypotheses_of(session, launch) if h.key == key), None)
        stale = isinstance(error, hypothesis_sets.StaleVersion) and found is not None
        # In the zone the row was shown and typed in (its hidden ``zone``), not the launch's now: else
        # "Now:" and "Take the current values" gave the stored time in another zone's clock, which the
        # next save read in the row's, moving the fix by the difference.
        current = row_values(found, shown_in) if stale and found is not None else None
        state = RowState(values, current=current, error=error, zone=shown_in, conflicts=conflicts if stale else None)
        if htmx and found is not None:
            return _row(request, viewer, session, launch, key, state=state, status_code=error.status_code)
        if htmx:
            raise
        return _editor(request, viewer, session, launch, error=error, status_code=error.status_code, rows={key: state})
    session.commit()
    if htmx and move:  # editor.js moves rows itself; a moved row's form sent by htmx reloads the editor
        return Response(status_code=204, headers={"HX-Redirect": f"/launches/{slug}/edit"})
    if htmx:
        return _row(request, viewer, session, launches.get_by_slug(session, slug), key, kept=kept)
    return _edited(slug, key if kept else None, kept)
