"""Measure inter-player drift of the synced player grid in Debian's Chromium.

    python bench/sync_drift.py                   # own fixture: 4 clips, 24/30 fps, 6–10 s, one with audio
    python bench/sync_drift.py --url URL         # any page with a [data-sync-grid]

Session (defaults): loop on, play for 60 s with one network stall (the longest clip's bytes past
~40 % are held back by Playwright route interception until the grid has been stalled for 1.5 s),
two speed changes (→2× at 24 s, →1× at 36 s) and 10 seeks to random positions at random times.

Every animation frame a sampler in the page reads all <video>.currentTime values in the same
callback (one consistent snapshot) plus the player's phase and clock; rVFC callbacks record each
presented frame's mediaTime against the clock at its expected display time.

Drift of a sample = max − min currentTime over the *eligible* clips: not ended, not on their last
frame (clock and currentTime < duration − 1/fps: shorter clips hold their last frame on purpose),
at least two of them. "Unfiltered" is every sample from the first play to the final pause.
"Playing" drops only (a) below; "steady" drops every transition window, i.e. any sample where
  (a) the player's phase is not `playing` (priming after a seek/loop wrap, or stalled), or an
      eligible video is seeking or paused;
  (b) less than --settle-ms (500 ms) has passed since the clock last (re)started — i.e. after the
      initial play, every seek, every loop wrap and the stall resume (the rate nudge needs ~0.5 s
      to remove the startup offset, notes §3.4);
  (c) less than --settle-ms has passed since a speed change.
Targets (issue 4): steady max ≤ one frame of the slowest clip (41.7 ms at 24 fps), median ≤ 16.7 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLER_JS = r"""(gridId) => {
  const g = (gridId && document.getElementById(gridId)) || document.querySelector('[data-sync-grid]');
  if (!g || !g.takesPlayer) throw new Error('no [data-sync-grid] with a takesPlayer on this page');
  const p = g.takesPlayer, vs = [...g.querySelectorAll('video')];
  const d = window.__drift = {samples: [], frames: [], on: true, fps: p.clips.map(c => c.fps),
    durations: p.clips.map(c => c.duration), labels: p.clips.map(c => c.label)};
  const phases = {playing: 0, priming: 1, stalled: 2, paused: 3, loading: 4};
  function tick(now) {
    if (!d.on) return;
    // One snapshot per animation frame: all reads happen in this callback.
    const T = p.clockAt(performance.now());
    const row = [performance.now(), T, phases[p.phase] ?? 9, p.epoch, p.lastStart, p.lastRateChange, p.rate];
    for (const v of vs) row.push(v.currentTime, (v.paused ? 1 : 0) | (v.ended ? 2 : 0) | (v.seeking ? 4 : 0)
      | (p.clips[vs.indexOf(v)].seeking ? 4 : 0), v.readyState, v.playbackRate);
    d.samples.push(row);
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) vs.forEach((v, i) => {
    const cb = (now, md) => {
      if (!d.on) return;
      d.frames.push([i, md.mediaTime, md.expectedDisplayTime, p.clockAt(md.expectedDisplayTime),
        p.phase === 'playing' ? 1 : 0, p.lastStart, p.lastRateChange, md.presentedFrames]);
      v.requestVideoFrameCallback(cb);
    };
    v.requestVideoFrameCallback(cb);
  });
  return {n: vs.length, fps: d.fps, durations: d.durations, labels: d.labels,
          srcs: vs.map(v => v.currentSrc || v.src)};
}"""


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(xs_ms):
    return {"n": len(xs_ms), "median": pct(xs_ms, 0.5), "p95": pct(xs_ms, 0.95), "max": max(xs_ms, default=float("nan"))}


def analyse(data, settle_ms, t_from, t_to):
    fps, durs, n = data["fps"], data["durations"], len(data["fps"])
    unfiltered, playing, steady = [], [], []
    excluded = {"not playing / seeking": 0, "after (re)start": 0, "after speed change": 0}
    offsets = [[] for _ in range(n)]
    for row in data["samples"]:
        now, T, phase, _epoch, last_start, last_rate, _rate = row[:7]
        if not (t_from <= now <= t_to):
            continue
        vids = [row[7 + 4 * i: 11 + 4 * i] for i in range(n)]
        elig = [i for i, (ct, flags, rs, _r) in enumerate(vids)
                if not flags & 2 and ct < durs[i] - 1 / fps[i] and T < durs[i] - 1 / fps[i]]
        if len(elig) < 2:
            continue
        cts = [vids[i][0] for i in elig]
        spread = (max(cts) - min(cts)) * 1000
        unfiltered.append(spread)
        if phase != 0 or any(vids[i][1] & 5 for i in elig):
            excluded["not playing / seeking"] += 1
            continue
        playing.append(spread)
        if now - last_start < settle_ms:
            excluded["after (re)start"] += 1
        elif now - last_rate < settle_ms:
            excluded["after speed change"] += 1
        else:
            steady.append(spread)
            for i in elig:
                offsets[i].append((vids[i][0] - T) * 1000)
    # Presented frames (rVFC): lateness = clock at the frame's expected display time − its mediaTime.
    # A perfectly synced clip shows values spread over one frame period; what matters between
    # clips is that their distributions sit at the same place.
    late = [[] for _ in range(n)]
    for i, media, disp, clock_at, is_playing, last_start, last_rate, _pf in data["frames"]:
        if not is_playing or not (t_from <= disp <= t_to) or disp - last_start < settle_ms or disp - last_rate < settle_ms:
            continue
        if clock_at >= durs[i] - 1 / fps[i]:
            continue
        late[i].append((clock_at - media) * 1000)
    return unfiltered, playing, steady, excluded, offsets, late


async def run(args):
    from playwright.async_api import async_playwright

    from tests.support import services

    rng = random.Random(args.seed)
    with ExitStack() as stack:
        url = args.url
        if not url:
            from tests.fakes import serve
            from tests.support.player_fixture import BENCH_CLIPS, build_clips, make_app, render_page
            clips = Path(args.clips_dir or tempfile.mkdtemp(prefix="takes-bench-"))
            tiles = build_clips(clips, BENCH_CLIPS, width=args.width, height=args.width * 9 // 16)
            base = stack.enter_context(serve(make_app(clips, {"/": render_page(tiles, title="Takes drift bench")})))
            url = base + "/"
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=services.chromium_path(), args=services.CHROMIUM_ARGS)
            ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await ctx.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(url)
            sel = f"#{args.grid_id}" if args.grid_id else "[data-sync-grid]"
            await page.wait_for_function(
                f"() => {{ const g = document.querySelector('{sel}'); return g && g.takesPlayer && g.takesPlayer.phase === 'paused'; }}",
                timeout=30_000)
            info = await page.evaluate(
                f"() => {{ const g = document.querySelector('{sel}'); return {{id: g.id, durations: g.takesPlayer.clips.map(c => c.duration), "
                f"srcs: [...g.querySelectorAll('video')].map(v => v.currentSrc)}}; }}")
            grid_id = info["id"]
            await ctx.close()

            # Stall injection: hold the longest clip's bytes past `cut` until released.
            stall_idx = max(range(len(info["durations"])), key=lambda i: info["durations"][i])
            stall_src = info["srcs"][stall_idx]
            release = asyncio.Event()
            if args.no_stall:
                release.set()
            cut_frac = args.stall_at
            route_log = []

            async def handle(route):
                req = route.request
                rng_h = req.headers.get("range", "")
                start = int(rng_h[6:].split("-")[0]) if rng_h.startswith("bytes=") and rng_h[6:].split("-")[0] else 0
                if release.is_set():
                    await route.continue_()
                    return
                resp = await route.fetch()
                body = await resp.body()
                total = int(resp.headers.get("content-range", f"/{len(body)}").rsplit("/", 1)[1])
                cut = int(total * cut_frac)
                if start >= cut:
                    route_log.append(("held", start))
                    await release.wait()
                    await route.fulfill(response=resp)
                    return
                keep = body[: max(0, cut - start)]
                headers = dict(resp.headers)
                headers["content-range"] = f"bytes {start}-{start + len(keep) - 1}/{total}"
                headers["content-length"] = str(len(keep))
                route_log.append(("cut", start, start + len(keep)))
                await route.fulfill(status=206, headers=headers, body=keep)

            ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
            await ctx.route(lambda u: u == stall_src, handle)  # a predicate: URLs may contain glob characters
            page = await ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(url)
            await page.wait_for_function(
                f"() => {{ const g = document.getElementById('{grid_id}'); return g && g.takesPlayer && g.takesPlayer.phase === 'paused'; }}",
                timeout=30_000)
            meta = await page.evaluate(SAMPLER_JS, grid_id)
            P = f"document.getElementById('{grid_id}').takesPlayer"

            async def act(js):
                return await page.evaluate(f"() => {{ const p = {P}; {js}; return performance.now(); }}")

            duration = max(meta["durations"])
            seconds = args.seconds
            speeds = [float(s) for s in args.speeds.split(",") if s]
            speed_at = [seconds * 0.4, seconds * 0.6][: len(speeds)]
            seek_at = []
            while len(seek_at) < args.seeks:
                t = rng.uniform(seconds * 0.17, seconds - 2)
                if all(abs(t - s) > 1.5 for s in speed_at + seek_at):
                    seek_at.append(t)
            plan = sorted([(t, "speed", s) for t, s in zip(speed_at, speeds)]
                          + [(t, "seek", rng.uniform(0, duration * 0.95)) for t in seek_at])
            await act("p.setLoop({enabled: true}); p.setRate(1)")
            await page.evaluate(f"() => {P}.seek(0)")
            await page.evaluate(f"() => {P}.settled()")
            t_from = await act("p.play()")
            t0 = time.monotonic()
            log = [("play", 0.0)]
            stall_seen = None
            while (el := time.monotonic() - t0) < seconds:
                if plan and el >= plan[0][0]:
                    _, kind, v = plan.pop(0)
                    await act(f"p.seek({v})" if kind == "seek" else f"p.setRate({v})")
                    log.append((kind, round(el, 2), round(v, 3)))
                if not release.is_set():
                    phase = await page.evaluate(f"() => {P}.phase")
                    if phase == "stalled" and stall_seen is None:
                        stall_seen = el
                        log.append(("stalled", round(el, 2)))
                    if stall_seen is not None and el - stall_seen >= args.stall_hold:
                        release.set()
                        log.append(("released", round(el, 2)))
                    elif el > max(8.0, seconds * 0.25) and stall_seen is None:
                        release.set()   # the cut never caused a stall; report it below
                        log.append(("released-without-stall", round(el, 2)))
                await asyncio.sleep(0.05)
            t_to = await act("p.pause()")
            await page.evaluate("() => { window.__drift.on = false; }")
            data = await page.evaluate("() => window.__drift")
            final = await page.evaluate(f"() => {P}.state()")
            await browser.close()

    unfiltered, playing, steady, excluded, offsets, late = analyse(data, args.settle_ms, t_from, t_to)
    frame_ms = 1000 / min(meta["fps"])
    u, pl, s = summarize(unfiltered), summarize(playing), summarize(steady)
    out = {"url": args.url or "fixture", "clips": [{"label": l, "fps": f, "duration": d} for l, f, d in
                                                      zip(meta["labels"], meta["fps"], meta["durations"])],
           "seconds": seconds, "samples": len(data["samples"]), "unfiltered_ms": u, "playing_ms": pl, "steady_ms": s,
           "excluded": excluded, "stats": final["stats"], "log": log, "errors": errors,
           "stall_clip": meta["labels"][stall_idx], "route": route_log[:6],
           "offset_vs_clock_ms": {meta["labels"][i]: {"median": pct(o, 0.5), "p95_abs": pct([abs(x) for x in o], 0.95)}
                                  for i, o in enumerate(offsets)},
           "presented_lateness_ms": {meta["labels"][i]: {"n": len(x), "p5": pct(x, 0.05), "median": pct(x, 0.5),
                                                         "p95": pct(x, 0.95)} for i, x in enumerate(late)}}
    print("clips: " + ", ".join(f"{c['label']} {c['fps']:g} fps {c['duration']:.2f} s" for c in out["clips"]))
    print(f"session: {seconds:.0f} s, {len(data['samples'])} rAF samples, events: {log}")
    print(f"player stats: {final['stats']}; stall clip {out['stall_clip']}; route: {route_log[:4]}")
    print(f"inter-player drift, unfiltered: median {u['median']:.1f} ms, p95 {u['p95']:.1f} ms, max {u['max']:.1f} ms (n={u['n']})")
    print(f"inter-player drift, playing:    median {pl['median']:.1f} ms, p95 {pl['p95']:.1f} ms, max {pl['max']:.1f} ms (n={pl['n']})")
    print(f"inter-player drift, steady:     median {s['median']:.1f} ms, p95 {s['p95']:.1f} ms, max {s['max']:.1f} ms (n={s['n']})")
    print(f"excluded samples: {excluded}")
    print("clip − clock offset (steady): " + ", ".join(f"{k} median {v['median']:+.1f} ms / p95|.| {v['p95_abs']:.1f} ms"
                                                      for k, v in out["offset_vs_clock_ms"].items()))
    print("presented frames (rVFC), clock at display − mediaTime (steady), p5/median/p95: " + ", ".join(
        f"{k} {v['p5']:.0f}/{v['median']:.0f}/{v['p95']:.0f} ms (n={v['n']})" for k, v in out["presented_lateness_ms"].items()))
    ok_max, ok_med = s["max"] <= frame_ms, s["median"] <= 1000 / 60
    print(f"targets: steady max ≤ {frame_ms:.1f} ms: {'PASS' if ok_max else 'FAIL'}; "
          f"steady median ≤ 16.7 ms: {'PASS' if ok_med else 'FAIL'}")
    if errors:
        print(f"page errors: {errors}")
    if args.dump:
        Path(args.dump).write_text(json.dumps({"t_from": t_from, "t_to": t_to, **data}))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0 if (ok_max and ok_med and not errors) else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="page with a [data-sync-grid]; default: start the 4-clip fixture server")
    ap.add_argument("--grid-id", help="id of the grid to measure (default: the first on the page)")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seeks", type=int, default=10)
    ap.add_argument("--speeds", default="2,1", help="comma-separated rates set at 40 %% and 60 %% of the session")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle-ms", type=float, default=500)
    ap.add_argument("--stall-at", type=float, default=0.4, help="fraction of the stall clip's bytes served before the hold")
    ap.add_argument("--stall-hold", type=float, default=1.5, help="seconds to keep the grid stalled")
    ap.add_argument("--no-stall", action="store_true")
    ap.add_argument("--width", type=int, default=640, help="fixture clip width (16:9)")
    ap.add_argument("--clips-dir", help="reuse fixture clips from this directory")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--dump", help="write the raw samples (JSON) here for a closer look")
    args = ap.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
