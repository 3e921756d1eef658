"""Who may do what, checked on the server (requests carry a valid CSRF token, so only the role
decides), and what a lead's edits actually do."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select
from typer.testing import CliRunner

from app import api_tokens, auth
from app.cli import cli
from app.db import Database
from app.models import AuditEvent, EnquiryHypothesis, Hypothesis, HypothesisRevision, Launch, Role, User
from tests.conftest import People, WebUser
from tests.factories import T0, log, make_launch
from tests.helpers import (
    JSON,
    Elements,
    browser,
    changed_tables,
    error_of,
    launch_form,
    page_token,
    sent_while_a_row_is_uncommitted,
    sign_in,
    snapshot,
)

Web = Callable[[str | None], WebUser]
SLUG = "test-launch"
AGENT, LEAD, ADMIN = Role.AGENT, Role.LEAD, Role.ADMIN
USERNAMES = {None: None, AGENT: "kari", LEAD: "lena", ADMIN: "ada"}
ORDER = [AGENT, LEAD, ADMIN]
IMPORT = "slug: imported\nname: Imported\nstarts_on: 2026-12-01\nhypotheses:\n  - key: one\n    text: One\n"

# (method, url, the least role that may, status when allowed, form): "{kari}" and "{token}" are
# filled in with real ids; "EDIT" is the editor's own form; "IMPORT" a file upload.
ACTIONS: list[tuple[str, str, Role, int, Any]] = [
    ("GET", "/", AGENT, 200, None),
    ("GET", f"/launches/{SLUG}", AGENT, 200, None),
    ("GET", f"/launches/{SLUG}/checklist", AGENT, 200, None),
    ("GET", f"/launches/{SLUG}/checklist/counts", AGENT, 200, None),
    ("GET", f"/launches/{SLUG}/export", AGENT, 200, None),
    ("GET", "/me", AGENT, 200, None),
    ("POST", "/me/checklist", AGENT, 204, {"channel": "chat"}),
    ("GET", f"/launches/{SLUG}/edit", LEAD, 200, None),
    ("POST", f"/launches/{SLUG}/edit", LEAD, 303, "EDIT"),
    ("POST", f"/launches/{SLUG}/hypotheses", LEAD, 303, {"key": "new-one", "text": "Something new"}),
    ("POST", f"/launches/{SLUG}/hypotheses/a", LEAD, 303, {"text": "Changed", "status": "confirmed"}),
    ("POST", "/launches", LEAD, 303, {"slug": "new-launch", "name": "New launch", "starts_on": "2026-12-01"}),
    ("POST", "/launches", LEAD, 303, "IMPORT"),
    ("GET", "/admin/users", ADMIN, 200, None),
    ("POST", "/admin/users", ADMIN, 200, {"username": "newbie", "role": "admin"}),
    ("POST", "/admin/users/{kari}", ADMIN, 303, {"role": "admin", "active": "1"}),
    ("POST", "/admin/users/{kari}/password", ADMIN, 200, {}),
    ("GET", "/admin/tokens", ADMIN, 200, None),
    ("POST", "/admin/tokens", ADMIN, 200, {"name": "crm"}),
    ("POST", "/admin/tokens/{token}/revoke", ADMIN, 303, {}),
]


def expected_status(role: Role | None, least: Role, allowed: int) -> int:
    if role is None:
        return 303  # to the sign-in page
    return allowed if ORDER.index(role) >= ORDER.index(least) else 403


TABLE = [
    pytest.param(
        method,
        url,
        role,
        expected_status(role, least, allowed),
        form,
        id=f"{method} {url}{' import' if form == 'IMPORT' else ''} as {role or 'nobody'}",
    )
    for method, url, least, allowed, form in ACTIONS
    for role in (None, *ORDER)
]


@pytest.fixture
def launch(db: Database) -> Launch:
    return make_launch(db, slug=SLUG)


@pytest.fixture
def token_id(db: Database) -> int:
    with db.transaction() as session:
        token, _ = api_tokens.create(session, name="telephony", now=T0, actor="test")
    assert token.id is not None
    return token.id


@pytest.mark.parametrize(("method", "url", "role", "expected", "form"), TABLE)
def test_who_may_do_what(
    app: Any,
    db: Database,
    web: Web,
    people: People,
    launch: Launch,
    token_id: int,
    method: str,
    url: str,
    role: Role | None,
    expected: int,
    form: Any,
) -> None:
    username = USERNAMES[role]
    client = web(username).client if username else browser(app)
    url = url.format(kari=people.agent.id, token=token_id)
    before = snapshot(db)
    if method == "GET":
        response = client.get(url)
    else:
        token = page_token(client, "/" if username else "/login")
        if form == "IMPORT":
            files = {"file": ("imported.yaml", IMPORT.encode(), "application/yaml")}
            response = client.post(url, files=files, data={"csrf_token": token})
        else:
            data = launch_form(launch, name="Renamed") if form == "EDIT" else form
            response = client.post(url, data=data, headers={"X-CSRF-Token": token})

    assert response.status_code == expected, response.text[:500]
    if role is None:
        assert response.headers["location"].startswith("/login?next=")
    elif expected == 303:
        assert not response.headers["location"].startswith("/login")
    if expected in (303, 403) and (role is None or expected == 403):
        assert not changed_tables(before, snapshot(db)), "a refused request changed something"
    if expected == 403:
        assert "Your role does not give access to this." in response.text


def test_a_refusal_as_json_names_the_role(app: Any, web: Web, people: People, launch: Launch) -> None:
    kari = web("kari")
    response = kari.post(f"/launches/{SLUG}/hypotheses", data={"key": "x", "text": "X"}, headers={**JSON})
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "forbidden_role"
    assert "needs the lead role" in error["message"] and "agent" in error["message"]


def test_pages_show_only_the_links_a_role_can_use(app: Any, web: Web, people: People, launch: Launch) -> None:
    agent, lead, admin = (web(name).get("/").text for name in ("kari", "lena", "ada"))
    assert f"/launches/{SLUG}/edit" not in agent and "/admin/users" not in agent
    assert f"/launches/{SLUG}/edit" in lead and "/admin/users" not in lead
    assert f"/launches/{SLUG}/edit" in admin and "/admin/users" in admin and "/admin/tokens" in admin


def test_a_disabled_lead_loses_the_role_at_once(app: Any, web: Web, people: People, launch: Launch) -> None:
    lena, ada = web("lena"), web("ada")
    assert lena.get(f"/launches/{SLUG}/edit").status_code == 200
    assert ada.post(f"/admin/users/{people.lead.id}", data={"role": "agent", "active": "1"}).status_code == 303
    assert lena.get(f"/launches/{SLUG}/edit").status_code == 403


def test_an_admin_cannot_lock_themselves_out(app: Any, web: Web, people: People) -> None:
    ada = web("ada")
    for form in ({"role": "lead", "active": "1"}, {"role": "admin"}):
        response = ada.post(f"/admin/users/{people.admin.id}", data=form)
        assert response.status_code == 422
        assert "cannot remove your own admin role" in response.text
    assert ada.get("/admin/users").status_code == 200


def row_form(page: str, user_id: int | None) -> dict[str, str]:
    """What a user's row form on the Users page sends as it was rendered (Save pressed, nothing changed)."""
    form: dict[str, str] = {}
    inside, select_name = False, ""
    for tag, attrs in Elements(page).tags:
        if tag == "form":
            inside = attrs.get("action") == f"/admin/users/{user_id}"
        elif inside and tag == "input" and (attrs.get("type") != "checkbox" or "checked" in attrs):
            form[str(attrs["name"])] = str(attrs.get("value") or "")
        elif inside and tag == "select":
            select_name = str(attrs["name"])
        elif inside and tag == "option" and "selected" in attrs:
            form[select_name] = str(attrs["value"])
    assert "role" in form and "csrf_token" in form, page[:300]
    return form


