"""A local fake of Replicate's predictions API, close enough that `replicate.Client` drives it.

What it follows (replicate.com/docs reference/http, changelog 2025-10-16, replicate-python 1.0.7):
- `Authorization: Bearer <token>` (the legacy `Token <token>` too); otherwise 401 with
  Replicate's problem-details body `{"title", "detail", "status"}`.
- `POST /v1/models/{owner}/{name}/predictions` and `POST /v1/predictions` (`version`) create a
  prediction: 201 with the full prediction object (`id`, `model`, `version`, `status`,
  `input`, `output`, `logs`, `error`, `urls{get,cancel,stream,web}`, timestamps). The
  `Cancel-After` header is recorded.
- `GET /v1/predictions/{id}` walks starting → processing (tqdm-style "NN%|…| a/b" log lines,
  which replicate-python parses as progress) → succeeded (`output` a URL string, or a list
  with `list_output`) / failed (`error` string) / aborted.
- `POST /v1/predictions/{id}/cancel` → the prediction, now `canceled`.
- Result files are served at /files/… like replicate.delivery; `expire_results` makes them 404
  (Replicate deletes API outputs an hour after completion).

Faults through `ReplicateState`: `fail_next_create` = 401 | 402 | 404 | 422 | 429 | 500 | 503 |
"hang"; `fail_next_get` = an HTTP status; `next_outcome` = "ok" | "list_output" | "moderation" |
"error" | "aborted".
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import tiny_mp4

# Replicate's safety refusals arrive only as the prediction's `error` string; this wording (with
# its E005 code) is how such errors commonly read, not a documented contract.
NSFW_ERROR = "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    outcome: str
    polls: int = 0
    status: str = "starting"


@dataclass
class ReplicateState:
    token: str = "r8_test_token"
    starting_polls: int = 1
    processing_polls: int = 1
    next_outcome: str = "ok"
    fail_next_create: int | str | None = None
    fail_next_get: int | None = None
    retry_after: str = "9"
    hang_s: float = 2.0
    expire_results: bool = False
    creates: list[dict[str, Any]] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    predictions: dict[str, Prediction] = field(default_factory=dict)
    # The account's webhook signing secret (GET /v1/webhooks/default/secret), Standard Webhooks' whsec_ form.
    webhook_secret: str = "whsec_" + base64.b64encode(b"replicate-fake-webhook-signing-key").decode()


def webhook_delivery(secret: str, prediction: dict[str, Any], *, msg_id: str | None = None,
                     timestamp: float | None = None) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a webhook as Replicate sends it: the prediction object, signed with
    Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)."""
    import json
    import time
    from datetime import datetime, timezone

    from standardwebhooks.webhooks import Webhook

    body = json.dumps(prediction)
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    stamp = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, timezone.utc)
    signature = Webhook(secret).sign(msg_id, stamp, body)
    return ({"webhook-id": msg_id, "webhook-timestamp": str(int(stamp.timestamp())), "webhook-signature": signature,
             "content-type": "application/json"}, body.encode())


def problem(status: int, title: str, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"title": title, "detail": detail, "status": status}, status_code=status,
                        headers=headers or None)


