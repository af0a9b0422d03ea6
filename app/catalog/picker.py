"""The new-comparison page's model picker: catalog entries grouped into one row per base model
("Kling 2.1 Master") with its routes (fal / Replicate / Kling) as a choice, and the rules each
route checks, as JSON for the page's own pre-submit marks (static/picker.js).

Built once per (catalog, providers) pair and cached: the catalog and the keys that make a
provider available do not change while a process runs, so `/` does no per-model work per
request beyond the template's one loop over the rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from app.catalog import Catalog, ModelSpec

# How each provider is named in a route choice, and in the catalog's names: "Veo 3.1 (Vertex AI)".
PROVIDER_LABELS = {
    "demo": "demo", "fal": "fal", "replicate": "Replicate", "kling": "Kling", "ark": "BytePlus",
    "minimax": "MiniMax", "google": "Gemini API", "vertex": "Vertex AI", "runway": "Runway",
    "luma": "Luma", "luma_agents": "Luma Agents", "comfyui": "ComfyUI", "openai": "OpenAI",
}

_SUFFIX = re.compile(r"\s*\(([^()]*)\)\s*$")


def provider_label(provider: str) -> str:
    return PROVIDER_LABELS.get(provider, provider)


def _without_route(spec: ModelSpec) -> str:
    """The name without a trailing "(fal)" that only names the route."""
    m = _SUFFIX.search(spec.name)
    if m and m.group(1).strip().lower() == provider_label(spec.provider).lower():
        return spec.name[:m.start()].strip()
    return spec.name


def base_model(spec: ModelSpec) -> str:
    """The one place a catalog entry's base model is decided: the entry's `base_model` where the
    catalog sets one (names that differ by provider: "Kling v3 (pro)" is "Kling 3 Pro"), else its
    name without the route label ("Veo 3.1 (Vertex AI)" is "Veo 3.1")."""
    return spec.base_model or _without_route(spec)


def route_label(spec: ModelSpec, family: str) -> str:
    """"fal", or "fal · Standard" where the entry's name says more than its base model."""
    base = _without_route(spec)
    extra = base[len(family):].strip() if base.lower().startswith(family.lower()) else ""
    label = provider_label(spec.provider)
    return f"{label} · {extra}" if extra else label


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Route:
    spec: ModelSpec
    label: str
    available: bool
    missing: tuple[str, ...]
    summary: str = ""   # what the route accepts and costs, one line (summary_of)

    @property
    def usable(self) -> bool:
        """Offered as a working route: available and confirmed (not unverified)."""
        return self.available and not self.spec.unverified

    @property
    def note(self) -> str:
        """Why a route cannot be chosen, or a warning about it; "" when it simply works."""
        m = self.spec
        if m.status == "retired":
            return f"retired {m.retired_on}"
        warn = "unverified: may not work" if m.unverified else ""
        if not self.available:      # both, so an unverified route never reads as "just add the key"
            why = "set " + ", ".join(self.missing) if self.missing else "no adapter"
            return f"{why} · {warn}" if warn else why
        return warn


@dataclass(frozen=True)
class Family:
    key: str
    name: str
    routes: tuple[Route, ...]

    @property
    def default(self) -> Route:
        """The route chosen for the row: the first working one, else the first one."""
        return next((r for r in self.routes if r.usable), None) or \
            next((r for r in self.routes if r.available), self.routes[0])

    @property
    def shown(self) -> bool:
        """Listed without "show all": some route works (not only unverified or retired ones)."""
        return any(r.usable for r in self.routes)

    @property
    def available(self) -> bool:
        return any(r.available for r in self.routes)

    def can(self, mode: str) -> bool:
        return any(mode in r.spec.modes for r in self.routes if r.available or not self.available)

    @property
    def audio(self) -> bool:
        return any(r.spec.audio != "none" for r in self.routes)

    @property
    def min_price(self) -> float | None:
        """The lowest known rate per second among the routes that can be chosen (all, if none)."""
        pool = [r for r in self.routes if r.available] or list(self.routes)
        prices = [r.spec.price_per_second for r in pool if r.spec.price_per_second is not None]
        return min(prices) if prices else None

    @property
    def search_text(self) -> str:
        parts = [self.name] + [f"{r.spec.name} {r.spec.id} {r.label}" for r in self.routes]
        return " ".join(parts).lower()


def families(catalog: Catalog, availability: Callable[[ModelSpec], tuple[bool, list[str]]]) -> list[Family]:
    """One Family per base model, in catalog order, the ones with a working route first."""
    grouped: dict[str, list[Route]] = {}
    names: dict[str, str] = {}
    for spec in catalog:
        name = base_model(spec)
        key = slug(name)
        ok, missing = availability(spec)
        names.setdefault(key, name)
        grouped.setdefault(key, []).append(Route(spec, route_label(spec, names[key]), ok, tuple(missing),
                                                 summary_of(spec)))
    rows = [Family(key, names[key], tuple(_route_order(routes))) for key, routes in grouped.items()]
    return sorted(rows, key=lambda f: (not f.shown, not f.available))


