"""Take checks: what a reviewer would notice in a clip, measured on CPU after download.

A provider can deliver a clip that plays and is the right size (app/delivery.py) and is still
no take at all: seconds of black, a frozen picture, a hard cut in a one-shot prompt, a flicker,
a mush with no detail, a silent audio track. These figures are computed once per take, stored
on it (`Take.checks`), shown after the reveal (app/blind.py hides them with the rest of a
take's details) and summarised per model in the comparison table. A take that is mostly black
or frozen is flagged for the reviewer (`Take.checks_flagged`).

How, and why so:
- PyAV decodes the I and P frames only (`skip_frame="BIDIR"`) where that is safe: every B frame
  is skipped, which cuts the decode of a typical clip by two thirds, the bulk of the cost, and
  still samples the picture 6–12 times a second at 24 fps, enough for stretches of half a second,
  cuts, motion and flicker slower than about 3 Hz. Many encoders predict P frames from B frames
  too (x264's default "medium" and slower presets); skipping the B frames then breaks the
  picture, silently (FFmpeg fills the gap with another frame). So the first VERIFY_S seconds are
  decoded both ways, with every reference frame (`"NONREF"`: I, P and referenced B frames,
  always exact) and without B frames; only where the two agree there does the B-frame-free pass
  go on. Otherwise, or when the I and P frames sample the clip less than MIN_SAMPLE_RATE times a
  second, the pass over every reference frame goes on from where it stopped (`_Pass`), so no
  frame is decoded twice but the first second of the pass not taken. A clip whose first second
  holds no B frame is decoded over every reference frame (skipping B frames would gain nothing).
  On such a clip the decode of the referenced frames is the cost, about half a full decode: it
  cannot be skipped without breaking the picture (docs/benchmarks.md "Take checks").
- The in-loop deblocking filter runs on keyframes only (`skip_loop_filter="nokey"`): at the
  analysis width its few-pixel smoothing does not show, and skipping it saves a fifth of the
  decode; keyframes keep it because sharpness is measured on them.
- Each analysed frame's luma plane is read as it is (no colour conversion), subsampled to
  about ANALYSIS_WIDTH pixels wide and area-averaged with OpenCV (`cv2.resize`, INTER_AREA);
  the per-frame figures are then computed on the whole stack at once (numpy).
- Sharpness is the variance of OpenCV's Laplacian on SHARP_HEIGHT-row luma of the keyframes,
  in the same decoding pass: the same scale for every model, so the figures compare across
  resolutions.
- Loudness is EBU R128 integrated loudness (LUFS) from FFmpeg's own `ebur128` filter through
  PyAV; silence is the share of 100 ms windows below SILENCE_DBFS.

The cost goal (≤ 1 s of one core per 10 s of 1080p clip) is measured by bench/take_checks.py
and recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

VERSION = 1
ANALYSIS_WIDTH = 160         # px of the per-frame figures (black, frozen, cuts, motion, flicker)
SHARP_HEIGHT = 360           # rows at which sharpness is measured
BLACK_LUMA = 24.0            # mean luma below this …
BLACK_BRIGHT_SHARE = 0.01    # … with fewer than 1 % of pixels above BLACK_BRIGHT: a black frame
BLACK_BRIGHT = 40
FROZEN_DIFF = 0.5            # mean |Δluma| per frame below this: the picture did not change
CUT_DIFF = 30.0              # a jump of mean |Δluma| this large …
CUT_RATIO = 4.0              # … and this many times the neighbours' median: a hard cut
CUT_HIST = 0.5               # … or of the brightness histogram's L1 distance (0–2)
MIN_STRETCH_S = 0.5          # black / frozen runs shorter than this are not listed
MOSTLY = 0.5                 # a take at least half black or frozen is flagged
SILENCE_DBFS = -60.0         # a 100 ms window quieter than this is silence
MIN_SAMPLE_RATE = 5.0        # analysed frames per second below which every reference frame is decoded
VERIFY_S = 1.0               # seconds over which the B-frame-free decode is compared with the full one …
VERIFY_DIFF = 1.0            # … and the mean |Δluma| (analysis size) above which it is not trusted
SILENT_SHARE = 0.95          # a track silent for 95 % of its windows is "silent"
# 8-bit pixel formats whose plane 0 is the luma, read without conversion
LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p",
              "yuv411p", "yuv410p", "nv12", "nv21", "gray"}


def _luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma as a 2-D uint8 view: plane 0 of the YUV formats, else a conversion."""
    if frame.format.name in LUMA_FIRST:
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, :frame.width]
    return frame.to_ndarray(format="gray")


