"""Spike alerts: when a hypothesis runs far above normal between digests, one alert per window.

Slack is the fake in tests/fakes/slack_server.py, over real HTTP, driven by slack-sdk; the
database is real; time is the ``now`` each test passes (nothing sleeps: the sender's pauses are
recorded instead).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import subprocess
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import select

from app import digests, hypothesis_sets, launches, retention
from app.config import Settings
from app.db import Database
from app.insight import alerts, relink
from app.jobs.scheduler import DigestScheduler
from app.models import Alert, AlertKind, DigestRun, DigestStatus, Enquiry, Hypothesis, HypothesisStatus, Launch
from app.recording.record import NewEnquiry, insert_many
from app.slack import blocks as slack_blocks
from app.slack.client import BotSender
from app.slack.delivery import STALE_CLAIM
from tests.conftest import DIGEST_SETTLE, SLACK_CHANNEL, SLACK_TOKEN
from tests.factories import fresh, hypothesis_ids, make_launch
from tests.fakes.slack_server import FakeSlack, Reply
from tests.helpers import launch_form
from tests.processes import ROOT, tally_at

OSLO = ZoneInfo("Europe/Oslo")
# An alert's window, 13:00 to when it was counted at 13:30, as its links carry it (escaped in Slack and HTML).
WINDOW = "?from=2026-11-18T13%3A00%2B01%3A00&amp;to=2026-11-18T13%3A30%2B01%3A00"


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=OSLO).astimezone(dt.UTC)


def log_many(
    db: Database,
    launch: Launch,
    key: str | None,
    n: int,
    *,
    start: dt.datetime,
    note: str | None = None,
    every: dt.timedelta = dt.timedelta(minutes=1),
) -> None:
    """``n`` enquiries for ``key`` (None: "other"), ``every`` apart (a minute) from ``start``."""
    ids = hypothesis_ids(db, launch)
    with db.write_connection() as connection:
        insert_many(
            connection,
            [
                NewEnquiry(
                    launch_id=launch.id or 0,
                    channel="phone",
                    segment="private",
                    created_at=start + i * every,
                    hypothesis_ids=(ids[key],) if key else (),
                    note=note,
                )
                for i in range(n)
            ],
        )


def steady(
    db: Database, launch: Launch, key: str | None, per_hour: int, day: int, hours: range, note: str | None = None
) -> None:
    """``per_hour`` enquiries an hour, evenly spread, in those local hours of the day."""
    for hour in hours:
        log_many(db, launch, key, per_hour, start=local(day, hour), every=dt.timedelta(hours=1) / per_hour, note=note)


def set_hypothesis(db: Database, launch: Launch, key: str, **values: Any) -> None:
    with db.transaction() as session:
        hypothesis = session.exec(
            select(Hypothesis).where(Hypothesis.launch_id == launch.id, Hypothesis.key == key)
        ).one()
        for name, value in values.items():
            setattr(hypothesis, name, value)


@pytest.fixture
def launch(db: Database) -> Launch:
    """Its first day is the 18th: no earlier days to compare with."""
    return make_launch(
        db, hypotheses=("send", "bankid", "receipts"), slack_channel=SLACK_CHANNEL, starts_on=dt.date(2026, 11, 18)
    )


def run(db: Database, settings: Settings, sender: BotSender | None, now: dt.datetime) -> list[Alert]:
    return alerts.run_alerts(db, settings=settings, now=now, sender=sender, sleep=lambda s: None)


def stored(db: Database) -> list[Alert]:
    with db.session() as session:
        return list(session.exec(select(Alert).order_by(Alert.id)))  # type: ignore[arg-type]


def alert_posts(slack: FakeSlack) -> list[dict[str, Any]]:
    return [
        m for m in slack.posts(SLACK_CHANNEL) if ":hypothesis:" in str(m["metadata"]) or ":theme:" in str(m["metadata"])
    ]


def evaluate(db: Database, launch: Launch, now: dt.datetime) -> list[alerts.Spike]:
    with db.session() as session:
        return alerts.evaluate(session, fresh(db, launch), now=now)


# --- which subjects spike --------------------------------------------------------------------


def test_a_spike_is_posted_once_per_window_and_a_new_window_allows_another(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    log_many(db, launch, "send", 12, start=local(18, 13, 5))
    [alert] = run(db, settings, bot, local(18, 13, 30))
    assert (alert.kind, alert.subject, alert.count, alert.normal) == (AlertKind.HYPOTHESIS, "send", 12, 0.0)
    assert alert.status == DigestStatus.SENT and alert.channel == slack.channel_id(SLACK_CHANNEL) and alert.slack_ts
    assert alert.window_start == local(18, 13) and alert.observed_at == local(18, 13, 30)
    assert alert.claim_key == f"{launch.id}:hypothesis:send:2026-11-18T12:00Z"
    [message] = slack.posts(SLACK_CHANNEL)
    assert message["metadata"]["event_payload"] == {"slot_key": alert.claim_key}
    section = message["blocks"][0]["text"]["text"]
    # Its link opens the alert's own window (range=since-digest opened a later one after the next digest).
    assert f"<http://testserver/launches/test-launch/hypotheses/send{WINDOW}|Hypothesis send>" in section
    assert "*12* enquiries since 13:00 · *no normal yet*" in section
    assert message["text"] == "Spike in Test launch: Hypothesis send: 12 enquiries since 13:00, no normal yet."

    # More of the same in the same window: nothing new.
    log_many(db, launch, "send", 5, start=local(18, 13, 40))
    assert run(db, settings, bot, local(18, 13, 50)) == []
    assert run(db, settings, bot, local(18, 15, 59)) == []
    # The 16:00 digest starts a new window: the same hypothesis may alert again.
    log_many(db, launch, "send", 11, start=local(18, 16, 1))
    [again] = run(db, settings, bot, local(18, 16, 20))
    assert again.window_start == local(18, 16) and again.count == 11
    assert len(slack.posts(SLACK_CHANNEL)) == 2


def test_no_alert_below_the_minimum_count_or_below_factor_times_normal(
    db: Database, settings: Settings, launch: Launch
) -> None:
    # 10 an hour: on the launch's first day nothing says yet when its enquiries come, so a day's are
    # taken to come within 8 hours (not 24: a customer centre's normal day was three times normal).
    set_hypothesis(db, launch, "bankid", expected_per_day=80)
    log_many(db, launch, "receipts", 9, start=local(18, 13, 0))  # nothing expected, but fewer than 10
    log_many(db, launch, "bankid", 29, start=local(18, 13, 0))  # 2.9 × the 10 normal in 13:00–14:00
    assert evaluate(db, launch, local(18, 14)) == []
    log_many(db, launch, "bankid", 1, start=local(18, 13, 59))
    [spike] = evaluate(db, launch, local(18, 14))
    assert (spike.subject, spike.count, spike.normal, spike.ratio) == ("bankid", 30, 10.0, 3.0)
    # The launch's own thresholds apply.
    with db.transaction() as session:
        stored_launch = session.get(Launch, launch.id)
        assert stored_launch is not None
        stored_launch.alert_min_count, stored_launch.alert_factor = 31, 2.0
    assert evaluate(db, launch, local(18, 14)) == []
    with db.transaction() as session:
        stored_launch = session.get(Launch, launch.id)
        assert stored_launch is not None
        stored_launch.alert_min_count, stored_launch.alert_factor = 9, 2.0
    assert {s.subject for s in evaluate(db, launch, local(18, 14))} == {"bankid", "receipts"}


def test_normal_is_the_higher_of_the_expected_rate_and_the_same_hours_of_earlier_days(
    db: Database, settings: Settings
) -> None:
    launch = make_launch(db, hypotheses=("send", "bankid"), starts_on=dt.date(2026, 11, 16))
    for day in (16, 17):  # 10 a day in 13:00–14:00, spread over the hour
        for minute in range(0, 60, 6):
            log_many(db, launch, "bankid", 1, start=local(day, 13, minute))
            log_many(db, launch, "send", 1, start=local(day, 13, minute))
    # 40 enquiries in two days are too few to tell the launch's hours: a day's expected ones come within 8.
    set_hypothesis(db, launch, "send", expected_per_day=160)  # 20 an hour: above its history
    set_hypothesis(db, launch, "bankid", expected_per_day=8)  # 1 an hour: below its history
    log_many(db, launch, "bankid", 29, start=local(18, 13, 0))
    log_many(db, launch, "send", 59, start=local(18, 13, 0))
    assert evaluate(db, launch, local(18, 14)) == []  # 29 < 3 × 10 and 59 < 3 × 20
    log_many(db, launch, "bankid", 1, start=local(18, 13, 30))
    log_many(db, launch, "send", 1, start=local(18, 13, 30))
    spikes = {s.subject: (s.count, s.normal) for s in evaluate(db, launch, local(18, 14))}
    assert spikes == {"bankid": (30, 10.0), "send": (60, 20.0)}


def test_a_centres_day_as_expected_does_not_alert(db: Database, settings: Settings, launch: Launch) -> None:
    """120 a day as expected, in a centre open 08:00-16:00: spread over 24 hours, the expected rate
    made each window's 15 an hour three times normal, and every window of the first day alerted."""
    set_hypothesis(db, launch, "send", expected_per_day=120)
    steady(db, launch, "send", 15, 18, range(8, 16))
    now = local(18, 0)
    while now <= local(18, 16):
        assert run(db, settings, None, now) == [], now
        now += dt.timedelta(minutes=5)


