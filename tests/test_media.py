from fractions import Fraction

import av
import numpy as np

from app.media import file_type, make_poster, make_proxy, probe, proxy_reasons
from app.providers.demo_render import render_clip


def _encode(path, codec, fps=24, n=48, gop=None, pix_fmt="yuv420p", faststart=True, size=(320, 180)):
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        s = out.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = size[0], size[1], pix_fmt
        if gop:
            s.codec_context.gop_size = gop
            s.options = {"keyint_min": str(gop), "sc_threshold": "0"} if codec == "libx264" else {}
        for i in range(n):
            arr = np.full((size[1], size[0], 3), (i * 5) % 255, np.uint8)
            arr[:, : (i * 6) % size[0]] = 200
            f = av.VideoFrame.from_ndarray(arr, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def test_browser_safe_clip_needs_no_proxy(tmp_path):
    info = probe(render_clip(tmp_path / "ok.mp4", look="blocks", width=320, height=180, fps=16, duration_s=2, prompt="p"))
    assert proxy_reasons(info) == []


def test_long_gop_and_no_faststart_get_a_proxy(tmp_path):
    src = _encode(tmp_path / "slow.mp4", "libx264", gop=250, faststart=False, n=72)
    info = probe(src)
    assert info["faststart"] is False and info["gop_max_s"] > 1
    reasons = proxy_reasons(info)
    assert "no faststart" in reasons and any("keyframes" in r for r in reasons)
    proxy = probe(make_proxy(src, tmp_path / "proxy.mp4", info))
    assert proxy["codec"] == "h264" and proxy["faststart"] is True
    assert proxy["gop_max_s"] <= 0.5 + 1e-6 and proxy["fps"] == 24 and proxy["frames"] == 72


def test_hevc_is_transcoded_to_h264(tmp_path):
    src = _encode(tmp_path / "hevc.mp4", "libx265", n=24)
    info = probe(src)
    assert info["codec"] == "hevc"
    assert any("not browser-safe" in r for r in proxy_reasons(info))
    assert probe(make_proxy(src, tmp_path / "p.mp4", info))["codec"] == "h264"


def test_proxy_keeps_audio(tmp_path):
    src = render_clip(tmp_path / "a.mp4", look="aurora", width=320, height=180, fps=24, duration_s=1.5, prompt="p",
                      audio=True, gop_s=3)
    out = probe(make_proxy(src, tmp_path / "p.mp4", probe(src)))
    assert out["has_audio"] and out["audio_codec"] == "aac"


def test_poster_skips_black_frames(tmp_path):
    src = render_clip(tmp_path / "e.mp4", look="ember", width=320, height=180, fps=30, duration_s=1.5, prompt="p")
    with av.open(str(src)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="gray")
    assert (first > 48).mean() < 0.001           # the ember look fades in from black
    poster = make_poster(src, tmp_path / "p.jpg")
    from PIL import Image

    img = np.asarray(Image.open(poster).convert("L"))
    assert (img > 48).mean() > 0.002


def test_container_browsers_do_not_play_gets_a_proxy(tmp_path):
    """H.264 in Matroska, AVI or MPEG-TS is browser-safe video in a file browsers will not play:
    probe says what the file is and proxy_reasons asks for the MP4 proxy; MP4, MOV and WebM pass."""
    cases = {"mkv": ("matroska", "Matroska", "video/x-matroska"), "avi": ("avi", "AVI", "video/x-msvideo"),
             "ts": ("mpegts", "MPEG-TS", "video/mp2t")}
    for ext, (kind, name, mime) in cases.items():
        info = probe(_encode(tmp_path / f"c.{ext}", "libx264", gop=12))
        assert info["codec"] == "h264" and info["file_type"] == kind
        assert proxy_reasons(info) == [f"container is {name}, not MP4/WebM"], ext
        assert file_type(info) == (ext, mime)
        proxy = probe(make_proxy(tmp_path / f"c.{ext}", tmp_path / f"p-{ext}.mp4", info))
        assert proxy["file_type"] == "mp4" and proxy["faststart"] is True and proxy_reasons(proxy) == []
    for ext, codec, kind, mime in (("mp4", "libx264", "mp4", "video/mp4"), ("mov", "libx264", "mov", "video/quicktime"),
                                   ("webm", "libvpx-vp9", "webm", "video/webm")):
        info = probe(_encode(tmp_path / f"ok.{ext}", codec, gop=12))
        assert info["file_type"] == kind and proxy_reasons(info) == [], ext
        assert file_type(info) == (ext, mime)


def test_file_type_of_probes_from_before_it_was_recorded():
    """Takes probed before `file_type` existed: told from the demuxer name (and codec)."""
    assert file_type({}) == ("mp4", "video/mp4")
    assert file_type({"container": "mov,mp4,m4a,3gp,3g2,mj2", "codec": "h264"}) == ("mp4", "video/mp4")
    assert file_type({"container": "matroska,webm", "codec": "vp9"}) == ("webm", "video/webm")
    assert file_type({"container": "matroska,webm", "codec": "h264"}) == ("mkv", "video/x-matroska")
    legacy = {"container": "avi", "codec": "h264", "pix_fmt": "yuv420p", "gop_max_s": 0.5}
    assert proxy_reasons(legacy) == ["container is AVI, not MP4/WebM"]
