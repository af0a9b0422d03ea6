"""A local fake of fal's queue API (queue.fal.run), close enough that `fal_client` drives it.

What it follows (docs.fal.ai queue + errors pages, fal_client 1.0.3 source):
- `Authorization: Key <key>`; anything else is 401 `{"detail": …}`.
- `POST /{endpoint_id}` queues a request and answers `request_id`, `status_url`,
  `response_url`, `cancel_url`, `queue_position`. Those URLs use only `{owner}/{alias}` of the
  endpoint, as fal's do, so a client that builds URLs from the full endpoint id breaks here too.
- `GET …/requests/{id}/status` walks IN_QUEUE → IN_PROGRESS (with a percentage in the logs) →
  COMPLETED over successive polls; COMPLETED can carry `error`/`error_type`.
- `GET …/requests/{id}` returns `{"video": {"url", …}, "seed"}` or fal's 422 `detail` list
  (`content_policy_violation` for moderation); before completion, 400 "still in progress".
- `PUT …/requests/{id}/cancel` → 202 CANCELLATION_REQUESTED, or 400 ALREADY_COMPLETED. A
  cancelled request then reports COMPLETED with an error; the exact `error_type` fal uses for
  that is not documented, "request_cancelled" here is our assumption.

Faults are scripted through `FalState` (one instance per fake, reset by the test):
`fail_next_create` = 401 | 403 | 422 | 429 | 500 | 503 | "hang"; `fail_next_status` /
`fail_next_result` = an HTTP status (5040: a 504 carrying X-Fal-Request-Timeout-Type, i.e. the
start timeout we asked for ran out); `next_outcome` = "ok" | "moderation" | "error" |
"validation"; `expire_results` makes the result file 404. Wan endpoints answer `actual_prompt`,
expanded only when the request sent `enable_prompt_expansion: true`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import tiny_mp4  # noqa: F401  (re-exported for tests)


@dataclass
class FalJob:
    id: str
    endpoint: str
    outcome: str
    polls: int = 0
    cancelled: bool = False
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class FalState:
    key: str = "fal-test-key:secret"
    queued_polls: int = 1          # status polls that answer IN_QUEUE before IN_PROGRESS
    running_polls: int = 1         # then IN_PROGRESS, then COMPLETED
    next_outcome: str = "ok"       # ok | moderation | error | validation (for the next create)
    fail_next_create: int | str | None = None
    fail_next_status: int | None = None
    fail_next_result: int | None = None
    retry_after: str = "7"
    hang_s: float = 2.0
    expire_results: bool = False
    creates: list[dict[str, Any]] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    jobs: dict[str, FalJob] = field(default_factory=dict)


MOTION_CONTROL_FIELDS = {"prompt", "image_url", "video_url", "character_orientation", "keep_original_sound"}


def motion_control_problem(body: dict[str, Any]) -> tuple[str, str] | None:
    """Kling v3 Motion Control's input as its schema lists it (image_url and video_url required,
    character_orientation "image" | "video", keep_original_sound bool, prompt ≤ 2500): the
    first (field, message) it refuses, else None."""
    for field, kind in (("image_url", "image"), ("video_url", "video")):
        value = body.get(field)
        if not isinstance(value, str) or not (value.startswith("https://") or value.startswith(f"data:{kind}/")):
            return field, f"{field} must be an HTTPS URL or a data:{kind}/… URI"
    if body.get("character_orientation", "image") not in ("image", "video"):
        return "character_orientation", "must be 'image' or 'video'"
    if not isinstance(body.get("keep_original_sound", True), bool):
        return "keep_original_sound", "must be a boolean"
    if len(body.get("prompt") or "") > 2500:
        return "prompt", "at most 2500 characters"
    unknown = set(body) - MOTION_CONTROL_FIELDS
    if unknown:
        return sorted(unknown)[0], "extra inputs are not permitted"
    return None


# fal signs webhooks with ED25519 and publishes the public keys as JWKS (docs/providers/webhooks.md);
# the fake's key is fixed so a test can sign a delivery exactly as fal would.
WEBHOOK_KEY_SEED = bytes(range(32))
WEBHOOK_USER_ID = "fal-user-1234"


def webhook_delivery(payload: dict[str, Any], *, timestamp: int | None = None, seed: bytes = WEBHOOK_KEY_SEED,
                     user_id: str = WEBHOOK_USER_ID) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a webhook as fal sends it for `payload` (request_id, status, payload)."""
    import hashlib
    import json
    import time

    from nacl.signing import SigningKey

    body = json.dumps(payload).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    message = f"{payload['request_id']}\n{user_id}\n{stamp}\n{hashlib.sha256(body).hexdigest()}".encode()
    signature = SigningKey(seed).sign(message).signature.hex()
    return ({"X-Fal-Webhook-Request-Id": payload["request_id"], "X-Fal-Webhook-User-Id": user_id,
             "X-Fal-Webhook-Timestamp": stamp, "X-Fal-Webhook-Signature": signature,
             "Content-Type": "application/json"}, body)