def test_the_expected_rate_is_spread_over_the_hours_the_launchs_enquiries_come(db: Database) -> None:
    """A centre open 09:00-11:00: the first day's 120 enquiries say half of a day's come in 09:00-10:00,
    and a hypothesis expected 120 times a day is normal at 60 an hour then."""
    launch = make_launch(db, hypotheses=("send",), starts_on=dt.date(2026, 11, 17))
    set_hypothesis(db, launch, "send", expected_per_day=120)
    steady(db, launch, None, 60, 17, range(9, 11))
    steady(db, launch, "send", 60, 18, range(9, 10))
    assert evaluate(db, launch, local(18, 9, 40)) == []  # 40, as expected by 09:40
    log_many(db, launch, "send", 80, start=local(18, 9, 1), every=dt.timedelta(seconds=20))
    [spike] = evaluate(db, launch, local(18, 9, 40))
    assert (spike.count, spike.normal) == (120, 40.0)


@pytest.mark.parametrize("expected", [None, 120])
def test_the_days_the_centre_was_closed_are_nobodys_normal(
    db: Database, settings: Settings, expected: int | None
) -> None:
    """A launch begun on a Friday, in a centre closed at weekends: its first Monday was compared with
    Friday, Saturday and Sunday, two of them zeros, and alerted "3.0× normal" at the same 15 an hour."""
    launch = make_launch(db, hypotheses=("send",), starts_on=dt.date(2026, 11, 20))
    set_hypothesis(db, launch, "send", expected_per_day=expected)
    for day in (20, 23):
        steady(db, launch, "send", 15, day, range(8, 16))
    now = local(23, 0)
    while now <= local(23, 16):
        assert run(db, settings, None, now) == [], now
        now += dt.timedelta(minutes=5)
    log_many(db, launch, "send", 30, start=local(23, 9, 5), every=dt.timedelta(seconds=20))
    [spike] = evaluate(db, launch, local(23, 9, 40))
    assert (spike.count, spike.normal) == (40, 10.0)  # Friday's 15 in 09:00-10:00, by 09:40


def test_a_hypothesis_added_during_the_launch_is_normal_only_from_when_it_counts(db: Database) -> None:
    """Added on the 20th at noon and steady at six an hour since: the days before it existed had none
    of its enquiries (they were "other"), and must not pull its normal down to a fifth."""
    launch = make_launch(db, hypotheses=("send",), starts_on=dt.date(2026, 11, 16))
    with db.transaction() as session:
        session.add(Hypothesis(launch_id=launch.id or 0, key="new", text="New", sort_order=1, created_at=local(20, 12)))
    for hour in range(12, 24):
        log_many(db, launch, "new", 6, start=local(20, hour, 5))
    for hour in range(15):
        log_many(db, launch, "new", 6, start=local(21, hour, 5))
    assert evaluate(db, launch, local(21, 15)) == []  # 12 since 13:00, as on the 20th
    log_many(db, launch, "new", 30, start=local(21, 14, 20))
    [spike] = evaluate(db, launch, local(21, 15))
    assert (spike.subject, spike.count, spike.normal) == ("new", 42, 12.0)


def test_earlier_days_are_compared_over_whole_hours_scaled_to_the_window(db: Database, settings: Settings) -> None:
    launch = make_launch(db, hypotheses=("bankid",), starts_on=dt.date(2026, 11, 16))
    log_many(db, launch, "bankid", 12, start=local(16, 13, 40))  # after 13:30, but in the 13:00 hour
    log_many(db, launch, "bankid", 8, start=local(17, 13, 0))
    log_many(db, launch, "bankid", 50, start=local(17, 14, 0))  # outside the hours compared
    # At 13:30 the window is 13:00–13:30: earlier days count 13:00–14:00, halved: (12 + 8) / 2 × 0.5.
    assert alerts.earlier_stretches(launch, local(18, 13), local(18, 13, 30)) == [
        (local(17, 13), local(17, 14)),
        (local(16, 13), local(16, 14)),
    ]
    log_many(db, launch, "bankid", 15, start=local(18, 13, 0))
    [spike] = evaluate(db, launch, local(18, 13, 30))
    assert (spike.count, spike.normal, spike.ratio) == (15, 5.0, 3.0)


def test_earlier_days_are_at_most_seven_and_never_before_the_launch(db: Database) -> None:
    launch = make_launch(db, starts_on=dt.date(2026, 11, 1))
    stretches = alerts.earlier_stretches(launch, local(20, 16), local(21, 8, 15))  # over night
    assert len(stretches) == alerts.HISTORY_DAYS
    assert stretches[0] == (local(19, 16), local(20, 9)) and stretches[-1] == (local(13, 16), local(14, 9))
    assert alerts.earlier_stretches(launch, local(3, 9), local(3, 10)) == [
        (local(2, 9), local(2, 10)),
        (local(1, 9), local(1, 10)),
    ]
    # The night window of the second day: its first day, from the launch's start.
    assert alerts.earlier_stretches(launch, local(1, 16), local(2, 8, 15)) == [(local(1, 0), local(1, 9))]


def test_the_second_days_night_window_is_compared_with_the_first_days_hours(db: Database, settings: Settings) -> None:
    """Each launch's second morning alerted "no normal yet": its night window's stretch of the day before,
    16:00 on the eve of the launch to 09:00 on its first day, began before the launch and was dropped,
    with the first day's hours in it."""
    launch = make_launch(db, hypotheses=("send",), starts_on=dt.date(2026, 11, 17))
    for day in (17, 18):
        steady(db, launch, "send", 15, day, range(8, 16))
    now = local(18, 0)
    while now <= local(18, 16):
        assert run(db, settings, None, now) == [], now
        now += dt.timedelta(minutes=5)


def test_the_hours_before_the_launch_count_as_busy_as_the_launch_has_them(db: Database) -> None:
    """A centre open 08:00-22:00: its second morning's window, from 16:00 the day before, holds a busy
    evening the first day's stretch from midnight has not. Counted as none, or as busy as the night and
    the morning, that evening made a normal morning a spike."""
    launch = make_launch(db, hypotheses=("send",), starts_on=dt.date(2026, 11, 17))
    steady(db, launch, "send", 10, 17, range(8, 22))
    steady(db, launch, "send", 10, 18, range(8, 9))
    assert evaluate(db, launch, local(18, 8, 40)) == []  # 60 + 7 since 16:00
    log_many(db, launch, "send", 150, start=local(18, 8, 10), every=dt.timedelta(seconds=6))
    [spike] = evaluate(db, launch, local(18, 8, 40))
    # 10 in 00:00-09:00 of the 17th, which had 7 times as many in 16:00-09:00 (the 17th's 140 enquiries
    # by hour), scaled from 17 hours to 16 h 40.
    assert (spike.count, spike.normal) == (217, round(10 * 7 * 1000 / 1020, 2))


def test_retired_hypotheses_never_alert(db: Database, settings: Settings, launch: Launch) -> None:
    set_hypothesis(db, launch, "send", status=HypothesisStatus.RETIRED)
    log_many(db, launch, "send", 40, start=local(18, 13, 0))
    assert evaluate(db, launch, local(18, 14)) == []
    assert run(db, settings, None, local(18, 14)) == []


