"""Image-to-video offline: demo/aurora and demo/blocks take a source image, start from it
(frame 0 is the image) and animate it (zoom, pan, colour drift) while it stays visible. Checked
by decoding the clips with PyAV: the renderer directly, then whole comparisons on the
in-process runner (both databases) and on an arq worker with a real Redis."""

from __future__ import annotations

import base64
import io

import av
import httpx
import numpy as np
import pytest
from PIL import Image, ImageOps

from app.catalog import load_catalog
from app.providers.demo_render import render_clip
from tests.support.clients import wait_for_takes, wait_for_takes_over_http

W, H = 640, 360


def source_png() -> bytes:
    """A picture no demo look draws: a colour ramp under a checkerboard."""
    y, x = np.mgrid[0:H, 0:W]
    arr = np.stack([x * 255 // W, y * 255 // H, ((x // 40 + y // 40) % 2) * 200 + 20], -1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, "PNG")
    return out.getvalue()


def frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference, leaving out the corner where the frame number is drawn."""
    return float(np.abs(a - b)[40:, 80:].mean())


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """How much of the source's colour ramps (red across, green down) a frame still shows; a
    zoom and pan keep them, a picture of the look's own does not (the checkerboard it moves)."""
    return float(np.mean([np.corrcoef(a[40:, 80:, ch].ravel(), b[40:, 80:, ch].ravel())[0, 1] for ch in (0, 1)]))


def assert_uses_image(clip: list[np.ndarray], image: np.ndarray) -> None:
    first, last = clip[0], clip[-1]
    assert diff(first, image) < 6, "frame 0 is the source image"
    assert diff(last, image) > 15 and diff(last, first) > 15, "then it moves"
    assert likeness(last, image) > 0.5, "and the image is still there at the end"
    steps = [diff(clip[i], clip[i + 1]) for i in range(len(clip) - 1)]
    assert min(steps) > 0, "every frame changes"


def test_catalog_offers_two_demo_models_with_a_source_image():
    demo = [m for m in load_catalog() if m.provider == "demo" and m.supports_image]
    assert {m.id for m in demo} >= {"demo/aurora", "demo/blocks"}


@pytest.mark.parametrize("look, fps", [("aurora", 24), ("blocks", 16)])
def test_render_starts_from_the_image_and_animates_it(tmp_path, look, fps):
    src = tmp_path / "src.png"
    src.write_bytes(source_png())
    image = np.asarray(Image.open(src).convert("RGB"), dtype=np.int16)
    with_image = render_clip(tmp_path / "i2v.mp4", look=look, width=W, height=H, fps=fps, duration_s=2, prompt="p",
                             image=src)
    clip = frames(with_image.read_bytes())
    assert len(clip) == 2 * fps
    assert_uses_image(clip, image)
    plain = frames(render_clip(tmp_path / "t2v.mp4", look=look, width=W, height=H, fps=fps, duration_s=1,
                               prompt="p").read_bytes())
    assert diff(plain[0], image) > 30, "without an image the look starts from its own picture"


def _expected(png: bytes, size: tuple[int, int]) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(ImageOps.fit(im.convert("RGB"), size), dtype=np.int16)


async def test_comparison_with_an_image_renders_it_on_the_in_process_runner(client):
    png = source_png()
    r = await client.post("/api/comparisons", json={
        "prompt": "the checkerboard comes alive", "models": ["demo/aurora", "demo/blocks"], "duration_s": 3,
        "resolution": "360p", "aspect_ratio": "16:9", "image": "data:image/png;base64," + base64.b64encode(png).decode()})
    assert r.status_code == 202, r.text
    done = await wait_for_takes(client, r.json()["id"])
    assert [t["status"] for t in done["takes"]] == ["ready", "ready"], done
    for take in done["takes"]:
        clip = frames((await client.get(take["video_url"])).content)
        assert_uses_image(clip, _expected(png, (clip[0].shape[1], clip[0].shape[0])))


def test_comparison_with_an_image_renders_it_on_an_arq_worker(pg_database, fresh_redis, tmp_path):
    from tests.fakes import free_port
    from tests.support.db import pg_empty
    from tests.support.live import Proc
    from tests.support.settings import make_settings, settings_env

    pg_empty(pg_database)
    settings = make_settings(pg_database, tmp_path, redis_url=fresh_redis)
    port = free_port()
    web = Proc(["serve", "--port", str(port)], settings_env(settings), tmp_path / "serve.log").start()
    worker = Proc(["worker"], settings_env(settings), tmp_path / "worker.log").start()
    url = f"http://127.0.0.1:{port}"
    png = source_png()
    try:
        from tests.test_arq import _wait_http

        _wait_http(url, web)
        r = httpx.post(url + "/api/comparisons", json={
            "prompt": "the checkerboard comes alive", "models": ["demo/blocks"], "duration_s": 3, "resolution": "360p",
            "image": "data:image/png;base64," + base64.b64encode(png).decode()})
        assert r.status_code == 202, r.text
        done = wait_for_takes_over_http(url, r.json()["id"])
        assert done["takes"][0]["status"] == "ready", worker.output()
        assert "generate_take_job" in worker.output()
        clip = frames(httpx.get(url + done["takes"][0]["video_url"]).content)
        assert_uses_image(clip, _expected(png, (clip[0].shape[1], clip[0].shape[0])))
    finally:
        worker.kill()
        web.kill()
