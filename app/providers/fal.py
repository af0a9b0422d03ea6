"""fal.ai queue API: Kling, Seedance, Hailuo, Wan, LTX, Veo and Luma Ray endpoints hosted by fal.

Follows docs.fal.ai (queue, errors, fal CDN pages, read 2026-11) and the endpoint input types of
fal-ai/fal-js `libs/client/src/types/endpoints.ts` @381105e (2026-08-02), as summarised in
docs/providers/fal.md.

Plain httpx, not `fal_client`: the SDK retries the submit POST up to 10 times (408/409/429,
502/503/504, transport errors) and fal has no idempotency key, so one lost response could buy
several clips. Here submit is exactly one POST; polls, result fetches and cancels are safe to
repeat and are retried by the jobs layer. The SDK is still used in the tests, to hold the fake
to fal's own client.

Protocol:
- submit: `POST {FAL_QUEUE_URL}/{endpoint_id}` with the model input as JSON. fal answers with
  `request_id`, `status_url`, `response_url` and `cancel_url`; those URLs use only
  `{owner}/{alias}` of the endpoint, so we store and use the returned ones (Submission.meta)
  instead of building them. `X-Fal-Request-Timeout` (our take deadline) makes fal drop a
  request that never started, so a stuck queue does not bill us later.
- poll: `GET status_url?logs=1` → IN_QUEUE | IN_PROGRESS | COMPLETED. COMPLETED may still carry
  `error`/`error_type`; otherwise `GET response_url` returns the model output
  (`{"video": {"url": …}}`) or a 4xx with a `detail` list: `type == "content_policy_violation"`
  is a moderation refusal (terminal), other 422s are validation errors.
- cancel: `PUT cancel_url`; ALREADY_COMPLETED / NOT_FOUND are not errors for us.
- images for image-to-video are sent inline as base64 `data:` URIs: fal's CDN page says models
  "also accept data URIs" but that URLs are the universal format. An endpoint that refuses a
  data URI answers 422 and the take fails with fal's message; uploading to fal's CDN first is
  the fallback if that ever shows up (not implemented: the SDK's upload path retries too).

Per-model request quirks (duration as "5" / "5s" / 5, `image_url` vs `start_image_url`, no
aspect ratio on Kling image-to-video, LTX's "2160p") live in the catalog entry's `options`, so
a new fal endpoint is a TOML edit, not code.

Environment: FAL_KEY (required, `key_id:key_secret`), FAL_QUEUE_URL (default
https://queue.fal.run).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from app.providers._submit import input_from_options
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, error_from_response
from app.providers.http import HttpProvider, json_value

if TYPE_CHECKING:
    from app.catalog import ModelSpec


class FalProvider(HttpProvider):
    name = "fal"
    label = "fal.ai"
    key_settings = ("fal_key",)
    docs = "docs.fal.ai queue API (2026-11); fal-js endpoints.ts @381105e (2026-08-02)"
    base_url_setting = "fal_queue_url"
    safe_create_statuses = frozenset({503})   # fal's "try again": nothing was queued
    auth_scheme = "Key"

    # ------------------------------------------------------------------ helpers
    def create_error(self, model: ModelSpec, resp: httpx.Response) -> ProviderError | None:
        return submit_error(resp) if resp.status_code >= 400 else None

    def _request_urls(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> dict[str, str]:
        """The URLs fal returned at submit; rebuilt from the endpoint only for rows saved without them."""
        owner, alias = (meta.get("endpoint") or model.endpoint).split("/")[:2]
        base = f"{self.url()}/{owner}/{alias}/requests/{remote_id}"
        return {
            "status_url": meta.get("status_url") or f"{base}/status",
            "response_url": meta.get("response_url") or base,
            "cancel_url": meta.get("cancel_url") or f"{base}/cancel",
        }

    # ------------------------------------------------------------------ submit
    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        endpoint = model.endpoint_i2v if (req.image and model.endpoint_i2v) else model.endpoint
        if not endpoint:
            raise ProviderError("invalid_request", f"{model.name} has no fal endpoint for this mode")
        headers = {**await self.auth_headers(), "X-Fal-Request-Timeout": str(int(self.settings.take_timeout_s))}
        url = f"{self.url()}/{endpoint}"
        if req.webhook_url:   # fal's queue POSTs the result there, signed (app/hooks.py)
            url += "?" + urlencode({"fal_webhook": req.webhook_url})
        resp = await self.create_call(model, url, build_input(model, req), headers)
        request_id, data = self.created_id(resp, "request_id")
        meta = {"endpoint": endpoint}
        for key in ("status_url", "response_url", "cancel_url"):
            if data.get(key):
                meta[key] = data[key]
        return Submission(remote_id=request_id, meta=meta)

    # ------------------------------------------------------------------ poll
    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        urls = self._request_urls(model, remote_id, meta)
        resp = await self.call("GET", urls["status_url"], what="status check", params={"logs": "1"})
        if resp.status_code == 404:
            raise ProviderError("provider_error", f"fal does not know request {remote_id}: {_detail(resp)}", status=404)
        if resp.status_code >= 400:
            raise error_from_response(resp, f"fal status check failed (HTTP {resp.status_code}): {_detail(resp)}")
        data = self.read_json(resp, "status check")
        status = data.get("status")
        if status == "IN_QUEUE":
            return JobStatus("queued", meta={"queue_position": data.get("queue_position")})
        if status == "IN_PROGRESS":
            return JobStatus("running", progress=_progress_from_logs(data.get("logs")))
        if status != "COMPLETED":
            raise ProviderError("provider_error", f"fal returned an unknown status {status!r}", retryable=True)
        if data.get("error"):
            if _was_cancelled(data.get("error_type"), str(data["error"])):
                return JobStatus("cancelled", error=ProviderError("cancelled", str(data["error"])))
            return JobStatus("failed", error=_completed_error(data.get("error_type"), str(data["error"])))
        return await self._result(urls["response_url"])

    async def _result(self, response_url: str) -> JobStatus:
        resp = await self.call("GET", response_url, what="result fetch")
        status = resp.status_code
        if status == 200:
            data = json_value(resp, {})
            video = data.get("video") if isinstance(data, dict) else None
            url = video.get("url") if isinstance(video, dict) else None
            if not url:
                return JobStatus("failed", error=ProviderError(
                    "provider_error", f"fal finished without a video in its output: {str(data)[:300]}"))
            meta = {"seed": data.get("seed")}
            if isinstance(data.get("actual_prompt"), str) and data["actual_prompt"].strip():
                meta["rewritten_prompt"] = data["actual_prompt"]   # Wan's expanded prompt (fal-js output type)
            return JobStatus("succeeded", progress=1.0, result_url=url, meta=meta)
        if status == 504 and resp.headers.get("x-fal-request-timeout-type"):
            # Our X-Fal-Request-Timeout ran out before the request started (fal_client treats
            # this 504 as final too): terminal, and not billed.
            return JobStatus("failed", error=ProviderError(
                "timeout", f"fal dropped the request: it had not started within our deadline ({_detail(resp)})", status=504))
        if status in (429, 502, 503, 504) or (status >= 500 and not _has_json(resp)):
            raise error_from_response(resp, f"fal result fetch failed (HTTP {status}): {_detail(resp)}")
        if status in (401, 403):
            raise error_from_response(resp)
        # fal reports a failed run on the result GET: 4xx/5xx with a `detail`. Terminal.
        return JobStatus("failed", error=result_error(resp))

    # ------------------------------------------------------------------ cancel
    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        url = self._request_urls(model, remote_id, meta)["cancel_url"]
        resp = await self.call("PUT", url, what="cancel")
        if resp.status_code < 300:
            return
        body = json_value(resp, {}) if resp.headers.get("content-type", "").startswith("application/json") else {}
        if isinstance(body, dict) and body.get("status") in ("ALREADY_COMPLETED", "NOT_FOUND"):
            return  # nothing left to stop
        raise error_from_response(resp, f"fal cancel failed (HTTP {resp.status_code}): {_detail(resp)}")


# ---------------------------------------------------------------------- request mapping
def build_input(model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
    """Our request → the endpoint's input JSON (`_submit.input_from_options` lists the options).
    fal's endpoints mostly spell durations as strings ("5") and take the image as `image_url`."""
    return input_from_options(model, req, duration_format="str", image_field="image_url")


