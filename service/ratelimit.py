"""Per-key rate limits on writes: a moving window per API key, kept in the Redis that
carries the queues so every API process counts together (the `limits` library)."""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import Redis
from redis.exceptions import RedisError

from service.errors import InvalidInput, MedSafeError

log = logging.getLogger(__name__)

DISABLED = ("", "0", "none", "off")


class RateLimited(MedSafeError):
    """A key sent more writes than MEDSAFE_WRITE_RATE_LIMIT allows."""

    status_code = 429
    error = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}


def parse_rate(text: str) -> list[RateLimitItem]:
    """Rates such as "60/minute" or "10/second;300/hour" (all must hold); none when off."""
    if text.strip().lower() in DISABLED:
        return []
    try:
        return list(parse_many(text))
    except ValueError as exc:
        raise InvalidInput(f"rate limit {text!r} is not like '60/minute' or "
                           "'10/second;300/hour'") from exc


class WriteLimiter:
    """Counts each key's writes; `hit` raises RateLimited once a rate is used up."""

    def __init__(self, connection: Redis, rates: list[RateLimitItem], prefix: str) -> None:
        storage = RedisStorage("redis://", connection_pool=connection.connection_pool,
                               key_prefix=f"{prefix}:ratelimit")
        self._limiter = MovingWindowRateLimiter(storage)
        self._rates = rates

    def hit(self, key_prefix: str) -> None:
        """Count one write by the key whose prefix (random, unique) is `key_prefix`. When
        Redis cannot be asked the write goes ahead: the queue it needs will say so."""
        for rate in self._rates:
            try:
                allowed = self._limiter.hit(rate, "write", key_prefix)
                reset = self._limiter.get_window_stats(rate, "write", key_prefix).reset_time
            except (RedisError, OSError) as exc:
                log.warning("rate limit not checked: Redis did not answer (%s)", exc)
                return
            if not allowed:
                wait = max(1, math.ceil(reset - time.time()))
                raise RateLimited(f"this key has used its writes ({rate.amount} per "
                                  f"{rate.multiples} {rate.GRANULARITY.name}); try again in "
                                  f"{wait} s", wait)
