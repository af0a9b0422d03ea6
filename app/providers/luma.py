"""Luma Dream Machine API (legacy Luma API): Ray 2 and Ray Flash 2, text-to-video.

Doc version followed: the official SDK lumaai 1.21.0 (`generations.create` → POST
/generations/video, `generations.get`/`delete` → /generations/{id}, GenerationCreateParams and
Generation types) and docs.lumalabs.ai "Video Generation" (the guide posts to /generations;
both paths exist), read 2026-11-25. Ray 3.2 is not on this API: it lives on the Luma Agents API
(app/providers/luma_agents.py).

Plain httpx rather than the lumaai SDK: it is Stainless-generated and retries POSTs by default,
and one HTTP stack is simpler. The SDK drives the fake in the tests.

Text-to-video only: Dream Machine keyframes (`keyframes.frame0 = {"type": "image", "url": …}`)
need a public image URL and this API documents no upload endpoint, so we cannot send a local
source image. The catalog entries are therefore t2v only.

Mapping: duration "5s" | "9s"; resolution 540p | 720p | 1080p | 4k; aspect ratios 1:1, 16:9,
9:16, 4:3, 3:4, 21:9, 9:21. No seed, no negative prompt, no audio. States: queued → queued,
dreaming → running, completed → assets.video, failed → failure_reason (moderation when Luma says
so, e.g. "400: prompt not allowed because advanced moderation failed"). Cancel: DELETE
/generations/{id} (Luma's only call that drops a generation; it does not say whether a running
generation stops billing).

Environment: LUMAAI_API_KEY, LUMA_BASE_URL (default https://api.lumalabs.ai/dream-machine/v1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, error_from_response
from app.providers.http import HttpProvider, json_object

if TYPE_CHECKING:
    from app.catalog import ModelSpec

DURATIONS = {5: "5s", 9: "9s"}
STATES = {"queued": "queued", "dreaming": "running"}   # generation states still under way
_MODERATION_WORDS = ("moderat", "not allowed", "safety", "policy", "inappropriate")
_QUOTA_WORDS = ("insufficient credit", "not enough credit", "insufficient balance", "billing")


class LumaProvider(HttpProvider):
    name = "luma"
    label = "Luma Dream Machine API"
    key_settings = ("lumaai_api_key",)
    docs = "Luma Dream Machine API (lumaai SDK 1.21.0 types; docs.lumalabs.ai video generation, 2026-11-25)"
    base_url_setting = "luma_base_url"
    safe_create_statuses = frozenset({503})

    def error(self, resp: httpx.Response) -> ProviderError:
        return luma_error(resp)

    def validate(self, model: ModelSpec, req: GenerationRequest) -> list[str]:
        """Rules the catalog cannot express; [] when the request is fine."""
        errors = super().validate(model, req)
        if req.has_image:
            errors.append(f"{model.name} on the Dream Machine API needs a public image URL for image-to-video; "
                          "local images cannot be sent (text-to-video only)")
        if int(round(req.duration_s)) not in DURATIONS or abs(req.duration_s - round(req.duration_s)) > 1e-9:
            errors.append(f"{model.name} accepts 5 or 9 s")
        return errors

    def build_body(self, model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
        body = {
            "model": model.endpoint,
            "prompt": req.prompt,
            "aspect_ratio": req.aspect_ratio,
            "duration": DURATIONS[int(round(req.duration_s))],
            "resolution": req.resolution,
        }
        if req.webhook_url:
            body["callback_url"] = req.webhook_url
        return body

    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        resp = await self.create_call(model, self.url("/generations/video"), self.build_body(model, req))
        return Submission(remote_id=self.created_id(resp, "id")[0])

    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        return status_from_generation(await self.get_json(self.url(f"/generations/{remote_id}"), what="status call"))

    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        resp = await self.call("DELETE", self.url(f"/generations/{remote_id}"), what="delete call")
        if resp.status_code < 400 or resp.status_code == 404:
            return
        raise luma_error(resp)


def status_from_generation(gen: dict[str, Any]) -> JobStatus:
    state = gen.get("state")
    if state in STATES:
        return JobStatus(STATES[state])  # type: ignore[arg-type]
    if state == "completed":
        url = (gen.get("assets") or {}).get("video")
        if not url:
            return JobStatus("failed", error=ProviderError("provider_error", "Luma reported completion but returned no video URL"))
        return JobStatus("succeeded", progress=1.0, result_url=url)
    if state == "failed":
        reason = gen.get("failure_reason") or "Luma reported the generation as failed without a reason"
        return JobStatus("failed", error=failure_error(reason))
    raise ProviderError("provider_error", f"Luma returned an unknown generation state {state!r}", retryable=True)


def failure_error(reason: str) -> ProviderError:
    low = reason.lower()
    if any(w in low for w in _MODERATION_WORDS):
        return ProviderError("moderation", reason)
    if any(w in low for w in _QUOTA_WORDS):
        return ProviderError("quota", reason)
    return ProviderError("provider_error", reason)


def luma_error(resp: httpx.Response) -> ProviderError:
    """Luma answers errors as `{"detail": "..."}`; a 400 that names moderation or credits is refined."""
    body = json_object(resp)
    detail = body.get("detail") or body.get("message") or body.get("error") or resp.text[:300] or f"HTTP {resp.status_code}"
    if not isinstance(detail, str):
        detail = str(detail)
    if resp.status_code == 400:
        refined = failure_error(detail)
        if refined.code in ("moderation", "quota"):
            refined.status = 400
            return refined
    return error_from_response(resp, detail)
