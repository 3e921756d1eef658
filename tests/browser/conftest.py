"""The harness for the browser tests.

* ``live_server``: the real app (``create_app``) served by uvicorn over real
  HTTP on 127.0.0.1, in a thread, against the test's own database.
* ``browser``: Debian's Chromium at /usr/bin/chromium, one for all these tests
  (never a downloaded one); the tests are skipped, saying why, without it.
* ``page``: a fresh browser context per test; when the test fails, a
  screenshot is kept in test-artifacts/<test name>.png.
* ``open_checklist``: a live launch, an agent signed in through the real
  /login form, and their checklist page loaded.

No sleeps for pacing: Playwright's ``expect`` waits for the page, and
``wait_until`` polls the database (every 50 ms, for a bounded time) where a
write happens out of the page's sight.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
import uvicorn
from jinja2 import Environment
from playwright.sync_api import Browser, Locator, Page, Request, Route, expect, sync_playwright
from sqlmodel import col, select

from app.db import Database
from app.main import create_app
from app.models import Enquiry, EnquiryHypothesis, Hypothesis, Launch, LaunchStatus, User
from app.web import build_environment
from tests.conftest import PASSWORD, People, make_settings
from tests.factories import make_launch
from tests.processes import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = ROOT / "test-artifacts"
SERVER_START_TIMEOUT = 10.0
TIMEOUT_MS = 5_000

# Hypothesis keys chosen so they cannot be mistaken for shortcut keys.
HYPOTHESES = ("billing", "login", "delivery")
SLUG = "spring-launch"

T = TypeVar("T")

expect.set_options(timeout=TIMEOUT_MS)


# --- screenshots of failures -------------------------------------------------------------

REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell a failed test at teardown."""
    report: pytest.TestReport = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


def _failed(node: pytest.Item) -> bool:
    report = node.stash.get(REPORTS, {}).get("call")
    return report is not None and report.failed


