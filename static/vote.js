// Voting with the keyboard alone, and the drag-or-keys ranking (templates/partials/vote.html).
//
// Keys (also listed under the vote buttons and in the player's "?" panel):
//   a take's letter      vote for it (pair: "that one is better"; 3+ takes: "the best")
//   Shift+letter         the same, and the only way for letters the page already uses:
//                        the player's F J K L M W and the vote keys N R T X
//   T / X                tie / both bad (two takes)
//   R                    rank all: opens the ranking and focuses its first take
//   N, Enter             next comparison of the board not yet voted on (loaded by htmx)
// The player (static/player.js) owns Space, J K L, arrows, Home/End, [ ] \, digits, M, W, F, Esc
// and ?. Keys are read in the capture phase: a key used for a vote is stopped there (and its
// default prevented, which the player respects), so it never also reaches the player; every
// other key passes through untouched.

const PLAYER_LETTERS = new Set(["F", "J", "K", "L", "M", "W"]);
const VOTE_LETTERS = new Set(["N", "R", "T", "X"]);
const EDITABLE = "input, textarea, select, [contenteditable=''], [contenteditable='true']";
const ACTIVATABLE = "button, a[href], summary, [tabindex], video";

const panel = () => document.querySelector("[data-vote-panel]");

function press(el, e) {
  if (!el) return false;
  e.preventDefault();
  e.stopPropagation();
  el.click();
  return true;
}

function syncRanking(list) {
  const input = list.closest("form").querySelector("input[name=ranking]");
  input.value = [...list.children].map((li) => li.dataset.takeId).join(",");
}

function move(li, by) {
  const list = li.parentElement;
  if (by < 0 && li.previousElementSibling) list.insertBefore(li, li.previousElementSibling);
  else if (by > 0 && li.nextElementSibling) list.insertBefore(li.nextElementSibling, li);
  syncRanking(list);
  li.focus();
}

function rankKey(e, list) {
  const li = e.target.closest("li");
  if (!li || li.parentElement !== list) return false;
  if (e.key === "ArrowUp" || e.key === "ArrowDown") {
    const by = e.key === "ArrowUp" ? -1 : 1;
    if (e.shiftKey) move(li, by);
    else (by < 0 ? li.previousElementSibling : li.nextElementSibling)?.focus();
  } else if (e.key === "Enter") {
    syncRanking(list);
    const form = list.closest("form");
    form.requestSubmit(form.querySelector("[data-vote=ranking]"));
  } else {
    return false;
  }
  e.preventDefault();
  e.stopPropagation();
  return true;
}

function onKeyDown(e) {
  if (e.defaultPrevented || e.isComposing || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && t.closest && t.closest(EDITABLE)) return;
  const p = panel();
  if (!p) return;
  const list = t && t.closest ? t.closest("[data-rank-list]") : null;
  if (list && rankKey(e, list)) return;
  if (e.key === "Enter") {
    if (t && t.closest && t.closest(ACTIVATABLE)) return; // Enter on a button or link keeps its meaning
    press(p.querySelector("[data-next]"), e);
    return;
  }
  if (e.key.length !== 1) return;
  const letter = e.key.toUpperCase();
  if (letter < "A" || letter > "Z") return;
  const overall = p.querySelector("[data-vote-form=overall]");
  if (e.shiftKey || !(PLAYER_LETTERS.has(letter) || VOTE_LETTERS.has(letter))) {
    if (press(overall && overall.querySelector(`[data-key="${letter}"]`), e)) return;
  }
  if (e.shiftKey && PLAYER_LETTERS.has(letter)) return; // no such take: the player's key
  switch (letter) {
    case "T": press(overall && overall.querySelector("[data-vote=tie]"), e); break;
    case "X": press(overall && overall.querySelector("[data-vote=bothbad]"), e); break;
    case "N": press(p.querySelector("[data-next]"), e); break;
    case "R": {
      const rank = p.querySelector("[data-rank]");
      if (!rank) return;
      e.preventDefault();
      e.stopPropagation();
      rank.open = true;
      rank.querySelector("[data-rank-list] li")?.focus();
      break;
    }
    default:
  }
}

