"""The fix lifecycle and its effect: PATCH with versions, lead tokens, the impact test and its verdicts."""

from __future__ import annotations

import datetime as dt
import html
import math
import random
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import col, select
from typer.testing import CliRunner

from app import api_tokens, i18n, web
from app.cli import cli
from app.db import Database
from app.insight import impact
from app.launches import hypotheses_of
from app.models import ApiToken, EnquiryHypothesis, Hypothesis, HypothesisStatus, HypothesisStatusChange, TokenRole
from app.recording.record import NewEnquiry, insert_many
from tests.factories import fresh, hypothesis_ids, make_launch
from tests.helpers import launch_form

OSLO = ZoneInfo("Europe/Oslo")
SLUG = "test-launch"
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=OSLO)
FIX = dt.datetime(2026, 11, 22, 0, 0, tzinfo=OSLO)


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, 0, tzinfo=OSLO).astimezone(dt.UTC)


# --- the test and its verdicts, as pure functions ---------------------------------------


def brute_force(before: int, before_total: int, after: int, after_total: int) -> float:
    """Fisher's two-sided p-value by listing every table with the same margins."""
    about, total = before + after, before_total + after_total

    def pmf(x: int) -> float:
        return math.comb(about, x) * math.comb(total - about, after_total - x) / math.comb(total, after_total)

    tables = [pmf(x) for x in range(max(0, after_total - (total - about)), min(about, after_total) + 1)]
    return min(1.0, sum(v for v in tables if v <= pmf(after) * (1 + 1e-7)))


def test_fishers_exact_test_is_exact() -> None:
    rng = random.Random(7)
    for _ in range(300):
        before_total, after_total = rng.randrange(1, 60), rng.randrange(1, 60)
        before, after = rng.randrange(before_total + 1), rng.randrange(after_total + 1)
        assert impact.fisher_two_sided(before, before_total, after, after_total) == pytest.approx(
            brute_force(before, before_total, after, after_total), abs=1e-12
        )
    assert impact.fisher_two_sided(0, 10, 0, 10) == 1.0 and impact.fisher_two_sided(3, 0, 0, 0) == 1.0
    # The textbook table (Fisher's tea tasting: 3 of 4 right): p = 0.4857.
    assert impact.fisher_two_sided(3, 4, 1, 4) == pytest.approx(0.4857, abs=1e-4)


@pytest.mark.parametrize(("before", "after"), [((60, 100), (40, 100)), ((12, 20), (4, 20))])
def test_a_drop_of_a_hypothesis_that_is_most_of_the_calls_is_seen(
    before: tuple[int, int], after: tuple[int, int]
) -> None:
    """60 % of the calls down to 40 %: the binomial test used before said p = 0.057, "no change"
    (it counted the hypothesis's own enquiries in the chance of falling after); Fisher's says 0.007."""
    result = assess(period(*before), period(*after))
    assert result.verdict == "down" and result.p_value is not None and result.p_value < 0.05


def period(enquiries: int, total: int, *, days: float = 3.0, start: dt.datetime = FIX) -> impact.Period:
    return impact.Period(start, start + dt.timedelta(days=days), enquiries, total)


def assess(
    before: impact.Period, after: impact.Period, *, since: dt.datetime = FIX - dt.timedelta(days=6), ended: bool = False
) -> impact.Impact:
    """The verdict of a hypothesis counting six days before the fix, the launch still on."""
    return impact.assess(FIX, before, after, since=since, ended=ended)


@pytest.mark.parametrize(
    ("before", "after", "after_days", "verdict"),
    [
        ((60, 600), (15, 500), 3, "down"),  # share 10 % -> 3 %
        ((15, 600), (60, 500), 3, "up"),
        ((60, 600), (50, 500), 3, "no_change"),  # the same share: the novelty wore off
        ((60, 600), (15, 500), 23.99 / 24, "too_early"),  # less than 24 hours after
        ((6, 600), (3, 500), 3, "too_early"),  # 9 enquiries: too few to tell yet
        ((6, 600), (4, 500), 3, "no_change"),  # 10: enough to say nothing changed
        ((5, 0), (0, 0), 3, "too_early"),  # nothing logged at all
        ((0, 0), (30, 300), 2, "too_early"),  # a closed weekend before a Monday fix: not "no change" from nothing
        ((6, 600), (3, 500), 6, "too_few"),  # as long as the six days before: waiting will not help
    ],
)
def test_verdicts_at_the_edges(
    before: tuple[int, int], after: tuple[int, int], after_days: float, verdict: str
) -> None:
    result = assess(period(*before, days=after_days), period(*after, days=after_days))
    assert result.verdict == verdict
    if verdict in ("down", "up"):
        assert result.p_value is not None and result.p_value < impact.ALPHA


def test_a_verdict_needs_24_hours_in_the_period_after_not_on_the_clock() -> None:
    """The clock said a day had passed, so six hours before against six after, cut by the launch's end,
    said "up" (p = 5e-9); a fix at 08:00 on the first day compared 00:00–08:00 (the centre closed) and
    said "too early to tell" for good."""
    six_hours = 0.25
    cut = assess(period(60, 600, days=six_hours), period(240, 600, days=six_hours), ended=True)
    assert cut.verdict == "too_little_after" and cut.p_value is None
    # Still running: the same six hours are too early, not a verdict.
    assert assess(period(60, 600, days=six_hours), period(240, 600, days=six_hours)).verdict == "too_early"
    # Nothing logged in all the time before the fix: nothing to compare with, now or later (once a day after).
    first_morning = FIX - dt.timedelta(hours=8)
    empty = impact.Period(first_morning, FIX, 0, 0)
    assert assess(empty, period(20, 200, days=1 / 3), since=first_morning).verdict == "too_early"
    closed = assess(empty, period(20, 200, days=1), since=first_morning)
    assert closed.verdict == "too_little_before" and closed.counting_since == first_morning
    # A launch that ended four hours after a fix at 20:00, the centre closed since 16:00: both periods are
    # the empty evening, which is too little after, not "no enquiries between the start and the fix".
    evening = impact.Period(FIX - dt.timedelta(hours=4), FIX, 0, 0)
    assert assess(evening, period(0, 0, days=1 / 6), ended=True).verdict == "too_little_after"
    # A fix recorded after the launch's last day: nothing after it at all.
    nothing = impact.Period(FIX, FIX, 0, 0)
    assert assess(nothing, nothing, ended=True).verdict == "too_little_after"
    # … but an empty stretch the periods will still reach back past is only too early.
    assert assess(impact.Period(FIX - dt.timedelta(hours=8), FIX, 0, 0), period(20, 200, days=1 / 3)).verdict == (
        "too_early"
    )


