"""The FastAPI application: routers under /v1, health probes, one error shape, docs at /docs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi_offline import FastAPIOffline

from service.api.errors import install_error_handlers
from service.api.limits import BodySizeLimit
from service.api.metrics import install_metrics
from service.api.presenters import API_PREFIX
from service.api.routers import (
    audit,
    calibrations,
    compare,
    datasets,
    evals,
    finetunes,
    health,
    reports,
    schedules,
    trends,
)
from service.api.schemas import ErrorRead
from service.api.text_guard import reject_unstorable_text
from service.config import Settings, get_settings
from service.ratelimit import parse_rate
from service.ui.site import install_ui

DESCRIPTION = """Measure the medical safety of language models.

Every endpoint but `/healthz`, `/readyz` and `/metrics` (Prometheus; see
MEDSAFE_METRICS_KEY_REQUIRED) needs an API key (`medsafe keys create`), sent as
`Authorization: Bearer msk_...`. Errors have one shape: `{"error": code, "detail": message}`.
GET answers carry an `ETag`; send it back as `If-None-Match` to get a bodiless 304 while
nothing changed."""


def max_upload_bytes(settings: Settings) -> int:
    return settings.max_upload_mb * 1024 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for `settings` (default: the environment's). The queue always uses the
    environment's settings (service.queue)."""
    settings = settings or get_settings()
    app = FastAPIOffline(title="MedSafe", version="0.1.0", description=DESCRIPTION,
                  responses={"4XX": {"model": ErrorRead, "description": "an error"}},
                  dependencies=[Depends(reject_unstorable_text)])
    app.state.settings = settings
    app.state.max_upload_bytes = max_upload_bytes(settings)
    parse_rate(settings.write_rate_limit)  # a malformed MEDSAFE_WRITE_RATE_LIMIT stops startup
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    install_ui(app)  # the dashboard at /ui: dispatched before the body guard (service.ui.site)
    install_metrics(app, settings)  # after the other middleware: it counts what they answer
    app.include_router(health.router)
    v1 = APIRouter(prefix=API_PREFIX)
    for module in (evals, datasets, compare, calibrations, schedules, trends, finetunes,
                   audit, reports):
        v1.include_router(module.router)
    app.include_router(v1)
    return app
