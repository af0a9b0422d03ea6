// New-comparison form: prompt counter, the model picker (static/picker.js) and the cost
// estimate for the whole comparison. The estimate comes from the server (/api/estimate) so it
// uses the same prices and the same automatic duration as the comparison that will be created;
// it is never shown for a request a chosen model would refuse (the picker marks those first,
// and the server answers no price for one either).
import { Picker, formRequest } from "./picker.js";

const form = document.getElementById("new-comparison");
if (form) {
  const prompt = form.querySelector("textarea[name=prompt]");
  const counter = form.querySelector('[data-count-for="prompt"]');
  const estimate = document.querySelector("#estimate strong");
  const picker = new Picker(form);
  window.takesPicker = picker;   // for tests and the console
  let seq = 0;

  const update = async () => {
    counter.textContent = prompt.value.length;
    const checked = picker.check();
    const chosen = picker.chosen();
    const mine = ++seq;
    const imageProblem = picker.imageProblem();
    if (imageProblem) { estimate.textContent = `— (${imageProblem})`; return; }
    if (!chosen.length) { estimate.textContent = "—"; return; }
    const refused = picker.refused();
    if (refused.length) {
      estimate.textContent = `— (${refused.length} chosen ${refused.length === 1 ? "model refuses" : "models refuse"} this request: see the marks)`;
      return;
    }
    const q = new URLSearchParams();
    chosen.forEach((m) => q.append("models", m));
    const d = form.querySelector("input[name=duration_s]").value;
    if (d) q.set("duration_s", d);
    q.set("audio", form.querySelector("input[name=audio]").checked);
    q.set("resolution", checked.resolution || "");
    q.set("aspect_ratio", checked.aspect || "");
    q.set("image", formRequest(form).hasImage);
    try {
      const r = await fetch(`/api/estimate?${q}`);
      const body = await r.json();
      if (mine !== seq) return;
      if (body.problems && body.problems.length) {
        estimate.textContent = `— (not priced: ${body.problems[0]})`;
        return;
      }
      estimate.textContent = body.cost_usd === null ? "unknown (a model has no price)"
        : (body.cost_usd === 0 ? "free" : `$${body.cost_usd.toFixed(2)}`) + ` for ${body.duration_s} s clips`
          + (body.durations && Object.keys(body.durations).length
             ? ` (${Object.entries(body.durations).map(([m, s]) => `${m} ${s} s`).join(", ")})` : "");
    } catch (e) { estimate.textContent = "—"; }
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}
