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

import base64
import hashlib
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from app.providers.base import (
    GenerationRequest,
    JobStatus,
    Provider,
    ProviderError,
    Submission,
    retry_after_s,
)

if TYPE_CHECKING:
    from app.catalog import ModelSpec

TASKS = "/contents/generations/tasks"
EXPIRES_MIN_S, EXPIRES_MAX_S = 3600, 259200   # documented range of execution_expires_after
LIST_PAGE_SIZE, LIST_MAX_PAGES = 100, 5       # reconcile looks at the newest 500 tasks of the model


def derived_seed(take_id: str) -> int:
    """A seed that is random-looking per take yet reproducible from the take id alone."""
    return int.from_bytes(hashlib.sha256(f"takes-seed:{take_id}".encode()).digest()[:4], "big") & 0x7FFFFFFF


class Ark(Provider):
    name = "ark"
    label = "BytePlus ModelArk (Seedance)"
    key_settings = ("ark_api_key",)
    docs = "BytePlus ModelArk Video Generation API, content generation tasks (read 2026-11)"

    def _url(self, path: str) -> str:
        return self.settings.ark_base_url.rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.ark_api_key}"}

    def model_id(self, model: ModelSpec, req: GenerationRequest) -> str:
        return (model.endpoint_i2v or model.endpoint) if req.image else model.endpoint

    def expires_after(self) -> int:
        return int(min(EXPIRES_MAX_S, max(EXPIRES_MIN_S, self.settings.take_timeout_s)))

    def request_body(self, model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": req.prompt}]
        if req.image:
            content.append({"type": "image_url", "image_url": {"url": data_url(req.image, req.image_mime)},
                            "role": "first_frame"})
        body: dict[str, Any] = {
            "model": self.model_id(model, req),
            "content": content,
            "resolution": req.resolution,                 # Ark uses our spelling: 480p | 720p | 1080p
            "ratio": req.aspect_ratio,
            "duration": int(round(req.duration_s)),
            "seed": req.seed if req.seed is not None else derived_seed(req.take_id),
            "watermark": False,
            "execution_expires_after": self.expires_after(),
        }
        if model.audio != "none":
            body["generate_audio"] = True if model.audio == "always" else bool(req.audio)
        return body

    # -- the interface -------------------------------------------------------------------------
    async def submit(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        problems = self.validate(model, req)
        if problems:
            raise ProviderError("invalid_request", "; ".join(problems))
        body = self.request_body(model, req)
        try:
            resp = await self.http.post(self._url(TASKS), json=body, headers=self._headers())
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ProviderError("provider_error", f"could not reach ModelArk: {exc!r}", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise ProviderError("outcome_unknown", f"ModelArk create call broke off after sending ({type(exc).__name__}): "
                                "the task may exist and be billed") from exc
        if resp.status_code >= 400:
            raise ark_error(resp, creating=True)
        task_id = (_json(resp) or {}).get("id")
        if not task_id:
            raise ProviderError("outcome_unknown", f"ModelArk answered {resp.status_code} without a task id")
        return Submission(remote_id=str(task_id), meta={"model": body["model"], "seed": body["seed"]})

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
            return JobStatus("succeeded", progress=1.0, result_url=url, meta=info)
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
        try:
            resp = await self.http.delete(self._url(f"{TASKS}/{remote_id}"), headers=self._headers())
        except httpx.HTTPError as exc:
            raise ProviderError("provider_error", f"ModelArk cancel failed: {exc!r}", retryable=True) from exc
        if resp.status_code < 400 or resp.status_code == 404:
            return
        raise ark_error(resp, creating=False)

    async def reconcile(self, model: ModelSpec, req: GenerationRequest) -> Submission | None:
        """Find the task a crashed submit may have created. Matching rule: among the newest
        LIST_PAGE_SIZE x LIST_MAX_PAGES tasks of the same model id (Ark's list keeps 7 days),
        exactly one whose seed equals the seed derived from this take id (and whose duration,
        ratio and resolution agree where Ark reports them). A user-chosen seed can repeat across
        takes, so with one we cannot tell and return None; so do zero or several matches."""
        if req.seed is not None:
            return None
        want_model, seed = self.model_id(model, req), derived_seed(req.take_id)
        expected = {"duration": int(round(req.duration_s)), "ratio": req.aspect_ratio, "resolution": req.resolution}
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
        try:
            resp = await self.http.get(self._url(path), params=params, headers=self._headers())
        except httpx.HTTPError as exc:
            raise ProviderError("provider_error", f"ModelArk {path} failed: {exc!r}", retryable=True) from exc
        if resp.status_code == 404:
            err = ark_error(resp, creating=False)
            raise ProviderError("provider_error", f"ModelArk no longer has this task: {err.message}", status=404)
        if resp.status_code >= 400:
            raise ark_error(resp, creating=False)
        data = _json(resp)
        if data is None:
            raise ProviderError("provider_error", f"ModelArk {path} returned a non-JSON body", retryable=True)
        return data


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


def ark_error(resp: httpx.Response, *, creating: bool) -> ProviderError:
    body = _json(resp) or {}
    err = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = str(err.get("code") or "")
    message = str(err.get("message") or resp.text[:300] or f"HTTP {resp.status_code}")
    text = f"{message} ({code})" if code else f"HTTP {resp.status_code}: {message}"
    status, retry_after = resp.status_code, retry_after_s(resp)

    def e(our: str, retryable: bool = False) -> ProviderError:
        return ProviderError(our, text, retryable=retryable, retry_after=retry_after if retryable else None,
                             status=status)

    if _is_moderation(code):
        return e("moderation")
    if code.startswith("RateLimitExceeded") or code == "ServerOverloaded":
        return e("rate_limit", True)
    if code == "AccountOverdueError" or code == "QuotaExceeded":   # QuotaExceeded semantics [UNVERIFIED]
        return e("quota")
    if code == "AuthenticationError" or status == 401:
        return e("auth")
    if code == "AccessDenied" or status == 403:
        return e("auth")
    if status == 429:
        return e("rate_limit", True)
    if status >= 500:
        if creating:
            return ProviderError("outcome_unknown", f"ModelArk answered HTTP {status} to the create call: "
                                 f"the task may exist ({text})", status=status)
        return e("provider_error", True)
    if status in (408,):
        return e("timeout", True)
    return e("invalid_request")   # InvalidParameter, MissingParameter, ModelNotOpen, ...NotFound


def data_url(path: Path, mime: str | None) -> str:
    mime = mime or mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _json(resp: httpx.Response) -> dict[str, Any] | None:
    try:
        data = resp.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
