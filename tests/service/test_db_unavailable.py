"""database_unavailable: refused and dropped connections are "unavailable"; a wrong
statement is not (it stays a 500 in the API and a failure in a worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service.db import database_unavailable
from tests.conftest import POSTGRES_URL
from tests.faults.tcp_proxy import proxied_postgres


def _error(url: str, statement: str = "SELECT 1") -> Exception:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    except Exception as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("no error")


@pytest.mark.skipif(not POSTGRES_URL, reason="needs the real PostgreSQL")
def test_refused_and_dropped_connections_are_unavailable() -> None:
    with proxied_postgres(POSTGRES_URL) as (proxy, url):
        with proxy.down():
            assert database_unavailable(_error(url))  # refused
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            proxy.cut()  # dropped under an open connection
            with pytest.raises(Exception) as dropped:
                connection.execute(text("SELECT 1"))
        engine.dispose()
        assert database_unavailable(dropped.value)
        proxy.restore()
        assert not database_unavailable(_error(url, "SELECT * FROM no_such_table"))


def test_a_statement_error_is_not_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert not database_unavailable(_error(url, "SELECT * FROM no_such_table"))
    assert database_unavailable(_error(f"sqlite:///{tmp_path / 'missing' / 'x.db'}"))
    assert not database_unavailable(RuntimeError("engine exploded"))


def test_a_server_that_never_answers_is_unavailable_after_the_connect_timeout() -> None:
    """A listening socket that never accepts stands in for a host that drops packets: the
    connection gives up after CONNECT_TIMEOUT_S instead of the operating system's minutes."""
    import socket

    from service.db import get_engine

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        port = silent.getsockname()[1]
        engine = get_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
        try:
            with pytest.raises(Exception) as raised, engine.connect():
                pass
        finally:
            engine.dispose()
    assert database_unavailable(raised.value)
    assert "timeout" in str(raised.value).lower()
