"""The API fixtures, for the commands whose effect is checked through the REST API."""

from tests.service.api.conftest import api_settings, client  # noqa: F401
