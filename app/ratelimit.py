"""Rate limits (sign-in, sign-up, votes, comments): a sliding-window log per key, in memory.

In memory means per web process. With `takes serve --workers N` each of the N processes
keeps its own log, so every limit is divided by N (rounded down, at least 1: `Limits`): the
requests of one client spread over the processes can then never add up to more than the
configured limit, at the price of a client whose requests all land on one process being held
to 1/N of it. (Keeping the log in the database or Redis instead would add a round trip to
every vote.) A limiter answers "how long until this key may try again" so the response can
carry an honest Retry-After.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self.limit, self.window_s, self.clock, self.max_keys = limit, window_s, clock, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _log(self, key: str, now: float) -> deque[float]:
        log = self._hits.get(key)
        if log is None:
            log = self._hits[key] = deque()
            while len(self._hits) > self.max_keys:  # forget the least recently used keys
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while log and log[0] <= now - self.window_s:
            log.popleft()
        return log

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may act again, or None if it may act now (nothing recorded)."""
        now = self.clock()
        log = self._log(key, now)
        if len(log) < self.limit:
            return None
        return max(1, math.ceil(log[0] + self.window_s - now))

    def hit(self, key: str) -> int | None:
        """Record an action by `key` if allowed; otherwise return the seconds to wait."""
        wait = self.retry_after(key)
        if wait is None:
            self._hits[key].append(self.clock())
        return wait

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)


class Backoff:
    """Failures per key; once `threshold` of them fall within `window_s`, each further attempt
    waits base_s · 2^(failures − threshold) seconds (at most `cap_s`) after the last failure.

    For the failures of one account from anywhere: a fixed lock of the whole window would let
    anyone lock anyone out by guessing wrong on purpose; a short, growing wait still turns a
    distributed guesser's millions of tries into a few hundred, and a browser that has signed
    in to the account before is not held back by it at all (app.web.accounts)."""

    def __init__(self, threshold: int, base_s: float, cap_s: float, window_s: float, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.threshold, self.base_s, self.cap_s = threshold, base_s, cap_s
        self.failures = RateLimiter(10 ** 9, window_s, clock=clock, max_keys=max_keys)

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None."""
        log = self.failures._log(key, self.failures.clock())
        if len(log) < self.threshold:
            return None
        wait = min(self.cap_s, self.base_s * 2 ** (len(log) - self.threshold))
        left = log[-1] + wait - self.failures.clock()
        return max(1, math.ceil(left)) if left > 0 else None

    def fail(self, key: str) -> None:
        self.failures.hit(key)

    def reset(self, key: str) -> None:
        self.failures.reset(key)


def share(limit: int, processes: int) -> int:
    """One process's part of a limit shared by `processes` web processes (see the module
    docstring): never more than the limit in total, never 0."""
    return max(1, limit // max(1, processes))


class Limits:
    """The app's rate limiters (per process), sized from settings and divided among the web
    processes (settings.web_workers)."""

    def __init__(self, settings):
        w, n = settings.signin_window_s, getattr(settings, "web_workers", 1)
        self.signin_failures = RateLimiter(share(settings.signin_max_failures, n), w)   # key: email|address
        # key: email, from any address; browsers that signed in to it before are exempt
        self.signin_account = Backoff(share(settings.signin_max_failures * 10, n), 1, 60, w)
        self.signin_ip = RateLimiter(share(settings.signin_max_per_ip, n), w)           # key: address
        self.signup_ip = RateLimiter(share(settings.signup_per_ip_per_hour, n), 3600)
        self.votes = RateLimiter(share(settings.votes_per_minute, n), 60)               # key: voter
        # key: address — a script that drops its cookies is a new voter on every request
        self.votes_ip = RateLimiter(share(settings.votes_per_minute * 5, n), 60)
        self.comments = RateLimiter(share(settings.comments_per_minute, n), 60)
        self.new_voters_ip = RateLimiter(share(settings.new_voters_per_ip_per_hour, n), 3600)   # key: address
