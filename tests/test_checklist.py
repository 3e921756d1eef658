"""The agents' checklist over HTTP: keys, ticks (idempotent, refused when they must be), live
counts, undo within 15 minutes, sticky toggles, and the page in the agent's language."""

from __future__ import annotations

import datetime as dt
import json
import re
import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from sqlmodel import col, select

from app import checklist, csrf
from app.db import Database
from app.enquiries import UNDO_WINDOW
from app.models import Enquiry, Launch, LaunchStatus, User
from app.recording.record import NewEnquiry, insert_many
from tests.conftest import PASSWORD, People, WebUser
from tests.factories import log, make_launch
from tests.helpers import (
    HTMX,
    JSON,
    Elements,
    browser,
    error_of,
    page_token,
    row_counts,
    set_cookies,
    sign_in,
)

Web = Callable[[str | None], WebUser]
SLUG = "test-launch"
CHECKLIST = f"/launches/{SLUG}/checklist"
TICK = f"/launches/{SLUG}/enquiries"
# 15:05 in Oslo: a time a 12-hour clock would show as 3:05 PM.
NOW = dt.datetime(2026, 11, 18, 14, 5, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def launch(db: Database) -> Launch:
    return make_launch(db, slug=SLUG)


def tick(user: WebUser, body: dict[str, Any], slug: str = SLUG) -> Any:
    """A tick as the checklist's script sends it: JSON, with the page's token in the header."""
    return user.post(f"/launches/{slug}/enquiries", json=body, headers={**JSON})


def enquiries_in(db: Database) -> list[Enquiry]:
    with db.session() as session:
        return list(session.exec(select(Enquiry).order_by(col(Enquiry.id))))


# --- the page -----------------------------------------------------------------------------------


def test_keys_are_1_to_9_then_letters_without_u_and_0_is_other(db: Database, web: Web, people: People) -> None:
    keys = [f"h{n:02d}" for n in range(1, 32)]
    make_launch(db, slug=SLUG, hypotheses=keys)
    page = Elements(web("kari").get(CHECKLIST).text)
    buttons = [attrs for tag, attrs in page.tags if tag == "button" and attrs.get("class") == "tick"]
    assert [b["data-key"] for b in buttons] == keys
    shortcuts = [b["data-shortcut"] for b in buttons]
    assert shortcuts == [*"123456789", *string.ascii_lowercase.replace("u", "")[:22]]
    assert shortcuts[9:29] == list("abcdefghijklmnopqrst") and shortcuts[29:] == ["v", "w"]
    assert "u" not in shortcuts and "0" not in shortcuts
    [other] = [attrs for tag, attrs in page.tags if attrs.get("id") == "other-button"]
    assert other["data-shortcut"] == "0" and other["aria-keyshortcuts"] == "0"


def test_retired_hypotheses_leave_the_page_and_their_key(
    db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena = web("lena")
    response = lena.post(f"/launches/{SLUG}/hypotheses/a", data={"text": "Hypothesis a", "status": "retired"})
    assert response.status_code == 303
    page = Elements(web("kari").get(CHECKLIST).text)
    buttons = {a["data-key"]: a["data-shortcut"] for t, a in page.tags if t == "button" and a.get("class") == "tick"}
    assert buttons == {"b": "1", "c": "2"}


def test_a_closed_launch_shows_the_checklist_disabled(db: Database, web: Web, people: People) -> None:
    make_launch(db, slug=SLUG, status=LaunchStatus.CLOSED)
    html = web("kari").get(CHECKLIST).text
    assert "This launch is not live, so enquiries cannot be logged on it." in html
    ticks = [a for t, a in Elements(html).tags if t == "button" and "tick" in (a.get("class") or "")]
    assert ticks and all("disabled" in a for a in ticks)


def texts_of(html: str) -> dict[str, Any]:
    """The texts the page hands its script (data-texts)."""
    [root] = [a for t, a in Elements(html).tags if a.get("id") == "checklist"]
    texts: dict[str, Any] = json.loads(str(root["data-texts"]))
    return texts


def test_texts_with_a_count_come_in_each_plural_form(db: Database, web: Web, people: People, launch: Launch) -> None:
    texts = texts_of(web("kari").get(CHECKLIST).text)
    assert texts["selected"] == {
        "one": "{n} selected: press Enter to log it, Esc to clear.",
        "other": "{n} selected: press Enter to log them as one enquiry, Esc to clear.",
    }
    for name in ("offline", "server_error", "signed_out", "someone_else"):
        assert set(texts[name]) == {"one", "other"}, name
        assert re.search(r"\{n\} (waiting )?enquiry\b", texts[name]["one"]), name
        assert re.search(r"\{n\} (waiting )?enquiries\b", texts[name]["other"]), name
    assert texts["server_error"]["one"] == "The server had a problem; {n} enquiry is kept and will be sent again."
    assert "No connection" not in texts["server_error"]["other"]
    # Bokmål has the same two categories (Intl.PluralRules("nb") names them so too).
    kari = web("kari")
    kari.post("/me/language", data={"language": "nb"})
    assert set(texts_of(kari.get(CHECKLIST).text)["selected"]) == {"one", "other"}


def test_undo_buttons_are_named_by_what_they_undo(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    tick(kari, {"channel": "phone", "hypotheses": ["a", "b"]})
    tick(kari, {"channel": "phone", "note": "fees"})
    names = [a.get("aria-label") for t, a in Elements(kari.get(f"{CHECKLIST}/recent").text).tags if a.get("hx-post")]
    assert names == ["Undo: other: fees, 15:05", "Undo: Hypothesis a + Hypothesis b, 15:05"]


# --- the list's version: open pages learn that the list changed ---------------------------------


def version_of(user: WebUser) -> str:
    response = user.get(f"{CHECKLIST}/version", headers={**JSON})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    version: str = response.json()["version"]
    return version


def board_of(html: str) -> dict[str, str | None]:
    [board] = [a for t, a in Elements(html).tags if a.get("id") == "board"]
    return board


def test_the_version_changes_when_a_lead_changes_the_list(
    db: Database, web: Web, people: People, launch: Launch
) -> None:
    kari, lena = web("kari"), web("lena")
    first = version_of(kari)
    assert board_of(kari.get(CHECKLIST).text)["data-version"] == first
    assert version_of(web("ola")) == first  # the list's, not the agent's

    def edit(key: str, **form: str) -> str:
        data = {"text": f"Hypothesis {key}", "status": "open"} | form
        assert lena.post(f"/launches/{SLUG}/hypotheses/{key}", data=data).status_code == 303
        return version_of(kari)

    seen = [first]
    seen.append(edit("a", status="retired"))
    seen.append(edit("b", move="down"))  # b and c swap keys 1 and 2
    seen.append(edit("c", text="Hypothesis c, reworded"))
    assert len(set(seen)) == len(seen), seen
    # A change the buttons do not show (a status other than retired) leaves it as it was.
    assert edit("b", status="confirmed") == seen[-1]
    # So does a tick.
    assert tick(kari, {"channel": "phone", "hypotheses": ["b"]}).status_code == 201
    assert version_of(kari) == seen[-1]
    # From the database, not from this process: the same answer anywhere.
    with db.session() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        assert checklist.version(session, launch=stored, now=NOW) == seen[-1]

    with db.transaction() as session:  # a closed launch takes no ticks: the buttons are disabled
        closed = session.get(Launch, launch.id)
        assert closed is not None
        closed.status = LaunchStatus.CLOSED
    assert version_of(kari) != seen[-1]


def test_the_board_fragment_is_what_a_page_swaps_in(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    web("lena").post(f"/launches/{SLUG}/hypotheses/a", data={"text": "Hypothesis a", "status": "retired"})
    response = kari.get(CHECKLIST, headers={**HTMX})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.text
    assert "<html" not in html and html.lstrip().startswith('<div id="board"')
    board = board_of(html)
    assert board["data-version"] == version_of(kari) and board["data-open"] == "true"
    buttons = {a["data-key"]: a["data-shortcut"] for t, a in Elements(html).tags if a.get("class") == "tick"}
    assert buttons == {"b": "1", "c": "2"}
    assert 'name="channel"' in html and 'id="other-button"' in html


def test_the_version_needs_a_signed_in_user(db: Database, web: Web, people: People, launch: Launch) -> None:
    response = web(None).get(f"{CHECKLIST}/version", headers={**JSON})
    assert response.status_code == 401


# --- ticking ------------------------------------------------------------------------------------


def test_a_tick_is_recorded_once_per_idempotency_key(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    body = {"channel": "chat", "segment": "business", "hypotheses": ["a", "c"], "idempotency_key": "tab1-0001"}
    first = tick(kari, body)
    assert first.status_code == 201
    assert first.headers["HX-Trigger"] == "tally:changed"
    created = first.json()
    assert created["created"] is True and created["hypotheses"] == ["a", "c"]
    assert dt.datetime.fromisoformat(created["logged_at"]) == NOW

    again = tick(kari, body)
    assert again.status_code == 200
    assert again.json()["id"] == created["id"] and again.json()["created"] is False

    [enquiry] = enquiries_in(db)
    assert enquiry.id == created["id"] and enquiry.agent_id == people.agent.id and enquiry.token_id is None
    assert (enquiry.channel, enquiry.segment, enquiry.is_other) == ("chat", "business", False)
    assert row_counts(db)["enquiry_hypothesis"] == 2


def test_a_tick_that_waited_in_the_browser_counts_when_it_was_ticked(
    db: Database, web: Web, people: People, clock: time_machine.Traveller
) -> None:
    """A tick queued offline on the launch's last day and sent after midnight was refused
    (outside_window) and lost, and any waiting tick landed in a later digest or day: the checklist
    now sends when it was ticked, and the server counts it then."""
    last_day = dt.date(2026, 11, 18)
    make_launch(db, slug="last-day", ends_on=last_day)
    kari = web("kari")
    ticked = dt.datetime(2026, 11, 18, 22, 50, tzinfo=dt.UTC)  # 23:50 in Oslo, the last day
    body = {"channel": "chat", "hypotheses": ["a"], "idempotency_key": "queued-0001", "occurred_at": ticked.isoformat()}
    clock.move_to(dt.datetime(2026, 11, 18, 23, 10, tzinfo=dt.UTC))  # 00:10 the next day: the connection is back
    assert tick(kari, {"channel": "chat", "hypotheses": ["a"]}, slug="last-day").status_code == 409  # sent now: out
    sent = tick(kari, body, slug="last-day")
    assert sent.status_code == 201, sent.text
    assert dt.datetime.fromisoformat(sent.json()["logged_at"]) == ticked
    [enquiry] = enquiries_in(db)
    assert enquiry.created_at == ticked and enquiry.recorded_at == dt.datetime(2026, 11, 18, 23, 10, tzinfo=dt.UTC)
    again = tick(kari, body, slug="last-day")  # the queue's retry, with the same time
    assert again.status_code == 200 and again.json()["id"] == enquiry.id
    # Counted on its day, as the launch page shows it.
    page = kari.get("/launches/last-day?from=2026-11-18&to=2026-11-18").text
    assert re.search(r'id="total-count">1<', page), page[:2000]
    # Not in the future: a browser's clock is corrected by the server's, not trusted past a minute.
    future = {**body, "idempotency_key": "queued-0002", "occurred_at": "2026-11-18T23:30:00+00:00"}
    refused = tick(kari, future, slug="last-day")
    assert refused.status_code == 422 and error_of(refused)["code"] == "occurred_at_out_of_range"


def test_a_ticks_own_time_is_held_to_what_a_browser_queue_can_have_waited(
    db: Database, web: Web, people: People, launch: Launch
) -> None:
    """occurred_at on the tick's body let any signed-in agent backdate an enquiry to the launch's first
    minute (rewriting days already posted, and a fix's "before"); a browser clock corrected since the
    page loaded had a waited tick refused as in the future. And a tick that waited more than the undo's
    15 minutes was undoable but not in My enquiries, where an agent undoes a note with a name in it."""
    kari = web("kari")
    day_ago = tick(kari, {"channel": "phone", "occurred_at": (NOW - dt.timedelta(hours=25)).isoformat()})
    assert day_ago.status_code == 422 and error_of(day_ago)["code"] == "occurred_at_out_of_range"
    ahead = tick(kari, {"channel": "phone", "occurred_at": (NOW + dt.timedelta(minutes=5)).isoformat()})
    assert ahead.status_code == 201 and dt.datetime.fromisoformat(ahead.json()["logged_at"]) == NOW
    waited = tick(
        kari, {"channel": "chat", "note": "about fees", "occurred_at": (NOW - dt.timedelta(minutes=40)).isoformat()}
    )
    assert waited.status_code == 201, waited.text
    recent = kari.get(f"{CHECKLIST}/recent", headers={**HTMX}).text
    assert f'hx-post="/enquiries/{waited.json()["id"]}/undo"' in recent
    assert kari.post(f"/enquiries/{waited.json()['id']}/undo", headers={**HTMX}).status_code == 200


def test_a_retry_with_its_time_is_the_tick_first_sent_without_it(
    db: Database, web: Web, people: People, launch: Launch, clock: time_machine.Traveller
) -> None:
    """The checklist sends a tick's time with every retry; its first try, sent at once without it, may have
    been recorded with its answer lost. The retry was refused as another enquiry under the same key."""
    kari = web("kari")
    body = {"channel": "phone", "hypotheses": ["a"], "idempotency_key": "lost-answer-1"}
    first = tick(kari, body)
    assert first.status_code == 201
    clock.shift(dt.timedelta(seconds=4))
    retry = tick(kari, {**body, "occurred_at": (NOW - dt.timedelta(seconds=1)).isoformat()})
    assert retry.status_code == 200, retry.text
    assert retry.json()["id"] == first.json()["id"] and retry.json()["created"] is False
    # Another time altogether is another enquiry.
    other = tick(kari, {**body, "occurred_at": (NOW - dt.timedelta(days=2)).isoformat()})
    assert other.status_code in (409, 422)


def test_ticks_without_a_key_are_separate_enquiries(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    ids = {tick(kari, {"channel": "phone", "hypotheses": ["a"]}).json()["id"] for _ in range(3)}
    assert len(ids) == 3 and len(enquiries_in(db)) == 3


def test_an_other_tick_keeps_a_scrubbed_note(db: Database, web: Web, people: People, launch: Launch) -> None:
    response = tick(web("kari"), {"channel": "phone", "note": "Spurte om gebyr, ring 912 34 567"})
    assert response.status_code == 201 and response.json()["hypotheses"] == []
    [enquiry] = enquiries_in(db)
    assert enquiry.is_other and enquiry.note == "Spurte om gebyr, ring [phone]"


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("closed launch", 409, "launch_not_live"),
        ("retired hypothesis", 422, "retired_hypothesis"),
        ("over-long note", 422, "note_too_long"),
        ("far too long note", 422, "note_too_long"),  # past the early cut-off: was `invalid`
        ("unknown hypothesis", 422, "unknown_hypothesis"),
        ("unknown channel", 422, "unknown_channel"),
        ("unknown launch", 404, "unknown_launch"),
    ],
)
def test_a_refused_tick_says_why_and_records_nothing(
    db: Database, web: Web, people: People, launch: Launch, case: str, status: int, code: str
) -> None:
    make_launch(db, slug="closed-launch", status=LaunchStatus.CLOSED)
    kari, lena = web("kari"), web("lena")
    lena.post(f"/launches/{SLUG}/hypotheses/b", data={"text": "Hypothesis b", "status": "retired"})
    body: dict[str, Any] = {"channel": "phone", "hypotheses": ["a"]}
    slug = SLUG
    match case:
        case "closed launch":
            slug = "closed-launch"
        case "retired hypothesis":
            body["hypotheses"] = ["a", "b"]
        case "over-long note":
            body = {"channel": "phone", "note": "x" * 501}
        case "far too long note":
            body = {"channel": "phone", "note": "x" * 2001}
        case "unknown hypothesis":
            body["hypotheses"] = ["nope"]
        case "unknown channel":
            body["channel"] = "fax"
        case "unknown launch":
            slug = "nope"
    response = tick(kari, body, slug=slug)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert enquiries_in(db) == []


def test_a_tick_from_a_browser_without_its_csrf_cookie_is_refused_before_its_body_is_read(
    db: Database, web: Web, people: People, launch: Launch
) -> None:
    """Such a tick goes through the framework's stack (which gives the browser its cookie), whose route
    took the body as a parameter, read and checked before the CSRF check: a far too long note was told
    as `invalid` where the hot path says the page is out of date, as it does for any body."""
    kari = web("kari")
    token = kari.token(CHECKLIST)
    headers = {"X-CSRF-Token": token, **JSON}
    for body in ({"channel": "phone", "note": "x" * 2001}, {"channel": "phone", "hypotheses": ["a"]}, {"x": 1}):
        kari.client.cookies.delete(csrf.COOKIE)
        refused = kari.client.post(TICK, json=body, headers=headers)
        assert refused.status_code == 403 and error_of(refused)["code"] == "csrf", refused.text
    assert enquiries_in(db) == []
    # As the refusal says: the page reloaded (with the cookie the refusal gave) ticks.
    reloaded = {"X-CSRF-Token": kari.token(CHECKLIST), **JSON}
    assert kari.client.post(TICK, json={"channel": "phone"}, headers=reloaded).status_code == 201


def test_a_note_of_exactly_500_characters_is_fine(db: Database, web: Web, people: People, launch: Launch) -> None:
    assert tick(web("kari"), {"channel": "phone", "note": "x" * 500}).status_code == 201


def test_a_signed_out_tick_is_refused(app: Any, db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    assert kari.post("/logout").status_code == 303
    token = page_token(kari.client, "/login")  # a valid token for a signed-out browser
    response = kari.client.post(TICK, json={"channel": "phone"}, headers={"X-CSRF-Token": token, **JSON})
    assert response.status_code == 401 and error_of(response)["code"] == "signed_out"
    assert enquiries_in(db) == []


def test_a_tick_from_a_session_ended_elsewhere_is_refused(
    db: Database, web: Web, people: People, launch: Launch
) -> None:
    laptop, phone = web("kari"), web("kari")
    token = phone.token(CHECKLIST)  # the page was open on the phone...
    new = {"current": PASSWORD, "new": "a brand new password"}
    assert laptop.post("/me/password", data=new).status_code == 303  # ...when the password changed
    response = phone.client.post(TICK, json={"channel": "phone"}, headers={"X-CSRF-Token": token, **JSON})
    assert response.status_code == 401 and error_of(response)["code"] == "signed_out"
    assert enquiries_in(db) == []
    assert tick(laptop, {"channel": "phone"}).status_code == 201


# --- counts ---------------------------------------------------------------------------------------


def count_of(html: str, key: str) -> int:
    match = re.search(rf'<span class="count" id="count-{key}" hx-swap-oob="true">.*?<span class="n">(\d+)</span>', html)
    assert match, f"no out-of-band count for {key}"
    return int(match.group(1))


def test_the_counts_fragment_swaps_in_todays_counts(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari, ola = web("kari"), web("ola")
    for body in ({"hypotheses": ["a"]}, {"hypotheses": ["a", "b"]}, {"note": "fees"}):
        assert tick(kari, {"channel": "phone", **body}).status_code == 201
    assert tick(ola, {"channel": "chat", "hypotheses": ["a"]}).status_code == 201
    log(db, launch, "c", at=NOW - dt.timedelta(days=1))  # yesterday: not today's

    response = kari.get(f"{CHECKLIST}/counts", headers={**HTMX})
    assert response.status_code == 200
    html = response.text
    assert (count_of(html, "a"), count_of(html, "b"), count_of(html, "c"), count_of(html, "other")) == (3, 1, 0, 1)
    assert '<p id="summary" class="summary" hx-swap-oob="true">' in html
    assert re.search(r'You today: <strong id="mine-today">3</strong>', html)
    # The last digest was at 13:00 Oslo time; the team logged 4 since.
    assert re.search(r'Team since 13:00: <strong id="team-since">4</strong>', html)
    assert re.search(r'You today: <strong id="mine-today">1</strong>', ola.get(f"{CHECKLIST}/counts").text)
    # The page itself starts from the same numbers.
    page = kari.get(CHECKLIST).text
    assert re.search(r'id="count-a"><span class="visually-hidden">today: </span><span class="n">3</span>', page)


def test_team_since_the_evening_before_names_its_day(
    db: Database, web: Web, people: People, launch: Launch, clock: time_machine.Traveller
) -> None:
    """At 08:30 the team's count runs from yesterday's 16:00 digest, and said "Team since 16:00", a time
    still to come that day (the spike alerts name such a start "Wed 16:00")."""
    log(db, launch, "a", at=dt.datetime(2026, 11, 18, 16, 0, tzinfo=dt.UTC))  # Wednesday 17:00 in Oslo
    clock.move_to(dt.datetime(2026, 11, 19, 7, 30, tzinfo=dt.UTC))  # Thursday 08:30
    kari = web("kari")
    assert tick(kari, {"channel": "phone", "hypotheses": ["a"]}).status_code == 201
    html = kari.get(f"{CHECKLIST}/counts", headers={**HTMX}).text
    assert re.search(r'Team since Wed 16:00: <strong id="team-since">2</strong>', html)
    clock.move_to(dt.datetime(2026, 11, 19, 8, 30, tzinfo=dt.UTC))  # 09:30, after today's first digest
    assert re.search(r"Team since 09:00: <strong id=\"team-since\">0</strong>", kari.get(f"{CHECKLIST}/counts").text)


# --- undo -----------------------------------------------------------------------------------------


def test_undo_own_enquiry_as_json(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    logged = tick(kari, {"channel": "phone", "hypotheses": ["a"]}).json()
    response = kari.post(f"/enquiries/{logged['id']}/undo", headers={**JSON})
    assert response.status_code == 200
    assert response.json() == {"id": logged["id"], "undone": True}
    assert response.headers["HX-Trigger"] == "tally:changed"
    assert enquiries_in(db) == [] and row_counts(db)["enquiry_hypothesis"] == 0
    again = kari.post(f"/enquiries/{logged['id']}/undo", headers={**JSON})
    assert again.status_code == 404 and error_of(again)["code"] == "unknown_enquiry"


def test_undo_own_enquiry_from_the_recent_list(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    first = tick(kari, {"channel": "phone", "hypotheses": ["a"]}).json()
    second = tick(kari, {"channel": "chat", "note": "about fees"}).json()
    recent = kari.get(f"{CHECKLIST}/recent", headers={**HTMX}).text
    assert (
        f'hx-post="/enquiries/{first["id"]}/undo"' in recent and f'hx-post="/enquiries/{second["id"]}/undo"' in recent
    )

    response = kari.post(f"/enquiries/{second['id']}/undo", headers={**HTMX})
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "tally:changed"
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" not in response.text  # the fragment for #recent, not a page
    assert f'hx-post="/enquiries/{first["id"]}/undo"' in response.text
    assert f"/enquiries/{second['id']}/undo" not in response.text and "about fees" not in response.text
    assert [e.id for e in enquiries_in(db)] == [first["id"]]


def test_a_queued_retry_of_a_tick_undone_from_the_recent_list_records_nothing(
    db: Database, web: Web, people: People, launch: Launch
) -> None:
    """The tick's answer was lost, so the browser still holds it; meanwhile the agent undid it in
    "My enquiries". When the browser sends it again, it is not logged a second time."""
    kari = web("kari")
    body = {"channel": "phone", "hypotheses": ["a"], "idempotency_key": "tick-42"}
    logged = tick(kari, body).json()
    assert kari.post(f"/enquiries/{logged['id']}/undo", headers={**JSON}).status_code == 200
    retry = tick(kari, body)
    assert retry.status_code == 404 and error_of(retry)["code"] == "unknown_enquiry"
    assert enquiries_in(db) == [] and row_counts(db)["enquiry_hypothesis"] == 0
    # A new tick (its own key) is logged as ever.
    assert tick(kari, {**body, "idempotency_key": "tick-43"}).status_code == 201


def test_undo_someone_elses_enquiry_is_refused(db: Database, web: Web, people: People, launch: Launch) -> None:
    logged = tick(web("kari"), {"channel": "phone"}).json()
    ola = web("ola")
    response = ola.post(f"/enquiries/{logged['id']}/undo", headers={**JSON})
    assert response.status_code == 403 and error_of(response)["code"] == "not_yours"
    as_htmx = ola.post(f"/enquiries/{logged['id']}/undo", headers={**HTMX})
    assert as_htmx.status_code == 403
    assert as_htmx.headers["HX-Retarget"] == "#flash"
    assert "You can only undo enquiries you logged yourself." in as_htmx.text
    # Leads and admins cannot either: undo is for mistakes, by whoever made them.
    assert web("ada").post(f"/enquiries/{logged['id']}/undo", headers={**JSON}).status_code == 403
    assert len(enquiries_in(db)) == 1


def test_undo_works_for_15_minutes_and_no_longer(
    db: Database, web: Web, people: People, launch: Launch, clock: time_machine.Traveller
) -> None:
    kari = web("kari")
    early = tick(kari, {"channel": "phone"}).json()
    late = tick(kari, {"channel": "phone"}).json()
    clock.shift(UNDO_WINDOW)  # exactly 15 minutes on: still allowed
    assert kari.post(f"/enquiries/{early['id']}/undo", headers={**JSON}).status_code == 200
    clock.shift(dt.timedelta(seconds=1))
    response = kari.post(f"/enquiries/{late['id']}/undo", headers={**JSON})
    assert response.status_code == 409 and error_of(response)["code"] == "too_late"
    assert "15 minutes" in error_of(response)["message"]
    assert [e.id for e in enquiries_in(db)] == [late["id"]]
    # And it has left the recent list, which only offers what can still be undone.
    assert f"/enquiries/{late['id']}/undo" not in kari.get(f"{CHECKLIST}/recent").text


# --- sticky toggles -------------------------------------------------------------------------------


def checked(html: str, name: str) -> list[str]:
    return [
        str(a["value"])
        for t, a in Elements(html).tags
        if t == "input" and a.get("name") == name and "checked" in a and a.get("type") == "radio"
    ]


def test_sticky_toggles_are_remembered(app: Any, db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    page = kari.get(CHECKLIST).text
    assert (checked(page, "channel"), checked(page, "segment")) == (["phone"], ["private"])
    assert kari.post("/me/checklist", data={"channel": "chat"}).status_code == 204
    assert kari.post("/me/checklist", data={"segment": "business"}).status_code == 204
    page = kari.get(CHECKLIST).text
    assert (checked(page, "channel"), checked(page, "segment")) == (["chat"], ["business"])
    # Remembered for the person, so on another device and another launch too.
    make_launch(db, slug="other-launch")
    elsewhere = web("kari").get("/launches/other-launch/checklist").text
    assert (checked(elsewhere, "channel"), checked(elsewhere, "segment")) == (["chat"], ["business"])
    # Someone else's are their own.
    assert checked(web("ola").get(CHECKLIST).text, "channel") == ["phone"]


@pytest.mark.parametrize("field", ["channel", "segment"])
def test_a_remembered_toggle_with_a_control_character_is_refused_by_name(
    db: Database, web: Web, people: People, launch: Launch, field: str
) -> None:
    """SQLite stored a NUL in it, PostgreSQL refused it (a generic "cannot be stored")."""
    kari = web("kari")
    for character in ("\x00", "\x07"):
        response = kari.post("/me/checklist", data={field: f"chat{character}"}, headers=JSON)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["field"] == field
        assert error["message"] == f"The {field} holds a control character (such as \\0): write plain text."
    page = kari.get(CHECKLIST).text
    assert (checked(page, "channel"), checked(page, "segment")) == (["phone"], ["private"])


def test_a_remembered_channel_the_launch_lacks_falls_back(db: Database, web: Web, people: People) -> None:
    make_launch(db, slug=SLUG, channels=["phone", "chat"])
    kari = web("kari")
    assert kari.post("/me/checklist", data={"channel": "social"}).status_code == 204
    assert checked(kari.get(CHECKLIST).text, "channel") == ["phone"]


def test_a_launchs_own_channel_keeps_its_name_beside_translated_defaults(
    db: Database, web: Web, people: People
) -> None:
    # The default channels and segments are translated; a launch's own are shown as written, even
    # when they are spelt like a status ("late" is not "sent late", "open" not "åpen").
    make_launch(db, slug="words", channels=["phone", "late"], segments=["private", "open"])
    kari = web("kari")
    kari.post("/me/language", data={"language": "nb"})
    html = kari.get("/launches/words/checklist").text
    shown = dict(re.findall(r'name="(?:channel|segment)" value="(\w+)"[^>]*><span>([^<]*)</span>', html))
    assert shown == {"phone": "telefon", "late": "late", "private": "privat", "open": "open"}
    ticked = tick(kari, {"hypotheses": [], "channel": "late", "segment": "open", "note": "Vil ha gammel app"}, "words")
    assert ticked.status_code == 201, ticked.text
    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        page = kari.get("/launches/words?range=today").text
    splits = page[page.index(">Per kanal<") :]
    assert '<th scope="row">late</th>' in splits and "sendt forsinket" not in page
    assert '<th scope="row">open</th>' in splits and '<th scope="row">åpen</th>' not in page


# --- languages and formats ------------------------------------------------------------------------


def test_a_norwegian_user_sees_norwegian(app: Any, db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    response = kari.post("/me/language", data={"language": "nb", "next": CHECKLIST})
    assert response.status_code == 303 and response.headers["location"] == CHECKLIST
    assert set_cookies(response, "tally_lang")
    with db.session() as session:
        saved = session.get(User, people.agent.id)
    assert saved is not None and saved.language == "nb"

    page = kari.get(CHECKLIST)
    assert page.headers["Content-Language"] == "nb"
    assert '<html lang="nb">' in page.text
    assert "<title>Sjekkliste: Test launch · Launch Tally</title>" in page.text
    assert "Annet – noe som ikke er på listen" in page.text
    assert "Du i dag:" in page.text and "You today" not in page.text
    # The script's texts too (shown in the browser, e.g. after a tick).
    assert "&#34;other&#34;: &#34;Annet&#34;" in page.text

    # The choice belongs to the person: a fresh browser shows it too (no language cookie there).
    other_browser = web("kari")
    assert other_browser.get(CHECKLIST).headers["Content-Language"] == "nb"
    # Others keep their own language.
    ola_page = web("ola").get(CHECKLIST)
    assert ola_page.headers["Content-Language"] == "en" and "<title>Checklist: Test launch" in ola_page.text


def test_errors_shown_to_a_norwegian_user_are_norwegian(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    kari.post("/me/language", data={"language": "nb"})
    logged = tick(web("ola"), {"channel": "phone"}).json()
    response = kari.post(f"/enquiries/{logged['id']}/undo", headers={**HTMX})
    assert response.status_code == 403
    assert response.headers["Content-Language"] == "nb"
    assert "<p>Du kan bare angre henvendelser du registrerte selv.</p>" in response.text
    # Not the English message under it: a Norwegian reader met every error twice, once in English.
    assert "You can only undo enquiries you logged yourself." not in response.text


@pytest.mark.parametrize(
    ("accept", "language", "words"),
    [
        ("nb", "nb", "Logg inn"),
        ("nb-NO,nb;q=0.9,en;q=0.5", "nb", "Logg inn"),
        ("no", "nb", "Logg inn"),
        ("nn-NO", "nb", "Logg inn"),
        ("sv-SE,en;q=0.5", "en", "Sign in"),
        ("en-GB", "en", "Sign in"),
        ("", "en", "Sign in"),
    ],
)
def test_the_login_page_follows_accept_language(app: Any, client: Any, accept: str, language: str, words: str) -> None:
    response = browser(app).get("/login", headers={"Accept-Language": accept} if accept else {})
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language
    assert f"<h1>{words}</h1>" in response.text and f'<html lang="{language}">' in response.text


def test_a_language_chosen_before_signing_in_is_kept(app: Any, client: Any, people: People) -> None:
    me = browser(app)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', me.get("/login").text)
    assert token
    response = me.post("/me/language", data={"language": "nb", "next": "/login", "csrf_token": token.group(1)})
    assert response.status_code == 303
    assert "<h1>Logg inn</h1>" in me.get("/login").text
    assert sign_in(me, "kari").status_code == 303
    assert me.get("/").headers["Content-Language"] == "nb"


def test_an_unknown_language_is_refused(web: Web, people: People) -> None:
    response = web("kari").post("/me/language", data={"language": "xx"}, headers={**JSON})
    assert response.status_code == 422 and error_of(response)["field"] == "language"


def test_times_dates_and_numbers_follow_the_language(db: Database, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    tick(kari, {"channel": "phone", "hypotheses": ["a"]})
    with db.write_connection() as connection:  # 1,233 more, so the total needs a thousands separator
        insert_many(
            connection,
            [
                NewEnquiry(launch_id=launch.id or 0, channel="chat", created_at=NOW - dt.timedelta(days=1))
                for _ in range(1233)
            ],
        )

    def pages() -> dict[str, str]:
        return {
            "recent": kari.get(f"{CHECKLIST}/recent").text,
            "index": kari.get("/").text,
            "dashboard": kari.get(f"/launches/{SLUG}?range=launch").text,
        }

    english = pages()
    kari.post("/me/language", data={"language": "nb"})
    norwegian = pages()
    # 24-hour clock in both (English here means en_GB: these teams work in Nordic time).
    for html in (english["recent"], norwegian["recent"]):
        assert '<time datetime="2026-11-18T14:05:00+00:00">15:05</time>' in html
        assert "PM" not in html
    assert "16 Nov 2026 – 7 Dec 2026" in english["index"]
    assert "16. nov. 2026 – 7. des. 2026" in norwegian["index"]
    assert '<span class="number" id="total-count">1,234</span>' in english["dashboard"]
    assert '<span class="number" id="total-count">1\xa0234</span>' in norwegian["dashboard"]


def test_agents_signed_in_by_a_trusted_proxy_can_tick(
    database_url: str, db: Database, people: People, launch: Launch
) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, trusted_user_header="X-Remote-User"), db=db)
    with TestClient(app, client=("127.0.0.1", 40000)) as client:  # the proxy, on the default allowed address
        headers = {"X-Remote-User": "kari"}
        page = client.get(f"/launches/{SLUG}/checklist", headers=headers)
        token = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page.text)
        assert page.status_code == 200 and token
        response = client.post(
            f"/launches/{SLUG}/enquiries",
            json={"channel": "phone", "hypotheses": ["a"]},
            headers={**headers, "X-CSRF-Token": token.group(1)},
        )
        assert response.status_code == 201, response.text
        refused = client.post(
            f"/launches/{SLUG}/enquiries",
            json={"channel": "phone"},
            headers={"X-Remote-User": "nobody", "X-CSRF-Token": token.group(1), "Accept": "application/json"},
        )
        # Final, not "signed out": signing in again cannot help, so the page must not keep retrying.
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "unknown_user"
    [enquiry] = enquiries_in(db)
    assert enquiry.agent_id == people.agent.id


def test_a_launch_outside_its_dates_says_so_and_takes_no_ticks(db: Database, web: Web, people: People) -> None:
    make_launch(db, slug=SLUG, starts_on=dt.date(2026, 11, 1), ends_on=dt.date(2026, 11, 17))  # NOW is the 18th
    page = web("kari").get(CHECKLIST)
    assert "dates are over (or have not begun)" in page.text
    assert len(re.findall(r'<button type="button" class="tick"[^>]*disabled', page.text)) == 3
    response = tick(web("kari"), {"channel": "phone", "hypotheses": ["a"]})
    assert response.status_code == 409 and response.json()["error"]["code"] == "outside_window"
