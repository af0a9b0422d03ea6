"""A local fake of MiniMax's v1 video API (POST /v1/video_generation, GET /v1/query/video_generation,
GET /v1/files/retrieve) plus the signed file URL the result is downloaded from.

It answers the way MiniMax does: refusals come back as HTTP 200 with a non-zero
`base_resp.status_code` (1004 auth, 1002 rate limit, 1008 balance, 1026/1027 sensitive content,
2013 invalid parameters), tasks go Queueing -> Processing -> Success over successive queries, and
a finished task yields a file_id whose download_url is served by this app. Faults are scripted
through `Script` (set attributes between calls); every create body is recorded in `creates`.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

MODELS = {"MiniMax-Hailuo-02", "MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast"}
I2V_ONLY = {"MiniMax-Hailuo-2.3-Fast"}
MESSAGES = {
    1002: "rate limit, please retry later",
    1004: "login fail: Please carry the API secret key in the 'Authorization' field of the request header",
    1008: "insufficient balance",
    1026: "video description contains sensitive content",
    1027: "output video contains sensitive content",
    2013: "invalid params",
}


from tests.fakes import tiny_mp4  # noqa: F401  (shared; re-exported for tests)


@dataclass
class Script:
    api_key: str = "test-minimax-key"
    polls_to_finish: int = 3               # queries answered Queueing/Processing before Success
    fail_next_create: int | None = None    # HTTP status for the next create (429 sends Retry-After)
    base_error_next_create: int | None = None  # HTTP 200 + this base_resp.status_code on the next create
    fail_next_query: int | None = None
    base_error_next_query: int | None = None
    hang_next_create: float = 0.0          # sleep this long before answering the next create
    fail_task_with: int | None = None      # tasks end "Fail" with this base_resp code (e.g. 1027)
    expire_downloads: bool = False         # the signed URL answers 403 like an expired OSS link
    auth_as_http_401: bool = False         # refuse a bad key with HTTP 401 in the v2 error shape
    retry_after: str = "7"
    creates: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)   # "METHOD /path" of every call
    queries: int = 0
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)


def _base(code: int = 0, msg: str | None = None) -> dict[str, Any]:
    return {"status_code": code, "status_msg": msg or ("success" if code == 0 else MESSAGES.get(code, "error"))}


def create_app(script: Script | None = None) -> tuple[FastAPI, Script]:
    state = script or Script()
    app = FastAPI()
    ids = itertools.count(106916112212032)

    @app.middleware("http")
    async def record(request: Request, call_next):
        state.requests.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {state.api_key}"

    @app.post("/v1/video_generation")
    async def create(request: Request):
        body = await request.json()
        state.creates.append(body)
        if state.hang_next_create:
            delay, state.hang_next_create = state.hang_next_create, 0.0
            await asyncio.sleep(delay)
        if state.fail_next_create:
            status, state.fail_next_create = state.fail_next_create, None
            headers = {"Retry-After": state.retry_after} if status == 429 else {}
            code = 1002 if status == 429 else 1000
            return JSONResponse({"task_id": "", "base_resp": _base(code, MESSAGES.get(code, "internal error"))},
                                status_code=status, headers=headers)
        if not authorized(request):
            if state.auth_as_http_401:
                return JSONResponse({"type": "error", "error": {"type": "authorized_error", "http_code": "401",
                                     "message": f"{MESSAGES[1004]} (1004)"}}, status_code=401)
            return {"task_id": "", "base_resp": _base(1004)}
        if state.base_error_next_create:
            code, state.base_error_next_create = state.base_error_next_create, None
            return {"task_id": "", "base_resp": _base(code)}
        problem = _invalid(body)
        if problem:
            return {"task_id": "", "base_resp": _base(2013, f"invalid params, {problem}")}
        task_id = str(next(ids))
        state.tasks[task_id] = {"polls": 0, "body": body, "file_id": str(next(ids))}
        return {"task_id": task_id, "base_resp": _base()}

    @app.get("/v1/query/video_generation")
    async def query(request: Request, task_id: str = ""):
        state.queries += 1
        if state.fail_next_query:
            status, state.fail_next_query = state.fail_next_query, None
            headers = {"Retry-After": state.retry_after} if status == 429 else {}
            return JSONResponse({"base_resp": _base(1002 if status == 429 else 1000, "server busy")},
                                status_code=status, headers=headers)
        if not authorized(request):
            return {"task_id": task_id, "status": "", "base_resp": _base(1004)}
        if state.base_error_next_query:
            code, state.base_error_next_query = state.base_error_next_query, None
            return {"task_id": task_id, "status": "", "base_resp": _base(code)}
        task = state.tasks.get(task_id)
        if task is None:
            return {"task_id": task_id, "status": "", "base_resp": _base(2013, "invalid params, task not found")}
        task["polls"] += 1
        n = task["polls"]
        if n < state.polls_to_finish:
            status = "Queueing" if n == 1 else "Processing"
            return {"task_id": task_id, "status": status, "file_id": "", "base_resp": _base()}
        if state.fail_task_with:
            return {"task_id": task_id, "status": "Fail", "file_id": "", "base_resp": _base(state.fail_task_with)}
        hd = task["body"].get("resolution") == "1080P"
        return {"task_id": task_id, "status": "Success", "file_id": task["file_id"],
                "video_width": 1920 if hd else 1366, "video_height": 1080 if hd else 768, "base_resp": _base()}

    @app.get("/v1/files/retrieve")
    async def retrieve(request: Request, file_id: str = ""):
        if not authorized(request):
            return {"base_resp": _base(1004)}
        if not any(t["file_id"] == file_id for t in state.tasks.values()):
            return {"base_resp": _base(2013, "invalid params, file not found")}
        base = str(request.base_url).rstrip("/")
        return {"file": {"file_id": int(file_id), "bytes": len(tiny_mp4()), "created_at": 1764000000,
                         "filename": "output.mp4", "purpose": "video_generation",
                         "download_url": f"{base}/signed/{file_id}.mp4?Expires=1764032400&Signature=fake"},
                "base_resp": _base()}

    @app.get("/signed/{file_id}.mp4")
    async def signed(file_id: str):
        if state.expire_downloads:
            return Response("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                            status_code=403, media_type="application/xml")
        return Response(tiny_mp4(), media_type="video/mp4")

    return app, state


def _invalid(body: dict[str, Any]) -> str | None:
    model = body.get("model")
    if model not in MODELS:
        return f"model {model!r} is not supported"
    if not body.get("prompt") and not body.get("first_frame_image"):
        return "prompt is required"
    if body.get("duration", 6) not in (6, 10):
        return "duration must be 6 or 10"
    resolution = body.get("resolution", "768P")
    if resolution not in ("512P", "768P", "1080P"):
        return f"resolution {resolution!r} is not supported"
    if resolution == "1080P" and body.get("duration", 6) != 6:
        return "1080P supports only 6 s"
    image = body.get("first_frame_image")
    if model in I2V_ONLY and not image:
        return f"{model} requires first_frame_image"
    if image and not (str(image).startswith("data:image/") or str(image).startswith("http")):
        return "first_frame_image must be a URL or a data URL"
    return None
