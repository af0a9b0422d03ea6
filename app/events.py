"""Live updates: a small publish/subscribe bus that tells open pages "this comparison (or board)
changed", so they update at once instead of polling every second.

Two backends, chosen from settings as the job runner is (app.main, app.jobs.worker):

- `MemoryBus` (no REDIS_URL): jobs run in the web process, so publishing is handing the
  message to the queues of the open event streams of this process.
- `RedisBus` (REDIS_URL set): jobs run in `takes worker` processes. The worker publishes on
  Redis pub/sub; each web process holds ONE subscription (a pattern over every channel) and
  relays what arrives into the same in-process queues. Redis pub/sub is not scoped by the
  database number, so the channel names carry it: two apps on one Redis never hear each other.

Messages carry ids only (which take, which comparison), never a model: what a viewer may see
is worked out per viewer by the event stream (app/web/live.py asks app.blind through the same
view the page uses). Publishing never fails a caller: a message lost to an outage only delays a
page until its stream's next resync (every heartbeat).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse

from sqlalchemy import select

log = logging.getLogger(__name__)
QUEUE_SIZE = 64
MAX_PENDING = 1000      # publications in flight; beyond that they are dropped (streams resync)
OUTAGE_PAUSE_S = 5.0    # after a failed publication, skip publishing this long


def comparison_channel(comparison_id: str) -> str:
    return f"c:{comparison_id}"


def board_channel(board_id: str) -> str:
    return f"b:{board_id}"


class MemoryBus:
    """In-process fan-out: every subscriber has a bounded queue; a full queue drops the message
    (its stream recomputes the whole state on the next one or on its heartbeat anyway)."""

    def __init__(self) -> None:
        self._subs: dict[str, set[asyncio.Queue]] = {}
        self._where: dict[str, tuple[str, str]] = {}   # take id → (comparison id, board id)
        self._pending: set[asyncio.Task] = set()
        self._down_until = 0.0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    def _later(self, coro) -> None:
        """Run a publication in the background: a job step never waits for it (a slow or
        unreachable Redis must not cost a take its lease). After a failure, publications are
        skipped for a few seconds instead of queueing up connection attempts."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until or len(self._pending) > MAX_PENDING:
            coro.close()
            return
        task = loop.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def publish(self, channel: str, data: dict) -> None:
        self._deliver(channel, data)

    def _deliver(self, channel: str, data: dict) -> None:
        for q in list(self._subs.get(channel, ())):
            try:
                q.put_nowait({"channel": channel, **data})
            except asyncio.QueueFull:
                pass

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[asyncio.Queue]:
        q: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        for ch in channels:
            self._subs.setdefault(ch, set()).add(q)
        try:
            yield q
        finally:
            for ch in channels:
                subs = self._subs.get(ch)
                if subs is not None:
                    subs.discard(q)
                    if not subs:
                        del self._subs[ch]

    def subscribers(self, channel: str) -> int:
        return len(self._subs.get(channel, ()))

    async def take_changed(self, db, take_id: str) -> None:
        """A take's row changed (status, progress): tell its comparison's and its board's
        streams, in the background. Never raises: a lost message costs a page one heartbeat."""
        self._later(self._take_changed(db, take_id))

    async def _take_changed(self, db, take_id: str) -> None:
        try:
            where = self._where.get(take_id)
            if where is None:
                where = await _take_home(db, take_id)
                if where is None:
                    return
                if len(self._where) > 10_000:
                    self._where.clear()
                self._where[take_id] = where
            cid, bid = where
            await self.publish(comparison_channel(cid), {"kind": "take", "take": take_id})
            await self.publish(board_channel(bid), {"kind": "comparison", "comparison": cid})
        except Exception as exc:   # an outage of Redis or the database: the stream resyncs
            self._down_until = asyncio.get_running_loop().time() + OUTAGE_PAUSE_S
            log.warning("could not publish the change of take %s: %s", take_id, exc)

    async def comparison_changed(self, comparison_id: str, board_id: str) -> None:
        """A comparison was made, or a take added from the web (in the background)."""
        self._later(self._comparison_changed(comparison_id, board_id))

    async def _comparison_changed(self, comparison_id: str, board_id: str) -> None:
        try:
            await self.publish(comparison_channel(comparison_id), {"kind": "comparison"})
            await self.publish(board_channel(board_id), {"kind": "comparison", "comparison": comparison_id})
        except Exception as exc:
            self._down_until = asyncio.get_running_loop().time() + OUTAGE_PAUSE_S
            log.warning("could not publish the change of comparison %s: %s", comparison_id, exc)


async def _take_home(db, take_id: str) -> tuple[str, str] | None:
    from app.models import Comparison, Take

    async with db.single() as s:
        row = (await s.execute(select(Take.comparison_id, Comparison.board_id)
                               .join(Comparison, Comparison.id == Take.comparison_id)
                               .where(Take.id == take_id))).first()
    return (row[0], row[1]) if row else None


def redis_prefix(redis_url: str) -> str:
    """Channel prefix with the Redis database number in it (pub/sub ignores databases)."""
    path = urlparse(redis_url).path.strip("/") or "0"
    return f"takes:{path}:events:"


class RedisBus(MemoryBus):
    """Publishes on Redis; relays the pattern subscription into MemoryBus's queues. The
    relay starts with the first subscriber and reconnects (with backoff) after an outage."""

    def __init__(self, redis_url: str) -> None:
        super().__init__()
        self.redis_url, self.prefix = redis_url, redis_prefix(redis_url)
        self._redis = self._relay_redis = None
        self._relay: asyncio.Task | None = None
        self._ready = asyncio.Event()

    def _client(self):
        """The publishing connection: short timeouts (a stalled Redis is an outage)."""
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=2)
        return self._redis

    async def publish(self, channel: str, data: dict) -> None:
        await self._client().publish(self.prefix + channel, json.dumps(data))

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[asyncio.Queue]:
        if self._relay is None or self._relay.done():
            self._relay = asyncio.create_task(self._relay_forever(), name="takes-events-relay")
        async with super().subscribe(*channels) as q:
            try:   # so that what is published after subscribe() returns is not missed
                await asyncio.wait_for(self._ready.wait(), 2)
            except asyncio.TimeoutError:
                log.warning("event relay not connected to Redis yet; the stream resyncs on its heartbeat")
            yield q

    async def _relay_forever(self) -> None:
        wait = 0.5
        while True:
            try:
                if self._relay_redis is None:   # no read timeout: a quiet channel is not an outage
                    import redis.asyncio as aioredis

                    self._relay_redis = aioredis.from_url(self.redis_url, socket_connect_timeout=2,
                                                          health_check_interval=30)
                pubsub = self._relay_redis.pubsub()
                await pubsub.psubscribe(self.prefix + "*")
                self._ready.set()
                wait = 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = message["channel"].decode()[len(self.prefix):]
                    self._deliver(channel, json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._ready.clear()
                log.warning("event relay lost Redis (%s); reconnecting in %.1fs", exc, wait)
                await asyncio.sleep(wait)
                wait = min(10.0, wait * 2)

    async def stop(self) -> None:
        await super().stop()
        if self._relay is not None:
            self._relay.cancel()
            await asyncio.gather(self._relay, return_exceptions=True)
        for client in (self._redis, self._relay_redis):
            if client is not None:
                await client.aclose()


def make_bus(settings) -> MemoryBus:
    return RedisBus(settings.redis_url) if settings.redis_url else MemoryBus()


def sse(event: str, data: dict) -> str:
    """One server-sent event (data on one line: JSON never contains a raw newline)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
