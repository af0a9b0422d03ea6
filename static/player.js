// Interim synced grid: one virtual clock, play/pause/seek/speed on all videos together.
function init(grid) {
  if (grid.takesPlayer) return;
  const videos = [...grid.querySelectorAll("video")];
  const duration = () => Math.max(...videos.map((v) => v.duration || 0), 0.001);
  let rate = 1;
  const api = {
    async play() { await Promise.all(videos.map((v) => { v.playbackRate = rate; return v.play().catch(() => {}); })); },
    pause() { videos.forEach((v) => v.pause()); },
    seek(t) { videos.forEach((v) => { v.currentTime = Math.min(t, (v.duration || t) - 0.001); }); },
    setRate(r) { rate = r; videos.forEach((v) => { v.playbackRate = r; }); },
    state() { return videos.map((v) => ({ t: v.currentTime, paused: v.paused, rate: v.playbackRate })); },
  };
  grid.takesPlayer = api;
  grid.querySelector('[data-action=play]').addEventListener("click", () => api.play());
  grid.querySelector('[data-action=pause]').addEventListener("click", () => api.pause());
  const seek = grid.querySelector('[data-action=seek]');
  seek.addEventListener("input", () => api.seek(seek.value / 1000 * duration()));
  grid.querySelector('[data-action=speed]').addEventListener("change", (e) => api.setRate(parseFloat(e.target.value)));
  const tc = grid.querySelector("[data-timecode]");
  const tick = () => {
    if (!grid.isConnected) return;
    const lead = videos[0];
    if (lead) { tc.textContent = `${lead.currentTime.toFixed(2)} s`; if (!lead.paused) seek.value = lead.currentTime / duration() * 1000; }
    const t0 = lead ? lead.currentTime : 0;
    for (const v of videos.slice(1)) {   // crude drift correction
      if (!v.paused && Math.abs(v.currentTime - t0) > 0.1 && t0 < v.duration) v.currentTime = t0;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
export function initPlayers(root = document) { root.querySelectorAll("[data-sync-grid]").forEach(init); }
window.Takes = Object.assign(window.Takes || {}, { initPlayers });
initPlayers();
document.addEventListener("htmx:afterSettle", (e) => initPlayers(e.target));
