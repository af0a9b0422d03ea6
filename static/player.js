// Takes synced player: 2–6 <video> elements driven by one virtual clock.
//
// Browsers have no way to play several media elements in lockstep (MediaController was removed
// from Blink and the spec), so sync is done here. Measurements behind the design are in
// docs/player.md and docs/benchmarks.md: the dominant error is the ~1-frame *startup* offset, not slow
// drift, so every start is primed (seek all to one frame, wait for data, play all — clips that
// start late, e.g. with an audio track, a learned lead earlier in wall time) and small
// residual drift is removed by nudging playbackRate; only large drift is fixed by seeking,
// because a seek stalls decoding for 45–450 ms. The clock is virtual (performance.now()) rather
// than a leader video so a stalled or ended clip cannot drag the others.
//
// Public surface: window.Takes.initPlayers(root), grid.takesPlayer (see SyncGrid methods),
// the `takes-reveal` event (sent by the vote response's HX-Trigger) and `[data-reveal]` JSON elements for blind reveal. docs/player.md.

const RATES = [0.25, 0.5, 1, 1.5, 2];
const COMMON_FPS = [8, 10, 12, 12.5, 15, 16, 18, 20, 23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60];
const DEAD_BAND = 0.015;      // s: start nudging above this (≈ ⅓ frame at 24 fps)
const SETTLE = 0.004;         // s: stop nudging below this (hysteresis: no parking at the dead-band edge)
const WINDOW = 0.3;           // s: gap-closing time constant (rate = 1 + d / WINDOW, clamped)
const MAX_NUDGE = 0.10;       // ±10 % keeps pitch-preserved audio tolerable
const MIN_NUDGE = 0.02;       // small gaps still close in reasonable time
const SEEK_DRIFT = 0.5;       // s: drift this large is fixed by seeking, not by rate
const REF_DRIFT = 0.12;        // s: a reference video further than this off the clock is seeked to it
const CORRECT_MS = 200;       // correction cadence; per-frame *corrections* hang players (docs/player.md §Measured facts)
const STALL_AHEAD = 1.0;      // s of buffer every clip needs before resuming after a stall
const HANDS_OFF_MS = 200;     // after a start, let Chromium's pipelines settle before judging drift
const MAX_LEAD = 0.15;        // s: cap on the learned per-clip start lead
const AUDIO_LEAD = 0.04;      // s: prior start lead of a clip with an audio track (at 1×)
const AUDIO_RUN = 0.015;      // s: how far such a clip moves before its audio renderer holds it
const LEAD_STEP = 0.03;       // s: most one start may move a learned lead (× rate)
const RATE_LAG = 0.07;        // s: a clip with audio applies a new playbackRate this late (÷ old rate above 1×)
const STAGGER_GROUP = 0.004;  // s: clips whose start times differ by less start in one task
const POLL_MS = 25;
const VERIFY_MS = 300;        // ms a paused seek waits for its presented frame before seeking again

const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const EDITABLE = 'input, textarea, select, [contenteditable=""], [contenteditable="true"]';

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function bufferedEnd(v, t) {
  const b = v.buffered;
  for (let i = 0; i < b.length; i++) {
    if (b.start(i) <= t + 0.05 && b.end(i) >= t) return b.end(i);
  }
  return t;
}

/** One tile: its <video>, frame rate and frame maths. */
class Clip {
  constructor(tile, index) {
    this.tile = tile;
    this.index = index;
    this.video = tile.querySelector('video');
    this.label = tile.dataset.label;
    this.takeId = tile.dataset.takeId;
    // A blind tile carries no frame rate, length or audio flag (they differ by model and would
    // name it): the frame rate is then learned from the clip (SyncGrid._probeFps), the audio
    // track once it decodes (SyncGrid.correct).
    this.unknown = tile.dataset.fps === undefined;
    this.fps = parseFloat(tile.dataset.fps) || 24;
    this.declared = parseFloat(tile.dataset.duration) || 0;
    this.hasAudio = tile.dataset.hasAudio === 'true';
    this.broken = false;
    this.probed = false;    // a blind clip whose frame rate SyncGrid._probeFps learned
    this.want = 0;          // latest seek target (seeks coalesce: latest wins)
    this.seeking = null;    // promise of the seek chain in flight
    this.nudging = false;
    // Media seconds this clip starts late relative to the others, per playback rate; learned, see
    // SyncGrid._learnLead. Prior: clips with an audio track start ~40–60 ms late in Chromium
    // (docs/player.md §Measured facts, bench/sync_drift.py).
    this.leads = new Map();
    this.presented = null;  // last rVFC metadata {mediaTime, presentedFrames, at}
    this.counter = tile.querySelector('[data-frame-counter]');
  }

  get duration() {
    const d = this.video.duration;
    return Number.isFinite(d) && d > 0 ? d : this.declared;
  }

  /** Start lead at `rate`: learned, else extrapolated from 1×. A clip with audio moves ~15 ms
   *  (AUDIO_RUN, media time) right after play(), then stands still until its audio renderer runs
   *  a fixed wall time after play(): its lead is rate × (that wait) − AUDIO_RUN (measured: ~40 ms
   *  at 1×, ~100 ms at 2×). */
  leadAt(rate) {
    const learned = this.leads.get(rate);
    if (learned !== undefined) return learned;
    const run = this.hasAudio ? AUDIO_RUN : 0;
    const at1 = this.leads.get(1) ?? (this.hasAudio ? AUDIO_LEAD : 0);
    return (at1 + run) * rate - run;
  }

  get lastFrame() { return Math.max(0, Math.ceil(this.duration * this.fps - 0.01) - 1); }

  /** Index of the frame whose display interval contains t (clamped: short clips hold their last). */
  frameAt(t) { return clamp(Math.floor(t * this.fps + 1e-6), 0, this.lastFrame); }

  /** Seek target for t: the middle of its frame. Exact k/fps lands on frame k−1 in ~40 % of
   *  Chromium seeks (docs/player.md §Measured facts); the half-frame target was right in every measured case. */
  targetFor(t) { return (this.frameAt(t) + 0.5) / this.fps; }

  /** At or past the last frame: the clip is held (paused on its last frame), never played. */
  holds(t) { return Math.floor(t * this.fps + 1e-6) >= this.lastFrame; }

  /** Index of the frame an rVFC metadata `p` says was presented (its mediaTime is k / fps). */
  presentedFrame(p) { return clamp(Math.round(p.mediaTime * this.fps), 0, this.lastFrame); }

  shownFrame() {
    const p = this.presented;
    const v = this.video;
    // While playing, the last presented frame (rVFC) is what is on screen; when paused after a
    // seek, currentTime sits mid-frame and is exact, while rVFC may not have fired yet.
    if (p && !v.paused && !v.seeking && Math.abs(p.mediaTime - v.currentTime) < 2 / this.fps + 0.05) {
      return this.presentedFrame(p);
    }
    return clamp(Math.floor(v.currentTime * this.fps + 1e-3), 0, this.lastFrame);
  }
}

