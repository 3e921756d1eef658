"""People's text in a digest is shown as typed: a ``*``, ``_``, ``~`` or backtick in a hypothesis's
text, a theme's phrase (a slice of notes), the launch's name or a channel's is never bold, italics,
strikethrough or code, in Slack (through slack-sdk, to the fake Slack server) or on the app's Digests
page, which shows what Slack got. The notification's fallback text stays plain and readable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import select

from app.config import Settings
from app.db import Database
from app.models import Hypothesis
from app.slack.blocks import WORD_JOINER, typed
from app.slack.client import BotSender
from tests.conftest import SLACK_CHANNEL
from tests.factories import log, make_launch
from tests.fakes.slack_server import FakeSlack
from tests.test_digests import due, local, run_due

SEND = "Can't find the *Send* button in `Pay`"
THEME_NOTE = "Widget ~home~ vanished"


def _mrkdwn(blocks: list[dict[str, Any]]) -> str:
    texts = []
    for block in blocks:
        if block.get("text", {}).get("type") == "mrkdwn":
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return "\n".join(texts)


def test_typed_marks_reach_slack_and_the_digests_page_as_typed(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, web: Any, people: Any
) -> None:
    launch = make_launch(
        db,
        name="Pay_App *5*",
        hypotheses=("send", "bankid"),
        slack_channel=SLACK_CHANNEL,
        starts_on=dt.date(2026, 11, 18),
        channels=["phone", "chat_*vip*"],
    )
    with db.transaction() as session:
        for h in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)):
            h.created_at = local(17, 12)
            if h.key == "send":
                h.text = SEND
            session.add(h)
    for day in (18, 19):  # the notes before: what a theme is new against
        for hour in range(8, 20):
            for minute in (0, 20, 40):
                log(db, launch, at=local(day, hour, minute), note="Asked about limits abroad")
    for minute in range(6):
        log(db, launch, at=local(20, 10, minute), note=THEME_NOTE, channel="chat_*vip*")
    log(db, launch, "send", at=local(20, 10, 30))
    for day in (18, 19, 20):
        for hour in (9, 13, 16):
            if (day, hour) < (20, 13):
                run_due(db, settings, bot, due(day, hour))
    run_due(db, settings, bot, due(20, 13))
    post = slack.posts(SLACK_CHANNEL)[-1]
    mrkdwn = _mrkdwn(post["blocks"])
    # Each typed mark is held between word joiners, where Slack does not read it as formatting; with
    # the (invisible) joiners taken out, every character is as typed.
    for shown in (SEND, "Widget ~home~ vanished", "Pay_App *5*", "chat_*vip*"):
        assert typed(shown) in mrkdwn, shown
        assert shown not in mrkdwn, f"{shown!r} reaches mrkdwn with live marks"
    assert "New in" in mrkdwn, "the theme is in the digest"
    assert WORD_JOINER not in post["text"], "the notification reads as plain text"
    assert "Pay_App *5*" in post["text"] and SEND in post["text"]

    page = web("lena").get("/launches/test-launch/digests").text
    assert WORD_JOINER not in page, "the Digests page shows the text as typed, without the joiners"
    assert "<strong>Send</strong>" not in page and "<code>Pay</code>" not in page
    assert "Can&#39;t find the *Send* button in `Pay`" in page
    assert "Widget ~home~ vanished" in page and "Open Pay_App *5* in Launch Tally" in page
