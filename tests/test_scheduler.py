"""The scheduler decides when: cron triggers in each launch's own zone, kept in step with edits."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from sqlmodel import select

from app import digests
from app.config import Settings
from app.db import Database
from app.jobs.scheduler import DigestScheduler, triggers_for
from app.models import DayTally, DigestRun, DigestStatus, Launch, LaunchStatus
from tests.conftest import DIGEST_SETTLE, SLACK_CHANNEL, SLACK_TOKEN, make_settings
from tests.factories import log, make_launch
from tests.fakes.slack_server import FakeSlack, Reply
from tests.processes import free_port, tally_process

OSLO = ZoneInfo("Europe/Oslo")


@pytest.mark.parametrize("day", [dt.date(2026, 3, 29), dt.date(2026, 10, 25)])
def test_cron_triggers_fire_at_local_times_on_dst_days(
    db: Database, settings: Settings, host_timezone: str, day: dt.date
) -> None:
    launch = make_launch(db, starts_on=day - dt.timedelta(days=2), ends_on=day + dt.timedelta(days=2))
    start = dt.datetime.combine(day, dt.time(0), tzinfo=OSLO)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=OSLO)
    fires = []
    for trigger in triggers_for(launch, settings).values():
        moment = trigger.get_next_fire_time(None, start)
        while moment is not None and moment < end:
            fires.append(moment.astimezone(OSLO))
            moment = trigger.get_next_fire_time(moment, moment + dt.timedelta(seconds=1))
    assert sorted(f.strftime("%H:%M") for f in fires) == ["09:00", "13:00", "16:00"]
    assert {f.date() for f in fires} == {day}


def test_triggers_stay_inside_the_launch_window(db: Database, settings: Settings) -> None:
    launch = make_launch(db, starts_on=dt.date(2026, 11, 16), ends_on=dt.date(2026, 11, 17))
    trigger = triggers_for(launch, settings)["digest:test-launch:09:00"]
    first = trigger.get_next_fire_time(None, dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    # Once its slot has settled: what was received before 09:00 is committed by then.
    assert first is not None and first == dt.datetime(2026, 11, 16, 9, 0, tzinfo=OSLO) + DIGEST_SETTLE
    assert trigger.get_next_fire_time(None, dt.datetime(2026, 11, 18, tzinfo=dt.UTC)) is None
    # A time whose settled moment is past midnight fires then, and for the last day's too.
    late = make_launch(
        db, slug="late", digest_times=["23:59"], starts_on=dt.date(2026, 11, 16), ends_on=dt.date(2026, 11, 17)
    )
    fires, moment = [], dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
    trigger = triggers_for(late, settings)["digest:late:23:59"]
    while (moment := trigger.get_next_fire_time(None, moment + dt.timedelta(seconds=1))) is not None:
        fires.append(moment)
    slots = [dt.datetime(2026, 11, day, 23, 59, tzinfo=OSLO) for day in (16, 17)]
    assert [slot + DIGEST_SETTLE for slot in slots] == [f for f in fires if f - DIGEST_SETTLE in slots]


def test_edits_take_effect_without_a_restart(db: Database, settings: Settings, request: pytest.FixtureRequest) -> None:
    launch = make_launch(db, starts_on=dt.date(2026, 11, 16))
    scheduler = DigestScheduler(db, settings)
    # Started but paused: jobs live in a real job store (where replacing one by id
    # works as in production) and nothing fires behind the test's back.
    scheduler.scheduler.start(paused=True)
    request.addfinalizer(scheduler.shutdown)
    scheduler.sync()
    assert sorted(job.id for job in scheduler.jobs()) == [
        "digest:test-launch:09:00",
        "digest:test-launch:13:00",
        "digest:test-launch:16:00",
    ]
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.digest_times = ["08:30", "15:00"]
    scheduler.sync()
    assert sorted(job.id for job in scheduler.jobs()) == ["digest:test-launch:08:30", "digest:test-launch:15:00"]
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.ends_on = dt.date(2026, 11, 30)  # the window shortened
    scheduler.sync()
    for job in scheduler.jobs():
        # The settled moment of midnight after the last day
        assert job.trigger.end_date == dt.datetime(2026, 12, 1, 0, 0, tzinfo=OSLO) + DIGEST_SETTLE
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.status = LaunchStatus.CLOSED
    scheduler.sync()
    assert scheduler.jobs() == []


def test_a_launch_closed_after_its_last_digest_leaves_the_other_launches_scheduled(
    db: Database, settings: Settings, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    """APScheduler drops a cron job itself after its last firing. Closing that launch afterwards
    (the usual end of a launch) used to fail every sync from then on, so new launches and new
    digest times got no jobs until a restart."""
    launch = make_launch(db, starts_on=dt.date(2026, 11, 16))
    scheduler = DigestScheduler(db, settings)
    scheduler.scheduler.start(paused=True)
    request.addfinalizer(scheduler.shutdown)
    scheduler.sync()
    scheduler.scheduler.remove_job("digest:test-launch:16:00")  # as after its final firing
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.status = LaunchStatus.CLOSED
    make_launch(db, slug="next-launch", starts_on=dt.date(2026, 11, 16))
    caplog.clear()
    scheduler.sync()
    scheduler.sync()
    assert sorted(job.id for job in scheduler.jobs()) == [
        "digest:next-launch:09:00",
        "digest:next-launch:13:00",
        "digest:next-launch:16:00",
    ]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_serve_without_scheduler_and_the_scheduler_on_its_own(tmp_path: Path, database_url: str) -> None:
    env = {"TALLY_DATABASE_URL": database_url}
    port = free_port()
    with tally_process("serve", "--no-scheduler", "--port", str(port), env=env, cwd=tmp_path) as lines:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    assert not any("digest scheduler starting" in line for line in lines)
    with tally_process("scheduler", env=env, cwd=tmp_path, ready="digest scheduler starting") as lines:
        assert "dry runs (no Slack configured)" in lines[-1]


def test_a_cron_job_firing_sends_that_launchs_due_digest(db: Database, settings: Settings) -> None:
    import time_machine
    from sqlmodel import select

    from app.models import DigestRun, DigestStatus

    launch = make_launch(db, starts_on=dt.date(2026, 11, 18))
    other = make_launch(db, slug="other-launch", starts_on=dt.date(2026, 11, 18))
    scheduler = DigestScheduler(db, settings)  # no Slack configured: dry runs
    nine = dt.datetime(2026, 11, 18, 9, 0, tzinfo=OSLO)
    with time_machine.travel(nine + dt.timedelta(seconds=2), tick=False):  # not settled yet: nothing
        scheduler.run_due([launch.id or 0])
    with db.session() as session:
        assert list(session.exec(select(DigestRun))) == []
    at_nine = nine + DIGEST_SETTLE + dt.timedelta(seconds=2)
    with time_machine.travel(at_nine, tick=False):
        scheduler.run_due([launch.id or 0])
    with db.session() as session:
        stored = list(session.exec(select(DigestRun)))
    assert [(r.launch_id, r.status) for r in stored] == [(launch.id, DigestStatus.DRY_RUN)]
    assert other.id not in {r.launch_id for r in stored}
    assert stored[0].slot_at == nine


def test_the_minute_pass_counts_days_that_have_closed_before_any_page_does(db: Database, settings: Settings) -> None:
    launch = make_launch(db, starts_on=dt.date(2026, 11, 16))
    for day in range(16, 21):
        log(db, launch, "a", at=dt.datetime(2026, 11, day, 10, 0, tzinfo=OSLO).astimezone(dt.UTC))
    scheduler = DigestScheduler(db, settings)
    with time_machine.travel(dt.datetime(2026, 11, 20, 12, 0, tzinfo=OSLO), tick=False):
        scheduler.sync()
    with db.session() as session:
        kept = session.exec(select(DayTally).where(DayTally.launch_id == launch.id)).all()
        assert {row.day: row.counts["total"] for row in kept} == {dt.date(2026, 11, day): 1 for day in range(16, 20)}


def test_stopping_while_the_first_pass_schedules_a_launch_does_not_hang(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tally serve` on a port in use stopped during the scheduler's first pass and hung for good:
    APScheduler's shutdown(wait=True) waits for the running pass while holding the lock that the
    pass's add_job (a live launch's digest jobs) waits for."""
    make_launch(db, starts_on=dt.date(2026, 11, 16))
    reading, go_on = threading.Event(), threading.Event()
    live_launches = digests.live_launches

    def held(database: Database) -> list[Launch]:
        reading.set()
        go_on.wait(10)
        return live_launches(database)

    monkeypatch.setattr(digests, "live_launches", held)
    scheduler = DigestScheduler(db, settings)
    scheduler.start()  # the first pass starts at once, and waits in live_launches
    assert reading.wait(10)
    stopping = threading.Thread(target=scheduler.shutdown, daemon=True)
    stopping.start()
    stopping.join(0.5)  # shutdown under way (taking APScheduler's locks, before the fix)
    go_on.set()  # the pass goes on to add the launch's jobs
    stopping.join(15)
    assert not stopping.is_alive(), "the scheduler's shutdown hung"