def _small(luma: np.ndarray) -> np.ndarray:
    """About ANALYSIS_WIDTH px wide (uint8): a cheap stride first, then area averaging."""
    h, w = luma.shape
    step = max(1, w // (ANALYSIS_WIDTH * 3))
    sub = luma[::step, ::step]
    width = min(ANALYSIS_WIDTH, sub.shape[1])
    height = max(1, round(sub.shape[0] * width / sub.shape[1]))
    return cv2.resize(sub, (width, height), interpolation=cv2.INTER_AREA)


def _sharpness(luma: np.ndarray) -> float:
    h, w = luma.shape
    if h > SHARP_HEIGHT:
        luma = cv2.resize(luma, (max(1, round(w * SHARP_HEIGHT / h)), SHARP_HEIGHT), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(luma, cv2.CV_32F).var())


class _Pass:
    """One decoding pass over a clip, frames left out by `skip` (FFmpeg's skip_frame), read in
    steps (`read`): the first VERIFY_S seconds, then the rest. Two passes stay open side by side
    so that whichever is chosen after the first second goes on where it stopped; nothing is
    decoded twice but the other pass's first second."""

    def __init__(self, path: Path, skip: str, max_sharp: int) -> None:
        self._container = av.open(str(path))
        v = self._container.streams.video[0]
        v.codec_context.thread_count = 1
        v.codec_context.skip_frame = skip
        v.codec_context.options = {"skip_loop_filter": "nokey"}
        self.fps = float(v.average_rate or v.guessed_rate or 0) or None
        self._frames = self._container.decode(v)
        self._held: av.VideoFrame | None = None     # the first frame past the last `until_s`
        self._max_sharp = max_sharp
        self.times: list[float] = []
        self.small: list[np.ndarray] = []
        self.sharp: list[float] = []
        self.b_frames = 0                           # B frames among those decoded

    def read(self, until_s: float | None = None) -> None:
        """Decode on up to `until_s` seconds of clip (to the end when None)."""
        while True:
            frame = self._held if self._held is not None else next(self._frames, None)
            self._held = None
            if frame is None:
                return
            t = float(frame.time) if frame.time is not None else len(self.times) / (self.fps or 24)
            if until_s is not None and t > until_s:
                self._held = frame
                return
            self.times.append(t)
            luma = _luma(frame)
            self.small.append(_small(luma))
            self.b_frames += frame.pict_type == av.video.frame.PictureType.B
            if frame.key_frame and len(self.sharp) < self._max_sharp:
                self.sharp.append(_sharpness(luma))

    def close(self) -> None:
        self._container.close()


def _decode(path: Path, skip: str, max_sharp: int, until_s: float | None = None) -> _Pass:
    """A finished pass over the clip (or its first `until_s` seconds)."""
    one = _Pass(path, skip, max_sharp)
    try:
        one.read(until_s)
    finally:
        one.close()
    return one


def _sparse(one: _Pass) -> bool:
    """Fewer than MIN_SAMPLE_RATE analysed frames per second of the span read."""
    span = (max(one.times) - min(one.times)) if len(one.times) > 1 else 0.0
    return len(one.times) < MIN_SAMPLE_RATE * span


def _stands_alone(cheap: _Pass, exact: _Pass) -> bool:
    """True when the I and P frames decoded without the B frames (`cheap`) are the ones a
    decoder that keeps the referenced B frames (`exact`) makes, over the time both have read,
    and they sample it often enough. Where P frames predict from B frames (x264's default
    "medium" and slower) they differ by tens of luma levels within the first second."""
    by_time = dict(zip(exact.times, exact.small))
    pairs = [(f, by_time[t]) for t, f in zip(cheap.times, cheap.small) if t in by_time]
    return (bool(pairs) and len(cheap.times) < len(exact.times) and not _sparse(cheap)
            and all(float(np.abs(a.astype(np.int16) - b).mean()) <= VERIFY_DIFF for a, b in pairs))


def _chosen_pass(path: Path, max_sharp: int) -> _Pass:
    """The finished pass whose frames are analysed: the I and P frames where they stand alone
    over the first VERIFY_S seconds and sample the whole clip MIN_SAMPLE_RATE times a second or
    more, else every reference frame. The exact pass (every reference frame) is read first:
    when its first second holds no B frame, skipping them would leave nothing out."""
    exact = _Pass(path, "NONREF", max_sharp)
    cheap: _Pass | None = None
    try:
        exact.read(VERIFY_S)
        if exact.b_frames:
            cheap = _Pass(path, "BIDIR", max_sharp)
            cheap.read(VERIFY_S)
            if _stands_alone(cheap, exact):
                cheap.read()
                if not _sparse(cheap):
                    return cheap
        exact.read()
        return exact
    finally:
        exact.close()
        if cheap is not None:
            cheap.close()


def decode_frames(path: Path, max_sharp: int = 12) -> tuple[list[float], list[np.ndarray], float | None, float | None]:
    """(times, small luma frames, fps, keyframe sharpness) of the chosen pass (`_chosen_pass`).
    The sharpness is the median over the first `max_sharp` keyframes."""
    one = _chosen_pass(path, max_sharp)
    order = np.argsort(one.times, kind="stable")
    sharpness = round(float(np.median(one.sharp)), 1) if one.sharp else None
    return [one.times[i] for i in order], [one.small[i] for i in order], one.fps, sharpness


def _stretches(flags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[list[float]]:
    """[start, end] of the runs of True whose span is at least MIN_STRETCH_S."""
    out: list[list[float]] = []
    i, n = 0, len(flags)
    while i < n:
        if not flags[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and flags[j + 1]:
            j += 1
        if ends[j] - starts[i] >= MIN_STRETCH_S - 1e-9:
            out.append([round(float(starts[i]), 3), round(float(ends[j]), 3)])
        i = j + 1
    return out


def _jumps(values: np.ndarray, floor: float, slack: float) -> set[int]:
    """Indexes whose value is at least `floor` and CUT_RATIO times its neighbours' median."""
    out = set()
    for i, d in enumerate(values):
        if d < floor:
            continue
        around = np.concatenate([values[max(0, i - 4):i], values[i + 1:i + 5]])
        if not len(around) or d >= CUT_RATIO * float(np.median(around)) + slack:
            out.add(i)
    return out


def _histograms(stack: np.ndarray) -> np.ndarray:
    """(n, 32) brightness histograms, each summing to 1, of an (n, h, w) uint8 stack."""
    n = stack.shape[0]
    bins = (stack.reshape(n, -1) >> 3).astype(np.int64) + 32 * np.arange(n)[:, None]
    counts = np.bincount(bins.reshape(-1), minlength=32 * n).reshape(n, 32)
    return counts / np.maximum(1, counts.sum(axis=1, keepdims=True))


def _cuts(stack: np.ndarray, diffs: np.ndarray) -> np.ndarray:
    """Indexes i where frame i → i+1 is a hard cut: the picture (mean |Δluma|) or its
    brightness histogram (L1 distance, 0–2) jumps well above the neighbouring changes. The
    histogram catches cuts in fast motion, where every pixel changes anyway."""
    hist_d = np.abs(np.diff(_histograms(stack), axis=0)).sum(axis=1)
    return np.array(sorted(_jumps(diffs, CUT_DIFF, 1.0) | _jumps(hist_d, CUT_HIST, 0.05)), dtype=int)


def picture_figures(times: list[float], frames: list[np.ndarray], duration: float | None,
                    fps: float | None) -> dict[str, Any]:
    """Black and frozen stretches, cuts, motion and flicker from the analysed frames."""
    n = len(frames)
    t = np.array(times, dtype=float)
    end = max(float(duration or 0.0), float(t[-1]) + 1.0 / (fps or 24)) if n else 0.0
    ends = np.append(t[1:], end) if n else t
    span = ends - t
    shape = frames[0].shape if n else (1, 1)   # a clip that changes size mid-stream is compared at its first size
    stack = np.stack([f if f.shape == shape else cv2.resize(f, shape[::-1], interpolation=cv2.INTER_AREA)
                      for f in frames]) if n else np.zeros((0, 1, 1), np.uint8)
    flat = stack.reshape(n, -1) if n else np.zeros((0, 1))
    means = flat.mean(axis=1)
    black = (means < BLACK_LUMA) & ((flat > BLACK_BRIGHT).mean(axis=1) < BLACK_BRIGHT_SHARE)
    gaps = np.maximum(np.diff(t) * (fps or 24), 1.0) if n > 1 else np.array([])
    diffs = (np.abs(np.diff(stack.astype(np.int16), axis=0)).reshape(n - 1, -1).mean(axis=1) / gaps
             if n > 1 else np.array([]))
    # frame i is frozen when it shows what frame i-1 showed (black frames are counted as black)
    frozen = np.zeros(n, dtype=bool)
    if n > 1:
        frozen[1:] = diffs < FROZEN_DIFF
        frozen &= ~black
    cuts = _cuts(stack, diffs) if n > 2 else np.array([], dtype=int)
    steady = np.ones(max(n - 1, 0), dtype=bool)
    steady[cuts] = False
    flicker = 0.0
    if n > 2:
        second = np.abs(means[1:-1] - (means[:-2] + means[2:]) / 2)
        near_cut = np.zeros(n - 2, dtype=bool)
        for c in cuts:
            near_cut[max(0, c - 1):c + 1] = True
        flicker = float(second[~near_cut].mean()) if (~near_cut).any() else 0.0
    total = float(span.sum()) or 1.0
    return {
        "analysed_frames": n,
        "black_fraction": round(float(span[black].sum()) / total, 4) if n else 0.0,
        "black_stretches": _stretches(black, t, ends),
        "frozen_fraction": round(float(span[frozen].sum()) / total, 4) if n else 0.0,
        "frozen_stretches": _stretches(frozen, np.append(t[:1], t[:-1]), ends),
        "hard_cuts": [round(float(t[i + 1]), 3) for i in cuts],
        "mean_motion": round(float(diffs[steady].mean()), 3) if steady.any() else 0.0,
        "flicker": round(flicker, 3),
    }


def audio_figures(path: Path) -> dict[str, Any] | None:
    """Integrated loudness (LUFS, FFmpeg's ebur128), peak and silence of the first audio
    track; None when the clip has none."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        stream = c.streams.audio[0]
        graph = av.filter.Graph()
        chain = [graph.add_abuffer(template=stream), graph.add("ebur128", "metadata=1"),
                 graph.add("aformat", "sample_fmts=fltp:channel_layouts=mono"), graph.add("abuffersink")]
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        graph.configure()
        chunks: list[np.ndarray] = []
        integrated, rate = None, stream.rate or 48000

        def drain() -> None:
            nonlocal integrated
            while True:
                try:
                    out = graph.pull()
                except (av.BlockingIOError, av.EOFError):
                    return
                integrated = out.metadata.get("lavfi.r128.I", integrated)
                chunks.append(out.to_ndarray().reshape(-1))

        for frame in c.decode(stream):
            graph.push(frame)
            drain()
        graph.push(None)
        drain()
    return _level_figures(chunks, rate, integrated)


def _level_figures(chunks: list[np.ndarray], rate: int, integrated: str | None) -> dict[str, Any]:
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    win = max(1, rate // 10)
    n = len(samples) // win
    if n:
        rms = np.sqrt((samples[:n * win].reshape(n, win).astype(np.float64) ** 2).mean(axis=1))
        silent = float((20 * np.log10(np.maximum(rms, 1e-9)) < SILENCE_DBFS).mean())
    else:
        silent = 1.0
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    lufs = float(integrated) if integrated is not None else None
    return {
        "loudness_lufs": None if lufs is None or lufs <= -70.0 else round(lufs, 1),
        "peak_dbfs": round(float(20 * np.log10(peak)), 1) if peak > 0 else None,
        "silent_fraction": round(silent, 4),
        "silent": silent >= SILENT_SHARE,
    }


def flags(figures: dict[str, Any]) -> list[str]:
    """What the reviewer is told to look at; the first two flag the take."""
    out = []
    if figures["black_fraction"] >= MOSTLY:
        out.append(f"mostly black ({figures['black_fraction']:.0%})")
    if figures["frozen_fraction"] >= MOSTLY:
        out.append(f"mostly frozen ({figures['frozen_fraction']:.0%})")
    audio = figures.get("audio")
    if audio and audio["silent"]:
        out.append("the audio track is silent")
    return out


def flagged(figures: dict[str, Any]) -> bool:
    """A take mostly black or frozen: flagged for the reviewer."""
    return figures["black_fraction"] >= MOSTLY or figures["frozen_fraction"] >= MOSTLY


def check_clip(path: Path, duration_s: float | None = None) -> dict[str, Any]:
    """Every figure for one clip, with the CPU seconds it took (`cpu_s`)."""
    start = time.process_time()
    times, frames, fps, sharpness = decode_frames(path)
    figures = picture_figures(times, frames, duration_s, fps)
    figures["sharpness"] = sharpness
    figures["audio"] = audio_figures(path)
    figures["flags"] = flags(figures)
    figures["version"] = VERSION
    figures["cpu_s"] = round(time.process_time() - start, 3)
    return figures


def take_fields(figures: dict[str, Any] | None) -> dict[str, Any]:
    """The Take columns the checks fill (app/jobs/generate.py, after the probe)."""
    if figures is None:
        return {}
    return {"checks": figures, "checks_flagged": flagged(figures), "motion": figures["mean_motion"],
            "sharpness": figures["sharpness"], "hard_cuts": len(figures["hard_cuts"])}
