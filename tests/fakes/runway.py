"""A local fake of the Runway API (2024-11-06): text_to_video, image_to_video, tasks.

Like the real API it requires `Authorization: Bearer <secret>` and `X-Runway-Version:
2024-11-06` (400 without it), validates each model's documented fields (runwayml 5.24.0 types:
gen4.5 ratio/duration/promptText, gen4_turbo image-only), answers `{"id"}` on create and
`{"error": "..."}` on failures, and walks tasks PENDING (or THROTTLED) → RUNNING(progress) →
SUCCEEDED with `output` URLs, or FAILED with `failure`/`failureCode`. DELETE /v1/tasks/{id}
cancels. Faults are scripted through `fake.state.script`; creates and deletes are recorded.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes import tiny_mp4

API_SECRET = "key_runway_test_secret"
VERSION = "2024-11-06"
T2V_MODELS = {"gen4.5": {"1280:720", "720:1280"}}
# Models of other vendors hosted by Runway (runwayml 5.24.0 Veo3_1, Veo3_1Fast, Kling3_0Pro,
# Kling3_0Standard, Kling3_0_4k, KlingO3Pro, KlingO3Standard, KlingO3_4k, Seedance2, Seedance2Fast,
# Seedance2Mini, Hailuo3): the same ratios for text and image; the Seedance sets are the 16:9,
# 9:16 and 1:1 members of the SDK's longer lists (Fast and Mini: "480p and 720p only"). veo3 is
# gone from 5.24.0's request types, so, like an unknown model, it is refused.
_K4 = {"3840:2160", "2160:3840", "2880:2880"}
_K1080 = {"1920:1080", "1080:1920", "1440:1440"}
_K720 = {"1280:720", "720:1280", "960:960"}
HOSTED = {
    "veo3.1": {"1280:720", "720:1280", "1920:1080", "1080:1920"},
    "veo3.1_fast": {"1280:720", "720:1280", "1920:1080", "1080:1920"},
    "kling3.0_pro": _K1080, "kling3.0_standard": _K720, "kling3.0_4k": _K4,
    "klingO3_pro": _K1080, "klingO3_standard": _K720, "klingO3_4k": _K4,
    "seedance2": {"1280:720", "720:1280", "960:960", "1920:1080", "1080:1920", "1440:1440",
                  "3840:2160", "2160:3840", "3840:3840"},
    "seedance2_fast": _K720, "seedance2_mini": _K720,
    "hailuo3": {"adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"},   # ratio words, not pixels
}
HAILUO3_RESOLUTIONS = {"768p", "2k", "768P", "2K"}
HOSTED_DURATIONS = {"veo3.1": {4, 6, 8}, "veo3.1_fast": {4, 6, 8}}
NO_SEED = {"kling3.0_pro", "kling3.0_standard", "kling3.0_4k", "klingO3_pro", "klingO3_standard", "klingO3_4k",
           "hailuo3"}
T2V_MODELS.update(HOSTED)
I2V_MODELS = {
    "gen4.5": {"1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672"},
    "gen4_turbo": {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"},
    **HOSTED,
}


@dataclass
class RunwayScript:
    fail_next_create: tuple[int, str] | None = None    # (HTTP status, error text)
    fail_next_poll: tuple[int, str] | None = None
    retry_after: str | None = "4"
    hang_next_create_s: float = 0.0
    fail_next_task: tuple[str, str] | None = None       # (failureCode, failure)
    throttle_next_task: bool = False                    # first status THROTTLED instead of PENDING
    expire_results: bool = False
    polls_to_finish: int = 3


@dataclass
class RunwayState:
    script: RunwayScript = field(default_factory=RunwayScript)
    creates: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reset(self) -> None:
        self.script = RunwayScript()
        self.creates.clear()
        self.deletes.clear()
        self.tasks.clear()


def error(status: int, text: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status, headers=headers)


def validate(kind: str, body: dict[str, Any]) -> str | None:
    model = body.get("model")
    table = T2V_MODELS if kind == "text_to_video" else I2V_MODELS
    if model not in table:
        return f"Invalid model {model!r} for {kind}"
    if body.get("ratio") not in table[model]:
        return f"Invalid ratio {body.get('ratio')!r} for {model}"
    duration = body.get("duration")
    if model == "gen4.5" and (not isinstance(duration, int) or not 2 <= duration <= 10):
        return "duration must be an integer from 2 to 10"
    if model == "gen4_turbo" and duration is not None and duration not in (5, 10):
        return "duration must be 5 or 10"
    if model in HOSTED_DURATIONS and duration not in HOSTED_DURATIONS[model]:
        return f"duration must be one of {sorted(HOSTED_DURATIONS[model])}"
    if model in HOSTED and not isinstance(duration, int):
        return "duration must be an integer"
    if model in HOSTED and "audio" in body and not isinstance(body["audio"], bool):
        return "audio must be a boolean"
    if model == "hailuo3" and ("audio" in body or body.get("resolution", "768p") not in HAILUO3_RESOLUTIONS):
        return "hailuo3 takes resolution 768p or 2k and no audio field"
    if model == "hailuo3" and kind == "text_to_video" and body.get("ratio") == "adaptive":
        return "ratio adaptive needs an image or video reference"
    if model in NO_SEED and "seed" in body:
        return f"Unrecognized keys: ['seed'] for {model}"
    if model not in HOSTED and "audio" in body:
        return f"Unrecognized keys: ['audio'] for {model}"
    text = body.get("promptText")
    if model == "gen4.5" and not text:
        return "promptText is required"
    if text is not None and (not text or len(text.encode("utf-16-le")) // 2 > 1000):
        return "promptText must be a non-empty string up to 1000 characters"
    if "seed" in body and not (isinstance(body["seed"], int) and 0 <= body["seed"] <= 4294967295):
        return "seed must be an integer between 0 and 4294967295"
    if kind == "image_to_video":
        image = body.get("promptImage")
        if isinstance(image, list):
            image = image[0].get("uri") if image else None
        if not isinstance(image, str) or not (image.startswith("https://") or image.startswith("data:image/")
                                              or image.startswith("runway://")):
            return "promptImage must be an HTTPS URL, a Runway upload URI or a data URI"
        if image.startswith("data:") and len(image) > 5 * 1024 * 1024:
            return "promptImage data URI exceeds 5MB"
    unknown = set(body) - {"model", "promptText", "promptImage", "ratio", "duration", "seed", "contentModeration", "audio",
                           "resolution"}
    if unknown:
        return f"Unrecognized keys: {sorted(unknown)}"
    return None


def create_app(api_secret: str = API_SECRET) -> FastAPI:
    app = FastAPI()
    state = RunwayState()
    app.state.fake = state

    def check(request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {api_secret}":
            return error(401, "The API key you provided is incorrect.")
        if request.headers.get("x-runway-version") != VERSION:
            return error(400, f"The X-Runway-Version header is required; the current version is {VERSION}.")
        return None

    def view(task: dict[str, Any], base: str) -> dict[str, Any]:
        out = {"id": task["id"], "status": task["status"], "createdAt": "2026-11-25T10:00:00.000Z"}
        if task["status"] in ("PENDING", "THROTTLED", "RUNNING"):
            out["estimatedCost"] = {"credits": 5 * task["duration"]}
        else:
            out["cost"] = {"credits": 5 * task["duration"] if task["status"] == "SUCCEEDED" else 0}
        if task["status"] == "RUNNING":
            out["progress"] = task["progress"]
        if task["status"] == "SUCCEEDED":
            out["output"] = [f"{base}files/{task['id']}.mp4"]
        if task["status"] == "FAILED":
            out["failure"], out["failureCode"] = task["failure"], task["failureCode"]
        return out

    async def create(kind: str, request: Request) -> JSONResponse:
        if (denied := check(request)) is not None:
            return denied
        body = await request.json()
        state.creates.append({"endpoint": kind, "body": body})
        script = state.script
        if script.fail_next_create:
            status, text = script.fail_next_create
            script.fail_next_create = None
            headers = {"Retry-After": script.retry_after} if status == 429 and script.retry_after else None
            return error(status, text, headers)
        if (problem := validate(kind, body)) is not None:
            return error(400, problem)
        task_id = str(uuid.uuid4())
        task = {"id": task_id, "status": "THROTTLED" if script.throttle_next_task else "PENDING", "progress": 0.0,
                "duration": body.get("duration") or 5, "polls": 0, "fail": script.fail_next_task}
        script.throttle_next_task = False
        script.fail_next_task = None
        state.tasks[task_id] = task
        if script.hang_next_create_s:
            delay, script.hang_next_create_s = script.hang_next_create_s, 0.0
            await asyncio.sleep(delay)
        return JSONResponse({"id": task_id})

    @app.post("/v1/text_to_video")
    async def text_to_video(request: Request):
        return await create("text_to_video", request)

    @app.post("/v1/image_to_video")
    async def image_to_video(request: Request):
        return await create("image_to_video", request)

    @app.get("/v1/tasks/{task_id}")
    async def get_task(task_id: str, request: Request):
        if (denied := check(request)) is not None:
            return denied
        script = state.script
        if script.fail_next_poll:
            status, text = script.fail_next_poll
            script.fail_next_poll = None
            headers = {"Retry-After": script.retry_after} if status == 429 and script.retry_after else None
            return error(status, text, headers)
        task = state.tasks.get(task_id)
        if task is None:
            return error(404, "Task not found.")
        task["polls"] += 1
        if task["status"] in ("PENDING", "THROTTLED", "RUNNING"):
            if task["polls"] >= script.polls_to_finish:
                if task["fail"]:
                    task["status"] = "FAILED"
                    task["failureCode"], task["failure"] = task["fail"]
                else:
                    task["status"] = "SUCCEEDED"
            elif task["polls"] >= 2:
                task["status"], task["progress"] = "RUNNING", round(task["polls"] / script.polls_to_finish, 2)
        return JSONResponse(view(task, str(request.base_url)))

    @app.delete("/v1/tasks/{task_id}")
    async def delete_task(task_id: str, request: Request):
        if (denied := check(request)) is not None:
            return denied
        state.deletes.append(task_id)
        task = state.tasks.get(task_id)
        if task is None:
            return error(404, "Task not found.")
        if task["status"] in ("PENDING", "THROTTLED", "RUNNING"):
            task["status"] = "CANCELLED"
        else:
            del state.tasks[task_id]
        return Response(status_code=204)

    @app.get("/files/{name}")
    async def files(name: str):
        if state.script.expire_results:
            return Response(b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                            status_code=403, media_type="application/xml")
        return Response(tiny_mp4(), media_type="video/mp4")

    return app