def test_change_is_the_relative_change_of_the_share() -> None:
    result = assess(period(100, 1000), period(28, 1000))
    assert result.change == pytest.approx(-0.72)
    assert period(30, 300, days=3).per_day == 10


def test_periods_are_equal_and_inside_the_launch() -> None:
    start, end = at(16, 0), at(30, 0)
    before, after = impact.periods(at(18), launch_start=start, launch_end=end, now=at(25))
    assert before == (at(16, 0), at(18)) and after == (at(18), at(20, 20))  # limited by the launch's start
    before, after = impact.periods(at(24), launch_start=start, launch_end=end, now=at(26))
    assert before == (at(22), at(24)) and after == (at(24), at(26))  # limited by now
    before, after = impact.periods(at(29, 18), launch_start=start, launch_end=end, now=at(30, 12))
    assert before == (at(29, 12), at(29, 18)) and after == (at(29, 18), end)  # limited by the launch's end


def test_a_fix_on_the_first_morning_is_compared_with_all_before_it_and_a_day_after() -> None:
    """Equal periods capped by the time before the fix gave a hotfix at 10:00 on the first day a verdict
    from ten hours after it, however long the launch went on."""
    start, end = at(16, 0), at(30, 0)
    fix = at(16, 10)
    before, after = impact.periods(fix, launch_start=start, launch_end=end, now=at(16, 13))
    assert before == (at(16, 7), fix) and after == (fix, at(16, 13))  # equal while they can be
    before, after = impact.periods(fix, launch_start=start, launch_end=end, now=at(20))
    assert before == (start, fix) and after == (fix, at(17, 10))  # all the ten hours before, the first day after


# --- the API ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def at_now() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def launch(db: Database) -> Any:
    """A week of enquiries that fall as the launch ages, and a fix on the 22nd that cuts 'login' to a fifth."""
    launch = make_launch(db, slug=SLUG, hypotheses=("login", "receipts"))
    ids = hypothesis_ids(db, launch)
    rng = random.Random(3)
    items = []
    for day in range(16, 28):
        volume = 400 - 25 * (day - 16)  # all enquiries decay
        login_share = 0.2 if day < 22 else 0.04
        for n in range(volume):
            roll = rng.random()
            keys = ("login",) if roll < login_share else ("receipts",) if roll < 0.6 else ()
            items.append(
                NewEnquiry(
                    launch_id=launch.id or 0,
                    channel="phone",
                    created_at=at(day, 8) + dt.timedelta(seconds=30 * n),
                    hypothesis_ids=tuple(ids[k] for k in keys),
                    idempotency_key=f"{day}-{n}",
                )
            )
    with db.write_connection() as connection:
        insert_many(connection, items)
    return launch


@pytest.fixture
def lead_token(db: Database) -> str:
    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="product", now=NOW, actor="test", role=TokenRole.LEAD)
    return raw


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def patch(client: TestClient, token: str, key: str, **body: Any) -> Any:
    return client.patch(f"/api/v1/launches/{SLUG}/hypotheses/{key}", json=body, headers=auth(token))


