"""ByteDance Seedance through BytePlus ModelArk's content-generation tasks API.

Follows the ModelArk "Video Generation API" (POST/GET/DELETE /contents/generations/tasks and the
task list with filter.* parameters) as mirrored by the official `volcengine-python-sdk`
(`volcenginesdkarkruntime/resources/content_generation/tasks.py`) and Volcengine Ark's public
error-code page (docs 82379/1299023), read November 2026. Plain httpx through `self.http`: the
official SDK is OpenAI-derived and retries POSTs by default, and one HTTP stack is simpler.

Why the code looks the way it does:
- Ark has no idempotency key. To make a crash between "sent" and "stored" recoverable we send an
  explicit seed; when the user picked none it is derived from the take id, so the task can later
  be recognised in the task list by (model, seed) — see `reconcile` for the exact rule.
- `execution_expires_after` is set from TAKE_TIMEOUT_S (clamped to Ark's [3600, 259200] s) so a
  task we have given up on expires at Ark instead of running — and billing — for two days.
- Refusals carry `error.code` strings: `*SensitiveContentDetected*` / `*RiskDetection` are
  moderation (terminal), `RateLimitExceeded*` and `ServerOverloaded` are retryable, a 5xx with no
  such code on create is "outcome_unknown".
- DELETE cancels a queued task; Ark refuses it for a running one and we pass that refusal on.

Environment: ARK_API_KEY (required), ARK_BASE_URL (default
https://ark.ap-southeast.bytepluses.com/api/v3; Seedance video is served in Asia-Pacific only.
Volcengine China accounts use https://ark.cn-beijing.volces.com/api/v3 with doubao-* model ids).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import httpx

from app.providers._submit import image_data_uri
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, retry_after_s
from app.providers.http import HttpProvider, json_object

if TYPE_CHECKING:
    from app.catalog import ModelSpec

TASKS = "/contents/generations/tasks"
EXPIRES_MIN_S, EXPIRES_MAX_S = 3600, 259200   # documented range of execution_expires_after
LIST_PAGE_SIZE, LIST_MAX_PAGES = 100, 5       # reconcile looks at the newest 500 tasks of the model


def derived_seed(take_id: str) -> int:
    """A seed that is random-looking per take yet reproducible from the take id alone."""
    return int.from_bytes(hashlib.sha256(f"takes-seed:{take_id}".encode()).digest()[:4], "big") & 0x7FFFFFFF


class ArkProvider(HttpProvider):
    name = "ark"
    label = "BytePlus ModelArk (Seedance)"
    key_settings = ("ark_api_key",)
    docs = "BytePlus ModelArk Video Generation API, content generation tasks (read 2026-11)"
    base_url_setting = "ark_base_url"
    # no safe_create_statuses: a 5xx on create is a refusal only when Ark's code says so

    def error(self, resp: httpx.Response) -> ProviderError:
        return ark_error(resp)

    def refused_safely(self, resp: httpx.Response) -> bool:
        """Ark's own code on a 5xx (overloaded, rate limited, refused content …) says it refused."""
        return code_error(_error_code(resp), "", None, resp.status_code) is not None

    def model_id(self, model: ModelSpec, req: GenerationRequest) -> str:
        return (model.endpoint_i2v or model.endpoint) if req.image else model.endpoint

    def expires_after(self) -> int:
        return int(min(EXPIRES_MAX_S, max(EXPIRES_MIN_S, self.settings.take_timeout_s)))

    def ratio(self, model: ModelSpec, req: GenerationRequest) -> str:
        """The asked ratio, except first-frame requests of entries with `i2v_ratio` (Seedance 2.5:
        "adaptive", from measured third-party reports, docs/providers/ark.md): there the clip
        takes the image's shape, and app/delivery.py checks it against the image."""
        return model.options.get("i2v_ratio", req.aspect_ratio) if req.has_image else req.aspect_ratio

    def request_body(self, model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": req.prompt}]
        if req.image:
            content.append({"type": "image_url", "image_url": {"url": image_data_uri(req)},
                            "role": "first_frame"})
        body: dict[str, Any] = {
            "model": self.model_id(model, req),
            "content": content,
            "resolution": req.resolution,                 # Ark uses our spelling: 480p | 720p | 1080p
            "ratio": self.ratio(model, req),
            "duration": int(round(req.duration_s)),
            "seed": req.seed if req.seed is not None else derived_seed(req.take_id),
            "watermark": False,
            "execution_expires_after": self.expires_after(),
        }
        if model.audio != "none":
            body["generate_audio"] = True if model.audio == "always" else bool(req.audio)
        if req.webhook_url:
            body["callback_url"] = req.webhook_url
        return body

    # -- the interface -------------------------------------------------------------------------
    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        body = self.request_body(model, req)
        task_id, _ = self.created_id(await self.create_call(model, self.url(TASKS), body), "id")
        return Submission(remote_id=task_id, meta={"model": body["model"], "seed": body["seed"]})

    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        task = await self._get(f"{TASKS}/{remote_id}")
        status = task.get("status")
        info = {k: task[k] for k in ("seed", "resolution", "ratio", "duration", "framespersecond") if k in task}
        if status == "queued":
            return JobStatus("queued", meta=info)
        if status == "running":
            return JobStatus("running", meta=info)
        if status == "succeeded":
            url = (task.get("content") or {}).get("video_url")
            if not url:
                raise ProviderError("provider_error", "ModelArk reported success without a video_url", retryable=True)
            usage = task.get("usage") if isinstance(task.get("usage"), dict) else None
            return JobStatus("succeeded", progress=1.0, result_url=url, meta=info, usage=usage)
        if status == "failed":
            err = task.get("error") or {}
            return JobStatus("failed", error=task_failure(err.get("code") or "", err.get("message") or ""), meta=info)
        if status == "cancelled":
            return JobStatus("cancelled", meta=info)
        if status == "expired":
            return JobStatus("failed", meta=info, error=ProviderError(
                "timeout", f"ModelArk expired the task: it did not finish within execution_expires_after "
                           f"({task.get('execution_expires_after', self.expires_after())} s)"))
        return JobStatus("running", meta=info | {"status": status})

    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        """DELETE cancels a queued task (and deletes a finished one). Ark refuses a running task:
        that refusal is raised with Ark's message; a task already gone (404) is fine."""
        resp = await self.call("DELETE", self.url(f"{TASKS}/{remote_id}"), what="cancel")
        if resp.status_code < 400 or resp.status_code == 404:
            return
        raise ark_error(resp)

    async def reconcile(self, model: ModelSpec, req: GenerationRequest) -> Submission | None:
        """Find the task a crashed submit may have created. Matching rule: among the newest
        LIST_PAGE_SIZE x LIST_MAX_PAGES tasks of the same model id (Ark's list keeps 7 days),
        exactly one whose seed equals the seed derived from this take id (and whose duration,
        ratio and resolution agree where Ark reports them). A user-chosen seed can repeat across
        takes, so with one we cannot tell and return None; so do zero or several matches."""
        if req.seed is not None:
            return None
        want_model, seed = self.model_id(model, req), derived_seed(req.take_id)
        expected = {"duration": int(round(req.duration_s)), "ratio": self.ratio(model, req), "resolution": req.resolution}
        matches: list[dict[str, Any]] = []
        for page in range(1, LIST_MAX_PAGES + 1):
            data = await self._get(TASKS, params={"page_num": page, "page_size": LIST_PAGE_SIZE,
                                                  "filter.model": want_model})
            items = data.get("items") or []
            for item in items:
                if item.get("seed") != seed:
                    continue
                if any(item.get(k) is not None and item.get(k) != v for k, v in expected.items()):
                    continue
                matches.append(item)
            if len(items) < LIST_PAGE_SIZE:
                break
        if len(matches) != 1:
            return None
        return Submission(remote_id=str(matches[0]["id"]), meta={"model": want_model, "seed": seed, "reconciled": True})

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = await self.call("GET", self.url(path), what=path, params=params)
        if resp.status_code == 404:
            raise ProviderError("provider_error", f"ModelArk no longer has this task: {ark_error(resp).message}",
                                status=404)
        if resp.status_code >= 400:
            raise ark_error(resp)
        return self.read_json(resp, path)


# -- error mapping ------------------------------------------------------------------------------
def _is_moderation(code: str) -> bool:
    # InputTextSensitiveContentDetected, InputImageSensitiveContentDetected.PrivacyInformation,
    # OutputVideoSensitiveContentDetected.PolicyViolation, OutputAudioSensitiveContentDetected,
    # and the generic InputTextRiskDetection / InputImageRiskDetection family.
    return "SensitiveContentDetected" in code or "RiskDetection" in code


def task_failure(code: str, message: str) -> ProviderError:
    """Why a task ended "failed": terminal whatever the code, Ark's own words kept."""
    text = f"{message or 'the task failed'} ({code})" if code else (message or "ModelArk reported the task failed")
    if _is_moderation(code):
        return ProviderError("moderation", text)
    if code.startswith("InvalidParameter") or code.startswith("MissingParameter"):
        return ProviderError("invalid_request", text)
    return ProviderError("provider_error", text)


def _error_code(resp: httpx.Response) -> str:
    err = json_object(resp).get("error")
    return str(err.get("code") or "") if isinstance(err, dict) else ""


def code_error(code: str, text: str, retry_after: float | None, status: int) -> ProviderError | None:
    """What Ark's `error.code` alone decides (it wins over the HTTP status), else None."""
    def e(our: str, retryable: bool = False) -> ProviderError:
        return ProviderError(our, text, retryable=retryable, retry_after=retry_after if retryable else None,
                             status=status)

    if _is_moderation(code):
        return e("moderation")
    if code.startswith("RateLimitExceeded") or code == "ServerOverloaded":
        return e("rate_limit", True)
    if code == "AccountOverdueError" or code == "QuotaExceeded":   # QuotaExceeded semantics [UNVERIFIED]
        return e("quota")
    if code in ("AuthenticationError", "AccessDenied"):
        return e("auth")
    return None


def ark_error(resp: httpx.Response) -> ProviderError:
    """Ark's `{"error": {code, message}}` → our code; a 5xx on create is judged by HttpProvider."""
    err = json_object(resp).get("error")
    err = err if isinstance(err, dict) else {}
    code = str(err.get("code") or "")
    message = str(err.get("message") or resp.text[:300] or f"HTTP {resp.status_code}")
    text = f"{message} ({code})" if code else f"HTTP {resp.status_code}: {message}"
    status, retry_after = resp.status_code, retry_after_s(resp)
    known = code_error(code, text, retry_after, status)
    if known is not None:
        return known
    if status in (401, 403):
        return ProviderError("auth", text, status=status)
    if status == 429:
        return ProviderError("rate_limit", text, retryable=True, retry_after=retry_after, status=status)
    if status >= 500:
        return ProviderError("provider_error", text, retryable=True, retry_after=retry_after, status=status)
    if status == 408:
        return ProviderError("timeout", text, retryable=True, retry_after=retry_after, status=status)
    return ProviderError("invalid_request", text, status=status)   # InvalidParameter, ModelNotOpen, ...NotFound
