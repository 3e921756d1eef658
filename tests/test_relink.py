"""A theme made a hypothesis: the enquiries move from "other" onto it in one transaction, every kept
count follows (the API, another process, the day_tally rows), sent digests stay as they were, and
undo puts everything back. Through the service, the API (lead and integration tokens) and the pages.

The clock is fixed at Friday 20 November 2026, 12:00 in Oslo (11:00 UTC), day 5 of the launch.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app import api_tokens, digests, hypothesis_sets, launches, tallies
from app.db import Database
from app.errors import Conflict, Invalid
from app.insight import relink
from app.models import (
    AuditEvent,
    DayTally,
    DigestRun,
    DigestStatus,
    Enquiry,
    EnquiryHypothesis,
    Hypothesis,
    Launch,
    LaunchStatus,
    Relink,
    TokenRole,
    id_of,
)
from app.tallies.counting import DayCounts
from tests.conftest import DIGEST_SETTLE, People, WebUser, make_settings
from tests.factories import T0, fresh, log, make_launch
from tests.helpers import sent_while_a_row_is_uncommitted

Web = Callable[[str | None], WebUser]
SLUG = "test-launch"
NOW = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
WHOLE = {"start": "2026-11-16T00:00:00+01:00", "end": "2026-11-21T00:00:00+01:00"}
WIDGET_AT = [
    dt.datetime(2026, 11, 17, 9, 0, tzinfo=dt.UTC),  # Tuesday: a closed day
    dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC),  # Wednesday: closed
    dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC),  # Friday: today
]


@pytest.fixture(autouse=True)
def at_now() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@dataclass(frozen=True)
class Setup:
    launch: Launch
    widget: list[int]  # "other" enquiries about the widget
    other: list[int]  # "other" enquiries about something else
    linked: int  # an enquiry of hypothesis a
    elsewhere: int  # an "other" enquiry of another launch


@pytest.fixture
def setup(db: Database) -> Setup:
    with time_machine.travel(NOW - dt.timedelta(days=1), tick=False):  # set up before the hypotheses made today
        launch = make_launch(db, slug=SLUG, hypotheses=("a", "b"))
    widget = [log(db, launch, at=at, note=f"Widgeten på hjemskjermen forsvant ({i})") for i, at in enumerate(WIDGET_AT)]
    other = [log(db, launch, at=WIDGET_AT[0] + dt.timedelta(hours=1), note="Spør om faktura")]
    linked = log(db, launch, "a", at=WIDGET_AT[1])
    second = make_launch(db, slug="other-launch", hypotheses=("x",))
    elsewhere = log(db, second, at=WIDGET_AT[1], note="Widgeten på hjemskjermen forsvant")
    return Setup(fresh(db, launch), widget, other, linked, elsewhere)


def lead_token(db: Database) -> str:
    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="lena's script", now=NOW, actor="test", role=TokenRole.LEAD)
    return raw


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_tally(client: TestClient, token: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/launches/{SLUG}/tally", params=WHOLE, headers=auth(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def other_process_tally(url: str, db: Database) -> tallies.Tally:
    """A second process: its own Database (own memo), the launch loaded afresh, as a request would."""
    second = Database(url)
    try:
        with second.session() as session:
            launch = launches.get_by_slug(session, SLUG)
            start, end = tallies.clip(launch, dt.datetime(2026, 11, 1, tzinfo=dt.UTC), NOW)
            return tallies.tally(session=session, launch=launch, start=start, end=end, now=NOW)
    finally:
        second.dispose()


def kept_days(db: Database, launch: Launch) -> dict[dt.date, DayCounts]:
    """The day_tally rows of the launch's current counts version."""
    version = fresh(db, launch).counts_version
    with db.session() as session:
        rows = session.exec(select(DayTally).where(DayTally.launch_id == launch.id, DayTally.version == version)).all()
    return {row.day: DayCounts.from_json(NOW, row.counts) for row in rows}


def hypothesis_total(counts: DayCounts, hypothesis_id: int) -> int:
    return sum(sum(hours) for (h, _, _), hours in counts.links.items() if h == hypothesis_id)


def other_total(counts: DayCounts) -> int:
    return sum(sum(hours) for (_, _, other), hours in counts.dims.items() if other)


def enquiry(db: Database, enquiry_id: int) -> Enquiry:
    with db.session() as session:
        found = session.get(Enquiry, enquiry_id)
        assert found is not None
        return found


# --- the service ---------------------------------------------------------------------------------


