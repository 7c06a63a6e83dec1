"""Per-user rate limiting for the WeChat channels: a token bucket per OpenID / external_userid.

One user flooding the account must not occupy Rasa and the action server for everyone else. Each
user gets ``burst`` messages at once and ``per_minute`` sustained; beyond that the message is not
sent to Rasa, and the user gets ONE polite notice per :data:`NOTICE_WINDOW_S`, not one per message.

Shared by every replica in Redis when REDIS_URL is set (one Lua script: atomic, server clock), in
process otherwise. Each decision is remembered per message id, so WeChat's retries of the same
MsgId (or a kf message handled again after a crash) never count twice. User ids appear in keys and
logs only hashed.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Protocol, Tuple

from common.settings import Settings
from connectors.logsafe import pseudonym
from connectors.messages import REPLY_RATE_LIMITED

log = logging.getLogger(__name__)

NOTICE_WINDOW_S = 60.0          # at most one "slow down" notice per user in this window
EVENT_TTL_S = 600.0             # how long a message's decision is remembered (retries, re-syncs)
MAX_USERS = 100_000             # in-process: buckets kept (least recently used dropped first)
MAX_EVENTS = 50_000

ALLOW, DENY, DENY_AND_NOTIFY = 1, 0, 2


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    notify: bool = False        # over the limit and the user has not been told in this window


_VERDICTS = {ALLOW: Verdict(True), DENY: Verdict(False), DENY_AND_NOTIFY: Verdict(False, True)}


class RateLimiter(Protocol):
    def check(self, user_id: str, event_id: str) -> Verdict: ...


def hashed(value: str) -> str:
    """Key material for a user or message id (never stored in clear)."""
    return hashlib.sha256(("insurebot:ratelimit:" + value).encode("utf-8")).hexdigest()[:32]


def _step(tokens: float, last: float, notice: Optional[float], now: float, capacity: float,
          rate_per_s: float) -> Tuple[int, float, Optional[float]]:
    """One token-bucket decision: (verdict, tokens left, time of the last notice)."""
    tokens = min(capacity, tokens + max(0.0, now - last) * rate_per_s)
    if tokens >= 1.0:
        return ALLOW, tokens - 1.0, notice
    if notice is None or now - notice >= NOTICE_WINDOW_S:
        return DENY_AND_NOTIFY, tokens, now
    return DENY, tokens, notice


class MemoryRateLimiter:
    """In-process buckets (one Rasa process, or tests); thread-safe and bounded."""

    def __init__(self, per_minute: int, burst: int, clock: Any = time.monotonic) -> None:
        self.capacity = float(max(1, burst))
        self.rate_per_s = per_minute / 60.0
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: "OrderedDict[str, Tuple[float, float, Optional[float]]]" = OrderedDict()
        self._events: "OrderedDict[str, Tuple[int, float]]" = OrderedDict()

    def check(self, user_id: str, event_id: str) -> Verdict:
        now = self.clock()
        user, event = hashed(user_id), hashed(event_id)
        with self._lock:
            seen = self._events.get(event)
            if seen is not None and now - seen[1] < EVENT_TTL_S:
                return _VERDICTS[ALLOW if seen[0] == ALLOW else DENY]
            tokens, last, notice = self._buckets.pop(user, (self.capacity, now, None))
            verdict, tokens, notice = _step(tokens, last, notice, now, self.capacity, self.rate_per_s)
            self._buckets[user] = (tokens, now, notice)
            self._events[event] = (verdict, now)
            self._events.move_to_end(event)
            while len(self._buckets) > MAX_USERS:
                self._buckets.popitem(last=False)
            while len(self._events) > MAX_EVENTS:
                self._events.popitem(last=False)
        return _VERDICTS[verdict]


# KEYS[1] bucket hash (tokens, ts, notice), KEYS[2] the message's decision
# ARGV: capacity, tokens per ms, notice window ms, event ttl ms, bucket ttl ms, now ms ('' = server clock)
_TOKEN_BUCKET = """
local seen = redis.call('GET', KEYS[2])
if seen then
  if seen == '1' then return 1 end
  return 0
