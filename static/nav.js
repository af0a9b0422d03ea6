// The site menu on narrow screens (templates/base.html): the Menu button opens and closes the
// folded navigation; Escape closes it and gives focus back to the button. Wide screens show the
// navigation inline and never see the button (static/app.css).
(() => {
  const toggle = document.querySelector("[data-menu-toggle]");
  const bar = document.querySelector("[data-topbar]");
  if (!toggle || !bar) return;
  const set = (open) => {
    bar.toggleAttribute("data-menu-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.addEventListener("click", () => set(toggle.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") { set(false); toggle.focus(); }
  });
})();

// Tables wider than a phone scroll inside themselves, never the page: each is wrapped in a
// region that keyboard users can focus and scroll (static/app.css .table-scroll).
(() => {
  const focusable = (box) => {   // a tab stop only where there is something to scroll
    if (box.scrollWidth > box.clientWidth + 1) box.tabIndex = 0;
    else box.removeAttribute("tabindex");
  };
  // each region's name says which table it holds (landmarks with one name are
  // indistinguishable to a screen reader): caption, label, id, or the heading above it
  const nameOf = (table) => {
    const given = table.getAttribute("aria-label") || (table.caption && table.caption.textContent.trim());
    if (given) return given;
    if (table.id) return table.id.replace(/-/g, " ");
    for (let el = table; el && el !== document.body; el = el.parentElement) {
      for (let sib = el.previousElementSibling; sib; sib = sib.previousElementSibling) {
        if (/^H[1-4]$/.test(sib.tagName)) return sib.textContent.trim();
      }
    }
    return "table";
  };
  const used = new Set([...document.querySelectorAll(".table-scroll[aria-label]")].map((b) => b.getAttribute("aria-label")));
  const unique = (name) => {
    let n = 1, out = name;
    while (used.has(`${out} (scrolls sideways)`)) out = `${name} ${++n}`;
    used.add(`${out} (scrolls sideways)`);
    return out;
  };
  const wrap = () => {
    for (const table of document.querySelectorAll("table.table")) {
      if (!table.parentElement.classList.contains("table-scroll")) {
        const box = document.createElement("div");
        box.className = "table-scroll";
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", `${unique(nameOf(table))} (scrolls sideways)`);
        table.replaceWith(box);
        box.append(table);
      }
      focusable(table.parentElement);
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wrap);
  else wrap();
  document.addEventListener("htmx:afterSettle", wrap);
  window.addEventListener("resize", wrap);
})();
