"""Where media bytes live. Keys are relative paths ("takes/<id>/original.mp4").

Local directory by default. The interface is deliberately tiny (a path per key) so that an
S3-compatible backend can later sit behind it for multi-machine deployments.
"""

from __future__ import annotations

import os
import threading

from pathlib import Path


class LocalStorage:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if not p.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the media directory: {key!r}")
        return p

    def exists(self, key: str | None) -> bool:
        return bool(key) and self.path(key).exists()

    def write_bytes(self, key: str, data: bytes) -> Path:
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f"{p.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(p)
        return p
