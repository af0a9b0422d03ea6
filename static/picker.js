// The new-comparison page's model picker: one row per base model with its routes as a choice,
// search and filters, saved selections, and the checks a chosen model would refuse, marked on
// the model as soon as it is chosen.
//
// The checks read the catalog embedded in the page (#picker-catalog, built by
// app/catalog/picker.py) and follow app/catalog/__init__.py `check_request` and the automatic
// choices of app/comparisons.py (`plan_params`); tests/test_picker_checks.py runs one table of
// cases through both and asserts they agree. The server stays the authority: a submit is
// always checked again there.

const EPS = 1e-9;
const fmt = (x) => `${Number(x)}`;           // Python's :g for the values the catalog holds
const has = (list, d) => list.some((v) => Math.abs(v - d) < EPS);

export function loadCatalog(doc = document) {
  const el = doc.getElementById("picker-catalog");
  return el ? JSON.parse(el.textContent) : { models: {}, aspect_order: [], resolution_order: [] };
}

function accepted(m) {
  if (m.duration_range) return `${fmt(m.duration_range[0])}–${fmt(m.duration_range[1])} s`;
  return m.durations.map(fmt).join(", ") + " s";
}

function durationAllowed(m, d) {
  if (m.duration_range) return m.duration_range[0] - EPS <= d && d <= m.duration_range[1] + EPS;
  return !m.durations.length || has(m.durations, d);
}

function nearest(m, target) {
  if (m.duration_range) return Math.min(Math.max(target, m.duration_range[0]), m.duration_range[1]);
  if (!m.durations.length) return target;
  return [...m.durations].sort((a, b) => (Math.abs(a - target) - Math.abs(b - target)) || (b - a))[0];
}

function resolutionProblem(m, d, resolution) {
  const allowed = m.durations_by_resolution[resolution];
  if (!allowed || has(allowed, d)) return null;
  const others = m.resolutions.filter((r) => r !== resolution
    && (!(r in m.durations_by_resolution) || has(m.durations_by_resolution[r], d)));
  const also = others.length ? `; at ${fmt(d)} s it accepts ${others.join(", ")}` : "";
  return `${m.name} renders ${resolution} only at ${allowed.map(fmt).join(", ")} s (not ${fmt(d)} s)${also}`;
}

function fractionProblem(m, d) {
  if (!m.duration_range || m.fractional || Math.abs(d - Math.round(d)) < EPS) return null;
  return `${m.name} takes whole seconds only (${fmt(d)} s would be refused or rounded); `
    + `choose ${Math.floor(d)} or ${Math.ceil(d)} s`;
}

function durationProblems(m, d, resolution, hasImage) {
  if (!durationAllowed(m, d)) return [`${m.name} does not support ${fmt(d)} s; it accepts ${accepted(m)}`];
  const frac = fractionProblem(m, d);
  if (frac) return [frac];
  const res = resolutionProblem(m, d, resolution);
  if (res) return [res];
  if (hasImage && m.i2v_durations.length && !has(m.i2v_durations, d)) {
    return [`${m.name} renders image-to-video only at ${m.i2v_durations.map(fmt).join(", ")} s `
      + `(not ${fmt(d)} s: longer image-to-video needs keyframes, which Takes does not send)`];
  }
  return [];
}

/** What one model refuses of one request: app/catalog check_request, message for message. */
export function checkModel(m, r) {
  if (m.status === "retired") {
    return [`${m.name} was retired on ${m.retired_on}${m.retired_reason ? `: ${m.retired_reason}` : ""}`];
  }
  const out = [];
  // app/reference.py reference_problems: a motion-control model follows a reference video
  if (m.reference && !r.hasReference) out.push(`${m.name} needs a reference video (the motion it follows)`);
  if (r.hasImage && !m.modes.includes("i2v")) out.push(`${m.name} is text-to-video only and does not take a source image`);
  if (!r.hasImage && !m.modes.includes("t2v")) out.push(`${m.name} is image-to-video only: add a source image`);
  out.push(...durationProblems(m, r.duration, r.resolution, r.hasImage));
  if (!m.aspect_ratios.includes(r.aspect)) {
    out.push(`${m.name} does not support aspect ratio ${r.aspect}; it accepts ${m.aspect_ratios.join(", ")}`);
  }
  if (!m.resolutions.includes(r.resolution)) {
    out.push(`${m.name} does not support ${r.resolution}; it accepts ${m.resolutions.join(", ")}`);
  }
  if (r.audio && m.audio === "none") out.push(`${m.name} does not generate audio`);
  if (r.negative && !m.negative_prompt) out.push(`${m.name} does not take a negative prompt`);
  if (m.max_prompt_chars && [...r.prompt].length > m.max_prompt_chars) {
    out.push(`${m.name} accepts prompts of at most ${m.max_prompt_chars} characters`);
  }
  return out;
}