class SyncGrid {
  constructor(grid) {
    this.grid = grid;
    this.clips = [...grid.querySelectorAll('[data-tile][data-take-id]')].map((t, i) => new Clip(t, i));
    // The reference video (templates/partials/reference_tile.html): follows the clock, is no take.
    this.refs = [...grid.querySelectorAll('[data-reference-tile] video')];
    this.$ = (sel) => grid.querySelector(sel);
    this.rate = 1;
    this.clock = { base: performance.now(), media: 0, rate: 1, paused: true };
    this.phase = 'loading';    // loading | paused | priming | playing | stalled
    this.intent = 'pause';     // what the user asked for last: play | pause
    this.gen = 0;              // bumped by every operation; async steps of older ones give up
    this.epoch = 0;            // bumped by every transition (seek, rate, stall, loop wrap) — for the bench
    this.loop = { enabled: true, in: null, out: null };
    this.focusIndex = null;
    this.soloIndex = null;
    this.wipe = { on: false, pos: 0.5, a: 0, b: Math.min(1, this.clips.length - 1) };
    this.stats = { seeks: 0, reseeks: 0, correctionSeeks: 0, rateChanges: 0, stalls: 0, loops: 0, starts: 0 };
    this.seekLatency = 0.06;   // s, EWMA of measured seek times (lead for correction seeks)
    this.lastStart = 0;
    this.lastRateChange = 0;
    this.endTimer = null;
    this.rateTimer = null;     // pending second half of a speed change (see setRate)
    this.rendered = {};
    this._wire();
    this.timer = setInterval(() => { this.correct(); this.followRefs(); }, CORRECT_MS);
    this.raf = requestAnimationFrame(() => this.tick());
    this._init();
  }

  // ---- clock ---------------------------------------------------------------------------------

  clockAt(perfNow) {
    const c = this.clock;
    return c.paused ? c.media : c.media + ((perfNow - c.base) / 1000) * c.rate;
  }

  now() { return this.clockAt(performance.now()); }

  get duration() { return Math.max(0, ...this.clips.map((c) => c.duration)); }

  /** Blind and not yet voted on: nothing shown may differ by take (docs/player.md). */
  get hiding() { return this.grid.dataset.blind === 'true' && this.grid.dataset.revealed !== 'true'; }

  /** Frame rate used for stepping and the shared frame number: the focused clip's, else the max
   *  (always the max while hiding: the timecode would otherwise name the focused take's rate). */
  get stepFps() {
    if (this.focusIndex !== null && !this.hiding) return this.clips[this.focusIndex].fps;
    return Math.max(0, ...this.clips.map((c) => c.fps)) || 24;
  }

  /** Shared frame number of time t at frame rate f: the frame whose display interval contains t,
   *  clamped to the last one (at the very end t = duration would otherwise name a frame past it). */
  frameNo(t, f = this.stepFps) {
    return clamp(Math.floor(t * f + 1e-6), 0, Math.max(0, Math.ceil(this.duration * f - 0.01) - 1));
  }

  playRange() {
    const d = this.duration;
    if (!this.loop.enabled) return [0, d];
    const lo = this.loop.in ?? 0;
    const hi = this.loop.out ?? d;
    return hi > lo ? [lo, hi] : [0, d];
  }

  _freeze(t) {
    this.clock = { base: performance.now(), media: t, rate: this.rate, paused: true };
  }

  _setPhase(p) {
    if (this.phase === p) return;
    this.phase = p;
    this.grid.dataset.phase = p;
    this.grid.dispatchEvent(new CustomEvent('takes:phase', { detail: { phase: p } }));
    this.render(true);
    this.followRefs();
  }

  /** A speed change still waiting for its second half (see setRate): every clip takes the user
   *  rate now; the caller re-bases or freezes the clock. */
  _cancelRate() {
    if (!this.rateTimer) return;
    clearTimeout(this.rateTimer);
    this.rateTimer = null;
    for (const c of this.clips) if (c.video.playbackRate !== this.rate) c.video.playbackRate = this.rate;
  }

  _cancel() {
    this.gen += 1;
    this._cancelRate();
    if (this.endTimer) { clearTimeout(this.endTimer); this.endTimer = null; }
    return this.gen;
  }

  // ---- seeking -------------------------------------------------------------------------------

  async _metadata(clip) {
    const v = clip.video;
    while (v.readyState < 1 && !clip.broken) {
      await new Promise((r) => {
        const done = () => { v.removeEventListener('loadedmetadata', done); v.removeEventListener('error', done); r(); };
        v.addEventListener('loadedmetadata', done);
        v.addEventListener('error', done);
      });
    }
  }