def _artifact_name(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", node.name)


# --- the app, served over real HTTP ------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    url: str
    db: Database


@pytest.fixture(scope="session")
def templates() -> Environment:
    """The app's own Jinja environment, built once: compiling the templates afresh for every
    test's app would cost more than half a second each. It holds no per-app state."""
    return build_environment()


@pytest.fixture
def live_server(database_url: str, db: Database, templates: Environment) -> Iterator[LiveServer]:
    # Binding port 0 and handing uvicorn the socket itself: no race for the port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    app = create_app(make_settings(database_url, base_url=url), db=db)
    app.state.jinja = templates
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not server.started:  # a bounded poll on uvicorn's own flag
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("the live server stopped before it started (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=SERVER_START_TIMEOUT)
            sock.close()
            raise TimeoutError(f"the live server did not start within {SERVER_START_TIMEOUT} s")
        time.sleep(0.01)
    try:
        yield LiveServer(url, db)
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "the live server did not stop"


# --- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for all the browser tests (closed when they are done, not at the end of the run)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", viewport={"width": 1280, "height": 800}, service_workers="block"
    )
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        if _failed(request.node):
            ARTIFACTS.mkdir(exist_ok=True)
            try:
                opened.screenshot(path=ARTIFACTS / f"{_artifact_name(request.node)}.png", full_page=True)
            except Exception as error:  # noqa: BLE001 - a missing screenshot must not hide the failure
                print(f"could not save a screenshot: {error}")  # noqa: T201
        context.close()


# --- waiting and reading the database ----------------------------------------------------


def wait_until(
    predicate: Callable[[], T], timeout: float = 5.0, message: str = "condition", *, page: Page | None = None
) -> T:
    """Poll ``predicate`` every 50 ms until it returns something truthy; return that.

    With ``page``, the pauses are the page's own waits: Playwright's sync API runs route and event
    handlers (``page.route``, ``page.on``) only while one of its calls is in progress, so a test that
    slept instead would hold back a request its handler intercepts, and time out waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message} (last value: {value!r})")
        if page is None:
            time.sleep(0.05)
        else:
            page.wait_for_timeout(50)


@dataclass(frozen=True)
class Stored:
    """An enquiry as the database holds it, with the keys of its hypotheses."""

    id: int
    channel: str
    segment: str | None
    agent_id: int | None
    note: str | None
    is_other: bool
    idempotency_key: str | None
    keys: frozenset[str]


def stored_enquiries(db: Database, launch: Launch) -> list[Stored]:
    with db.session() as session:
        rows = session.exec(select(Enquiry).where(Enquiry.launch_id == launch.id).order_by(col(Enquiry.id))).all()
        links = session.exec(
            select(EnquiryHypothesis.enquiry_id, Hypothesis.key)
            .join(Hypothesis, col(Hypothesis.id) == col(EnquiryHypothesis.hypothesis_id))
            .where(EnquiryHypothesis.launch_id == launch.id)
        ).all()
    keys: dict[int, set[str]] = {}
    for enquiry_id, key in links:
        keys.setdefault(enquiry_id, set()).add(key)
    return [
        Stored(
            id=row.id or 0,
            channel=row.channel,
            segment=row.segment,
            agent_id=row.agent_id,
            note=row.note,
            is_other=row.is_other,
            idempotency_key=row.idempotency_key,
            keys=frozenset(keys.get(row.id or 0, ())),
        )
        for row in rows
    ]


# --- signing in and the checklist --------------------------------------------------------


def sign_in(page: Page, username: str, next_path: str = "/", *, keyboard: bool = False) -> None:
    """Sign in through the real /login form (by typing and Enter alone, with ``keyboard``)."""
    page.goto(f"/login?next={quote(next_path)}")
    if keyboard:
        expect(page.get_by_label("User name")).to_be_focused()  # autofocus
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
    else:
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))
    page.wait_for_load_state("load")  # checklist.js (deferred) has run and listens for keys


# The checklist's tick POSTs (not its other requests under /enquiries/…).
TICK_POSTS = re.compile(r"/launches/[^/]+/enquiries$")
TickRoute = Callable[..., None]  # (route) or (route, request), as page.route takes them


@dataclass
class Checklist:
    page: Page
    db: Database
    launch: Launch
    user: User
    _tick_route: TickRoute | None = None

    def route_ticks(self, handler: TickRoute | None) -> None:
        """From now on the page's tick POSTs go to ``handler`` (None: to the server).

        One route, set before the page loaded, reads this: a route added with page.route just before a
        key press was now and then not yet in force in Chromium when the tick went out (the tick reached
        the server, and a test of a lost connection failed 1 run in 5 under load)."""
        self._tick_route = handler

    def _on_tick(self, route: Route, request: Request) -> None:
        handler = self._tick_route
        if handler is None or request.method != "POST":
            route.fallback()
        elif handler.__code__.co_argcount >= 2:  # type: ignore[attr-defined]
            handler(route, request)
        else:
            handler(route)

    @property
    def path(self) -> str:
        return f"/launches/{self.launch.slug}/checklist"

    def tick(self, key: str) -> Locator:
        return self.page.locator(f'button.tick[data-key="{key}"]')

    def count(self, key: str) -> Locator:
        """The number on a hypothesis's button (``other`` for Other)."""
        return self.page.locator(f"#count-{key} .n")

    @property
    def toasts(self) -> Locator:
        return self.page.locator("#toasts .toast")

    @property
    def connection(self) -> Locator:
        return self.page.locator("#connection")

    @property
    def recent(self) -> Locator:
        return self.page.locator("#recent")

    def stored(self) -> list[Stored]:
        return stored_enquiries(self.db, self.launch)

    def wait_for_stored(self, n: int, timeout: float = 5.0) -> list[Stored]:
        """The stored enquiries once there are exactly ``n`` of them."""
        found: list[Stored] = []

        def exactly_n() -> bool:
            nonlocal found
            found = self.stored()
            return len(found) == n

        wait_until(exactly_n, timeout, f"{n} enquiries in the database", page=self.page)
        return found

    def queue(self) -> list[dict[str, Any]]:
        """The enquiries waiting in the browser (localStorage) to be sent."""
        # Kept per person and launch (a shared computer never sends someone else's ticks).
        items: list[dict[str, Any]] = self.page.evaluate(
            "key => JSON.parse(localStorage.getItem(key) || '[]')", f"tally:queue:{self.user.id}:{self.launch.slug}"
        )
        return items

    def set_status(self, status: LaunchStatus) -> None:
        with self.db.transaction() as session:
            launch = session.get(Launch, self.launch.id)
            assert launch is not None
            launch.status = status
            launch.updated_at = dt.datetime.now(dt.UTC)
            session.add(launch)

    def reload(self) -> None:
        self.page.reload()
        self.page.wait_for_load_state("load")


OpenChecklist = Callable[..., Checklist]


@pytest.fixture
def open_checklist(page: Page, live_server: LiveServer, db: Database, people: People) -> OpenChecklist:
    """``open_checklist()``: a live launch, Kari (an agent) signed in, her checklist open.

    Options: ``hypotheses`` (keys, in order), ``keyboard=True`` to sign in by keyboard alone,
    ``viewport=(width, height)``."""

    def open_(
        hypotheses: Sequence[str] = HYPOTHESES,
        *,
        keyboard: bool = False,
        viewport: tuple[int, int] | None = None,
    ) -> Checklist:
        launch = make_launch(db, slug=SLUG, name="Spring launch", hypotheses=tuple(hypotheses))
        if viewport is not None:
            page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        checklist = Checklist(page, db, launch, people.agent)
        page.route(TICK_POSTS, checklist._on_tick)
        sign_in(page, people.agent.username, checklist.path, keyboard=keyboard)
        expect(page.get_by_role("heading", name="Spring launch", level=1)).to_be_visible()
        return checklist

    return open_


@pytest.fixture
def checklist(open_checklist: OpenChecklist) -> Checklist:
    return open_checklist()


def pytest_configure(config: pytest.Config) -> None:
    """A browser test that passed when run again still prints its first failure in full: in CI's
    log, the only trace of a race left to find (without it, a rerun is one line)."""
    if hasattr(config.option, "rerun_show_tracebacks"):
        config.option.rerun_show_tracebacks = True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A browser test that fails is run again, up to twice. Some of them race a real Chromium's
    timers and network against the server (the notices, the list's polling), and failed now and
    then in full runs while passing alone; a real regression fails all three runs. Known flaky ones
    are named in the closing notes to be made deterministic. (The last two, a retried tick and a key
    pressed twice, were waits that slept while a Playwright handler they needed could not run: see
    ``wait_until``.)"""
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.flaky(reruns=2))
