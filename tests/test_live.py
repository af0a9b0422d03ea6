"""Live updates without a browser: the event bus (in memory and over a real Redis), the time-left
estimate, and the event streams — what they send, to whom, and what they never send on a blind
board before the vote. The browser side is tests/test_live_browser.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.events import MemoryBus, RedisBus, redis_prefix
from app.models import Take, utcnow
from app.progress import median_generation_s, recent_medians, timing
from tests.support.clients import wait_for_takes
from tests.support.sse import parse_sse
from tests.support.factories import ready_comparison, vote
from tests.support.team import make_team

DEMOS = ["demo/aurora", "demo/ember", "demo/blocks"]


# ---- time left ---------------------------------------------------------------------------------

def _take(model="demo/aurora", status="ready", gen=None, created_ago=30.0, submitted_ago=None, now=None):
    now = now or utcnow()
    t = Take(model_id=model, provider="demo", status=status, created_at=now - timedelta(seconds=created_ago))
    if gen is not None:
        t.submitted_at, t.finished_at = now - timedelta(seconds=gen + 1), now - timedelta(seconds=1)
    elif submitted_ago is not None:
        t.submitted_at = now - timedelta(seconds=submitted_ago)
    return t


def test_median_is_per_model_over_ready_takes_only():
    takes = [_take(gen=g) for g in (10, 20, 90)] + [_take("demo/ember", gen=4), _take("demo/ember", gen=6)]
    failed = _take(status="failed")
    failed.submitted_at, failed.finished_at = utcnow() - timedelta(seconds=500), utcnow()
    assert median_generation_s(takes + [failed, _take(status="running", submitted_ago=3)]) == {
        "demo/aurora": 20.0, "demo/ember": 5.0}


def test_time_left_counts_from_submission_and_never_goes_negative():
    now = utcnow()
    running = _take(status="running", created_ago=12, submitted_ago=8, now=now)
    t = timing(running, 20.0, now)
    assert t.elapsed_s == pytest.approx(12) and t.left_s == pytest.approx(12) and not t.overdue
    queued = _take(status="queued", created_ago=3, now=now)
    assert timing(queued, 20.0, now).left_s == pytest.approx(20)          # not started at the provider
    late = _take(status="running", created_ago=40, submitted_ago=35, now=now)
    assert timing(late, 20.0, now).left_s == 0.0 and timing(late, 20.0, now).overdue
    assert timing(running, None, now).left_s is None                       # no finished take to go by
    done = _take(gen=5, created_ago=9, now=now)
    assert timing(done, 20.0, now).elapsed_s == pytest.approx(8) and timing(done, 20.0, now).left_s == 0.0


async def test_recent_medians_read_the_database(app):
    await ready_comparison(app, models=("demo/aurora", "demo/blocks"))      # each took GENERATION_S = 2 s
    async with app.state.db.session() as s:
        assert await recent_medians(s, ["demo/aurora", "demo/ember"]) == {"demo/aurora": 2.0}


# ---- the bus -----------------------------------------------------------------------------------

async def test_memory_bus_delivers_to_subscribers_of_the_channel_only():
    bus = MemoryBus()
    async with bus.subscribe("c:1") as one, bus.subscribe("c:2") as two:
        await bus.publish("c:1", {"kind": "take", "take": "t1"})
        assert (await asyncio.wait_for(one.get(), 1)) == {"channel": "c:1", "kind": "take", "take": "t1"}
        assert two.empty()
    assert bus.subscribers("c:1") == 0


async def test_redis_bus_relays_what_another_process_publishes(fresh_redis):
    web, worker = RedisBus(fresh_redis), RedisBus(fresh_redis)   # two processes' buses
    base, _, db = fresh_redis.rpartition("/")
    other_db = RedisBus(f"{base}/{(int(db or 0) + 8) % 16}")      # any database but this test's own
    assert redis_prefix(fresh_redis) != other_db.prefix
    try:
        async with web.subscribe("c:abc") as q:
            await other_db.publish("c:abc", {"kind": "take", "take": "elsewhere"})   # another app on this Redis
            await worker.publish("c:abc", {"kind": "take", "take": "t9"})
            got = await asyncio.wait_for(q.get(), 5)
            assert got == {"channel": "c:abc", "kind": "take", "take": "t9"}
            await asyncio.sleep(0.2)
            assert q.empty()
    finally:
        for b in (web, worker, other_db):
            await b.stop()


# ---- the streams -------------------------------------------------------------------------------

async def test_comparison_stream_follows_generation_in_process(app, client):
    """Heartbeats are 60 s here: every state after the first came through the bus."""
    app.state.settings.sse_heartbeat_s = 60
    r = await client.post("/api/comparisons", json={"prompt": "kites", "models": DEMOS, "duration_s": 4,
                                                     "resolution": "360p"})
    cid = r.json()["id"]
    # until_done ends the stream at the all-done state; hold_s only bounds a hung run
    events = await client.get(f"/c/{cid}/events", params={"hold_s": 120, "until_done": "true"})
    assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
    states = [d for e, d in parse_sse(events.text) if e == "state"]
    assert len(states) >= 2 and not states[0]["all_done"]
    assert states[-1]["all_done"] and states[-1]["ready"] == 3 and states[-1]["finished"] == 3
    assert [t["label"] for t in states[-1]["takes"]] == ["A", "B", "C"]
    assert all(t["status"] == "ready" and t["left_s"] == 0.0 for t in states[-1]["takes"])
    running = [t for s in states for t in s["takes"] if t["status"] not in ("ready", "failed")]
    assert running and all(t["elapsed_s"] >= 0 for t in running)
    # a finished comparison: one state, and the stream ends at once though hold_s is ten minutes
    again = await asyncio.wait_for(client.get(f"/c/{cid}/events", params={"hold_s": 600, "until_done": "true"}), 10)
    assert [d["all_done"] for e, d in parse_sse(again.text) if e == "state"] == [True]


async def test_board_stream_announces_a_new_comparison(app, client):
    app.state.settings.sse_heartbeat_s = 60

    async def start_later():
        await asyncio.sleep(0.5)
        await client.post("/api/comparisons", json={"prompt": "late", "models": ["demo/aurora"], "duration_s": 4,
                                                    "resolution": "360p"})

    first = await client.post("/api/comparisons", json={"prompt": "first", "models": ["demo/aurora"],
                                                         "duration_s": 4, "resolution": "360p"})
    await wait_for_takes(client, first.json()["id"])
    task = asyncio.create_task(start_later())
    events = await client.get("/b/default/events", params={"hold_s": 3})
    await task
    states = [d for e, d in parse_sse(events.text) if e == "state"]
    assert len(states[0]["comparisons"]) == 1 and len(states[-1]["comparisons"]) == 2
    assert states[-1]["comparisons"][0]["total"] == 1


async def test_streams_are_404_to_outsiders(app):
    team = await make_team(app)
    c = await ready_comparison(app, team.board)
    async with team.client("outsider") as out, team.client("viewer") as viewer:
        refused = {}
        for path in (f"/c/{c.id}/events", f"/b/{team.board.slug}/events"):
            r = refused[path] = await out.get(path, params={"hold_s": 0})
            assert r.status_code == 404 and "text/event-stream" not in r.headers["content-type"]
            ok = await viewer.get(path, params={"hold_s": 0})
            assert ok.status_code == 200 and parse_sse(ok.text)[0][0] == "state"
        missing = await viewer.get("/c/nope/events", params={"hold_s": 0})
        assert missing.status_code == 404 and missing.json()["detail"] == refused[f"/c/{c.id}/events"].json()["detail"].replace(c.id, "nope")


async def test_blind_stream_names_no_model_before_the_vote(app):
    team = await make_team(app, blind=True)
    c = await ready_comparison(app, team.board, models=("demo/aurora", "demo/blocks"))
    names = [app.state.catalog.get(m).name for m in ("demo/aurora", "demo/blocks")]
    async with team.client("voter") as voter:
        before = await voter.get(f"/c/{c.id}/events", params={"hold_s": 0})
        (event, state), = parse_sse(before.text)
        assert event == "state" and state["takes"] == [] and state["finished"] == 2 and not state["revealed"]
        for leak in ["demo/", *names, *(t.id for t in c.takes), "elapsed", "left_s"]:
            assert leak not in before.text
        me = (await voter.get("/api/me")).json()
        await vote(app, c, me["voter"], take_a=c.takes[0].id, take_b=c.takes[1].id, outcome="a")
        after = await voter.get(f"/c/{c.id}/events", params={"hold_s": 0})
        (_, state), = parse_sse(after.text)
        assert state["revealed"] and sorted(t["id"] for t in state["takes"]) == sorted(t.id for t in c.takes)


async def test_publishing_never_holds_up_a_step_when_redis_is_down():
    """A job step publishes after each write: with Redis unreachable that returns at once,
    and later publications are skipped for a while instead of each waiting for a connection."""
    import time

    bus = RedisBus("redis://127.0.0.1:1/3")   # nothing listens on port 1
    try:
        started = time.monotonic()
        await bus.comparison_changed("c1", "b1")
        assert time.monotonic() - started < 0.1
        await asyncio.gather(*bus._pending, return_exceptions=True)
        assert bus._down_until > asyncio.get_running_loop().time()
        await bus.comparison_changed("c1", "b1")
        assert not bus._pending                         # skipped during the pause
    finally:
        await bus.stop()


async def test_a_quiet_stream_sends_heartbeats_and_a_retry_hint(app, client):
    app.state.settings.sse_heartbeat_s = 0.2
    c = await ready_comparison(app)
    r = await client.get(f"/c/{c.id}/events", params={"hold_s": 1.2})
    assert r.text.startswith("retry: 2000\n\n") and r.text.count(": ping\n\n") >= 3
    assert [e for e, _ in parse_sse(r.text)] == ["state"]          # nothing changed: one state
    assert r.headers["cache-control"] == "no-store"


def test_serve_stops_on_sigterm_though_an_event_stream_is_open(settings, tmp_path):
    """A comparison's event stream never ends by itself: `takes serve` closes it after
    SHUTDOWN_GRACE_S instead of waiting on it until it is killed (each test server with a
    comparison page open took the full 10 s of its SIGKILL timeout to stop)."""
    import signal
    import threading
    import time

    import httpx

    from tests.fakes import free_port
    from tests.support.live import Proc, wait_http
    from tests.support.settings import settings_env

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Proc(["serve", "--port", str(port)], {**settings_env(settings), "SHUTDOWN_GRACE_S": "1"},
                tmp_path / "serve.log").start()
    try:
        wait_http(url, proc)
        made = httpx.post(url + "/api/comparisons", json={"prompt": "kites", "models": ["demo/aurora"],
                                                          "duration_s": 4, "resolution": "360p"})
        assert made.status_code == 202, made.text
        opened, ended = threading.Event(), threading.Event()

        def listen():
            try:
                with httpx.stream("GET", f"{url}/c/{made.json()['id']}/events", params={"hold_s": 600},
                                  timeout=30) as r:
                    opened.set()
                    for _ in r.iter_bytes():
                        pass
            except httpx.HTTPError:
                pass
            ended.set()

        threading.Thread(target=listen, daemon=True).start()
        assert opened.wait(10), proc.output()
        time.sleep(0.3)
        start = time.monotonic()
        proc.p.send_signal(signal.SIGTERM)
        proc.p.wait(9)
        assert time.monotonic() - start < 5, proc.output()
        assert ended.wait(5)
    finally:
        proc.kill()