end
local now = tonumber(ARGV[6])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'notice')
local tokens = tonumber(state[1]) or capacity
local last = tonumber(state[2]) or now
local notice = tonumber(state[3])
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate)
local verdict = 0
if tokens >= 1 then
  tokens = tokens - 1
  verdict = 1
elseif notice == nil or now - notice >= tonumber(ARGV[3]) then
  notice = now
  verdict = 2
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
if notice ~= nil then redis.call('HSET', KEYS[1], 'notice', tostring(notice)) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], tostring(verdict), 'PX', ARGV[4])
return verdict
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every replica; one atomic script per message."""

    def __init__(self, url: str, per_minute: int, burst: int, *, prefix: str = "insurebot:ratelimit:",
                 client: Any = None, fallback: Optional["MemoryRateLimiter"] = None,
                 retry_after_s: float = 5.0) -> None:
        """``fallback``: this process's buckets while Redis is unreachable (tried again every
        ``retry_after_s``). Without one, a Redis outage raises and the channels let messages through;
        with one, each replica keeps limiting on its own until Redis is back."""
        import redis

        self._fallback, self._retry_after_s, self._skip_until = fallback, retry_after_s, 0.0
        self._down_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

        self._redis = client or redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2,
                                                     decode_responses=True)
        self._script = self._redis.register_script(_TOKEN_BUCKET)
        self.prefix = prefix
        self.capacity = max(1, burst)
        self.rate_per_ms = per_minute / 60_000.0
        refill_s = self.capacity / (per_minute / 60.0) if per_minute > 0 else 0
        self._bucket_ttl_ms = int((refill_s + NOTICE_WINDOW_S) * 1000) + 1000

    def check(self, user_id: str, event_id: str, now_ms: Optional[int] = None) -> Verdict:
        if self._fallback is not None and time.monotonic() < self._skip_until:
            return self._fallback.check(user_id, event_id)
        keys = [f"{self.prefix}u:{hashed(user_id)}", f"{self.prefix}m:{hashed(event_id)}"]
        args = [self.capacity, repr(self.rate_per_ms), int(NOTICE_WINDOW_S * 1000), int(EVENT_TTL_S * 1000),
                self._bucket_ttl_ms, "" if now_ms is None else now_ms]
        try:
            return _VERDICTS[int(self._script(keys=keys, args=args))]
        except self._down_errors:
            if self._fallback is None:
                raise
            self._skip_until = time.monotonic() + self._retry_after_s
            return self._fallback.check(user_id, event_id)

    def close(self) -> None:
        self._redis.close()


async def rate_limit_reply(limiter: Optional[RateLimiter], user_id: str, event_id: str, channel: str,
                           **log_fields: Any) -> Optional[List[str]]:
    """What a channel sends instead of a bot turn: None (go on), the notice once per window, or nothing.

    Fails open: when the limiter's store is down the message is served, since dropping every message is
    worse than a moment without limits. Runs the (possibly Redis-backed) check off the event loop.
    """
    if limiter is None:
        return None
    try:
        verdict = await asyncio.to_thread(limiter.check, user_id, event_id)
    except Exception as exc:
        log.error("rate limiter unavailable; message allowed",
                  extra={"event": f"{channel}.ratelimit_down", "error": type(exc).__name__})
        return None
    if verdict.allowed:
        return None
    log.warning("rate limited", extra={"event": f"{channel}.rate_limited", **log_fields,
                                       "user": pseudonym(user_id), "notified": verdict.notify})
    return [REPLY_RATE_LIMITED] if verdict.notify else []


def open_limiter(settings: Settings, channel: str) -> Optional[RateLimiter]:
    """The limiter the settings ask for; None when RATE_LIMIT_PER_MINUTE is 0 (no limit)."""
    if settings.rate_limit_per_minute <= 0:
        return None
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, settings.rate_limit_per_minute, settings.rate_limit_burst,
                                prefix=f"insurebot:ratelimit:{channel}:",
                                fallback=MemoryRateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst))
    return MemoryRateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)


def describe(settings: Settings) -> Dict[str, Any]:
    """For start-up logs: what limit applies, never any user data."""
    return {"per_minute": settings.rate_limit_per_minute, "burst": settings.rate_limit_burst,
            "shared": bool(settings.redis_url) and settings.rate_limit_per_minute > 0}
