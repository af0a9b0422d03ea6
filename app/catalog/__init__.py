"""The model catalog: what each model accepts, what it costs, and whether it is live.

Entries live in TOML (`models.toml` and one file per provider beside this module, plus any
`*.toml` in the CATALOG_DIR setting) so a
new endpoint or a user's ComfyUI workflow is data, not code. Request validation happens here,
before anything is submitted, so a bad combination is refused at the form with a message that
says what the model does accept.
"""

from __future__ import annotations

import json
import math

import logging
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CATALOG_DIR = Path(__file__).parent  # models.toml (demo + retired) and one <provider>.toml per adapter

# Short side in pixels for each named resolution.
RESOLUTION_LINES = {"360p": 360, "480p": 480, "540p": 540, "720p": 720, "768p": 768,
                    "1080p": 1080, "1440p": 1440, "4k": 2160}


@dataclass(frozen=True)
class ModelSpec:
    id: str                       # "fal/kling-v2.1-master"
    provider: str                 # adapter name: "fal"
    name: str                     # display name
    endpoint: str = ""            # provider-side model id / endpoint for text-to-video
    endpoint_i2v: str = ""        # provider-side id for image-to-video, where it differs
    family: str = ""
    # The model as its maker names it, the same across routes ("Kling 2.1 Master" through fal,
    # Replicate and Kling): the new-comparison picker shows one row per base model. Empty: the
    # name without its route label (app/catalog/picker.py `base_model`).
    base_model: str = ""
    modes: tuple[str, ...] = ("t2v",)           # t2v, i2v
    durations: tuple[float, ...] = ()           # allowed values (seconds) ...
    duration_range: tuple[float, float] | None = None  # ... or an inclusive range
    default_duration: float | None = None
    # Narrower duration lists at some resolutions ("1080p only at 8 s"): { "1080p" = [8] }
    durations_by_resolution: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # Narrower durations with a source image ("10 s image-to-video needs keyframes"): [5]
    i2v_durations: tuple[float, ...] = ()
    # A range model takes whole seconds unless this is set: fal refuses "7.5", Replicate and Ark
    # round it, so 7.5 s would render and bill 8 s.
    fractional_durations: bool = False
    aspect_ratios: tuple[str, ...] = ("16:9",)
    resolutions: tuple[str, ...] = ("720p",)
    audio: str = "none"           # none | optional | always
    negative_prompt: bool = False
    seed: bool = False
    max_prompt_chars: int | None = None
    price_per_second: float | None = None       # USD per output second (no audio / default)
    price_per_second_audio: float | None = None
    # Where the rate differs by resolution; "720p+audio" keys where audio changes it again.
    price_per_second_by_resolution: dict[str, float] = field(default_factory=dict)
    price_source: str = ""
    price_date: str = ""
    # The rate is a quote that public sources contradict and the provider's own page could not
    # be read: shown as "price unverified", still used for estimates and budgets (an upper bound
    # where the entry says so) until a `[[price]]` table replaces it.
    price_unverified: bool = False
    status: str = "live"          # live | retired | unverified
    retired_on: str = ""
    retired_reason: str = ""
    latency_s: float = 60.0       # typical generation time, shown in the form
    description: str = ""
    docs: str = ""                # the provider doc version the entry follows
    options: dict[str, Any] = field(default_factory=dict)  # provider-specific extras

    @property
    def selectable(self) -> bool:
        return self.status != "retired"

    @property
    def unverified(self) -> bool:
        """The route is not confirmed (an id seen only second-hand, an API that may answer 404):
        it may be chosen on purpose, but it is never shown or picked as if it worked."""
        return self.status == "unverified"

    @property
    def supports_image(self) -> bool:
        return "i2v" in self.modes

    @property
    def text_to_video(self) -> bool:
        return "t2v" in self.modes

    def accepted_durations(self) -> str:
        if self.duration_range:
            lo, hi = self.duration_range
            return f"{_fmt(lo)}–{_fmt(hi)} s"
        return ", ".join(f"{_fmt(d)}" for d in self.durations) + " s"

    def pick_default_duration(self) -> float:
        if self.default_duration:
            return self.default_duration
        if self.durations:
            return self.durations[0]
        if self.duration_range:
            return self.duration_range[0]
        return 5.0

    def nearest_duration(self, target: float) -> float:
        """The accepted duration closest to `target` (the longer one on a tie: a creator asking
        for 7 s between 6 and 8 would rather cut than be short)."""
        if self.duration_range:
            lo, hi = self.duration_range
            return min(max(target, lo), hi)
        if not self.durations:
            return target
        return min(self.durations, key=lambda d: (abs(d - target), -d))

    def price_for(self, duration_s: float, audio: bool, resolution: str | None = None) -> float | None:
        """Estimated USD for one take: the resolution's own rate where the provider prices by
        resolution, else the audio or plain rate per output second."""
        audio = audio or self.audio == "always"
        per_s = None
        if audio:
            per_s = self.price_per_second_by_resolution.get(f"{resolution}+audio")
        if per_s is None:
            per_s = self.price_per_second_by_resolution.get(resolution or "")
        if per_s is None:
            per_s = self.price_per_second_audio if (audio and self.price_per_second_audio) else self.price_per_second
        if per_s is None:
            return None
        return round(per_s * duration_s, 4)


