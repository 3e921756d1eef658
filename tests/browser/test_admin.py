"""The admin's pages in a real browser: what is shown once stays shown once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, sign_in
from tests.conftest import People


def test_back_after_sign_out_does_not_show_a_new_api_token(page: Page, live_server: LiveServer, people: People) -> None:
    """At a shared desk the next person pressed Back after the admin signed out, and Chromium showed
    the token page again from its cache, token and all."""
    sign_in(page, people.admin.username, "/admin/tokens")
    page.get_by_label("Name (what uses it)").fill("telephony")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("code.secret")
    expect(secret).to_have_text(re.compile(r"^lt_"))
    token = secret.inner_text()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):
        page.go_back()  # not kept, so not shown: Chromium would have to send the form again, and says so
    page.wait_for_url("chrome-error://**")  # Chromium's own page, which asks to send the form again
    page.wait_for_load_state("load")
    assert token not in page.content()
