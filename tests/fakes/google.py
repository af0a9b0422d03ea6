"""A local fake of the Gemini API's video surface: Veo's predictLongRunning + operations, the
Files download, and the Interactions API used by Gemini Omni. `google.genai.Client` drives it.

What it follows:
- Auth: `x-goog-api-key` (or `?key=`). A missing or wrong key gets Google's real answer for that:
  HTTP 400 INVALID_ARGUMENT "API key not valid…" with an ErrorInfo reason API_KEY_INVALID.
  Every error body is `{"error": {"code", "message", "status", "details"}}`.
- `POST /{v}/models/{model}:predictLongRunning` → `{"name": "models/{model}/operations/{id}"}`.
  Retired preview ids answer 404 NOT_FOUND "… is no longer available" (as reported after
  2026-10-22); unknown ids 404 "not found".
- `GET /{v}/models/{model}/operations/{id}` → `{"name", "done": false}` for a few polls, then
  `done: true` with `response.generateVideoResponse.generatedSamples[0].video.uri` (or
  `encodedVideo` inline), `raiMediaFilteredCount`/`raiMediaFilteredReasons` (moderation), or
  `error` (google.rpc.Status). Shapes as parsed by google-genai's `_GenerateVideosOperation_from_mldev`.
- `GET /{v}/files/{id}:download?alt=media` needs the key and redirects (302) to the bytes, like
  the real Files download; `expire_results` makes it 404 (Google keeps videos two days).
- `POST /{v}/interactions` (`background: true`) → Interaction `{"id", "status", "object",
  "model", "created", "updated"}`; `GET /{v}/interactions/{id}` walks queued → in_progress →
  completed with a `model_output` step whose content holds `{"type": "video", "uri"|"data",
  "mime_type"}`; `POST …/{id}/cancel` → cancelled. Field names from google-genai 3.6.1's
  generated Interaction types. How Omni reports a safety block is not documented: the fake's
  `failed` + `errors[{code: "SAFETY", …}]` is our assumption.

Faults through `GoogleState`: `fail_next_create` = 400 | 403 | 429 | 500 | 503 | "hang";
`fail_next_get` = an HTTP status; `next_outcome` = "ok" | "inline" | "moderation" | "error" |
"safety_error" (Omni).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes import tiny_mp4

LIVE_VEO = {"veo-3.1-generate-001", "veo-3.1-fast-generate-001"}
RETIRED_VEO = {"veo-3.1-generate-preview", "veo-3.1-fast-generate-preview", "veo-3.1-lite-generate-preview"}
OMNI = {"gemini-omni-1.1-flash", "gemini-omni-1.2-flash"}
RAI_REASON = ("Your current safety settings for person generation blocked this video. You will not be charged "
              "for blocked videos. Support codes: 17301594")


@dataclass
class Job:
    id: str
    kind: str        # "operation" | "interaction"
    model: str
    outcome: str
    delivery: str = "uri"
    polls: int = 0
    cancelled: bool = False


@dataclass
class GoogleState:
    key: str = "AIza-test-key"
    pending_polls: int = 2         # polls answered done:false / queued+in_progress before the end
    next_outcome: str = "ok"
    fail_next_create: int | str | None = None
    fail_next_get: int | None = None
    retry_delay: str = "11s"
    hang_s: float = 2.0
    expire_results: bool = False
    creates: list[dict[str, Any]] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    downloads: list[dict[str, str]] = field(default_factory=list)
    blob_requests: list[dict[str, str]] = field(default_factory=list)
    storage_url: str | None = None  # where the Files download redirects (another host, as in production)
    jobs: dict[str, Job] = field(default_factory=dict)


def gerror(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "status": status, "details": details or []}},
                        status_code=code)


def create_app(state: GoogleState | None = None) -> Starlette:
    state = state or GoogleState()

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def unauthorized(request: Request) -> Response | None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if key != state.key:
            return gerror(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])
        return None

    def fault(code: int) -> Response:
        if code == 429:
            return gerror(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and "
                          "billing details.", [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                "retryDelay": state.retry_delay}])
        if code == 400:
            return gerror(400, "INVALID_ARGUMENT", "The prompt could not be submitted. Your prompt contains words that "
                          "violate Google's Responsible AI practices.")
        if code == 403:
            return gerror(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        if code == 503:
            return gerror(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        return gerror(code, "INTERNAL", "Internal error encountered.")

    async def predict(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        model, _, action = request.path_params["model_action"].partition(":")
        if action != "predictLongRunning":
            return gerror(404, "NOT_FOUND", f"Method {action} not found")
        body = await request.json()
        state.creates.append({"kind": "predict", "model": model, "version": request.path_params["v"],
                              "body": body, "headers": dict(request.headers)})
        failure, state.fail_next_create = state.fail_next_create, None
        if isinstance(failure, int):
            return fault(failure)
        if model in RETIRED_VEO:
            return gerror(404, "NOT_FOUND", f"models/{model} is no longer available. Please use a newer model.")
        if model not in LIVE_VEO:
            return gerror(404, "NOT_FOUND", f"models/{model} is not found for API version "
                          f"{request.path_params['v']}, or is not supported for predictLongRunning.")
        params = body.get("parameters", {})
        if "seed" in params or "generateAudio" in params:  # the Gemini API refuses Vertex-only fields
            return gerror(400, "INVALID_ARGUMENT", "`seed` / `generateAudio` isn't supported by this model.")
        job = Job(id=uuid.uuid4().hex[:12], kind="operation", model=model, outcome=state.next_outcome)
        state.jobs[job.id] = job
        if failure == "hang":
            await asyncio.sleep(state.hang_s)
        return JSONResponse({"name": f"models/{model}/operations/{job.id}"})

    async def operation(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        if state.fail_next_get:
            code, state.fail_next_get = state.fail_next_get, None
            return fault(code)
        job = state.jobs.get(request.path_params["op"])
        name = f"models/{request.path_params['model']}/operations/{request.path_params['op']}"
        if job is None:
            return gerror(404, "NOT_FOUND", f"Operation {name} not found.")
        job.polls += 1
        if job.polls <= state.pending_polls:
            return JSONResponse({"name": name, "done": False})
        if job.outcome == "error":
            return JSONResponse({"name": name, "done": True, "error": {"code": 13, "message": "Video generation failed "
                                 "due to an internal error. Please try again."}})
        resp: dict[str, Any] = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"}
        if job.outcome == "moderation":
            resp["generateVideoResponse"] = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
        elif job.outcome == "inline":
            resp["generateVideoResponse"] = {"generatedSamples": [{"video": {
                "encodedVideo": base64.b64encode(tiny_mp4()).decode(), "encoding": "video/mp4"}}]}
        else:
            uri = f"{base(request)}/{request.path_params['v']}/files/{job.id}:download?alt=media"
            resp["generateVideoResponse"] = {"generatedSamples": [{"video": {"uri": uri}}]}
        return JSONResponse({"name": name, "done": True, "response": resp})

    async def file_download(request: Request) -> Response:
        state.downloads.append(dict(request.headers))
        if (resp := unauthorized(request)) is not None:
            return resp
        if state.expire_results:
            return gerror(404, "NOT_FOUND", "File not found.")
        fid = request.path_params["fid_action"].partition(":")[0]
        return RedirectResponse(f"{state.storage_url or base(request)}/blob/{fid}.mp4", status_code=302)

    async def blob(request: Request) -> Response:
        state.blob_requests.append(dict(request.headers))
        return Response(tiny_mp4(), media_type="video/mp4")

    def interaction_json(job: Job) -> dict[str, Any]:
        body: dict[str, Any] = {"id": job.id, "object": "interaction", "model": job.model,
                                "created": "2026-11-25T10:00:00Z", "updated": "2026-11-25T10:00:30Z"}
        if job.cancelled:
            return {**body, "status": "cancelled"}
        if job.polls <= 1:
            return {**body, "status": "queued"}
        if job.polls <= state.pending_polls:
            return {**body, "status": "in_progress"}
        if job.outcome == "safety_error":
            return {**body, "status": "failed", "errors": [{"code": "SAFETY", "message": "The request was blocked for "
                                                            "safety reasons: the output may depict a real person."}]}
        if job.outcome == "error":
            return {**body, "status": "failed", "errors": [{"code": "INTERNAL", "message": "Video generation failed."}]}
        video: dict[str, Any] = {"type": "video", "mime_type": "video/mp4"}
        if job.delivery == "uri":
            video["uri"] = f"{job.model}/files/{job.id}"  # replaced with an absolute URL in the handler
        else:
            video["data"] = base64.b64encode(tiny_mp4()).decode()
        return {**body, "status": "completed",
                "steps": [{"type": "user_input", "content": [{"type": "text", "text": "…"}]},
                          {"type": "model_output", "content": [video]}],
                "usage": {"output_tokens_by_modality": [{"modality": "video", "tokens": 46336}]}}

    def absolute(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        for step in body.get("steps", []):
            for block in step.get("content", []):
                if block.get("type") == "video" and "uri" in block:
                    jid = block["uri"].rsplit("/", 1)[1]
                    block["uri"] = f"{base(request)}/{request.path_params['v']}/files/{jid}:download?alt=media"
        return body

    async def create_interaction(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        body = await request.json()
        state.creates.append({"kind": "interaction", "model": body.get("model"), "version": request.path_params["v"],
                              "body": body, "headers": dict(request.headers)})
        failure, state.fail_next_create = state.fail_next_create, None
        if isinstance(failure, int):
            return fault(failure)
        if body.get("model") not in OMNI:
            return gerror(404, "NOT_FOUND", f"models/{body.get('model')} is not found for the Interactions API.")
        if not body.get("background"):
            return gerror(400, "INVALID_ARGUMENT", "Video generation requires background=true.")
        fmt = body.get("response_format") or {}
        delivery = (fmt.get("delivery") if isinstance(fmt, dict) else None) or "inline"
        outcome = "ok" if state.next_outcome == "inline" else state.next_outcome
        if state.next_outcome == "inline":
            delivery = "inline"
        job = Job(id=f"v1_{uuid.uuid4().hex[:16]}", kind="interaction", model=body["model"], outcome=outcome,
                  delivery=delivery)
        state.jobs[job.id] = job
        if failure == "hang":
            await asyncio.sleep(state.hang_s)
        return JSONResponse({**interaction_json(job), "status": "in_progress"})

    async def get_interaction(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        if state.fail_next_get:
            code, state.fail_next_get = state.fail_next_get, None
            return fault(code)
        job = state.jobs.get(request.path_params["iid"])
        if job is None or job.kind != "interaction":
            return gerror(404, "NOT_FOUND", "Interaction not found.")
        job.polls += 1
        return JSONResponse(absolute(request, interaction_json(job)))

    async def cancel_interaction(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        iid = request.path_params["iid"]
        state.cancels.append(iid)
        job = state.jobs.get(iid)
        if job is None:
            return gerror(404, "NOT_FOUND", "Interaction not found.")
        job.cancelled = True
        return JSONResponse(interaction_json(job))

    app = Starlette(routes=[
        Route("/{v}/models/{model_action}", predict, methods=["POST"]),
        Route("/{v}/models/{model}/operations/{op}", operation, methods=["GET"]),
        Route("/{v}/files/{fid_action}", file_download, methods=["GET"]),
        Route("/blob/{name}", blob, methods=["GET"]),
        Route("/{v}/interactions", create_interaction, methods=["POST"]),
        Route("/{v}/interactions/{iid}", get_interaction, methods=["GET"]),
        Route("/{v}/interactions/{iid}/cancel", cancel_interaction, methods=["POST"]),
    ])
    app.state.google = state
    return app


def create_storage_app(state: GoogleState) -> Starlette:
    """The storage host the Files download redirects to (signed URL, no API key needed)."""

    async def blob(request: Request) -> Response:
        state.blob_requests.append(dict(request.headers))
        return Response(tiny_mp4(), media_type="video/mp4")

    return Starlette(routes=[Route("/blob/{name}", blob, methods=["GET"])])
