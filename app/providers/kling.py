"""Kling official API (Kuaishou): text-to-video and image-to-video on /v1/videos.

Doc version followed: the Kling API reference "Video Generation – Text to Video / Image to
Video" and "General Information" (error codes) pages of app.klingai.com/global/dev/document-api,
as mirrored in WHQ25/rawgenai docs/research/kling and inference-sh/grid api/klingai/docs (read
2026-11-25), plus vercel/ai packages/klingai (klingai-video-model.ts, 2026) for the v3
`model_name` mapping ("kling-v3.0-t2v" → "kling-v3").

Plain httpx + PyJWT: Kling publishes no Python SDK, and the JWT is three lines. The token is
HS256-signed with the secret key, `iss` = access key, 30 min lifetime, cached and re-minted five
minutes before it expires so a long poll loop never sends an expired token.

Kling is the one hosted provider here with a client-chosen key: `external_task_id`. We derive it
from our take id, so after a crash between "submitting" and the stored task id `reconcile()` asks
Kling for that id instead of guessing (and, if Kling rejects a duplicate external_task_id, a
second create for the same take cannot be billed twice).

Mapping notes:
- duration is sent as a string ("5"); v3 takes 3–15 s, v2.x 5 or 10 s.
- `mode` std (720p) / pro (1080p) is the catalog's `options.mode`; resolution follows from it.
- image-to-video sends the image as raw base64 without a `data:` prefix (Kling's rule) and no
  aspect_ratio (the image decides it).
- `sound` "on"/"off" only for models whose catalog entry says audio is available.
- Kling has no seed and no cancel endpoint; cancel is a no-op.

Environment: KLING_ACCESS_KEY, KLING_SECRET_KEY, KLING_BASE_URL (default
https://api-singapore.klingai.com; also https://api.klingai.com, Beijing: https://api-beijing.klingai.com).
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

import httpx
import jwt

from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission
from app.providers.base import error_from_response, retry_after_s
from app.providers.http import HttpProvider, json_object

if TYPE_CHECKING:
    from app.catalog import ModelSpec

TOKEN_TTL_S = 1800
TOKEN_REFRESH_MARGIN_S = 300
STATES = {"submitted": "queued", "processing": "running"}   # task states still under way

# Kling's `task_status_msg` is free text. Failed tasks whose message names the content checks
# are moderation refusals (terminal); anything else is a provider failure.
_MODERATION_WORDS = ("risk", "sensitive", "moderat", "content security", "policy", "violat", "inappropriate")


def external_task_id(take_id: str) -> str:
    """Our deterministic client key for a take."""
    return f"takes-{take_id}"


class KlingProvider(HttpProvider):
    name = "kling"
    label = "Kling API"
    key_settings = ("kling_access_key", "kling_secret_key")
    docs = "Kling API reference (klingai.com dev docs, video generation + error codes), read 2026-11-25"
    base_url_setting = "kling_base_url"
    safe_create_statuses = frozenset({503})

    def __init__(self, settings, http: httpx.AsyncClient | None = None):
        super().__init__(settings, http)
        self.clock = time.time
        self._jwt: str | None = None
        self._jwt_exp = 0.0

    # -- auth -------------------------------------------------------------------------------
    def token(self) -> str:
        now = self.clock()
        if self._jwt and now < self._jwt_exp - TOKEN_REFRESH_MARGIN_S:
            return self._jwt
        exp = int(now) + TOKEN_TTL_S
        self._jwt = jwt.encode(
            {"iss": self.settings.kling_access_key, "exp": exp, "nbf": int(now) - 5},
            self.settings.kling_secret_key,
            algorithm="HS256",
            headers={"typ": "JWT"},
        )
        self._jwt_exp = exp
        return self._jwt

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"}

    def create_error(self, model: ModelSpec, resp: httpx.Response) -> ProviderError | None:
        """Kling refuses in the body too: a non-zero `code` is a refusal whatever the status."""
        payload = json_object(resp)
        if resp.status_code >= 400 or payload.get("code") not in (0, None):
            return kling_error(resp, payload)
        return None

    def refused_safely(self, resp: httpx.Response) -> bool:
        return super().refused_safely(resp) or json_object(resp).get("code") == 5001

    # -- request mapping --------------------------------------------------------------------
    def validate(self, model: ModelSpec, req: GenerationRequest) -> list[str]:
        """Rules the catalog cannot express; [] when the request is fine."""
        if abs(req.duration_s - round(req.duration_s)) > 1e-9:
            return [f"{model.name} takes whole seconds only"]
        return super().validate(model, req)

    def build_body(self, model: ModelSpec, req: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """(endpoint, JSON body) for one create call."""
        i2v = req.image is not None
        body: dict[str, Any] = {
            "model_name": (model.endpoint_i2v if i2v and model.endpoint_i2v else model.endpoint),
            "prompt": req.prompt,
            "duration": str(int(round(req.duration_s))),
            "external_task_id": external_task_id(req.take_id),
        }
        mode = model.options.get("mode")
        if mode:
            body["mode"] = mode
        if req.negative_prompt:
            body["negative_prompt"] = req.negative_prompt
        if model.audio != "none":
            body["sound"] = "on" if (req.audio or model.audio == "always") else "off"
        if req.webhook_url:
            body["callback_url"] = req.webhook_url
        if i2v:
            body["image"] = base64.b64encode(req.image.read_bytes()).decode("ascii")
            return "image2video", body
        body["aspect_ratio"] = req.aspect_ratio
        return "text2video", body

    # -- calls ------------------------------------------------------------------------------
    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        endpoint, body = self.build_body(model, req)
        resp = await self.create_call(model, self.url(f"/v1/videos/{endpoint}"), body)
        task_id, _ = self.created_id(resp, "data", "task_id")
        return Submission(remote_id=task_id, meta={"endpoint": endpoint, "external_task_id": body["external_task_id"]})

    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        data = await self._query(meta.get("endpoint", "text2video"), remote_id)
        return status_from_task(data)

    async def reconcile(self, model: ModelSpec, req: GenerationRequest) -> Submission | None:
        endpoint = "image2video" if req.image is not None else "text2video"
        ext = external_task_id(req.take_id)
        try:
            data = await self._query(endpoint, ext)
        except ProviderError as exc:
            if exc.status == 404 or not exc.retryable:
                return None   # Kling has no task under our key: the create never landed (or cannot tell)
            raise
        task_id = data.get("task_id")
        if not task_id:
            return None
        return Submission(remote_id=task_id, meta={"endpoint": endpoint, "external_task_id": ext})

    async def _query(self, endpoint: str, task_or_external_id: str) -> dict[str, Any]:
        resp = await self.call("GET", self.url(f"/v1/videos/{endpoint}/{task_or_external_id}"), what="status call")
        payload = json_object(resp)
        if resp.status_code >= 400 or payload.get("code") not in (0, None):
            raise kling_error(resp, payload)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ProviderError("provider_error", f"Kling status answer has no task data: {resp.text[:300]}", retryable=True)
        return data


def status_from_task(data: dict[str, Any]) -> JobStatus:
    state = data.get("task_status")
    if state in STATES:
        return JobStatus(STATES[state])  # type: ignore[arg-type]
    if state == "succeed":
        videos = ((data.get("task_result") or {}).get("videos")) or []
        url = next((v.get("url") for v in videos if v.get("url")), None)
        if not url:
            return JobStatus("failed", error=ProviderError("provider_error", "Kling reported success but returned no video URL"))
        return JobStatus("succeeded", progress=1.0, result_url=url)
    if state == "failed":
        msg = data.get("task_status_msg") or "Kling reported the task as failed without a reason"
        code = "moderation" if any(w in msg.lower() for w in _MODERATION_WORDS) else "provider_error"
        return JobStatus("failed", error=ProviderError(code, msg))
    raise ProviderError("provider_error", f"Kling returned an unknown task_status {state!r}", retryable=True)


def kling_error(resp: httpx.Response, payload: dict[str, Any]) -> ProviderError:
    """Kling's error table: the business `code` decides, the HTTP status backs it up."""
    code = payload.get("code")
    text = payload.get("message") or resp.text[:300] or f"HTTP {resp.status_code}"
    message = f"{text} (Kling code {code})" if code is not None else text
    status = resp.status_code
    ra = retry_after_s(resp)
    if isinstance(code, int):
        if 1000 <= code <= 1004 or code in (1103, 1304):
            return ProviderError("auth", message, status=status)
        if 1100 <= code <= 1102:
            return ProviderError("quota", message, status=status)
        if code in (1300, 1301):
            return ProviderError("moderation", message, status=status)
        if code == 1302:
            return ProviderError("rate_limit", message, retryable=True, retry_after=ra, status=status)
        if code == 1303:  # concurrency of the resource pack is full: back off, not fatal
            return ProviderError("rate_limit", message, retryable=True, retry_after=ra if ra is not None else 10.0, status=status)
        if 1200 <= code <= 1203:
            return ProviderError("invalid_request", message, status=status)
        if code == 5002:
            return ProviderError("timeout", message, retryable=True, retry_after=ra, status=status)
        if code >= 5000:
            return ProviderError("provider_error", message, retryable=True, retry_after=ra, status=status)
    return error_from_response(resp, message)