def test_before_the_first_digest_the_window_starts_with_the_launch(db: Database, launch: Launch) -> None:
    log_many(db, launch, "send", 10, start=local(18, 7, 0))
    [spike] = evaluate(db, launch, local(18, 8, 30))
    assert spike.window_start == local(18, 0) and spike.count == 10
    assert evaluate(db, launch, local(17, 23)) == []  # not begun


# --- delivery --------------------------------------------------------------------------------


def test_without_slack_an_alert_is_kept_as_a_dry_run(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    log_many(db, launch, "bankid", 10, start=local(18, 9, 10))
    [alert] = run(db, settings, None, local(18, 9, 30))
    assert alert.status == DigestStatus.DRY_RUN and alert.sent_at == local(18, 9, 30)
    assert alert.blocks and "Hypothesis bankid" in alert.text
    assert slack.calls == []
    assert run(db, settings, None, local(18, 9, 40)) == []  # claimed: not again in this window


def test_a_server_error_is_retried_on_a_later_check_after_looking_in_the_channel(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch, pauses: list[float]
) -> None:
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    slack.queue("chat.postMessage", *[Reply(500, {"ok": False, "error": "internal_error"})] * 3)
    [alert] = alerts.run_alerts(db, settings=settings, now=local(18, 13, 30), sender=bot, sleep=pauses.append)
    assert alert.status == DigestStatus.RETRYING and alert.attempts == 3
    assert pauses == [2.0, 8.0]
    assert alert.next_attempt_at == local(18, 13, 32)  # 2 minutes after the first pass
    assert "Slack answered 500" in (alert.error or "")
    assert run(db, settings, bot, local(18, 13, 31)) == []  # not yet
    [again] = run(db, settings, bot, local(18, 13, 32))
    assert again.id == alert.id and again.status == DigestStatus.SENT and again.attempts == 4
    assert again.error is None
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    assert slack.attempts("conversations.history")  # looked before posting again


def test_an_internal_error_after_slack_stored_the_alert_is_looked_for_before_posting_again(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Slack's 200 with ok:false and internal_error may come after the message was stored, as a 5xx may."""
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "internal_error"}, store=True))
    [alert] = run(db, settings, bot, local(18, 13, 30))
    assert alert.status == DigestStatus.SENT and alert.slack_ts == slack.posts(SLACK_CHANNEL)[0]["ts"]
    assert len(slack.posts(SLACK_CHANNEL)) == 1 and len(slack.attempts()) == 1


def test_a_rate_limit_is_waited_out_within_the_pass(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch, pauses: list[float]
) -> None:
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    slack.queue("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "3"}))
    [alert] = run(db, settings, bot, local(18, 13, 30))
    assert alert.status == DigestStatus.SENT and pauses == [3.0]
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_permanent_error_fails_the_alert_with_advice_and_is_not_retried(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "channel_not_found"}))
    [alert] = run(db, settings, bot, local(18, 13, 30))
    assert alert.status == DigestStatus.FAILED and alert.attempts == 1
    assert "Slack does not know the channel #launch" in (alert.error or "")
    assert run(db, settings, bot, local(18, 14, 30)) == []
    assert slack.posts(SLACK_CHANNEL) == [] and len(slack.attempts()) == 1


def _spike_claimed_at_13_30(db: Database, settings: Settings, launch: Launch) -> Alert:
    """A spike of "send" at 13:30, composed and claimed by a process that has not posted it yet."""
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    with db.session() as session:
        [spike] = alerts.evaluate(session, launch, now=local(18, 13, 30))
    text, blocks = slack_blocks.build_alert(alerts.content(launch, spike, base_url=settings.base_url))
    claimed = alerts.claim(db, launch, spike, now=local(18, 13, 30), text=text, blocks=blocks)
    assert claimed is not None
    return claimed


