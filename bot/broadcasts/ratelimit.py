"""Per-sender send rate shared by every worker thread and process: parts per second.

Why here and not at Twilio: Twilio accepts more than a sender can send and queues the excess per
sender (long code about 1 segment/s; WhatsApp tens per second) for up to `validity_period`
(SMS 10 h, WhatsApp fails after 4 h) — docs/twilio.md "Outbound". A message queued at Twilio can no
longer be cancelled by staff and may expire; pacing on our side keeps "cancel" meaningful and
keeps failures visible in our outbox.

Algorithm: GCRA (virtual scheduling). Each sender key keeps a "theoretical arrival time" (TAT).
A request of `cost` parts at `rate` parts/s starts at ``max(TAT, now − burst)`` and pushes the
TAT by ``cost / rate`` seconds; the caller sleeps until its start. ``burst`` (seconds) lets an
idle sender send ``rate × burst`` parts at once. A caller may say how long it is willing to
wait (``max_wait``): a later start reserves nothing and raises RateLimited with the wait, so a
worker thread is never parked for minutes behind a slow sender (the SMS gateway's phone sends
a few parts a minute) and the TAT never runs ahead of what is really sent. A TAT more than
MAX_AHEAD_S ahead of the clock cannot come from such reservations (a state file left by an
older version, or by a clock since set back) and is treated as idle. Reservations are atomic:

- `FileRateLimiter`: one small file per key under the instance folder, locked with ``flock``
  — every process on one machine (the SqliteHuey set-up);
- `RedisRateLimiter`: a Lua script on Redis using Redis's own clock — any number of machines
  (the RedisHuey set-up).
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import struct
import time
from pathlib import Path
from typing import Callable, Protocol

#: Seconds of credit an idle sender may spend at once.
DEFAULT_BURST_S = 1.0
#: A TAT further ahead than this (seconds) is stale: see the module docstring. Reservations
#: made with a max_wait of a few seconds leave the TAT at most that plus one message's
#: cost/rate ahead (10 parts at 1 part a minute: 600 s).
MAX_AHEAD_S = 900.0


class RateLimited(Exception):
    """The sender's next free slot is more than the caller's ``max_wait`` away; nothing was
    reserved. ``wait`` is the seconds until that slot (come back then)."""

    def __init__(self, wait: float):
        super().__init__(f"next slot in {wait:.1f} s")
        self.wait = wait

_SAFE = re.compile(r"[^A-Za-z0-9_.+-]")


class RateLimiter(Protocol):
    """Anything that reserves sending time for a sender key."""

    def reserve(self, key: str, cost: float, rate: float,
                max_wait: float = math.inf) -> float:
        """Reserve `cost` parts at `rate` parts/s for `key`; return the seconds to wait. When
        that wait exceeds `max_wait` nothing is reserved (the wait is still returned)."""


def acquire(limiter: RateLimiter, key: str, cost: float, rate: float,
            sleep: Callable[[float], None] = time.sleep, max_wait: float = math.inf) -> float:
    """Wait for the right to send `cost` parts (SMS parts, or 1 per WhatsApp message) on sender
    `key` at `rate` parts per second; return the seconds waited. A rate <= 0 means no limit.
    Raises RateLimited (nothing reserved, nothing slept) when the wait would exceed `max_wait`
    seconds, and whatever the limiter raises (OSError, redis errors)."""
    if rate <= 0 or cost <= 0:
        return 0.0
    wait = limiter.reserve(key, float(cost), float(rate), max_wait)
    if wait > max_wait:
        raise RateLimited(wait)
    if wait > 0:
        sleep(wait)
    return wait


class FileRateLimiter:
    """GCRA state in ``<directory>/<key>.rate`` (8 bytes: the TAT as a double, Unix seconds),
    read and written under an exclusive ``flock``: processes on one machine share the rate.

    `burst` is in seconds (see the module docstring). The directory is created if missing.
    """

    def __init__(self, directory: str | os.PathLike, burst: float = DEFAULT_BURST_S,
                 clock: Callable[[], float] = time.time):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.burst = burst
        self.clock = clock

    def reserve(self, key: str, cost: float, rate: float,
                max_wait: float = math.inf) -> float:
        """See RateLimiter.reserve. Raises OSError when the state file cannot be used."""
        path = self.directory / (_SAFE.sub("_", key) + ".rate")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 8, 0)
            tat = struct.unpack("<d", raw)[0] if len(raw) == 8 else 0.0
            now = self.clock()
            if tat - now > MAX_AHEAD_S:
                tat = now  # stale state (module docstring)
            start = max(tat, now - self.burst)
            if start - now > max_wait:
                return start - now
            os.pwrite(fd, struct.pack("<d", start + cost / rate), 0)
            return max(0.0, start - now)
        finally:
            os.close(fd)  # closing releases the lock


_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat - now > tonumber(ARGV[4]) then tat = now end
local start = math.max(tat, now - tonumber(ARGV[2]))
if start - now > tonumber(ARGV[3]) then return string.format('%.6f', start - now) end
redis.call('SET', KEYS[1], string.format('%.6f', start + tonumber(ARGV[1])), 'EX', 3600)
return string.format('%.6f', math.max(0, start - now))
"""


class RedisRateLimiter:
    """GCRA state in Redis key ``<prefix>:rate:<key>``, updated by one Lua script with Redis's
    clock (TIME), so workers on several machines share one rate without trusting their clocks.

    `client` is a redis.Redis; `burst` in seconds.
    """

    def __init__(self, client, prefix: str, burst: float = DEFAULT_BURST_S):
        self.client = client
        self.prefix = prefix
        self.burst = burst
        self._script = client.register_script(_LUA)

    def reserve(self, key: str, cost: float, rate: float,
                max_wait: float = math.inf) -> float:
        """See RateLimiter.reserve. Raises redis.exceptions.RedisError when Redis is down."""
        limit = max_wait if math.isfinite(max_wait) else 1e12
        wait = self._script(keys=[f"{self.prefix}:rate:{key}"],
                            args=[cost / rate, self.burst, limit, MAX_AHEAD_S])
        return float(wait)
