// New-comparison form: prompt counter and the cost estimate for the whole comparison.
// The estimate comes from the server (/api/estimate) so it uses the same prices and the same
// automatic duration as the comparison that will actually be created.
const form = document.getElementById("new-comparison");
if (form) {
  const prompt = form.querySelector("textarea[name=prompt]");
  const counter = form.querySelector('[data-count-for="prompt"]');
  const estimate = document.querySelector("#estimate strong");
  let seq = 0;

  const update = async () => {
    counter.textContent = prompt.value.length;
    const chosen = [...form.querySelectorAll("input[name=models]:checked")].map((b) => b.value);
    if (!chosen.length) { estimate.textContent = "—"; return; }
    const q = new URLSearchParams();
    chosen.forEach((m) => q.append("models", m));
    const d = form.querySelector("input[name=duration_s]").value;
    if (d) q.set("duration_s", d);
    q.set("audio", form.querySelector("input[name=audio]").checked);
    q.set("resolution", form.querySelector("select[name=resolution]").value);
    const mine = ++seq;
    try {
      const r = await fetch(`/api/estimate?${q}`);
      const body = await r.json();
      if (mine !== seq) return;
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