def test_suggested_keys_and_texts() -> None:
    assert relink.suggest_key("Widgeten på hjemskjermen") == "widgeten-pa-hjemskjermen"
    assert relink.suggest_key("Kafé-kortet (ærlig talt!)", ["kafe-kortet-aerlig-talt"]) == "kafe-kortet-aerlig-talt-2"
    assert len(relink.suggest_key("ord " * 40)) <= 64
    assert relink.suggest_key("!!!") == "theme"
    assert relink.suggest_text("widgeten på hjemskjermen") == "Widgeten på hjemskjermen"


def test_only_the_launchs_other_enquiries_move_and_the_rest_are_counted(db: Database, setup: Setup) -> None:
    asked = [*setup.widget, setup.linked, setup.elsewhere, 999_999]
    with db.transaction() as session:
        promoted = relink.promote(
            session, setup.launch, key="widget-gone", text="Widget gone", enquiry_ids=asked, actor="lena", now=NOW
        )
    assert promoted.relinked.moved == setup.widget
    assert promoted.relinked.skipped == sorted([setup.linked, setup.elsewhere, 999_999])
    assert enquiry(db, setup.elsewhere).is_other and not enquiry(db, setup.widget[0]).is_other
    with db.session() as session:
        links = session.exec(select(EnquiryHypothesis).where(col(EnquiryHypothesis.enquiry_id).in_(setup.widget))).all()
        [row] = session.exec(select(Relink)).all()
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "enquiries.relinked")).all()
        hypothesis = session.exec(select(Hypothesis).where(Hypothesis.key == "widget-gone")).one()
    assert {(link.hypothesis_id, link.created_at) for link in links} == {(hypothesis.id, at) for at in WIDGET_AT}
    assert all(link.launch_id == setup.launch.id for link in links)
    assert (row.enquiry_ids, row.relinked_by, row.relinked_at, row.undone_at) == (setup.widget, "lena", NOW, None)
    assert event.actor == "lena" and event.detail["enquiry_ids"] == setup.widget
    assert (hypothesis.text, hypothesis.status.value, hypothesis.sort_order) == ("Widget gone", "open", 2)


def test_the_hypothesis_is_checked_like_the_editors_and_nothing_moves_without_it(db: Database, setup: Setup) -> None:
    with db.transaction() as session, pytest.raises(Conflict) as duplicate:
        relink.promote(session, setup.launch, key="a", text="Again", enquiry_ids=setup.widget, actor="lena", now=NOW)
    assert duplicate.value.code == "duplicate_key" and duplicate.value.field == "key"
    for key, text, field in (("Not A Key", "Text", "key"), ("ok-key", "", "text"), ("x" * 65, "Text", "key")):
        with db.transaction() as session, pytest.raises(Invalid) as invalid:
            relink.promote(session, setup.launch, key=key, text=text, enquiry_ids=setup.widget, actor="l", now=NOW)
        assert invalid.value.field == field
    assert all(enquiry(db, i).is_other for i in setup.widget)


def test_no_hypothesis_is_made_from_notes_past_what_a_file_may_hold(db: Database, setup: Setup) -> None:
    """As the editor: a 501st made an export that no validate or import took."""
    with db.transaction() as session:
        for i in range(hypothesis_sets.MAX_HYPOTHESES - 2):
            session.add(Hypothesis(launch_id=id_of(setup.launch), key=f"h{i}", text=f"H {i}", sort_order=2 + i))
    with db.transaction() as session, pytest.raises(Invalid) as invalid:
        relink.promote(session, setup.launch, key="w", text="W", enquiry_ids=setup.widget, actor="lena", now=NOW)
    assert invalid.value.message == (
        "A launch may have at most 500 hypotheses, retired ones included, and this would make 501."
    )
    assert all(enquiry(db, i).is_other for i in setup.widget)


def test_a_second_relink_of_the_same_notes_moves_nothing(db: Database, setup: Setup) -> None:
    with db.transaction() as session:
        relink.promote(session, setup.launch, key="w1", text="W1", enquiry_ids=setup.widget, actor="lena", now=NOW)
    with db.transaction() as session:
        second = relink.promote(
            session, fresh(db, setup.launch), key="w2", text="W2", enquiry_ids=setup.widget, actor="ola", now=NOW
        )
    assert second.relinked.moved == [] and second.relinked.relink is None
    assert second.relinked.skipped == setup.widget


# --- counts everywhere, through the API ----------------------------------------------------------


