"""Google video models on the Gemini API: Veo (predictLongRunning + operations) and Gemini Omni
Flash (the Interactions API).

What is live, as far as we could check (November 2026, see docs/providers/google.md):
- The Veo 3.1 *preview* ids (veo-3.1-generate-preview, -fast-, -lite-) were shut down on the
  Gemini API on 2026-10-22 and answer 404 "is no longer available" (docs/providers/google.md
  §Models, secondary notices citing ai.google.dev/gemini-api/docs/deprecations). Catalog: `retired`.
- google-genai 3.6.1 (the installed official SDK) says "Currently, only Gemini Enterprise Agent
  Platform supports video generation" and raises ValueError for `models.generate_videos` in
  Gemini-API mode; its examples use veo-3.1-generate-001 on Vertex. Whether the Gemini API
  still serves any Veo id through predictLongRunning is not confirmed: the -001 entries are
  `unverified`. The protocol below follows the Veo 3.1 guide (ai.google.dev/gemini-api/docs/veo)
  and the SDK's mldev converters for the operation (`_GenerateVideosOperation_from_mldev`).
  Veo on Vertex AI, where the SDK does create video jobs and the -001 ids are served, is its own
  provider: app/providers/vertex.py (catalog vertex/veo-3.1, vertex/veo-3.1-fast;
  docs/providers/vertex.md).
- Gemini Omni Flash (gemini-omni-1.1-flash, gemini-omni-1.2-flash) is the recommended video
  model and is served only by the Interactions API. The ids and the request/response schema
  come from the official SDK's generated types (google-genai 3.6.1 `_gaos/types/interactions`:
  CreateModelInteraction, Interaction, VideoResponseFormat, VideoContent, ModelOutputStep) and
  its resource paths (`POST /{version}/interactions`, `GET …/{id}`, `POST …/{id}/cancel`);
  the SDK's default Gemini-API version is v1. Nothing here was run against the live service.

Plain httpx via `self.http` (one HTTP stack, explicit status mapping, and the SDK cannot create
Veo jobs on the Gemini API any more). The tests drive the fake with `google.genai.Client`:
`operations.get` for Veo operations and `interactions.create/get/cancel` for Omni.

Veo (options.api = "predict", default):
- submit: `POST {base}/v1beta/models/{model}:predictLongRunning`, header `x-goog-api-key`,
  `{"instances": [{"prompt", "image": {"bytesBase64Encoded", "mimeType"}}], "parameters":
  {"aspectRatio", "resolution", "durationSeconds", "negativePrompt", "sampleCount": 1}}`. No
  `seed` / `generateAudio`: the Gemini API refuses them (Vertex-only), audio is always on.
  `personGeneration` is left to the model's default (its allowed value differs between t2v,
  i2v and EU/UK/CH/MENA regions); `options.person_generation` sets it when needed.
- poll: `GET {base}/v1beta/{operation name}` until `done`; then `error` (google.rpc.Status)
  → mapped, `response.generateVideoResponse.raiMediaFilteredCount > 0` → moderation with
  `raiMediaFilteredReasons`, else `generatedSamples[0].video.uri`.
- download: the video URI needs the API key (`download_headers`, only sent to the API's own
  host). The Files download redirects to storage; that first hop is taken by hand so the key
  is not carried to the redirect target. Google keeps generated videos for two days.
- cancel: no cancel call is documented for Veo operations on the Gemini API: nothing to do.

Gemini Omni (options.api = "interactions"):
- submit: `POST {base}/v1/interactions` with `{"model", "input": text | [text, image]`,
  `"background": true, "response_modalities": ["video"], "response_format": {"type": "video",
  "aspect_ratio", "resolution", "duration": "8s", "delivery": "uri"}}`. The SDK types the
  duration as a string; "8s" is the JSON form of google.protobuf.Duration (our reading).
- poll: `GET {base}/v1/interactions/{id}`: queued / in_progress / completed / failed /
  cancelled / incomplete / budget_exceeded. The video is `output_video` or the `video` block of
  the last `model_output` step: a `uri` (downloaded with the key) or inline base64 `data`
  (fetched again at download time, so the poll result stays small).
- moderation: no documented code; a failed interaction whose error code or message reads like
  a safety block is called moderation (heuristic).
- cancel: `POST {base}/v1/interactions/{id}/cancel`.

Environment: GEMINI_API_KEY (required), GEMINI_BASE_URL (default
https://generativelanguage.googleapis.com).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from app.providers._submit import image_bytes_and_mime
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, looks_like_video, retry_after_s
from app.providers.base import stream_download
from app.providers.http import HttpProvider, json_object

if TYPE_CHECKING:
    from app.catalog import ModelSpec

SAFETY_WORDS = re.compile(r"safety|responsible ai|usage guidelines|prohibited[ _]content|content policy|"
                          r"sensitive|celebrit|violat|\brai\b|blocked for", re.IGNORECASE)
# google.rpc.Code → our code, for operation.error and error bodies without an HTTP status.
RPC_CODES = {3: "invalid_request", 5: "invalid_request", 9: "invalid_request", 11: "invalid_request",
             7: "auth", 16: "auth", 8: "rate_limit", 4: "timeout", 1: "cancelled"}
INTERACTION_STATES = {"queued": "queued", "in_progress": "running", "idle": "queued"}


class GoogleProvider(HttpProvider):
    name = "google"
    label = "Google Gemini API (Veo, Gemini Omni)"
    key_settings = ("gemini_api_key",)
    docs = "ai.google.dev Veo 3.1 guide + deprecations (2026-11); google-genai 3.6.1 interactions types, mldev converters"
    base_url_setting = "gemini_base_url"
    safe_create_statuses = frozenset({503})   # UNAVAILABLE: nothing was created, try again

    async def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.settings.gemini_api_key or "", "Accept": "application/json"}

    def error(self, resp: httpx.Response) -> ProviderError:
        return google_error(resp)

    def create_error(self, model: ModelSpec, resp: httpx.Response) -> ProviderError | None:
        return submit_error(model, resp) if resp.status_code >= 400 else None

    def _version(self, model: ModelSpec) -> str:
        default = "v1" if _api(model) == "interactions" else "v1beta"
        return str(model.options.get("api_version", default))

    # ------------------------------------------------------------------ submit
    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        if _api(model) == "interactions":
            url = f"{self.url()}/{self._version(model)}/interactions"
            body = interaction_body(model, req)
        else:
            url = f"{self.url()}/{self._version(model)}/models/{model.endpoint}:predictLongRunning"
            body = predict_body(model, req)
        resp = await self.create_call(model, url, body)
        handle, _ = self.created_id(resp, "id" if _api(model) == "interactions" else "name")
        return Submission(remote_id=handle, meta={"api": _api(model)})

    # ------------------------------------------------------------------ poll
    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        data = await self._get_job(model, remote_id)
        if _api(model) == "interactions":
            return interaction_status(data, remote_id)
        return operation_status(data, remote_id)

    async def _get_job(self, model: ModelSpec, remote_id: str) -> dict[str, Any]:
        if _api(model) == "interactions":
            url = f"{self.url()}/{self._version(model)}/interactions/{remote_id}"
        else:
            url = f"{self.url()}/{self._version(model)}/{remote_id}"
        resp = await self.call("GET", url, what="job read")
        if resp.status_code >= 400:
            raise read_error(resp, self.service, remote_id)
        return self.read_json(resp, "job read")

    # ------------------------------------------------------------------ cancel
    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        if _api(model) != "interactions":
            return  # Veo operations on the Gemini API have no documented cancel
        url = f"{self.url()}/{self._version(model)}/interactions/{remote_id}/cancel"
        resp = await self.call("POST", url, what="cancel")
        if resp.status_code >= 400 and resp.status_code not in (404, 409):
            raise google_error(resp)

    # ------------------------------------------------------------------ download
    def download_headers(self, url: str) -> dict[str, str]:
        """Generated-video URIs need the API key; never send it to another host."""
        if urlsplit(url).netloc == urlsplit(self.url()).netloc:
            return {"x-goog-api-key": self.settings.gemini_api_key or ""}
        return {}

    async def download(self, model: ModelSpec, status: JobStatus, dest: Path, max_bytes: int) -> None:
        if status.meta.get("inline"):
            await self._download_inline(model, status.meta["remote_id"], dest, max_bytes)
            return
        if not status.result_url:
            raise ProviderError("download", "the provider reported success but gave no video URL")
        url, headers = await self._resolve_redirect(status.result_url)
        await stream_download(self.http, url, dest, max_bytes, headers=headers)

    async def _resolve_redirect(self, url: str) -> tuple[str, dict[str, str]]:
        """The Files download answers with a redirect to storage. httpx would carry our custom
        `x-goog-api-key` header along (it only strips `Authorization` across origins), so the
        first hop is taken by hand and the key is only ever sent to the API's own host."""
        headers = self.download_headers(url)
        if not headers:
            return url, {}
        try:
            resp = await self.http.send(self.http.build_request("GET", url, headers=headers), stream=True,
                                        follow_redirects=False)
        except httpx.HTTPError as exc:
            raise ProviderError("download", f"download interrupted: {exc!r}", retryable=True) from exc
        try:
            location = resp.headers.get("location")
            if resp.is_redirect and location:
                target = urljoin(url, location)
                return target, self.download_headers(target)
        finally:
            await resp.aclose()
        return url, headers

    async def _download_inline(self, model: ModelSpec, remote_id: str, dest: Path, max_bytes: int) -> None:
        """The video came back as base64 in the job itself: fetch the job again and decode it."""
        try:
            data = await self._get_job(model, remote_id)
        except ProviderError as exc:
            raise ProviderError("download", exc.message, retryable=exc.retryable, retry_after=exc.retry_after,
                                status=exc.status) from exc
        video = find_interaction_video(data) if _api(model) == "interactions" else _first_sample(data)
        video = video or {}
        # Inline bytes: `encodedVideo` on a Veo sample (the SDK's mldev converter), `data` on an
        # Interactions video block.
        encoded = video.get("encodedVideo") or video.get("data") or video.get("bytesBase64Encoded")
        if not encoded:
            raise ProviderError("download", "the finished job no longer carries its video")
        if len(encoded) * 3 // 4 > max_bytes:
            raise ProviderError("download", f"result is over the {max_bytes}-byte cap")
        try:
            raw = base64.b64decode(encoded, validate=False)
        except ValueError as exc:
            raise ProviderError("download", f"the inline video is not valid base64: {exc}") from exc
        if not looks_like_video(raw[:16]):
            raise ProviderError("download", "the provider's result is not a video file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        tmp.write_bytes(raw)
        tmp.replace(dest)


def _api(model: ModelSpec) -> str:
    return str(model.options.get("api", "predict"))


# ---------------------------------------------------------------------- request bodies
def predict_body(model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
    instance: dict[str, Any] = {"prompt": req.prompt}
    if req.image:
        data, mime = image_bytes_and_mime(req)
        instance["image"] = {"bytesBase64Encoded": base64.b64encode(data).decode("ascii"), "mimeType": mime}
    params: dict[str, Any] = {
        "aspectRatio": req.aspect_ratio,
        "resolution": req.resolution,
        "durationSeconds": int(round(req.duration_s)),
        "sampleCount": 1,
    }
    if model.negative_prompt and req.negative_prompt:
        params["negativePrompt"] = req.negative_prompt
    if model.options.get("person_generation"):
        params["personGeneration"] = model.options["person_generation"]
    return {"instances": [instance], "parameters": params}


def interaction_body(model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
    if req.image:
        data, mime = image_bytes_and_mime(req)
        content: Any = [{"type": "text", "text": req.prompt},
                        {"type": "image", "data": base64.b64encode(data).decode("ascii"), "mime_type": mime}]
    else:
        content = req.prompt
    fmt: dict[str, Any] = {"type": "video", "aspect_ratio": req.aspect_ratio, "resolution": req.resolution,
                           "duration": f"{req.duration_s:g}s", "delivery": "uri"}
    return {
        "model": model.endpoint,
        "input": content,
        "background": True,
        "response_modalities": ["video"],
        "response_format": fmt,
        "generation_config": {"video_config": {"task": "image_to_video" if req.image else "text_to_video"}},
    }


# ---------------------------------------------------------------------- statuses
def operation_status(op: dict[str, Any], remote_id: str) -> JobStatus:
    if not op.get("done"):
        return JobStatus("running")
    if op.get("error"):
        return JobStatus("failed", error=rpc_error(op["error"]))
    resp = (op.get("response") or {}).get("generateVideoResponse") or {}
    samples = resp.get("generatedSamples") or []
    filtered = int(resp.get("raiMediaFilteredCount") or 0)
    if filtered and not samples:
        reasons = "; ".join(str(r) for r in resp.get("raiMediaFilteredReasons") or [])
        return JobStatus("failed", error=ProviderError(
            "moderation", reasons or f"Veo filtered {filtered} video(s) for safety (no reason given)"))
    video = _first_sample(op)
    if not video:
        return JobStatus("failed", error=ProviderError(
            "provider_error", f"Veo finished without a video: {str(resp)[:300]}"))
    return video_ready(video, remote_id)


def video_ready(video: dict[str, Any], remote_id: str) -> JobStatus:
    """A finished video: at its URI, or inline (fetched again at download, so polls stay small)."""
    if video.get("uri"):
        return JobStatus("succeeded", progress=1.0, result_url=video["uri"])
    return JobStatus("succeeded", progress=1.0, meta={"inline": True, "remote_id": remote_id})


def _first_sample(op: dict[str, Any]) -> dict[str, Any] | None:
    samples = (((op.get("response") or {}).get("generateVideoResponse") or {}).get("generatedSamples")) or []
    return (samples[0] or {}).get("video") if samples else None


def interaction_status(data: dict[str, Any], remote_id: str) -> JobStatus:
    status = data.get("status")
    if status in INTERACTION_STATES:
        return JobStatus(INTERACTION_STATES[status])  # type: ignore[arg-type]
    if status == "completed":
        video = find_interaction_video(data)
        if not video:
            return JobStatus("failed", error=ProviderError(
                "provider_error", f"Gemini finished without a video: {str(data.get('output_text') or '')[:300]}"))
        return video_ready(video, remote_id)
    if status == "cancelled":
        return JobStatus("cancelled", error=ProviderError("cancelled", "the interaction was cancelled"))
    if status == "failed":
        return JobStatus("failed", error=interaction_error(data))
    if status == "budget_exceeded":
        return JobStatus("failed", error=ProviderError("quota", _interaction_message(data) or "budget exceeded"))
    if status == "incomplete":
        return JobStatus("failed", error=ProviderError(
            "provider_error", _interaction_message(data) or "the interaction ended incomplete, without a video"))
    if status in ("requires_action", "requires_continuation"):
        return JobStatus("failed", error=ProviderError(
            "invalid_request", f"the interaction stopped in state {status!r}, which a video request never expects"))
    raise ProviderError("provider_error", f"the Gemini API returned an unknown interaction status {status!r}",
                        retryable=True)


def find_interaction_video(data: dict[str, Any]) -> dict[str, Any] | None:
    video = data.get("output_video")
    if isinstance(video, dict) and (video.get("uri") or video.get("data")):
        return video
    for step in reversed(data.get("steps") or []):
        if isinstance(step, dict) and step.get("type") == "model_output":
            for block in step.get("content") or []:
                if isinstance(block, dict) and block.get("type") == "video" and (block.get("uri") or block.get("data")):
                    return block
    return None


def _interaction_message(data: dict[str, Any]) -> str:
    parts = [str(e.get("message") or e.get("code")) for e in data.get("errors") or [] if isinstance(e, dict)]
    for step in data.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("error"), dict):
            parts.append(str(step["error"].get("message") or step["error"]))
    return "; ".join(p for p in parts if p)


def interaction_error(data: dict[str, Any]) -> ProviderError:
    message = _interaction_message(data) or "the interaction failed without a message"
    codes = " ".join(str(e.get("code", "")) for e in data.get("errors") or [] if isinstance(e, dict))
    if SAFETY_WORDS.search(message) or SAFETY_WORDS.search(codes):
        return ProviderError("moderation", message)
    for step in data.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("error"), dict) and step["error"].get("code"):
            return rpc_error(step["error"])
    return ProviderError("provider_error", message)


def rpc_error(status: dict[str, Any]) -> ProviderError:
    """google.rpc.Status {code, message, details} from a finished operation → our code."""
    message = str(status.get("message") or status)
    code = status.get("code")
    if SAFETY_WORDS.search(message):
        return ProviderError("moderation", message)
    return ProviderError(RPC_CODES.get(code, "provider_error") if isinstance(code, int) else "provider_error", message)


# ---------------------------------------------------------------------- HTTP errors
def _error_body(resp: httpx.Response) -> dict[str, Any]:
    err = json_object(resp).get("error")
    return err if isinstance(err, dict) else {}


def _retry_delay(err: dict[str, Any]) -> float | None:
    for detail in err.get("details") or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


def google_error(resp: httpx.Response) -> ProviderError:
    """Google's `{"error": {code, message, status, details}}` → our code, Google's message kept."""
    status = resp.status_code
    err = _error_body(resp)
    message = str(err.get("message") or f"HTTP {status}: {resp.text[:300]}")
    reasons = {d.get("reason") for d in err.get("details") or [] if isinstance(d, dict)}
    if status in (401, 403) or "API_KEY_INVALID" in reasons or "API key not valid" in message:
        return ProviderError("auth", message, status=status)
    if status == 429:
        return ProviderError("rate_limit", message, retryable=True,
                             retry_after=retry_after_s(resp) or _retry_delay(err), status=status)
    if status in (408, 504):
        return ProviderError("timeout", message, retryable=True, retry_after=retry_after_s(resp), status=status)
    if status >= 500:
        return ProviderError("provider_error", message, retryable=True, retry_after=retry_after_s(resp), status=status)
    if err.get("status") == "FAILED_PRECONDITION" and "billing" in message.lower():
        return ProviderError("quota", message, status=status)
    if status == 400 and SAFETY_WORDS.search(message):
        return ProviderError("moderation", message, status=status)
    return ProviderError("invalid_request", message, status=status)


def submit_error(model: ModelSpec, resp: httpx.Response, service: str = "the Gemini API",
                 not_found: str = "(retired or unknown model)") -> ProviderError:
    """A refused create call. Shared with Vertex AI (app/providers/vertex.py): both answer in
    google.rpc.Status; which 5xx leave the outcome unknown is HttpProvider's rule."""
    status = resp.status_code
    err = google_error(resp)
    if status == 404:
        return ProviderError("invalid_request", f"{model.endpoint} is not available on {service} "
                             f"{not_found}: {err.message}", status=404)
    return err


def read_error(resp: httpx.Response, service: str, remote_id: str) -> ProviderError:
    """A refused job read (Gemini API and Vertex AI): a 404 means the job is gone, not retryable."""
    err = google_error(resp)
    if resp.status_code == 404:
        return ProviderError("provider_error", f"{service} no longer knows {remote_id}: {err.message}", status=404)
    return err
