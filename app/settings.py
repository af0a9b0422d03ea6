"""Settings from the environment (and `.env`).

Every setting has an embedded default so that a fresh checkout runs with no configuration:
SQLite under `var/`, jobs in-process, media under `var/media`, and the offline demo models.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = f"sqlite+aiosqlite:///{VAR_DIR / 'takes.db'}"
    redis_url: str | None = None
    media_dir: Path = VAR_DIR / "media"
    secret_key: str = ""
    # Extra catalog entries (TOML files) that users add without code: a ComfyUI workflow, a new endpoint.
    catalog_dir: Path = VAR_DIR / "catalog.d"

    # Accounts and access (docs/teams.md).
    allow_signup: bool = True             # False: accounts only by invite link or `takes create-user`
    cookie_secure: bool | None = None     # None: Secure cookies when the request came over https
    forwarded_allow_ips: str = ""         # proxies whose X-Forwarded-For is believed (comma-separated); none by default
    signin_max_failures: int = 5          # wrong passwords per email and address per window …
    signin_max_per_ip: int = 30           # … sign-in attempts per address per window
    signin_window_s: float = 15 * 60
    signup_per_ip_per_hour: int = 20
    votes_per_minute: int = 120           # per voter (keyboard reviewers vote fast, bots faster)
    comments_per_minute: int = 30
    new_voters_per_ip_per_hour: int = 30  # anonymous voters (first vote, comment or name) per address
    csv_raw: bool = False                 # True: CSV cells as stored, even ones a spreadsheet runs as a formula

    # Limits on user input.
    max_prompt_chars: int = 4000
    max_body_bytes: int = 1024 * 1024     # a request body; one that may carry an image also gets max_upload_bytes
    max_upload_bytes: int = 10 * 1024 * 1024
    max_upload_pixels: int = 4096 * 4096
    max_clip_bytes: int = 512 * 1024 * 1024

    # Jobs.
    poll_interval_s: float = 5.0          # first poll delay for real providers; backoff grows from here
    poll_max_interval_s: float = 30.0
    take_timeout_s: float = 30 * 60
    lease_s: float = 30.0                 # a worker that dies loses its takes after this long
    sweep_interval_s: float = 5.0
    step_timeout_s: float = 600.0         # arq job timeout: one step (a poll; a download and its processing)
    provider_concurrency: int = 4         # default per-provider limit of takes in flight
    provider_concurrency_overrides: dict[str, int] = Field(default_factory=dict)

    # Demo provider: realistic latency, configurable failures.
    demo_latency_s: float | None = None   # None: each demo model's own latency from the catalog
    demo_fail_rate: float = 0.0
    demo_submit_latency_s: float = 0.0    # how long the demo's create call takes (fault tests widen it)
    demo_fail_models: list[str] = Field(default_factory=list)  # these demo models always fail
    demo_state_dir: Path | None = None    # where the fake remote service keeps its jobs; default MEDIA_DIR/.demo

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
        """The signing key; generated once and kept under var/ so cookies survive restarts."""
        if self.secret_key:
            return self.secret_key
        path = VAR_DIR / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key)
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
