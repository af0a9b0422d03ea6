"""The demo provider behaves like a remote service: latency, progress, failures, counting."""

import time

from app.catalog import load_catalog
from app.providers.base import GenerationRequest
from app.providers.demo import DemoProvider, submission_counts
from tests.support.settings import make_settings


def _req(tid="t1"):
    return GenerationRequest(take_id=tid, prompt="p", duration_s=1, aspect_ratio="16:9", resolution="360p",
                             width=640, height=360)


async def test_progress_then_success(tmp_path):
    s = make_settings("sqlite+aiosqlite://", tmp_path, demo_latency_s=0.4)
    p, model = DemoProvider(s), load_catalog().get("demo/blocks")
    sub = await p.submit(model, _req())
    first = await p.poll(model, sub.remote_id, {})
    assert first.state in ("queued", "running") and first.progress < 1
    time.sleep(0.45)
    done = await p.poll(model, sub.remote_id, {})
    assert done.state == "succeeded" and done.result_url.startswith("file://")
    await p.download(model, done, tmp_path / "out.mp4", 10**8)
    assert (tmp_path / "out.mp4").read_bytes()[4:8] == b"ftyp"
    assert submission_counts(s) == {"t1": 1}


async def test_fail_rate_is_honoured(tmp_path):
    model = load_catalog().get("demo/aurora")
    for rate, lo, hi in ((0.0, 0, 0), (1.0, 40, 40), (0.3, 4, 22)):
        s = make_settings("sqlite+aiosqlite://", tmp_path / str(rate), demo_latency_s=0.0, demo_fail_rate=rate)
        p = DemoProvider(s)
        failed = 0
        for i in range(40):
            sub = await p.submit(model, _req(f"t{i}"))
            job = p._job_path(sub.remote_id).read_text()
            failed += '"fail": true' in job
        assert lo <= failed <= hi, (rate, failed)


async def test_failure_carries_a_reason(tmp_path):
    s = make_settings("sqlite+aiosqlite://", tmp_path, demo_latency_s=0.0, demo_fail_rate=1.0)
    p, model = DemoProvider(s), load_catalog().get("demo/ember")
    st = await p.poll(model, (await p.submit(model, _req())).remote_id, {})
    assert st.state == "failed" and st.error.code in ("moderation", "provider_error")
    assert st.error.message.startswith("demo: ")


async def test_cancel(tmp_path):
    s = make_settings("sqlite+aiosqlite://", tmp_path, demo_latency_s=5)
    p, model = DemoProvider(s), load_catalog().get("demo/ember")
    sub = await p.submit(model, _req())
    await p.cancel(model, sub.remote_id, {})
    assert (await p.poll(model, sub.remote_id, {})).state == "cancelled"


def test_render_cache_copies_a_clip_made_from_the_same_inputs(tmp_path, monkeypatch):
    """With DEMO_RENDER_CACHE_DIR, a job rendered before is copied; any input that differs
    (here the prompt, and an image's bytes under the same file name) renders anew."""
    from app.providers import demo, demo_render

    renders = []
    real = demo_render.render_clip
    monkeypatch.setattr(demo_render, "render_clip", lambda dest, **kw: renders.append(kw) or real(dest, **kw))
    job = {"look": "blocks", "width": 64, "height": 36, "fps": 12, "duration_s": 1, "prompt": "kites",
           "seed": None, "audio": False, "image": None, "codec": "h264"}
    cache = tmp_path / "cache"
    demo.render_job(tmp_path / "a.mp4", job, cache)
    demo.render_job(tmp_path / "b.mp4", job, cache)
    assert len(renders) == 1
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    demo.render_job(tmp_path / "c.mp4", {**job, "prompt": "boats"}, cache)
    assert len(renders) == 2
    image = tmp_path / "first.png"
    for colour in ((255, 0, 0), (0, 0, 255)):
        from PIL import Image

        Image.new("RGB", (64, 36), colour).save(image)
        demo.render_job(tmp_path / "d.mp4", {**job, "image": str(image)}, cache)
    assert len(renders) == 4
    demo.render_job(tmp_path / "e.mp4", job, None)   # no cache: always rendered
    assert len(renders) == 5
