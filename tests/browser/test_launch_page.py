"""The launch page and the drill-down in a real browser: the chart is drawn (its pixels are
checked), range and filter links change the numbers, rows and legend entries show and hide
lines, the table sorts, the page fits a 390-pixel phone, the numbers refresh by themselves, and
nothing breaks the Content-Security-Policy.

The launch began four days ago (Oslo), at real time: the live server counts at the real clock.
Screenshots are kept in test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlmodel import select

from app.db import Database
from app.models import Hypothesis, Launch
from tests.browser.conftest import ARTIFACTS, LiveServer, sign_in
from tests.conftest import People
from tests.factories import log, make_launch

OSLO = ZoneInfo("Europe/Oslo")
SLUG = "board-launch"
PAGE = f"/launches/{SLUG}"
TEXTS = {
    "a": "Contacts missing after the update",
    "b": "Card no longer shown",
    "c": "Dark mode hard to read",
}


# --- the launch and its enquiries ------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    launch: Launch
    db: Database
    today: dt.date
    now: dt.datetime


def local(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=OSLO).astimezone(dt.UTC)


@pytest.fixture
def board(db: Database, people: People) -> Board:
    """Four days of a launch before today: "a" 5, 4, 3 and 2 times (phone), "b" 6 times a day on the
    first two days only (chat), "c" and "other" once a day. Today, so far: "a" twice and "other" once.
    In all: a 16, b 12, c 4, other 5; 37 enquiries."""
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(OSLO).date()
    first = today - dt.timedelta(days=4)
    launch = make_launch(
        db,
        slug=SLUG,
        name="PayApp 5.0",
        hypotheses=tuple(TEXTS),
        starts_on=first,
        ends_on=today + dt.timedelta(days=10),
        digest_times=["09:00", "13:00", "16:00"],
    )
    with db.transaction() as session:
        for hypothesis in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)):
            hypothesis.text = TEXTS[hypothesis.key]
            hypothesis.created_at = local(first, 0) - dt.timedelta(days=7)
            hypothesis.expected_per_day = {"a": 3}.get(hypothesis.key)
            session.add(hypothesis)
    for offset in range(4):
        day = first + dt.timedelta(days=offset)
        for hour in (8, 9, 11, 14, 15)[: 5 - offset]:
            log(db, launch, "a", at=local(day, hour), channel="phone")
        if offset < 2:
            for hour in (10, 12, 13, 16, 17, 18):
                log(db, launch, "b", at=local(day, hour), channel="chat")
        log(db, launch, "c", at=local(day, 15), channel="email", segment="business")
        log(db, launch, at=local(day, 16), channel="chat", note=f"Note from day {offset + 1}")
    midnight = local(today, 0)
    for part in (0.5, 0.6):  # today, before now, whatever the time of day
        log(db, launch, "a", at=midnight + (now - midnight) * part, channel="phone")
    log(db, launch, at=midnight + (now - midnight) * 0.7, channel="chat", note="Asked about the widget")
    return Board(launch, db, today, now)


@pytest.fixture
def problems(page: Page) -> list[str]:
    """Console errors and uncaught exceptions (a CSP violation is a console error in Chromium)."""
    found: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning") and "favicon" not in message.text:
            found.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: found.append(f"pageerror: {error}"))
    return found


def open_page(page: Page, path: str, *, width: int = 1280, height: int = 900) -> None:
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, "kari", path)
    expect(page.locator("#chart-day canvas")).to_be_visible()


# --- reading pixels (PNG, decoded with the standard library) ---------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytearray]]:
    """Width, height and rows of RGBA pixels of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(line)
        previous = line
    if channels == 3:
        rows = [bytearray(b for i in range(0, stride, 3) for b in (*row[i : i + 3], 255)) for row in rows]
    return width, height, rows


def pixels_of(png: bytes, colour: str, tolerance: int = 40) -> int:
    """How many pixels are close to ``colour`` ("#rrggbb")."""
    target = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    width, _, rows = decode_png(png)
    count = 0
    for row in rows:
        for x in range(width):
            r, g, b = row[4 * x], row[4 * x + 1], row[4 * x + 2]
            if abs(r - target[0]) + abs(g - target[1]) + abs(b - target[2]) <= tolerance:
                count += 1
    return count