  /** Learn a blind clip's frame rate from the clip itself: seek to t0 just under a second and
   *  read the presented frame's timestamp (rVFC mediaTime = k / fps with k = floor(t0 · fps)).
   *  The common rates give distinct timestamps there (24 → 0.958 s, 23.976 → 0.959 s, 25 → 0.960 s,
   *  30 → 0.967 s …); the nearest within 1.5 ms wins (WebM stores times in whole ms). */
  async _probeFps(clip) {
    const v = clip.video;
    if (clip.broken || !('requestVideoFrameCallback' in v)) return;
    const t0 = Math.min(0.999, Math.max(0.2, (clip.duration || 1) * 0.9));
    const m = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), 2000);
      const onFrame = (now, md) => {
        // the first frame shown after loading (t = 0) may come first: wait for the seek's
        if (Math.abs(md.mediaTime - t0) < 0.13) { clearTimeout(timer); resolve(md.mediaTime); }
        else v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
      v.currentTime = t0;
    });
    if (m === null) return;
    let best = null;
    for (const f of COMMON_FPS) {
      const err = Math.abs(Math.floor(t0 * f + 1e-6) / f - m);
      if (err < 0.0015 && (!best || err < best.err)) best = { f, err };
    }
    if (best) { clip.fps = best.f; clip.probed = true; }
    const out = clip.tile.querySelector('[data-fps-out]');
    if (out) out.textContent = `${Math.round(clip.fps * 1000) / 1000}`;
  }

  /** Seek one clip; while a seek is in flight only the latest target is kept (scrubbing and key
   *  repeat coalesce instead of queueing). Resolves once the clip sits at its latest target. */
  seekClip(clip, target) {
    clip.want = target;
    if (clip.seeking) return clip.seeking;
    const v = clip.video;
    if (!v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - target) < 1e-4) return Promise.resolve();
    clip.seeking = (async () => {
      await this._metadata(clip);
      let retried = false;   // at most one corrective re-seek per call (see _presentedWrong)
      while (!clip.broken) {
        const t = clip.want;
        const started = performance.now();
        clip.presented = null;
        await new Promise((resolve) => {
          const done = () => { v.removeEventListener('seeked', done); v.removeEventListener('error', done); resolve(); };
          v.addEventListener('seeked', done);
          v.addEventListener('error', done);
          v.currentTime = t;
        });
        this.stats.seeks += 1;
        this.seekLatency = 0.8 * this.seekLatency + 0.2 * ((performance.now() - started) / 1000);
        if (Math.abs(clip.want - t) >= 1e-4) continue;
        const wrong = !retried && await this._presentedWrong(clip, t);
        if (Math.abs(clip.want - t) >= 1e-4) continue;   // a newer target came in meanwhile
        if (!wrong) break;
        // Once more, a quarter frame earlier: the same time again would be elided by Chromium
        // (a paused seek to the current time fires `seeked` and presents nothing).
        retried = true;
        this.stats.reseeks += 1;
        clip.want = Math.max(0, t - 0.25 / clip.fps);
      }
      clip.seeking = null;
    })();
    return clip.seeking;
  }

  /** After a paused seek to `t`: does the frame Chromium presented (the first rVFC since the
   *  seek began) differ from the frame at `t`, or did none come within VERIFY_MS? On a
   *  CPU-starved runner a tile was seen to keep showing the next frame after the pause's
   *  seek, though `seeked` had fired (docs/player.md); the check makes the player see it. */
  async _presentedWrong(clip, t) {
    const v = clip.video;
    if (!v.paused || clip.broken || !('requestVideoFrameCallback' in v) || (clip.unknown && !clip.probed)) return false;
    const until = performance.now() + VERIFY_MS;
    while (!clip.presented && performance.now() < until && Math.abs(clip.want - t) < 1e-4) await sleep(POLL_MS / 5);
    if (Math.abs(clip.want - t) >= 1e-4) return false;
    const p = clip.presented;
    return !p || clip.presentedFrame(p) !== clip.frameAt(t);
  }

  seekAll(t) {
    return Promise.all(this.clips.map((c) => this.seekClip(c, c.targetFor(t))));
  }

  _ready(clip, t, ahead) {
    const v = clip.video;
    if (clip.broken) return true;
    if (clip.seeking || v.seeking) return false;
    if (clip.holds(t)) return v.readyState >= 2;
    if (v.readyState < 3) return false;
    if (!ahead) return true;
    return bufferedEnd(v, t) - t >= Math.min(ahead, clip.duration - t - 0.05);
  }

  /** Wall seconds after the first play() at which each clip's play() is due, so that all reach
   *  the same media time together: a clip that starts late by its learned lead L is started L /
   *  rate earlier, and one parked further into its frame (mid-frame targets differ between frame
   *  rates by up to ~⅔ frame) that much later. The spread is capped at MAX_LEAD. */
  _startWaits(active, t) {
    const ahead = active.map((c) => (c.video.currentTime - t - c.leadAt(this.rate)) / this.rate);
    const first = Math.min(...ahead);
    return ahead.map((a) => clamp(a - first, 0, MAX_LEAD));
  }

  /** Put every clip on t (middle of its frame) and wait until each can play from there. */
  async _prime(t, gen, ahead) {
    await this.seekAll(t);
    while (gen === this.gen) {
      const waiting = this.clips.map((c) => !this._ready(c, t, ahead));
      this.clips.forEach((c, i) => c.tile.toggleAttribute('data-waiting', waiting[i]));
      if (!waiting.some(Boolean)) return true;
      await sleep(POLL_MS);
    }
    return false;
  }

  /** Prime at t, play every clip that has not reached its end in one task, start the clock. */
  async _start(t, gen) {
    this._freeze(t);
    this.epoch += 1;
    this._setPhase(this.phase === 'stalled' ? 'stalled' : 'priming');
    if (!(await this._prime(t, gen, this.phase === 'stalled' ? STALL_AHEAD : 0))) return false;
    this._setPhase('priming');
    const active = this.clips.filter((c) => !c.broken && !c.holds(t));
    for (const c of this.clips) { c.video.playbackRate = this.rate; c.nudging = false; }
    // Staggered start: every clip sits on the frame of t; a clip that starts late (learned lead,
    // e.g. one with an audio track) gets play() that much earlier in wall time, so all begin to
    // move together. Seeking it ahead instead showed a frame 2–3 frames ahead of the others while
    // its audio pipeline warmed up. Clips within STAGGER_GROUP of each other start in one task.
    const waits = this._startWaits(active, t);
    const order = active.map((c, i) => i).sort((a, b) => waits[a] - waits[b]);
    const t0 = performance.now();
    const pending = [];
    for (let k = 0; k < order.length;) {
      const w = waits[order[k]];
      let j = k;
      while (j < order.length && waits[order[j]] - w < STAGGER_GROUP) j += 1;
      const due = t0 + w * 1000 - performance.now();
      if (due > 1) {
        await sleep(due);
        if (gen !== this.gen) return false;
      }
      for (const i of order.slice(k, j)) {
        const c = active[i];
        pending.push(c.video.play().then(() => null, (e) => [c, e]));
      }
      k = j;
    }
    const results = await Promise.all(pending);
    if (gen !== this.gen) return false;
    for (const r of results) {
      if (!r) continue;
      const [c, e] = r;
      if (e && e.name === 'NotAllowedError') {
        // Sound needs a user gesture; fall back to muted rather than leave one tile frozen.
        c.video.muted = true;
        if (this.soloIndex === c.index) this.soloIndex = null;
        this._renderSolo();
        try { await c.video.play(); } catch (_) { /* shown as frozen; the correction loop retries */ }
        if (gen !== this.gen) return false;
      }
    }
    // Start the clock where the clips actually are: the fewest clips then need nudging.
    const cts = active.filter((c) => !c.video.paused).map((c) => c.video.currentTime);
    const start = cts.length ? median(cts) : t;
    this.leadCheck = true;
    // First correction exactly HANDS_OFF_MS after the start, not up to CORRECT_MS later.
    setTimeout(() => { if (gen === this.gen) this.correct(); }, HANDS_OFF_MS + 1);
    this.clock = { base: performance.now(), media: start, rate: this.rate, paused: false };
    this.lastStart = performance.now();
    this.stats.starts += 1;
    this.clips.forEach((c) => c.tile.removeAttribute('data-waiting'));
    this._setPhase('playing');
    return true;
  }

  _pauseVideos() {
    for (const c of this.clips) if (!c.video.paused) c.video.pause();
  }

  // ---- transport (public API) ------------------------------------------------------------------

  get playing() { return this.intent === 'play'; }

  play() {
    if (this.intent === 'play' && this.phase !== 'paused') return Promise.resolve(true);
    const gen = this._cancel();
    this.intent = 'play';
    let t = this.now();
    const [lo, hi] = this.playRange();
    if (t >= hi - 1e-3 || (this.loop.enabled && (this.loop.in !== null || this.loop.out !== null) && t < lo)) t = lo;
    return this._start(t, gen);
  }

  /** Pause all and snap the clock to the start of the current frame (at the step frame rate),
   *  then seek every clip to the frame it should show there. Snapped whenever play was under
   *  way, stalled or priming too: a stall freezes the clock mid-frame, and a pause that kept
   *  that time would leave the frame steps off the frame grid. */
  pause() {
    const wasRunning = this.intent === 'play' && this.phase !== 'paused';
    this._cancel();
    this.intent = 'pause';
    this._pauseVideos();
    let t = this.now();
    if (wasRunning) {
      const f = this.stepFps;
      t = Math.floor(t * f + 1e-6) / f;
    }
    this._freeze(t);
    this.clips.forEach((c) => c.tile.removeAttribute('data-waiting'));
    this._setPhase('paused');
    return this.seekAll(t);
  }

  toggle() { return this.playing ? this.pause() : this.play(); }

  /** Move the shared playhead; playback continues (re-primed) if it was playing. */
  seek(t) {
    t = clamp(Number(t) || 0, 0, this.duration);
    const gen = this._cancel();
    this._pauseVideos();
    this._freeze(t);
    this.epoch += 1;
    if (this.intent === 'play') return this._start(t, gen);
    this._setPhase('paused');
    return this.seekAll(t);
  }

  /** Step n frames at the step frame rate (focused clip's fps, else the highest); pauses. */
  step(n) {
    if (this.intent === 'play') this.pause();
    const f = this.stepFps;
    const k = this.frameNo(this.now(), f) + n;
    const last = Math.max(0, Math.ceil(this.duration * f - 0.01) - 1);
    return this.seek(clamp(k, 0, last) / f);
  }

  setRate(r) {
    r = clamp(Number(r) || 1, RATES[0], RATES[RATES.length - 1]);
    if (this.rateTimer) this._rateApply();   // finish a speed change still in its lag first
    this.rate = r;
    // Clips with an audio track apply a new rate late (their audio renderer first plays out what
    // it buffered at the old rate: measured ~70 ms after 1×→2×, ~35 ms after 2×→1×). While
    // playing, they get the new rate first and the others and the clock follow that much later,
    // so every clip changes speed at the same moment.
    const live = this.phase === 'playing' ? this.clips.filter((c) => !c.broken && !c.video.paused) : [];
    const slow = live.filter((c) => c.hasAudio);
    const apply = this._rateApply = () => {
      if (this.rateTimer) clearTimeout(this.rateTimer);
      this.rateTimer = null;
      const t = this.now();
      if (!this.clock.paused) this.clock = { base: performance.now(), media: t, rate: this.rate, paused: false };
      else this.clock.rate = this.rate;
      for (const c of this.clips) {
        if (c.video.playbackRate !== this.rate) c.video.playbackRate = this.rate;
        c.nudging = false;
      }
    };
    if (slow.length && slow.length < live.length && r !== this.clock.rate) {
      const lag = Math.min(RATE_LAG, RATE_LAG / this.clock.rate);
      for (const c of slow) { c.video.playbackRate = r; c.nudging = false; }
      const gen = this.gen;
      this.rateTimer = setTimeout(() => { if (gen === this.gen) apply(); else this.rateTimer = null; }, lag * 1000);
    } else {
      apply();
    }
    this.lastRateChange = performance.now();
    this.epoch += 1;
    const sel = this.$('select[data-action="speed"]');
    if (sel) sel.value = String(r);
    this.render(true);
  }

  setLoop({ enabled, in: tin, out: tout } = {}) {
    if (enabled !== undefined) this.loop.enabled = !!enabled;
    if (tin !== undefined) this.loop.in = tin === null ? null : clamp(tin, 0, this.duration);
    if (tout !== undefined) this.loop.out = tout === null ? null : clamp(tout, 0, this.duration);
    if (this.loop.in !== null && this.loop.out !== null && this.loop.out <= this.loop.in) {
      if (tout !== undefined && tout !== null) this.loop.in = null; else this.loop.out = null;
    }
    this.render(true);
  }

  /** `[`: loop in at the start of the current frame. */
  markIn() {
    const f = this.stepFps;
    this.setLoop({ in: this.frameNo(this.now(), f) / f });
  }

  /** `]`: loop out at the end of the current frame (the frame itself is included). */
  markOut() {
    const f = this.stepFps;
    this.setLoop({ out: Math.min(this.duration, (Math.floor(this.now() * f + 1e-6) + 1) / f) });
  }

  /** Runs when the clock reaches the end of the play range: wrap (loop) or stop on the end. */
  _reachedEnd() {
    const [lo, hi] = this.playRange();
    if (this.loop.enabled) {
      this.stats.loops += 1;
      const gen = this._cancel();
      this._pauseVideos();
      this._start(lo, gen);
    } else {
      this._cancel();
      this.intent = 'pause';
      this._pauseVideos();
      this._freeze(hi);
      this._setPhase('paused');
      this.seekAll(hi);
    }
  }

  // ---- drift correction and stalls -------------------------------------------------------------

  /** Every CORRECT_MS while playing: nudge rates for small drift, seek for large drift. */
  correct() {
    if (this.phase !== 'playing' || this.rateTimer) return;
    for (const c of this.clips) {   // a blind clip's audio track shows once it decodes (Chromium)
      if (c.unknown && !c.hasAudio && c.video.webkitAudioDecodedByteCount > 0) c.hasAudio = true;
    }
    if (performance.now() - this.lastStart < HANDS_OFF_MS) return;
    let T = this.now();
    if (this.leadCheck) { this.leadCheck = false; this._learnLead(T); }
    T = this._slewToAudio(T);
    for (const c of this.clips) {
      const v = c.video;
      if (c.broken || c.seeking || v.seeking) continue;
      if (c.holds(T) || v.ended) {
        if (v.playbackRate !== this.rate && !v.ended) v.playbackRate = this.rate;
        continue;
      }
      if (v.paused) { v.play().catch(() => {}); continue; }
      const d = T - v.currentTime;   // > 0: clip is behind the clock
      const ad = Math.abs(d);
      if (ad >= SEEK_DRIFT) {
        this.stats.correctionSeeks += 1;
        c.nudging = false;
        v.playbackRate = this.rate;
        const lead = clamp(this.seekLatency, 0.03, 0.3) * this.rate;
        this.seekClip(c, Math.min(T + lead, c.targetFor(c.duration)));
        continue;
      }
      if (ad >= DEAD_BAND) c.nudging = true;
      else if (ad < SETTLE) c.nudging = false;
      let r = 1;
      if (c.nudging) {
        const k = clamp(Math.abs(d) / WINDOW, MIN_NUDGE, MAX_NUDGE);
        r = 1 + Math.sign(d) * k;
      }
      r *= this.rate;
      if (Math.abs(v.playbackRate - r) > 1e-3) {
        v.playbackRate = r;
        this.stats.rateChanges += 1;
      }
    }
  }

  /** Clips with an audio track answer playbackRate changes late and lose ~25 ms on a speed-up
   *  (the audio renderer's buffer plays out at the old rate first; measured in this Chromium),
   *  so nudging them overshoots. The clock is virtual, so instead of moving those clips the clock
   *  moves to them (by at most SEEK_DRIFT) and the audio-less clips, which react at once, follow.
   *  The soloed clip's sound also stays free of pitch wobble. Returns the adjusted clock time. */
  _slewToAudio(T) {
    const live = this.clips.filter((c) => !c.broken && !c.holds(T) && !c.video.paused && !c.seeking && !c.video.seeking);
    const audio = live.filter((c) => c.hasAudio);
    if (!audio.length || audio.length === live.length) return T;
    const off = median(audio.map((c) => T - c.video.currentTime));
    if (Math.abs(off) < SETTLE || Math.abs(off) >= SEEK_DRIFT) return T;
    this.clock.media -= off;
    return T - off;
  }

  /** Some clips start late by a repeatable amount (in Chromium a clip with an audio track starts
   *  ~1–2 frames after audio-less clips, docs/player.md §Measured facts, and its first rate change costs another
   *  ~20 ms). Nudging that away takes a second after every start, so each clip learns how late it
   *  starts relative to the others and is started that much earlier (wall time) next time. */
  _learnLead(T) {
    const live = this.clips.filter((c) => !c.broken && !c.holds(T) && !c.video.paused && !c.seeking && !c.video.seeking);
    if (live.length < 2) return;
    const d = live.map((c) => T - c.video.currentTime);
    const m = median(d);
    live.forEach((c, i) => {
      const r = this.rate;
      // One start's step is capped: a hiccup right after a start must not throw the next one off.
      const step = clamp(0.6 * (d[i] - m), -LEAD_STEP * r, LEAD_STEP * r);
      c.leads.set(r, clamp(c.leadAt(r) + step, -MAX_LEAD * r, MAX_LEAD * r));
    });
  }

  /** A clip ran out of data: everyone waits on the same frame, then resumes together once every
   *  clip has STALL_AHEAD seconds buffered (hysteresis against pause/resume flapping). */
  _stall(clip) {
    const gen = this._cancel();
    const t = this.now();
    this._pauseVideos();
    this._freeze(t);
    this.stats.stalls += 1;
    this.epoch += 1;
    clip.tile.setAttribute('data-waiting', '');
    this._setPhase('stalled');
    this._start(t, gen);
  }

  _onWaiting(clip) {
    if (this.phase !== 'playing' || clip.seeking || clip.broken) return;
    if (clip.holds(this.now())) return;
    this._stall(clip);
  }

  // ---- views: focus, wipe, audio, fullscreen, help ----------------------------------------------

  focus(i) {
    i = i === null || i === undefined ? null : Number(i);
    if (i !== null && !(i >= 0 && i < this.clips.length)) return;
    if (this.wipe.on && i !== null) this.setWipe(false);
    this.focusIndex = i;
    this.grid.dataset.mode = i === null ? (this.wipe.on ? 'wipe' : 'grid') : 'focus';
    this.clips.forEach((c) => {
      const on = c.index === i;
      c.tile.toggleAttribute('data-focused', on);
      const b = c.tile.querySelector('[data-action="focus"]');
      if (b) b.setAttribute('aria-pressed', String(on));
    });
    this.layout();
    this.render(true);
  }

  /** Unmute clip i only (null: mute all). Call from a user gesture so sound is allowed. */
  solo(i) {
    i = i === null || i === undefined ? null : Number(i);
    // A blind grid cannot tell (it would name the models with sound): every tile solos alike.
    if (i !== null && !(this.clips[i] && (this.clips[i].hasAudio || this.hiding))) {
      this._status(i !== null && this.clips[i] ? `Take ${this.clips[i].label} has no audio` : '');
      return;
    }
    this.soloIndex = i;
    for (const c of this.clips) {
      c.video.muted = c.index !== i;
      if (c.index === i) c.video.volume = 1;
    }
    this._renderSolo();
    this._status(i === null ? 'All muted' : `Audio: take ${this.clips[i].label}`);
  }

  _renderSolo() {
    this.grid.toggleAttribute('data-solo', this.soloIndex !== null);
    for (const c of this.clips) {
      const on = c.index === this.soloIndex;
      c.tile.toggleAttribute('data-solo', on);
      const b = c.tile.querySelector('[data-action="solo"]');
      if (b) b.setAttribute('aria-pressed', String(on));
    }
  }

  setWipe(on, { pos, a, b } = {}) {
    if (this.clips.length < 2) return;
    if (a !== undefined) this.wipe.a = Number(a);
    if (b !== undefined) this.wipe.b = Number(b);
    if (this.wipe.a === this.wipe.b) this.wipe.b = this.clips.findIndex((c) => c.index !== this.wipe.a);
    if (pos !== undefined) this.wipe.pos = clamp(Number(pos), 0, 1);
    this.wipe.on = on === undefined ? this.wipe.on : !!on;
    if (this.wipe.on && this.focusIndex !== null) this.focus(null);
    this.grid.dataset.mode = this.wipe.on ? 'wipe' : (this.focusIndex === null ? 'grid' : 'focus');
    for (const c of this.clips) {
      const role = !this.wipe.on ? null : c.index === this.wipe.a ? 'a' : c.index === this.wipe.b ? 'b' : null;
      if (role) c.tile.dataset.wipeRole = role; else delete c.tile.dataset.wipeRole;
      c.video.style.clipPath = role === 'b' ? `inset(0 0 0 ${(this.wipe.pos * 100).toFixed(2)}%)` : '';
    }
    const overlay = this.$('[data-wipe-overlay]');
    overlay.hidden = !this.wipe.on;
    const div = this.$('[data-wipe-divider]');
    div.style.left = `${this.wipe.pos * 100}%`;
    const pct = Math.round(this.wipe.pos * 100);
    div.setAttribute('aria-valuenow', String(pct));
    div.setAttribute('aria-valuetext', `${pct} %: take ${this.clips[this.wipe.a].label} left, ${this.clips[this.wipe.b].label} right`);
    this.$('[data-wipebar]').hidden = !(this.wipe.on && this.clips.length > 2);
    this.$('[data-wipe-pick="a"]').value = String(this.wipe.a);
    this.$('[data-wipe-pick="b"]').value = String(this.wipe.b);
    this.$('[data-action="wipe"]').setAttribute('aria-pressed', String(this.wipe.on));
    this.layout();
  }

  fullscreen() {
    if (document.fullscreenElement === this.grid) return document.exitFullscreen().catch(() => {});
    if (!this.grid.requestFullscreen) return Promise.resolve();
    return this.grid.requestFullscreen().catch((e) => this._status(`Fullscreen not available: ${e.message}`));
  }

  help(show) {
    const h = this.$('[data-help]');
    h.hidden = show === undefined ? !h.hidden : !show;
    this.$('[data-action="help"]').setAttribute('aria-expanded', String(!h.hidden));
    if (!h.hidden) h.querySelector('[data-action="help-close"]').focus();
  }

  /** Show model names: `names` maps take_id (or label) → name, or is a list in tile order. */
  reveal(names) {
    if (!names) return;
    for (const c of this.clips) {
      const n = Array.isArray(names) ? names[c.index] : (names[c.takeId] ?? names[c.label]);
      if (n === undefined || n === null) continue;
      const el = c.tile.querySelector('[data-name]');
      el.textContent = String(n);
      c.video.setAttribute('aria-label', `Take ${c.label}: ${n}`);
      const meta = c.tile.querySelector('[data-meta]');
      if (meta) meta.hidden = false;   // frame rate and counter, kept back on a blind grid
    }
    this.grid.dataset.revealed = 'true';
    this.render(true);
    this.layout();
  }

  _status(msg) {
    const s = this.$('[data-status]');
    s.textContent = msg;
    clearTimeout(this._statusTimer);
    if (msg) this._statusTimer = setTimeout(() => { s.textContent = ''; }, 2500);
  }

  /** Keep each reference video on the grid's clock: playing while the grid plays (its last
   *  frame held once the clock passes its end, as shorter takes do), at the grid's speed, and
   *  seeked to the clock when more than REF_DRIFT off (always exactly when paused). */
  followRefs() {
    const T = this.now();
    const playing = this.phase === 'playing';
    for (const v of this.refs) {
      const end = Math.max(0, (v.duration || 0) - 0.04);
      const t = Math.min(T, end);
      if (v.playbackRate !== this.rate) v.playbackRate = this.rate;
      const run = playing && T < end;
      if (run && v.paused) v.play().catch(() => {});
      if (!run && !v.paused) v.pause();
      if (!v.seeking && Math.abs(v.currentTime - t) > (run ? REF_DRIFT : 0.02)) v.currentTime = t;
    }
  }

  state() {
    const T = this.now();
    const f = this.stepFps;
    return {
      t: T, duration: this.duration, phase: this.phase, intent: this.intent,
      playing: this.phase === 'playing', paused: this.intent === 'pause', rate: this.rate,
      loop: { ...this.loop }, range: this.playRange(), focus: this.focusIndex, solo: this.soloIndex,
      wipe: { ...this.wipe }, epoch: this.epoch, stepFps: f, frame: this.frameNo(T, f),
      lastStart: this.lastStart, lastRateChange: this.lastRateChange, stats: { ...this.stats },
      tiles: this.clips.map((c) => ({
        label: c.label, takeId: c.takeId, fps: c.fps, duration: c.duration, hasAudio: c.hasAudio,
        currentTime: c.video.currentTime, expectedFrame: c.frameAt(T), frame: c.shownFrame(),
        paused: c.video.paused, ended: c.video.ended, muted: c.video.muted,
        playbackRate: c.video.playbackRate, readyState: c.video.readyState,
        seeking: !!(c.seeking || c.video.seeking), held: c.holds(T), broken: c.broken,
        waiting: c.tile.hasAttribute('data-waiting'),
      })),
      refs: this.refs.map((v) => ({ currentTime: v.currentTime, paused: v.paused, playbackRate: v.playbackRate })),
    };
  }

  /** Resolves when no seek or start is pending (tests and the bench wait on this). */
  async settled() {
    for (;;) {
      const busy = this.phase === 'priming' || this.phase === 'stalled' || this.phase === 'loading'
        || this.clips.some((c) => c.seeking || c.video.seeking);
      if (!busy) return this.state();
      await sleep(POLL_MS);
    }
  }

  destroy() {
    this._cancel();
    clearInterval(this.timer);
    cancelAnimationFrame(this.raf);
    this.ro?.disconnect();
    window.removeEventListener('resize', this._onResize);
    document.removeEventListener('fullscreenchange', this._onResize);
    players.delete(this);
  }

  // ---- rendering -------------------------------------------------------------------------------

  tick() {
    if (!this.grid.isConnected) { this.destroy(); return; }
    if (this.phase === 'playing') {
      const T = this.now();
      const hi = this.playRange()[1];
      if (T >= hi) this._reachedEnd();
      else if (!this.endTimer && (hi - T) / this.rate < 0.1) {
        // rAF runs at 30–60 Hz; a timer hits the out-point within a few ms instead of a frame late.
        const gen = this.gen;
        this.endTimer = setTimeout(() => {
          this.endTimer = null;
          if (gen === this.gen && this.phase === 'playing' && this.now() >= hi - 0.002) this._reachedEnd();
        }, Math.max(0, ((hi - T) / this.rate) * 1000));
      }
    }
    this.render(false);
    this.raf = requestAnimationFrame(() => this.tick());
  }

  _set(key, el, prop, value) {
    if (this.rendered[key] === value) return;
    this.rendered[key] = value;
    if (prop === 'text') el.textContent = value;
    else if (prop.startsWith('attr:')) el.setAttribute(prop.slice(5), value);
    else el.style.setProperty(prop, value);
  }

  render(force) {
    if (force) this.rendered = {};
    const T = this.now();
    const d = this.duration || 1;
    const f = this.stepFps;
    const frame = this.frameNo(T, f);
    const pct = (x) => `${clamp((x / d) * 100, 0, 100).toFixed(3)}%`;
    this._set('tc', this.$('[data-timecode]'), 'text', `${T.toFixed(3)} s · f ${frame} @${+f.toFixed(3)}`);
    this._set('dur', this.$('[data-duration-out]'), 'text', `${this.duration.toFixed(3)} s`);
    this._set('ph', this.$('[data-playhead]'), 'left', pct(T));
    this._set('pg', this.$('[data-progress]'), 'width', pct(T));
    const tl = this.$('[data-timeline]');
    this._set('tlmax', tl, 'attr:aria-valuemax', this.duration.toFixed(3));
    this._set('tlnow', tl, 'attr:aria-valuenow', T.toFixed(3));
    this._set('tltext', tl, 'attr:aria-valuetext', `${T.toFixed(3)} seconds, frame ${frame}`);
    for (const c of this.clips) {
      this._set(`fc${c.index}`, c.counter, 'text', `f ${c.shownFrame()}`);
    }
    const playing = this.intent === 'play';
    if (this.rendered.playing !== playing) {
      this.rendered.playing = playing;
      this.$('[data-action="play"]').hidden = playing;
      this.$('[data-action="pause"]').hidden = !playing;
      this.grid.toggleAttribute('data-playing', playing);
    }
    if (force) {
      const { in: tin, out: tout, enabled } = this.loop;
      const inM = this.$('[data-in-marker]');
      const outM = this.$('[data-out-marker]');
      inM.hidden = tin === null;
      outM.hidden = tout === null;
      if (tin !== null) inM.style.left = pct(tin);
      if (tout !== null) outM.style.left = pct(tout);
      const range = this.$('[data-range]');
      range.hidden = tin === null && tout === null;
      const [lo, hi] = [tin ?? 0, tout ?? this.duration];
      range.style.left = pct(lo);
      range.style.width = `${clamp(((hi - lo) / d) * 100, 0, 100).toFixed(3)}%`;
      range.classList.toggle('tp-range-off', !enabled);
      this.$('[data-action="loop"]').setAttribute('aria-pressed', String(enabled));
      this.grid.dataset.rate = String(this.rate);
      const ends = this.$('[data-ends]');
      const byEnd = new Map();
      for (const c of this.clips) {
        if (c.duration >= this.duration - 1e-3) continue;
        const key = c.duration.toFixed(3);
        byEnd.set(key, [...(byEnd.get(key) || []), c.label]);
      }
      // where each shorter take ends tells durations apart, which name models on a blind grid
      const hideEnds = this.grid.dataset.blind === 'true' && this.grid.dataset.revealed !== 'true';
      const html = hideEnds ? '' : [...byEnd].map(([t, labels]) => `<span class="tp-end" style="left:${pct(parseFloat(t))}" `
        + `title="Take ${labels.join(', ')} ends at ${t} s (holds its last frame)">${labels.join(' ')}</span>`).join('');
      if (ends.innerHTML !== html) ends.innerHTML = html;
    }
  }

  /** Height taken below the player inside `fit`: its later siblings (the vote bar) and the
   *  section's own bottom padding, border and margin. */
  _below(fit) {
    const px = (el, ...props) => { const cs = getComputedStyle(el); return props.reduce((a, p) => a + (parseFloat(cs[p]) || 0), 0); };
    let h = px(fit, 'paddingBottom', 'borderBottomWidth', 'marginBottom');
    let el = this.grid;
    while (el && el !== fit) {
      for (let sib = el.nextElementSibling; sib; sib = sib.nextElementSibling) {
        if (sib.offsetHeight) h += sib.offsetHeight + px(sib, 'marginTop', 'marginBottom');
      }
      el = el.parentElement;
    }
    return h;
  }

  /** Size tiles to the window: pick the column count that gives the largest tiles. */
  layout() {
    const stage = this.$('[data-stage]');
    const n = this.clips.length;
    if (!n) return;
    const fs = document.fullscreenElement === this.grid;
    const W = stage.clientWidth || this.grid.clientWidth || 640;
    const transport = (this.$('.tp-transport').offsetHeight || 48) + (this.$('[data-wipebar]').offsetHeight || 0);
    const top = fs ? 0 : Math.max(0, stage.getBoundingClientRect().top + window.scrollY);
    // Inside a [data-one-screen] section (the comparison page) the grid, the transport and what
    // follows the player there (the vote bar) share one window: its full top counts, and so does
    // the height below the player. Elsewhere the page may scroll to the grid (top capped).
    const fit = fs ? null : this.grid.closest('[data-one-screen]');
    const H = Math.max(220, window.innerHeight - (fs ? 0 : fit ? top : Math.min(top, 120)) - transport - 24
      - (fit ? this._below(fit) : 0));
    const cap = 30;
    const gap = 8;
    const ar = Math.min(...this.clips.map((c) => {
      const w = parseFloat(c.tile.dataset.width) || c.video.videoWidth || 16;
      const h = parseFloat(c.tile.dataset.height) || c.video.videoHeight || 9;
      return w / h;
    }));
    const s = this.grid.style;
    s.setProperty('--tp-box-ar', String(ar));
    const mode = this.grid.dataset.mode;
    if (mode === 'focus' || mode === 'wipe') {
      const others = mode === 'focus' ? n - 1 : 0;
      const strip = others ? Math.min(110, H * 0.2) : 0;
      const big = Math.min(W, (H - strip - cap - (others ? gap + cap : 0)) * ar);
      s.setProperty('--tp-big-w', `${Math.floor(big)}px`);
      s.setProperty('--tp-thumb-w', `${Math.floor(Math.min(W / Math.max(1, others) - gap, strip * ar))}px`);
      return;
    }
    let best = { w: 0, cols: n };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows - cap) * ar);
      if (w > best.w) best = { w, cols };
    }
    s.setProperty('--tp-tile-w', `${Math.floor(Math.max(120, best.w))}px`);
    s.setProperty('--tp-cols', String(best.cols));
  }

  // ---- wiring ----------------------------------------------------------------------------------

  async _init() {
    this.layout();
    this.render(true);
    await Promise.all(this.clips.map((c) => this._metadata(c)));
    await Promise.all(this.clips.filter((c) => c.unknown).map((c) => this._probeFps(c)));
    this.render(true);
    const gen = this.gen;
    await this.seekAll(this.now());   // show real frame 0 instead of the poster, frame-exact
    if (gen === this.gen && this.phase === 'loading') this._setPhase('paused');
    this.layout();
  }

  _wire() {
    const g = this.grid;
    for (const c of this.clips) {
      const v = c.video;
      v.addEventListener('waiting', () => this._onWaiting(c));
      v.addEventListener('error', () => {
        c.broken = true;
        c.tile.setAttribute('data-error', '');
        this._status(`Take ${c.label} cannot be played here (${v.error ? v.error.message || v.error.code : 'error'})`);
      });
      v.addEventListener('loadedmetadata', () => { this.render(true); this.layout(); });
      if ('requestVideoFrameCallback' in v) {
        const onFrame = (now, md) => {
          c.presented = { mediaTime: md.mediaTime, presentedFrames: md.presentedFrames, at: now,
            expectedDisplayTime: md.expectedDisplayTime };
          if (g.isConnected) v.requestVideoFrameCallback(onFrame);
        };
        v.requestVideoFrameCallback(onFrame);
      }
      c.tile.querySelector('[data-frame]').addEventListener('click', () => {
        if (this.wipe.on) return;
        this.focus(this.focusIndex === c.index ? null : c.index);
      });
    }

    g.addEventListener('click', (e) => {
      const b = e.target.closest('[data-action]');
      if (!b || !g.contains(b) || b.tagName === 'SELECT') return;
      const i = b.dataset.tile !== undefined ? Number(b.dataset.tile) : null;
      switch (b.dataset.action) {
        case 'play': this.play(); break;
        case 'pause': this.pause(); break;
        case 'step-back': this.step(-1); break;
        case 'step-fwd': this.step(1); break;
        case 'loop': this.setLoop({ enabled: !this.loop.enabled }); break;
        case 'mark-in': this.markIn(); break;
        case 'mark-out': this.markOut(); break;
        case 'wipe': this.setWipe(!this.wipe.on); break;
        case 'fullscreen': this.fullscreen(); break;
        case 'help': this.help(); break;
        case 'help-close': this.help(false); g.querySelector('[data-action="help"]').focus(); break;
        case 'solo': this.solo(this.soloIndex === i ? null : i); break;
        case 'focus': this.focus(this.focusIndex === i ? null : i); break;
        default: return;
      }
      e.stopPropagation();
    });
    const speed = this.$('select[data-action="speed"]');
    speed.addEventListener('change', () => { this.setRate(parseFloat(speed.value)); speed.blur(); });
    g.querySelectorAll('[data-wipe-pick]').forEach((sel) => sel.addEventListener('change', () => {
      this.setWipe(true, { [sel.dataset.wipePick]: Number(sel.value) });
    }));

    // Timeline: click or drag scrubs all clips (paused while dragging, resumes after).
    const tl = this.$('[data-timeline]');
    const timeAt = (e) => {
      const r = tl.querySelector('.tp-track').getBoundingClientRect();
      return clamp((e.clientX - r.left) / r.width, 0, 1) * this.duration;
    };
    tl.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      e.preventDefault();
      tl.focus();
      tl.setPointerCapture(e.pointerId);
      this.scrub = { resume: this.intent === 'play' };
      if (this.scrub.resume) { this.intent = 'pause'; this._cancel(); this._pauseVideos(); this._setPhase('paused'); }
      this.seek(timeAt(e));
    });
    tl.addEventListener('pointermove', (e) => { if (this.scrub && tl.hasPointerCapture(e.pointerId)) this.seek(timeAt(e)); });
    const endScrub = () => {
      if (!this.scrub) return;
      const { resume } = this.scrub;
      this.scrub = null;
      if (resume) this.play();
    };
    tl.addEventListener('pointerup', endScrub);
    tl.addEventListener('pointercancel', endScrub);

    // Wipe divider: drag anywhere over the wipe frame; arrow keys on the divider.
    const overlay = this.$('[data-wipe-overlay]');
    const posAt = (e) => {
      const r = overlay.getBoundingClientRect();
      return clamp((e.clientX - r.left) / r.width, 0, 1);
    };
    const stage = this.$('[data-stage]');
    stage.addEventListener('pointerdown', (e) => {
      if (!this.wipe.on || e.button !== 0) return;
      const r = overlay.getBoundingClientRect();
      if (e.clientY < r.top || e.clientY > r.bottom || e.clientX < r.left || e.clientX > r.right) return;
      if (e.target.closest('button, select, a, input')) return;
      e.preventDefault();
      stage.setPointerCapture(e.pointerId);
      this.wipeDrag = true;
      this.setWipe(true, { pos: posAt(e) });
    });
    stage.addEventListener('pointermove', (e) => { if (this.wipeDrag) this.setWipe(true, { pos: posAt(e) }); });
    const endWipe = () => { this.wipeDrag = false; };
    stage.addEventListener('pointerup', endWipe);
    stage.addEventListener('pointercancel', endWipe);
    const div = this.$('[data-wipe-divider]');
    div.addEventListener('keydown', (e) => {
      const d = { ArrowLeft: -0.02, ArrowRight: 0.02, Home: -1, End: 1 }[e.key];
      if (d === undefined) return;
      e.preventDefault();
      e.stopPropagation();
      this.setWipe(true, { pos: this.wipe.pos + (e.shiftKey ? d * 5 : d) });
    });

    g.addEventListener('pointerdown', () => { activeGrid = this; }, true);
    g.addEventListener('focusin', () => { activeGrid = this; });
    this._onResize = () => this.layout();
    window.addEventListener('resize', this._onResize);
    document.addEventListener('fullscreenchange', this._onResize);
    if ('ResizeObserver' in window) {
      let lastW = 0;
      this.ro = new ResizeObserver(() => {
        const w = this.$('[data-stage]').clientWidth;
        if (w !== lastW) { lastW = w; this.layout(); }
      });
      this.ro.observe(this.$('[data-stage]'));
    }
  }

  /** Keyboard shortcuts (docs/player.md). Returns true when the key was handled. */
  key(e) {
    const k = e.key;
    const digit = /^(Digit|Numpad)([0-9])$/.exec(e.code || '');
    if (digit) {
      const i = Number(digit[2]) - 1;
      if (i === -1) { this.focus(null); this.setWipe(false); return true; }
      if (i >= this.clips.length) return false;
      if (e.shiftKey) this.solo(this.soloIndex === i ? null : i);
      else this.focus(this.focusIndex === i ? null : i);
      return true;
    }
    switch (k) {
      case ' ': case 'Spacebar': this.toggle(); return true;
      case 'k': case 'K': this.pause(); return true;
      case 'l': case 'L':
        if (this.intent !== 'play') { this.setRate(1); this.play(); } else {
          const next = RATES.find((r) => r > this.rate + 1e-9);
          if (next) this.setRate(next);
        }
        return true;
      case 'j': case 'J': this.step(-1); return true;
      case 'ArrowLeft': if (e.shiftKey) this.seek(this.now() - 1); else this.step(-1); return true;
      case 'ArrowRight': if (e.shiftKey) this.seek(this.now() + 1); else this.step(1); return true;
      case 'Home': this.seek(this.loop.enabled && this.loop.in !== null ? this.loop.in : 0); return true;
      case 'End': this.seek(this.duration); return true;
      case '[': this.markIn(); return true;
      case ']': this.markOut(); return true;
      case '\\': this.setLoop({ in: null, out: null }); return true;
      case 'm': case 'M': this.solo(null); return true;
      case 'w': case 'W': this.setWipe(!this.wipe.on); return true;
      case 'f': case 'F': this.fullscreen(); return true;
      case '?': this.help(); return true;
      case 'Escape':
        if (!this.$('[data-help]').hidden) { this.help(false); return true; }
        if (this.wipe.on) { this.setWipe(false); return true; }
        if (this.focusIndex !== null) { this.focus(null); return true; }
        return false;
      default: return false;
    }
  }
}

