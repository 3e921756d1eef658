"""Three `tally serve` replicas on one PostgreSQL database, as behind a load balancer.

Everything goes through what a deployment offers: HTTP (the API with a bearer token, the
checklist with a session cookie and CSRF header exactly as its script posts), the `tally`
command and the database. The replicas run their schedulers, as `tally serve` does by
default, with Slack pointed at the fake Slack server.

Digests at a chosen moment: several `tally digest run-due --now …` processes run at the
same moment against the shared database. That command calls ``digests.run_due(now=…)``,
which is exactly what each replica's scheduler calls from its cron and minute jobs; what is
tested is the claiming in the database that makes them post once. (A past --now checks no
spike alerts: tests/test_alerts.py runs three processes whose clocks read the spike's time,
on PostgreSQL too, with no scheduler around to take their claims for abandoned.)
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from app import api_tokens, auth, enquiries, retention
from app.db import Database
from app.errors import NotFound
from app.models import ApiToken, Role, TokenRole
from tests.conftest import PASSWORD, PG_SKIP_REASON, TEST_SECRET, ThrowawayPostgres
from tests.factories import make_launch
from tests.fakes.slack_server import FakeSlack
from tests.processes import Browser, Server, run_together, tally_servers, throwaway_postgres

OSLO = ZoneInfo("Europe/Oslo")
ORIGIN = "http://tally.example.test"  # what the load balancer serves: every page's origin
SLUG = "test-launch"  # live today: the load
PAST = "past-launch"  # 18–25 November 2026: digests, alerts and closed days
SLACK_TOKEN = "xoxb-test-token"
AGENTS = ("kari", "ola", "per")
PER_CLIENT = 40  # enquiries each of the six clients logs
# How long an edit may take to show on another replica. A bound on the polling below,
# not a measure: every read goes to the database, so the first look should already see it.
SEEN_WITHIN = 10.0


@dataclass
class Deployment:
    servers: list[Server]
    db: Database
    slack: FakeSlack
    env: dict[str, str]
    cwd: Path
    token: str
    lead_token: str
    launch_id: int
    past_id: int

    def url(self, n: int) -> str:
        return self.servers[n % len(self.servers)].url


@pytest.fixture(scope="module")
def pg_database(postgres: ThrowawayPostgres | None) -> Iterator[str]:
    if postgres is None:
        pytest.skip(PG_SKIP_REASON)
    with throwaway_postgres(postgres.admin_url, "tally_scale") as url:
        yield url


@pytest.fixture(scope="module")
def deployment(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with FakeSlack().running() as slack:
        env = {
            "TALLY_DATABASE_URL": pg_database,
            "TALLY_SECRET_KEY": TEST_SECRET,  # shared by the replicas: a CSRF token made by one holds on all
            "TALLY_BASE_URL": ORIGIN,
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": slack.api_url,
        }
        # Started together on an empty database: their start-up migrations meet (an advisory lock).
        cwd = tmp_path_factory.mktemp("replicas")
        with tally_servers(3, env=env, cwd=cwd) as servers:
            db = Database(pg_database)
            try:
                yield _populate(db, servers, slack, env, cwd)
            finally:
                db.dispose()


def _populate(db: Database, servers: list[Server], slack: FakeSlack, env: dict[str, str], cwd: Path) -> Deployment:
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(OSLO).date()
    launch = make_launch(db, slug=SLUG, starts_on=today, ends_on=today + dt.timedelta(days=14))
    past = make_launch(
        db,
        slug=PAST,
        name="Past launch",
        hypotheses=("send", "bankid", "receipts"),
        starts_on=dt.date(2026, 11, 18),
        ends_on=dt.date(2026, 11, 25),
        slack_channel="#launch-b",
    )
    with db.transaction() as session:
        for name in AGENTS:
            auth.add_user(session, username=name, role=Role.AGENT, password=PASSWORD, now=now, actor="test")
        auth.add_user(session, username="lena", role=Role.LEAD, password=PASSWORD, now=now, actor="test")
        _, token = api_tokens.create(session, name="telephony", now=now, actor="test")
        _, lead_token = api_tokens.create(session, name="lead-script", now=now, actor="test", role=TokenRole.LEAD)
    return Deployment(servers, db, slack, env, cwd, token, lead_token, launch.id or 0, past.id or 0)


# --- enquiries at all three at once ---------------------------------------------------------------

CHOICES: tuple[list[str], ...] = (["a"], ["b"], ["a", "c"], [], ["c"])


@dataclass(frozen=True)
class Sent:
    key: str
    hypotheses: tuple[str, ...]
    id: int


class Failures:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.found: list[str] = []

    def add(self, message: str) -> None:
        with self.lock:
            self.found.append(message)


def _api_client(deployment: Deployment, start: int, done: list[Sent], failures: Failures) -> Callable[[], None]:
    def run() -> None:
        headers = {"Authorization": f"Bearer {deployment.token}"}
        with httpx.Client(timeout=30, headers=headers) as client:
            for i in range(PER_CLIENT):
                key = f"api-{start}-{i}-{uuid.uuid4().hex[:8]}"
                hypotheses = CHOICES[(start + i) % len(CHOICES)]
                body = {"channel": "phone", "segment": "private", "hypotheses": hypotheses, "idempotency_key": key}
                url = f"{deployment.url(start + i)}/api/v1/launches/{SLUG}/enquiries"
                answer = client.post(url, json=body)
                if answer.status_code != 201 or answer.json()["created"] is not True:
                    failures.add(f"{url}: {answer.status_code} {answer.text[:200]}")
                    continue
                first = Sent(key, tuple(hypotheses), answer.json()["id"])
                done.append(first)
                if i % 4 == 0:  # the integration's retry lands on the next replica: the same enquiry
                    again = client.post(f"{deployment.url(start + i + 1)}/api/v1/launches/{SLUG}/enquiries", json=body)
                    if (again.status_code, again.json().get("id")) != (200, first.id):
                        failures.add(f"replay of {key}: {again.status_code} {again.text[:200]}")

    return run


def _agent(deployment: Deployment, start: int, name: str, done: list[Sent], failures: Failures) -> Callable[[], None]:
    browser = Browser(ORIGIN)
    browser.sign_in(deployment.url(start), name, PASSWORD)
    browser.open_checklist(deployment.url(start + 1), SLUG)  # the page from one replica, ticks to all

    def run() -> None:
        try:
            for i in range(PER_CLIENT):
                key = f"tick-{name}-{i}-{uuid.uuid4().hex[:8]}"
                hypotheses = CHOICES[(start + i) % len(CHOICES)]
                body = {"channel": "chat", "segment": "business", "hypotheses": hypotheses, "idempotency_key": key}
                answer = browser.tick(deployment.url(start + i), SLUG, body)
                if answer.status_code != 201:
                    failures.add(f"tick {key}: {answer.status_code} {answer.text[:200]}")
                    continue
                first = Sent(key, tuple(hypotheses), answer.json()["id"])
                done.append(first)
                if i % 4 == 1:  # the queue sent it again (the answer was lost): the same enquiry
                    again = browser.tick(deployment.url(start + i + 2), SLUG, body)
                    if (again.status_code, again.json().get("id")) != (200, first.id):
                        failures.add(f"tick replay of {key}: {again.status_code} {again.text[:200]}")
        finally:
            browser.close()

    return run


def _tally(url: str, token: str, slug: str, start: str, end: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{url}/api/v1/launches/{slug}/tally",
        params={"start": start, "end": end},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_enquiries_at_three_replicas_at_once_are_each_counted_once(deployment: Deployment) -> None:
    sent: list[Sent] = []  # list.append is atomic: the threads share it
    failures = Failures()
    jobs = [_api_client(deployment, n, sent, failures) for n in range(3)]
    jobs += [_agent(deployment, n, name, sent, failures) for n, name in enumerate(AGENTS)]
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "the load did not end"
    assert failures.found == []
    assert len(sent) == 6 * PER_CLIENT

    with deployment.db.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT e.id, h.key FROM enquiry e LEFT JOIN enquiry_hypothesis l ON l.enquiry_id = e.id "
                "LEFT JOIN hypothesis h ON h.id = l.hypothesis_id WHERE e.launch_id = :launch"
            ),
            {"launch": deployment.launch_id},
        ).all()
    stored: dict[int, set[str]] = {}
    for enquiry_id, key in rows:
        stored.setdefault(enquiry_id, set()).update([key] if key else [])
    # Every acknowledged enquiry once, under the id it was given, with what was ticked; nothing else.
    assert len({s.id for s in sent}) == len(sent)
    assert stored == {s.id: set(s.hypotheses) for s in sent}

    expected = Counter(key for s in sent for key in s.hypotheses)
    midnight = dt.datetime.combine(dt.datetime.now(OSLO).date(), dt.time(), OSLO)
    start, end = midnight.isoformat(), (midnight + dt.timedelta(days=2)).isoformat()
    tallies = [_tally(server.url, deployment.token, SLUG, start, end) for server in deployment.servers]
    first = tallies[0]
    assert first["total"] == len(sent)
    assert first["other"] == sum(1 for s in sent if not s.hypotheses)
    assert first["hypotheses"] == {"a": expected["a"], "b": expected["b"], "c": expected["c"]}
    assert first["channels"]["phone"] == first["channels"]["chat"] == 3 * PER_CLIENT
    assert tallies[1] == first and tallies[2] == first


# --- digests and alerts at the same moment --------------------------------------------------------


def _run_due(deployment: Deployment, at: str, processes: int = 3) -> list[str]:
    results = run_together([["digest", "run-due", "--now", at]] * processes, env=deployment.env, cwd=deployment.cwd)
    assert all(code == 0 for code, _ in results), results
    return [output for _, output in results]


def _slot_keys(slack: FakeSlack) -> list[str]:
    return [str(m["metadata"]["event_payload"]["slot_key"]) for m in slack.posts() if m.get("metadata")]


def test_each_digest_slot_is_posted_once_when_every_replica_runs_the_due_work(
    deployment: Deployment,
) -> None:
    past = deployment.past_id
    nine = f"{past}:2026-11-18T08:00Z"
    one = f"{past}:2026-11-18T12:00Z"

    outputs = _run_due(deployment, "2026-11-18T09:00:30+01:00")
    assert [line for out in outputs for line in out.splitlines() if line.startswith(nine)] == [
        f"{nine}: late"
    ]  # posted by the real clock

    # A spike after the 13:00 digest, logged after the fact through all three replicas: not alerted now.
    headers = {"Authorization": f"Bearer {deployment.token}"}
    for i in range(12):
        at = dt.datetime(2026, 11, 18, 13, i, tzinfo=OSLO).isoformat()
        body = {"channel": "phone", "hypotheses": ["send"], "occurred_at": at, "idempotency_key": f"spike-{i}"}
        answer = httpx.post(f"{deployment.url(i)}/api/v1/launches/{PAST}/enquiries", json=body, headers=headers)
        assert answer.status_code == 201, answer.text

    outputs = _run_due(deployment, "2026-11-18T13:20:00+01:00")
    lines = [line for out in outputs for line in out.splitlines()]
    assert [line for line in lines if line.startswith(one)] == [f"{one}: late"], outputs
    # A spike of 18 November, posted now, would read as one now.
    assert not [line for line in lines if line.startswith("alert ")], outputs
    assert all("spike alerts: not checked, as --now is in the past" in out for out in outputs), outputs

    posted = _slot_keys(deployment.slack)
    assert sorted(k for k in posted if k.startswith(f"{past}:")) == sorted([nine, one])
    # The replicas' own schedulers post today's digests of the live launch, if one is due while
    # this runs: whatever was posted, nothing was posted twice.
    assert [k for k, n in Counter(posted).items() if n > 1] == []
    with deployment.db.engine.connect() as connection:
        runs = connection.execute(
            sa.text("SELECT slot_key, status FROM digest_run WHERE launch_id = :launch ORDER BY slot_key"),
            {"launch": past},
        ).all()
        alerts = connection.execute(
            sa.text("SELECT claim_key, status FROM alert WHERE launch_id = :launch"), {"launch": past}
        ).all()
    assert [tuple(r) for r in runs] == [(nine, "late"), (one, "late")]
    assert [tuple(a) for a in alerts] == []


# --- an edit in one replica, seen by the others -----------------------------------------------------


def _eventually(look: Callable[[], Any], ok: Callable[[Any], bool], what: str) -> Any:
    """Poll until ``ok(look())``, up to SEEN_WITHIN seconds; the last answer is in the failure."""
    deadline = time.monotonic() + SEEN_WITHIN
    for attempt in itertools.count():
        seen = look()
        if ok(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not seen after {attempt + 1} looks: {str(seen)[:500]}")
        time.sleep(0.05)  # between looks only: no assertion depends on it
    raise AssertionError("unreachable")


def _version(browser: Browser, url: str) -> str:
    answer = browser.get(f"{url}/launches/{SLUG}/checklist/version")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["version"])


def _buttons(html: str) -> list[str]:
    return re.findall(r'<button[^>]*class="tick"[^>]*data-key="([^"]+)"', html)


def test_a_hypothesis_edit_in_one_replica_is_seen_by_the_others_checklists_and_dashboards(
    deployment: Deployment,
) -> None:
    agents = []
    for n in (1, 2):
        agent = Browser(ORIGIN)
        agent.sign_in(deployment.url(n), AGENTS[0], PASSWORD)
        agents.append(agent)
    lead = Browser(ORIGIN)
    lead.sign_in(deployment.url(1), "lena", PASSWORD)
    before = [_version(agent, deployment.url(n)) for n, agent in zip((1, 2), agents, strict=True)]
    assert before[0] == before[1]
    for n in (1, 2):  # every replica has shown the dashboard and tally before the edit
        assert lead.get(f"{deployment.url(n)}/launches/{SLUG}").status_code == 200

    lead_api = {"Authorization": f"Bearer {deployment.lead_token}"}
    changed = httpx.patch(
        f"{deployment.url(0)}/api/v1/launches/{SLUG}/hypotheses/b",
        json={"text": "Reworded on replica one"},
        headers=lead_api,
    )
    assert changed.status_code == 200, changed.text
    retired = httpx.patch(
        f"{deployment.url(0)}/api/v1/launches/{SLUG}/hypotheses/c", json={"status": "retired"}, headers=lead_api
    )
    assert retired.status_code == 200, retired.text

    for n, agent in zip((1, 2), agents, strict=True):
        url = deployment.url(n)
        _eventually(lambda: _version(agent, url), lambda v: v != before[0], f"checklist version on replica {n}")  # noqa: B023
        board = agent.get(f"{url}/launches/{SLUG}/checklist", headers={"HX-Request": "true"})
        assert board.status_code == 200
        assert "Reworded on replica one" in board.text and _buttons(board.text) == ["a", "b"]
        dashboard = lead.get(f"{url}/launches/{SLUG}")
        assert "Reworded on replica one" in dashboard.text
        listed = httpx.get(f"{url}/api/v1/launches", headers={"Authorization": f"Bearer {deployment.token}"})
        [ours] = [launch for launch in listed.json() if launch["slug"] == SLUG]
        assert [(h["key"], h["text"]) for h in ours["hypotheses"]] == [
            ("a", "Hypothesis a"),
            ("b", "Reworded on replica one"),
        ]
    for browser in (*agents, lead):
        browser.close()


def test_other_enquiries_moved_onto_a_new_hypothesis_change_every_replicas_kept_counts_of_closed_days(
    deployment: Deployment,
) -> None:
    """The past launch's days are closed: each replica keeps their counts in memory after
    counting them once. Moving "other" enquiries onto a new hypothesis in one replica must
    show in the others' tallies at once."""
    headers = {"Authorization": f"Bearer {deployment.token}"}
    ids = []
    for i in range(5):
        at = dt.datetime(2026, 11, 20, 10, i, tzinfo=OSLO).isoformat()
        body = {"channel": "phone", "note": "the receipt is blank", "occurred_at": at, "idempotency_key": f"o-{i}"}
        answer = httpx.post(f"{deployment.url(i)}/api/v1/launches/{PAST}/enquiries", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    start, end = "2026-11-18T00:00:00+01:00", "2026-11-26T00:00:00+01:00"
    before = [_tally(server.url, deployment.token, PAST, start, end) for server in deployment.servers]
    assert all(t == before[0] for t in before) and before[0]["other"] == 5  # now counted and kept by each

    made = httpx.post(
        f"{deployment.url(0)}/api/v1/launches/{PAST}/hypotheses",
        json={"key": "blank-receipt", "text": "Receipts come out blank", "from_notes": ids},
        headers={"Authorization": f"Bearer {deployment.lead_token}"},
    )
    assert made.status_code == 201 and made.json()["relinked"] == 5, made.text

    for server in deployment.servers[1:]:
        after = _eventually(
            lambda: _tally(server.url, deployment.token, PAST, start, end),  # noqa: B023
            lambda t: t["other"] == 0,
            f"tally on {server.url}",
        )
        assert after["hypotheses"]["blank-receipt"] == 5 and after["total"] == before[0]["total"]


# --- two of the same change at once -----------------------------------------------------------------


def _waiting_for_a_lock(db: Database) -> bool:
    with db.engine.connect() as connection:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


def _both_at_once(db: Database, change: Callable[[Session], Any]) -> object:
    """``change`` in two transactions, as two replicas make it at the same moment: the second reads what
    the first has not committed yet, then waits for its locks. What the second ended with (its result,
    or what it raised)."""
    outcome: list[object] = []

    def second() -> None:
        with db.session() as session:
            try:
                outcome.append(change(session))
                session.commit()
            except Exception as exc:  # noqa: BLE001 -- what it ended with is the caller's to judge
                outcome.append(exc)

    first = db.session()
    try:
        change(first)
        first.flush()  # holds its rows, uncommitted
        thread = threading.Thread(target=second)
        thread.start()
        _eventually(lambda: _waiting_for_a_lock(db), bool, "the second transaction waiting for the first")
        first.commit()
    finally:
        first.close()
    thread.join(timeout=30)
    [ended] = outcome
    return ended


def _logged(deployment: Deployment, **body: Any) -> int:
    headers = {"Authorization": f"Bearer {deployment.token}"}
    body = {"channel": "phone", "idempotency_key": f"twice-{uuid.uuid4().hex[:8]}", **body}
    logged = httpx.post(f"{deployment.url(0)}/api/v1/launches/{SLUG}/enquiries", json=body, headers=headers)
    assert logged.status_code == 201, logged.text
    return int(logged.json()["id"])


def _audited(db: Database, action: str, target: str) -> int:
    with db.engine.connect() as connection:
        return int(
            connection.execute(
                sa.text("SELECT count(*) FROM audit_event WHERE action = :action AND detail::text LIKE :target"),
                {"action": action, "target": f"%{target}%"},
            ).scalar()
            or 0
        )


def test_two_undos_of_one_enquiry_at_once_undo_it_once(deployment: Deployment) -> None:
    """A double press on Undo that the load balancer sends to two replicas: both read the enquiry before
    either commits. The second finds it undone (404, as when it comes after), rather than failing on the
    undone key the first kept (500) or recording a second undo in the audit trail."""
    enquiry_id = _logged(deployment, hypotheses=["a"])
    with deployment.db.session() as session:
        token = session.exec(select(ApiToken).where(ApiToken.name == "telephony")).one()

    ended = _both_at_once(
        deployment.db, lambda s: enquiries.undo(s, enquiry_id, now=dt.datetime.now(dt.UTC), token=token)
    )
    assert isinstance(ended, NotFound), repr(ended)
    with deployment.db.engine.connect() as connection:
        undone = connection.execute(
            sa.text("SELECT count(*) FROM audit_event WHERE action = 'enquiry.undone' AND target_id = :id"),
            {"id": str(enquiry_id)},
        ).scalar()
    assert undone == 1


def test_two_erasures_of_one_note_at_once_erase_it_once(deployment: Deployment) -> None:
    """Two leads (or a double press sent to two replicas) erase the same note at the same moment: the one
    that found it erased says it erased nothing (the API's `erased: false`), and the audit trail says once
    who erased it."""
    enquiry_id = _logged(deployment, hypotheses=[], note="the receipt button crashes the app")
    ended = _both_at_once(
        deployment.db,
        lambda s: retention.erase_notes(
            s, deployment.launch_id, [enquiry_id], actor="lena", now=dt.datetime.now(dt.UTC)
        ),
    )
    assert ended == retention.Erased(0, 0), repr(ended)
    assert _audited(deployment.db, "notes.erased", str(enquiry_id)) == 1


def test_two_revocations_of_one_token_at_once_revoke_it_once(deployment: Deployment) -> None:
    """Two admins (or a double press sent to two replicas) revoke the same token at the same moment: the
    audit trail says once who revoked it, and when it was revoked stays the first's time."""
    db = deployment.db
    with db.transaction() as session:
        token, _ = api_tokens.create(
            session, name=f"twice-{uuid.uuid4().hex[:8]}", now=dt.datetime.now(dt.UTC), actor="t"
        )
    token_id = token.id or 0
    times = iter([dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, 11, tzinfo=dt.UTC)])
    ended = _both_at_once(db, lambda s: api_tokens.revoke(s, token_id, now=next(times), actor="ada"))
    assert isinstance(ended, ApiToken), repr(ended)
    with db.engine.connect() as connection:
        revoked = connection.execute(
            sa.text("SELECT count(*) FROM audit_event WHERE action = 'token.revoked' AND target_id = :id"),
            {"id": str(token_id)},
        ).scalar()
        revoked_at = connection.execute(
            sa.text("SELECT revoked_at FROM api_token WHERE id = :id"), {"id": token_id}
        ).scalar()
    assert revoked == 1
    assert revoked_at is not None and revoked_at.replace(tzinfo=dt.UTC) == dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
