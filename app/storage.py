"""Where media bytes live. Keys are relative paths ("takes/<id>/original.mp4").

Two backends behind one small interface, chosen by `STORAGE_URL` (`open_storage`):

- `LocalStorage` (the default): files under MEDIA_DIR. A key *is* a path there, so a job
  writes straight into place (`scratch(key)` is the final path) and serving is a file.
- `S3Storage` (`STORAGE_URL=s3://bucket/prefix`, for S3, R2 or MinIO): objects in a bucket,
  so web servers and workers on different machines share media without a shared file system.
  A job still needs local files to probe and transcode (PyAV), so it works under its own
  MEDIA_DIR (`scratch(key)` → MEDIA_DIR/.work/…) and uploads the results (`put_file`); a
  worker that needs a stored file (a comparison's source image) gets a cached copy (`fetch`).
  The web app streams objects with HTTP Range through itself (app/web/stream.py), never by a
  presigned URL, so every access check in app/web/media.py still holds.

The S3 client is boto3 (AWS's own SDK, which also speaks to R2 and MinIO through an endpoint
URL), called in a thread: the calls are few and large (one upload per file, one ranged GET per
played range), so a thread per call costs nothing measurable, and boto3 has no pinned
botocore range to fight with the rest of the stack the way aiobotocore has.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import Settings

CHUNK = 256 * 1024


@dataclass(frozen=True)
class StoredObject:
    """What serving needs to know about a stored file (size for Range, validators for 304)."""

    size: int
    etag: str
    last_modified: datetime


def _tmp_name(p: Path) -> Path:
    return p.with_name(f"{p.name}.{os.getpid()}-{threading.get_ident()}.tmp")


def _checked(key: str) -> str:
    """A key is a relative path without `..`: it can never escape the media directory or prefix."""
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or "\\" in key or any(p in ("..", ".") for p in parts):
        raise ValueError(f"storage key escapes the media directory: {key!r}")
    return key


class LocalStorage:
    is_local = True

    def __init__(self, root: Path):
        self.root = Path(root)
        self._real_root = self.root.resolve()   # once: resolving walks every component (lstat each)

    def path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if not p.is_relative_to(self._real_root):
            raise ValueError(f"storage key escapes the media directory: {key!r}")
        return p

    def exists(self, key: str | None) -> bool:
        return bool(key) and self.path(key).exists()

    def write_bytes(self, key: str, data: bytes) -> Path:
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_name(p)
        tmp.write_bytes(data)
        tmp.replace(p)
        return p

    def scratch(self, key: str) -> Path:
        """Where a job writes the file for `key` before `put_file`: here, the final place."""
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    async def put_file(self, key: str, src: Path) -> None:
        dest = self.path(key)
        if Path(src).resolve() != dest:
            dest.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(shutil.move, str(src), str(dest))

    async def put_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.write_bytes, key, data)

    async def fetch(self, key: str) -> Path:
        return self.path(key)

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def stat(self, key: str | None) -> StoredObject | None:
        if not key or not self.path(key).is_file():
            return None
        st = self.path(key).stat()
        return StoredObject(st.st_size, f'"{st.st_mtime_ns:x}-{st.st_size:x}"',
                            datetime.fromtimestamp(st.st_mtime, timezone.utc))

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of the file, in chunks."""
        with self.path(key).open("rb") as fh:
            fh.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = await asyncio.to_thread(fh.read, min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk


class S3Storage:
    is_local = False

    def __init__(self, url: str, work_dir: Path, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 addressing_style: str | None = None):
        import boto3
        from botocore.config import Config

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not url.startswith("s3://") or not bucket:
            raise ValueError(f"STORAGE_URL must look like s3://bucket/prefix, not {url!r}")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.work_dir = Path(work_dir)
        style = addressing_style or ("path" if endpoint_url else "auto")
        config = Config(s3={"addressing_style": style}, retries={"max_attempts": 4, "mode": "standard"},
                        max_pool_connections=32, signature_version="s3v4")
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=config,
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)

    def object_key(self, key: str) -> str:
        key = _checked(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _local(self, area: str, key: str) -> Path:
        p = self.work_dir / area / _checked(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def scratch(self, key: str) -> Path:
        """A local working file for `key` (MEDIA_DIR/.work/…), uploaded by `put_file`."""
        return self._local(".work", key)

    async def put_file(self, key: str, src: Path) -> None:
        """Upload, then drop the local working copy (the bucket is where it lives now)."""
        mime = mimetypes.guess_type(key)[0] or "application/octet-stream"
        await asyncio.to_thread(self.client.upload_file, str(src), self.bucket, self.object_key(key),
                                ExtraArgs={"ContentType": mime})
        Path(src).unlink(missing_ok=True)

    async def put_bytes(self, key: str, data: bytes) -> None:
        mime = mimetypes.guess_type(key)[0] or "application/octet-stream"
        await asyncio.to_thread(self.client.put_object, Bucket=self.bucket, Key=self.object_key(key), Body=data,
                                ContentType=mime)

    async def fetch(self, key: str) -> Path:
        """A local copy of a stored object (MEDIA_DIR/.cache/…), downloaded once per process
        machine: stored keys never change content (a new file is a new key)."""
        dest = self._local(".cache", key)
        if not dest.exists():
            tmp = _tmp_name(dest)
            await asyncio.to_thread(self.client.download_file, self.bucket, self.object_key(key), str(tmp))
            tmp.replace(dest)
        return dest

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self.object_key(key))

    async def stat(self, key: str | None) -> StoredObject | None:
        from botocore.exceptions import ClientError

        if not key:
            return None
        try:
            head = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(int(head["ContentLength"]), head["ETag"], head["LastModified"].astimezone(timezone.utc))

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive): one ranged GET, read in chunks as the client takes them."""
        obj = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=self.object_key(key),
                                      Range=f"bytes={start}-{end}")
        body = obj["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()


Storage = LocalStorage | S3Storage


def open_storage(settings: Settings) -> Storage:
    """LocalStorage under MEDIA_DIR unless STORAGE_URL names a bucket."""
    if not settings.storage_url:
        return LocalStorage(settings.media_dir)
    return S3Storage(settings.storage_url, settings.media_dir, endpoint_url=settings.s3_endpoint_url,
                     region=settings.s3_region, access_key_id=settings.s3_access_key_id,
                     secret_access_key=settings.s3_secret_access_key, addressing_style=settings.s3_addressing_style)
