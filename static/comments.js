// Comments beside the synced player: clicking a comment's time code seeks every take there
// (grid.takesPlayer.seek), "Now" copies the player's current time into the form, and each
// comment gets a marker over the player's timeline. Works with the review player
// ([data-timeline]) and the interim one ([data-action=seek]); markers are drawn in a layer
// positioned over whichever timeline the grid has, so the player's own DOM is not touched.
const grid = () => document.querySelector("[data-sync-grid]");

function player() {
  const g = grid();
  if (!g) return null;
  if (!g.takesPlayer && window.Takes && window.Takes.initPlayers) window.Takes.initPlayers(g);
  return g.takesPlayer || null;
}

function duration(g) {
  const p = g.takesPlayer;
  const d = p && typeof p.duration === "number" ? p.duration : 0;
  if (d > 0) return d;
  return Math.max(0.001, ...[...g.querySelectorAll("[data-duration]")].map((el) => parseFloat(el.dataset.duration) || 0));
}

function now() {
  const p = player();
  if (p && typeof p.now === "function") return p.now();
  const v = grid() && grid().querySelector("video");
  return v ? v.currentTime : 0;
}

function seek(t) {
  const p = player();
  if (p) p.seek(t);
}

function drawMarkers() {
  const g = grid();
  if (!g) return;
  let layer = g.querySelector(":scope > .comment-markers-layer");
  const items = [...document.querySelectorAll("[data-comment-list] li[data-time]")];
  const timeline = g.querySelector("[data-timeline]") || g.querySelector("[data-action=seek]");
  if (!timeline || !items.length) { if (layer) layer.remove(); return; }
  if (!layer) {
    layer = document.createElement("div");
    layer.className = "comment-markers-layer";
    layer.setAttribute("aria-hidden", "true");
    g.appendChild(layer);
  }
  if (getComputedStyle(g).position === "static") g.style.position = "relative";
  const gr = g.getBoundingClientRect(), tr = timeline.getBoundingClientRect();
  Object.assign(layer.style, { position: "absolute", left: `${tr.left - gr.left}px`, top: `${tr.top - gr.top}px`,
    width: `${tr.width}px`, height: `${tr.height}px`, pointerEvents: "none" });
  const d = duration(g);
  layer.replaceChildren(...items.map((li) => {
    const t = parseFloat(li.dataset.time) || 0;
    const m = document.createElement("button");
    m.type = "button";
    m.className = "comment-marker";
    m.tabIndex = -1;
    m.dataset.commentSeek = String(t);
    m.style.left = `${Math.min(100, (t / d) * 100)}%`;
    m.style.pointerEvents = "auto";
    m.title = li.querySelector(".seek").textContent + " " + li.querySelector(".body").textContent;
    return m;
  }));
}

document.addEventListener("click", (e) => {
  const target = e.target.closest && e.target.closest("[data-comment-seek]");
  if (target) { e.preventDefault(); seek(parseFloat(target.dataset.commentSeek) || 0); return; }
  if (e.target.closest && e.target.closest("[data-comment-now]")) {
    const input = document.querySelector("[data-comment-time]");
    if (input) input.value = now().toFixed(2);
  }
});

let pending = 0;
const redraw = () => { cancelAnimationFrame(pending); pending = requestAnimationFrame(drawMarkers); };
document.addEventListener("htmx:afterSettle", redraw);
window.addEventListener("resize", redraw);
new ResizeObserver(redraw).observe(document.body);
redraw();
window.Takes = Object.assign(window.Takes || {}, { drawCommentMarkers: drawMarkers });
