"""Note retention: notes older than TALLY_NOTE_RETENTION_DAYS are erased, and every count stays.

The clock is Friday 20 November 2026, 12:00 in Oslo (11:00 UTC), day 5 of a launch that began on
Monday. Monday's enquiries carry old notes, Thursday's and Friday's recent ones; notes are kept
three days, so the cut-off is Tuesday 11:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from fastapi.testclient import TestClient

from app import api_tokens, audit, digests, privacy, retention
from app.config import ConfigError, Settings, load_settings
from app.db import Database
from app.insight import relink, themes
from app.jobs.scheduler import RETENTION_JOB, SCRUB_JOB, DigestScheduler
from app.main import create_app
from app.models import AuditEvent, DigestRun, Enquiry, EnquiryHypothesis, Launch, TokenRole
from app.observability import metrics
from tests.conftest import People, WebUser, make_settings
from tests.factories import fresh, log, make_launch
from tests.test_cli_newcomers import shown, tally
from tests.test_launch_page import counts, totals
from tests.test_metrics import parse, value

Web = Callable[[str | None], WebUser]
SLUG = "test-launch"
NOW = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
MONDAY = dt.datetime(2026, 11, 16, 8, 0, tzinfo=dt.UTC)
DAYS = 3

OLD_OTHER = ["widget vanished from the home screen", "widget gone after the update", "widget missing today"]
OLD_LINKED = "asked about the fee while at it"
RECENT_OTHER = ["statement download fails", "statement download broken", "statement download shows nothing"]


@pytest.fixture
def launch(db: Database) -> Launch:
    launch = make_launch(db, slug=SLUG, hypotheses=("a", "b"))
    for i, note in enumerate(OLD_OTHER):
        log(db, launch, at=MONDAY + dt.timedelta(minutes=10 * i), note=note)
    log(db, launch, "a", at=MONDAY + dt.timedelta(hours=1), note=OLD_LINKED)
    log(db, launch, "a", "b", at=MONDAY + dt.timedelta(hours=2))
    for day in range(1, 3):  # Tuesday and Wednesday: background, so the recent themes have a "before"
        for i in range(3):
            log(db, launch, "b", at=MONDAY + dt.timedelta(days=day, hours=4 + i), note="fee question")
    for i, note in enumerate(RECENT_OTHER):
        log(db, launch, at=NOW - dt.timedelta(hours=3 - i), note=note)
    log(db, launch, "b", at=NOW - dt.timedelta(hours=5), note="recent fee question")
    return launch


@pytest.fixture
def at_now() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_notes(db: Database) -> dict[int, str | None]:
    with db.session() as session:
        return {int(i): note for i, note in session.execute(sa.select(Enquiry.id, Enquiry.note))}  # type: ignore[call-overload]


def row_counts(db: Database) -> tuple[int, int]:
    with db.session() as session:
        enquiries = session.execute(sa.select(sa.func.count()).select_from(Enquiry)).scalar_one()
        links = session.execute(sa.select(sa.func.count()).select_from(EnquiryHypothesis)).scalar_one()
    return enquiries, links


def everything_counted(client: TestClient, token: str, kari: WebUser) -> dict[str, Any]:
    """The counts as the API and the launch page give them, for the whole launch and day by day."""
    whole = {"start": "2026-11-16T00:00:00+01:00", "end": NOW.isoformat()}
    api = client.get(f"/api/v1/launches/{SLUG}/tally", params=whole, headers=auth(token))
    series = client.get(f"/api/v1/launches/{SLUG}/series", headers=auth(token))
    assert api.status_code == 200 and series.status_code == 200, (api.text, series.text)
    page = kari.get(f"/launches/{SLUG}?range=launch").text
    monday = kari.get(f"/launches/{SLUG}?from=2026-11-16&to=2026-11-16").text
    return {
        "api": api.json(),
        "series": series.json(),
        "page": (counts(page), totals(page)),
        "monday": (counts(monday), totals(monday)),
    }


def test_old_notes_are_erased_and_every_count_stays(
    at_now: None, db: Database, launch: Launch, client: TestClient, token: str, web: Web, people: People
) -> None:
    kari = web("kari")
    before = everything_counted(client, token, kari)
    rows_before = row_counts(db)
    version = fresh(db, launch).counts_version

    purged = retention.purge_notes(db, days=DAYS, now=NOW)

    assert purged.cutoff == NOW - dt.timedelta(days=DAYS)
    assert purged.notes == len(OLD_OTHER) + 1
    notes = set(stored_notes(db).values())
    assert not notes & {*OLD_OTHER, OLD_LINKED}
    assert {*RECENT_OTHER, "recent fee question", "fee question"} <= notes  # Tuesday's are after the cut-off
    assert row_counts(db) == rows_before
    assert everything_counted(client, token, kari) == before
    assert fresh(db, launch).counts_version == version + 1  # so every process recounts the themes' days

    again = retention.purge_notes(db, days=DAYS, now=NOW)
    assert (again.notes, again.digests) == (0, 0)
    assert fresh(db, launch).counts_version == version + 1  # nothing erased, nothing raised


def test_the_notes_and_themes_pages_no_longer_show_erased_text(
    at_now: None, db: Database, launch: Launch, web: Web, people: People
) -> None:
    kari = web("kari")
    whole = f"/launches/{SLUG}/other?range=launch"
    monday = f"/launches/{SLUG}/other?from=2026-11-16&to=2026-11-16"
    assert OLD_OTHER[0] in kari.get(whole).text and OLD_OTHER[0] in kari.get(monday).text
    retention.purge_notes(db, days=DAYS, now=NOW)
    for url in (whole, monday, f"/launches/{SLUG}/other", f"/launches/{SLUG}?range=launch"):
        page = kari.get(url)
        assert page.status_code == 200
        assert not [note for note in OLD_OTHER if note in page.text], url
    assert RECENT_OTHER[0] in kari.get(whole).text


def test_kept_theme_counts_forget_erased_notes(
    at_now: None, db: Database, launch: Launch, client: TestClient, token: str
) -> None:
    """The themes keep phrase counts of closed days in each process, by counts version: a process
    that counted Monday before the purge counts it again, without the erased notes."""
    url = f"/api/v1/launches/{SLUG}/surprises"
    warm = client.get(url, headers=auth(token)).json()  # Monday to Wednesday counted and kept
    retention.purge_notes(db, days=DAYS, now=NOW)
    after = client.get(url, headers=auth(token)).json()
    assert warm["before_total"] - after["before_total"] == len(OLD_OTHER)
    cold = Database(db.url)  # another replica, counting from scratch
    try:
        with cold.session() as session:
            found = themes.surprises(session, fresh(cold, launch), now=NOW)
    finally:
        cold.dispose()
    assert found.before_total == after["before_total"]


def test_stored_digests_lose_the_notes_they_quoted(
    at_now: None, db: Database, launch: Launch, settings: Settings, web: Web, people: People
) -> None:
    # Monday's 13:00 digest, composed when it was due (a dry run: no Slack), quotes Monday's notes.
    runs = digests.run_due(db, settings=settings, now=dt.datetime(2026, 11, 16, 12, 5, tzinfo=dt.UTC), sender=None)
    [run] = [r for r in runs if r.blocks]  # the 09:00 slot is recorded as missed, with nothing composed
    page = f"/launches/{SLUG}/digests"
    lena = web("lena")
    assert OLD_OTHER[0] in str(run.blocks) and OLD_OTHER[0] in lena.get(page).text

    purged = retention.purge_notes(db, days=DAYS, now=NOW)

    assert purged.digests == 1
    with db.session() as session:
        stored = session.get(DigestRun, run.id)
        assert stored is not None
    assert not [note for note in OLD_OTHER if note in str(stored.blocks) + stored.text]
    assert "*Other* (not on the list)" in str(stored.blocks)  # the count stays, only the quotes go
    shown = lena.get(page)
    assert shown.status_code == 200 and OLD_OTHER[0] not in shown.text
    with db.session() as session:
        details = [str(e.detail) for e in session.execute(sa.select(AuditEvent)).scalars()]
    assert not [d for d in details if any(note in d for note in OLD_OTHER)]  # the audit trail holds none


def test_digest_blocks_lose_only_quoted_lines() -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Other*: *2*\n> a note\n> another"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "a &gt; b stays"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "By channel: phone 2"}]},
    ]
    assert retention.without_quotes(blocks) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Other*: *2*"}},
        blocks[1],
        blocks[2],
    ]


def test_digest_blocks_lose_their_rich_text_quotes() -> None:
    """Digests quote notes as rich text (app/slack/blocks.py): the quotes go, and the block that held
    only them; other rich text, if ever there, stays."""
    quote = {"type": "rich_text_quote", "elements": [{"type": "text", "text": "a note"}]}
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": "not a note"}]}
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Other*: *2*"}},
        {"type": "rich_text", "elements": [quote, dict(quote)]},
        {"type": "rich_text", "elements": [quote, section]},
    ]
    assert retention.without_quotes(blocks) == [blocks[0], {"type": "rich_text", "elements": [section]}]


def test_the_daily_job_erases_as_the_function_does(db: Database, launch: Launch, database_url: str) -> None:
    scheduler = DigestScheduler(db, make_settings(database_url, note_retention_days=DAYS))
    with time_machine.travel(NOW, tick=False):
        scheduler.purge_notes()
    assert not set(stored_notes(db).values()) & {*OLD_OTHER, OLD_LINKED}
    keeping = DigestScheduler(db, make_settings(database_url))
    with time_machine.travel(NOW + dt.timedelta(days=30), tick=False):
        keeping.purge_notes()  # unset: notes are kept
    assert set(RECENT_OTHER) <= set(stored_notes(db).values())


def test_the_scheduler_erases_at_start_too_and_says_when_it_did(
    db: Database, launch: Launch, database_url: str, request: pytest.FixtureRequest
) -> None:
    """A scheduler that was not running at 02:30 (nor in the grace time after it) kept notes past the
    retention for another day, with no sign of it."""
    scheduler = DigestScheduler(db, make_settings(database_url, note_retention_days=DAYS))
    purged = threading.Event()

    def ran(event: JobExecutionEvent) -> None:
        if event.job_id == RETENTION_JOB:
            purged.set()

    scheduler.scheduler.add_listener(ran, EVENT_JOB_EXECUTED)
    with time_machine.travel(NOW, tick=True):  # noon: long after the daily run
        scheduler.start()
        request.addfinalizer(scheduler.shutdown)
        assert purged.wait(15), "no purge at start"
    assert not set(stored_notes(db).values()) & {*OLD_OTHER, OLD_LINKED}
    gauge = value(parse(metrics.exposition().decode()), "tally_scheduler_last_pass_timestamp_seconds", job="retention")
    assert NOW.timestamp() <= gauge < (NOW + dt.timedelta(minutes=1)).timestamp()


# --- the setting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-3", "thirty", "1.5", "", " "])
def test_a_bad_retention_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="TALLY_NOTE_RETENTION_DAYS: expected a whole number of days"):
        load_settings(_env_file=None, note_retention_days=value)


def test_the_retention_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALLY_NOTE_RETENTION_DAYS", "90")
    assert load_settings(_env_file=None).note_retention_days == 90
    monkeypatch.delenv("TALLY_NOTE_RETENTION_DAYS")
    assert load_settings(_env_file=None).note_retention_days is None


# --- the command ------------------------------------------------------------------------------------


def test_the_command_on_a_fresh_database(tmp_path: Path) -> None:
    (tmp_path / "tally.db").touch()  # just made, still empty
    env = {"TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'tally.db'}", "TALLY_NOTE_RETENTION_DAYS": "30"}
    result = tally("notes", "purge", "--now", "2026-12-01T12:00:00+01:00", env=env)
    assert result.returncode == 0, result.stderr
    assert "Erased 0 notes of enquiries before 2026-11-01 11:00 UTC (30 days)" in result.stdout
    refused = tally("notes", "purge", env={"TALLY_DATABASE_URL": env["TALLY_DATABASE_URL"]})
    assert refused.returncode == 2 and "TALLY_NOTE_RETENTION_DAYS is not set" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_command_erases_old_notes(db: Database, launch: Launch, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the command runs against the SQLite file here; the function is tested on both databases above")
    env = {"TALLY_DATABASE_URL": database_url, "TALLY_NOTE_RETENTION_DAYS": str(DAYS)}
    result = tally("notes", "purge", "--now", NOW.isoformat(), env=env)
    assert result.returncode == 0, result.stderr
    assert f"Erased {len(OLD_OTHER) + 1} notes" in result.stdout
    assert not set(stored_notes(db).values()) & set(OLD_OTHER)


def test_an_enquiry_resent_after_its_note_was_erased_is_a_replay_not_a_conflict(
    at_now: None, db: Database, launch: Launch, token: str
) -> None:
    """An integration retrying an old enquiry with its original note, after retention erased that note,
    gets the enquiry back (200), not a 409 for a "different" enquiry; a note that differs on an
    enquiry whose note is still kept is refused as before."""
    app = create_app(make_settings(db.url, note_retention_days=DAYS), db=db)
    old = {"channel": "phone", "note": "card stuck at checkout", "occurred_at": MONDAY.isoformat()}
    recent = {"channel": "phone", "note": "card stuck again", "occurred_at": (NOW - dt.timedelta(hours=1)).isoformat()}
    path = f"/api/v1/launches/{SLUG}/enquiries"
    with TestClient(app) as client:
        first = client.post(path, json={**old, "idempotency_key": "old-1"}, headers=auth(token))
        kept = client.post(path, json={**recent, "idempotency_key": "recent-1"}, headers=auth(token))
        assert first.status_code == kept.status_code == 201, (first.text, kept.text)
        retention.purge_notes(db, days=DAYS, now=NOW)
        assert stored_notes(db)[first.json()["id"]] is None

        again = client.post(path, json={**old, "idempotency_key": "old-1"}, headers=auth(token))
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]
        reused = client.post(
            path, json={**recent, "note": "something else", "idempotency_key": "recent-1"}, headers=auth(token)
        )
        assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"
        # A lead erased a recent one's note: its retry is the same enquiry too (a 409 said it was not
        # recorded, and an integration would send it again under a new key: counted twice).
        with db.transaction() as session:
            retention.erase_notes(session, launch.id or 0, [kept.json()["id"]], actor="lena", now=NOW)
        retried = client.post(path, json={**recent, "idempotency_key": "recent-1"}, headers=auth(token))
        assert retried.status_code == 200 and retried.json()["id"] == kept.json()["id"], retried.text


# --- erasing chosen notes at once ----------------------------------------------------------------


def ids_of(db: Database, *notes: str) -> list[int]:
    return [i for i, note in stored_notes(db).items() if note in notes]


@pytest.fixture
def lead_token(db: Database) -> str:
    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="privacy", now=NOW, actor="test", role=TokenRole.LEAD)
    return raw


def test_chosen_notes_are_erased_at_once_from_the_rows_and_the_digests_quoting_them(
    at_now: None,
    db: Database,
    launch: Launch,
    settings: Settings,
    client: TestClient,
    token: str,
    web: Web,
    people: People,
) -> None:
    """A name the scrubber missed, or a customer's request to be forgotten, waited for the retention's
    cut-off (or for SQL): a lead erases those notes now, and only those, and every count stays."""
    runs = digests.run_due(db, settings=settings, now=dt.datetime(2026, 11, 16, 12, 5, tzinfo=dt.UTC), sender=None)
    [run] = [r for r in runs if r.blocks]
    assert OLD_OTHER[0] in str(run.blocks) and OLD_OTHER[1] in str(run.blocks)
    chosen = ids_of(db, OLD_OTHER[0], RECENT_OTHER[0])
    other = make_launch(db, slug="other-launch", hypotheses=("a",))
    log(db, other, at=MONDAY, note=OLD_OTHER[0])
    [elsewhere] = [i for i in ids_of(db, OLD_OTHER[0]) if i not in chosen]
    kari = web("kari")
    before = everything_counted(client, token, kari)
    version = fresh(db, launch).counts_version

    with db.transaction() as session:
        erased = retention.erase_notes(session, launch.id or 0, [*chosen, elsewhere], actor="lena", now=NOW)

    assert (erased.notes, erased.digests) == (2, 1)
    notes = stored_notes(db)
    assert [notes[i] for i in chosen] == [None, None]
    assert notes[elsewhere] == OLD_OTHER[0]  # another launch's enquiry is not this launch's to erase
    assert {OLD_OTHER[1], RECENT_OTHER[1]} <= set(notes.values())
    assert everything_counted(client, token, kari) == before
    assert fresh(db, launch).counts_version == version + 1  # the themes' kept phrase counts are counted again
    with db.session() as session:
        stored = session.get(DigestRun, run.id)
        events = [e for e in session.execute(sa.select(AuditEvent)).scalars() if e.action == "notes.erased"]
    assert stored is not None and OLD_OTHER[0] not in str(stored.blocks) and OLD_OTHER[1] in str(stored.blocks)
    assert [(e.actor, e.detail) for e in events] == [("lena", {"enquiries": sorted(chosen)})]
    with db.transaction() as session:
        again = retention.erase_notes(session, launch.id or 0, chosen, actor="lena", now=NOW)
    assert (again.notes, again.digests) == (0, 0) and fresh(db, launch).counts_version == version + 1


def test_a_digest_loses_the_quote_of_a_note_it_cut_short() -> None:
    note = "widget " * 60
    quoted = retention._quoting({note.strip()})
    cut_quote = {"type": "rich_text_quote", "elements": [{"type": "text", "text": note[:99] + "…"}]}
    kept_quote = {"type": "rich_text_quote", "elements": [{"type": "text", "text": "widget…"[:-1] + " gone"}]}
    blocks = [{"type": "rich_text", "elements": [cut_quote, kept_quote]}]
    assert retention.without_quotes(blocks, quoted) == [{"type": "rich_text", "elements": [kept_quote]}]
    older = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Other*\n> a &lt;b&gt; note\n> another"}}]
    assert retention.without_quotes(older, retention._quoting({"a <b> note"})) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Other*\n> another"}}
    ]


def test_the_api_erases_a_note_with_a_lead_token(
    at_now: None, db: Database, launch: Launch, client: TestClient, token: str, lead_token: str
) -> None:
    [enquiry_id] = ids_of(db, OLD_OTHER[2])
    url = f"/api/v1/enquiries/{enquiry_id}/note"
    refused = client.delete(url, headers=auth(token))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    assert stored_notes(db)[enquiry_id] == OLD_OTHER[2]
    erased = client.delete(url, headers=auth(lead_token))
    assert erased.status_code == 200 and erased.json() == {"id": enquiry_id, "erased": True}
    assert stored_notes(db)[enquiry_id] is None
    again = client.delete(url, headers=auth(lead_token))
    assert again.status_code == 200 and again.json() == {"id": enquiry_id, "erased": False}
    unknown = client.delete("/api/v1/enquiries/99999/note", headers=auth(lead_token))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_enquiry"


def test_the_command_erases_chosen_notes_or_none(db: Database, launch: Launch, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the command runs against the SQLite file here; the function is tested on both databases above")
    env = {"TALLY_DATABASE_URL": database_url}
    chosen = ids_of(db, *RECENT_OTHER[:2])
    unknown = tally("notes", "erase", *map(str, chosen), "99999", env=env)
    assert unknown.returncode == 1 and "No enquiry with id 99999: nothing was erased" in unknown.stderr
    assert set(RECENT_OTHER[:2]) <= set(stored_notes(db).values())
    result = tally("notes", "erase", *map(str, chosen), env=env)
    assert result.returncode == 0, result.stderr
    assert f"Erased 2 notes in {shown(database_url)}; 0 stored digests lost their quotes of them." in result.stdout
    assert not set(stored_notes(db).values()) & set(RECENT_OTHER[:2])
    again = tally("notes", "erase", str(chosen[0]), env=env)
    assert "Erased 0 notes" in again.stdout and "1 of the enquiries had no note left to erase." in again.stdout


def test_a_lead_erases_chosen_notes_on_the_other_page(
    at_now: None, db: Database, launch: Launch, client: TestClient, token: str, web: Web, people: People
) -> None:
    lena, kari = web("lena"), web("kari")
    before = everything_counted(client, token, kari)
    other = f"/launches/{SLUG}/other?range=launch"
    page = lena.get(other).text
    assert f'formaction="/launches/{SLUG}/other/erase"' in page
    assert f'formaction="/launches/{SLUG}/other/erase"' not in kari.get(other).text  # leads only
    groups = dict(
        re.findall(r'name="group" value="([^"]+)"[^>]*>\s*<label[^>]*><strong>\d+×</strong> ([^<]+)</label>', page)
    )
    [widget] = [key for key, text in groups.items() if text.strip() == OLD_OTHER[1]]
    form = lena.get(f"/launches/{SLUG}/other/erase", params={"range": "launch", "group": widget})
    listed = re.findall(r'type="checkbox" name="enquiry" value="(\d+)"', form.text)
    assert form.status_code == 200 and listed == [str(i) for i in ids_of(db, OLD_OTHER[1])]

    url = f"/launches/{SLUG}/other/erase?range=launch"
    unconfirmed = lena.post(url, data={"enquiry": listed})
    assert unconfirmed.status_code == 422 and "They cannot be brought back" in unconfirmed.text
    assert OLD_OTHER[1] in unconfirmed.text  # the form again, its notes still ticked
    assert kari.post(url, data={"enquiry": listed, "confirmed": "true"}).status_code == 403
    assert lena.client.post(url, data={"enquiry": listed, "confirmed": "true"}).status_code == 403  # no CSRF token
    assert OLD_OTHER[1] in stored_notes(db).values()

    done = lena.post(url, data={"enquiry": listed, "confirmed": "true"})
    assert done.status_code == 303
    shown = lena.get(done.headers["location"]).text
    assert "1 note erased: its text is gone; the enquiry still counts." in shown
    assert OLD_OTHER[1] not in shown and OLD_OTHER[1] not in stored_notes(db).values()
    assert everything_counted(client, token, kari) == before
    again = lena.post(url, data={"enquiry": listed, "confirmed": "true"})
    assert "No note was erased" in lena.get(again.headers["location"]).text


def test_the_banner_after_an_erasure_is_told_by_the_database(
    at_now: None, db: Database, launch: Launch, web: Web, people: People
) -> None:
    """Like the re-link banners: a link made up by hand (erased=<any number>) says nothing was erased."""
    with db.transaction() as session:
        event = audit.record(
            session, actor="x", action="launch.updated", target_type="launch", target_id=launch.id, now=NOW
        )
        session.flush()
        event_id = event.id
    page = web("lena").get(f"/launches/{SLUG}/other?erased={event_id}").text
    assert "erased:" not in page and 'id="notes-erased"' not in page


def test_a_note_moved_onto_a_hypothesis_is_erased_by_its_id(
    at_now: None, db: Database, launch: Launch, web: Web, people: People
) -> None:
    """A move keeps a note's text but takes it off the "other" page, and the erase form listed only
    "other" notes: it said the note was erased already, and no page could erase it."""
    [moved] = ids_of(db, OLD_OTHER[2])
    with db.transaction() as session:
        relink.move_onto(session, fresh(db, launch), "a", [moved], actor="lena", now=NOW, names=relink.API)
    lena = web("lena")
    empty = lena.get(f"/launches/{SLUG}/other/erase?range=launch")
    assert "No note chosen" in empty.text and 'id="erase-id"' in empty.text
    form = lena.get(f"/launches/{SLUG}/other/erase", params={"range": "launch", "enquiry": moved})
    assert OLD_OTHER[2] in form.text and f'name="enquiry" value="{moved}"' in form.text
    erased = lena.post(f"/launches/{SLUG}/other/erase?range=launch", data={"enquiry": [moved], "confirmed": "true"})
    assert erased.status_code == 303 and stored_notes(db)[moved] is None
    gone = lena.get(f"/launches/{SLUG}/other/erase", params={"range": "launch", "enquiry": moved})
    assert "None of the chosen notes has any text left" in gone.text


# Notes stored by a version whose scrubber knew less (as the factory stores them, unscrubbed).
LEAKED = {
    "født 12.03.1985, widget gone": "født [birth-date], widget gone",
    "ringte på vegne av Per Hansen om widget": "ringte på vegne av [name] om widget",
}


def test_stored_notes_are_scrubbed_again_and_every_count_stays(
    at_now: None,
    db: Database,
    launch: Launch,
    settings: Settings,
    client: TestClient,
    token: str,
    web: Web,
    people: People,
) -> None:
    """A scrubber that learnt more (birth dates, names said on someone's behalf) left the notes stored
    before it as they were: scrubbing them again stores them masked, everywhere they were kept."""
    for i, note in enumerate(LEAKED):
        log(db, launch, at=MONDAY + dt.timedelta(minutes=5 + 10 * i), note=note)
    runs = digests.run_due(db, settings=settings, now=dt.datetime(2026, 11, 16, 12, 5, tzinfo=dt.UTC), sender=None)
    [run] = [r for r in runs if r.blocks]
    assert "ringte på vegne av Per Hansen" in str(run.blocks)
    leaked = ids_of(db, *LEAKED)
    kari = web("kari")
    before = everything_counted(client, token, kari)
    version = fresh(db, launch).counts_version
    notes = stored_notes(db)

    dry = retention.scrub_notes(db, actor="cli:ops", now=NOW, dry_run=True)

    assert (dry.changed, dry.digests) == ({SLUG: leaked}, 0)
    assert stored_notes(db) == notes and fresh(db, launch).counts_version == version

    scrubbed = retention.scrub_notes(db, actor="cli:ops", now=NOW)

    assert (scrubbed.changed, scrubbed.digests) == ({SLUG: leaked}, 1)
    after = stored_notes(db)
    assert sorted(after[i] or "" for i in leaked) == sorted(LEAKED.values())
    assert {i: n for i, n in after.items() if i not in leaked} == {i: n for i, n in notes.items() if i not in leaked}
    assert everything_counted(client, token, kari) == before
    assert fresh(db, launch).counts_version == version + 1  # the themes' kept phrase counts are counted again
    with db.session() as session:
        stored = session.get(DigestRun, run.id)
        events = [e for e in session.execute(sa.select(AuditEvent)).scalars() if e.action == "notes.scrubbed"]
    assert stored is not None and "Per Hansen" not in str(stored.blocks) and OLD_OTHER[0] in str(stored.blocks)
    assert [(e.actor, e.detail) for e in events] == [("cli:ops", {"enquiries": leaked})]  # ids, never the text
    again = retention.scrub_notes(db, actor="cli:ops", now=NOW)
    assert (again.notes, again.digests) == (0, 0) and fresh(db, launch).counts_version == version + 1


def test_a_note_erased_while_it_was_scrubbed_stays_erased(at_now: None, db: Database, launch: Launch) -> None:
    """The notes are read, scrubbed, then stored: one a lead erased in between is not written back."""
    log(db, launch, at=MONDAY, note="født 12.03.1985")
    [enquiry_id] = ids_of(db, "født 12.03.1985")
    with db.transaction() as session:
        retention.erase_notes(session, launch.id or 0, [enquiry_id], actor="lena", now=NOW)
    with db.transaction() as session:
        stored = retention._store_scrubbed(
            session, launch.id or 0, {enquiry_id: ("født 12.03.1985", "født [birth-date]")}, actor="cli", now=NOW
        )
    assert stored == ([], 0) and stored_notes(db)[enquiry_id] is None


def test_the_command_scrubs_stored_notes_again(db: Database, launch: Launch, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the command runs against the SQLite file here; the function is tested on both databases above")
    env = {"TALLY_DATABASE_URL": database_url}
    for note in LEAKED:
        log(db, launch, at=NOW - dt.timedelta(hours=1), note=note)
    leaked = ids_of(db, *LEAKED)
    dry = tally("notes", "scrub", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == (
        f"2 notes in {shown(database_url)} would be scrubbed ({SLUG}: enquiries {leaked[0]}, {leaked[1]}). "
        "Nothing was changed: run it without --dry-run.\n"
    )
    assert set(LEAKED) <= set(stored_notes(db).values())
    result = tally("notes", "scrub", env=env)
    assert result.stdout.startswith(f"Scrubbed 2 notes again in {shown(database_url)} ({SLUG}: enquiries"), result
    assert set(LEAKED.values()) <= set(stored_notes(db).values())
    again = tally("notes", "scrub", env=env)
    assert (
        again.stdout == f"Every stored note in {shown(database_url)} is as this version scrubs it: nothing to change.\n"
    )


def scrubber_passes(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    with db.session() as session:
        events = session.execute(sa.select(AuditEvent).where(AuditEvent.action == retention.SCRUBBER_PASSED))  # type: ignore[arg-type]
        return [(e.actor, e.target_id, e.detail) for e in events.scalars()]


def test_each_scrubber_version_passes_over_the_stored_notes_once(
    db: Database, launch: Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator who upgrades and never reads the upgrade notes still gets the old notes scrubbed: the
    scheduler does it once per scrubber version, and a pass already made (by the command) is not made again."""
    for note in LEAKED:
        log(db, launch, at=MONDAY, note=note)
    retention.scrub_notes(db, actor="cli:ops", now=NOW, dry_run=True)
    assert scrubber_passes(db) == []  # a dry run passed over nothing

    first = retention.scrub_stored_once(db, now=NOW)

    assert first is not None and first.notes == len(LEAKED)
    assert set(LEAKED.values()) <= set(stored_notes(db).values())
    version = str(privacy.SCRUBBER_VERSION)
    assert scrubber_passes(db) == [("scheduler", version, {"notes": len(LEAKED)})]
    assert retention.scrub_stored_once(db, now=NOW) is None  # this version has passed: only its last pass's notes read
    monkeypatch.setattr(privacy, "SCRUBBER_VERSION", privacy.SCRUBBER_VERSION + 1)  # the next release's
    again = retention.scrub_stored_once(db, now=NOW)
    assert again is not None and again.notes == 0
    retention.scrub_notes(db, actor="cli:ops", now=NOW)
    assert [p[:2] for p in scrubber_passes(db)] == [
        *[("scheduler", version)] * 2,
        *[(a, str(int(version) + 1)) for a in ("scheduler", "cli:ops")],
    ]


def test_notes_an_older_replica_stored_after_the_pass_are_scrubbed_at_the_next_start(
    db: Database, launch: Launch
) -> None:
    """In a rolling upgrade the first replica on the new version passes over the notes; the others, still on
    the older one, go on storing notes by its scrubber until each is restarted. Their restart on the new
    version found the pass recorded and left those notes as they were, for good."""
    assert retention.scrub_stored_once(db, now=NOW) is not None
    later = NOW + dt.timedelta(minutes=20)
    log(db, launch, at=later, note="født 12.03.1985, widget gone")  # by an older replica's scrubber

    restarted = retention.scrub_stored_once(db, now=later + dt.timedelta(minutes=5))

    assert restarted is not None and restarted.notes == 1
    assert "født [birth-date], widget gone" in stored_notes(db).values()
    assert retention.scrub_stored_once(db, now=later + dt.timedelta(hours=1)) is None


def test_the_scheduler_scrubs_the_stored_notes_as_it_starts(
    db: Database, launch: Launch, database_url: str, request: pytest.FixtureRequest
) -> None:
    for note in LEAKED:
        log(db, launch, at=MONDAY, note=note)
    scheduler = DigestScheduler(db, make_settings(database_url))
    scrubbed = threading.Event()

    def ran(event: JobExecutionEvent) -> None:
        if event.job_id == SCRUB_JOB:
            scrubbed.set()

    scheduler.scheduler.add_listener(ran, EVENT_JOB_EXECUTED)
    scheduler.start()
    request.addfinalizer(scheduler.shutdown)
    assert scrubbed.wait(15), "no scrub at start"
    assert set(LEAKED.values()) <= set(stored_notes(db).values())
    assert [p[0] for p in scrubber_passes(db)] == ["scheduler"]


def test_a_stored_note_longer_than_the_limit_is_scrubbed_not_refused(
    db: Database, launch: Launch, database_url: str
) -> None:
    """A note is refused over 500 characters as it arrives; one stored before the limit (or by SQL) would
    have stopped every scrubbing pass over the notes after it."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's note column holds at most 500 characters: no longer note is stored there")
    long_note = "født 12.03.1985 " + "widget " * 90
    log(db, launch, at=MONDAY, note=long_note)
    scrubbed = retention.scrub_notes(db, actor="cli:ops", now=NOW)
    [enquiry_id] = ids_of(db, *[n for n in stored_notes(db).values() if n and n.startswith("født [birth-date]")])
    stored = stored_notes(db)[enquiry_id] or ""
    assert scrubbed.changed == {SLUG: [enquiry_id]} and len(stored) <= 500 and stored.endswith("...")
