"""A local fake of the Luma Agents API (/v1/generations) for Ray 3.2 video.

It checks `Authorization: Bearer`, validates the documented video request (luma-agents 0.5.0:
type, model ray-3.2, aspect ratio, video.duration "5s" | "10s", video.resolution, a start_frame
with exactly one of url / data(+media_type) / generation_id / file_id, and Luma's "start frame
only with 5 s" rule as a 422), answers 201 with a Generation, walks it queued → processing →
completed with `output: [{"type": "video", "url"}]`, or failed with `failure_code` and
`failure_reason`. Synchronous errors are `{"detail": "..."}`. There is no cancel endpoint.
Faults are scripted through `fake.state.script`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes import tiny_mp4

API_KEY = "luma-api-test-agents-key"
PREFIX = "/v1"
ASPECTS = {"9:16", "3:4", "1:1", "4:3", "16:9", "21:9"}
RESOLUTIONS = {"360p", "540p", "720p", "1080p"}


@dataclass
class AgentsScript:
    fail_next_create: tuple[int, str] | None = None      # (HTTP status, detail)
    fail_next_poll: tuple[int, str] | None = None
    retry_after: str | None = "6"
    hang_next_create_s: float = 0.0
    fail_next_generation: tuple[str, str] | None = None  # (failure_code, failure_reason)
    expire_results: bool = False
    polls_to_finish: int = 3


@dataclass
class AgentsState:
    script: AgentsScript = field(default_factory=AgentsScript)
    creates: list[dict[str, Any]] = field(default_factory=list)
    generations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reset(self) -> None:
        self.script = AgentsScript()
        self.creates.clear()
        self.generations.clear()


def detail(status: int, text: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": text}, status_code=status, headers=headers)


def validate(body: dict[str, Any]) -> tuple[int, str] | None:
    if not body.get("prompt"):
        return 400, "prompt is required"
    if body.get("type", "image") != "video":
        return 400, f"type {body.get('type')!r} is not a video generation"
    if body.get("model") != "ray-3.2":
        return 400, f"model {body.get('model')!r} does not support type=video"
    if body.get("aspect_ratio") is not None and body["aspect_ratio"] not in ASPECTS:
        return 400, f"aspect_ratio {body['aspect_ratio']!r} is not supported by ray-3.2"
    video = body.get("video") or {}
    if video.get("duration", "5s") not in ("5s", "10s"):
        return 400, f"video.duration {video.get('duration')!r} must be 5s or 10s"
    if video.get("resolution", "720p") not in RESOLUTIONS:
        return 400, f"video.resolution {video.get('resolution')!r} is not supported"
    frame = video.get("start_frame")
    if frame is not None:
        given = [k for k in ("url", "data", "generation_id", "file_id") if frame.get(k)]
        if len(given) != 1:
            return 400, "video.start_frame needs exactly one of url, data, generation_id or file_id"
        if "data" in given:
            if not frame.get("media_type"):
                return 400, "video.start_frame.media_type is required with data"
            try:
                base64.b64decode(frame["data"], validate=True)
            except (binascii.Error, ValueError):
                return 422, "video.start_frame.data is not valid base64"
        if video.get("duration") == "10s":
            return 422, "start_frame is not supported with duration=10s"
    return None


def create_app(api_key: str = API_KEY) -> FastAPI:
    app = FastAPI()
    state = AgentsState()
    app.state.fake = state

    def check(request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {api_key}":
            return detail(401, "Invalid or missing API key")
        return None

    def view(gen: dict[str, Any], base: str) -> dict[str, Any]:
        out = {"id": gen["id"], "created_at": "2026-11-25T10:00:00Z", "model": "ray-3.2", "state": gen["state"],
               "type": "video", "failure_code": None, "failure_reason": None, "output": None}
        if gen["state"] == "completed":
            out["output"] = [{"type": "video", "url": f"{base}files/{gen['id']}.mp4?X-Amz-Expires=3600"}]
        if gen["state"] == "failed":
            out["failure_code"], out["failure_reason"] = gen["fail_with"]
        return out

    @app.post(f"{PREFIX}/generations")
    async def create(request: Request):
        if (denied := check(request)) is not None:
            return denied
        body = await request.json()
        state.creates.append({"body": body})
        script = state.script
        if script.fail_next_create:
            status, text = script.fail_next_create
            script.fail_next_create = None
            headers = {"Retry-After": script.retry_after} if status == 429 and script.retry_after else None
            return detail(status, text, headers)
        if (problem := validate(body)) is not None:
            return detail(*problem)
        gen = {"id": str(uuid.uuid4()), "state": "queued", "polls": 0, "fail_with": script.fail_next_generation}
        script.fail_next_generation = None
        state.generations[gen["id"]] = gen
        if script.hang_next_create_s:
            delay, script.hang_next_create_s = script.hang_next_create_s, 0.0
            await asyncio.sleep(delay)
        return JSONResponse(view(gen, str(request.base_url)), status_code=201)

    @app.get(f"{PREFIX}/generations/{{gen_id}}")
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
        if gen["state"] in ("queued", "processing"):
            if gen["polls"] >= script.polls_to_finish:
                gen["state"] = "failed" if gen["fail_with"] else "completed"
            elif gen["polls"] >= 2:
                gen["state"] = "processing"
        return JSONResponse(view(gen, str(request.base_url)))

    @app.get("/files/{name}")
    async def files(name: str):
        if state.script.expire_results:
            return Response(b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                            status_code=403, media_type="application/xml")
        return Response(tiny_mp4(), media_type="video/mp4")

    return app