def jwks() -> dict[str, Any]:
    import base64

    from nacl.signing import SigningKey

    x = base64.urlsafe_b64encode(bytes(SigningKey(WEBHOOK_KEY_SEED).verify_key)).rstrip(b"=").decode()
    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "fake-1", "use": "sig", "alg": "EdDSA"}]}


def create_app(state: FalState | None = None) -> Starlette:
    state = state or FalState()

    def unauthorized(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Key {state.key}":
            return JSONResponse({"detail": "No user found for Key ID and Secret"}, status_code=401)
        return None

    def fault(code: int) -> Response:
        if code == 429:
            return JSONResponse({"detail": "Too many concurrent requests for this user"}, status_code=429,
                                headers={"Retry-After": state.retry_after})
        if code == 503:
            return JSONResponse({"detail": "Service temporarily unavailable, try again"}, status_code=503,
                                headers={"Retry-After": state.retry_after})
        if code == 403:
            return JSONResponse({"detail": "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."},
                                status_code=403)
        if code == 401:
            return JSONResponse({"detail": "No user found for Key ID and Secret"}, status_code=401)
        if code == 422:
            return JSONResponse({"detail": [{"loc": ["body", "duration"], "msg": "value is not a valid enumeration member; permitted: '5', '10'",
                                             "type": "type_error.enum"}]}, status_code=422)
        if code == 5040:  # the request's X-Fal-Request-Timeout ran out before it started
            return JSONResponse({"detail": "Request timed out before processing started"}, status_code=504,
                                headers={"X-Fal-Request-Timeout-Type": "user"})
        return JSONResponse({"detail": "Internal server error"}, status_code=code)

    async def submit(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        endpoint = request.path_params["endpoint"]
        body = await request.json()
        state.creates.append({"endpoint": endpoint, "body": body, "headers": dict(request.headers),
                              "query": dict(request.query_params)})
        failure, state.fail_next_create = state.fail_next_create, None
        if isinstance(failure, int):
            return fault(failure)
        if endpoint.endswith("/motion-control") and (problem := motion_control_problem(body)):
            return JSONResponse({"detail": [{"loc": ["body", problem[0]], "msg": problem[1], "type": "value_error"}]},
                                status_code=422)
        owner, alias = endpoint.split("/")[:2]
        job = FalJob(id=str(uuid.uuid4()), endpoint=endpoint, outcome=state.next_outcome, body=body)
        state.jobs[job.id] = job
        if failure == "hang":  # the job is queued, but the answer comes too late for the client
            await asyncio.sleep(state.hang_s)
        base = f"{str(request.base_url).rstrip('/')}/{owner}/{alias}/requests/{job.id}"
        return JSONResponse({
            "request_id": job.id, "gateway_request_id": job.id,
            "response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel",
            "queue_position": 0,
        })

    def find(request: Request) -> FalJob | None:
        return state.jobs.get(request.path_params["rid"])

    def completed(job: FalJob) -> bool:
        return job.polls > state.queued_polls + state.running_polls

    async def status(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        if state.fail_next_status:
            code, state.fail_next_status = state.fail_next_status, None
            return fault(code)
        job = find(request)
        if job is None:
            return JSONResponse({"detail": "Request not found"}, status_code=404)
        job.polls += 1
        if job.cancelled or completed(job):
            body: dict[str, Any] = {"status": "COMPLETED", "logs": [], "metrics": {"inference_time": 1.2}}
            if job.cancelled:
                body.update(error="Request was cancelled by the user", error_type="request_cancelled")
            elif job.outcome == "error":
                body.update(error="Runner crashed while generating the video", error_type="runner_error")
            return JSONResponse(body)
        if job.polls <= state.queued_polls:
            return JSONResponse({"status": "IN_QUEUE", "queue_position": state.queued_polls - job.polls})
        done = (job.polls - state.queued_polls) / (state.running_polls + 1)
        return JSONResponse({"status": "IN_PROGRESS", "logs": [
            {"message": f"Generating video: {int(done * 100)}%", "level": "INFO", "timestamp": "2026-11-25T10:00:00"}]})

    async def result(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        if state.fail_next_result:
            code, state.fail_next_result = state.fail_next_result, None
            return fault(code)
        job = find(request)
        if job is None:
            return JSONResponse({"detail": "Request not found"}, status_code=404)
        if not completed(job):
            return JSONResponse({"detail": "Request is still in progress"}, status_code=400)
        if job.outcome == "moderation":
            return JSONResponse({"detail": [{
                "loc": ["body", "prompt"], "msg": "The content was flagged by a content checker.",
                "type": "content_policy_violation", "url": "https://docs.fal.ai/errors#content_policy_violation",
                "input": "the flagged input", "categories": ["violence"]}]}, status_code=422)
        if job.outcome == "validation":
            return JSONResponse({"detail": [{"loc": ["body", "image_url"], "msg": "Could not read the image.",
                                             "type": "image_load_error"}]}, status_code=422)
        url = f"{str(request.base_url).rstrip('/')}/files/{job.id}.mp4"
        out: dict[str, Any] = {"video": {"url": url, "content_type": "video/mp4", "file_name": "output.mp4",
                                         "file_size": len(tiny_mp4())}, "seed": 42}
        if "/wan/" in job.endpoint:   # Wan's output type (fal-js): {video, seed, actual_prompt}
            prompt = job.body.get("prompt", "")
            out["actual_prompt"] = (prompt + ", cinematic lighting, shallow depth of field"
                                    if job.body.get("enable_prompt_expansion") else prompt)
        return JSONResponse(out)

    async def cancel(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        job = find(request)
        state.cancels.append(request.path_params["rid"])
        if job is None:
            return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
        if completed(job):
            return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
        job.cancelled = True
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)

    async def files(request: Request) -> Response:
        # fal's CDN is public: no auth header on media downloads.
        if state.expire_results:
            return Response("Not Found", status_code=404)
        return Response(tiny_mp4(), media_type="video/mp4")

    async def keys(request: Request) -> Response:
        return JSONResponse(jwks())

    app = Starlette(routes=[
        Route("/.well-known/jwks.json", keys, methods=["GET"]),
        Route("/files/{name}", files, methods=["GET"]),
        Route("/{owner}/{alias}/requests/{rid}/status", status, methods=["GET"]),
        Route("/{owner}/{alias}/requests/{rid}/cancel", cancel, methods=["PUT"]),
        Route("/{owner}/{alias}/requests/{rid}", result, methods=["GET"]),
        Route("/{endpoint:path}", submit, methods=["POST"]),
    ])
    app.state.fal = state
    return app
