// Every POST form carries the CSRF token. Templates put the hidden field in their forms; this
// adds it to any POST form that lacks one (a form added by a fragment or another module), so
// a missing field never turns into a confusing 403.
document.addEventListener("submit", (e) => {
  const form = e.target;
  if (!(form instanceof HTMLFormElement) || (form.method || "").toLowerCase() !== "post") return;
  if (form.querySelector("input[name=csrf_token]")) return;
  const token = document.querySelector("meta[name=csrf-token]")?.content;
  if (!token) return;
  const input = document.createElement("input");
  input.type = "hidden"; input.name = "csrf_token"; input.value = token;
  form.appendChild(input);
}, true);
