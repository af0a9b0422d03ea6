"""A local fake of BytePlus ModelArk's content-generation tasks API (Seedance).

Routes, under the /api/v3 prefix like the real base URL: POST/GET/DELETE
/contents/generations/tasks[/{id}] and the list with page_num, page_size, filter.status,
filter.task_ids (repeated) and filter.model. Errors use Ark's shape
`{"error": {"code", "message", "param", "type"}}` with the codes from Ark's public error-code page
(AuthenticationError 401, AccountOverdueError 403, ModelNotOpen 404, InvalidParameter 400,
RateLimitExceeded.* / ServerOverloaded 429, *SensitiveContentDetected 400 on input, task error
OutputVideoSensitiveContentDetected on output). Tasks go queued -> running -> succeeded over
successive GETs. Faults are scripted through `Script`; every create body lands in `creates`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes import tiny_mp4

# model id -> (min s, max s, resolutions)
MODELS = {
    "dreamina-seedance-2-0-260128": (4, 15, {"480p", "720p", "1080p"}),
    "dreamina-seedance-2-0-fast-260128": (4, 15, {"480p", "720p"}),
    "dreamina-seedance-2-0-mini-260615": (4, 15, {"480p", "720p"}),
    "dreamina-seedance-2-5-260628": (4, 30, {"480p", "720p"}),
    "seedance-1-5-pro-251215": (4, 12, {"480p", "720p", "1080p"}),
}
RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"}
ERRORS = {  # code -> (HTTP status, type, message)
    "AuthenticationError": (401, "Unauthorized", "The API key or AK/SK in the request is missing or invalid."),
    "AccountOverdueError": (403, "Forbidden", "The request failed because your account has an overdue balance."),
    "ModelNotOpen": (404, "NotFound", "Your account has not activated the model. Please activate the model "
                                      "service in the Ark Console."),
    "InvalidParameter": (400, "BadRequest", "One or more parameters specified in the request are not valid."),
    "InputTextSensitiveContentDetected": (400, "BadRequest", "The request failed because the input text may "
                                                             "contain sensitive information."),
    "RateLimitExceeded.EndpointRPMExceeded": (429, "TooManyRequests", "The request has exceeded the rate limit "
                                                                      "(RPM) of the endpoint."),
    "ServerOverloaded": (429, "TooManyRequests", "The service is currently unable to handle additional requests "
                                                 "due to server overload."),
    "InternalServiceError": (500, "InternalServerError", "The service encountered an unexpected internal error."),
}


def error(code: str, message: str | None = None, param: str = "", status: int | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    st, typ, default = ERRORS.get(code, (400, "BadRequest", code))
    body = {"error": {"code": code, "message": f"{message or default} Request id: 021764000000000fake",
                      "param": param, "type": typ}}
    return JSONResponse(body, status_code=status or st, headers=headers or {})


@dataclass
class Script:
    api_key: str = "test-ark-key"
    polls_to_finish: int = 3             # GETs answered queued/running before the terminal state
    fail_next_create: str | None = None  # an ERRORS code for the next create
    fail_next_get: str | None = None     # an ERRORS code for the next task GET
    hang_next_create: float = 0.0        # sleep this long before answering the next create
    fail_task_with: str | None = None    # tasks end "failed" with this error.code
    expire_tasks: bool = False           # tasks end "expired"
    expire_downloads: bool = False       # the video URL answers 403 like an expired TOS link
    retry_after: str = "3"               # sent with 429s [whether Ark sends Retry-After is UNVERIFIED]
    creates: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)


def create_app(script: Script | None = None) -> tuple[FastAPI, Script]:
    state = script or Script()
    app = FastAPI()
    serial = itertools.count(1)

    @app.middleware("http")
    async def record(request: Request, call_next):
        state.requests.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {state.api_key}"

    def injected(code: str) -> JSONResponse:
        headers = {"Retry-After": state.retry_after} if ERRORS[code][0] == 429 else None
        return error(code, headers=headers)

    @app.post("/api/v3/contents/generations/tasks")
    async def create(request: Request):
        body = await request.json()
        state.creates.append(body)
        if state.hang_next_create:
            delay, state.hang_next_create = state.hang_next_create, 0.0
            await asyncio.sleep(delay)
        if not authorized(request):
            return error("AuthenticationError")
        if state.fail_next_create:
            code, state.fail_next_create = state.fail_next_create, None
            return injected(code)
        problem = _invalid(body)
        if problem:
            return error("InvalidParameter", problem[1], param=problem[0])
        task_id = f"cgt-20261125{next(serial):06d}-fake"
        now = int(time.time())
        state.tasks[task_id] = {
            "id": task_id, "model": body["model"], "status": "queued", "created_at": now, "updated_at": now,
            "seed": body.get("seed", 11), "resolution": body.get("resolution", "720p"),
            "ratio": body.get("ratio", "16:9"), "duration": body.get("duration", 5), "framespersecond": 24,
            "service_tier": body.get("service_tier", "default"),
            "execution_expires_after": body.get("execution_expires_after", 172800),
            "generate_audio": body.get("generate_audio", True), "draft": False, "_polls": 0,
        }
        return {"id": task_id}

    @app.get("/api/v3/contents/generations/tasks/{task_id}")
    async def get(request: Request, task_id: str):
        if not authorized(request):
            return error("AuthenticationError")
        if state.fail_next_get:
            code, state.fail_next_get = state.fail_next_get, None
            return injected(code)
        task = state.tasks.get(task_id)
        if task is None:
            return error("ResourceNotFound", f"The specified task {task_id} is not found.", status=404)
        _advance(task, state, str(request.base_url).rstrip("/"))
        return _public(task)

    @app.get("/api/v3/contents/generations/tasks")
    async def list_tasks(request: Request, page_num: int = 1, page_size: int = 10):
        if not authorized(request):
            return error("AuthenticationError")
        q = request.query_params
        ids = set(q.getlist("filter.task_ids"))
        items = [t for t in sorted(state.tasks.values(), key=lambda t: (t["created_at"], t["id"]), reverse=True)
                 if (not q.get("filter.model") or t["model"] == q.get("filter.model"))
                 and (not q.get("filter.status") or t["status"] == q.get("filter.status"))
                 and (not ids or t["id"] in ids)]
        start = (page_num - 1) * page_size
        return {"items": [_public(t) for t in items[start:start + page_size]], "total": len(items)}

    @app.delete("/api/v3/contents/generations/tasks/{task_id}")
    async def delete(request: Request, task_id: str):
        if not authorized(request):
            return error("AuthenticationError")
        task = state.tasks.get(task_id)
        if task is None:
            return error("ResourceNotFound", f"The specified task {task_id} is not found.", status=404)
        if task["status"] == "queued":
            task["status"] = "cancelled"
            return {}
        if task["status"] == "running":  # the exact wording of this refusal is [UNVERIFIED]
            return error("InvalidParameter", "A running task cannot be cancelled.", param="id")
        del state.tasks[task_id]   # finished tasks: DELETE removes the record
        return {}

    @app.get("/files/{task_id}.mp4")
    async def video(task_id: str):
        if state.expire_downloads:
            return Response("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                            status_code=403, media_type="application/xml")
        return Response(tiny_mp4(), media_type="video/mp4")

    return app, state


def _advance(task: dict[str, Any], state: Script, base: str) -> None:
    if task["status"] in ("succeeded", "failed", "cancelled", "expired"):
        return
    task["_polls"] += 1
    task["updated_at"] = int(time.time())
    if task["_polls"] < state.polls_to_finish:
        task["status"] = "queued" if task["_polls"] == 1 else "running"
        return
    if state.expire_tasks:
        task["status"] = "expired"
    elif state.fail_task_with:
        task["status"] = "failed"
        task["error"] = {"code": state.fail_task_with,
                         "message": "The request failed because the output video may contain sensitive "
                                    "information." if "Sensitive" in state.fail_task_with else "Generation failed."}
    else:
        task["status"] = "succeeded"
        task["content"] = {"video_url": f"{base}/files/{task['id']}.mp4?X-Tos-Expires=86400&X-Tos-Signature=fake"}
        task["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}


def _public(task: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if not k.startswith("_")}


def _invalid(body: dict[str, Any]) -> tuple[str, str] | None:
    model = body.get("model")
    if model not in MODELS:
        return "model", f"The model {model} does not exist or you do not have access to it."
    lo, hi, resolutions = MODELS[model]
    content = body.get("content") or []
    if not any(c.get("type") == "text" and c.get("text") for c in content):
        return "content", "content must include a non-empty text item."
    for c in content:
        if c.get("type") == "image_url":
            url = (c.get("image_url") or {}).get("url", "")
            if not (url.startswith("data:image/") or url.startswith("http")):
                return "content.image_url", "image_url.url must be a URL or a base64 data URL."
            if c.get("role") not in (None, "first_frame", "last_frame", "reference_image"):
                return "content.role", f"unknown role {c.get('role')!r}."
    if not lo <= body.get("duration", 5) <= hi:
        return "duration", f"duration must be between {lo} and {hi}."
    if body.get("resolution", "720p") not in resolutions:
        return "resolution", f"resolution must be one of {sorted(resolutions)}."
    if body.get("ratio", "16:9") not in RATIOS:
        return "ratio", "ratio is not valid."
    expires = body.get("execution_expires_after", 172800)
    if not 3600 <= expires <= 259200:
        return "execution_expires_after", "execution_expires_after must be in [3600, 259200]."
    return None