def test_a_fix_shipped_in_the_past_shows_its_effect(
    client: TestClient, lead_token: str, launch: Any, db: Database
) -> None:
    response = patch(
        client,
        lead_token,
        "login",
        status="fix_shipped",
        fix_shipped_at="2026-11-22T00:00:00+01:00",
        fix_url="https://example.com/5.0.1",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "fix_shipped" and body["fix_shipped_at"] == "2026-11-21T23:00:00Z"
    assert body["version"] == 2
    with db.session() as session:
        history = session.exec(select(HypothesisStatusChange)).all()
    assert [(h.from_status, h.to_status, h.changed_by) for h in history][-1] == ("open", "fix_shipped", "token:product")

    result = client.get(f"/api/v1/launches/{SLUG}/hypotheses/login/impact", headers=auth(lead_token)).json()
    assert result["verdict"] == "down"
    assert result["before"]["share"] > 0.15 and result["after"]["share"] < 0.06
    assert result["change"] < -0.6 and result["p_value"] < 0.001
    assert result["before"]["end"] == result["after"]["start"] == "2026-11-21T23:00:00Z"
    assert "Fisher's exact test" in result["method"]
    # Overall volume fell too, but the other hypothesis's share did not: no fix, no verdict.
    other = client.get(f"/api/v1/launches/{SLUG}/hypotheses/receipts/impact", headers=auth(lead_token))
    assert other.status_code == 409 and other.json()["error"]["code"] == "no_fix"


def test_fix_shipped_without_a_time_means_now(client: TestClient, lead_token: str, launch: Any) -> None:
    body = patch(client, lead_token, "receipts", status="fix_shipped").json()
    assert body["fix_shipped_at"] == "2026-11-28T11:00:00Z"
    result = client.get(f"/api/v1/launches/{SLUG}/hypotheses/receipts/impact", headers=auth(lead_token)).json()
    assert result["verdict"] == "too_early"


def test_a_stale_version_is_refused_with_the_current_values(client: TestClient, lead_token: str, launch: Any) -> None:
    first = patch(client, lead_token, "login", text="Cannot log in with BankID", version=1)
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = patch(client, lead_token, "login", expected_per_day=5, version=1)
    assert stale.status_code == 409
    # As every other 409 error looks: no "problems": null (they are for 422 invalid).
    assert stale.json()["error"] == {
        "code": "stale_version",
        "message": stale.json()["error"]["message"],
        "field": "version",
    }
    assert stale.json()["current"]["text"] == "Cannot log in with BankID"
    assert stale.json()["current"]["version"] == 2
    assert patch(client, lead_token, "login", expected_per_day=5, version=2).json()["expected_per_day"] == 5


def test_changing_hypotheses_needs_a_lead_token(client: TestClient, token: str, launch: Any) -> None:
    response = patch(client, token, "login", status="confirmed")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden_role"


def test_patch_refuses_what_it_does_not_know(client: TestClient, lead_token: str, launch: Any) -> None:
    assert patch(client, lead_token, "nope", status="confirmed").status_code == 404
    bad = patch(client, lead_token, "login", status="fixed")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    assert patch(client, lead_token, "login", slug="x").status_code == 422


def test_a_body_that_is_not_a_json_object_is_told_so_in_the_api_s_words(
    client: TestClient, lead_token: str, launch: Any
) -> None:
    """curl -d sends a form's Content-Type: "Input should be a valid dictionary or object to extract fields
    from" (field ""); now its JSON is read as JSON, as the enquiry POST reads it (test_bodies). Bad JSON
    named "[1]" as its field; JSON nested deeper than the parser goes answered 400 http_error, a code the
    API's table does not have."""
    url, headers = f"/api/v1/launches/{SLUG}/hypotheses/login", auth(lead_token)
    form = client.patch(
        url, content=b'{"status":"confirmed"}', headers=headers | {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 200 and form.json()["status"] == "confirmed", form.text
    array = client.patch(url, content=b'["confirmed"]', headers=headers | {"Content-Type": "application/json"})
    assert array.status_code == 422 and "must be a JSON object" in array.json()["error"]["message"], array.text
    broken = client.patch(url, content=b'{"status": confirmed}', headers=headers | {"Content-Type": "application/json"})
    error = broken.json()["error"]
    assert broken.status_code == 422 and error["field"] == "" and "not valid JSON (at character" in error["message"]
    deep = client.patch(url, content=b"[" * 100_000, headers=headers | {"Content-Type": "application/json"})
    assert deep.status_code == 422 and deep.json()["error"]["code"] == "invalid", deep.text


def test_patch_refuses_a_fix_time_no_launch_has_instead_of_failing(
    client: TestClient, lead_token: str, launch: Any
) -> None:
    for moment in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"):
        refused = patch(client, lead_token, "login", status="fix_shipped", fix_shipped_at=moment)
        assert refused.status_code == 422 and "fix_shipped_at" in refused.json()["error"]["message"], refused.text
    for address in ("javascript:alert(1)", "data:text/html,x", "www.example.com"):
        link = patch(client, lead_token, "login", fix_url=address)
        assert link.status_code == 422 and "not a web address" in link.json()["error"]["message"], link.text
    nul = patch(client, lead_token, "login", text="F\x00r")
    assert nul.status_code == 422 and "control character" in nul.json()["error"]["message"]


def test_a_fix_time_to_come_is_refused_naming_the_field(
    client: TestClient, lead_token: str, launch: Any, web: Any, people: Any, db: Database
) -> None:
    """A fix "shipped" a week ahead was taken, and its impact shown as empty periods before and after it,
    "too early to tell"."""
    ahead = (NOW + dt.timedelta(days=7)).isoformat()
    refused = patch(client, lead_token, "login", status="fix_shipped", fix_shipped_at=ahead)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["field"] == "fix_shipped_at"
    assert error["message"] == (
        "fix_shipped_at: 2026-12-05T12:00+01:00 is later than now (2026-11-28T12:00+01:00): "
        "give the time the fix reached customers, once it has"
    )
    impact_of = client.get(f"/api/v1/launches/{SLUG}/hypotheses/login/impact", headers=auth(lead_token))
    assert impact_of.status_code == 409 and impact_of.json()["error"]["code"] == "no_fix"  # nothing was saved
    # A few minutes ahead is a clock apart, not a fix to come.
    nearly = patch(
        client, lead_token, "login", status="fix_shipped", fix_shipped_at=(NOW + dt.timedelta(minutes=3)).isoformat()
    )
    assert nearly.status_code == 200, nearly.text

    lena = web("lena")
    form = {"text": "Hypothesis receipts", "status": "fix_shipped", "fix_shipped_at": "2027-12-05T10:00"}
    typed = lena.post(f"/launches/{SLUG}/hypotheses/receipts", data=form)
    assert typed.status_code == 422
    page = " ".join(typed.text.split())
    assert "is later than now" in page and "give the time the fix reached customers, once it has" in page
    assert re.search(r'name="fix_shipped_at"[^>]*aria-invalid="true"', typed.text), "the field is marked"
    with db.session() as session:
        [h] = [h for h in hypotheses_of(session, fresh(db, launch)) if h.key == "receipts"]
    assert h.fix_shipped_at is None and h.status != HypothesisStatus.FIX_SHIPPED


def test_an_uploaded_file_with_a_fix_time_to_come_imports_nothing(web: Any, people: Any, db: Database) -> None:
    text = (
        "slug: ahead\nname: Ahead\nstarts_on: 2026-11-16\nhypotheses:\n  - key: login\n    text: Login\n"
        "    status: fix_shipped\n    fix_shipped_at: 2026-12-05T10:00:00+01:00\n"
    )
    lena = web("lena")
    refused = lena.client.post(
        "/launches", files={"file": ("ahead.yaml", text.encode())}, data={"csrf_token": lena.token("/")}
    )
    assert refused.status_code == 422
    shown = html.unescape(" ".join(refused.text.split()))
    assert "ahead.yaml:8: hypotheses[0].fix_shipped_at: 2026-12-05T10:00+01:00 is later than now" in shown
    with db.session() as session:
        assert session.exec(select(Hypothesis).where(Hypothesis.key == "login")).all() == []


def test_patch_null_clears_a_link_is_refused_where_nothing_can_be_empty_and_errors_name_the_field(
    client: TestClient, lead_token: str, launch: Any
) -> None:
    """null for fix_url answered 200 and kept the link; null for status or fix_shipped_at answered 200 and
    changed nothing; and errors named the row's place in the launch's set ("hypotheses[1].text")."""
    assert (
        patch(client, lead_token, "login", fix_url="https://example.com/1").json()["fix_url"] == "https://example.com/1"
    )
    cleared = patch(client, lead_token, "login", fix_url=None)
    assert cleared.status_code == 200 and cleared.json()["fix_url"] is None
    for name in ("status", "fix_shipped_at", "owner_team", "text"):
        refused = patch(client, lead_token, "login", **{name: None})
        error = refused.json()["error"]
        assert refused.status_code == 422 and error["field"] == name and "cannot be null" in error["message"], name
        # Only an owner team has an empty value to point to: the others' message said "" for no owner team.
        assert ("owner team" in error["message"]) == (name == "owner_team"), error["message"]
    bad = patch(client, lead_token, "login", fix_url="javascript:alert(1)").json()["error"]
    assert bad["field"] == "fix_url" and bad["message"].startswith("fix_url: ") and "hypotheses[" not in bad["message"]


def test_cli_creates_lead_and_integration_tokens(db: Database) -> None:
    env = {"TALLY_DATABASE_URL": db.url}
    lead = CliRunner().invoke(cli, ["tokens", "create", "product", "--role", "lead"], env=env)
    plain = CliRunner().invoke(cli, ["tokens", "create", "telephony"], env=env)
    assert lead.exit_code == 0 and "(lead)" in lead.output
    assert plain.exit_code == 0 and "(integration)" in plain.output
    with db.session() as session:
        roles = {t.name: t.role for t in session.exec(select(ApiToken))}
    assert roles == {"product": TokenRole.LEAD, "telephony": TokenRole.INTEGRATION}
    listed = CliRunner().invoke(cli, ["tokens", "list"], env=env)
    assert "lead" in listed.output and "integration" in listed.output


# --- on the pages -------------------------------------------------------------------------


def test_the_drill_down_and_the_launch_page_show_the_effect(
    client: TestClient, lead_token: str, launch: Any, web: Any, people: Any
) -> None:
    patch(
        client,
        lead_token,
        "login",
        status="fix_shipped",
        fix_shipped_at="2026-11-22T00:00:00+01:00",
        fix_url="https://example.com/5.0.1",
    )
    kari = web("kari")
    page = kari.get(f"/launches/{SLUG}/hypotheses/login?range=launch")
    assert page.status_code == 200
    assert 'id="fix"' in page.text and "Fix: down" in page.text and "Fisher's exact test" in html.unescape(page.text)
    assert 'href="https://example.com/5.0.1"' in page.text
    # One landmark named by the section's heading (its table's region), not two alike.
    assert page.text.count('aria-labelledby="fix-title"') == 1
    # Every column named, the first too (a screen reader read its rows' Before and After under nothing).
    assert '<th scope="col"></th>' not in page.text and "Before or after the fix" in page.text
    launch_page = kari.get(f"/launches/{SLUG}?range=launch").text
    assert "verdict-down" in launch_page and "/hypotheses/login?range=launch#fix" in launch_page
    # In Norwegian too.
    norsk = kari.get(f"/launches/{SLUG}/hypotheses/login?range=launch", headers={"Accept-Language": "nb"}).text
    assert "Retting: ned" in norsk and "Effekten av rettingen" in norsk and "Før eller etter rettingen" in norsk
    # Numbers as Norwegian writes them: a decimal comma in the shares and the p-value.
    fix_section = norsk[norsk.index('id="fix"') : norsk.index("</section>", norsk.index('id="fix"'))]
    assert re.search(r"\d,\d\xa0%", fix_section) and not re.search(r"\d\.\d+\s*%|p = \d\.", fix_section)
    assert "p &lt; 0,001" in fix_section or "p = 0," in fix_section
    # A hypothesis without a fix has no such section.
    assert 'id="fix"' not in kari.get(f"/launches/{SLUG}/hypotheses/receipts").text


def test_the_effect_of_the_fix_follows_the_channel_filter_like_every_other_number(
    client: TestClient, lead_token: str, launch: Any, web: Any, people: Any, db: Database
) -> None:
    """The fix cut 'login' on the phone only; in chat its share stayed a fifth. Filtered to chat, the
    pages said "Fix: down" from the phone calls the rest of the page left out."""
    ids = hypothesis_ids(db, launch)
    chat = [
        NewEnquiry(
            launch_id=launch.id or 0,
            channel="chat",
            created_at=at(day, 14) + dt.timedelta(minutes=n),
            hypothesis_ids=(ids["login"],) if n % 5 == 0 else (),
            idempotency_key=f"chat-{day}-{n}",
        )
        for day in range(16, 28)
        for n in range(30)
    ]
    with db.write_connection() as connection:
        insert_many(connection, chat)
    patch(client, lead_token, "login", status="fix_shipped", fix_shipped_at="2026-11-22T00:00:00+01:00")
    kari = web("kari")

    def fix_on(path: str) -> str:
        page = kari.get(path).text
        found = re.search(r'class="(?:small )?verdict verdict-(\w+)', page)
        assert found, path
        return found.group(1)

    for query, verdict in (
        ("range=launch", "down"),
        ("range=launch&channel=phone", "down"),
        ("range=launch&channel=chat", "no_change"),
    ):
        assert fix_on(f"/launches/{SLUG}/hypotheses/login?{query}") == verdict, query
        assert fix_on(f"/launches/{SLUG}?{query}") == verdict, query
    drill = kari.get(f"/launches/{SLUG}/hypotheses/login?range=launch&channel=chat").text
    section = drill[drill.index('id="fix"') : drill.index("</section>", drill.index('id="fix"'))]
    # A fifth of 6 days × 30 chats, 6 a day: whole days from the launch's start, which the hypothesis, set up
    # with the launch, counts from (its first enquiry was at 08:00 on the first day).
    assert re.findall(r'<td class="num">(\d+)</td>', section) == ["36", "6", "36", "6"]
    # The API stays with all channels.
    api = client.get(f"/api/v1/launches/{SLUG}/hypotheses/login/impact", headers=auth(lead_token)).json()
    assert api["verdict"] == "down" and api["before"]["enquiries"] > 36


def test_the_editor_records_when_a_fix_shipped(launch: Any, web: Any, people: Any, db: Database) -> None:
    lena = web("lena")
    form = {"text": "Hypothesis login", "status": "fix_shipped", "fix_url": "https://example.com/5.0.1"}
    response = lena.post(f"/launches/{SLUG}/hypotheses/login", data={**form, "fix_shipped_at": "2026-11-22T00:00"})
    assert response.status_code == 303, response.text
    with db.session() as session:
        [h] = [h for h in hypotheses_of(session, fresh(db, launch)) if h.key == "login"]
    assert h.fix_shipped_at == FIX.astimezone(dt.UTC)  # the launch's local time
    assert h.fix_url == "https://example.com/5.0.1"
    page = lena.get(f"/launches/{SLUG}/edit").text
    assert 'value="2026-11-22T00:00"' in page
    # Left empty, an existing time is kept; a new fix_shipped without one would be now.
    lena.post(f"/launches/{SLUG}/hypotheses/login", data={**form, "fix_shipped_at": ""})
    with db.session() as session:
        [h] = [h for h in hypotheses_of(session, fresh(db, launch)) if h.key == "login"]
    assert h.fix_shipped_at == FIX.astimezone(dt.UTC)
    bad = lena.post(f"/launches/{SLUG}/hypotheses/login", data={**form, "fix_shipped_at": "next tuesday"})
    assert bad.status_code == 422 and "2026-11-20T14:30" in bad.text


def test_an_admin_creates_a_lead_token_on_the_tokens_page(web: Any, people: Any, db: Database) -> None:
    ada = web("ada")
    page = ada.get("/admin/tokens").text
    assert 'name="role"' in page and "Lead tokens may also" in page
    created = ada.post("/admin/tokens", data={"name": "product board", "role": "lead"})
    assert created.status_code == 200 and "lt_" in created.text
    assert ada.post("/admin/tokens", data={"name": "x", "role": "root"}).status_code == 422
    with db.session() as session:
        assert {t.name: t.role for t in session.exec(select(ApiToken))} == {"product board": TokenRole.LEAD}


def test_a_hypothesis_added_during_the_launch_is_compared_from_when_it_counts(db: Database) -> None:
    """Added on the 21st at noon, one call in four about it all along, a fix on the 22nd that changed
    nothing: before the 21st those calls were "other", so a "before" reaching back to the launch's
    start would dilute its share and call an unchanged share "up"."""
    launch = make_launch(db, slug="late-hypothesis", hypotheses=("rest",))
    added = at(21, 12)
    with db.transaction() as session:
        late = Hypothesis(launch_id=launch.id or 0, key="late", text="Added late", sort_order=1, created_at=added)
        session.add(late)
    ids = hypothesis_ids(db, launch)
    items = [
        NewEnquiry(
            launch_id=launch.id or 0,
            channel="phone",
            created_at=at(day, 8) + dt.timedelta(minutes=10 * n),
            hypothesis_ids=(ids["late"],) if n % 4 == 0 and at(day, 8) + dt.timedelta(minutes=10 * n) >= added else (),
            idempotency_key=f"{day}-{n}",
        )
        for day in range(16, 28)
        for n in range(80)
    ]
    with db.write_connection() as connection:
        insert_many(connection, items)
    with db.transaction() as session:
        found = session.get(Hypothesis, ids["late"])
        assert found is not None
        found.fix_shipped_at = FIX.astimezone(dt.UTC)
        session.add(found)
    with db.session() as session:
        hypothesis = session.get(Hypothesis, ids["late"])
        assert hypothesis is not None
        result = impact.impact_of(session, fresh(db, launch), hypothesis, now=NOW.astimezone(dt.UTC))
    assert result is not None
    assert result.before.start == added  # not the launch's start
    assert result.verdict == "no_change"


def test_a_fix_shipped_before_the_hypothesis_was_added_says_there_is_no_before(
    client: TestClient, lead_token: str, launch: Any, web: Any, people: Any, db: Database
) -> None:
    """Added on the 23rd, its fix recorded as shipped on the 22nd: both periods were empty, and the
    verdict "too early to tell" for good, however many enquiries came."""
    added = at(23, 12)
    with db.transaction() as session:
        session.add(Hypothesis(launch_id=launch.id or 0, key="late", text="Added late", sort_order=2, created_at=added))
    late = hypothesis_ids(db, launch)["late"]
    items = [
        NewEnquiry(
            launch_id=launch.id or 0,
            channel="phone",
            created_at=added + dt.timedelta(hours=n),
            hypothesis_ids=(late,),
            idempotency_key=f"late-{n}",
        )
        for n in range(60)
    ]
    with db.write_connection() as connection:
        insert_many(connection, items)
    response = patch(client, lead_token, "late", status="fix_shipped", fix_shipped_at="2026-11-22T00:00:00+01:00")
    assert response.status_code == 200, response.text

    api = client.get(f"/api/v1/launches/{SLUG}/hypotheses/late/impact", headers=auth(lead_token)).json()
    assert api["verdict"] == "no_before" and api["p_value"] is None
    kari = web("kari")
    page = kari.get(f"/launches/{SLUG}/hypotheses/late?range=launch").text
    section = html.unescape(page[page.index('id="fix"') : page.index("</section>", page.index('id="fix"'))])
    assert "Fix: nothing before it to compare" in section and "too early" not in section.split("How this")[0]
    assert "before enquiries about this hypothesis were counted (from 23 Nov 2026, 12:00)" in section
    assert "<table" not in section  # two empty periods say nothing
    assert "Fix: nothing before it to compare" in kari.get(f"/launches/{SLUG}?range=launch").text


def office_hours_launch(db: Database, slug: str, *, ends_on: dt.date, fix: dt.datetime, share_after: float) -> Any:
    """A call every two minutes from 08:00 to 16:00 each day, a quarter about 'hot' until its fix, then
    ``share_after``, and the fix recorded."""
    launch = make_launch(db, slug=slug, hypotheses=("hot", "rest"), ends_on=ends_on)
    ids = hypothesis_ids(db, launch)
    items = []
    for day in range(16, ends_on.day + 1):
        for n in range(240):
            moment = at(day, 8) + dt.timedelta(minutes=2 * n)
            about = n % 4 == 0 if moment < fix else n % round(1 / share_after) == 0 if share_after else False
            items.append(
                NewEnquiry(
                    launch_id=launch.id or 0,
                    channel="phone",
                    created_at=moment,
                    hypothesis_ids=(ids["hot"],) if about else (),
                    idempotency_key=f"{day}-{n}",
                )
            )
    with db.write_connection() as connection:
        insert_many(connection, items)
    with db.transaction() as session:
        found = session.get(Hypothesis, ids["hot"])
        assert found is not None
        found.fix_shipped_at, found.status = fix.astimezone(dt.UTC), HypothesisStatus.FIX_SHIPPED
        found.created_at = at(10)  # set up before the launch: it counts from its start
        session.add(found)
    return fresh(db, launch)


def impact_at(db: Database, launch: Any, now: dt.datetime) -> impact.Impact:
    with db.session() as session:
        [hot] = [h for h in hypotheses_of(session, launch) if h.key == "hot"]
        result = impact.impact_of(session, launch, hot, now=now.astimezone(dt.UTC))
    assert result is not None
    return result


def test_a_hotfix_on_the_first_morning_gets_an_answer(db: Database, web: Any, people: Any) -> None:
    """Shipped at 08:00 on the first day, when the centre opened: the period before (00:00–08:00) had
    no calls, and the verdict stayed "too early to tell" for good. Shipped at 10:00, the verdict came from
    ten hours after it (equal periods, capped by the time before)."""
    at_eight = office_hours_launch(db, "at-eight", ends_on=dt.date(2026, 11, 30), fix=at(16, 8), share_after=0.25)
    result = impact_at(db, at_eight, NOW)
    assert result.verdict == "too_little_before" and result.before.start == at(16, 0) and result.before.total == 0
    page = web("kari").get("/launches/at-eight/hypotheses/hot?range=launch").text
    section = html.unescape(page[page.index('id="fix"') : page.index("</section>", page.index('id="fix"'))])
    assert "Fix: too little before it to compare" in section and "too early" not in section.split("How this")[0]
    assert "No enquiries at all were logged between 16 Nov 2026, 00:00, when this hypothesis" in section
    launch_page = web("kari").get("/launches/at-eight?range=launch").text
    assert "verdict-too_little_before" in launch_page

    at_ten = office_hours_launch(db, "at-ten", ends_on=dt.date(2026, 11, 30), fix=at(16, 10), share_after=0.0)
    assert impact_at(db, at_ten, at(17, 9)).verdict == "too_early"  # 23 hours after
    result = impact_at(db, at_ten, NOW)
    assert result.verdict == "down" and result.before.start == at(16, 0)
    assert (result.after.start, result.after.end) == (at(16, 10), at(17, 10))  # a day after, not ten hours


def test_a_launch_that_ended_less_than_a_day_after_the_fix_says_so(
    client: TestClient, lead_token: str, db: Database
) -> None:
    """Fourteen hours before the launch's end: 20:00–10:00 against 10:00–24:00 said "up" from fourteen hours
    (six before the end, in the demo: "up", p = 5e-9, from six)."""
    launch = office_hours_launch(db, "ended", ends_on=dt.date(2026, 11, 25), fix=at(25, 10), share_after=0.5)
    result = impact_at(db, launch, NOW)
    assert result.verdict == "too_little_after" and result.p_value is None
    assert result.after.end == at(26, 0)
    api = client.get("/api/v1/launches/ended/hypotheses/hot/impact", headers=auth(lead_token)).json()
    assert api["verdict"] == "too_little_after" and api["p_value"] is None


def test_a_fix_recorded_after_the_launch_ended_says_so(
    client: TestClient, lead_token: str, db: Database, web: Any, people: Any
) -> None:
    """A lead set "fix shipped" on a launch over since the 25th, the time left empty (now, the 28th): it said
    "the launch ended less than 24 hours after the fix" over two empty periods at the fix. The fix came after
    the launch: there is no "after", and the page says so, keeping the time recorded."""
    launch = office_hours_launch(db, "over", ends_on=dt.date(2026, 11, 25), fix=at(20, 10), share_after=0.25)
    with db.transaction() as session:
        [hot] = [h for h in hypotheses_of(session, launch) if h.key == "hot"]
        hot.fix_shipped_at, hot.status = None, HypothesisStatus.OPEN
        session.add(hot)
    body = client.patch(
        "/api/v1/launches/over/hypotheses/hot", json={"status": "fix_shipped"}, headers=auth(lead_token)
    ).json()
    assert body["fix_shipped_at"] == "2026-11-28T11:00:00Z"  # now, as recorded
    api = client.get("/api/v1/launches/over/hypotheses/hot/impact", headers=auth(lead_token)).json()
    assert api["verdict"] == "after_launch" and api["p_value"] is None and api["change"] is None
    assert api["fix_shipped_at"] == "2026-11-28T11:00:00Z"
    kari = web("kari")
    page = kari.get("/launches/over/hypotheses/hot?range=launch").text
    section = html.unescape(page[page.index('id="fix"') : page.index("</section>", page.index('id="fix"'))])
    assert "Fix: shipped after the launch ended" in section
    assert "The fix shipped after the launch ended (26 Nov 2026, 00:00)" in section
    assert "less than 24 hours" not in section and "<table" not in section  # no empty periods shown
    assert "verdict-after_launch" in kari.get("/launches/over?range=launch").text


@pytest.mark.parametrize(
    ("language", "said"), [("en", "Fix: up from none before"), ("nb", "Retting: opp fra ingen før")]
)
def test_a_fix_after_which_a_hypothesis_rose_from_nothing_says_so_not_up_zero(language: str, said: str) -> None:
    fix = impact.Impact(FIX, period(0, 600), period(20, 500), None, 0.0001, "up")
    with i18n.use_language(language):
        text = web.build_environment().get_template("hypotheses/_fix.html").module.verdict_text(fix)  # type: ignore[attr-defined]
    assert str(text).strip() == said


def test_a_token_made_by_a_long_login_name_is_made(db: Database) -> None:
    """Its maker (the CLI's login name) went into a column of 100 as it was: on PostgreSQL a login name
    over about 96 characters could not create a token."""
    from app import api_tokens

    with db.transaction() as session:
        token, _ = api_tokens.create(session, name="telephony", now=dt.datetime.now(dt.UTC), actor="cli:" + "u" * 120)
    assert token.created_by == ("cli:" + "u" * 120)[:100]


@pytest.mark.parametrize(
    ("retired", "verdict", "said"),
    [
        (at(19, 12), "no_change", "Counted until it was retired, 19 Nov 2026, 12:00"),
        (at(19, 8), "too_little_after", "It was retired 19 Nov 2026, 08:00, less than 24 hours after the fix"),
    ],
)
def test_a_hypothesis_retired_after_its_fix_is_counted_until_then(
    client: TestClient,
    lead_token: str,
    db: Database,
    web: Any,
    people: Any,
    retired: dt.datetime,
    verdict: str,
    said: str,
) -> None:
    """A lead takes a hypothesis off the checklist once its fix shipped: nobody can tick it after that, and
    counted on, its share fell to nothing and the verdict read "down" — the fix working, said of the
    checklist. Its share was the same before and after the fix for as long as it could be ticked."""
    launch = office_hours_launch(db, "retired", ends_on=dt.date(2026, 11, 30), fix=at(18, 10), share_after=0.25)
    with time_machine.travel(retired, tick=False):
        response = client.patch(
            "/api/v1/launches/retired/hypotheses/hot", json={"status": "retired"}, headers=auth(lead_token)
        )
    assert response.status_code == 200, response.text
    with db.transaction() as session:  # what the checklist makes of it: no ticks about it after
        session.exec(
            sa.delete(EnquiryHypothesis).where(
                col(EnquiryHypothesis.hypothesis_id) == hypothesis_ids(db, launch)["hot"],
                col(EnquiryHypothesis.created_at) >= retired,
            )
        )
    result = impact_at(db, launch, NOW)
    assert result.verdict == verdict and result.retired_at == retired
    assert result.after.end == retired
    api = client.get("/api/v1/launches/retired/hypotheses/hot/impact", headers=auth(lead_token)).json()
    assert api["verdict"] == verdict and api["retired_at"] == retired.isoformat().replace("+00:00", "Z")
    page = web("kari").get("/launches/retired/hypotheses/hot?range=launch").text
    section = html.unescape(page[page.index('id="fix"') : page.index("</section>", page.index('id="fix"'))])
    assert said in section


def _retire_and_back(client: TestClient, token: str, slug: str, changes: list[tuple[dt.datetime, str]]) -> None:
    for when, status in changes:
        with time_machine.travel(when, tick=False):
            response = client.patch(
                f"/api/v1/launches/{slug}/hypotheses/hot", json={"status": status}, headers=auth(token)
            )
        assert response.status_code == 200, response.text


def _fix_section_of(web: Any, slug: str) -> str:
    page = web("kari").get(f"/launches/{slug}/hypotheses/hot?range=launch").text
    start = page.index('id="fix"')
    return " ".join(html.unescape(page[start : page.index("</section>", start)]).split())


def test_a_stretch_off_the_checklist_after_the_fix_ends_the_periods_even_when_brought_back(
    client: TestClient, lead_token: str, db: Database, web: Any, people: Any
) -> None:
    """Retired, brought back and retired again: only the last retirement ended the periods, and the first
    stretch, when nobody could tick it, said "down 55 %" of a share of 25 % whenever it could be ticked."""
    launch = office_hours_launch(db, "again", ends_on=dt.date(2026, 11, 30), fix=at(18, 10), share_after=0.25)
    gaps = [(at(19, 12), at(22, 12)), (at(25, 12), at(30, 23))]
    _retire_and_back(
        client, lead_token, "again", [(gaps[0][0], "retired"), (gaps[0][1], "fix_shipped"), (gaps[1][0], "retired")]
    )
    with db.transaction() as session:  # what the checklist makes of it: no ticks about it while retired
        for start, end in gaps:
            session.exec(
                sa.delete(EnquiryHypothesis).where(
                    col(EnquiryHypothesis.hypothesis_id) == hypothesis_ids(db, launch)["hot"],
                    col(EnquiryHypothesis.created_at) >= start,
                    col(EnquiryHypothesis.created_at) < end,
                )
            )
    result = impact_at(db, launch, NOW)
    assert result.verdict == "no_change" and result.after.end == result.retired_at == gaps[0][0]


def test_retired_before_its_fix_says_so_and_retired_after_the_periods_says_nothing(
    client: TestClient, lead_token: str, db: Database, web: Any, people: Any
) -> None:
    """Retired three days before the fix, the page said "retired … less than 24 hours after the fix"; retired
    a week after the periods ended, it said "counted until it was retired" of periods it did not cut."""
    before = office_hours_launch(db, "before", ends_on=dt.date(2026, 11, 30), fix=at(22, 10), share_after=0.25)
    _retire_and_back(client, lead_token, "before", [(at(19, 12), "retired")])
    result = impact_at(db, before, NOW)
    assert result.verdict == "too_little_after" and result.retired_at == at(19, 12)
    assert result.after.end == result.after.start == at(22, 10)
    assert "It was retired 19 Nov 2026, 12:00, before the fix" in _fix_section_of(web, "before")

    late = office_hours_launch(db, "late", ends_on=dt.date(2026, 11, 30), fix=at(18, 10), share_after=0.25)
    _retire_and_back(client, lead_token, "late", [(at(27, 9), "retired")])
    result = impact_at(db, late, NOW)
    assert result.retired_at is None and result.after.end < at(27, 9)
    assert "retired" not in _fix_section_of(web, "late").split("How this")[0].lower()


def stored_fix(db: Database, key: str) -> Any:
    with db.session() as session:
        found = session.exec(select(Hypothesis).where(Hypothesis.key == key)).one()
        return found.status, found.fix_shipped_at


def test_a_fix_time_goes_only_with_a_status_that_says_a_fix_shipped(
    client: TestClient, lead_token: str, db: Database
) -> None:
    """A fix time on an open hypothesis answered 200 and was kept: the drill-down and the digest then
    reported a fix shipped for it, and it could not be taken away again."""
    make_launch(db, slug=SLUG, hypotheses=("login", "receipts"))
    for body in (
        {"fix_shipped_at": "2026-12-04T10:00:00+01:00"},
        {"status": "confirmed", "fix_shipped_at": FIX.isoformat()},
    ):
        refused = patch(client, lead_token, "login", **body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "fix_shipped_at"
        assert "set the status to fix shipped to record when it shipped" in refused.json()["error"]["message"]
        assert stored_fix(db, "login") == (HypothesisStatus.OPEN, None)

    assert patch(client, lead_token, "login", status="fix_shipped", fix_shipped_at=FIX.isoformat()).status_code == 200
    # A fix shipped gets a corrected time alone, as before.
    later = FIX + dt.timedelta(hours=3)
    moved = patch(client, lead_token, "login", fix_shipped_at=later.isoformat())
    assert moved.status_code == 200, moved.text
    assert stored_fix(db, "login") == (HypothesisStatus.FIX_SHIPPED, later.astimezone(dt.UTC))
    # Set back to a status without a fix, its time goes with it.
    back = patch(client, lead_token, "login", status="not_seen")
    assert back.status_code == 200 and back.json()["fix_shipped_at"] is None
    assert stored_fix(db, "login") == (HypothesisStatus.NOT_SEEN, None)


def test_the_editor_refuses_a_fix_time_on_an_open_row(web: Any, people: Any, db: Database) -> None:
    make_launch(db, slug=SLUG, hypotheses=("login",))
    lena = web("lena")
    form = {"text": "Hypothesis login", "status": "open", "fix_shipped_at": "2026-12-03T10:00"}
    refused = lena.post(f"/launches/{SLUG}/hypotheses/login", data=form, headers={"HX-Request": "true"})
    assert refused.status_code == 422
    assert "set the status to fix shipped to record when it shipped" in html.unescape(refused.text)
    assert re.search(r'id="fix-login"[^>]*aria-invalid="true"', refused.text), "the error is the field's"
    assert stored_fix(db, "login") == (HypothesisStatus.OPEN, None)


def test_a_fix_time_kept_with_an_open_status_goes_at_the_next_save(web: Any, people: Any, db: Database) -> None:
    """Stored before the rule (or by a file that left the status out): the next save takes it away, and
    neither the export nor a save of the launch form is refused for it."""
    launch = make_launch(db, slug=SLUG, hypotheses=("login", "receipts"))
    with db.transaction() as session:
        for found in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)):
            found.fix_shipped_at = FIX.astimezone(dt.UTC)
    lena = web("lena")
    assert "fix_shipped_at" not in lena.get(f"/launches/{SLUG}/export").text
    # The row's fix field sent back as shown (the editor never sends an unchanged time).
    shown = re.search(
        r'id="fix-login" name="fix_shipped_at" type="datetime-local" value="([^"]*)"',
        lena.get(f"/launches/{SLUG}/edit").text,
    )
    assert shown and shown.group(1) == "2026-11-22T00:00"
    form = {"text": "Hypothesis login", "status": "open", "area": "Login", "fix_shipped_at": shown.group(1)}
    assert lena.post(f"/launches/{SLUG}/hypotheses/login", data=form).status_code == 303
    assert stored_fix(db, "login") == (HypothesisStatus.OPEN, None)
    # Any save of the set (the launch form's) clears the others.
    saved = lena.post(f"/launches/{SLUG}/edit", data=launch_form(fresh(db, launch), name="Renamed"))
    assert saved.status_code == 303, saved.text[:300]
    assert stored_fix(db, "receipts") == (HypothesisStatus.OPEN, None)


def test_an_upload_leaving_the_status_out_is_refused_a_fix_time_for_an_open_hypothesis(
    web: Any, people: Any, db: Database
) -> None:
    make_launch(db, slug=SLUG, hypotheses=("login",))
    lena = web("lena")
    text = (
        f"slug: {SLUG}\nname: Test launch\nstarts_on: 2026-11-16\nhypotheses:\n"
        "  - key: login\n    text: Hypothesis login\n    fix_shipped_at: 2026-11-22T00:00:00+01:00\n"
    )
    refused = lena.client.post(
        "/launches", files={"file": ("launch.yaml", text.encode())}, data={"csrf_token": lena.token("/")}
    )
    assert refused.status_code == 422
    assert "hypotheses[0].fix_shipped_at (login)" in refused.text
    assert "set the status to fix shipped to record when it shipped" in html.unescape(refused.text)
    assert stored_fix(db, "login") == (HypothesisStatus.OPEN, None)


def test_a_fix_time_an_earlier_version_kept_with_status_open_is_not_taken_back(
    client: TestClient, lead_token: str, launch: Any, db: Database
) -> None:
    """An earlier version let an open hypothesis keep a fix time; setting it to fix shipped without a
    time then took that old time back, where a status set to fix shipped alone means now."""
    with db.transaction() as session:
        [login] = [h for h in hypotheses_of(session, fresh(db, launch)) if h.key == "login"]
        login.fix_shipped_at = FIX.astimezone(dt.UTC)  # status open
        session.add(login)
    response = patch(client, lead_token, "login", status="fix_shipped")
    assert response.status_code == 200, response.text
    assert response.json()["fix_shipped_at"] == NOW.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def test_a_period_under_a_day_shows_no_rate_per_day(
    client: TestClient, lead_token: str, launch: Any, web: Any, people: Any
) -> None:
    """A hotfix on the first morning: the hours before it, projected to a day, read as several times the
    day after, beside a verdict comparing shares; the count and the share are what there is to show."""
    patch(client, lead_token, "login", status="fix_shipped", fix_shipped_at="2026-11-16T12:00:00+01:00")
    page = web("kari").get(f"/launches/{SLUG}/hypotheses/login?range=launch").text
    start = page.index('id="fix"')
    rows = re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', page[start : page.index("</section>", start)])
    cells = {name: re.findall(r'<td class="num">([^<]*)</td>', row) for name, row in rows}
    assert cells["Before"][1] == "–" and cells["After"][1] != "–", cells
    assert cells["Before"][0] not in ("0", "–")  # the count is still shown