def _fmt(x: float) -> str:
    return f"{x:g}"


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """Pixel size for a named resolution and an aspect ratio; the short side is the resolution."""
    line = RESOLUTION_LINES[resolution]
    w_ratio, h_ratio = (int(x) for x in aspect_ratio.split(":"))
    if w_ratio >= h_ratio:
        h, w = line, line * w_ratio / h_ratio
    else:
        w, h = line, line * h_ratio / w_ratio
    return int(round(w / 2)) * 2, int(round(h / 2)) * 2


@dataclass
class Catalog:
    models: dict[str, ModelSpec]

    def get(self, model_id: str) -> ModelSpec | None:
        return self.models.get(model_id)

    def __iter__(self):
        return iter(self.models.values())

    def by_provider(self) -> dict[str, list[ModelSpec]]:
        out: dict[str, list[ModelSpec]] = {}
        for m in self.models.values():
            out.setdefault(m.provider, []).append(m)
        return out


def _spec(raw: dict[str, Any], source: Path) -> ModelSpec:
    data = dict(raw)
    for key in ("modes", "durations", "aspect_ratios", "resolutions", "i2v_durations"):
        if key in data:
            data[key] = tuple(data[key])
    if "duration_range" in data:
        data["duration_range"] = tuple(data["duration_range"])
    if "durations_by_resolution" in data:
        data["durations_by_resolution"] = {k: tuple(v) for k, v in data["durations_by_resolution"].items()}
    known = set(ModelSpec.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{source}: model {data.get('id')!r} has unknown keys {sorted(unknown)}")
    spec = ModelSpec(**data)
    for r in spec.resolutions:
        if r not in RESOLUTION_LINES:
            raise ValueError(f"{source}: model {spec.id!r} has unknown resolution {r!r}")
    return spec


# What a `[[price]]` table may set: an operator's own rates (a negotiated contract, a price read
# by `takes prices replicate`) without copying the whole entry.
PRICE_FIELDS = ("price_per_second", "price_per_second_audio", "price_per_second_by_resolution",
                "price_source", "price_date")


def load_catalog(extra_dir: Path | None = None) -> Catalog:
    files = [CATALOG_DIR / "models.toml"] + sorted(p for p in CATALOG_DIR.glob("*.toml") if p.name != "models.toml")
    if extra_dir and extra_dir.is_dir():
        files += sorted(extra_dir.glob("*.toml"))
    models: dict[str, ModelSpec] = {}
    prices: list[tuple[dict[str, Any], Path]] = []
    for path in files:
        doc = _parsed(path)
        for raw in doc.get("model", []):
            spec = _spec(raw, path)
            models[spec.id] = spec  # a user's file may override a built-in entry
        prices += [(raw, path) for raw in doc.get("price", [])]
    for raw, path in prices:  # after every entry, so a price file may sort before the model's file
        _apply_price(models, raw, path)
    return Catalog(models)


_PARSED: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def _parsed(path: Path) -> dict[str, Any]:
    """A catalog file's TOML, parsed again only when its size or mtime changed: every app
    (and every test's app) loads the same built-in files, and parsing them is most of the
    load. Callers copy what they keep (`_spec` and `_apply_price` copy each table)."""
    st = path.stat()
    key = (st.st_mtime_ns, st.st_size)
    hit = _PARSED.get(path)
    if hit is None or hit[0] != key:
        with path.open("rb") as fh:
            hit = _PARSED[path] = (key, tomllib.load(fh))
    return hit[1]


def _apply_price(models: dict[str, ModelSpec], raw: dict[str, Any], source: Path) -> None:
    data = dict(raw)
    model_id = data.pop("id", None)
    unknown = set(data) - set(PRICE_FIELDS)
    if unknown:
        raise ValueError(f"{source}: [[price]] for {model_id!r} has keys a price cannot set: {sorted(unknown)}")
    if model_id not in models:
        # A model dropped from the catalog must not stop the app from starting.
        logger.warning("%s: [[price]] for %r: no such model in the catalog; ignored", source, model_id)
        return
    if "price_source" not in data or "price_date" not in data:
        raise ValueError(f"{source}: [[price]] for {model_id!r} needs price_source and price_date")
    spec = models[model_id]
    if "price_per_second_by_resolution" in data:
        bad = [k for k in data["price_per_second_by_resolution"]
               if k.removesuffix("+audio") not in RESOLUTION_LINES]
        if bad:
            raise ValueError(f"{source}: [[price]] for {model_id!r} names unknown resolutions {bad}")
    else:
        data["price_per_second_by_resolution"] = {}  # the old table belonged to the old price
    data.setdefault("price_per_second_audio", None)
    data.setdefault("price_unverified", False)   # a price read from the provider replaces the doubtful quote
    models[model_id] = replace(spec, **data)


def price_table(model_id: str, fields: dict[str, Any]) -> list[str]:
    """A `[[price]]` table, as `_apply_price` reads it (the lines the price commands write)."""
    lines = ["[[price]]", f"id = {toml_value(model_id)}"]
    for key, value in fields.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {toml_value(value)}")
    return lines


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, float):
        return repr(value)
    return str(value)


