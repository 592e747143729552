"""Delivering webhook notifications: a signed JSON POST, every attempt recorded, retried by
RQ with backoff; the eval it is about is never touched."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from service.db import session_scope
from service.evals.regressions import NotificationStatus
from service.models import Notification, Schedule, utcnow

SIGNATURE_HEADER = "X-MedSafe-Signature"
TIMESTAMP_HEADER = "X-MedSafe-Timestamp"
MAX_ERROR_CHARS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", as the receiver recomputes it:
    "sha256=<hex>". The timestamp lets a receiver refuse old deliveries (replays)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signed_request(payload: dict[str, Any], secret: str | None,
                   now: float | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(now if now is not None else time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               "User-Agent": "medsafe-webhook"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return body, headers


def refused_address(url: str) -> str | None:
    """Why the URL's host may not be called (it resolves to a loopback, private, link-local,
    reserved or multicast address, or not at all), or None."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return f"{host!r} does not resolve"
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%")[0])
        if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
                or ip.is_multicast or ip.is_unspecified):
            return (f"{host} resolves to {ip}, an internal address "
                    "(MEDSAFE_WEBHOOK_ALLOW_PRIVATE=true allows it)")
    return None


def deliver(notification_id: int, db_url: str | None, timeout_s: float,
            last_attempt: bool, allow_private: bool = False) -> bool:
    """One attempt: POST the payload to the schedule's webhook and record the outcome. Raises
    (for RQ to retry) unless the receiver answered 2xx; the last failed attempt marks the
    notification failed."""
    with session_scope(db_url) as session:
        notification = session.get(Notification, notification_id)
        schedule = session.get(Schedule, notification.schedule_id) if notification else None
        delivered = notification is not None and \
            notification.status == NotificationStatus.DELIVERED
        if notification is None or schedule is None or delivered:
            return False
        url, secret, payload = schedule.webhook_url, schedule.webhook_secret, notification.payload
    if not url:
        return False
    body, headers = signed_request({**payload, "notification_id": notification_id}, secret)
    started = time.perf_counter()
    status_code: int | None = None
    refused = None if allow_private else refused_address(url)
    error: str | None = f"refused: {refused}" if refused else None
    if refused:
        last_attempt = True  # no retry changes where a name points
    else:
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout_s,
                                  follow_redirects=False)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    attempt = {"at": utcnow().isoformat(), "status_code": status_code, "error": error,
               "seconds": round(time.perf_counter() - started, 3)}
    with session_scope(db_url) as session:
        notification = session.get(Notification, notification_id)
        if notification is not None:
            notification.attempts = [*notification.attempts, attempt]
            if error is None:
                notification.status = NotificationStatus.DELIVERED
                notification.delivered_at = utcnow()
            elif last_attempt:
                notification.status = NotificationStatus.FAILED
    if error is not None and not refused:
        # The host only: a webhook URL's path can itself be a secret.
        raise RuntimeError(f"webhook {notification_id} to {urlsplit(url).hostname}: {error}")
    return error is None
