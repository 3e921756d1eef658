"""Admin pages: people (roles, passwords, access) and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app import api_tokens, auth
from app.deps import Now, RequireAdmin, RowId, SessionDep, Viewer
from app.errors import Forbidden, Invalid, NotFound, TallyError
from app.i18n import N_, Text
from app.models import MAX_DISPLAY_NAME, Role, TokenRole, User
from app.web import render

router = APIRouter(prefix="/admin")


def _users_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    *,
    error: TallyError | None = None,
    created: tuple[str, str] | None = None,
    typed: dict[str, str] | None = None,
    failed_user: int | None = None,
    status_code: int = 200,
) -> Response:
    """``typed``: what was typed in a refused Add a user form, shown again beside its error; ``failed_user``:
    the user whose row's form was refused, whose fields the error is about."""
    return render(
        request,
        "admin/users.html",
        viewer=viewer,
        users=auth.list_users(session),
        roles=list(Role),
        error=error,
        created=created,
        typed=typed,
        failed_user=failed_user,
        status_code=status_code,
        page="/admin/users",  # also for the answers to this page's forms
    )


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid(
            Text(N_("Unknown role {role!r}; choose agent, lead or admin."), role=value), field="role"
        ) from None


def _user(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


@router.get("/users")
def users(request: Request, viewer: RequireAdmin, session: SessionDep) -> Response:
    return _users_page(request, viewer, session)


@router.post("/users")
def add_user(
    request: Request,
    viewer: RequireAdmin,
    session: SessionDep,
    now: Now,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form(max_length=MAX_DISPLAY_NAME)] = "",
) -> Response:
    try:
        user, password = auth.add_user(
            session, username=username, role=_role(role), display_name=display_name, now=now, actor=viewer.user.username
        )
    except TallyError as error:
        session.rollback()
        typed = {"username": username, "display_name": display_name, "role": role}
        return _users_page(request, viewer, session, error=error, typed=typed, status_code=error.status_code)
    session.commit()
    # The password is shown once, on this response, and never stored in clear.
    return _users_page(request, viewer, session, created=(user.username, password))


@router.post("/users/{user_id}")
def update_user(
    request: Request,
    viewer: RequireAdmin,
    session: SessionDep,
    now: Now,
    user_id: RowId,
    role: Annotated[str, Form()],
    active: Annotated[str, Form()] = "",
    was_role: Annotated[str, Form()] = "",
    was_active: Annotated[str, Form()] = "",
) -> Response:
    """``was_role``/``was_active``: the row as the page showed it. Only what the admin changed there is
    changed: a page opened before someone else disabled the user re-enabled them when the admin changed
    only the role. (Without them, as from a script, both are set as sent.)"""
    user = _user(session, user_id)
    try:
        if user.id == viewer.user.id and (role != Role.ADMIN or not active):
            raise Invalid(
                "You cannot remove your own admin role or access: ask another admin.", field="role", code="own_admin"
            )
        seen = (_role(was_role), was_active == "1") if was_role and was_active in ("0", "1") else None
        auth.change_access(
            session,
            user,
            role=_role(role),
            active=bool(active),
            seen=seen,
            acting=viewer.user,
            now=now,
            actor=viewer.user.username,
        )
    except Forbidden:
        session.rollback()
        raise  # no longer an admin (another admin's change came first): not the users page
    except TallyError as error:
        # Shown on the users page, where the admin was, not on an error page.
        session.rollback()
        return _users_page(request, viewer, session, error=error, failed_user=user.id, status_code=error.status_code)
    session.commit()
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/password")
def reset_password(request: Request, viewer: RequireAdmin, session: SessionDep, now: Now, user_id: RowId) -> Response:
    user = _user(session, user_id)
    if user.id == viewer.user.id:
        # A reset signs the user out everywhere: here too, while the page showed the new password as if
        # still signed in. Admins change their own password as everyone does, at /me (their row links there).
        return RedirectResponse("/me", status_code=303)
    password = auth.generate_password()
    auth.set_password(session, user, password, now=now, actor=viewer.user.username)
    session.commit()
    return _users_page(request, viewer, session, created=(user.username, password))


@router.get("/tokens")
def tokens(request: Request, viewer: RequireAdmin, session: SessionDep) -> Response:
    return render(
        request, "admin/tokens.html", viewer=viewer, tokens=api_tokens.list_tokens(session), created=None, error=None
    )


@router.post("/tokens")
def create_token(
    request: Request,
    viewer: RequireAdmin,
    session: SessionDep,
    now: Now,
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[TokenRole, Form()] = TokenRole.INTEGRATION,
) -> Response:
    try:
        token, raw = api_tokens.create(session, name=name, now=now, actor=viewer.user.username, role=role)
    except TallyError as error:
        session.rollback()
        return render(
            request,
            "admin/tokens.html",
            viewer=viewer,
            tokens=api_tokens.list_tokens(session),
            created=None,
            error=error,
            status_code=error.status_code,
            page="/admin/tokens",
        )
    session.commit()
    return render(
        request,
        "admin/tokens.html",
        viewer=viewer,
        tokens=api_tokens.list_tokens(session),
        created=(token.name, raw),
        error=None,
        page="/admin/tokens",
    )


@router.post("/tokens/{token_id}/revoke")
def revoke_token(viewer: RequireAdmin, session: SessionDep, now: Now, token_id: RowId) -> Response:
    api_tokens.revoke(session, token_id, now=now, actor=viewer.user.username)
    session.commit()
    return RedirectResponse("/admin/tokens", status_code=303)
