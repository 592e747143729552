"""Database engine and the one unit of work: session_scope commits or rolls back; and which
errors mean the database cannot be reached (the API answers 503, workers wait)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.config import get_settings
from service.models import Base

CONNECT_TIMEOUT_S = 5


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().resolved_database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A server that drops packets instead of refusing them must not hang a request (or
    # /readyz) until the operating system's TCP timeout: 5 s, then it is an outage (503).
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. Nothing else commits."""
    session = sessionmaker(get_engine(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert rows; on a key conflict update `update` columns (or keep the row when update is
    None). Works on PostgreSQL and SQLite. One statement is compiled and executed for all
    rows (executemany: psycopg pipelines it, sqlite3 loops in C); a multi-row VALUES clause
    would be compiled afresh for every batch, which cost an upload of 86,000 rows 90 s."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    table = cast(Table, model.__table__)
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise RuntimeError(f"upsert is not supported on {dialect}")
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(stmt, list(rows))


# SQLSTATEs of a server that is unreachable for now: connection exceptions (class 08), and a
# server shutting down, crashed or still starting (57P01-57P03).
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException) -> bool:
    """Whether exc (or what caused it) says the database could not be reached: the
    connection was refused or dropped, or the server is going down or still starting. An
    error in a statement (a missing table, a constraint) is not."""
    seen: BaseException | None = exc
    for _ in range(8):  # a rollback that failed after the connection dropped, and so on
        if seen is None:
            return False
        if _unreachable(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, DisconnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # the dialect saw the connection drop
        return True
    if isinstance(exc, OperationalError | InterfaceError) and exc.statement is None:
        return True  # raised while connecting, before any statement
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return sqlstate.startswith(UNAVAILABLE_SQLSTATES)


def create_all(url: str | None = None) -> None:
    """Create tables directly (tests); production uses `medsafe db upgrade` (Alembic)."""
    Base.metadata.create_all(get_engine(url))
