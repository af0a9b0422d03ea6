from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from app.media import probe
from app.providers.demo_render import render_clip


@pytest.mark.parametrize("look,fps,duration,w,h", [
    ("aurora", 24, 2.5, 640, 360), ("ember", 30, 3.0, 360, 640), ("blocks", 16, 1.3, 480, 480),
])
def test_clip_honours_duration_size_and_codec(tmp_path, look, fps, duration, w, h):
    out = render_clip(tmp_path / "c.mp4", look=look, width=w, height=h, fps=fps, duration_s=duration, prompt="p")
    info = probe(out)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (w, h)
    assert abs(info["duration_s"] - duration) <= 0.1
    assert info["fps"] == fps
    assert info["faststart"] is True and info["gop_max_s"] <= 0.5 + 1e-6
    assert info["has_audio"] is False


def test_audio_track_when_asked(tmp_path):
    info = probe(render_clip(tmp_path / "a.mp4", look="aurora", width=320, height=180, fps=24, duration_s=2,
                             prompt="p", audio=True))
    assert info["has_audio"] and info["audio_codec"] == "aac"
    assert abs(info["duration_s"] - 2) <= 0.1


def _mean_frame(path: Path, index: int = 10) -> np.ndarray:
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24").astype(float)
    raise AssertionError("clip too short")


def test_looks_are_clearly_different(tmp_path):
    frames = {look: _mean_frame(render_clip(tmp_path / f"{look}.mp4", look=look, width=320, height=180, fps=24,
                                            duration_s=1, prompt="same prompt"))
              for look in ("aurora", "ember", "blocks", "tape")}
    looks = list(frames)
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(frames[looks[i]] - frames[looks[j]]).mean() > 20


def test_same_request_same_clip_different_prompt_different_clip(tmp_path):
    a = _mean_frame(render_clip(tmp_path / "1.mp4", look="blocks", width=320, height=180, fps=16, duration_s=1, prompt="x"))
    b = _mean_frame(render_clip(tmp_path / "2.mp4", look="blocks", width=320, height=180, fps=16, duration_s=1, prompt="x"))
    c = _mean_frame(render_clip(tmp_path / "3.mp4", look="blocks", width=320, height=180, fps=16, duration_s=1, prompt="y"))
    assert np.abs(a - b).mean() < 1
    assert np.abs(a - c).mean() > 5


def test_image_to_video_starts_on_the_source_image(tmp_path):
    img = np.zeros((180, 320, 3), np.uint8)
    img[:, :160] = (250, 250, 0)
    Image.fromarray(img).save(tmp_path / "src.png")
    out = render_clip(tmp_path / "i.mp4", look="aurora", width=320, height=180, fps=24, duration_s=2, prompt="p",
                      image=tmp_path / "src.png")
    first = _mean_frame(out, 0)
    assert first[100:, 20:140].mean(axis=(0, 1))[0] > 200   # yellow left half
    assert first[100:, 180:300].mean() < 60                  # black right half


def test_vp9_is_browser_ready_and_hevc_needs_a_proxy(tmp_path):
    """The codec option: VP9 plays as delivered; HEVC (long GOP, index at the end) is what ingest
    must turn into an H.264 proxy — both keep duration and frame rate."""
    from app.media import proxy_reasons

    vp9 = probe(render_clip(tmp_path / "v.mp4", look="tape", width=320, height=180, fps=30, duration_s=2,
                            prompt="p", codec="vp9"))
    assert vp9["codec"] == "vp9" and vp9["fps"] == 30 and abs(vp9["duration_s"] - 2) <= 0.1
    assert proxy_reasons(vp9) == []
    hevc = probe(render_clip(tmp_path / "h.mp4", look="tape", width=320, height=180, fps=25, duration_s=5,
                             prompt="p", codec="hevc"))
    assert hevc["codec"] == "hevc" and abs(hevc["duration_s"] - 5) <= 0.1
    reasons = proxy_reasons(hevc)
    assert any("not browser-safe" in r for r in reasons) and "no faststart" in reasons
    with pytest.raises(ValueError, match="codec 'prores'"):
        render_clip(tmp_path / "x.mp4", look="tape", width=64, height=64, fps=24, duration_s=1, prompt="p",
                    codec="prores")
