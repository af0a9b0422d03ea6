"""Procedural clips for the offline demo models: real H.264 MP4s rendered with PyAV.

Each look is cheap numpy drawing so a 720p clip renders in about a second on one core.
The frame number is burned into the corner so synced playback can be checked by eye.
Everything is seeded from the prompt (and the seed parameter), so the same request gives
the same clip, and different demo models give clearly different pictures.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# 3x5 bitmap digits for the frame counter.
_DIGITS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111",
}


def _rng(prompt: str, seed: int | None, look: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{look}|{seed}|{prompt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _draw_number(img: np.ndarray, n: int, scale: int) -> None:
    text = str(n)
    x0, y0 = scale * 2, scale * 2
    w = (len(text) * 4 + 1) * scale
    img[y0 - scale: y0 + 6 * scale, x0 - scale: x0 - scale + w] = (0, 0, 0)
    for i, ch in enumerate(text):
        bits = _DIGITS[ch]
        for r in range(5):
            for c in range(3):
                if bits[r * 3 + c] == "1":
                    y, x = y0 + r * scale, x0 + (i * 4 + c) * scale
                    img[y: y + scale, x: x + scale] = (255, 255, 255)


class _Aurora:
    """Soft colour fields drifting, computed at low resolution and scaled up by swscale."""

    def __init__(self, rng: np.random.Generator, w: int, h: int):
        self.sw, self.sh = max(32, w // 8), max(32, h // 8)
        y, x = np.mgrid[0: self.sh, 0: self.sw].astype(np.float32)
        self.x, self.y = x / self.sw, y / self.sh
        self.k = rng.uniform(1.5, 5.0, size=(3, 2)).astype(np.float32)
        self.ph = rng.uniform(0, 2 * math.pi, size=3).astype(np.float32)
        self.speed = rng.uniform(0.4, 1.2, size=3).astype(np.float32)
        self.base = rng.uniform(0.2, 0.8, size=3).astype(np.float32)

    def frame(self, t: float) -> np.ndarray:
        out = np.empty((self.sh, self.sw, 3), np.float32)
        for c in range(3):
            kx, ky = self.k[c]
            out[..., c] = self.base[c] + 0.35 * np.sin(kx * self.x * 6.28 + ky * self.y * 3.14
                                                       + self.ph[c] + t * self.speed[c] * 2.0)
        return (np.clip(out, 0, 1) * 255).astype(np.uint8)


class _Ember:
    """Warm particles rising over a dark field; fades in from black (tests the poster picker)."""

    def __init__(self, rng: np.random.Generator, w: int, h: int):
        self.w, self.h = w, h
        n = 160
        self.x = rng.uniform(0, w, n)
        self.y0 = rng.uniform(0, h, n)
        self.v = rng.uniform(0.08, 0.35, n) * h
        self.size = rng.integers(max(2, h // 180), max(4, h // 45), n)
        self.col = np.stack([rng.uniform(200, 255, n), rng.uniform(60, 180, n), rng.uniform(0, 60, n)], 1)
        self.wobble = rng.uniform(0, 6.28, n)

    def frame(self, t: float) -> np.ndarray:
        img = np.zeros((self.h, self.w, 3), np.uint8)
        img[..., 0] = 18
        img[..., 2] = 10
        fade = min(1.0, t / 0.5)
        ys = (self.y0 - self.v * t) % self.h
        xs = (self.x + np.sin(self.wobble + t * 2.0) * self.h * 0.02) % self.w
        for x, y, s, col in zip(xs.astype(int), ys.astype(int), self.size, self.col):
            img[y: y + s, x: x + s] = col * fade
        return img


class _Blocks:
    """Hard-edged blocks sliding on a grid."""

    def __init__(self, rng: np.random.Generator, w: int, h: int):
        self.w, self.h = w, h
        self.cell = max(8, h // 9)
        n = 18
        self.cx = rng.integers(0, max(1, w // self.cell), n)
        self.cy = rng.integers(0, max(1, h // self.cell), n)
        self.dx = rng.choice([-1, 1], n) * rng.uniform(0.5, 2.5, n)
        self.dy = rng.choice([-1, 0, 1], n) * rng.uniform(0.3, 1.5, n)
        self.col = rng.integers(40, 255, (n, 3))
        self.bg = rng.integers(20, 60, 3)

    def frame(self, t: float) -> np.ndarray:
        img = np.empty((self.h, self.w, 3), np.uint8)
        img[:] = self.bg
        c = self.cell
        img[::c, :] = 90
        img[:, ::c] = 90
        for i in range(len(self.cx)):
            x = int((self.cx[i] * c + self.dx[i] * c * t) % self.w)
            y = int((self.cy[i] * c + self.dy[i] * c * t) % self.h)
            img[y: y + c - 2, x: x + c - 2] = self.col[i]
        return img


class _Tape:
    """Vertical colour bars panning sideways under rolling scan lines, like a worn tape."""

    def __init__(self, rng: np.random.Generator, w: int, h: int):
        self.w, self.h = w, h
        n = int(rng.integers(6, 10))
        self.bars = rng.integers(30, 230, (n, 3)).astype(np.uint8)
        self.speed = rng.uniform(0.05, 0.2) * w
        self.roll = rng.uniform(0.2, 0.6) * h

    def frame(self, t: float) -> np.ndarray:
        n = len(self.bars)
        x = ((np.arange(self.w) + self.speed * t) % self.w) * n // self.w
        row = self.bars[x.astype(int)]
        img = np.repeat(row[None, :, :], self.h, axis=0)
        line = int(self.roll * t) % self.h
        img[line: line + max(2, self.h // 40)] //= 3
        img[::4] = (img[::4] * 0.8).astype(np.uint8)
        return img


class _Void:
    """A black screen, as a failed render sometimes delivers: the take checks must flag it."""

    def __init__(self, rng: np.random.Generator, w: int, h: int):
        self.img = np.zeros((h, w, 3), np.uint8)

    def frame(self, t: float) -> np.ndarray:
        return self.img.copy()


LOOKS = {"aurora": _Aurora, "ember": _Ember, "blocks": _Blocks, "tape": _Tape, "void": _Void}


def _load_image(path: Path, w: int, h: int) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.fit(im.convert("RGB"), (w, h))
        return np.asarray(im, dtype=np.uint8)


CODECS = {"h264": "libx264", "vp9": "libvpx-vp9", "hevc": "libx265"}


def _video_stream(out, codec: str, width: int, height: int, fps: int, gop: int):
    """The encoder with this codec's settings: every GOP exactly `gop` frames long."""
    vs = out.add_stream(CODECS[codec], rate=fps)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    vs.codec_context.gop_size = gop
    if codec == "h264":
        vs.options = {"preset": "veryfast", "crf": "23", "sc_threshold": "0", "keyint_min": str(gop)}
    elif codec == "hevc":
        vs.options = {"preset": "ultrafast", "crf": "28", "x265-params": f"keyint={gop}:min-keyint={gop}:log-level=error"}
    else:
        vs.options = {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "34", "b": "0",
                      "g": str(gop)}
    return vs


