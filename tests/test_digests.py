"""Digests: due slots, exactly once, windows that chain, missed slots, Slack failures, DST.

Slack is the fake in tests/fakes/slack_server.py, over real HTTP, driven by
slack-sdk. Time is whatever ``now`` the test passes; nothing sleeps (the
sender's pauses are recorded instead).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine
from prometheus_client import REGISTRY
from sqlmodel import select
from typer.testing import CliRunner

from app import dashboard, digests, hypothesis_sets, launches, ranges, schedule, tallies
from app.cli import cli
from app.config import Settings
from app.db import Database
from app.errors import Conflict
from app.insight import relink
from app.models import (
    DigestKind,
    DigestRun,
    DigestStatus,
    Hypothesis,
    HypothesisStatus,
    Launch,
    LaunchStatus,
    SlotTally,
)
from app.recording.record import NewEnquiry, insert_many
from app.slack import blocks as slack_blocks
from app.slack.client import BotSender, WebhookSender
from tests.conftest import DIGEST_SETTLE, SLACK_CHANNEL, SLACK_TOKEN
from tests.factories import fresh, hypothesis_ids, log, make_launch
from tests.fakes.slack_server import FakeSlack, Reply

OSLO = ZoneInfo("Europe/Oslo")


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=OSLO).astimezone(dt.UTC)


def due(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    """When the scheduler composes the digest of that local time: once it has settled (digests.settle)."""
    return local(day, hour, minute, month) + DIGEST_SETTLE


@pytest.fixture
def launch(db: Database) -> Launch:
    launch = make_launch(
        db, hypotheses=("send", "bankid", "receipts"), slack_channel=SLACK_CHANNEL, starts_on=dt.date(2026, 11, 18)
    )
    with db.transaction() as session:  # set up before the launch, as a lead does: they count from its start
        for h in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)):
            h.created_at = local(17, 12)
            session.add(h)
    return launch


def runs(db: Database) -> list[DigestRun]:
    with db.session() as session:
        return list(session.exec(select(DigestRun).order_by(DigestRun.slot_at, DigestRun.id)))  # type: ignore[arg-type]


def run_due(db: Database, settings: Settings, sender: object, now: dt.datetime, **kw: object) -> list[DigestRun]:
    """What run_due did at ``now``, leaving out slots it recorded as missed (tested on their own)."""
    done = digests.run_due(db, settings=settings, now=now, sender=sender, sleep=lambda s: None, **kw)  # type: ignore[arg-type]
    return [r for r in done if r.status != DigestStatus.MISSED]


# --- what is due, and exactly once ---------------------------------------------------------


def test_each_slot_is_sent_once(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    log(db, launch, "send", at=local(18, 10))
    assert run_due(db, settings, bot, local(18, 8, 59)) == []
    [sent] = run_due(db, settings, bot, due(18, 13))
    assert sent.status == DigestStatus.SENT and sent.channel == slack.channel_id(SLACK_CHANNEL) and sent.slack_ts
    assert (
        run_due(
            db,
            settings,
            bot,
            local(
                18,
                13,
                0,
            ),
        )
        == []
    )
    assert run_due(db, settings, bot, local(18, 13, 1)) == []
    [message] = slack.posts(SLACK_CHANNEL)
    assert message["metadata"] == {"event_type": "launch_tally_digest", "event_payload": {"slot_key": sent.slot_key}}
    assert "Test launch · 13:00" in message["blocks"][0]["text"]["text"]


def test_windows_chain_and_the_first_of_a_day_covers_the_evening_before(
    db: Database, settings: Settings, bot: BotSender
) -> None:
    launch = make_launch(db, starts_on=dt.date(2026, 11, 17), slack_channel=SLACK_CHANNEL, hypotheses=("send",))
    for moment in (local(17, 15), local(17, 17), local(17, 22), local(18, 8, 59), local(18, 9), local(18, 12)):
        log(db, launch, "send", at=moment)
    run_due(db, settings, bot, due(17, 16))
    [morning] = run_due(db, settings, bot, due(18, 9))
    [noon] = run_due(db, settings, bot, due(18, 13))
    assert (morning.window_start, morning.window_end) == (local(17, 16), local(18, 9))
    assert (noon.window_start, noon.window_end) == (local(18, 9), local(18, 13))
    text = " ".join(str(b) for b in morning.blocks)
    assert "Enquiries Tue 16:00 – Wed 09:00" in text
    assert "*3* in this window" in text  # 17:00, 22:00 and 08:59; 09:00 belongs to the next window
    assert "*2* in this window" in " ".join(str(b) for b in noon.blocks)


def test_the_digests_links_open_the_app_on_its_own_window_whenever_clicked(
    db: Database, settings: Settings, bot: BotSender
) -> None:
    """range=since-digest is worked out when clicked: the 13:00 digest opened at 13:05 showed 13:00-13:05.
    The links name the window itself, so the page shows the digest's numbers, compared as it did."""
    launch = make_launch(db, slack_channel=SLACK_CHANNEL, hypotheses=("send",))
    for moment in (local(18, 10), local(18, 12), local(18, 13, 2)):
        log(db, launch, "send", at=moment)
    run_due(db, settings, bot, due(18, 9))
    [noon] = run_due(db, settings, bot, due(18, 13))
    links = re.findall(r"<(http[^|>]+)\|", " ".join(str(b) for b in noon.blocks))
    query = "?from=2026-11-18T09%3A00%2B01%3A00&amp;to=2026-11-18T13%3A00%2B01%3A00"  # mrkdwn escapes &
    assert links and all(query in link for link in links), links
    with db.session() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        clicked = ranges.select(
            stored, now=local(18, 13, 5), from_text="2026-11-18T09:00+01:00", to_text="2026-11-18T13:00+01:00"
        )
        counted = tallies.tally(session=session, launch=stored, start=clicked.start, end=clicked.end)
    assert (clicked.start, clicked.end) == (noon.window_start, noon.window_end)
    assert counted.total == 2  # the digest's two; 13:02 is the next window's


def test_the_page_a_digest_links_to_compares_with_the_window_the_digest_compared_with(
    db: Database, settings: Settings, bot: BotSender, launch: Launch
) -> None:
    """The 13:00 digest compares 09:00-13:00 with the 09:00 digest's window (the night, from the
    launch's start); its link must show the same "before", not the four hours before 09:00."""
    for moment in (local(18, 3), local(18, 7), local(18, 10), local(18, 12)):
        log(db, launch, "send", at=moment)
    run_due(db, settings, bot, due(18, 9))
    [noon] = run_due(db, settings, bot, due(18, 13))
    assert noon.window_start == local(18, 9)
    with db.session() as session:
        stored = fresh(db, launch)
        clicked = ranges.select(
            stored, now=local(18, 13, 5), from_text="2026-11-18T09:00+01:00", to_text="2026-11-18T13:00+01:00"
        )
        page = dashboard.build(session, launch=stored, selection=clicked, now=local(18, 13, 5))
        hypothesis_page = dashboard.drilldown.build(
            session, launch=stored, key="send", selection=clicked, now=local(18, 13, 5)
        )
        # Any other range is compared with as long a time just before it.
        other = ranges.select(
            stored, now=local(18, 13, 5), from_text="2026-11-18T10:00+01:00", to_text="2026-11-18T13:00+01:00"
        )
        assert dashboard.build(session, launch=stored, selection=other, now=local(18, 13, 5)).previous_start == local(
            18, 7
        )
    assert (page.previous_start, page.previous_end) == (local(18, 0), local(18, 9))
    assert page.all.previous.count == 2 and page.all.change == 0  # as the digest said: "="
    assert hypothesis_page.previous_start == local(18, 0)
    # "Since the latest digest" is compared as the next digest will be: with the 13:00 digest's window,
    # not the working hours before 13:00 as long as the evening so far.
    with db.session() as session:
        mark = digests.since_digest_start(session, stored, local(18, 15))
        since = ranges.select(stored, now=local(18, 15), range_name="since-digest", digest_start=mark)
        page = dashboard.build(session, launch=stored, selection=since, now=local(18, 15))
    assert (page.previous_start, page.previous_end) == (local(18, 9), local(18, 13))
    # Before the first digest there is nothing to compare with: the splits say so too, not "+N on 0".
    with db.session() as session:
        mark = digests.since_digest_start(session, stored, local(18, 8, 30))
        first = ranges.select(stored, now=local(18, 8, 30), range_name="since-digest", digest_start=mark)
        early = dashboard.build(session, launch=stored, selection=first, now=local(18, 8, 30))
    assert early.previous_start == early.previous_end == local(18, 0)
    assert all(split.previous is None for split in (*early.channels, *early.segments))


def test_a_digest_time_inside_the_spring_gap_falls_on_the_first_moment_after_it(db: Database) -> None:
    """Oslo skips 02:00-03:00 on 28 March 2027. 02:30 was read as 03:30, where the 03:30 slot is:
    two slots that day instead of three."""
    launch = make_launch(
        db, starts_on=dt.date(2027, 3, 27), ends_on=dt.date(2027, 3, 29), digest_times=["02:30", "03:30", "09:00"]
    )
    slots = [slot.astimezone(OSLO).strftime("%H:%M") for slot in schedule.slots_on(launch, dt.date(2027, 3, 28))]
    assert slots == ["03:00", "03:30", "09:00"]
    autumn = make_launch(
        db, slug="autumn", starts_on=dt.date(2027, 10, 30), ends_on=dt.date(2027, 11, 1), digest_times=["02:30"]
    )  # 02:30 happens twice on 31 October: the first
    [once] = schedule.slots_on(autumn, dt.date(2027, 10, 31))
    assert once == dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)