@lru_cache
def default_catalog() -> Catalog:
    from app.settings import get_settings

    return load_catalog(get_settings().catalog_dir)


def duration_allowed(spec: ModelSpec, duration_s: float) -> bool:
    if spec.duration_range:
        lo, hi = spec.duration_range
        return lo - 1e-9 <= duration_s <= hi + 1e-9
    return not spec.durations or any(abs(duration_s - d) < 1e-9 for d in spec.durations)


def resolution_duration_problem(spec: ModelSpec, duration_s: float, resolution: str) -> str | None:
    """A duration the model accepts in general but not at this resolution, named with what works."""
    allowed = spec.durations_by_resolution.get(resolution)
    if not allowed or any(abs(duration_s - d) < 1e-9 for d in allowed):
        return None
    others = [r for r in spec.resolutions if r != resolution and (
        r not in spec.durations_by_resolution or any(abs(duration_s - d) < 1e-9 for d in spec.durations_by_resolution[r]))]
    also = f"; at {duration_s:g} s it accepts {', '.join(others)}" if others else ""
    return (f"{spec.name} renders {resolution} only at {', '.join(f'{d:g}' for d in allowed)} s "
            f"(not {duration_s:g} s){also}")


def fraction_problem(spec: ModelSpec, duration_s: float) -> str | None:
    """A fractional duration on a range model that takes whole seconds: refused, not rounded,
    since the provider would refuse it or render (and bill) the rounded length."""
    if not spec.duration_range or spec.fractional_durations or abs(duration_s - round(duration_s)) < 1e-9:
        return None
    lo, hi = math.floor(duration_s), math.ceil(duration_s)
    return f"{spec.name} takes whole seconds only ({duration_s:g} s would be refused or rounded); choose {lo} or {hi} s"


def unknown_model(model_id: str) -> str:
    """The one message for an id the catalog does not hold: the create call, a saved selection
    and the form's estimate say it alike."""
    return f"unknown model {model_id!r} (GET /api/models lists the catalog)"


def check_request(spec: ModelSpec, *, duration_s: float, aspect_ratio: str, resolution: str,
                  has_image: bool, audio: bool | None = None, negative_prompt: str | None = None,
                  prompt: str = "") -> list[str]:
    """Everything wrong with this request for this model, each naming what the model accepts."""
    errors: list[str] = []
    name = spec.name
    if spec.status == "retired":
        why = f": {spec.retired_reason}" if spec.retired_reason else ""
        errors.append(f"{name} was retired on {spec.retired_on}{why}")
        return errors
    if has_image and not spec.supports_image:
        errors.append(f"{name} is text-to-video only and does not take a source image")
    if not has_image and not spec.text_to_video:
        errors.append(f"{name} is image-to-video only: add a source image")
    if not duration_allowed(spec, duration_s):
        errors.append(f"{name} does not support {duration_s:g} s; it accepts {spec.accepted_durations()}")
    elif fraction_problem(spec, duration_s):
        errors.append(fraction_problem(spec, duration_s))
    else:
        problem = resolution_duration_problem(spec, duration_s, resolution)
        if problem:
            errors.append(problem)
        elif has_image and spec.i2v_durations and not any(abs(duration_s - d) < 1e-9 for d in spec.i2v_durations):
            errors.append(f"{name} renders image-to-video only at {', '.join(f'{d:g}' for d in spec.i2v_durations)} s "
                          f"(not {duration_s:g} s: longer image-to-video needs keyframes, which Takes does not send)")
    if aspect_ratio not in spec.aspect_ratios:
        errors.append(f"{name} does not support aspect ratio {aspect_ratio}; it accepts {', '.join(spec.aspect_ratios)}")
    if resolution not in spec.resolutions:
        errors.append(f"{name} does not support {resolution}; it accepts {', '.join(spec.resolutions)}")
    if audio and spec.audio == "none":
        errors.append(f"{name} does not generate audio")
    if negative_prompt and not spec.negative_prompt:
        errors.append(f"{name} does not take a negative prompt")
    if spec.max_prompt_chars and len(prompt) > spec.max_prompt_chars:
        errors.append(f"{name} accepts prompts of at most {spec.max_prompt_chars} characters")
    return errors
