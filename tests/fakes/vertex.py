"""A local fake of Vertex AI's Veo surface (predictLongRunning + fetchPredictOperation) and of
Google's OAuth2 token endpoint. `google.genai.Client(vertexai=True, …)` drives it.

What it follows:
- Auth: `Authorization: Bearer <token>`; the token must be the static one (`VertexState.token`,
  as from `gcloud auth print-access-token`) or one this fake's token endpoint issued and not
  revoked. Otherwise HTTP 401 UNAUTHENTICATED with Google's message. Every error body is
  `{"error": {"code", "message", "status", "details"}}`.
- `POST /{v}/projects/{P}/locations/{L}/publishers/google/models/{model}:predictLongRunning` with
  the body of the Veo on Vertex AI API reference (instances[0].prompt/image, parameters) →
  `{"name": "projects/{P}/locations/{L}/publishers/google/models/{model}/operations/{id}"}`.
  Another project/location is 403 PERMISSION_DENIED; veo-3.0-* (retired 2026-06-30) and unknown
  ids 404; durations other than 4/6/8, other aspect ratios/resolutions, or a malformed image are
  400 INVALID_ARGUMENT.
- `POST …/models/{model}:fetchPredictOperation {"operationName"}` → `{"name"}` (no `done` while
  running, as proto3 JSON omits false) for `pending_polls` polls, then `done: true` with
  `response.videos[0].bytesBase64Encoded` + `mimeType`, or `raiMediaFilteredCount` /
  `raiMediaFilteredReasons`, or `error` (google.rpc.Status). Shapes as parsed by google-genai's
  `_GenerateVideosOperation_from_vertex`.
- `POST /token`: RFC 7523 jwt-bearer (the assertion's RS256 signature is checked against the
  service account's public key, and `iss`, `aud` = https://oauth2.googleapis.com/token as
  google-auth sends it, `scope`, `exp`) and refresh_token grants →
  `{"access_token", "expires_in", "token_type": "Bearer"}`; failures are Google's
  `{"error": "invalid_grant", "error_description"}` with HTTP 400.

Faults through `VertexState`: `fail_next_create` = 400 | 401 | 403 | 429 | 500 | 503 | "hang";
`fail_next_fetch` = an HTTP status; `retry_after` (sent on 429s); `next_outcome` = "ok" |
"moderation" | "error" | "too_large" | "gcs" | "not_video"; `revoke_tokens()`.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import tiny_mp4

LIVE_VEO = {"veo-3.1-generate-001", "veo-3.1-fast-generate-001"}
RETIRED_VEO = {"veo-3.0-generate-001", "veo-3.0-fast-generate-001"}
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# The audience Google expects in a service-account assertion, wherever it is posted (google-auth
# `service_account._GOOGLE_OAUTH2_TOKEN_ENDPOINT`).
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
RAI_REASON = ("The prompt could not be submitted. This prompt contains sensitive words that violate Google's "
              "Responsible AI practices. Try rephrasing the prompt. If you think this was an error, send feedback. "
              "Support codes: 29310472")
UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                   "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/"
                   "devconsole-project.")


@dataclass
class Job:
    id: str
    name: str
    model: str
    outcome: str
    polls: int = 0


@dataclass
class VertexState:
    token: str = "ya29.static-test-token"
    project: str = "takes-test"
    location: str = "us-central1"
    pending_polls: int = 2
    next_outcome: str = "ok"
    fail_next_create: int | str | None = None
    fail_next_fetch: int | None = None
    retry_after: str = "7"
    hang_s: float = 2.0
    # OAuth2: the service account's public key (PEM) and email, an authorized_user's refresh token
    sa_email: str = "takes@takes-test.iam.gserviceaccount.com"
    sa_public_key: bytes | None = None
    refresh_token: str = "1//test-refresh-token"
    token_expires_in: int = 3600
    issued: set[str] = field(default_factory=set)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    creates: list[dict[str, Any]] = field(default_factory=list)
    fetches: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)

    def revoke_tokens(self) -> None:
        self.issued.clear()


def gerror(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "status": status, "details": details or []}},
                        status_code=code, headers=headers)


def create_app(state: VertexState | None = None) -> Starlette:
    state = state or VertexState()

    def unauthorized(request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token != state.token and token not in state.issued:
            return gerror(401, "UNAUTHENTICATED", UNAUTHENTICATED, [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                "metadata": {"service": "aiplatform.googleapis.com", "method":
                             "google.cloud.aiplatform.v1.PredictionService.PredictLongRunning"}}])
        return None

    def wrong_place(request: Request) -> Response | None:
        p, loc = request.path_params["project"], request.path_params["location"]
        if (p, loc) != (state.project, state.location):
            return gerror(403, "PERMISSION_DENIED", f"Permission 'aiplatform.endpoints.predict' denied on resource "
                          f"'//aiplatform.googleapis.com/projects/{p}/locations/{loc}/publishers/google/models/"
                          f"{request.path_params['model_action'].partition(':')[0]}' (or it may not exist).")
        return None

    def fault(code: int) -> Response:
        if code == 429:
            return gerror(429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
                          "online_prediction_requests_per_base_model with base model: veo-3.1-generate. Please submit "
                          "a quota increase request.", headers={"Retry-After": state.retry_after})
        if code == 400:
            return gerror(400, "INVALID_ARGUMENT", "The prompt could not be submitted. Your prompt contains words that "
                          "violate Google's Responsible AI practices.")
        if code == 401:
            return gerror(401, "UNAUTHENTICATED", UNAUTHENTICATED)
        if code == 403:
            return gerror(403, "PERMISSION_DENIED", "Vertex AI API has not been used in project takes-test before or "
                          "it is disabled.")
        if code == 503:
            return gerror(503, "UNAVAILABLE", "The service is currently unavailable.")
        return gerror(code, "INTERNAL", "Internal error encountered.")

    def invalid(body: dict[str, Any]) -> str | None:
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
            return "instances must hold exactly one instance"
        inst, params = instances[0], body.get("parameters") or {}
        if not inst.get("prompt") and not inst.get("image"):
            return "A prompt or an image is required."
        image = inst.get("image")
        if image is not None:
            if not image.get("mimeType") or not (image.get("bytesBase64Encoded") or image.get("gcsUri")):
                return "image needs bytesBase64Encoded (or gcsUri) and mimeType"
            if image.get("bytesBase64Encoded"):
                try:
                    base64.b64decode(image["bytesBase64Encoded"], validate=True)
                except ValueError:
                    return "image.bytesBase64Encoded is not valid base64"
        if params.get("durationSeconds", 8) not in (4, 6, 8):
            return f"Unsupported durationSeconds {params.get('durationSeconds')}: supported values are 4, 6 and 8."
        if params.get("aspectRatio", "16:9") not in ("16:9", "9:16"):
            return f"Unsupported aspect ratio {params.get('aspectRatio')}."
        if params.get("resolution", "720p") not in ("720p", "1080p"):
            return f"Unsupported resolution {params.get('resolution')}."
        if not 1 <= int(params.get("sampleCount", 1)) <= 4:
            return "sampleCount must be between 1 and 4."
        if "generateAudio" in params and not isinstance(params["generateAudio"], bool):
            return "generateAudio must be a boolean."
        return None

    async def model_action(request: Request) -> Response:
        model, _, action = request.path_params["model_action"].partition(":")
        if action == "predictLongRunning":
            return await predict(request, model)
        if action == "fetchPredictOperation":
            return await fetch(request, model)
        return gerror(404, "NOT_FOUND", f"Method {action} not found")

    async def predict(request: Request, model: str) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        if (resp := wrong_place(request)) is not None:
            return resp
        body = await request.json()
        state.creates.append({"model": model, "version": request.path_params["v"], "body": body,
                              "headers": dict(request.headers), "path": request.url.path})
        failure, state.fail_next_create = state.fail_next_create, None
        if isinstance(failure, int):
            return fault(failure)
        if model in RETIRED_VEO or model not in LIVE_VEO:
            return gerror(404, "NOT_FOUND", f"Publisher Model `projects/{state.project}/locations/{state.location}/"
                          f"publishers/google/models/{model}` was not found or your project does not have access to "
                          "it. Please ensure you are using a valid model version.")
        if (problem := invalid(body)) is not None:
            return gerror(400, "INVALID_ARGUMENT", problem)
        jid = str(uuid.uuid4())
        name = f"projects/{state.project}/locations/{state.location}/publishers/google/models/{model}/operations/{jid}"
        state.jobs[name] = Job(id=jid, name=name, model=model, outcome=state.next_outcome)
        if failure == "hang":
            await asyncio.sleep(state.hang_s)
        return JSONResponse({"name": name})

    async def fetch(request: Request, model: str) -> Response:
        if (resp := unauthorized(request)) is not None:
            return resp
        if (resp := wrong_place(request)) is not None:
            return resp
        body = await request.json()
        state.fetches.append({"model": model, "body": body, "headers": dict(request.headers)})
        if state.fail_next_fetch:
            code, state.fail_next_fetch = state.fail_next_fetch, None
            return fault(code)
        name = body.get("operationName")
        job = state.jobs.get(name or "")
        if job is None or job.model != model:
            return gerror(404, "NOT_FOUND", f"Operation {name} not found.")
        job.polls += 1
        if job.polls <= state.pending_polls:
            return JSONResponse({"name": name})
        if job.outcome == "error":
            return JSONResponse({"name": name, "done": True, "error": {
                "code": 13, "message": "Video generation failed due to an internal error. Please try again."}})
        if job.outcome == "too_large":
            return JSONResponse({"name": name, "done": True, "error": {
                "code": 3, "message": "Generated video is large, an output storage uri is required."}})
        resp: dict[str, Any] = {"@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                                "raiMediaFilteredCount": 0}
        if job.outcome == "moderation":
            resp.update(raiMediaFilteredCount=1, raiMediaFilteredReasons=[RAI_REASON])
        elif job.outcome == "gcs":
            resp["videos"] = [{"gcsUri": f"gs://takes-bucket/{job.id}/sample_0.mp4", "mimeType": "video/mp4"}]
        else:
            data = b"<html>not a video</html>" if job.outcome == "not_video" else tiny_mp4()
            resp["videos"] = [{"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": "video/mp4"}]
        return JSONResponse({"name": name, "done": True, "response": resp})

    async def token(request: Request) -> Response:
        form = dict(await request.form())
        state.token_requests.append(form)

        def refuse(description: str) -> Response:
            return JSONResponse({"error": "invalid_grant", "error_description": description}, status_code=400)

        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            import jwt

            if state.sa_public_key is None:
                return refuse("Invalid grant: account not found")
            try:
                claims = jwt.decode(str(form.get("assertion", "")), state.sa_public_key, algorithms=["RS256"],
                                    audience=GOOGLE_TOKEN_URI, options={"require": ["iss", "aud", "iat", "exp"]})
            except jwt.InvalidSignatureError:
                return refuse("Invalid JWT Signature.")
            except jwt.PyJWTError as exc:
                return refuse(f"Invalid JWT: {exc}")
            if claims["iss"] != state.sa_email:
                return refuse("Invalid grant: account not found")
            if SCOPE not in str(claims.get("scope", "")).split():
                return JSONResponse({"error": "invalid_scope", "error_description": "Invalid OAuth scope."}, status_code=400)
            if claims["exp"] - claims["iat"] > 3600 or claims["iat"] > time.time() + 60:
                return refuse("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        elif grant == "refresh_token":
            if form.get("refresh_token") != state.refresh_token or not form.get("client_id") or not form.get("client_secret"):
                return refuse("Bad Request")
        else:
            return JSONResponse({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"},
                                status_code=400)
        issued = f"ya29.issued-{uuid.uuid4().hex[:12]}"
        state.issued.add(issued)
        return JSONResponse({"access_token": issued, "expires_in": state.token_expires_in, "token_type": "Bearer"})

    app = Starlette(routes=[
        Route("/{v}/projects/{project}/locations/{location}/publishers/google/models/{model_action}", model_action,
              methods=["POST"]),
        Route("/token", token, methods=["POST"]),
    ])
    app.state.vertex = state
    return app