def _runs_of(db: Database, launch: Launch) -> list[DigestRun]:
    with db.session() as session:
        return list(session.exec(select(DigestRun).where(DigestRun.launch_id == launch.id)))


def test_one_channels_rate_limit_holds_up_no_other_launchs_digest(db: Database, slack: FakeSlack) -> None:
    """Slack rate-limited one launch's channel for a minute at a time. The scheduler's sender waited it
    out in slack-sdk, three times per attempt, three attempts: 11 minutes under the scheduler's lock, and
    the other launch's 09:00 digest went out at 09:11, "sent late: Launch Tally was not running"."""
    settings = make_settings(db.url, slack_bot_token=SLACK_TOKEN, slack_api_url=slack.api_url)
    limited = make_launch(db, slug="limited", starts_on=dt.date(2026, 11, 18), slack_channel=SLACK_CHANNEL)
    other = make_launch(db, slug="other", starts_on=dt.date(2026, 11, 18), slack_channel="#other")
    rate_limited = Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "60"}, channel=SLACK_CHANNEL)
    slack.queue("chat.postMessage", *[rate_limited] * 12)
    nine = dt.datetime(2026, 11, 18, 9, 0, tzinfo=OSLO)
    with time_machine.travel(nine - dt.timedelta(hours=1), tick=False) as traveller:
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            traveller.shift(seconds)

        scheduler = DigestScheduler(db, settings, sleep=sleep)
        traveller.move_to(nine + DIGEST_SETTLE)
        scheduler.run_due()
    assert slept == []
    [waiting] = _runs_of(db, limited)
    assert waiting.status == DigestStatus.RETRYING and len(slack.attempts()) == 2  # one each
    # Slack's minute is honoured by the next pass instead.
    assert waiting.next_attempt_at is not None and waiting.next_attempt_at >= nine + dt.timedelta(seconds=60)
    [sent] = _runs_of(db, other)
    assert sent.status == DigestStatus.SENT and "late" not in str(slack.posts("#other")[0]["blocks"])


