"""Delivered as asked: every downloaded clip checked against the request that bought it.

A provider that answers "succeeded" has not necessarily rendered what was asked: fal's Luma Ray
3.2 renders 540p when no resolution is sent, and a 1 s 128×72 clip plays as well as a 5 s 1080p
one. Such a take is kept (it was paid for, and it may still be worth a vote) but marked, with
what differs in words a reviewer reads at a glance: "delivered 960×540 for 1080p".

What is checked, each against the model's own documented tolerance where its catalog entry
sets one (`options`), else the default here:
- duration: within DURATION_TOLERANCE_S (`duration_tolerance_s`);
- resolution: the short side within RESOLUTION_TOLERANCE of the named resolution (encoders
  round to macroblocks: 1088 for 1080, 704 for 720), or of the pixel size the model is sent
  where its entry names one (`options.ratios`: Runway's "1440:1440" is Kling's 1:1 at 1080p,
  "1104:832" Gen-4's 4:3 at 720p);
- aspect ratio: within ASPECT_TOLERANCE of the asked one, or of the source image's where the
  model is not sent a ratio for image-to-video (Kling, Hailuo, Seedance 2.5's "adaptive"), or
  of the reference video's for a motion-control model (app/reference.py);
- frame rate: within FPS_RANGE (`fps_range`);
- audio: a track present when audio was asked of a model that makes it.

`take_fields` is the one call the job layer makes (app/jobs/generate.py, after the probe): it
returns the Take columns to write. The checks themselves are plain functions tests call.
"""

from __future__ import annotations

from typing import Any

from app.catalog import RESOLUTION_LINES, ModelSpec
from app.models import ComparisonParams

DURATION_TOLERANCE_S = 0.25
RESOLUTION_TOLERANCE = 0.04      # 4 % of the short side
ASPECT_TOLERANCE = 0.03          # 3 % of width / height
FPS_RANGE = (15.0, 61.0)         # what any model here documents (24, 25, 30, 60 fps) with slack


def _ratio(aspect: str) -> float:
    w, h = (int(x) for x in aspect.split(":"))
    return w / h


def named_short_side(spec: ModelSpec, params: ComparisonParams) -> int | None:
    """The short side of the pixel size the request names for this model ("1440:1440" → 1440),
    looked up as app/providers/runway.runway_ratio does; None where the entry sends ratio words
    ("16:9") or names none."""
    table = spec.options.get("ratios") or {}
    named = table.get(f"{params.aspect_ratio}@{params.resolution}") or table.get(params.aspect_ratio or "")
    try:
        w, h = (int(x) for x in str(named).split(":"))
    except ValueError:
        return None
    return min(w, h) if min(w, h) >= 100 else None


def image_shaped(spec: ModelSpec, params: ComparisonParams) -> bool:
    """True when the clip takes the source image's shape: image-to-video to a model that is sent
    no ratio then (Kling i2v, Hailuo) or is sent "adaptive" (Seedance 2.5 on Ark)."""
    if not params.image_size:
        return False
    opts = spec.options
    return (opts.get("send_aspect_ratio", True) is False or opts.get("i2v_aspect_ratio", True) is False
            or opts.get("i2v_ratio") == "adaptive")


def mismatches(info: dict[str, Any], spec: ModelSpec, params: ComparisonParams) -> list[str]:
    """What the clip `info` (app.media.probe) does differently from what `params` asked of
    `spec`; [] when it is as asked. A value the probe could not read is not held against it."""
    out: list[str] = []
    asked_s = params.duration_for(spec.id)
    got_s = info.get("duration_s")
    tolerance = float(spec.options.get("duration_tolerance_s", DURATION_TOLERANCE_S))
    if got_s is not None and abs(got_s - asked_s) > tolerance + 1e-9:
        out.append(f"delivered {got_s:.2f} s for {asked_s:g} s")

    w, h = info.get("width"), info.get("height")
    if w and h:
        line = named_short_side(spec, params) or RESOLUTION_LINES.get(params.resolution)
        if line and abs(min(w, h) - line) > RESOLUTION_TOLERANCE * line:
            out.append(f"delivered {w}×{h} for {params.resolution}")
        if spec.options.get("reference_video_field") and params.reference_size:
            rw, rh = params.reference_size
            want, what = rw / rh, f"the reference video's {rw}×{rh}"
        elif image_shaped(spec, params):
            iw, ih = params.image_size
            want, what = iw / ih, f"the source image's {iw}×{ih}"
        elif params.aspect_ratio:
            want, what = _ratio(params.aspect_ratio), params.aspect_ratio
        else:
            want = None
        if want and abs((w / h) / want - 1) > ASPECT_TOLERANCE:
            out.append(f"delivered {w}×{h} ({w / h:.2f}:1) for {what}")

    fps = info.get("fps")
    lo, hi = (float(x) for x in spec.options.get("fps_range", FPS_RANGE))
    if fps and not (lo <= fps <= hi):
        out.append(f"delivered {fps:g} fps (expected {lo:g}–{hi:g})")

    if params.audio and spec.audio != "none" and info.get("has_audio") is False:
        out.append("delivered no audio track though audio was asked")
    return out


def rewritten_prompt(meta: dict[str, Any] | None, prompt: str) -> str | None:
    """The prompt the provider says it used, when it differs from ours (fal Wan's actual_prompt)."""
    text = (meta or {}).get("rewritten_prompt")
    if not isinstance(text, str) or text.strip() == prompt.strip():
        return None
    return text.strip()[:8000]


def take_fields(info: dict[str, Any], spec: ModelSpec, params: ComparisonParams, meta: dict[str, Any] | None,
                prompt: str) -> dict[str, Any]:
    """The Take columns the check fills: as_asked, delivery_notes, rewritten_prompt."""
    notes = mismatches(info, spec, params)
    return {"as_asked": not notes, "delivery_notes": notes, "rewritten_prompt": rewritten_prompt(meta, prompt)}


def as_asked_share(as_asked: int, checked: int) -> float | None:
    """Checked takes delivered as asked, as a fraction (None when none were checked)."""
    return as_asked / checked if checked else None