def summary_of(spec: ModelSpec) -> str:
    """"Kling 2.1 Master (fal) · 5, 10 s · 1080p · $0.28/s · ~240 s": the route's line in the picker."""
    p = spec.price_per_second
    price = "price unknown" if p is None else ("free" if p == 0 else f"${p:,.3g}/s")
    if spec.price_unverified:
        price += " (price unverified)"
    modes = " · ".join(m for m, on in (("text→video", spec.text_to_video), ("image→video", spec.supports_image)) if on)
    audio = {"always": " · audio", "optional": " · audio optional"}.get(spec.audio, "")
    return (f"{spec.name} · {modes}{audio} · {spec.accepted_durations()} · {'/'.join(spec.resolutions)} · {price}"
            f" · ~{int(spec.latency_s)} s")


def _route_order(routes: list[Route]) -> list[Route]:
    """Working routes first, then unverified, then unavailable, then retired (stable otherwise)."""
    return sorted(routes, key=lambda r: (r.spec.status == "retired", not r.available, r.spec.unverified))


def rules_json(spec: ModelSpec, available: bool) -> dict[str, Any]:
    """What the page's pre-submit check needs of one model: the same fields
    `app.catalog.check_request` reads (and the adapters' duration rules kept in `options`)."""
    return {
        "id": spec.id, "name": spec.name, "status": spec.status, "available": available,
        "retired_on": spec.retired_on, "retired_reason": spec.retired_reason,
        "modes": list(spec.modes), "durations": list(spec.durations),
        "duration_range": list(spec.duration_range) if spec.duration_range else None,
        "default_duration": spec.pick_default_duration(), "fractional": spec.fractional_durations,
        "durations_by_resolution": {k: list(v) for k, v in spec.durations_by_resolution.items()},
        "i2v_durations": list(spec.i2v_durations or spec.options.get("i2v_durations", ())),
        "aspect_ratios": list(spec.aspect_ratios), "resolutions": list(spec.resolutions),
        "audio": spec.audio, "negative_prompt": spec.negative_prompt, "max_prompt_chars": spec.max_prompt_chars,
        "price": spec.price_per_second, "price_audio": spec.price_per_second_audio,
        "price_by_resolution": dict(spec.price_per_second_by_resolution),
        "reference": bool(spec.options.get("reference_video_field")),   # app.reference.takes_reference
    }


@dataclass(frozen=True)
class PickerData:
    families: tuple[Family, ...]
    json: str          # {"models": {id: rules}, "aspect_order": [...], "resolution_order": [...]}, safe in <script>
    aspect_options: tuple[str, ...] = ()       # the form's choices: every value a selectable model takes
    resolution_options: tuple[str, ...] = ()

    @property
    def shown(self) -> list[Family]:
        return [f for f in self.families if f.shown]

    @property
    def hidden(self) -> list[Family]:
        return [f for f in self.families if not f.shown]


def build_picker(catalog: Catalog, availability: Callable[[ModelSpec], tuple[bool, list[str]]],
                 orders: dict[str, tuple[str, ...]]) -> PickerData:
    rows = families(catalog, availability)
    models = {r.spec.id: rules_json(r.spec, r.available) for f in rows for r in f.routes}
    payload = {"models": models, **{k: list(v) for k, v in orders.items()}}
    # "<" escaped so no catalog text can close the <script> element the JSON sits in
    text = json.dumps(payload, separators=(",", ":")).replace("<", "\\u003c")
    live = [m for m in catalog if m.selectable]
    return PickerData(tuple(rows), text,
                      _ordered({a for m in live for a in m.aspect_ratios}, orders.get("aspect_order", ())),
                      _ordered({r for m in live for r in m.resolutions}, orders.get("resolution_order", ())))


def _ordered(values: set[str], order: tuple[str, ...]) -> tuple[str, ...]:
    rank = {v: i for i, v in enumerate(order)}
    return tuple(sorted(values, key=lambda v: (rank.get(v, len(order)), v)))


_CACHE: list[tuple[Any, Any, PickerData]] = []


def picker_for(catalog: Catalog, providers: Any, availability: Callable[[ModelSpec], tuple[bool, list[str]]],
               orders: dict[str, tuple[str, ...]]) -> PickerData:
    """`build_picker`, once per (catalog, providers) object pair (identity, not equality: a
    process has one of each; tests make many apps, so only the last few are kept)."""
    for cat, prov, data in _CACHE:
        if cat is catalog and prov is providers:
            return data
    data = build_picker(catalog, availability, orders)
    _CACHE.append((catalog, providers, data))
    del _CACHE[:-8]
    return data
