"""The Digests page: leads see every run, preview, send now, send a dry run once Slack is set up."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import select

from app import digests
from app.db import Database
from app.main import create_app
from app.models import DigestRun, DigestStatus, Launch, User
from app.slack.client import sender_from
from tests.conftest import DIGEST_SETTLE, People, WebUser, make_settings
from tests.factories import log, make_launch
from tests.fakes.slack_server import FakeSlack, Reply

TOKEN = "xoxb-test-token"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack().running() as fake:
        yield fake


@pytest.fixture
def slack_app(database_url: str, db: Database, slack: FakeSlack) -> Iterator[Any]:
    settings = make_settings(database_url, slack_bot_token=TOKEN, slack_api_url=slack.api_url)
    app = create_app(settings, db=db)
    with TestClient(app):
        yield app


def dry_run_at_nine(db: Database) -> None:
    """The 09:00 digest of 18 November, composed without Slack: a dry run a lead can send later."""
    digests.run_due(
        db,
        settings=make_settings(db.url),
        now=dt.datetime(2026, 11, 18, 8, 0, tzinfo=dt.UTC) + DIGEST_SETTLE,
        sender=None,
    )


@pytest.fixture
def launch(db: Database) -> Launch:
    return make_launch(db, slack_channel="#launch", name="Launch <b>bold</b>")


def test_leads_see_runs_with_status_preview_and_errors(db: Database, people: People, launch: Launch, web: Any) -> None:
    log(db, launch, at=dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC), note="<script>x</script> & co")
    settings = make_settings(db.url)
    digests.run_due(
        db, settings=settings, now=dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC) + DIGEST_SETTLE, sender=None
    )
    page = web("lena").get(f"/launches/{launch.slug}/digests")
    assert page.status_code == 200
    assert "dry run" in page.text and "missed" in page.text
    # The missed 09:00 counted nothing: no window "09:00 – 09:00" is shown for it.
    missed = next(row for row in page.text.split("<tr>") if "status-missed" in row)
    dash = '<span aria-hidden="true">–</span><span class="visually-hidden">none: not composed</span>'
    assert f'<td class="small">{dash}</td>' in missed
    assert "Slack is not configured" in page.text
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in page.text and "<script>x" not in page.text
    assert "Launch &lt;b&gt;bold&lt;/b&gt;" in page.text
    assert "Send to Slack" not in page.text  # nothing to send with


def test_agents_cannot_see_digests(people: People, launch: Launch, web: Any) -> None:
    assert web("kari").get(f"/launches/{launch.slug}/digests").status_code == 403


def test_preview_fragment(people: People, launch: Launch, web: Any) -> None:
    response = web("lena").get(f"/launches/{launch.slug}/digests/preview", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "If it were sent now" in response.text and "<html" not in response.text


def test_the_preview_is_in_the_slack_language_and_the_page_in_the_readers(
    database_url: str, db: Database, people: People, launch: Launch
) -> None:
    app = create_app(make_settings(database_url, slack_language="nb"), db=db)
    with TestClient(app):
        response = WebUser(app).login("lena").client.get(f"/launches/{launch.slug}/digests/preview")
    assert response.status_code == 200
    assert "If it were sent now" in response.text  # the page: English, the reader's language
    assert 'in the language of Slack messages: <span lang="nb">Norsk (bokmål)</span>' in response.text, (
        "and it says why the digest is not"
    )
    assert "i denne perioden" in response.text and "siden lansering" in response.text  # what Slack would get
    assert "in this window" not in response.text
    # Marked as Norwegian inside the English page, or a screen reader reads it with English sounds.
    assert '<html lang="en">' in response.text
    assert "<div class='digest-preview' lang='nb'>" in response.text
    assert '<pre class="small" lang="nb">' in response.text


def test_a_stored_digest_is_marked_with_the_slack_language(
    database_url: str, db: Database, people: People, launch: Launch
) -> None:
    log(db, launch, at=dt.datetime(2026, 11, 18, 7, 30, tzinfo=dt.UTC))
    settings = make_settings(database_url, slack_language="nb")
    digests.run_due(
        db, settings=settings, now=dt.datetime(2026, 11, 18, 8, 0, tzinfo=dt.UTC) + DIGEST_SETTLE, sender=None
    )
    # Read after the setting went back to English: the digest is still Norwegian (it was marked with the
    # setting of the moment). One stored before the language was kept is left unmarked.
    with db.transaction() as session:
        old = DigestRun(
            launch_id=launch.id or 0,
            slot_key="stored-before-0025",
            slot_at=dt.datetime(2026, 11, 17, 8, 0, tzinfo=dt.UTC),
            window_start=dt.datetime(2026, 11, 17, 7, 0, tzinfo=dt.UTC),
            window_end=dt.datetime(2026, 11, 17, 8, 0, tzinfo=dt.UTC),
            status=DigestStatus.DRY_RUN,
            text="Old",
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Old digest"}}],
        )
        session.add(old)
    app = create_app(make_settings(database_url, slack_language="en"), db=db)
    with TestClient(app):
        page = WebUser(app).login("lena").client.get(f"/launches/{launch.slug}/digests")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert "<div class='digest-preview' lang='nb'>" in page.text
    assert "<div class='digest-preview'><p>Old digest</p></div>" in page.text


def test_send_now_and_send_a_dry_run_once_slack_is_configured(
    db: Database, people: People, launch: Launch, slack: FakeSlack, slack_app: Any
) -> None:
    dry_run_at_nine(db)
    lena = WebUser(slack_app).login("lena")
    page = lena.get(f"/launches/{launch.slug}/digests")
    assert "Send to Slack" in page.text and "Send now" in page.text
    [dry] = [r for r in digests_of(db, launch) if r.status.value == "dry_run"]
    response = lena.post(f"/digests/{dry.id}/send")
    assert response.status_code == 303
    assert len(slack.posts("#launch")) == 1
    response = lena.post(f"/launches/{launch.slug}/digests/send")
    assert response.status_code == 303
    assert len(slack.posts("#launch")) == 2
    assert {r.status.value for r in digests_of(db, launch)} >= {"late", "sent"}


def test_send_now_under_a_rate_limit_answers_at_once_and_leaves_the_rest_to_the_scheduler(
    db: Database, people: People, launch: Launch, slack: FakeSlack, slack_app: Any
) -> None:
    """Slack's Retry-After was waited out inside the request, three times by slack-sdk and between the
    pass's tries: with Retry-After 30, one press of Send now took 330 s (a proxy's 504, and a second
    press sent a second digest)."""
    slack.add_channel("#launch")
    limited = Reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "3"})
    slack.queue("chat.postMessage", *[limited] * 12)
    lena = WebUser(slack_app).login("lena")
    assert lena.post(f"/launches/{launch.slug}/digests/send").status_code == 303
    assert len(slack.attempts()) == 1, "one try, no waiting"
    [waiting] = digests_of(db, launch)
    assert waiting.status.value == "retrying" and waiting.next_attempt_at is not None


def test_send_now_again_while_the_one_before_may_be_in_slack_posts_nothing_and_says_why(
    db: Database, people: People, launch: Launch, slack: FakeSlack, slack_app: Any
) -> None:
    """Slack stored the digest sent by hand but answered 500, and the look in the channel failed too:
    the page said "will retry", the lead pressed Send now again, and the channel had it twice."""
    slack.add_channel("#launch")
    slack.queue("chat.postMessage", Reply(500, {"ok": False, "error": "internal_error"}, store=True))
    slack.queue("conversations.history", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 2)
    settings = make_settings(db.url, slack_bot_token=TOKEN, slack_api_url=slack.api_url)
    pressed = dt.datetime(2026, 11, 19, 9, 30, tzinfo=dt.UTC)
    with time_machine.travel(pressed, tick=False):
        first = digests.send_now(
            db,
            launch,
            settings=settings,
            now=pressed,
            sender=sender_from(settings, rate_limit_retries=0),
            sleep=lambda s: None,
            max_pause=digests.BY_HAND_MAX_PAUSE,
        )
        assert first.status.value == "retrying" and len(slack.posts("#launch")) == 1
        lena = WebUser(slack_app).login("lena")
        refused = lena.post(f"/launches/{launch.slug}/digests/send")
    assert refused.status_code == 409
    assert "may already be in Slack, and Slack could not be checked just now" in html.unescape(refused.text)
    assert len(slack.posts("#launch")) == 1
    with time_machine.travel(pressed + dt.timedelta(minutes=1), tick=False):
        assert lena.post(f"/launches/{launch.slug}/digests/send").status_code == 303  # Slack can be read again
    assert len(slack.posts("#launch")) == 1
    assert [(r.id, r.status.value) for r in digests_of(db, launch)] == [(first.id, "sent")]


def digests_of(db: Database, launch: Launch) -> list[Any]:
    with db.session() as session:
        return list(digests.recent_runs(session, launch))


def test_a_failed_digest_shows_leads_what_went_wrong_and_what_to_do(
    db: Database, people: People, launch: Launch, slack: FakeSlack, slack_app: Any
) -> None:
    slack.add_channel("#launch")
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "not_in_channel"}))
    settings = make_settings(db.url, slack_bot_token=TOKEN, slack_api_url=slack.api_url)
    sender = sender_from(settings)
    digests.run_due(
        db, settings=settings, now=dt.datetime(2026, 11, 18, 8, 0, tzinfo=dt.UTC) + DIGEST_SETTLE, sender=sender
    )
    [failed] = [r for r in digests_of(db, launch) if r.status.value == "failed"]
    page = WebUser(slack_app).login("lena").get(f"/launches/{launch.slug}/digests")
    assert page.status_code == 200
    assert "failed" in page.text
    assert html.escape(failed.error or "", quote=False) in page.text and "invite" in (failed.error or "").lower()
    # A lead reading Norwegian reads it in Norwegian (it is stored, and logged, in English).
    with db.transaction() as session:
        lena = session.exec(select(User).where(User.username == "lena")).one()
        lena.language = "nb"
    page = WebUser(slack_app).login("lena").get(f"/launches/{launch.slug}/digests")
    assert "Appen er ikke med i #launch: inviter den dit (/invite @Launch Tally i kanalen)." in page.text
    assert "The app is not in" not in page.text


def test_a_webhook_post_names_its_channel_in_the_readers_language(
    database_url: str, db: Database, people: People, launch: Launch, slack: FakeSlack
) -> None:
    """It was stored in English and shown as it was: "the webhook's channel" on a Norwegian page."""
    settings = make_settings(database_url, slack_webhook_url=slack.webhook_url)
    app = create_app(settings, db=db)
    with TestClient(app):
        digests.run_due(
            db, settings=settings, now=dt.datetime(2026, 11, 18, 8, 0, tzinfo=dt.UTC) + DIGEST_SETTLE, sender=None
        )
        [dry] = [r for r in digests_of(db, launch) if r.status.value == "dry_run"]
        lena = WebUser(app).login("lena")
        assert lena.post(f"/digests/{dry.id}/send").status_code == 303
        [sent] = [r for r in digests_of(db, launch) if r.id == dry.id]
        assert sent.status.value == "late" and sent.channel is None and len(slack.webhook_messages) == 1
        assert "· the webhook's channel" in html.unescape(lena.get(f"/launches/{launch.slug}/digests").text)
        with db.transaction() as session:
            session.exec(select(User).where(User.username == "lena")).one().language = "nb"
        for stored in (None, "the webhook's channel"):  # as it is stored now, and as it was stored before
            with db.transaction() as session:
                row = session.get(DigestRun, sent.id)
                assert row is not None
                row.channel = stored
            page = html.unescape(WebUser(app).login("lena").get(f"/launches/{launch.slug}/digests").text)
            assert "· webhookens kanal" in page and "webhook's channel" not in page


def test_a_launch_that_has_not_started_has_no_digest_to_preview_or_send(
    db: Database, people: People, slack: FakeSlack, slack_app: Any
) -> None:
    """Its window would start after it ended: a 500, and Send now left a pending run behind that every
    later pass of the scheduler tried again and failed on."""
    future = make_launch(db, slug="next-year", starts_on=dt.date(2099, 1, 4), ends_on=dt.date(2099, 1, 24))
    lena = WebUser(slack_app).login("lena")
    preview = lena.get(f"/launches/{future.slug}/digests/preview", headers={"HX-Request": "true"})
    assert preview.status_code == 409 and "starts on 2099-01-04" in html.unescape(preview.text)
    sent = lena.post(f"/launches/{future.slug}/digests/send")
    assert sent.status_code == 409
    assert digests_of(db, future) == [] and slack.posts("#launch") == []


def test_send_to_slack_on_a_digest_before_the_launchs_new_start_says_why_not(
    db: Database, people: People, launch: Launch, slack: FakeSlack, slack_app: Any
) -> None:
    """A dry run composed before the lead put the release off a week: Send to Slack answered 500."""
    dry_run_at_nine(db)
    [dry] = [r for r in digests_of(db, launch) if r.status.value == "dry_run"]
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.starts_on += dt.timedelta(days=7)
        stored.ends_on += dt.timedelta(days=7)
    lena = WebUser(slack_app).login("lena")
    page = lena.get(f"/launches/{launch.slug}/digests").text
    assert f'action="/digests/{dry.id}/send"' not in page, "a button that can only answer why not"
    assert "Outside the launch's dates since they were changed: move them back to send it." in html.unescape(page)
    response = lena.post(f"/digests/{dry.id}/send")
    assert response.status_code == 409
    shown = html.unescape(response.text)
    assert "outside the launch's dates since they were changed" in shown and "Use Send now" in shown
    assert slack.posts("#launch") == [] and {r.id: r.status.value for r in digests_of(db, launch)}[dry.id] == "dry_run"


def test_the_next_digest_is_named_until_it_is_composed(db: Database, people: People, launch: Launch, web: Any) -> None:
    """At 13:00:10 the pages said the next digest was 16:00's, while 13:00's was still to come: it is
    composed once what was received before 13:00 has been committed (digests.settle)."""
    thirteen = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)
    for moment, expected in ((thirteen + dt.timedelta(seconds=10), "13:00"), (thirteen + DIGEST_SETTLE, "16:00")):
        with time_machine.travel(moment, tick=False):
            lena = web("lena")
            digests_page = lena.get(f"/launches/{launch.slug}/digests").text
            launch_page = lena.get(f"/launches/{launch.slug}").text
        assert f"Next: 18 Nov 2026, {expected}." in html.unescape(digests_page)
        assert f"Next digest: 18 Nov 2026, {expected}" in html.unescape(launch_page)


def test_the_page_a_digest_sent_by_hand_links_to_compares_as_the_digest_did(
    db: Database, people: People, slack: FakeSlack, slack_app: Any
) -> None:
    """Send now at 11:20 compares 09:00-11:20 with the 09:00 digest's window, 00:00-09:00 ("=": two and
    two). Its link opened the page compared with the 2 h 20 min before 09:00 (one: "+1"), so the numbers
    a lead clicked through to disagreed with the digest's."""
    slack.add_channel("#launch")
    launch = make_launch(db, slack_channel="#launch", hypotheses=("send",), starts_on=dt.date(2026, 11, 18))
    oslo = dt.timezone(dt.timedelta(hours=1))
    for hour in (3, 7, 10, 11):
        log(db, launch, "send", at=dt.datetime(2026, 11, 18, hour, tzinfo=oslo))
    settings = make_settings(db.url)
    nine = dt.datetime(2026, 11, 18, 9, tzinfo=oslo)
    digests.run_due(db, settings=settings, now=nine + DIGEST_SETTLE, sender=None)
    # Sent when the button was pressed, to the microsecond, which its link carries.
    with time_machine.travel(dt.datetime(2026, 11, 18, 11, 20, 13, 736928, tzinfo=oslo), tick=False):
        lena = WebUser(slack_app).login("lena")
        assert lena.post(f"/launches/{launch.slug}/digests/send").status_code == 303
        [posted] = slack.posts("#launch")
        totals = posted["blocks"][2]["text"]["text"]
        assert totals.startswith("*2* in this window (= on the one before)"), totals
        link_section = posted["blocks"][-1]["text"]["text"]
        [link] = re.findall(r"<http://testserver(/launches/test-launch\?[^|>]+)\|", link_section)
        page = html.unescape(lena.get(link.replace("&amp;", "&")).text)
    before = re.search(r"in the period before</span> <span class=\"muted small period\">([^<]+)<", page)
    assert before and before.group(1) == "18 Nov 2026, 00:00 – 18 Nov 2026, 09:00", before


