"""API keys: creating, checking and revoking them; only a hash of each secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import Actor, AuditAction, local_actor, record
from service.errors import InvalidInput, MedSafeError, NotFound
from service.models import ApiKey, utcnow

KEY_MARK = "msk_"
PREFIX_CHARS = 12  # hex characters after KEY_MARK that find the key's row
MIN_REVOKE_CHARS = 6  # the shortest start of a prefix that revoke accepts
MAX_NAME_CHARS = 200  # api_keys.name column


class Scope(StrEnum):
    """What a key may do; each scope includes the ones below it (admin ⊃ write ⊃ read)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_RANK = {Scope.READ: 1, Scope.WRITE: 2, Scope.ADMIN: 3}


class Unauthorized(MedSafeError):
    """No key, or a key that is unknown or revoked."""

    status_code = 401
    error = "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012 - read-only class constant


class Forbidden(MedSafeError):
    """A valid key without the scope an endpoint needs."""

    status_code = 403
    error = "forbidden"


@dataclass(frozen=True)
class CreatedKey:
    """A new key: `key` is the only time the plaintext exists outside the client."""

    id: int
    name: str
    scopes: list[str]
    key: str


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    created_by: str | None = None


def parse_scopes(scopes: Iterable[str]) -> list[Scope]:
    """Scope names as given ("read", "write", "admin"), checked and deduplicated."""
    parsed: list[Scope] = []
    for name in scopes:
        name = name.strip().lower()
        if name not in Scope.__members__.values():
            known = ", ".join(scope.value for scope in Scope)
            raise InvalidInput(f"unknown scope {name!r}; scopes are {known}")
        if Scope(name) not in parsed:
            parsed.append(Scope(name))
    if not parsed:
        raise InvalidInput("a key needs at least one scope (read, write or admin)")
    return parsed


def create_key(session: Session, name: str, scopes: Iterable[str],
               actor: Actor | None = None) -> CreatedKey:
    """Store a new key and return its plaintext, which is never stored; `actor` (default:
    the local user) is recorded as its creator and in the audit log. Does not commit."""
    actor = actor or local_actor()
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"a key needs a name of 1..{MAX_NAME_CHARS} characters")
    granted = [scope.value for scope in parse_scopes(scopes)]
    prefix = secrets.token_hex(PREFIX_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=prefix, hashed_secret=_hash(secret), scopes=granted,
                 created_by=actor.name)
    session.add(key)
    session.flush()
    record(session, actor, AuditAction.KEY_CREATE, "key", key.id, name=name, scopes=granted)
    return CreatedKey(id=key.id, name=name, scopes=granted, key=f"{KEY_MARK}{prefix}{secret}")


def authenticate(session: Session, token: str | None) -> ApiKey:
    """The live key a bearer token belongs to; Unauthorized otherwise."""
    if not token or not token.startswith(KEY_MARK):
        raise Unauthorized("send an API key as `Authorization: Bearer msk_...`")
    body = token[len(KEY_MARK):]
    prefix, secret = body[:PREFIX_CHARS], body[PREFIX_CHARS:]
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None or not secret or not hmac.compare_digest(key.hashed_secret, _hash(secret)):
        raise Unauthorized("the API key is not valid")
    if key.revoked_at is not None:
        raise Unauthorized("the API key was revoked")
    return key


def require_scope(key: ApiKey, needed: Scope) -> None:
    """Forbidden unless one of the key's scopes includes `needed`."""
    rank = max((_RANK[Scope(name)] for name in key.scopes if name in _RANK), default=0)
    if rank < _RANK[needed]:
        raise Forbidden(f"this endpoint needs a key with the {needed.value!r} scope; "
                        f"key {key.name!r} has {', '.join(key.scopes) or 'none'}")


def require_owner(key: ApiKey, owner_key_id: int | None, what: str) -> None:
    """Forbidden unless `key` created `what` or has the admin scope: a write key changes
    only what it created (an eval, a schedule, ...). What the CLI or a schedule made without
    a key, only admin keys change through the API."""
    if owner_key_id is not None and owner_key_id == key.id:
        return
    if Scope.ADMIN.value in key.scopes:
        return
    raise Forbidden(f"{what} was not created with this key; only its creator's key or an "
                    "admin key may change it")


def list_keys(session: Session) -> list[KeyInfo]:
    return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke_key(session: Session, key_id_or_prefix: str,
               actor: Actor | None = None) -> KeyInfo:
    """Revoke a key by id, by its listed prefix or the start of it (msk_0123abcd), or by the
    whole key; a start that fits two keys is refused. Revoking twice changes nothing. Does
    not commit. A revocation is recorded in the audit log under `actor` (default: the local
    user)."""
    text = key_id_or_prefix.strip()
    if text.startswith(KEY_MARK):
        start = text[len(KEY_MARK):][:PREFIX_CHARS]
        if len(start) < MIN_REVOKE_CHARS:
            raise InvalidInput(f"give at least {MIN_REVOKE_CHARS} characters after "
                               f"{KEY_MARK!r}, as `medsafe keys list` shows them")
        query = select(ApiKey).where(ApiKey.prefix.startswith(start, autoescape=True))
    elif text.isdigit():
        query = select(ApiKey).where(ApiKey.id == int(text))
    else:
        raise InvalidInput("name the key by its id, its prefix (msk_...) or the whole key")
    keys = list(session.scalars(query.limit(2)))
    if not keys:
        raise NotFound(f"no API key {key_id_or_prefix!r}")
    if len(keys) > 1:
        raise InvalidInput(f"{key_id_or_prefix!r} starts more than one key; give more of "
                           "the prefix `medsafe keys list` shows")
    [key] = keys
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        record(session, actor or local_actor(), AuditAction.KEY_REVOKE, "key", key.id,
               name=key.name)
    return _info(key)


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(id=key.id, name=key.name, prefix=f"{KEY_MARK}{key.prefix}",
                   scopes=list(key.scopes), created_at=key.created_at,
                   revoked_at=key.revoked_at, created_by=key.created_by)


def _hash(secret: str) -> str:
    # A plain SHA-256 suffices: the secret is 256 random bits from token_urlsafe, so there is
    # nothing to guess or look up in a table, and a slow password hash (bcrypt, scrypt) would
    # only cost time on every request. Passwords chosen by people would need the slow hash.
    return hashlib.sha256(secret.encode()).hexdigest()