# How each look animates a source image (image-to-video): zoom reached at the end, pan (fractions
# of the frame, x and y), colour drift (per-channel gain swing) and how much of the look's own
# motion shows through at the end. Frame 0 is the image itself; the image stays visible to the end.
IMAGE_MOTION = {
    "aurora": {"zoom": 0.18, "pan": (0.05, -0.03), "drift": (0.10, -0.04, 0.14), "overlay": 0.30},
    "ember": {"zoom": 0.10, "pan": (0.0, 0.05), "drift": (0.14, 0.04, -0.10), "overlay": 0.30},
    "blocks": {"zoom": 0.12, "pan": (-0.06, 0.0), "drift": (-0.08, 0.10, 0.04), "overlay": 0.35},
    "tape": {"zoom": 0.08, "pan": (0.04, 0.02), "drift": (0.06, 0.06, -0.12), "overlay": 0.30},
}


def image_frame(first: np.ndarray, scene: np.ndarray, look: str, t: float, duration_s: float) -> np.ndarray:
    """One frame of image-to-video: the source image zoomed and panned a little further each
    frame (a Ken Burns move), its colours drifting, with the look's motion blended in. At t = 0
    it is the image exactly, so a reviewer sees the model start from the frame it was given."""
    from PIL import Image

    m = IMAGE_MOTION.get(look, IMAGE_MOTION["aurora"])
    u = min(1.0, max(0.0, t / duration_s)) if duration_s > 0 else 0.0
    h, w = first.shape[:2]
    if u == 0.0:
        return first
    z = 1.0 + m["zoom"] * u
    cw, ch = w / z, h / z
    cx = min(max(w / 2 + m["pan"][0] * w * u, cw / 2), w - cw / 2)
    cy = min(max(h / 2 + m["pan"][1] * h * u, ch / 2), h - ch / 2)
    moved = np.asarray(Image.fromarray(first).resize(
        (w, h), Image.BILINEAR, box=(cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2)), dtype=np.float32)
    gain = 1.0 + np.array(m["drift"], dtype=np.float32) * math.sin(math.pi * u)
    if scene.shape[:2] != (h, w):
        scene = np.asarray(Image.fromarray(scene).resize((w, h), Image.BILINEAR))
    a = m["overlay"] * u
    out = np.clip(moved * gain, 0, 255) * (1 - a) + scene.astype(np.float32) * a
    return out.astype(np.uint8)