def test_counts_move_everywhere_and_undo_restores_them(
    client: TestClient, token: str, db: Database, database_url: str, setup: Setup
) -> None:
    # Every kind of kept count is warm first: this process's memory, day_tally rows, another process.
    before = api_tally(client, token)
    assert before["other"] == 4 and before["hypotheses"] == {"a": 1, "b": 0}
    assert other_process_tally(database_url, db).other == 4
    days = kept_days(db, setup.launch)
    assert {dt.date(2026, 11, 17), dt.date(2026, 11, 18)} <= set(days)
    assert other_total(days[dt.date(2026, 11, 17)]) == 2
    version = fresh(db, setup.launch).counts_version

    lead = lead_token(db)
    body = {"key": "widget-gone", "text": "Widget gone from the home screen", "from_notes": setup.widget}
    response = client.post(f"/api/v1/launches/{SLUG}/hypotheses", json=body, headers=auth(lead))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["relinked"] == 3 and created["skipped"] == []
    assert fresh(db, setup.launch).counts_version == version + 1

    after = api_tally(client, token)
    assert after["other"] == 1 and after["hypotheses"] == {"a": 1, "b": 0, "widget-gone": 3}
    assert after["total"] == before["total"]
    elsewhere = other_process_tally(database_url, db)
    assert elsewhere.other == 1
    widget_id = next(h.id for h in launches.hypotheses_of(db.session(), setup.launch) if h.key == "widget-gone")
    assert elsewhere.by_hypothesis[widget_id or 0] == 3
    days = kept_days(db, setup.launch)
    tuesday = days[dt.date(2026, 11, 17)]
    assert other_total(tuesday) == 1 and hypothesis_total(tuesday, widget_id or 0) == 1

    with db.session() as session:
        [row] = session.exec(select(Relink)).all()
    with db.transaction() as session:
        undone = relink.undo(session, fresh(db, setup.launch), row.id or 0, actor="lena", now=NOW)
    assert (undone.unlinked, undone.restored) == (3, 3)
    assert fresh(db, setup.launch).counts_version == version + 2

    restored = api_tally(client, token)
    assert restored["other"] == 4 and restored["hypotheses"] == {"a": 1, "b": 0, "widget-gone": 0}
    assert other_process_tally(database_url, db).other == 4
    tuesday = kept_days(db, setup.launch)[dt.date(2026, 11, 17)]
    assert other_total(tuesday) == 2 and hypothesis_total(tuesday, widget_id or 0) == 0
    assert all(enquiry(db, i).is_other for i in setup.widget)
    with db.session() as session:
        [row] = session.exec(select(Relink)).all()
        actions = [e.action for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]
    assert (row.undone_by, row.undone_at) == ("lena", NOW)
    assert actions[-2:] == ["enquiries.relinked", "enquiries.relink_undone"]
    with db.transaction() as session, pytest.raises(Conflict):
        relink.undo(session, fresh(db, setup.launch), row.id or 0, actor="lena", now=NOW)


def test_a_digest_already_sent_keeps_its_text(db: Database, setup: Setup) -> None:
    settings = make_settings(db.url)
    done = digests.run_due(
        db,
        settings=settings,
        now=dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC) + DIGEST_SETTLE,
        sender=None,
        launch_ids=[setup.launch.id or 0],
    )
    [run] = [r for r in done if r.status == DigestStatus.DRY_RUN]
    shown = json.dumps(run.blocks, ensure_ascii=False)
    assert "*Other* (not on the list): *3*" in shown and "Widgeten på hjemskjermen" in shown
    with db.transaction() as session:
        relink.promote(session, setup.launch, key="w", text="W", enquiry_ids=setup.widget, actor="lena", now=NOW)
    with db.session() as session:
        stored = session.get(DigestRun, run.id)
    assert stored is not None and (stored.text, stored.blocks) == (run.text, run.blocks)
    # Composed now, the same window would tell the new story: the stored one is what was sent.
    with db.session() as session:
        now_composed = digests.compose(
            session,
            fresh(db, setup.launch),
            window_start=run.window_start,
            window_end=run.window_end,
            slot_at=run.slot_at,
            now=NOW,
            base_url=settings.base_url,
        )
    assert now_composed.other == 1 and {h.key: h.count for h in now_composed.hypotheses}["w"] == 2


# --- the API -------------------------------------------------------------------------------------


def test_a_refused_create_lists_each_problem_by_its_field(client: TestClient, db: Database, setup: Setup) -> None:
    """As the guide promises every 422 `invalid`: one entry of `problems` per fault. The create's own
    check answered one entry, named after the first field, holding every fault, each prefixed by its name."""
    body = {"key": "blank", "text": "   ", "area": "Pay\x00", "owner_team": "Team\x03"}
    response = client.post(f"/api/v1/launches/{SLUG}/hypotheses", json=body, headers=auth(lead_token(db)))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid", "text")
    assert [problem["field"] for problem in error["problems"]] == ["text", "area", "owner_team"]
    for problem in error["problems"]:
        assert not problem["message"].startswith(f"{problem['field']}:"), problem
    assert error["problems"][0]["message"] == "is empty: write something here"  # as PATCH tells a blank text
    assert all(enquiry(db, i).is_other for i in setup.widget)


