"""Replicate predictions API: the official video models (kwaivgi, bytedance, minimax, wan-video,
lightricks, luma, google) run through one HTTP protocol.

Follows replicate.com/docs reference/http and topics/predictions (read 2026-11), the
2025-10-16 changelog "Set deadlines for predictions", and replicate-python 1.0.7 (whose
Prediction model, progress parsing and error shape the fake is checked against).

Plain httpx via `self.http`: the official client would be fine for submit (its RetryTransport
retries only idempotent methods, never POST) but it adds a second HTTP stack and hides the
status codes we map; the tests drive the fake with `replicate.Client` instead.

Protocol and choices:
- submit: `POST /v1/models/{owner}/{name}/predictions` with `{"input": {…}}` (an endpoint
  written `owner/name:version` goes to `POST /v1/predictions` with that version). Replicate
  has no idempotency key, so exactly one POST; the prediction id and its `urls.get/cancel`
  go into Submission.meta.
- deadline: every create sends `Cancel-After: <TAKE_TIMEOUT_S as whole minutes>m` (e.g. "30m").
  A prediction that has not *started* by then ends `aborted` and is not charged; one still
  running is `canceled` (and charged, as any run is). This way a take we gave up on cannot
  keep queueing at Replicate after our own deadline, even if our worker is gone.
- poll: `GET /v1/predictions/{id}`: starting → queued, processing → running (progress from
  the tqdm-style percentage in `logs`, as replicate-python parses it), succeeded → `output`
  (a URL string or a list of them; the first video URL is taken), failed → `error` (a
  string), canceled → cancelled, aborted → failed "timeout".
- moderation: Replicate gives no structured code, only the `error` string. We call it a
  moderation refusal when that string matches MODERATION_WORDS (NSFW, "flagged as sensitive",
  safety/content-policy wording, …): a heuristic, documented in docs/providers/replicate.md.
- 429 carries `Retry-After` (create limit 600/min); problem-details JSON bodies
  (`{"title","detail","status"}`) give the message we keep.
- output files on replicate.delivery are deleted one hour after an API prediction finishes:
  the jobs layer downloads right after success; an expired URL is code "download".
- images for image-to-video go inline as `data:` URIs (replicate-python's own "base64" file
  encoding strategy sends exactly that).

Per-model input names (`start_image` vs `image` vs `first_frame_image`, integer durations, …)
come from the catalog entry's `options`.

Environment: REPLICATE_API_TOKEN (required), REPLICATE_BASE_URL (default
https://api.replicate.com).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import httpx

from app.providers._submit import input_from_options
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, error_from_response
from app.providers.http import HttpProvider, json_value

if TYPE_CHECKING:
    from app.catalog import ModelSpec

MODERATION_WORDS = re.compile(
    r"nsfw|flagged as sensitive|sensitive content|safety (?:filter|check|system)|content (?:policy|moderation)"
    r"|moderat(?:ion|ed)|inappropriate|prohibited content|violat(?:es|ion of) .*polic|\bE005\b",
    re.IGNORECASE,
)
PROGRESS = re.compile(r"^\s*(\d+)%\s*\|.+?\|\s*(\d+)/(\d+)")


class ReplicateProvider(HttpProvider):
    name = "replicate"
    label = "Replicate"
    key_settings = ("replicate_api_token",)
    docs = "replicate.com/docs HTTP API (2026-11); changelog 2025-10-16 Cancel-After; replicate-python 1.0.7"
    base_url_setting = "replicate_base_url"
    safe_create_statuses = frozenset({503})   # unavailable: no prediction was made

    def error(self, resp: httpx.Response) -> ProviderError:
        return error_from_response(resp, problem_detail(resp))

    def create_error(self, model: ModelSpec, resp: httpx.Response) -> ProviderError | None:
        return submit_error(resp) if resp.status_code >= 400 else None

    def cancel_after(self) -> str:
        return f"{max(1, math.ceil(self.settings.take_timeout_s / 60))}m"

    # ------------------------------------------------------------------ submit
    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        endpoint = model.endpoint_i2v if (req.image and model.endpoint_i2v) else model.endpoint
        if not endpoint or "/" not in endpoint:
            raise ProviderError("invalid_request", f"{model.name} has no Replicate model id (owner/name)")
        body: dict[str, Any] = {"input": build_input(model, req)}
        if req.webhook_url:   # one call when it ends (succeeded, failed or canceled)
            body.update(webhook=req.webhook_url, webhook_events_filter=["completed"])
        if ":" in endpoint:
            url = self.url("/v1/predictions")
            body["version"] = endpoint.split(":", 1)[1]
        else:
            url = self.url(f"/v1/models/{endpoint}/predictions")
        headers = {**await self.auth_headers(), "Cancel-After": self.cancel_after()}
        pid, data = self.created_id(await self.create_call(model, url, body, headers), "id")
        urls = data.get("urls") or {}
        meta = {k: urls[k] for k in ("get", "cancel") if urls.get(k)}
        return Submission(remote_id=pid, meta=meta)

    # ------------------------------------------------------------------ poll
    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        url = meta.get("get") or self.url(f"/v1/predictions/{remote_id}")
        resp = await self.call("GET", url, what="prediction read")
        if resp.status_code == 404:
            raise ProviderError("provider_error", f"Replicate does not know prediction {remote_id}: {problem_detail(resp)}",
                                status=404)
        if resp.status_code >= 400:
            raise self.error(resp)
        return prediction_status(self.read_json(resp, "prediction read"))

    # ------------------------------------------------------------------ cancel
    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        url = meta.get("cancel") or self.url(f"/v1/predictions/{remote_id}/cancel")
        resp = await self.call("POST", url, what="cancel")
        if resp.status_code >= 400 and resp.status_code != 404:
            raise self.error(resp)


# ---------------------------------------------------------------------- mapping
def build_input(model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
    """Our request → the model's `input` (`_submit.input_from_options` lists the options).
    Replicate's models mostly take integer durations and the image as `image`."""
    return input_from_options(model, req, duration_format="int", image_field="image")