function sharedChoice(specs, field, preferred, order) {
  let common = new Set(specs[0][field]);
  for (const s of specs.slice(1)) common = new Set(s[field].filter((v) => common.has(v)));
  if (common.has(preferred) || !common.size) return preferred;
  const rank = (v) => (order.indexOf(v) < 0 ? order.length : order.indexOf(v));
  return [...common].sort((a, b) => (rank(a) - rank(b)) || (a < b ? -1 : a > b ? 1 : 0))[0];
}

function pickDuration(specs) {
  const first = specs[0].default_duration;
  const candidates = [first, ...specs.slice(1).map((s) => s.default_duration), 4, 5, 6, 8, 10];
  for (const d of candidates) {
    const fits = specs.every((s) => checkModel({ ...s, available: true }, {
      duration: d, aspect: s.aspect_ratios[0], resolution: s.resolutions[0], hasImage: !s.modes.includes("t2v"),
      audio: false, negative: "", prompt: "" }).length === 0);
    if (fits) return d;
  }
  return first;
}

/** The request each chosen model would get (app/comparisons.py plan_params), then its problems:
 *  {duration, durations: {id: s}, aspect, resolution, problems: {id: [messages]}}. */
export function plan(catalog, ids, form) {
  const specs = ids.map((id) => catalog.models[id]).filter(Boolean);
  if (!specs.length) return { problems: {}, durations: {} };
  const asked = form.duration === "" || form.duration == null ? null : Number(form.duration);
  const duration = asked ?? pickDuration(specs);
  const durations = {};
  if (asked === null) {
    for (const s of specs) if (!durationAllowed(s, duration)) durations[s.id] = nearest(s, duration);
  }
  const aspect = form.aspect || sharedChoice(specs, "aspect_ratios", "16:9", catalog.aspect_order);
  const resolution = form.resolution || sharedChoice(specs, "resolutions", "720p", catalog.resolution_order);
  const problems = {};
  for (const s of specs) {
    const found = checkModel(s, { duration: durations[s.id] ?? duration, aspect, resolution,
      hasImage: !!form.hasImage, hasReference: !!form.hasReference, audio: !!form.audio, negative: (form.negative || "").trim(), prompt: (form.prompt || "").trim() });
    if (found.length) problems[s.id] = found;
  }
  return { duration, durations, aspect, resolution, problems };
}

// ---- the page ------------------------------------------------------------------------------

// Saved selections: with an account, kept on the server (/api/selections, app/selections.py)
// so they follow the account; without one, in this browser's localStorage.
const STORE = "takes.selections";

class LocalSelections {
  async list() {
    try { return JSON.parse(localStorage.getItem(STORE) || "[]").filter((s) => s && s.name && Array.isArray(s.models)); }
    catch (e) { return []; }
  }
  async save(name, models) {
    const saved = (await this.list()).filter((s) => s.name !== name);
    saved.push({ name, models });
    localStorage.setItem(STORE, JSON.stringify(saved));
  }
  async forget(item) {
    localStorage.setItem(STORE, JSON.stringify((await this.list()).filter((x) => x.name !== item.name)));
  }
}

