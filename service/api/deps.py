"""Request dependencies: settings, the unit of work (SessionDep) and the caller's key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy.orm import Session

from service import auth
from service.config import Settings
from service.db import session_scope
from service.models import ApiKey
from service.queue.connection import redis_connection
from service.queue.jobs import queue_prefix
from service.ratelimit import WriteLimiter, parse_rate


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]


def unit_of_work(settings: SettingsDep) -> Iterator[Session]:
    """One session per request, committed when the route returns and rolled back when it
    raises. scope="function" runs this exit code before the response is sent, so a client
    never sees a 202 for an eval whose transaction then failed to commit (the default
    "request" scope would commit after the response went out)."""
    with session_scope(settings.resolved_database_url()) as session:
        yield session


SessionDep = Annotated[Session, Depends(unit_of_work, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer msk_...`")


def current_key(
    request: Request,
    security_scopes: SecurityScopes,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's live key with every scope the endpoint asks for (401, else 403). A key
    that asks to write is counted against MEDSAFE_WRITE_RATE_LIMIT (429 beyond it)."""
    key = auth.authenticate(session, credentials.credentials if credentials else None)
    for scope in security_scopes.scopes:
        auth.require_scope(key, auth.Scope(scope))
    if auth.Scope.WRITE.value in security_scopes.scopes:
        write_limiter(request).hit(key.prefix)
    return key


def write_limiter(request: Request) -> WriteLimiter:
    """The app's limiter, made on first use (the queue's Redis may start lazily)."""
    limiter: WriteLimiter | None = getattr(request.app.state, "write_limiter", None)
    if limiter is None:
        settings: Settings = request.app.state.settings
        limiter = WriteLimiter(redis_connection(), parse_rate(settings.write_rate_limit),
                               queue_prefix())
        request.app.state.write_limiter = limiter
    return limiter


CurrentKey = Annotated[ApiKey, Security(current_key, scopes=[auth.Scope.READ.value])]
WriteKey = Annotated[ApiKey, Security(current_key, scopes=[auth.Scope.WRITE.value])]
AdminKey = Annotated[ApiKey, Security(current_key, scopes=[auth.Scope.ADMIN.value])]


def upload_limit(request: Request) -> int:
    limit: int = request.app.state.max_upload_bytes
    return limit


UploadLimit = Annotated[int, Depends(upload_limit)]
