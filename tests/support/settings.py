"""Settings for a test app: the demo provider fast (0.3 s latency, 50 ms polls), no Redis, media
and the catalog overlay under the test's own tmp_path."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tests.support import ROOT

# One demo render cache per test process (app.providers.demo.render_job): the suite asks the
# same few clips (a look, 360p, 4-5 s, a prompt such as "kites") hundreds of times, and each
# render costs 0.5-1 s of CPU. Rendering itself is tested in test_demo_render.py.
RENDER_CACHE = Path(tempfile.mkdtemp(prefix="takes-demo-renders-"))


def make_settings(db_url: str, tmp_path: Path, **overrides):
    from app.settings import Settings

    values = dict(
        database_url=db_url, media_dir=tmp_path / "media", redis_url=None, secret_key="test-secret",
        demo_latency_s=0.3, poll_interval_s=0.05, poll_max_interval_s=0.2, sweep_interval_s=0.3, lease_s=3.0,
        catalog_dir=tmp_path / "catalog.d", demo_render_cache_dir=RENDER_CACHE, argon2_profile="CHEAPEST",
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def settings_env(s) -> dict[str, str]:
    """The environment that makes a subprocess (`python -m app …`) use these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "DEMO_"))}
    env.update({
        "DATABASE_URL": s.database_url, "MEDIA_DIR": str(s.media_dir), "SECRET_KEY": s.secret_key,
        "DEMO_LATENCY_S": str(s.demo_latency_s), "POLL_INTERVAL_S": str(s.poll_interval_s),
        "POLL_MAX_INTERVAL_S": str(s.poll_max_interval_s), "SWEEP_INTERVAL_S": str(s.sweep_interval_s),
        "LEASE_S": str(s.lease_s), "PROVIDER_CONCURRENCY": str(s.provider_concurrency),
        "CATALOG_DIR": str(s.catalog_dir), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
        "ARGON2_PROFILE": s.argon2_profile,
    })
    if s.demo_render_cache_dir:
        env["DEMO_RENDER_CACHE_DIR"] = str(s.demo_render_cache_dir)
    if s.redis_url:
        env["REDIS_URL"] = s.redis_url
    if s.storage_url:
        env.update({"STORAGE_URL": s.storage_url, "S3_ENDPOINT_URL": s.s3_endpoint_url or "",
                    "S3_ACCESS_KEY_ID": s.s3_access_key_id or "", "S3_SECRET_ACCESS_KEY": s.s3_secret_access_key or "",
                    "S3_REGION": s.s3_region or ""})
    if s.demo_state_dir:
        env["DEMO_STATE_DIR"] = str(s.demo_state_dir)
    if s.media_accel_redirect:
        env["MEDIA_ACCEL_REDIRECT"] = s.media_accel_redirect
    if s.demo_fail_models:
        env["DEMO_FAIL_MODELS"] = json.dumps(s.demo_fail_models)
    return env