# ---------------------------------------------------------------------- HTTP + errors
def submit_error(resp: httpx.Response) -> ProviderError:
    """A refused submit, in fal's words (HttpProvider decides which 5xx leave the outcome unknown)."""
    status = resp.status_code
    detail = _detail(resp)
    if status == 422:
        return result_error(resp)
    if status == 403 and _mentions(detail, "balance", "locked", "billing"):
        return ProviderError("quota", detail, status=status)
    return error_from_response(resp, detail)


def result_error(resp: httpx.Response) -> ProviderError:
    """fal's error body (`detail` list with `type`, or a string) → our code, fal's words kept."""
    status = resp.status_code
    detail = _detail(resp)
    types = {item.get("type") for item in _detail_items(resp)}
    error_type = _json_field(resp, "error_type") or resp.headers.get("x-fal-error-type")
    if "content_policy_violation" in types or error_type == "content_policy_violation":
        return ProviderError("moderation", detail, status=status)
    if status in (408, 504) or error_type in ("request_timeout", "startup_timeout"):
        return ProviderError("timeout", detail, status=status)
    if 400 <= status < 500:
        return ProviderError("invalid_request", detail, status=status)
    return ProviderError("provider_error", detail, status=status)


def _was_cancelled(error_type: str | None, message: str) -> bool:
    """fal documents no error_type for a cancelled request; we read its type or words (heuristic)."""
    return bool(error_type and "cancel" in error_type.lower()) or "cancelled" in message.lower()


