"""Error pages: in the reader's language, with the page's header, and without developer text."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.db import Database
from app.main import SECURITY_HEADERS
from tests.factories import make_launch


def test_an_unknown_launch_is_a_localised_page_with_the_header(web: Any, people: Any, db: Database) -> None:
    kari = web("kari")
    kari.post("/me/language", data={"language": "nb"})
    response = kari.get("/launches/no-such-launch")
    assert response.status_code == 404
    assert "Den lanseringen finnes ikke." in response.text
    assert 'href="/me"' in response.text and "Logg ut" in response.text  # the header, signed in
    assert "GET /api/v1" not in response.text and "tally hypotheses import" not in response.text


def test_an_unknown_address_and_a_forbidden_page(web: Any, people: Any, db: Database) -> None:
    kari = web("kari")
    missing = kari.get("/nowhere")
    assert missing.status_code == 404 and "Back to the launches" in missing.text and 'href="/me"' in missing.text
    forbidden = kari.get("/admin/users")
    assert forbidden.status_code == 403
    assert "Your role does not give access to this." in forbidden.text
    assert "you are signed in as agent" not in forbidden.text  # the developer's wording stays in the API


def test_a_signed_out_visitor_gets_the_page_in_their_browsers_language(client: Any, db: Database) -> None:
    make_launch(db)
    response = client.get("/nowhere", headers={"Accept-Language": "nb-NO,nb;q=0.9"})
    assert response.status_code == 404 and "Det er ingenting her." in response.text


def test_a_refused_self_demotion_is_shown_on_the_users_page(web: Any, people: Any) -> None:
    ada = web("ada")
    response = ada.post(f"/admin/users/{people.admin.id}", data={"role": "lead", "active": "on"})
    assert response.status_code == 422
    assert 'id="form-error"' in response.text and "your own admin role" in response.text
    assert "<h1>" in response.text and "Something went wrong" not in response.text


def test_an_unexpected_failure_is_a_plain_500_with_the_security_headers(app: Any) -> None:
    """The framework answers a 500 from its outermost layer, outside the one that added the headers."""

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)  # a bug no request can cause in the real routes
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert response.status_code == 500 and response.text == "Internal Server Error"
    for name, value in SECURITY_HEADERS:
        assert response.headers.get_list(name.decode()) == [value.decode()], name
