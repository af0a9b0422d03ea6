"""Streaming a stored object (app/storage.py S3Storage) through the app with HTTP Range,
ETag and Last-Modified, as FileResponse does for a local file. Players seek by asking for
ranges, so each range is one ranged GET to the bucket; nothing is buffered whole. Serving
through the app (rather than redirecting to a presigned URL) keeps the access checks of
app/web/media.py in force for every byte."""

from __future__ import annotations

import re
from email.utils import format_datetime
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from app.storage import Storage, StoredObject

RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that closes its body however the response ends. When the client goes
    away mid-stream (a closed tab, a dropped link), Starlette stops sending but leaves the body
    generator suspended at its `yield` until the garbage collector finds it, and with it what
    the body holds open: a CSV export's database session and the pooled connection under it
    (in a transaction; on PostgreSQL in the middle of a COPY), a stored object's file or bucket
    stream, a ZIP's open clip (tests/test_exports.py cuts a download off to check). A plain
    generator (the ZIP's) is run in threads by Starlette's wrapper, whose closing does not
    close it, so it is closed here too."""

    def __init__(self, content, *args, **kwargs) -> None:
        super().__init__(content, *args, **kwargs)
        self._source = content

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
            if self._source is not self.body_iterator and hasattr(self._source, "close"):
                self._source.close()   # no thread runs it now: Starlette's wrapper has ended


def object_headers(obj: StoredObject, filename: str | None, cache_control: str) -> dict[str, str]:
    """The validators and disposition of a stored object, the same as FileResponse's."""
    headers = {"etag": obj.etag, "last-modified": format_datetime(obj.last_modified, usegmt=True),
               "cache-control": cache_control, "accept-ranges": "bytes"}
    if filename is not None:
        headers["content-disposition"] = disposition(filename)
    return headers


def disposition(filename: str) -> str:
    """`attachment` with the file name, RFC 6266: plain when it is safe ASCII, else as
    filename*=utf-8'' (a header is Latin-1: a tag such as "夜景" in a CSV's name was a 500)."""
    quoted = quote(filename)
    return f'attachment; filename="{filename}"' if quoted == filename else f"attachment; filename*=utf-8''{quoted}"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """The one range asked for as (first, last), inclusive; None for the whole file (no
    header, a malformed one or several ranges: RFC 9110 lets a server ignore those), False
    when the range cannot be satisfied (416)."""
    m = RANGE.match(header or "")
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:   # a suffix: the last N bytes
        n = int(last)
        return (max(0, size - n), size - 1) if n and size else False
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return False
    return start, end


def stream_object(request: Request, storage: Storage, key: str, obj: StoredObject, media_type: str,
                  headers: dict[str, str]) -> Response:
    """200 with the whole object, or 206 with the range asked for, or 416."""
    if_range = request.headers.get("if-range")
    wanted = byte_range(request.headers.get("range"), obj.size)
    if if_range is not None and if_range.strip() not in (obj.etag, headers["last-modified"]):
        wanted = None   # the client's copy is stale: send it all
    if wanted is False:
        return Response(status_code=416, headers={**headers, "content-range": f"bytes */{obj.size}"})
    if obj.size == 0:
        return Response(b"", media_type=media_type, headers=headers)
    start, end = wanted or (0, obj.size - 1)
    extra = {"content-length": str(end - start + 1)}
    if wanted:
        extra["content-range"] = f"bytes {start}-{end}/{obj.size}"
    return ClosingStreamingResponse(storage.read(key, start, end), status_code=206 if wanted else 200,
                             media_type=media_type, headers={**headers, **extra})
