"""A source image kept between a refused new-comparison form and the next try.

A browser cannot refill a file input, so when the form comes back with errors the image the
user chose would be lost. Instead the checked image is stored as a *pending upload* under
`pending/<token>.<ext>` and the redrawn form carries the token in a hidden field (and shows a
thumbnail); the next submit uses it unless a new file is chosen. The token is 144 random bits
and is only ever sent to the browser that uploaded the image. Pending files older than a day
are removed whenever a new one is stored.
"""

from __future__ import annotations

import base64
import io
import re
import secrets
import time

from app.comparisons import CheckedImage
from app.errors import InputError
from app.storage import LocalStorage

PENDING = "pending"
MAX_AGE_S = 24 * 3600
TOKEN = re.compile(r"^[A-Za-z0-9_-]{24}$")
EXTS = ("png", "jpg", "webp")


def _disk(storage) -> LocalStorage:
    """Pending uploads stay on this machine's disk (MEDIA_DIR/pending) even when media lives in
    object storage: they are a form's scratch, kept a day at most, never served to others."""
    return storage if storage.is_local else LocalStorage(storage.work_dir)


def keep_pending(storage: LocalStorage, image: CheckedImage) -> str:
    """Store a checked image for the next submit; returns its token."""
    storage = _disk(storage)
    _sweep(storage)
    token = secrets.token_urlsafe(18)
    storage.write_bytes(f"{PENDING}/{token}.{image.ext}", image.data)
    return token


def _file(storage: LocalStorage, token: str):
    storage = _disk(storage)
    if not TOKEN.match(token or ""):
        return None
    return next((p for ext in EXTS if (p := storage.path(f"{PENDING}/{token}.{ext}")).is_file()), None)


def load_pending(storage: LocalStorage, token: str) -> bytes:
    """The bytes of a pending upload; a token that names none (expired, or made up) is a 422
    that asks for the image again rather than a comparison silently made without it."""
    path = _file(storage, token)
    if path is None:
        raise InputError("the source image chosen before is no longer kept; choose it again")
    return path.read_bytes()


def drop_pending(storage: LocalStorage, token: str | None) -> None:
    """Remove a pending upload once a comparison has been made with it."""
    path = _file(storage, token or "")
    if path is not None:
        path.unlink(missing_ok=True)


def _sweep(storage: LocalStorage) -> None:
    storage = _disk(storage)
    folder = storage.path(PENDING)
    if not folder.is_dir():
        return
    cutoff = time.time() - MAX_AGE_S
    for p in folder.iterdir():
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
        except OSError:
            continue


def thumbnail_url(data: bytes, size: int = 160) -> str:
    """A small JPEG data URL of the image, for the redrawn form (no route needed to show it)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")