class ServerSelections {
  constructor(initial) { this.items = initial; }
  headers() {
    return { "content-type": "application/json", accept: "application/json",
      "x-csrf-token": document.querySelector("meta[name=csrf-token]")?.content || "" };
  }
  async list() { return this.items; }
  async save(name, models) {
    const r = await fetch("/api/selections", { method: "POST", headers: this.headers(), body: JSON.stringify({ name, models }) });
    const body = await r.json();
    if (!r.ok) throw new Error(body.detail || `HTTP ${r.status}`);
    this.items = [...this.items.filter((s) => s.name !== body.name), body].sort((a, b) => (a.name < b.name ? -1 : 1));
  }
  async forget(item) {
    const r = await fetch(`/api/selections/${encodeURIComponent(item.id)}`, { method: "DELETE", headers: this.headers() });
    if (!r.ok && r.status !== 404) throw new Error(`HTTP ${r.status}`);
    this.items = this.items.filter((s) => s.id !== item.id);
  }
}

function selectionStore(doc = document) {
  const json = doc.getElementById("saved-json");
  return json ? new ServerSelections(JSON.parse(json.textContent)) : new LocalSelections();
}

export function formRequest(form) {
  const file = form.querySelector("input[type=file][name=image]");
  const ref = form.querySelector("input[type=file][name=reference_video]");
  return {
    duration: form.querySelector("input[name=duration_s]").value,
    aspect: form.querySelector("select[name=aspect_ratio]").value,
    resolution: form.querySelector("select[name=resolution]").value,
    audio: form.querySelector("input[name=audio]").checked,
    negative: form.querySelector("input[name=negative_prompt]").value,
    prompt: form.querySelector("textarea[name=prompt]").value,
    hasImage: !!(file && file.files.length) || !!form.querySelector("input[name=pending_image]"),
    hasReference: !!(ref && ref.files.length),
  };
}

export class Picker {
  constructor(form) {
    this.form = form;
    this.catalog = loadCatalog();
    this.rows = [...form.querySelectorAll("li.family")];
    this.last = { problems: {} };
    this.store = selectionStore();
    for (const row of this.rows) {
      const select = row.querySelector("select.route");
      if (select) select.addEventListener("change", () => this.route(row, select.value));
    }
    form.querySelector("#model-search").addEventListener("input", () => this.filter());
    form.querySelectorAll("[data-filter], #max-price").forEach((el) => el.addEventListener("input", () => this.filter()));
    form.querySelector("#save-selection").addEventListener("click", () => this.save());
    const drop = form.querySelector("#drop-pending");
    if (drop) drop.addEventListener("click", () => { form.querySelector("#pending-image").remove(); form.dispatchEvent(new Event("change")); });
    this.drawSaved();
    this.filter();
  }

  chosen() { return [...this.form.querySelectorAll("input[name=models]:checked")].map((b) => b.value); }

  route(row, id) {
    const box = row.querySelector("input[name=models]");
    box.value = id;
    const option = row.querySelector(`option[value="${CSS.escape(id)}"]`);
    row.querySelector("[data-summary-for]").textContent = option ? option.dataset.summary : "";
    this.form.dispatchEvent(new Event("change"));
  }