def _numbered_frame(rgb: np.ndarray, first: np.ndarray | None, look: str, i: int, t: float, duration_s: float,
                    width: int, height: int, scale: int) -> av.VideoFrame:
    """One frame of the scene at the output size with its frame number drawn in; with a source
    image (image-to-video) the frame is the animated image (`image_frame`)."""
    if first is not None:
        rgb = image_frame(first, rgb, look, t, duration_s)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    if frame.width != width or frame.height != height:
        frame = frame.reformat(width=width, height=height, interpolation="BILINEAR")
    arr = frame.to_ndarray(format="rgb24")
    _draw_number(arr, i, scale)
    return av.VideoFrame.from_ndarray(arr, format="rgb24")


def render_clip(dest: Path, *, look: str, width: int, height: int, fps: int, duration_s: float,
                prompt: str, seed: int | None = None, audio: bool = False, image: Path | None = None,
                gop_s: float = 0.5, codec: str = "h264") -> Path:
    """Render an MP4 of exactly round(duration*fps) frames.

    codec "h264" (default) and "vp9" give browser-ready files (faststart, short GOP); "hevc" gives
    what cameras and some self-hosted pipelines deliver — HEVC, a 4 s GOP, the index at the end —
    which Chromium on Debian cannot play, so ingest has to make its H.264 proxy."""
    if codec not in CODECS:
        raise ValueError(f"codec {codec!r}: expected one of {', '.join(CODECS)}")
    rng = _rng(prompt, seed, look)
    scene = LOOKS[look](rng, width, height)
    first = _load_image(image, width, height) if image else None
    n_frames = max(1, round(duration_s * fps))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.stem}.{os.getpid()}-{threading.get_ident()}.tmp.mp4")
    if codec == "hevc":
        gop_s = 4.0
    gop = max(1, round(fps * gop_s))
    with av.open(str(tmp), "w", options={} if codec == "hevc" else {"movflags": "faststart"}) as out:
        vs = _video_stream(out, codec, width, height, fps, gop)
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=48000)
            astream.layout = "stereo"
        scale = max(2, height // 90)
        for i in range(n_frames):
            frame = _numbered_frame(scene.frame(i / fps), first, look, i, i / fps, duration_s, width, height, scale)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if astream is not None:
            _write_tone(out, astream, duration=n_frames / fps, rng=rng)
    tmp.replace(dest)
    return dest


def _write_tone(out, stream, duration: float, rng: np.random.Generator) -> None:
    rate = 48000
    total = int(round(duration * rate))
    freqs = rng.choice([220.0, 277.2, 329.6, 392.0, 440.0], 2, replace=False)
    pts = 0
    chunk = 1024
    while pts < total:
        n = min(chunk, total - pts)
        t = (np.arange(n) + pts) / rate
        wave = (0.15 * np.sin(2 * np.pi * freqs[0] * t) + 0.1 * np.sin(2 * np.pi * freqs[1] * t)).astype(np.float32)
        data = np.stack([wave, wave])
        frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
        pts += n
    for packet in stream.encode():
        out.mux(packet)
