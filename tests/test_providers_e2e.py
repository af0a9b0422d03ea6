"""Every provider end to end: each adapter pointed at its local fake, comparisons go from the
form (in-process runner) or the API (arq workers) to ready, playable takes in the synced grid."""

from __future__ import annotations

import re
from contextlib import ExitStack

import httpx
import pytest

from tests.fakes import free_port, serve
from tests.support.clients import browser_like, wait_for_takes_over_http
from tests.support.live import Proc, wait_http
from tests.support.settings import make_settings, settings_env

# (providers' fakes → settings) and one model of each provider
COMPARISONS = [
    ({"duration_s": "5", "aspect_ratio": "16:9", "resolution": "720p"},
     ["ark/seedance-2.0", "comfyui/wan2.2-ti2v-5b", "fal/seedance-2.0", "google/gemini-omni-1.1-flash",
      "kling/kling-v3-std"]),
    ({"duration_s": "5", "aspect_ratio": "16:9", "resolution": "720p"},
     ["luma/ray-2", "luma_agents/ray-3.2", "replicate/seedance-2.0", "runway/gen4.5", "demo/aurora"]),
    ({"duration_s": "6", "aspect_ratio": "16:9", "resolution": "1080p"}, ["minimax/hailuo-02", "vertex/veo-3.1-fast", "demo/aurora"]),
]


def _start_fakes(stack: ExitStack) -> dict[str, str]:
    """Start all eleven fakes; return the settings (env names) that point the adapters at them."""
    from tests.fakes import ark, comfyui, fal, google, kling, luma, luma_agents, minimax, replicate, runway, vertex

    def up(app):
        return stack.enter_context(serve(app))

    fal_state, rep_state, goo_state = fal.FalState(), replicate.ReplicateState(), google.GoogleState()
    vtx_state = vertex.VertexState()
    env = {
        "FAL_KEY": fal_state.key, "FAL_QUEUE_URL": up(fal.create_app(fal_state)),
        "REPLICATE_API_TOKEN": rep_state.token, "REPLICATE_BASE_URL": up(replicate.create_app(rep_state)),
        "GEMINI_API_KEY": goo_state.key, "GEMINI_BASE_URL": up(google.create_app(goo_state)),
        "VERTEX_PROJECT": vtx_state.project, "VERTEX_LOCATION": vtx_state.location,
        "VERTEX_ACCESS_TOKEN": vtx_state.token, "VERTEX_BASE_URL": up(vertex.create_app(vtx_state)),
        "KLING_ACCESS_KEY": kling.ACCESS_KEY, "KLING_SECRET_KEY": kling.SECRET_KEY,
        "KLING_BASE_URL": up(kling.create_app()),
        "RUNWAYML_API_SECRET": runway.API_SECRET, "RUNWAY_BASE_URL": up(runway.create_app()),
        "LUMAAI_API_KEY": luma.API_KEY, "LUMA_BASE_URL": up(luma.create_app()) + luma.PREFIX,
        "LUMA_AGENTS_API_KEY": luma_agents.API_KEY, "LUMA_AGENTS_BASE_URL": up(luma_agents.create_app()) + luma_agents.PREFIX,
    }
    mm_app, mm_script = minimax.create_app()
    env.update({"MINIMAX_API_KEY": mm_script.api_key, "MINIMAX_BASE_URL": up(mm_app)})
    ark_app, ark_script = ark.create_app()
    env.update({"ARK_API_KEY": ark_script.api_key, "ARK_BASE_URL": up(ark_app) + "/api/v3"})
    comfy_app, _ = comfyui.create_app()
    env["COMFYUI_URL"] = up(comfy_app)
    return env


@pytest.fixture(scope="module")
def provider_env():
    with ExitStack() as stack:
        yield _start_fakes(stack)


def _settings(db_url, tmp_path, env, **extra):
    fields = {k.lower(): v for k, v in env.items()}
    return make_settings(db_url, tmp_path, demo_latency_s=0.2, **fields, **extra)


def _assert_ready_and_playable(url: str, body: dict) -> None:
    failed = {t["model"]: t["error"] for t in body["takes"] if t["status"] != "ready"}
    assert not failed, failed
    for t in body["takes"]:
        r = httpx.get(url + t["video_url"], headers={"Range": "bytes=0-99"})
        assert r.status_code == 206 and len(r.content) == 100 and r.content[4:8] == b"ftyp"
        assert t["duration_s"] > 0 and t["width"] and t["poster_url"]
    grid = httpx.get(f"{url}/c/{body['id']}/grid").text
    assert grid.count("<video") == len(body["takes"])


def _serve(settings, env, tmp_path) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(["serve", "--port", str(port)], {**settings_env(settings), **env}, tmp_path / "serve.log").start()
    url = f"http://127.0.0.1:{port}"
    wait_http(url, proc)
    return proc, url


@pytest.mark.long(35)
def test_every_provider_from_the_form_in_process(db_url, tmp_path, provider_env):
    settings = _settings(db_url, tmp_path, provider_env)
    proc, url = _serve(settings, provider_env, tmp_path)
    try:
        models = {m["id"]: m for m in httpx.get(url + "/api/models").json()}
        for _, ids in COMPARISONS:
            for mid in ids:
                assert models[mid]["available"], (mid, models[mid]["missing_settings"])
        # a cookie-keeping client that has loaded the form, so it sends the CSRF token as the page does
        with browser_like(httpx.Client(base_url=url)) as client:
            assert client.get("/").status_code == 200
            made = []   # all three in flight at once, as a user who submits again while waiting
            for params, ids in COMPARISONS:
                r = client.post("/comparisons", data={"prompt": "a glass whale over a city", "models": ids, **params})
                assert r.status_code == 303, r.text[:2000]
                made.append((re.search(r"/c/(\w+)", r.headers["location"]).group(1), ids))
            for cid, ids in made:
                body = wait_for_takes_over_http(url, cid)
                assert sorted(t["model"] for t in body["takes"]) == sorted(ids)
                _assert_ready_and_playable(url, body)
    finally:
        proc.kill()


def test_every_provider_on_arq_workers(pg_database, fresh_redis, tmp_path, provider_env):
    from tests.support.db import pg_empty

    pg_empty(pg_database)
    settings = _settings(pg_database, tmp_path, provider_env, redis_url=fresh_redis)
    proc, url = _serve(settings, provider_env, tmp_path)
    worker = Proc(["worker"], {**settings_env(settings), **provider_env}, tmp_path / "worker.log").start()
    try:
        made = []
        for params, ids in COMPARISONS:
            body = {"prompt": "a glass whale over a city", "models": ids, **params}
            body["duration_s"] = float(body["duration_s"])
            r = httpx.post(url + "/api/comparisons", json=body)
            assert r.status_code == 202, r.text
            made.append(r.json()["id"])
        for cid in made:
            _assert_ready_and_playable(url, wait_for_takes_over_http(url, cid))
        assert "generate_take_job" in worker.output()
    finally:
        worker.kill()
        proc.kill()
