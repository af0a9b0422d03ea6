"""Crafted clips for the take checks (tests/test_take_checks.py, bench/take_checks.py), made
with PyAV: every frame is given as a function of its index, every audio sample as an array, so
a test knows exactly where the black, the freeze or the cut is and how loud the track is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

Frame = Callable[[int], np.ndarray]   # frame index → (h, w, 3) uint8 RGB


def moving_pattern(width: int, height: int, speed: int = 4, seed: int = 0) -> Frame:
    """A checkerboard with fine noise, sliding `speed` px a frame: real motion and detail."""
    yy, xx = np.mgrid[0:height, 0:width]
    cell = max(4, width // 24)
    base = (((xx // cell + yy // cell) % 2) * 140 + 50).astype(np.uint8)
    noise = np.random.default_rng(seed).integers(0, 30, (height, width), dtype=np.uint8)
    board = np.stack([base + noise // 2, base, 255 - base], axis=-1)

    def frame(i: int) -> np.ndarray:
        return np.roll(board, i * speed, axis=1)
    return frame


def solid(value: int, width: int, height: int) -> Frame:
    img = np.full((height, width, 3), value, np.uint8)
    return lambda i: img


def write_clip(dest: Path, frames: Frame, *, width: int = 320, height: int = 180, fps: int = 24,
               seconds: float = 4.0, audio: np.ndarray | None = None, rate: int = 48000,
               bframes: bool = True, preset: str = "veryfast") -> Path:
    """An H.264 MP4 (x264 defaults: B frames, as providers deliver) of `seconds` at `fps`, with
    an AAC mono track of `audio` (float samples in −1…1) when given. x264's slower presets
    predict P frames from B frames as well (tests/test_take_checks.py)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(dest), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"preset": preset, "crf": "20", **({} if bframes else {"bf": "0"})}
        a = None
        if audio is not None:
            a = out.add_stream("aac", rate=rate)
            a.layout = "mono"
        for i in range(round(seconds * fps)):
            f = av.VideoFrame.from_ndarray(frames(i), format="rgb24")
            f.pts = i
            for p in v.encode(f):
                out.mux(p)
        if a is not None:
            samples = audio.astype(np.float32)
            for k in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(samples[None, k:k + 1024], format="flt", layout="mono")
                chunk.sample_rate, chunk.pts = rate, k
                for p in a.encode(chunk):
                    out.mux(p)
        for stream in (v, a):
            if stream is not None:
                for p in stream.encode():
                    out.mux(p)
    return dest


def tone(seconds: float, amplitude: float, rate: int = 48000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * hz * t)
