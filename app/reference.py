"""A comparison's reference video: the clip a motion-control model (Kling v3 Motion Control on
fal) takes its motion from, stored beside the source image and served like takes.

Checked like the source image, by content and not by name: its byte size against
MAX_REFERENCE_BYTES (`max_reference_bytes`), then PyAV's probe (app/media.py) on the bytes —
a file the probe cannot open, or one without a video stream, is no video whatever it is called
— its container (MP4, QuickTime or WebM: what providers fetch and browsers play), its duration
(REFERENCE_MIN_S to `max_reference_s`) and its frame size (at least 64×64).

Which models take it is the catalog's call: an entry with `options.reference_video_field`
(the field its provider reads, fal's `video_url`) needs one, `options.reference_duration_range`
narrows the accepted length, and `options.duration_from_reference` makes the clip asked of the
model as long as the reference (Motion Control renders the reference's length), which is what
the delivered-as-asked check then holds it to.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from app import media
from app.catalog import ModelSpec
from app.errors import InputError
from app.settings import Settings

REFERENCE_MIN_S = 1.0
REFERENCE_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}


@dataclass
class CheckedReference:
    data: bytes
    mime: str
    ext: str
    duration_s: float
    width: int
    height: int


def _probe(data: bytes) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".bin") as fh:
        fh.write(data)
        fh.flush()
        try:
            return media.probe(Path(fh.name))
        except Exception:
            raise InputError("the reference video is not an MP4, MOV or WebM video: PyAV cannot read it") from None


def check_reference_video(data: bytes, settings: Settings) -> CheckedReference:
    """Judge an upload by its content: size in bytes, that it is a video, container, length, size."""
    if len(data) > settings.max_reference_bytes:
        raise InputError(f"the reference video is {len(data) / 1e6:.1f} MB; the limit is "
                         f"{settings.max_reference_bytes / 1e6:.0f} MB", status_code=413)
    info = _probe(data)
    kind = info.get("file_type")
    if kind not in REFERENCE_TYPES:
        name = media.FILE_TYPES[kind][2] if kind in media.FILE_TYPES else f"not a video container ({kind})"
        raise InputError(f"the reference video is not an MP4, MOV or WebM video: it is {name}")
    duration = info.get("duration_s") or 0.0
    if not REFERENCE_MIN_S <= duration <= settings.max_reference_s:
        raise InputError(f"the reference video is {duration:.1f} s; it must be {REFERENCE_MIN_S:g}–"
                         f"{settings.max_reference_s:g} s long")
    width, height = info.get("width") or 0, info.get("height") or 0
    if width < 64 or height < 64:
        raise InputError(f"the reference video is {width}×{height}; it must be at least 64×64")
    return CheckedReference(data, REFERENCE_TYPES[kind], kind, round(float(duration), 3), width, height)


def takes_reference(spec: ModelSpec) -> bool:
    return bool(spec.options.get("reference_video_field"))


def reference_problems(specs: list[ModelSpec], ref: CheckedReference | None) -> list[str]:
    """What the chosen models say about the reference video: needed, unused, or out of range."""
    takers = [s for s in specs if takes_reference(s)]
    if ref is None:
        return [f"{s.name} needs a reference video (the motion it follows)" for s in takers]
    if not takers:
        return ["none of the chosen models takes a reference video; remove it or add a motion-control model"]
    errors = []
    for s in takers:
        lo, hi = s.options.get("reference_duration_range", (REFERENCE_MIN_S, 1e9))
        if not lo <= ref.duration_s <= hi:
            errors.append(f"{s.name} takes reference videos of {lo:g}–{hi:g} s; this one is {ref.duration_s:.1f} s")
        side = s.options.get("reference_min_side")
        if side and min(ref.width, ref.height) < side:
            errors.append(f"{s.name} needs a reference video of at least {side}×{side}; this one is "
                          f"{ref.width}×{ref.height}")
    return errors


def reference_durations(specs: list[ModelSpec], ref: CheckedReference | None) -> dict[str, float]:
    """{model id: seconds} for the models that render the reference's length."""
    if ref is None:
        return {}
    return {s.id: ref.duration_s for s in specs if s.options.get("duration_from_reference")}
