"""Request-body pieces several adapters share: the source image as bytes or a data URI, and
the option-driven input mapping of the hosting services (fal, Replicate).

Prefixed with "_" so the registry skips it. The HTTP calls themselves are in http.py.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.catalog import ModelSpec
    from app.providers.base import GenerationRequest


def image_bytes_and_mime(req: GenerationRequest) -> tuple[bytes, str]:
    assert req.image is not None
    mime = req.image_mime or mimetypes.guess_type(req.image.name)[0] or "image/png"
    return req.image.read_bytes(), mime


def image_data_uri(req: GenerationRequest) -> str:
    data, mime = image_bytes_and_mime(req)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def format_duration(seconds: float, fmt: str) -> Any:
    """Durations as providers spell them: "int" → 5, "s" → "5s", anything else → "5"."""
    if fmt == "int":
        return int(round(seconds))
    if fmt == "s":
        return f"{seconds:g}s"
    return f"{seconds:g}"


def input_from_options(model: ModelSpec, req: GenerationRequest, *, duration_format: str,
                       image_field: str) -> dict[str, Any]:
    """Our request → a hosted endpoint's input JSON, driven by the catalog entry's `options`.

    fal and Replicate both host many vendors' models whose inputs differ only in field names and
    spellings, so one mapping serves both; they differ only in their defaults (passed in).
    options: duration_field ("duration"), duration_format ("int" → 5, "s" → "5s", else "5"),
    send_duration, send_aspect_ratio, i2v_aspect_ratio (Kling i2v takes none), send_resolution,
    resolution_map ({"4k" = "2160p"}), image_field, audio_field ("generate_audio"), extra (fixed fields),
    rewrite_field (the prompt rewriter's switch: sent off unless the comparison allows rewriting,
    since a rewritten prompt changes what is compared), reference_video_field (where the
    comparison's reference video goes, as a data URI: fal Motion Control's `video_url`).
    """
    opts = model.options
    body: dict[str, Any] = {"prompt": req.prompt}
    if opts.get("send_duration", True):
        body[opts.get("duration_field", "duration")] = format_duration(
            req.duration_s, opts.get("duration_format", duration_format))
    if opts.get("send_aspect_ratio", True) and (not req.image or opts.get("i2v_aspect_ratio", True)):
        body["aspect_ratio"] = req.aspect_ratio
    if opts.get("send_resolution", True):
        body["resolution"] = dict(opts.get("resolution_map", {})).get(req.resolution, req.resolution)
    if model.audio == "optional":
        body[opts.get("audio_field", "generate_audio")] = bool(req.audio)
    if model.negative_prompt and req.negative_prompt:
        body["negative_prompt"] = req.negative_prompt
    if model.seed and req.seed is not None:
        body["seed"] = req.seed
    if req.image:
        body[opts.get("image_field", image_field)] = image_data_uri(req)
    if opts.get("reference_video_field") and req.reference_video is not None:
        mime = req.reference_mime or "video/mp4"
        data = base64.b64encode(req.reference_video.read_bytes()).decode("ascii")
        body[opts["reference_video_field"]] = f"data:{mime};base64,{data}"
    if opts.get("rewrite_field"):
        body[opts["rewrite_field"]] = bool(req.rewrite_prompt)
    body.update(opts.get("extra", {}))
    return body
