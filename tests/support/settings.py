"""Settings for a test app: the demo provider fast (0.3 s latency, 50 ms polls), no Redis, media
and the catalog overlay under the test's own tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support import ROOT


def make_settings(db_url: str, tmp_path: Path, **overrides):
    from app.settings import Settings

    values = dict(
        database_url=db_url, media_dir=tmp_path / "media", redis_url=None, secret_key="test-secret",
        demo_latency_s=0.3, poll_interval_s=0.05, poll_max_interval_s=0.2, sweep_interval_s=0.3, lease_s=3.0,
        catalog_dir=tmp_path / "catalog.d",
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
    })
    if s.redis_url:
        env["REDIS_URL"] = s.redis_url
    if s.demo_fail_models:
        env["DEMO_FAIL_MODELS"] = json.dumps(s.demo_fail_models)
    return env
