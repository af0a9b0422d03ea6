"""The one small interface every provider adapter implements.

A provider adapter turns our request into one provider API's calls. It never touches the
database: the job code (app.jobs.generate) owns the take's state machine and persists the
remote id returned by `submit` before it ever calls `poll`, which is what makes a crash safe.

Rules every adapter follows (docs/providers/README.md §Never pay twice):
- `submit` refuses what `validate` refuses, then `create` makes exactly one create call: no
  SDK auto-retry, no retry loop. A failure that may have reached the provider raises
  ProviderError(code="outcome_unknown"). The REST adapters get this from
  app/providers/http.py (HttpProvider).
- `poll`, `download` and `cancel` may be retried freely; they raise ProviderError with
  `retryable=True` (and `retry_after` when the provider says) for 429 / 5xx / network errors.
- Moderation and validation refusals are terminal and keep the provider's own message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import httpx

if TYPE_CHECKING:
    from app.catalog import ModelSpec
    from app.settings import Settings

# Our small set of error codes; the provider's own message always travels with them.
ERROR_CODES = {
    "auth": "The provider refused our credentials",
    "quota": "Out of credit or quota at the provider",
    "rate_limit": "Rate limited by the provider",
    "moderation": "Refused by the provider's content moderation",
    "invalid_request": "The provider rejected the request",
    "provider_error": "The provider failed",
    "timeout": "Timed out",
    "outcome_unknown": "Outcome unknown: the submit may have reached the provider (and may have been billed)",
    "download": "The result could not be downloaded",
    "cancelled": "Cancelled",
}


class ProviderError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool = False,
                 retry_after: float | None = None, status: int | None = None):
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    def __repr__(self) -> str:
        return f"ProviderError({self.code!r}, {self.message!r}, retryable={self.retryable})"


@dataclass
class GenerationRequest:
    take_id: str                 # our deterministic client key (Kling external_task_id, ComfyUI prompt_id)
    prompt: str
    duration_s: float
    aspect_ratio: str
    resolution: str
    width: int
    height: int
    seed: int | None = None
    negative_prompt: str | None = None
    audio: bool = False
    image: Path | None = None    # source image on local disk, for image-to-video
    image_mime: str | None = None
    # The image's size in bytes when it is not on disk yet (the form-time check); else read
    # from `image`. Adapters' per-provider image limits read `image_size_bytes`.
    image_nbytes: int | None = None
    # Let the provider's prompt rewriter run (MiniMax prompt_optimizer, fal auto_fix / enable_prompt_expansion);
    # off by default: a rewritten prompt changes what is compared.
    rewrite_prompt: bool = False
    # The comparison's reference video on local disk, for the models that take one (Kling v3
    # Motion Control: app/reference.py); None for every other model.
    reference_video: Path | None = None
    reference_mime: str | None = None
    # Where the provider should call back when the job changes (app/hooks.py); None: poll only.
    webhook_url: str | None = None

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.image_nbytes is not None

    @property
    def image_size_bytes(self) -> int | None:
        if self.image_nbytes is not None:
            return self.image_nbytes
        return self.image.stat().st_size if self.image is not None else None


@dataclass
class Submission:
    remote_id: str
    meta: dict[str, Any] = field(default_factory=dict)  # extra handles to persist (status/result URLs)


@dataclass
class JobStatus:
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float | None = None        # 0..1 where the provider reports it
    result_url: str | None = None        # where to download the clip (succeeded)
    error: ProviderError | None = None   # why it failed (failed)
    poll_after: float | None = None      # the provider's hint for the next poll
    meta: dict[str, Any] = field(default_factory=dict)  # anything `download` needs
    # What the provider reports the job used, where it does (app/costs.py turns it into dollars):
    # {"credits": 25} from Runway, {"total_tokens": …} from Ark, {"predict_time": 55.1} from Replicate.
    usage: dict[str, Any] | None = None


class Provider:
    """Base class: subclasses set `name` and `key_settings` and implement create/poll (+cancel)."""

    name: ClassVar[str]
    label: ClassVar[str] = ""
    key_settings: ClassVar[tuple[str, ...]] = ()   # Settings fields that must all be set
    docs: ClassVar[str] = ""                       # doc version the adapter follows
    # True where `reconcile` returning None proves the provider never saw the job (ComfyUI's
    # client-chosen prompt_id), so re-submitting after a crash cannot pay twice.
    resubmit_safe_when_not_found: ClassVar[bool] = False

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None):
        self.settings = settings
        self._http = http

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=15.0), follow_redirects=True)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def available(self) -> bool:
        return all(getattr(self.settings, k, None) for k in self.key_settings)

    def missing_keys(self) -> list[str]:
        return [k.upper() for k in self.key_settings if not getattr(self.settings, k, None)]

    def validate(self, model: ModelSpec, req: GenerationRequest) -> list[str]:
        """What this provider refuses; [] if fine. The default is the catalog's
        durations_by_resolution rule ("1080p only at 6 s"); adapters add theirs to it. The
        form asks this too (app/comparisons.py), so a refusal is a 422 before anything is
        written, and `submit` asks it again as the last guard before a paid call."""
        from app.catalog import resolution_duration_problem

        problem = resolution_duration_problem(model, req.duration_s, req.resolution)
        return [problem] if problem else []

    async def submit(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        """`validate`, then the one create call: the single place every submit passes."""
        problems = self.validate(model, req)
        if problems:
            raise ProviderError("invalid_request", "; ".join(problems))
        return await self.create(model, req)

    async def create(self, model: ModelSpec, req: GenerationRequest) -> Submission:
        """Make exactly one create call at the provider (never retried here)."""
        raise NotImplementedError

    async def poll(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> JobStatus:
        raise NotImplementedError

    async def cancel(self, model: ModelSpec, remote_id: str, meta: dict[str, Any]) -> None:
        """Best effort; providers without a cancel call do nothing."""

    async def reconcile(self, model: ModelSpec, req: GenerationRequest) -> Submission | None:
        """After a crash between 'submitting' and the stored remote id: find the job the
        provider may already have, by our client key. None means "cannot tell"."""
        return None

    async def download(self, model: ModelSpec, status: JobStatus, dest: Path, max_bytes: int) -> None:
        """Stream the result to `dest` (URLs expire: called right after success)."""
        if not status.result_url:
            raise ProviderError("download", "the provider reported success but gave no video URL")
        await stream_download(self.http, status.result_url, dest, max_bytes, headers=self.download_headers(status.result_url))

    def download_headers(self, url: str) -> dict[str, str]:
        return {}


VIDEO_MAGIC = (b"ftyp", b"\x1aE\xdf\xa3")  # ISO-BMFF (mp4/mov) at offset 4; Matroska/WebM at 0


def looks_like_video(head: bytes) -> bool:
    return head[4:8] == b"ftyp" or head[:4] == b"\x1aE\xdf\xa3"


async def stream_download(client: httpx.AsyncClient, url: str, dest: Path, max_bytes: int,
                          headers: dict[str, str] | None = None) -> int:
    """Stream a result to disk, refusing oversized or non-video bodies; returns the size."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    size = 0
    try:
        async with client.stream("GET", url, headers=headers or {}) as resp:
            if resp.status_code in (403, 404, 410):
                raise ProviderError("download", f"result URL no longer available (HTTP {resp.status_code}): it may have expired",
                                    status=resp.status_code)
            if resp.status_code == 429 or resp.status_code >= 500:
                raise ProviderError("download", f"download failed with HTTP {resp.status_code}", retryable=True,
                                    retry_after=retry_after_s(resp), status=resp.status_code)
            if resp.status_code >= 400:
                raise ProviderError("download", f"download failed with HTTP {resp.status_code}", status=resp.status_code)
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ProviderError("download", f"result is {int(declared)} bytes, over the {max_bytes}-byte cap")
            with tmp.open("wb") as fh:
                head = b""
                async for chunk in resp.aiter_bytes(1 << 16):
                    if len(head) < 16:
                        head += chunk[: 16 - len(head)]
                    size += len(chunk)
                    if size > max_bytes:
                        raise ProviderError("download", f"result is over the {max_bytes}-byte cap")
                    fh.write(chunk)
        if not looks_like_video(head):
            raise ProviderError("download", "the provider's result is not a video file")
        tmp.replace(dest)
        return size
    except httpx.HTTPError as exc:
        raise ProviderError("download", f"download interrupted: {exc}", retryable=True) from exc
    finally:
        tmp.unlink(missing_ok=True)


def retry_after_s(resp: httpx.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP date), or None."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime
        from datetime import datetime, timezone
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def error_from_response(resp: httpx.Response, message: str | None = None) -> ProviderError:
    """Generic HTTP status → our code; adapters refine with provider-specific bodies."""
    status = resp.status_code
    text = message or _body_message(resp)
    if status in (401, 403):
        return ProviderError("auth", text, status=status)
    if status == 402:
        return ProviderError("quota", text, status=status)
    if status == 429:
        return ProviderError("rate_limit", text, retryable=True, retry_after=retry_after_s(resp), status=status)
    if status in (408, 504):
        return ProviderError("timeout", text, retryable=True, retry_after=retry_after_s(resp), status=status)
    if status >= 500:
        return ProviderError("provider_error", text, retryable=True, retry_after=retry_after_s(resp), status=status)
    return ProviderError("invalid_request", text, status=status)


def _body_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except Exception:
        return f"HTTP {resp.status_code}: {resp.text[:500]}"
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "failure", "msg"):
            val = body.get(key)
            if isinstance(val, dict):
                val = val.get("message") or val
            if val:
                return f"HTTP {resp.status_code}: {val}"
    return f"HTTP {resp.status_code}: {str(body)[:500]}"
