"""Outgoing board webhooks (app/webhooks.py) against a local receiving server that checks
every Standard Webhooks signature: events for take.ready / take.failed / comparison.complete /
vote.cast / suite.complete (done and cancelled), retries after 500s with the same webhook-id, giving up, the delivery log (API and
settings page), bad input; in-process runner on SQLite and PostgreSQL, and a `takes worker`
process on PostgreSQL and Redis. The settings page in Chromium: tests/test_webhooks_browser.py."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes import serve
from tests.support.clients import browser_like, in_process_client, wait_for_takes, wait_for_takes_over_http
from tests.support.live import Proc
from tests.support.live import wait_http as _wait_http
from tests.support.settings import make_settings, settings_env

EVENTS = ["take.ready", "take.failed", "comparison.complete", "vote.cast"]


class Receiver:
    """Records each delivery and whether its signature held; answers 500 to the first
    `fail_first` attempts of each message (to every attempt with fail_first < 0)."""

    def __init__(self):
        self.secret: str | None = None
        self.fail_first = 0
        self.got: list[dict] = []
        self.lock = threading.Lock()

    async def handle(self, request: Request):
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        body = await request.body()
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
            verified = True
        except WebhookVerificationError:
            verified = False
        with self.lock:
            n = sum(g["id"] == request.headers.get("webhook-id") for g in self.got)
            fail = self.fail_first < 0 or n < self.fail_first
            self.got.append({"id": request.headers.get("webhook-id"), "verified": verified,
                             "json": __import__("json").loads(body), "answered": 500 if fail else 200})
        return JSONResponse({"ok": not fail}, status_code=500 if fail else 200)

    def delivered(self) -> dict[str, dict]:
        with self.lock:
            return {g["id"]: g for g in self.got if g["answered"] == 200}


@contextmanager
def receiving():
    rec = Receiver()
    with serve(Starlette(routes=[Route("/hook", rec.handle, methods=["POST"])])) as url:
        yield rec, url + "/hook"


@pytest.fixture
def receiver():
    with receiving() as pair:
        yield pair


@pytest.fixture
async def wh_app(db_url, tmp_path):
    from app.main import create_app

    settings = make_settings(db_url, tmp_path, webhook_sweep_s=0.1, webhook_retry_s=[0.2, 0.2, 0.2],
                             demo_fail_models=["demo/ember"])
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def _until(check, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)
    return result


async def _board(client) -> str:
    r = await client.post("/api/boards", json={"name": "Render farm", "blind": False})
    assert r.status_code == 201, r.text
    return r.json()["slug"]


async def _add(client, url: str, events=EVENTS, board: str = "hooks") -> dict:
    r = await client.post(f"/api/boards/{board}/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    assert r.json()["secret"].startswith("whsec_")
    return r.json()


async def test_events_are_signed_retried_after_500s_and_logged(wh_app, receiver):
    rec, url = receiver
    rec.fail_first = 2
    async with in_process_client(wh_app) as c:
        client = browser_like(c)
        slug = await _board(client)
        rec.secret = (await _add(client, url, board=slug))["secret"]
        r = await client.post("/api/comparisons", json={"prompt": "kites at dusk", "models": ["demo/aurora", "demo/ember"],
                                                        "duration_s": 2, "resolution": "360p", "board": slug})
        assert r.status_code == 202, r.text
        done = await wait_for_takes(client, r.json()["id"])
        by_model = {t["model"]: t for t in done["takes"]}
        assert by_model["demo/aurora"]["status"] == "ready" and by_model["demo/ember"]["status"] == "failed"
        await _until(lambda: len(rec.delivered()) >= 3)
        ready = by_model["demo/aurora"]
        # vote.cast needs two ready takes: a second comparison with two models that render
        r = await client.post("/api/comparisons", json={"prompt": "rain on glass", "models": ["demo/aurora", "demo/blocks"],
                                                        "duration_s": 3, "resolution": "360p", "board": slug})
        assert r.status_code == 202, r.text
        second = await wait_for_takes(client, r.json()["id"])
        a, b = (t["id"] for t in second["takes"])
        vote = await client.post(f"/api/comparisons/{second['id']}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
        assert vote.status_code == 201, vote.text
        got = await _until(lambda: (d := rec.delivered()) if len(rec.delivered()) >= 7 else None)
        log = (await client.get(f"/api/boards/{slug}/webhooks/deliveries")).json()
        page = (await client.get(f"/b/{slug}/settings")).text
    assert all(g["verified"] for g in rec.got), rec.got
    types = [g["json"]["type"] for g in got.values()]
    assert sorted(set(types)) == sorted(EVENTS) and len(types) == 7
    assert types.count("comparison.complete") == 2 and types.count("take.ready") == 3
    failed = next(g["json"]["data"] for g in got.values() if g["json"]["type"] == "take.failed")
    assert failed["take"]["model"] == "demo/ember" and failed["take"]["error"]
    assert any(g["json"]["data"]["take"]["id"] == ready["id"] for g in got.values() if g["json"]["type"] == "take.ready")
    cast = next(g["json"]["data"] for g in got.values() if g["json"]["type"] == "vote.cast")
    assert cast["comparison"]["id"] == second["id"] and cast["pairs"][0]["winner"] in ("model_a", "model_b")
    # each message's two 500s were retried under its same webhook-id, and the log says so
    for msg_id in got:
        assert [g["answered"] for g in rec.got if g["id"] == msg_id] == [500, 500, 200]
    assert {(e["status"], e["attempts"], e["last_status"], e["endpoint_url"]) for e in log} == {("delivered", 3, 200, url)}
    assert {e["id"] for e in log} == set(got)
    assert "Delivery log" in page and "comparison.complete" in page
    assert page.count('class="delivery-delivered"') == len(log)


async def test_a_delivery_is_given_up_after_its_retries(wh_app, receiver):
    rec, url = receiver
    rec.fail_first = -1
    async with in_process_client(wh_app) as c:
        client = browser_like(c)
        slug = await _board(client)
        rec.secret = (await _add(client, url, ["take.failed"], board=slug))["secret"]
        r = await client.post("/api/comparisons", json={"prompt": "x", "models": ["demo/ember"], "duration_s": 2,
                                                        "resolution": "360p", "board": slug})
        await wait_for_takes(client, r.json()["id"])

        async def given_up():
            log = (await client.get(f"/api/boards/{slug}/webhooks/deliveries")).json()
            return log if log and log[0]["status"] == "failed" else None

        end = time.monotonic() + 30
        while not (log := await given_up()):
            assert time.monotonic() < end, rec.got
            await asyncio.sleep(0.1)
        page = (await client.get(f"/b/{slug}/settings")).text
    assert len(log) == 1 and log[0]["attempts"] == 4 and log[0]["last_status"] == 500   # 1 + 3 retries
    assert "HTTP 500" in log[0]["last_error"] and len(rec.got) == 4 and len({g["id"] for g in rec.got}) == 1
    assert 'class="delivery-failed"' in page


async def _suite_done(client, suite_id: str, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while (body := (await client.get(f"/api/suites/{suite_id}")).json())["takes"]["queued"] + body["takes"]["running"]:
        assert time.monotonic() < end, body
        await asyncio.sleep(0.1)
    return body


async def test_suite_complete_is_sent_once_when_its_last_take_ends(wh_app, receiver):
    rec, url = receiver
    async with in_process_client(wh_app) as c:
        client = browser_like(c)
        slug = await _board(client)
        rec.secret = (await _add(client, url, ["suite.complete"], board=slug))["secret"]
        r = await client.post("/api/suites", json={
            "name": "shots", "board": slug, "models": ["demo/aurora", "demo/ember"], "duration_s": 2,
            "resolution": "360p", "prompts": [{"prompt": "a kite over a dune"}, {"prompt": "a tram in fog"}]})
        assert r.status_code == 202, r.text
        suite = r.json()
        await _suite_done(client, suite["id"])
        # written with the last take's end: in the outbox the moment the suite has no take left
        log = (await client.get(f"/api/boards/{slug}/webhooks/deliveries")).json()
        assert [e["event"] for e in log] == ["suite.complete"], log
        got = await _until(lambda: list(rec.delivered().values()))
    assert len(got) == 1 and got[0]["verified"]
    data = got[0]["json"]["data"]
    assert got[0]["json"]["type"] == "suite.complete"
    assert data["suite"] == {"id": suite["id"], "name": "shots", "status": "done", "url": f"/suites/{suite['id']}",
                             "report_url": f"/suites/{suite['id']}/report"}
    assert data["comparisons"] == 2 and data["takes"] == {"ready": 2, "failed": 2, "cancelled": 0}


@pytest.fixture
async def slow_wh_app(db_url, tmp_path):
    from app.main import create_app

    application = create_app(make_settings(db_url, tmp_path, webhook_sweep_s=0.1, demo_latency_s=2.0,
                                           provider_concurrency=1))
    async with application.router.lifespan_context(application):
        yield application


async def test_suite_complete_is_sent_when_the_suite_is_cancelled(slow_wh_app, receiver):
    rec, url = receiver
    async with in_process_client(slow_wh_app) as c:
        client = browser_like(c)
        slug = await _board(client)
        rec.secret = (await _add(client, url, ["suite.complete", "take.ready"], board=slug))["secret"]
        r = await client.post("/api/suites", json={
            "name": "dropped", "board": slug, "models": ["demo/aurora"], "duration_s": 2, "resolution": "360p",
            "prompts": [{"prompt": "a kite over a dune"}, {"prompt": "a tram in fog"}]})
        suite = r.json()
        assert (await client.post(f"/api/suites/{suite['id']}/cancel")).json()["status"] == "cancelled"
        again = await client.post(f"/api/suites/{suite['id']}/cancel")     # nothing left: no second event
        assert again.status_code == 200, again.text
        got = await _until(lambda: list(rec.delivered().values()))
        log = (await client.get(f"/api/boards/{slug}/webhooks/deliveries")).json()
    assert [e["event"] for e in log] == ["suite.complete"] and len(got) == 1
    data = got[0]["json"]["data"]
    assert data["suite"]["status"] == "cancelled" and data["takes"] == {"ready": 0, "failed": 0, "cancelled": 2}


async def test_bad_endpoints_are_refused_and_nothing_is_written(client):
    slug = await _board(client)
    for body, words in (({"url": "ftp://files.example.com/x", "events": ["take.ready"]}, "http(s) URL"),
                        # what /openapi.json's pattern refuses, the server refuses (a fuzz-gate find)
                        ({"url": "https://el:9*", "events": ["take.ready"]}, "http(s) URL"),
                        ({"url": " https://h.example.com", "events": ["take.ready"]}, "http(s) URL"),
                        ({"url": "https://h.example.com", "events": ["take.exploded"]}, "unknown events"),
                        ({"url": "https://h.example.com", "events": []}, "at least one event"),
                        ({"url": "https://h.example.com", "events": ["take.ready"] * 21}, "at most 20 events")):
        r = await client.post(f"/api/boards/{slug}/webhooks", json=body)
        assert r.status_code == 422 and words in r.text, r.text
    page = await client.post(f"/b/{slug}/webhooks", data={"url": "not a url", "events": "take.ready"})
    assert page.status_code == 422 and "http(s) URL" in page.text and 'role="alert"' in page.text
    assert (await client.get(f"/api/boards/{slug}/webhooks")).json() == []
    pasted = await client.post(f"/b/{slug}/webhooks", data={"url": " https://h.example.com/pasted\n", "events": "take.ready"})
    assert pasted.status_code in (200, 303), pasted.text        # the form trims what a paste brings
    [hook] = (await client.get(f"/api/boards/{slug}/webhooks")).json()
    assert hook["url"] == "https://h.example.com/pasted"
    assert (await client.delete(f"/api/boards/{slug}/webhooks/{hook['id']}")).status_code == 204
    made = await _add(client, "https://h.example.com/ok", ["vote.cast"], board=slug)
    assert (await client.get(f"/api/boards/{slug}/webhooks")).json()[0]["events"] == ["vote.cast"]
    assert (await client.delete(f"/api/boards/{slug}/webhooks/{made['id']}")).status_code == 204
    assert (await client.delete(f"/api/boards/{slug}/webhooks/{made['id']}")).status_code == 404
    assert (await client.get(f"/api/boards/{slug}/webhooks")).json() == []


@pytest.mark.postgres
@pytest.mark.redis
def test_a_worker_process_sends_the_events(pg_database, fresh_redis, tmp_path):
    from tests.fakes import free_port
    from tests.support.db import pg_empty

    pg_empty(pg_database)
    settings = make_settings(pg_database, tmp_path, redis_url=fresh_redis, lease_s=2.0, sweep_interval_s=0.5)
    env = {**settings_env(settings), "WEBHOOK_SWEEP_S": "0.2", "WEBHOOK_RETRY_S": "[0.3, 0.3]"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with receiving() as (rec, hook_url):
        rec.fail_first = 1
        web = Proc(["serve", "--port", str(port)], env, tmp_path / "serve.log").start()
        worker = Proc(["worker"], env, tmp_path / "worker.log").start()
        try:
            _wait_http(url, web)
            slug = httpx.post(url + "/api/boards", json={"name": "Farm"}).json()["slug"]
            made = httpx.post(f"{url}/api/boards/{slug}/webhooks", json={"url": hook_url, "events": [*EVENTS, "suite.complete"]})
            assert made.status_code == 201, made.text
            rec.secret = made.json()["secret"]
            r = httpx.post(url + "/api/suites", json={"name": "lanterns", "models": ["demo/aurora"], "duration_s": 1,
                                                      "resolution": "360p", "board": slug, "prompts": [{"prompt": "lanterns"}]})
            assert r.status_code == 202, r.text
            done = wait_for_takes_over_http(url, r.json()["comparisons"][0])
            assert done["takes"][0]["status"] == "ready", worker.output()
            end = time.monotonic() + 30
            while len(rec.delivered()) < 3:
                assert time.monotonic() < end, (rec.got, worker.output())
                time.sleep(0.1)
        finally:
            worker.kill()
            web.kill()
    types = sorted(g["json"]["type"] for g in rec.delivered().values())
    assert types == ["comparison.complete", "suite.complete", "take.ready"] and all(g["verified"] for g in rec.got)
    for msg_id in rec.delivered():   # each retried once after its 500, under the same id
        assert [g["answered"] for g in rec.got if g["id"] == msg_id] == [500, 200]


