"""A three-week launch, simulated end to end: from surprise to fix.

Built through backfill (the CSV import, as a lead would bring in paper ticks): all enquiries fall as
the launch ages; from day 3 a new complaint shows up in "other" notes; a fix for the login
hypothesis ships on day 6 and cuts its share; on day 10 a morning spike of one hypothesis. Then:
the theme tops the surprises and the next digest, the fix's verdict is `down`, the spike gives
exactly one alert with three `tally digest run-due` processes at once, and moving the theme's
notes onto a new hypothesis moves the counts everywhere, another process included.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import select

from app import api_tokens, digests, imports, launches, tallies
from app.config import Settings
from app.db import Database
from app.insight import relink, themes
from app.models import Alert, DigestRun, Enquiry, Launch, TokenRole
from tests.factories import fresh, make_launch
from tests.fakes.slack_server import FakeSlack
from tests.processes import ROOT, tally_at

OSLO = ZoneInfo("Europe/Oslo")
CHANNEL = "#payapp-launch"
THEME_NOTE = "Widgeten forsvant etter oppdateringen"
OTHER_NOTE = "Spurte om kortgrense i utlandet"


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=OSLO)


END = local(27, 18)  # when the story is read back


def simulated_csv() -> str:
    """Twelve days from Monday 16 November, nine office hours a day, volume falling day by day."""
    lines = ["occurred_at,hypotheses,channel,segment,note,count"]
    for n in range(12):
        day = 16 + n
        per_hour = max(40 - 3 * n, 10)
        for hour in range(8, 17):
            at = local(day, hour, 10).isoformat()
            fixed = (day, hour) >= (21, 12)  # the fix ships at noon on day 6: a fifth of its share stays
            login = per_hour // 25 if fixed else per_hour // 5
            if login:
                lines.append(f"{at},login,phone,private,,{login}")
            lines.append(f"{at},receipts,chat,private,,{per_hour * 3 // 10}")
            lines.append(f"{at},send,phone,business,,{per_hour * 3 // 10}")
            lines.append(f"{at},,email,private,{OTHER_NOTE},{max(per_hour // 10, 1)}")
            if day >= 18:  # the surprise: from day 3, in the notes of "other"
                lines.append(f"{local(day, hour, 40).isoformat()},,chat,private,{THEME_NOTE},1")
        if day == 25:  # the spike: a morning of failed transfers
            lines.extend(f"{local(25, 9, minute).isoformat()},send,phone,private,,4" for minute in range(0, 50, 5))
    return "\n".join(lines) + "\n"


@pytest.fixture
def story(db: Database) -> Launch:
    launch = make_launch(
        db,
        slug="payapp",
        hypotheses=("login", "receipts", "send"),
        starts_on=dt.date(2026, 11, 16),
        ends_on=dt.date(2026, 12, 6),
        slack_channel=CHANNEL,
    )
    with db.session() as session:
        current = fresh(db, launch)
        rows = imports.parse(
            simulated_csv().encode(),
            name="paper.csv",
            launch=current,
            hypotheses=launches.hypotheses_of(session, current),
            now=END,
        )
    report = imports.import_rows(db, launch=current, rows=rows, now=END, actor="lena", source_name="paper.csv")
    assert report.added > 2000
    return fresh(db, launch)


def test_the_theme_tops_the_surprises_and_the_next_digest(db: Database, settings: Settings, story: Launch) -> None:
    evening = local(18, 16, 30)  # day 3, after the afternoon digest's time
    with db.session() as session:
        found = themes.surprises(session, story, now=evening)
    assert found.themes, "the new complaint should rise"
    top = found.themes[0]
    assert "widget" in top.phrase.lower() and top.before == 0 and top.recent >= 5

    # The next digest (the 19th at 09:00) names it under "New in other".
    runs = digests.run_due(db, settings=settings, now=local(19, 9, 1), sender=None, launch_ids=[story.id or 0])
    [morning] = [r for r in runs if r.slot_at == local(19, 9).astimezone(dt.UTC)]
    assert "New in other" in digests_text(db, morning) or "New in “other”" in str(morning.blocks)
    assert "widget" in str(morning.blocks).lower()


def digests_text(db: Database, run: DigestRun) -> str:
    with db.session() as session:
        stored = session.get(DigestRun, run.id)
        assert stored is not None
        return stored.text + str(stored.blocks)


def test_the_fix_verdict_is_down_while_all_enquiries_fall(app: Any, db: Database, story: Launch) -> None:
    with db.transaction() as session:
        _, lead = api_tokens.create(session, name="product", now=END, actor="test", role=TokenRole.LEAD)
    headers = {"Authorization": f"Bearer {lead}"}
    with time_machine.travel(END, tick=False), TestClient(app) as client:
        shipped = client.patch(
            "/api/v1/launches/payapp/hypotheses/login",
            json={"status": "fix_shipped", "fix_shipped_at": "2026-11-21T12:00:00+01:00"},
            headers=headers,
        )
        assert shipped.status_code == 200, shipped.text
        impact = client.get("/api/v1/launches/payapp/hypotheses/login/impact", headers=headers).json()
    assert impact["after"]["per_day"] < impact["before"]["per_day"]
    assert impact["verdict"] == "down" and impact["change"] < -0.5


def test_the_spike_gives_exactly_one_alert_from_three_processes_at_once(db: Database, story: Launch) -> None:
    with FakeSlack().running() as slack:
        slack.add_channel(CHANNEL)
        env = {
            **os.environ,
            "TALLY_DATABASE_URL": db.url,
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_API_URL": slack.api_url,
        }
        processes = [
            subprocess.Popen(
                tally_at(local(25, 10, 30), "digest", "run-due", "--now", local(25, 10, 30).isoformat()),
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=180)[0] for p in processes]
        assert all(p.returncode == 0 for p in processes), outputs
        alert_posts = [m for m in slack.posts(CHANNEL) if ":hypothesis:" in str(m["metadata"])]
    with db.session() as session:
        stored = session.exec(select(Alert)).all()
    assert [(a.subject, a.status.value) for a in stored] == [("send", "sent")]
    assert stored[0].count >= 40 and stored[0].count >= 3 * stored[0].normal
    assert len(alert_posts) == 1, outputs


def test_moving_the_theme_onto_a_hypothesis_moves_the_counts_everywhere(db: Database, story: Launch) -> None:
    start, _ = launches.window(story)
    other_process = Database(db.url)
    try:
        with other_process.session() as session:  # a second process that had the counts cached
            before = tallies.tally(session=session, launch=fresh(db, story), start=start, end=END, now=END)
        with db.session() as session:
            ids = [
                e.id or 0
                for e in session.exec(select(Enquiry).where(Enquiry.note == THEME_NOTE, Enquiry.launch_id == story.id))
            ]
        with db.transaction() as session:
            promoted = relink.promote(
                session,
                fresh(db, story),
                key="widget-gone",
                text="The widget is gone",
                enquiry_ids=ids,
                actor="lena",
                now=END,
            )
            key_id = promoted.hypothesis.id
        with other_process.session() as session:
            after = tallies.tally(session=session, launch=fresh(db, story), start=start, end=END, now=END)
        assert after.by_hypothesis[key_id or 0] == len(ids) > 0
        assert after.other == before.other - len(ids)
        assert after.total == before.total
    finally:
        other_process.dispose()