  /** Check the chosen routes against the form; mark each refusing row with what it accepts. */
  check() {
    this.last = plan(this.catalog, this.chosen(), formRequest(this.form));
    for (const row of this.rows) {
      const box = row.querySelector("input[name=models]");
      const found = box.checked ? this.last.problems[box.value] || [] : [];
      const marks = row.querySelector("[data-marks]");
      marks.replaceChildren(...found.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
      marks.hidden = !found.length;
      row.classList.toggle("refused", found.length > 0);
      row.classList.toggle("chosen", box.checked);
    }
    this.markRoutes();
    const names = this.rows.filter((r) => r.querySelector("input[name=models]").checked)
      .map((r) => r.querySelector(".model-name").textContent);
    this.form.querySelector("#chosen-summary").textContent = names.length ? `${names.length} chosen: ${names.join(", ")}` : "";
    return this.last;
  }

  /** On a chosen row, name the other routes that would refuse the request too (or accept it):
   *  the same check, with that route in place of the chosen one. */
  markRoutes() {
    const chosen = this.chosen();
    const request = formRequest(this.form);
    for (const row of this.rows) {
      const box = row.querySelector("input[name=models]");
      for (const option of row.querySelectorAll("select.route option")) {
        option.dataset.label ??= option.textContent;
        let text = option.dataset.label;
        if (box.checked && !option.disabled) {
          const ids = chosen.map((id) => (id === box.value ? option.value : id));
          if ((plan(this.catalog, ids, request).problems[option.value] || []).length) text += " — refuses this request";
        }
        if (option.textContent !== text) option.textContent = text;
      }
    }
  }

  refused() { return Object.keys(this.last.problems); }

  /** What is wrong with the chosen file itself (app/comparisons.py check_image: its size here;
   *  its format and pixel size on submit), or "" — shown under the file field. */
  imageProblem() {
    const file = this.form.querySelector("input[type=file][name=image]");
    const note = this.form.querySelector("#image-problem");
    const max = Number(file.dataset.maxBytes);
    const chosen = file.files[0];
    const text = chosen && max && chosen.size > max
      ? `the image is ${(chosen.size / 1e6).toFixed(1)} MB; the limit is ${(max / 1e6).toFixed(0)} MB` : "";
    note.textContent = text;
    note.hidden = !text;
    return text;
  }

  filter() {
    const q = this.form.querySelector("#model-search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const on = Object.fromEntries([...this.form.querySelectorAll("[data-filter]")].map((b) => [b.dataset.filter, b.checked]));
    const maxRaw = this.form.querySelector("#max-price").value;
    const max = maxRaw === "" ? null : Number(maxRaw);
    const shown = { main: 0, more: 0 };
    for (const row of this.rows) {
      const d = row.dataset;
      const price = d.price === "" ? null : Number(d.price);
      const match = q.every((w) => d.search.includes(w))
        && (!on.available || d.available === "1") && (!on.t2v || d.t2v === "1") && (!on.i2v || d.i2v === "1")
        && (!on.audio || d.audio === "1") && (max === null || (price !== null && price <= max + EPS));
      const keep = match || row.querySelector("input[name=models]").checked;   // a chosen model never vanishes
      row.hidden = !keep;
      if (keep) shown[row.classList.contains("more") ? "more" : "main"] += 1;
    }
    const more = this.form.querySelector("#more-models");
    if (more && q.length && shown.more) more.open = true;   // a search finds collapsed rows too
    this.form.querySelector("#no-match").hidden = shown.main > 0 || (!!more && more.open && shown.more > 0);
  }

  async save() {
    const input = this.form.querySelector("#selection-name");
    const name = input.value.trim() || `selection ${(await this.store.list()).length + 1}`;
    const models = this.chosen();
    input.setCustomValidity("");
    try {
      if (!models.length) throw new Error("choose some models first");
      await this.store.save(name, models);
    } catch (e) {
      input.setCustomValidity(e.message);
      input.reportValidity();
      return;
    }
    input.value = "";
    await this.drawSaved();
  }

  apply(models) {
    for (const row of this.rows) row.querySelector("input[name=models]").checked = false;
    for (const id of models) {
      const row = this.rows.find((r) => r.querySelector(`input[name=models][value="${CSS.escape(id)}"]`)
        || r.querySelector(`option[value="${CSS.escape(id)}"]`));
      if (!row) continue;
      const select = row.querySelector("select.route");
      if (select) { select.value = id; this.route(row, id); }
      const box = row.querySelector("input[name=models]");
      if (!box.disabled) box.checked = true;
      if (row.classList.contains("more")) this.form.querySelector("#more-models").open = true;
    }
    this.filter();
    this.form.dispatchEvent(new Event("change"));
  }

  async drawSaved() {
    const list = this.form.querySelector("[data-saved-list]");
    const saved = await this.store.list();
    if (!saved.length) { list.innerHTML = '<span class="hint">none yet</span>'; return; }
    list.replaceChildren(...saved.map((s) => {
      const wrap = document.createElement("span");
      wrap.className = "saved-item";
      const use = Object.assign(document.createElement("button"), { type: "button", textContent: s.name,
        title: s.models.join(", ") });
      use.dataset.selection = s.name;
      use.addEventListener("click", () => this.apply(s.models));
      const del = Object.assign(document.createElement("button"), { type: "button", textContent: "×",
        className: "link" });
      del.setAttribute("aria-label", `Forget ${s.name}`);
      del.addEventListener("click", async () => { await this.store.forget(s); await this.drawSaved(); });
      wrap.append(use, del);
      return wrap;
    }));
  }
}