def tally(db: Database, *args: str) -> Any:
    """`tally ARGS` on the test's database: another admin's change, made after a page in a test was opened."""
    return CliRunner().invoke(cli, list(args), env={"TALLY_DATABASE_URL": db.url})


def changed_elsewhere(db: Database, *args: str) -> None:
    result = tally(db, "users", *args)
    assert result.exit_code == 0, result.output


def access_of(db: Database, username: str) -> tuple[Role, bool]:
    with db.session() as session:
        user = auth.get_user(session, username)
        assert user is not None
        return user.role, user.is_active


def test_a_page_opened_before_a_user_was_disabled_changes_only_the_role_it_was_used_for(
    app: Any, db: Database, web: Web, people: People
) -> None:
    """Ada's Users page was open when Bob disabled Ola; Ada then made Ola a lead there, and the row's
    form, still ticked "can sign in", enabled her again (and wiped her failed sign-ins) in Ada's name."""
    ada = web("ada")
    page = ada.get("/admin/users").text
    changed_elsewhere(db, "disable", "ola")
    answer = ada.client.post(
        f"/admin/users/{people.other_agent.id}", data=row_form(page, people.other_agent.id) | {"role": "lead"}
    )
    assert answer.status_code == 303, answer.text[:500]
    assert access_of(db, "ola") == (Role.LEAD, False)
    with db.session() as session:
        actions = session.exec(
            select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.target_id == str(people.other_agent.id))
        ).all()
    assert ("user.enabled", "ada") not in actions and ("user.role_changed", "ada") in actions


