"""Error pages: in the reader's language, with the page's header, and without developer text."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app import i18n
from app.db import Database
from app.main import SECURITY_HEADERS
from tests.factories import make_launch
from tests.helpers import browser, sign_in


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


def test_a_norwegian_reader_meets_no_english_under_an_error(web: Any, people: Any, app: Any) -> None:
    """The English message, written for developers, was printed under every translated error: at
    sign-in "Feil brukernavn eller passord." over "Wrong user name or password."."""
    visitor = browser(app)
    visitor.headers["Accept-Language"] = "nb"
    wrong = sign_in(visitor, "kari", "not-her-password")
    assert "Feil brukernavn eller passord." in wrong.text and "Wrong user name" not in wrong.text
    ada = web("ada")
    ada.post("/me/language", data={"language": "nb"})
    bad_name = ada.post("/admin/users", data={"username": "Kari Nord!", "role": "agent"})
    assert bad_name.status_code == 422
    assert "Et brukernavn er 1–64 små bokstaver" in bad_name.text and "A user name is" not in bad_name.text
    too_long = ada.post("/admin/tokens", data={"name": "x" * 150, "role": "integration"})
    assert "Gi nøkkelen et navn på 1–100 tegn" in too_long.text, too_long.text[-2000:]
    language = ada.post("/me/language", data={"language": "sv"})
    assert "Ukjent språk &#39;sv&#39;" in language.text and "Unknown language" not in language.text
    # A field the framework refused ("display_name: String should have at most 100 characters"): by its
    # label, in the reader's language.
    long_name = ada.post("/admin/users", data={"username": "newbie", "role": "agent", "display_name": "x" * 101})
    assert long_name.status_code == 422
    assert "Visningsnavn: er for langt: høyst 100 tegn" in long_name.text, long_name.text[-1500:]
    assert "String should have" not in long_name.text
    # An error whose translation only points to the details keeps them, in English if that is all there is.
    with i18n.use_language("nb"):
        assert i18n.error_detail("invalid", "range='x' is not one of …") == ["range='x' is not one of …"]
        assert i18n.error_detail("wrong_credentials", "Wrong user name or password, kari.") == []


def test_a_button_s_address_typed_in_is_a_page_not_bare_text(web: Any, people: Any) -> None:
    """GET /logout (a bookmark, a typed address) answered the framework's bare "Method Not Allowed"."""
    kari = web("kari")
    kari.post("/me/language", data={"language": "nb"})
    response = kari.get("/logout")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert "Den adressen kan ikke åpnes slik" in response.text and 'href="/me"' in response.text
    assert "Method Not Allowed" not in response.text and "GET is not how" not in response.text
    api = kari.client.get("/api/v1/enquiries/1", headers={"Authorization": "Bearer x"})
    assert api.status_code == 405 and api.json()["error"]["code"] == "http_error"  # the API's as before


def test_pages_and_probes_answer_head_as_their_get(web: Any, people: Any, db: Database) -> None:
    """A monitor's HEAD of /healthz, or a link checker's of a page, was a 405 (Allow: GET). The same
    sign-in rules apply, and a HEAD never does what a button's POST does."""
    make_launch(db)
    kari, stranger = web("kari"), web(None)
    for user, path in ((stranger, "/healthz"), (stranger, "/readyz"), (stranger, "/login"), (kari, "/")):
        get, head = user.client.get(path), user.client.head(path)
        assert head.status_code == get.status_code == 200, (path, head.status_code)
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], path
    assert kari.client.head("/launches/test-launch").status_code == 200
    signed_out = stranger.client.head("/launches/test-launch")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")
    assert kari.client.head("/admin/users").status_code == 403
    logout = kari.client.head("/logout")
    assert logout.status_code == 405 and logout.headers["Allow"] == "POST"
    assert kari.client.get("/").status_code == 200  # still signed in
    typed = kari.client.get("/logout")
    assert typed.status_code == 405 and typed.headers["Allow"] == "POST"


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


def test_a_file_too_large_for_the_import_is_a_page_in_the_readers_language(web: Any, people: Any) -> None:
    """A lead who picked the wrong file (over 5 MB) for the import got the API's JSON on screen, in English:
    {"error": {"code": "body_too_large", "message": "The request body is over 5184 KB: nothing was read."}}."""
    lena = web("lena")
    lena.post("/me/language", data={"language": "nb"})
    response = lena.post(
        "/launches",
        files={"file": ("launch.yaml", b"#" * 6_000_000, "text/yaml")},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="nb">' in response.text and "Logg ut" in response.text  # the page, with its header
    assert "Det var mer data enn denne siden noen gang sender" in response.text
    assert "body_too_large" not in response.text
    # An API client is still answered in JSON.
    api = lena.post("/launches", content=b"x" * 6_000_000, headers={"Accept": "application/json"})
    assert api.status_code == 413 and api.json()["error"]["code"] == "body_too_large"