def test_the_page_a_preview_links_to_compares_as_the_preview_did(
    db: Database, people: People, slack: FakeSlack, slack_app: Any
) -> None:
    """Preview now at 11:20 compares 09:00-11:20 with the 09:00 digest's window, as Send now does. Its
    link carried that window, which no stored digest has: the page compared it with as long a time
    before (07:00-09:00 here), and the arrows disagreed with the preview's."""
    launch = make_launch(db, slack_channel="#launch", hypotheses=("send",), starts_on=dt.date(2026, 11, 18))
    oslo = dt.timezone(dt.timedelta(hours=1))
    for hour in (3, 7, 10, 11):
        log(db, launch, "send", at=dt.datetime(2026, 11, 18, hour, tzinfo=oslo))
    nine = dt.datetime(2026, 11, 18, 9, tzinfo=oslo)
    digests.run_due(db, settings=make_settings(db.url), now=nine + DIGEST_SETTLE, sender=None)
    with time_machine.travel(dt.datetime(2026, 11, 18, 11, 20, 13, 736928, tzinfo=oslo), tick=False):
        lena = WebUser(slack_app).login("lena")
        preview = html.unescape(lena.get(f"/launches/{launch.slug}/digests/preview").text)
        assert "<strong>2</strong> in this window (= on the one before)" in preview
        [link] = re.findall(r'href="http://testserver(/launches/test-launch\?[^"]+)"', preview)
        page = html.unescape(lena.get(link).text)
    before = re.search(r"in the period before</span> <span class=\"muted small period\">([^<]+)<", page)
    assert before and before.group(1) == "18 Nov 2026, 00:00 – 18 Nov 2026, 09:00", before


