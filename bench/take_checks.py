"""Take checks' cost (issue 13): CPU seconds of app/take_checks.check_clip per 10 s of 1080p clip,
against a full decode of the same clip in the same run.

    .venv/bin/python bench/take_checks.py                 # 1080p, 10 s, 24 fps, stereo audio, 3 runs
    .venv/bin/python bench/take_checks.py --grain 8       # the same at a lower bitrate
    .venv/bin/python bench/take_checks.py --seconds 2 --runs 1 --height 360   # smoke run
    .venv/bin/python bench/take_checks.py --preset medium  # x264's default: P frames predict from B frames
    .venv/bin/python bench/take_checks.py --preset medium --fps 30 --cache var/clips   # keep the clip

The clip is made once per invocation with PyAV (tests/support/clips.py): a sliding checkerboard
with fresh grain every frame, H.264 High (x264 "veryfast", CRF 20: B frames, one keyframe per
250 frames, as x264 defaults), with an AAC tone; the grain keeps the bitrate where providers'
1080p clips are (the bitrate is printed).

Per run: CPU time (time.process_time: every thread of this process, user + system) of
`check_clip`, then of the anchor, a plain PyAV decode of every video frame with nothing done to
it (the least any check that looks at every frame would cost); order swapped every other run.
Then, as the floor, the decode of every reference frame alone (`reference_decode`: what the
checks must decode where P frames predict from B frames, nothing done with it).
Printed per run: the CPU times, their ratio, and the checks' CPU seconds per 10 s of clip.
Goal: ≤ 1.0 s of one core per 10 s of 1080p. The last line is JSON. Exit 0 when every run met
the goal.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from app.take_checks import check_clip  # noqa: E402
from tests.support.clips import moving_pattern, tone, write_clip  # noqa: E402

GOAL_S_PER_10S = 1.0


def full_decode(path: Path) -> int:
    n = 0
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.codec_context.thread_count = 1
        for _ in c.decode(v):
            n += 1
    return n


def reference_decode(path: Path) -> int:
    """The floor under the checks where P frames predict from B frames: a decode of every
    reference frame (I, P, referenced B) with the options the checks use, nothing done with it."""
    n = 0
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.codec_context.thread_count = 1
        v.codec_context.skip_frame = "NONREF"
        v.codec_context.options = {"skip_loop_filter": "nokey"}
        for _ in c.decode(v):
            n += 1
    return n


def cpu(fn, *args) -> tuple[float, object]:
    start = time.process_time()
    out = fn(*args)
    return time.process_time() - start, out


def make_clip(dest: Path, height: int, seconds: float, fps: int, grain: int = 20, preset: str = "veryfast") -> Path:
    """The sliding pattern plus fresh 8×8-block grain every frame, which motion compensation
    cannot predict: that is what brings the bitrate to a provider's (≈6 Mbit/s at 1080p)."""
    width = height * 16 // 9
    audio = np.stack([tone(seconds, 0.2), tone(seconds, 0.2, hz=330.0)]).mean(axis=0)
    pattern = moving_pattern(width, height, speed=max(1, height // 180))
    rng = np.random.default_rng(1)

    def frame(i: int) -> np.ndarray:
        noise = rng.integers(0, grain + 1, (height // 8 + 1, width // 8 + 1), dtype=np.uint8)
        noise = noise.repeat(8, 0).repeat(8, 1)[:height, :width, None]
        return pattern(i) + noise
    return write_clip(dest, frame, width=width, height=height, fps=fps, seconds=seconds, audio=audio, preset=preset)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--grain", type=int, default=20, help="grain amplitude (luma levels): sets the bitrate")
    ap.add_argument("--preset", default="veryfast", help="x264 preset of the clip (medium, x264's default, and slower: P frames predict from B frames)")
    ap.add_argument("--cache", type=Path, help="a folder where the clip is kept and reused by the next run with the same options "
                                               "(a 1080p clip takes a minute to encode)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        name = f"{args.height}p_{args.seconds:g}s_{args.fps}fps_grain{args.grain}_{args.preset}.mp4"
        clip = (args.cache or Path(tmp)) / name
        if not clip.exists():
            made = make_clip(Path(tmp) / name, args.height, args.seconds, args.fps, args.grain, args.preset)
            if args.cache:      # moved once whole: an interrupted run leaves no half clip behind
                args.cache.mkdir(parents=True, exist_ok=True)
                shutil.move(made, clip)
        size = clip.stat().st_size
        print(f"clip: {args.height}p, {args.seconds:g} s at {args.fps} fps, {size / 1e6:.1f} MB "
              f"({size * 8 / args.seconds / 1e6:.1f} Mbit/s); load {Path('/proc/loadavg').read_text().split()[:3]}")
        runs = []
        for i in range(args.runs):
            order = ("checks", "anchor") if i % 2 == 0 else ("anchor", "checks")
            got = {}
            for what in order:
                got[what] = cpu(check_clip, clip, args.seconds) if what == "checks" else cpu(full_decode, clip)
            got["floor"] = cpu(reference_decode, clip)
            checks_s, anchor_s, floor_s = got["checks"][0], got["anchor"][0], got["floor"][0]
            per10 = checks_s * 10.0 / args.seconds
            runs.append({"checks_cpu_s": round(checks_s, 3), "anchor_cpu_s": round(anchor_s, 3),
                         "ratio": round(checks_s / anchor_s, 3), "checks_cpu_s_per_10s": round(per10, 3),
                         "frames_analysed": got["checks"][1]["analysed_frames"], "frames": got["anchor"][1],
                         "reference_decode_cpu_s": round(floor_s, 3), "reference_frames": got["floor"][1]})
            print(f"run {i + 1}: checks {checks_s:.3f} s CPU, full decode {anchor_s:.3f} s CPU, "
                  f"ratio {checks_s / anchor_s:.2f}, checks per 10 s of clip {per10:.3f} s "
                  f"({runs[-1]['frames_analysed']} of {runs[-1]['frames']} frames analysed); "
                  f"reference-frame decode alone {floor_s:.3f} s ({got['floor'][1]} frames)")
    per10 = [r["checks_cpu_s_per_10s"] for r in runs]
    summary = {"height": args.height, "grain": args.grain, "preset": args.preset, "mbit_s": round(size * 8 / args.seconds / 1e6, 2), "seconds": args.seconds, "fps": args.fps, "runs": runs,
               "median_checks_cpu_s_per_10s": statistics.median(per10),
               "median_ratio": statistics.median(r["ratio"] for r in runs), "goal_s_per_10s": GOAL_S_PER_10S,
               "loadavg": Path("/proc/loadavg").read_text().split()[:3]}
    print(json.dumps(summary))
    return 0 if max(per10) <= GOAL_S_PER_10S else 1


if __name__ == "__main__":
    sys.exit(main())