// ---- page-level wiring ----------------------------------------------------------------------------

const players = new Set();
let activeGrid = null;

function gridFor(target) {
  const g = target && target.closest ? target.closest('[data-sync-grid]') : null;
  if (g && g.takesPlayer) return g.takesPlayer;
  if (activeGrid && activeGrid.grid.isConnected) return activeGrid;
  const live = [...players].filter((p) => p.grid.isConnected);
  return live.length === 1 ? live[0] : live.find((p) => p.grid.getBoundingClientRect().bottom > 0) || null;
}

function onKeyDown(e) {
  if (e.defaultPrevented || e.isComposing || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && t.closest && (t.closest(EDITABLE) || t.isContentEditable)) return;
  const p = gridFor(t);
  if (!p) return;
  // Space on a focused button would also click it; we handle Space ourselves (see keyup).
  if (p.key(e)) e.preventDefault();
}

function onKeyUp(e) {
  const t = e.target;
  if (e.key === ' ' && t && t.closest && t.closest('[data-sync-grid] button')) e.preventDefault();
}

function applyRevealElements(root) {
  const els = [];
  if (root.matches && root.matches('[data-reveal]')) els.push(root);
  if (root.querySelectorAll) els.push(...root.querySelectorAll('[data-reveal]'));
  for (const el of els) {
    if (el.dataset.revealApplied) continue;
    el.dataset.revealApplied = 'true';
    let names;
    try { names = JSON.parse(el.dataset.reveal || el.textContent || 'null'); } catch (_) { continue; }
    reveal(names, el.dataset.revealFor || null);
  }
}