def test_too_many_notes_at_once_get_the_documented_code(client: TestClient, db: Database, setup: Setup) -> None:
    """5,001 ids got "invalid" from the body's own limit; the guide's code is too_many_enquiries."""
    body = {"key": "many", "text": "Many", "from_notes": list(range(1, 5_002))}
    response = client.post(f"/api/v1/launches/{SLUG}/hypotheses", json=body, headers=auth(lead_token(db)))
    assert response.status_code == 422 and response.json()["error"]["code"] == "too_many_enquiries", response.text


def test_two_creates_of_one_key_at_once_on_postgresql_answer_duplicate_key_with_409(
    pg: Any, client: TestClient, db: Database, setup: Setup
) -> None:
    """Ten scripts creating "conc-new" at once: one 201, the others a mix of 409 and 422 duplicate_key.
    Those that checked the key before the first had committed waited for the launch's lock, then were
    refused by the set's own check, as 422 "invalid" for what is a conflict with another request."""
    other = db.session()
    relink.add_hypothesis(other, fresh(db, setup.launch), key="conc-new", text="First", actor="ola", now=NOW)
    answer = sent_while_a_row_is_uncommitted(  # the first create holds the launch's lock, not yet committed
        db,
        other,
        "launch",
        lambda: client.post(
            f"/api/v1/launches/{SLUG}/hypotheses", json={"key": "conc-new", "text": "t"}, headers=auth(lead_token(db))
        ),
        statement="SELECT launch.%FOR UPDATE",
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "duplicate_key" and answer.json()["error"]["field"] == "key"
    with db.session() as session:
        [made] = session.exec(select(Hypothesis).where(Hypothesis.key == "conc-new")).all()
    assert made.text == "First"


def test_the_api_needs_a_lead_token(client: TestClient, token: str, db: Database, setup: Setup) -> None:
    url = f"/api/v1/launches/{SLUG}/hypotheses"
    refused = client.post(url, json={"key": "w", "text": "W"}, headers=auth(token))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    assert client.post(url, json={"key": "w", "text": "W"}).status_code == 401
    lead = lead_token(db)
    duplicate = client.post(url, json={"key": "a", "text": "A again"}, headers=auth(lead))
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == {
        "code": "duplicate_key",
        "field": "key",
        "message": duplicate.json()["error"]["message"],
    }
    invalid = client.post(url, json={"key": "Bad Key", "text": "x"}, headers=auth(lead))
    assert invalid.status_code == 422 and invalid.json()["error"]["field"] == "key"
    created = client.post(
        url,
        json={"key": "w", "text": "W", "area": "Home", "expected_per_day": 2, "from_notes": [setup.linked]},
        headers=auth(lead),
    )
    assert created.status_code == 201
    body = created.json()
    assert body["relinked"] == 0 and body["skipped"] == [setup.linked]
    assert {k: body[k] for k in ("key", "text", "area", "owner_team", "expected_per_day", "status", "version")} == {
        "key": "w",
        "text": "W",
        "area": "Home",
        "owner_team": "",
        "expected_per_day": 2,
        "status": "open",
        "version": 1,
    }
    assert body["created_at"] == "2026-11-20T11:00:00Z"


# --- the pages -----------------------------------------------------------------------------------


def test_two_clicks_from_a_theme_to_a_hypothesis_and_undo(web: Web, people: People, db: Database, setup: Setup) -> None:
    lena = web("lena")
    page = lena.get(f"/launches/{SLUG}/other?range=launch")
    assert page.status_code == 200
    form = lena.get(f"/launches/{SLUG}/other/new?range=launch&theme=widg+hjemskjerm")
    assert form.status_code == 200, form.text[:500]
    assert 'value="widgeten-pa-hjemskjermen"' in form.text and 'value="Widgeten på hjemskjermen"' in form.text
    ticked = sorted(int(i) for i in re.findall(r'name="enquiry" value="(\d+)"[^>]*checked', form.text))
    assert ticked == setup.widget  # every note of the launch with the theme; not the other launch's
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert token
    saved = lena.client.post(
        f"/launches/{SLUG}/other/new?range=launch",
        data={
            "csrf_token": token.group(1),
            "key": "widgeten-pa-hjemskjermen",
            "text": "Widgeten på hjemskjermen",
            "enquiry": [str(i) for i in ticked],
        },
    )
    assert saved.status_code == 303, saved.text[:500]
    assert saved.headers["location"].startswith(f"/launches/{SLUG}/other?range=launch&done=")
    done = lena.get(saved.headers["location"])
    assert "3 enquiries moved onto it" in done.text
    assert not any(enquiry(db, i).is_other for i in setup.widget)
    # Its notes are older than it: the launch page said "added" on the first note's day, and its own
    # page said added today.
    row = lena.get(f"/launches/{SLUG}?range=launch").text
    assert re.search(r"widgeten-pa-hjemskjermen · counts from \d", row), "counted from its first note"
    assert not re.search(r"widgeten-pa-hjemskjermen · added", row)

    [relink_id] = re.findall(r"/relinks/(\d+)/undo", done.text)
    undone = lena.post(f"/launches/{SLUG}/relinks/{relink_id}/undo?range=launch")
    assert undone.status_code == 303
    assert "under “Other” again" in lena.get(undone.headers["location"]).text
    assert all(enquiry(db, i).is_other for i in setup.widget)


def test_a_theme_with_more_notes_than_a_form_usually_takes_is_moved_whole(
    web: Web, people: People, db: Database, setup: Setup
) -> None:
    """Each ticked note is a form field, and forms were parsed with a limit of 1,000 fields: the themes
    most worth promoting answered 400 "Too many fields" and nothing moved."""
    with db.write_connection() as connection:
        connection.execute(
            sa.insert(Enquiry.__table__),  # type: ignore[attr-defined]
            [
                {
                    "launch_id": setup.launch.id,
                    "channel": "phone",
                    "created_at": T0 + dt.timedelta(seconds=i),
                    "note": f"Widgeten forsvant igjen ({i})",
                    "is_other": True,
                    "source": "checklist",
                }
                for i in range(1_200)
            ],
        )
    with db.session() as session:
        ids = [e.id or 0 for e in session.exec(select(Enquiry).where(col(Enquiry.note).like("%igjen%")))]
    saved = web("lena").post(
        f"/launches/{SLUG}/other/new?range=launch",
        data={"key": "widget-again", "text": "Widgeten forsvant igjen", "enquiry": [str(i) for i in ids]},
    )
    assert saved.status_code == 303, saved.text[:500]
    assert not any(enquiry(db, i).is_other for i in ids)


def test_a_group_of_notes_ticked_on_the_page_prefills_the_form(web: Web, people: People, setup: Setup) -> None:
    page = web("lena").get(f"/launches/{SLUG}/other?range=launch")
    groups = re.findall(r'name="group" value="([^"]+)"', page.text)
    assert len(groups) == 2  # the widget notes differ only by a number, which is no word
    form = web("lena").get(f"/launches/{SLUG}/other/new", params={"range": "launch", "group": groups[0]})
    assert len(re.findall(r'name="enquiry"', form.text)) == 3


def test_a_refused_save_shows_the_form_again(web: Web, people: People, setup: Setup, db: Database) -> None:
    lena = web("lena")
    response = lena.post(
        f"/launches/{SLUG}/other/new",
        data={"key": "a", "text": "Dupe", "enquiry": [str(i) for i in setup.widget]},
    )
    assert response.status_code == 409
    assert "already has a hypothesis" in response.text and 'name="enquiry"' in response.text
    assert all(enquiry(db, i).is_other for i in setup.widget)


def test_expected_per_day_of_odd_digits_is_refused_on_the_form(web: Web, people: People, setup: Setup) -> None:
    """ "²" and "①" are digits to str.isdigit but not to int(): a 500. Every number that is not a whole
    one, in digits 0-9, gets the form back with the same 422; one too large for int() too."""
    lena = web("lena")
    for value in ("²", "①", "٣", "1e3", "-1", "9" * 5000):
        response = lena.post(
            f"/launches/{SLUG}/other/new",
            data={"key": "odd-number", "text": "Odd", "expected_per_day": value, "enquiry": [str(setup.widget[0])]},
        )
        assert response.status_code == 422, value
        assert 'id="form-error"' in response.text and 'name="enquiry"' in response.text, value
        assert "Expected per day" in response.text, value
    in_norwegian = lena.post(
        f"/launches/{SLUG}/other/new",
        data={"key": "odd-number", "text": "Odd", "expected_per_day": "1e3"},
        headers={"Accept-Language": "nb"},
    )
    assert in_norwegian.status_code == 422
    assert "Forventet per dag: &#39;1e3&#39; er ikke et heltall" in in_norwegian.text
    saved = lena.post(
        f"/launches/{SLUG}/other/new", data={"key": "odd-number", "text": "Odd", "expected_per_day": "007"}
    )
    assert saved.status_code == 303


def test_agents_cannot_promote_or_undo(web: Web, people: People, setup: Setup) -> None:
    kari = web("kari")
    refused = kari.post(f"/launches/{SLUG}/other/new", data={"key": "w", "text": "W"})
    assert refused.status_code == 403
    assert kari.post(f"/launches/{SLUG}/relinks/1/undo").status_code == 403


def test_without_the_csrf_token_nothing_happens(web: Web, people: People, setup: Setup, db: Database) -> None:
    lena = web("lena")
    response = lena.client.post(
        f"/launches/{SLUG}/other/new", data={"key": "w", "text": "W", "enquiry": [str(setup.widget[0])]}
    )
    assert response.status_code == 403
    assert enquiry(db, setup.widget[0]).is_other


def test_the_page_says_what_did_not_move(web: Web, people: People, setup: Setup) -> None:
    lena = web("lena")
    saved = lena.post(
        f"/launches/{SLUG}/other/new?range=launch",
        data={"key": "w", "text": "W", "enquiry": [str(setup.widget[0]), str(setup.linked)]},
    )
    assert saved.status_code == 303
    shown = lena.get(saved.headers["location"]).text
    assert "1 enquiry moved onto it" in shown
    assert "1 of the enquiries ticked was no longer under “Other”" in shown
    empty = lena.post(f"/launches/{SLUG}/other/new", data={"key": "nothing-moved", "text": "Nothing moved"})
    assert empty.status_code == 303 and "created=nothing-moved" in empty.headers["location"]
    assert (
        "Hypothesis “Nothing moved” (nothing-moved) created; no enquiry was moved onto it."
        in lena.get(empty.headers["location"]).text
    )


def test_a_made_up_created_link_shows_no_banner(web: Web, people: People, setup: Setup) -> None:
    """/other?created=<any words>&skipped=<any number> showed "Hypothesis <words> created" to whoever
    opened the link: only a hypothesis of this launch is said to be created, with its own text."""
    kari = web("kari")
    for query in (
        "created=Your+account+is+locked%3A+call+555-0100&skipped=7",
        "created=no-such-key",
        "created=a&skipped=99999999999",
    ):
        page = kari.get(f"/launches/{SLUG}/other?{query}").text
        if "created=a&" in query:  # "a" is a hypothesis of the launch: said, with its text; the count is not
            assert "Hypothesis “Hypothesis a” (a) created" in page and "99" not in page.split("relink-done")[1][:400]
        else:
            assert 'id="relink-done"' not in page and "Your account is locked" not in page, query


def test_moved_enquiries_count_under_a_channel_filter_too(db: Database) -> None:
    """The link rows a re-link writes carry the enquiry's channel and segment, like every other."""
    from app.models import EnquiryHypothesis as Link

    launch = make_launch(db, hypotheses=("a",))
    other = log(db, launch, channel="chat", segment="business", note="widget broke", at=T0)
    with db.transaction() as session:
        current = fresh(db, launch)
        [hypothesis] = [h for h in launches.hypotheses_of(session, current) if h.key == "a"]
        relink.relink(session, current, hypothesis, [other], actor="lena", now=T0 + dt.timedelta(hours=1))
    with db.session() as session:
        [row] = session.exec(select(Link).where(Link.enquiry_id == other)).all()
        assert (row.channel, row.segment) == ("chat", "business")
        chat = tallies.Filter(channels=frozenset({"chat"}))
        result = tallies.tally(
            session=session, launch=fresh(db, launch), start=T0, end=T0 + dt.timedelta(hours=1), filter=chat
        )
    assert result.for_hypothesis(hypothesis) == 1 and result.other == 0


def test_ids_no_row_can_have_are_refused_not_a_server_error(web: Web, people: People, setup: Setup) -> None:
    """Past 32 bits no row has the id; SQLite raised OverflowError on one (a 500)."""
    lena = web("lena")
    huge = str(2**64)
    for path in (f"/launches/{SLUG}/other?done={huge}", f"/launches/{SLUG}/other/new?enquiry={huge}"):
        assert lena.get(path).status_code == 422, path


# --- onto a hypothesis the launch has --------------------------------------------------------------


def test_other_notes_move_onto_a_hypothesis_the_launch_has_and_back(
    web: Web, people: People, db: Database, database_url: str, setup: Setup
) -> None:
    """Agents ticked "other" for something on the list: the lead moves those notes onto it, from the
    same form as a new hypothesis (the guide promised it; only a new hypothesis could take them)."""
    lena = web("lena")
    assert other_process_tally(database_url, db).other == 4  # counted and kept before the move
    form = lena.get(f"/launches/{SLUG}/other/new?range=launch&theme=widg+hjemskjerm")
    assert '<select id="n-onto" name="onto">' in form.text and '<option value="a">' in form.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert token
    with time_machine.travel(NOW + dt.timedelta(minutes=5), tick=False):  # b was made at NOW, by the setup
        moved = lena.client.post(
            f"/launches/{SLUG}/other/move?range=launch",
            data={"csrf_token": token.group(1), "onto": "b", "key": "", "text": "", "enquiry": [str(setup.widget[0])]},
        )
    assert moved.status_code == 303, moved.text[:500]
    done = lena.get(moved.headers["location"])
    assert "1 enquiry moved onto b." in done.text and "created" not in done.text.split('id="relink-done"')[1][:300]
    assert not enquiry(db, setup.widget[0]).is_other
    assert [h.key for h in lena_hypotheses_of(db, setup.widget[0])] == ["b"]
    elsewhere = other_process_tally(database_url, db)  # counted again, in another process too
    assert elsewhere.other == 3 and elsewhere.by_hypothesis[hypothesis_id(db, "b")] == 1
    [relink_id] = re.findall(r"/relinks/(\d+)/undo", done.text)
    assert lena.post(f"/launches/{SLUG}/relinks/{relink_id}/undo?range=launch").status_code == 303
    assert enquiry(db, setup.widget[0]).is_other


def lena_hypotheses_of(db: Database, enquiry_id: int) -> list[Hypothesis]:
    with db.session() as session:
        return list(
            session.exec(
                select(Hypothesis)
                .join(EnquiryHypothesis, col(EnquiryHypothesis.hypothesis_id) == col(Hypothesis.id))
                .where(EnquiryHypothesis.enquiry_id == enquiry_id)
            ).all()
        )


def hypothesis_id(db: Database, key: str) -> int:
    with db.session() as session:
        found = session.exec(select(Hypothesis).where(Hypothesis.key == key)).first()
        assert found is not None and found.id is not None
        return found.id


def test_a_move_with_nothing_ticked_shows_the_form_again_with_what_was_typed(
    web: Web, people: People, setup: Setup, db: Database
) -> None:
    lena = web("lena")
    refused = lena.post(f"/launches/{SLUG}/other/move", data={"onto": "a", "key": "half-typed", "text": "Half"})
    assert refused.status_code == 422 and "Tick at least one enquiry to move." in refused.text
    assert 'value="half-typed"' in refused.text and '<option value="a" selected>' in refused.text
    nb = lena.post(f"/launches/{SLUG}/other/move", data={"onto": "a"}, headers={"Accept-Language": "nb"})
    assert nb.status_code == 422 and "Tick at least one enquiry" not in nb.text  # in the lead's language
    unknown = lena.post(f"/launches/{SLUG}/other/move", data={"onto": "nope", "enquiry": [str(setup.widget[0])]})
    assert unknown.status_code == 404 and 'name="enquiry"' in unknown.text
    assert enquiry(db, setup.widget[0]).is_other
    moved_before = lena.post(f"/launches/{SLUG}/other/move", data={"onto": "a", "enquiry": [str(setup.linked)]})
    assert moved_before.status_code == 409 and "nothing was moved" in moved_before.text


def test_agents_cannot_move_notes(web: Web, people: People, setup: Setup, db: Database) -> None:
    refused = web("kari").post(f"/launches/{SLUG}/other/move", data={"onto": "a", "enquiry": [str(setup.widget[0])]})
    assert refused.status_code == 403
    assert enquiry(db, setup.widget[0]).is_other


def test_the_api_moves_notes_onto_a_hypothesis_the_launch_has(
    client: TestClient, token: str, db: Database, setup: Setup
) -> None:
    url = f"/api/v1/launches/{SLUG}/hypotheses/a/relinks"
    body = {"from_notes": [*setup.widget, setup.linked, setup.elsewhere]}
    refused = client.post(url, json=body, headers=auth(token))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    lead = auth(lead_token(db))
    empty = client.post(url, json={"from_notes": []}, headers=lead)
    assert empty.status_code == 422
    unknown = client.post(f"/api/v1/launches/{SLUG}/hypotheses/nope/relinks", json=body, headers=lead)
    # As PATCH and impact say it, and by the API's own names: the path's key, not the page's "onto" (nor
    # the page's code, no_such_hypothesis); the body's from_notes, not the page's "enquiry".
    assert unknown.status_code == 404
    assert (unknown.json()["error"]["code"], unknown.json()["error"]["field"]) == ("unknown_hypothesis", "key")
    moved = client.post(url, json=body, headers=lead)
    assert moved.status_code == 201, moved.text
    answer = moved.json()
    assert answer["relinked"] == len(setup.widget) and answer["key"] == "a"
    assert sorted(answer["skipped"]) == sorted([setup.linked, setup.elsewhere])
    assert isinstance(answer["relink_id"], int)
    assert not any(enquiry(db, i).is_other for i in setup.widget)
    assert enquiry(db, setup.elsewhere).is_other  # another launch's
    again = client.post(url, json=body, headers=lead)
    assert again.status_code == 409
    assert (again.json()["error"]["code"], again.json()["error"]["field"]) == ("nothing_moved", "from_notes")


def test_a_retry_of_an_other_enquiry_a_lead_has_moved_is_a_replay(
    client: TestClient, token: str, db: Database, setup: Setup
) -> None:
    """An integration re-sending a call logged as "other" after a lead moved it onto a hypothesis was
    refused as a reused key, and its advice (a new key) counted the call twice. It is the same enquiry,
    answered with the hypothesis it is on now; a retry naming another hypothesis still conflicts, and so
    does one after the move was undone only if it differs."""
    path = f"/api/v1/launches/{SLUG}/enquiries"
    call = {"channel": "phone", "note": "asks about the widget thing", "idempotency_key": "call-1"}
    first = client.post(path, json=call, headers=auth(token))
    assert first.status_code == 201, first.text
    lead = lead_token(db)
    moved = client.post(
        f"/api/v1/launches/{SLUG}/hypotheses/a/relinks", json={"from_notes": [first.json()["id"]]}, headers=auth(lead)
    )
    assert moved.status_code == 201 and moved.json()["relinked"] == 1, moved.text

    again = client.post(path, json=call, headers=auth(token))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"] and again.json()["hypotheses"] == ["a"]
    other_note = client.post(path, json={**call, "note": "something else"}, headers=auth(token))
    assert other_note.status_code == 409 and other_note.json()["error"]["code"] == "idempotency_key_reused"
    named = client.post(path, json={**call, "hypotheses": ["b"]}, headers=auth(token))
    assert named.status_code == 409, named.text
    assert api_tally(client, token)["total"] == 1 + len(setup.widget) + len(setup.other) + 1
    with db.transaction() as session:  # closed since: a retry of what it recorded is still answered
        closed = session.get(Launch, setup.launch.id)
        assert closed is not None
        closed.status = LaunchStatus.CLOSED
        session.add(closed)
    late = client.post(path, json=call, headers=auth(token))
    assert late.status_code == 200 and late.json()["hypotheses"] == ["a"], late.text

    with db.transaction() as session:
        relink.undo(session, fresh(db, setup.launch), moved.json()["relink_id"], actor="lena", now=NOW)
    back = client.post(path, json=call, headers=auth(token))
    assert back.status_code == 200 and back.json()["hypotheses"] == [], back.text


def test_every_move_not_undone_can_be_reached_and_undone_however_many_came_after(
    client: TestClient, web: Web, people: People, db: Database, setup: Setup
) -> None:
    """The list showed the 20 newest moves and nothing older: the 21st move back could not be undone."""
    lead = auth(lead_token(db))
    notes = [log(db, setup.launch, at=WIDGET_AT[0] + dt.timedelta(minutes=i), note=f"Ting {i}") for i in range(23)]
    moves = []
    for enquiry_id in notes:  # one by one, at one moment: the newest first is by id then
        answer = client.post(
            f"/api/v1/launches/{SLUG}/hypotheses/a/relinks", json={"from_notes": [enquiry_id]}, headers=lead
        )
        assert answer.status_code == 201, answer.text
        moves.append(answer.json()["relink_id"])
    lena = web("lena")
    newest = lena.get(f"/launches/{SLUG}/other?range=launch&q=ting")
    listed = [int(i) for i in re.findall(r"/relinks/(\d+)/undo", newest.text)]
    assert listed == moves[::-1][:20]
    assert "Newest moves" not in newest.text
    older = re.search(r'<a href="([^"]+)">Show older moves</a>', newest.text)
    assert older, "no way to the older moves"
    assert "q=ting" in html.unescape(older.group(1)), "the search shown is kept"
    second = lena.get(html.unescape(older.group(1)))
    assert second.status_code == 200
    assert [int(i) for i in re.findall(r"/relinks/(\d+)/undo", second.text)] == moves[2::-1]
    assert "Show older moves" not in second.text and "Newest moves" in second.text
    [action] = re.findall(rf'action="(/launches/{SLUG}/relinks/{moves[0]}/undo[^"]*)"', second.text)
    undone = lena.post(html.unescape(action))
    assert undone.status_code == 303
    assert enquiry(db, notes[0]).is_other
    back = lena.get(undone.headers["location"])  # the page of older moves again, saying so
    assert "under “Other” again" in back.text
    assert f"/relinks/{moves[0]}/undo" not in back.text and "undone by lena" in back.text
    assert [int(i) for i in re.findall(r"/relinks/(\d+)/undo", back.text)] == moves[2:0:-1]
    unknown = lena.get(f"/launches/{SLUG}/other?range=launch&before=999999")
    assert unknown.status_code == 404