def prediction_status(data: dict[str, Any]) -> JobStatus:
    status = data.get("status")
    if status == "starting":
        return JobStatus("queued")
    if status == "processing":
        return JobStatus("running", progress=progress_from_logs(data.get("logs")))
    if status == "succeeded":
        url = first_url(data.get("output"))
        if not url:
            return JobStatus("failed", error=ProviderError(
                "provider_error", f"Replicate finished without a video URL in its output: {str(data.get('output'))[:300]}"))
        predict = (data.get("metrics") or {}).get("predict_time")
        usage = {"predict_time": float(predict)} if isinstance(predict, (int, float)) else None
        return JobStatus("succeeded", progress=1.0, result_url=url, usage=usage)
    if status == "failed":
        return JobStatus("failed", error=failure(str(data.get("error") or "the prediction failed without a message")))
    if status == "canceled":
        return JobStatus("cancelled", error=ProviderError("cancelled", "the prediction was canceled"))
    if status == "aborted":
        return JobStatus("failed", error=ProviderError(
            "timeout", "Replicate aborted the prediction: it had not started before our Cancel-After deadline (not charged)"))
    raise ProviderError("provider_error", f"Replicate returned an unknown status {status!r}", retryable=True)


def failure(message: str) -> ProviderError:
    if MODERATION_WORDS.search(message):
        return ProviderError("moderation", message)
    low = message.lower()
    if "timed out" in low or "timeout" in low:
        return ProviderError("timeout", message)
    if "invalid" in low or "must be" in low or "validation" in low:
        return ProviderError("invalid_request", message)
    return ProviderError("provider_error", message)


def first_url(output: Any) -> str | None:
    """`output` is a URL string or a list of them for video models; some wrap it in a dict."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        urls = [u for u in output if isinstance(u, str)]
        videos = [u for u in urls if re.search(r"\.(mp4|mov|webm)(\?|$)", u)]
        return (videos or urls or [None])[0]
    if isinstance(output, dict):
        for key in ("video", "url", "output"):
            if isinstance(output.get(key), str):
                return output[key]
    return None


def progress_from_logs(logs: Any) -> float | None:
    if not isinstance(logs, str):
        return None
    for line in reversed(logs.splitlines()):
        m = PROGRESS.match(line.strip())
        if m:
            return max(0.0, min(1.0, int(m.group(1)) / 100))
    return None


def problem_detail(resp: httpx.Response) -> str:
    """Replicate's problem-details body: `detail` (and `title`), kept as Replicate wrote it."""
    body = json_value(resp)
    if body is None:
        return f"HTTP {resp.status_code}: {resp.text[:300]}"
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("error") or body.get("title")
        if detail:
            return str(detail)
    return f"HTTP {resp.status_code}: {str(body)[:300]}"


def submit_error(resp: httpx.Response) -> ProviderError:
    """A refused create: a 422 naming moderation is one; the rest map by status."""
    status = resp.status_code
    detail = problem_detail(resp)
    if status == 422 and MODERATION_WORDS.search(detail):
        return ProviderError("moderation", detail, status=status)
    return error_from_response(resp, detail)
