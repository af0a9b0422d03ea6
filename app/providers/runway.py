"""Runway API: Gen-4 Turbo (image-to-video) and Gen-4.5 (text- and image-to-video).

Doc version followed: API version header `X-Runway-Version: 2024-11-06`, the request/response
types of the official SDK runwayml 5.24.0 (text_to_video_create_params, image_to_video_create_params,
task_retrieve_response), and docs.dev.runwayml.com "HTTP Errors" and "Handle Task Failures"
(read 2026-11-25).

Plain httpx rather than the runwayml SDK: the SDK is Stainless-generated and retries POSTs on
408/409/429/5xx by default (a duplicate billed task), and httpx keeps one HTTP stack for every
adapter. The SDK is still used in the tests to hold our fake to Runway's own client.

Mapping notes:
- ratio is a pixel string: 16:9 → "1280:720", 9:16 → "720:1280", 4:3 → "1104:832",
  3:4 → "832:1104", 1:1 → "960:960", 21:9 → "1584:672" (gen4.5 text-to-video takes only the
  first two, so the catalog offers gen4.5 in 16:9 and 9:16 only).
- duration is an integer; seed is passed through; no negative prompt, no audio on these models.
- the source image travels as a data URI in `promptImage` (Runway accepts data URIs up to 5 MB;
  larger images are refused here with a clear message rather than uploaded).
- statuses: PENDING and THROTTLED (the tier's concurrency is full — queued, not an error) →
  queued; RUNNING (+progress) → running; SUCCEEDED → output[0]; FAILED → failureCode
  (SAFETY.* → moderation, terminal; INTERNAL.* → provider_error marked retryable, meaning a new
  attempt may well succeed; ASSET.* / INPUT.* → invalid_request); CANCELLED → cancelled.
- create errors: 502/503 are documented as "Runway is shedding load" (the request was refused,
  safe to retry); 500/504 and a lost answer may have created a task → "outcome_unknown".
- cancel: DELETE /v1/tasks/{id}.

Environment: RUNWAYML_API_SECRET, RUNWAY_BASE_URL (default https://api.dev.runwayml.com).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from app.providers._submit import image_data_uri
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, error_from_response
from app.providers.http import HttpProvider, json_object

if TYPE_CHECKING:
    from app.catalog import ModelSpec

RUNWAY_VERSION = "2024-11-06"
RATIOS = {"16:9": "1280:720", "9:16": "720:1280", "4:3": "1104:832", "3:4": "832:1104",
          "1:1": "960:960", "21:9": "1584:672"}
MAX_DATA_URI_BYTES = 5 * 1024 * 1024
MAX_PROMPT_UTF16 = 1000


class RunwayProvider(HttpProvider):
    name = "runway"
    label = "Runway API"
    key_settings = ("runwayml_api_secret",)
    docs = "Runway API 2024-11-06 (runwayml SDK 5.24.0 types; docs.dev.runwayml.com errors pages, 2026-11-25)"
    base_url_setting = "runway_base_url"
    safe_create_statuses = frozenset({502, 503})   # "Runway is shedding load": refused, safe to retry

    async def auth_headers(self) -> dict[str, str]:
        return {**await super().auth_headers(), "X-Runway-Version": RUNWAY_VERSION}

    def error(self, resp: httpx.Response) -> ProviderError:
        return runway_error(resp)

    def validate(self, model: ModelSpec, req: GenerationRequest) -> list[str]:
        """Rules the catalog cannot express; [] when the request is fine."""
        errors = super().validate(model, req)
        if abs(req.duration_s - round(req.duration_s)) > 1e-9:
            errors.append(f"{model.name} takes whole seconds only")
        if runway_ratio(model, req) is None:
            errors.append(f"{model.name} has no Runway ratio for {req.aspect_ratio}")
        limit = model.max_prompt_chars or MAX_PROMPT_UTF16
        if len(req.prompt.encode("utf-16-le")) // 2 > limit:
            errors.append(f"{model.name} accepts prompts of at most {limit} characters")
        size = req.image_size_bytes
        if size is not None and 4 * ((size + 2) // 3) > MAX_DATA_URI_BYTES:
            errors.append(f"the source image is too large for Runway ({size} bytes; "
                          f"about {MAX_DATA_URI_BYTES * 3 // 4 // 1024} KiB at most)")
        return errors

    def build_body(self, model: ModelSpec, req: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """(path, JSON body) for one create call."""
        body: dict[str, Any] = {"ratio": runway_ratio(model, req), "duration": int(round(req.duration_s))}
        if model.options.get("send_audio"):
            body["audio"] = bool(req.audio)
        if "resolution_values" in model.options:      # hailuo3 names its resolution apart from the ratio
            body["resolution"] = model.options["resolution_values"][req.resolution]
        if req.prompt:
            body["promptText"] = req.prompt
        if req.seed is not None and model.seed:
            body["seed"] = int(req.seed)
        if req.image is not None:
            body["model"] = model.endpoint_i2v or model.endpoint
            body["promptImage"] = image_data_uri(req)
            return "/v1/image_to_video", body
        body["model"] = model.endpoint
        return "/v1/text_to_video", body

    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        path, body = self.build_body(model, req)
        task_id, _ = self.created_id(await self.create_call(model, self.url(path), body), "id")
        return Submission(remote_id=task_id, meta={"path": path})

    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        resp = await self.call("GET", self.url(f"/v1/tasks/{remote_id}"), what="status call")
        if resp.status_code == 404:
            raise ProviderError("provider_error", f"Runway has no task {remote_id} (deleted?)", status=404)
        if resp.status_code >= 400:
            raise runway_error(resp)
        return status_from_task(self.read_json(resp, "status call"))

    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        resp = await self.call("DELETE", self.url(f"/v1/tasks/{remote_id}"), what="cancel call")
        if resp.status_code == 404 or resp.status_code < 400:
            return   # cancelled, or already gone
        raise runway_error(resp)


def runway_ratio(model: ModelSpec, req: GenerationRequest) -> str | None:
    """The `ratio` string Runway takes for this model: the entry's own table where it has one
    (`options.ratios`, keyed "16:9" or "16:9@1080p" where the string names the resolution, as
    veo3.1's "1920:1080" does), else the Gen-4 table RATIOS."""
    table = model.options.get("ratios")
    if table:
        return table.get(f"{req.aspect_ratio}@{req.resolution}") or table.get(req.aspect_ratio)
    return RATIOS.get(req.aspect_ratio)


def status_from_task(task: dict[str, Any]) -> JobStatus:
    status = task.get("status")
    if status in ("PENDING", "THROTTLED"):
        return JobStatus("queued", meta={"runway_status": status})
    if status == "RUNNING":
        progress = task.get("progress")
        return JobStatus("running", progress=float(progress) if isinstance(progress, (int, float)) else None)
    if status == "SUCCEEDED":
        output = task.get("output") or []
        if not output:
            return JobStatus("failed", error=ProviderError("provider_error", "Runway reported success but returned no output URL"))
        cost = task.get("cost") or {}
        usage = {"credits": cost["credits"]} if isinstance(cost.get("credits"), (int, float)) else None
        return JobStatus("succeeded", progress=1.0, result_url=output[0], usage=usage)
    if status == "FAILED":
        return JobStatus("failed", error=task_failure(task.get("failureCode"), task.get("failure")))
    if status == "CANCELLED":
        return JobStatus("cancelled", error=ProviderError("cancelled", "Runway reports the task as cancelled"))
    raise ProviderError("provider_error", f"Runway returned an unknown task status {status!r}", retryable=True)


def task_failure(failure_code: str | None, failure: str | None) -> ProviderError:
    text = failure or "Runway reported the task as failed without a reason"
    message = f"{text} ({failure_code})" if failure_code else text
    fc = failure_code or ""
    if fc.startswith("SAFETY."):
        return ProviderError("moderation", message)
    if fc.startswith("INTERNAL"):
        return ProviderError("provider_error", message, retryable=True)
    if fc.startswith(("ASSET.", "INPUT.")):
        return ProviderError("invalid_request", message)
    return ProviderError("provider_error", message)


def runway_error(resp: httpx.Response) -> ProviderError:
    """Runway errors are `{"error": "<human-readable explanation>"}` (400 documents it)."""
    body = json_object(resp)
    text = body.get("error") or body.get("message") or resp.text[:300] or f"HTTP {resp.status_code}"
    if isinstance(text, dict):
        text = text.get("message") or str(text)
    err = error_from_response(resp, str(text))
    if resp.status_code in (502, 503):
        err.retryable = True
    return err