def test_a_digest_sent_on_a_later_day_than_its_slot_says_which_day(
    db: Database, people: People, launch: Launch, slack: FakeSlack, slack_app: Any
) -> None:
    """The 09:00 dry run of 18 November, sent once Slack was set up on the 20th, showed "sent late 10:15":
    read beside its slot, as sent that morning."""
    slack.add_channel("#launch")
    dry_run_at_nine(db)
    [dry] = [r for r in digests_of(db, launch) if r.status.value == "dry_run"]
    with time_machine.travel(dt.datetime(2026, 11, 20, 9, 15, tzinfo=dt.UTC), tick=False):
        lena = WebUser(slack_app).login("lena")
        assert lena.post(f"/digests/{dry.id}/send").status_code == 303
        page = html.unescape(lena.get(f"/launches/{launch.slug}/digests").text)
    assert "20 Nov 2026, 10:15 · C" in page, page
    # Sent on its own day, the time is enough.
    with time_machine.travel(dt.datetime(2026, 11, 20, 11, 30, tzinfo=dt.UTC), tick=False):
        assert lena.post(f"/launches/{launch.slug}/digests/send").status_code == 303
        page = html.unescape(lena.get(f"/launches/{launch.slug}/digests").text)
    assert '<span class="small muted">12:30 · C' in page


def test_each_waiting_digests_send_button_is_named_after_its_slot(
    db: Database, people: People, launch: Launch, slack: FakeSlack, slack_app: Any
) -> None:
    """Every dry run's button read "Send to Slack" alike to a screen reader, as the users' and tokens'
    rows did before they were named after their row."""
    for hour in (8, 12):  # the 09:00 and 13:00 digests of 18 November (Oslo), composed without Slack
        digests.run_due(
            db,
            settings=make_settings(db.url),
            now=dt.datetime(2026, 11, 18, hour, 0, tzinfo=dt.UTC) + DIGEST_SETTLE,
            sender=None,
        )
    lena = WebUser(slack_app).login("lena")
    page = lena.get(f"/launches/{launch.slug}/digests")
    names = re.findall(
        r'<button type="submit" class="small">Send to Slack<span class="visually-hidden"> \(([^)]*)\)', page.text
    )
    assert names == ["18 Nov 2026, 13:00", "18 Nov 2026, 09:00"], page.text[-3000:]
