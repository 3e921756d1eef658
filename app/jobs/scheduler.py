"""The digest scheduler (APScheduler 3.x). It only decides *when*; what to do
at that moment is ``digests.run_due(now=...)``, which is safe to call from
every worker and replica at once (slots are claimed in the database).

Jobs:
* one cron job per live launch and digest time, in the launch's own time zone
  (passed explicitly: the host's TZ never matters), bounded by the launch's
  window, firing once the slot has settled (``digests.settle``: what was received
  before it is committed);
* a minute job that re-reads the launches (so edits to times, window or status
  take effect without a restart), catches up on anything missed, retries what
  Slack refused for now, takes over abandoned claims, and counts days that
  have just closed (``tallies.keep_closed_days``) before any page needs them;
* a job every ``ALERT_MINUTES`` that checks for spike alerts
  (``alerts.run_alerts(now=...)``, claimed in the database like digests);
* an hourly job that prunes old sign-in attempts;
* with ``TALLY_NOTE_RETENTION_DAYS`` set, a job that erases older notes
  (``retention.purge_notes(now=...)``: safe to run in every replica), daily and once at start;
* once at start, the stored notes scrubbed again if this version's scrubber has not passed over them,
  or else those stored since its last pass (``retention.scrub_stored_once``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app import auth, digests, launches, retention, tallies
from app.config import Settings
from app.db import Database
from app.insight import alerts
from app.models import Launch
from app.observability import metrics
from app.slack.client import sender_from

log = logging.getLogger(__name__)

SYNC_JOB = "sync"
PRUNE_JOB = "prune"
ALERT_JOB = "alerts"
RETENTION_JOB = "note-retention"
SCRUB_JOB = "note-scrub"
# At a fixed hour rather than every 24 hours from start-up, so replicas restarted more often than
# daily still run it; early in the morning in Europe, away from the digests.
RETENTION_AT = dt.time(2, 30)
ALERT_MINUTES = 5
DIGEST_PREFIX = "digest:"


def triggers_for(launch: Launch, settings: Settings) -> dict[str, CronTrigger]:
    """One cron trigger per digest time, keyed by job id, in the launch's time zone: when the digest of
    that time is due, once it has settled (``digests.settle``: 09:00:35 for 09:00)."""
    tz = launches.zone(launch)
    start, end = launches.window(launch)
    settled = digests.settle(settings)
    triggers = {}
    for clock in launches.digest_clock_times(launch):
        fires = (dt.datetime.combine(dt.date.min, clock) + settled).time()  # past midnight: the next day's
        triggers[f"{DIGEST_PREFIX}{launch.slug}:{clock:%H:%M}"] = CronTrigger(
            hour=fires.hour,
            minute=fires.minute,
            second=fires.second,
            timezone=tz,
            start_date=(start + settled).astimezone(tz),
            end_date=(end + settled).astimezone(tz),
        )
    return triggers


def _clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DigestScheduler:
    def __init__(
        self, db: Database, settings: Settings, *, blocking: bool = False, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.db = db
        self.settings = settings
        self._sleep = sleep
        # slack-sdk does not wait out rate limits here: its waits (up to a minute, three times, each
        # attempt) held every other launch's digest and the alerts behind the lock below. A pass waits
        # out a short Retry-After itself and leaves a longer one to a later pass (app/slack/delivery.py).
        self.sender = sender_from(settings, sleep=sleep, rate_limit_retries=0)
        # A digest that goes out late although this process was running at its time was held up by the
        # passes ahead of it, not by the app being down: it must not say "not running" (digests.run_due).
        self.running_since = _clock()
        scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
        self.scheduler: BaseScheduler = scheduler_class(
            timezone=dt.UTC,
            job_defaults={
                "coalesce": True,  # a run missed several times is one run
                "max_instances": 1,
                "misfire_grace_time": settings.digest_grace_minutes * 60,
            },
        )
        self._triggers: dict[str, str] = {}  # job id -> description of its trigger, to see changes
        self._lock = threading.Lock()
        # Jobs under way, so shutdown can wait for them before APScheduler's own shutdown: that one
        # waits for running jobs while holding the job store's lock, which a pass adding a launch's
        # digest jobs (sync) waits for: a stop during such a pass hung for good.
        self._running = 0
        self._stopping = False
        self._idle = threading.Condition()

    def _job(self, work: Callable[..., None]) -> Callable[..., None]:
        """``work`` as a job: counted while it runs, and nothing once the scheduler is stopping."""

        @functools.wraps(work)
        def job(*args: Any) -> None:
            with self._idle:
                if self._stopping:
                    return
                self._running += 1
            try:
                work(*args)
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()

        return job

    def run_due(self, launch_ids: list[int] | None = None) -> None:
        now = _clock()
        try:
            with self._lock:  # the cron, minute and alert jobs must not interleave in this process
                # The time after the wait for the lock: claims made with the time before it could be
                # stale already when written (a slow pass ahead), and another replica take them over.
                now = _clock()
                failed: list[str] = []
                digests.run_due(
                    self.db,
                    settings=self.settings,
                    now=now,
                    sender=self.sender,
                    launch_ids=launch_ids,
                    check_alerts=False,  # their own job below
                    clock=_clock,
                    sleep=self._sleep,
                    failed=failed,
                    running_since=self.running_since,
                )
            # Not a pass while a launch's digests keep failing: the last pass's age then shows it (each
            # failure was logged with its cause).
            if not failed:
                metrics.scheduler_passed("digests", now=now)
        except Exception:
            # A broken pass must never stop the scheduler; the next pass tries again.
            log.exception("digest pass at %s failed", now.isoformat())

    def check_alerts(self) -> None:
        now = _clock()
        try:
            with self._lock:
                now = _clock()
                # clock: an alert's sent_at is when Slack took it, so the digest being composed meanwhile,
                # which lists alerts sent since its window began, and the next one agree on which has it.
                alerts.run_alerts(
                    self.db, settings=self.settings, now=now, sender=self.sender, clock=_clock, sleep=self._sleep
                )
            metrics.scheduler_passed("alerts", now=now)
        except Exception:
            log.exception("spike alert check at %s failed", now.isoformat())

    def sync(self) -> None:
        """Match the cron jobs to the live launches, then catch up."""
        live: list[Launch] = []
        try:
            wanted: dict[str, tuple[CronTrigger, int]] = {}
            live = digests.live_launches(self.db)
            for launch in live:
                for job_id, trigger in triggers_for(launch, self.settings).items():
                    wanted[job_id] = (trigger, launch.id or 0)
            for job_id in set(self._triggers) - set(wanted):
                # Gone already if it fired for the last time: APScheduler drops a finished job itself.
                with contextlib.suppress(JobLookupError):
                    self.scheduler.remove_job(job_id)
                del self._triggers[job_id]
                log.info("digest job %s removed", job_id)
            for job_id, (trigger, launch_id) in wanted.items():
                described = str(trigger) + repr((trigger.start_date, trigger.end_date))
                if self._triggers.get(job_id) == described:
                    continue
                self.scheduler.add_job(
                    self._job(self.run_due), trigger, args=[[launch_id]], id=job_id, replace_existing=True, name=job_id
                )
                self._triggers[job_id] = described
                log.info("digest job %s scheduled: %s", job_id, trigger)
        except Exception:
            log.exception("could not read the launches to schedule digests; trying again in a minute")
        self.run_due()
        self.keep_closed_days(live)

    def keep_closed_days(self, live: list[Launch]) -> None:
        now = dt.datetime.now(dt.UTC)
        for launch in live:
            try:
                with self.db.session() as session:
                    tallies.keep_closed_days(session, launch, now=now)
            except Exception:
                log.exception("counting the closed days of %s failed; pages will count them", launch.slug)

    def prune(self) -> None:
        try:
            with self.db.transaction() as session:
                auth.prune_login_attempts(session, now=dt.datetime.now(dt.UTC))
        except Exception:
            log.exception("pruning sign-in attempts failed")

    def purge_notes(self) -> None:
        days = self.settings.note_retention_days
        if days is None:
            return
        now = dt.datetime.now(dt.UTC)
        try:
            purged = retention.purge_notes(self.db, days=days, now=now)
            log.info(
                "notes before %s erased: %d (digests: %d)", purged.cutoff.isoformat(), purged.notes, purged.digests
            )
            metrics.scheduler_passed("retention", now=now)
        except Exception:
            log.exception("erasing notes older than %d days failed; the next day's run tries again", days)

    def scrub_stored_notes(self) -> None:
        now = dt.datetime.now(dt.UTC)
        try:
            scrubbed = retention.scrub_stored_once(self.db, now=now)
        except Exception:
            log.exception("scrubbing the stored notes again failed; the next start tries again")
            return
        if scrubbed is not None:
            log.info(
                "stored notes scrubbed by this version: %d changed (digests: %d)", scrubbed.notes, scrubbed.digests
            )

    def start(self) -> None:
        self.scheduler.add_job(
            self._job(self.sync),
            IntervalTrigger(minutes=1, timezone=dt.UTC),
            id=SYNC_JOB,
            next_run_time=dt.datetime.now(dt.UTC),
            name="sync launches and catch up",
        )
        self.scheduler.add_job(
            self._job(self.check_alerts),
            IntervalTrigger(minutes=ALERT_MINUTES, timezone=dt.UTC),
            id=ALERT_JOB,
            name="check for spike alerts",
        )
        self.scheduler.add_job(
            self._job(self.prune),
            IntervalTrigger(hours=1, timezone=dt.UTC),
            id=PRUNE_JOB,
            name="prune sign-in attempts",
        )
        if self.settings.note_retention_days is not None:
            self.scheduler.add_job(
                self._job(self.purge_notes),
                CronTrigger(hour=RETENTION_AT.hour, minute=RETENTION_AT.minute, timezone=dt.UTC),
                id=RETENTION_JOB,
                name="erase old notes",
                # Also at once: a scheduler that was not running at 02:30 (nor within the grace time after
                # it) would otherwise keep notes past the retention until the next day's run. Safe when
                # replicas start together: a note one has erased is not there for the other.
                next_run_time=dt.datetime.now(dt.UTC),
            )
        self.scheduler.add_job(
            self._job(self.scrub_stored_notes),
            DateTrigger(dt.datetime.now(dt.UTC)),
            id=SCRUB_JOB,
            # Once, at start: notes stored before an upgrade whose scrubber masks more keep what the
            # older one missed until they pass through this one.
            name="scrub the notes stored before this scrubber",
        )
        mode = "Slack" if self.sender is not None else "dry runs (no Slack configured)"
        log.info("digest scheduler starting: %s", mode)
        self.scheduler.start()

    def shutdown(self) -> None:
        if not self.scheduler.running:
            return
        with self._idle:
            self._stopping = True
            self._idle.wait_for(lambda: self._running == 0)
        self.scheduler.shutdown(wait=True)

    def jobs(self) -> list[Any]:
        return list(self.scheduler.get_jobs())
