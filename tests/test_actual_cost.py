"""Actual cost (app/costs.py): the usage each provider's fake reports as its API documents it
(Runway `cost.credits`, Ark `usage.total_tokens`, Replicate `metrics.predict_time`) reaches the
adapters' JobStatus, is priced, stored beside the estimate, shown on the take, counted in the
board's budget and in the comparison table — end to end through the job layer with the Runway
fake, whose credits (5 a second) differ from the catalog's gen4.5 estimate (12 a second)."""

from __future__ import annotations

import csv
import dataclasses
import io

import httpx
import pytest

from app.budget import board_spend
from app.boards import default_board
from app.catalog import load_catalog
from app.costs import actual_cost, take_fields
from app.providers.ark import ArkProvider
from app.providers.replicate import ReplicateProvider
from app.providers.runway import RunwayProvider
from app.settings import Settings
from tests.fakes import ark as ark_fake
from tests.fakes import replicate as replicate_fake
from tests.fakes import runway as runway_fake
from tests.fakes import serve
from tests.support.clients import wait_for_takes
from tests.support.settings import make_settings
from tests.test_provider_ark import req as ark_req
from tests.test_provider_runway import request as runway_req

CATALOG = load_catalog()
GEN45 = CATALOG.get("runway/gen4.5")
SD2 = CATALOG.get("ark/seedance-2.0")


def test_each_usage_is_priced_by_its_providers_rule():
    assert actual_cost(GEN45, {"credits": 25}) == 0.25                     # $0.01 a credit
    # Ark: the entry's $/s at 720p over 21,600 tokens a second
    assert actual_cost(SD2, {"total_tokens": 108900}) == pytest.approx(108900 * SD2.price_per_second / 21600, abs=1e-4)
    rep = next(m for m in CATALOG if m.provider == "replicate" and m.status == "live")
    assert actual_cost(rep, {"predict_time": 55.1}) is None                # billed per output second
    timed = dataclasses.replace(rep, options={**rep.options, "billing": "time", "usd_per_predict_second": 0.0014})
    assert actual_cost(timed, {"predict_time": 55.1}) == pytest.approx(0.0771)
    assert actual_cost(GEN45, None) is None and actual_cost(GEN45, {"credits": "lots"}) is None
    assert take_fields(GEN45, {"credits": 60}) == {"cost_usage": {"credits": 60}, "actual_cost_usd": 0.6}
    assert take_fields(GEN45, None) == {"cost_usage": None, "actual_cost_usd": None}


async def test_the_adapters_return_the_usage_their_fakes_report():
    with serve(runway_fake.create_app()) as url:
        p = RunwayProvider(Settings(_env_file=None, runwayml_api_secret=runway_fake.API_SECRET, runway_base_url=url),
                           httpx.AsyncClient(timeout=5))
        sub = await p.submit(GEN45, runway_req(GEN45, duration_s=5))
        for _ in range(10):
            st = await p.poll(GEN45, sub.remote_id, sub.meta)
            if st.state == "succeeded":
                break
        await p.aclose()
    assert st.state == "succeeded" and st.usage == {"credits": 25}

    app, _ = ark_fake.create_app()
    with serve(app) as url:
        p = ArkProvider(Settings(_env_file=None, ark_api_key="test-ark-key", ark_base_url=f"{url}/api/v3"),
                        http=httpx.AsyncClient(timeout=5))
        sub = await p.submit(SD2, ark_req())
        for _ in range(20):
            st = await p.poll(SD2, sub.remote_id, sub.meta)
            if st.state == "succeeded":
                break
        await p.aclose()
    assert st.state == "succeeded" and st.usage == {"completion_tokens": 108900, "total_tokens": 108900}

    rep = CATALOG.get("replicate/seedance-2.0")
    state = replicate_fake.ReplicateState()
    with serve(replicate_fake.create_app(state)) as url:
        p = ReplicateProvider(Settings(_env_file=None, replicate_api_token=state.token, replicate_base_url=url),
                              httpx.AsyncClient(timeout=5))
        sub = await p.submit(rep, ark_req(take_id="take-rep-1"))
        for _ in range(20):
            st = await p.poll(rep, sub.remote_id, sub.meta)
            if st.state == "succeeded":
                break
        await p.aclose()
    assert st.state == "succeeded" and st.usage == {"predict_time": 55.1}