def test_a_change_someone_else_made_to_the_same_field_since_the_page_was_opened_is_refused(
    app: Any, db: Database, web: Web, people: People
) -> None:
    """Changed on an old page, a role someone else changed since would have been overwritten unseen: the
    admin is told, and the page shows the user as they are now."""
    ada = web("ada")
    page = ada.get("/admin/users").text
    changed_elsewhere(db, "role", "ola", "lead")
    answer = ada.client.post(
        f"/admin/users/{people.other_agent.id}", data=row_form(page, people.other_agent.id) | {"role": "admin"}
    )
    assert answer.status_code == 409, answer.text[:500]
    assert "Someone else changed this since you opened it: nothing was saved. See the current values." in answer.text
    assert row_form(answer.text, people.other_agent.id)["role"] == "lead"
    assert access_of(db, "ola") == (Role.LEAD, True)
    # The same for "can sign in": Bob disabled Kari, and Ada's old page unticks it too.
    page = ada.get("/admin/users").text
    changed_elsewhere(db, "disable", "kari")
    form = row_form(page, people.agent.id)
    del form["active"]
    assert ada.client.post(f"/admin/users/{people.agent.id}", data=form).status_code == 409
    # Saved on the page as it is now, the change goes through.
    ola = people.other_agent.id
    again = ada.client.post(f"/admin/users/{ola}", data=row_form(answer.text, ola) | {"role": "admin"})
    assert again.status_code == 303, again.text[:500]
    assert access_of(db, "ola") == (Role.ADMIN, True)


def test_the_last_active_admin_stays_one_on_the_command_line_too(
    app: Any, db: Database, web: Web, people: People
) -> None:
    """`tally users disable ada` and `tally users role ada lead` left nobody who could open the Users page."""
    for args in (("disable", "ada"), ("role", "ada", "lead")):
        result = tally(db, "users", *args)
        assert result.exit_code != 0 and "At least one active admin must remain" in result.output, result.output
    assert access_of(db, "ada") == (Role.ADMIN, True)
    changed_elsewhere(db, "role", "lena", "admin")  # with another admin, either is allowed
    changed_elsewhere(db, "disable", "ada")
    refused = tally(db, "users", "role", "lena", "agent")  # now the only one
    assert refused.exit_code != 0 and "At least one active admin must remain" in refused.output


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    app: Any, db: Database, web: Web, people: People
) -> None:
    """On PostgreSQL each request still saw the other as an admin and both demotions went through (37
    rounds in 40): nobody was left to manage users. One at a time, the second finds itself demoted."""
    changed_elsewhere(db, "role", "lena", "admin")
    admins = {"ada": (web("ada"), people.lead.id), "lena": (web("lena"), people.admin.id)}
    for _ in range(5):
        answers = at_once({name: demotion(who, other) for name, (who, other) in admins.items()})
        assert sorted(answers.values()) == [303, 403], answers
        assert sorted(access_of(db, name)[0] for name in admins) == [Role.ADMIN, Role.AGENT]
        demoted = next(name for name in admins if access_of(db, name)[0] == Role.AGENT)
        changed_elsewhere(db, "role", demoted, "admin")


def demotion(who: WebUser, user_id: int | None) -> Callable[[], int]:
    form = {"role": "agent", "active": "1", "csrf_token": who.token()}
    return lambda: who.client.post(f"/admin/users/{user_id}", data=form).status_code


