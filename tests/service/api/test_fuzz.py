"""A property-based run over the whole OpenAPI schema (schemathesis): whatever a client sends
within the schema or outside it, with a write key, the API never answers 5xx. Bounded here
(MEDSAFE_FUZZ_EXAMPLES per operation and mode, default 12); `make fuzz` runs it longer."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from service import migrate
from service.api.app import create_app
from tests.conftest import one_database
from tests.service.api.conftest import add_dataset, make_key

EXAMPLES = int(os.environ.get("MEDSAFE_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real PostgreSQL where there is one (it refuses what SQLite would store)."""
    with one_database(tmp_path_factory.mktemp("fuzz")) as url:
        yield url


@pytest.fixture(scope="module")
def fuzz_app(fuzz_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from service.queue import connection as queue_connection
    from service.queue.jobs import queue_prefix
    from tests import queue_support

    monkeypatch = pytest.MonkeyPatch()
    data = tmp_path_factory.mktemp("fuzz-data")
    from tests.conftest import REDIS_URL
    from tests.settings_support import medsafe_settings

    with medsafe_settings(monkeypatch, fuzz_db, Path(data), REDIS_URL or ""):
        monkeypatch.setenv("MEDSAFE_QUEUE_PREFIX", queue_support.unique_prefix())
        # Hundreds of writes with one key: a rate limit would answer most of them 429 and
        # leave their routes unexplored (test_access.py proves the limit).
        monkeypatch.setenv("MEDSAFE_WRITE_RATE_LIMIT", "off")
        from service.config import get_settings

        get_settings.cache_clear()
        migrate.prepare_database(fuzz_db)
        add_dataset(fuzz_db)
        yield create_app()
        queue_support.delete_keys(queue_connection.redis_connection(), queue_prefix(),
                                  fuzz_db)
    monkeypatch.undo()


@pytest.fixture(scope="module")
def writer_headers(fuzz_app: Any, fuzz_db: str) -> dict[str, str]:
    return make_key(fuzz_db, "write")


def test_no_request_makes_the_api_answer_5xx(fuzz_app: Any,
                                             writer_headers: dict[str, str]) -> None:
    """Every operation of the schema, each with up to EXAMPLES generated requests (schemathesis
    driven by hypothesis here: its pytest plugin does not run under this pytest)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    for operation, mode in itertools.product(operations, GenerationMode):
        # Positive: requests the schema allows; negative: requests it does not (wrong types,
        # missing fields, odd strings), which must be 4xx, never 5xx.
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call(headers=writer_headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"
                f" -> {response.status_code} {response.text[:200]}")

        try:
            call()
        except Unsatisfiable:
            continue  # an operation without inputs has no negative cases
        except AssertionError as exc:
            failures.append(str(exc))
    assert len(operations) >= 30
    assert not failures, "\n".join(failures)