def test_a_digest_time_in_the_spring_gap_goes_out_at_the_gaps_end_and_in_autumn_once(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """What the leads' guide promises: 02:30 goes out at 03:00 when the clocks skip it, and once (the
    first 02:30) when they go back, however many passes the scheduler makes that night."""
    spring = make_launch(
        db,
        starts_on=dt.date(2027, 3, 27),
        ends_on=dt.date(2027, 3, 29),
        digest_times=["02:30"],
        slack_channel=SLACK_CHANNEL,
    )
    autumn = make_launch(
        db,
        slug="autumn",
        starts_on=dt.date(2027, 10, 30),
        ends_on=dt.date(2027, 11, 1),
        digest_times=["02:30"],
        slack_channel=SLACK_CHANNEL,
    )
    for launch, night in (
        (spring, dt.datetime(2027, 3, 27, 23, tzinfo=dt.UTC)),
        (autumn, dt.datetime(2027, 10, 30, 23, tzinfo=dt.UTC)),
    ):
        sent = []
        for minute in range(3 * 60):  # the scheduler's minute passes, for three hours from midnight in Oslo
            sent += run_due(db, settings, bot, night + dt.timedelta(minutes=minute, seconds=40), launch_ids=[launch.id])
        [run] = sent
        assert run.status == DigestStatus.SENT
        assert run.slot_at.astimezone(OSLO).strftime("%H:%M %Z") == ("03:00 CEST" if launch is spring else "02:30 CEST")


def test_digests_are_written_in_the_slack_language_whatever_the_interface_language(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    norwegian = settings.model_copy(update={"slack_language": "nb", "language": "en"})
    launch = make_launch(db, starts_on=dt.date(2026, 11, 17), slack_channel=SLACK_CHANNEL, hypotheses=("send",))
    log(db, launch, "send", at=local(17, 17), channel="phone")
    log(db, launch, "send", at=local(17, 22), channel="chat")
    run_due(db, norwegian, bot, due(17, 16))
    [morning] = run_due(db, norwegian, bot, due(18, 9))
    [message] = [
        m for m in slack.posts(SLACK_CHANNEL) if m["metadata"]["event_payload"]["slot_key"] == morning.slot_key
    ]
    text = " ".join(str(b) for b in message["blocks"])
    assert "Henvendelser tir. 16:00 – ons. 09:00 · dag 2 av" in text
    assert "*2* i denne perioden" in text and "Per kanal: telefon 1 · chat 1" in text
    assert message["text"].startswith("Test launch · 09:00: 2 henvendelser (tir. 16:00 – ons. 09:00), 0 i dag, 2 siden")
    # The preview a lead opens and the terminal's show what Slack gets; the page around it keeps its language.
    preview = CliRunner().invoke(
        cli,
        ["digest", "preview", launch.slug, "--now", "2026-11-18T14:00:00+01:00"],
        env={"TALLY_DATABASE_URL": db.url, "TALLY_SLACK_LANGUAGE": "nb"},
    )
    assert preview.exit_code == 0 and "0 i denne perioden (↓2) · 0 i dag · 2 siden lanseringen" in preview.output
    # Without TALLY_SLACK_LANGUAGE, the interface's default language.
    run_due(db, settings.model_copy(update={"language": "nb"}), bot, due(18, 13))
    assert "*0* i denne perioden" in " ".join(str(b) for b in slack.posts(SLACK_CHANNEL)[-1]["blocks"])


def test_the_first_digest_of_a_launch_compares_with_nothing_as_its_page_does(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """The first window has none before it: the digest said "↑5 on the one before" (and ↑ per hypothesis)
    against an empty window, while the page it links to compared with nothing. So did a digest sent by hand
    before the first scheduled one."""
    launch = make_launch(db, slack_channel=SLACK_CHANNEL, hypotheses=("send",), starts_on=dt.date(2026, 11, 18))
    for hour in (1, 3, 5):
        log(db, launch, "send", at=local(18, hour))
    log(db, launch, at=local(18, 6))
    by_hand = digests.send_now(db, launch, settings=settings, now=local(18, 8), sender=bot, sleep=lambda s: None)
    [first] = run_due(db, settings, bot, due(18, 9))
    log(db, launch, "send", at=local(18, 10))
    [second] = run_due(db, settings, bot, due(18, 13))
    for run in (by_hand, first):
        text = " ".join(str(b) for b in run.blocks)
        assert "in this window ·" in text and "on the one before" not in text and "↑" not in text
    assert "*1* in this window (↓3 on the one before)" in " ".join(str(b) for b in second.blocks)
    with db.session() as session:
        stored = fresh(db, launch)
        selection = ranges.select(
            stored, now=local(18, 9, 5), from_text="2026-11-18T00:00+01:00", to_text="2026-11-18T09:00+01:00"
        )
        page = dashboard.build(session, launch=stored, selection=selection, now=local(18, 9, 5))
    assert page.all.previous.count is None  # the page it links to: nothing to compare with either


def test_window_labels_are_written_as_each_language_writes_dates(launch: Launch) -> None:
    from app.i18n import use_language

    overnight, long_weekend = (local(17, 16), local(18, 9)), (local(13, 16), local(16, 9))
    assert digests.window_label(launch, *overnight) == "Tue 16:00 – Wed 09:00"
    assert digests.window_label(launch, *long_weekend) == "13 Nov 16:00 – 16 Nov 09:00"
    with use_language("nb"):
        assert digests.window_label(launch, *overnight) == "tir. 16:00 – ons. 09:00"
        assert digests.window_label(launch, *long_weekend) == "13. nov. 16:00 – 16. nov. 09:00"


def test_concurrent_schedulers_send_one_message(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def scheduler() -> None:
        sender = BotSender(token=SLACK_TOKEN, base_url=slack.api_url, sleep=lambda s: None)
        database = Database(db.url)  # its own engine and connections, like another worker
        try:
            barrier.wait()
            run_due(database, settings, sender, due(18, 9))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    assert [r.status for r in runs(db)] == [DigestStatus.SENT]


def test_missed_slots_within_grace_go_late_and_older_ones_are_recorded(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    run_due(db, settings, bot, due(18, 9))
    log(db, launch, "bankid", at=local(18, 10))
    log(db, launch, "bankid", at=local(18, 14))
    # The app was down from 12:00 to 16:20: 13:00 is beyond the grace period, 16:00 within it.
    done = digests.run_due(db, settings=settings, now=local(18, 16, 20), sender=bot, sleep=lambda s: None)
    assert [(r.slot_at, r.status) for r in done] == [
        (local(18, 13), DigestStatus.MISSED),
        (local(18, 16), DigestStatus.LATE),
    ]
    late = done[1]
    assert (late.window_start, late.window_end) == (local(18, 9), local(18, 16))  # nothing unreported
    assert "*2* in this window" in str(late.blocks) and "sent late" in str(late.blocks)
    assert len(slack.posts(SLACK_CHANNEL)) == 2
    missed = done[0]
    assert missed.blocks == [] and "grace period" in (missed.error or "")


def test_start_up_only_looks_back_a_day(db: Database, settings: Settings, bot: BotSender, launch: Launch) -> None:
    done = digests.run_due(db, settings=settings, now=local(25, 9, 10), sender=bot, sleep=lambda s: None)
    assert {r.status for r in done} == {DigestStatus.MISSED, DigestStatus.LATE}  # 09:00, sent at 09:10
    assert min(r.slot_at for r in done) >= local(24, 9, 10)


def _live_from(db: Database, launch: Launch, moment: dt.datetime) -> Launch:
    """Set live at ``moment``, as the editor and an import record it (Launch.digests_due_from)."""
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.digests_due_from = stored.live_since = moment
        session.add(stored)
    return fresh(db, launch)


def test_slots_of_a_scheduler_down_for_days_are_recorded_as_missed_once(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Down from the 18th at 10:00 to the 21st at 10:00: the slots older than a day got no row at all,
    and the Digests page showed nothing of the 18th's 13:00 to the 20th's 09:00, not even *missed*."""
    launch = _live_from(db, launch, local(17, 12))
    run_due(db, settings, bot, due(18, 9))
    done = digests.run_due(db, settings=settings, now=local(21, 10), sender=bot, sleep=lambda s: None)
    expected = [*[local(day, hour) for day in (18, 19, 20) for hour in (9, 13, 16)][1:], local(21, 9)]
    assert [r.slot_at for r in done] == expected
    assert {r.status for r in done} == {DigestStatus.MISSED}
    assert all("grace period" in (r.error or "") and r.window_start == r.window_end == r.slot_at for r in done)
    assert digests.run_due(db, settings=settings, now=local(21, 10, 1), sender=bot, sleep=lambda s: None) == []
    assert [r.slot_at for r in runs(db)] == [local(18, 9), *expected], "each once"
    with db.session() as session:
        shown = {r.slot_at for r in digests.recent_runs(session, launch)}
    assert set(expected) <= shown
    # The next digest covers all of it.
    log(db, launch, "send", at=local(19, 12))
    [sent] = run_due(db, settings, bot, due(21, 13))
    assert (sent.window_start, sent.window_end) == (local(18, 9), local(21, 13))
    assert "*1* in this window" in str(sent.blocks)


def test_a_closing_digest_is_sent_after_the_scheduler_was_down_for_days_since_the_launchs_end(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """Down from the last day's 16:10 until three days after the end: the final tally, older than the
    day looked back, was lost for good, and the last evening's enquiries reached Slack never."""
    ending = _live_from(db, two_day_launch(db, "ending"), local(17, 12))
    run_due(db, settings, bot, due(19, 16))
    log(db, ending, "send", at=local(19, 20))
    done = digests.run_due(db, settings=settings, now=local(23, 9), sender=bot, sleep=lambda s: None)
    [closing] = [r for r in done if r.status != DigestStatus.MISSED]
    assert closing.status == DigestStatus.LATE and closing.slot_at == local(20, 0)
    assert (closing.window_start, closing.window_end) == (local(19, 16), local(20, 0))
    posted = str(slack.posts(SLACK_CHANNEL)[-1]["blocks"])
    assert "final tally" in posted and "*1* in this window" in posted
    assert run_due(db, settings, bot, local(23, 9, 1)) == [], "once"


def test_a_closing_digest_more_than_a_week_old_is_recorded_as_missed_not_sent(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    ending = _live_from(db, two_day_launch(db, "ending"), local(17, 12))
    run_due(db, settings, bot, due(19, 16))
    posts = len(slack.posts(SLACK_CHANNEL))
    moment = local(28, 0, 1)  # a week and a minute after the end (digests.CLOSING_CATCH_UP)
    done = digests.run_due(db, settings=settings, now=moment, sender=bot, sleep=lambda s: None)
    assert [(r.slot_at, r.status) for r in done] == [(local(20, 0), DigestStatus.MISSED)]
    # Said as what it is: no later digest covers a closing one.
    assert done[0].error is not None and "within a week after the launch ended" in done[0].error
    assert "next digest" not in done[0].error
    assert len(slack.posts(SLACK_CHANNEL)) == posts
    assert [r.slot_at for r in runs(db) if r.launch_id == ending.id][-1] == local(20, 0)


def test_an_edit_moving_past_slots_records_none_of_the_days_before_as_missed(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Slots older than a day are looked at now: those an edit moved (other digest times, an end days
    back already reported by later digests) were never due, and are neither missed nor sent."""
    launch = _live_from(db, launch, local(17, 12))
    for day in (18, 19, 20, 21):
        for hour in (9, 13, 16):
            run_due(db, settings, bot, due(day, hour))
    before = len(runs(db))
    _edit_launch(db, settings, launch, local(21, 17), digest_times=["10:00", "14:00", "17:00"])
    assert digests.run_due(db, settings=settings, now=local(21, 17, 1), sender=bot, sleep=lambda s: None) == []
    _edit_launch(db, settings, launch, local(21, 18), ends_on=dt.date(2026, 11, 19))
    assert digests.run_due(db, settings=settings, now=local(21, 18, 1), sender=bot, sleep=lambda s: None) == []
    assert len(runs(db)) == before


def test_only_live_launches_and_only_inside_their_window(db: Database, settings: Settings, bot: BotSender) -> None:
    from app.models import LaunchStatus

    launch = make_launch(db, starts_on=dt.date(2026, 11, 18), ends_on=dt.date(2026, 12, 7), slack_channel=SLACK_CHANNEL)

    make_launch(db, slug="draft", status=LaunchStatus.DRAFT, slack_channel=SLACK_CHANNEL)
    make_launch(
        db, slug="ended", starts_on=dt.date(2026, 10, 1), ends_on=dt.date(2026, 10, 21), slack_channel=SLACK_CHANNEL
    )
    assert {r.launch_id for r in run_due(db, settings, bot, due(18, 13))} == {launch.id}
    # Before the first day and after the last, nothing.
    assert run_due(db, settings, bot, due(15, 13)) == []
    after = digests.run_due(db, settings=settings, now=local(8, 13, month=12), sender=bot, sleep=lambda s: None)
    assert all(r.slot_at <= local(8, 0, month=12) for r in after)  # the closing digest, at its end, the last


# --- DST ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", [dt.date(2026, 3, 29), dt.date(2026, 10, 25)])
def test_dst_days_have_three_digests_at_local_nine_one_and_four(
    db: Database, settings: Settings, bot: BotSender, host_timezone: str, day: dt.date
) -> None:
    launch = make_launch(
        db, starts_on=day - dt.timedelta(days=1), ends_on=day + dt.timedelta(days=1), slack_channel=SLACK_CHANNEL
    )
    start = dt.datetime.combine(day, dt.time(0), tzinfo=OSLO).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=OSLO).astimezone(dt.UTC)
    yesterday_four = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(16), tzinfo=OSLO).astimezone(dt.UTC)
    run_due(db, settings, bot, yesterday_four + DIGEST_SETTLE)  # yesterday's, out of the way
    before = {r.id for r in runs(db)}
    moment = start + DIGEST_SETTLE
    while moment < end:
        run_due(db, settings, bot, moment)
        moment += dt.timedelta(minutes=10)
    today = [r for r in runs(db) if r.id not in before and r.launch_id == launch.id]
    assert [r.slot_at.astimezone(OSLO).strftime("%H:%M") for r in today] == ["09:00", "13:00", "16:00"]
    assert {r.status for r in today} == {DigestStatus.SENT}
    # The overnight window is 23 or 25 hours minus the day's slots, never doubled or lost.
    first = today[0]
    assert first.window_end - first.window_start == local_hours(day, 16, 9)


def local_hours(day: dt.date, evening: int, morning: int) -> dt.timedelta:
    yesterday = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(evening), tzinfo=OSLO)
    today = dt.datetime.combine(day, dt.time(morning), tzinfo=OSLO)
    return today.astimezone(dt.UTC) - yesterday.astimezone(dt.UTC)


# --- Slack failures ----------------------------------------------------------------------------


def test_rate_limits_are_retried_after_retry_after(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, pauses: list[float], launch: Launch
) -> None:
    slack.queue("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}))
    [run] = run_due(db, settings, bot, due(18, 13))
    assert run.status == DigestStatus.SENT
    assert pauses == [3.0]
    assert len(slack.attempts()) == 2 and len(slack.posts(SLACK_CHANNEL)) == 1


def test_server_errors_are_retried_and_never_posted_twice(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    # The first 500 came after Slack stored the message; the check finds it, so no second post.
    slack.queue("chat.postMessage", Reply(500, {"ok": False, "error": "internal_error"}, store=True))
    [run] = run_due(db, settings, bot, due(18, 13))
    assert run.status == DigestStatus.SENT
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    assert len(slack.attempts("conversations.history")) == 1


@pytest.mark.parametrize("code", ["internal_error", "fatal_error", "request_timeout"])
def test_an_error_slack_answers_after_storing_the_digest_is_looked_for_before_posting_again(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch, code: str
) -> None:
    """Slack answers these with 200 and ok:false when some part of the call may have succeeded: the
    digest was stored, the retry posted it again without looking, and the channel had it twice."""
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": code}, store=True))
    [run] = run_due(db, settings, bot, due(18, 13))
    assert run.status == DigestStatus.SENT
    assert len(slack.posts(SLACK_CHANNEL)) == 1 and len(slack.attempts()) == 1
    assert len(slack.attempts("conversations.history")) == 1


def test_a_dropped_connection_after_posting_does_not_post_twice(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    slack.queue("chat.postMessage", Reply(drop=True, store=True))
    [run] = run_due(db, settings, bot, due(18, 13))
    assert run.status == DigestStatus.SENT and run.slack_ts
    assert len(slack.posts(SLACK_CHANNEL)) == 1 and len(slack.attempts()) == 1


def test_the_look_before_posting_again_reads_past_the_first_page_of_a_busy_channel(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Slack gives the history newest first, 200 messages a page: with more than that said in the
    channel since, the digest was on a later page, not found, and posted a second time."""
    [run] = run_due(db, settings, bot, due(18, 9))
    slack.chatter(SLACK_CHANNEL, 450)
    found = bot.find_posted(channel=SLACK_CHANNEL, slot_key=run.slot_key, oldest=run.claimed_at.timestamp() - 60)
    assert found is not None and found.ts == run.slack_ts
    assert len(slack.attempts("conversations.history")) == 3
    assert bot.find_posted(channel=SLACK_CHANNEL, slot_key="1:not-posted", oldest=0) is None


def test_a_digest_slack_did_not_take_goes_out_before_the_next_one_and_says_it_is_late(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """The 16:00 digest could not reach Slack, then Launch Tally was down overnight. Back at 09:10, it
    posted the 09:00 digest, then the 16:00 one, 17 hours late, headed "16:00" with nothing to say it
    was yesterday's or late."""
    log(db, launch, "send", at=local(18, 15))
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    [waiting] = run_due(db, settings, bot, due(18, 16))
    assert waiting.status == DigestStatus.RETRYING and slack.posts(SLACK_CHANNEL) == []
    done = run_due(db, settings, bot, local(19, 9, 10))
    assert [(r.slot_at, r.status) for r in done] == [
        (local(18, 16), DigestStatus.LATE),
        (local(19, 9), DigestStatus.LATE),
    ]
    yesterday, today = slack.posts(SLACK_CHANNEL)
    assert "Test launch · Wed 16:00" in str(yesterday["blocks"]), "it names its day"
    assert "sent late: Slack did not take it at the time" in str(yesterday["blocks"])
    assert "Test launch · 09:00" in str(today["blocks"])
    assert "sent late: Launch Tally was not running at the time" in str(today["blocks"])


def test_a_dropped_connection_before_posting_is_retried(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, pauses: list[float], launch: Launch
) -> None:
    slack.queue("chat.postMessage", Reply(drop=True), Reply(drop=True))
    [run] = run_due(db, settings, bot, due(18, 13))
    assert run.status == DigestStatus.SENT
    assert len(slack.posts(SLACK_CHANNEL)) == 1 and len(slack.attempts()) == 3


def test_unreachable_slack_stays_retryable_and_goes_out_on_a_later_pass(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    nowhere = BotSender(token=SLACK_TOKEN, base_url="http://127.0.0.1:9/api/", sleep=lambda s: None)
    [run] = run_due(db, settings, nowhere, due(18, 13))
    assert run.status == DigestStatus.RETRYING and run.attempts == 3
    assert "Could not connect to Slack" in (run.error or "")
    assert run.next_attempt_at is not None and run.next_attempt_at > local(18, 13)
    bot = BotSender(token=SLACK_TOKEN, base_url=slack.api_url, sleep=lambda s: None)
    assert run_due(db, settings, bot, local(18, 13, 1)) == []  # not yet
    [again] = run_due(db, settings, bot, run.next_attempt_at)
    assert again.id == run.id and again.status == DigestStatus.SENT  # two minutes after its slot: on time
    assert len(slack.posts(SLACK_CHANNEL)) == 1


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("channel_not_found", "Slack does not know the channel #launch"),
        ("not_in_channel", "invite it there"),
        ("is_archived", "is archived"),
        ("invalid_auth", "check SLACK_BOT_TOKEN"),
        ("token_revoked", "reinstall the Slack app"),
        ("account_inactive", "deactivated"),
        ("msg_blocks_too_long", "please report it"),  # was retried for hours, and so was every later digest
    ],
)
def test_permanent_errors_are_not_retried_and_say_what_to_do(
    db: Database,
    settings: Settings,
    bot: BotSender,
    slack: FakeSlack,
    launch: Launch,
    code: str,
    advice: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": code}))
    [run] = run_due(db, settings, bot, due(18, 13))
    assert run.status == DigestStatus.FAILED and advice in (run.error or "")
    assert len(slack.attempts()) == 1
    assert advice in caplog.text
    assert run_due(db, settings, bot, due(18, 14)) == []  # the scheduler leaves it for a person
    assert SLACK_TOKEN not in caplog.text


def test_webhooks_post_and_never_guess_after_a_drop(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    hook = WebhookSender(url=slack.webhook_url, sleep=lambda s: None)
    [run] = run_due(db, settings, hook, due(18, 9))
    assert run.status == DigestStatus.SENT and len(slack.webhook_messages) == 1
    slack.queue("webhook", Reply(drop=True, store=True))
    [dropped] = run_due(db, settings, hook, due(18, 13))
    assert dropped.status == DigestStatus.FAILED and "look in Slack" in (dropped.error or "")
    assert len(slack.webhook_messages) == 2  # one each: never a second copy of the 13:00 digest
    slack.queue("webhook", Reply(404, "channel_not_found"))
    [refused] = run_due(db, settings, hook, due(18, 16))
    assert refused.status == DigestStatus.FAILED and "webhook's channel was deleted" in (refused.error or "")


@pytest.mark.parametrize(
    ("status", "code", "advice"),
    [
        (
            404,
            "channel_not_found",
            "The webhook's channel was deleted or archived: create a new incoming webhook for an existing "
            "channel and set SLACK_WEBHOOK_URL.",
        ),
        (
            410,
            "channel_is_archived",
            "The webhook's channel is archived: unarchive it, or create a new incoming webhook for another "
            "channel and set SLACK_WEBHOOK_URL.",
        ),
        (
            403,
            "posting_to_general_channel_denied",
            "Only admins may post in the webhook's channel: create a new incoming webhook for another channel "
            "and set SLACK_WEBHOOK_URL.",
        ),
    ],
)
def test_a_webhooks_channel_errors_say_what_to_do_about_the_webhook(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch, status: int, code: str, advice: str
) -> None:
    """A webhook posts to the channel it was made for, whatever the launch says: "Slack does not know
    the channel the webhook's channel: check the launch's Slack channel" sent the lead to a setting
    that changes nothing."""
    hook = WebhookSender(url=slack.webhook_url, sleep=lambda s: None)
    slack.queue("webhook", Reply(status, code))
    [run] = run_due(db, settings, hook, due(18, 9))
    assert (run.status, run.error, run.attempts) == (DigestStatus.FAILED, advice, 1)


@pytest.mark.parametrize(
    ("make", "setting"),
    [
        (lambda slack: BotSender(token="\u201cxoxb-test-token\u201d", base_url=slack.api_url), "SLACK_BOT_TOKEN"),
        (lambda slack: WebhookSender(url="hooks.slack.com/services/T0/B0/XXX"), "SLACK_WEBHOOK_URL"),
        (lambda slack: WebhookSender(url=f"\u201c{slack.webhook_url}\u201d"), "SLACK_WEBHOOK_URL"),
    ],
)
def test_a_token_or_webhook_url_no_request_can_be_made_with_fails_at_once_naming_the_setting(
    db: Database,
    settings: Settings,
    slack: FakeSlack,
    launch: Launch,
    make: Callable[[FakeSlack], BotSender | WebhookSender],
    setting: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Copied with typographic quotes, or without https://: the pass crashed (every slot, the digest
    stuck pending), or the digest failed as "the connection dropped after the digest was sent"."""
    sender = make(slack)
    [run] = run_due(db, settings, sender, due(18, 13))
    assert run.status == DigestStatus.FAILED and run.attempts == 1
    assert (run.error or "").startswith("Nothing was sent") and setting in (run.error or "")
    assert "dropped" not in (run.error or "") and "services/T0" not in (run.error or "")  # nor the secret URL
    assert slack.calls == [] and slack.webhook_messages == []
    assert run_due(db, settings, sender, local(18, 13, 20)) == []  # left for a person, not retried
    assert "test-token" not in caplog.text


def test_a_webhook_5xx_says_what_slack_answered_not_that_the_connection_dropped(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    hook = WebhookSender(url=slack.webhook_url, sleep=lambda s: None)
    slack.queue("webhook", Reply(503, "service_unavailable"))
    [run] = run_due(db, settings, hook, due(18, 9))
    assert run.status == DigestStatus.FAILED and run.attempts == 1 and slack.webhook_messages == []
    assert (run.error or "").startswith("Slack answered 503 (service_unavailable). A webhook cannot check")
    assert "dropped" not in (run.error or "") and "tried again" not in (run.error or "")


def test_giving_up_does_not_say_it_will_be_tried_again(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    slack.queue("chat.postMessage", *[Reply(500, {"ok": False, "error": "fatal_error"})] * 100)  # more than it tries
    now = due(18, 13)
    [run] = run_due(db, settings, bot, now)
    assert run.status == DigestStatus.RETRYING and run.error == "Slack answered 500 (fatal_error)."
    while run.status == DigestStatus.RETRYING:
        assert run.next_attempt_at is not None
        now = run.next_attempt_at
        run = next(r for r in run_due(db, settings, bot, now) if r.id == run.id)
    assert run.error == (
        f"Gave up after {run.attempts} attempts: Slack answered 500 (fatal_error). Send it from the Digests page "
        "once Slack answers again."
    )
    assert slack.posts(SLACK_CHANNEL) == []


NOT_FOUND_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1>"
    + "<p>The requested URL was not found on this server.</p>" * 20
    + "</body></html>"
)


@pytest.mark.parametrize("webhook", [False, True])
def test_an_address_that_is_not_slacks_fails_at_once_naming_the_setting(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch, webhook: bool
) -> None:
    """A wrong SLACK_API_URL answering a web server's 404 page was retried for four hours, with the
    page as Slack's "code"."""
    sender = (
        WebhookSender(url=slack.webhook_url, sleep=lambda s: None)
        if webhook
        else BotSender(token=SLACK_TOKEN, base_url=slack.api_url, sleep=lambda s: None)
    )
    slack.queue("webhook" if webhook else "chat.postMessage", Reply(404, NOT_FOUND_PAGE))
    [run] = run_due(db, settings, sender, due(18, 13))
    setting = "SLACK_WEBHOOK_URL" if webhook else "SLACK_API_URL"
    assert (run.status, run.attempts) == (DigestStatus.FAILED, 1)
    assert (
        run.error == f"The address in {setting} answered 404 (404 Not Found) without a Slack error: check that setting."
    )


def test_an_answer_without_a_slack_error_code_is_shown_shortened(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    hook = WebhookSender(url=slack.webhook_url, sleep=lambda s: None)
    slack.queue("webhook", Reply(400, "Bad request: " + "x" * 500))
    [run] = run_due(db, settings, hook, due(18, 13))
    assert run.status == DigestStatus.FAILED and "SLACK_WEBHOOK_URL" in (run.error or "")
    assert "(Bad request: xxx" in (run.error or "") and len(run.error or "") < 200
    slack.queue("webhook", *[Reply(400, "user_not_found")] * 3)  # Slack's own code: as before, tried again
    [later] = run_due(db, settings, hook, due(18, 16))
    assert later.status == DigestStatus.RETRYING and later.error == "Slack answered 'user_not_found'."


# --- no Slack, previews, sending by hand -------------------------------------------------------


def test_without_slack_digests_are_dry_runs_a_lead_can_send_later(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    log(db, launch, "receipts", at=local(18, 11))
    [dry] = run_due(db, settings, None, due(18, 13))
    assert dry.status == DigestStatus.DRY_RUN and dry.blocks and "*1* in this window" in str(dry.blocks)
    assert slack.posts() == []
    sent = digests.send_again(db, dry.id or 0, settings=settings, now=local(18, 14), sender=bot, sleep=lambda s: None)
    assert sent.status == DigestStatus.LATE and len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_digest_sent_again_the_next_day_says_it_is_late_and_whose_day_it_was(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Send to Slack posted the stored blocks as they were: the next morning, "Test launch · 13:00" and
    "1 today", with no word of lateness, while the Digests page said "sent late"."""
    log(db, launch, "send", at=local(18, 10))
    run_due(db, settings, bot, due(18, 9))
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "not_in_channel"}))
    [failed] = run_due(db, settings, bot, due(18, 13))
    [dry] = run_due(db, settings, None, due(18, 16))
    for run, note in ((failed, "sent late: Slack did not take it at the time"), (dry, "sent late")):
        assert run.status in (DigestStatus.FAILED, DigestStatus.DRY_RUN)
        again = digests.send_again(
            db, run.id or 0, settings=settings, now=local(19, 9, 30), sender=bot, sleep=lambda s: None
        )
        assert again.status == DigestStatus.LATE
        message = slack.posts(SLACK_CHANNEL)[-1]
        slot = "Wed 13:00" if run is failed else "Wed 16:00"
        assert message["blocks"][0]["text"]["text"] == f"Test launch · {slot}"
        assert message["blocks"][1]["elements"][0]["text"].endswith(f" · {note}")
        assert message["text"].startswith(f"Test launch · {slot} · sent late: ")
        assert (again.window_start, again.window_end) == (run.window_start, run.window_end)  # the same window


def test_a_digest_sent_again_a_week_later_names_its_date_not_a_weekday(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """A dry run of Wednesday 18th 16:00, sent once Slack was set up on Wednesday the 25th at 10:00, was
    headed "Test launch · Wed 16:00": this afternoon's, as it read, six hours from now."""
    log(db, launch, "send", at=local(18, 15))
    [dry] = run_due(db, settings, None, due(18, 16))
    again = digests.send_again(db, dry.id or 0, settings=settings, now=local(25, 10), sender=bot, sleep=lambda s: None)
    assert again.status == DigestStatus.LATE
    message = slack.posts(SLACK_CHANNEL)[-1]
    assert message["blocks"][0]["text"]["text"] == "Test launch · 18 Nov 16:00"
    assert message["text"].startswith("Test launch · 18 Nov 16:00 · sent late")
    [dry] = run_due(db, settings, None, due(24, 16))  # six days back: the weekday still tells
    digests.send_again(db, dry.id or 0, settings=settings, now=local(30, 10), sender=bot, sleep=lambda s: None)
    assert slack.posts(SLACK_CHANNEL)[-1]["blocks"][0]["text"]["text"] == "Test launch · Tue 16:00"


def test_a_fix_shipped_on_this_weekday_last_week_is_named_with_its_date(
    db: Database, settings: Settings, launch: Launch
) -> None:
    """A fix is reported for a week: Wednesday 25th's 16:00 digest said the fix of Wednesday 18th 17:00
    "shipped Wed 17:00", an hour from now as it read."""
    with db.transaction() as session:
        fixed = session.exec(select(Hypothesis).where(Hypothesis.key == "bankid")).one()
        fixed.status, fixed.fix_shipped_at = HypothesisStatus.FIX_SHIPPED, local(18, 17)
        session.add(fixed)
    with db.session() as session:
        hypotheses = launches.hypotheses_of(session, launch)
        [last_week] = digests.fixes_shipped(session, launch, hypotheses, now=local(25, 16), base_url="")
        [this_week] = digests.fixes_shipped(session, launch, hypotheses, now=local(24, 16), base_url="")
    assert last_week.shipped_label == "18 Nov 17:00"
    assert this_week.shipped_label == "Wed 17:00"


def test_a_digest_sent_by_hand_does_not_move_the_schedule(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    run_due(db, settings, bot, due(18, 9))
    manual = digests.send_now(db, launch, settings=settings, now=local(18, 11), sender=bot, sleep=lambda s: None)
    assert manual.kind == DigestKind.MANUAL and manual.status == DigestStatus.SENT
    assert (manual.window_start, manual.window_end) == (local(18, 9), local(18, 11))
    [noon] = run_due(db, settings, bot, due(18, 13))
    assert noon.window_start == local(18, 9)


def test_a_digest_by_hand_that_slack_held_up_says_it_is_late_and_whose_day_it_was(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Send now at 14:37 during a Slack outage waited as "will retry"; the scheduler posted it the next
    morning as "Test launch · 14:37: 8 enquiries … 8 today" (yesterday's today), recorded as sent."""
    for hour in range(7, 15):
        log(db, launch, "send", at=local(18, hour, 30))
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    pressed = digests.send_now(
        db, launch, settings=settings, now=local(18, 14, 37), sender=bot, sleep=lambda s: None, max_pause=2.0
    )
    assert pressed.status == DigestStatus.RETRYING
    [posted_run] = [r for r in run_due(db, settings, bot, local(19, 8, 40)) if r.kind == DigestKind.MANUAL]
    assert posted_run.status == DigestStatus.LATE
    [posted] = [m for m in slack.posts(SLACK_CHANNEL) if m["metadata"]["event_payload"]["slot_key"] == pressed.slot_key]
    assert posted["blocks"][0]["text"]["text"] == "Test launch · Wed 14:37"
    assert posted["blocks"][1]["elements"][0]["text"].endswith(" · sent late: Slack did not take it at the time")
    assert posted_run.text == posted["text"] and posted["text"].startswith("Test launch · Wed 14:37 · sent late: ")
    assert (posted_run.window_start, posted_run.window_end) == (pressed.window_start, pressed.window_end)
    # Posted at once, or within its five minutes, it is a digest of now, not a late one.
    on_time = digests.send_now(db, launch, settings=settings, now=local(19, 9, 10), sender=bot, sleep=lambda s: None)
    assert on_time.status == DigestStatus.SENT and "sent late" not in str(on_time.blocks)


def test_sending_by_hand_again_replaces_the_one_slack_did_not_take(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Send now during a Slack outage said "will retry"; the lead (or `tally digest send`) sent again once
    Slack was back, and the scheduler's retry then posted the first one too, with older numbers: the
    same digest two or three times in the channel."""
    log(db, launch, "send", at=local(18, 10))
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    first = digests.send_now(
        db, launch, settings=settings, now=local(18, 14, 0), sender=bot, sleep=lambda s: None, max_pause=2.0
    )
    assert first.status == DigestStatus.RETRYING
    counted = REGISTRY.get_sample_value("tally_digest_runs_total", {"status": "replaced"}) or 0
    second = digests.send_now(db, launch, settings=settings, now=local(18, 14, 5), sender=bot, sleep=lambda s: None)
    assert REGISTRY.get_sample_value("tally_digest_runs_total", {"status": "replaced"}) == counted + 1
    assert second.status == DigestStatus.SENT and second.window_start == first.window_start
    done = run_due(db, settings, bot, local(18, 14, 30))
    assert [r for r in done if r.kind == DigestKind.MANUAL] == []
    by_hand = [
        m for m in slack.posts(SLACK_CHANNEL) if m["metadata"]["event_payload"]["slot_key"].split(":")[1] == "manual"
    ]
    assert [m["metadata"]["event_payload"]["slot_key"] for m in by_hand] == [second.slot_key]
    statuses = {r.slot_key: r.status for r in runs(db)}
    assert statuses[first.slot_key] == DigestStatus.REPLACED and statuses[second.slot_key] == DigestStatus.SENT


def by_hand_bot(slack: FakeSlack) -> BotSender:
    """The sender of the Digests page and `tally digest send`: it does not wait out Slack's rate limits."""
    return BotSender(token=SLACK_TOKEN, base_url=slack.api_url, sleep=lambda s: None, rate_limit_retries=0)


def press_send_now(db: Database, settings: Settings, slack: FakeSlack, launch: Launch, at: dt.datetime) -> DigestRun:
    return digests.send_now(
        db,
        launch,
        settings=settings,
        now=at,
        sender=by_hand_bot(slack),
        sleep=lambda s: None,
        max_pause=digests.BY_HAND_MAX_PAUSE,
    )


def stored_by_a_5xx_and_not_checked(db: Database, settings: Settings, slack: FakeSlack, launch: Launch) -> DigestRun:
    """Send now at 10:00: Slack stores the digest but answers 500, and the look in the channel fails too."""
    slack.queue("chat.postMessage", Reply(500, {"ok": False, "error": "internal_error"}, store=True))
    slack.queue("conversations.history", Reply(503, {"ok": False, "error": "service_unavailable"}))
    with time_machine.travel(local(18, 10), tick=False):  # Slack's ts for the message
        first = press_send_now(db, settings, slack, launch, local(18, 10))
    assert first.status == DigestStatus.RETRYING and first.maybe_posted
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    return first


def test_send_now_after_a_send_now_whose_process_died_looks_for_it_even_when_the_takeover_could_not(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """A Send now's worker posted, then died before saving; the scheduler took the claim over while Slack's
    history could not be read, and left it waiting unmarked: the next Send now replaced it unlooked and
    the channel had the digest twice."""
    pressed = local(18, 10)
    with db.transaction() as session:
        start, end = digests._by_hand(session, launch, pressed)
        run_id = digests._insert(
            session,
            launch,
            slot_key=f"{launch.id}:manual:died-after-posting",
            kind=DigestKind.MANUAL,
            slot_at=end,
            window_start=start,
            status=DigestStatus.PENDING,
            now=pressed,
        )
        claimed = session.get(DigestRun, run_id)
    assert claimed is not None
    stored = digests._store_content(db, claimed, launch, now=pressed, settings=settings, late=False)
    with time_machine.travel(pressed, tick=False):
        by_hand_bot(slack).post(channel=SLACK_CHANNEL, text=stored.text, blocks=stored.blocks, slot_key=stored.slot_key)
    slack.queue("conversations.history", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 4)
    taken = [r for r in run_due(db, settings, bot, local(18, 10, 11), check_alerts=False) if r.id == run_id]
    assert [(r.status, r.maybe_posted) for r in taken] == [(DigestStatus.RETRYING, True)]
    again = press_send_now(db, settings, slack, launch, local(18, 10, 12))
    assert again.id == run_id and again.status == DigestStatus.SENT  # found there, recorded, nothing new
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_webhook_digest_sent_again_after_a_look_is_not_held_for_a_look_a_webhook_cannot_make(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    """The page asks the lead to look in Slack before sending a webhook's digest again; a rate limit then
    left it waiting still marked "may be in Slack", and every Send now after was refused (409) until the
    scheduler's retry, asking for a look at a channel a webhook cannot read."""
    hook = WebhookSender(url=slack.webhook_url, sleep=lambda s: None, rate_limit_retries=0)
    by_hand: dict[str, Any] = {
        "settings": settings,
        "sender": hook,
        "sleep": lambda s: None,
        "max_pause": digests.BY_HAND_MAX_PAUSE,
    }
    slack.queue("webhook", Reply(500, "internal_error", store=True))
    first = digests.send_now(db, launch, now=local(18, 10), **by_hand)
    assert first.status == DigestStatus.FAILED and first.maybe_posted
    slack.queue("webhook", Reply(429, "rate_limited", {"Retry-After": "30"}))
    again = digests.send_again(db, first.id or 0, now=local(18, 10, 5), **by_hand)
    assert again.status == DigestStatus.RETRYING and not again.maybe_posted
    latest = digests.send_now(db, launch, now=local(18, 10, 6), **by_hand)
    assert latest.status == DigestStatus.SENT and latest.id != first.id


def test_send_now_again_after_a_failure_that_posted_records_that_one_and_posts_nothing_new(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    """The page said "will retry"; the lead pressed Send now again, which marked the waiting digest
    replaced without looking and posted a second one: the channel had the digest twice."""
    first = stored_by_a_5xx_and_not_checked(db, settings, slack, launch)
    [stored] = slack.posts(SLACK_CHANNEL)
    again = press_send_now(db, settings, slack, launch, local(18, 10, 1))
    assert (again.id, again.status, again.slack_ts, again.error) == (first.id, DigestStatus.SENT, stored["ts"], None)
    assert again.sent_at is not None and again.sent_at - local(18, 10) < dt.timedelta(seconds=1)  # when Slack got it
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    assert [(r.kind, r.status) for r in runs(db)] == [(DigestKind.MANUAL, DigestStatus.SENT)]
    assert run_due(db, settings, by_hand_bot(slack), local(18, 10, 30)) == []  # nothing left to retry


def test_send_now_again_while_slack_cannot_be_checked_is_refused_and_the_waiting_one_looks_first(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    first = stored_by_a_5xx_and_not_checked(db, settings, slack, launch)
    slack.queue("conversations.history", Reply(503, {"ok": False, "error": "service_unavailable"}))
    with pytest.raises(Conflict) as refused:
        press_send_now(db, settings, slack, launch, local(18, 10, 1))
    assert refused.value.code == "digest_may_be_posted"
    assert refused.value.message == (
        "Nothing was sent: the digest sent by hand at 10:00 may already be in #launch, and Slack could not be "
        "checked (service_unavailable). Look in the channel: if it is not there, send that digest from the "
        "Digests page, or leave it to its retry at 10:02."
    )
    [waiting] = runs(db)
    assert (waiting.id, waiting.status, waiting.maybe_posted) == (first.id, DigestStatus.RETRYING, True)
    assert waiting.next_attempt_at == first.next_attempt_at and waiting.error == first.error
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    assert first.next_attempt_at is not None
    [retried] = run_due(db, settings, by_hand_bot(slack), first.next_attempt_at)
    assert retried.id == first.id and retried.status == DigestStatus.SENT
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_send_now_again_replaces_a_failure_that_may_have_posted_once_the_channel_shows_it_did_not(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    server_error = Reply(500, {"ok": False, "error": "internal_error"})
    slack.queue("chat.postMessage", server_error, server_error)  # not stored; looked for in between
    first = press_send_now(db, settings, slack, launch, local(18, 10))
    assert first.status == DigestStatus.RETRYING and first.maybe_posted
    looks = len(slack.attempts("conversations.history"))
    second = press_send_now(db, settings, slack, launch, local(18, 10, 1))
    assert second.status == DigestStatus.SENT and second.id != first.id
    assert len(slack.attempts("conversations.history")) == looks + 1
    assert [m["metadata"]["event_payload"]["slot_key"] for m in slack.posts(SLACK_CHANNEL)] == [second.slot_key]
    assert {r.slot_key: r.status for r in runs(db)}[first.slot_key] == DigestStatus.REPLACED


def test_a_try_that_cannot_have_posted_after_a_look_found_nothing_is_replaced_without_looking_again(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    """A 500 may have posted; the look found nothing, and the next try was refused by a rate limit,
    which posts nothing: the digest is not in Slack, so sending again needs no look."""
    slack.queue(
        "chat.postMessage",
        Reply(500, {"ok": False, "error": "internal_error"}),
        Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "600"}),
    )
    first = press_send_now(db, settings, slack, launch, local(18, 10))
    assert first.status == DigestStatus.RETRYING and not first.maybe_posted
    looks = len(slack.attempts("conversations.history"))
    second = press_send_now(db, settings, slack, launch, local(18, 10, 1))
    assert second.status == DigestStatus.SENT and len(slack.attempts("conversations.history")) == looks
    assert {r.slot_key: r.status for r in runs(db)}[first.slot_key] == DigestStatus.REPLACED


def test_a_digest_by_hand_links_to_its_own_window_to_the_second(
    db: Database, settings: Settings, launch: Launch
) -> None:
    """Its window ends when it is sent, seconds and all; the link cut it to the minute, so the page it
    opened counted 1 where the digest said 3."""
    sent_at = local(18, 14, 37) + dt.timedelta(seconds=42, microseconds=250)
    for at in (local(18, 14, 20) + dt.timedelta(seconds=5), local(18, 14, 37) + dt.timedelta(seconds=10), sent_at):
        log(db, launch, "send", at=at - dt.timedelta(microseconds=100))
    content = digests.preview(db, launch, settings=settings, now=sent_at)
    assert content.window is not None
    start, end = (dt.datetime.fromisoformat(moment) for moment in content.window)
    assert end == sent_at
    with db.session() as session:
        linked = tallies.tally(session=session, launch=launch, start=start, end=end)
    assert linked.total == content.window_total == 3


def test_preview_composes_without_storing(db: Database, settings: Settings, launch: Launch) -> None:
    log(db, launch, "send", at=local(18, 10))
    content = digests.preview(db, launch, settings=settings, now=local(18, 11))
    assert content.window_total == 1 and runs(db) == []


def test_a_preview_at_a_digest_time_shows_that_digest_not_an_empty_window(
    db: Database, settings: Settings, bot: BotSender, launch: Launch
) -> None:
    """`tally digest preview --now <a slot>` after the scheduler had sent that slot's digest showed
    "09:00–09:00" and no enquiries."""
    log(db, launch, "send", at=local(18, 10))
    log(db, launch, "send", at=local(18, 12))
    [noon] = run_due(db, settings, bot, due(18, 13))
    content = digests.preview(db, launch, settings=settings, now=local(18, 13))
    assert content.window_label == digests.window_label(launch, noon.window_start, noon.window_end)
    assert content.window_total == 2


def two_day_launch(db: Database, slug: str) -> Launch:
    """A launch of 18 and 19 November, next to the fixture's (which runs for weeks)."""
    return make_launch(
        db,
        slug=slug,
        hypotheses=("send",),
        slack_channel=SLACK_CHANNEL,
        starts_on=dt.date(2026, 11, 18),
        ends_on=dt.date(2026, 11, 19),
    )


def test_a_digest_by_hand_after_the_launch_ended_covers_it_up_to_its_end(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """A closing tally sent the morning after: the preview said "day 3 of 2" and counted a window
    running past the launch's end into the day it was sent."""
    ended = two_day_launch(db, "ended")
    run_due(db, settings, bot, due(19, 16))
    log(db, ended, "send", at=local(19, 20))
    end = local(20, 0)
    content = digests.preview(db, ended, settings=settings, now=local(20, 9))
    assert (content.day_number, content.launch_days) == (2, 2)
    assert content.window == (
        local(19, 16).astimezone(OSLO).isoformat(timespec="minutes"),
        end.astimezone(OSLO).isoformat(timespec="minutes"),
    )
    assert content.window_total == 1
    sent = digests.send_now(db, ended, settings=settings, now=local(20, 9), sender=bot, sleep=lambda s: None)
    assert sent.status == DigestStatus.SENT and (sent.window_start, sent.window_end) == (local(19, 16), end)


def test_the_last_evening_of_a_launch_gets_a_closing_digest(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """The last scheduled digest was the last day's 16:00: the enquiries of that evening never reached
    Slack, and the product team's last tally was short by them."""
    ending = two_day_launch(db, "ending")
    run_due(db, settings, bot, due(19, 16))
    for hour in (17, 20, 23):
        log(db, ending, "send", at=local(19, hour))
    assert run_due(db, settings, bot, local(19, 23, 59)) == []
    [closing] = run_due(db, settings, bot, local(20, 0, 1))
    assert closing.status == DigestStatus.SENT and closing.kind == DigestKind.SCHEDULED
    assert (closing.window_start, closing.window_end) == (local(19, 16), local(20, 0))
    posted = str(slack.posts(SLACK_CHANNEL)[-1]["blocks"])
    assert "final tally" in posted and "day 2 of 2" in posted and "*3* in this window" in posted
    assert run_due(db, settings, bot, due(20, 9)) == [], "once"
    # By hand the morning after, as Preview shows: that last window again, not an empty one.
    by_hand = digests.send_now(db, ending, settings=settings, now=local(20, 9), sender=bot, sleep=lambda s: None)
    assert (by_hand.window_start, by_hand.window_end) == (local(19, 16), local(20, 0))
    assert "*3* in this window" in str(slack.posts(SLACK_CHANNEL)[-1]["blocks"])


def test_a_closed_launchs_digest_left_waiting_still_goes_out(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """Slack was down at the launch's end, and a lead then closed the launch: its final tally, waiting
    to be retried, stayed "will retry" for good (only live launches' runs were taken up again), and so
    did a claim on it whose process died. It was composed while the launch was live: it is its record."""
    ending = two_day_launch(db, "ending")
    for slot in (due(19, 9), due(19, 13), due(19, 16)):
        run_due(db, settings, bot, slot)
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    [closing] = run_due(db, settings, bot, local(20, 0, 1))
    assert closing.status == DigestStatus.RETRYING and closing.next_attempt_at is not None
    _edit_launch(db, settings, ending, local(20, 0, 2), status=LaunchStatus.CLOSED)
    # Taken up by a process that died before it posted: its claim is left behind.
    assert digests._take_over(db, closing, expect=DigestStatus.RETRYING, now=closing.next_attempt_at) is not None
    assert run_due(db, settings, bot, closing.next_attempt_at + dt.timedelta(minutes=5)) == []
    [sent] = run_due(db, settings, bot, closing.next_attempt_at + digests.STALE_CLAIM + dt.timedelta(minutes=1))
    assert (sent.id, sent.status) == (closing.id, DigestStatus.LATE)
    final = slack.posts(SLACK_CHANNEL)[-1]
    assert final["blocks"][0]["text"]["text"] == "Test launch · final tally"
    assert len(slack.posts(SLACK_CHANNEL)) == 4
    # And one still waiting when the launch was closed is retried at its time.
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    other = two_day_launch(db, "other")
    [waiting] = run_due(db, settings, bot, local(20, 0, 1), launch_ids=[other.id])
    _edit_launch(db, settings, other, local(20, 0, 2), status=LaunchStatus.CLOSED)
    assert waiting.next_attempt_at is not None
    [retried] = run_due(db, settings, bot, waiting.next_attempt_at)
    assert (retried.id, retried.status) == (waiting.id, DigestStatus.SENT)


def test_a_launch_set_back_to_draft_keeps_its_waiting_digest_until_it_goes_live_again(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Put off or paused, a launch's digest waiting for Slack is not posted meanwhile (a closed launch's is)."""
    slack.queue("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "600"}))
    [waiting] = run_due(db, settings, bot, due(18, 9))
    assert waiting.status == DigestStatus.RETRYING and waiting.next_attempt_at is not None
    _edit_launch(db, settings, launch, local(18, 9, 1), status=LaunchStatus.DRAFT)
    assert run_due(db, settings, bot, waiting.next_attempt_at) == []
    assert slack.posts(SLACK_CHANNEL) == [] and [r.status for r in runs(db)] == [DigestStatus.RETRYING]
    _edit_launch(db, settings, launch, local(18, 9, 20), status=LaunchStatus.LIVE)
    sent = [r for r in run_due(db, settings, bot, local(18, 9, 21)) if r.id == waiting.id]
    assert [r.status for r in sent] == [DigestStatus.LATE] and len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_midnight_digest_time_sends_none_at_the_start_and_counts_the_evening_as_today(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """With 00:00 among the digest times, the first went out at the launch's very start ("0 enquiries
    (00:00–00:00)"), and each next midnight's said "0 today" of the evening it covered."""
    midnight = make_launch(
        db,
        slug="midnight",
        hypotheses=("send",),
        slack_channel=SLACK_CHANNEL,
        starts_on=dt.date(2026, 11, 18),
        ends_on=dt.date(2026, 11, 19),
        digest_times=["00:00", "16:00"],
    )
    assert run_due(db, settings, bot, local(18, 0, 1)) == []  # nothing to say at the start
    run_due(db, settings, bot, due(18, 16))
    for hour in (17, 20):
        log(db, midnight, "send", at=local(18, hour))
    [at_midnight] = run_due(db, settings, bot, local(19, 0, 1))
    assert (at_midnight.window_start, at_midnight.window_end) == (local(18, 16), local(19, 0))
    with db.session() as session:
        content = digests.compose(
            session,
            midnight,
            window_start=at_midnight.window_start,
            window_end=at_midnight.window_end,
            slot_at=at_midnight.slot_at,
            now=local(19, 0, 1),
            base_url="http://x",
        )
    assert (content.window_total, content.today_total) == (2, 2)


def test_the_closing_digest_is_next_after_the_last_days_last_digest_and_is_never_missed(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """A missed closing digest said "the next digest covers its enquiries": there is none after it."""
    ending = two_day_launch(db, "ending")
    assert schedule.next_slot(ending, local(19, 17)) == local(20, 0), "the pages say when it comes"
    assert schedule.next_slot(ending, local(20, 0)) is None
    run_due(db, settings, bot, due(19, 16))
    log(db, ending, "send", at=local(19, 20))
    [late] = run_due(db, settings, bot, due(20, 2))  # down from before midnight to two hours after
    assert late.status == DigestStatus.LATE and (late.window_start, late.window_end) == (local(19, 16), local(20, 0))
    assert "*1* in this window" in str(slack.posts(SLACK_CHANNEL)[-1]["blocks"])


def test_cli_send_says_a_digest_slack_did_not_take_is_kept_and_when_it_is_retried(
    db: Database, slack: FakeSlack, launch: Launch
) -> None:
    """It said "Not sent (retrying): …" and exited 1, so operators sent it again: each a post once Slack
    was back. And it waited out Slack's rate limit, minutes at a terminal, where the page does not."""
    env = {"TALLY_DATABASE_URL": db.url, "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_API_URL": slack.api_url}
    slack.queue("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "600"}))
    result = CliRunner().invoke(cli, ["digest", "send", launch.slug], env=env)
    assert result.exit_code == 1
    assert "Not sent yet: " in result.output and "tries again at " in result.output, result.output
    assert "Sending again replaces it." in result.output


def test_cli_send_refuses_to_guess_when_the_one_sent_before_may_be_in_slack(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    """`tally digest send` said "Sending again replaces it." of a digest Slack may have stored."""
    first = stored_by_a_5xx_and_not_checked(db, settings, slack, launch)
    env = {"TALLY_DATABASE_URL": db.url, "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_API_URL": slack.api_url}
    slack.queue("conversations.history", Reply(503, {"ok": False, "error": "service_unavailable"}))
    refused = CliRunner().invoke(cli, ["digest", "send", launch.slug], env=env)
    assert refused.exit_code == 1
    assert refused.output.startswith("Nothing was sent: the digest sent by hand at ") and (
        "may already be in #launch, and Slack could not be checked (service_unavailable)" in refused.output
    ), refused.output
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    found = CliRunner().invoke(cli, ["digest", "send", launch.slug], env=env)
    assert found.exit_code == 0 and found.output.startswith("Sent to #launch"), found.output
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    assert [(r.id, r.status) for r in runs(db)] == [(first.id, DigestStatus.SENT)]


def test_cli_run_due_preview_and_send(db: Database, slack: FakeSlack, launch: Launch) -> None:
    log(db, launch, "bankid", at=local(18, 10))
    env = {"TALLY_DATABASE_URL": db.url, "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_API_URL": slack.api_url}
    runner = CliRunner()
    due = runner.invoke(cli, ["digest", "run-due", "--now", "2026-11-18T09:00:00+01:00"], env=env)
    assert due.exit_code == 0, due.output
    # Composed as at --now; posted (and claimed) by the real clock, which says it went out late.
    assert due.output.splitlines()[0] == f"{launch.id}:2026-11-18T08:00Z: late"
    # Claimed by the real clock: stamped at --now, hours ago, a running scheduler took the claim for abandoned.
    [claimed] = [run.claimed_at for run in runs(db)]
    assert claimed.replace(tzinfo=claimed.tzinfo or dt.UTC) > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    preview = runner.invoke(cli, ["digest", "preview", launch.slug, "--now", "2026-11-18T14:00:00+01:00"], env=env)
    assert preview.exit_code == 0 and "Test launch · 14:00" in preview.output
    # A past moment's links open its own window ("since the digest" would be worked out when opened).
    assert "?from=2026-11-18T09%3A00%2B01%3A00&to=2026-11-18T14%3A00%2B01%3A00" in preview.output, preview.output
    sent = runner.invoke(cli, ["digest", "send", launch.slug], env=env)
    assert sent.exit_code == 0 and "Sent to #launch (2026-11-18 09:00 – 20" in sent.output, sent.output
    assert ", Europe/Oslo)." in sent.output  # the launch's own time, with both ends' dates
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "not_in_channel"}))
    refused = runner.invoke(cli, ["digest", "send", launch.slug], env=env)
    assert refused.exit_code == 1 and "invite it there" in refused.output
    bad = runner.invoke(cli, ["digest", "run-due", "--now", "2026-11-18T13:00:00"], env=env)
    assert bad.exit_code == 2 and "needs a UTC offset" in bad.output
    # A pass in the future would record the digests until then as sent or missed: refused, and nothing done.
    before = runs(db)
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    future = runner.invoke(cli, ["digest", "run-due", "--now", tomorrow], env=env)
    assert future.exit_code == 2 and "is in the future" in future.output
    assert runs(db) == before
    # Counting as if it were tomorrow kept today's slots as over, without what is logged in them meanwhile.
    with db.session() as session:
        kept_before = session.execute(sa.select(sa.func.count()).select_from(SlotTally)).scalar_one()
    looked = runner.invoke(cli, ["digest", "preview", launch.slug, "--now", tomorrow], env=env)
    assert looked.exit_code == 2 and "counts of 15-minute slots not over yet" in looked.output
    # Only read: the refusal gives the preview's own reason, not a pass's ("recorded as sent or missed").
    assert "a preview sends and records nothing" in looked.output and "sent or missed" not in looked.output
    with db.session() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(SlotTally)).scalar_one() == kept_before
    erase = runner.invoke(cli, ["notes", "purge", "--now", tomorrow], env=env | {"TALLY_NOTE_RETENTION_DAYS": "1"})
    assert erase.exit_code == 2 and "is in the future" in erase.output


@pytest.mark.parametrize("verb", [["digest", "preview"], ["digest", "run-due"], ["notes", "purge"]])
def test_the_help_of_now_says_a_future_moment_is_refused(verb: list[str]) -> None:
    """It said "As if it were this moment", and any moment 5 minutes ahead or more ended in exit 2."""
    shown = CliRunner().invoke(cli, [*verb, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    said = " ".join(shown.output.replace("│", " ").split())
    assert "a past moment, ISO 8601 with offset" in said and "a future one is refused" in said, said
    assert "if it were this moment" not in said


def test_a_past_moment_run_by_hand_posts_its_digest_as_late_and_checks_no_spike_alerts(
    db: Database, slack: FakeSlack, launch: Launch
) -> None:
    """`run-due --now` with Wednesday's 13:00, run on Thursday morning, posted "Test launch · 13:00: 15
    enquiries … 15 today" with no word of lateness (the Digests page said sent late), and Wednesday
    morning's spike alert as if it were happening."""
    for minute in range(0, 42, 3):
        log(db, launch, "send", at=local(18, 10, minute))
    env = {"TALLY_DATABASE_URL": db.url, "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_API_URL": slack.api_url}
    with time_machine.travel(local(19, 10, 59), tick=False):
        spike = CliRunner().invoke(cli, ["digest", "run-due", "--now", "2026-11-18T12:55:00+01:00"], env=env)
        due = CliRunner().invoke(cli, ["digest", "run-due", "--now", "2026-11-18T13:00:00+01:00"], env=env)
    assert spike.exit_code == 0 and "spike alerts: not checked, as --now is in the past" in spike.output
    assert due.exit_code == 0, due.output
    assert f"{launch.id}:2026-11-18T12:00Z: late" in due.output
    [posted] = slack.posts(SLACK_CHANNEL)  # the digest, and no alert
    assert posted["text"].startswith("Test launch · Wed 13:00 · sent late: 14 enquiries"), posted["text"]
    assert posted["blocks"][1]["elements"][0]["text"].endswith(" · sent late: Launch Tally was not running at the time")
    [run] = [r for r in runs(db) if r.status != DigestStatus.MISSED]
    assert run.status == DigestStatus.LATE and run.text == posted["text"]
    # A pass as it happens checks them: the spike was not claimed by the look back, so it goes out.
    with time_machine.travel(local(18, 12, 56), tick=False):
        now_pass = CliRunner().invoke(cli, ["digest", "run-due", "--now", "2026-11-18T12:55:00+01:00"], env=env)
    assert "spike alerts" not in now_pass.output and "alert " in now_pass.output, now_pass.output
    assert len(slack.posts(SLACK_CHANNEL)) == 2


def test_a_digest_retried_past_its_five_minutes_says_it_is_late_as_the_page_records(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Composed on time, refused by Slack, posted by the pass 8 minutes later: recorded "sent late",
    posted as on time (only digests past the grace period were composed again)."""
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    [waiting] = run_due(db, settings, bot, due(18, 13))
    assert waiting.status == DigestStatus.RETRYING
    [again] = run_due(db, settings, bot, local(18, 13, 8))
    assert again.status == DigestStatus.LATE
    [posted] = slack.posts(SLACK_CHANNEL)
    assert posted["blocks"][0]["text"]["text"] == "Test launch · 13:00"
    assert posted["blocks"][1]["elements"][0]["text"].endswith(" · sent late: Slack did not take it at the time")


def test_a_late_digest_posted_after_midnight_names_its_day_however_little_late(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack
) -> None:
    """ "22:00" posted at 00:30 reads as tonight's, though it is less than three hours late."""
    make_launch(db, digest_times=["22:00"], slack_channel=SLACK_CHANNEL, hypotheses=("send",))
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    run_due(db, settings, bot, due(18, 22))
    [again] = run_due(db, settings, bot, local(19, 0, 30))
    assert again.slot_at == local(18, 22) and again.status == DigestStatus.LATE
    assert slack.posts(SLACK_CHANNEL)[0]["blocks"][0]["text"]["text"] == "Test launch · Wed 22:00"


def test_a_process_that_died_mid_send_is_taken_over_without_a_double_post(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    # A claim whose process posted, then died before recording it.
    run = digests.claim_slot(db, launch, local(18, 13), now=local(18, 13))
    assert run is not None
    with db.session() as session:
        content = digests.compose(
            session,
            launch,
            window_start=run.window_start,
            window_end=run.window_end,
            slot_at=run.slot_at,
            now=local(18, 13),
            base_url="http://x",
        )
    from app.slack import blocks as slack_blocks

    text, blocks = slack_blocks.build(content)
    bot.post(channel=SLACK_CHANNEL, text=text, blocks=blocks, slot_key=run.slot_key)
    assert run_due(db, settings, bot, local(18, 13, 5)) == []  # still someone else's
    [taken] = run_due(db, settings, bot, due(18, 13) + digests.STALE_CLAIM + dt.timedelta(seconds=1))
    assert taken.id == run.id and taken.status in (DigestStatus.SENT, DigestStatus.LATE)
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_digest_posted_on_time_whose_outcome_was_not_saved_is_recorded_as_posted_then(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Posted at 13:00:40, then the database went away before the outcome was saved. The pass that took
    the run over found it in Slack and did not post it again, but had first composed it anew as late:
    the Digests page said "sent late 13:26 · Launch Tally was not running", Slack the on-time digest."""
    run = digests.claim_slot(db, launch, local(18, 13), now=local(18, 13))
    assert run is not None
    run = digests._store_content(db, run, launch, now=local(18, 13), settings=settings, late=False)
    with time_machine.travel(local(18, 13) + dt.timedelta(seconds=40), tick=False):  # Slack's ts for the message
        bot.post(channel=SLACK_CHANNEL, text=run.text, blocks=run.blocks, slot_key=run.slot_key)
    [taken] = run_due(db, settings, bot, due(18, 13) + digests.STALE_CLAIM + dt.timedelta(minutes=10))
    assert taken.id == run.id and taken.status == DigestStatus.SENT
    assert taken.sent_at is not None and taken.sent_at - (local(18, 13) + dt.timedelta(seconds=40)) < dt.timedelta(
        seconds=1
    )
    assert taken.text == run.text and "sent late" not in taken.text
    assert len(slack.posts(SLACK_CHANNEL)) == 1


def test_an_enquiry_still_committing_at_a_digests_time_is_in_that_digest(
    pg: object, db: Database, settings: Settings, launch: Launch
) -> None:
    """An enquiry received at 08:59:58 whose batch was still in flight at 09:00 (a PostgreSQL wait, a
    replica's clock behind) committed after the 09:00 digest was composed: in no window, as the next
    one starts at 09:00, and the digests no longer added up to "since launch". (PostgreSQL: on SQLite
    the open write transaction holds the lock the digest's claim needs.)"""
    for minute in (10, 20, 30):
        log(db, launch, "send", at=local(18, 8, minute))
    ids = hypothesis_ids(db, launch)
    in_flight = NewEnquiry(
        launch_id=launch.id or 0,
        channel="phone",
        segment="private",
        created_at=local(18, 9) - dt.timedelta(seconds=2),
        hypothesis_ids=(ids["send"],),
        note=None,
        agent_id=None,
    )
    with db.write_connection() as connection:
        insert_many(connection, [in_flight])
        # Its transaction is still open: passes within the settle margin compose nothing yet.
        for moment in (local(18, 9), local(18, 9) + dt.timedelta(seconds=20)):
            assert run_due(db, settings, None, moment) == []
    [nine] = run_due(db, settings, None, due(18, 9))
    log(db, launch, "send", at=local(18, 10))
    [one] = run_due(db, settings, None, due(18, 13))
    assert "*4* in this window" in str(nine.blocks)
    assert "*1* in this window" in str(one.blocks) and "*5* since launch" in str(one.blocks)
    assert digests.settle(settings) == dt.timedelta(seconds=35)  # the default statement timeout, 10 s


def test_three_processes_on_one_postgresql_send_one_message(
    pg: object, db: Database, slack: FakeSlack, launch: Launch
) -> None:
    """Three `tally digest run-due` processes at the same moment, one database: one message."""
    import subprocess
    import sys

    if db.is_sqlite:
        pytest.skip("this run uses SQLite; the PostgreSQL run covers it")
    env = {**os.environ, "TALLY_DATABASE_URL": db.url, "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_API_URL": slack.api_url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "app", "digest", "run-due", "--now", "2026-11-18T09:00:00+01:00"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    # Composed as at --now, posted by the real clock: weeks after its slot, so "late".
    assert sum("late" in out for out in outputs) == 1
    assert [r.status for r in runs(db)] == [DigestStatus.LATE]


def test_a_long_rate_limit_goes_to_a_later_pass_instead_of_blocking(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, pauses: list[float], launch: Launch
) -> None:
    slack.queue("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "600"}))
    [run] = run_due(db, settings, bot, due(18, 9))
    assert run.status == DigestStatus.RETRYING and pauses == []
    assert run.next_attempt_at is not None and run.next_attempt_at >= local(18, 9) + dt.timedelta(seconds=600)


def test_a_webhook_rate_limit_waits_as_long_as_slack_asks(
    db: Database, settings: Settings, slack: FakeSlack, pauses: list[float], launch: Launch
) -> None:
    """A webhook's 429 used to be taken for a one-second wait whatever Retry-After said: three requests
    in two seconds, then another burst two minutes later, against Slack asking for ten minutes."""
    hook = WebhookSender(url=slack.webhook_url, sleep=pauses.append)
    slack.queue("webhook", Reply(429, "rate_limited", {"Retry-After": "600"}))
    [run] = run_due(db, settings, hook, due(18, 9))
    assert run.status == DigestStatus.RETRYING and pauses == []
    assert run.next_attempt_at is not None and run.next_attempt_at >= local(18, 9) + dt.timedelta(seconds=600)


def test_a_rate_limit_on_the_look_before_resending_waits_as_long_as_slack_asks(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, pauses: list[float], launch: Launch
) -> None:
    slack.queue("chat.postMessage", Reply(drop=True))  # may have been posted: look before sending again
    slack.queue("conversations.history", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "600"}))
    [run] = run_due(db, settings, bot, due(18, 9))
    assert run.status == DigestStatus.RETRYING
    assert run.next_attempt_at is not None and run.next_attempt_at >= local(18, 9) + dt.timedelta(seconds=600)


def test_a_claim_taken_over_during_a_long_pass_is_not_posted_again_by_the_process_that_lost_it(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Slack kept refusing (rate limits), so this pass ran past STALE_CLAIM; another replica took the
    claim for a dead process's, looked, found nothing and posted. The first process must not post too."""
    moments = [due(18, 9)]
    other_pass: list[list[DigestRun]] = []

    def clock() -> dt.datetime:
        return moments[-1]

    def slow_pause(seconds: float) -> None:
        moments.append(moments[-1] + digests.STALE_CLAIM + dt.timedelta(minutes=1))
        if not other_pass:  # another replica's minute pass, meanwhile
            other_pass.append(digests.run_due(db, settings=settings, now=clock(), sender=bot, sleep=lambda s: None))

    refused = Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    slack.queue("chat.postMessage", *[refused] * 4)  # the first attempt, and slack-sdk's three retries of it
    digests.run_due(db, settings=settings, now=due(18, 9), sender=bot, sleep=slow_pause, clock=clock)
    assert [r.status for r in other_pass[0]] == [DigestStatus.LATE]
    assert len(slack.posts(SLACK_CHANNEL)) == 1
    assert [r.status for r in runs(db)] == [DigestStatus.LATE]


def test_sending_a_retrying_digest_by_hand_looks_first(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    slack.queue("chat.postMessage", Reply(drop=True, store=True), Reply(drop=True), Reply(drop=True))
    # The first attempt posted (connection dropped); the check then could not reach Slack.
    slack.queue("conversations.history", Reply(drop=True), Reply(drop=True), Reply(drop=True))
    [run] = run_due(db, settings, bot, due(18, 9))
    assert run.status == DigestStatus.RETRYING
    again = digests.send_again(
        db, run.id or 0, settings=settings, now=local(18, 9, 1), sender=bot, sleep=lambda s: None
    )
    assert again.status == DigestStatus.SENT and len(slack.posts(SLACK_CHANNEL)) == 1


def test_a_webhook_digest_abandoned_mid_send_is_left_for_a_person(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    hook = WebhookSender(url=slack.webhook_url, sleep=lambda s: None)
    run = digests.claim_slot(db, launch, local(18, 9), now=local(18, 9))
    assert run is not None
    # Composed: its process may have posted it before it died.
    digests._store_content(db, run, launch, now=local(18, 9), settings=settings, late=False)
    [taken] = run_due(db, settings, hook, due(18, 9) + digests.STALE_CLAIM + dt.timedelta(seconds=1))
    assert taken.status == DigestStatus.FAILED and "look in Slack" in (taken.error or "")
    assert slack.webhook_messages == []


def test_a_webhook_digest_whose_process_died_before_composing_it_is_sent(
    db: Database, settings: Settings, slack: FakeSlack, launch: Launch
) -> None:
    """Claimed, then the process died before composing: nothing can have reached Slack, but the run
    failed with "The connection dropped after the digest was sent … look in Slack"."""
    hook = WebhookSender(url=slack.webhook_url, sleep=lambda s: None)
    run = digests.claim_slot(db, launch, local(18, 9), now=local(18, 9))
    assert run is not None and run.blocks == []
    [taken] = run_due(db, settings, hook, due(18, 9) + digests.STALE_CLAIM + dt.timedelta(seconds=1))
    assert (taken.id, taken.status, taken.error) == (run.id, DigestStatus.LATE, None)
    assert len(slack.webhook_messages) == 1 and "sent late" in slack.webhook_messages[0]["text"]


def test_a_channel_name_that_cannot_be_looked_up_says_what_to_do(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    slack.queue("chat.postMessage", Reply(drop=True))
    slack.queue("conversations.list", Reply(200, {"ok": False, "error": "missing_scope"}))
    [run] = run_due(db, settings, bot, due(18, 9))
    assert run.status == DigestStatus.FAILED
    assert "channel's ID" in (run.error or "") and "channels:read" in (run.error or "")
    assert slack.posts(SLACK_CHANNEL) == []


def test_slots_before_a_launch_went_live_are_not_missed(
    db: Database, settings: Settings, bot: BotSender, launch: Launch
) -> None:
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.digests_due_from = local(18, 14)
    done = digests.run_due(db, settings=settings, now=due(18, 16), sender=bot, sleep=lambda s: None)
    assert [(r.slot_at, r.status) for r in done] == [(local(18, 16), DigestStatus.SENT)]


def _edit_launch(db: Database, settings: Settings, launch: Launch, now: dt.datetime, **fields: Any) -> None:
    """An edit as the editor and an upload make it: the launch's file, changed and imported."""
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        spec = hypothesis_sets.launch_to_file(stored, launches.hypotheses_of(session, stored)).model_copy(update=fields)
        hypothesis_sets.import_launch(
            session,
            spec,
            actor="lena",
            now=now,
            default_timezone=settings.timezone,
            default_digest_times=settings.digest_times,
        )


@pytest.mark.parametrize(
    "fields",
    [
        {"digest_times": ["09:00", "12:50", "16:00"]},  # 13:00 moved earlier, after it was sent
        {"timezone": "Europe/London"},  # every slot an hour later in UTC: today's 09:00 and 13:00 again
        {"starts_on": dt.date(2026, 11, 17)},  # a day earlier: its slots were never due
    ],
    ids=["time", "timezone", "start"],
)
def test_a_schedule_edited_after_slots_passed_sends_no_digest_for_slots_that_were_not_in_it(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch, fields: dict[str, Any]
) -> None:
    """A slot the edit put in the past was never in the schedule when its time came: it is neither
    posted late (a second digest over a window already posted) nor recorded as missed."""
    for slot in (local(18, 9), local(18, 13)):
        [run] = run_due(db, settings, bot, slot + DIGEST_SETTLE)
        assert run.status == DigestStatus.SENT
    _edit_launch(db, settings, launch, local(18, 13, 10), **fields)
    assert run_due(db, settings, bot, local(18, 13, 11)) == []
    run_due(db, settings, bot, local(18, 13, 45))  # past the grace period of the slots the edit made
    assert [(r.slot_at, r.status) for r in runs(db)] == [
        (local(18, 9), DigestStatus.SENT),
        (local(18, 13), DigestStatus.SENT),
    ]  # nothing "missed"
    assert len(slack.posts(SLACK_CHANNEL)) == 2
    # The next slot of the new schedule is sent as ever (London's 13:00 is 14:00 in Oslo).
    [next_one] = run_due(db, settings, bot, local(18, 14, 1) if "timezone" in fields else local(18, 16, 1))
    assert next_one.status == DigestStatus.SENT


def test_the_first_digest_after_the_start_was_moved_later_covers_from_the_new_start(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """Digests went out on the 18th; then a lead moved the release to the 20th. The first digest after
    it covered "18 Nov 13:00 – 20 Nov 09:00 · day 1" and said "↑1 on the one before", where the guide
    says the first digest covers from midnight on the release day."""
    for moment in (local(18, 10), local(18, 14), local(19, 10), local(20, 8)):
        log(db, launch, "send", at=moment)
    for slot in (due(18, 9), due(18, 13)):
        run_due(db, settings, bot, slot)
    _edit_launch(db, settings, launch, local(18, 13, 10), starts_on=dt.date(2026, 11, 20))
    [first] = run_due(db, settings, bot, due(20, 9))
    assert (first.window_start, first.window_end) == (local(20, 0), local(20, 9))
    text = " ".join(str(b) for b in first.blocks)
    assert "Enquiries 00:00–09:00 · day 1 of" in text
    assert "*1* in this window · *1* today · *1* since launch" in text  # nothing before it to compare with


def test_a_digest_outside_the_launchs_new_dates_is_refused_or_failed_with_why_instead_of_crashing(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """The 09:00 digest was a dry run and the 13:00 one waited for Slack when a lead moved the release to
    the 20th. Sending the dry run crashed (a window ending before the launch's start: HTTP 500), and the
    retry crashed at every pass, staying "sending" for good."""
    [dry] = run_due(db, settings, None, due(18, 9))
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    [waiting] = run_due(db, settings, bot, due(18, 13))
    assert (dry.status, waiting.status) == (DigestStatus.DRY_RUN, DigestStatus.RETRYING)
    _edit_launch(db, settings, launch, local(18, 14), starts_on=dt.date(2026, 11, 20))
    [failed] = run_due(db, settings, bot, local(18, 14, 5))
    assert (failed.id, failed.status) == (waiting.id, DigestStatus.FAILED)
    assert (failed.error or "").startswith(
        "Not sent: this digest covers 2026-11-18 09:00 – 2026-11-18 13:00, outside the launch's dates since they "
        "were changed (2026-11-20 – "
    )
    assert (failed.error or "").endswith(
        "so its enquiries count nowhere now. Use Send now for the launch's numbers as they are; to send this one, "
        "move the dates back first."
    )
    for run in (dry, failed):
        with pytest.raises(Conflict, match="move the dates back first") as refused:
            digests.send_again(db, run.id or 0, settings=settings, now=local(19, 10), sender=bot)
        assert refused.value.code == "digest_outside_dates"
    assert slack.posts(SLACK_CHANNEL) == []
    assert [r.status for r in runs(db)] == [DigestStatus.DRY_RUN, DigestStatus.FAILED]


def test_a_digest_retried_after_the_start_moved_into_its_window_says_the_window_that_counts(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """The 09:00 digest of the 19th (window: 16:00 the day before to 09:00) waited for Slack when a lead
    moved the release to the 19th. Posted late, its counts were clipped to the new start while its label
    still said "Wed 16:00 – Thu 09:00 · day 2", the day before the new release day included."""
    for moment in (local(18, 17), local(19, 8)):
        log(db, launch, "send", at=moment)
    run_due(db, settings, bot, due(18, 16))
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 3)
    [waiting] = run_due(db, settings, bot, due(19, 9))
    assert (waiting.status, waiting.window_start) == (DigestStatus.RETRYING, local(18, 16))
    _edit_launch(db, settings, launch, local(19, 9, 10), starts_on=dt.date(2026, 11, 19))
    [sent] = run_due(db, settings, bot, local(19, 11))
    assert (sent.status, sent.window_start, sent.window_end) == (DigestStatus.LATE, local(19, 0), local(19, 9))
    text = " ".join(str(b) for b in sent.blocks)
    assert "Enquiries 00:00–09:00 · day 1 of" in text
    assert "*1* in this window" in text


def test_a_last_day_moved_into_the_past_still_gets_its_closing_digest_late(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """At 08:00 on the 20th a lead set the last day to the 19th: no final tally was posted, and the
    evening of the 19th after 16:00 was in no digest."""
    for moment in (local(19, 15), local(19, 17), local(19, 22)):
        log(db, launch, "send", at=moment)
    for slot in (due(19, 9), due(19, 13), due(19, 16)):
        run_due(db, settings, bot, slot)
    _edit_launch(db, settings, launch, local(20, 8), ends_on=dt.date(2026, 11, 19))
    [closing] = run_due(db, settings, bot, local(20, 8, 1))
    assert (closing.window_start, closing.window_end) == (local(19, 16), local(20, 0))
    assert closing.status == DigestStatus.LATE
    posted = slack.posts(SLACK_CHANNEL)[-1]
    assert posted["blocks"][0]["text"]["text"] == "Test launch · final tally"
    assert "*2* in this window" in str(posted["blocks"])  # 17:00 and 22:00
    # Not "Launch Tally was not running": it ran; the end was moved.
    assert posted["blocks"][1]["elements"][0]["text"].endswith(" · sent late")


def test_a_last_day_moved_behind_a_digest_already_posted_repeats_no_window(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """The 09:00 digest of the 20th reported the evening before: a closing digest at midnight, after
    the last day was moved to the 19th, would post the same window again."""
    for slot in (due(19, 16), due(20, 9)):
        run_due(db, settings, bot, slot)
    _edit_launch(db, settings, launch, local(20, 10), ends_on=dt.date(2026, 11, 19))
    assert run_due(db, settings, bot, local(20, 10, 1)) == []
    assert len(slack.posts(SLACK_CHANNEL)) == 2


def test_a_digest_composed_after_a_relink_counts_it_though_its_pass_read_the_launch_before(
    db: Database, settings: Settings, launch: Launch
) -> None:
    """A scheduler pass reads the live launches once, then composes each digest in turn (Slack's
    pauses in between): a re-link committed meanwhile raised the launch's counts version, and the
    digest, counting with the copy read before, still said "other 5" and the new hypothesis unseen."""
    ids = [log(db, launch, at=local(18, 7, i), note="Widget borte") for i in range(5)]
    held = fresh(db, launch)  # as the pass read it
    with db.session() as session:  # kept and remembered at that version, as the scheduler does
        tallies.keep_closed_days(session, held, now=local(19, 9))
    with db.transaction() as session:
        relink.promote(
            session, fresh(db, launch), key="w", text="Widget borte", enquiry_ids=ids, actor="lena", now=local(19, 8)
        )
    run = digests.claim_slot(db, held, local(19, 9), now=local(19, 9))
    assert run is not None
    _, blocks = digests.message(db, run, held, now=local(19, 9), settings=settings)
    sections = [str((b.get("text") or {}).get("text")) for b in blocks]
    assert not any(s.startswith("*Not seen") and "Widget borte" in s for s in sections)
    assert "*Other* (not on the list): *0*" in "\n".join(sections)


def test_a_slot_due_before_and_after_an_edit_is_still_sent_when_the_scheduler_missed_it(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch
) -> None:
    """The scheduler did not run at 13:00; at 13:03 a lead moved 16:00 to 17:00. 13:00 was in the
    schedule before and after: it is sent, not dropped along with the slots the edit moved."""
    [run] = run_due(db, settings, bot, due(18, 9))
    assert run.status == DigestStatus.SENT
    _edit_launch(db, settings, launch, local(18, 13, 3), digest_times=["09:00", "13:00", "17:00"])
    [late] = run_due(db, settings, bot, local(18, 13, 4))
    assert (late.slot_at, late.status) == (local(18, 13), DigestStatus.SENT)  # within its five minutes


def test_a_webhook_never_retries_what_may_have_been_posted(
    db: Database, settings: Settings, slack: FakeSlack, pauses: list[float], launch: Launch
) -> None:
    hook = WebhookSender(url=slack.webhook_url, sleep=pauses.append)
    # Two attempts refused by rate limits (slack-sdk retries each three times), then a 500 after storing.
    slack.queue("webhook", *[Reply(429, "rate_limited", {"Retry-After": "0"}) for _ in range(8)])
    slack.queue("webhook", Reply(500, "internal_error", store=True))
    [run] = run_due(db, settings, hook, due(18, 9))
    assert run.status == DigestStatus.FAILED and "look in Slack" in (run.error or "")
    assert len(slack.webhook_messages) == 1
    assert run_due(db, settings, hook, local(18, 9, 30)) == []  # and no later pass posts it again


def composed_at_13(
    db: Database, settings: Settings, launch: Launch, *, now: dt.datetime | None = None
) -> slack_blocks.DigestContent:
    """The 13:00 digest of the 19th, its window 09:00–13:00, composed at 13:00 (or at ``now``, late)."""
    with db.session() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        return digests.compose(
            session,
            stored,
            window_start=local(19, 9),
            window_end=local(19, 13),
            slot_at=local(19, 13),
            now=now or local(19, 13),
            base_url=settings.base_url,
            late=now is not None,
        )


def test_a_digest_counts_what_was_logged_in_its_window_today_and_since_launch(
    db: Database, settings: Settings, launch: Launch
) -> None:
    log(db, launch, "receipts", at=local(18, 10))  # day 1
    log(db, launch, "send", at=local(19, 8))  # the 13:00 digest's previous window (05:00–09:00)
    log(db, launch, note="before the window", at=local(19, 8, 30))
    log(db, launch, "send", at=local(19, 10))
    log(db, launch, "send", channel="chat", at=local(19, 11))
    log(db, launch, "bankid", "send", at=local(19, 12))  # one enquiry, two hypotheses
    for n in range(6):
        log(db, launch, channel="email", note=f"note {n}", at=local(19, 12, 10 + n))
    log(db, launch, "bankid", at=local(19, 13))  # the window is [09:00, 13:00): next digest's
    content = composed_at_13(db, settings, launch)
    assert (content.slot_label, content.window_label) == ("13:00", "09:00–13:00")
    assert (content.day_number, content.launch_days) == (2, (launch.ends_on - launch.starts_on).days + 1)
    assert (content.window_total, content.previous_total) == (9, 2)
    assert (content.today_total, content.since_launch_total) == (11, 12)
    lines = {line.key: (line.count, line.previous, line.today) for line in content.hypotheses}
    assert lines == {"send": (3, 1, 4), "bankid": (1, 0, 1), "receipts": (0, 0, 0)}
    assert (content.other, content.other_previous) == (6, 1)
    assert content.notes == ["note 5", "note 4", "note 3", "note 2", "note 1"]  # newest five, window only
    assert content.channels == {"phone": 2, "chat": 1, "email": 6, "social": 0}
    assert content.url == f"{settings.base_url}/launches/test-launch"
    text, _ = slack_blocks.build(content)
    assert "note 0" not in text and "before the window" not in text


def test_a_hypothesis_added_since_the_previous_window_began_has_no_arrow(
    db: Database, settings: Settings, launch: Launch
) -> None:
    """Added at 10:00, four enquiries by 13:00: the digest said "4 ↑4 Brand new thing" against the
    05:00–09:00 window it did not exist in, while the launch page showed "–" for it."""
    with db.transaction() as session:
        session.add(
            Hypothesis(
                launch_id=launch.id or 0, key="new", text="Brand new thing", sort_order=9, created_at=local(19, 10)
            )
        )
    log(db, launch, "send", at=local(19, 8))
    for minute in range(4):
        log(db, launch, "new", "send", at=local(19, 11, minute))
    content = composed_at_13(db, settings, launch)
    lines = {line.key: (line.count, line.previous) for line in content.hypotheses}
    assert lines["new"] == (4, None) and lines["send"] == (4, 1)
    _, blocks = slack_blocks.build(content)
    shown = [line for block in blocks for line in str(block.get("text", {}).get("text", "")).splitlines()]
    [line] = [line for line in shown if "Brand new thing" in line]
    assert "↑" not in line and "*4*" in line, line
    [line] = [line for line in slack_blocks.plain_text(content).splitlines() if "Brand new thing" in line]
    assert "↑" not in line, line


def test_a_digest_composed_after_its_window_leaves_out_hypotheses_added_since(
    db: Database, settings: Settings, launch: Launch
) -> None:
    """The 13:00 digest sent again at 17:00 (or retried, or previewed for a past --now) listed one added at
    15:00 as "not seen in this window" with its expected rate, where the page shows "–" for it then."""
    with db.transaction() as session:
        session.add(
            Hypothesis(
                launch_id=launch.id or 0,
                key="widget",
                text="Widget vanished",
                sort_order=9,
                expected_per_day=5,
                created_at=local(19, 15),
            )
        )
    log(db, launch, "send", at=local(19, 10))
    late = composed_at_13(db, settings, launch, now=local(19, 17))
    assert "widget" not in {line.key for line in late.hypotheses}
    assert "send" in {line.key for line in late.hypotheses}
    assert "Widget vanished" not in slack_blocks.plain_text(late)


def test_attempts_within_a_pass_pause_2_then_8_seconds(db: Database, settings: Settings, launch: Launch) -> None:
    nowhere = BotSender(token=SLACK_TOKEN, base_url="http://127.0.0.1:9/api/", sleep=lambda s: None)
    slept: list[float] = []
    done = digests.run_due(db, settings=settings, now=due(18, 13), sender=nowhere, sleep=slept.append)
    [run] = [r for r in done if r.status != DigestStatus.MISSED]
    assert run.status == DigestStatus.RETRYING and run.attempts == digests.ATTEMPTS_PER_PASS
    assert slept == [2.0, 8.0]  # between the three attempts, none after the last


def test_an_unreachable_slack_is_given_up_after_max_passes_with_growing_pauses(
    db: Database, settings: Settings, launch: Launch
) -> None:
    nowhere = BotSender(token=SLACK_TOKEN, base_url="http://127.0.0.1:9/api/", sleep=lambda s: None)
    now = due(18, 13)
    [run] = run_due(db, settings, nowhere, now)
    waits: list[int] = []
    passes = 1
    while run.status == DigestStatus.RETRYING:
        assert passes < digests.MAX_PASSES, f"still retrying after {passes} passes ({run.attempts} attempts)"
        assert run.next_attempt_at is not None
        waits.append(round((run.next_attempt_at - now).total_seconds() / 60))
        now = run.next_attempt_at
        # Later slots fall due meanwhile and fail the same way: follow this one.
        run = next(r for r in run_due(db, settings, nowhere, now) if r.id == run.id)
        passes += 1
    assert waits == [2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30]  # minutes, doubling up to half an hour
    assert passes == digests.MAX_PASSES
    assert run.status == DigestStatus.FAILED
    assert run.attempts == digests.MAX_PASSES * digests.ATTEMPTS_PER_PASS
    assert f"Gave up after {run.attempts} attempts" in (run.error or "")
    assert "Send it from the Digests page" in (run.error or "")


def cannot_compose(monkeypatch: Any, when: Callable[[DigestRun, Launch], bool]) -> None:
    """Composing a digest raises for the runs ``when`` picks (a fault no real launch is known to cause)."""
    real = digests._store_content

    def failing(db: Database, run: DigestRun, launch: Launch, **kw: Any) -> DigestRun:
        if when(run, launch):
            raise ValueError("cannot be composed")
        return real(db, run, launch, **kw)

    monkeypatch.setattr(digests, "_store_content", failing)


def test_one_abandoned_run_that_cannot_be_finished_does_not_hold_up_the_others(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch, monkeypatch: Any
) -> None:
    """A pass of the scheduler resumes abandoned runs in order; one that raised used to end the pass."""
    stuck = digests.claim_slot(db, launch, local(18, 9), now=local(18, 9))  # first in line
    second = make_launch(db, slug="second-launch")
    waiting = digests.claim_slot(db, second, local(18, 13), now=local(18, 13))
    assert stuck is not None and waiting is not None
    cannot_compose(monkeypatch, lambda run, launch: run.id == stuck.id)
    later = local(18, 13) + digests.STALE_CLAIM + dt.timedelta(seconds=1)
    done = run_due(db, settings, bot, later)
    assert waiting.id in [r.id for r in done] and stuck.id not in [r.id for r in done]


def test_one_launch_whose_digest_cannot_be_composed_does_not_hold_up_the_others(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, launch: Launch, monkeypatch: Any
) -> None:
    """A new slot that raised ended the whole pass: the launches after it got no digest, and the CLI a
    traceback. Now the others go on, the failure is named, and a later pass takes the slot over."""
    second = make_launch(db, slug="second-launch")
    real = digests._store_content
    cannot_compose(monkeypatch, lambda run, launch_: launch_.id == launch.id)
    failed: list[str] = []
    done = run_due(db, settings, bot, due(18, 9), failed=failed)
    assert [(r.launch_id, r.status) for r in done] == [(second.id, DigestStatus.SENT)]
    assert failed == [launch.slug]
    env = {"TALLY_DATABASE_URL": db.url, "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_API_URL": slack.api_url}
    cli_pass = CliRunner().invoke(cli, ["digest", "run-due", "--now", local(18, 13).isoformat()], env=env)
    assert cli_pass.exit_code == 1, cli_pass.output
    assert f"{launch.slug}: digests failed" in cli_pass.output and f"{second.id}:" in cli_pass.output

    monkeypatch.setattr(digests, "_store_content", real)
    later = local(18, 13) + digests.STALE_CLAIM + dt.timedelta(seconds=1)
    resumed = run_due(db, settings, bot, later)
    # (The CLI's claim of 13:00 was stamped by the real clock: abandoned only minutes from now.)
    assert (launch.id, local(18, 9), DigestStatus.LATE) in {(r.launch_id, r.slot_at, r.status) for r in resumed}
