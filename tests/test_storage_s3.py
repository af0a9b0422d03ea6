"""Object storage (STORAGE_URL=s3://…) against a real S3-protocol server (moto's server mode,
started by the suite): the storage interface, clips served from the bucket through the app with
Range and access checks, and generation by a worker whose MEDIA_DIR is not the web server's —
on the in-process runner and on an arq worker with a real Redis."""

from __future__ import annotations

import base64
import io

import httpx
import pytest

from app.storage import S3Storage, open_storage
from tests.support.clients import in_process_client, wait_for_takes, wait_for_takes_over_http
from tests.support.factories import CLIP, POSTER, ready_comparison
from tests.support.live import Proc
from tests.support.live import wait_http as _wait_http
from tests.support.s3 import bucket_keys, new_bucket, storage_settings
from tests.support.settings import make_settings, settings_env
from tests.support.team import make_team


def _png(w: int = 128, h: int = 96) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def bucket(s3_server) -> str:
    return new_bucket(s3_server)


@pytest.fixture
def s3_settings(db_url, tmp_path, s3_server, bucket):
    return make_settings(db_url, tmp_path, **storage_settings(s3_server, bucket))


@pytest.fixture
async def s3_app(s3_settings):
    from app.main import create_app

    application = create_app(s3_settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_storage_round_trip_ranges_cache_and_keys(tmp_path, s3_server, bucket):
    store = open_storage(make_settings("sqlite:///unused.db", tmp_path, **storage_settings(s3_server, bucket, "p/q")))
    assert isinstance(store, S3Storage) and not store.is_local
    data = bytes(range(256)) * 4000   # 1,024,000 bytes: several read chunks
    await store.put_bytes("comparisons/c1/source.bin", data)
    assert bucket_keys(s3_server, bucket) == ["p/q/comparisons/c1/source.bin"]
    obj = await store.stat("comparisons/c1/source.bin")
    assert obj.size == len(data) and obj.etag.startswith('"')
    assert await store.stat("comparisons/c1/missing.bin") is None
    got = b"".join([c async for c in store.read("comparisons/c1/source.bin", 1000, 600_999)])
    assert got == data[1000:601_000]
    local = await store.fetch("comparisons/c1/source.bin")
    assert local.read_bytes() == data and local.is_relative_to(tmp_path / "media" / ".cache")
    scratch = store.scratch("takes/t1/poster.jpg")
    scratch.write_bytes(b"jpeg")
    await store.put_file("takes/t1/poster.jpg", scratch)
    assert not scratch.exists() and (await store.stat("takes/t1/poster.jpg")).size == 4
    await store.delete("takes/t1/poster.jpg")
    assert await store.stat("takes/t1/poster.jpg") is None
    for bad in ("../escape", "/abs", "a/../../b", ""):
        with pytest.raises(ValueError):
            store.object_key(bad)


def test_storage_url_must_name_a_bucket(tmp_path):
    from pydantic import ValidationError

    for bad in ("http://bucket/x", "s3://", "s3:///prefix"):
        with pytest.raises(ValidationError, match="s3://bucket/prefix"):
            make_settings("sqlite:///unused.db", tmp_path, storage_url=bad)
    assert make_settings("sqlite:///unused.db", tmp_path, storage_url="").storage_url is None


async def test_clips_stream_from_the_bucket_with_range_and_validators(s3_app, s3_settings, s3_server, bucket):
    c = await ready_comparison(s3_app, models=("demo/aurora",), source_image=True)
    take = c.takes[0]
    assert f"media/takes/{take.id}/original.mp4" in bucket_keys(s3_server, bucket)
    assert not (s3_settings.media_dir / "takes").exists()     # nothing kept in the local directory
    clip = CLIP.read_bytes()
    async with in_process_client(s3_app) as client:
        url = f"/media/takes/{take.id}/video.mp4"
        whole = await client.get(url)
        assert whole.status_code == 200 and whole.content == clip
        assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
        assert "immutable" in whole.headers["cache-control"]
        part = await client.get(url, headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == clip[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(clip)}"
        assert part.headers["content-length"] == "1000"
        tail = await client.get(url, headers={"Range": "bytes=-200"})
        assert tail.status_code == 206 and tail.content == clip[-200:]
        rest = await client.get(url, headers={"Range": f"bytes={len(clip) - 10}-"})
        assert rest.content == clip[-10:]
        beyond = await client.get(url, headers={"Range": f"bytes={len(clip)}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(clip)}"
        stale = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"not-the-etag"'})
        assert stale.status_code == 200 and stale.content == clip
        again = await client.get(url, headers={"If-None-Match": whole.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        poster = await client.get(f"/media/takes/{take.id}/poster.jpg")
        assert poster.content == POSTER.read_bytes() and poster.headers["content-type"] == "image/jpeg"
        original = await client.get(f"/media/takes/{take.id}/original.mp4")
        assert original.headers["content-disposition"].startswith("attachment;") and original.content == clip
        source = await client.get(f"/media/comparisons/{c.id}/source")
        assert source.content[:4] == b"\x89PNG"
        assert (await client.get("/media/takes/nope/video.mp4")).status_code == 404


async def test_bucket_media_keep_the_boards_access_rules(s3_app):
    team = await make_team(s3_app, visibility="private")
    c = await ready_comparison(s3_app, team.board, models=("demo/aurora",), source_image=False)
    url = f"/media/takes/{c.takes[0].id}/video.mp4"
    async with team.client("viewer") as viewer:
        assert (await viewer.get(url, headers={"Range": "bytes=0-9"})).status_code == 206
    async with team.client("outsider") as outsider:
        r = await outsider.get(url, headers={"Range": "bytes=0-9"})
        assert r.status_code == 404 and b"ftyp" not in r.content


async def test_a_job_on_another_media_dir_renders_into_the_bucket(s3_app, s3_settings, s3_server, bucket, tmp_path):
    """The web server (MEDIA_DIR=media) takes the upload; a job context with its own MEDIA_DIR
    (worker-media) fetches the source image from the bucket, renders and uploads; the web
    server then plays the clip it never had on its disk."""
    from app.db import Database
    from app.jobs.context import JobContext
    from app.jobs.generate import generate_take

    # The web server's own runner keeps out: the job context below drives the take, and the
    # runner's poller would take a take handed to it from under generate_take.
    await s3_app.state.queue.stop()
    s3_app.state.queue.enqueue = _nothing
    image = "data:image/png;base64," + base64.b64encode(_png()).decode()
    async with in_process_client(s3_app) as client:
        r = await client.post("/api/comparisons", json={"prompt": "a kite over dunes", "models": ["demo/aurora"],
                                                        "duration_s": 1, "resolution": "360p", "image": image})
        assert r.status_code == 202, r.text
        created = r.json()
    worker_settings = s3_settings.model_copy(update={"media_dir": tmp_path / "worker-media"})
    ctx = JobContext.create(worker_settings, Database(worker_settings))
    try:
        assert await generate_take(ctx, created["takes"][0]["id"]) == "ready"
    finally:
        await ctx.aclose()
        await ctx.db.dispose()
    tid = created["takes"][0]["id"]
    keys = bucket_keys(s3_server, bucket)
    assert {f"media/takes/{tid}/original.mp4", f"media/takes/{tid}/poster.jpg"} <= set(keys)
    assert any(k.startswith(f"media/comparisons/{created['id']}/source.") for k in keys)
    assert (tmp_path / "worker-media" / ".cache" / "comparisons" / created["id"]).is_dir()   # the image, fetched
    assert not [p for p in (tmp_path / "worker-media" / ".work").rglob("*") if p.is_file()]  # all uploaded
    assert not (s3_settings.media_dir / "takes").exists()
    async with in_process_client(s3_app) as client:
        done = await wait_for_takes(client, created["id"])
        video = await client.get(done["takes"][0]["video_url"], headers={"Range": "bytes=0-99"})
        assert video.status_code == 206 and len(video.content) == 100 and video.content[4:8] == b"ftyp"


async def _nothing(take_ids):
    return None


async def test_in_process_runner_with_object_storage(s3_app, s3_server, bucket):
    async with in_process_client(s3_app) as client:
        r = await client.post("/api/comparisons", json={"prompt": "rain on a tin roof", "models": ["demo/blocks"],
                                                        "duration_s": 3, "resolution": "360p"})
        assert r.status_code == 202, r.text
        done = await wait_for_takes(client, r.json()["id"])
        assert done["takes"][0]["status"] == "ready"
        clip = await client.get(done["takes"][0]["video_url"])
        assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"
    assert f"media/takes/{done['takes'][0]['id']}/original.mp4" in bucket_keys(s3_server, bucket)


@pytest.mark.postgres
@pytest.mark.redis
def test_arq_worker_with_its_own_media_dir(pg_database, fresh_redis, tmp_path, s3_server, bucket):
    """`takes serve` and `takes worker` as processes with different MEDIA_DIRs, sharing only
    PostgreSQL, Redis, the bucket (and the demo's "remote service" state, as a real provider's
    jobs are shared by being remote)."""
    from tests.fakes import free_port
    from tests.support.db import pg_empty

    pg_empty(pg_database)
    common = dict(redis_url=fresh_redis, lease_s=2.0, sweep_interval_s=0.5, demo_state_dir=tmp_path / "demo",
                  **storage_settings(s3_server, bucket))
    web_settings = make_settings(pg_database, tmp_path, **common)
    worker_settings = make_settings(pg_database, tmp_path, **common).model_copy(
        update={"media_dir": tmp_path / "worker-media"})
    port = free_port()
    web = Proc(["serve", "--port", str(port)], settings_env(web_settings), tmp_path / "serve.log").start()
    worker = Proc(["worker"], settings_env(worker_settings), tmp_path / "worker.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, web)
        image = "data:image/png;base64," + base64.b64encode(_png()).decode()
        r = httpx.post(url + "/api/comparisons", json={"prompt": "a lantern in fog", "models": ["demo/aurora"],
                                                       "duration_s": 1, "resolution": "360p", "image": image})
        assert r.status_code == 202, r.text
        done = wait_for_takes_over_http(url, r.json()["id"])
        assert done["takes"][0]["status"] == "ready", worker.output()
        clip = httpx.get(url + done["takes"][0]["video_url"], headers={"Range": "bytes=0-99"})
        assert clip.status_code == 206 and len(clip.content) == 100
        assert "generate_take_job" in worker.output()
    finally:
        worker.kill()
        web.kill()
    assert not (tmp_path / "media" / "takes").exists()
    assert (tmp_path / "worker-media" / ".cache").is_dir()


