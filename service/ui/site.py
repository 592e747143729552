"""The dashboard as an ASGI app of its own, in front of the API for paths under /ui.

It answers in HTML (errors too: a missing or revoked key is a redirect to the login form),
sends a strict Content-Security-Policy (script-src 'self', no inline script or style) and
reads at most MAX_FORM_BYTES of a body. The API's body guard wants a write key in the
Authorization header before any body; a browser's login form cannot send one, so /ui
requests do not pass through it, and the dashboard checks its own: its forms are small and
every one of them but the login carries the session's key, checked before the body is read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import auth
from service.asgi import counted_receive
from service.config import Settings
from service.db import database_unavailable, session_scope
from service.errors import MedSafeError
from service.ui import routes
from service.ui.session import (
    KEY_COOKIE,
    MAX_FORM_BYTES,
    UI_PREFIX,
    LoginRequired,
    login_url,
)

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
LOGIN_PATH = f"{UI_PREFIX}/login"


def _error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return routes.render(request, "error.html", status, title=title, detail=detail)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_url(exc.next_path), status_code=303)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MedSafeError)
    if isinstance(exc, auth.Unauthorized):
        return RedirectResponse(login_url(), status_code=303)
    return _error_page(request, exc.status_code, exc.error.replace("_", " "), exc.detail)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in exc.errors())
    return _error_page(request, 422, "invalid input", problems or "invalid request")


async def _unexpected(request: Request, exc: Exception) -> Response:
    if database_unavailable(exc):
        response = _error_page(request, 503, "database unavailable",
                               "the database cannot be reached right now; try again shortly")
        response.headers["Retry-After"] = "5"
        return response
    log.exception("dashboard error", exc_info=exc)
    return _error_page(request, 500, "internal error",
                       "an unexpected error; the server log has it")


def _cookie(scope: Scope, name: str) -> str | None:
    for header, value in scope["headers"]:
        if header == b"cookie":
            text: str = value.decode("latin-1")
            for part in text.split(";"):
                key, _, val = part.strip().partition("=")
                if key == name:
                    return val.strip('"')
    return None


class Guard:
    """Security headers on every answer; a body only up to MAX_FORM_BYTES, and only from a
    session with a live key (the login form aside)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in SECURITY_HEADERS if name not in names]
                if scope["path"].startswith(f"{UI_PREFIX}/static/"):
                    message["headers"].append((b"cache-control", b"public, max-age=300"))
                else:
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        if scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send_with_headers)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            await _plain(413, "the form is over its limit")(scope, receive, send_with_headers)
            return
        if scope["path"] != LOGIN_PATH and not await _live_key(self.settings, scope):
            await RedirectResponse(login_url(), status_code=303)(
                scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, counted_receive(receive, MAX_FORM_BYTES, _TooLarge),
                           send_with_headers)
        except _TooLarge:
            await _plain(413, "the form is over its limit")(scope, receive, send_with_headers)


class _TooLarge(Exception):
    pass


def _plain(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain",
                    headers={"connection": "close"})


async def _live_key(settings: Settings, scope: Scope) -> bool:
    """Whether the session cookie holds a live key (checked before any body is read)."""
    token = _cookie(scope, KEY_COOKIE)

    def check() -> bool:
        try:
            with session_scope(settings.resolved_database_url()) as session:
                auth.authenticate(session, token)
        except auth.Unauthorized:
            return False
        return True

    return await anyio.to_thread.run_sync(check)


def ui_app(settings: Settings) -> FastAPI:
    """The dashboard's own app: /ui pages, /ui/static files, HTML errors."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(MedSafeError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(routes.router)
    app.mount(f"{UI_PREFIX}/static", StaticFiles(directory=STATIC), name="ui-static")
    return app


class UiDispatch:
    """Paths under /ui go to the dashboard's app, the rest to the API."""

    def __init__(self, app: ASGIApp, ui: ASGIApp) -> None:
        self.app = app
        self.ui = ui

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path == UI_PREFIX or path.startswith(f"{UI_PREFIX}/")):
            await self.ui(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install_ui(app: FastAPI) -> None:
    """Serve the dashboard at /ui next to the API; call after the API's middleware is added,
    so the dispatch runs first."""
    settings: Settings = app.state.settings
    ui = ui_app(settings)
    app.add_middleware(UiDispatch, ui=Guard(ui, settings))
