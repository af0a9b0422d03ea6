// Live updates (server-sent events, app/web/live.py), the "done" notification and title badge,
// and copy buttons. Plain module; every part is optional: without EventSource the takes panel
// keeps polling (its hx-trigger is "every 1s [!window.takesLive]"), without Notification the
// button stays hidden, without the clipboard API the text is selected for Ctrl+C.

const ASKED = "takes.notify.asked";

function fmt(s) {
  s = Math.max(0, Math.round(s));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

// ---- a comparison: takes panel, elapsed / left, title badge, notification -----------------------

// `signal` ends it: "next" loads another comparison into the page (htmx), and that one gets
// an instance of its own (attachComparison below).
function comparisonLive(root, signal) {
  const baseTitle = document.title.replace(/^\((✓|\d+\/\d+)\) /, "");   // without a badge left by the last
  let last = null, wanted = null, shown = null, inFlight = false, receivedAt = 0, wasDone = root.dataset.allDone === "true";
  const notifyBtn = root.querySelector("#notify-me");

  if (notifyBtn && "Notification" in window && Notification.permission === "default"
      && !localStorage.getItem(ASKED) && !wasDone) {
    notifyBtn.hidden = false;
    notifyBtn.addEventListener("click", async () => {   // asked once, on a user gesture
      localStorage.setItem(ASKED, "1");
      notifyBtn.hidden = true;
      const answer = await Notification.requestPermission();
      root.dataset.notify = answer;
    });
  }

  function badge(state) {
    document.title = state.all_done ? `(✓) ${baseTitle}` : `(${state.finished}/${state.total}) ${baseTitle}`;
  }

  function timings() {
    if (!last) return;
    const extra = (Date.now() - receivedAt) / 1000;
    for (const t of last.takes) {
      const li = document.querySelector(`#takes li[data-take-id="${t.id}"]`);
      if (!li) continue;
      const running = !["ready", "failed", "cancelled"].includes(t.status);
      let span = li.querySelector("[data-eta]");
      if (!running) {   // a finished take shows its generation time in the panel already
        span?.remove();
        continue;
      }
      if (!span) {
        span = document.createElement("span");
        span.className = "hint eta";
        span.dataset.eta = "";
        li.querySelector(".state")?.append(" ", span);
      }
      let text = `${fmt(t.elapsed_s + extra)} elapsed`;
      if (t.left_s !== null) {
        const left = t.left_s - extra;
        text += left > 0 ? ` · about ${fmt(left)} left` : " · any moment now (past the model's median)";
      } else {
        text += " · no estimate yet (no finished take of this model)";
      }
      span.textContent = text;
      span.dataset.leftS = t.left_s === null ? "" : String(t.left_s);
    }
  }

  function onState(state) {
    last = state;
    receivedAt = Date.now();
    root.dataset.finished = state.finished;
    badge(state);
    // Statuses changed: the server redraws the panel (its rules, blind ones included). Only
    // progress moved: the bars are set here, without a request.
    wanted = `${state.finished}|${state.takes.map(t => t.id + ":" + t.status).join(",")}`;
    refreshPanel();
    for (const t of state.takes) {
      const bar = document.querySelector(`#takes li[data-take-id="${t.id}"] progress`);
      if (bar && t.progress !== null) bar.value = t.progress;
    }
    timings();
    if (state.all_done && !wasDone && "Notification" in window && Notification.permission === "granted") {
      const prompt = document.querySelector("h1.prompt")?.textContent?.trim() || "";
      new Notification("Your takes are ready", {body: prompt.slice(0, 120), tag: `takes-${state.comparison}`});
      root.dataset.notified = "true";
    }
    if (state.all_done && !wasDone) refreshDownloads();
    wasDone = state.all_done;
    root.dataset.allDone = String(state.all_done);
  }

  // Through htmx's own swap, as its polling does: htmx:afterSwap and afterSettle then fire for
  // this redraw too, so the panel's listeners run (static/vote.js keeps the folded panel open
  // once opened, re-sizes the players) and the new panel's hx-trigger is wired. settleDelay 0:
  // the fold is set before the next paint, the panel never flashes closed.
  function swapPanel(html) {
    const old = document.getElementById("takes");
    if (window.htmx) htmx.swap(old, html, {swapStyle: "outerHTML", swapDelay: 0, settleDelay: 0});
    else { old.outerHTML = html; window.TakesFold?.applyFold(document); }
  }

  // One panel request at a time, repeated until the panel shows the latest statuses: a burst
  // of changes (takes finishing together) never leaves it one step behind.
  // A vote: its answer brings the revealed grid key (partials/vote.html, out of band). A panel
  // answer to a request sent with the old key says "grid changed", which reloads the players
  // and drops the reveal note; so no panel request goes out while a vote is in flight, and an
  // answer to one sent before a vote began is dropped and asked again once the vote settled.
  // The vote ends when htmx reports its request over (htmx:afterRequest, on success after the
  // swap that brought the new key, and on any failure), told apart by its XMLHttpRequest: when
  // the answer replaced the vote panel (a "next" from the panel loads another comparison),
  // htmx reports it on an element outside the panel. The 30 s cap only covers an answer htmx
  // never reports. `voteXhr` is set while a vote is in flight.
  let voteXhr = null, votes = 0, cap = null;
  const voteDone = () => {
    if (voteXhr === null) return;
    voteXhr = null;
    clearTimeout(cap);
    refreshPanel();
  };
  document.body.addEventListener("htmx:beforeRequest", (e) => {
    if (signal.aborted || !e.target.closest?.("#vote-panel")) return;
    voteXhr = e.detail.xhr;
    votes += 1;
    clearTimeout(cap);
    cap = setTimeout(voteDone, 30000);
  }, {signal});
  document.body.addEventListener("htmx:afterRequest", (e) => { if (voteXhr && e.detail.xhr === voteXhr) voteDone(); }, {signal});

  async function refreshPanel() {
    if (inFlight || voteXhr || signal.aborted) return;   // a vote in flight: voteDone calls again
    inFlight = true;
    try {
      while (wanted !== shown && document.getElementById("takes") && !voteXhr && !signal.aborted) {
        const target = wanted, sentAt = votes;
        const ready = document.getElementById("grid-ready-key")?.value || "";
        const r = await fetch(`/c/${root.dataset.comparisonId}/status?ready=${encodeURIComponent(ready)}`,
                              {headers: {"HX-Request": "true"}});
        if (!r.ok) break;
        const html = await r.text();
        if (signal.aborted) break;                   // another comparison is in the page now
        if (votes !== sentAt || voteXhr) continue;   // a vote began meanwhile: this answer has the old key
        swapPanel(html);
        shown = target;
        root.dataset.refreshes = String(Number(root.dataset.refreshes || 0) + 1);
        for (const name of (r.headers.get("HX-Trigger") || "").split(",").map(s => s.trim()).filter(Boolean)) {
          document.body.dispatchEvent(new CustomEvent(name, {bubbles: true}));   // e.g. reload the grid
        }
        timings();
      }
    } catch {
      // the network went away: EventSource reconnects, and its next state retries
    } finally {
      inFlight = false;
    }
  }

  document.body.addEventListener("htmx:afterSwap", timings, {signal});
  const ticking = setInterval(timings, 1000);
  signal.addEventListener("abort", () => { clearInterval(ticking); clearTimeout(cap); });
  return onState;
}

// The download links depend on which takes are ready: fetch them again once all are done.
async function refreshDownloads() {
  const here = document.getElementById("downloads");
  if (!here) return;
  const doc = new DOMParser().parseFromString(await (await fetch(location.href)).text(), "text/html");
  const fresh = doc.getElementById("downloads");
  if (fresh) here.replaceWith(fresh);
}

// ---- a board: new comparisons and status changes refresh the cards ---------------------------

function boardLive() {
  let busy = false;
  return async function onState(state) {
    const cards = new Map([...document.querySelectorAll(".poster-card")].map(c => [c.dataset.comparisonId, c]));
    const stale = state.comparisons.some(c => {
      const card = cards.get(c.id);
      return card ? card.dataset.status !== c.status || card.dataset.ready !== String(c.ready) : true;
    });
    if (!stale || busy) return;
    busy = true;
    try {
      const html = await (await fetch(location.href, {headers: {Accept: "text/html"}})).text();
      const doc = new DOMParser().parseFromString(html, "text/html");
      for (const sel of [".poster-grid", "#review-progress"]) {
        const fresh = doc.querySelector(sel), here = document.querySelector(sel);
        if (fresh && here) here.replaceWith(fresh);
      }
      document.body.dataset.liveRefreshed = String(Number(document.body.dataset.liveRefreshed || 0) + 1);
    } finally {
      busy = false;
    }
  };
}

// ---- the stream ------------------------------------------------------------------------------

function listen(root, onState, signal) {
  if (!("EventSource" in window)) return;
  const es = new EventSource(root.dataset.liveEvents);
  signal?.addEventListener("abort", () => { es.close(); window.takesLive = false; root.dataset.live = "closed"; });
  es.addEventListener("open", () => { window.takesLive = true; root.dataset.live = "open"; });
  es.addEventListener("error", () => { window.takesLive = false; root.dataset.live = "retrying"; });
  es.addEventListener("state", e => onState(JSON.parse(e.data)));
  es.addEventListener("gone", () => { es.close(); window.takesLive = false; root.dataset.live = "closed"; });
}

// ---- copy buttons: <button data-copy="#element-id"> ------------------------------------------

function copyButtons() {
  document.addEventListener("click", async e => {
    const btn = e.target.closest("button[data-copy]");
    if (!btn) return;
    const source = document.querySelector(btn.dataset.copy);
    if (!source) return;
    const text = source.textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
      btn.dataset.copied = "true";
      btn.textContent = "Copied";
    } catch {
      const range = document.createRange();   // no clipboard access: select it for Ctrl+C
      range.selectNodeContents(source);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      btn.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { btn.textContent = btn.dataset.label || "Copy"; }, 2000);
  });
}

// The comparison in the page, followed live; after every htmx swap, whether that is still the
// same one: "next" (partials/vote.html) swaps the whole <main> for another comparison, whose
// panel would otherwise get the previous one's events (or none: its polling waits while a
// stream is open).
let live = null;   // {root, controller}
function attachComparison() {
  const root = document.querySelector("[data-live-events][data-comparison-id]");
  if (root === (live?.root ?? null)) return;
  live?.controller.abort();
  live = null;
  if (!root) return;
  const controller = new AbortController();
  live = {root, controller};
  listen(root, comparisonLive(root, controller.signal), controller.signal);
}

copyButtons();
attachComparison();
document.body.addEventListener("htmx:afterSettle", attachComparison);
const boardRoot = document.querySelector("[data-live-events][data-board]");
if (boardRoot) listen(boardRoot, boardLive());