def _completed_error(error_type: str | None, message: str) -> ProviderError:
    if error_type == "content_policy_violation":
        return ProviderError("moderation", message)
    if error_type in ("request_timeout", "startup_timeout", "generation_timeout"):
        return ProviderError("timeout", message)
    if error_type and ("validation" in error_type or error_type.startswith("invalid")):
        return ProviderError("invalid_request", message)
    return ProviderError("provider_error", message)


def _progress_from_logs(logs: Any) -> float | None:
    """Some fal apps log a percentage; most do not. The last one wins."""
    if not isinstance(logs, list):
        return None
    for entry in reversed(logs):
        msg = entry.get("message", "") if isinstance(entry, dict) else str(entry)
        m = re.search(r"(\d{1,3}(?:\.\d+)?)\s*%", msg)
        if m:
            return max(0.0, min(1.0, float(m.group(1)) / 100))
    return None


def _has_json(resp: httpx.Response) -> bool:
    try:
        resp.json()
    except ValueError:
        return False
    return True


def _json_field(resp: httpx.Response, key: str) -> Any:
    data = json_value(resp, {})
    return data.get(key) if isinstance(data, dict) else None


def _detail_items(resp: httpx.Response) -> list[dict[str, Any]]:
    data = json_value(resp, {})
    detail = data.get("detail") if isinstance(data, dict) else data
    if isinstance(detail, list):
        return [d for d in detail if isinstance(d, dict)]
    return []


def _detail(resp: httpx.Response) -> str:
    """The provider's own words: `detail` as fal sends it (a string or a list of {loc,msg,type})."""
    items = _detail_items(resp)
    if items:
        parts = []
        for item in items:
            loc = ".".join(str(x) for x in item.get("loc", []) if x != "body")
            msg = item.get("msg") or item.get("type") or str(item)
            parts.append(f"{loc}: {msg}" if loc else str(msg))
        return "; ".join(parts)
    data = json_value(resp, {})
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            if data.get(key):
                return str(data[key])
    return f"HTTP {resp.status_code}: {resp.text[:300]}" if resp.text else f"HTTP {resp.status_code}"


def _mentions(text: str, *words: str) -> bool:
    low = text.lower()
    return any(w in low for w in words)
