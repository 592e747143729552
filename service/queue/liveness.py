"""Worker liveness: each worker keeps a key of its own fresh in Redis and records which
process it is, so the reconciler can tell a dead worker from a slow one at once on the same
host (a SIGKILL leaves no time to say goodbye) and by the key expiring elsewhere."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from redis import Redis
from rq.worker import BaseWorker

from service.queue.jobs import queue_prefix

LIVENESS_TTL_S = 60


def queue_has_worker(connection: Redis, queue: str) -> bool:
    """Whether any registered RQ worker listens on the queue (a worker's registration expires
    a little after its last heartbeat)."""
    from rq import Queue, Worker

    return bool(Worker.all(connection=connection, queue=Queue(queue, connection=connection)))


def liveness_key(name: str, prefix: str | None = None) -> str:
    return f"{prefix or queue_prefix()}:alive:{name}"


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """Who a worker process is: host, boot, pid and the kernel's start time of that pid, so
    a reused pid is not mistaken for the worker."""
    pid = pid or os.getpid()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid,
            "start": _proc_stat(pid)[1]}


def mark_alive(connection: Redis, name: str, identity: dict[str, Any],
               prefix: str | None = None, ttl: int = LIVENESS_TTL_S) -> None:
    connection.set(liveness_key(name, prefix), json.dumps(identity), ex=ttl)


def mark_gone(connection: Redis, name: str, prefix: str | None = None) -> None:
    connection.delete(liveness_key(name, prefix))


def worker_alive(connection: Redis, name: str, prefix: str | None = None) -> bool:
    """False once the worker's liveness key expired, or at once when its process ran on this
    machine and is gone (a SIGKILL leaves no time to say goodbye)."""
    raw: Any = connection.get(liveness_key(name, prefix))
    if raw is None:
        return False
    identity = json.loads(raw)
    if identity.get("host") != socket.gethostname() or identity.get("boot") != _boot_id():
        return True  # another machine: only its key expiring tells
    return not _process_gone(int(identity["pid"]), identity.get("start"))


def process_alive(identity: dict[str, Any]) -> bool | None:
    """Whether the process of a process_identity() still runs: False when it is gone or this
    machine restarted since; None when it ran on another machine, which only it can tell."""
    if identity.get("host") != socket.gethostname():
        return None
    if identity.get("boot") != _boot_id():
        return False  # this machine restarted since
    return not _process_gone(int(identity["pid"]), identity.get("start"))


def _process_gone(pid: int, start: str | None) -> bool:
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    state, started = _proc_stat(pid)
    return state in (None, "Z", "X") or (start is not None and started != start)


def _proc_stat(pid: int) -> tuple[str | None, str | None]:
    """(state, start time) of a process from /proc; (None, None) where there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    fields = text.rpartition(")")[2].split()
    return fields[0], fields[19]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def release_worker_name(connection: Redis, name: str, prefix: str | None = None) -> None:
    """Let a restarted worker take its old name: RQ refuses a name whose registration a
    killed worker left behind. Raises when a live worker holds the name."""
    if worker_alive(connection, name, prefix):
        raise RuntimeError(f"a worker named {name!r} is running; give this one another --name")
    key = BaseWorker.redis_worker_namespace_prefix + name
    if connection.exists(key) and not connection.hexists(key, "death"):
        connection.delete(key)
        connection.srem(BaseWorker.redis_workers_keys, key)
