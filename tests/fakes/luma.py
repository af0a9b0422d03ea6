"""A local fake of the Luma Dream Machine API (/dream-machine/v1): generations.

Mounted under /dream-machine/v1 like the real base URL. It checks `Authorization: Bearer`,
validates the documented video fields (lumaai 1.21.0: model ray-2 | ray-flash-2, duration
"5s" | "9s", resolution, aspect_ratio, keyframes with image URLs), creates generations on POST
/generations/video (and the guide's POST /generations), walks them queued → dreaming →
completed with `assets.video`, or failed with `failure_reason`, and deletes on DELETE. Errors
are `{"detail": "..."}`. Faults are scripted through `fake.state.script`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes import tiny_mp4

API_KEY = "luma-test-key"
PREFIX = "/dream-machine/v1"
MODELS = {"ray-2", "ray-flash-2"}
RESOLUTIONS = {"540p", "720p", "1080p", "4k"}
ASPECTS = {"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}


@dataclass
class LumaScript:
    fail_next_create: tuple[int, str] | None = None     # (HTTP status, detail)
    fail_next_poll: tuple[int, str] | None = None
    retry_after: str | None = "5"
    hang_next_create_s: float = 0.0
    fail_next_generation: str | None = None             # failure_reason of the next generation
    expire_results: bool = False
    polls_to_finish: int = 3


@dataclass
class LumaState:
    script: LumaScript = field(default_factory=LumaScript)
    creates: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    generations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reset(self) -> None:
        self.script = LumaScript()
        self.creates.clear()
        self.deletes.clear()
        self.generations.clear()


def detail(status: int, text: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": text}, status_code=status, headers=headers)


def validate(body: dict[str, Any]) -> str | None:
    if body.get("model") not in MODELS:
        return f"Invalid model: {body.get('model')!r}"
    if "duration" in body and body["duration"] not in ("5s", "9s"):
        return f"Invalid duration: {body['duration']!r}"
    if "resolution" in body and body["resolution"] not in RESOLUTIONS:
        return f"Invalid resolution: {body['resolution']!r}"
    if "aspect_ratio" in body and body["aspect_ratio"] not in ASPECTS:
        return f"Invalid aspect ratio: {body['aspect_ratio']!r}"
    frames = body.get("keyframes") or {}
    for name, frame in frames.items():
        if frame.get("type") == "image" and not str(frame.get("url", "")).startswith(("http://", "https://")):
            return f"keyframes.{name}.url must be a URL"
    if not body.get("prompt") and not frames:
        return "prompt is required"
    return None


def create_app(api_key: str = API_KEY) -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix=PREFIX)
    state = LumaState()
    app.state.fake = state

    def check(request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {api_key}":
            return detail(401, "Invalid API key")
        return None

    def view(gen: dict[str, Any], base: str) -> dict[str, Any]:
        out = {"id": gen["id"], "generation_type": "video", "state": gen["state"], "failure_reason": gen["failure_reason"],
               "created_at": "2026-11-25T10:00:00.000000Z", "model": gen["request"]["model"],
               "request": {"generation_type": "video", **gen["request"]},
               "assets": {"video": None, "image": None, "progress_video": None}}
        if gen["state"] == "completed":
            out["assets"] = {"video": f"{base}files/{gen['id']}.mp4", "image": f"{base}files/{gen['id']}.jpg",
                             "progress_video": None}
        return out

    async def create(request: Request) -> JSONResponse:
        if (denied := check(request)) is not None:
            return denied
        body = await request.json()
        state.creates.append({"path": request.url.path, "body": body})
        script = state.script
        if script.fail_next_create:
            status, text = script.fail_next_create
            script.fail_next_create = None
            headers = {"Retry-After": script.retry_after} if status == 429 and script.retry_after else None
            return detail(status, text, headers)
        if (problem := validate(body)) is not None:
            return detail(400, problem)
        gen_id = str(uuid.uuid4())
        gen = {"id": gen_id, "state": "queued", "failure_reason": None, "request": body, "polls": 0,
               "fail_with": script.fail_next_generation}
        script.fail_next_generation = None
        state.generations[gen_id] = gen
        if script.hang_next_create_s:
            delay, script.hang_next_create_s = script.hang_next_create_s, 0.0
            await asyncio.sleep(delay)
        return JSONResponse(view(gen, str(request.base_url)), status_code=201)

    @router.post("/generations/video")
    async def create_video(request: Request):
        return await create(request)

    @router.post("/generations")
    async def create_generation(request: Request):
        return await create(request)

    @router.get("/generations/{gen_id}")
    async def get_generation(gen_id: str, request: Request):
        if (denied := check(request)) is not None:
            return denied
        script = state.script
        if script.fail_next_poll:
            status, text = script.fail_next_poll
            script.fail_next_poll = None
            headers = {"Retry-After": script.retry_after} if status == 429 and script.retry_after else None
            return detail(status, text, headers)
        gen = state.generations.get(gen_id)
        if gen is None:
            return detail(404, "Generation not found")
        gen["polls"] += 1
        if gen["state"] in ("queued", "dreaming"):
            if gen["polls"] >= script.polls_to_finish:
                if gen["fail_with"]:
                    gen["state"], gen["failure_reason"] = "failed", gen["fail_with"]
                else:
                    gen["state"] = "completed"
            elif gen["polls"] >= 2:
                gen["state"] = "dreaming"
        return JSONResponse(view(gen, str(request.base_url)))

    @router.delete("/generations/{gen_id}")
    async def delete_generation(gen_id: str, request: Request):
        if (denied := check(request)) is not None:
            return denied
        state.deletes.append(gen_id)
        if state.generations.pop(gen_id, None) is None:
            return detail(404, "Generation not found")
        return Response(status_code=204)

    app.include_router(router)

    @app.get("/files/{name}")
    async def files(name: str):
        if state.script.expire_results:
            return Response(b"<Error><Code>AccessDenied</Code></Error>", status_code=403, media_type="application/xml")
        return Response(tiny_mp4(), media_type="video/mp4")

    return app