@pytest.mark.parametrize(
    ("running_since", "note"),
    [
        (dt.timedelta(hours=-1), "sent late"),  # running, held up by the passes ahead of it
        (dt.timedelta(minutes=6), "sent late: Launch Tally was not running at the time"),  # started after
    ],
)
def test_a_late_digest_says_it_was_not_running_only_when_it_was_not(
    db: Database, slack: FakeSlack, running_since: dt.timedelta, note: str
) -> None:
    """A cron job that waited for the scheduler's lock behind a slow pass (the alert check, other
    launches' digests while Slack was slow) went out late saying Launch Tally was not running."""
    settings = make_settings(db.url, slack_bot_token=SLACK_TOKEN, slack_api_url=slack.api_url)
    make_launch(db, starts_on=dt.date(2026, 11, 18), slack_channel=SLACK_CHANNEL)
    nine = dt.datetime(2026, 11, 18, 9, 0, tzinfo=OSLO)
    with time_machine.travel(nine + running_since, tick=False) as traveller:
        scheduler = DigestScheduler(db, settings)
        traveller.move_to(nine + DIGEST_SETTLE + dt.timedelta(minutes=6))
        scheduler.run_due()
    [message] = slack.posts(SLACK_CHANNEL)
    assert message["blocks"][1]["elements"][0]["text"].endswith(f"· {note}")
