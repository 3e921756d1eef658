"""Static files: compressed, and cached for a year when their URL carries their version."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from app.web import STATIC_VERSION


def test_vendored_and_versioned_files_are_cached_for_a_year(client: TestClient) -> None:
    for url in ("/static/vendor/htmx-2.0.11.min.js", f"/static/app.css?v={STATIC_VERSION}"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", url


def test_a_bare_url_is_checked_again(client: TestClient) -> None:
    response = client.get("/static/app.css")
    assert response.headers["cache-control"] == "no-cache"
    again = client.get("/static/app.css", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_static_files_and_pages_are_gzipped(client: TestClient) -> None:
    response = client.get("/static/vendor/htmx-2.0.11.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    page = client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    plain = client.get("/static/vendor/htmx-2.0.11.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_input_patterns_are_valid_in_the_browsers_v_mode() -> None:
    """Chromium compiles pattern= with the v flag, where a bare '-' before ']' is an error: the whole
    check is then skipped ("Widget Gone" was sent as a key, and refused by the server in developer words)."""
    templates = Path(__file__).resolve().parent.parent / "templates"
    patterns = [
        (path.name, found)
        for path in templates.rglob("*.html")
        for found in re.findall(r'pattern="([^"]*)"', path.read_text(encoding="utf-8"))
    ]
    assert patterns
    assert [p for p in patterns if re.search(r"(?<!\\)-\]", p[1])] == []


def test_a_url_of_another_version_is_checked_again(client: TestClient) -> None:
    """In a rolling upgrade the load balancer sends an upgraded replica's page's new ``?v=`` to a replica
    not yet upgraded (or the other way round): the file it has is not the one the URL names, so browsers
    must not keep it for a year under that URL (they would keep the old script after the upgrade)."""
    other = str(int(STATIC_VERSION) + 1)
    for url in (f"/static/app.css?v={other}", f"/static/checklist.js?x=1&v={other}", "/static/app.css?nov=1"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "no-cache", url
    assert client.get(f"/static/app.css?x=1&v={STATIC_VERSION}").headers["cache-control"].endswith("immutable")