def colours(page: Page) -> dict[str, str]:
    data: dict[str, Any] = page.evaluate("JSON.parse(document.getElementById('chart-day-data').dataset.chart)")
    return {s["key"]: s["color"] for s in data["series"]}


def keep(page: Page, name: str, **options: Any) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"launch-page-{name}.png"
    page.screenshot(path=path, **options)
    return path


def chart_png(page: Page, name: str) -> bytes:
    ARTIFACTS.mkdir(exist_ok=True)
    return page.locator("#chart-day canvas").screenshot(path=ARTIFACTS / f"launch-page-{name}-chart.png")


# --- the tests -------------------------------------------------------------------------------


def test_the_chart_draws_the_lines_and_the_expected_rate(page: Page, board: Board, problems: list[str]) -> None:
    open_page(page, PAGE + "?range=launch")
    colour = colours(page)
    png = chart_png(page, "launch")
    assert pixels_of(png, colour["a"]) > 200  # its line, its points and its dashed expected line
    assert pixels_of(png, colour["b"]) > 100  # b is among the top five over the whole launch
    keep(page, "desktop", full_page=True)
    assert problems == []


def test_range_and_filter_links_change_the_numbers(page: Page, board: Board, problems: list[str]) -> None:
    open_page(page, PAGE)  # today, while the launch runs
    total = page.locator("#total-count")
    expect(total).to_have_text("3")
    page.get_by_role("link", name="Whole launch").click()
    expect(page).to_have_url(re.compile(r"\?range=launch$"))
    expect(total).to_have_text("37")
    page.get_by_role("group", name="Channel").get_by_role("link", name="phone").click()
    expect(page).to_have_url(re.compile(r"\?range=launch&channel=phone$"))
    expect(total).to_have_text("16")  # every "a"
    expect(page.locator('tr[data-series="b"] td').nth(1)).to_have_text("0")
    page.get_by_role("link", name="Yesterday").click()
    expect(page).to_have_url(re.compile(r"\?range=yesterday&channel=phone$"))
    expect(total).to_have_text("2")
    assert problems == []


def test_rows_and_legend_entries_show_and_hide_lines(page: Page, board: Board, problems: list[str]) -> None:
    open_page(page, PAGE + "?range=today")
    colour = colours(page)
    toggle_b = page.locator('#hypothesis-table tr[data-series="b"] .series-toggle')
    legend_b = page.locator('#chart-legend .legend-item[data-series="b"]')
    # b had no enquiries today, so it is not drawn at first.
    expect(toggle_b).to_have_attribute("aria-pressed", "false")
    expect(legend_b).to_have_attribute("aria-pressed", "false")
    assert pixels_of(chart_png(page, "b-hidden"), colour["b"]) < 10
    # A click on its row (not on its link) draws it…
    page.locator('#hypothesis-table tr[data-series="b"] td').nth(0).click()
    expect(toggle_b).to_have_attribute("aria-pressed", "true")
    expect(legend_b).to_have_attribute("aria-pressed", "true")
    assert pixels_of(chart_png(page, "b-shown"), colour["b"]) > 100
    # …and its legend entry hides it again.
    legend_b.click()
    expect(toggle_b).to_have_attribute("aria-pressed", "false")
    assert pixels_of(chart_png(page, "b-hidden-again"), colour["b"]) < 10
    assert problems == []


