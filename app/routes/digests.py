"""The Digests page (leads): every run with its status, its preview and its error; preview and send now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app import digests, i18n, launches
from app.config import Settings
from app.deps import DatabaseDep, IsHtmx, Now, RequireLead, RowId, SessionDep, SettingsDep
from app.errors import NotFound
from app.insight import alerts
from app.models import DigestRun, Launch, LaunchStatus
from app.slack.client import Sender, sender_from
from app.slack.preview import to_html
from app.web import render

router = APIRouter()


def by_hand(settings: Settings) -> Sender | None:
    return sender_from(settings, rate_limit_retries=0)


def _slack_mode(settings: SettingsDep) -> str:
    if settings.slack_bot_token is not None:
        return "bot"
    if settings.slack_webhook_url is not None:
        return "webhook"
    return "none"


@router.get("/launches/{slug}/digests")
def page(
    request: Request, slug: str, viewer: RequireLead, session: SessionDep, settings: SettingsDep, now: Now
) -> Response:
    launch = launches.get_by_slug(session, slug)
    runs = digests.recent_runs(session, launch)
    return render(
        request,
        "digests/page.html",
        viewer=viewer,
        launch=launch,
        runs=runs,
        # Marked with the language each was composed in (unmarked when stored before that was kept).
        previews={r.id: to_html(r.blocks, r.language) for r in runs},
        # Send to Slack on these only answered why not (409): their windows lie outside the dates now.
        outside={r.id for r in runs if digests.outside_dates(r, launch) is not None},
        slack=_slack_mode(settings),
        next_slot=digests.next_due(launch, now, settings) if launch.status == LaunchStatus.LIVE else None,
        alerts=alerts.listing(session, launch),
    )


@router.get("/launches/{slug}/digests/preview")
def preview(
    request: Request,
    slug: str,
    viewer: RequireLead,
    session: SessionDep,
    db: DatabaseDep,
    settings: SettingsDep,
    now: Now,
    htmx: IsHtmx,
) -> Response:
    launch = launches.get_by_slug(session, slug)
    # As Slack will get it, in its language, whatever the page's.
    text, blocks = digests.preview_message(db, launch, settings=settings, now=now)
    template = "digests/_preview.html" if htmx else "digests/preview.html"
    return render(
        request,
        template,
        viewer=viewer,
        launch=launch,
        html=to_html(blocks, settings.message_language),
        text=text,
        slack_language=i18n.LANGUAGES[settings.message_language],
        slack_language_code=settings.message_language,
    )


@router.post("/launches/{slug}/digests/send")
def send_now(
    slug: str, viewer: RequireLead, session: SessionDep, db: DatabaseDep, settings: SettingsDep, now: Now
) -> Response:
    launch = launches.get_by_slug(session, slug)
    session.close()  # sending can take seconds; hold no connection meanwhile
    digests.send_now(
        db, launch, settings=settings, now=now, sender=by_hand(settings), max_pause=digests.BY_HAND_MAX_PAUSE
    )
    return RedirectResponse(f"/launches/{slug}/digests", status_code=303)


@router.post("/digests/{run_id}/send")
def send_again(
    run_id: RowId, viewer: RequireLead, session: SessionDep, db: DatabaseDep, settings: SettingsDep, now: Now
) -> Response:
    run = session.get(DigestRun, run_id)
    launch = session.get(Launch, run.launch_id) if run else None
    if run is None or launch is None:
        raise NotFound(f"No digest run {run_id}.")
    session.close()
    digests.send_again(
        db, run_id, settings=settings, now=now, sender=by_hand(settings), max_pause=digests.BY_HAND_MAX_PAUSE
    )
    return RedirectResponse(f"/launches/{launch.slug}/digests", status_code=303)
