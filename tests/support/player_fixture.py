"""A self-contained page with a synced player grid, for the player tests and bench/sync_drift.py.

Clips are rendered with PyAV (H.264 High, yuv420p, GOP ≈ 0.5 s, faststart, optional AAC tone),
each frame carrying its own index twice: as big digits for people looking at screenshots and
as a 10-bit black/white barcode along the top edge that a test can read back from a canvas.
Reading pixels is what lets the tests assert *which frame is on screen* rather than what
`currentTime` claims (the two differ by one frame after exact `k/fps` seeks in Chromium).

The Starlette app serves the page, the real /static files and the clips with HTTP Range
(StaticFiles), plus a `/gated/...` responder that streams one clip's first bytes and then
holds the rest until the test opens a gate — a deterministic network stall.
"""

from __future__ import annotations

import asyncio
import colorsys
import fractions
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image, ImageDraw, ImageFont
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

ROOT = Path(__file__).resolve().parents[2]
BARCODE_BITS = 10
"""Frame index bits drawn along the top edge (frames 0–1023 are enough for short clips)."""


@dataclass(frozen=True)
class ClipSpec:
    name: str
    fps: float
    duration_s: float
    audio: bool = False
    model_name: str = "Model"

    @property
    def frames(self) -> int:
        return int(round(self.fps * self.duration_s))


TEST_CLIPS = [
    ClipSpec("a24", 24, 4.0, model_name="Aurora Video 1"),
    ClipSpec("b30", 30, 3.0, model_name="Borealis Turbo"),
    ClipSpec("c24audio", 24, 5.0, audio=True, model_name="Cirrus Sound"),
    ClipSpec("d16", 16, 4.0, model_name="Drizzle Wan"),
]
"""The test grid: mixed fps (16/24/30), mixed lengths, one clip with an AAC track."""

EXTRA_CLIPS = [
    ClipSpec("e25", 25, 3.5, model_name="Ember Flow"),
    ClipSpec("f20audio", 20, 4.5, audio=True, model_name="Fjord Motion"),
]
"""Takes E (25 fps) and F (20 fps, AAC) after TEST_CLIPS for the 5- and 6-tile grids; both end
before C, so the timeline stays 5 s long and the step frame rate 30 fps."""

BENCH_CLIPS = [
    ClipSpec("b1_24", 24, 8.0, model_name="Bench One"),
    ClipSpec("b2_30", 30, 6.0, model_name="Bench Two"),
    ClipSpec("b3_24audio", 24, 10.0, audio=True, model_name="Bench Three"),
    ClipSpec("b4_30", 30, 7.0, model_name="Bench Four"),
]
"""The bench grid: 24 and 30 fps mixed, 6–10 s, the longest one carrying audio."""


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed small bitmap font
        return ImageFont.load_default()


