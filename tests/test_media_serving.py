"""Media behind a proxy (MEDIA_ACCEL_REDIRECT): the app checks access and answers
`X-Accel-Redirect` with no body; nginx, running deploy/nginx.conf (the compose file's proxy),
sends the file — whole, as a Range, with the download's file name — and nobody reaches the
internal location directly. And the app's own sending (no proxy) in 1 MiB chunks gives the
exact bytes."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes import free_port
from tests.support import ROOT
from tests.support.factories import ready_comparison
from tests.support.live import live_server
from tests.support.services import missing
from tests.support.settings import make_settings
from tests.support.team import make_team


@pytest.fixture
def accel_settings(db_url, tmp_path):
    return make_settings(db_url, tmp_path, media_accel_redirect="/_media/")


@pytest.fixture
async def accel_app(accel_settings):
    from app.main import create_app

    application = create_app(accel_settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_the_app_hands_allowed_media_to_the_proxy_and_nothing_else(accel_app):
    team = await make_team(accel_app)
    c = await ready_comparison(accel_app, team.board)
    take = c.takes[0]
    async with team.client("voter") as member:
        r = await member.get(f"/media/takes/{take.id}/video.mp4")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["x-accel-redirect"] == f"/_media/{take.clip_key}"
        assert r.headers["content-type"] == "video/mp4" and "immutable" in r.headers["cache-control"]
        r = await member.get(f"/media/takes/{take.id}/original.mp4")
        assert r.headers["x-accel-redirect"] == f"/_media/{take.clip_key}"
        assert r.headers["content-disposition"].startswith("attachment; filename*=utf-8''")
        assert (await member.get("/media/takes/zzzzzzzzzzzz/video.mp4")).status_code == 404
    async with team.client("outsider") as outsider:
        r = await outsider.get(f"/media/takes/{take.id}/video.mp4")
        assert r.status_code == 404 and "x-accel-redirect" not in r.headers


async def test_the_app_sends_a_big_clip_itself_in_big_chunks(app, client):
    c = await ready_comparison(app)
    take = c.takes[0]
    path = app.state.storage.path(take.clip_key)
    data = bytes(range(256)) * (3 * 4096 + 7)          # 3 MiB and a bit: four 1 MiB chunks
    path.write_bytes(data)
    r = await client.get(f"/media/takes/{take.id}/video.mp4")
    assert r.status_code == 200 and r.content == data
    r = await client.get(f"/media/takes/{take.id}/video.mp4", headers={"Range": "bytes=1048570-2097160"})
    assert r.status_code == 206 and r.content == data[1048570:2097161]


def _nginx_conf(tmp: Path, port: int, upstream: str, media: Path) -> Path:
    """deploy/nginx.conf as the compose file uses it, pointed at this test's app and media
    directory, inside a main config nginx can run unprivileged."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("server web:8000;", f"server {upstream};").replace("listen 8000;", f"listen 127.0.0.1:{port};")
    site = site.replace("alias /data/media/;", f"alias {media}/;")
    (tmp / "site.conf").write_text(site)
    conf = tmp / "nginx.conf"
    temp = " ".join(f"{k}_temp_path {tmp}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # The worker runs as this test's own user (not nobody), so it can read pytest's tmp dirs.
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.getuid() == 0 else ""
    conf.write_text(f"daemon off; {user} worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log warn;\n"
                    f"events {{ worker_connections 256; }}\n"
                    f"http {{ access_log off; default_type application/octet-stream; {temp}\n"
                    f"include {tmp}/site.conf; }}\n")
    return conf


def test_nginx_with_the_compose_config_serves_what_the_app_allows(accel_settings, tmp_path):
    import asyncio

    from app.main import create_app

    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        missing("nginx", "apt-get install nginx-light")

    async def seed():
        application = create_app(accel_settings)
        async with application.router.lifespan_context(application):
            c = await ready_comparison(application)
            return c, application.state.storage.path(c.takes[0].clip_key)

    c, clip = asyncio.run(seed())
    data = bytes(range(256)) * 8192 + b"end"           # 2 MiB and 3 bytes
    clip.write_bytes(data)
    with live_server(accel_settings, tmp_path) as app_url:
        port = free_port()
        (tmp_path / "nginx").mkdir()
        conf = _nginx_conf(tmp_path / "nginx", port, app_url.removeprefix("http://"), accel_settings.media_dir)
        proc = subprocess.Popen([exe, "-c", str(conf), "-p", str(tmp_path / "nginx")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            end = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(base + "/api/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < end, (tmp_path / "nginx" / "error.log").read_text()
                time.sleep(0.2)
            take = c.takes[0]
            r = httpx.get(f"{base}/media/takes/{take.id}/video.mp4")
            assert r.status_code == 200 and r.content == data
            assert r.headers["content-type"] == "video/mp4" and "x-accel-redirect" not in r.headers
            assert "immutable" in r.headers["cache-control"]
            r = httpx.get(f"{base}/media/takes/{take.id}/video.mp4", headers={"Range": "bytes=100-1048675"})
            assert r.status_code == 206 and r.content == data[100:1048676]
            assert r.headers["content-range"] == f"bytes 100-1048675/{len(data)}"
            etag = httpx.get(f"{base}/media/takes/{take.id}/video.mp4", headers={"Range": "bytes=0-0"}).headers["etag"]
            st = clip.stat()   # nginx's own ETag (mtime-size in hex): nginx sent the file, not the app
            assert etag == f'"{int(st.st_mtime):x}-{st.st_size:x}"'
            assert httpx.get(f"{base}/media/takes/{take.id}/video.mp4",
                             headers={"If-None-Match": etag}).status_code == 304
            r = httpx.get(f"{base}/media/takes/{take.id}/original.mp4")
            assert r.status_code == 200 and r.content == data
            assert re.match(r"attachment; filename\*=utf-8''.+\.mp4$", r.headers["content-disposition"])
            # The internal location is not a way around the access check.
            assert httpx.get(f"{base}/_media/{take.clip_key}").status_code == 404
            assert httpx.get(f"{base}/media/takes/zzzzzzzzzzzz/video.mp4").status_code == 404
        finally:
            proc.terminate()
            proc.wait(10)