def test_an_abandoned_claim_is_taken_over_without_a_second_post(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    # A process claimed it and posted, then died before recording that.
    claimed = _spike_claimed_at_13_30(db, settings, launch)
    bot.post(channel=SLACK_CHANNEL, text=claimed.text, blocks=claimed.blocks, slot_key=claimed.claim_key)
    assert run(db, settings, bot, local(18, 13, 35)) == []  # still someone else's
    [taken] = run(db, settings, bot, local(18, 13, 30) + STALE_CLAIM + dt.timedelta(seconds=1))
    assert taken.id == claimed.id and taken.status == DigestStatus.SENT
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    assert (taken.text, taken.blocks) == (claimed.text, claimed.blocks)  # as the channel has it: on time


def test_an_alert_held_up_by_slack_says_when_it_was_counted(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Retries run for hours and posted the text composed at the time: a spike of 13:30 read at 17:10
    as one now. Digests said "sent late"; alerts did not."""
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    slack.queue("chat.postMessage", *[Reply(500, {"ok": False, "error": "internal_error"})] * 6)
    [first] = run(db, settings, bot, local(18, 13, 30))
    [soon] = run(db, settings, bot, local(18, 13, 32))  # a retry within minutes is on time
    assert soon.status == DigestStatus.RETRYING and soon.text == first.text and "late" not in soon.text
    [late] = run(db, settings, bot, local(18, 17, 10))
    assert late.id == first.id and late.status == DigestStatus.SENT
    [message] = slack.posts(SLACK_CHANNEL)
    section = message["blocks"][0]["text"]["text"]
    assert "*10* enquiries since Wed 13:00" in section
    assert section.endswith("\n:hourglass: _sent late, counted at Wed 13:30: Slack did not take it at the time_")
    assert message["text"].endswith("(sent late, counted at Wed 13:30: Slack did not take it at the time)")
    assert (late.text, late.blocks) == (message["text"], message["blocks"])  # what was posted is what is stored
    assert late.observed_at == local(18, 13, 30) and late.count == 10  # the numbers as counted
    assert run(db, settings, bot, local(18, 17, 15)) == []  # once
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_an_alert_whose_process_stopped_before_posting_says_when_it_was_counted(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    claimed = _spike_claimed_at_13_30(db, settings, launch)  # and never posted
    [taken] = run(db, settings, bot, local(18, 13, 30) + STALE_CLAIM + dt.timedelta(seconds=1))
    assert taken.id == claimed.id and taken.status == DigestStatus.SENT
    [message] = slack.posts(SLACK_CHANNEL)
    section = message["blocks"][0]["text"]["text"]
    assert "*10* enquiries since 13:00" in section
    assert section.endswith("_sent late, counted at 13:30: Launch Tally stopped before it went out_")


def test_a_process_whose_claim_was_taken_over_does_not_post_the_alert(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Its pass ran so long that another replica took the claim for a dead process's and posted."""
    claimed = _spike_claimed_at_13_30(db, settings, launch)
    later = local(18, 13, 30) + STALE_CLAIM + dt.timedelta(seconds=1)
    [taken] = run(db, settings, bot, later)  # the other replica
    assert taken.status == DigestStatus.SENT
    result = alerts.deliver(db, claimed, launch, sender=bot, clock=lambda: later, sleep=lambda s: None)
    assert result.status == DigestStatus.SENT and len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_failing_check_never_stops_the_digests(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> list[alerts.Spike]:
        raise RuntimeError("boom")

    monkeypatch.setattr(alerts, "evaluate", broken)
    done = digests.run_due(db, settings=settings, now=local(18, 9) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    assert [run.status for run in done] == [DigestStatus.SENT]
    monkeypatch.setattr(alerts, "run_alerts", broken)
    found: list[Alert] = []
    done = digests.run_due(
        db, settings=settings, now=local(18, 13) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None, alerts_done=found
    )
    assert [run.status for run in done] == [DigestStatus.SENT] and found == []
    DigestScheduler(db, settings).check_alerts()  # logged, not raised


def test_the_scheduler_checks_at_the_moment_it_runs(db: Database, settings: Settings, launch: Launch) -> None:
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    with time_machine.travel(local(18, 13, 25), tick=False):
        DigestScheduler(db, settings).check_alerts()  # no Slack configured: a dry run
    [alert] = stored(db)
    assert alert.status == DigestStatus.DRY_RUN and alert.observed_at == local(18, 13, 25)


# --- the digest, the pages, the API ------------------------------------------------------------


def test_the_next_digest_lists_the_alerts_sent_since_the_previous_one(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    digests.run_due(db, settings=settings, now=local(18, 13) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    log_many(db, launch, "bankid", 12, start=local(18, 13, 5))
    found: list[Alert] = []
    digests.run_due(db, settings=settings, now=local(18, 13, 30), sender=bot, sleep=lambda s: None, alerts_done=found)
    assert [a.subject for a in found] == ["bankid"]
    [four] = digests.run_due(db, settings=settings, now=local(18, 16) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    text = "\n".join(str(block) for block in four.blocks)
    assert "*Alerts since the previous digest*" in text
    assert (
        f"• 13:30 <http://testserver/launches/test-launch/hypotheses/bankid{WINDOW}|Hypothesis bankid>: "
        "*12* (no normal yet)"
    ) in text
    with db.session() as session:  # the 13:00 digest came before it
        assert alerts.recalled(session, launch, start=local(18, 9), end=local(18, 13), base_url="") == []


def test_a_digest_covering_more_than_a_day_names_the_day_of_each_alert_it_recalls(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Launch Tally was down for the 19th's digests, so the 20th's 09:00 digest covered two evenings: its
    window named its days ("18 Nov 16:00 – 20 Nov 09:00"), but both evenings' alerts read "17:30", with
    nothing to tell which was which (nor, in the 09:00 digest, that neither was this morning's)."""
    digests.run_due(db, settings=settings, now=local(18, 16) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    log_many(db, launch, "bankid", 12, start=local(18, 17, 5))
    assert [a.subject for a in run(db, settings, bot, local(18, 17, 30))] == ["bankid"]
    digests.run_due(db, settings=settings, now=local(19, 16, 40), sender=bot, sleep=lambda s: None)  # all missed
    log_many(db, launch, "send", 12, start=local(19, 17, 5))
    assert [a.subject for a in run(db, settings, bot, local(19, 17, 30))] == ["send"]
    log_many(db, launch, "receipts", 12, start=local(20, 8, 5))
    assert [a.subject for a in run(db, settings, bot, local(20, 8, 30))] == ["receipts"]
    [nine] = digests.run_due(db, settings=settings, now=local(20, 9) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    text = "\n".join(str(block) for block in nine.blocks)
    assert "Enquiries 18 Nov 16:00 – 20 Nov 09:00" in text
    assert re.findall(r"• ([^<]+?) <", text) == ["18 Nov 17:30", "19 Nov 17:30", "08:30"]
    with db.session() as session:  # an evening's alert in the next morning's digest: "Wed 17:30", as its window
        [evening] = alerts.recalled(session, launch, start=local(18, 16), end=local(19, 9), base_url="")
    assert evening.at_label == "Wed 17:30"


def test_the_api_lists_alerts_newest_first(
    db: Database, settings: Settings, client: TestClient, token: str, launch: Launch, slack: FakeSlack
) -> None:
    log_many(db, launch, "send", 10, start=local(18, 9, 0))
    run(db, settings, None, local(18, 9, 30))
    log_many(db, launch, "bankid", 10, start=local(18, 13, 0))
    refusing = BotSender(token=SLACK_TOKEN, base_url=slack.api_url, sleep=lambda s: None)
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "not_in_channel"}))
    run(db, settings, refusing, local(18, 13, 30))
    response = client.get(f"/api/v1/launches/{launch.slug}/alerts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    failed, dry = response.json()
    assert dry == {
        "id": dry["id"],
        "kind": "hypothesis",
        "subject": "send",
        "window_start": "2026-11-18T08:00:00Z",
        "observed_at": "2026-11-18T08:30:00Z",
        "count": 10,
        "normal": 0.0,
        "ratio": None,
        "status": "dry_run",
        "sent_at": "2026-11-18T08:30:00Z",
        "error": None,
    }
    assert (failed["subject"], failed["status"], failed["sent_at"]) == ("bankid", "failed", None)
    assert "invite it there" in failed["error"]
    assert client.get(f"/api/v1/launches/{launch.slug}/alerts").status_code == 401
    missing = client.get("/api/v1/launches/nope/alerts", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404


def test_the_api_pages_through_every_alert(db: Database, client: TestClient, token: str, launch: Launch) -> None:
    """It stopped at the newest 100, without a word: a BI job pulling a launch's alert history lost
    the older ones (and limit= was ignored). The next page's link is absolute: a path alone, httpx
    and requests hand over as it is, and httpx.get(r.links["next"]["url"]) raised UnsupportedProtocol."""
    with db.transaction() as session:
        for n in range(150):
            at = local(18, 9) + dt.timedelta(minutes=n)
            session.add(
                Alert(
                    launch_id=launch.id or 0,
                    claim_key=f"theme-{n}",
                    kind=AlertKind.THEME,
                    subject=f"theme {n}",
                    window_start=local(18, 9),
                    observed_at=at,
                    count=12,
                    status=DigestStatus.DRY_RUN,
                    created_at=at,
                )
            )
    auth = {"Authorization": f"Bearer {token}"}
    url: str | None = f"/api/v1/launches/{launch.slug}/alerts?limit=60"
    seen: list[str] = []
    while url is not None:
        page = client.get(url, headers=auth)
        assert page.status_code == 200, page.text
        seen += [alert["subject"] for alert in page.json()]
        url = page.links["next"]["url"] if "next" in page.links else None
        assert url is None or (httpx.URL(url).is_absolute_url and url.startswith("http://testserver/api/v1/")), url
    assert seen == [f"theme {n}" for n in reversed(range(150))]
    first = client.get(f"/api/v1/launches/{launch.slug}/alerts", headers=auth)
    assert len(first.json()) == 100 and "next" in first.links
    unknown = client.get(f"/api/v1/launches/{launch.slug}/alerts?before=999999", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_alert"


def test_the_ratio_in_the_api_is_count_over_normal(
    db: Database, settings: Settings, client: TestClient, token: str, launch: Launch
) -> None:
    set_hypothesis(db, launch, "bankid", expected_per_day=32)  # 4 an hour (of an 8-hour day: the first)
    log_many(db, launch, "bankid", 14, start=local(18, 13, 0))
    run(db, settings, None, local(18, 14))
    [alert] = client.get(f"/api/v1/launches/{launch.slug}/alerts", headers={"Authorization": f"Bearer {token}"}).json()
    assert (alert["count"], alert["normal"], alert["ratio"]) == (14, 4.0, 3.5)


@pytest.mark.parametrize(
    ("path", "headers", "expected", "unexpected"),
    [
        ("/launches/test-launch/digests", {}, "Spike alerts", None),
        ("/launches/test-launch/alerts", {}, "<html", None),
        ("/launches/test-launch/alerts", {"HX-Request": "true"}, 'id="spike-alerts"', "<html"),
        ("/launches/test-launch?range=launch", {}, "All spike alerts", None),  # the launch page
        ("/launches/test-launch?range=launch", {"HX-Request": "true"}, 'id="spike-alerts"', "<html"),  # live
    ],
)
def test_the_pages_list_alerts(
    db: Database,
    settings: Settings,
    web: Any,
    people: Any,
    launch: Launch,
    path: str,
    headers: dict[str, str],
    expected: str,
    unexpected: str | None,
) -> None:
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    run(db, settings, None, local(18, 13, 30))
    response = web("lena").get(path, headers=headers)
    assert response.status_code == 200
    assert expected in response.text
    assert unexpected is None or unexpected not in response.text
    assert re.search(
        rf'<a id="alert-\d+" href="/launches/test-launch/hypotheses/send{re.escape(WINDOW)}">Hypothesis send</a>',
        response.text,
    )
    assert "10 enquiries since" in response.text


def test_the_list_names_the_day_a_window_began_and_a_theme_new_since_then(
    db: Database, settings: Settings, web: Any, people: Any, chatty: Launch
) -> None:
    """At 08:00, a window begun at 16:00 the day before read "12 enquiries since 16:00", a time still to
    come; and a theme none of two days of notes had read "no normal yet", as if there were no days."""
    log_many(db, chatty, None, 12, start=local(18, 13, 1), note="The widget is gone")
    [theme] = run(db, settings, None, local(18, 13, 30))
    assert (theme.kind, theme.normal) == (AlertKind.THEME, 0.0)
    log_many(db, chatty, "send", 12, start=local(19, 7))
    [overnight] = run(db, settings, None, local(19, 8))
    assert overnight.window_start == local(18, 16)
    listed = " ".join(web("lena").get("/launches/test-launch/alerts").text.split())
    assert "12 enquiries since Wed 16:00 · no normal yet" in listed
    assert "12 enquiries since 13:00 · new: none before" in listed


# --- several processes at once -------------------------------------------------------------------


def test_three_run_due_processes_at_once_send_one_alert(db: Database, slack: FakeSlack, launch: Launch) -> None:
    """Three `tally digest run-due --now` processes, one database (SQLite, or PostgreSQL when the
    run uses it): one alert, one message."""
    log_many(db, launch, "send", 12, start=local(18, 13, 0))
    env = {**os.environ, "TALLY_DATABASE_URL": db.url, "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_API_URL": slack.api_url}
    processes = [
        subprocess.Popen(
            tally_at(local(18, 13, 20), "digest", "run-due", "--now", "2026-11-18T13:20:00+01:00"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    key = f"{launch.id}:hypothesis:send:2026-11-18T12:00Z"
    lines = [line for out in outputs for line in out.splitlines() if line.startswith("alert ")]
    assert lines == [f"alert {key}: sent, 12 enquiries, no normal yet"], outputs
    assert [a.claim_key for a in stored(db)] == [key]
    assert [m["metadata"]["event_payload"]["slot_key"] for m in alert_posts(slack)] == [key]


def test_claim_keys_fit_and_differ_per_subject_and_window(db: Database, launch: Launch) -> None:
    def spike(kind: AlertKind, subject: str, start: dt.datetime, theme_key: str | None = None) -> alerts.Spike:
        return alerts.Spike(kind, subject, subject, 10, 0.0, start, start, theme_key=theme_key)

    keys = {
        alerts.claim_key(launch, spike(AlertKind.HYPOTHESIS, "send", local(18, 9))),
        alerts.claim_key(launch, spike(AlertKind.HYPOTHESIS, "send", local(18, 13))),
        alerts.claim_key(launch, spike(AlertKind.HYPOTHESIS, "x" * 64, local(18, 13))),
        alerts.claim_key(launch, spike(AlertKind.THEME, "widget gone " * 15, local(18, 13), theme_key="widget gone")),
    }
    assert len(keys) == 4 and all(len(k) <= 120 for k in keys)
    assert max(len(k) for k in keys) <= len(f"{launch.id}:hypothesis:{'x' * 64}:2026-11-18T12:00Z")


# --- the thresholds: the YAML file and the editor ----------------------------------------------

ALERTING = """\
slug: alerting
name: Alerting launch
starts_on: 2026-11-18
alerts: {min_count: 4, factor: 2.5}
hypotheses:
  - key: a
    text: A
"""


def _import(db: Database, settings: Settings, text: str) -> hypothesis_sets.LaunchChanges:
    [parsed] = [hypothesis_sets.parse_text(text, path="alerting.yaml")]
    assert not parsed.problems, parsed.problems
    assert parsed.launch is not None
    with db.transaction() as session:
        return hypothesis_sets.import_launch(
            session,
            parsed.launch,
            actor="test",
            now=local(17, 12),
            default_timezone=settings.timezone,
            default_digest_times=settings.digest_times,
        )


def test_the_alerts_block_imports_exports_and_imports_back(db: Database, settings: Settings) -> None:
    _import(db, settings, ALERTING)
    with db.session() as session:
        launch = launches.get_by_slug(session, "alerting")
        assert (launch.alert_min_count, launch.alert_factor) == (4, 2.5)
        exported = hypothesis_sets.export_launch(session, launch)
    assert "alerts:\n  min_count: 4\n  factor: 2.5\n" in exported
    assert not _import(db, settings, exported).changed
    # Left out: what the launch has (a lead may have set it in the editor); one rule alone: that rule.
    assert not _import(db, settings, ALERTING.replace("alerts: {min_count: 4, factor: 2.5}\n", "")).changed
    changed = _import(db, settings, ALERTING.replace("{min_count: 4, factor: 2.5}", "{min_count: 10}"))
    assert changed.launch_fields == ["alert_min_count"]
    with db.session() as session:
        launch = launches.get_by_slug(session, "alerting")
        assert (launch.alert_min_count, launch.alert_factor) == (10, 2.5)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{min_count: 0}", "0 is too small: at least 1"),
        ("{factor: 0.5}", "0.5 is too small: at least 1"),
        ("{min_count: 5, often: true}", "unknown field"),
    ],
)
def test_the_alerts_block_is_validated(block: str, message: str) -> None:
    parsed = hypothesis_sets.parse_text(ALERTING.replace("{min_count: 4, factor: 2.5}", block), path="x.yaml")
    [problem] = parsed.problems
    assert problem.line == 4 and problem.field.startswith("alerts") and message in problem.message


def test_a_lead_sets_the_thresholds_in_the_editor(db: Database, web: Any, people: Any, launch: Launch) -> None:
    lena = web("lena")
    page = lena.get(f"/launches/{launch.slug}/edit")
    assert 'name="alert_min_count" type="number" min="1" step="1" value="10"' in page.text
    form = {
        "name": launch.name,
        "starts_on": launch.starts_on.isoformat(),
        "ends_on": launch.ends_on.isoformat(),
        "timezone": launch.timezone,
        "digest_times": "09:00, 13:00, 16:00",
        "channels": "phone, chat, email, social",
        "segments": "private, business",
        "status": "live",
        "slack_channel": SLACK_CHANNEL,
        "alert_min_count": "6",
        "alert_factor": "2,5",
    }
    response = lena.post(f"/launches/{launch.slug}/edit", data=form)
    assert response.status_code == 303, response.text[:500]
    stored_launch = fresh(db, launch)
    assert (stored_launch.alert_min_count, stored_launch.alert_factor) == (6, 2.5)
    refused = lena.post(f"/launches/{launch.slug}/edit", data=form | {"alert_min_count": "0"})
    assert refused.status_code == 422 and "Spike alert: at least this many enquiries: 0 is too small" in refused.text
    assert fresh(db, launch).alert_min_count == 6
    # Each refusal is its input's (aria-invalid, described by the error, focused): the errors' names
    # ("alerts.min_count", "channels[0]") are the file's, and matched no input.
    for field, value in (("alert_min_count", "0"), ("alert_factor", "0,5"), ("channels", "Phone, Chat")):
        told = lena.post(f"/launches/{launch.slug}/edit", data=form | {field: value})
        assert told.status_code == 422, field
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', told.text), field
        assert len(re.findall('aria-invalid="true"', told.text)) == 1, field


# --- the message ---------------------------------------------------------------------------------


def test_the_alert_message_names_its_one_subject_escaped_with_the_rate_and_a_link() -> None:
    text, blocks = slack_blocks.build_alert(
        slack_blocks.AlertContent(
            launch_name="PayApp <5>",
            theme=True,
            name="<!channel> widget & co",
            count=14,
            normal=4.1,
            since_label="13:00",
            url="https://tally.example/launches/payapp/other?q=widget+%26+co",
        )
    )
    section = blocks[0]["text"]["text"]
    assert section == (
        ":zap: *Rising in “other”:* “<https://tally.example/launches/payapp/other?q=widget+%26+co|"
        "&lt;!channel&gt; widget &amp; co>”\n*14* enquiries since 13:00 · *3.4× normal* (normal by now: 4.1)"
    )
    assert "PayApp &lt;5&gt;" in blocks[1]["elements"][0]["text"]
    assert text == (
        "Rising in “other” in PayApp &lt;5&gt;: “&lt;!channel&gt; widget &amp; co”: 14 enquiries since 13:00, "
        "3.4× normal."
    )
    long_text, long_blocks = slack_blocks.build_alert(
        slack_blocks.AlertContent("L" * 400, False, "x" * 5000, 10, 0.0, "Tue 16:00", "https://t/x")
    )
    assert len(long_blocks[0]["text"]["text"]) <= slack_blocks.MAX_SECTION and len(long_text) <= 3000


def test_the_digest_section_keeps_slacks_limits_with_many_alerts() -> None:
    lines = [
        slack_blocks.AlertLine(False, f"Hypothesis {i} " + "y" * 150, 10 + i, 2.0, "14:20", f"https://t/h/{i}")
        for i in range(80)
    ]
    content = slack_blocks.DigestContent(
        launch_name="L",
        slot_label="16:00",
        window_label="13:00–16:00",
        day_number=2,
        launch_days=21,
        window_total=1,
        previous_total=1,
        today_total=1,
        since_launch_total=1,
        url="https://t/launches/l",
        hypotheses=[slack_blocks.HypothesisLine(f"h{i}", f"H {i}", 1, 0, 1) for i in range(60)],
        alerts=lines,
    )
    _, blocks = slack_blocks.build(content)
    assert len(blocks) <= slack_blocks.MAX_BLOCKS
    [section] = [
        b["text"]["text"] for b in blocks if "Alerts since the previous digest" in b.get("text", {}).get("text", "")
    ]
    assert len(section) <= slack_blocks.MAX_SECTION and "more alerts" in section
    assert "Alerts since the previous digest:" in slack_blocks.plain_text(content)


# --- themes in "other" ---------------------------------------------------------------------------


@pytest.fixture
def chatty(db: Database) -> Launch:
    """Begun on the 16th, with two days of "other" notes about something else."""
    launch = make_launch(db, hypotheses=("send",), slack_channel=SLACK_CHANNEL, starts_on=dt.date(2026, 11, 16))
    for day in (16, 17):
        log_many(db, launch, None, 20, start=local(day, 10), note="Asked about card limits abroad")
    return launch


def test_a_rising_theme_in_other_is_alerted_once_with_a_link_to_its_notes(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch
) -> None:
    log_many(db, chatty, None, 12, start=local(18, 13, 1), note="The widget is gone")
    log_many(db, chatty, None, 4, start=local(18, 13, 15), note="Asked about card limits abroad")
    [alert] = run(db, settings, bot, local(18, 13, 30))
    assert (alert.kind, alert.subject, alert.count, alert.hypothesis_id) == (
        AlertKind.THEME,
        "widget is gone",  # as written; "is" is a stop word inside the phrase
        12,
        None,
    )
    assert alert.status == DigestStatus.SENT and alert.claim_key.startswith(f"{chatty.id}:theme:")
    [message] = slack.posts(SLACK_CHANNEL)
    section = message["blocks"][0]["text"]["text"]
    assert section.startswith(
        ":zap: *Rising in “other”:* “<http://testserver/launches/test-launch/other?theme=widg+gon&amp;"
        "from=2026-11-18T13%3A00%2B01%3A00&amp;to=2026-11-18T13%3A30%2B01%3A00|widget is gone>”"
    )
    assert "*12* enquiries since 13:00 · *new: none before*" in section
    assert run(db, settings, bot, local(18, 13, 45)) == []  # once per window


def notes_listed(page: str) -> int:
    found = re.search(r'id="notes-count">(\d+) notes?', page)
    assert found, page[:300]
    return int(found.group(1))


def test_a_theme_alert_s_links_list_the_notes_it_counted_whenever_opened(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch, web: Any, people: Any
) -> None:
    """The links opened "other" searched for the phrase ("widgets were gone"), over whatever period it was
    opened in: the theme is its stems ("widget gone"), which "the widget is gone" has too: 12 read as 6."""
    log_many(db, chatty, None, 6, start=local(18, 13, 1), note="The widget is gone")
    log_many(db, chatty, None, 6, start=local(18, 13, 8), note="The widgets were gone again")
    [alert] = run(db, settings, bot, local(18, 13, 30))
    assert (alert.kind, alert.count, alert.subject) == (AlertKind.THEME, 12, "widgets were gone")
    log_many(db, chatty, None, 5, start=local(18, 14), note="The widget is gone")  # after the alert
    [message] = slack.posts(SLACK_CHANNEL)
    [posted] = re.findall(r"<(http://testserver[^|>]+)\|", message["blocks"][0]["text"]["text"])
    lena = web("lena")
    with time_machine.travel(local(18, 15), tick=False):
        page = lena.get(html.unescape(posted).removeprefix("http://testserver")).text
        assert notes_listed(page) == alert.count
        assert 'class="theme chosen"' in page and "Only the notes with the theme “widgets were gone”." in page
        # The alerts page links by the stems the alert kept, as the posted alert does.
        listed = lena.get("/launches/test-launch/alerts").text
        [link] = re.findall(r'<a id="alert-\d+" href="(/launches/test-launch/other\?[^"]+)"', listed)
        assert "theme=widg+gon" in html.unescape(link)
        assert notes_listed(lena.get(html.unescape(link)).text) == 12


def test_a_theme_alert_s_later_links_find_its_notes_after_the_phrase_it_was_posted_with_is_gone(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch, web: Any, people: Any
) -> None:
    """The alerts page, a digest recalling the alert and an alert recomposed late linked by the phrase
    alone, looked up among the window's themes. A lead erasing the notes that gave the phrase (personal
    data in them) changes it: the links found no theme and listed none of the notes still counted."""
    log_many(db, chatty, None, 6, start=local(18, 13, 1), note="The widget is gone")
    log_many(db, chatty, None, 6, start=local(18, 13, 8), note="The widgets were gone again")
    slack.queue("chat.postMessage", *[Reply(500, {"ok": False, "error": "internal_error"})] * 6)
    [alert] = run(db, settings, bot, local(18, 13, 30))
    run(db, settings, bot, local(18, 13, 32))  # as in test_an_alert_held_up_by_slack_says_when_it_was_counted
    assert (alert.subject, alert.theme_key, alert.status) == ("widgets were gone", "widg gon", DigestStatus.RETRYING)
    with db.transaction() as session:
        for enquiry in session.exec(select(Enquiry).where(Enquiry.note == "The widgets were gone again")):
            enquiry.note, enquiry.note_erased_at = None, local(18, 13, 40)
    [late] = run(db, settings, bot, local(18, 17, 10))  # recomposed from its row, saying when it was counted
    assert late.status == DigestStatus.SENT and "sent late" in (late.text or "")
    [message] = slack.posts(SLACK_CHANNEL)
    [posted] = re.findall(r"<(http://testserver[^|>]+)\|", message["blocks"][0]["text"]["text"])
    with db.session() as session:
        [recalled] = alerts.recalled(
            session, fresh(db, chatty), start=local(18, 13), end=local(18, 18), base_url="http://testserver"
        )
    lena = web("lena")
    listed = lena.get("/launches/test-launch/alerts").text
    [listed_link] = re.findall(r'<a id="alert-\d+" href="(/launches/test-launch/other\?[^"]+)"', listed)
    with time_machine.travel(local(18, 17, 20), tick=False):
        for link in (posted, recalled.url, listed_link):
            page = lena.get(html.unescape(link).removeprefix("http://testserver")).text
            assert notes_listed(page) == 6, link


def test_a_theme_made_a_hypothesis_is_not_alerted_again_as_that_hypothesis(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch
) -> None:
    """Promoting the theme moves its enquiries onto a new hypothesis, which has no normal yet: the next
    check alerted the same twelve enquiries again. A hypothesis added in a window is alerted from the next."""
    log_many(db, chatty, None, 12, start=local(18, 13, 1), note="The widget is gone")
    [theme_alert] = run(db, settings, bot, local(18, 13, 30))
    assert theme_alert.kind == AlertKind.THEME
    with db.session() as session:
        ids = [e.id or 0 for e in session.exec(select(Enquiry).where(Enquiry.note == "The widget is gone"))]
    with db.transaction() as session:
        relink.promote(
            session,
            fresh(db, chatty),
            key="widget-gone",
            text="Widget gone",
            enquiry_ids=ids,
            actor="lena",
            now=local(18, 13, 32),
        )
    assert run(db, settings, bot, local(18, 13, 35)) == []
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_theme_alerted_is_not_alerted_again_when_a_longer_phrase_of_it_takes_its_place(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch
) -> None:
    """At 13:30 "widget crash"; by 14:20 most of the notes say "widget crashes at startup", the longer
    phrase ranks first and the shorter one leaves the list: the same topic, in the same window."""
    log_many(db, chatty, None, 10, start=local(18, 13, 1), note="Widget crashes")
    [first] = run(db, settings, bot, local(18, 13, 30))
    assert first.kind == AlertKind.THEME
    log_many(db, chatty, None, 45, start=local(18, 13, 35), note="Widget crashes at startup")
    assert run(db, settings, bot, local(18, 14, 20)) == []
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_an_english_theme_alerted_is_not_alerted_again_in_the_window(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch
) -> None:
    """The alerted theme was found again by reading its phrase as a note: "failing badly" alone has no
    English small words, so it was stemmed as Norwegian (failing, badly; the theme is fail, bad) and the
    longer phrase at 14:20 shared none of its words. The alert keeps the stems."""
    log_many(db, chatty, None, 10, start=local(18, 13, 1), note="It is failing badly")
    [first] = run(db, settings, bot, local(18, 13, 30))
    assert (first.kind, first.subject, first.theme_key) == (AlertKind.THEME, "failing badly", "fail bad")
    log_many(db, chatty, None, 45, start=local(18, 13, 35), note="It is failing badly at startup")
    assert run(db, settings, bot, local(18, 14, 20)) == []
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_one_word_theme_alerted_is_not_alerted_again_as_a_longer_phrase_with_it(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch
) -> None:
    """ "krasj oppstart" shares one word of two with "krasj", not more than half: the same subject was
    posted again once the longer phrase took the shorter one's place."""
    log_many(db, chatty, None, 10, start=local(18, 13, 1), note="Det krasjer")
    [first] = run(db, settings, bot, local(18, 13, 30))
    assert (first.subject, first.theme_key) == ("krasjer", "krasj")
    log_many(db, chatty, None, 45, start=local(18, 13, 35), note="Det krasjer ved oppstart")
    assert run(db, settings, bot, local(18, 14, 20)) == []
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_theme_sharing_one_word_with_one_alerted_earlier_is_alerted(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch
) -> None:
    """The login crashing is news after the widget crashing: another subject, though both crash."""
    log_many(db, chatty, None, 10, start=local(18, 13, 1), note="Widgeten krasjer")
    [first] = run(db, settings, bot, local(18, 13, 30))
    assert first.theme_key == "widg krasj"
    log_many(db, chatty, None, 20, start=local(18, 13, 35), note="Innloggingen krasjer")
    [second] = run(db, settings, bot, local(18, 14, 20))
    assert (second.subject, second.theme_key) == ("Innloggingen krasjer", "innlogging krasj")
    assert len(slack.posts(SLACK_CHANNEL)) == 2


def test_a_theme_needs_the_minimum_count_and_its_normal_comes_from_before_the_window(
    db: Database, settings: Settings, chatty: Launch
) -> None:
    log_many(db, chatty, None, 6, start=local(17, 15), note="Widget gone")  # before the window
    log_many(db, chatty, None, 9, start=local(18, 13, 1), note="Widget gone")
    assert evaluate(db, chatty, local(18, 13, 30)) == []  # 9 < 10
    log_many(db, chatty, None, 3, start=local(18, 13, 10), note="Widget gone")
    [spike] = evaluate(db, chatty, local(18, 13, 30))
    # Too few enquiries yet to tell the centre's hours: a day's come within 8 hours. Two days with
    # notes, and the 18th's thirteen hours before the window a whole day's worth of them.
    assert (spike.kind, spike.count) == (AlertKind.THEME, 12)
    assert spike.normal == round(6 / 3 * (0.5 / 8), 2)
    # A theme that was as common before is not rising, so never alerts.
    log_many(db, chatty, None, 60, start=local(17, 16), note="Widget gone")
    assert evaluate(db, chatty, local(18, 13, 30)) == []


def test_a_theme_s_normal_is_spread_over_the_centre_s_hours_and_its_open_days(db: Database, settings: Settings) -> None:
    """A theme's notes of a day were spread over 24 equal hours, and over the days the centre was
    closed too: a steady theme read three times its normal in office hours and was alerted."""
    # Begun on a Saturday; open Monday and Tuesday 08:00-16:00 only.
    launch = make_launch(db, hypotheses=("send",), slack_channel=SLACK_CHANNEL, starts_on=dt.date(2026, 11, 14))
    for day in (16, 17):
        steady(db, launch, None, 25, day, range(8, 16), note="Asked about card limits abroad")
        steady(db, launch, None, 5, day, range(8, 16), note="Widget gone")
    log_many(db, launch, None, 11, start=local(18, 13, 1), note="Widget gone")
    # 80 notes in two open days (not 4.5 days); the five hours before 13:00 five eighths of a
    # day; and 13:00-14:00 an eighth of one: 3.81, so 11 is not three times normal (was 1.18).
    assert evaluate(db, launch, local(18, 14)) == []
    log_many(db, launch, None, 1, start=local(18, 13, 30), note="Widget gone")
    [spike] = evaluate(db, launch, local(18, 14))
    assert (spike.kind, spike.count, spike.normal) == (AlertKind.THEME, 12, round(80 / (2 + 5 / 8) / 8, 2))


def test_editing_the_digest_times_mid_window_does_not_alert_the_same_spike_again(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """The claim key holds the window's start: a lead who took 13:00 out of the digest times at 13:40
    moved the window's start to 09:00, and the same twelve enquiries were alerted a second time."""
    log_many(db, launch, "send", 12, start=local(18, 13, 5))
    [first] = run(db, settings, bot, local(18, 13, 30))
    with db.transaction() as session:
        edited = session.get(Launch, launch.id)
        assert edited is not None
        edited.digest_times = ["09:00", "16:00"]
    assert run(db, settings, bot, local(18, 13, 45)) == []
    assert len(slack.posts(SLACK_CHANNEL)) == 1 and first.subject == "send"


def test_old_notes_moved_onto_a_hypothesis_do_not_silence_its_own_spike(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch
) -> None:
    """Any re-link in the window kept its hypothesis from being alerted: five notes of yesterday moved
    onto "send" at 13:05 silenced the forty enquiries about it that came after, until 16:00."""
    log_many(db, chatty, None, 5, start=local(17, 12), note="Cannot find the send button")
    with db.session() as session:
        ids = [e.id or 0 for e in session.exec(select(Enquiry).where(Enquiry.note == "Cannot find the send button"))]
        send = session.exec(select(Hypothesis).where(Hypothesis.launch_id == chatty.id, Hypothesis.key == "send")).one()
    with db.transaction() as session:
        relink.relink(session, fresh(db, chatty), send, ids, actor="lena", now=local(18, 13, 5))
    log_many(db, chatty, "send", 40, start=local(18, 13, 10))
    [alert] = run(db, settings, bot, local(18, 14))
    assert (alert.subject, alert.count) == ("send", 40)


def test_a_window_in_the_hour_the_clocks_skipped_has_no_earlier_stretch_and_does_not_fail(
    db: Database, settings: Settings
) -> None:
    """A digest at 02:15 in Oslo: a week after the spring change, the same hours on its day were the
    hour that never was, a stretch of no length, and the check divided by it and never alerted."""
    spring = make_launch(
        db, slug="spring", hypotheses=("send",), starts_on=dt.date(2026, 3, 23), digest_times=["02:15", "09:00"]
    )
    start = dt.datetime(2026, 3, 30, 2, 15, tzinfo=OSLO).astimezone(dt.UTC)
    end = dt.datetime(2026, 3, 30, 2, 45, tzinfo=OSLO).astimezone(dt.UTC)
    stretches = alerts.earlier_stretches(spring, start, end)
    assert all(b > a for a, b in stretches) and len(stretches) == 6  # the 29th left out
    log_many(db, spring, "send", 3, start=dt.datetime(2026, 3, 28, 2, 20, tzinfo=OSLO).astimezone(dt.UTC))
    log_many(db, spring, "send", 12, start=start + dt.timedelta(minutes=1))
    with time_machine.travel(end, tick=False), db.session() as session:
        [spike] = alerts.evaluate(session, fresh(db, spring), now=end)
    assert (spike.subject, spike.count) == ("send", 12)


def test_a_retry_found_in_slack_keeps_the_words_the_channel_has(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Posted at 13:30 with its answer lost, retried at 17:10: it was composed anew as "sent late" and
    stored so before the retry found the 13:30 message, whose words the channel kept."""
    log_many(db, launch, "send", 10, start=local(18, 13, 0))
    slack.queue("chat.postMessage", Reply(store=True, drop=True))  # posted, then the connection dropped
    slack.queue("conversations.history", *[Reply(500, {"ok": False, "error": "internal_error"})] * 2)
    [first] = run(db, settings, bot, local(18, 13, 30))
    assert first.status == DigestStatus.RETRYING and len(slack.posts(SLACK_CHANNEL)) == 1
    [later] = run(db, settings, bot, local(18, 17, 10))
    [message] = slack.posts(SLACK_CHANNEL)
    assert later.status == DigestStatus.SENT and later.text == message["text"]
    assert "sent late" not in (later.text or "")


def test_erasing_the_notes_that_named_a_theme_takes_the_name_out_of_its_alerts(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch, web: Any, people: Any
) -> None:
    """A customer called again and again, and agents wrote the name: it rose as a theme and was alerted.
    The lead erased those notes, yet the alerts page and the API kept naming the customer, and an alert
    Slack had not taken yet was posted with the name after the erasure."""
    log_many(db, chatty, None, 12, start=local(18, 13, 1), note="Per Hansen ringer igjen")
    slack.queue("chat.postMessage", *[Reply(500, {"ok": False, "error": "internal_error"})] * 6)
    [alert] = run(db, settings, bot, local(18, 13, 30))
    run(db, settings, bot, local(18, 13, 32))
    assert (alert.subject, alert.status) == ("Hansen ringer igjen", DigestStatus.RETRYING)
    with db.session() as session:
        ids = list(session.exec(select(Enquiry.id).where(Enquiry.note == "Per Hansen ringer igjen")))
    lena = web("lena")
    with time_machine.travel(local(18, 13, 40), tick=False):
        erased = lena.post("/launches/test-launch/other/erase?range=launch", data={"enquiry": ids, "confirmed": "true"})
        assert erased.status_code == 303
    run(db, settings, bot, local(18, 17, 10))  # its retry: not posted with the name
    assert "Hansen" not in str(slack.posts(SLACK_CHANNEL))
    [after] = stored(db)
    assert after.status == DigestStatus.FAILED and "Hansen" not in str((after.subject, after.text, after.blocks))
    for path in ("/launches/test-launch/alerts", "/launches/test-launch"):
        page = lena.get(path).text
        assert "Hansen" not in page and "hans" not in page, path
        assert "a theme whose notes were erased" in page, path
    with db.session() as session:
        recalled = alerts.recalled(
            session, fresh(db, chatty), start=local(18, 13), end=local(18, 18), base_url="http://testserver"
        )
    assert recalled == []  # never sent: no digest recalls it


def test_a_sent_theme_alert_whose_notes_were_erased_is_recalled_without_its_phrase(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch, web: Any, people: Any
) -> None:
    log_many(db, chatty, None, 12, start=local(18, 13, 1), note="Hansen ringer igjen")
    [alert] = run(db, settings, bot, local(18, 13, 30))
    assert alert.status == DigestStatus.SENT
    with db.session() as session:
        ids = list(session.exec(select(Enquiry.id).where(Enquiry.note == "Hansen ringer igjen")))
    lena = web("lena")
    with time_machine.travel(local(18, 13, 40), tick=False):
        assert (
            lena.post(
                "/launches/test-launch/other/erase?range=launch", data={"enquiry": ids, "confirmed": "true"}
            ).status_code
            == 303
        )
    [after] = stored(db)
    assert after.status == DigestStatus.SENT and (after.subject, after.theme_key, after.text) == ("", None, "")
    with db.session() as session:
        [recalled] = alerts.recalled(
            session, fresh(db, chatty), start=local(18, 13), end=local(18, 18), base_url="http://testserver"
        )
    assert recalled.name == "a theme whose notes were erased" and "theme=" not in recalled.url
    # It holds back no later theme of the window.
    log_many(db, chatty, None, 12, start=local(18, 14, 1), note="The widget is gone")
    [later] = run(db, settings, bot, local(18, 14, 30))
    assert later.subject == "widget is gone"


def test_stored_digests_lose_the_phrase_of_a_theme_whose_notes_were_erased(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch, web: Any, people: Any
) -> None:
    """The 16:00 digest named the theme under "New in other" and recalled its alert: after the lead erased
    the notes, the Digests page still showed the customer's name, as Slack got it."""
    digests.run_due(db, settings=settings, now=local(18, 13) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    log_many(db, chatty, None, 12, start=local(18, 13, 1), note="Hansen ringer igjen")
    assert len(run(db, settings, bot, local(18, 13, 30))) == 1
    [four] = digests.run_due(db, settings=settings, now=local(18, 16) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    assert str(four.blocks).count("|Hansen ringer igjen>") == 2  # new in other, and the alert recalled
    with db.session() as session:
        ids = list(session.exec(select(Enquiry.id).where(Enquiry.note == "Hansen ringer igjen")))
    lena = web("lena")
    with time_machine.travel(local(18, 16, 10), tick=False):
        erase = lena.post("/launches/test-launch/other/erase?range=launch", data={"enquiry": ids, "confirmed": "true"})
        assert erase.status_code == 303
        page = lena.get("/launches/test-launch/digests").text
    with db.session() as session:
        kept = session.get(DigestRun, four.id)
        assert kept is not None
        blocks = str(kept.blocks)
    for shown in (page, blocks):
        assert "Hansen" not in shown and "theme=hans" not in shown
    assert blocks.count("a theme whose notes were erased") == 2
    assert "erased: *12* notes now, 0 before" in blocks  # the rest of its line stays


def test_notes_scrubbed_again_take_out_only_the_themes_the_scrubber_masked(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, chatty: Launch
) -> None:
    """A scrubber that learnt names said on someone's behalf masks them in notes stored before it: the
    alert and the digest lines naming that theme lose it; a theme the masking left in the notes stays."""
    digests.run_due(db, settings=settings, now=local(18, 13) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    log_many(db, chatty, None, 12, start=local(18, 13, 1), note="Ringte på vegne av Per Hansen")
    log_many(db, chatty, None, 12, start=local(18, 13, 14), note="Widgeten er borte, født 12.03.1985")
    found = run(db, settings, bot, local(18, 13, 30))
    assert sorted(a.subject for a in found) == ["Ringte på vegne av Per", "Widgeten er borte"]
    [four] = digests.run_due(db, settings=settings, now=local(18, 16) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None)
    assert "|Ringte på vegne av Per>" in str(four.blocks)
    retention.scrub_notes(db, actor="cli:ops", now=local(18, 16, 10))
    with db.session() as session:
        kept = session.get(DigestRun, four.id)
        assert kept is not None
        blocks = str(kept.blocks)
    assert "Per" not in blocks + str([(a.subject, a.theme_key, a.text, a.blocks) for a in stored(db)])
    assert sorted(a.subject for a in stored(db)) == ["", "Widgeten er borte"]
    assert blocks.count("|Widgeten er borte>") == 2  # new in other, and its alert recalled


def test_a_refused_factor_is_told_with_the_readers_decimal_sign(
    db: Database, web: Any, people: Any, launch: Launch
) -> None:
    """A Norwegian lead who typed 0,5 was told "0.5 er for lite: minst 1.0": her number and the bound in
    English notation, the bound as a float no form takes."""
    lena = web("lena")
    lena.post("/me/language", data={"language": "nb"})
    form = launch_form(launch, alert_min_count="6", alert_factor="0,5")
    refused = lena.post(f"/launches/{launch.slug}/edit", data=form)
    assert refused.status_code == 422
    assert "0,5 er for lite: minst 1<" in refused.text, refused.text[-3000:]
    assert "0.5" not in refused.text and "1.0" not in refused.text
    # A file, and the API, keep the number as written.
    parsed = hypothesis_sets.parse_text(ALERTING.replace("{min_count: 4, factor: 2.5}", "{factor: 0.5}"), path="x")
    assert "0.5 is too small: at least 1" in str(parsed.problems[0].message)


def test_another_leads_factor_is_shown_as_the_reader_writes_numbers(
    db: Database, web: Any, people: Any, launch: Launch
) -> None:
    """After a clash on the factor, a Norwegian lead was told the other lead's value as "Nå: 2.5"."""
    mine, theirs = web("lena"), web("lena")
    mine.post("/me/language", data={"language": "nb"})
    page = mine.get(f"/launches/{launch.slug}/edit").text
    version = re.search(r'name="version" value="(\d+)"', page)
    original = re.search(r'name="original" value="([^"]*)"', page)
    assert version and original
    form = launch_form(launch, alert_min_count="10", alert_factor="3")
    assert theirs.post(f"/launches/{launch.slug}/edit", data=form | {"alert_factor": "2.5"}).status_code == 303
    told = mine.post(
        f"/launches/{launch.slug}/edit",
        data=form | {"alert_factor": "4", "version": version[1], "original": html.unescape(original[1])},
    )
    assert told.status_code == 409, told.text[-2000:]
    shown = re.search(r'data-now-for="alert_factor">([^<]*)<', told.text)
    assert shown and shown[1] == "Nå: 2,5", shown
