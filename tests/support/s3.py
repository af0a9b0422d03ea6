"""A real S3-protocol server for storage tests: moto's server mode (`python -m moto.server`)
as a subprocess on an ephemeral port, one per test session, and a fresh bucket per test."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

CREDENTIALS = {"s3_access_key_id": "test-key", "s3_secret_access_key": "test-secret", "s3_region": "us-east-1"}


def start_server(log: Path) -> tuple[subprocess.Popen, str]:
    from tests.fakes import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            httpx.get(url + "/moto-api/", timeout=1)
            return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start:\n" + log.read_text(errors="replace"))


def new_bucket(endpoint: str) -> str:
    import boto3

    name = "takes-" + uuid.uuid4().hex[:12]
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=CREDENTIALS["s3_access_key_id"],
                          aws_secret_access_key=CREDENTIALS["s3_secret_access_key"])
    client.create_bucket(Bucket=name)
    return name


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=CREDENTIALS["s3_access_key_id"],
                          aws_secret_access_key=CREDENTIALS["s3_secret_access_key"])
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def storage_settings(endpoint: str, bucket: str, prefix: str = "media") -> dict:
    return {"storage_url": f"s3://{bucket}/{prefix}", "s3_endpoint_url": endpoint, **CREDENTIALS}