def _frame_image(k: int, n: int, spec: ClipSpec, hue: float, w: int, h: int, font) -> Image.Image:
    r, g, b = (int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.45, 0.35))
    img = Image.new("RGB", (w, h), (r, g, b))
    d = ImageDraw.Draw(img)
    # Moving content: a disc sweeping left→right over the clip, so motion is visible.
    x = int((w - h // 3) * (k / max(1, n - 1)))
    rr, gg, bb = (int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.7, 0.95))
    d.ellipse([x, h // 2, x + h // 3, h // 2 + h // 3], fill=(rr, gg, bb))
    # Barcode: bit i of k as a white/black block; read back at the block centres.
    bw = w // BARCODE_BITS
    bh = max(12, h // 12)
    for i in range(BARCODE_BITS):
        on = (k >> i) & 1
        d.rectangle([i * bw, 0, (i + 1) * bw - 1, bh - 1], fill=(255, 255, 255) if on else (0, 0, 0))
    d.text((w // 20, bh + h // 20), f"{k}", fill=(255, 255, 255), font=font)
    small = _font(max(10, h // 16))
    d.text((w // 20, h - h // 8), f"{spec.name}  {spec.fps:g} fps  {k / spec.fps:.3f}s", fill=(230, 230, 230),
           font=small)
    return img


def make_clip(path: Path, spec: ClipSpec, width: int = 320, height: int = 180, hue: float = 0.6) -> None:
    """Encode `spec` as an H.264 MP4 with GOP ≈ fps/2 and the moov atom up front."""
    fps = fractions.Fraction(spec.fps).limit_denominator(1001)
    gop = max(1, round(spec.fps / 2))
    font = _font(max(12, height // 3))
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.gop_size = gop
        vs.options = {"crf": "20", "preset": "veryfast", "profile": "high",
                      "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        a_s = None
        if spec.audio:
            a_s = out.add_stream("aac", rate=48000)
            a_s.layout = "mono"
        n = spec.frames
        for k in range(n):
            frame = av.VideoFrame.from_image(_frame_image(k, n, spec, hue, width, height, font))
            frame.pts = k
            frame.time_base = 1 / fps
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if a_s is not None:
            rate, per = 48000, 1024
            total = int(rate * spec.duration_s)
            t = np.arange(total) / rate
            tone = (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
            for start in range(0, total, per):
                chunk = tone[start:start + per]
                af = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
                af.sample_rate = rate
                af.pts = start
                af.time_base = fractions.Fraction(1, rate)
                for packet in a_s.encode(af):
                    out.mux(packet)
            for packet in a_s.encode():
                out.mux(packet)


def build_clips(directory: Path, specs: list[ClipSpec], width: int = 320, height: int = 180) -> list[dict]:
    """Write every clip (and a poster) once into `directory`; return tile dicts for the macro."""
    directory.mkdir(parents=True, exist_ok=True)
    tiles = []
    for i, spec in enumerate(specs):
        clip = directory / f"{spec.name}_{width}.mp4"
        poster = directory / f"{spec.name}_{width}.jpg"
        hue = (0.58 + i * 0.23) % 1.0
        if not clip.exists():
            tmp = clip.with_suffix(".tmp.mp4")
            make_clip(tmp, spec, width, height, hue)
            os.replace(tmp, clip)
        if not poster.exists():
            _frame_image(0, spec.frames, spec, hue, width, height, _font(height // 3)).save(poster, quality=80)
        tiles.append({
            "take_id": f"take{i}{spec.name}",
            "label": chr(ord("A") + i),
            "name": spec.model_name,
            "video_url": f"/clips/{clip.name}",
            "poster_url": f"/clips/{poster.name}",
            "fps": float(spec.fps),
            "duration_s": float(spec.duration_s),
            "width": width,
            "height": height,
            "has_audio": spec.audio,
        })
    return tiles


_env = Environment(loader=FileSystemLoader(str(ROOT / "templates")), autoescape=select_autoescape())

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body{margin:0;background:#0e1014;color:#ddd;font:14px system-ui,sans-serif}
main{padding:12px} .other{margin-top:8px}</style></head>
<body><main>
{% from "partials/player.html" import player %}
{{ player(tiles, blind=blind, grid_id="grid") }}
<div class="other"><label>Note <input id="note" type="text"></label>
<textarea id="comment" rows="1"></textarea></div>
</main></body></html>"""


def render_page(tiles: list[dict], blind: bool = False, title: str = "Takes player fixture") -> str:
    if blind:
        tiles = [{**t, "name": None} for t in tiles]
    return _env.from_string(PAGE).render(tiles=tiles, blind=blind, title=title)


def render_fragment(tiles: list[dict], blind: bool = False, grid_id: str = "grid2") -> str:
    """The bare macro output, as an htmx swap would insert it."""
    src = '{% from "partials/player.html" import player %}{{ player(tiles, blind=blind, grid_id=grid_id) }}'
    if blind:
        tiles = [{**t, "name": None} for t in tiles]
    return _env.from_string(src).render(tiles=tiles, blind=blind, grid_id=grid_id)


class Gate:
    """Holds bytes past `hold_from` (a fraction of the file) until `open()` is called."""

    def __init__(self) -> None:
        self.hold_from: dict[str, float] = {}
        self._open = threading.Event()
        self.requests: list[str] = []

    def arm(self, name: str, fraction: float) -> None:
        self._open.clear()
        self.hold_from[name] = fraction

    def open(self) -> None:
        self._open.set()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    if not header or not header.startswith("bytes="):
        return None
    first = header[6:].split(",")[0].strip()
    a, _, b = first.partition("-")
    if a == "":
        start, end = max(0, size - int(b)), size - 1
    else:
        start, end = int(a), (int(b) if b else size - 1)
    return start, min(end, size - 1)


def make_app(clips_dir: Path, pages: dict[str, str], gate: Gate | None = None) -> Starlette:
    """Page routes (`pages`: path → HTML), /static, /clips and /gated/<clip> (see `Gate`)."""
    gate = gate or Gate()

    def page(request: Request):
        html = pages.get(request.url.path)
        return HTMLResponse(html) if html is not None else Response("no such page", status_code=404)

    async def gated(request: Request):
        name = request.path_params["name"]
        path = clips_dir / name
        if not path.is_file():
            return Response("no such clip", status_code=404)
        size = path.stat().st_size
        rng = _parse_range(request.headers.get("range"), size)
        start, end = rng if rng else (0, size - 1)
        limit = int(size * gate.hold_from.get(name, 1.0))
        gate.requests.append(f"{start}-{end}")

        async def body():
            pos = start
            with open(path, "rb") as f:
                f.seek(start)
                while pos <= end:
                    if pos >= limit:
                        while not gate.is_open:
                            if await request.is_disconnected():
                                return
                            await asyncio.sleep(0.02)
                    n = min(64 * 1024, end + 1 - pos)
                    if pos < limit:
                        n = min(n, limit - pos)
                    chunk = f.read(n)
                    if not chunk:
                        return
                    pos += len(chunk)
                    yield chunk

        headers = {"Accept-Ranges": "bytes", "Content-Length": str(end + 1 - start),
                   "Cache-Control": "no-store", "Content-Type": "video/mp4"}
        if rng:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return StreamingResponse(body(), status_code=206 if rng else 200, headers=headers)

    routes = [Route(p, page) for p in pages] + [
        Route("/gated/{token}/{name}", gated),
        Mount("/static", StaticFiles(directory=str(ROOT / "static"))),
        Mount("/clips", StaticFiles(directory=str(clips_dir))),
    ]
    app = Starlette(routes=routes)
    app.state.gate = gate
    return app


READ_FRAMES_JS = """(bits) => {
  // Decode the barcode of the frame each <video> currently shows (index or null when not decodable).
  const out = [];
  for (const v of document.querySelectorAll('[data-sync-grid] video')) {
    if (v.readyState < 2 || !v.videoWidth) { out.push(null); continue; }
    const c = document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d', {willReadFrequently: true});
    g.drawImage(v, 0, 0);
    const bw = Math.floor(c.width / bits), y = Math.floor(Math.max(12, Math.floor(c.height / 12)) / 2);
    let k = 0;
    for (let i = 0; i < bits; i++) {
      const p = g.getImageData(i * bw + Math.floor(bw / 2), y, 1, 1).data;
      if ((p[0] + p[1] + p[2]) / 3 > 128) k |= (1 << i);
    }
    out.push(k);
  }
  return out;
}"""


def screenshots(out_dir: Path) -> list[Path]:
    """Render the docs screenshots (grid, wipe, focus, shortcuts) with Debian's Chromium."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.support import services
    from tests.fakes import serve

    out_dir.mkdir(parents=True, exist_ok=True)
    clips = Path(tempfile.mkdtemp(prefix="takes-shots-"))
    tiles = build_clips(clips, TEST_CLIPS, width=640, height=360)
    pages = {"/": render_page(tiles, title="Takes — synced players")}
    written = []
    with serve(make_app(clips, pages)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=services.chromium_path(), args=services.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        page.goto(base + "/")
        page.wait_for_function("() => grid.takesPlayer && grid.takesPlayer.phase === 'paused'")
        run = lambda js: page.evaluate(f"async () => {{ const p = grid.takesPlayer; await ({js}); await p.settled(); }}")

        def shot(name):
            path = out_dir / name
            page.locator("#grid").screenshot(path=str(path))
            written.append(path)

        run("p.setLoop({in: 1.0, out: 2.5})")
        run("p.seek(1.75)")
        shot("player-grid.png")
        run("p.setWipe(true, {pos: 0.42})")
        run("p.seek(2.9)")
        shot("player-wipe.png")
        run("p.setWipe(false)")
        run("p.focus(2)")
        shot("player-focus.png")
        run("p.focus(null)")
        page.keyboard.press("?")
        shot("player-shortcuts.png")
        browser.close()
    return written


if __name__ == "__main__":
    import sys

    if len(sys.argv) >= 2 and sys.argv[1] == "screenshots":
        for p in screenshots(Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "docs" / "screenshots")):
            print(p)
    else:
        print("usage: python -m tests.support.player_fixture screenshots [OUT_DIR]")
