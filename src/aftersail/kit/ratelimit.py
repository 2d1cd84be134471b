"""A per-process token bucket for endpoints a stranger can call (buyer verification, chat): a burst is
allowed, a steady flood is refused with 429 and how long to wait. Several processes each keep their own
buckets, so the real limit is the per-process one times the number of processes."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from aftersail.kit.errors import DomainError


class RateLimited(DomainError):
    code = "rate_limited"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, *, per_minute: float, burst: int, max_keys: int = 50_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def check(self, key: str, *, what: str = "requests") -> None:
        """Take one token for `key` or raise RateLimited saying when to try again."""
        now = time.monotonic()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[key] = bucket  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1:
            wait = max(1, round((1 - bucket.tokens) / self.rate))
            raise RateLimited(f"Too many {what}; try again in {wait} seconds.", retry_after=wait)
        bucket.tokens -= 1