// Drag to rank.
let dragging = null;
document.addEventListener("dragstart", (e) => {
  const li = e.target.closest && e.target.closest("[data-rank-list] > li");
  if (!li) return;
  dragging = li;
  e.dataTransfer.effectAllowed = "move";
  e.dataTransfer.setData("text/plain", li.dataset.takeId);
  li.classList.add("dragging");
});
document.addEventListener("dragover", (e) => {
  if (!dragging) return;
  const li = e.target.closest && e.target.closest("[data-rank-list] > li");
  if (!li || li.parentElement !== dragging.parentElement) return;
  e.preventDefault();
  if (li === dragging) return;
  const box = li.getBoundingClientRect();
  li.parentElement.insertBefore(dragging, e.clientY > box.top + box.height / 2 ? li.nextSibling : li);
});
document.addEventListener("drop", (e) => { if (dragging) e.preventDefault(); });
document.addEventListener("dragend", () => {
  if (!dragging) return;
  dragging.classList.remove("dragging");
  syncRanking(dragging.parentElement);
  dragging = null;
});
document.addEventListener("click", (e) => {
  const btn = e.target.closest && e.target.closest("[data-rank-list] [data-move]");
  if (btn) move(btn.closest("li"), Number(btn.dataset.move));
});

// List the vote keys in the player's "?" panel too.
const HELP_ROWS = [
  ["A B C …", "Vote for that take (two takes: it is better; more: it is the best)"],
  ["⇧ + letter", "The same; needed for F J K L M W N R T X"],
  ["T / X", "Vote tie / both bad (two takes)"],
  ["R", "Rank all takes (↑ ↓ choose, ⇧↑ ⇧↓ move, Enter submits)"],
  ["N / Enter", "Next comparison not yet voted on"],
];

function addHelp(root = document) {
  if (!root.querySelectorAll) return;
  for (const table of root.querySelectorAll("[data-sync-grid] [data-help] table")) {
    if (table.dataset.voteKeys) continue;
    table.dataset.voteKeys = "true";
    for (const [keys, what] of HELP_ROWS) {
      const tr = table.insertRow();
      const th = document.createElement("th");
      const kbd = document.createElement("kbd");
      kbd.textContent = keys;
      th.append(kbd);
      tr.append(th);
      tr.insertCell().textContent = what;
    }
  }
}

if (!window.TakesVote) {
  window.TakesVote = { addHelp };
  window.addEventListener("keydown", onKeyDown, true);
  document.addEventListener("htmx:afterSettle", (e) => addHelp(document));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => addHelp(document));
  else addHelp(document);
}

// The takes panel (templates/partials/takes.html) is folded so the review fits one screen. It is
// re-rendered by polling, by static/live.js on each event of the stream (both through htmx's
// swap) and after a vote; once a reviewer opens it, it stays open (also across reloads in this
// tab). The new panel is set on htmx:afterSwap, before it is painted, so an open panel never
// flashes closed. Any change of height above or below the grid re-sizes the players.
const FOLD_KEY = "takes:takes-fold-open";
let foldOpen = null;   // this page's last choice: holds when sessionStorage is off
function relayout() { window.dispatchEvent(new Event("resize")); }
function applyFold(root = document) {
  const fold = root.querySelector && root.querySelector("[data-takes-fold]");
  if (!fold || fold.dataset.wired) return;
  fold.dataset.wired = "true";
  let open = foldOpen === true;
  try { open = sessionStorage.getItem(FOLD_KEY) === "true" || open; } catch (_) { /* storage off */ }
  fold.open = open;
  fold.addEventListener("toggle", () => {
    foldOpen = fold.open;
    try { sessionStorage.setItem(FOLD_KEY, String(fold.open)); } catch (_) { /* storage off */ }
    relayout();
  });
}
if (!window.TakesFold) {
  window.TakesFold = { applyFold };
  document.addEventListener("htmx:afterSwap", () => applyFold(document));
  document.addEventListener("htmx:afterSettle", () => { applyFold(document); relayout(); });
  // opening "rank all" or the criteria grows the docked vote bar: the grid makes room
  document.addEventListener("toggle", (e) => {
    if (e.target.closest && e.target.closest("[data-vote-panel]")) relayout();
  }, true);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => applyFold(document));
  else applyFold(document);
}