/** Reveal names on one grid (by id) or every grid on the page. */
function reveal(names, gridId = null) {
  for (const p of players) {
    if (!gridId || p.grid.id === gridId) p.reveal(names);
  }
}

/** Wire every [data-sync-grid] under root (idempotent). */
function initPlayers(root = document) {
  const grids = [];
  if (root.matches && root.matches('[data-sync-grid]')) grids.push(root);
  if (root.querySelectorAll) grids.push(...root.querySelectorAll('[data-sync-grid]'));
  for (const g of grids) {
    if (g.takesPlayer) continue;
    const p = new SyncGrid(g);
    g.takesPlayer = p;
    players.add(p);
  }
  applyRevealElements(root);
  return grids.map((g) => g.takesPlayer);
}

if (!window.Takes || !window.Takes.initPlayers) {
  window.Takes = Object.assign(window.Takes || {}, { initPlayers, reveal, players });
  document.addEventListener('keydown', onKeyDown);
  document.addEventListener('keyup', onKeyUp);
  document.addEventListener('htmx:afterSettle', (e) => initPlayers((e.detail && e.detail.elt) || e.target || document));
  document.addEventListener('takes-reveal', (e) => {
    const d = e.detail || {};
    reveal(d.names || d, d.grid || null);
  });
  initPlayers(document);
}

export { initPlayers, reveal, SyncGrid };
