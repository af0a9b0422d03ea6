"""Settings from the environment (and `.env`).

Every setting has an embedded default so that a fresh checkout runs with no configuration:
SQLite under `var/`, jobs in-process, media under `var/media`, and the offline demo models.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = f"sqlite+aiosqlite:///{VAR_DIR / 'takes.db'}"
    redis_url: str | None = None
    media_dir: Path = VAR_DIR / "media"
    # Object storage (app/storage.py): s3://bucket/prefix on S3, R2 or MinIO; unset, media stay in MEDIA_DIR.
    storage_url: str | None = None
    s3_endpoint_url: str | None = None    # R2: https://<account>.r2.cloudflarestorage.com; MinIO: http://minio:9000
    s3_region: str | None = None          # default us-east-1 (R2: auto)
    s3_access_key_id: str | None = None   # unset: boto3's usual chain (AWS_ACCESS_KEY_ID, ~/.aws, instance role)
    s3_secret_access_key: str | None = None
    s3_addressing_style: str | None = None   # path | virtual | auto; default path when an endpoint is set
    secret_key: str = ""
    # Extra catalog entries (TOML files) that users add without code: a ComfyUI workflow, a new endpoint.
    catalog_dir: Path = VAR_DIR / "catalog.d"

    # Accounts and access (docs/teams.md).
    allow_signup: bool = True             # False: accounts only by invite link or `takes create-user`
    cookie_secure: bool | None = None     # None: Secure cookies when the request came over https
    # Argon2id parameters by argon2-cffi's profile name (app.accounts.use_profile). The default is
    # the library's own (RFC 9106 low memory: 64 MiB, 3 passes, ~0.2 s a hash). CHEAPEST (8 KiB,
    # one pass) is the library's profile for tests: the test suite's servers use it, as
    # Django's test settings swap in a fast hasher. Never set it for real accounts.
    argon2_profile: Literal["RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST"] = "RFC_9106_LOW_MEMORY"
    # On SIGTERM, how long `takes serve` waits for open requests before it closes them: a live
    # event stream (SSE) never ends by itself, and a browser reconnects to the next server.
    shutdown_grace_s: float = 3.0
    forwarded_allow_ips: str = ""         # proxies whose X-Forwarded-For is believed (comma-separated); none by default
    signin_max_failures: int = 5          # wrong passwords per email and address per window …
    signin_max_per_ip: int = 30           # … sign-in attempts per address per window
    signin_window_s: float = 15 * 60
    signup_per_ip_per_hour: int = 20
    votes_per_minute: int = 120           # per voter (keyboard reviewers vote fast, bots faster)
    comments_per_minute: int = 30
    new_voters_per_ip_per_hour: int = 30  # anonymous voters (first vote, comment or name) per address
    web_workers: int = 1                  # set by `takes serve --workers N`: the rate limits are divided by it
    csv_raw: bool = False                 # True: CSV cells as stored, even ones a spreadsheet runs as a formula

    # Limits on user input.
    max_prompt_chars: int = 4000
    max_body_bytes: int = 1024 * 1024     # a request body; one that may carry an image also gets max_upload_bytes
    max_upload_bytes: int = 10 * 1024 * 1024
    max_upload_pixels: int = 4096 * 4096
    # A comparison's reference video (Kling v3 Motion Control follows its motion): app/reference.py.
    max_reference_bytes: int = 20 * 1024 * 1024
    max_reference_s: float = 30.0
    max_clip_bytes: int = 512 * 1024 * 1024
    # A proxy in front serves the media files: answers carry `X-Accel-Redirect: <this><key>`
    # after the access check, and no body (nginx: an `internal` location over MEDIA_DIR; see
    # deploy/nginx.conf). Empty: the app sends the bytes itself.
    media_accel_redirect: str = ""
    # A positive media access check is reused this long for the same path and credentials
    # (app/web/media_grants.py; a revocation made in another process is seen within it). 0: off.
    media_grant_ttl_s: float = 5.0

    # Jobs.
    poll_interval_s: float = 5.0          # first poll delay for real providers; backoff grows from here
    poll_max_interval_s: float = 30.0
    take_timeout_s: float = 30 * 60
    lease_s: float = 30.0                 # a worker that dies loses its takes after this long
    sweep_interval_s: float = 5.0
    sse_heartbeat_s: float = 15.0         # live event streams: a keep-alive line (and a resync) this often
    step_timeout_s: float = 600.0         # arq job timeout: one step (a poll; a download and its processing)
    # Provider webhooks (app/hooks.py): with PUBLIC_URL set, fal, Replicate, Luma, Kling, MiniMax and
    # Ark call POST {PUBLIC_URL}/hooks/{provider}/{take}; polling of such takes drops to a slow reconcile.
    public_url: str | None = None
    hook_reconcile_s: float = 300.0
    replicate_webhook_secret: str | None = None   # whsec_…; unset: read once from GET /v1/webhooks/default/secret
    fal_jwks_url: str = "https://rest.alpha.fal.ai/.well-known/jwks.json"
    # Outgoing board webhooks (app/webhooks.py): how often due deliveries are sent, and the waits
    # before each retry of one that failed (then it is given up as failed): ~8.5 h in all.
    webhook_sweep_s: float = 2.0
    webhook_retry_s: list[float] = Field(default_factory=lambda: [10.0, 60.0, 300.0, 1800.0, 7200.0, 21600.0])
    provider_concurrency: int = 4         # default per-provider limit of takes in flight
    provider_concurrency_overrides: dict[str, int] = Field(default_factory=dict)

    # Demo provider: realistic latency, configurable failures.
    demo_latency_s: float | None = None   # None: each demo model's own latency from the catalog
    demo_fail_rate: float = 0.0
    demo_submit_latency_s: float = 0.0    # how long the demo's create call takes (fault tests widen it)
    demo_fail_models: list[str] = Field(default_factory=list)  # these demo models always fail
    demo_state_dir: Path | None = None    # where the fake remote service keeps its jobs; default MEDIA_DIR/.demo
    # Renders kept by what they were rendered from (look, size, fps, length, prompt, seed, audio,
    # image bytes, codec): the same request is copied, not rendered again. Off by default; the
    # test suite shares one per test process (it asks the same few clips hundreds of times).
    demo_render_cache_dir: Path | None = None

    # Provider keys and base URLs (base URLs exist so tests can point adapters at local fakes).
    gemini_api_key: str | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    # Vertex AI (Veo): a project, and either an access token or a credentials JSON file
    # (service account or `gcloud auth application-default login`); see docs/providers/vertex.md.
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    vertex_access_token: str | None = None
    google_application_credentials: Path | None = None
    vertex_base_url: str | None = None    # default https://{VERTEX_LOCATION}-aiplatform.googleapis.com
    fal_key: str | None = None
    fal_queue_url: str = "https://queue.fal.run"
    fal_api_url: str = "https://api.fal.ai/v1"   # fal's Platform API (prices), for `takes prices fal`
    replicate_api_token: str | None = None
    replicate_base_url: str = "https://api.replicate.com"
    kling_access_key: str | None = None
    kling_secret_key: str | None = None
    kling_base_url: str = "https://api-singapore.klingai.com"
    runwayml_api_secret: str | None = None
    runway_base_url: str = "https://api.dev.runwayml.com"
    lumaai_api_key: str | None = None
    luma_base_url: str = "https://api.lumalabs.ai/dream-machine/v1"
    luma_agents_api_key: str | None = None
    luma_agents_base_url: str = "https://agents.lumalabs.ai/v1"
    minimax_api_key: str | None = None
    minimax_base_url: str = "https://api.minimax.io"
    ark_api_key: str | None = None
    ark_base_url: str = "https://ark.ap-southeast.bytepluses.com/api/v3"
    comfyui_url: str | None = None

    @field_validator("google_application_credentials", "vertex_access_token", "vertex_project", "vertex_base_url",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, v):
        """`GOOGLE_APPLICATION_CREDENTIALS=` (set but empty) means not set, not the current directory."""
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, v):
        """PUBLIC_URL is where providers reach us: an absolute http(s) URL, kept without a trailing /."""
        if isinstance(v, str) and not v.strip():
            return None
        if v is not None and not str(v).startswith(("http://", "https://")):
            raise ValueError("PUBLIC_URL must be an absolute http(s) URL, e.g. https://takes.example.com")
        return str(v).rstrip("/") if v is not None else None

    @field_validator("storage_url", "s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_secret_access_key",
                     "s3_addressing_style", mode="before")
    @classmethod
    def _blank_storage_is_unset(cls, v):
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("storage_url")
    @classmethod
    def _s3_url(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("s3://") or not v[5:].split("/")[0]):
            raise ValueError("STORAGE_URL must look like s3://bucket/prefix")
        return v

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        """Accept the URLs people paste (postgres://, postgresql://) and pick the async drivers."""
        if v.startswith("postgres://"):
            v = "postgresql://" + v[len("postgres://"):]
        if v.startswith("postgresql://"):
            v = "postgresql+asyncpg://" + v[len("postgresql://"):]
        if v.startswith("sqlite:///"):
            v = "sqlite+aiosqlite:///" + v[len("sqlite:///"):]
        return v

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def demo_dir(self) -> Path:
        return self.demo_state_dir or (self.media_dir / ".demo")

    def concurrency_for(self, provider: str) -> int:
        return self.provider_concurrency_overrides.get(provider, self.provider_concurrency)

    def resolved_secret(self) -> str:
        """The signing key; generated once and kept under var/ so cookies survive restarts.

        Read once per process (it is asked for several times per request). With several web
        processes (`takes serve --workers N`) the first one to start writes the file and every
        other one reads that same key: it is made under a temporary name and linked into place,
        which fails if another process got there first, so no two processes sign with
        different keys."""
        if self.secret_key:
            return self.secret_key
        path = (VAR_DIR / "secret_key").resolve()
        key = _SECRETS.get(path)
        if key is None:
            key = _SECRETS[path] = _load_or_make_secret(path)
        return key


_SECRETS: dict[Path, str] = {}


def _load_or_make_secret(path: Path) -> str:
    """The key in `path`, written first (atomically, first process wins) if it is not there."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret_key.{os.getpid()}")
        tmp.write_text(secrets.token_urlsafe(32))
        try:
            os.link(tmp, path)   # fails if the file exists: then the other process's key stands
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
