"""A local fake of the Kling API (/v1/videos/text2video and image2video).

It speaks Kling's documented protocol: a self-signed HS256 JWT (verified here with the secret,
including `iss`, `exp` and `nbf`), `{"code", "message", "request_id", "data"}` envelopes,
task_status submitted → processing → succeed | failed, queries by task_id or by
external_task_id, and Kling's error codes with their HTTP statuses. Faults are scripted through
`fake.state` (see `KlingScript`); every create call is recorded in `state.creates`.

`tiny_mp4()` (also used by the Runway and Luma fakes) renders a real 0.5 s 160x90 H.264 MP4
once with PyAV.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

ACCESS_KEY = "ak-test"
SECRET_KEY = "sk-test-secret-0123456789abcdef0123456789"


from tests.fakes import tiny_mp4  # noqa: F401  (shared; re-exported for tests)


@dataclass
class KlingScript:
    fail_next_create: tuple[int, int, str] | None = None   # (HTTP status, Kling code, message)
    fail_next_poll: tuple[int, int, str] | None = None
    retry_after: str | None = "3"
    hang_next_create_s: float = 0.0        # record the create, then answer this late (client timeout)
    moderate_next_task: str | None = None  # next task ends failed with this task_status_msg
    fail_next_task: str | None = None      # next task ends failed with this (non-moderation) message
    expire_results: bool = False           # result URLs answer 404 (expired)
    polls_to_finish: int = 3               # status queries before a task succeeds


@dataclass
class KlingState:
    script: KlingScript = field(default_factory=KlingScript)
    creates: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_seen: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.script = KlingScript()
        self.creates.clear()
        self.tasks.clear()
        self.tokens_seen.clear()


def envelope(code: int, message: str, data: Any = None, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "request_id": uuid.uuid4().hex, "data": data},
                        status_code=status, headers=headers)


def create_app(access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> FastAPI:
    app = FastAPI()
    state = KlingState()
    app.state.fake = state

    def check_auth(request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if not header:
            return envelope(1001, "Authorization is empty", status=401)
        if not header.startswith("Bearer "):
            return envelope(1002, "Authorization is invalid", status=401)
        token = header[len("Bearer "):]
        state.tokens_seen.append(token)
        try:
            claims = jwt.decode(token, secret_key, algorithms=["HS256"], options={"require": ["exp", "nbf", "iss"]})
        except jwt.ExpiredSignatureError:
            return envelope(1004, "Authorization token has expired", status=401)
        except jwt.ImmatureSignatureError:
            return envelope(1003, "Authorization is not yet valid", status=401)
        except jwt.PyJWTError:
            return envelope(1000, "Authentication failed", status=401)
        if claims.get("iss") != access_key:
            return envelope(1000, "Authentication failed", status=401)
        return None

    def task_view(task: dict[str, Any], base: str) -> dict[str, Any]:
        view = {k: task[k] for k in ("task_id", "task_status", "task_status_msg", "created_at", "updated_at")}
        view["task_info"] = {"external_task_id": task["external_task_id"]}
        if task["task_status"] == "succeed":
            view["task_result"] = {"videos": [{"id": task["task_id"], "url": f"{base}files/{task['task_id']}.mp4",
                                               "duration": task["duration"]}]}
            view["final_unit_deduction"] = "1"
        return view

    async def create(kind: str, request: Request) -> JSONResponse:
        if (denied := check_auth(request)) is not None:
            return denied
        body = await request.json()
        state.creates.append({"endpoint": kind, "body": body})
        script = state.script
        if script.fail_next_create:
            status, code, message = script.fail_next_create
            script.fail_next_create = None
            headers = {"Retry-After": script.retry_after} if status == 429 and script.retry_after else None
            return envelope(code, message, status=status, headers=headers)
        if not body.get("prompt") and kind == "text2video":
            return envelope(1201, "prompt is required", status=400)
        if kind == "image2video":
            image = body.get("image", "")
            if not image or image.startswith("data:"):
                return envelope(1201, "image must be a URL or raw base64 without the data: prefix", status=400)
        if body.get("duration") not in {str(d) for d in range(3, 16)}:
            return envelope(1201, f"invalid duration {body.get('duration')!r}", status=400)
        ext = body.get("external_task_id")
        if ext and any(t["external_task_id"] == ext for t in state.tasks.values()):
            return envelope(1201, "external_task_id already exists", status=400)
        task_id = uuid.uuid4().hex
        now = 1_732_500_000_000
        task = {"task_id": task_id, "task_status": "submitted", "task_status_msg": "", "created_at": now,
                "updated_at": now, "external_task_id": ext or "", "duration": body.get("duration"), "kind": kind,
                "polls": 0, "fail_with": None}
        if script.moderate_next_task:
            task["fail_with"], script.moderate_next_task = script.moderate_next_task, None
        elif script.fail_next_task:
            task["fail_with"], script.fail_next_task = script.fail_next_task, None
        state.tasks[task_id] = task
        if script.hang_next_create_s:  # the task exists, but the answer comes too late for the client
            delay, script.hang_next_create_s = script.hang_next_create_s, 0.0
            await asyncio.sleep(delay)
        return envelope(0, "SUCCEED", {"task_id": task_id, "task_status": "submitted",
                                       "task_info": {"external_task_id": task["external_task_id"]},
                                       "created_at": now, "updated_at": now})

    async def query(kind: str, ident: str, request: Request) -> JSONResponse:
        if (denied := check_auth(request)) is not None:
            return denied
        script = state.script
        if script.fail_next_poll:
            status, code, message = script.fail_next_poll
            script.fail_next_poll = None
            headers = {"Retry-After": script.retry_after} if status == 429 and script.retry_after else None
            return envelope(code, message, status=status, headers=headers)
        task = state.tasks.get(ident) or next((t for t in state.tasks.values() if t["external_task_id"] == ident), None)
        if task is None or task["kind"] != kind:
            return envelope(1203, "task not found", status=404)
        task["polls"] += 1
        if task["task_status"] in ("submitted", "processing"):
            if task["polls"] >= script.polls_to_finish:
                if task["fail_with"]:
                    task["task_status"], task["task_status_msg"] = "failed", task["fail_with"]
                else:
                    task["task_status"] = "succeed"
            elif task["polls"] >= 2:
                task["task_status"] = "processing"
        return envelope(0, "SUCCEED", task_view(task, str(request.base_url)))

    @app.post("/v1/videos/text2video")
    async def text2video(request: Request):
        return await create("text2video", request)

    @app.post("/v1/videos/image2video")
    async def image2video(request: Request):
        return await create("image2video", request)

    @app.get("/v1/videos/text2video/{ident}")
    async def get_t2v(ident: str, request: Request):
        return await query("text2video", ident, request)

    @app.get("/v1/videos/image2video/{ident}")
    async def get_i2v(ident: str, request: Request):
        return await query("image2video", ident, request)

    @app.get("/files/{name}")
    async def files(name: str):
        if state.script.expire_results:
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", status_code=404, media_type="application/xml")
        return Response(tiny_mp4(), media_type="video/mp4")

    return app