def test_the_table_sorts_by_any_column(page: Page, board: Board, problems: list[str]) -> None:
    open_page(page, PAGE + "?range=launch")
    rows = page.locator("#hypothesis-table tbody tr")
    page.get_by_role("button", name="Hypothesis", exact=True).click()
    expect(rows.first).to_have_attribute("data-series", "b")  # Card… before Contacts… before Dark…
    page.get_by_role("button", name="In range").click()
    expect(page.locator("#hypothesis-table th", has_text="In range")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_have_attribute("data-series", "a")  # 16, then b 12, c 4
    page.get_by_role("button", name="In range").click()
    expect(rows.first).to_have_attribute("data-series", "c")
    # Other and All stay at the foot.
    expect(page.locator("#hypothesis-table tfoot tr").last).to_have_attribute("data-series", "all")
    assert problems == []


def test_the_drill_down(page: Page, board: Board, problems: list[str]) -> None:
    open_page(page, PAGE + "?range=launch")
    page.get_by_role("link", name=TEXTS["b"]).click()
    expect(page).to_have_url(re.compile(r"/hypotheses/b\?range=launch$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(TEXTS["b"])
    expect(page.locator("#total-count")).to_have_text("12")
    expect(page.locator("#chart-day canvas")).to_be_visible()
    assert pixels_of(chart_png(page, "drilldown"), colours(page)["b"]) > 100
    expect(page.get_by_text("Note from day 2")).to_be_visible()  # "other" on a day b came up
    expect(page.get_by_text("Note from day 3")).to_have_count(0)  # b had none that day
    keep(page, "drilldown", full_page=True)
    assert problems == []


def test_a_phone_gets_the_whole_page_without_sideways_scrolling(page: Page, board: Board, problems: list[str]) -> None:
    open_page(page, PAGE + "?range=launch", width=390, height=844)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the phone"
    # The table scrolls inside its wrapper instead.
    wrap = page.locator("#hypothesis-table-wrap")
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
    box = page.locator("#chart-day canvas").bounding_box()
    assert box is not None and box["width"] <= 390
    keep(page, "phone", full_page=True)
    for part, locator in enumerate(("#charts", "#table-heading", ".legend-notes")):  # phone-sized views to look at
        page.locator(locator).scroll_into_view_if_needed()
        keep(page, f"phone-{part}")
    assert problems == []


def test_on_a_phone_the_latest_window_s_label_fits_in_norwegian(page: Page, board: Board, problems: list[str]) -> None:
    """The charts kept three font sizes right of the plot for the latest tick's label, centred on the plot's
    right edge: Norwegian's longer "lør. kl. 16:00" under the digest-window chart lost its end on a phone."""
    open_page(page, PAGE + "?range=launch", width=390, height=844)
    page.locator("#language-choice").select_option("nb")
    page.locator("form.language button").click()
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    for chart in ("chart-day", "chart-slot"):
        expect(page.locator(f"#{chart} canvas")).to_be_visible()
        room, half_label = page.evaluate(
            """(chart) => {
              const root = document.querySelector('#' + chart + ' .uplot');
              const plot = root.querySelector('.u-over').getBoundingClientRect();
              const data = JSON.parse(document.getElementById(chart + '-data').dataset.chart);
              const options = data.kind === 'day'
                ? { day: 'numeric', month: 'short', timeZone: data.timezone }
                : { weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false, timeZone: data.timezone };
              const latest = new Date(data.x[data.x.length - 1] * 1000);
              const label = new Intl.DateTimeFormat('nb-NO', options).format(latest);
              const context = document.createElement('canvas').getContext('2d');
              context.font = '12px system-ui, sans-serif';
              return [root.getBoundingClientRect().right - plot.right, context.measureText(label).width / 2];
            }""",
            chart,
        )
        assert room >= half_label, (chart, room, half_label)
    keep(page, "phone-nb-charts")
    assert problems == []


@pytest.mark.parametrize("chosen", ["yesterday", "since-digest"])
def test_the_shaded_range_takes_in_only_the_windows_it_touches(
    page: Page, board: Board, problems: list[str], chosen: str
) -> None:
    """Half the first digest window either side of the range: that window is the night's, 17 hours, and
    the band took in the points of the two windows before the range's first."""
    open_page(page, f"{PAGE}?range={chosen}")
    for chart in ("chart-day", "chart-slot"):
        expect(page.locator(f"#{chart} canvas")).to_be_visible()
        data = json.loads(page.locator(f"#{chart}-data").get_attribute("data-chart") or "{}")
        start, end = (float(v) for v in (page.locator(f"#{chart} .uplot").get_attribute("data-shaded") or "").split())
        low, high = data["highlight"]
        touched = [x for x, until in zip(data["x"], data["ends"], strict=True) if until > low and x < high]
        shaded = [x for x in data["x"] if start <= x <= end]
        assert touched and shaded == touched, (chart, chosen, shaded, touched)
    assert problems == []


def edge_brightness(png: bytes, x: int) -> float:
    """The mean of red, green and blue down column ``x`` of a screenshot (negative: from the right)."""
    width, _, rows = decode_png(png)
    channels = len(rows[0]) // width
    column = x % width
    return sum(sum(row[column * channels : column * channels + 3]) / 3 for row in rows) / len(rows)


def test_on_a_phone_the_table_shows_which_side_has_more(page: Page, board: Board, problems: list[str]) -> None:
    """On a phone the table showed two columns and nothing said there were more to scroll to."""
    open_page(page, PAGE + "?range=launch", width=390, height=844)
    wrap = page.locator("#hypothesis-table-wrap")
    wrap.scroll_into_view_if_needed()
    at_start = wrap.screenshot()
    wrap.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    page.wait_for_function("() => document.getElementById('hypothesis-table-wrap').scrollLeft > 0")
    at_end = wrap.screenshot()
    assert edge_brightness(at_start, -2) < edge_brightness(at_end, -2) - 10, "a shadow on the right: more there"
    assert edge_brightness(at_end, 2) < edge_brightness(at_end, 20) - 10, "at the end, the shadow is on the left"
    assert problems == []


def test_large_type_for_a_projector(page: Page, board: Board, problems: list[str]) -> None:
    open_page(page, PAGE + "?range=launch", width=1920, height=1080)
    page.get_by_role("button", name="Large type").click()
    expect(page.locator("html")).to_have_class(re.compile("large-type"))
    expect(page.get_by_role("button", name="Large type")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#chart-day canvas")).to_be_visible()
    keep(page, "projector")
    page.reload()  # remembered
    expect(page.locator("html")).to_have_class(re.compile("large-type"))
    assert problems == []


def test_the_numbers_refresh_by_themselves(
    page: Page, board: Board, live_server: LiveServer, problems: list[str]
) -> None:
    page.clock.install()  # htmx's 30-second poll runs on the page's timers, which the test moves on
    open_page(page, PAGE + "?range=today")
    expect(page.locator("#total-count")).to_have_text("3")
    page.locator('#hypothesis-table tr[data-series="b"] .series-toggle').click()  # the reader's choice stays
    log(board.db, board.launch, "b", at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5), channel="chat")
    before = page.get_by_role("button", name="Before")
    before.focus()  # a keyboard reader on a column's sort button: the refresh must not take the focus away
    with page.expect_response(lambda r: "range=today" in r.url and r.request.headers.get("hx-request") == "true"):
        page.clock.run_for(31_000)
    expect(page.locator("#total-count")).to_have_text("4")
    expect(page.get_by_role("button", name="Before")).to_be_focused()
    expect(page.locator('#hypothesis-table tr[data-series="b"] td').nth(1)).to_have_text("1")
    expect(page.locator('#hypothesis-table tr[data-series="b"] .series-toggle')).to_have_attribute(
        "aria-pressed", "true"
    )
    data = page.evaluate("JSON.parse(document.getElementById('chart-day-data').dataset.chart)")
    assert {s["key"]: s["values"] for s in data["series"]}["b"][-1] == 1
    expect(page.locator("#chart-day canvas")).to_have_count(1)  # drawn again, once
    assert problems == []


def test_past_twelve_lines_the_legend_and_the_table_show_the_dashes(
    page: Page, db: Database, people: People, problems: list[str]
) -> None:
    """The 13th hypothesis takes the 1st's colour again, dotted: its swatches show the dots (stripes of its
    colour, a dashed edge), so the legend tells the two apart as the lines do."""
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(OSLO).date()
    keys = tuple(f"h{n:02}" for n in range(13))
    launch = make_launch(
        db, slug="many", hypotheses=keys, starts_on=today - dt.timedelta(days=2), ends_on=today + dt.timedelta(days=5)
    )
    for key in keys:
        log(db, launch, key, at=local(today - dt.timedelta(days=1), 10), channel="phone")
    for hour in (11, 12, 13):  # the two most called, drawn at first: h12 three more, h00 one
        log(db, launch, "h12", at=local(today - dt.timedelta(days=1), hour), channel="phone")
    log(db, launch, "h00", at=local(today - dt.timedelta(days=1), 11), channel="phone")
    open_page(page, "/launches/many?range=launch")

    def swatch(selector: str) -> dict[str, str]:
        looks: dict[str, str] = page.locator(selector + " .swatch").evaluate(
            "el => { const s = getComputedStyle(el);"
            " return {image: s.backgroundImage, border: s.borderTopStyle, colour: s.borderTopColor}; }"
        )
        return looks

    for where in ("#chart-legend .legend-item", "#hypothesis-table .series-toggle"):
        first, thirteenth = swatch(f'{where}[data-series="h00"]'), swatch(f'{where}[data-series="h12"]')
        assert first["colour"] == thirteenth["colour"] == "rgb(0, 114, 178)", where
        assert first["image"] == "none" and first["border"] == "solid", (where, first)
        assert "repeating-linear-gradient" in thirteenth["image"] and thirteenth["border"] == "dashed", where
    keep(page, "past-twelve", full_page=False)
    assert problems == []


def refresh(page: Page) -> None:
    """Move the page's clock past htmx's 30-second poll, and wait for the new numbers."""
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.clock.run_for(31_000)
    page.wait_for_function("() => !document.querySelector('#numbers.htmx-request, #numbers.htmx-settling')")


def test_a_refresh_leaves_the_focus_on_the_link_or_the_table_it_was_on(
    page: Page, board: Board, problems: list[str]
) -> None:
    """The refresh swaps #numbers whole, and threw the keyboard's focus to the body when it was on a
    hypothesis's link or the table's scrolling region: they had no id for htmx to find again."""
    page.clock.install()
    open_page(page, PAGE + "?range=launch")
    page.get_by_role("link", name=TEXTS["b"]).focus()
    refresh(page)
    expect(page.get_by_role("link", name=TEXTS["b"])).to_be_focused()
    page.get_by_role("region", name="Hypotheses").focus()
    refresh(page)
    expect(page.get_by_role("region", name="Hypotheses")).to_be_focused()
    page.keyboard.press("Tab")  # and Tab goes on from there, not from the top of the page
    expect(page.locator("#sort-1")).to_be_focused()
    assert problems == []


@pytest.mark.parametrize("path", [PAGE, PAGE + "/hypotheses/a"])
def test_the_refresh_can_be_paused(page: Page, board: Board, path: str, problems: list[str]) -> None:
    """WCAG 2.2.2: numbers that change by themselves every 30 seconds can be held still."""
    page.clock.install()
    open_page(page, path + "?range=today")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.headers.get("hx-request") == "true" else None)
    total = page.locator("#total-count").inner_text()
    pause = page.get_by_role("button", name="Pause refreshing")
    updated = page.locator(".updated")
    expect(updated).to_contain_text("refresh by themselves every 30 seconds", use_inner_text=True)
    pause.click()
    expect(pause).to_have_attribute("aria-pressed", "true")
    # The line no longer promises a refresh that will not come.
    expect(updated).to_contain_text("Refreshing is paused", use_inner_text=True)
    expect(updated).not_to_contain_text("refresh by themselves", use_inner_text=True)
    log(board.db, board.launch, "a", at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5), channel="chat")
    page.clock.run_for(95_000)  # three polls' worth
    page.wait_for_timeout(100)  # a request the page would send has had the time to start
    assert asked == []
    expect(page.locator("#total-count")).to_have_text(total)
    pause.click()  # and again
    expect(pause).to_have_attribute("aria-pressed", "false")
    refresh(page)
    expect(page.locator("#total-count")).to_have_text(str(int(total) + 1))
    expect(updated).to_contain_text("refresh by themselves every 30 seconds", use_inner_text=True)
    expect(updated).not_to_contain_text("Refreshing is paused", use_inner_text=True)
    assert problems == []


def test_the_charts_numbers_are_on_the_page_as_tables(page: Page, board: Board, problems: list[str]) -> None:
    """The charts' text alternative said "the numbers are in the table below", but no table held the
    values per day or per digest window: now one does, built from the data the charts draw."""
    page.clock.install()
    open_page(page, PAGE + "?range=launch")
    for chart in ("#chart-day", "#chart-slot"):
        expect(page.locator(chart)).to_have_attribute("aria-details", "chart-data")
    page.get_by_text("Chart data as a table").click()
    for kind in ("day", "slot"):
        data = page.evaluate(f"JSON.parse(document.getElementById('chart-{kind}-data').dataset.chart)")
        table = page.get_by_role("table", name=re.compile("^Enquiries per " + ("day" if kind == "day" else "digest")))
        expect(table).to_be_visible()
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(len(data["x"]))
        columns = [s[part] for s in data["series"] for part in ("values", "expected") if part in s]
        cells = rows.evaluate_all("rows => rows.map(r => Array.from(r.querySelectorAll('td'), td => td.textContent))")
        expected = [["–" if c[i] is None else str(c[i]) for c in columns] for i in range(len(data["x"]))]
        assert cells == expected
    day_table = page.get_by_role("table", name="Enquiries per day, since the launch began")
    # Four days of "a": 5, 4, 3, 2, then today's 2 so far; its expected rate beside it.
    expect(day_table.locator("thead th").nth(1)).to_have_text(TEXTS["a"])
    expect(day_table.locator("thead th").nth(2)).to_have_text(TEXTS["a"] + " – expected")
    expect(day_table.locator("tbody tr td:nth-of-type(1)")).to_have_text(["5", "4", "3", "2", "2"])
    expect(day_table.locator("tbody tr").last.locator("th")).to_have_text(re.compile(r"\*$"))  # today, so far
    # A refresh keeps the tables open, and the focus on the one the reader was in.
    region = page.get_by_role("region", name="Enquiries per day, since the launch began")
    region.focus()
    refresh(page)
    expect(page.locator("#chart-data")).to_have_attribute("open", "")
    expect(region).to_be_focused()
    assert problems == []


def test_after_midnight_the_refresh_names_the_new_day(page: Page, board: Board, problems: list[str]) -> None:
    """The numbers switched to the new day at midnight under a line still naming the old one: htmx
    now swaps the line in (by its id) with each refresh."""
    page.clock.install()
    open_page(page, PAGE + "?range=today")
    said = page.locator("#range-said")
    today = board.today
    expect(said).to_contain_text(f"{today.day} {today:%b %Y}, 00:00 –")
    tomorrow = today + dt.timedelta(days=1)
    # The server's clock (time-machine, in this process) just past the next local midnight.
    with time_machine.travel(local(tomorrow, 0) + dt.timedelta(minutes=5), tick=True):
        refresh(page)
    day = f"{tomorrow.day} {tomorrow:%b %Y}"
    expect(said).to_contain_text(f"Today: {day}, 00:00 – {day}, 00:0")
    expect(page.locator("#range-said")).to_have_count(1)
    expect(page.locator("#total-count")).to_have_text("0")
    assert problems == []


def test_a_launch_s_first_day_is_drawn_in_the_middle_with_its_expected_rate(
    page: Page, db: Database, people: People, problems: list[str]
) -> None:
    """With one day of data the daily chart showed one dot at its left edge, and no expected rate at
    all (a dashed line needs two points): the day is now the middle of the chart, its expected rate
    a dashed line across it."""
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(OSLO).date()
    launch = make_launch(db, slug="first-day", name="First day", hypotheses=("a",), starts_on=today, ends_on=today)
    with db.transaction() as session:
        for hypothesis in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)):
            hypothesis.created_at = local(today, 0) - dt.timedelta(days=1)
            hypothesis.expected_per_day = 3
            session.add(hypothesis)
    midnight = local(today, 0)
    for part in (0.5, 0.6):
        log(db, launch, "a", at=midnight + (now - midnight) * part, channel="phone")
    open_page(page, "/launches/first-day?range=today")
    colour = colours(page)["a"]
    width, _, rows = decode_png(chart_png(page, "first-day"))
    target = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))

    def coloured(row: bytearray) -> list[int]:
        return [x for x in range(width) if sum(abs(row[4 * x + c] - target[c]) for c in range(3)) <= 40]

    found = [xs for xs in (coloured(row) for row in rows) if xs]
    dashed = [xs for xs in found if max(xs) - min(xs) > width / 2]  # the expected rate, across the day
    dot = [x for xs in found if max(xs) - min(xs) < 20 for x in xs]  # the day's one point
    assert dashed, "no expected rate drawn"
    assert dot, "no point drawn"
    left, right = min(min(xs) for xs in dashed), max(max(xs) for xs in dashed)
    assert abs(sum(dot) / len(dot) - (left + right) / 2) < 6, (left, right, sum(dot) / len(dot))
    assert problems == []
