"""The API fixtures for the eval tests that read over REST."""

from tests.service.api.conftest import api_settings, client, reader  # noqa: F401