def create_app(state: ReplicateState | None = None) -> Starlette:
    state = state or ReplicateState()

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def unauthorized(request: Request) -> Response | None:
        if request.headers.get("authorization") not in (f"Bearer {state.token}", f"Token {state.token}"):
            return problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        return None

    def fault(code: int) -> Response:
        if code == 429:
            return problem(429, "Request was throttled", "Request was throttled. Your rate limit resets in ~9s.",
                           **{"Retry-After": state.retry_after})
        if code == 503:
            return problem(503, "Service Unavailable", "Replicate is temporarily unavailable, try again",
                           **{"Retry-After": state.retry_after})
        if code == 402:
            return problem(402, "Insufficient credit", "You have insufficient credit to run this model. "
                           "Go to https://replicate.com/account/billing#billing to purchase credit.")
        if code == 401:
            return problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        if code == 404:
            return problem(404, "Not found", "The requested resource could not be found.")
        if code == 422:
            return JSONResponse({"title": "Input validation failed", "status": 422,
                                 "detail": "- input.duration: duration must be one of the following: 5, 10",
                                 "invalid_fields": [{"type": "enum", "field": "input.duration",
                                                     "description": "duration must be one of the following: 5, 10"}]},
                                status_code=422)
        return problem(code, "Internal Server Error", "Something went wrong")

    def to_json(request: Request, p: Prediction) -> dict[str, Any]:
        url = f"{base(request)}/v1/predictions/{p.id}"
        body: dict[str, Any] = {
            "id": p.id, "model": p.model, "version": p.version, "input": p.input, "status": p.status,
            "logs": "", "output": None, "error": None, "data_removed": False,
            "created_at": "2026-11-25T10:00:00.000Z", "started_at": None, "completed_at": None,
            "urls": {"get": url, "cancel": f"{url}/cancel", "stream": f"{url}/stream",
                     "web": f"https://replicate.com/p/{p.id}"},
            "metrics": {},
        }
        if p.status in ("processing", "succeeded", "failed"):
            body["started_at"] = "2026-11-25T10:00:05.000Z"
            body["logs"] = "Loading model\n  20%|██        | 4/20 [00:02<00:08]\n  45%|████▌     | 9/20 [00:04<00:05]"
        if p.status in ("succeeded", "failed", "canceled", "aborted"):
            body["completed_at"] = "2026-11-25T10:01:00.000Z"
        if p.status == "succeeded":
            video = f"{base(request)}/files/{p.id}/output.mp4"
            body["output"] = [f"{base(request)}/files/{p.id}/poster.jpg", video] if p.outcome == "list_output" else video
            body["metrics"] = {"predict_time": 55.1, "video_output_duration_seconds": 5.0}
        if p.status == "failed":
            body["error"] = NSFW_ERROR if p.outcome == "moderation" else "CUDA out of memory while sampling"
        return body

    async def create(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        body = await request.json()
        owner, name = request.path_params.get("owner"), request.path_params.get("name")
        model = f"{owner}/{name}" if owner else "version-only"
        state.creates.append({"path": request.url.path, "model": model, "body": body,
                              "headers": dict(request.headers)})
        failure, state.fail_next_create = state.fail_next_create, None
        if isinstance(failure, int):
            return fault(failure)
        p = Prediction(id=uuid.uuid4().hex[:26], model=model, version=body.get("version", "a1b2c3d4e5f6"),
                       input=body.get("input", {}), outcome=state.next_outcome)
        state.predictions[p.id] = p
        if failure == "hang":
            await asyncio.sleep(state.hang_s)
        return JSONResponse(to_json(request, p), status_code=201)

    async def get(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        if state.fail_next_get:
            code, state.fail_next_get = state.fail_next_get, None
            return fault(code)
        p = state.predictions.get(request.path_params["pid"])
        if p is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        if p.status in ("starting", "processing"):
            p.polls += 1
            if p.polls > state.starting_polls + state.processing_polls:
                p.status = {"moderation": "failed", "error": "failed", "aborted": "aborted"}.get(p.outcome, "succeeded")
            elif p.polls > state.starting_polls:
                p.status = "processing"
            if p.outcome == "aborted" and p.polls > state.starting_polls:
                p.status = "aborted"  # the deadline passed before it ever started
        return JSONResponse(to_json(request, p))

    async def cancel(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        pid = request.path_params["pid"]
        state.cancels.append(pid)
        p = state.predictions.get(pid)
        if p is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        if p.status in ("starting", "processing"):
            p.status = "canceled"
        return JSONResponse(to_json(request, p))

    async def files(request: Request) -> Response:
        if state.expire_results:
            return Response("Not Found", status_code=404)
        if request.path_params["name"].endswith(".jpg"):
            return Response(b"\xff\xd8\xff\xe0poster", media_type="image/jpeg")
        return Response(tiny_mp4(), media_type="video/mp4")

    async def webhook_secret(request: Request) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        return JSONResponse({"key": state.webhook_secret})

    app = Starlette(routes=[
        Route("/v1/webhooks/default/secret", webhook_secret, methods=["GET"]),
        Route("/v1/models/{owner}/{name}/predictions", create, methods=["POST"]),
        Route("/v1/predictions", create, methods=["POST"]),
        Route("/v1/predictions/{pid}", get, methods=["GET"]),
        Route("/v1/predictions/{pid}/cancel", cancel, methods=["POST"]),
        Route("/files/{pid}/{name}", files, methods=["GET"]),
    ])
    app.state.replicate = state
    return app