@pytest.fixture(scope="module")
def runway_url():
    with serve(runway_fake.create_app()) as url:
        yield url


@pytest.fixture
def settings(db_url, tmp_path, runway_url):
    return make_settings(db_url, tmp_path, runwayml_api_secret=runway_fake.API_SECRET, runway_base_url=runway_url)


async def test_actual_cost_is_stored_shown_and_counted(client, app):
    r = await client.post("/api/comparisons", json={
        "prompt": "a lighthouse beam sweeping the sea", "models": ["runway/gen4.5"], "duration_s": 5,
        "aspect_ratio": "16:9", "resolution": "720p"})
    assert r.status_code == 202, r.text
    done = await wait_for_takes(client, r.json()["id"], timeout=120)
    take = done["takes"][0]
    assert take["status"] == "ready", take
    assert take["cost_estimate_usd"] == 0.6                         # 12 credits/s × 5 s, the catalog's
    assert (take["actual_cost_usd"], take["cost_usage"]) == (0.25, {"credits": 25})   # what the fake billed

    page = await client.get(f"/c/{done['id']}")
    assert "$0.25 actual" in page.text and "data-actual-cost" in page.text

    async with app.state.db.session() as s:
        assert await board_spend(s, (await default_board(s)).id) == 0.25
    row = next(m for m in (await client.get("/api/boards/default/comparison-table")).json()["models"]
               if m["model"] == "runway/gen4.5")
    assert (row["cost_usd"], row["actual_cost_usd"], row["actual_takes"]) == (0.25, 0.25, 1)
    assert "actual $0.25 for 1 takes" in (await client.get("/b/default/leaderboard")).text
    rows = list(csv.DictReader(io.StringIO((await client.get("/api/boards/default/takes.csv")).text.lstrip("\ufeff"))))
    assert [(r["cost_estimate_usd"], r["actual_cost_usd"]) for r in rows] == [("0.6", "0.25")]


def test_arq_workers_store_the_actual_cost(pg_database, fresh_redis, tmp_path):
    """The production shape (web + `takes worker` over Redis) with the Runway fake: the worker
    stores what Runway billed, and the board's spend counts it."""
    from tests.support.clients import wait_for_takes_over_http
    from tests.support.db import pg_empty
    from tests.support.live import Proc
    from tests.support.settings import settings_env
    from tests.test_providers_e2e import _serve

    pg_empty(pg_database)
    with serve(runway_fake.create_app()) as url:
        env = {"RUNWAYML_API_SECRET": runway_fake.API_SECRET, "RUNWAY_BASE_URL": url}
        s = make_settings(pg_database, tmp_path, redis_url=fresh_redis, lease_s=2.0, sweep_interval_s=0.5)
        web, base = _serve(s, env, tmp_path)
        worker = Proc(["worker"], {**settings_env(s), **env}, tmp_path / "worker.log").start()
        try:
            r = httpx.post(base + "/api/comparisons", json={
                "prompt": "a lighthouse beam sweeping the sea", "models": ["runway/gen4.5"], "duration_s": 4,
                "aspect_ratio": "16:9", "resolution": "720p"})
            assert r.status_code == 202, r.text
            take = wait_for_takes_over_http(base, r.json()["id"])["takes"][0]
            assert take["status"] == "ready", worker.output()
            assert (take["cost_estimate_usd"], take["actual_cost_usd"], take["cost_usage"]) == (0.48, 0.2, {"credits": 20})
            table = httpx.get(base + "/api/boards/default/comparison-table").json()["models"]
            assert [(m["model"], m["cost_usd"], m["actual_takes"]) for m in table] == [("runway/gen4.5", 0.2, 1)]
        finally:
            worker.kill()
            web.kill()