def at_once(requests: dict[str, Callable[[], int]]) -> dict[str, int]:
    """Each request sent from its own thread, all let go together; their answers' statuses."""
    start = threading.Barrier(len(requests), timeout=30)
    answers: dict[str, int] = {}

    def send(name: str) -> None:
        start.wait()
        answers[name] = requests[name]()

    threads = [threading.Thread(target=send, args=(name,)) for name in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_resetting_ones_own_password_goes_to_ones_own_page_and_keeps_one_signed_in(
    app: Any, db: Database, web: Web, people: People
) -> None:
    """A reset signs its user out everywhere: on her own row Ada was signed out too, while the page
    showed her new password as if she were still signed in. Her row links to /me instead, where she
    changes it as everyone does (and stays signed in)."""
    ada = web("ada")
    page = ada.get("/admin/users").text
    assert f'action="/admin/users/{people.admin.id}/password"' not in page
    assert f'action="/admin/users/{people.agent.id}/password"' in page
    answer = ada.post(f"/admin/users/{people.admin.id}/password")
    assert answer.status_code == 303 and answer.headers["location"] == "/me"
    assert ada.get("/admin/users").status_code == 200, "still signed in"
    assert sign_in(browser(app), "ada").status_code == 303, "the password is as it was"


def test_adding_the_same_user_twice_at_once_on_postgresql_says_the_name_is_taken(
    pg: Any, app: Any, db: Database, web: Web, people: People
) -> None:
    """A double click on Add user: both found no "nina", the second's insert hit the unique user name,
    and the admin saw "Internal Server Error" (the first's one-time password, shown on its own answer,
    was lost with the page the browser replaced)."""
    ada = web("ada")
    token = ada.token("/admin/users")
    other = db.session()
    other.add(User(username="nina", display_name="", role=Role.AGENT, password_hash="x", created_at=T0))
    other.flush()  # the first click's row, not yet committed: the second's insert waits for it
    answer = sent_while_a_row_is_uncommitted(
        db,
        other,
        "tally_user",
        lambda: ada.client.post("/admin/users", data={"username": "nina", "role": "agent", "csrf_token": token}),
    )
    assert answer.status_code == 409, answer.text[:300]
    assert "There is already a user called &#39;nina&#39;." in answer.text


# \x9b (C1: a terminal escape) and U+202E (right-to-left override) reversed what the app wrote after them.
@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x9b", "\u202e", "\u2067"])
def test_a_control_character_in_a_display_name_or_a_token_name_is_refused_by_name(
    app: Any, db: Database, web: Web, people: People, character: str
) -> None:
    """SQLite stored a NUL in either, PostgreSQL refused it (a generic "cannot be stored"), and both kept
    the other control characters: now both refuse them all, saying which field holds one."""
    ada = web("ada")
    before = snapshot(db)
    user = ada.post("/admin/users", data={"username": "nina", "role": "agent", "display_name": f"Ni{character}na"})
    assert user.status_code == 422
    assert "The display name holds a control character (such as \\0): write plain text." in user.text
    token = ada.post("/admin/tokens", data={"name": f"crm{character}"})
    assert token.status_code == 422
    assert "The token name holds a control character (such as \\0): write plain text." in token.text
    assert changed_tables(before, snapshot(db)) == []


# --- what a lead's edits do -----------------------------------------------------------------


def hypotheses(db: Database) -> dict[str, Hypothesis]:
    with db.session() as session:
        return {h.key: h for h in session.exec(select(Hypothesis).order_by(col(Hypothesis.sort_order)))}


def test_changing_a_text_keeps_the_old_one_as_a_revision(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena = web("lena")
    response = lena.post(f"/launches/{SLUG}/hypotheses/a", data={"text": "BankID login loops", "status": "open"})
    assert response.status_code == 303 and response.headers["location"] == f"/launches/{SLUG}/edit"
    assert hypotheses(db)["a"].text == "BankID login loops"
    with db.session() as session:
        [revision] = session.exec(select(HypothesisRevision)).all()
    assert revision.old_text == "Hypothesis a" and revision.changed_by == "lena"
    assert revision.hypothesis_id == hypotheses(db)["a"].id

    editor = lena.get(f"/launches/{SLUG}/edit").text
    assert "1 earlier text" in editor and "“Hypothesis a” — lena" in editor
    checklist = web("kari").get(f"/launches/{SLUG}/checklist").text
    assert "BankID login loops" in checklist and "Hypothesis a" not in checklist


def test_retiring_a_hypothesis_keeps_its_enquiries_counted(
    app: Any, client: TestClient, db: Database, web: Web, people: People, launch: Launch
) -> None:
    for hour in (8, 9):
        log(db, launch, "a", "b", at=T0.replace(hour=hour), agent=people.agent)
    lena = web("lena")
    response = lena.post(f"/launches/{SLUG}/hypotheses/a", data={"text": "Hypothesis a", "status": "retired"})
    assert response.status_code == 303
    assert hypotheses(db)["a"].status == "retired"

    with db.session() as session:
        assert len(session.exec(select(EnquiryHypothesis)).all()) == 4  # nothing was deleted
    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="reader", now=T0, actor="test")
    window = {"start": "2026-11-16T00:00:00+01:00", "end": "2026-11-17T00:00:00+01:00"}
    tally = client.get(f"/api/v1/launches/{SLUG}/tally", params=window, headers={"Authorization": f"Bearer {raw}"})
    assert tally.status_code == 200
    assert tally.json()["hypotheses"] == {"a": 2, "b": 2, "c": 0}
    assert tally.json()["total"] == 2

    kari = web("kari")
    checklist = kari.get(f"/launches/{SLUG}/checklist").text
    assert 'data-key="a"' not in checklist and 'data-key="b"' in checklist
    dashboard = kari.get(f"/launches/{SLUG}").text
    assert "Hypothesis a" in dashboard and 'class="retired"' in dashboard
    editor = lena.get(f"/launches/{SLUG}/edit").text
    assert 'value="retired" selected' in editor


def test_an_added_hypothesis_appears_on_the_checklist(app: Any, web: Web, people: People, launch: Launch) -> None:
    lena = web("lena")
    form = {"key": "receipts-moved", "text": "Cannot find receipts", "area": "Payments", "expected_per_day": "12"}
    response = lena.post(f"/launches/{SLUG}/hypotheses", data=form)
    assert response.status_code == 303
    checklist = web("kari").get(f"/launches/{SLUG}/checklist").text
    assert 'data-key="receipts-moved"' in checklist and "Cannot find receipts" in checklist
    assert 'data-shortcut="4"' in checklist  # the fourth on the list: key 4
    editor = lena.get(f"/launches/{SLUG}/edit").text
    assert 'id="t-receipts-moved" name="text" value="Cannot find receipts"' in editor


@pytest.mark.parametrize(
    ("url", "form", "words"),
    [
        (f"/launches/{SLUG}/edit", {"digest_times": "09:00, 25:00"}, "&#39;25:00&#39; is not a clock time"),
        (f"/launches/{SLUG}/edit", {"timezone": "Mars/Olympus"}, "is not an IANA time zone"),
        (f"/launches/{SLUG}/edit", {"ends_on": "2026-11-01"}, "Last day: 2026-11-01 is before the release day"),
        (f"/launches/{SLUG}/edit", {"channels": "phone, phone"}, "listed twice: phone"),
        (f"/launches/{SLUG}/edit", {"digest_times": "9:00, 13:00, 09:00"}, "Digest times: listed twice: 09:00"),
        (f"/launches/{SLUG}/edit", {"slack_channel": "#Launch"}, "is not a Slack channel: write its name in lower"),
        (f"/launches/{SLUG}/hypotheses", {"key": "a", "text": "Again"}, "already has a hypothesis with that key"),
        (f"/launches/{SLUG}/hypotheses", {"key": "Not A Key", "text": "X"}, "is not a key: use lower-case letters"),
        (f"/launches/{SLUG}/hypotheses/a", {"text": "   ", "status": "open"}, "Text: is empty: write something here"),
        (f"/launches/{SLUG}/hypotheses/zzz", {"text": "X", "status": "open"}, "has no hypothesis &#39;zzz&#39;"),
    ],
)
def test_an_invalid_edit_rerenders_the_form_and_changes_nothing(
    app: Any, db: Database, web: Web, people: People, launch: Launch, url: str, form: dict[str, str], words: str
) -> None:
    lena = web("lena")
    data = launch_form(launch, **form) if url.endswith("/edit") else form
    before = snapshot(db)
    response = lena.post(url, data=data)
    # A key in use is a conflict with what is stored (409), as everywhere a hypothesis is created.
    assert response.status_code == (409 if "already has" in words else 422)
    assert 'id="form-error"' in response.text and words in response.text
    assert f'action="/launches/{SLUG}/edit"' in response.text  # the editor, to correct and resend
    assert not changed_tables(before, snapshot(db))


def test_a_valid_edit_changes_the_launch(app: Any, db: Database, web: Web, people: People, launch: Launch) -> None:
    lena = web("lena")
    form = launch_form(launch, name="Renamed launch", digest_times="16:00, 09:00", status="closed")
    assert lena.post(f"/launches/{SLUG}/edit", data=form).status_code == 303
    with db.session() as session:
        saved = session.exec(select(Launch).where(Launch.slug == SLUG)).one()
    assert saved.name == "Renamed launch" and saved.digest_times == ["09:00", "16:00"] and saved.status == "closed"
    assert saved.updated_at > dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
