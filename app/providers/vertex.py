"""Google Veo on Vertex AI ("Gemini Enterprise Agent Platform"): predictLongRunning +
fetchPredictOperation, OAuth2 bearer auth.

Why a separate provider: the Gemini API's Veo preview ids were shut down on 2026-10-22 and
google-genai 3.6.1 says "Currently, only Gemini Enterprise Agent Platform supports video
generation" (see app/providers/google.py). Vertex serves the production ids
veo-3.1-generate-001 and veo-3.1-fast-generate-001 (docs/providers/vertex.md §Models: Vertex
veo-3.0-* retired 2026-06-30, use the 3.1 -001 ids).

Protocol (the Veo on Vertex AI API reference, cloud.google.com/vertex-ai/generative-ai/docs/
model-reference/veo-video-generation, and google-genai 3.6.1's Vertex converters
`_GenerateVideosParameters_to_vertex` / `_GenerateVideosConfig_to_vertex` /
`_GenerateVideosOperation_from_vertex` / `_Video_from_vertex` and `operations.get`):
- submit: `POST {base}/v1/projects/{P}/locations/{L}/publishers/google/models/{model}:predictLongRunning`
  `{"instances": [{"prompt", "image": {"bytesBase64Encoded", "mimeType"}}], "parameters":
  {"aspectRatio", "resolution", "durationSeconds", "sampleCount": 1, "generateAudio",
  "negativePrompt", "seed"}}` → `{"name": "projects/…/models/{model}/operations/{id}"}`.
  `personGeneration` is left to the model's default; `options.person_generation` sets it.
  No `storageUri`: we want the video back inline (see download).
- poll: `POST {base}/v1/{name up to "/operations/"}:fetchPredictOperation {"operationName": name}`
  (the resource is taken from the operation name, as the SDK's `operations.get` does) →
  `{name, done?, error?, response: {videos: [{bytesBase64Encoded | gcsUri, mimeType}],
  raiMediaFilteredCount, raiMediaFilteredReasons}}`. `done` is omitted while running.
  `error` is a google.rpc.Status (mapped like the Gemini adapter); `raiMediaFilteredCount > 0`
  with no video → moderation with the reasons (Google: blocked videos are not charged).
- download: without a storageUri the video comes back base64 in the finished operation. The poll
  result is kept small (JobStatus meta only says "inline"); `download` fetches the operation
  again and decodes it in chunks to the take's file, refusing more than the size cap and
  anything that is not a video. Vertex answers error code 3 "Generated video is large, an
  output storage uri is required" when it will not return one inline (seen in a public bug
  report for veo-2.0 with an input video; not seen documented for 3.1 t2v/i2v): that failure
  says so. A `gcsUri` result (only with a storageUri, which we never send) is refused with a
  clear message: downloading from Cloud Storage is not implemented.
- cancel: the Veo docs document no cancel for these operations: nothing to do. A take that
  times out is only abandoned on our side.
- submit is one POST, never retried here (no idempotency key). 429 RESOURCE_EXHAUSTED and 503
  UNAVAILABLE prove nothing was created (AIP-194 treats UNAVAILABLE as the one retryable
  server code), so they are retryable; any other 5xx or a lost answer is `outcome_unknown`.

Auth (OAuth2 bearer, scope cloud-platform), in this order:
1. VERTEX_ACCESS_TOKEN: used as is (e.g. `gcloud auth print-access-token`; it lasts an hour).
2. GOOGLE_APPLICATION_CREDENTIALS: a JSON file, either
   - "service_account": a JWT (RS256, iss = client_email, scope, iat, exp
     = iat + 1 h, kid = private_key_id; aud is always https://oauth2.googleapis.com/token, as
     in google-auth) is signed with its private_key and exchanged at its `token_uri` (grant_type urn:ietf:params:oauth:grant-type:jwt-bearer, RFC 7523), or
   - "authorized_user" (`gcloud auth application-default login`): its refresh_token is
     exchanged at https://oauth2.googleapis.com/token (or the file's token_uri).
   The access token is cached until 5 minutes before `expires_in` runs out; a 401 while
   polling drops it and polls once more with a fresh one.
google-auth is not used: it is not one of our runtime dependencies (it only arrives with the
test-only google-genai), and its refresh is synchronous (requests). PyJWT is already a runtime
dependency (Kling); RS256 needs `cryptography`, declared as `pyjwt[crypto]` in pyproject.

Environment: VERTEX_PROJECT, VERTEX_LOCATION (us-central1), VERTEX_ACCESS_TOKEN or
GOOGLE_APPLICATION_CREDENTIALS, VERTEX_BASE_URL (default https://{location}-aiplatform.googleapis.com;
https://aiplatform.googleapis.com for location "global"). Nothing here was run against the live service.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission, looks_like_video
from app.providers.google import google_error, read_error, rpc_error
from app.providers.google import predict_body as google_predict_body
from app.providers.google import submit_error as google_submit_error
from app.providers.http import HttpProvider, json_object

if TYPE_CHECKING:
    from app.catalog import ModelSpec
    from app.settings import Settings

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
TOKEN_MARGIN_S = 300.0           # refresh this long before the token expires
STORAGE_URI_HINT = ("Vertex only returns the video inline when it is small enough; larger results need an output "
                    "Cloud Storage URI, which this app does not use")


class VertexProvider(HttpProvider):
    name = "vertex"
    label = "Google Vertex AI (Veo)"
    key_settings = ("vertex_project",)
    docs = "cloud.google.com Veo on Vertex AI API reference (predictLongRunning, fetchPredictOperation); google-genai 3.6.1"
    base_url_setting = "vertex_base_url"
    safe_create_statuses = frozenset({503})   # UNAVAILABLE (AIP-194's one retryable server code)

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None):
        super().__init__(settings, http)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    # ------------------------------------------------------------------ settings
    def available(self) -> bool:
        return not self.missing_keys()

    def missing_keys(self) -> list[str]:
        missing = [] if self.settings.vertex_project else ["VERTEX_PROJECT"]
        if not (self.settings.vertex_access_token or self.settings.google_application_credentials):
            missing.append("VERTEX_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS")
        return missing

    def url(self, path: str = "") -> str:
        """VERTEX_BASE_URL, else the regional endpoint of VERTEX_LOCATION (or the global one)."""
        if self.settings.vertex_base_url:
            return super().url(path)
        loc = self.settings.vertex_location
        host = "aiplatform.googleapis.com" if loc == "global" else f"{loc}-aiplatform.googleapis.com"
        return f"https://{host}{path}"

    def _model_path(self, model: ModelSpec) -> str:
        s = self.settings
        return f"projects/{s.vertex_project}/locations/{s.vertex_location}/publishers/google/models/{model.endpoint}"

    def _version(self, model: ModelSpec) -> str:
        return str(model.options.get("api_version", "v1"))

    # ------------------------------------------------------------------ auth
    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.access_token()}", "Accept": "application/json"}

    def error(self, resp: httpx.Response) -> ProviderError:
        return google_error(resp)

    def create_error(self, model: ModelSpec, resp: httpx.Response) -> ProviderError | None:
        if resp.status_code < 400:
            return None
        if resp.status_code == 401 and self._refreshable():
            self._forget_token()
        return submit_error(model, resp)

    def _refreshable(self) -> bool:
        return not self.settings.vertex_access_token

    def _forget_token(self) -> None:
        self._token, self._token_expires = None, 0.0

    async def access_token(self) -> str:
        if self.settings.vertex_access_token:
            return self.settings.vertex_access_token
        async with self._token_lock:
            if self._token and time.time() < self._token_expires - TOKEN_MARGIN_S:
                return self._token
            token, expires_in = await self._fetch_token()
            self._token, self._token_expires = token, time.time() + expires_in
            return token

    async def _fetch_token(self) -> tuple[str, float]:
        creds = self._credentials()
        kind = creds.get("type")
        if kind == "service_account":
            token_uri = creds.get("token_uri") or DEFAULT_TOKEN_URI
            form = {"grant_type": JWT_GRANT, "assertion": service_account_assertion(creds)}
        elif kind == "authorized_user":
            token_uri = creds.get("token_uri") or DEFAULT_TOKEN_URI
            try:
                form = {"grant_type": "refresh_token", "client_id": creds["client_id"],
                        "client_secret": creds["client_secret"], "refresh_token": creds["refresh_token"]}
            except KeyError as exc:
                raise ProviderError("auth", f"GOOGLE_APPLICATION_CREDENTIALS: the authorized_user file has no {exc}") from exc
        else:
            raise ProviderError("auth", f"GOOGLE_APPLICATION_CREDENTIALS: credentials of type {kind!r} are not "
                                "supported (use a service_account or authorized_user JSON, or VERTEX_ACCESS_TOKEN)")
        try:
            resp = await self.http.post(token_uri, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderError("provider_error", f"could not reach Google's token endpoint {token_uri}: {exc!r}",
                                retryable=True) from exc
        body = json_object(resp)
        if resp.status_code >= 400 or not body.get("access_token"):
            detail = body.get("error_description") or body.get("error")
            message = f"Google's token endpoint refused the credentials: {detail or resp.text[:300]}"
            if resp.status_code == 429 or resp.status_code >= 500:
                raise ProviderError("provider_error", message, retryable=True, status=resp.status_code)
            raise ProviderError("auth", message, status=resp.status_code)
        return str(body["access_token"]), float(body.get("expires_in") or 3600)

    def _credentials(self) -> dict[str, Any]:
        path = self.settings.google_application_credentials
        try:
            data = json.loads(Path(path).read_text())  # type: ignore[arg-type]
        except (OSError, ValueError, TypeError) as exc:
            raise ProviderError("auth", f"GOOGLE_APPLICATION_CREDENTIALS ({path}) could not be read as JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ProviderError("auth", f"GOOGLE_APPLICATION_CREDENTIALS ({path}) is not a credentials JSON object")
        return data

    # ------------------------------------------------------------------ submit
    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        headers = await self.auth_headers()  # a token failure happens before anything is sent
        url = f"{self.url()}/{self._version(model)}/{self._model_path(model)}:predictLongRunning"
        resp = await self.create_call(model, url, predict_body(model, req), headers)
        return Submission(remote_id=self.created_id(resp, "name")[0])

    # ------------------------------------------------------------------ poll
    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        return operation_status(await self._fetch_operation(model, remote_id), remote_id)

    async def _fetch_operation(self, model: ModelSpec, remote_id: str) -> dict[str, Any]:
        resource = remote_id.rpartition("/operations/")[0] or self._model_path(model)
        url = f"{self.url()}/{self._version(model)}/{resource}:fetchPredictOperation"
        for attempt in (1, 2):
            resp = await self.call("POST", url, what="operation fetch", json={"operationName": remote_id})
            if resp.status_code == 401 and self._refreshable() and attempt == 1:
                self._forget_token()  # revoked or expired early: one more try with a fresh token
                continue
            break
        if resp.status_code >= 400:
            raise read_error(resp, self.service, remote_id)
        return self.read_json(resp, "operation fetch")

    # ------------------------------------------------------------------ cancel
    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        """No cancel is documented for Veo operations on Vertex: the job runs (and bills) to its end."""

    # ------------------------------------------------------------------ download
    async def download(self, model: ModelSpec, status: JobStatus, dest: Path, max_bytes: int) -> None:
        remote_id = status.meta.get("remote_id")
        if not status.meta.get("inline") or not remote_id:
            raise ProviderError("download", "the provider reported success but gave no video")
        try:
            data = await self._fetch_operation(model, remote_id)
        except ProviderError as exc:
            raise ProviderError("download", exc.message, retryable=exc.retryable, retry_after=exc.retry_after,
                                status=exc.status) from exc
        video = first_video(data) or {}
        encoded = video.get("bytesBase64Encoded")
        if not encoded:
            raise ProviderError("download", "the finished operation no longer carries its video")
        write_base64_video(encoded, dest, max_bytes)


# ---------------------------------------------------------------------- request body
def predict_body(model: ModelSpec, req: GenerationRequest) -> dict[str, Any]:
    """The Gemini API's Veo body (google.predict_body) plus the fields only Vertex accepts:
    generateAudio and seed (the Gemini API refuses both)."""
    body = google_predict_body(model, req)
    params = body["parameters"]
    if model.audio == "optional":
        params["generateAudio"] = bool(req.audio)
    if model.seed and req.seed is not None:
        params["seed"] = int(req.seed)
    return body


# ---------------------------------------------------------------------- operation → status
def first_video(op: dict[str, Any]) -> dict[str, Any] | None:
    videos = (op.get("response") or {}).get("videos") or []
    return videos[0] if videos and isinstance(videos[0], dict) else None


def operation_status(op: dict[str, Any], remote_id: str) -> JobStatus:
    if not op.get("done"):
        return JobStatus("running")
    if op.get("error"):
        err = rpc_error(op["error"])
        if "storage uri" in err.message.lower():
            err = ProviderError(err.code, f"{err.message} ({STORAGE_URI_HINT})")
        return JobStatus("failed", error=err)
    resp = op.get("response") or {}
    video = first_video(op)
    filtered = int(resp.get("raiMediaFilteredCount") or 0)
    if not video:
        if filtered:
            reasons = "; ".join(str(r) for r in resp.get("raiMediaFilteredReasons") or [])
            return JobStatus("failed", error=ProviderError(
                "moderation", reasons or f"Veo filtered {filtered} video(s) for safety (no reason given)"))
        return JobStatus("failed", error=ProviderError("provider_error", f"Veo finished without a video: {str(resp)[:300]}"))
    if video.get("bytesBase64Encoded"):
        return JobStatus("succeeded", progress=1.0, meta={"inline": True, "remote_id": remote_id})
    if video.get("gcsUri"):
        return JobStatus("failed", error=ProviderError(
            "download", f"Vertex AI stored the video at {video['gcsUri']}; downloading from Cloud Storage is not "
            "supported (we never send a storageUri, so Vertex should have returned it inline)"))
    return JobStatus("failed", error=ProviderError("provider_error", f"Veo returned a video without data: {str(video)[:300]}"))


def write_base64_video(encoded: str, dest: Path, max_bytes: int) -> int:
    """Decode base64 video bytes to `dest` in chunks: size cap first, then "is it a video"."""
    encoded = "".join(encoded.split()) if any(c.isspace() for c in encoded[:4096]) else encoded
    size = len(encoded) * 3 // 4 - encoded[-2:].count("=")
    if size > max_bytes:
        raise ProviderError("download", f"result is {size} bytes, over the {max_bytes}-byte cap")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    chunk = 4 * (1 << 16)  # a multiple of 4 characters decodes on its own
    try:
        with tmp.open("wb") as fh:
            for i in range(0, len(encoded), chunk):
                piece = base64.b64decode(encoded[i:i + chunk], validate=True)
                if i == 0 and not looks_like_video(piece[:16]):
                    raise ProviderError("download", "the provider's result is not a video file")
                fh.write(piece)
        tmp.replace(dest)
    except (binascii.Error, ValueError) as exc:
        raise ProviderError("download", f"the inline video is not valid base64: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return size


# ---------------------------------------------------------------------- auth helpers
def service_account_assertion(creds: dict[str, Any], now: float | None = None) -> str:
    """The signed JWT a service account exchanges for an access token (RFC 7523, RS256). Its
    audience is always Google's token endpoint, wherever the file's token_uri points (as
    google-auth's `service_account.Credentials` builds it)."""
    import jwt

    try:
        email, key = creds["client_email"], creds["private_key"]
    except KeyError as exc:
        raise ProviderError("auth", f"GOOGLE_APPLICATION_CREDENTIALS: the service_account file has no {exc}") from exc
    iat = int(now if now is not None else time.time())
    claims = {"iss": email, "scope": SCOPE, "aud": DEFAULT_TOKEN_URI, "iat": iat, "exp": iat + 3600}
    headers = {"kid": creds["private_key_id"]} if creds.get("private_key_id") else None
    try:
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)
    except NotImplementedError as exc:  # PyJWT without cryptography
        raise ProviderError("auth", "signing service-account tokens needs the `cryptography` package "
                            "(pip install 'pyjwt[crypto]')") from exc
    except (ValueError, TypeError) as exc:
        raise ProviderError("auth", f"GOOGLE_APPLICATION_CREDENTIALS: the private key could not be used: {exc}") from exc


# ---------------------------------------------------------------------- HTTP errors
def submit_error(model: ModelSpec, resp: httpx.Response) -> ProviderError:
    return google_submit_error(model, resp, service="Vertex AI",
                               not_found="in this project and location (retired, unknown or not enabled)")
