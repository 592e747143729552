"""The dashboard's session: the API key in an HttpOnly, SameSite=Strict cookie (Secure over
https), checked with service.auth on every request, so a revoked key ends the session at
once; and a CSRF token, random per session, in a cookie and in every form that changes
something, compared on POST."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from service import auth
from service.config import Settings
from service.db import session_scope
from service.errors import MedSafeError
from service.models import ApiKey
from service.text import check_text

UI_PREFIX = "/ui"
KEY_COOKIE = "medsafe_ui_key"
CSRF_COOKIE = "medsafe_ui_csrf"
CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 16 * 1024  # a login or a button: far less than this


class LoginRequired(Exception):
    """No key, or an unknown or revoked one: the page sends the browser to the login form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(MedSafeError):
    status_code = 403
    error = "csrf"


def ui_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def unit_of_work(settings: Annotated[Settings, Depends(ui_settings)]) -> Iterator[Session]:
    """One session per page, committed when the route returns (as the API's)."""
    with session_scope(settings.resolved_database_url()) as session:
        yield session


SessionDep = Annotated[Session, Depends(unit_of_work, scope="function")]


def _path_with_query(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def current_key(request: Request, session: SessionDep) -> ApiKey:
    """The live key of the session cookie; LoginRequired otherwise."""
    try:
        key = auth.authenticate(session, request.cookies.get(KEY_COOKIE))
        auth.require_scope(key, auth.Scope.READ)
    except (auth.Unauthorized, auth.Forbidden):
        raise LoginRequired(_path_with_query(request)) from None
    return key


UiKey = Annotated[ApiKey, Depends(current_key)]


def login_url(next_path: str | None = None) -> str:
    return f"{UI_PREFIX}/login" + (f"?next={quote(next_path, safe='')}" if next_path else "")


def safe_next(next_path: str | None) -> str:
    """Where to go after logging in: a dashboard path only (no open redirect)."""
    default = f"{UI_PREFIX}/evals"
    if not next_path or not next_path.startswith(f"{UI_PREFIX}/") or "\\" in next_path:
        return default
    parts = urlsplit(next_path)
    if parts.scheme or parts.netloc or next_path.startswith("//"):
        return default
    return next_path


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def csrf_token(request: Request) -> str:
    """The session's CSRF token; a new one (set by remember_csrf) when there is none."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 100 and token.isascii():
        return token
    fresh: str | None = getattr(request.state, "new_csrf", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.new_csrf = fresh
    return fresh


def remember_csrf(request: Request, response: Response) -> None:
    """Set the cookie of a token csrf_token() made for this request."""
    fresh: str | None = getattr(request.state, "new_csrf", None)
    if fresh is not None:
        _set(request, response, CSRF_COOKIE, fresh)


def _set(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path=UI_PREFIX, httponly=True, samesite="strict",
                        secure=_secure(request))


def start_session(request: Request, response: Response, key: str) -> None:
    """Keep the key and a new CSRF token (a login never inherits the token before it)."""
    _set(request, response, KEY_COOKIE, key)
    _set(request, response, CSRF_COOKIE, secrets.token_urlsafe(32))


def end_session(request: Request, response: Response) -> None:
    for name in (KEY_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path=UI_PREFIX, httponly=True, samesite="strict",
                               secure=_secure(request))


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form once its CSRF token matches the session's cookie and its origin is
    this site; CsrfRejected otherwise. Text fields are held to MedSafe's text rule."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise CsrfRejected("the form was sent from another site")
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            check_text(value, f"the form field {name}")
            fields[name] = value
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = fields.get(CSRF_FIELD, "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfRejected("the form's CSRF token is missing or stale: reload the page and "
                           "send it again")
    return fields
