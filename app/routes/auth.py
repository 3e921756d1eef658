"""Signing in and out, and each person's own settings (language, password, checklist toggles)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app import auth, i18n
from app.config import Settings
from app.csrf import SESSION_COOKIE
from app.deps import LANGUAGE_COOKIE, CurrentViewer, Now, OptionalViewer, SessionDep, SettingsDep
from app.errors import Invalid, TallyError, TooManyRequests, Unauthenticated
from app.models import User
from app.web import render, split_url

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only local paths: a sign-in link must not bounce people to another site."""
    if not target:
        return "/"
    parts = split_url(target)  # no path: not a URL at all ("//[x"), where urlsplit raised (a 500)
    if not parts.path or parts.scheme or parts.netloc:
        return "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
def login_page(request: Request, viewer: OptionalViewer, next: str | None = None) -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "auth/login.html", viewer=None, next=safe_next(next), error=None, username="")


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    device = request.cookies.get(auth.DEVICE_COOKIE)
    try:
        user = auth.authenticate(
            session,
            username=username,
            password=password,
            address=client_address(request),
            now=now,
            settings=settings,
            device=device,
        )
    except TallyError as error:
        session.commit()  # the failed attempt must count
        return render(
            request,
            "auth/login.html",
            viewer=None,
            next=safe_next(next),
            error=error,
            username=username,
            status_code=error.status_code,
            page="/login" + (f"?next={quote(safe_next(next))}" if safe_next(next) != "/" else ""),
            # A locked account or address says when to try again, as the JSON errors do.
            headers={"Retry-After": str(error.retry_after)} if isinstance(error, TooManyRequests) else None,
        )
    # A fresh token at every sign-in: a session id planted before sign-in is worthless.
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        auth.end_session(session, old, now=now)
    token = auth.start_session(session, user, now=now, settings=settings)
    session.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, token, settings)
    if user.language:
        # Pages read it from the user; what answers without reading the database (the JSON errors a
        # page's script shows) reads the cookie, which a new browser does not have yet.
        set_language_cookie(response, user.language, settings)
    set_device_cookie(response, device, user, settings)
    return response


def set_device_cookie(
    response: Response, cookie: str | None, user: User, settings: Settings, *, instead_of: str | None = None
) -> None:
    """This browser known for ``user`` with their current password (``auth.remember_device``)."""
    response.set_cookie(
        auth.DEVICE_COOKIE,
        auth.remember_device(cookie, user, settings, instead_of=instead_of),
        max_age=auth.DEVICE_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


@router.post("/logout")
def logout(request: Request, session: SessionDep, now: Now) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.end_session(session, token, now=now)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me")
def profile(request: Request, viewer: CurrentViewer, changed: str | None = None) -> Response:
    message = "password_changed" if changed == "password" else None
    return render(request, "auth/profile.html", viewer=viewer, message=message, error=None)


@router.post("/me/language")
def set_language(
    request: Request,
    viewer: OptionalViewer,
    session: SessionDep,
    settings: SettingsDep,
    language: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    if language not in i18n.LANGUAGES:
        raise Invalid(
            i18n.Text(
                i18n.N_("Unknown language {language!r}; choose one of {choices}."),
                language=language,
                choices=", ".join(i18n.LANGUAGES),
            ),
            field="language",
        )
    if viewer is not None:
        viewer.user.language = language
        session.add(viewer.user)
        session.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    set_language_cookie(response, language, settings)
    return response


def set_language_cookie(response: Response, language: str, settings: Settings) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="lax", httponly=True, secure=settings.cookie_secure
    )


@router.post("/me/password")
def change_password(
    request: Request,
    viewer: CurrentViewer,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    current: Annotated[str, Form(max_length=1000)],
    new: Annotated[str, Form(max_length=1000)],
) -> Response:
    user = viewer.user
    try:
        # Checked as a sign-in is, limits and all: whoever holds a session (a stolen cookie, a desk left
        # signed in) must not guess the password here at the speed of the hash, then change it.
        try:
            auth.authenticate(
                session,
                username=user.username,
                password=current,
                address=client_address(request),
                now=now,
                settings=settings,
                # Signed in already: others' failures must not keep the owner out here.
                device=request.cookies.get(auth.DEVICE_COOKIE),
                signed_in=viewer.signed_in_as,
            )
        except Unauthenticated:
            raise Invalid("The current password is not right.", field="current", code="wrong_password") from None
        finally:
            session.commit()  # the attempt counts, whatever comes next
        stale = auth.device_token(user, settings)  # what this browser proved with the old password
        auth.set_password(session, user, new, now=now, actor=user.username)
    except TallyError as error:
        session.rollback()
        return render(
            request,
            "auth/profile.html",
            viewer=viewer,
            message=None,
            error=error,
            status_code=error.status_code,
            page="/me",
            headers={"Retry-After": str(error.retry_after)} if isinstance(error, TooManyRequests) else None,
        )
    # Every other browser is signed out; this one gets a new session (and,
    # through the redirect, pages whose CSRF tokens are bound to it).
    token = auth.start_session(session, user, now=now, settings=settings)
    session.commit()
    response = RedirectResponse("/me?changed=password", status_code=303)
    set_session_cookie(response, token, settings)
    # The device cookie is made from the password's hash: without a new one, the browser the password
    # was changed in was a stranger at its next sign-in, and a colleague's wrong tries for her name at
    # the same address locked her out.
    set_device_cookie(response, request.cookies.get(auth.DEVICE_COOKIE), user, settings, instead_of=stale)
    return response
