"""GET /metrics for Prometheus, and the API's own request metrics.

Each app has a registry of its own: request counts and latencies (counted by an ASGI
middleware around everything else, so a request the body guard refuses is counted too),
this process's CPU and memory, and service.observability.metrics' collector, which reads the
database and Redis at scrape time (workers' numbers come from there, not from the workers).

Requests are labelled by route template (`/v1/evals/{eval_id}`), never by the raw path, so
ids do not multiply the series; a path no route matches is `route="unmatched"`, and a method
outside the standard ones `method="other"`: nothing a client sends adds series.

/metrics shows counts only (no prompt, answer, key or eval id), so it is open by default,
as /healthz is; MEDSAFE_METRICS_KEY_REQUIRED=true makes it ask for a key with the read
scope (`authorization` in Prometheus' scrape_config).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import auth
from service.api.deps import SettingsDep
from service.config import Settings
from service.db import session_scope
from service.observability.metrics import MedSafeCollector
from service.queue.connection import redis_connection
from service.queue.jobs import queue_prefix

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
router = APIRouter(tags=["operations"])


class RequestMetrics:
    """ASGI middleware: every HTTP request counted by method, route template and status,
    and timed by method and route template."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless a response starts: an exception that escapes every handler

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_template(scope)
            method = str(scope.get("method", ""))
            method = method if method in METHODS else "other"  # a client names the method
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - start)


def route_template(scope: Scope) -> str:
    """The template of the route that served (or would have served) the request."""
    route: Any = scope.get("route")
    if route is None:  # answered before routing (the body guard): find the route it named
        app: Any = scope.get("app")
        for candidate in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = candidate.matches(scope)
            if match != Match.NONE:
                route = candidate
                break
    if route is None:
        return UNMATCHED
    return str(getattr(route, "path_format", None) or getattr(route, "path", UNMATCHED))


def install_metrics(app: FastAPI, settings: Settings) -> CollectorRegistry:
    """Give the app its registry, the request middleware (outermost: add it after the other
    middleware) and GET /metrics."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    requests = Counter("medsafe_http_requests", "HTTP requests by method, route template "
                       "and status.", ["method", "route", "status"], registry=registry)
    latency = Histogram("medsafe_http_request_duration_seconds", "HTTP request latency by "
                        "method and route template.", ["method", "route"], registry=registry)
    registry.register(MedSafeCollector(
        settings.resolved_database_url, lambda: redis_connection(), lambda: queue_prefix(),
        cache_s=settings.metrics_cache_s))
    app.state.metrics_registry = registry
    app.add_middleware(RequestMetrics, requests=requests, latency=latency)
    app.include_router(router)
    return registry


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "Prometheus text exposition format (OpenMetrics when asked for)",
    "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics(request: Request, settings: SettingsDep) -> Response:
    """Counts for Prometheus: requests, queues, shards, items, tokens, eval durations and
    worker heartbeats. Open unless MEDSAFE_METRICS_KEY_REQUIRED (then a read key)."""
    if settings.metrics_key_required:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with session_scope(settings.resolved_database_url()) as session:
            key = auth.authenticate(session, token.strip() if scheme.lower() == "bearer"
                                    else None)
            auth.require_scope(key, auth.Scope.READ)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(encoder(registry), media_type=content_type)
