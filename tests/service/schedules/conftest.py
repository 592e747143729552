"""The API fixtures (database, Redis, keys) for the schedule tests."""

from tests.service.api.conftest import (  # noqa: F401
    api_settings,
    client,
    own_queues,
    reader,
    writer,
)
