"""What nobody expected, in a real browser: a lead picks the rising theme, saves the prefilled
hypothesis (two clicks), and the launch page counts the moved enquiries under it.

The live server counts at the real clock, so the notes are placed relative to now: a week of
everyday notes before yesterday, and the new theme in the last hours.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import col, select

from app.db import Database
from app.models import Enquiry, EnquiryHypothesis, Hypothesis, Launch
from app.recording.record import NewEnquiry, insert_many
from tests.browser.conftest import LiveServer, sign_in, wait_until
from tests.conftest import People
from tests.factories import make_launch

SLUG = "widget-launch"
EVERYDAY = ["Glemt passordet til appen", "Spør om faktura for november", "Lurer på gebyrer i utlandet"]
WIDGET = [
    "Widgeten på hjemskjermen forsvant",
    "widgeten på hjemskjermen er borte",
    "Finner ikke widget på hjemskjermen",
    "Hvor er widgeten på hjemskjermen?",
    "widgeten på hjemskjermen mangler",
    "Widgeten på hjemskjermen forsvant etter oppdatering",
]


@pytest.fixture
def launch(db: Database, people: People) -> Launch:
    now = dt.datetime.now(dt.UTC)
    launch = make_launch(
        db,
        slug=SLUG,
        name="Widget launch",
        hypotheses=("login",),
        starts_on=(now - dt.timedelta(days=8)).date(),
        ends_on=(now + dt.timedelta(days=14)).date(),
    )
    everyday = itertools.cycle(EVERYDAY)
    items = [(now - dt.timedelta(days=7) + dt.timedelta(hours=4 * i), next(everyday)) for i in range(30)]
    items += [(now - dt.timedelta(minutes=10 * (i + 1)), text) for i, text in enumerate(WIDGET)]
    with db.write_connection() as connection:
        insert_many(
            connection,
            [
                NewEnquiry(launch_id=launch.id or 0, channel="phone", segment="private", created_at=at, note=text)
                for at, text in items
            ],
        )
    return launch


def moved_to(db: Database, key: str) -> int:
    with db.session() as session:
        hypothesis = session.exec(select(Hypothesis).where(Hypothesis.key == key)).first()
        if hypothesis is None:
            return 0
        links = session.exec(select(EnquiryHypothesis).where(EnquiryHypothesis.hypothesis_id == hypothesis.id)).all()
        still_other = session.exec(
            select(Enquiry).where(col(Enquiry.id).in_([link.enquiry_id for link in links]), col(Enquiry.is_other))
        ).all()
        return len(links) if not still_other else -1


def test_a_rising_theme_becomes_a_hypothesis_in_two_clicks(
    page: Page, live_server: LiveServer, db: Database, launch: Launch, people: People
) -> None:
    sign_in(page, people.lead.username, f"/launches/{SLUG}/other")
    expect(page.get_by_role("heading", name="What nobody expected", level=1)).to_be_visible()
    row = page.locator("tr.theme").filter(has_text="widgeten på hjemskjermen").first
    expect(row).to_be_visible()
    expect(row.locator("td.num").first).to_have_text("6")

    row.get_by_role("link", name="New hypothesis from these").click()  # 1
    expect(page.get_by_role("heading", name="New hypothesis from “Other”", level=1)).to_be_visible()
    expect(page.get_by_label("Key")).to_have_value("widgeten-pa-hjemskjermen")
    expect(page.get_by_label("Text")).to_have_value("Widgeten på hjemskjermen")
    expect(page.locator('input[name="enquiry"]:checked')).to_have_count(6)

    page.get_by_role("button", name="Save hypothesis").click()  # 2
    expect(page.locator("#relink-done")).to_contain_text("6 enquiries moved onto it")
    assert wait_until(lambda: moved_to(db, "widgeten-pa-hjemskjermen") == 6, message="6 enquiries moved", page=page)

    page.locator("#relink-done").get_by_role("link", name="See the counts").click()
    expect(page.get_by_role("heading", name="Widget launch", level=1)).to_be_visible()
    page.goto(f"/launches/{SLUG}?range=launch")  # the whole launch: right whatever the hour
    counted = page.locator('#hypothesis-table tr[data-series="widgeten-pa-hjemskjermen"]')
    expect(counted).to_contain_text("Widgeten på hjemskjermen")
    expect(counted.locator("td.num").first).to_have_text("6")
    expect(page.locator("#total-other")).to_have_text("30")  # the everyday notes stay "other"
