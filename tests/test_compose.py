"""docker-compose.yml cannot be run here (no Docker), so its structure is checked: MinIO with
a bucket made before the app starts, the web app and two workers on PostgreSQL, Redis and the
bucket, no media volume shared between them, and every variable it sets is a real setting."""

from __future__ import annotations

import yaml

from app.settings import Settings
from tests.support import ROOT


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_minio_and_two_workers_on_the_bucket():
    services = _compose()["services"]
    assert {"postgres", "redis", "minio", "minio-bucket", "web", "worker"} <= set(services)
    assert services["minio"]["image"].startswith("minio/minio") and services["minio"]["healthcheck"]
    assert "mc mb --ignore-existing local/takes" in " ".join(services["minio-bucket"]["entrypoint"])
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("web", "worker"):
        svc = services[name]
        env = svc["environment"]
        assert env["STORAGE_URL"] == "s3://takes/media" and env["S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["REDIS_URL"].startswith("redis://redis") and env["DATABASE_URL"].startswith("postgresql://")
        assert svc["depends_on"]["minio-bucket"] == {"condition": "service_completed_successfully"}
        assert "volumes" not in svc, f"{name} shares a media volume; media live in the bucket"
    assert services["minio-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_every_variable_compose_sets_is_a_setting():
    fields = {name.upper() for name in Settings.model_fields}
    env = _compose()["services"]["web"]["environment"]
    assert set(env) <= fields, set(env) - fields
