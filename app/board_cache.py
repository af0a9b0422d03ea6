"""What a big board's leaderboard keeps between processes, in the `board_caches` table.

A web process keeps the ranking fit of the counts it last saw and the take columns of a big
board's comparison table in memory (app/leaderboard.py). A fresh process (a restart, a
deploy, another `--workers` process) had neither: its first leaderboard page of a
million-vote board refitted (1,000 bootstrap rounds) and rescanned 200,000 takes, seconds of
work (docs/benchmarks.md). So the slow results are also written here:

- a fit under its scope (boards, criterion, blind only, tag, rounds), with the digest of the
  counts it was fitted on as `version`: it is reused only for exactly those counts, so it is
  the fit the process would have made;
- take columns under their boards, with `made_at`: reused by a fresh process when younger
  than app.leaderboard.STALE_S, and recounted in the background (app.leaderboard.take_stats).

Payloads are JSON and numpy's own array format (no pickle): what the database hands back is
read as data, never run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
from collections.abc import Iterable
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import dialect_insert
from app.models import BoardCache, utcnow
from app.ranking import ModelRating, PositionBias, Ranking

log = logging.getLogger("takes")
_ARRAYS = ("win_rate_matrix", "games_matrix", "draws", "covariance", "null_pair_var")


def digest(parts: Iterable) -> str:
    """A stable hex digest of strings, numbers and bytes (a scope or a version)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else repr(part).encode())
        h.update(b"\x1f")
    return h.hexdigest()


async def read(s: AsyncSession, key: str) -> BoardCache | None:
    return (await s.execute(select(BoardCache).where(BoardCache.key == key))).scalar_one_or_none()


async def write(s: AsyncSession, key: str, version: str, payload: bytes, made_at: datetime | None = None) -> None:
    """Upsert one row, in a session and transaction of its own: the caller's may be part of a
    write that must stay whole, and a copy that could not be kept is only work to do again
    (so a failure is logged, not raised). Two processes writing the same key: the last one
    wins, and both wrote the same thing for the same version."""
    values = {"key": key, "version": version, "payload": payload, "made_at": made_at or utcnow()}
    insert = dialect_insert(s.bind.dialect.name)
    stmt = insert(BoardCache).values(values)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={k: stmt.excluded[k]
                                                                   for k in ("version", "payload", "made_at")})
    try:
        async with AsyncSession(s.bind) as own:
            await own.execute(stmt)
            await own.commit()
    except Exception:
        log.exception("keeping %s in board_caches failed", key)


def ranking_bytes(r: Ranking) -> bytes:
    """A Ranking as one .npz: its arrays as arrays, everything else as JSON in `meta`."""
    meta = {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name not in _ARRAYS}
    meta["models"] = [dataclasses.asdict(m) for m in r.models]
    meta["position_bias"] = dataclasses.asdict(r.position_bias) if r.position_bias else None
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             **{name: np.asarray(getattr(r, name)) for name in _ARRAYS})
    return buf.getvalue()


def ranking_of(payload: bytes) -> Ranking:
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        # A copy kept before an array was added reads it as empty (its users fall back).
        arrays = {name: z[name] if name in z.files else np.zeros((0, 0)) for name in _ARRAYS}
    meta["models"] = [ModelRating(**m) for m in meta["models"]]
    meta["position_bias"] = PositionBias(**meta["position_bias"]) if meta["position_bias"] else None
    if meta["tie_param_ci"] is not None:
        meta["tie_param_ci"] = tuple(meta["tie_param_ci"])
    return Ranking(**meta, **arrays)
