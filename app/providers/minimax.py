"""MiniMax Hailuo video generation (text- and image-to-video) over the v1 HTTP API.

Follows platform.minimax.io "Video Generation" v1 (POST /v1/video_generation, GET
/v1/query/video_generation, GET /v1/files/retrieve) as read in November 2026, with the error
codes from MiniMax's own v2 reference (which prints them in its messages: 1002, 1004, 1008,
1026, 2013, 1000) and Baidu Qianfan's MiniMax table (2026-11-11) for the rest. There is no
official Python SDK, so this is plain httpx through `self.http`.

Why the code looks the way it does:
- MiniMax answers most refusals with HTTP 200 and a non-zero `base_resp.status_code`, so every
  response body is checked, not just the HTTP status.
- A refused create carries no task_id: nothing was created, so such refusals are safe to retry
  (rate limit, MiniMax's transient 1000/1001/1024/1033); a timeout after the request was sent
  is "outcome_unknown" because the task may exist and MiniMax has no client key to look it up.
- The result is a file_id; the download URL comes from a second call (files/retrieve), made in
  `poll` so the URL is fresh when the jobs layer downloads right after success.
- "1080P only at 6 s" cannot be said in the catalog's per-field lists, so the catalog carries it
  as data (the catalog's `durations_by_resolution`), refused at the form by check_request;
  `submit` refuses it too.
- MiniMax documents no cancel call: `cancel` does nothing, the task runs out and is billed.

Environment: MINIMAX_API_KEY (required), MINIMAX_BASE_URL (default https://api.minimax.io;
https://api.minimaxi.com for mainland China accounts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from app.providers._submit import image_data_uri
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission
from app.providers.base import error_from_response, retry_after_s
from app.providers.http import HttpProvider, json_object

if TYPE_CHECKING:
    from app.catalog import ModelSpec

# base_resp.status_code -> (our code, retryable). A non-zero code on create means no task exists.
BASE_CODES: dict[int, tuple[str, bool]] = {
    1002: ("rate_limit", True),          # "rate limit, please retry later (1002)" — MiniMax v2 reference
    1004: ("auth", False),               # "login fail ... (1004)" — MiniMax v2 reference
    1008: ("quota", False),              # "insufficient balance (1008)" — MiniMax v2 reference
    1026: ("moderation", False),         # "video description contains sensitive content (1026)" — v2 reference
    1027: ("moderation", False),         # generated video is sensitive — docs/providers/minimax.md §Errors, Baidu table
    2013: ("invalid_request", False),    # "invalid params ... (2013)" — MiniMax v2 reference
    1000: ("provider_error", True),      # "internal error (1000)" — MiniMax v2 reference
    1001: ("timeout", True),             # request timeout — [secondary: Baidu Qianfan table only]
    1024: ("provider_error", True),      # internal error — [secondary: Baidu Qianfan table only]
    1033: ("provider_error", True),      # system / downstream error — [secondary: Baidu Qianfan table only]
    1042: ("invalid_request", False),    # >10% invisible/illegal characters — [secondary: Baidu table only]
}

QUEUED = {"Preparing", "Queueing"}
RUNNING = {"Processing"}


class MiniMaxProvider(HttpProvider):
    name = "minimax"
    label = "MiniMax (Hailuo)"
    key_settings = ("minimax_api_key",)
    docs = "platform.minimax.io Video Generation v1 API (read 2026-11)"
    base_url_setting = "minimax_base_url"

    def create_error(self, model: ModelSpec, resp: httpx.Response) -> ProviderError | None:
        """A non-zero base_resp on create (even with HTTP 200): MiniMax refused and created nothing."""
        if resp.status_code >= 400 or _base_code(json_object(resp)):
            return self.error(resp)
        return None

    def error(self, resp: httpx.Response) -> ProviderError:
        """MiniMax says why in base_resp; the HTTP status is the fallback."""
        return _base_error(json_object(resp), resp) or error_from_response(resp)

    def refused_safely(self, resp: httpx.Response) -> bool:
        return _base_code(json_object(resp)) == 1002   # rate limited: refused before any task existed

    def request_body(self, model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": (model.endpoint_i2v or model.endpoint) if req.image else model.endpoint,
            "prompt": req.prompt,
            "duration": int(round(req.duration_s)),
            "resolution": req.resolution.upper(),   # our "768p" -> MiniMax's "768P"
        }
        if req.image:
            body["first_frame_image"] = image_data_uri(req)
        # MiniMax rewrites the prompt unless told not to (prompt_optimizer defaults to true): off
        # unless the comparison lets providers rewrite, so every model gets the same words.
        body["prompt_optimizer"] = bool(req.rewrite_prompt)
        if req.webhook_url:
            body["callback_url"] = req.webhook_url   # MiniMax first checks it with a challenge (app/hooks.py)
        return body

    # -- the interface -------------------------------------------------------------------------
    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        """Hailuo's "1080P only at 6 s" is the catalog's durations_by_resolution, refused by
        Provider.validate before this is called."""
        body = self.request_body(model, req)
        resp = await self.create_call(model, self.url("/v1/video_generation"), body)
        task_id, _ = self.created_id(resp, "task_id")
        return Submission(remote_id=task_id, meta={"model": body["model"]})

    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        data = await self._get("/v1/query/video_generation", {"task_id": remote_id})
        status = data.get("status") or ""
        code = _base_code(data)
        if not status and code:
            raise _mapped(data)  # the query itself was refused (auth, rate limit ...)
        if status in QUEUED:
            return JobStatus("queued", meta={"status": status})
        if status in RUNNING:
            return JobStatus("running", meta={"status": status})
        if status == "Success":
            file_id = data.get("file_id")
            if not file_id:
                raise ProviderError("provider_error", "MiniMax reported Success without a file_id", retryable=True)
            url = await self._download_url(str(file_id))
            return JobStatus("succeeded", progress=1.0, result_url=url,
                             meta={"file_id": str(file_id), "width": data.get("video_width"),
                                   "height": data.get("video_height")})
        if status == "Fail":
            if code:
                err = _mapped(data)
                err.retryable = False  # a failed task is final, whatever the code
            else:
                msg = (data.get("base_resp") or {}).get("status_msg")
                reason = msg if msg and msg.lower() != "success" else "MiniMax reported the task failed (no reason given)"
                err = ProviderError("provider_error", reason)
            return JobStatus("failed", error=err, meta={"status": status})
        # An unknown state: keep polling rather than guess.
        return JobStatus("running", meta={"status": status or "unknown"})

    async def _download_url(self, file_id: str) -> str:
        data = await self._get("/v1/files/retrieve", {"file_id": file_id})
        if _base_code(data):
            raise _mapped(data)
        url = (data.get("file") or {}).get("download_url")
        if not url:
            raise ProviderError("provider_error", "MiniMax files/retrieve gave no download_url", retryable=True)
        return url

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """A read call: every failure is retryable except refusals that will not change."""
        return await self.get_json(self.url(path), what=path, params=params)


# -- module helpers -----------------------------------------------------------------------------
def _base_code(data: dict[str, Any] | None) -> int:
    try:
        return int(((data or {}).get("base_resp") or {}).get("status_code") or 0)
    except (TypeError, ValueError):
        return 0


def _mapped(data: dict[str, Any], resp: httpx.Response | None = None) -> ProviderError:
    base = data.get("base_resp") or {}
    code = _base_code(data)
    our, retryable = BASE_CODES.get(code, ("provider_error", False))
    message = f"{base.get('status_msg') or 'MiniMax error'} ({code})"
    retry_after = retry_after_s(resp) if resp is not None else None
    return ProviderError(our, message, retryable=retryable, retry_after=retry_after,
                         status=resp.status_code if resp is not None else None)


def _base_error(data: dict[str, Any] | None, resp: httpx.Response) -> ProviderError | None:
    if _base_code(data):
        return _mapped(data, resp)  # type: ignore[arg-type]
    return None
