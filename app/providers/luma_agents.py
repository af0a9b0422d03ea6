"""Luma Agents API: Ray 3.2, text-to-video and image-to-video.

Doc version followed: the official SDK luma-agents 0.5.0 (`generations.create` → POST
/generations, `generations.get` → GET /generations/{id}; GenerationCreateParams,
VideoOptionsParam, ImageRefParam, Generation, GenerationFailureCode) and
docs.agents.lumalabs.ai "Error handling" and "Models" guides (read 2026-11-25). This is a second
module beside app/providers/luma.py because it is a second API: other host, other key, other
request and status shapes.

Plain httpx rather than the SDK (Stainless-generated, retries POSTs by default; one HTTP stack).
The SDK drives the fake in the tests.

Mapping: `{"type": "video", "model": "ray-3.2", "prompt", "aspect_ratio", "video": {"duration":
"5s" | "10s", "resolution": "360p" | "540p" | "720p" | "1080p"}}`. Image-to-video sends the
local image inline as `video.start_frame = {"data": <base64>, "media_type": <mime>}` (the API
takes url, inline data, generation_id or file_id); Ray 3.2 takes a start frame with 5 s clips
only, so a 10 s image-to-video request is refused before any call. No seed, negative prompt or
audio.

States: queued → queued, processing → running, completed → output[0].url (a presigned URL that
expires after an hour: download right away), failed → failure_code: content_moderated →
moderation (terminal); budget_exhausted → quota; rate_limited → rate_limit; generation_failed /
output_not_found → provider_error marked retryable (Luma: "retry same request");
image_too_large / unsupported_format / corrupt_input / invalid_request → invalid_request.
Synchronous errors carry `detail`; 502 and 503 are documented as retryable refusals, other 5xx
on the create call are "outcome_unknown". The API has no cancel endpoint: cancel is a no-op.

Environment: LUMA_AGENTS_API_KEY, LUMA_AGENTS_BASE_URL (default https://agents.lumalabs.ai/v1).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import httpx

from app.providers._submit import image_bytes_and_mime
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, error_from_response
from app.providers.http import HttpProvider, json_object

if TYPE_CHECKING:
    from app.catalog import ModelSpec

DURATIONS = {5: "5s", 10: "10s"}
I2V_DURATIONS = (5,)
STATES = {"queued": "queued", "processing": "running"}   # generation states still under way

FAILURE_CODES: dict[str, tuple[str, bool]] = {   # failure_code → (our code, worth a new attempt)
    "content_moderated": ("moderation", False),
    "budget_exhausted": ("quota", False),
    "rate_limited": ("rate_limit", True),
    "generation_failed": ("provider_error", True),
    "output_not_found": ("provider_error", True),
    "image_too_large": ("invalid_request", False),
    "unsupported_format": ("invalid_request", False),
    "corrupt_input": ("invalid_request", False),
    "invalid_request": ("invalid_request", False),
}


class LumaAgentsProvider(HttpProvider):
    name = "luma_agents"
    label = "Luma Agents API"
    key_settings = ("luma_agents_api_key",)
    docs = "Luma Agents API (luma-agents SDK 0.5.0 types; docs.agents.lumalabs.ai error handling + models, 2026-11-25)"
    base_url_setting = "luma_agents_base_url"
    safe_create_statuses = frozenset({502, 503})   # documented as retryable refusals

    def error(self, resp: httpx.Response) -> ProviderError:
        return agents_error(resp)

    def validate(self, model: ModelSpec, req: GenerationRequest) -> list[str]:
        """Rules the catalog cannot express; [] when the request is fine."""
        seconds = int(round(req.duration_s))
        if seconds not in DURATIONS or abs(req.duration_s - seconds) > 1e-9:
            return [f"{model.name} accepts 5 or 10 s"]
        i2v_durations = tuple(model.options.get("i2v_durations", I2V_DURATIONS))
        if req.has_image and seconds not in i2v_durations:
            accepted = ", ".join(str(d) for d in i2v_durations)
            return [f"{model.name} takes a source image with {accepted} s clips only ({seconds} s is text-to-video only)"]
        return super().validate(model, req)

    def build_body(self, model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
        video: dict[str, Any] = {"duration": DURATIONS[int(round(req.duration_s))], "resolution": req.resolution}
        if req.image is not None:
            data, mime = image_bytes_and_mime(req)
            video["start_frame"] = {"data": base64.b64encode(data).decode("ascii"), "media_type": mime}
        return {"type": "video", "model": (model.endpoint_i2v if req.image is not None and model.endpoint_i2v
                                           else model.endpoint),
                "prompt": req.prompt, "aspect_ratio": req.aspect_ratio, "video": video}

    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        resp = await self.create_call(model, self.url("/generations"), self.build_body(model, req))
        return Submission(remote_id=self.created_id(resp, "id")[0])

    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        return status_from_generation(await self.get_json(self.url(f"/generations/{remote_id}"), what="status call"))


def status_from_generation(gen: dict[str, Any]) -> JobStatus:
    state = gen.get("state")
    if state in STATES:
        return JobStatus(STATES[state])  # type: ignore[arg-type]
    if state == "completed":
        outputs = gen.get("output") or []
        url = next((o.get("url") for o in outputs if o.get("type") == "video" and o.get("url")), None)
        url = url or next((o.get("url") for o in outputs if o.get("url")), None)
        if not url:
            return JobStatus("failed", error=ProviderError("provider_error", "Luma reported completion but returned no output URL"))
        return JobStatus("succeeded", progress=1.0, result_url=url)
    if state == "failed":
        failure_code = gen.get("failure_code")
        reason = gen.get("failure_reason") or "Luma reported the generation as failed without a reason"
        code, retryable = FAILURE_CODES.get(failure_code or "", ("provider_error", False))
        message = f"{reason} ({failure_code})" if failure_code else reason
        return JobStatus("failed", error=ProviderError(code, message, retryable=retryable))
    raise ProviderError("provider_error", f"Luma Agents returned an unknown generation state {state!r}", retryable=True)


def agents_error(resp: httpx.Response) -> ProviderError:
    """Synchronous errors: branch on the HTTP status, keep `detail` (docs: error handling guide)."""
    body = json_object(resp)
    detail = body.get("detail") or body.get("message") or body.get("error") or resp.text[:300] or f"HTTP {resp.status_code}"
    if not isinstance(detail, str):
        detail = str(detail)
    err = error_from_response(resp, detail)
    if resp.status_code in (413, 422):
        err.code = "invalid_request"
    if resp.status_code in (502, 503):
        err.retryable = True
    return err
